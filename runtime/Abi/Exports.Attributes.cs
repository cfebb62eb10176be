using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Attributes;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Abi;

/// <summary>Exports for memory attributes (KVM_SET_MEMORY_ATTRIBUTES) and hugepage levels.</summary>
internal static unsafe class ExportsAttributes
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_memory_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetMemoryAttributes(VmHandle* vm, KvmMemoryAttributes* a)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            return a == null ? -Errno.EFAULT : Vm.FromHandle(vm).SetMemoryAttributes(*a);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>kvm_get_memory_attributes: lock-free, allocation-free.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_get_memory_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int GetMemoryAttributes(VmHandle* vm, ulong gfn, ulong* attrs)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (attrs == null)
        {
            return -Errno.EFAULT;
        }
        *attrs = Vm.FromHandle(vm).Attributes.Get(gfn);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_range_has_attributes", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int RangeHasAttributes(VmHandle* vm, ulong start, ulong end, ulong mask, ulong attrs)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        Vm v = Vm.FromHandle(vm);
        return RangeHas(v.Attributes, v.SupportedAttributes, start, end, mask, attrs) ? 1 : 0;
    }

    /// <summary>
    /// kvm_range_has_memory_attributes (v6.9+, with mask), quirks included: the mask is limited to
    /// the supported attributes and attrs outside it answer false; a one-gfn range compares that
    /// gfn; attrs 0 asks "no gfn in [start, end - 1] has any attribute" (xas_find up to end - 1,
    /// which for end 0 is the whole rest of the space, whatever the mask); other attrs walk
    /// [start, end), so an empty range answers true.
    /// </summary>
    internal static bool RangeHas(AttributeStore store, ulong supported, ulong start, ulong end, ulong mask, ulong attrs)
    {
        mask &= supported;
        if ((attrs & ~mask) != 0)
        {
            return false;
        }
        if (end == start + 1)
        {
            return (store.Get(start) & mask) == attrs;
        }
        if (attrs == 0)
        {
            ulong last = end - 1;
            if (start > last)
            {
                return true;
            }
            // [start, last] inclusive; everything from 2^52 on is shared.
            ulong stop = last >= AttributeStore.MaxPages ? AttributeStore.MaxPages : last + 1;
            return start >= stop || store.NextDiffering(start, stop, false) == stop;
        }
        // attrs is PRIVATE here (the only supported attribute): every gfn of [start, end) must have it.
        if (start >= end)
        {
            return true;
        }
        return store.NextDiffering(start, end, true) == end;
    }

    /// <summary>
    /// The largest level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) at which gfn may be mapped: the aligned
    /// frame lies inside gfn's slot, gfn and the slot's hva (and private page) are aligned alike,
    /// and the frame is not mixed. Lock-free (read section), allocation-free.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_max_mapping_level", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int MaxMappingLevel(VmHandle* vm, uint asId, ulong gfn)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        return asId >= vm->Read.NrAddressSpaces ? -Errno.EINVAL : MaxMappingLevelCore(vm, asId, gfn);
    }

    internal static int MaxMappingLevelCore(VmHandle* vm, uint asId, ulong gfn)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        Snapshot* s = VmLayout.Load(&vm->Read, asId);
        SlotEntry* entry = Search.Find(s, gfn);
        int level = entry == null ? -Errno.ENOENT : LevelOf(entry, Vm.FromHandle(vm).Attributes, gfn);
        ReadSection.Exit(section);
        return level;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LevelOf(SlotEntry* e, AttributeStore store, ulong gfn)
    {
        if (!FrameFits(e, gfn, 9) || store.Mixed2M(gfn))
        {
            return 1;
        }
        if (!FrameFits(e, gfn, 18) || store.Mixed1G(gfn))
        {
            return 2;
        }
        return 3;
    }

    /// <summary>The aligned frame of 2^shift pages around gfn lies in the slot, and the slot's hva and private page are aligned as its gfn.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool FrameFits(SlotEntry* e, ulong gfn, int shift)
    {
        ulong n = 1UL << shift;
        ulong frame = gfn & ~(n - 1);
        if (frame < e->BaseGfn || frame + n > e->BaseGfn + e->NPages)
        {
            return false;
        }
        if (((e->BaseGfn ^ (e->Hva >> 12)) & (n - 1)) != 0)
        {
            return false;
        }
        return (e->KvmFlags & SlotFlags.Private) == 0 || ((e->BaseGfn ^ e->PrivatePgoff) & (n - 1)) == 0;
    }
}

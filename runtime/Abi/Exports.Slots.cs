using Hvrt.Attributes;
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Abi;

/// <summary>Exports for memslot updates and gfn translation.</summary>
internal static unsafe class ExportsSlots
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_user_memory_region", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetUserMemoryRegion(VmHandle* vm, KvmUserspaceMemoryRegion* r)
    {
        // As the kernel does for v1: a zeroed 160-byte request with the first 32 bytes copied in.
        KvmUserspaceMemoryRegion2 mem = default;
        if (r != null)
        {
            *(KvmUserspaceMemoryRegion*)&mem = *r;
        }
        return SetRegion(vm, r == null ? null : &mem, RegionEntry.V1);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_user_memory_region2", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetUserMemoryRegion2(VmHandle* vm, KvmUserspaceMemoryRegion2* r)
    {
        return SetRegion(vm, r, RegionEntry.Region2);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_user_memory_region_ext", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetUserMemoryRegionExt(VmHandle* vm, KvmUserspaceMemoryRegion2* r)
    {
        return SetRegion(vm, r, RegionEntry.Ext);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_user_memory_regions", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetUserMemoryRegions(VmHandle* vm, KvmUserspaceMemoryRegion2* regions, nuint n, int* results)
    {
        try
        {
            int e = CheckVm(vm);
            if (e != 0)
            {
                return e;
            }
            if (regions == null && n > 0)
            {
                return -Errno.EFAULT;
            }
            if (n > int.MaxValue)
            {
                return -Errno.EINVAL;
            }
            return Vm.FromHandle(vm).SetRegions(regions, (int)n, results);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>
    /// gfn → slot and backing. Safe from any thread at any time while the VM lives: a read
    /// section (no lock, no allocation) keeps the snapshot alive while it is read.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_translate", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Translate(VmHandle* vm, uint asId, ulong gfn, HvrtTranslation* result)
    {
        int e = CheckVm(vm);
        if (e == 0)
        {
            e = CheckTranslation(vm, asId, result);
        }
        return e != 0 ? e : TranslateCore(vm, asId, gfn, result);
    }

    /// <summary>After the handle check, the arguments of a single translation: out NULL → -EFAULT, as_id out of range → -EINVAL.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int CheckTranslation(VmHandle* vm, uint asId, HvrtTranslation* result)
    {
        if (result == null)
        {
            return -Errno.EFAULT;
        }
        return asId >= vm->NrAddressSpaces ? -Errno.EINVAL : 0;
    }

    /// <summary>The translation itself, shared by the export and the managed tests.</summary>
    internal static int TranslateCore(VmHandle* vm, uint asId, ulong gfn, HvrtTranslation* result)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        Snapshot* s = VmHandle.Load(vm, asId);
        ulong generation = Snapshot.GenerationOf(s);
        SlotEntry* hint = LastHit(section, vm, asId, generation);
        SlotEntry* entry = Lookup.Find(s, gfn, ref hint);
        RememberHit(section, vm, asId, generation, hint);
        if (entry != null)
        {
            Snapshot.Fill(entry, gfn, generation, result);
            TranslationAttributes.Apply(vm, gfn, result);
        }
        ReadSection.Exit(section);
        return entry != null ? 0 : -Errno.ENOENT;
    }

    /// <summary>This thread's last hit if it lies in the snapshot of (vm, asId) with this generation, else null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static SlotEntry* LastHit(ReadSection.ThreadRecord* section, VmHandle* vm, uint asId, ulong generation)
    {
        ReadSection.ThreadHit* hit = &section->Hit;
        return hit->VmSerial == vm->Serial && hit->AsId == asId && hit->Generation == generation ? hit->Entry : null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RememberHit(ReadSection.ThreadRecord* section, VmHandle* vm, uint asId, ulong generation, SlotEntry* entry)
    {
        if (entry != null)
        {
            section->Hit = new ReadSection.ThreadHit { VmSerial = vm->Serial, Generation = generation, Entry = entry, AsId = asId };
        }
    }

    /// <summary>The VM is checked before the request pointer (-EBADF before -EFAULT), as an ioctl checks its fd first.</summary>
    private static int SetRegion(VmHandle* vm, KvmUserspaceMemoryRegion2* mem, RegionEntry entry)
    {
        try
        {
            int e = CheckVm(vm);
            if (e != 0)
            {
                return e;
            }
            return mem == null ? -Errno.EFAULT : Vm.FromHandle(vm).SetRegion(*mem, entry);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>NULL → -EFAULT (like a bad user pointer); not a live VM → -EBADF (like a bad fd).</summary>
    internal static int CheckVm(VmHandle* vm)
    {
        if (vm == null)
        {
            return -Errno.EFAULT;
        }
        return vm->Magic == VmHandle.LiveMagic ? 0 : -Errno.EBADF;
    }
}

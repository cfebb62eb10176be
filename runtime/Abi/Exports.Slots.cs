using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

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
            int e = VmHandle.Check(vm);
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
        int e = VmHandle.Check(vm);
        if (e == 0)
        {
            e = CheckTranslation(&vm->Read, asId, result);
        }
        return e != 0 ? e : Translator.Translate(&vm->Read, asId, gfn, result);
    }

    /// <summary>After the handle check, the arguments of a single translation: out NULL → -EFAULT, as_id out of range → -EINVAL.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int CheckTranslation(VmLayout* vm, uint asId, HvrtTranslation* result)
    {
        if (result == null)
        {
            return -Errno.EFAULT;
        }
        return asId >= vm->NrAddressSpaces ? -Errno.EINVAL : 0;
    }

    /// <summary>The VM is checked before the request pointer (-EBADF before -EFAULT), as an ioctl checks its fd first.</summary>
    private static int SetRegion(VmHandle* vm, KvmUserspaceMemoryRegion2* mem, RegionEntry entry)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            Vm v = Vm.FromHandle(vm);
            // An ioctl the kernel lacks is -ENOTTY before its argument is read (kvm_arch_vm_ioctl's default).
            if (entry == RegionEntry.Region2 && !v.Rules.Profile.HasRegion2)
            {
                return -Errno.ENOTTY;
            }
            return mem == null ? -Errno.EFAULT : v.SetRegion(*mem, entry);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }
}

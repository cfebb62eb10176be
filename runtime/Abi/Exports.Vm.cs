using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Abi;

/// <summary>Exports for versions and the VM object's lifetime. No exception crosses the ABI.</summary>
internal static unsafe class ExportsVm
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_abi_version", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static uint AbiVersionExport() => AbiVersion.Abi;

    [UnmanagedCallersOnly(EntryPoint = "hvrt_version_number", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static uint VersionNumber() => AbiVersion.Number;

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vm_create", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int VmCreate(byte* cfg, VmHandle** outVm)
    {
        try
        {
            if (outVm == null)
            {
                return -Errno.EFAULT;
            }
            int r = ReadConfig(cfg, out HvrtVmConfig? config);
            if (r != 0)
            {
                return r;
            }
            HvrtVmConfig c = config ?? default;
            r = HostProfile.Resolve(c.KvmProfile, c.VmType, out KernelProfile? profile);
            if (r != 0)
            {
                return r;
            }
            r = VmRules.Resolve(config, profile!, out VmRules? rules);
            if (r != 0)
            {
                return r;
            }
            r = Vm.Create(rules!, out VmHandle* handle);
            if (r == 0)
            {
                *outVm = handle;
            }
            return r;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vm_destroy", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static void VmDestroy(VmHandle* vm)
    {
        try
        {
            if (VmHandle.IsLive(vm))
            {
                // From a listener: refused (a void function cannot say so; the checked one can).
                Vm.FromHandle(vm).TryDestroy(checkReaders: false);
            }
        }
        catch (Exception)
        {
            // Nothing can be reported from a void function; the VM is as freed as it got.
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vm_destroy_checked", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int VmDestroyChecked(VmHandle* vm)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).TryDestroy(checkReaders: true);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>
    /// Reads a size-prefixed config (the extensible-struct rule of openat2/clone3): a shorter
    /// struct gets defaults for the missing fields; a longer one must have only zeros past the
    /// fields this version knows (-E2BIG otherwise).
    /// </summary>
    private static int ReadConfig(byte* cfg, out HvrtVmConfig? config)
    {
        config = null;
        if (cfg == null)
        {
            return 0;
        }
        uint size = *(uint*)cfg;
        const uint Known = 64;
        if (size < sizeof(uint) * 2)
        {
            return -Errno.EINVAL;
        }
        if (size > 4096)
        {
            // copy_struct_from_user refuses structs larger than a page the same way.
            return -Errno.E2BIG;
        }
        for (uint i = Known; i < size; i++)
        {
            if (cfg[i] != 0)
            {
                return -Errno.E2BIG;
            }
        }
        HvrtVmConfig c = default;
        Buffer.MemoryCopy(cfg, &c, sizeof(HvrtVmConfig), Math.Min(size, Known));
        // reserved32 at 36 and reserved[3] at 40 (kvm_profile is at 32).
        ulong* reserved = (ulong*)((byte*)&c + 40);
        if (*(uint*)((byte*)&c + 36) != 0 || reserved[0] != 0 || reserved[1] != 0 || reserved[2] != 0)
        {
            return -Errno.EINVAL;
        }
        config = c;
        return 0;
    }
}

using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>Exports for the KVM binding: bind, the probed capabilities, guest_memfd creation.</summary>
internal static unsafe class ExportsKvm
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_kvm_bind", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int KvmBind(VmHandle* vm, int kvmVmFd, uint flags)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).BindKvm(kvmVmFd, flags);
        }
        catch (OutOfMemoryException)
        {
            return -Errno.ENOMEM;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>Copies min(caps->size, sizeof) bytes and stores that count in caps->size.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_kvm_caps", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int KvmCapsExport(VmHandle* vm, HvrtKvmCaps* caps)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            e = SizedCopy.Check(caps);
            if (e == 0)
            {
                e = Vm.FromHandle(vm).GetKvmBinding(out _, out KvmCaps? probed);
                if (e == 0)
                {
                    SizedCopy.Write(probed!.ToAbi(), caps);
                }
            }
            return e;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_create_guest_memfd", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int CreateGuestMemfd(VmHandle* vm, ulong size, ulong flags, void** shared)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).CreateGuestMemfd(size, flags, shared);
        }
        catch (OutOfMemoryException)
        {
            return -Errno.ENOMEM;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }
}

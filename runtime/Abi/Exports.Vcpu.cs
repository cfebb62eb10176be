using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.RunLoop;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Abi;

/// <summary>
/// hvrt_vcpu_*: the vCPU run loop. Create and destroy are rare and may allocate; enter, exit and
/// handle_exit are per exit: handle_exit allocates nothing on its MMIO and other paths, and the
/// try/catch costs nothing unless a conversion throws.
/// </summary>
internal static unsafe class ExportsVcpu
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_create", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Create(VmHandle* vm, int vcpuFd, byte* run, Vcpu** vcpu)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            if (run == null || vcpu == null)
            {
                return -Errno.EFAULT;
            }
            if (vcpuFd < -1)
            {
                return -Errno.EINVAL;
            }
            int r = Vcpu.Create(vm, vcpuFd, run, out Vcpu* v);
            if (r == 0)
            {
                *vcpu = v;
            }
            return r;
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

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_destroy", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static void Destroy(Vcpu* v)
    {
        try
        {
            if (v != null && Vcpu.IsLive(v))
            {
                Vcpu.Destroy(v);
            }
        }
        catch (Exception)
        {
            // void: nothing to report; the record stays allocated rather than half freed.
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_reader", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static ReaderRecord* Reader(Vcpu* v) => v != null && Vcpu.IsLive(v) && VmHandle.IsLive(v->Vm) ? v->Reader : null;

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_enter", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Enter(Vcpu* v)
    {
        int e = Check(v);
        if (e == 0)
        {
            VcpuLoop.Enter(v);
        }
        return e;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_exit", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Exit(Vcpu* v)
    {
        int e = Check(v);
        if (e == 0)
        {
            VcpuLoop.Exit(v);
        }
        return e;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_handle_exit", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int HandleExit(Vcpu* v, int kvmRunRet, int kvmRunErrno)
    {
        try
        {
            int e = Check(v);
            return e != 0 ? e : ExitHandler.Handle(v, kvmRunRet, kvmRunErrno);
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

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_exit_info", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int ExitInfo(Vcpu* v, HvrtExitInfo* info)
    {
        int e = Check(v);
        if (e != 0)
        {
            return e;
        }
        if (info == null)
        {
            return -Errno.EFAULT;
        }
        *info = v->Info;
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_vcpu_run", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Run(Vcpu* v)
    {
        try
        {
            int e = Check(v);
            return e != 0 ? e : VcpuLoop.Run(v);
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

    /// <summary>
    /// NULL → -EFAULT; not a live vCPU (destroyed) or its VM destroyed → -EBADF; in debug mode a
    /// thread other than the vCPU's → -EPERM (a release-mode vCPU never reaches that check).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Check(Vcpu* v)
    {
        if (v == null)
        {
            return -Errno.EFAULT;
        }
        if (v->Magic != Vcpu.LiveMagic)
        {
            return CheckDebug(v);
        }
        return VmHandle.IsLive(v->Vm) ? 0 : -Errno.EBADF;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CheckDebug(Vcpu* v)
    {
        if (v->Magic != Vcpu.DebugLiveMagic || !VmHandle.IsLive(v->Vm))
        {
            return -Errno.EBADF;
        }
        return v->Owner == DebugThread.Current ? 0 : -Errno.EPERM;
    }
}

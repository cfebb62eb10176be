using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Kvm;

/// <summary>The three dirty-log ioctls on a bound VM fd (kvm-abi.md §8); each returns 0 or KVM's -errno.</summary>
internal static unsafe class KvmDirtyLogIoctls
{
    public static int Get(int vmFd, uint slot, ulong* bitmap)
    {
        var log = new KvmDirtyLog { Slot = slot, Bitmap = bitmap };
        return Libc.Ioctl(vmFd, KvmApi.KVM_GET_DIRTY_LOG, &log);
    }

    public static int Clear(int vmFd, uint slot, ulong firstPage, uint numPages, ulong* bitmap)
    {
        var log = new KvmClearDirtyLog { Slot = slot, NumPages = numPages, FirstPage = firstPage, Bitmap = bitmap };
        return Libc.Ioctl(vmFd, KvmApi.KVM_CLEAR_DIRTY_LOG, &log);
    }

    /// <summary>KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode).</summary>
    public static int SetMode(int vmFd, uint mode) => KvmIoctls.EnableCap(vmFd, KvmApi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode);
}

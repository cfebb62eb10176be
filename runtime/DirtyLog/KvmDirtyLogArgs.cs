using System.Runtime.InteropServices;
using Hvrt.Kvm;
using Hvrt.Platform;

namespace Hvrt.DirtyLog;

/// <summary>The three dirty-log ioctls on a bound VM fd (kvm-abi.md §8); each returns 0 or KVM's -errno.</summary>
internal static unsafe class KvmDirtyLogArgs
{
    /// <summary>struct kvm_dirty_log, 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 16)]
    private struct DirtyLog
    {
        public uint Slot;
        public uint Padding;
        public ulong* Bitmap;
    }

    /// <summary>struct kvm_clear_dirty_log, 24 bytes.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 24)]
    private struct ClearDirtyLog
    {
        public uint Slot;
        public uint NumPages;
        public ulong FirstPage;
        public ulong* Bitmap;
    }

    public static int Get(int vmFd, uint slot, ulong* bitmap)
    {
        var log = new DirtyLog { Slot = slot, Bitmap = bitmap };
        return Libc.Ioctl(vmFd, KvmApi.KVM_GET_DIRTY_LOG, &log);
    }

    public static int Clear(int vmFd, uint slot, ulong firstPage, uint numPages, ulong* bitmap)
    {
        var log = new ClearDirtyLog { Slot = slot, NumPages = numPages, FirstPage = firstPage, Bitmap = bitmap };
        return Libc.Ioctl(vmFd, KvmApi.KVM_CLEAR_DIRTY_LOG, &log);
    }

    /// <summary>KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode).</summary>
    public static int SetMode(int vmFd, uint mode) => KvmIoctls.EnableCap(vmFd, KvmApi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode);
}

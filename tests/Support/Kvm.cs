using System;
using System.Runtime.InteropServices;
using Hvrt.Layout;

namespace Hvrt.Tests.Support;

/// <summary>
/// Just enough of /dev/kvm for tests that need real guest_memfds: a VM fd and
/// KVM_CREATE_GUEST_MEMFD. Tests that use it skip (with the reason) where /dev/kvm is missing.
/// </summary>
internal static unsafe class Kvm
{
    private const ulong KvmCreateVm = 0xAE01;
    private const ulong KvmCreateGuestMemfd = 0xC040AED4;

    [DllImport("libc", SetLastError = true)]
    private static extern int open(string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int ioctl(int fd, ulong request, nint arg);

    /// <summary>A new KVM VM fd, or -1 with the reason.</summary>
    public static int CreateVm(out string why)
    {
        int kvm = open("/dev/kvm", 2 /* O_RDWR */ | 0x80000 /* O_CLOEXEC */);
        if (kvm < 0)
        {
            why = $"/dev/kvm cannot be opened (errno {Marshal.GetLastPInvokeError()})";
            return -1;
        }
        int vm = ioctl(kvm, KvmCreateVm, 0);
        why = vm < 0 ? $"KVM_CREATE_VM failed (errno {Marshal.GetLastPInvokeError()})" : "";
        Ffi.close(kvm);
        return vm;
    }

    /// <summary>KVM_CREATE_GUEST_MEMFD on a VM fd; the new fd or -errno.</summary>
    public static int CreateGuestMemfd(int vmFd, ulong size, ulong flags = 0)
    {
        ulong* args = stackalloc ulong[8];
        new Span<ulong>(args, 8).Clear();
        args[0] = size;
        args[1] = flags;
        int fd = ioctl(vmFd, KvmCreateGuestMemfd, (nint)args);
        return fd < 0 ? -Marshal.GetLastPInvokeError() : fd;
    }
}

using System.Runtime.InteropServices;
using Hvrt.Testing;

namespace Hvrt.Platform;

/// <summary>
/// ioctl(2), the one door to KVM. Every wrapper returns the ioctl's value (>= 0) or -errno, and
/// is a fault-injection site (<see cref="FaultSite.KvmIoctl"/>).
/// </summary>
internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, nuint arg);

    /// <summary>ioctl(fd, request, arg) with a pointer argument: the result or -errno.</summary>
    public static int Ioctl(int fd, ulong request, void* arg)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.KvmIoctl) is int e and not 0)
        {
            return -e;
        }
        int r = ioctl(fd, (nuint)request, arg);
        return r < 0 ? LastError() : r;
    }

    /// <summary>ioctl(fd, request, value) with an integer argument (KVM_CHECK_EXTENSION, KVM_RUN).</summary>
    public static int IoctlValue(int fd, ulong request, ulong value)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.KvmIoctl) is int e and not 0)
        {
            return -e;
        }
        int r = ioctl(fd, (nuint)request, (nuint)value);
        return r < 0 ? LastError() : r;
    }
}

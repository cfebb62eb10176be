using System.Runtime.InteropServices;
using Hvrt.Testing;

namespace Hvrt.Platform;

/// <summary>Shared file mappings and FD_CLOEXEC, for files hvrt creates for the caller (guest_memfd).</summary>
internal static unsafe partial class Libc
{
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;

    /// <summary>fcntl(fd, F_SETFD, FD_CLOEXEC): 0 or -errno.</summary>
    public static int SetCloexec(int fd) => fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? LastError() : 0;

    /// <summary>
    /// mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0): the address, or -errno in
    /// <paramref name="error"/>. A fault-injection site (<see cref="FaultSite.Mmap"/>).
    /// </summary>
    public static void* MapShared(int fd, ulong length, out int error)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Mmap) is int e and not 0)
        {
            error = -e;
            return null;
        }
        const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
        nint p = mmap(0, (nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        error = p == -1 ? LastError() : 0;
        return p == -1 ? null : (void*)p;
    }
}

using System.Runtime.InteropServices;
using Hvrt.Testing;

namespace Hvrt.Platform;

/// <summary>The two discard system calls of a private⇄shared conversion.</summary>
internal static unsafe partial class Libc
{
    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int MADV_DONTNEED = 4;
    public const int MADV_REMOVE = 9;

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);

    /// <summary>fallocate(fd, PUNCH_HOLE | KEEP_SIZE, offset, len): 0 or -errno.</summary>
    public static int PunchHole(int fd, ulong offset, ulong len)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Fallocate) is int e and not 0)
        {
            return -e;
        }
        return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (long)offset, (long)len) < 0 ? LastError() : 0;
    }

    /// <summary>madvise(addr, len, advice): 0 or -errno.</summary>
    public static int Madvise(ulong addr, ulong len, int advice)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Madvise) is int e and not 0)
        {
            return -e;
        }
        return madvise((nint)addr, (nuint)len, advice) < 0 ? LastError() : 0;
    }
}

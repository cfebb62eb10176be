using System.Runtime.InteropServices;
using Hvrt.Testing;

namespace Hvrt.Platform;

/// <summary>The few libc calls hvrt makes. Every one reports failure as -errno.</summary>
internal static unsafe partial class Libc
{
    public const int F_GETFD = 1;
    public const int F_DUPFD_CLOEXEC = 1030;
    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;

    /// <summary>x86-64 struct stat (144 bytes); only the fields hvrt reads are named.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    public struct Stat
    {
        [FieldOffset(0)] public ulong Dev;
        [FieldOffset(8)] public ulong Ino;
        [FieldOffset(24)] public uint Mode;
        [FieldOffset(48)] public long Size;
        [FieldOffset(64)] public long Blocks;
    }

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int fstat(int fd, Stat* st);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true)]
    private static partial nint readlink(byte* path, byte* buf, nuint size);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);

    private static int LastError() => -Marshal.GetLastSystemError();

    public static int FStat(int fd, out Stat st)
    {
        Stat s;
        int r = fstat(fd, &s);
        st = s;
        return r < 0 ? LastError() : 0;
    }

    /// <summary>
    /// True when fd is open on the file (dev, ino): hvrt's duplicates are checked before hvrt
    /// punches or closes them, since a VMM that closed one behind hvrt's back may have had the
    /// number reused for an unrelated file (hvrt.h, "File descriptors").
    /// </summary>
    public static bool RefersTo(int fd, ulong dev, ulong ino) => FStat(fd, out Stat st) == 0 && st.Dev == dev && st.Ino == ino;

    /// <summary>Duplicates fd above 2 with FD_CLOEXEC; returns the new fd or -errno. A fault-injection site (<see cref="FaultSite.Dup"/>).</summary>
    public static int DupCloexec(int fd)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Dup) is int e and not 0)
        {
            return -e;
        }
        int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return r < 0 ? LastError() : r;
    }

    public static void Close(int fd) => close(fd);

    public const int O_RDWR = 2;
    public const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    /// <summary>open(path, flags): the fd or -errno.</summary>
    public static int Open(string path, int flags)
    {
        int r = open(path, flags);
        return r < 0 ? LastError() : r;
    }

    /// <summary>0 if fd is open in this process, else -EBADF.</summary>
    public static int CheckOpen(int fd) => fcntl(fd, F_GETFD, 0) < 0 ? LastError() : 0;

    /// <summary>The target of /proc/self/fd/N (e.g. "anon_inode:[kvm-gmem]"), or null.</summary>
    public static string? FdLink(int fd)
    {
        byte* path = stackalloc byte[40];
        byte* buf = stackalloc byte[256];
        string p = "/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (int i = 0; i < p.Length; i++)
        {
            path[i] = (byte)p[i];
        }
        path[p.Length] = 0;
        nint n = readlink(path, buf, 255);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buf, (int)n);
    }

    /// <summary>True when a PROT_NONE page can be placed at addr (used once to probe 5-level paging).</summary>
    public static bool CanMapAt(ulong addr)
    {
        const int PROT_NONE = 0, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_FIXED_NOREPLACE = 0x100000;
        nint p = mmap((nint)addr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == -1)
        {
            return false;
        }
        munmap(p, 4096);
        return (ulong)p == addr;
    }
}

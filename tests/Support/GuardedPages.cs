using System;
using System.Runtime.InteropServices;

namespace Hvrt.Tests.Support;

/// <summary>
/// One read-write page between two PROT_NONE pages (BoundedMemory): a kernel that reads or writes
/// one byte outside the page faults, so an over-read at either end of a bitmap crashes the test
/// run instead of passing silently.
/// </summary>
internal sealed unsafe partial class GuardedPages : IDisposable
{
    public const int PageSize = 4096;
    private const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    private const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20;

    private readonly byte* _base;

    public GuardedPages()
    {
        nint p = mmap(0, 3 * PageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == -1)
        {
            throw new InvalidOperationException("mmap failed");
        }
        _base = (byte*)p;
        if (mprotect(p + PageSize, PageSize, PROT_READ | PROT_WRITE) != 0)
        {
            throw new InvalidOperationException("mprotect failed");
        }
    }

    /// <summary>First byte of the accessible page.</summary>
    public byte* Start => _base + PageSize;

    /// <summary>One past the last accessible byte (the trailing guard page).</summary>
    public byte* End => _base + 2 * PageSize;

    public void Dispose() => munmap((nint)_base, 3 * PageSize);

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect")]
    private static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int munmap(nint addr, nuint length);
}

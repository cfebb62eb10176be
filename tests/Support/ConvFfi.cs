using System;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Tests.Support;

/// <summary>The conversion exports, called as C calls them, and the libc calls the tests need for real memory.</summary>
internal static unsafe partial class ConvFfi
{
    public const int ProtRw = 3;
    public const int MapShared = 0x01;
    public const int MapPrivate = 0x02;
    public const int MapAnonymous = 0x20;
    public const ulong Page = 4096;

    public static int Convert(VmHandle* vm, ulong gpa, ulong size, int toPrivate)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, int, int> f = &ExportsConversion.Convert;
        return f(vm, gpa, size, toPrivate);
    }

    /// <summary>Pages [gfn, gfn + n).</summary>
    public static int ConvertPages(VmHandle* vm, ulong gfn, ulong n, bool toPrivate) => Convert(vm, gfn * Page, n * Page, toPrivate ? 1 : 0);

    public static int SetPolicy(VmHandle* vm, uint flags)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, int> f = &ExportsConversion.SetDiscardPolicy;
        return f(vm, flags);
    }

    public static int Seq(VmHandle* vm, ulong* seq)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong*, int> f = &ExportsConversion.ConversionSeq;
        return f(vm, seq);
    }

    public static ulong Seq(VmHandle* vm)
    {
        ulong s;
        int r = Seq(vm, &s);
        return r == 0 ? s : throw new InvalidOperationException($"hvrt_conversion_seq: {r}");
    }

    public static int AddListener(VmHandle* vm, delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void> cb, nint ctx)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, nint, nint, int> f = &ExportsConversion.AddConversionListener;
        return f(vm, (nint)cb, ctx);
    }

    public static int RemoveListener(VmHandle* vm, delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void> cb, nint ctx)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, nint, nint, int> f = &ExportsConversion.RemoveConversionListener;
        return f(vm, (nint)cb, ctx);
    }

    public static ulong DiscardCalls(VmHandle* vm) => Vm.FromHandle(vm).DiscardCalls;

    // ---- libc ----------------------------------------------------------------------------

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint pwrite(int fd, byte* buf, nuint n, long offset);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static partial nint pread(int fd, byte* buf, nuint n, long offset);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int fstat(int fd, byte* st);

    public static byte* Map(ulong bytes, int flags, int fd = -1)
    {
        nint p = mmap(0, (nuint)bytes, ProtRw, flags, fd, 0);
        if (p == -1)
        {
            throw new InvalidOperationException($"mmap: errno {Marshal.GetLastPInvokeError()}");
        }
        return (byte*)p;
    }

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static partial int mincore(nint addr, nuint length, byte* vec);

    /// <summary>True when the page at addr is not mapped now (mincore fails with ENOMEM).</summary>
    public static bool Unmapped(ulong addr)
    {
        byte v;
        return mincore((nint)addr, (nuint)Page, &v) < 0 && Marshal.GetLastPInvokeError() == 12;
    }

    /// <summary>The file's allocated 512-byte blocks (st_blocks).</summary>
    public static long Blocks(int fd)
    {
        byte* st = stackalloc byte[144];
        if (fstat(fd, st) < 0)
        {
            throw new InvalidOperationException("fstat");
        }
        return *(long*)(st + 64);
    }

    /// <summary>Writes page i of the file with byte (seed + i), allocating it.</summary>
    public static void FillFile(int fd, ulong firstPage, ulong n, byte seed)
    {
        byte* buf = stackalloc byte[(int)Page];
        for (ulong i = firstPage; i < firstPage + n; i++)
        {
            new Span<byte>(buf, (int)Page).Fill((byte)(seed + i));
            if (pwrite(fd, buf, (nuint)Page, (long)(i * Page)) != (nint)Page)
            {
                throw new InvalidOperationException("pwrite");
            }
        }
    }

    /// <summary>True when every byte of file page i is (seed + i), or 0 when zero.</summary>
    public static bool FilePageIs(int fd, ulong i, byte seed, bool zero)
    {
        byte* buf = stackalloc byte[(int)Page];
        if (pread(fd, buf, (nuint)Page, (long)(i * Page)) != (nint)Page)
        {
            return false;
        }
        return new Span<byte>(buf, (int)Page).IndexOfAnyExcept(zero ? (byte)0 : (byte)(seed + i)) < 0;
    }

    /// <summary>Writes page i of the memory at p with byte (seed + i).</summary>
    public static void FillMem(byte* p, ulong n, byte seed)
    {
        for (ulong i = 0; i < n; i++)
        {
            new Span<byte>(p + i * Page, (int)Page).Fill((byte)(seed + i));
        }
    }

    public static bool MemPageIs(byte* p, ulong i, byte seed, bool zero)
        => new Span<byte>(p + i * Page, (int)Page).IndexOfAnyExcept(zero ? (byte)0 : (byte)(seed + i)) < 0;

    /// <summary>A second, read-only open file description of fd's file (through /proc/self/fd).</summary>
    public static int ReopenReadOnly(int fd) => open($"/proc/self/fd/{fd}", 0x80000 /* O_RDONLY | O_CLOEXEC */);
}

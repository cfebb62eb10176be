using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// hvrt_convert on real memory: memfd private files (st_blocks falls after a punch), shared memfd
/// and anonymous memory (reads back zeros after to-private), a guest_memfd made on /dev/kvm, and
/// the listeners, the sequence counter and the errors.
/// </summary>
public unsafe class ConversionTests
{
    private const ulong Page = ConvFfi.Page;
    private const ulong P = AttrFfi.Private;
    private const uint FPriv = 4;
    private const long BlocksPerPage = 8;

    private static TestVm PrivateVm() => new(new HvrtVmConfig { VmType = 1 });

    /// <summary>What listeners saw: (gpa, size, to_private, seq during the call).</summary>
    private sealed class Recorder
    {
        public VmHandle* Vm;
        public readonly List<(ulong Gpa, ulong Size, int ToPrivate, ulong Seq)> Calls = new();
        public int NestedConvert = int.MinValue;
        public Recorder? Remove;
        public int RemoveResult = int.MinValue;

        /// <summary>The listener's identity: its callback and its context (a GCHandle of this recorder).</summary>
        public bool Meddling;
        public nint Context;
    }

    private static int RemoveRecorder(VmHandle* vm, Recorder rec)
        => rec.Meddling ? ConvFfi.RemoveListener(vm, &OnConvertMeddling, rec.Context) : ConvFfi.RemoveListener(vm, &OnConvert, rec.Context);

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnConvert(nint ctx, ulong gpa, ulong size, int toPrivate)
    {
        var r = (Recorder)GCHandle.FromIntPtr(ctx).Target!;
        r.Calls.Add((gpa, size, toPrivate, ConvFfi.Seq(r.Vm)));
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnConvertMeddling(nint ctx, ulong gpa, ulong size, int toPrivate)
    {
        var r = (Recorder)GCHandle.FromIntPtr(ctx).Target!;
        r.Calls.Add((gpa, size, toPrivate, ConvFfi.Seq(r.Vm)));
        r.NestedConvert = ConvFfi.Convert(r.Vm, 0x100000 * Page, Page, 1);
        if (r.Remove is { } victim)
        {
            r.RemoveResult = RemoveRecorder(r.Vm, victim);
            r.Remove = null;
        }
    }

    private static Recorder AddRecorder(VmHandle* vm, Recorder rec, out GCHandle h, bool meddling = false)
    {
        rec.Vm = vm;
        h = GCHandle.Alloc(rec);
        rec.Meddling = meddling;
        rec.Context = GCHandle.ToIntPtr(h);
        int r = meddling
            ? ConvFfi.AddListener(vm, &OnConvertMeddling, rec.Context)
            : ConvFfi.AddListener(vm, &OnConvert, rec.Context);
        Assert.Equal(0, r);
        return rec;
    }

    private static void AssertAttrs(VmHandle* vm, ulong gfn, ulong n, ulong attrs)
    {
        for (ulong g = gfn; g < gfn + n; g++)
        {
            Assert.Equal(attrs, AttrFfi.Get(vm, g));
        }
    }

    [Fact]
    public void BadArgumentsAndErrno()
    {
        using var vm = PrivateVm();
        ulong seq;
        Assert.Equal(-Errno.EFAULT, ConvFfi.Convert(null, 0, Page, 1));
        Assert.Equal(-Errno.EFAULT, ConvFfi.SetPolicy(null, 0));
        Assert.Equal(-Errno.EFAULT, ConvFfi.Seq(null, &seq));
        Assert.Equal(-Errno.EFAULT, ConvFfi.AddListener(null, &OnConvert, 0));
        Assert.Equal(-Errno.EFAULT, ConvFfi.RemoveListener(null, &OnConvert, 0));
        var dead = (VmHandle*)NativeMemory.AllocZeroed((nuint)sizeof(VmHandle));
        try
        {
            Assert.Equal(-Errno.EBADF, ConvFfi.Convert(dead, 0, Page, 1));
            Assert.Equal(-Errno.EBADF, ConvFfi.SetPolicy(dead, 0));
            Assert.Equal(-Errno.EBADF, ConvFfi.Seq(dead, &seq));
            Assert.Equal(-Errno.EBADF, ConvFfi.AddListener(dead, &OnConvert, 0));
            Assert.Equal(-Errno.EBADF, ConvFfi.RemoveListener(dead, &OnConvert, 0));
        }
        finally
        {
            NativeMemory.Free(dead);
        }
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, 0, Page, 2));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, 0, Page, -1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, 0, 0, 1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, 1, Page, 1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, 0, Page + 1, 1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(vm.Handle, ulong.MaxValue - Page + 1, 2 * Page, 1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.SetPolicy(vm.Handle, 4));
        Assert.Equal(-Errno.EINVAL, ConvFfi.SetPolicy(vm.Handle, 0x80000000));
        Assert.Equal(-Errno.EFAULT, ConvFfi.Seq(vm.Handle, null));
        Assert.Equal(-Errno.EFAULT, ConvFfi.AddListener(vm.Handle, null, 0));
        Assert.Equal(-Errno.ENOENT, ConvFfi.RemoveListener(vm.Handle, &OnConvert, 1));
        Assert.Equal(0, ConvFfi.AddListener(vm.Handle, &OnConvert, 7));
        Assert.Equal(-Errno.EEXIST, ConvFfi.AddListener(vm.Handle, &OnConvert, 7));
        Assert.Equal(0, ConvFfi.AddListener(vm.Handle, &OnConvert, 8)); // another context: another listener
        Assert.Equal(0, ConvFfi.RemoveListener(vm.Handle, &OnConvert, 7));
        Assert.Equal(0, ConvFfi.RemoveListener(vm.Handle, &OnConvert, 8));
        Assert.Equal(0UL, ConvFfi.Seq(vm.Handle));
        AssertAttrs(vm.Handle, 0, 2, 0);

        // A VM type without private memory refuses every conversion, even a valid one.
        using var plain = new TestVm();
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(plain.Handle, 0, Page, 1));
        Assert.Equal(-Errno.EINVAL, ConvFfi.Convert(plain.Handle, 0, Page, 0));

        // The whole space converts (holes only: attributes alone), and back.
        Assert.Equal(0, ConvFfi.Convert(vm.Handle, 0, ulong.MaxValue - Page + 1, 1));
        Assert.Equal(P, AttrFfi.Get(vm.Handle, (1UL << 52) - 2));
        Assert.Equal(0, ConvFfi.Convert(vm.Handle, 0, ulong.MaxValue - Page + 1, 0));
        Assert.Equal(0UL, AttrFfi.Get(vm.Handle, 12345));
        Assert.Equal(4UL, ConvFfi.Seq(vm.Handle));
    }

    [Fact]
    public void ToSharedPunchesThePrivateMemfd()
    {
        using var vm = PrivateVm();
        int fd = Ffi.Memfd(16 * (long)Page);
        byte* shared = ConvFfi.Map(16 * Page, ConvFfi.MapPrivate | ConvFfi.MapAnonymous);
        try
        {
            Assert.Equal(0, vm.Ext(0, FPriv, 0, 16 * Page, (ulong)shared, 0, fd));
            ConvFfi.FillFile(fd, 0, 16, 0x10);
            long full = ConvFfi.Blocks(fd);
            Assert.Equal(16 * BlocksPerPage, full);
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 0, 16, true));

            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 4, 4, false));
            Assert.Equal(full - 4 * BlocksPerPage, ConvFfi.Blocks(fd));
            for (ulong i = 0; i < 16; i++)
            {
                Assert.True(ConvFfi.FilePageIs(fd, i, 0x10, zero: i is >= 4 and < 8), $"page {i}");
            }
            AssertAttrs(vm.Handle, 0, 4, P);
            AssertAttrs(vm.Handle, 4, 4, 0);
            AssertAttrs(vm.Handle, 8, 8, P);
        }
        finally
        {
            ConvFfi.Munmap((nint)shared, (nuint)(16 * Page));
            Ffi.close(fd);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ToPrivateDropsSharedMemory(bool memfd)
    {
        using var vm = PrivateVm();
        int fd = memfd ? Ffi.Memfd(16 * (long)Page) : -1;
        byte* mem = memfd
            ? ConvFfi.Map(16 * Page, ConvFfi.MapShared, fd)
            : ConvFfi.Map(16 * Page, ConvFfi.MapPrivate | ConvFfi.MapAnonymous);
        try
        {
            Assert.Equal(0, vm.V1(0, 0, 0x100 * Page, 16 * Page, (ulong)mem));
            ConvFfi.FillMem(mem, 16, 0x40);
            if (memfd)
            {
                Assert.Equal(16 * BlocksPerPage, ConvFfi.Blocks(fd));
            }
            ulong calls = ConvFfi.DiscardCalls(vm.Handle);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0x102, 5, true));
            // memfd: one MADV_REMOVE; anonymous: MADV_REMOVE refused (EINVAL), then MADV_DONTNEED.
            Assert.Equal(memfd ? 1UL : 2UL, ConvFfi.DiscardCalls(vm.Handle) - calls);
            // (Before reading: a read fault on a shmem hole allocates the page again.)
            if (memfd)
            {
                Assert.Equal(11 * BlocksPerPage, ConvFfi.Blocks(fd));
            }
            for (ulong i = 0; i < 16; i++)
            {
                Assert.True(ConvFfi.MemPageIs(mem, i, 0x40, zero: i is >= 2 and < 7), $"page {i}");
            }
            AssertAttrs(vm.Handle, 0x100, 2, 0);
            AssertAttrs(vm.Handle, 0x102, 5, P);
            AssertAttrs(vm.Handle, 0x107, 9, 0);
        }
        finally
        {
            ConvFfi.Munmap((nint)mem, (nuint)(16 * Page));
            if (fd >= 0)
            {
                Ffi.close(fd);
            }
        }
    }

    [SkippableFact]
    public void GuestMemfdPunchedThroughItsMmap()
    {
        int kvmVm = Support.Kvm.CreateVm(out string why);
        Skip.If(kvmVm < 0, why);
        int gmem = Support.Kvm.CreateGuestMemfd(kvmVm, 16 * Page, 0x3 /* MMAP | INIT_SHARED */);
        Ffi.close(kvmVm);
        Skip.If(gmem < 0, $"KVM_CREATE_GUEST_MEMFD(MMAP | INIT_SHARED) failed: errno {-gmem}");
        using var vm = PrivateVm();
        byte* gm = ConvFfi.Map(16 * Page, ConvFfi.MapShared, gmem);
        byte* shared = ConvFfi.Map(16 * Page, ConvFfi.MapPrivate | ConvFfi.MapAnonymous);
        try
        {
            Assert.Equal(0, vm.Region2(0, FPriv, 0, 16 * Page, (ulong)shared, 0, gmem));
            ConvFfi.FillMem(gm, 16, 0x70);
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 0, 16, true));
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 8, false));
            for (ulong i = 0; i < 16; i++)
            {
                Assert.True(ConvFfi.MemPageIs(gm, i, 0x70, zero: i < 8), $"page {i}");
            }
            AssertAttrs(vm.Handle, 0, 8, 0);
            AssertAttrs(vm.Handle, 8, 8, P);
        }
        finally
        {
            ConvFfi.Munmap((nint)gm, (nuint)(16 * Page));
            ConvFfi.Munmap((nint)shared, (nuint)(16 * Page));
            Ffi.close(gmem);
        }
    }

    [Fact]
    public void AlreadyConvertedPagesAreNotDiscardedAgain()
    {
        using var vm = PrivateVm();
        int fd = Ffi.Memfd(16 * (long)Page);
        byte* shared = ConvFfi.Map(16 * Page, ConvFfi.MapShared | ConvFfi.MapAnonymous);
        var rec = new Recorder();
        AddRecorder(vm.Handle, rec, out GCHandle h);
        try
        {
            Assert.Equal(0, vm.Ext(0, FPriv, 0, 16 * Page, (ulong)shared, 0, fd));
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 4, 4, true));
            ulong calls = ConvFfi.DiscardCalls(vm.Handle);
            ulong seq = ConvFfi.Seq(vm.Handle);
            rec.Calls.Clear();

            // Identical again: no discard, no listener, the sequence does not move.
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 4, 4, true));
            Assert.Equal(calls, ConvFfi.DiscardCalls(vm.Handle));
            Assert.Equal(seq, ConvFfi.Seq(vm.Handle));
            Assert.Empty(rec.Calls);

            // Re-filled private pages keep their blocks when converting to private again.
            ConvFfi.FillFile(fd, 0, 16, 1);
            long blocks = ConvFfi.Blocks(fd);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 4, 4, true));
            Assert.Equal(blocks, ConvFfi.Blocks(fd));

            // A superset: only the two new runs change (one discard call each for shared memory
            // that is not contiguous? it is contiguous in hva, but the runs differ: [0,4) and [8,12)).
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 12, true));
            Assert.Equal(calls + 2, ConvFfi.DiscardCalls(vm.Handle));
            Assert.Equal(new[] { (0UL, 4 * Page, 1), (8 * Page, 4 * Page, 1) }, rec.Calls.ConvertAll(c => (c.Gpa, c.Size, c.ToPrivate)).ToArray());

            // Back to shared over [2, 14): only [2, 12) was private, one punch.
            rec.Calls.Clear();
            calls = ConvFfi.DiscardCalls(vm.Handle);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 2, 12, false));
            Assert.Equal(calls + 1, ConvFfi.DiscardCalls(vm.Handle));
            Assert.Equal(new[] { (2 * Page, 10 * Page, 0) }, rec.Calls.ConvertAll(c => (c.Gpa, c.Size, c.ToPrivate)).ToArray());
            Assert.Equal(blocks - 10 * BlocksPerPage, ConvFfi.Blocks(fd));
            Assert.Equal(0, RemoveRecorder(vm.Handle, rec));
        }
        finally
        {
            h.Free();
            ConvFfi.Munmap((nint)shared, (nuint)(16 * Page));
            Ffi.close(fd);
        }
    }

    [Fact]
    public void RangesCrossSlotsAndHoles()
    {
        using var vm = PrivateVm();
        int fd = Ffi.Memfd(32 * (long)Page);
        byte* mem = ConvFfi.Map(32 * Page, ConvFfi.MapShared, fd);
        int pfd = Ffi.Memfd(32 * (long)Page);
        try
        {
            // Slots 0 and 1 are adjacent in gfn and in hva (one run); a hole of 8 pages; slot 2.
            Assert.Equal(0, vm.Ext(0, FPriv, 0, 8 * Page, (ulong)mem, 0, pfd));
            Assert.Equal(0, vm.Ext(1, FPriv, 8 * Page, 8 * Page, (ulong)mem + 8 * Page, 8 * Page, pfd));
            Assert.Equal(0, vm.Ext(2, FPriv, 24 * Page, 8 * Page, (ulong)mem + 24 * Page, 24 * Page, pfd));
            ConvFfi.FillMem(mem, 32, 3);
            ConvFfi.FillFile(pfd, 0, 32, 9);
            ulong calls = ConvFfi.DiscardCalls(vm.Handle);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 2, 28, true));
            Assert.Equal(calls + 2, ConvFfi.DiscardCalls(vm.Handle));
            for (ulong i = 0; i < 32; i++)
            {
                Assert.True(ConvFfi.MemPageIs(mem, i, 3, zero: i is (>= 2 and < 16) or (>= 24 and < 30)), $"page {i}");
            }
            AssertAttrs(vm.Handle, 0, 2, 0);
            AssertAttrs(vm.Handle, 2, 28, P);
            AssertAttrs(vm.Handle, 30, 2, 0);

            // Back to shared: the private file is punched where the slots map it (one call for
            // slots 0-1, file pages 2-16, one for slot 2, file pages 24-30); the hole only flips.
            calls = ConvFfi.DiscardCalls(vm.Handle);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 32, false));
            Assert.Equal(calls + 2, ConvFfi.DiscardCalls(vm.Handle));
            for (ulong i = 0; i < 32; i++)
            {
                Assert.True(ConvFfi.FilePageIs(pfd, i, 9, zero: i is (>= 2 and < 16) or (>= 24 and < 30)), $"file page {i}");
            }
            Assert.Equal((32 - 14 - 6) * BlocksPerPage, ConvFfi.Blocks(pfd));
            AssertAttrs(vm.Handle, 0, 32, 0);
        }
        finally
        {
            ConvFfi.Munmap((nint)mem, (nuint)(32 * Page));
            Ffi.close(fd);
            Ffi.close(pfd);
        }
    }

    [Fact]
    public void AFailingDiscardLeavesTheAttributes()
    {
        using var vm = PrivateVm();
        int good = Ffi.Memfd(8 * (long)Page);
        int bad = Ffi.Memfd(8 * (long)Page);
        // A read-only open file description of a memfd: a valid private file for a slot, but
        // fallocate(PUNCH_HOLE) on it fails with EBADF ("not open for writing").
        int ro = ConvFfi.ReopenReadOnly(bad);
        Assert.True(ro >= 0);
        byte* shared = ConvFfi.Map(16 * Page, ConvFfi.MapShared | ConvFfi.MapAnonymous);
        var rec = new Recorder();
        AddRecorder(vm.Handle, rec, out GCHandle h);
        try
        {
            Assert.Equal(0, vm.Ext(0, FPriv, 0, 8 * Page, (ulong)shared, 0, good));
            Assert.Equal(0, vm.Ext(1, FPriv, 8 * Page, 8 * Page, (ulong)shared + 8 * Page, 0, ro));
            ConvFfi.FillFile(good, 0, 8, 5);
            ConvFfi.FillFile(bad, 0, 8, 6);
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 0, 16, true));
            ulong seq = ConvFfi.Seq(vm.Handle);

            Assert.Equal(-Errno.EBADF, ConvFfi.ConvertPages(vm.Handle, 4, 8, false));
            AssertAttrs(vm.Handle, 0, 16, P);
            Assert.Empty(rec.Calls);
            Assert.Equal(seq + 2, ConvFfi.Seq(vm.Handle));
            // The good file's piece was punched before the bad one failed (not undoable).
            Assert.Equal(4 * BlocksPerPage, ConvFfi.Blocks(good));
            Assert.Equal(8 * BlocksPerPage, ConvFfi.Blocks(bad));

            // With private discard off the same conversion succeeds and only flips attributes.
            Assert.Equal(0, ConvFfi.SetPolicy(vm.Handle, 1));
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 4, 8, false));
            Assert.Equal(8 * BlocksPerPage, ConvFfi.Blocks(bad));
            AssertAttrs(vm.Handle, 4, 8, 0);
            Assert.Single(rec.Calls);
        }
        finally
        {
            h.Free();
            ConvFfi.Munmap((nint)shared, (nuint)(16 * Page));
            Ffi.close(good);
            Ffi.close(bad);
            Ffi.close(ro);
        }
    }

    [Fact]
    public void AMapPrivateFileMappingRefusesSharedDiscard()
    {
        using var vm = PrivateVm();
        int fd = Ffi.Memfd(8 * (long)Page);
        byte* mem = ConvFfi.Map(8 * Page, ConvFfi.MapPrivate, fd);
        try
        {
            Assert.Equal(0, vm.V1(0, 0, 0, 8 * Page, (ulong)mem));
            ConvFfi.FillMem(mem, 8, 1);
            Assert.Equal(-Errno.EACCES, ConvFfi.ConvertPages(vm.Handle, 0, 8, true));
            AssertAttrs(vm.Handle, 0, 8, 0);
            Assert.True(ConvFfi.MemPageIs(mem, 3, 1, zero: false));

            // Shared discard off: the attribute changes, the memory stays.
            Assert.Equal(0, ConvFfi.SetPolicy(vm.Handle, 2));
            ulong calls = ConvFfi.DiscardCalls(vm.Handle);
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 8, true));
            Assert.Equal(calls, ConvFfi.DiscardCalls(vm.Handle));
            AssertAttrs(vm.Handle, 0, 8, P);
            Assert.True(ConvFfi.MemPageIs(mem, 3, 1, zero: false));

            // An unmapped hole under a slot: madvise says ENOMEM.
            Assert.Equal(0, ConvFfi.SetPolicy(vm.Handle, 3));
            // (Not a page just unmapped: the runtime could map its own memory there meanwhile, and
            // the fallback MADV_DONTNEED would zero it. 16 TiB is far below where mmap places things.)
            ulong gone = 0x100000000000;
            Assert.True(ConvFfi.Unmapped(gone));
            Assert.Equal(0, vm.V1(1, 0, 0x100 * Page, Page, gone));
            Assert.Equal(-Errno.ENOMEM, ConvFfi.ConvertPages(vm.Handle, 0x100, 1, true));
            AssertAttrs(vm.Handle, 0x100, 1, 0);
        }
        finally
        {
            ConvFfi.Munmap((nint)mem, (nuint)(8 * Page));
            Ffi.close(fd);
        }
    }

    [Fact]
    public void ListenersSeeTheRangesAndAnOddSequence()
    {
        using var vm = PrivateVm();
        var a = new Recorder();
        var b = new Recorder();
        AddRecorder(vm.Handle, a, out GCHandle ha);
        AddRecorder(vm.Handle, b, out GCHandle hb);
        try
        {
            // Holes only. [0x10, 0x20) private first, then [0, 0x30): two runs change.
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0x10, 0x10, true));
            Assert.Equal(2UL, ConvFfi.Seq(vm.Handle));
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 0x30, true));
            Assert.Equal(4UL, ConvFfi.Seq(vm.Handle));
            var want = new[] { (0x10 * Page, 0x10 * Page, 1, 1UL), (0UL, 0x10 * Page, 1, 3UL), (0x20 * Page, 0x10 * Page, 1, 3UL) };
            Assert.Equal(want, a.Calls.ToArray());
            Assert.Equal(want, b.Calls.ToArray());

            // Removed: no longer called; removing twice is ENOENT.
            Assert.Equal(0, RemoveRecorder(vm.Handle, a));
            Assert.Equal(-Errno.ENOENT, RemoveRecorder(vm.Handle, a));
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0x8, 0x4, false));
            Assert.Equal(3, a.Calls.Count);
            Assert.Equal((0x8 * Page, 0x4 * Page, 0, 5UL), b.Calls[^1]);
            Assert.Equal(6UL, ConvFfi.Seq(vm.Handle));
        }
        finally
        {
            ha.Free();
            hb.Free();
        }
    }

    [Fact]
    public void ACallbackCannotChangeTheVmButMayRemoveListeners()
    {
        using var vm = PrivateVm();
        var m = new Recorder();
        var later = new Recorder();
        AddRecorder(vm.Handle, m, out GCHandle hm, meddling: true);
        AddRecorder(vm.Handle, later, out GCHandle hl);
        try
        {
            // Two runs: the first callback removes the second listener, which is then never called.
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 1, 1, true));
            m.Calls.Clear();
            m.Remove = later;
            Assert.Equal(0, ConvFfi.ConvertPages(vm.Handle, 0, 3, true));
            Assert.Equal(-Errno.EDEADLK, m.NestedConvert);
            Assert.Equal(0, m.RemoveResult);
            Assert.Equal(2, m.Calls.Count);
            Assert.Single(later.Calls); // the first conversion only
            Assert.Equal(0UL, AttrFfi.Get(vm.Handle, 0x100000));
            Assert.Equal(0, RemoveRecorder(vm.Handle, m));
        }
        finally
        {
            hm.Free();
            hl.Free();
        }
    }
    /// <summary>
    /// The reader protocol of hvrt.h: a reader that sees the same even sequence before and after
    /// its reads never sees a half-converted range, while another thread converts it back and forth.
    /// </summary>
    [Fact]
    public void SeqlockReadersNeverSeeAHalfConvertedRange()
    {
        using var vm = PrivateVm();
        VmHandle* h = vm.Handle;
        const ulong N = 3 * 512 + 7; // crosses 2 MiB frames
        const int Rounds = 400;
        long consistent = 0, torn = 0;
        bool done = false;
        var reader = new System.Threading.Thread(() =>
        {
            // Checks `done` before reading, so the last pass (after every conversion) always counts.
            for (bool final = false; !final;)
            {
                final = System.Threading.Volatile.Read(ref done);
                ulong s0 = ConvFfi.Seq(h);
                if ((s0 & 1) != 0)
                {
                    continue;
                }
                ulong first = AttrFfi.Get(h, 0x1000);
                ulong last = AttrFfi.Get(h, 0x1000 + N - 1);
                ulong mid = AttrFfi.Get(h, 0x1000 + N / 2);
                if (ConvFfi.Seq(h) != s0)
                {
                    continue;
                }
                if (first == last && first == mid && first == ((s0 / 2) % 2 == 1 ? P : 0))
                {
                    consistent++;
                }
                else
                {
                    torn++;
                }
            }
        });
        reader.Start();
        for (int i = 0; i < Rounds; i++)
        {
            Assert.Equal(0, ConvFfi.ConvertPages(h, 0x1000, N, i % 2 == 0));
        }
        System.Threading.Volatile.Write(ref done, true);
        reader.Join();
        Assert.Equal(0, torn);
        Assert.True(consistent > 0);
        Assert.Equal(2UL * Rounds, ConvFfi.Seq(h));
    }
}

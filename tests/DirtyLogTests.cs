using System;
using System.Collections.Generic;
using System.Linq;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;
using static Hvrt.Tests.DirtyLogFfi;

namespace Hvrt.Tests;

/// <summary>Dirty logging: KVM's checks and order, slot lifecycle, modes, hvrt_mark_dirty.</summary>
public unsafe class DirtyLogTests
{
    private const ulong P = 4096;
    private const ulong Hva = TestVm.Hva;

    private static VmHandle* Junk(byte* buf)
    {
        new Span<byte>(buf, 64).Clear();
        return (VmHandle*)buf;
    }

    [Fact]
    public void SetMode_FollowsEnableCap()
    {
        using var vm = new TestVm();
        byte* junk = stackalloc byte[64];
        Assert.Equal(E.EFAULT, SetMode(null, 0));
        Assert.Equal(E.EBADF, SetMode(Junk(junk), 0));
        Assert.Equal(0, SetMode(vm.Handle, 0));
        Assert.Equal(0, SetMode(vm.Handle, Manual));
        Assert.Equal(0, SetMode(vm.Handle, Manual | InitiallySet));
        // INITIALLY_SET alone, and any unknown bit, with or without MANUAL_PROTECT.
        Assert.Equal(E.EINVAL, SetMode(vm.Handle, InitiallySet));
        Assert.Equal(E.EINVAL, SetMode(vm.Handle, 4));
        Assert.Equal(E.EINVAL, SetMode(vm.Handle, Manual | 4));
        Assert.Equal(E.EINVAL, SetMode(vm.Handle, 0x80000000));
        Assert.Equal(Manual | InitiallySet, Vm.FromHandle(vm.Handle).DirtyLogMode);
        Assert.Equal(0, SetMode(vm.Handle, 0));
        Assert.Equal(0u, Vm.FromHandle(vm.Handle).DirtyLogMode);
    }

    [Fact]
    public void Get_ErrnoTable_InKvmOrder()
    {
        using var vm = new TestVm();
        byte* junk = stackalloc byte[64];
        ulong* b = stackalloc ulong[4];
        Assert.Equal(0, vm.Region2(0, Log, 0, 100 * P));
        Assert.Equal(0, vm.Region2(1, 0, 1 << 20, 16 * P));
        Assert.Equal(E.EFAULT, Get(null, 0, b));
        Assert.Equal(E.EBADF, Get(Junk(junk), 0, b));
        Assert.Equal(E.EBADF, Get(Junk(junk), 0, null));
        Assert.Equal(E.EINVAL, Get(vm.Handle, 2u << 16, b));          // as_id out of range
        Assert.Equal(E.EINVAL, Get(vm.Handle, 32764, null));          // id >= KVM_USER_MEM_SLOTS, before the bitmap
        Assert.Equal(E.EINVAL, Get(vm.Handle, 0xffffu << 16, b));
        Assert.Equal(E.ENOENT, Get(vm.Handle, 7, null));              // no slot, before the bitmap
        Assert.Equal(E.ENOENT, Get(vm.Handle, 1, b));                 // slot without LOG_DIRTY_PAGES
        Assert.Equal(E.ENOENT, Get(vm.Handle, 1u << 16, b));          // address space 1 has no slot 0
        Assert.Equal(E.EFAULT, Get(vm.Handle, 0, null));
        Assert.Equal(0, Get(vm.Handle, 0, b));
    }

    [Fact]
    public void Clear_ErrnoTable_InKvmOrder()
    {
        using var vm = new TestVm();
        byte* junk = stackalloc byte[64];
        ulong[] ones = Enumerable.Repeat(ulong.MaxValue, 4).ToArray();
        Assert.Equal(0, vm.Region2(0, Log, 0, 200 * P));
        Assert.Equal(0, vm.Region2(1, 0, 1 << 20, 64 * P));
        Assert.Equal(E.EFAULT, Clear(null, 0, 0, 64, ones));
        Assert.Equal(E.EBADF, Clear(Junk(junk), 0, 0, 64, ones));
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 2u << 16, 0, 64, ones));
        // first_page & 63 is checked before the slot lookup (kvm_clear_dirty_log_protect).
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 9, 1, 64, ones));
        Assert.Equal(E.ENOENT, Clear(vm.Handle, 9, 0, 64, ones));
        Assert.Equal(E.ENOENT, Clear(vm.Handle, 1, 0, 64, ones));
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 0, 256, 0, ones));    // first_page > npages
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 0, 128, 73, ones));   // num_pages > npages - first_page
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 0, 64, 63, ones));    // not a multiple of 64, not reaching the end
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 0, 0, uint.MaxValue, ones));
        Assert.Equal(E.EFAULT, Clear(vm.Handle, 0, 0, 64, (ulong*)null));
        // KVM copies ALIGN(num_pages, 64) / 8 = 0 bytes: a NULL bitmap is not read.
        Assert.Equal(0, Clear(vm.Handle, 0, 0, 0, (ulong*)null));
        Assert.Equal(0, Clear(vm.Handle, 0, 192, 0, (ulong*)null));
        Assert.Equal(E.EINVAL, Clear(vm.Handle, 0, 200, 0, (ulong*)null)); // first_page == npages, but not a multiple of 64
        Assert.Equal(0, Clear(vm.Handle, 0, 128, 72, ones));          // reaches the end
        Assert.Equal(0, Clear(vm.Handle, 0, 0, 200, ones));
        Assert.Equal(0, Clear(vm.Handle, 0, 64, 64, ones));
    }

    [Fact]
    public void Lifecycle_Create_Move_Flags_Delete()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(3, Log, 0x100000, 130 * P));
        Assert.Equal(new ulong[3], Get(vm.Handle, 3, 130, out int r));
        Assert.Equal(2, Mark(vm.Handle, 0x100000 + 5 * P, 2 * P));
        Assert.Equal(1, Mark(vm.Handle, 0x100000 + 129 * P, 1));

        // MOVE keeps the bitmap (bits are slot-relative, like KVM's).
        Assert.Equal(0, vm.Region2(3, Log, 0x900000, 130 * P));
        ulong[]? got = Get(vm.Handle, 3, 130, out r);
        Assert.Equal(new ulong[] { 5, 6, 129 }, Pages(got!));
        Assert.Empty(Pages(Get(vm.Handle, 3, 130, out r)!)); // fetched and cleared

        // The old place is a hole now; the new one logs.
        Assert.Equal(0, Mark(vm.Handle, 0x100000, P));
        Assert.Equal(1, Mark(vm.Handle, 0x900000 + 64 * P, P));

        // Logging off: the bitmap goes away; on again: a new, clear one.
        Assert.Equal(0, vm.Region2(3, 0, 0x900000, 130 * P));
        Assert.Null(Get(vm.Handle, 3, 130, out r));
        Assert.Equal(E.ENOENT, r);
        Assert.Equal(0, Mark(vm.Handle, 0x900000, 130 * P));
        Assert.Equal(0, vm.Region2(3, Log, 0x900000, 130 * P));
        Assert.Equal(new ulong[3], Get(vm.Handle, 3, 130, out r));

        // A MOVE that turns logging off, and one that turns it on.
        Assert.Equal(1, Mark(vm.Handle, 0x900000, 1));
        Assert.Equal(0, vm.Region2(3, 0, 0x200000, 130 * P));
        Assert.Null(Get(vm.Handle, 3, 130, out r));
        Assert.Equal(0, vm.Region2(3, Log, 0x300000, 130 * P));
        Assert.Equal(new ulong[3], Get(vm.Handle, 3, 130, out r));

        // Delete: gone; re-created: clear.
        Assert.Equal(1, Mark(vm.Handle, 0x300000, 1));
        Assert.Equal(0, vm.Region2(3, 0, 0x300000, 0));
        Assert.Null(Get(vm.Handle, 3, 130, out r));
        Assert.Equal(E.ENOENT, r);
        Assert.Equal(0, vm.Region2(3, Log, 0x300000, 130 * P));
        Assert.Equal(new ulong[3], Get(vm.Handle, 3, 130, out r));
    }

    [Fact]
    public void Lifecycle_Batch_DeleteAndRecreateInOneCommit()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(1, Log, 0, 64 * P));
        Assert.Equal(1, Mark(vm.Handle, 3 * P, 1));
        var regions = stackalloc KvmUserspaceMemoryRegion2[2];
        regions[0] = Ffi.Region(1, Log, 0, 0, Hva);
        regions[1] = Ffi.Region(1, Log, 64 * P, 10 * P, Hva + 0x100000);
        Assert.Equal(2, Ffi.SetRegions(vm.Handle, regions, 2, null));
        Assert.Equal(new ulong[1], Get(vm.Handle, 1, 10, out _));
        Assert.Equal(1, Mark(vm.Handle, 66 * P, 1));
        Assert.Equal(new ulong[] { 2 }, Pages(Get(vm.Handle, 1, 10, out _)!));
    }

    [Fact]
    public void InitiallySet_SetsAllPagesOfNewBitmapsOnly()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 100 * P));
        Assert.Equal(0, SetMode(vm.Handle, Manual | InitiallySet));
        // An existing bitmap is not touched (KVM sets bits when it allocates a bitmap).
        Assert.Equal(new ulong[2], Get(vm.Handle, 0, 100, out _));
        Assert.Equal(0, vm.Region2(1, Log, 1 << 20, 100 * P));
        ulong[] all = Get(vm.Handle, 1, 100, out _)!;
        Assert.Equal(new ulong[] { ulong.MaxValue, (1UL << 36) - 1 }, all); // bits past npages stay clear
        // Manual protection: GET copies only; CLEAR clears what the mask says.
        Assert.Equal(all, Get(vm.Handle, 1, 100, out _));
        Assert.Equal(0, Clear(vm.Handle, 1, 0, 64, new[] { 0xffUL }));
        Assert.Equal(new ulong[] { ~0xffUL, (1UL << 36) - 1 }, Get(vm.Handle, 1, 100, out _));
        // Logging turned on by a flags change gets a full bitmap too.
        Assert.Equal(0, vm.Region2(2, 0, 1 << 24, 64 * P));
        Assert.Equal(0, vm.Region2(2, Log, 1 << 24, 64 * P));
        Assert.Equal(new ulong[] { ulong.MaxValue }, Get(vm.Handle, 2, 64, out _));
    }

    [Fact]
    public void GetAndClear_VersusManual()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 1000 * P));
        Assert.Equal(3, Mark(vm.Handle, 10 * P, 3 * P));
        Assert.Equal(new ulong[] { 10, 11, 12 }, Pages(Get(vm.Handle, 0, 1000, out _)!));
        Assert.Empty(Pages(Get(vm.Handle, 0, 1000, out _)!));

        Assert.Equal(0, SetMode(vm.Handle, Manual));
        Assert.Equal(2, Mark(vm.Handle, 998 * P, 2 * P));
        Assert.Equal(1, Mark(vm.Handle, 500 * P, 1));
        Assert.Equal(new ulong[] { 500, 998, 999 }, Pages(Get(vm.Handle, 0, 1000, out _)!));
        Assert.Equal(new ulong[] { 500, 998, 999 }, Pages(Get(vm.Handle, 0, 1000, out _)!));
        // CLEAR of the last partial word with every bit set: bits past the slot are ignored.
        var mask = Enumerable.Repeat(ulong.MaxValue, 1).ToArray();
        Assert.Equal(0, Clear(vm.Handle, 0, 960, 40, mask));
        Assert.Equal(new ulong[] { 500 }, Pages(Get(vm.Handle, 0, 1000, out _)!));

        // Without manual protection CLEAR still clears (KVM checks no mode in KVM_CLEAR_DIRTY_LOG).
        Assert.Equal(0, SetMode(vm.Handle, 0));
        Assert.Equal(0, Clear(vm.Handle, 0, 448, 64, new[] { 1UL << (500 - 448) }));
        Assert.Empty(Pages(Get(vm.Handle, 0, 1000, out _)!));
    }

    [Fact]
    public void Mark_AcrossSlotsAndHoles()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 16 * P, Hva));                 // [0, 16)
        Assert.Equal(0, vm.Region2(1, 0, 32 * P, 32 * P, Hva + 0x100000));   // [32, 64) does not log
        Assert.Equal(0, vm.Region2(2, Log, 64 * P, 136 * P, Hva + 0x200000)); // [64, 200)
        Assert.Equal(0, vm.Region2(1u << 16, Log, 0, 300 * P, Hva));         // address space 1: never marked
        Assert.Equal(8 + 36, Mark(vm.Handle, 8 * P, 92 * P));
        Assert.Equal(Enumerable.Range(8, 8).Select(i => (ulong)i), Pages(Get(vm.Handle, 0, 16, out _)!));
        Assert.Equal(Enumerable.Range(0, 36).Select(i => (ulong)i), Pages(Get(vm.Handle, 2, 136, out _)!));
        Assert.Empty(Pages(Get(vm.Handle, 1u << 16, 300, out _)!));

        // Byte granularity: every page holding a byte of the range.
        Assert.Equal(1, Mark(vm.Handle, P + 1, 1));
        Assert.Equal(2, Mark(vm.Handle, 3 * P - 1, 2));
        Assert.Equal(new ulong[] { 1, 2, 3 }, Pages(Get(vm.Handle, 0, 16, out _)!));

        // Everything: the whole address space.
        Assert.Equal(16 + 136, Mark(vm.Handle, 0, ulong.MaxValue));
        Assert.Equal(16, Pages(Get(vm.Handle, 0, 16, out _)!).Count);
        Assert.Equal(136, Pages(Get(vm.Handle, 2, 136, out _)!).Count);

        // Holes only, empty, wrapping, and a range ending exactly at 2^64.
        Assert.Equal(0, Mark(vm.Handle, 16 * P, 16 * P));
        Assert.Equal(0, Mark(vm.Handle, 5 * P, 0));
        Assert.Equal(E.EINVAL, Mark(vm.Handle, ulong.MaxValue - 10, 100));
        Assert.Equal(E.EINVAL, Mark(vm.Handle, 2, ulong.MaxValue));
        Assert.Equal(16 + 136, Mark(vm.Handle, 1, ulong.MaxValue)); // [1, 2^64)
        Assert.Equal(0, Mark(vm.Handle, ulong.MaxValue - P + 1, P));
        byte* junk = stackalloc byte[64];
        Assert.Equal(E.EFAULT, Mark(null, 0, 1));
        Assert.Equal(E.EBADF, Mark(Junk(junk), 0, 1));
    }

    [Fact]
    public void Mark_WordRuns_MatchAPerBitModel()
    {
        using var vm = new TestVm();
        const ulong N = 1000;
        Assert.Equal(0, vm.Region2(0, Log, 0, N * P));
        var rng = new Random(5);
        for (int round = 0; round < 200; round++)
        {
            var model = new bool[N];
            int ranges = rng.Next(1, 5);
            for (int k = 0; k < ranges; k++)
            {
                ulong a = (ulong)rng.Next(0, (int)N), n = (ulong)rng.Next(1, 300);
                long got = Mark(vm.Handle, a * P, n * P);
                ulong end = Math.Min(N, a + n);
                Assert.Equal((long)(end - a), got);
                for (ulong i = a; i < end; i++)
                {
                    model[i] = true;
                }
            }
            var expect = Enumerable.Range(0, (int)N).Where(i => model[i]).Select(i => (ulong)i);
            Assert.Equal(expect, Pages(Get(vm.Handle, 0, N, out _)!));
        }
    }

    /// <summary>The blocked get-and-clear (8-word blocks, clean runs skipped by the scan, a tail) against a model.</summary>
    [Fact]
    public void GetAndClear_LargeBitmaps_MatchAModel()
    {
        using var vm = new TestVm();
        const ulong N = 100_003; // 1563 words: blocks and a 3-word tail
        Assert.Equal(0, vm.Region2(0, Log, 0, N * P));
        var rng = new Random(11);
        double[] densities = { 0, 0.00002, 0.0005, 0.003, 0.02, 0.2, 0.9 };
        foreach (double d in densities)
        {
            for (int round = 0; round < 3; round++)
            {
                var model = new SortedSet<ulong>();
                for (ulong i = 0; i < N; i++)
                {
                    if (rng.NextDouble() < d)
                    {
                        model.Add(i);
                    }
                }
                if (round == 1)
                {
                    model.Add(0);
                    model.Add(N - 1);
                    model.Add(64 * 8 * 3 - 1); // the last word of a block after clean blocks
                }
                foreach (ulong pg in model)
                {
                    Assert.Equal(1, Mark(vm.Handle, pg * P, 1));
                }
                Assert.Equal(model, Pages(Get(vm.Handle, 0, N, out _)!));
                Assert.Empty(Pages(Get(vm.Handle, 0, N, out _)!));
            }
        }
    }

    [Fact]
    public void BitmapNextSet_WalksABitmap()
    {
        ulong* b = stackalloc ulong[20];
        new Span<ulong>(b, 20).Clear();
        b[0] = 1UL << 3;
        b[17] = 1UL << 63;
        b[19] = 1;
        Assert.Equal(3UL, NextSet(b, 1280, 0));
        Assert.Equal(17 * 64 + 63UL, NextSet(b, 1280, 4));
        Assert.Equal(19 * 64UL, NextSet(b, 1280, 17 * 64 + 64));
        Assert.Equal(1216UL, NextSet(b, 1216, 17 * 64 + 64)); // the end bound is exclusive
        Assert.Equal(1280UL, NextSet(b, 1280, 19 * 64 + 1));
        Assert.Equal(1280UL, NextSet(b, 1280, 5000));
        Assert.Equal(77UL, NextSet(null, 77, 0));
    }

    [Fact]
    public void MarkAndGet_AllocateNothing()
    {
        using var vm = new TestVm();
        const ulong N = 1 << 16;
        Assert.Equal(0, vm.Region2(0, Log, 0, N * P));
        Assert.Equal(0, vm.Region2(1, Log, 2 * N * P, N * P, Hva + N * P));
        ulong* out1 = (ulong*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)(N / 8));
        try
        {
            Mark(vm.Handle, 0, P);
            Get(vm.Handle, 0, out1);
            long before = GC.GetAllocatedBytesForCurrentThread();
            long sum = 0;
            for (ulong i = 0; i < 2000; i++)
            {
                sum += Mark(vm.Handle, (i * 7919 % (3 * N)) * P, 3 * P);
                if (i % 100 == 0)
                {
                    sum += Get(vm.Handle, (uint)(i / 100 % 2), out1);
                }
            }
            sum += SetMode(vm.Handle, Manual);
            sum += Get(vm.Handle, 1, out1) + Clear(vm.Handle, 1, 0, (uint)N, out1);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.True(sum > 0);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(out1);
        }
    }
}

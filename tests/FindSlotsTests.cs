using System;
using System.Collections.Generic;
using System.Linq;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// hvrt_find_slots_by_hva and hvrt_find_slots_by_private against a brute-force model, over random
/// layouts that change between queries.
/// </summary>
public sealed unsafe class FindSlotsTests
{
    private static void AssertSame(List<(uint Slot, uint Flags, ulong Start, ulong End)> want, HvrtSlotRange[] got, int rc, string what)
    {
        Assert.True(rc == want.Count, $"{what}: returned {rc}, model has {want.Count}");
        for (int i = 0; i < want.Count; i++)
        {
            Assert.True(want[i] == SlotModel.Key(got[i]), $"{what}: pair {i} is {SlotModel.Key(got[i])}, model {want[i]}");
            Assert.Equal(0UL, got[i].Reserved);
            Assert.True(got[i].GfnStart < got[i].GfnEnd, $"{what}: empty pair {i}");
        }
    }

    private static void CheckHva(VmHandle* vm, SlotModel model, ulong hva, ulong len)
    {
        HvrtSlotRange[] got = QueryFfi.AllByHva(vm, hva, len, out int rc);
        AssertSame(model.ByHva(hva, len), got, rc, $"by_hva({hva:x}, {len:x})");
    }

    private static void CheckPrivate(VmHandle* vm, SlotModel model, int fd, int file, ulong offset, ulong len)
    {
        HvrtSlotRange[] got = QueryFfi.AllByPrivate(vm, fd, offset, len, out int rc);
        AssertSame(model.ByPrivate(file, offset, len), got, rc, $"by_private(file {file}, {offset:x}, {len:x})");
    }

    /// <summary>A query with a cap below the total: the total is returned, only cap pairs are written, the rest untouched.</summary>
    private static void CheckTruncated(List<(uint Slot, uint Flags, ulong Start, ulong End)> want, Func<IntPtr, nuint, int> query, Random rng)
    {
        if (want.Count == 0)
        {
            return;
        }
        int cap = rng.Next(want.Count);
        var buf = new HvrtSlotRange[cap + 4];
        for (int i = 0; i < buf.Length; i++)
        {
            buf[i] = new HvrtSlotRange { Slot = 0xdeadbeef, Flags = 0xdeadbeef, GfnStart = 7, GfnEnd = 7, Reserved = 0xdead };
        }
        int rc;
        fixed (HvrtSlotRange* p = buf)
        {
            rc = query((IntPtr)p, (nuint)cap);
        }
        Assert.Equal(want.Count, rc);
        for (int i = 0; i < cap; i++)
        {
            Assert.Equal(want[i], SlotModel.Key(buf[i]));
        }
        for (int i = cap; i < buf.Length; i++)
        {
            Assert.Equal(0xdeadbeefu, buf[i].Slot);
            Assert.Equal(0xdeadUL, buf[i].Reserved);
        }
    }

    /// <summary>Random hva queries: anywhere, touching slots' ends, inside one byte, spanning everything.</summary>
    private static void HvaQueries(VmHandle* vm, RandomSlots r, int n)
    {
        Random rng = r.Rng;
        List<ModelSlot> slots = r.Model.All.ToList();
        for (int q = 0; q < n; q++)
        {
            ulong hva, len;
            ModelSlot? s = slots.Count > 0 ? slots[rng.Next(slots.Count)] : null;
            ulong l = rng.Next(3) switch
            {
                0 => (ulong)rng.NextInt64(1, 4096 * 4),
                1 => (ulong)rng.Next(1, 64) << 12,
                _ => (ulong)rng.NextInt64(1, 8 << 20),
            };
            switch (s == null ? 0 : rng.Next(9))
            {
                case 0:
                    hva = RandomSlots.HvaBase - (1 << 20) + (ulong)rng.NextInt64(0, (long)r.HvaSpanBytes + (2 << 20));
                    len = l;
                    break;
                case 1:
                    (hva, len) = (s!.HvaEnd, l); // starts where the slot ends: not in it
                    break;
                case 2:
                    (hva, len) = (s!.Hva - l, l); // ends where the slot starts: not in it
                    break;
                case 3:
                    (hva, len) = (s!.HvaEnd - 1, 1); // its last byte
                    break;
                case 4:
                    (hva, len) = (s!.Hva - 1, 2); // one byte before and its first
                    break;
                case 5:
                    (hva, len) = (s!.Hva, s.NPages << 12); // exactly the slot
                    break;
                case 6:
                    (hva, len) = (s!.Hva + (ulong)rng.NextInt64(0, (long)(s.NPages << 12)), (ulong)rng.Next(0, 3)); // 0..2 bytes inside
                    break;
                case 7:
                    (hva, len) = (0, rng.Next(2) == 0 ? ulong.MaxValue : 1UL << 57); // everything
                    break;
                default:
                    (hva, len) = (s!.Hva + (ulong)rng.Next(1, 4096), (s.NPages << 12) - 4096 + (ulong)rng.Next(0, 8192)); // unaligned both ends
                    break;
            }
            CheckHva(vm, r.Model, hva, len);
            if (rng.Next(8) == 0)
            {
                ulong h = hva, n2 = len;
                CheckTruncated(r.Model.ByHva(h, n2), (p, cap) => QueryFfi.ByHva(vm, h, n2, (HvrtSlotRange*)p, cap), rng);
            }
        }
    }

    /// <summary>Random private queries through the slot's fd, a dup, and a fresh open of the same file.</summary>
    private static void PrivateQueries(VmHandle* vm, RandomSlots r, int n)
    {
        Random rng = r.Rng;
        List<ModelSlot> slots = r.Model.All.Where(s => s.IsPrivate).ToList();
        for (int q = 0; q < n; q++)
        {
            int file = rng.Next(r.Fds.Length);
            ModelSlot? s = null;
            if (slots.Count > 0 && rng.Next(3) != 0)
            {
                s = slots[rng.Next(slots.Count)];
                file = s.File;
            }
            int fd = rng.Next(2) == 0 ? r.Fds[file] : r.Dups[file];
            ulong l = rng.Next(3) switch
            {
                0 => (ulong)rng.NextInt64(1, 4096 * 4),
                1 => (ulong)rng.Next(1, 64) << 12,
                _ => (ulong)rng.NextInt64(1, 8 << 20),
            };
            ulong offset, len;
            ulong start = s == null ? 0 : s.Pgoff << 12, end = s == null ? 0 : (s.Pgoff + s.NPages) << 12;
            switch (s == null ? rng.Next(2) : rng.Next(2, 9))
            {
                case 0:
                    (offset, len) = ((ulong)rng.NextInt64(0, (long)r.FileBytes + 8192), l);
                    break;
                case 1:
                    (offset, len) = (rng.Next(2) == 0 ? 0 : (ulong)rng.Next(0, 4096), ulong.MaxValue - 4096); // the whole file
                    break;
                case 2:
                    (offset, len) = (end, l); // from the slot's end: not in it
                    break;
                case 3:
                    (offset, len) = (start >= l ? start - l : 0, Math.Min(start, l)); // up to the slot's start
                    break;
                case 4:
                    (offset, len) = (end - 1, 1);
                    break;
                case 5:
                    (offset, len) = (start, end - start);
                    break;
                case 6:
                    (offset, len) = (start + (ulong)rng.NextInt64(0, (long)(end - start)), (ulong)rng.Next(0, 3));
                    break;
                case 7:
                    (offset, len) = (start + (ulong)rng.Next(1, 4096), end - start + (ulong)rng.Next(0, 8192));
                    break;
                default:
                    (offset, len) = (0, ulong.MaxValue);
                    break;
            }
            CheckPrivate(vm, r.Model, fd, file, offset, len);
            if (rng.Next(8) == 0)
            {
                ulong o = offset, n2 = len;
                CheckTruncated(r.Model.ByPrivate(file, o, n2), (p, cap) => QueryFfi.ByPrivate(vm, fd, o, n2, (HvrtSlotRange*)p, cap), rng);
            }
        }
    }

    [Theory]
    [InlineData(1, 2u)]
    [InlineData(2, 2u)]
    [InlineData(3, 1u)]
    public void RandomLayouts_MatchTheModel(int seed, uint nrAs)
    {
        using var vm = new TestVm(new HvrtVmConfig { NrAddressSpaces = nrAs });
        using var r = new RandomSlots(vm, seed, nrAs, idsPerAs: 600, windowPages: 2048, maxPages: 1024, hvaSpanPages: 1 << 14, files: 3, filePages: 1 << 14, privateShare: 0.6);
        // Grow to several hundred slots (leaves split), query, churn, shrink (leaves merge), query.
        int[] targets = { 50, 300, 500, 120, 10, 400 };
        uint hvaLeaves = 0, privateLeaves = 0;
        foreach (int target in targets)
        {
            while (Math.Abs(r.Count - target) > 5)
            {
                double bias = r.Count < target ? 0.8 : 0.2;
                if (r.Rng.Next(10) == 0)
                {
                    r.Batch(r.Rng.Next(1, 9), bias);
                }
                else
                {
                    r.Step(bias);
                }
            }
            for (uint asId = 0; asId < nrAs; asId++)
            {
                hvaLeaves = Math.Max(hvaLeaves, VmLayout.Load(&vm.Handle->Read, asId)->Hva.NrLeaves);
                privateLeaves = Math.Max(privateLeaves, VmLayout.Load(&vm.Handle->Read, asId)->Private.NrLeaves);
            }
            for (int round = 0; round < 20; round++)
            {
                HvaQueries(vm.Handle, r, 20);
                PrivateQueries(vm.Handle, r, 20);
                for (int i = r.Rng.Next(0, 6); i > 0; i--)
                {
                    r.Step();
                }
            }
        }
        // Both indexes the queries walk had several leaves at some point.
        Assert.True(hvaLeaves > 2 && privateLeaves > 1, $"hva index {hvaLeaves} leaves, private {privateLeaves}; {r.Model.All.Count(s => s.IsPrivate)} of {r.Count} private");
    }

    [Fact]
    public void KvmFormulas_OnAKnownLayout()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd(64 << 12);
        const ulong H = 0x7f0000000000;
        Assert.Equal(0, vm.V1(1, 0, 0x100 << 12, 16 << 12, H));                       // hva H .. H+16p
        Assert.Equal(0, vm.V1(0x10002, 1, 0x200 << 12, 8 << 12, H + (4 << 12)));      // as 1, overlaps pages 4..11
        Assert.Equal(0, vm.Ext(3, 4, 0x300 << 12, 4 << 12, H + (8 << 12), 10 << 12, fd)); // pages 10..13 of the file
        Assert.Equal(0, vm.V1(4, 2, 0x400 << 12, 1 << 12, H + (100 << 12)));
        HvrtSlotRange* o = stackalloc HvrtSlotRange[8];

        // One byte in page 5 of slot 1 and page 1 of slot 0x10002; a page counts if any byte is in the range.
        Assert.Equal(2, QueryFfi.ByHva(vm.Handle, H + (5 << 12) + 17, 1, o, 8));
        Assert.Equal((1u, 0u, 0x105UL, 0x106UL), SlotModel.Key(o[0]));
        Assert.Equal((0x10002u, HvrtTranslation.FlagLogDirty, 0x201UL, 0x202UL), SlotModel.Key(o[1]));
        // The last byte of page 9 and the first of page 10: as 0 by hva (slots 1, 3), then as 1.
        Assert.Equal(3, QueryFfi.ByHva(vm.Handle, H + (9 << 12) + 4095, 2, o, 8));
        Assert.Equal((1u, 0u, 0x109UL, 0x10bUL), SlotModel.Key(o[0]));
        Assert.Equal((3u, HvrtTranslation.FlagHasPrivate, 0x301UL, 0x303UL), SlotModel.Key(o[1]));
        Assert.Equal((0x10002u, HvrtTranslation.FlagLogDirty, 0x205UL, 0x207UL), SlotModel.Key(o[2]));
        // Exactly at the ends: [H-4096, H) and [H+16p, ...) touch slot 1 and are not in it.
        Assert.Equal(0, QueryFfi.ByHva(vm.Handle, H - 4096, 4096, o, 8));
        Assert.Equal(1, QueryFfi.ByHva(vm.Handle, H + (16 << 12), 1 << 20, o, 8));
        Assert.Equal((4u, HvrtTranslation.FlagReadonly, 0x400UL, 0x401UL), SlotModel.Key(o[0]));

        // The private file: bytes 11p+1 .. 12p+1 are pages 11 and 12 → gfns 0x301..0x303.
        Assert.Equal(1, QueryFfi.ByPrivate(vm.Handle, fd, (11 << 12) + 1, 4096, o, 8));
        Assert.Equal((3u, HvrtTranslation.FlagHasPrivate, 0x301UL, 0x303UL), SlotModel.Key(o[0]));
        Assert.Equal(0, QueryFfi.ByPrivate(vm.Handle, fd, 0, 10 << 12, o, 8));
        Assert.Equal(0, QueryFfi.ByPrivate(vm.Handle, fd, 14 << 12, 1 << 20, o, 8));
        Assert.Equal(1, QueryFfi.ByPrivate(vm.Handle, fd, 0, ulong.MaxValue, o, 8));
        Assert.Equal((3u, HvrtTranslation.FlagHasPrivate, 0x300UL, 0x304UL), SlotModel.Key(o[0]));
        // hvrt's own duplicate (translate's private_fd) names the same file.
        Assert.Equal(0, vm.Translate(0x300, out HvrtTranslation t));
        Assert.Equal(1, QueryFfi.ByPrivate(vm.Handle, t.PrivateFd, 13 << 12, 1, o, 8));
        Assert.Equal((3u, HvrtTranslation.FlagHasPrivate, 0x303UL, 0x304UL), SlotModel.Key(o[0]));
        Ffi.close(fd);
    }

    [Fact]
    public void SameFile_ThroughDupAndReopen_UnrelatedFileFindsNothing()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd(32 << 12);
        int other = Ffi.Memfd(32 << 12);
        Assert.Equal(0, vm.Ext(0, 4, 0, 8 << 12, TestVm.Hva, 0, fd));
        Assert.Equal(0, vm.Ext(0x10001, 4, 0, 8 << 12, TestVm.Hva, 8 << 12, fd));
        int dup = Ffi.fcntl(fd, 1030, 3);
        int reopened = QueryFfi.Open($"/proc/self/fd/{fd}");
        Assert.True(reopened >= 0);
        var want = new[] { (0u, HvrtTranslation.FlagHasPrivate, 4UL, 8UL), (0x10001u, HvrtTranslation.FlagHasPrivate, 0UL, 4UL) };
        foreach (int f in new[] { fd, dup, reopened })
        {
            HvrtSlotRange[] got = QueryFfi.AllByPrivate(vm.Handle, f, 4 << 12, 8 << 12, out int rc);
            Assert.Equal(2, rc);
            Assert.Equal(want, got.Select(x => SlotModel.Key(x)).ToArray());
        }
        Ffi.close(fd);
        Assert.Equal(2, QueryFfi.AllByPrivate(vm.Handle, dup, 0, 16 << 12, out _).Length); // the original fd's close changes nothing
        Assert.Equal(0, QueryFfi.ByPrivate(vm.Handle, other, 0, ulong.MaxValue, null, 0));
        int devnull = QueryFfi.Open("/dev/null");
        Assert.Equal(0, QueryFfi.ByPrivate(vm.Handle, devnull, 0, ulong.MaxValue, null, 0));
        // Counting only (out NULL, cap 0).
        Assert.Equal(2, QueryFfi.ByPrivate(vm.Handle, dup, 0, ulong.MaxValue, null, 0));
        Assert.Equal(2, QueryFfi.ByHva(vm.Handle, TestVm.Hva, 1, null, 0));
        Ffi.close(devnull);
        Ffi.close(reopened);
        Ffi.close(dup);
        Ffi.close(other);
    }

    [Fact]
    public void BadArguments_GiveTheDocumentedErrno_AndWriteNothing()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd(8 << 12);
        Assert.Equal(0, vm.Ext(0, 4, 0, 4 << 12, TestVm.Hva, 0, fd));
        HvrtSlotRange* o = stackalloc HvrtSlotRange[2];
        o[0].Slot = 0xdead;
        byte* junk = stackalloc byte[64];
        new Span<byte>(junk, 64).Clear();
        var dead = (VmHandle*)junk;

        Assert.Equal(E.EFAULT, QueryFfi.ByHva(null, 0, 1, o, 2));
        Assert.Equal(E.EBADF, QueryFfi.ByHva(dead, 0, 1, o, 2));
        Assert.Equal(E.EFAULT, QueryFfi.ByHva(vm.Handle, TestVm.Hva, 1, null, 1));
        Assert.Equal(E.EINVAL, QueryFfi.ByHva(vm.Handle, ulong.MaxValue, 1, o, 2));
        Assert.Equal(E.EINVAL, QueryFfi.ByHva(vm.Handle, 1, ulong.MaxValue, o, 2));
        Assert.Equal(E.EINVAL, QueryFfi.ByHva(vm.Handle, 1UL << 63, 1UL << 63, o, 2));
        Assert.Equal(1, QueryFfi.ByHva(vm.Handle, 0, ulong.MaxValue, null, 0)); // reaches 2^64 - 1: no wrap
        Assert.Equal(0, QueryFfi.ByHva(vm.Handle, TestVm.Hva, 0, o, 2));       // len 0
        Assert.Equal(0, QueryFfi.ByHva(vm.Handle, ulong.MaxValue, 0, o, 2));

        Assert.Equal(E.EFAULT, QueryFfi.ByPrivate(null, fd, 0, 1, o, 2));
        Assert.Equal(E.EBADF, QueryFfi.ByPrivate(dead, fd, 0, 1, o, 2));
        Assert.Equal(E.EFAULT, QueryFfi.ByPrivate(vm.Handle, fd, 0, 1, null, 1));
        Assert.Equal(E.EINVAL, QueryFfi.ByPrivate(vm.Handle, fd, 4096, ulong.MaxValue - 4095, o, 2));
        Assert.Equal(E.EINVAL, QueryFfi.ByPrivate(vm.Handle, -1, 4096, ulong.MaxValue, o, 2)); // -EINVAL before the fd
        Assert.Equal(E.EBADF, QueryFfi.ByPrivate(vm.Handle, -1, 0, 1, o, 2));
        Assert.Equal(E.EBADF, QueryFfi.ByPrivate(vm.Handle, int.MinValue, 0, 1, o, 2));
        int closed = Ffi.Memfd(4096);
        Ffi.close(closed);
        Assert.Equal(E.EBADF, QueryFfi.ByPrivate(vm.Handle, closed, 0, 1, o, 2));
        Assert.Equal(E.EBADF, QueryFfi.ByPrivate(vm.Handle, closed, 0, 0, o, 2)); // len 0 still checks the fd
        Assert.Equal(0, QueryFfi.ByPrivate(vm.Handle, fd, 0, 0, o, 2));
        Assert.Equal(1, QueryFfi.ByPrivate(vm.Handle, fd, 4095, ulong.MaxValue - 4095, null, 0)); // ends at 2^64 - 1
        Assert.Equal(0xdeadu, o[0].Slot);
        Ffi.close(fd);
    }

    [Fact]
    public void Queries_AllocateNothing()
    {
        using var vm = new TestVm();
        using var r = new RandomSlots(vm, 7, 2, idsPerAs: 200, windowPages: 2048, maxPages: 1024, hvaSpanPages: 1 << 14, files: 2, filePages: 1 << 13, privateShare: 0.3);
        while (r.Count < 300)
        {
            r.Step(0.9);
        }
        HvrtSlotRange* o = stackalloc HvrtSlotRange[64];
        int fd0 = r.Fds[0], fd1 = r.Dups[1];
        var rng = new Random(3);
        var qs = new (ulong A, ulong L)[1024];
        for (int i = 0; i < qs.Length; i++)
        {
            qs[i] = (RandomSlots.HvaBase + (ulong)rng.NextInt64(0, 80L << 20), (ulong)rng.NextInt64(0, 8L << 20));
        }
        // First calls: JIT and thread attach.
        QueryFfi.ByHva(vm.Handle, qs[0].A, qs[0].L, o, 64);
        QueryFfi.ByPrivate(vm.Handle, fd0, 0, 1 << 20, o, 64);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long found = 0;
        for (int round = 0; round < 10; round++)
        {
            foreach ((ulong a, ulong l) in qs)
            {
                found += QueryFfi.ByHva(vm.Handle, a, l, o, 64);
                found += QueryFfi.ByPrivate(vm.Handle, (a & 1) == 0 ? fd0 : fd1, a - RandomSlots.HvaBase, l, o, 64);
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(found > 0);
    }
}

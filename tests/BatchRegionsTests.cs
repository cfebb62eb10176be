using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>hvrt_set_user_memory_regions: per-entry results equal single calls, one publish per batch.</summary>
public sealed unsafe class BatchRegionsTests
{
    private const ulong Mb2 = 2 << 20;

    [Fact]
    public void BadArguments()
    {
        using var vm = new TestVm();
        var r = Ffi.Region(0, 0, 0, Mb2, TestVm.Hva);
        Assert.Equal(E.EFAULT, Ffi.SetRegions(null, &r, 1, null));
        Assert.Equal(E.EFAULT, Ffi.SetRegions(vm.Handle, null, 1, null));
        Assert.Equal(0, Ffi.SetRegions(vm.Handle, null, 0, null));
        Assert.Equal(E.EINVAL, Ffi.SetRegions(vm.Handle, &r, (nuint)int.MaxValue + 1, null));
        Assert.Equal(E.ENOENT, vm.Translate(0, out _)); // nothing applied by the refused calls
    }

    [Fact]
    public void OnePublishPerBatch_CreateThenMoveSeesEarlierEntries()
    {
        using var vm = new TestVm();
        ulong gen = vm.Generation();
        var regions = new[]
        {
            Ffi.Region(1, 0, 0, Mb2, TestVm.Hva),
            Ffi.Region(2, 0, Mb2, Mb2, TestVm.Hva + Mb2),
            Ffi.Region(1, 1, 8 * Mb2, Mb2, TestVm.Hva),    // move slot 1, dirty logging on
            Ffi.Region(3, 0, 8 * Mb2, Mb2, TestVm.Hva),    // overlaps moved slot 1: EEXIST
            Ffi.Region(2, 0, 0, 0, 0),                     // delete slot 2
            Ffi.Region(9, 0, 0, 0, 0),                     // delete of nothing: EINVAL
        };
        int* results = stackalloc int[regions.Length];
        int applied;
        fixed (KvmUserspaceMemoryRegion2* p = regions)
        {
            applied = Ffi.SetRegions(vm.Handle, p, (nuint)regions.Length, results);
        }
        Assert.Equal(4, applied);
        Assert.Equal(new[] { 0, 0, 0, E.EEXIST, 0, E.EINVAL }, new Span<int>(results, regions.Length).ToArray());
        Assert.Equal(gen + 2, vm.Generation()); // one publish: + the number of address spaces (2 by default)
        Assert.Equal(0, vm.Translate(8 * Mb2 >> 12, out HvrtTranslation t));
        Assert.Equal(1u, t.Slot);
        Assert.Equal(HvrtTranslation.FlagLogDirty, t.Flags);
        Assert.Equal(E.ENOENT, vm.Translate(0, out _));
        Assert.Equal(E.ENOENT, vm.Translate(Mb2 >> 12, out _));
    }

    [Fact]
    public void AllFailedOrNoOp_PublishesNothing()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(1, 0, 0, Mb2));
        ulong gen = vm.Generation();
        var regions = new[] { Ffi.Region(1, 0, 0, Mb2, TestVm.Hva), Ffi.Region(5, 0, 0, Mb2, TestVm.Hva) };
        int* results = stackalloc int[2];
        fixed (KvmUserspaceMemoryRegion2* p = regions)
        {
            Assert.Equal(1, Ffi.SetRegions(vm.Handle, p, 2, results));
        }
        Assert.Equal(0, results[0]);
        Assert.Equal(E.EEXIST, results[1]);
        Assert.Equal(gen, vm.Generation());
    }

    /// <summary>Random batches against the same requests one call at a time on a second VM.</summary>
    [Fact]
    public void RandomBatches_MatchSingleCalls()
    {
        var rng = new Random(1234);
        using var batched = new TestVm();
        using var single = new TestVm();
        for (int round = 0; round < 60; round++)
        {
            int n = rng.Next(1, 400);
            var regions = new KvmUserspaceMemoryRegion2[n];
            for (int i = 0; i < n; i++)
            {
                uint slot = (uint)rng.Next(0, 300);
                ulong size = rng.Next(8) == 0 ? 0 : (ulong)rng.Next(1, 600) << 12;
                ulong gpa = (ulong)rng.Next(0, 1 << 16) << 12;
                regions[i] = Ffi.Region(slot, (uint)rng.Next(2), gpa, size, TestVm.Hva + ((ulong)slot << 24));
            }
            var results = new int[n];
            int applied;
            fixed (KvmUserspaceMemoryRegion2* p = regions)
            fixed (int* res = results)
            {
                applied = Ffi.SetRegions(batched.Handle, p, (nuint)n, res);
            }
            int expectApplied = 0;
            for (int i = 0; i < n; i++)
            {
                int r = single.Region2(regions[i].Slot, regions[i].Flags, regions[i].GuestPhysAddr, regions[i].MemorySize, regions[i].UserspaceAddr);
                Assert.Equal(r, results[i]);
                expectApplied += r == 0 ? 1 : 0;
            }
            Assert.Equal(expectApplied, applied);
            for (int k = 0; k < 500; k++)
            {
                ulong gfn = (ulong)rng.Next(0, (1 << 16) + 600);
                int a = batched.Translate(gfn, out HvrtTranslation ta);
                int b = single.Translate(gfn, out HvrtTranslation tb);
                Assert.Equal(b, a);
                ta.Generation = tb.Generation = 0;
                Assert.Equal(tb, ta);
            }
        }
    }

    [Fact]
    public void MaxSlotsInOneBatch()
    {
        using var vm = new TestVm();
        const int n = 32764;
        var regions = new KvmUserspaceMemoryRegion2[n];
        for (int i = 0; i < n; i++)
        {
            regions[i] = Ffi.Region((uint)i, 0, (ulong)i * 2 * Mb2, Mb2, TestVm.Hva + (ulong)i * Mb2);
        }
        fixed (KvmUserspaceMemoryRegion2* p = regions)
        {
            Assert.Equal(n, Ffi.SetRegions(vm.Handle, p, n, null));
        }
        for (int i = 0; i < n; i += 97)
        {
            Assert.Equal(0, vm.Translate((ulong)i * 2 * Mb2 >> 12, out HvrtTranslation t));
            Assert.Equal((uint)i, t.Slot);
            Assert.Equal(E.ENOENT, vm.Translate(((ulong)i * 2 + 1) * Mb2 >> 12, out _));
        }
    }
}

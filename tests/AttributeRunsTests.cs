using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>hvrt_attributes_run and hvrt_attributes_count against the interval model, over huge sparse ranges.</summary>
public sealed unsafe class AttributeRunsTests
{
    private const ulong Space = 1UL << 52;

    [Fact]
    public void RunsAndCounts_MatchTheModel()
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1 });
        var model = new IntervalModel();
        var rng = new Random(7);
        for (int round = 0; round < 200; round++)
        {
            // Mostly small ranges near chunk (2^18) and 2 MiB boundaries, sometimes huge ones.
            ulong anchor = (ulong)rng.NextInt64(0, 1L << 24) << (rng.Next(3) == 0 ? 18 : 9);
            ulong s = Math.Min(anchor + (ulong)rng.Next(-600, 600), Space - 2);
            ulong n = rng.Next(6) == 0 ? (ulong)rng.NextInt64(1, 1L << 34) : (ulong)rng.Next(1, 3000);
            ulong e = Math.Min(s + n, Space - 1);
            bool p = rng.Next(2) == 0;
            Assert.Equal(0, AttrFfi.SetPages(vm.Handle, s, e - s, p));
            model.Set(s, e, p);

            for (int q = 0; q < 20; q++)
            {
                ulong g = Math.Min((ulong)rng.NextInt64(0, 1L << 43) >> rng.Next(0, 20), Space - 2);
                ulong end = g + 1 + (ulong)rng.NextInt64(0, 1L << (rng.Next(2) == 0 ? 12 : 36));
                ulong runEnd, attrs;
                Assert.Equal(0, AttrFfi.Run(vm.Handle, g, end, &runEnd, &attrs));
                bool isPrivate = model.Get(g);
                Assert.Equal(isPrivate ? AttrFfi.Private : 0, attrs);
                Assert.Equal(model.NextDiffering(g, end, isPrivate), runEnd);
                ulong count;
                Assert.Equal(0, AttrFfi.Count(vm.Handle, g, end, &count));
                Assert.Equal(model.Count(g, end), count);
            }
        }
    }

    [Fact]
    public void WalkCoversTheRangeWithAlternatingRuns()
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1 });
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 100, 50, true));
        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 1UL << 20, 1UL << 30, true));
        ulong g = 0, end = 1UL << 32, total = 0, runs = 0, last = ulong.MaxValue;
        while (g < end)
        {
            ulong runEnd, attrs;
            Assert.Equal(0, AttrFfi.Run(vm.Handle, g, end, &runEnd, &attrs));
            Assert.True(runEnd > g);
            Assert.NotEqual(last, attrs);
            total += attrs != 0 ? runEnd - g : 0;
            last = attrs;
            runs++;
            g = runEnd;
        }
        Assert.Equal(5UL, runs); // shared, private, shared, private, shared
        Assert.Equal(50 + (1UL << 30), total);
    }

    [Fact]
    public void BadArguments_AndNoAllocation()
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = 1 });
        ulong a, b;
        Assert.Equal(E.EFAULT, AttrFfi.Run(null, 0, 1, &a, &b));
        Assert.Equal(E.EFAULT, AttrFfi.Run(vm.Handle, 0, 1, null, &b));
        Assert.Equal(E.EFAULT, AttrFfi.Run(vm.Handle, 0, 1, &a, null));
        Assert.Equal(E.EINVAL, AttrFfi.Run(vm.Handle, 5, 5, &a, &b));
        Assert.Equal(E.EFAULT, AttrFfi.Count(vm.Handle, 0, 1, null));
        Assert.Equal(E.EINVAL, AttrFfi.Count(vm.Handle, 6, 5, &a));
        Assert.Equal(0, AttrFfi.Count(vm.Handle, 5, 5, &a));
        Assert.Equal(0UL, a);
        // Past 2^52 everything is shared.
        Assert.Equal(0, AttrFfi.Run(vm.Handle, Space, ulong.MaxValue, &a, &b));
        Assert.Equal(ulong.MaxValue, a);
        Assert.Equal(0UL, b);

        Assert.Equal(0, AttrFfi.SetPages(vm.Handle, 1000, 1UL << 20, true));
        AttrFfi.Run(vm.Handle, 0, 1UL << 40, &a, &b);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            AttrFfi.Run(vm.Handle, (ulong)i * 977, 1UL << 40, &a, &b);
            AttrFfi.Count(vm.Handle, (ulong)i, 1UL << 32, &a);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}

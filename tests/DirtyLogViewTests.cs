using System;
using System.Collections.Generic;
using System.Threading;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;
using static Hvrt.Tests.DirtyLogFfi;

namespace Hvrt.Tests;

/// <summary>hvrt_dirty_log_get_view: hvrt_dirty_log_get's contents and checks, hvrt's array instead of a copy.</summary>
public unsafe class DirtyLogViewTests
{
    private const ulong P = 4096;

    [Fact]
    public void View_HarvestsAndClears_AlternatingWithGet()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 300 * P));
        Assert.Equal(3, Mark(vm.Handle, 0, P) + Mark(vm.Handle, 64 * P, P) + Mark(vm.Handle, 299 * P, P));
        Assert.Equal(new ulong[] { 0, 64, 299 }, Pages(GetView(vm.Handle, 0, 300, out int r)!));
        Assert.Empty(Pages(GetView(vm.Handle, 0, 300, out r)!));
        Assert.Equal(1, Mark(vm.Handle, 7 * P, 1));
        Assert.Equal(new ulong[] { 7 }, Pages(Get(vm.Handle, 0, 300, out r)!)); // a copy-get after a view
        Assert.Equal(1, Mark(vm.Handle, 8 * P, 1));
        Assert.Equal(new ulong[] { 8 }, Pages(GetView(vm.Handle, 0, 300, out r)!));
        Assert.Equal(1, Mark(vm.Handle, 9 * P, 1));
        Assert.Equal(new ulong[] { 9 }, Pages(Get(vm.Handle, 0, 300, out r)!));
        Assert.Empty(Pages(GetView(vm.Handle, 0, 300, out r)!));
    }

    [Fact]
    public void View_StaysUnchangedUntilTheNextCall()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 128 * P));
        Assert.Equal(1, Mark(vm.Handle, 3 * P, 1));
        ulong* view = null;
        Assert.Equal(0, GetView(vm.Handle, 0, &view));
        Assert.Equal(1, Mark(vm.Handle, 4 * P, 1)); // lands in the other array
        Assert.Equal(1UL << 3, view[0]);
        Assert.Equal(0UL, view[1]);
        ulong* next = null;
        Assert.Equal(0, GetView(vm.Handle, 0, &next));
        Assert.Equal(1UL << 4, next[0]);
    }

    [Fact]
    public void View_ManualProtect_IsACopyThatClearDoesNotNeed()
    {
        using var vm = new TestVm();
        Assert.Equal(0, SetMode(vm.Handle, Manual));
        Assert.Equal(0, vm.Region2(0, Log, 0, 128 * P));
        Assert.Equal(2, Mark(vm.Handle, 5 * P, 2 * P));
        Assert.Equal(new ulong[] { 5, 6 }, Pages(GetView(vm.Handle, 0, 128, out int r)!));
        Assert.Equal(new ulong[] { 5, 6 }, Pages(GetView(vm.Handle, 0, 128, out r)!)); // not cleared
        Assert.Equal(0, Clear(vm.Handle, 0, 0, 128, new ulong[] { 1UL << 5, 0 }));
        Assert.Equal(new ulong[] { 6 }, Pages(GetView(vm.Handle, 0, 128, out r)!));
        Assert.Equal(new ulong[] { 6 }, Pages(Get(vm.Handle, 0, 128, out r)!));
    }

    [Fact]
    public void View_Errors_AsGet_AndANullViewClearsNothing()
    {
        using var vm = new TestVm();
        ulong* view = null;
        Assert.Equal(0, vm.Region2(0, Log, 0, 64 * P));
        Assert.Equal(0, vm.Region2(1, 0, 1 << 20, 64 * P));
        Assert.Equal(E.EFAULT, GetView(null, 0, &view));
        Assert.Equal(E.EINVAL, GetView(vm.Handle, 5u << 16, &view));
        Assert.Equal(E.ENOENT, GetView(vm.Handle, 9, &view));
        Assert.Equal(E.ENOENT, GetView(vm.Handle, 1, &view)); // a slot that does not log
        Assert.Equal(1, Mark(vm.Handle, 2 * P, 1));
        Assert.Equal(E.EFAULT, GetView(vm.Handle, 0, null));
        Assert.Equal(new ulong[] { 2 }, Pages(GetView(vm.Handle, 0, 64, out int r)!));
    }

    [Fact]
    public void View_AllocatesNothing()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Log, 0, 4096 * P));
        ulong* view = null;
        GetView(vm.Handle, 0, &view);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Mark(vm.Handle, (ulong)i * P, 1);
            GetView(vm.Handle, 0, &view);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>Markers each mark every page of their own range once while views are taken: every page shows up in exactly one view.</summary>
    [Fact]
    public void View_ConcurrentMarks_EachPageInExactlyOneView()
    {
        using var vm = new TestVm();
        const ulong Pages = 1 << 16;
        const int Markers = 2;
        Assert.Equal(0, vm.Region2(0, Log, 0, Pages * P));
        VmHandle* handle = vm.Handle;
        nint h = (nint)handle;
        var seen = new int[Pages];
        int done = 0;
        var threads = new List<Thread>();
        for (int t = 0; t < Markers; t++)
        {
            ulong first = (ulong)t * (Pages / Markers);
            var th = new Thread(() =>
            {
                for (ulong g = first; g < first + Pages / Markers; g++)
                {
                    Mark((VmHandle*)h, g * P, 1);
                }
                Interlocked.Increment(ref done);
            });
            threads.Add(th);
            th.Start();
        }
        int views = 0;
        bool last = false;
        while (!last)
        {
            last = Volatile.Read(ref done) == Markers;
            ulong* view = null;
            Assert.Equal(0, GetView(handle, 0, &view));
            views++;
            for (ulong w = 0; w < Pages / 64; w++)
            {
                for (ulong bits = view[w]; bits != 0; bits &= bits - 1)
                {
                    seen[w * 64 + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits)]++;
                }
            }
        }
        threads.ForEach(t => t.Join());
        Assert.True(views >= 1);
        Assert.All(seen, n => Assert.Equal(1, n));
    }
}

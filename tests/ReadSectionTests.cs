using System;
using System.Threading;
using Hvrt.Index;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>Unregistered read sections: per-thread records, reuse after thread death, nesting.</summary>
public sealed unsafe class ReadSectionTests
{
    [Fact]
    public void DeadThreadsRecordsAreReused()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 1 << 20));
        VmHandle_Translate(vm); // this thread's record exists from here on
        int before = ReadSection.RecordsAllocated;
        for (int round = 0; round < 10; round++)
        {
            var threads = new Thread[8];
            for (int i = 0; i < threads.Length; i++)
            {
                threads[i] = new Thread(() => VmHandle_Translate(vm));
                threads[i].Start();
            }
            foreach (Thread t in threads)
            {
                t.Join();
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        // 80 threads came and went, at most 8 at a time: without reuse there would be 80 more records.
        Assert.InRange(ReadSection.RecordsAllocated - before, 0, 24);
    }

    [Fact]
    public void SectionsNest_AndWritersWaitForTheOuterOne()
    {
        ReadSection.ThreadRecord* outer = ReadSection.Enter();
        ReadSection.ThreadRecord* inner = ReadSection.Enter();
        Assert.True(outer == inner);
        ReadSection.Exit(inner);
        var synced = new ManualResetEventSlim();
        var writer = new Thread(() =>
        {
            ReadSection.Synchronize();
            synced.Set();
        });
        writer.Start();
        Assert.False(synced.Wait(200), "a grace period ended while a read section was still open");
        ReadSection.Exit(outer);
        Assert.True(synced.Wait(10_000));
        writer.Join();
    }

    [Fact]
    public void EnterExit_AllocateNothing()
    {
        ReadSection.Exit(ReadSection.Enter());
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            ReadSection.Exit(ReadSection.Enter());
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    /// <summary>The per-thread last hit is keyed by VM serial: alternating VMs, or a new VM at a freed one's address, never see another VM's slot.</summary>
    [Fact]
    public void ThreadLastHit_NeverCrossesVms()
    {
        for (int round = 0; round < 50; round++)
        {
            using var a = new TestVm();
            using var b = new TestVm();
            Assert.Equal(0, a.V1(0, 0, 0, 1 << 20, TestVm.Hva));
            Assert.Equal(0, b.V1(0, 0, 0, 1 << 20, TestVm.Hva + (1ul << 30)));
            for (ulong gfn = 0; gfn < 256; gfn++)
            {
                Assert.Equal(0, a.Translate(gfn, out HvrtTranslation ta));
                Assert.Equal(0, b.Translate(gfn, out HvrtTranslation tb));
                Assert.Equal(TestVm.Hva + gfn * 4096, ta.Hva);
                Assert.Equal(TestVm.Hva + (1ul << 30) + gfn * 4096, tb.Hva);
            }
            Assert.Equal(0, a.V1(0, 0, 0, 0)); // delete: the cached entry's snapshot is gone
            Assert.Equal(E.ENOENT, a.Translate(5, out _));
        }
    }

    private static void VmHandle_Translate(TestVm vm)
    {
        HvrtTranslation t;
        Assert.Equal(0, Translator.Translate(&vm.Handle->Read, 0, 1, &t));
    }
}

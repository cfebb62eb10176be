using System;
using System.Diagnostics;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// What a slot change waits for: every online registered reader to pass a quiescent state, and
/// nothing else (offline readers, registration). Bounds are generous: they tell "waits" from
/// "does not wait", they are not speed claims.
/// </summary>
public unsafe class GracePeriodTests
{
    /// <summary>How long a writer must stay blocked to count as waiting.</summary>
    private const int HeldMs = 300;

    /// <summary>Upper bound for "returns promptly" on a loaded two-CPU test machine.</summary>
    private const int PromptMs = 5000;

    public enum Release
    {
        Quiescent,
        Offline,
        Unregister,
    }

    [Theory]
    [InlineData(Release.Quiescent)]
    [InlineData(Release.Offline)]
    [InlineData(Release.Unregister)]
    public void Delete_WaitsForAnOnlineReader_AndReturnsOnceItReleases(Release how)
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 16 << 12, 0x100000000));
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        HvrtTranslation t;
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 3, &t)); // holds slot 0 until it releases

        BackgroundDelete delete = BackgroundDelete.Start(vm);
        ManualResetEventSlim done = delete.Done;
        Thread writer = delete.Thread;
        Assert.False(done.Wait(HeldMs), "the delete returned while an online reader held the slot");
        // The new slot set is already published: the reader, and unregistered readers, see no slot.
        Assert.Equal(E.ENOENT, Ffi.ReaderTranslate(r, 0, 3, &t));
        Assert.Equal(E.ENOENT, vm.Translate(3, out _));
        Assert.False(done.IsSet);

        var sw = Stopwatch.StartNew();
        Assert.Equal(0, how switch
        {
            Release.Quiescent => Ffi.ReaderQuiescent(r),
            Release.Offline => Ffi.ReaderOffline(r),
            _ => Ffi.ReaderUnregister(r),
        });
        Assert.True(done.Wait(PromptMs), "the delete did not return after the reader released");
        Assert.True(sw.ElapsedMilliseconds < PromptMs);
        writer.Join();
        Assert.Equal(0, delete.Result);
        if (how != Release.Unregister)
        {
            Assert.Equal(0, Ffi.ReaderUnregister(r));
        }
    }

    [Fact]
    public void OfflineReader_DoesNotDelayWriters()
    {
        using var vm = new TestVm();
        const int OfflineMs = 1500;
        const int Changes = 400;
        var offline = new ManualResetEventSlim();
        var back = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
            HvrtTranslation t;
            Ffi.ReaderTranslate(r, 0, 0, &t);
            Ffi.ReaderOffline(r); // as a vCPU before KVM_RUN
            offline.Set();
            Thread.Sleep(OfflineMs);
            Ffi.ReaderOnline(r);
            back.Set();
            Ffi.ReaderUnregister(r);
        });
        reader.Start();
        Assert.True(offline.Wait(PromptMs));

        var sw = Stopwatch.StartNew();
        for (int i = 0; i < Changes / 2; i++)
        {
            Assert.Equal(0, vm.V1(1, 0, 1 << 20, 1 << 12, 0x100000000));
            Assert.Equal(0, vm.V1(1, 0, 0, 0));
        }
        long elapsed = sw.ElapsedMilliseconds;
        bool readerBack = back.IsSet;
        reader.Join();
        Assert.False(readerBack, $"{Changes} changes took {elapsed} ms: as long as the reader was offline");
        Assert.True(elapsed < OfflineMs / 3, $"{Changes} changes took {elapsed} ms with one reader offline");
    }

    [Fact]
    public void WaitingWriter_DoesNotBlockRegistration()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 1 << 12, 0x100000000));
        ReaderRecord* holder = Ffi.ReaderRegister(vm.Handle);
        BackgroundDelete delete = BackgroundDelete.Start(vm);
        ManualResetEventSlim done = delete.Done;
        Thread writer = delete.Thread;
        Assert.False(done.Wait(HeldMs));

        // The writer is waiting for `holder`; others can still come and go, and a new reader
        // (which saw the new slot set) is not waited for once it goes offline.
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 50; i++)
        {
            ReaderRecord* other = Ffi.ReaderRegister(vm.Handle);
            HvrtTranslation t;
            Assert.Equal(E.ENOENT, Ffi.ReaderTranslate(other, 0, 0, &t));
            Assert.Equal(0, Ffi.ReaderOffline(other));
            Assert.Equal(0, Ffi.ReaderUnregister(other));
        }
        Assert.True(sw.ElapsedMilliseconds < PromptMs);
        Assert.False(done.IsSet);
        Assert.Equal(0, Ffi.ReaderQuiescent(holder));
        Assert.True(done.Wait(PromptMs));
        writer.Join();
        Assert.Equal(0, Ffi.ReaderUnregister(holder));
    }

    [Fact]
    public void ReaderRegisteredDuringAWait_IsNotWaitedForAfterItQuiesces()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 1 << 12, 0x100000000));
        ReaderRecord* holder = Ffi.ReaderRegister(vm.Handle);
        BackgroundDelete delete = BackgroundDelete.Start(vm);
        ManualResetEventSlim done = delete.Done;
        Thread writer = delete.Thread;
        Assert.False(done.Wait(HeldMs));
        ReaderRecord* late = Ffi.ReaderRegister(vm.Handle); // online, observed the current counter
        Assert.Equal(0, Ffi.ReaderUnregister(holder));
        // `late` registered after the grace period began, so it never holds the old slot set.
        Assert.True(done.Wait(PromptMs), "the writer waited for a reader that registered after its grace period began");
        writer.Join();
        Assert.Equal(0, Ffi.ReaderUnregister(late));
    }

    /// <summary>Deletes slot 0 on its own thread, as a control thread would while readers hold it.</summary>
    private sealed class BackgroundDelete
    {
        public readonly ManualResetEventSlim Done = new();
        public Thread Thread = null!;
        public int Result = int.MinValue;

        public static BackgroundDelete Start(TestVm vm)
        {
            var d = new BackgroundDelete();
            d.Thread = new Thread(() =>
            {
                d.Result = vm.V1(0, 0, 0, 0);
                d.Done.Set();
            });
            d.Thread.Start();
            return d;
        }
    }
}

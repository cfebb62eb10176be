using System;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Memory;
using Hvrt.Testing;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// The fault-injection switch itself (runtime/Testing/FaultInjection.cs) and the attribute
/// store's "-ENOMEM changes nothing" under a failed allocation at every N. The C test
/// native/tests/fault_injection_test.c runs every ABI operation under every site; these check
/// what C cannot see: concurrent counting, the permanent-allocation bypass, and the store's
/// every page after a failed SetRange. The assembly runs its tests one at a time
/// (FdOwnershipTests), so an armed switch meets only this test's calls.
/// </summary>
public unsafe class FaultInjectionTests
{
    private const int EIO = 5;

    [Fact]
    public void ExactlyOneOfManyConcurrentCallsFails()
    {
        const int Threads = 8, PerThread = 20_000;
        const ulong Nth = 77_777;
        int failed = 0;
        try
        {
            FaultInjection.Arm(FaultSite.Mmap, Nth, EIO);
            var threads = new Thread[Threads];
            for (int t = 0; t < Threads; t++)
            {
                threads[t] = new Thread(() =>
                {
                    for (int i = 0; i < PerThread; i++)
                    {
                        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Mmap) is int e and not 0)
                        {
                            Assert.Equal(EIO, e);
                            Interlocked.Increment(ref failed);
                        }
                        // A site not armed is neither counted nor failed.
                        Assert.Equal(0, FaultInjection.Hit(FaultSite.Dup));
                    }
                });
                threads[t].Start();
            }
            foreach (Thread t in threads)
            {
                t.Join();
            }
            FaultInjection.Status(out ulong calls, out int fired);
            Assert.Equal(1, failed);
            Assert.Equal((ulong)(Threads * PerThread), calls);
            Assert.Equal(FaultSite.Mmap, fired);
        }
        finally
        {
            FaultInjection.Arm(0, 0, 0);
        }
        Assert.False(FaultInjection.Armed);
    }

    [Fact]
    public void AllocFailsAtTheNthCallOnlyAndPermanentBlocksAreNotCounted()
    {
        void* a = null, b = null, c = null, p = null;
        try
        {
            FaultInjection.Arm(FaultSite.Alloc, 2, 12);
            a = NativeAlloc.Alloc(64);
            p = NativeAlloc.AllocPermanent(64);
            b = NativeAlloc.Alloc(64);
            c = NativeAlloc.Alloc(64);
            FaultInjection.Status(out ulong calls, out int fired);
            Assert.Equal(3ul, calls);
            Assert.Equal(FaultSite.Alloc, fired);
        }
        finally
        {
            FaultInjection.Arm(0, 0, 0);
        }
        Assert.True(a != null && p != null && c != null);
        Assert.True(b == null);
        NativeAlloc.Free(a, 64);
        NativeAlloc.Free(p, 64);
        NativeAlloc.Free(c, 64);
    }

    /// <summary>
    /// SetRange on a store with partial chunks at every level, with the Nth allocation failing
    /// for N = 1, 2, ... until none does: each failed run returns -ENOMEM and leaves every page
    /// (checked run by run over the whole span) and every summary as it was.
    /// </summary>
    [Fact]
    public void AttributeStoreSetRangeChangesNothingWhenAnAllocationFails()
    {
        const ulong Chunk = AttributeStore.ChunkPages;
        ulong start = (1UL << 40) - Chunk - 100, end = (1UL << 40) + 3 * Chunk + 7;
        int failedRuns = 0;
        for (ulong n = 1; ; n++)
        {
            AttributeStore store = AttributeStore.Create()!;
            try
            {
                // A partial chunk at the start and one inside the range; the end lies under a
                // root entry with no node yet, so the change needs a new node at every level.
                Assert.Equal(0, store.SetRange(start + 10, start + 20, true));
                Assert.Equal(0, store.SetRange(start + Chunk / 2, start + Chunk / 2 + 600, true));
                string before = Describe(store, start - 1000, end + 1000);
                ulong privBefore = store.CountPrivate(0, AttributeStore.MaxPages);
                int r;
                int fired;
                try
                {
                    FaultInjection.Arm(FaultSite.Alloc, n, 12);
                    r = store.SetRange(start, end, true);
                    FaultInjection.Status(out _, out fired);
                }
                finally
                {
                    FaultInjection.Arm(0, 0, 0);
                }
                if (fired == 0)
                {
                    Assert.Equal(0, r);
                    Assert.Equal(end - start, store.CountPrivate(start, end));
                    break;
                }
                failedRuns++;
                Assert.Equal(-Errno.ENOMEM, r);
                Assert.Equal(before, Describe(store, start - 1000, end + 1000));
                Assert.Equal(privBefore, store.CountPrivate(0, AttributeStore.MaxPages));
                // And the same call, now, succeeds.
                Assert.Equal(0, store.SetRange(start, end, true));
            }
            finally
            {
                store.Free();
            }
        }
        Assert.True(failedRuns >= 3, $"only {failedRuns} allocations were failed");
    }

    /// <summary>The runs of [s, e) with their values and the 2 MiB / 1 GiB mixed summaries at each run's ends.</summary>
    private static string Describe(AttributeStore store, ulong s, ulong e)
    {
        var sb = new System.Text.StringBuilder();
        for (ulong g = s; g < e;)
        {
            bool priv = store.Get(g) != 0;
            ulong next = store.NextDiffering(g, e, priv);
            sb.Append($"[{g:x},{next:x})={(priv ? 1 : 0)} m2={store.Mixed2M(g)}/{store.Mixed2M(next - 1)} m1={store.Mixed1G(g)}/{store.Mixed1G(next - 1)};");
            g = next;
        }
        return sb.ToString();
    }
}

using System;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Memory;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Readers translate while one writer creates, deletes, moves and flag-toggles slots thousands
/// of times. Each slot id has a fixed hva and size and two possible positions, so every answer
/// can be checked against the layouts that existed: a torn read (fields of two slot sets) or a
/// read of a freed snapshot (poisoned with 0xA5 when HVRT_POISON=1, as build.sh runs the tests)
/// breaks one of the checks.
/// </summary>
public unsafe partial class ConcurrencyStressTests
{
    private const int Slots = 16;
    private const ulong Span = 1UL << 16; // gfns per slot id: two positions live inside

    private static ulong NPages(int id) => (ulong)(id + 1) * 8;

    private static ulong Position(int id, int which) => (ulong)id * Span + (which == 0 ? 0 : Span / 2);

    private static ulong HvaOf(int id) => 0x100000000UL * (ulong)(id + 1);

    [Fact]
    public void Readers_AlwaysSeeALayoutThatExisted()
    {
        using var vm = new TestVm();
        int writerOps = int.TryParse(Environment.GetEnvironmentVariable("HVRT_STRESS_OPS"), out int n) ? n : 5000;
        var present = new bool[Slots];
        var where = new int[Slots];
        var flags = new uint[Slots];
        long errors = 0, reads = 0, hits = 0;
        string? firstError = null;
        var stop = new ManualResetEventSlim();

        void Fail(string msg)
        {
            if (Interlocked.Increment(ref errors) == 1)
            {
                firstError = msg;
            }
        }

        void Reader(object? seed)
        {
            var rng = new Random((int)seed!);
            ulong lastGeneration = 0;
            HvrtTranslation t;
            while (!stop.IsSet)
            {
                ulong gfn = (ulong)rng.NextInt64(0, (long)(Slots * Span));
                int r = Ffi.Translate(vm.Handle, 0, gfn, &t);
                Interlocked.Increment(ref reads);
                if (r == E.ENOENT)
                {
                    continue;
                }
                if (r != 0)
                {
                    Fail($"translate {gfn:x}: {r}");
                    continue;
                }
                Interlocked.Increment(ref hits);
                int id = (int)t.Slot;
                if (id < 0 || id >= Slots)
                {
                    Fail($"slot {t.Slot:x} for gfn {gfn:x}");
                    continue;
                }
                bool ok = (t.BaseGfn == Position(id, 0) || t.BaseGfn == Position(id, 1))
                    && t.NPages == NPages(id)
                    && gfn >= t.BaseGfn && gfn < t.BaseGfn + t.NPages
                    && t.Hva == HvaOf(id) + (gfn - t.BaseGfn) * 4096
                    && (t.Flags & ~HvrtTranslation.FlagLogDirty) == 0
                    && t.PrivateFd == -1 && t.PrivatePgoff == 0 && t.Result == 0
                    && t.RunPages == t.BaseGfn + t.NPages - gfn
                    && (t.Generation & 1) == 0 && (t.Generation & ~Snapshot.GenUpdateInProgress) >= lastGeneration;
                if (!ok)
                {
                    Fail($"inconsistent answer for gfn {gfn:x}: slot {t.Slot} base {t.BaseGfn:x} npages {t.NPages} hva {t.Hva:x} flags {t.Flags} gen {t.Generation} (last {lastGeneration})");
                }
                // A snapshot being replaced carries the update-in-progress bit (KVM's numbering).
                lastGeneration = t.Generation & ~Snapshot.GenUpdateInProgress;
            }
        }

        var readers = new Thread[3];
        for (int i = 0; i < readers.Length; i++)
        {
            readers[i] = new Thread(Reader) { IsBackground = true };
            readers[i].Start(i + 1);
        }

        var wrng = new Random(42);
        // On a busy machine (xunit runs other classes in parallel) the readers may not have run
        // yet when the writer is done: keep changing slots until they have checked something.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int op = 0; op < writerOps || (Interlocked.Read(ref hits) == 0 && sw.ElapsedMilliseconds < 10000); op++)
        {
            int id = wrng.Next(Slots);
            int rc;
            if (!present[id])
            {
                where[id] = wrng.Next(2);
                flags[id] = (uint)wrng.Next(2);
                rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPages(id) << 12, HvaOf(id));
                present[id] = rc == 0;
            }
            else
            {
                switch (wrng.Next(3))
                {
                    case 0:
                        rc = vm.V1((uint)id, 0, 0, 0);
                        present[id] = rc != 0;
                        break;
                    case 1:
                        where[id] ^= 1;
                        rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPages(id) << 12, HvaOf(id));
                        break;
                    default:
                        flags[id] ^= 1;
                        rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPages(id) << 12, HvaOf(id));
                        break;
                }
            }
            Assert.Equal(0, rc);
        }
        stop.Set();
        foreach (Thread r in readers)
        {
            r.Join();
        }
        Assert.True(errors == 0, $"{errors} bad reads of {reads}; first: {firstError}");
        Assert.True(hits > 0, "readers hit no slot: the test checked nothing");
        Assert.True(NativeAlloc.PoisonEnabled || Environment.GetEnvironmentVariable("HVRT_POISON") != "1");
    }
}

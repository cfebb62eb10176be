using System;
using System.Collections.Generic;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Registered readers (translate, batch, quiescent every few operations, sometimes offline or
/// re-registered) and unregistered ones (hvrt_translate, hvrt_translate_batch) against one writer
/// that creates, deletes, moves and flag-toggles slots thousands of times.
///
/// Every create of a slot id is a new version v, and the slot's hva and size encode (id, v), so an
/// answer mixing fields of two slot sets, or read from a poisoned (freed) one, fails a check. The
/// writer records, per id, the last version whose delete has returned; a registered reader keeps
/// the versions it obtained since its last quiescent state and checks that none of them has been
/// reported deleted: that is the promise that lets a VMM munmap a slot once its delete returns.
/// It also holds a raw snapshot pointer across calls and re-reads it before it quiesces.
/// </summary>
public unsafe partial class ConcurrencyStressTests
{
    private const ulong VersionMask = (1UL << 28) - 1;
    private const int RegisteredReaders = 3;
    private const int UnregisteredReaders = 2;

    private static ulong NPagesOf(int id, long version) => (ulong)(id + 1) * 8 + (ulong)(version & 3);

    private static ulong HvaOf(int id, long version) => (ulong)(id + 1) << 40 | ((ulong)version & VersionMask) << 12;

    /// <summary>A gfn at or just past a position some slot may occupy: mostly hits, some misses.</summary>
    private static ulong NearASlot(Random rng) => Position(rng.Next(Slots), rng.Next(2)) + (ulong)rng.Next(160);

    private sealed class Shared
    {
        public required TestVm Vm;
        public readonly long[] Retired = new long[Slots];
        public readonly ManualResetEventSlim Stop = new();
        public readonly CountdownEvent Started = new(RegisteredReaders + UnregisteredReaders);
        public long Errors;
        public long Reads;
        public long Hits;
        public long HeldChecks;
        public string? FirstError;

        public void Fail(string msg)
        {
            if (Interlocked.Increment(ref Errors) == 1)
            {
                FirstError = msg;
            }
        }
    }

    /// <summary>Checks one hit; returns the slot id and version it encodes, or (-1, 0) after reporting.</summary>
    /// <summary>A generation without the update-in-progress bit a snapshot gets while it is replaced.</summary>
    private static ulong Plain(ulong generation) => generation & ~Snapshot.GenUpdateInProgress;

    private static (int Id, long Version) CheckHit(Shared sh, ulong gfn, in HvrtTranslation t, ref ulong lastGeneration, string who)
    {
        int id = (int)t.Slot;
        ulong hva0 = t.Hva - (gfn - t.BaseGfn) * 4096;
        long v = (long)((hva0 >> 12) & VersionMask);
        bool ok = id >= 0 && id < Slots
            && (int)(hva0 >> 40) == id + 1 && v >= 1
            && (t.BaseGfn == Position(id, 0) || t.BaseGfn == Position(id, 1))
            && t.NPages == NPagesOf(id, v)
            && gfn >= t.BaseGfn && gfn < t.BaseGfn + t.NPages
            && (t.Flags & ~HvrtTranslation.FlagLogDirty) == 0
            && t.PrivateFd == -1 && t.PrivatePgoff == 0 && t.Result == 0
            && t.RunPages == t.BaseGfn + t.NPages - gfn
            && (t.Generation & 1) == 0 && Plain(t.Generation) >= lastGeneration;
        if (!ok)
        {
            sh.Fail($"{who}: inconsistent answer for gfn {gfn:x}: slot {t.Slot} base {t.BaseGfn:x} npages {t.NPages} hva {t.Hva:x} flags {t.Flags} result {t.Result} gen {t.Generation} (last {lastGeneration})");
            return (-1, 0);
        }
        lastGeneration = Plain(t.Generation);
        return (id, v);
    }

    private static void CheckMiss(Shared sh, ulong gfn, in HvrtTranslation t, ref ulong lastGeneration, string who)
    {
        HvrtTranslation zero = default;
        zero.Result = E.ENOENT;
        zero.Generation = t.Generation;
        if (!t.Equals(zero) || (t.Generation & 1) != 0 || Plain(t.Generation) < lastGeneration)
        {
            sh.Fail($"{who}: bad miss for gfn {gfn:x}: result {t.Result} slot {t.Slot} hva {t.Hva:x} gen {t.Generation}");
        }
        lastGeneration = Math.Max(lastGeneration, Plain(t.Generation));
    }

    /// <summary>A registered reader's thread: the usage hvrt.h documents, plus the held-data checks.</summary>
    private static void RegisteredReader(Shared sh, int seed)
    {
        var rng = new Random(seed);
        var held = new List<(int Id, long Version)>();
        ulong* gfns = stackalloc ulong[16];
        HvrtTranslation* outs = stackalloc HvrtTranslation[16];
        ReaderRecord* r = Ffi.ReaderRegister(sh.Vm.Handle);
        sh.Started.Signal();
        ulong lastGeneration = 0;
        Snapshot* pinned = null;
        ulong pinnedGeneration = 0;
        int untilQuiescent = rng.Next(1, 64);

        // Everything obtained since the last quiescent state must still be live: no delete of it
        // has returned, and the pinned snapshot is not poisoned.
        void CheckHeld()
        {
            foreach ((int id, long v) in held)
            {
                long retired = Volatile.Read(ref sh.Retired[id]);
                if (retired >= v)
                {
                    sh.Fail($"reader {seed}: slot {id} v{v} was deleted (delete returned, retired v{retired}) while the reader still held it");
                }
            }
            if (pinned != null)
            {
                // Only the update-in-progress bit may change on a snapshot that is being replaced.
                bool ok = (pinned->Generation & ~Snapshot.GenUpdateInProgress) == pinnedGeneration && pinned->AsId == 0 && pinned->Count <= Slots;
                for (uint li = 0; ok && li < pinned->Gfn.NrLeaves; li++)
                {
                    Leaf* leaf = pinned->Gfn.Leaves[li];
                    ok = leaf->Count is >= 1 and <= Leaf.Cap && pinned->Gfn.First0[li] == leaf->Keys[0];
                    for (uint i = 0; ok && i < leaf->Count; i++)
                    {
                        SlotEntry* e = Leaf.Entry(leaf, i);
                        ok = e->Slot < Slots && (int)(e->Hva >> 40) == (int)e->Slot + 1 && leaf->Keys[i] == e->BaseGfn;
                    }
                }
                if (!ok)
                {
                    sh.Fail($"reader {seed}: the snapshot it held (generation {pinnedGeneration}) changed before it quiesced: freed early");
                }
            }
            Interlocked.Increment(ref sh.HeldChecks);
            held.Clear();
            pinned = null;
        }

        while (!sh.Stop.IsSet)
        {
            if (pinned == null)
            {
                pinned = VmLayout.Load(&sh.Vm.Handle->Read, 0);
                pinnedGeneration = pinned->Generation & ~Snapshot.GenUpdateInProgress;
            }
            ulong gfn = NearASlot(rng);
            if (rng.Next(8) == 0)
            {
                for (int i = 0; i < 16; i++)
                {
                    gfns[i] = gfn + (ulong)i;
                }
                int hits = Ffi.ReaderTranslateBatch(r, 0, gfns, 16, outs);
                int seen = 0;
                for (int i = 0; i < 16; i++)
                {
                    if (outs[i].Result == 0)
                    {
                        seen++;
                        (int id, long v) = CheckHit(sh, gfns[i], outs[i], ref lastGeneration, $"reader {seed} batch");
                        if (id >= 0)
                        {
                            held.Add((id, v));
                        }
                    }
                    else
                    {
                        CheckMiss(sh, gfns[i], outs[i], ref lastGeneration, $"reader {seed} batch");
                    }
                }
                if (hits != seen)
                {
                    sh.Fail($"reader {seed}: batch returned {hits} hits, results say {seen}");
                }
                Interlocked.Add(ref sh.Hits, seen);
            }
            else
            {
                HvrtTranslation t;
                int rc = Ffi.ReaderTranslate(r, 0, gfn, &t);
                if (rc == 0)
                {
                    Interlocked.Increment(ref sh.Hits);
                    (int id, long v) = CheckHit(sh, gfn, t, ref lastGeneration, $"reader {seed}");
                    if (id >= 0)
                    {
                        held.Add((id, v));
                    }
                }
                else if (rc != E.ENOENT)
                {
                    sh.Fail($"reader {seed}: translate {gfn:x}: {rc}");
                }
            }
            Interlocked.Increment(ref sh.Reads);
            if (--untilQuiescent > 0)
            {
                continue;
            }
            untilQuiescent = rng.Next(1, 64);
            CheckHeld();
            int what = rng.Next(100);
            if (what < 90)
            {
                Expect(sh, Ffi.ReaderQuiescent(r), seed, "quiescent");
            }
            else if (what < 98)
            {
                // As a vCPU around KVM_RUN: offline for a while, online again.
                Expect(sh, Ffi.ReaderOffline(r), seed, "offline");
                Thread.SpinWait(rng.Next(1000, 20000));
                Expect(sh, Ffi.ReaderOnline(r), seed, "online");
            }
            else
            {
                Expect(sh, Ffi.ReaderUnregister(r), seed, "unregister");
                r = Ffi.ReaderRegister(sh.Vm.Handle);
            }
        }
        CheckHeld();
        Expect(sh, Ffi.ReaderUnregister(r), seed, "unregister");
    }

    private static void Expect(Shared sh, int rc, int seed, string call)
    {
        if (rc != 0)
        {
            sh.Fail($"reader {seed}: {call} = {rc}");
        }
    }

    /// <summary>An unregistered reader: hvrt_translate and hvrt_translate_batch, no registration.</summary>
    private static void UnregisteredReader(Shared sh, int seed)
    {
        var rng = new Random(seed);
        ulong* gfns = stackalloc ulong[16];
        HvrtTranslation* outs = stackalloc HvrtTranslation[16];
        ulong lastGeneration = 0;
        sh.Started.Signal();
        while (!sh.Stop.IsSet)
        {
            ulong gfn = NearASlot(rng);
            if (rng.Next(8) == 0)
            {
                for (int i = 0; i < 16; i++)
                {
                    gfns[i] = NearASlot(rng);
                }
                int hits = Ffi.TranslateBatch(sh.Vm.Handle, 0, gfns, 16, outs);
                ulong batchGeneration = outs[0].Generation;
                int seen = 0;
                for (int i = 0; i < 16; i++)
                {
                    if (outs[i].Generation != batchGeneration)
                    {
                        sh.Fail($"unregistered {seed}: one batch answered from two slot sets");
                    }
                    if (outs[i].Result == 0)
                    {
                        seen++;
                        CheckHit(sh, gfns[i], outs[i], ref lastGeneration, $"unregistered {seed} batch");
                    }
                    else
                    {
                        CheckMiss(sh, gfns[i], outs[i], ref lastGeneration, $"unregistered {seed} batch");
                    }
                }
                if (hits != seen)
                {
                    sh.Fail($"unregistered {seed}: batch returned {hits} hits, results say {seen}");
                }
                Interlocked.Add(ref sh.Hits, seen);
            }
            else
            {
                HvrtTranslation t;
                int rc = Ffi.Translate(sh.Vm.Handle, 0, gfn, &t);
                if (rc == 0)
                {
                    Interlocked.Increment(ref sh.Hits);
                    CheckHit(sh, gfn, t, ref lastGeneration, $"unregistered {seed}");
                }
                else if (rc != E.ENOENT)
                {
                    sh.Fail($"unregistered {seed}: translate {gfn:x}: {rc}");
                }
            }
            Interlocked.Increment(ref sh.Reads);
        }
    }

    [Fact]
    public void RegisteredAndUnregisteredReaders_SeeOnlyLiveLayouts_AndHoldWhatTheyRead()
    {
        using var vm = new TestVm();
        // HVRT_STRESS_OPS scales both stress tests (default 5000); this one's changes are cheaper
        // to check, so it runs 8 times as many (a few seconds by default).
        int writerOps = 8 * (int.TryParse(Environment.GetEnvironmentVariable("HVRT_STRESS_OPS"), out int n) ? n : 5000);
        var sh = new Shared { Vm = vm };
        var threads = new List<Thread>();
        for (int i = 0; i < RegisteredReaders; i++)
        {
            int seed = 100 + i;
            threads.Add(new Thread(() => RegisteredReader(sh, seed)) { IsBackground = true });
        }
        for (int i = 0; i < UnregisteredReaders; i++)
        {
            int seed = 200 + i;
            threads.Add(new Thread(() => UnregisteredReader(sh, seed)) { IsBackground = true });
        }
        threads.ForEach(t => t.Start());
        Assert.True(sh.Started.Wait(10000), "the reader threads did not start");

        var present = new bool[Slots];
        var where = new int[Slots];
        var flags = new uint[Slots];
        var version = new long[Slots];
        var wrng = new Random(43);
        int deletes = 0;
        // Keep going until the readers have checked something, even on a busy machine.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int op = 0; op < writerOps || ((Interlocked.Read(ref sh.HeldChecks) == 0 || deletes == 0) && sw.ElapsedMilliseconds < 10000); op++)
        {
            int id = wrng.Next(Slots);
            int rc;
            if (!present[id])
            {
                long v = ++version[id];
                where[id] = wrng.Next(2);
                flags[id] = (uint)wrng.Next(2);
                rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPagesOf(id, v) << 12, HvaOf(id, v));
                present[id] = rc == 0;
            }
            else
            {
                long v = version[id];
                switch (wrng.Next(3))
                {
                    case 0:
                        rc = vm.V1((uint)id, 0, 0, 0);
                        present[id] = rc != 0;
                        // The delete has returned: from now on, no reader may hold version v.
                        Volatile.Write(ref sh.Retired[id], v);
                        deletes++;
                        break;
                    case 1:
                        where[id] ^= 1;
                        rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPagesOf(id, v) << 12, HvaOf(id, v));
                        break;
                    default:
                        flags[id] ^= 1;
                        rc = vm.V1((uint)id, flags[id], Position(id, where[id]) << 12, NPagesOf(id, v) << 12, HvaOf(id, v));
                        break;
                }
            }
            Assert.Equal(0, rc);
        }
        sh.Stop.Set();
        threads.ForEach(t => t.Join());
        Assert.True(sh.Errors == 0, $"{sh.Errors} bad reads of {sh.Reads}; first: {sh.FirstError}");
        Assert.True(sh.Hits > 0 && deletes > 0 && sh.HeldChecks > 0, "the test checked nothing");
    }
}

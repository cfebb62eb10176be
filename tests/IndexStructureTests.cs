using System;
using System.Collections.Generic;
using System.Linq;
using Hvrt.Abi;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Slots;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// The copy-on-write leaf index of published snapshots, checked directly after random create /
/// delete / move / flag batches through the VM (thousands of changes, up to a few thousand slots,
/// so leaves split, shrink and merge): structure invariants of all three indexes, their contents
/// against a brute-force model, and hvrt_translate against a brute-force lookup.
/// </summary>
public sealed unsafe class IndexStructureTests
{
    private static ulong EndOf(IndexKind kind, in SlotEntry e) => kind switch
    {
        IndexKind.Gfn => e.BaseGfn + e.NPages,
        IndexKind.Hva => e.Hva + (e.NPages << 12),
        _ => e.PrivatePgoff + e.NPages,
    };

    /// <summary>Every structural invariant of one index; returns its entries in order.</summary>
    private static List<SlotEntry> CheckIndex(IndexTop* top, IndexKind kind)
    {
        var entries = new List<SlotEntry>();
        if (top->NrLeaves == 0 != (top->Count == 0))
        {
            Assert.Fail($"{kind}: {top->NrLeaves} leaves for {top->Count} entries");
        }
        IndexKey? previous = null;
        ulong runningMax = 0;
        for (nuint i = 0; i < top->NrLeaves; i++)
        {
            Leaf* leaf = top->Leaves[i];
            if (leaf->Count < 1 || leaf->Count > Leaf.Cap)
            {
                Assert.Fail($"{kind} leaf {i}: count {leaf->Count}");
            }
            ulong maxEnd = 0;
            for (uint j = 0; j < Leaf.Cap; j++)
            {
                if (j >= leaf->Count)
                {
                    if (leaf->Keys[j] != ulong.MaxValue)
                    {
                        Assert.Fail($"{kind} leaf {i}: unused key {j} is {leaf->Keys[j]:x}");
                    }
                    continue;
                }
                SlotEntry e = *Leaf.Entry(leaf, j);
                IndexKey key = IndexKeys.Of(kind, e);
                if (leaf->Keys[j] != key.K0)
                {
                    Assert.Fail($"{kind} leaf {i}: Keys[{j}] {leaf->Keys[j]:x} != entry's {key.K0:x}");
                }
                if (previous is { } p && p.CompareTo(key) >= 0)
                {
                    Assert.Fail($"{kind} leaf {i} entry {j}: not after its predecessor");
                }
                if (j == 0 && IndexKeys.FirstOf(top, i).CompareTo(key) != 0)
                {
                    Assert.Fail($"{kind} top first key {i} does not match the leaf");
                }
                previous = key;
                maxEnd = Math.Max(maxEnd, EndOf(kind, e));
                entries.Add(e);
            }
            if (leaf->MaxEnd != maxEnd)
            {
                Assert.Fail($"{kind} leaf {i}: MaxEnd {leaf->MaxEnd:x}, entries' {maxEnd:x}");
            }
            if (top->MaxEnd[i] != maxEnd)
            {
                Assert.Fail($"{kind} top MaxEnd {i}: {top->MaxEnd[i]:x}, leaf's {maxEnd:x}");
            }
            runningMax = Math.Max(runningMax, maxEnd);
            if (top->MaxEndPrefix[i] != runningMax)
            {
                Assert.Fail($"{kind} top MaxEndPrefix {i}: {top->MaxEndPrefix[i]:x}, running max {runningMax:x}");
            }
            // Keys and entries agree on the translation flags the writer precomputed.
            for (uint j = 0; j < leaf->Count; j++)
            {
                SlotEntry* x = Leaf.Entry(leaf, j);
                if (x->TrFlags != HvrtTranslation.FlagsOf(x->KvmFlags))
                {
                    Assert.Fail($"{kind} leaf {i} entry {j}: TrFlags {x->TrFlags:x} for KVM flags {x->KvmFlags:x}");
                }
            }
        }
        if (entries.Count != (int)top->Count)
        {
            Assert.Fail($"{kind}: leaves hold {entries.Count}, top says {top->Count}");
        }
        return entries;
    }

    private static (uint, ulong, ulong, ulong, uint, ulong) Fields(in SlotEntry e) => (e.Slot, e.BaseGfn, e.NPages, e.Hva, e.KvmFlags, e.PrivatePgoff);

    private static (uint, ulong, ulong, ulong, uint, ulong) Fields(ModelSlot s) => (s.Slot, s.BaseGfn, s.NPages, s.Hva, s.KvmFlags, s.Pgoff);

    private static void CheckSnapshots(TestVm vm, RandomSlots r, uint nrAs)
    {
        for (uint asId = 0; asId < nrAs; asId++)
        {
            Snapshot* s = VmLayout.Load(&vm.Handle->Read, asId);
            List<ModelSlot> model = r.Model.All.Where(m => m.AsId == asId).ToList();
            List<SlotEntry> gfn = CheckIndex(&s->Gfn, IndexKind.Gfn);
            List<SlotEntry> hva = CheckIndex(&s->Hva, IndexKind.Hva);
            List<SlotEntry> priv = CheckIndex(&s->Private, IndexKind.Private);
            Assert.Equal((uint)model.Count, s->Count);
            Assert.Equal(asId, s->AsId);
            // Each index holds exactly the model's slots (the private one only those with a file), in its order.
            SameSequence(model.OrderBy(m => m.BaseGfn).Select(Fields), gfn.Select(e => Fields(e)), "gfn index");
            SameSequence(model.OrderBy(m => m.Hva).ThenBy(m => m.Slot).Select(Fields), hva.Select(e => Fields(e)), "hva index");
            Assert.True(priv.All(e => (e.KvmFlags & 4) != 0 && e.FileIno != 0));
            SameSequence(
                priv.OrderBy(e => e.FileIno).ThenBy(e => e.FileDev).ThenBy(e => e.PrivatePgoff).Select(e => Fields(e)),
                priv.Select(e => Fields(e)),
                "private index order");
            SameSequence(model.Where(m => m.IsPrivate).OrderBy(m => m.Slot).Select(Fields), priv.OrderBy(e => e.Slot).Select(e => Fields(e)), "private index");
        }
    }

    /// <summary>Sequence equality with the first difference in the message (xunit's collection compare is slow at this size).</summary>
    private static void SameSequence<T>(IEnumerable<T> want, IEnumerable<T> got, string what)
    {
        T[] w = want.ToArray(), g = got.ToArray();
        int n = Math.Min(w.Length, g.Length);
        for (int i = 0; i < n; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(w[i], g[i]))
            {
                Assert.Fail($"{what}: item {i} is {g[i]}, want {w[i]}");
            }
        }
        Assert.True(w.Length == g.Length, $"{what}: {g.Length} items, want {w.Length}");
    }

    private static void CheckTranslate(TestVm vm, RandomSlots r, uint nrAs, int n)
    {
        Random rng = r.Rng;
        List<ModelSlot> slots = r.Model.All.ToList();
        ModelSlot[][] byAs = Enumerable.Range(0, (int)nrAs).Select(a => slots.Where(s => s.AsId == a).ToArray()).ToArray();
        ModelSlot? Find(uint asId, ulong gfn)
        {
            foreach (ModelSlot s in byAs[asId])
            {
                if (gfn >= s.BaseGfn && gfn - s.BaseGfn < s.NPages)
                {
                    return s;
                }
            }
            return null;
        }
        for (int i = 0; i < n; i++)
        {
            uint asId = (uint)rng.Next((int)nrAs);
            ulong gfn;
            if (slots.Count > 0 && rng.Next(2) == 0)
            {
                ModelSlot s = slots[rng.Next(slots.Count)];
                asId = s.AsId;
                gfn = rng.Next(4) switch
                {
                    0 => s.BaseGfn - 1,
                    1 => s.BaseGfn,
                    2 => s.BaseGfn + s.NPages - 1,
                    _ => s.BaseGfn + s.NPages,
                };
            }
            else
            {
                gfn = (ulong)rng.NextInt64(0, (long)r.GfnLimit + 16);
            }
            int rc = vm.Translate(gfn, out HvrtTranslation t, asId);
            ModelSlot? want = Find(asId, gfn);
            if (want == null)
            {
                Assert.True(rc == E.ENOENT, $"translate(as {asId}, {gfn:x}) = {rc}, model: no slot");
                continue;
            }
            Assert.True(rc == 0, $"translate(as {asId}, {gfn:x}) = {rc}, model: slot {want.Slot:x}");
            Assert.Equal(want.Slot, t.Slot);
            Assert.Equal(want.BaseGfn, t.BaseGfn);
            Assert.Equal(want.NPages, t.NPages);
            Assert.Equal(want.Hva + ((gfn - want.BaseGfn) << 12), t.Hva);
            Assert.Equal(want.TrFlags, t.Flags);
            Assert.Equal(want.IsPrivate ? want.Pgoff + gfn - want.BaseGfn : 0, t.PrivatePgoff);
        }
    }

    /// <summary>A few hva and private queries as well: the reverse queries over many leaves.</summary>
    private static void CheckQueries(TestVm vm, RandomSlots r, int n)
    {
        Random rng = r.Rng;
        for (int i = 0; i < n; i++)
        {
            ulong hva = RandomSlots.HvaBase + (ulong)rng.NextInt64(0, (long)r.HvaSpanBytes);
            ulong len = (ulong)rng.NextInt64(0, 1 << 22);
            HvrtSlotRange[] got = QueryFfi.AllByHva(vm.Handle, hva, len, out int rc);
            Assert.Equal(r.Model.ByHva(hva, len), got.Select(x => SlotModel.Key(x)).ToList());
            Assert.Equal(got.Length, rc);
            int file = rng.Next(r.Fds.Length);
            ulong off = (ulong)rng.NextInt64(0, (long)r.FileBytes);
            got = QueryFfi.AllByPrivate(vm.Handle, r.Dups[file], off, len, out rc);
            Assert.Equal(r.Model.ByPrivate(file, off, len), got.Select(x => SlotModel.Key(x)).ToList());
            Assert.Equal(got.Length, rc);
        }
    }

    [Theory]
    [InlineData(11, 2u)]
    [InlineData(12, 1u)]
    public void RandomChanges_KeepEveryIndexWellFormed(int seed, uint nrAs)
    {
        using var vm = new TestVm(new HvrtVmConfig { NrAddressSpaces = nrAs });
        using var r = new RandomSlots(vm, seed, nrAs, idsPerAs: 4000, windowPages: 64, maxPages: 32, hvaSpanPages: 1 << 15, files: 2, filePages: 1 << 17, privateShare: 0.2);
        // Grow to a few thousand slots, shrink to almost none (merges, empty leaves), grow again.
        int[] targets = { 2500, 300, 3000, 5, 1200 };
        int ops = 0;
        uint maxGfnLeaves = 0, maxPrivateLeaves = 0;
        foreach (int target in targets)
        {
            while (Math.Abs(r.Count - target) > 10)
            {
                double bias = r.Count < target ? 0.75 : 0.25;
                int batch = r.Rng.Next(1, 150);
                if (r.Rng.Next(3) == 0)
                {
                    r.Batch(batch, bias);
                }
                else
                {
                    for (int i = 0; i < batch; i++)
                    {
                        r.Step(bias);
                    }
                }
                ops += batch;
                CheckSnapshots(vm, r, nrAs);
                for (uint asId = 0; asId < nrAs; asId++)
                {
                    maxGfnLeaves = Math.Max(maxGfnLeaves, VmLayout.Load(&vm.Handle->Read, asId)->Gfn.NrLeaves);
                    maxPrivateLeaves = Math.Max(maxPrivateLeaves, VmLayout.Load(&vm.Handle->Read, asId)->Private.NrLeaves);
                }
                CheckTranslate(vm, r, nrAs, 200);
                CheckQueries(vm, r, 4);
            }
        }
        Assert.True(ops > 5000, $"only {ops} changes");
        Assert.True(maxGfnLeaves > 20 && maxPrivateLeaves > 3, $"at most {maxGfnLeaves} gfn leaves, {maxPrivateLeaves} private leaves");
    }

    [Fact]
    public void AscendingAndDescendingCreates_ThenDeleteAll()
    {
        // Ascending creates append at a full leaf's end (the split that keeps the old leaf full);
        // descending ones insert at the front; then everything goes, in random order.
        using var vm = new TestVm();
        var model = new Dictionary<uint, (ulong Gfn, ulong Hva)>();
        for (uint i = 0; i < 700; i++)
        {
            Assert.Equal(0, vm.V1(i, 0, (ulong)i << 20, 1 << 12, 0x100000000UL + ((ulong)i << 12)));
            model[i] = ((ulong)i << 8, 0x100000000UL + ((ulong)i << 12));
        }
        for (uint i = 0; i < 700; i++)
        {
            uint id = 1400 - i;
            Assert.Equal(0, vm.V1(id, 0, (ulong)id << 20, 1 << 12, 0x100000000UL + ((ulong)id << 12)));
            model[id] = ((ulong)id << 8, 0x100000000UL + ((ulong)id << 12));
        }
        Snapshot* s = VmLayout.Load(&vm.Handle->Read, 0);
        Assert.Equal(1400, CheckIndex(&s->Gfn, IndexKind.Gfn).Count);
        Assert.Equal(1400, CheckIndex(&s->Hva, IndexKind.Hva).Count);
        var rng = new Random(5);
        foreach (uint id in model.Keys.OrderBy(_ => rng.Next()).ToList())
        {
            Assert.Equal(0, vm.V1(id, 0, 0, 0));
            model.Remove(id);
            if (model.Count % 97 == 0)
            {
                s = VmLayout.Load(&vm.Handle->Read, 0);
                Assert.Equal(model.Count, CheckIndex(&s->Gfn, IndexKind.Gfn).Count);
                Assert.Equal(model.Count, CheckIndex(&s->Hva, IndexKind.Hva).Count);
                foreach ((uint k, (ulong gfn, ulong hva)) in model.Take(50))
                {
                    Assert.Equal(0, vm.Translate(gfn, out HvrtTranslation t));
                    Assert.Equal(k, t.Slot);
                    Assert.Equal(hva, t.Hva);
                }
            }
        }
        s = VmLayout.Load(&vm.Handle->Read, 0);
        Assert.Equal(0u, s->Gfn.NrLeaves);
        Assert.Equal(0u, s->Hva.NrLeaves);
        Assert.Equal(0, QueryFfi.ByHva(vm.Handle, 0, ulong.MaxValue, null, 0));
    }
}

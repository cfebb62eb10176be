using System.Runtime.CompilerServices;
using Hvrt.Layout;

namespace Hvrt.Index;

/// <summary>Receives the entries a range query finds.</summary>
internal unsafe interface IEntrySink
{
    void Add(SlotEntry* e);
}

/// <summary>
/// Range queries over a snapshot's indexes: the gfn range a dirty mark covers, and the reverse
/// queries a VMM asks when host memory goes away (KVM's hva notifiers and
/// kvm_gmem_invalidate_begin): which slots does a host range, or a range of a private file, back.
/// </summary>
internal static unsafe class RangeQuery
{
    /// <summary>
    /// Every entry of a snapshot's gfn index whose range overlaps [start, end) (start &lt; end), in
    /// gfn order: hvrt_mark_dirty's walk. Slots of one address space never overlap, so they are
    /// sorted by start and by end alike: from the entry at or before start, forward while entries
    /// start before end. Inlined: hvrt_mark_dirty is a hot path, and a call with the sink by
    /// reference cost it ~30 instructions a mark (measured with callgrind against the inline
    /// loop it replaced).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ByGfn<TSink>(IndexTop* top, ulong start, ulong end, ref TSink sink)
        where TSink : IEntrySink
    {
        nuint leaves = top->NrLeaves;
        if (leaves == 0)
        {
            return;
        }
        nuint li = Search.LastAtMost(top->First0, leaves, start);
        Leaf* leaf = top->Leaves[li];
        nuint ei = Search.LastAtMost(leaf->Keys, leaf->Count, start);
        for (; li < leaves; li++, ei = 0)
        {
            leaf = top->Leaves[li];
            for (; ei < leaf->Count; ei++)
            {
                SlotEntry* e = Leaf.Entry(leaf, ei);
                if (e->BaseGfn >= end)
                {
                    return;
                }
                if (e->EndGfn > start)
                {
                    sink.Add(e);
                }
            }
        }
    }

    /// <summary>Every entry of an Hva index whose host range overlaps [start, end).</summary>
    public static void ByHva<TSeq, TSink>(in TSeq seq, ulong start, ulong end, ref TSink sink)
        where TSeq : ILeafSeq
        where TSink : IEntrySink
    {
        // Leaves are in order of their first hva; a leaf whose max end is <= start holds nothing
        // that reaches the range. Host ranges may overlap, so the leaves to look at are not one
        // run found by the first keys alone; the running max of the max ends skips the prefix
        // that cannot reach start, and each leaf's own max end skips the rest.
        for (int i = seq.FirstReaching(start); i < seq.Count && seq.FirstAt(i).K0 < end; i++)
        {
            if (seq.MaxEndAt(i) <= start)
            {
                continue;
            }
            Leaf* leaf = seq.LeafAt(i);
            for (uint j = 0; j < leaf->Count; j++)
            {
                SlotEntry* e = Leaf.Entry(leaf, j);
                if (e->Hva >= end)
                {
                    break;
                }
                if (e->Hva + (e->NPages << 12) > start)
                {
                    sink.Add(e);
                }
            }
        }
    }

    /// <summary>Every entry of a Private index bound to file (dev, ino) whose pages overlap [first, end).</summary>
    public static void ByPrivate<TSeq, TSink>(in TSeq seq, ulong dev, ulong ino, ulong first, ulong end, ref TSink sink)
        where TSeq : ILeafSeq
        where TSink : IEntrySink
    {
        // A file's page ranges are disjoint (the binding rule), so the only entry before `first`
        // that can reach into the range is its predecessor, which lives in the last leaf whose
        // first key is <= (ino, dev, first); walk forward from that leaf's start.
        var key = new IndexKey(ino, dev, first);
        for (int i = LastLeafAtMost(seq, key); i < seq.Count; i++)
        {
            Leaf* leaf = seq.LeafAt(i);
            for (uint j = 0; j < leaf->Count; j++)
            {
                SlotEntry* e = Leaf.Entry(leaf, j);
                int c = e->FileIno != ino ? (e->FileIno < ino ? -1 : 1) : e->FileDev != dev ? (e->FileDev < dev ? -1 : 1) : 0;
                if (c < 0)
                {
                    continue;
                }
                if (c > 0 || e->PrivatePgoff >= end)
                {
                    return;
                }
                if (e->PrivatePgoff + e->NPages > first)
                {
                    sink.Add(e);
                }
            }
        }
    }

    private static int LastLeafAtMost<TSeq>(in TSeq seq, in IndexKey key)
        where TSeq : ILeafSeq
    {
        int lo = 0, hi = seq.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (seq.FirstAt(mid).CompareTo(key) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo > 0 ? lo - 1 : 0;
    }
}

/// <summary>Counts matches (the writer's "is anything there" checks).</summary>
internal unsafe struct CountingSink : IEntrySink
{
    public int Count;

    public void Add(SlotEntry* e) => Count++;
}

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Index;

/// <summary>
/// The writer's working copy of one index while a change is built: the top arrays as a managed
/// list of leaf references, copied from the published snapshot (O(leaves), a few KB), edited
/// copy-on-write, then written into the next snapshot. A leaf allocated during this change
/// ("fresh") is edited in place; a published leaf is copied first and the original retired, to
/// be freed only after the grace period that follows the publish.
///
/// Allocation happens only in <see cref="Reserve"/>; <see cref="Insert"/> and <see cref="Remove"/>
/// take leaves from the reserve and cannot fail, so a change that could not reserve changes nothing.
/// </summary>
internal sealed unsafe class IndexBuilder
{
    /// <summary>Most leaves one Insert or Remove takes from the reserve.</summary>
    public const int LeavesPerOp = 2;

    private const int MergeBelow = Leaf.Cap / 4;
    private const int MergeAtMost = Leaf.Cap / 2;

    private struct LeafRef
    {
        public Leaf* Leaf;
        public IndexKey First;
        public ulong MaxEnd;
        public bool Fresh;
    }

    private readonly IndexKind _kind;
    private readonly Stack<nint> _spare = new();
    private readonly List<nint> _retired = new();
    private LeafRef[] _refs = new LeafRef[16];
    private int _n;
    private uint _count;

    public IndexBuilder(IndexKind kind)
    {
        _kind = kind;
    }

    public int NrLeaves => _n;

    /// <summary>The working state as a leaf sequence, for queries that must see this change (the binding check).</summary>
    public LeafSeq View() => new(this);

    internal readonly struct LeafSeq : ILeafSeq
    {
        private readonly IndexBuilder _b;

        public LeafSeq(IndexBuilder b) => _b = b;

        public int Count => _b._n;

        public Leaf* LeafAt(int i) => _b._refs[i].Leaf;

        public IndexKey FirstAt(int i) => _b._refs[i].First;

        public ulong MaxEndAt(int i) => _b._refs[i].MaxEnd;

        /// <summary>The working copy keeps no running max: start at the first leaf.</summary>
        public int FirstReaching(ulong start) => 0;
    }

    /// <summary>Starts from the published top of this index (or from empty).</summary>
    public void Begin(IndexTop* top)
    {
        _n = 0;
        _count = 0;
        if (top == null)
        {
            return;
        }
        Grow((int)top->NrLeaves);
        for (nuint i = 0; i < top->NrLeaves; i++)
        {
            _refs[i] = new LeafRef { Leaf = top->Leaves[i], First = IndexKeys.FirstOf(top, i), MaxEnd = top->MaxEnd[i] };
        }
        _n = (int)top->NrLeaves;
        _count = top->Count;
    }

    /// <summary>Makes sure <paramref name="ops"/> more Insert/Remove calls cannot run out of leaves.</summary>
    public bool Reserve(int ops)
    {
        while (_spare.Count < ops * LeavesPerOp)
        {
            void* leaf = NativeAlloc.Alloc(Leaf.Bytes);
            if (leaf == null)
            {
                return false;
            }
            _spare.Push((nint)leaf);
        }
        Grow(_n + ops);
        return true;
    }

    public void Insert(in SlotEntry e)
    {
        if (_n == 0)
        {
            Leaf* first = Take();
            Put(first, 0, e);
            first->Count = 1;
            _refs[0] = Summarize(first);
            _n = 1;
            _count = 1;
            return;
        }
        IndexKey key = IndexKeys.Of(_kind, e);
        int li = FindLeaf(key);
        Leaf* src = _refs[li].Leaf;
        int pos = UpperBound(src, key);
        if (src->Count < Leaf.Cap)
        {
            Leaf* dst = Writable(li);
            Shift(dst, pos, 1);
            Put(dst, pos, e);
            dst->Count++;
            _refs[li] = Summarize(dst);
        }
        else
        {
            Split(li, pos, e);
        }
        _count++;
    }

    public void Remove(in SlotEntry e)
    {
        IndexKey key = IndexKeys.Of(_kind, e);
        int li = FindLeaf(key);
        Leaf* src = _refs[li].Leaf;
        int pos = UpperBound(src, key) - 1;
        if (pos < 0 || IndexKeys.Of(_kind, *Leaf.Entry(src, (nuint)pos)).CompareTo(key) != 0)
        {
            throw new InvalidOperationException($"{_kind} index has no entry for slot {e.Slot:x}");
        }
        _count--;
        if (src->Count == 1)
        {
            Release(li);
            RemoveRefs(li, 1);
            return;
        }
        int nb = MergeNeighbor(li);
        if (nb < 0)
        {
            Leaf* dst = Writable(li);
            Shift(dst, pos + 1, -1);
            dst->Count--;
            ClearTail(dst);
            _refs[li] = Summarize(dst);
            return;
        }
        // Merge the shrunk leaf with a small neighbor so that leaves stay at least a quarter full
        // and the top arrays (copied on every change) stay short.
        int left = Math.Min(li, nb);
        Leaf* merged = Take();
        Leaf* a = _refs[left].Leaf, b = _refs[left + 1].Leaf;
        uint m = 0;
        for (uint i = 0; i < a->Count; i++)
        {
            if (!(left == li && i == pos))
            {
                Put(merged, (int)m++, *Leaf.Entry(a, i));
            }
        }
        for (uint i = 0; i < b->Count; i++)
        {
            if (!(left + 1 == li && i == pos))
            {
                Put(merged, (int)m++, *Leaf.Entry(b, i));
            }
        }
        merged->Count = m;
        ClearTail(merged);
        Release(left);
        Release(left + 1);
        _refs[left] = Summarize(merged);
        RemoveRefs(left + 1, 1);
    }

    /// <summary>Writes the top arrays into a snapshot's index (which has room for NrLeaves).</summary>
    public void WriteTo(IndexTop* top)
    {
        top->NrLeaves = (uint)_n;
        top->Count = _count;
        ulong prefix = 0;
        for (int i = 0; i < _n; i++)
        {
            ref LeafRef r = ref _refs[i];
            prefix = Math.Max(prefix, r.MaxEnd);
            top->MaxEndPrefix[i] = prefix;
            top->First0[i] = r.First.K0;
            top->First1[i] = r.First.K1;
            top->First2[i] = r.First.K2;
            top->MaxEnd[i] = r.MaxEnd;
            top->Leaves[i] = r.Leaf;
            r.Fresh = false; // published from now on
        }
    }

    /// <summary>Leaves replaced by this change; free them after the grace period that follows the publish.</summary>
    public List<nint> Retired => _retired;

    /// <summary>Frees what this change allocated and forgets it (nothing was published).</summary>
    public void Abort()
    {
        for (int i = 0; i < _n; i++)
        {
            if (_refs[i].Fresh)
            {
                NativeAlloc.Free(_refs[i].Leaf, Leaf.Bytes);
            }
        }
        _n = 0;
        _retired.Clear();
    }

    public void FreeSpares()
    {
        while (_spare.Count > 0)
        {
            NativeAlloc.Free((void*)_spare.Pop(), Leaf.Bytes);
        }
    }

    /// <summary>Frees every leaf of a published top (the VM is gone; no reader remains).</summary>
    public static void FreeLeaves(IndexTop* top)
    {
        for (nuint i = 0; i < top->NrLeaves; i++)
        {
            NativeAlloc.Free(top->Leaves[i], Leaf.Bytes);
        }
    }

    private void Split(int li, int pos, in SlotEntry e)
    {
        Leaf* src = _refs[li].Leaf;
        // Appending at the end (ascending creates, the common hotplug pattern) keeps the old leaf
        // full; otherwise split in half.
        int leftCount = pos == Leaf.Cap ? Leaf.Cap : (Leaf.Cap + 1) / 2;
        Leaf* left = Take(), right = Take();
        for (int i = 0, j = 0; i <= Leaf.Cap; i++)
        {
            SlotEntry x = i == pos ? e : *Leaf.Entry(src, (nuint)j++);
            if (i < leftCount)
            {
                Put(left, i, x);
            }
            else
            {
                Put(right, i - leftCount, x);
            }
        }
        left->Count = (uint)leftCount;
        right->Count = (uint)(Leaf.Cap + 1 - leftCount);
        ClearTail(left);
        ClearTail(right);
        Release(li);
        InsertRefs(li + 1, 1);
        _refs[li] = Summarize(left);
        _refs[li + 1] = Summarize(right);
    }

    private int MergeNeighbor(int li)
    {
        uint after = _refs[li].Leaf->Count - 1;
        if (after >= MergeBelow)
        {
            return -1;
        }
        if (li > 0 && _refs[li - 1].Leaf->Count + after <= MergeAtMost)
        {
            return li - 1;
        }
        if (li + 1 < _n && _refs[li + 1].Leaf->Count + after <= MergeAtMost)
        {
            return li + 1;
        }
        return -1;
    }

    /// <summary>The last leaf whose first key is &lt;= key, or leaf 0.</summary>
    private int FindLeaf(in IndexKey key)
    {
        int lo = 0, hi = _n;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_refs[mid].First.CompareTo(key) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return Math.Max(0, lo - 1);
    }

    /// <summary>Index of the first entry of the leaf whose key is greater than key.</summary>
    private int UpperBound(Leaf* leaf, in IndexKey key)
    {
        int lo = 0, hi = (int)leaf->Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (IndexKeys.Of(_kind, *Leaf.Entry(leaf, (nuint)mid)).CompareTo(key) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    private Leaf* Writable(int li)
    {
        ref LeafRef r = ref _refs[li];
        if (r.Fresh)
        {
            return r.Leaf;
        }
        Leaf* copy = Take();
        Buffer.MemoryCopy(r.Leaf, copy, Leaf.Bytes, Leaf.Bytes);
        _retired.Add((nint)r.Leaf);
        r.Leaf = copy;
        r.Fresh = true;
        return copy;
    }

    /// <summary>Drops a leaf from this change: published ones are retired, fresh ones recycled.</summary>
    private void Release(int li)
    {
        ref LeafRef r = ref _refs[li];
        if (r.Fresh)
        {
            NativeMemory.Clear(r.Leaf, Leaf.Bytes);
            _spare.Push((nint)r.Leaf);
        }
        else
        {
            _retired.Add((nint)r.Leaf);
        }
    }

    private Leaf* Take() => (Leaf*)_spare.Pop();

    private void Put(Leaf* leaf, int i, in SlotEntry e)
    {
        *Leaf.Entry(leaf, (nuint)i) = e;
        leaf->Keys[i] = IndexKeys.Of(_kind, e).K0;
    }

    /// <summary>Moves entries [from, Count) by delta places (1 opens a hole at from, -1 closes the one before from).</summary>
    private static void Shift(Leaf* leaf, int from, int delta)
    {
        int n = (int)leaf->Count - from;
        if (n <= 0)
        {
            return;
        }
        Buffer.MemoryCopy(Leaf.Entry(leaf, (nuint)from), Leaf.Entry(leaf, (nuint)(from + delta)), (long)n * sizeof(SlotEntry), (long)n * sizeof(SlotEntry));
        Buffer.MemoryCopy(&leaf->Keys[from], &leaf->Keys[from + delta], (long)n * 8, (long)n * 8);
    }

    /// <summary>Unused keys are all-ones, so a fixed-width search never stops on them.</summary>
    private static void ClearTail(Leaf* leaf)
    {
        for (uint i = leaf->Count; i < Leaf.Cap; i++)
        {
            leaf->Keys[i] = ulong.MaxValue;
            *Leaf.Entry(leaf, i) = default;
        }
    }

    private LeafRef Summarize(Leaf* leaf)
    {
        ulong maxEnd = 0;
        for (uint i = 0; i < leaf->Count; i++)
        {
            maxEnd = Math.Max(maxEnd, IndexKeys.EndOf(_kind, *Leaf.Entry(leaf, i)));
        }
        for (uint i = leaf->Count; i < Leaf.Cap; i++)
        {
            leaf->Keys[i] = ulong.MaxValue;
        }
        leaf->MaxEnd = maxEnd;
        return new LeafRef { Leaf = leaf, First = IndexKeys.Of(_kind, *Leaf.Entry(leaf, 0)), MaxEnd = maxEnd, Fresh = true };
    }

    private void InsertRefs(int at, int count)
    {
        Grow(_n + count);
        Array.Copy(_refs, at, _refs, at + count, _n - at);
        _n += count;
    }

    private void RemoveRefs(int at, int count)
    {
        Array.Copy(_refs, at + count, _refs, at, _n - at - count);
        _n -= count;
    }

    private void Grow(int n)
    {
        if (_refs.Length < n)
        {
            Array.Resize(ref _refs, Math.Max(n, _refs.Length * 2));
        }
    }
}

using System;
using System.Collections.Generic;

namespace Hvrt.Slots;

/// <summary>
/// The writer's view of one address space: slots by id and sorted by base gfn. Only the writer,
/// holding the VM's lock, touches it; readers see snapshots built from it.
/// </summary>
internal sealed class SlotSet
{
    private readonly Dictionary<ushort, MemSlot> _byId = new();
    private readonly List<MemSlot> _byGfn = new();

    public int Count => _byGfn.Count;

    public IReadOnlyList<MemSlot> ByGfn => _byGfn;

    public MemSlot? Get(ushort id) => _byId.TryGetValue(id, out MemSlot? s) ? s : null;

    /// <summary>True when [start, end) intersects a slot other than <paramref name="exceptId"/> (kvm_check_memslot_overlap).</summary>
    public bool Overlaps(ulong start, ulong end, ushort exceptId)
    {
        // Slots of one set never overlap, so only the predecessor of start and the slots that
        // begin before end can intersect; a MOVE's own old position is skipped, not a conflict.
        for (int i = Math.Max(0, UpperBound(start) - 1); i < _byGfn.Count; i++)
        {
            MemSlot s = _byGfn[i];
            if (s.BaseGfn >= end)
            {
                break;
            }
            if (s.Id != exceptId && s.EndGfn > start)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Index in <see cref="ByGfn"/> of the first slot that may reach gfn (the predecessor of the first slot past gfn).</summary>
    public int FirstReaching(ulong gfn) => Math.Max(0, UpperBound(gfn) - 1);

    public void Add(MemSlot s)
    {
        _byId.Add(s.Id, s);
        _byGfn.Insert(UpperBound(s.BaseGfn), s);
    }

    public void Remove(MemSlot s)
    {
        _byId.Remove(s.Id);
        _byGfn.RemoveAt(IndexOf(s));
    }

    public void Move(MemSlot s, ulong newBaseGfn)
    {
        _byGfn.RemoveAt(IndexOf(s));
        s.BaseGfn = newBaseGfn;
        _byGfn.Insert(UpperBound(newBaseGfn), s);
    }

    private int IndexOf(MemSlot s)
    {
        int i = UpperBound(s.BaseGfn) - 1;
        while (_byGfn[i] != s)
        {
            i--;
        }
        return i;
    }

    /// <summary>Index of the first slot whose base gfn is greater than gfn.</summary>
    private int UpperBound(ulong gfn)
    {
        int lo = 0, hi = _byGfn.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_byGfn[mid].BaseGfn <= gfn)
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
}

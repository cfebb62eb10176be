using System;
using System.Threading;
using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Index;

/// <summary>
/// Builds the next snapshot of one address space from the published one, copy-on-write: the
/// three indexes' top arrays are copied, the leaves a change touches are copied, the rest shared.
/// Cost per change is O(leaves) for the tops plus one or two 4.7 KB leaves per index, independent
/// of the slot count's constant (no O(slots) copy).
///
/// Protocol (writer lock held): <see cref="Begin"/> once per transaction, then per slot change
/// <see cref="Prepare"/> (the only step that allocates; on failure nothing changed) followed by
/// <see cref="Insert"/>/<see cref="Remove"/>; then <see cref="Finish"/>, publish, grace period,
/// <see cref="AfterGracePeriod"/>. <see cref="Abort"/> undoes an unpublished transaction.
/// </summary>
internal sealed unsafe class SnapshotBuilder
{
    private const int OpsPerChange = 2; // a move or a flags change is a remove plus an insert

    private readonly IndexBuilder _gfn = new(IndexKind.Gfn);
    private readonly IndexBuilder _hva = new(IndexKind.Hva);
    private readonly IndexBuilder _private = new(IndexKind.Private);
    private readonly IndexBuilder[] _all;
    private Snapshot* _next;
    private int _capGfn, _capHva, _capPrivate;

    public SnapshotBuilder()
    {
        _all = new[] { _gfn, _hva, _private };
    }

    public bool Active { get; private set; }

    /// <summary>True once an Insert or Remove was applied since Begin.</summary>
    public bool Dirty { get; private set; }

    public IndexBuilder.LeafSeq PrivateView => _private.View();

    public void Begin(Snapshot* current)
    {
        _gfn.Begin(&current->Gfn);
        _hva.Begin(&current->Hva);
        _private.Begin(&current->Private);
        Active = true;
        Dirty = false;
    }

    /// <summary>Reserves leaves and top room for one more slot change; false (nothing changed) when out of memory.</summary>
    public bool Prepare()
    {
        if (!_gfn.Reserve(OpsPerChange) || !_hva.Reserve(OpsPerChange) || !_private.Reserve(OpsPerChange))
        {
            return false;
        }
        int gfn = _gfn.NrLeaves + OpsPerChange, hva = _hva.NrLeaves + OpsPerChange, priv = _private.NrLeaves + OpsPerChange;
        if (_next != null && gfn <= _capGfn && hva <= _capHva && priv <= _capPrivate)
        {
            return true;
        }
        // Room to spare, so a batch does not reallocate per entry.
        int Grow(int n) => n + n / 4 + 8;
        Snapshot* bigger = Snapshots.Alloc(Grow(gfn), Grow(hva), Grow(priv));
        if (bigger == null)
        {
            return false;
        }
        Snapshots.Free(_next);
        _next = bigger;
        (_capGfn, _capHva, _capPrivate) = (Grow(gfn), Grow(hva), Grow(priv));
        return true;
    }

    public void Insert(in SlotEntry e)
    {
        _gfn.Insert(e);
        _hva.Insert(e);
        if (HasPrivate(e))
        {
            _private.Insert(e);
        }
        Dirty = true;
    }

    public void Remove(in SlotEntry e)
    {
        _gfn.Remove(e);
        _hva.Remove(e);
        if (HasPrivate(e))
        {
            _private.Remove(e);
        }
        Dirty = true;
    }

    /// <summary>Only slots with a private file are in the Private index (KVM_MEM_GUEST_MEMFD / KVM_MEM_PRIVATE, bit 2).</summary>
    private static bool HasPrivate(in SlotEntry e) => (e.KvmFlags & 4) != 0;

    /// <summary>The next snapshot, complete; the caller publishes it.</summary>
    public Snapshot* Finish(uint asId, ulong generation)
    {
        Snapshot* s = _next;
        _next = null;
        _gfn.WriteTo(&s->Gfn);
        _hva.WriteTo(&s->Hva);
        _private.WriteTo(&s->Private);
        s->Count = s->Gfn.Count;
        s->AsId = asId;
        s->Generation = generation;
        Active = false;
        return s;
    }

    /// <summary>Frees the leaves the published change replaced; call only after its grace period.</summary>
    public void AfterGracePeriod()
    {
        foreach (IndexBuilder b in _all)
        {
            foreach (nint leaf in b.Retired)
            {
                NativeAlloc.Free((void*)leaf, Leaf.Bytes);
            }
            b.Retired.Clear();
        }
    }

    /// <summary>Forgets an unpublished transaction (no change was applied, or the VM is going away).</summary>
    public void Abort()
    {
        _gfn.Abort();
        _hva.Abort();
        _private.Abort();
        Active = false;
        Dirty = false;
    }

    /// <summary>Frees everything, including every leaf of <paramref name="current"/> (VM destroy; no reader remains).</summary>
    public void Destroy(Snapshot* current)
    {
        Abort();
        foreach (IndexBuilder b in _all)
        {
            b.FreeSpares();
        }
        Snapshots.Free(_next);
        _next = null;
        if (current != null)
        {
            IndexBuilder.FreeLeaves(&current->Gfn);
            IndexBuilder.FreeLeaves(&current->Hva);
            IndexBuilder.FreeLeaves(&current->Private);
        }
    }

    /// <summary>Marks a snapshot that is about to be replaced (KVM sets the bit on the old set before the swap).</summary>
    public static void MarkUpdateInProgress(Snapshot* s)
    {
        Volatile.Write(ref s->Generation, s->Generation | Snapshot.GenUpdateInProgress);
    }
}

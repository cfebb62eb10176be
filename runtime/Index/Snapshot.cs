using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Memory;

namespace Hvrt.Index;

/// <summary>
/// An immutable slot set of one address space, as readers see it: a 256-byte header with three
/// indexes (by gfn for translation, by host address and by private-file page for the reverse
/// queries), whose top arrays follow the header in the same block and whose leaves are shared
/// with the snapshots before and after it. Built by the writer (<see cref="SnapshotBuilder"/>),
/// published with a release store, read without locks, freed after a grace period.
/// Frozen layout (struct hvrt_snapshot in hvrt_inline.h); a change bumps HVRT_INLINE_LAYOUT.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
internal unsafe struct Snapshot
{
    /// <summary>Set on a snapshot's generation while its successor is being published (KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS).</summary>
    public const ulong GenUpdateInProgress = 1UL << 63;

    public ulong Generation;
    public uint Count;
    public uint AsId;
    public nuint Bytes;
    private ulong _pad0, _pad1, _pad2, _pad3, _pad4;
    public IndexTop Gfn;
    public IndexTop Hva;
    public IndexTop Private;

    /// <summary>Room for the given number of leaves in each index; null when out of memory.</summary>
    public static Snapshot* Alloc(int gfnLeaves, int hvaLeaves, int privateLeaves)
    {
        nuint bytes = (nuint)sizeof(Snapshot) + IndexTop.ArrayBytes(gfnLeaves) + IndexTop.ArrayBytes(hvaLeaves) + IndexTop.ArrayBytes(privateLeaves);
        var s = (Snapshot*)NativeAlloc.Alloc(bytes);
        if (s == null)
        {
            return null;
        }
        s->Bytes = bytes;
        byte* cursor = (byte*)(s + 1);
        s->Gfn.Carve(ref cursor, gfnLeaves);
        s->Hva.Carve(ref cursor, hvaLeaves);
        s->Private.Carve(ref cursor, privateLeaves);
        return s;
    }

    /// <summary>Frees the block (not the leaves, which other snapshots may share).</summary>
    public static void Free(Snapshot* s)
    {
        if (s != null)
        {
            NativeAlloc.Free(s, s->Bytes);
        }
    }

    public static IndexTop* Top(Snapshot* s, IndexKind kind) => kind switch
    {
        IndexKind.Gfn => &s->Gfn,
        IndexKind.Hva => &s->Hva,
        _ => &s->Private,
    };

    /// <summary>The entry whose range holds gfn, or null. Pure reads; no allocation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Find(Snapshot* s, ulong gfn)
    {
        nuint leaves = s->Gfn.NrLeaves;
        if (leaves == 0)
        {
            return null;
        }
        Leaf* leaf = s->Gfn.Leaves[LastAtMost(s->Gfn.First0, leaves, gfn)];
        SlotEntry* e = Leaf.Entry(leaf, LastAtMost(leaf->Keys, leaf->Count, gfn));
        return gfn - e->BaseGfn < e->NPages ? e : null;
    }

    /// <summary>
    /// Index of the last key &lt;= x in sorted keys[0..n), or 0 when there is none (the caller's
    /// range check then fails). Branch-free: the loop count depends on n only, so random keys cost
    /// no mispredictions. hvrt_inline.h has the same loop; tests keep them in step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint LastAtMost(ulong* keys, nuint n, ulong x)
    {
        nuint lo = 0;
        while (n > 1)
        {
            nuint half = n >> 1;
            // RyuJIT does not turn a ternary inside a loop into cmov, so select by mask: the
            // compare becomes setcc, and no branch depends on the key.
            nuint take = (nuint)(-(nint)Unsafe.BitCast<bool, byte>(keys[lo + half] <= x));
            lo += half & take;
            n -= half;
        }
        return lo;
    }

    /// <summary>
    /// The snapshot's generation, read once per answer: bit 63 may appear on it at any time (the
    /// writer marks a snapshot it is replacing), so every field of one answer and the cache check
    /// use the same value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong GenerationOf(Snapshot* s) => Volatile.Read(ref s->Generation);

    /// <summary>Fills t for gfn inside e (hvrt_translation_fill in hvrt_inline.h is the same).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill(SlotEntry* e, ulong gfn, ulong generation, HvrtTranslation* t)
    {
        ulong offset = gfn - e->BaseGfn;
        uint f = e->TrFlags;
        t->Slot = e->Slot;
        t->Flags = f;
        t->BaseGfn = e->BaseGfn;
        t->NPages = e->NPages;
        t->Hva = e->Hva + (offset << 12);
        // Branch-free: the page inside the private file, or 0 without one (RyuJIT keeps ternaries
        // in loops as branches, and Fill is inlined into the batch loop).
        t->PrivatePgoff = (e->PrivatePgoff + offset) & (0 - (ulong)((f >> 3) & 1));
        t->PrivateFd = e->PrivateFd;
        t->Result = 0;
        t->RunPages = e->NPages - offset;
        t->Generation = generation;
    }
}

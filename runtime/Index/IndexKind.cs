using System.Runtime.CompilerServices;
using Hvrt.Layout;

namespace Hvrt.Index;

/// <summary>
/// The three orders a snapshot keeps its slots in. Every key is three 64-bit components compared
/// in order; the first one is also what <see cref="Leaf.Keys"/> holds.
/// - Gfn: (base_gfn) — slots of an address space never overlap, so this is a plain search tree.
/// - Hva: (userspace_addr, slot) — host ranges may overlap, so leaves carry their max end.
/// - Private: (st_ino, st_dev, pgoff) of slots with a private file — page ranges of one file are
///   disjoint (the binding rule), so a query walks forward from the predecessor.
/// </summary>
internal enum IndexKind
{
    Gfn = 0,
    Hva = 1,
    Private = 2,
}

internal readonly struct IndexKey
{
    public readonly ulong K0, K1, K2;

    public IndexKey(ulong k0, ulong k1, ulong k2)
    {
        K0 = k0;
        K1 = k1;
        K2 = k2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CompareTo(in IndexKey o)
    {
        if (K0 != o.K0)
        {
            return K0 < o.K0 ? -1 : 1;
        }
        if (K1 != o.K1)
        {
            return K1 < o.K1 ? -1 : 1;
        }
        return K2 == o.K2 ? 0 : K2 < o.K2 ? -1 : 1;
    }
}

internal static class IndexKeys
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IndexKey Of(IndexKind kind, in SlotEntry e) => kind switch
    {
        IndexKind.Gfn => new IndexKey(e.BaseGfn, 0, 0),
        IndexKind.Hva => new IndexKey(e.Hva, e.Slot, 0),
        _ => new IndexKey(e.FileIno, e.FileDev, e.PrivatePgoff),
    };

    /// <summary>The first key of leaf i of an index (its three components).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe IndexKey FirstOf(IndexTop* top, nuint i) => new(top->First0[i], top->First1[i], top->First2[i]);

    /// <summary>Exclusive end of the entry in the index's units (gfn, host byte, file page).</summary>
    public static ulong EndOf(IndexKind kind, in SlotEntry e) => kind switch
    {
        IndexKind.Gfn => e.BaseGfn + e.NPages,
        IndexKind.Hva => e.Hva + (e.NPages << 12),
        _ => e.PrivatePgoff + e.NPages,
    };
}

using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Index;

/// <summary>A snapshot's block (<see cref="Snapshot"/>: the header, then the top arrays of its three indexes).</summary>
internal static unsafe class Snapshots
{
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
}

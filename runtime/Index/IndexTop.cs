using System.Runtime.InteropServices;

namespace Hvrt.Index;

/// <summary>
/// The top of one index inside a snapshot: for each leaf, in key order, its first key (three
/// components), its max end and the leaf pointer. The arrays live in the snapshot's block and are
/// rebuilt with every change (a few KB at 32K slots); the leaves are shared. Frozen layout
/// (struct hvrt_index in hvrt_inline.h).
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct IndexTop
{
    public uint NrLeaves;

    /// <summary>Entries in all leaves together.</summary>
    public uint Count;
    public ulong* First0;
    public ulong* First1;
    public ulong* First2;
    public ulong* MaxEnd;
    public Leaf** Leaves;

    public static nuint ArrayBytes(int nrLeaves) => (nuint)nrLeaves * 40;

    public readonly IndexKey FirstKey(nuint i) => new(First0[i], First1[i], First2[i]);

    /// <summary>Points the arrays into <paramref name="cursor"/> (advanced past them), room for nrLeaves leaves.</summary>
    public void Carve(ref byte* cursor, int nrLeaves)
    {
        nuint n = (nuint)nrLeaves;
        First0 = (ulong*)cursor;
        First1 = First0 + n;
        First2 = First1 + n;
        MaxEnd = First2 + n;
        Leaves = (Leaf**)(MaxEnd + n);
        cursor = (byte*)(Leaves + n);
    }
}

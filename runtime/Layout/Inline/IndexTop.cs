using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>
/// The top of one index inside a snapshot: for each leaf, in key order, its first key (three
/// components), its max end, the leaf pointer and the running max of the max ends. The arrays live in the snapshot's block and are
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

    /// <summary>
    /// MaxEndPrefix[i] = max(MaxEnd[0..i]): rises with i, so a binary search finds the first leaf
    /// that can reach past a query's start, and an interval query skips every leaf before it.
    /// </summary>
    public ulong* MaxEndPrefix;

    public static nuint ArrayBytes(int nrLeaves) => (nuint)nrLeaves * 48;

    /// <summary>Points the arrays into <paramref name="cursor"/> (advanced past them), room for nrLeaves leaves.</summary>
    public void Carve(ref byte* cursor, int nrLeaves)
    {
        nuint n = (nuint)nrLeaves;
        First0 = (ulong*)cursor;
        First1 = First0 + n;
        First2 = First1 + n;
        MaxEnd = First2 + n;
        Leaves = (Leaf**)(MaxEnd + n);
        MaxEndPrefix = (ulong*)(Leaves + n);
        cursor = (byte*)(MaxEndPrefix + n);
    }
}

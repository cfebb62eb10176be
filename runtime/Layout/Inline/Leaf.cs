using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>
/// A leaf of an index: up to <see cref="Cap"/> entries in key order, with their first key
/// components in a separate array so a search touches 8 bytes per probe, not 64. Immutable once
/// published; a change copies the one leaf it touches (copy-on-write), so snapshots share all
/// other leaves. Frozen layout (struct hvrt_leaf in hvrt_inline.h).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Leaf
{
    /// <summary>
    /// 64 entries: a change copies 4.7 KB per index, and 32,764 slots need ~512-1024 leaves,
    /// so rebuilding the top arrays stays in the tens of microseconds.
    /// </summary>
    public const int Cap = 64;

    public uint Count;
    public uint Reserved;

    /// <summary>The largest end (exclusive, in the index's units) of any entry; interval queries skip leaves by it.</summary>
    public ulong MaxEnd;
    private fixed ulong _pad[6];

    /// <summary>Keys[i] = first key component of Entries[i]; unused tail = ulong.MaxValue.</summary>
    public fixed ulong Keys[Cap];
    public LeafEntries Entries;

    public static nuint Bytes => (nuint)sizeof(Leaf);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Entry(Leaf* leaf, nuint i) => (SlotEntry*)&leaf->Entries + i;
}

[InlineArray(Leaf.Cap)]
internal struct LeafEntries
{
    private SlotEntry _e;
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Hvrt.Layout;

/// <summary>
/// An immutable slot set of one address space, as readers see it: a 256-byte header with three
/// indexes (by gfn for translation, by host address and by private-file page for the reverse
/// queries), whose top arrays follow the header in the same block and whose leaves are shared
/// with the snapshots before and after it. Built by the writer (Index/SnapshotBuilder),
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

    /// <summary>
    /// The snapshot's generation, read once per answer: bit 63 may appear on it at any time (the
    /// writer marks a snapshot it is replacing), so every field of one answer and the cache check
    /// use the same value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong GenerationOf(Snapshot* s) => Volatile.Read(ref s->Generation);
}

using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>
/// One slot as readers see it, 64 bytes (one cache line). Frozen layout: hvrt_inline.h declares
/// it as struct hvrt_slot_entry, and the same record is stored in all three indexes of a snapshot.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct SlotEntry
{
    public ulong BaseGfn;
    public ulong NPages;
    public ulong Hva;
    public ulong PrivatePgoff;
    public int PrivateFd;
    public uint KvmFlags;

    /// <summary>as_id &lt;&lt; 16 | id, as KVM numbers slots.</summary>
    public uint Slot;

    /// <summary>hvrt_translation.flags of the slot (HVRT_TR_*), computed once by the writer so a lookup copies it.</summary>
    public uint TrFlags;

    /// <summary>Identity of the private file (st_dev, st_ino), 0 without one; keys the private index.</summary>
    public ulong FileDev;
    public ulong FileIno;

    public readonly ulong EndGfn => BaseGfn + NPages;
}

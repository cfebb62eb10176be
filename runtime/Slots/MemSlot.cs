using Hvrt.Layout;

namespace Hvrt.Slots;

/// <summary>The writer's record of one accepted slot (KVM's struct kvm_memory_slot, generic part).</summary>
internal sealed class MemSlot
{
    public required uint AsId { get; init; }
    public required ushort Id { get; init; }
    public required ulong BaseGfn { get; set; }
    public required ulong NPages { get; init; }
    public required ulong Hva { get; init; }
    public required uint Flags { get; set; }

    /// <summary>hvrt's own duplicate of the private file, or -1.</summary>
    public int PrivateFd { get; init; } = -1;

    /// <summary>First page of the slot inside the private file (guest_memfd_offset >> 12).</summary>
    public ulong PrivatePgoff { get; init; }

    /// <summary>Identity of the private file (st_dev, st_ino), for the binding check.</summary>
    public (ulong Dev, ulong Ino) PrivateFile { get; init; }

    public bool HasPrivate => (Flags & SlotFlags.Private) != 0;

    public ulong EndGfn => BaseGfn + NPages;

    public uint KvmSlot => AsId << 16 | Id;

    /// <summary>The slot as snapshots store it.</summary>
    public SlotEntry ToEntry() => new()
    {
        BaseGfn = BaseGfn,
        NPages = NPages,
        Hva = Hva,
        PrivatePgoff = PrivatePgoff,
        PrivateFd = PrivateFd,
        KvmFlags = Flags,
        Slot = KvmSlot,
        TrFlags = HvrtTranslation.FlagsOf(Flags),
        FileDev = PrivateFile.Dev,
        FileIno = PrivateFile.Ino,
    };
}

using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct hvrt_translation, 64 bytes. <see cref="Result"/> (offset 44) was `reserved`.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct HvrtTranslation
{
    public uint Slot;
    public uint Flags;
    public ulong BaseGfn;
    public ulong NPages;
    public ulong Hva;
    public ulong PrivatePgoff;
    public int PrivateFd;

    /// <summary>0 for a hit; -ENOENT for a miss (only the batch calls report misses here).</summary>
    public int Result;
    public ulong RunPages;
    public ulong Generation;

    public const uint FlagPrivate = 0x1;
    public const uint FlagReadonly = 0x2;
    public const uint FlagLogDirty = 0x4;
    public const uint FlagHasPrivate = 0x8;

    /// <summary>The flags a translation reports for a slot with these KVM_MEM_* flags.</summary>
    public static uint FlagsOf(uint kvmFlags)
        => ((kvmFlags & 2) != 0 ? FlagReadonly : 0)
         | ((kvmFlags & 1) != 0 ? FlagLogDirty : 0)
         | ((kvmFlags & 4) != 0 ? FlagHasPrivate : 0);
}

using System.Runtime.InteropServices;

namespace Hvrt.Abi;

/// <summary>struct kvm_userspace_memory_region (KVM_SET_USER_MEMORY_REGION), 32 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
}

/// <summary>
/// struct kvm_userspace_memory_region2 (mainline, 160 bytes). The 2022 proposal's
/// kvm_userspace_memory_region_ext has the same layout: private_offset at 32, private_fd at 40.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 160)]
public struct KvmUserspaceMemoryRegion2
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
    public ulong GuestMemfdOffset;
    public uint GuestMemfd;
    public uint Pad1;
    // pad2[14] follows; KVM does not check it, nor does hvrt.
}

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

/// <summary>struct hvrt_vm_config, 64 bytes; starts with its own size so it can grow.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct HvrtVmConfig
{
    public uint Size;
    public uint VmType;
    public uint NrAddressSpaces;
    public uint MaxUserSlots;
    public uint MaxGpaBits;
    public uint Flags;
    public ulong UserAddrLimit;
    // reserved[4] (u64) follows: must be zero.
}

/// <summary>struct kvm_memory_attributes (KVM_SET_MEMORY_ATTRIBUTES), 32 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct KvmMemoryAttributes
{
    public ulong Address;
    public ulong Size;
    public ulong Attributes;
    public ulong Flags;
}

using System.Runtime.InteropServices;

namespace Hvrt.Layout;

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

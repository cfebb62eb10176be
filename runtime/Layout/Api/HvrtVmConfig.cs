using System.Runtime.InteropServices;

namespace Hvrt.Layout;

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
    /// <summary>HVRT_KVM_PROFILE_*: whose KVM rules the VM follows; 0 = this host's KVM.</summary>
    public uint KvmProfile;
    // reserved32 (u32) and reserved[3] (u64) follow: must be zero.
}

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
    // reserved[4] (u64) follows: must be zero.
}

using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct hvrt_kvm_caps (hvrt.h), 72 bytes; starts with its own size so it can grow.</summary>
[StructLayout(LayoutKind.Sequential, Size = 72)]
public struct HvrtKvmCaps
{
    public uint Size;
    public uint Flags;
    public ulong GuestMemfdFlags;
    public ulong MemoryAttributes;
    public ulong HypercallExits;
    public uint NrMemslots;
    public uint NrAddressSpaces;
    // reserved[4] (u64) follows: hvrt writes zeros.

    public const uint UserMemory2 = 1u << 0;
    public const uint GuestMemfd = 1u << 1;
    public const uint MemoryAttributesPrivate = 1u << 2;
    public const uint ExitHypercall = 1u << 3;
    public const uint ManualDirtyLog = 1u << 4;
    public const uint ReadonlyMem = 1u << 5;
    public const uint MemoryFaultInfo = 1u << 6;
}

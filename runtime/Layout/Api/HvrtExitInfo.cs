using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct hvrt_exit_info (hvrt.h "vCPU run loop"): what the last handle_exit decoded, 64 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct HvrtExitInfo
{
    // hvrt_vcpu_handle_exit return values
    public const int Unhandled = 0;
    public const int Resume = 1;

    // kind
    public const uint KindOther = 0;
    public const uint KindMemoryFault = 1;
    public const uint KindMapGpaRange = 2;
    public const uint KindMmio = 3;
    public const uint KindInterrupted = 4;

    // mmio_class
    public const uint MmioDevice = 1;
    public const uint MmioReadonlyWrite = 2;
    public const uint MmioPrivate = 3;
    public const uint MmioInSlot = 4;

    public uint Kind;
    public uint ExitReason;
    public ulong Gpa;
    public ulong Size;
    public uint ToPrivate;
    public uint MmioClass;
    public uint IsWrite;
    public uint Slot;
    public long Result;
    public ulong Reserved0;
    public ulong Reserved1;
}

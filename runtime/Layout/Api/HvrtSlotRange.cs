using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct hvrt_slot_range, 32 bytes: one slot and the gfns of it a reverse query hit.</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct HvrtSlotRange
{
    public uint Slot;
    public uint Flags;
    public ulong GfnStart;
    public ulong GfnEnd;
    public ulong Reserved;
}

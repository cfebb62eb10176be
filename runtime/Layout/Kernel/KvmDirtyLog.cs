using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct kvm_dirty_log, 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct KvmDirtyLog
{
    public uint Slot;
    public uint Padding;
    public ulong* Bitmap;
}

/// <summary>struct kvm_clear_dirty_log, 24 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 24)]
internal unsafe struct KvmClearDirtyLog
{
    public uint Slot;
    public uint NumPages;
    public ulong FirstPage;
    public ulong* Bitmap;
}

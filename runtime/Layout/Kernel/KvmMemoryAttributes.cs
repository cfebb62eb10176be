using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct kvm_memory_attributes (KVM_SET_MEMORY_ATTRIBUTES), 32 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct KvmMemoryAttributes
{
    public ulong Address;
    public ulong Size;
    public ulong Attributes;
    public ulong Flags;
}

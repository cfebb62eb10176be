using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct kvm_enable_cap (KVM_ENABLE_CAP), 104 bytes: cap, flags, args[4], pad[64].</summary>
[StructLayout(LayoutKind.Sequential, Size = 104)]
internal struct KvmEnableCap
{
    public uint Cap;
    public uint Flags;
    public ulong Arg0;
    // args[1..3] and pad[64] follow, zero.
}

/// <summary>struct kvm_create_guest_memfd (KVM_CREATE_GUEST_MEMFD), 64 bytes: size, flags, reserved[6].</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct KvmCreateGuestMemfd
{
    public ulong Size;
    public ulong Flags;
    // reserved[6] follows, zero.
}

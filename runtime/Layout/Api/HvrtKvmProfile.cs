using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>struct hvrt_kvm_profile (hvrt.h), 48 bytes; starts with its own size so it can grow.</summary>
[StructLayout(LayoutKind.Sequential, Size = 48)]
public struct HvrtKvmProfile
{
    public uint Size;
    /// <summary>HVRT_KVM_PROFILE_* (never 0: the kernel version whose rules apply).</summary>
    public uint Profile;
    /// <summary>HVRT_PROFILE_FROM_*: where the profile came from.</summary>
    public uint Source;
    /// <summary>Bit t set: KVM_CREATE_VM takes type t (KVM_CAP_VM_TYPES where probed).</summary>
    public uint VmTypes;
    /// <summary>HVRT_PROFILE_F_*: what the profile offers for the VM's type.</summary>
    public ulong Features;
    // reserved[3] (u64) follows: hvrt writes zeros.

    public const uint FromConfig = 1;
    public const uint FromProbe = 2;
    public const uint FromNoKvm = 3;

    public const ulong FeatureRegion2 = 1ul << 0;
    public const ulong FeatureGuestMemfd = 1ul << 1;
    public const ulong FeaturePrivateSlots = 1ul << 2;
    public const ulong FeatureMemoryAttributes = 1ul << 3;
    public const ulong FeaturePrivateAttribute = 1ul << 4;
    public const ulong FeatureReadonly = 1ul << 5;
}

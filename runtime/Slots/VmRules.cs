using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Slots;

/// <summary>
/// The memslot rules that depend on the kernel profile, the KVM VM type and the host, resolved
/// once at VM creation. x86 facts (arch/x86/include/asm/kvm_host.h): private memory for
/// SW_PROTECTED, SNP and TDX (one address space: no SMM); protected state (no READONLY slots)
/// for SEV-ES, SNP and TDX; guest_memfd slots for private-memory types, and from 6.18 for every
/// type (<see cref="KernelProfile"/>).
/// </summary>
internal sealed class VmRules
{
    /// <summary>KVM_MEM_MAX_NR_PAGES: user slots are limited to 2^31 - 1 pages.</summary>
    public const ulong MaxSlotPages = (1UL << 31) - 1;

    public KernelProfile Profile { get; private init; } = null!;
    public uint VmType { get; private init; }
    public uint NrAddressSpaces { get; private init; }
    public uint MaxUserSlots { get; private init; }
    public bool AllowsReadonly { get; private init; }
    public bool AllowsGuestMemfd { get; private init; }
    public bool TakesPrivateAttribute { get; private init; }
    public ulong UserAddrLimit { get; private init; }
    public ulong MaxGfn { get; private init; }

    /// <summary>
    /// Validates a config (null = defaults) against the profile it resolved to and resolves it;
    /// returns 0 or -errno. A VM type the profile's KVM does not take is -EINVAL, as
    /// KVM_CREATE_VM answers it (kvm_arch_init_vm).
    /// </summary>
    public static int Resolve(HvrtVmConfig? cfg, KernelProfile profile, out VmRules? rules)
    {
        rules = null;
        HvrtVmConfig c = cfg ?? default;
        if (c.VmType >= 32 || (profile.VmTypes & (1u << (int)c.VmType)) == 0 || c.Flags != 0)
        {
            return -Errno.EINVAL;
        }
        uint typeAddressSpaces = profile.AddressSpaces(c.VmType);
        if (c.NrAddressSpaces > typeAddressSpaces || c.MaxUserSlots > profile.NrMemslots)
        {
            return -Errno.EINVAL;
        }
        if (c.MaxGpaBits != 0 && (c.MaxGpaBits < 13 || c.MaxGpaBits > 64))
        {
            return -Errno.EINVAL;
        }
        if (c.UserAddrLimit != 0 && (c.UserAddrLimit & 4095) != 0)
        {
            return -Errno.EINVAL;
        }
        uint gpaBits = c.MaxGpaBits != 0 ? c.MaxGpaBits : HostLimits.MaxGpaBits;
        rules = new VmRules
        {
            Profile = profile,
            VmType = c.VmType,
            NrAddressSpaces = c.NrAddressSpaces != 0 ? c.NrAddressSpaces : typeAddressSpaces,
            MaxUserSlots = c.MaxUserSlots != 0 ? c.MaxUserSlots : profile.NrMemslots,
            AllowsReadonly = profile.AllowsReadonly(c.VmType),
            AllowsGuestMemfd = profile.AllowsGuestMemfd(c.VmType),
            TakesPrivateAttribute = profile.HasPrivateAttribute(c.VmType),
            UserAddrLimit = c.UserAddrLimit != 0 ? c.UserAddrLimit : HostLimits.UserAddrLimit,
            MaxGfn = gpaBits >= 64 ? ulong.MaxValue >> 12 : (1UL << (int)(gpaBits - 12)) - 1,
        };
        return 0;
    }
}

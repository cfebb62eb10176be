using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Slots;

/// <summary>
/// The memslot rules that depend on the KVM VM type and the host, resolved once at VM creation.
/// x86 facts (arch/x86/include/asm/kvm_host.h): private memory for SW_PROTECTED, SNP and TDX
/// (one address space: no SMM); protected state (no READONLY slots) for SEV-ES, SNP and TDX;
/// guest_memfd for private-memory types and the default type (v6.18).
/// </summary>
internal sealed class VmRules
{
    public const uint DefaultVm = 0;
    public const uint SwProtectedVm = 1;
    public const uint SevVm = 2;
    public const uint SevEsVm = 3;
    public const uint SnpVm = 4;
    public const uint TdxVm = 5;

    /// <summary>KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS on x86.</summary>
    public const uint X86UserSlots = 32764;

    /// <summary>KVM_MEM_MAX_NR_PAGES: user slots are limited to 2^31 - 1 pages.</summary>
    public const ulong MaxSlotPages = (1UL << 31) - 1;

    public uint VmType { get; private init; }
    public uint NrAddressSpaces { get; private init; }
    public uint MaxUserSlots { get; private init; }
    public bool AllowsReadonly { get; private init; }
    public bool AllowsGuestMemfd { get; private init; }
    public bool HasPrivateMem { get; private init; }
    public ulong UserAddrLimit { get; private init; }
    public ulong MaxGfn { get; private init; }

    /// <summary>Validates a config (null = defaults) and resolves it; returns 0 or -errno.</summary>
    public static int Resolve(HvrtVmConfig? cfg, out VmRules? rules)
    {
        rules = null;
        HvrtVmConfig c = cfg ?? default;
        if (c.VmType > TdxVm || c.Flags != 0)
        {
            return -Errno.EINVAL;
        }
        bool privateMem = c.VmType is SwProtectedVm or SnpVm or TdxVm;
        bool protectedState = c.VmType is SevEsVm or SnpVm or TdxVm;
        uint typeAddressSpaces = privateMem ? 1u : 2u;
        if (c.NrAddressSpaces > typeAddressSpaces || c.MaxUserSlots > X86UserSlots)
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
            VmType = c.VmType,
            NrAddressSpaces = c.NrAddressSpaces != 0 ? c.NrAddressSpaces : typeAddressSpaces,
            MaxUserSlots = c.MaxUserSlots != 0 ? c.MaxUserSlots : X86UserSlots,
            AllowsReadonly = !protectedState,
            AllowsGuestMemfd = privateMem || c.VmType == DefaultVm,
            HasPrivateMem = privateMem,
            UserAddrLimit = c.UserAddrLimit != 0 ? c.UserAddrLimit : HostLimits.UserAddrLimit,
            MaxGfn = gpaBits >= 64 ? ulong.MaxValue >> 12 : (1UL << (int)(gpaBits - 12)) - 1,
        };
        return 0;
    }
}

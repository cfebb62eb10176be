using System.Runtime.InteropServices;
using Hvrt.Layout;

namespace Hvrt.Slots;

/// <summary>
/// Whose KVM an unbound VM imitates: the rules that changed between kernel versions (x86-64;
/// hvrt.h "Kernel profiles" has the table with its sources, docs/kvm-profiles.md the evidence).
/// A named profile is that version's source with every option that changes the rules enabled
/// (6.8 with CONFIG_KVM_SW_PROTECTED_VM, 6.12 with it and SEV); a probed one is the named profile
/// whose rules this host's KVM follows, restricted to the VM types and limits the host offers.
/// </summary>
internal sealed record KernelProfile
{
    /// <summary>HVRT_KVM_PROFILE_*: the kernel version as (major &lt;&lt; 8) | minor.</summary>
    public const uint V6_1 = 0x0601;
    public const uint V6_8 = 0x0608;
    public const uint V6_12 = 0x060c;
    public const uint V6_18 = 0x0612;
    public const uint Newest = V6_18;

    /// <summary>x86 VM types (arch/x86/include/uapi/asm/kvm.h).</summary>
    public const uint DefaultVm = 0, SwProtectedVm = 1, SevVm = 2, SevEsVm = 3, SnpVm = 4, TdxVm = 5;

    /// <summary>KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS on x86, every version modelled.</summary>
    public const uint X86UserSlots = 32764;

    public uint Version { get; init; }

    /// <summary>HVRT_PROFILE_FROM_*.</summary>
    public uint Source { get; init; }

    /// <summary>Bit t: KVM_CREATE_VM takes type t (kvm_is_vm_type_supported; KVM_CAP_VM_TYPES when probed).</summary>
    public uint VmTypes { get; init; }

    /// <summary>KVM_SET_USER_MEMORY_REGION2 exists (6.8, the guest_memfd series); before, -ENOTTY.</summary>
    public bool HasRegion2 => Version >= V6_8;

    /// <summary>
    /// KVM_SET_MEMORY_ATTRIBUTES exists (6.8 with CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES, which
    /// SW_PROTECTED, SEV or TDX select); otherwise -ENOTTY. Probed: KVM_CAP_MEMORY_ATTRIBUTES on
    /// /dev/kvm is not 0 (kvm_supported_mem_attributes(NULL) is PRIVATE wherever the ioctl exists).
    /// </summary>
    public bool HasMemoryAttributes { get; init; }

    /// <summary>
    /// guest_memfd exists (6.8 with CONFIG_KVM_PRIVATE_MEM; 6.18 with CONFIG_KVM_GUEST_MEMFD);
    /// without it no type takes a GUEST_MEMFD slot. Probed: KVM_CAP_GUEST_MEMFD on /dev/kvm.
    /// </summary>
    public bool HasGuestMemfd { get; init; }

    /// <summary>
    /// check_memory_region_flags takes KVM_MEM_GUEST_MEMFD on every VM type: 6.18's d1e54dd08f16
    /// ("KVM: x86: Enable KVM_GUEST_MEMFD for all 64-bit builds") replaced the
    /// kvm_arch_has_private_mem(kvm) gate of 6.8-6.17 with IS_ENABLED(CONFIG_KVM_GUEST_MEMFD).
    /// </summary>
    public bool GuestMemfdOnEveryType => Version >= V6_18;

    /// <summary>
    /// READONLY needs a VM without protected state (kvm_arch_has_readonly_mem, 66155de93bcf, 6.11);
    /// 6.8's types (default, SW_PROTECTED) have none, so the rule reads the same there.
    /// </summary>
    public bool ReadonlyNeedsUnprotectedState => Version >= V6_8;

    /// <summary>
    /// kvm_gmem_bind checks offset + size against the file's size as unsigned (eba85fee7fc6,
    /// 7.2): an end at or past 2^63 is -EINVAL. Before it the sum was a signed loff_t that wrapped
    /// negative and passed. Debian's 6.12 stable kernel has it (measured in the lab); probed, hvrt
    /// asks the host's KVM (a bind whose end is 2^63).
    /// </summary>
    public bool BindEndUnsigned { get; init; }

    /// <summary>
    /// The errno of binding guest_memfd pages another slot already binds: -EINVAL, or -EEXIST
    /// (7ea987a90585, 7.2; Debian's 6.12 stable kernel has it, measured). Probed, hvrt binds the
    /// same page twice on a VM of the type.
    /// </summary>
    public int RebindErrno { get; init; } = -Errno.EINVAL;

    /// <summary>User memslots per address space (KVM_CAP_NR_MEMSLOTS): 32764 in every version, or the host's.</summary>
    public uint NrMemslots { get; init; } = X86UserSlots;

    /// <summary>Address spaces by type when probed (KVM_CAP_MULTI_ADDRESS_SPACE on a VM of that type); 0: the type's own.</summary>
    public uint ProbedAddressSpaces { get; init; }

    /// <summary>The named profile, or null for a number hvrt does not know.</summary>
    public static KernelProfile? Named(uint version, uint source = HvrtKvmProfile.FromConfig) => version switch
    {
        V6_1 => new KernelProfile { Version = V6_1, Source = source, VmTypes = 1u << (int)DefaultVm },
        V6_8 => Full(V6_8, source, TypesUpTo(SwProtectedVm)),
        // SEV and SEV-ES types arrived in 6.10, SNP in 6.11, TDX in 6.16.
        // As Debian's 6.12 stable kernel answers (the lab): 7.2's bind fixes are backported there.
        V6_12 => Full(V6_12, source, TypesUpTo(SnpVm)) with { BindEndUnsigned = true, RebindErrno = -Errno.EEXIST },
        V6_18 => Full(V6_18, source, TypesUpTo(TdxVm)),
        _ => null,
    };

    /// <summary>A profile with guest_memfd and memory attributes (6.8 and later, every option on).</summary>
    private static KernelProfile Full(uint version, uint source, uint vmTypes) => new()
    {
        Version = version,
        Source = source,
        VmTypes = vmTypes,
        HasMemoryAttributes = true,
        HasGuestMemfd = true,
    };

    /// <summary>
    /// This profile as a host's KVM has it: its VM types, memslots and address spaces, and whether
    /// its build has guest_memfd and memory attributes (a kernel may be built without them).
    /// </summary>
    public KernelProfile OnHost(uint vmTypes, uint nrMemslots, uint addressSpaces, bool guestMemfd, bool memoryAttributes) => this with
    {
        Source = HvrtKvmProfile.FromProbe,
        VmTypes = vmTypes,
        NrMemslots = nrMemslots,
        ProbedAddressSpaces = addressSpaces,
        HasGuestMemfd = HasGuestMemfd && guestMemfd,
        HasMemoryAttributes = HasMemoryAttributes && memoryAttributes,
    };

    /// <summary>The type's private memory (kvm_arch_has_private_mem: SW_PROTECTED, SNP, TDX).</summary>
    public static bool HasPrivateMem(uint vmType) => vmType is SwProtectedVm or SnpVm or TdxVm;

    /// <summary>The type's protected state (SEV-ES, SNP, TDX: no READONLY slots from 6.11).</summary>
    public static bool HasProtectedState(uint vmType) => vmType is SevEsVm or SnpVm or TdxVm;

    /// <summary>Whether a KVM_MEM_GUEST_MEMFD slot is valid on a VM of this type.</summary>
    public bool AllowsGuestMemfd(uint vmType) => HasGuestMemfd && (GuestMemfdOnEveryType || HasPrivateMem(vmType));

    /// <summary>Whether a READONLY slot (without GUEST_MEMFD) is valid on a VM of this type.</summary>
    public bool AllowsReadonly(uint vmType) => !ReadonlyNeedsUnprotectedState || !HasProtectedState(vmType);

    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE on a VM of this type (kvm_supported_mem_attributes).</summary>
    public bool HasPrivateAttribute(uint vmType) => HasMemoryAttributes && HasPrivateMem(vmType);

    /// <summary>The type's address spaces: 1 with private memory (no SMM; 6.8's kvm_arch_nr_memslot_as_ids), else 2.</summary>
    public uint AddressSpaces(uint vmType) =>
        ProbedAddressSpaces != 0 ? ProbedAddressSpaces : Version >= V6_8 && HasPrivateMem(vmType) ? 1u : 2u;

    /// <summary>The ABI view for a VM of the given type.</summary>
    public HvrtKvmProfile ToAbi(uint vmType) => new()
    {
        Size = (uint)Marshal.SizeOf<HvrtKvmProfile>(),
        Profile = Version,
        Source = Source,
        VmTypes = VmTypes,
        Features = (HasRegion2 ? HvrtKvmProfile.FeatureRegion2 : 0)
                 | (HasGuestMemfd ? HvrtKvmProfile.FeatureGuestMemfd : 0)
                 | (AllowsGuestMemfd(vmType) ? HvrtKvmProfile.FeaturePrivateSlots : 0)
                 | (HasMemoryAttributes ? HvrtKvmProfile.FeatureMemoryAttributes : 0)
                 | (HasPrivateAttribute(vmType) ? HvrtKvmProfile.FeaturePrivateAttribute : 0)
                 | (AllowsReadonly(vmType) ? HvrtKvmProfile.FeatureReadonly : 0),
    };

    private static uint TypesUpTo(uint last) => (1u << (int)(last + 1)) - 1;
}

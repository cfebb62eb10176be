namespace Hvrt.Kvm;

/// <summary>
/// KVM's ioctl, capability, exit and hypercall numbers (kvm-abi.md §1.3, §6, §10), in one place
/// for every part that talks to a real KVM (binding, dirty log, run loop).
/// </summary>
internal static class KvmApi
{
    // ioctls (KVMIO 0xAE)
    public const ulong KVM_CREATE_VM = 0xAE01;
    public const ulong KVM_CHECK_EXTENSION = 0xAE03;
    public const ulong KVM_RUN = 0xAE80;
    public const ulong KVM_SET_USER_MEMORY_REGION = 0x4020AE46;
    public const ulong KVM_SET_USER_MEMORY_REGION2 = 0x40A0AE49;
    public const ulong KVM_SET_MEMORY_ATTRIBUTES = 0x4020AED2;
    public const ulong KVM_CREATE_GUEST_MEMFD = 0xC040AED4;
    public const ulong KVM_GET_DIRTY_LOG = 0x4010AE42;
    public const ulong KVM_CLEAR_DIRTY_LOG = 0xC018AEC0;
    public const ulong KVM_ENABLE_CAP = 0x4068AEA3;

    // capabilities
    public const uint KVM_CAP_NR_MEMSLOTS = 10;
    public const uint KVM_CAP_READONLY_MEM = 81;
    public const uint KVM_CAP_MULTI_ADDRESS_SPACE = 118;
    public const uint KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    public const uint KVM_CAP_DIRTY_LOG_RING = 192;
    public const uint KVM_CAP_EXIT_HYPERCALL = 201;
    public const uint KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223;
    public const uint KVM_CAP_USER_MEMORY2 = 231;
    public const uint KVM_CAP_MEMORY_FAULT_INFO = 232;
    public const uint KVM_CAP_MEMORY_ATTRIBUTES = 233;
    public const uint KVM_CAP_GUEST_MEMFD = 234;
    public const uint KVM_CAP_VM_TYPES = 235;
    public const uint KVM_CAP_GUEST_MEMFD_FLAGS = 244;

    // exits (struct kvm_run.exit_reason) and their union (at offset 32 of struct kvm_run)
    public const uint KVM_EXIT_HYPERCALL = 3;
    public const uint KVM_EXIT_MMIO = 6;
    public const uint KVM_EXIT_MEMORY_FAULT = 39;
    public const ulong KVM_MEMORY_EXIT_FLAG_PRIVATE = 1ul << 3;

    // KVM_HC_MAP_GPA_RANGE (kvm_para.h)
    public const ulong KVM_HC_MAP_GPA_RANGE = 12;
    public const ulong KVM_MAP_GPA_RANGE_PAGE_SZ_MASK = 0xF;
    public const ulong KVM_MAP_GPA_RANGE_ENCRYPTED = 1ul << 4;

    // guest_memfd flags
    public const ulong GUEST_MEMFD_FLAG_MMAP = 1ul << 0;
    public const ulong GUEST_MEMFD_FLAG_INIT_SHARED = 1ul << 1;

    // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 arguments
    public const ulong KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1;
    public const ulong KVM_DIRTY_LOG_INITIALLY_SET = 2;
}

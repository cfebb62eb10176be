//! hvrt.h's constants, and the kernel constants its API uses (kvm_uapi.h's, under the kernel's
//! names).

/// `HVRT_ABI_VERSION`: compare with `hvrt_abi_version()` at start-up.
pub const HVRT_ABI_VERSION: u32 = 1;
/// `HVRT_VERSION_MAJOR`.
pub const HVRT_VERSION_MAJOR: u32 = 0;
/// `HVRT_VERSION_MINOR`.
pub const HVRT_VERSION_MINOR: u32 = 2;
/// `HVRT_VERSION_PATCH`.
pub const HVRT_VERSION_PATCH: u32 = 0;
/// `HVRT_VERSION_NUMBER`.
pub const HVRT_VERSION_NUMBER: u32 =
    HVRT_VERSION_MAJOR * 1_000_000 + HVRT_VERSION_MINOR * 1000 + HVRT_VERSION_PATCH;

/// Defines `HVRT_<NAME>` constants and the `HVRT_ERRNO_MAP` table from one list, as hvrt.h's
/// XX-macro does, so names, values and texts cannot drift apart.
macro_rules! errno_map {
    ($($short:ident $name:ident = $value:expr, $text:expr;)*) => {
        $(
            #[doc = concat!("`HVRT_", stringify!($name), "` (", stringify!($value), "): ", $text, ".")]
            pub const $name: i32 = $value;
        )*
        /// `HVRT_ERRNO_MAP`: (name without the prefix, code, text) of every code hvrt.h lists.
        pub const HVRT_ERRNO_MAP: &[(&str, i32, &str)] = &[
            $((stringify!($short), $value, $text),)*
        ];
    };
}

errno_map! {
    OK HVRT_OK = 0, "success";
    EPERM HVRT_EPERM = -1, "the reader is offline (call hvrt_reader_online first), or (HVRT_DEBUG) not this thread's vCPU";
    ENOENT HVRT_ENOENT = -2, "no slot holds this guest frame";
    E2BIG HVRT_E2BIG = -7, "config struct too large or with unknown non-zero fields";
    EBADF HVRT_EBADF = -9, "not a live hvrt VM, reader or vCPU, or a private fd that is not open";
    ENOMEM HVRT_ENOMEM = -12, "out of memory";
    EACCES HVRT_EACCES = -13, "a discard was refused: the shared memory is a private or read-only file mapping";
    EFAULT HVRT_EFAULT = -14, "NULL pointer argument";
    EEXIST HVRT_EEXIST = -17, "already there: an overlapping slot, or a listener added twice";
    EINVAL HVRT_EINVAL = -22, "invalid argument (as KVM would refuse it)";
    EMFILE HVRT_EMFILE = -24, "too many open files: the private fd could not be duplicated";
    EDEADLK HVRT_EDEADLK = -35, "a change of the VM from inside its own conversion listener";
    EINTR HVRT_EINTR = -4, "interrupted by a signal (KVM_RUN, fallocate)";
    EIO HVRT_EIO = -5, "I/O error reported by the kernel";
    ENXIO HVRT_ENXIO = -6, "no dirty bitmap: the bound VM logs dirty pages in a ring";
    EAGAIN HVRT_EAGAIN = -11, "try again (the kernel asked for a retry)";
    EBUSY HVRT_EBUSY = -16, "busy: already bound, readers still registered, or (HVRT_DEBUG) a reader in use by another thread";
    ENODEV HVRT_ENODEV = -19, "not supported by this KVM (no such capability or device)";
    ENOTTY HVRT_ENOTTY = -25, "not a KVM VM fd (the ioctl is unknown to the fd)";
    ENOSYS HVRT_ENOSYS = -38, "not implemented by this KVM";
    EOPNOTSUPP HVRT_EOPNOTSUPP = -95, "operation not supported on this file or VM";
    EHWPOISON HVRT_EHWPOISON = -133, "memory failure: the page is poisoned";
    EINTERNAL HVRT_EINTERNAL = -4000, "internal hvrt error (a bug)";
}

// Kernel uapi (KVM) constants the API takes or returns.
/// `KVM_MEM_LOG_DIRTY_PAGES`.
pub const KVM_MEM_LOG_DIRTY_PAGES: u32 = 1 << 0;
/// `KVM_MEM_READONLY`.
pub const KVM_MEM_READONLY: u32 = 1 << 1;
/// `KVM_MEM_GUEST_MEMFD`.
pub const KVM_MEM_GUEST_MEMFD: u32 = 1 << 2;
/// `KVM_MEM_PRIVATE` (the 2022 proposal; bit 2 as `KVM_MEM_GUEST_MEMFD`).
pub const KVM_MEM_PRIVATE: u32 = 1 << 2;
/// `KVM_SET_USER_MEMORY_REGION2` ioctl number.
pub const KVM_SET_USER_MEMORY_REGION2: u64 = 0x40A0_AE49;
/// `KVM_MEMORY_ATTRIBUTE_PRIVATE`.
pub const KVM_MEMORY_ATTRIBUTE_PRIVATE: u64 = 1 << 3;
/// `KVM_SET_MEMORY_ATTRIBUTES` ioctl number.
pub const KVM_SET_MEMORY_ATTRIBUTES: u64 = 0x4020_AED2;
/// `KVM_EXIT_HYPERCALL`.
pub const KVM_EXIT_HYPERCALL: u32 = 3;
/// `KVM_EXIT_MMIO`.
pub const KVM_EXIT_MMIO: u32 = 6;
/// `KVM_EXIT_MEMORY_FAULT`.
pub const KVM_EXIT_MEMORY_FAULT: u32 = 39;
/// `KVM_MEMORY_EXIT_FLAG_PRIVATE`.
pub const KVM_MEMORY_EXIT_FLAG_PRIVATE: u64 = 1 << 3;
/// `KVM_HC_MAP_GPA_RANGE`.
pub const KVM_HC_MAP_GPA_RANGE: u64 = 12;
/// `KVM_MAP_GPA_RANGE_PAGE_SZ_4K`.
pub const KVM_MAP_GPA_RANGE_PAGE_SZ_4K: u64 = 0;
/// `KVM_MAP_GPA_RANGE_PAGE_SZ_2M`.
pub const KVM_MAP_GPA_RANGE_PAGE_SZ_2M: u64 = 1 << 0;
/// `KVM_MAP_GPA_RANGE_PAGE_SZ_1G`.
pub const KVM_MAP_GPA_RANGE_PAGE_SZ_1G: u64 = 1 << 1;
/// `KVM_MAP_GPA_RANGE_ENCRYPTED`.
pub const KVM_MAP_GPA_RANGE_ENCRYPTED: u64 = 1 << 4;
/// `KVM_MAP_GPA_RANGE_DECRYPTED`.
pub const KVM_MAP_GPA_RANGE_DECRYPTED: u64 = 0;
/// `KVM_EINVAL`: hypercall return codes are -KVM_E*.
pub const KVM_EINVAL: i64 = 22;
/// `KVM_EFAULT`.
pub const KVM_EFAULT: i64 = 14;
/// `GUEST_MEMFD_FLAG_MMAP`.
pub const GUEST_MEMFD_FLAG_MMAP: u64 = 1 << 0;
/// `GUEST_MEMFD_FLAG_INIT_SHARED`.
pub const GUEST_MEMFD_FLAG_INIT_SHARED: u64 = 1 << 1;

/// `HVRT_KVM_RUN_EXIT_UNION_OFFSET`: the exit union's offset in `struct kvm_run` (x86_64).
pub const HVRT_KVM_RUN_EXIT_UNION_OFFSET: usize = 32;

/// `HVRT_VM_TYPE_DEFAULT` (KVM_X86_DEFAULT_VM).
pub const HVRT_VM_TYPE_DEFAULT: u32 = 0;
/// `HVRT_VM_TYPE_SW_PROTECTED` (KVM_X86_SW_PROTECTED_VM).
pub const HVRT_VM_TYPE_SW_PROTECTED: u32 = 1;
/// `HVRT_VM_TYPE_SEV`.
pub const HVRT_VM_TYPE_SEV: u32 = 2;
/// `HVRT_VM_TYPE_SEV_ES`.
pub const HVRT_VM_TYPE_SEV_ES: u32 = 3;
/// `HVRT_VM_TYPE_SNP`.
pub const HVRT_VM_TYPE_SNP: u32 = 4;
/// `HVRT_VM_TYPE_TDX`.
pub const HVRT_VM_TYPE_TDX: u32 = 5;

/// `HVRT_KVM_PROFILE_HOST`: this host's KVM (probed once per type), the newest without one.
pub const HVRT_KVM_PROFILE_HOST: u32 = 0;
/// `HVRT_KVM_PROFILE_6_1`: Linux 6.1's KVM rules.
pub const HVRT_KVM_PROFILE_6_1: u32 = 0x0601;
/// `HVRT_KVM_PROFILE_6_8`.
pub const HVRT_KVM_PROFILE_6_8: u32 = 0x0608;
/// `HVRT_KVM_PROFILE_6_12`.
pub const HVRT_KVM_PROFILE_6_12: u32 = 0x060c;
/// `HVRT_KVM_PROFILE_6_18`.
pub const HVRT_KVM_PROFILE_6_18: u32 = 0x0612;
/// `HVRT_KVM_PROFILE_NEWEST`.
pub const HVRT_KVM_PROFILE_NEWEST: u32 = HVRT_KVM_PROFILE_6_18;
/// `HVRT_PROFILE_FROM_CONFIG`: the config named the profile.
pub const HVRT_PROFILE_FROM_CONFIG: u32 = 1;
/// `HVRT_PROFILE_FROM_PROBE`: probed from /dev/kvm.
pub const HVRT_PROFILE_FROM_PROBE: u32 = 2;
/// `HVRT_PROFILE_FROM_NO_KVM`: no usable /dev/kvm: the newest.
pub const HVRT_PROFILE_FROM_NO_KVM: u32 = 3;
/// `HVRT_PROFILE_F_REGION2`: KVM_SET_USER_MEMORY_REGION2 exists.
pub const HVRT_PROFILE_F_REGION2: u64 = 1 << 0;
/// `HVRT_PROFILE_F_GUEST_MEMFD`: KVM_CREATE_GUEST_MEMFD exists.
pub const HVRT_PROFILE_F_GUEST_MEMFD: u64 = 1 << 1;
/// `HVRT_PROFILE_F_PRIVATE_SLOTS`: KVM_MEM_GUEST_MEMFD slots on the type.
pub const HVRT_PROFILE_F_PRIVATE_SLOTS: u64 = 1 << 2;
/// `HVRT_PROFILE_F_MEMORY_ATTRIBUTES`: KVM_SET_MEMORY_ATTRIBUTES exists.
pub const HVRT_PROFILE_F_MEMORY_ATTRIBUTES: u64 = 1 << 3;
/// `HVRT_PROFILE_F_PRIVATE_ATTRIBUTE`: it takes PRIVATE on the type.
pub const HVRT_PROFILE_F_PRIVATE_ATTRIBUTE: u64 = 1 << 4;
/// `HVRT_PROFILE_F_READONLY`: READONLY slots on the type.
pub const HVRT_PROFILE_F_READONLY: u64 = 1 << 5;

/// `HVRT_TR_PRIVATE`: the gfn's PRIVATE attribute is set.
pub const HVRT_TR_PRIVATE: u32 = 0x1;
/// `HVRT_TR_READONLY`: the slot is `KVM_MEM_READONLY`.
pub const HVRT_TR_READONLY: u32 = 0x2;
/// `HVRT_TR_LOG_DIRTY`: the slot logs dirty pages.
pub const HVRT_TR_LOG_DIRTY: u32 = 0x4;
/// `HVRT_TR_HAS_PRIVATE`: the slot has a private backing.
pub const HVRT_TR_HAS_PRIVATE: u32 = 0x8;
/// `HVRT_GEN_UPDATE_IN_PROGRESS`: bit 63 of a generation.
pub const HVRT_GEN_UPDATE_IN_PROGRESS: u64 = 1 << 63;

/// `HVRT_DISCARD_SHARED`: to private, drop the shared pages.
pub const HVRT_DISCARD_SHARED: u32 = 0x1;
/// `HVRT_DISCARD_PRIVATE`: to shared, punch the private file.
pub const HVRT_DISCARD_PRIVATE: u32 = 0x2;

/// `HVRT_KVM_USER_MEMORY2`.
pub const HVRT_KVM_USER_MEMORY2: u32 = 1 << 0;
/// `HVRT_KVM_GUEST_MEMFD`.
pub const HVRT_KVM_GUEST_MEMFD: u32 = 1 << 1;
/// `HVRT_KVM_MEMORY_ATTRIBUTES`.
pub const HVRT_KVM_MEMORY_ATTRIBUTES: u32 = 1 << 2;
/// `HVRT_KVM_EXIT_HYPERCALL`.
pub const HVRT_KVM_EXIT_HYPERCALL: u32 = 1 << 3;
/// `HVRT_KVM_MANUAL_DIRTY_LOG`.
pub const HVRT_KVM_MANUAL_DIRTY_LOG: u32 = 1 << 4;
/// `HVRT_KVM_READONLY_MEM`.
pub const HVRT_KVM_READONLY_MEM: u32 = 1 << 5;
/// `HVRT_KVM_MEMORY_FAULT_INFO`.
pub const HVRT_KVM_MEMORY_FAULT_INFO: u32 = 1 << 6;
/// `HVRT_BIND_EXIT_HYPERCALL`: hvrt_kvm_bind flag.
pub const HVRT_BIND_EXIT_HYPERCALL: u32 = 1 << 0;
/// `HVRT_GMEM_SHARED_IF_SUPPORTED`: hvrt_create_guest_memfd flag.
pub const HVRT_GMEM_SHARED_IF_SUPPORTED: u64 = 1 << 32;

/// `HVRT_DIRTY_LOG_MANUAL_PROTECT`.
pub const HVRT_DIRTY_LOG_MANUAL_PROTECT: u32 = 1;
/// `HVRT_DIRTY_LOG_INITIALLY_SET`.
pub const HVRT_DIRTY_LOG_INITIALLY_SET: u32 = 2;

/// `HVRT_EXIT_UNHANDLED`: the VMM's to handle.
pub const HVRT_EXIT_UNHANDLED: i32 = 0;
/// `HVRT_EXIT_RESUME`: handled, enter KVM_RUN again.
pub const HVRT_EXIT_RESUME: i32 = 1;
/// `HVRT_EXIT_OTHER`.
pub const HVRT_EXIT_OTHER: u32 = 0;
/// `HVRT_EXIT_MEMORY_FAULT`.
pub const HVRT_EXIT_MEMORY_FAULT: u32 = 1;
/// `HVRT_EXIT_MAP_GPA_RANGE`.
pub const HVRT_EXIT_MAP_GPA_RANGE: u32 = 2;
/// `HVRT_EXIT_MMIO`.
pub const HVRT_EXIT_MMIO: u32 = 3;
/// `HVRT_EXIT_INTERRUPTED`.
pub const HVRT_EXIT_INTERRUPTED: u32 = 4;
/// `HVRT_MMIO_DEVICE`: in no slot.
pub const HVRT_MMIO_DEVICE: u32 = 1;
/// `HVRT_MMIO_READONLY_WRITE`: a write to a READONLY slot.
pub const HVRT_MMIO_READONLY_WRITE: u32 = 2;
/// `HVRT_MMIO_PRIVATE`: the gpa is private.
pub const HVRT_MMIO_PRIVATE: u32 = 3;
/// `HVRT_MMIO_IN_SLOT`: in a slot, not a READONLY write.
pub const HVRT_MMIO_IN_SLOT: u32 = 4;

// Testing hooks (hvrt_testing.h, test-only fault injection): hvrt_test_fail_nth's sites.
/// `HVRT_FAULT_ALLOC`: every unmanaged allocation (-ENOMEM).
pub const HVRT_FAULT_ALLOC: u32 = 1 << 0;
/// `HVRT_FAULT_FALLOCATE`: a conversion's fallocate(PUNCH_HOLE).
pub const HVRT_FAULT_FALLOCATE: u32 = 1 << 1;
/// `HVRT_FAULT_MADVISE`: a conversion's madvise.
pub const HVRT_FAULT_MADVISE: u32 = 1 << 2;
/// `HVRT_FAULT_KVM_IOCTL`: every ioctl hvrt issues.
pub const HVRT_FAULT_KVM_IOCTL: u32 = 1 << 3;
/// `HVRT_FAULT_DUP`: the dup of a private fd.
pub const HVRT_FAULT_DUP: u32 = 1 << 4;
/// `HVRT_FAULT_MMAP`: the mmap of a new guest_memfd's shared half.
pub const HVRT_FAULT_MMAP: u32 = 1 << 5;
/// `HVRT_FAULT_ALL`.
pub const HVRT_FAULT_ALL: u32 = 0x3f;

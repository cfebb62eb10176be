//! `#[repr(C)]` mirrors of the structs hvrt.h defines or uses (the kernel's uapi structs, from
//! kvm_uapi.h, under their kernel names). tests/layout.rs compares every size and offset with the
//! C compiler's.

/// Opaque `hvrt_vm`: a VM handle (only ever behind a pointer).
#[repr(C)]
pub struct hvrt_vm {
    _private: [u8; 0],
}

/// Opaque `hvrt_reader`: a registered reader (only ever behind a pointer; its first 64 bytes
/// are [`hvrt_reader_layout`](super::hvrt_reader_layout)).
#[repr(C)]
pub struct hvrt_reader {
    _private: [u8; 0],
}

/// Opaque `hvrt_vcpu`.
#[repr(C)]
pub struct hvrt_vcpu {
    _private: [u8; 0],
}

/// Opaque `struct kvm_run` (the vCPU's mapped run area; hvrt.h only passes a pointer).
#[repr(C)]
pub struct kvm_run {
    _private: [u8; 0],
}

/// `struct hvrt_vm_config` (64 bytes): set `size` to its size; zero fields mean "as KVM".
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_vm_config {
    /// `sizeof(struct hvrt_vm_config)`.
    pub size: u32,
    /// `HVRT_VM_TYPE_*`.
    pub vm_type: u32,
    /// 0: the type's number.
    pub nr_address_spaces: u32,
    /// 0: 32764.
    pub max_user_slots: u32,
    /// 0: as KVM on this host; else 13..=64.
    pub max_gpa_bits: u32,
    /// Must be 0.
    pub flags: u32,
    /// 0: this host's TASK_SIZE_MAX.
    pub user_addr_limit: u64,
    /// `HVRT_KVM_PROFILE_*`: 0 this host's KVM (probed), else the kernel named.
    pub kvm_profile: u32,
    /// Must be 0.
    pub reserved32: u32,
    /// Must be 0.
    pub reserved: [u64; 3],
}

/// `struct hvrt_kvm_profile` (48 bytes): the kernel profile a VM follows.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_kvm_profile {
    /// In: the struct's size (>= 8); out: bytes written.
    pub size: u32,
    /// `HVRT_KVM_PROFILE_*` (never 0).
    pub profile: u32,
    /// `HVRT_PROFILE_FROM_*`.
    pub source: u32,
    /// Bit t: a VM of type t can be created under this profile here.
    pub vm_types: u32,
    /// `HVRT_PROFILE_F_*` for the VM's type.
    pub features: u64,
    /// Written as 0.
    pub reserved: [u64; 3],
}

/// `struct kvm_userspace_memory_region` (32 bytes): `slot` = as_id << 16 | id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_userspace_memory_region {
    /// as_id << 16 | slot id.
    pub slot: u32,
    /// `KVM_MEM_*`.
    pub flags: u32,
    /// Guest-physical start, bytes.
    pub guest_phys_addr: u64,
    /// Bytes; 0 deletes the slot.
    pub memory_size: u64,
    /// Start of the shared host memory.
    pub userspace_addr: u64,
}

impl From<&kvm_userspace_memory_region2> for kvm_userspace_memory_region {
    /// The v1 request of a region2's first 32 bytes (the same prefix by KVM's own layout): what
    /// a kernel without KVM_SET_USER_MEMORY_REGION2 (6.1) takes for a shared slot.
    fn from(r: &kvm_userspace_memory_region2) -> Self {
        kvm_userspace_memory_region {
            slot: r.slot,
            flags: r.flags,
            guest_phys_addr: r.guest_phys_addr,
            memory_size: r.memory_size,
            userspace_addr: r.userspace_addr,
        }
    }
}

/// `struct kvm_userspace_memory_region2` (160 bytes, the first 32 as v1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_userspace_memory_region2 {
    /// as_id << 16 | slot id.
    pub slot: u32,
    /// `KVM_MEM_*`.
    pub flags: u32,
    /// Guest-physical start, bytes.
    pub guest_phys_addr: u64,
    /// Bytes; 0 deletes the slot.
    pub memory_size: u64,
    /// Start of the shared host memory.
    pub userspace_addr: u64,
    /// Offset of the slot in its guest_memfd (with `KVM_MEM_GUEST_MEMFD`).
    pub guest_memfd_offset: u64,
    /// The guest_memfd (with `KVM_MEM_GUEST_MEMFD`).
    pub guest_memfd: u32,
    /// Ignored.
    pub pad1: u32,
    /// Ignored.
    pub pad2: [u64; 14],
}

/// `struct kvm_userspace_memory_region_ext` (160 bytes): the 2022 private-memory proposal.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_userspace_memory_region_ext {
    /// The v1 region (flags may include `KVM_MEM_PRIVATE`).
    pub region: kvm_userspace_memory_region,
    /// Offset of the slot in its private file.
    pub private_offset: u64,
    /// The private file (guest_memfd, memfd or regular file).
    pub private_fd: u32,
    /// Ignored.
    pub pad1: u32,
    /// Ignored.
    pub pad2: [u64; 14],
}

/// `struct kvm_memory_attributes` (32 bytes), KVM_SET_MEMORY_ATTRIBUTES.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_memory_attributes {
    /// Guest-physical byte address, 4 KiB aligned.
    pub address: u64,
    /// Bytes, 4 KiB aligned, != 0.
    pub size: u64,
    /// `KVM_MEMORY_ATTRIBUTE_*`.
    pub attributes: u64,
    /// Must be 0.
    pub flags: u64,
}

/// `struct hvrt_kvm_memory_fault` (24 bytes): kvm_run's memory_fault exit, at byte 32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_kvm_memory_fault {
    /// `KVM_MEMORY_EXIT_FLAG_PRIVATE`: the access was private.
    pub flags: u64,
    /// Faulting guest-physical address.
    pub gpa: u64,
    /// Bytes.
    pub size: u64,
}

/// `struct hvrt_translation` (64 bytes): what a translation tells about one gfn.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_translation {
    /// as_id << 16 | slot id.
    pub slot: u32,
    /// `HVRT_TR_*`.
    pub flags: u32,
    /// The slot's first gfn.
    pub base_gfn: u64,
    /// The slot's size in pages.
    pub npages: u64,
    /// Host address of the gfn.
    pub hva: u64,
    /// Page index of the gfn in the private file (with `HVRT_TR_HAS_PRIVATE`, else 0).
    pub private_pgoff: u64,
    /// hvrt's duplicate of the private file, or -1.
    pub private_fd: i32,
    /// 0, or `HVRT_ENOENT` for a miss in a batch.
    pub result: i32,
    /// Pages from the gfn with the same slot and attributes (>= 1).
    pub run_pages: u64,
    /// Generation of the answering slot set (bit 63: update in progress).
    pub generation: u64,
}

/// `struct hvrt_slot_range` (32 bytes): one (slot, gfn range) pair of a reverse query.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_slot_range {
    /// as_id << 16 | slot id.
    pub slot: u32,
    /// The slot's `HVRT_TR_*` flags (never `HVRT_TR_PRIVATE`).
    pub flags: u32,
    /// First gfn.
    pub gfn_start: u64,
    /// Exclusive end gfn.
    pub gfn_end: u64,
    /// 0.
    pub reserved: u64,
}

/// `struct hvrt_kvm_caps` (72 bytes): what KVM offers on the bound VM.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_kvm_caps {
    /// In: the struct's size (>= 8); out: bytes written.
    pub size: u32,
    /// `HVRT_KVM_*`.
    pub flags: u32,
    /// KVM_CAP_GUEST_MEMFD_FLAGS.
    pub guest_memfd_flags: u64,
    /// KVM_CAP_MEMORY_ATTRIBUTES on the VM fd.
    pub memory_attributes: u64,
    /// KVM_CAP_EXIT_HYPERCALL.
    pub hypercall_exits: u64,
    /// KVM_CAP_NR_MEMSLOTS.
    pub nr_memslots: u32,
    /// KVM_CAP_MULTI_ADDRESS_SPACE (0 reads as 1).
    pub nr_address_spaces: u32,
    /// Written as 0.
    pub reserved: [u64; 4],
}

/// `struct hvrt_exit_info` (64 bytes): the decoded last exit of a vCPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_exit_info {
    /// `HVRT_EXIT_*` kind.
    pub kind: u32,
    /// kvm_run.exit_reason as read.
    pub exit_reason: u32,
    /// Fault / range / MMIO address.
    pub gpa: u64,
    /// Bytes of the fault or range; MMIO access length.
    pub size: u64,
    /// 1 to private, 0 to shared.
    pub to_private: u32,
    /// `HVRT_MMIO_*` for `HVRT_EXIT_MMIO`.
    pub mmio_class: u32,
    /// MMIO write.
    pub is_write: u32,
    /// MMIO in a slot: as_id << 16 | id, else `u32::MAX`.
    pub slot: u32,
    /// 0 or the -errno handle_exit saw.
    pub result: i64,
    /// 0.
    pub reserved: [u64; 2],
}

/// `hvrt_conversion_cb`: `[gpa, gpa + size)` has just become private (1) or shared (0).
pub type hvrt_conversion_cb =
    Option<unsafe extern "C" fn(ctx: *mut core::ffi::c_void, gpa: u64, size: u64, to_private: i32)>;

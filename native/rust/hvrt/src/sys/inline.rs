//! `#[repr(C)]` mirrors of hvrt_inline.h's frozen layouts (part of the ABI: they change only with
//! `HVRT_ABI_VERSION`). Read-only views of memory hvrt owns; see crate::inline for the lookup.

/// `HVRT_LEAF_CAP`: entries per leaf.
pub const HVRT_LEAF_CAP: usize = 64;
/// `HVRT_MAX_ADDRESS_SPACES`: address spaces the layout has room for.
pub const HVRT_MAX_ADDRESS_SPACES: usize = 2;

/// `struct hvrt_slot_entry` (64 bytes): one slot, as every index of a snapshot holds it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct hvrt_slot_entry {
    /// First gfn.
    pub base_gfn: u64,
    /// Size in pages.
    pub npages: u64,
    /// userspace_addr.
    pub hva: u64,
    /// First page of the slot in its private file.
    pub private_pgoff: u64,
    /// hvrt's duplicate of the private file, or -1.
    pub private_fd: i32,
    /// `KVM_MEM_*`.
    pub kvm_flags: u32,
    /// as_id << 16 | id.
    pub slot: u32,
    /// The slot's `HVRT_TR_*` flags.
    pub tr_flags: u32,
    /// st_dev of the private file; 0 without one.
    pub file_dev: u64,
    /// st_ino of the private file; 0 without one.
    pub file_ino: u64,
}

/// `struct hvrt_leaf`: up to `HVRT_LEAF_CAP` entries in key order.
#[repr(C)]
pub struct hvrt_leaf {
    /// Entries in use.
    pub count: u32,
    /// Unused.
    pub reserved: u32,
    /// Largest end of the leaf's entries.
    pub max_end: u64,
    /// Padding.
    pub pad: [u64; 6],
    /// First key component of each entry; `u64::MAX` past `count`.
    pub keys: [u64; HVRT_LEAF_CAP],
    /// The entries.
    pub entries: [hvrt_slot_entry; HVRT_LEAF_CAP],
}

/// `struct hvrt_index` (64 bytes): one index of a snapshot.
#[repr(C)]
pub struct hvrt_index {
    /// Number of leaves.
    pub nr_leaves: u32,
    /// Number of entries.
    pub count: u32,
    /// First key component of each leaf.
    pub first0: *const u64,
    /// Second key component of each leaf.
    pub first1: *const u64,
    /// Third key component of each leaf.
    pub first2: *const u64,
    /// Max end of each leaf.
    pub max_end: *const u64,
    /// The leaves.
    pub leaves: *const *const hvrt_leaf,
    /// Running max of `max_end`.
    pub max_end_prefix: *const u64,
    /// Padding.
    pub pad: u64,
}

/// `struct hvrt_snapshot` (256 bytes): the immutable slot set of one address space.
#[repr(C)]
pub struct hvrt_snapshot {
    /// Generation (bit 63 set while being replaced).
    pub generation: u64,
    /// Number of slots.
    pub count: u32,
    /// Address space.
    pub as_id: u32,
    /// Bytes of the snapshot block.
    pub bytes: u64,
    /// Padding.
    pub pad: [u64; 5],
    /// Index by gfn.
    pub gfn: hvrt_index,
    /// Index by hva.
    pub hva: hvrt_index,
    /// Index by private file page.
    pub private_: hvrt_index,
}

/// `struct hvrt_vm_layout`: the first 48 bytes an `hvrt_vm *` points to.
#[repr(C)]
pub struct hvrt_vm_layout {
    /// Magic.
    pub magic: u64,
    /// Managed handle.
    pub managed: u64,
    /// Address spaces the inline path answers by itself (0 once the VM has a private page).
    pub inline_as_limit: u32,
    /// Number of address spaces.
    pub nr_address_spaces: u32,
    /// Published snapshot per address space (acquire-load).
    pub current: [*const hvrt_snapshot; HVRT_MAX_ADDRESS_SPACES],
    /// Unique per VM in the process.
    pub serial: u64,
}

/// `struct hvrt_reader_cache`: a reader's last hit in one address space.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hvrt_reader_cache {
    /// Generation of the snapshot `entry` came from; `u64::MAX` = empty.
    pub generation: u64,
    /// The entry.
    pub entry: *const hvrt_slot_entry,
}

/// `struct hvrt_reader_layout`: the first 64 bytes an `hvrt_reader *` points to.
#[repr(C)]
pub struct hvrt_reader_layout {
    /// Magic.
    pub magic: u64,
    /// The reader's VM.
    pub vm: *const hvrt_vm_layout,
    /// 0 = offline.
    pub ctr: u64,
    /// The VM's list of readers.
    pub next: *const core::ffi::c_void,
    /// Last hit per address space (written only by the owning thread).
    pub cache: [hvrt_reader_cache; HVRT_MAX_ADDRESS_SPACES],
}

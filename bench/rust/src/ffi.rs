//! Raw declarations of the few hvrt calls the harness makes, mirroring native/include/hvrt.h
//! exactly (sizes and offsets asserted at compile time below). Issue 6's `hvrt` crate replaces
//! this module; until then it is the only place that knows the C ABI.
#![allow(non_camel_case_types, dead_code)]

use std::mem::size_of;

/// Opaque `hvrt_vm`.
#[repr(C)]
pub struct hvrt_vm {
    _private: [u8; 0],
}

/// Opaque `hvrt_reader`.
#[repr(C)]
pub struct hvrt_reader {
    _private: [u8; 0],
}

/// `struct hvrt_vm_config` (64 bytes); the harness passes NULL (defaults) but keeps the mirror.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct hvrt_vm_config {
    pub size: u32,
    pub vm_type: u32,
    pub nr_address_spaces: u32,
    pub max_user_slots: u32,
    pub max_gpa_bits: u32,
    pub flags: u32,
    pub user_addr_limit: u64,
    pub reserved: [u64; 4],
}

/// `struct kvm_userspace_memory_region` (32 bytes): slot = as_id << 16 | id.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct kvm_userspace_memory_region {
    pub slot: u32,
    pub flags: u32,
    pub guest_phys_addr: u64,
    pub memory_size: u64,
    pub userspace_addr: u64,
}

/// `struct hvrt_translation` (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct hvrt_translation {
    pub slot: u32,
    pub flags: u32,
    pub base_gfn: u64,
    pub npages: u64,
    pub hva: u64,
    pub private_pgoff: u64,
    pub private_fd: i32,
    pub result: i32,
    pub run_pages: u64,
    pub generation: u64,
}

pub const KVM_MEM_LOG_DIRTY_PAGES: u32 = 1 << 0;
pub const HVRT_DIRTY_LOG_MANUAL_PROTECT: u32 = 1;

/// Checks the mirrors against hvrt.h's sizes and offsets (at start-up: `offset_of!` needs a
/// newer rustc than Debian 12's, which this crate still builds with).
pub fn check_layout() {
    macro_rules! off {
        ($t:ty, $f:ident) => {{
            let v = std::mem::MaybeUninit::<$t>::uninit();
            let base = v.as_ptr();
            // SAFETY: only the address of the field is taken, nothing is read.
            let field = unsafe { std::ptr::addr_of!((*base).$f) };
            field as usize - base as usize
        }};
    }
    let checks: [(&str, usize, usize); 16] = [
        ("hvrt_vm_config size", size_of::<hvrt_vm_config>(), 64),
        ("hvrt_vm_config.user_addr_limit", off!(hvrt_vm_config, user_addr_limit), 24),
        ("kvm_userspace_memory_region size", size_of::<kvm_userspace_memory_region>(), 32),
        ("region.flags", off!(kvm_userspace_memory_region, flags), 4),
        ("region.guest_phys_addr", off!(kvm_userspace_memory_region, guest_phys_addr), 8),
        ("region.memory_size", off!(kvm_userspace_memory_region, memory_size), 16),
        ("region.userspace_addr", off!(kvm_userspace_memory_region, userspace_addr), 24),
        ("hvrt_translation size", size_of::<hvrt_translation>(), 64),
        ("hvrt_translation.base_gfn", off!(hvrt_translation, base_gfn), 8),
        ("hvrt_translation.npages", off!(hvrt_translation, npages), 16),
        ("hvrt_translation.hva", off!(hvrt_translation, hva), 24),
        ("hvrt_translation.private_pgoff", off!(hvrt_translation, private_pgoff), 32),
        ("hvrt_translation.private_fd", off!(hvrt_translation, private_fd), 40),
        ("hvrt_translation.result", off!(hvrt_translation, result), 44),
        ("hvrt_translation.run_pages", off!(hvrt_translation, run_pages), 48),
        ("hvrt_translation.generation", off!(hvrt_translation, generation), 56),
    ];
    for (what, got, want) in checks {
        assert_eq!(got, want, "{what} differs from hvrt.h");
    }
}

extern "C" {
    pub fn hvrt_vm_create(cfg: *const hvrt_vm_config, out: *mut *mut hvrt_vm) -> i32;
    pub fn hvrt_vm_destroy(vm: *mut hvrt_vm);
    pub fn hvrt_set_user_memory_region(vm: *mut hvrt_vm, r: *const kvm_userspace_memory_region) -> i32;
    pub fn hvrt_translate(vm: *mut hvrt_vm, as_id: u32, gfn: u64, out: *mut hvrt_translation) -> i32;

    pub fn hvrt_reader_register(vm: *mut hvrt_vm, reader: *mut *mut hvrt_reader) -> i32;
    pub fn hvrt_reader_unregister(r: *mut hvrt_reader) -> i32;
    pub fn hvrt_reader_quiescent(r: *mut hvrt_reader) -> i32;
    pub fn hvrt_reader_offline(r: *mut hvrt_reader) -> i32;
    pub fn hvrt_reader_online(r: *mut hvrt_reader) -> i32;
    pub fn hvrt_reader_translate(r: *mut hvrt_reader, as_id: u32, gfn: u64, out: *mut hvrt_translation) -> i32;

    // Dirty log.
    pub fn hvrt_dirty_log_set_mode(vm: *mut hvrt_vm, mode: u32) -> i32;
    pub fn hvrt_dirty_log_get(vm: *mut hvrt_vm, slot: u32, bitmap: *mut core::ffi::c_void) -> i32;
    pub fn hvrt_dirty_log_get_view(vm: *mut hvrt_vm, slot: u32, bitmap: *mut *const u64) -> i32;
    pub fn hvrt_mark_dirty(vm: *mut hvrt_vm, gpa: u64, len: u64) -> i64;
}

/// A VM with the default configuration, destroyed on drop (readers must be gone first).
pub struct Vm(pub *mut hvrt_vm);

// SAFETY: hvrt's calls on a VM are thread-safe (hvrt.h "Threading"), except destroy, which
// Drop runs when no other reference is left.
unsafe impl Send for Vm {}
unsafe impl Sync for Vm {}

impl Vm {
    pub fn new() -> Vm {
        let mut vm = std::ptr::null_mut();
        // SAFETY: NULL config = defaults; out points to a local.
        let rc = unsafe { hvrt_vm_create(std::ptr::null(), &mut vm) };
        assert_eq!(rc, 0, "hvrt_vm_create");
        Vm(vm)
    }

    /// hvrt_set_user_memory_region; size 0 deletes. Returns 0 or -errno.
    pub fn set_region(&self, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64) -> i32 {
        let r = kvm_userspace_memory_region {
            slot,
            flags,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: hva,
        };
        // SAFETY: r is a valid region; hvrt does not touch the host memory.
        unsafe { hvrt_set_user_memory_region(self.0, &r) }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: the last user of the VM.
        unsafe { hvrt_vm_destroy(self.0) }
    }
}

//! Raw bindings: `extern "C"` declarations of every function in native/include/hvrt.h (and the
//! test-only hvrt_testing.h it includes), the `#[repr(C)]` mirrors of its structs (those hvrt.h
//! defines or uses, kvm_uapi.h's kernel structs among them, and the frozen layouts of
//! hvrt_inline.h) and its constants.
//! Names, types and meaning are hvrt.h's; read the header for each call's rules and errno.
//! Every function returning `i32` returns 0 (or a count) on success or a negative errno.
#![allow(non_camel_case_types)]

mod consts;
mod inline;
mod types;

pub use consts::*;
pub use inline::*;
pub use types::*;

use core::ffi::{c_char, c_int, c_void};

extern "C" {
    /// The ABI version of the loaded library.
    pub fn hvrt_abi_version() -> u32;
    /// `HVRT_VERSION_NUMBER` of the loaded library.
    pub fn hvrt_version_number() -> u32;
    /// Static text for a code (never NULL).
    pub fn hvrt_strerror(code: c_int) -> *const c_char;
    /// The code's name without the prefix, or "UNKNOWN".
    pub fn hvrt_errname(code: c_int) -> *const c_char;

    /// Creates a VM (cfg NULL: defaults).
    pub fn hvrt_vm_create(cfg: *const hvrt_vm_config, out: *mut *mut hvrt_vm) -> c_int;
    /// The kernel profile a VM follows.
    pub fn hvrt_vm_kvm_profile(vm: *mut hvrt_vm, out: *mut hvrt_kvm_profile) -> c_int;
    /// What a kvm_profile number resolves to here for a VM type.
    pub fn hvrt_kvm_profile_query(profile: u32, vm_type: u32, out: *mut hvrt_kvm_profile) -> c_int;
    /// Destroys a VM (NULL or destroyed: no-op).
    pub fn hvrt_vm_destroy(vm: *mut hvrt_vm);
    /// Destroys a VM unless readers or vCPUs are still registered (-EBUSY) or called from its
    /// conversion listener (-EDEADLK).
    pub fn hvrt_vm_destroy_checked(vm: *mut hvrt_vm) -> c_int;

    /// KVM_SET_USER_MEMORY_REGION2.
    pub fn hvrt_set_user_memory_region2(vm: *mut hvrt_vm, r: *const kvm_userspace_memory_region2) -> c_int;
    /// KVM_SET_USER_MEMORY_REGION (v1).
    pub fn hvrt_set_user_memory_region(vm: *mut hvrt_vm, r: *const kvm_userspace_memory_region) -> c_int;
    /// The 2022 proposal's region with a private file.
    pub fn hvrt_set_user_memory_region_ext(vm: *mut hvrt_vm, r: *const kvm_userspace_memory_region_ext) -> c_int;
    /// Many slot changes, one publish; returns the number applied.
    pub fn hvrt_set_user_memory_regions(
        vm: *mut hvrt_vm,
        regions: *const kvm_userspace_memory_region2,
        n: usize,
        results: *mut i32,
    ) -> c_int;

    /// Translates gfn of address space as_id.
    pub fn hvrt_translate(vm: *mut hvrt_vm, as_id: u32, gfn: u64, out: *mut hvrt_translation) -> c_int;
    /// Translates gfns[0..n); returns the number of hits.
    pub fn hvrt_translate_batch(
        vm: *mut hvrt_vm,
        as_id: u32,
        gfns: *const u64,
        n: usize,
        out: *mut hvrt_translation,
    ) -> c_int;

    /// Registers a reader (online).
    pub fn hvrt_reader_register(vm: *mut hvrt_vm, reader: *mut *mut hvrt_reader) -> c_int;
    /// Unregisters a reader.
    pub fn hvrt_reader_unregister(r: *mut hvrt_reader) -> c_int;
    /// Reports a quiescent state.
    pub fn hvrt_reader_quiescent(r: *mut hvrt_reader) -> c_int;
    /// Takes a reader offline.
    pub fn hvrt_reader_offline(r: *mut hvrt_reader) -> c_int;
    /// Brings a reader online.
    pub fn hvrt_reader_online(r: *mut hvrt_reader) -> c_int;
    /// hvrt_translate for an online reader.
    pub fn hvrt_reader_translate(r: *mut hvrt_reader, as_id: u32, gfn: u64, out: *mut hvrt_translation) -> c_int;
    /// hvrt_translate_batch for an online reader.
    pub fn hvrt_reader_translate_batch(
        r: *mut hvrt_reader,
        as_id: u32,
        gfns: *const u64,
        n: usize,
        out: *mut hvrt_translation,
    ) -> c_int;

    /// Slots whose shared memory overlaps [hva, hva + len); returns the total.
    pub fn hvrt_find_slots_by_hva(
        vm: *mut hvrt_vm,
        hva: u64,
        len: u64,
        out: *mut hvrt_slot_range,
        cap: usize,
    ) -> c_int;
    /// Private slots bound to fd's file overlapping [offset, offset + len); returns the total.
    pub fn hvrt_find_slots_by_private(
        vm: *mut hvrt_vm,
        fd: c_int,
        offset: u64,
        len: u64,
        out: *mut hvrt_slot_range,
        cap: usize,
    ) -> c_int;

    /// KVM_SET_MEMORY_ATTRIBUTES.
    pub fn hvrt_set_memory_attributes(vm: *mut hvrt_vm, a: *const kvm_memory_attributes) -> c_int;
    /// The attributes of gfn.
    pub fn hvrt_get_memory_attributes(vm: *mut hvrt_vm, gfn: u64, attrs: *mut u64) -> c_int;
    /// KVM's kvm_range_has_memory_attributes: 1, 0 or -errno.
    pub fn hvrt_range_has_attributes(vm: *mut hvrt_vm, gfn_start: u64, gfn_end: u64, mask: u64, attrs: u64) -> c_int;
    /// 1 (4 KiB), 2 (2 MiB), 3 (1 GiB) or -errno.
    pub fn hvrt_max_mapping_level(vm: *mut hvrt_vm, as_id: u32, gfn: u64) -> c_int;
    /// The run of equal attributes starting at gfn, up to end.
    pub fn hvrt_attributes_run(vm: *mut hvrt_vm, gfn: u64, end: u64, run_end: *mut u64, attrs: *mut u64) -> c_int;
    /// The number of PRIVATE pages in [start, end).
    pub fn hvrt_attributes_count(vm: *mut hvrt_vm, start: u64, end: u64, private_pages: *mut u64) -> c_int;

    /// Converts [gpa, gpa + size) to private (1) or shared (0).
    pub fn hvrt_convert(vm: *mut hvrt_vm, gpa: u64, size: u64, to_private: c_int) -> c_int;
    /// `HVRT_DISCARD_*` bits.
    pub fn hvrt_set_discard_policy(vm: *mut hvrt_vm, flags: u32) -> c_int;
    /// The conversion sequence (odd while a conversion runs).
    pub fn hvrt_conversion_seq(vm: *mut hvrt_vm, seq: *mut u64) -> c_int;
    /// Adds a conversion listener (cb, ctx).
    pub fn hvrt_add_conversion_listener(vm: *mut hvrt_vm, cb: hvrt_conversion_cb, ctx: *mut c_void) -> c_int;
    /// Removes a conversion listener (cb, ctx).
    pub fn hvrt_remove_conversion_listener(vm: *mut hvrt_vm, cb: hvrt_conversion_cb, ctx: *mut c_void) -> c_int;

    /// Binds vm to a KVM VM fd.
    pub fn hvrt_kvm_bind(vm: *mut hvrt_vm, kvm_vm_fd: c_int, flags: u32) -> c_int;
    /// What hvrt probed at bind.
    pub fn hvrt_kvm_caps(vm: *mut hvrt_vm, caps: *mut hvrt_kvm_caps) -> c_int;
    /// KVM_CREATE_GUEST_MEMFD on the bound VM; returns the fd.
    pub fn hvrt_create_guest_memfd(vm: *mut hvrt_vm, size: u64, flags: u64, shared: *mut *mut c_void) -> c_int;

    /// `HVRT_DIRTY_LOG_*` mode.
    pub fn hvrt_dirty_log_set_mode(vm: *mut hvrt_vm, mode: u32) -> c_int;
    /// KVM_GET_DIRTY_LOG into bitmap (ALIGN(npages, 64) / 8 bytes).
    pub fn hvrt_dirty_log_get(vm: *mut hvrt_vm, slot: u32, bitmap: *mut c_void) -> c_int;
    /// KVM_GET_DIRTY_LOG into hvrt's own array.
    pub fn hvrt_dirty_log_get_view(vm: *mut hvrt_vm, slot: u32, bitmap: *mut *const u64) -> c_int;
    /// KVM_CLEAR_DIRTY_LOG.
    pub fn hvrt_dirty_log_clear(
        vm: *mut hvrt_vm,
        slot: u32,
        first_page: u64,
        num_pages: u32,
        bitmap: *const c_void,
    ) -> c_int;
    /// Marks [gpa, gpa + len) dirty; returns the pages inside logging slots.
    pub fn hvrt_mark_dirty(vm: *mut hvrt_vm, gpa: u64, len: u64) -> i64;
    /// The first set bit at or after from, or nbits.
    pub fn hvrt_bitmap_next_set(bitmap: *const u64, nbits: u64, from: u64) -> u64;

    /// Creates the hvrt side of a vCPU on the calling thread.
    pub fn hvrt_vcpu_create(vm: *mut hvrt_vm, vcpu_fd: c_int, run: *mut kvm_run, out: *mut *mut hvrt_vcpu) -> c_int;
    /// Destroys a vCPU (on its thread).
    pub fn hvrt_vcpu_destroy(vcpu: *mut hvrt_vcpu);
    /// The vCPU's reader.
    pub fn hvrt_vcpu_reader(vcpu: *mut hvrt_vcpu) -> *mut hvrt_reader;
    /// Before KVM_RUN: reader offline.
    pub fn hvrt_vcpu_enter(vcpu: *mut hvrt_vcpu) -> c_int;
    /// After KVM_RUN: reader online.
    pub fn hvrt_vcpu_exit(vcpu: *mut hvrt_vcpu) -> c_int;
    /// Handles the exit KVM_RUN just made.
    pub fn hvrt_vcpu_handle_exit(vcpu: *mut hvrt_vcpu, kvm_run_ret: c_int, kvm_run_errno: c_int) -> c_int;
    /// The decoded last exit.
    pub fn hvrt_vcpu_exit_info(vcpu: *const hvrt_vcpu, info: *mut hvrt_exit_info) -> c_int;
    /// enter, KVM_RUN, exit, handle_exit until an exit is not RESUME.
    pub fn hvrt_vcpu_run(vcpu: *mut hvrt_vcpu) -> c_int;

    /// Test-only: the nth call at `sites` (`HVRT_FAULT_*`) fails with errno `err`; (0, 0, 0) disarms.
    pub fn hvrt_test_fail_nth(sites: u32, nth: u64, err: c_int) -> c_int;
    /// Test-only: calls counted since arming, and the site that was failed (0: none).
    pub fn hvrt_test_fault_status(calls: *mut u64, fired: *mut u32) -> c_int;
    /// Declares a memfd a guest_memfd for hvrt's own checks (hvrt_testing.h; replaying recorded answers).
    pub fn hvrt_test_stand_in_guest_memfd(fd: c_int) -> c_int;
}

//! Slot changes (`hvrt_set_user_memory_region*`): KVM_SET_USER_MEMORY_REGION(2) with KVM's rules.
//!
//! Creating a slot is `unsafe`: hvrt trusts `userspace_addr` as KVM does. Translations hand out
//! host addresses that safe code (the vm-memory bridge) dereferences, and `convert` to private
//! discards (madvise) whatever is mapped there. The caller vouches for the host range.

use crate::error::{Error, Result};
use crate::sys;
use crate::vm::Vm;

/// Bytes per guest page.
pub const PAGE_SIZE: u64 = 4096;

impl Vm {
    /// Records a slot change hvrt accepted: size 0 deletes.
    fn track(slots: &mut std::collections::HashMap<u32, u64>, slot: u32, memory_size: u64) {
        if memory_size == 0 {
            slots.remove(&slot);
        } else {
            slots.insert(slot, memory_size / PAGE_SIZE);
        }
    }

    /// KVM_SET_USER_MEMORY_REGION2 (`hvrt_set_user_memory_region2`): creates, deletes
    /// (`memory_size` 0), moves or changes the flags of a slot; errno as Linux's
    /// kvm_set_memory_region (`EINVAL`, `EEXIST`, `EBADF`, `ENOMEM`, `EMFILE`; see hvrt.h).
    ///
    /// # Safety
    /// `[userspace_addr, userspace_addr + memory_size)` must be host memory the caller owns,
    /// mapped (readable and writable unless `KVM_MEM_READONLY`), and it must stay mapped, and
    /// not be used for anything that guest-memory accesses or discards may not touch, until the
    /// slot is deleted (or the VM dropped): hvrt's translations give out addresses in it, and
    /// `convert` to private frees its pages (madvise). Deleting (`memory_size` 0) or re-sending
    /// an existing slot's range is always safe; see [`Vm::delete_slot`].
    pub unsafe fn set_user_memory_region2(&self, r: &sys::kvm_userspace_memory_region2) -> Result<()> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: live VM; r is a valid struct; the host range is the caller's promise.
        Error::check0(unsafe { sys::hvrt_set_user_memory_region2(self.raw, r) })?;
        Vm::track(&mut slots, r.slot, r.memory_size);
        Ok(())
    }

    /// KVM_SET_USER_MEMORY_REGION (v1, `hvrt_set_user_memory_region`): only LOG_DIRTY_PAGES
    /// and READONLY flags.
    ///
    /// # Safety
    /// As [`Vm::set_user_memory_region2`].
    pub unsafe fn set_user_memory_region(&self, r: &sys::kvm_userspace_memory_region) -> Result<()> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: live VM; r is valid; the host range is the caller's promise.
        Error::check0(unsafe { sys::hvrt_set_user_memory_region(self.raw, r) })?;
        Vm::track(&mut slots, r.slot, r.memory_size);
        Ok(())
    }

    /// The 2022 proposal's region with a private file (`hvrt_set_user_memory_region_ext`): a
    /// guest_memfd, memfd or regular file as `private_fd` with `KVM_MEM_PRIVATE`.
    ///
    /// # Safety
    /// As [`Vm::set_user_memory_region2`] for the shared range.
    pub unsafe fn set_user_memory_region_ext(&self, r: &sys::kvm_userspace_memory_region_ext) -> Result<()> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: live VM; r is valid; the host range is the caller's promise.
        Error::check0(unsafe { sys::hvrt_set_user_memory_region_ext(self.raw, r) })?;
        Vm::track(&mut slots, r.region.slot, r.region.memory_size);
        Ok(())
    }

    /// Many slot changes, one publish (`hvrt_set_user_memory_regions`): each entry with the
    /// rules of `set_user_memory_region2`; a failing entry changes nothing and does not stop
    /// the others. Returns each entry's result, in order.
    /// Errors (of the whole call): `EINVAL` more than `i32::MAX` entries.
    ///
    /// # Safety
    /// As [`Vm::set_user_memory_region2`], for every entry.
    pub unsafe fn set_user_memory_regions(
        &self,
        regions: &[sys::kvm_userspace_memory_region2],
    ) -> Result<Vec<Result<()>>> {
        let mut results = vec![0i32; regions.len()];
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: live VM; regions and results hold regions.len() elements; host ranges are
        // the caller's promise.
        let rc = unsafe {
            sys::hvrt_set_user_memory_regions(self.raw, regions.as_ptr(), regions.len(), results.as_mut_ptr())
        };
        Error::check(rc)?;
        for (r, &code) in regions.iter().zip(&results) {
            if code == 0 {
                Vm::track(&mut slots, r.slot, r.memory_size);
            }
        }
        Ok(results.into_iter().map(Error::check0).collect())
    }

    /// Deletes slot `as_id << 16 | id` (a region with `memory_size` 0). After it returns no
    /// reader uses the slot's memory any more: the caller may unmap it.
    /// Errors: `EINVAL` no such slot or out of range.
    pub fn delete_slot(&self, slot: u32) -> Result<()> {
        // Through v1, which every kernel profile has (6.1 has no REGION2) and which deletes a
        // guest_memfd slot too: a delete carries no flags.
        let r = sys::kvm_userspace_memory_region { slot, ..Default::default() };
        // SAFETY: a delete names no host memory.
        unsafe { self.set_user_memory_region(&r) }
    }
}

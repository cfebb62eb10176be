//! Dirty logging (`hvrt_dirty_log_*`, `hvrt_mark_dirty`): KVM's bitmaps per slot, with the
//! sizes of the caller's buffers checked before the call.

use crate::error::{Error, Result};
use crate::sys;
use crate::vm::Vm;
use core::ffi::c_void;

/// 64-bit words of a slot's bitmap: ALIGN(npages, 64) / 64.
pub fn bitmap_words(npages: u64) -> usize {
    npages.div_ceil(64) as usize
}

/// The first set bit at or after `from` in the first `nbits` bits of `bitmap` (SIMD scan), or
/// `nbits` when there is none (`hvrt_bitmap_next_set`). `nbits` is clamped to the slice.
pub fn bitmap_next_set(bitmap: &[u64], nbits: u64, from: u64) -> u64 {
    let nbits = nbits.min(bitmap.len() as u64 * 64);
    // SAFETY: the call reads only words holding bits [from, nbits), all inside the slice.
    unsafe { sys::hvrt_bitmap_next_set(bitmap.as_ptr(), nbits, from) }
}

/// The set bits of the first `nbits` bits of `bitmap`, in order.
pub fn bitmap_iter(bitmap: &[u64], nbits: u64) -> impl Iterator<Item = u64> + '_ {
    let nbits = nbits.min(bitmap.len() as u64 * 64);
    let mut next = bitmap_next_set(bitmap, nbits, 0);
    core::iter::from_fn(move || {
        if next >= nbits {
            return None;
        }
        let i = next;
        next = bitmap_next_set(bitmap, nbits, i + 1);
        Some(i)
    })
}

impl Vm {
    /// KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode): `HVRT_DIRTY_LOG_MANUAL_PROTECT`
    /// (get only copies; clear clears) and `HVRT_DIRTY_LOG_INITIALLY_SET`, or 0.
    /// Errors: `EINVAL` unknown bits or INITIALLY_SET alone; KVM's errno on a bound VM.
    pub fn dirty_log_set_mode(&self, mode: u32) -> Result<()> {
        // SAFETY: live VM.
        Error::check0(unsafe { sys::hvrt_dirty_log_set_mode(self.raw, mode) })
    }

    /// KVM_GET_DIRTY_LOG of `slot` into `bitmap` (bit i = page i of the slot), harvesting KVM's
    /// log when bound; clears what it copied unless in manual-protect mode. Serialized with slot
    /// changes (hvrt's writer lock): not from a thread whose own reader is online.
    /// Errors: `EINVAL` `bitmap` shorter than the slot's `bitmap_words(npages)` (checked here,
    /// before anything is harvested), as_id or id out of range; `ENOENT` no such slot or it
    /// does not log; KVM's errno (`ENXIO`: the bound VM logs into a ring); `ENOMEM`.
    pub fn dirty_log_get(&self, slot: u32, bitmap: &mut [u64]) -> Result<()> {
        // The lock keeps the slot's size fixed until hvrt has written the bitmap.
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let ptr = match slots.get(&slot) {
            Some(&npages) if bitmap.len() < bitmap_words(npages) => return Err(Error::EINVAL),
            Some(_) => bitmap.as_mut_ptr() as *mut c_void,
            // Not a slot of this wrapper: NULL, so hvrt answers with its errno (EINVAL/ENOENT)
            // and never writes.
            None => core::ptr::null_mut(),
        };
        // SAFETY: live VM; ptr is NULL or holds at least the slot's bitmap size.
        Error::check0(unsafe { sys::hvrt_dirty_log_get(self.raw, slot, ptr) })
    }

    /// `dirty_log_get` without the copy: a view of hvrt's own array holding the harvest
    /// (`bitmap_words(npages)` words). It borrows the VM mutably, so it cannot outlive the next
    /// dirty-log call or slot change, which would reuse the array.
    /// Errors: as `dirty_log_get`.
    pub fn dirty_log_get_view(&mut self, slot: u32) -> Result<&[u64]> {
        let npages = self.slots.get_mut().unwrap_or_else(|p| p.into_inner()).get(&slot).copied();
        let mut view: *const u64 = core::ptr::null();
        let out: *mut *const u64 = if npages.is_some() { &mut view } else { core::ptr::null_mut() };
        // SAFETY: live VM; out is NULL (hvrt then answers with an errno) or a valid out-pointer.
        Error::check0(unsafe { sys::hvrt_dirty_log_get_view(self.raw, slot, out) })?;
        let words = bitmap_words(npages.unwrap_or(0));
        if view.is_null() || words == 0 {
            return Ok(&[]);
        }
        // SAFETY: hvrt's array holds the slot's bitmap, bitmap_words(npages) words, unchanged
        // until the next dirty-log call on the slot, a change of the slot or destroy — all of
        // which need a borrow of self that this &mut borrow excludes.
        Ok(unsafe { core::slice::from_raw_parts(view, words) })
    }

    /// KVM_CLEAR_DIRTY_LOG: clears the pages of `[first_page, first_page + num_pages)` of
    /// `slot` whose bits are set in `bitmap` (bit 0 = first_page).
    /// Errors: `EINVAL` `bitmap` shorter than `bitmap_words(num_pages)` (checked here),
    /// first_page not a multiple of 64, or past the slot; `ENOENT` no such logging slot.
    pub fn dirty_log_clear(&self, slot: u32, first_page: u64, num_pages: u32, bitmap: &[u64]) -> Result<()> {
        if bitmap.len() < bitmap_words(num_pages as u64) {
            return Err(Error::EINVAL);
        }
        // SAFETY: live VM; bitmap holds the words hvrt reads.
        Error::check0(unsafe {
            sys::hvrt_dirty_log_clear(self.raw, slot, first_page, num_pages, bitmap.as_ptr() as *const c_void)
        })
    }

    /// Marks the pages of `[gpa, gpa + len)` of address space 0 dirty in the slots that log
    /// them (a write the VMM did itself); returns the number of pages inside logging slots.
    /// Lock-free. Errors: `EINVAL` the range wraps.
    pub fn mark_dirty(&self, gpa: u64, len: u64) -> Result<u64> {
        // SAFETY: live VM.
        let n = unsafe { sys::hvrt_mark_dirty(self.raw, gpa, len) };
        if n < 0 {
            Err(Error::from_code(n as i32))
        } else {
            Ok(n as u64)
        }
    }
}

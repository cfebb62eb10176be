//! Reverse queries (`hvrt_find_slots_by_hva`, `hvrt_find_slots_by_private`): which slots and
//! gfns a host range backs — what a VMM asks when host memory goes away (KVM's mmu-notifier
//! walk and kvm_gmem_invalidate_begin).

use crate::error::{Error, Result};
use crate::sys;
use crate::vm::Vm;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One (slot, gfn range) pair of a reverse query (`struct hvrt_slot_range`).
pub type SlotRange = sys::hvrt_slot_range;

/// The retry loop of hvrt.h: ask with the buffer's capacity, grow to the total (plus room for
/// slots created meanwhile) and ask again until everything fit.
fn collect(mut query: impl FnMut(&mut [SlotRange]) -> i32) -> Result<Vec<SlotRange>> {
    let mut buf = vec![SlotRange::default(); 16];
    loop {
        let n = Error::check(query(&mut buf))? as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(n + 8, SlotRange::default());
    }
}

impl Vm {
    /// Every slot whose shared host memory overlaps `[hva, hva + len)`, with the overlapping
    /// gfns (KVM's hva_to_gfn_memslot formulas); address space 0 first, then by
    /// userspace_addr. Allocates the result; see [`Vm::find_slots_by_hva_into`] for a caller
    /// buffer. Errors: `EINVAL` the range wraps.
    pub fn find_slots_by_hva(&self, hva: u64, len: u64) -> Result<Vec<SlotRange>> {
        collect(|b| self.find_slots_by_hva_raw(hva, len, b))
    }

    /// As [`Vm::find_slots_by_hva`] into `out` (no allocation): writes the first
    /// `min(total, out.len())` pairs and returns the total; a total above `out.len()` means
    /// `out` was too small.
    pub fn find_slots_by_hva_into(&self, hva: u64, len: u64, out: &mut [SlotRange]) -> Result<usize> {
        Error::check(self.find_slots_by_hva_raw(hva, len, out)).map(|n| n as usize)
    }

    fn find_slots_by_hva_raw(&self, hva: u64, len: u64, out: &mut [SlotRange]) -> i32 {
        // SAFETY: live VM; out holds out.len() elements (a dangling pointer with 0 is never read).
        unsafe { sys::hvrt_find_slots_by_hva(self.raw, hva, len, out.as_mut_ptr(), out.len()) }
    }

    /// Every private slot bound to the file `fd` refers to (by st_dev/st_ino) whose pages
    /// overlap file bytes `[offset, offset + len)`, with those gfns (KVM's
    /// kvm_gmem_invalidate_begin). Errors: `EINVAL` the range wraps; `EBADF`.
    pub fn find_slots_by_private(&self, fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<Vec<SlotRange>> {
        collect(|b| self.find_slots_by_private_raw(fd, offset, len, b))
    }

    /// As [`Vm::find_slots_by_private`] into `out`; returns the total.
    pub fn find_slots_by_private_into(
        &self,
        fd: BorrowedFd<'_>,
        offset: u64,
        len: u64,
        out: &mut [SlotRange],
    ) -> Result<usize> {
        Error::check(self.find_slots_by_private_raw(fd, offset, len, out)).map(|n| n as usize)
    }

    fn find_slots_by_private_raw(&self, fd: BorrowedFd<'_>, offset: u64, len: u64, out: &mut [SlotRange]) -> i32 {
        // SAFETY: live VM; open fd; out holds out.len() elements.
        unsafe {
            sys::hvrt_find_slots_by_private(self.raw, fd.as_raw_fd(), offset, len, out.as_mut_ptr(), out.len())
        }
    }
}

//! Memory attributes (`hvrt_*_memory_attributes`, ...): KVM's per-gfn PRIVATE bit, owned by
//! the VM (not by slots), with range queries and hugepage levels.

use crate::error::{Error, Result};
use crate::sys;
use crate::vm::Vm;

impl Vm {
    /// KVM_SET_MEMORY_ATTRIBUTES: sets the attributes of the gfns of `[gpa, gpa + size)` to
    /// `attributes` (0 or `KVM_MEMORY_ATTRIBUTE_PRIVATE`). No discard (see [`Vm::convert`]).
    /// Errors (KVM's order): `EINVAL` unsupported bits, size 0, wrap, not 4 KiB aligned;
    /// `ENOMEM`; KVM's errno on a bound VM.
    pub fn set_memory_attributes(&self, gpa: u64, size: u64, attributes: u64) -> Result<()> {
        self.set_memory_attributes_raw(&sys::kvm_memory_attributes { address: gpa, size, attributes, flags: 0 })
    }

    /// `hvrt_set_memory_attributes` with KVM's struct as given (flags included: != 0 is `EINVAL`).
    pub fn set_memory_attributes_raw(&self, a: &sys::kvm_memory_attributes) -> Result<()> {
        // SAFETY: live VM; a is a valid struct.
        Error::check0(unsafe { sys::hvrt_set_memory_attributes(self.raw, a) })
    }

    /// The attributes of `gfn` (0 or `KVM_MEMORY_ATTRIBUTE_PRIVATE`).
    pub fn memory_attributes(&self, gfn: u64) -> Result<u64> {
        let mut a = 0;
        // SAFETY: live VM; a is a valid out-pointer.
        Error::check0(unsafe { sys::hvrt_get_memory_attributes(self.raw, gfn, &mut a) })?;
        Ok(a)
    }

    /// Whether every gfn of `[gfn_start, gfn_end)` has `(attributes & mask) == attrs`: KVM's
    /// kvm_range_has_memory_attributes, quirks included (see hvrt.h).
    pub fn range_has_attributes(&self, gfn_start: u64, gfn_end: u64, mask: u64, attrs: u64) -> Result<bool> {
        // SAFETY: live VM.
        Error::check(unsafe { sys::hvrt_range_has_attributes(self.raw, gfn_start, gfn_end, mask, attrs) })
            .map(|r| r == 1)
    }

    /// The largest page-table level `gfn` may be mapped at: 1 (4 KiB), 2 (2 MiB), 3 (1 GiB).
    /// Errors: `EINVAL` as_id out of range; `ENOENT` gfn in no slot.
    pub fn max_mapping_level(&self, as_id: u32, gfn: u64) -> Result<u32> {
        // SAFETY: live VM.
        Error::check(unsafe { sys::hvrt_max_mapping_level(self.raw, as_id, gfn) }).map(|l| l as u32)
    }

    /// The run of equal attributes from `gfn`: `(run_end, attrs)`, every page of
    /// `[gfn, run_end)` has `attrs`; `run_end <= end`. Errors: `EINVAL` gfn >= end.
    pub fn attributes_run(&self, gfn: u64, end: u64) -> Result<(u64, u64)> {
        let (mut run_end, mut attrs) = (0, 0);
        // SAFETY: live VM; valid out-pointers.
        Error::check0(unsafe { sys::hvrt_attributes_run(self.raw, gfn, end, &mut run_end, &mut attrs) })?;
        Ok((run_end, attrs))
    }

    /// The number of PRIVATE pages in `[start, end)`. Errors: `EINVAL` start > end.
    pub fn attributes_count(&self, start: u64, end: u64) -> Result<u64> {
        let mut n = 0;
        // SAFETY: live VM; valid out-pointer.
        Error::check0(unsafe { sys::hvrt_attributes_count(self.raw, start, end, &mut n) })?;
        Ok(n)
    }
}

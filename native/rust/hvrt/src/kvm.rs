//! The KVM binding (`hvrt_kvm_bind`, `hvrt_kvm_caps`, `hvrt_create_guest_memfd`): slot and
//! attribute changes go to a KVM VM fd first, then to hvrt.

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::sys;
use crate::vm::Vm;
use core::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What KVM offers on the bound VM (`struct hvrt_kvm_caps`).
pub type KvmCaps = sys::hvrt_kvm_caps;

/// A guest_memfd made by [`Vm::create_guest_memfd`]: the fd, and its shared mapping when
/// KVM took `GUEST_MEMFD_FLAG_MMAP`. Both are released on drop (delete the slots that use them
/// first).
#[derive(Debug)]
pub struct GuestMemfd {
    // Declared first so it is unmapped before the fd closes.
    mapping: Option<Mapping>,
    fd: OwnedFd,
}

impl GuestMemfd {
    /// The shared mapping (the `userspace_addr` to give a slot of this file), if any.
    pub fn mapping(&self) -> Option<&Mapping> {
        self.mapping.as_ref()
    }

    /// The fd and the mapping, for the caller to own.
    pub fn into_parts(self) -> (OwnedFd, Option<Mapping>) {
        (self.fd, self.mapping)
    }
}

impl AsFd for GuestMemfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Vm {
    /// Binds this VM to a KVM VM fd (from KVM_CREATE_VM): from then on slot and attribute
    /// changes go to KVM first. `flags`: `HVRT_BIND_EXIT_HYPERCALL` or 0. hvrt does not own the
    /// fd: keep it open while the `Vm` lives (close it after dropping the `Vm`); there is no
    /// unbind. Errors: `EBADF`, `EINVAL` unknown flags or more address spaces than KVM has,
    /// `EBUSY` already bound, `ENOTTY` not a KVM VM fd, `ENODEV`, KVM's errno.
    pub fn kvm_bind(&self, kvm_vm_fd: BorrowedFd<'_>, flags: u32) -> Result<()> {
        // Hold the slot lock: the bind hands hvrt's slots to KVM.
        let _slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: live VM; an open fd.
        Error::check0(unsafe { sys::hvrt_kvm_bind(self.raw, kvm_vm_fd.as_raw_fd(), flags) })
    }

    /// What hvrt probed at bind. Errors: `ENODEV` not bound.
    pub fn kvm_caps(&self) -> Result<KvmCaps> {
        let mut caps = KvmCaps { size: core::mem::size_of::<KvmCaps>() as u32, ..Default::default() };
        // SAFETY: live VM; caps is a valid struct of the size it declares.
        Error::check0(unsafe { sys::hvrt_kvm_caps(self.raw, &mut caps) })?;
        Ok(caps)
    }

    /// KVM_CREATE_GUEST_MEMFD on the bound VM (`size` bytes; `flags`: KVM's
    /// `GUEST_MEMFD_FLAG_*` and/or `HVRT_GMEM_SHARED_IF_SUPPORTED`), mapped shared when KVM got
    /// `GUEST_MEMFD_FLAG_MMAP`. Errors: `ENODEV` not bound or no guest_memfd; KVM's errno.
    pub fn create_guest_memfd(&self, size: u64, flags: u64) -> Result<GuestMemfd> {
        let mut shared: *mut c_void = core::ptr::null_mut();
        // SAFETY: live VM; shared is a valid out-pointer.
        let fd = Error::check(unsafe { sys::hvrt_create_guest_memfd(self.raw, size, flags, &mut shared) })?;
        // SAFETY: fd is a new fd the caller owns (hvrt.h).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mapping = if shared.is_null() {
            None
        } else {
            // SAFETY: hvrt mapped the whole file (size bytes) for the caller to own.
            Some(unsafe { Mapping::from_raw(shared.cast(), size as usize) })
        };
        Ok(GuestMemfd { mapping, fd })
    }
}

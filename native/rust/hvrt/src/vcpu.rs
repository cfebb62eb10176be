//! `Vcpu`: the hvrt side of a KVM vCPU (`hvrt_vcpu_*`), created and destroyed on the vCPU's
//! thread, owning the vCPU fd and its kvm_run mapping.

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::owner::VmOwner;
use crate::sys;
use crate::translation::Translation;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// What to do after an exit (`HVRT_EXIT_RESUME` / `HVRT_EXIT_UNHANDLED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// hvrt handled it: enter KVM_RUN again.
    Resume,
    /// The VMM's to handle (see [`Vcpu::exit_info`] and the kvm_run page).
    Unhandled,
}

/// The decoded last exit (`struct hvrt_exit_info`).
pub type ExitInfo = sys::hvrt_exit_info;

/// Bytes of `struct kvm_run` hvrt may read or write (the exit union and more fit in one page).
pub const KVM_RUN_MIN_BYTES: usize = 4096;

/// The hvrt side of a vCPU: handles the memory exits (faults and KVM_HC_MAP_GPA_RANGE
/// conversions), classifies MMIO, and owns a registered reader that is offline while the guest
/// runs. Destroyed on drop, before the fd closes and the run page is unmapped.
///
/// `!Send` and `!Sync`: hvrt.h allows one thread per vCPU, the one that created it. It holds a
/// [`VmOwner`], so the VM outlives it (hvrt.h: destroy every vCPU before the VM).
///
/// While the reader is online (after creation and after `exit`, until `enter`), this thread
/// must not change slots, attributes or conversions unless bracketed by `enter`/`exit`: the
/// change would wait for this thread's own reader.
pub struct Vcpu<V: VmOwner> {
    raw: *mut sys::hvrt_vcpu,
    run: Mapping,
    fd: Option<OwnedFd>,
    vm: V,
    /// !Send + !Sync.
    _thread: PhantomData<*mut ()>,
}

impl<V: VmOwner> Vcpu<V> {
    /// Creates the hvrt side of a vCPU on this thread (`hvrt_vcpu_create`), taking ownership
    /// of the KVM vCPU fd (None: no KVM, exits are built by hand in the run page) and of `run`,
    /// its mapped `struct kvm_run` (for KVM: the vCPU fd mapped with KVM_GET_VCPU_MMAP_SIZE);
    /// on an error both are released. Errors: `EINVAL` `run` shorter than [`KVM_RUN_MIN_BYTES`]; `EBADF`; `ENOMEM`.
    pub fn new(vm: V, vcpu_fd: Option<OwnedFd>, run: Mapping) -> Result<Vcpu<V>> {
        if run.len() < KVM_RUN_MIN_BYTES {
            return Err(Error::EINVAL);
        }
        let fd = vcpu_fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let mut raw = core::ptr::null_mut();
        // SAFETY: live VM (vm); fd is -1 or open and owned by the Vcpu; run is a writable
        // mapping of at least a page that the Vcpu owns until after hvrt_vcpu_destroy.
        Error::check0(unsafe { sys::hvrt_vcpu_create(vm.raw, fd, run.as_ptr().cast(), &mut raw) })?;
        Ok(Vcpu { raw, run, fd: vcpu_fd, vm, _thread: PhantomData })
    }

    /// The VM.
    pub fn vm(&self) -> &crate::Vm {
        &self.vm
    }

    /// The KVM vCPU fd, if any (for the VMM's own ioctls: registers, ...).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// The kvm_run page, to read the exit the VMM handles itself.
    pub fn run_page(&self) -> &[u8] {
        // SAFETY: the mapping is the Vcpu's; KVM writes it only inside KVM_RUN, which runs in
        // `run` (a &mut self call) or in the VMM's own ioctl on the fd, not during this borrow.
        unsafe { core::slice::from_raw_parts(self.run.as_ptr(), self.run.len()) }
    }

    /// The kvm_run page, writable: MMIO/PIO read data, or exits built by hand (no KVM).
    pub fn run_page_mut(&mut self) -> &mut [u8] {
        // SAFETY: as run_page, and &mut self excludes any other borrow.
        unsafe { core::slice::from_raw_parts_mut(self.run.as_ptr(), self.run.len()) }
    }

    /// The raw handle (do not destroy it).
    pub fn as_ptr(&self) -> *mut sys::hvrt_vcpu {
        self.raw
    }

    /// Before KVM_RUN: the reader goes offline (slot changes stop waiting for this thread).
    pub fn enter(&mut self) -> Result<()> {
        // SAFETY: live vCPU on its own thread (!Send).
        Error::check0(unsafe { sys::hvrt_vcpu_enter(self.raw) })
    }

    /// After KVM_RUN: the reader comes back online.
    pub fn exit(&mut self) -> Result<()> {
        // SAFETY: as enter.
        Error::check0(unsafe { sys::hvrt_vcpu_exit(self.raw) })
    }

    /// Handles the exit KVM_RUN just made (`kvm_run_ret` its return value, `kvm_run_errno`
    /// errno after it, 0 when it returned 0), with the reader online: conversions for memory
    /// faults and KVM_HC_MAP_GPA_RANGE, MMIO classification (see hvrt.h for every case).
    /// Errors: the conversion's errno, `EFAULT` a fault KVM would repeat forever,
    /// `EHWPOISON`, KVM_RUN's errno.
    pub fn handle_exit(&mut self, kvm_run_ret: i32, kvm_run_errno: i32) -> Result<ExitAction> {
        // SAFETY: as enter; the run page is mapped.
        let rc = Error::check(unsafe { sys::hvrt_vcpu_handle_exit(self.raw, kvm_run_ret, kvm_run_errno) })?;
        Ok(if rc == sys::HVRT_EXIT_RESUME { ExitAction::Resume } else { ExitAction::Unhandled })
    }

    /// The decoded last exit.
    pub fn exit_info(&self) -> Result<ExitInfo> {
        let mut info = ExitInfo::default();
        // SAFETY: live vCPU; valid out-pointer.
        Error::check0(unsafe { sys::hvrt_vcpu_exit_info(self.raw, &mut info) })?;
        Ok(info)
    }

    /// enter, KVM_RUN, exit, handle_exit until an exit is not handled: returns
    /// `ExitAction::Unhandled` for the VMM, or the error. Errors: `ENODEV` no vCPU fd.
    pub fn run(&mut self) -> Result<ExitAction> {
        // SAFETY: as enter; the fd and the run page are the Vcpu's.
        let rc = Error::check(unsafe { sys::hvrt_vcpu_run(self.raw) })?;
        Ok(if rc == sys::HVRT_EXIT_RESUME { ExitAction::Resume } else { ExitAction::Unhandled })
    }

    /// `hvrt_reader_translate` with the vCPU's reader. Errors: `EPERM` between `enter` and
    /// `exit`; `EINVAL`; `ENOENT`.
    pub fn translate(&self, as_id: u32, gfn: u64) -> Result<Translation> {
        let mut t = Translation::default();
        // SAFETY: live vCPU on its thread; its reader lives until destroy.
        Error::check0(unsafe { sys::hvrt_reader_translate(sys::hvrt_vcpu_reader(self.raw), as_id, gfn, &mut t.0) })?;
        Ok(t)
    }
}

impl<V: VmOwner> Drop for Vcpu<V> {
    fn drop(&mut self) {
        // SAFETY: on the creating thread (!Send); before the run mapping, the fd and the VM
        // owner (fields, dropped after this) go away.
        unsafe { sys::hvrt_vcpu_destroy(self.raw) }
    }
}

impl<V: VmOwner> std::fmt::Debug for Vcpu<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcpu").field("raw", &self.raw).field("fd", &self.fd).finish()
    }
}

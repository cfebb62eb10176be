//! Private⇄shared conversion (`hvrt_convert`), the discard policy, the conversion sequence and
//! conversion listeners as Rust closures.

use crate::error::{Error, Result};
use crate::sys;
use crate::vm::Vm;
use core::ffi::c_void;
use std::cell::Cell;

/// A conversion listener's closure: `(gpa, size, to_private)`.
type ListenerFn = dyn FnMut(u64, u64, bool) + Send;

thread_local! {
    /// The ctx of the listener whose closure runs on this thread now (null: none), so a guard
    /// dropped from inside its own closure does not free the closure under itself.
    static RUNNING: Cell<*mut c_void> = const { Cell::new(core::ptr::null_mut()) };
}

/// The C callback every Rust listener is registered with; ctx is its boxed closure.
unsafe extern "C" fn trampoline(ctx: *mut c_void, gpa: u64, size: u64, to_private: i32) {
    let prev = RUNNING.with(|r| r.replace(ctx));
    // No unwinding into hvrt (C# NativeAOT frames): a panicking listener aborts the process,
    // since the conversion it was told about has already happened and cannot be undone.
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: ctx is the Box<Box<ListenerFn>> registered by add_conversion_listener and
        // freed only after hvrt_remove_conversion_listener returned (which waits for a running
        // conversion: both take the VM lock), or never when removed from inside itself.
        // Calls are serialized by the VM lock, so the &mut is exclusive.
        let f = unsafe { &mut *(ctx as *mut Box<ListenerFn>) };
        f(gpa, size, to_private != 0);
    }));
    RUNNING.with(|r| r.set(prev));
    if ok.is_err() {
        eprintln!("hvrt: a conversion listener panicked; aborting");
        std::process::abort();
    }
}

/// A registered conversion listener; dropping it removes the listener (and frees the closure).
/// `mem::forget` keeps the listener registered for the VM's life (the closure is leaked).
#[must_use = "dropping the guard removes the listener"]
pub struct ListenerGuard<'vm> {
    vm: &'vm Vm,
    ctx: *mut Box<ListenerFn>,
}

// SAFETY: the guard only removes its listener (a thread-safe hvrt call) and frees a Send closure.
unsafe impl Send for ListenerGuard<'_> {}
// SAFETY: &ListenerGuard exposes nothing.
unsafe impl Sync for ListenerGuard<'_> {}

impl Drop for ListenerGuard<'_> {
    fn drop(&mut self) {
        let ctx = self.ctx as *mut c_void;
        // SAFETY: live VM (borrowed); (trampoline, ctx) was added by add_conversion_listener.
        let rc = unsafe { sys::hvrt_remove_conversion_listener(self.vm.raw, Some(trampoline), ctx) };
        let inside_itself = RUNNING.with(|r| r.get()) == ctx;
        if rc == 0 && !inside_itself {
            // SAFETY: removed, and the remove waited for any conversion running it (VM lock):
            // hvrt will not call it again, so the box is ours to free.
            drop(unsafe { Box::from_raw(self.ctx) });
        }
        // Otherwise (removed from inside its own call, or an unexpected error) the closure is
        // leaked rather than freed under a caller.
    }
}

impl Vm {
    /// Converts guest-physical bytes `[gpa, gpa + size)` to private or shared as hvrt.h
    /// describes (QEMU's kvm_convert_memory): discards the side no longer used (madvise on the
    /// slots' shared memory, fallocate(PUNCH_HOLE) on private files, per the discard policy),
    /// sets the attribute, calls the listeners. Ok also when nothing needed to change.
    /// Errors: `EINVAL` the VM type has no private memory, size 0, wrap, misaligned;
    /// `EDEADLK` from a listener; `ENOMEM`; a discard's errno (`EACCES`, `EBADF`, ...).
    pub fn convert(&self, gpa: u64, size: u64, to_private: bool) -> Result<()> {
        // SAFETY: live VM. The host memory discarded is the slots' own, vouched for by the
        // unsafe slot calls that created them.
        Error::check0(unsafe { sys::hvrt_convert(self.raw, gpa, size, to_private as i32) })
    }

    /// Which sides `convert` discards: `HVRT_DISCARD_SHARED | HVRT_DISCARD_PRIVATE` (the
    /// default), either, or 0. Errors: `EINVAL` other bits.
    pub fn set_discard_policy(&self, flags: u32) -> Result<()> {
        // SAFETY: live VM.
        Error::check0(unsafe { sys::hvrt_set_discard_policy(self.raw, flags) })
    }

    /// The conversion sequence: even when no conversion runs, odd while one does; +2 per
    /// conversion with pages to change (a seqlock for readers, see hvrt.h).
    pub fn conversion_seq(&self) -> Result<u64> {
        let mut s = 0;
        // SAFETY: live VM; valid out-pointer.
        Error::check0(unsafe { sys::hvrt_conversion_seq(self.raw, &mut s) })?;
        Ok(s)
    }

    /// Adds a listener called once per maximal converted run `(gpa, size, to_private)`, after
    /// the discard and the attribute change, on the converting thread while it holds the VM
    /// lock: keep it short; slot, attribute and conversion changes of this VM from inside it
    /// fail with `EDEADLK` (queries are fine). Listeners run in the order they were added. A
    /// panic inside the closure aborts the process (it cannot unwind through hvrt).
    /// Errors: `ENOMEM`.
    pub fn add_conversion_listener<F>(&self, f: F) -> Result<ListenerGuard<'_>>
    where
        F: FnMut(u64, u64, bool) + Send + 'static,
    {
        let boxed: Box<Box<ListenerFn>> = Box::new(Box::new(f));
        let ctx = Box::into_raw(boxed);
        // SAFETY: live VM; ctx stays valid until the guard removes the listener.
        let rc = unsafe { sys::hvrt_add_conversion_listener(self.raw, Some(trampoline), ctx as *mut c_void) };
        if let Err(e) = Error::check0(rc) {
            // SAFETY: not registered: still ours.
            drop(unsafe { Box::from_raw(ctx) });
            return Err(e);
        }
        Ok(ListenerGuard { vm: self, ctx })
    }
}

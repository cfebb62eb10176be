//! `VmOwner`: how a `Reader` or `Vcpu` keeps its `Vm` alive.
//!
//! hvrt.h: unregister every reader and destroy every vCPU before hvrt_vm_destroy. A handle
//! therefore holds a `VmOwner` — a borrow (`&Vm`, checked by the borrow checker) or shared
//! ownership (`Arc<Vm>`, `Rc<Vm>`, for handles stored next to the VM, e.g. in a guest-memory
//! type) — and drops it only after its own unregister/destroy.

use crate::vm::Vm;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

/// A handle that keeps a [`Vm`] alive, and at the same address, for as long as it lives.
///
/// # Safety
/// Implementors guarantee that `deref` returns the same `Vm` for the whole life of the value
/// and that this `Vm` is not dropped before the value is.
pub unsafe trait VmOwner: Deref<Target = Vm> {}

// SAFETY: a shared borrow keeps the Vm alive and in place for 'a.
unsafe impl VmOwner for &Vm {}
// SAFETY: the Arc holds a strong count on one heap Vm.
unsafe impl VmOwner for Arc<Vm> {}
// SAFETY: the Rc holds a strong count on one heap Vm.
unsafe impl VmOwner for Rc<Vm> {}

//! Rust bindings to libhvrt.so, a guest-memory runtime for virtual machine monitors: KVM's
//! memory-slot rules, lock-free gfn → host translation, memory attributes, private⇄shared
//! conversion, dirty logging and the vCPU run loop (native/include/hvrt.h is the contract).
//!
//! - [`sys`]: raw `extern "C"` declarations and `#[repr(C)]` mirrors (layout tested against
//!   the C header).
//! - The safe layer: [`Vm`] (RAII), [`Reader`] (a registered QSBR reader with the inline fast
//!   path of hvrt_inline.h), [`Vcpu`], errors as [`Error`] carrying the errno.
//!
//! Linking: build.rs links `libhvrt.so` from the repository's `out/lib` (or `HVRT_LIB_DIR`)
//! and sets an rpath, so tests and examples run without `LD_LIBRARY_PATH`.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod sys;

mod attributes;
mod conversion;
mod dirty;
mod error;
mod find;
mod inline;
mod kvm;
mod mapping;
mod owner;
mod reader;
mod slots;
mod translation;
mod vcpu;
mod vm;
#[cfg(feature = "vm-memory")]
pub mod vm_memory;

pub use conversion::ListenerGuard;
pub use dirty::{bitmap_iter, bitmap_next_set, bitmap_words};
pub use error::{Error, Result};
pub use find::SlotRange;
pub use kvm::{GuestMemfd, KvmCaps};
pub use inline::{slot_hva, translation_fill, SlotEntry};
pub use mapping::Mapping;
pub use owner::VmOwner;
pub use reader::Reader;
pub use slots::PAGE_SIZE;
pub use translation::Translation;
pub use vcpu::{ExitAction, ExitInfo, Vcpu, KVM_RUN_MIN_BYTES};
pub use vm::{Vm, VmConfig};
#[cfg(feature = "vm-memory")]
pub use crate::vm_memory::{HvrtGuestMemory, HvrtMemory, HvrtRegion};

/// The ABI version of the loaded libhvrt.so (`hvrt_abi_version`); this crate is built for
/// [`sys::HVRT_ABI_VERSION`].
pub fn abi_version() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::hvrt_abi_version() }
}

/// `HVRT_VERSION_NUMBER` of the loaded library (`hvrt_version_number`).
pub fn version_number() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::hvrt_version_number() }
}

//! Rust bindings to libhvrt.so, a guest-memory runtime for virtual machine monitors: KVM's
//! memory-slot rules, lock-free gfn → host translation, memory attributes, private⇄shared
//! conversion, dirty logging and the vCPU run loop (native/include/hvrt.h is the contract).
//!
//! - [`sys`]: raw `extern "C"` declarations and `#[repr(C)]` mirrors (layout tested against
//!   the C header).
//! - The safe layer: [`Vm`] (RAII), [`Reader`] (a registered QSBR reader with the inline fast
//!   path of hvrt_inline.h), [`Vcpu`], errors as [`Error`] carrying the errno.
//!
//! ```
//! use hvrt::{sys, Mapping, Vm, VmConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mem = Mapping::anonymous(16 * 4096)?;
//! let vm = Vm::new(&VmConfig::default())?;
//! let region = sys::kvm_userspace_memory_region2 {
//!     slot: 0,
//!     guest_phys_addr: 0x10_0000,
//!     memory_size: mem.len() as u64,
//!     userspace_addr: mem.addr(),
//!     ..Default::default()
//! };
//! // SAFETY: `mem` is mapped read-write and outlives the VM (declared before it).
//! unsafe { vm.set_user_memory_region2(&region) }?;
//! assert_eq!(vm.translate(0, 0x105)?.hva(), mem.addr() + 5 * 4096);
//!
//! // A registered reader, and the inline path of hvrt_inline.h (no call into the library).
//! let reader = vm.reader()?;
//! let entry = reader.lookup_inline(0, 0x105).expect("in slot 0");
//! assert_eq!(hvrt::slot_hva(entry, 0x105), mem.addr() + 5 * 4096);
//! assert_eq!(vm.translate(0, 0x200), Err(hvrt::Error::ENOENT));
//! # Ok(())
//! # }
//! ```
//!
//! Lifetimes: a [`Reader`] or [`Vcpu`] holds a [`VmOwner`] — `&Vm` (checked by the borrow
//! checker) or `Arc<Vm>`/`Rc<Vm>` (for handles stored next to the VM) — so the VM outlives
//! every reader and vCPU, as hvrt.h requires.
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
mod search;
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
pub use vm::{kvm_profile_query, KvmProfile, Vm, VmConfig};
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

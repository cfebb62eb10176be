//! The vm-memory bridge: guest memory backed by hvrt that rust-vmm device models use through
//! vm-memory's traits (`GuestMemory`, `GuestMemoryRegion`, `Bytes`, `GuestAddressSpace`)
//! unchanged. Built with the `vm-memory` cargo feature (on by default), against the vm-memory
//! Debian ships (`librust-vm-memory-dev` 0.10).
//!
//! - [`HvrtMemory`]: the shared handle a VMM hands to its devices (`Clone`, `Send + Sync`),
//!   the counterpart of `GuestMemoryAtomic`. Its `GuestAddressSpace::memory()` returns the
//!   published view; slot changes made through it (`add_region`, `remove_region`,
//!   `move_region`) show in the next `memory()` after they return, and so do changes made
//!   directly on the [`Vm`](crate::Vm) after `refresh()` or, with the live check on, by
//!   themselves.
//! - [`HvrtGuestMemory`]: one view, an immutable copy of one generation of one address space's
//!   slot set (`GuestMemory`: `find_region`, `iter`, `num_regions`, and through vm-memory's
//!   provided methods `try_access`, `get_host_address`, `read_obj`, ...).
//! - [`HvrtRegion`]: one slot of a view (`GuestMemoryRegion` + `Bytes<MemoryRegionAddress>`).
//!
//! # Why views are copies, not live lookups through a registered reader
//!
//! vm-memory's traits take `&self` from any number of threads, and `find_region` returns a
//! `&Self::R` that lives as long as that `&self` — possibly for the device's whole life (many
//! devices store their `GuestMemory`). hvrt's snapshots live only while a reader keeps them
//! alive: a registered reader must stay online to use them and must report quiescent states,
//! or every slot change waits for it forever (and a thread changing slots while its own reader
//! is online waits for itself). The options, and why this module takes the last:
//!
//! 1. A thread-local registered reader per VM, kept online: vm-memory has no point where the
//!    device says "I hold nothing now", so the reader would never quiesce — exactly the
//!    hazard that blocks slot changes. Not acceptable.
//! 2. A thread-local reader taken online and offline around each call: correct, but
//!    `hvrt_reader_online` + `hvrt_reader_offline` are two library calls (~7 ns each plus the
//!    online fence) per lookup, more than the whole search; and the region it finds still has
//!    to outlive the call, so it cannot be hvrt's entry anyway.
//! 3. `hvrt_translate` (registration-free): one library call per lookup (~15 ns measured in
//!    bench/RESULTS.md at 1 slot against vm-memory's 1.1 ns), and the same problem of what
//!    `&Self::R` points to.
//! 4. `memory()` guards that keep a thread's reader online until dropped (KVM's SRCU read
//!    sections): lookups could return hvrt's own entries, but a guard kept by a device — legal
//!    and harmless with `GuestMemoryAtomic` — would block every slot change for as long, and a
//!    guard alive on a thread that changes slots would deadlock it. Not acceptable either.
//! 5. Snapshot views (chosen): a view copies one hvrt snapshot — through a registered reader
//!    of its own that is online only while it walks the snapshot's gfn index (hvrt_inline.h's
//!    frozen layout, the same memory `Reader::lookup_inline` searches) and offline otherwise,
//!    so it never delays a slot change by more than one copy. Lookups then search the view's
//!    own immutable arrays with hvrt's branch-free search (the loop of
//!    `hvrt_snapshot_find`): no library call, no allocation, no reader, any thread, and the
//!    answers are consistent with one generation for as long as the view lives — exactly the
//!    semantics of a `GuestMemoryAtomic` load guard. Views are published when the bridge
//!    changes slots and by `refresh()`; with the live check on, `memory()` also asks hvrt for
//!    the live generation (one registration-free `hvrt_translate_batch`, which reports it even
//!    for a miss) and rebuilds the view when it moved.
//!
//! Measured (bench/results-pending/rust-crate.md, same process as vm-memory 0.10): random
//! `find_region` 0.54 / 4.4 / 13 ns at 1 / 64 / 4096 regions against `GuestMemoryMmap`'s
//! 1.1 / 7.3 / 29 ns; `memory().find_region` per lookup under a writer 1.3–1.8x faster than
//! `GuestMemoryAtomic`. A rebuild is O(slots) (31 µs at 4096 slots), paid per slot change, as
//! vm-memory's `insert_region` (~280 µs at 4096). A thread that owns a registered [`Reader`](crate::Reader)
//! and quiesces (a vCPU loop) can still use `Reader::lookup_inline` directly.
//!
//! # Host memory ownership
//!
//! A view hands out host addresses and dereferences them after the slot set may have changed,
//! so the memory behind every region must stay mapped while a view containing it lives.
//! - Regions added through [`HvrtMemory::add_region`] are backed by a [`Mapping`](crate::Mapping)
//!   the bridge owns: each view holds an `Arc` of it, so a removed region is unmapped only when
//!   the last view that still shows it is dropped (as `GuestMemoryAtomic` keeps old
//!   `GuestRegionMmap`s alive). [`HvrtMemory::new`] is safe and shows only such regions.
//! - Slots made directly on the `Vm` are shown only by an `HvrtMemory` made with the `unsafe`
//!   [`HvrtMemory::with_foreign_slots`], whose caller vouches for that memory's lifetime.

mod memory;
mod region;
mod snapshot;
mod space;

pub use memory::HvrtGuestMemory;
pub use region::HvrtRegion;
pub use space::HvrtMemory;

//! `HvrtMemory`: the handle a VMM gives its devices — vm-memory's `GuestAddressSpace`, whose
//! `memory()` returns the current view, refreshed from hvrt when the slot set's generation
//! moved — and the slot changes that keep their host memory owned by the bridge.

use super::memory::HvrtGuestMemory;
use super::region::HvrtRegion;
use super::snapshot::{copy_slots, live_generation, settled};
use crate::{sys, Error, Mapping, Reader, Result, Vm, PAGE_SIZE};
use ::vm_memory::{GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryLoadGuard};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Guest memory of one hvrt address space for vm-memory users: `Clone` (clones share
/// everything), `Send + Sync`. See the [module docs](super) for the design.
///
/// - `memory()` (`GuestAddressSpace`) returns a guard of the published [`HvrtGuestMemory`]
///   view: an arc-swap load, exactly `GuestMemoryAtomic::memory()`.
/// - Slot changes through [`add_region`](HvrtMemory::add_region),
///   [`remove_region`](HvrtMemory::remove_region) and [`move_region`](HvrtMemory::move_region)
///   publish the new view before returning (as `GuestMemoryAtomic`'s `replace`); so does
///   [`refresh`](HvrtMemory::refresh), for changes made directly on the `Vm`.
/// - With the live check on ([`set_live_check`](HvrtMemory::set_live_check); the default of
///   [`with_foreign_slots`](HvrtMemory::with_foreign_slots), whose slots the VMM changes on the
///   `Vm`), `memory()` also asks hvrt for the live generation (one registration-free library
///   call, ~20–40 ns here) and rebuilds the view when it moved (O(slots), one thread at a time;
///   the others wait, so no caller sees a slot set older than a change that returned before
///   its call). Off, a change made on the `Vm` shows after the next `refresh()`.
/// - Views taken before a change keep showing the old slot set, and keep bridge-owned memory
///   of removed regions mapped, until they are dropped.
/// - Regions added through this handle belong to it: dropping the last clone deletes their
///   slots from the `Vm` (their memory stays mapped while views still show it).
/// - Never blocks slot changes: the bridge's reader is online only while it copies a snapshot.
///   As for every hvrt slot change, do not call the `*_region` methods on a thread whose own
///   registered reader is online (it would wait for itself).
#[derive(Clone)]
pub struct HvrtMemory {
    inner: Arc<Inner>,
}

struct Inner {
    vm: Arc<Vm>,
    as_id: u32,
    /// Whether slots not created through this bridge are shown (`with_foreign_slots`).
    foreign: bool,
    /// Whether memory() compares the published view's generation with hvrt's live one.
    live_check: AtomicBool,
    /// The published view; arc-swap loads as `GuestMemoryAtomic` does for `GuestMemoryMmap`.
    current: GuestMemoryAtomic<HvrtGuestMemory>,
    /// Serializes rebuilds; holds the bridge's reader (offline between rebuilds).
    refresh: Mutex<Reader<Arc<Vm>>>,
    /// Serializes the bridge's own slot changes (held across hvrt's grace period, so not
    /// taken by rebuilds).
    change: Mutex<()>,
    /// Mappings the bridge owns, by slot. Locked briefly (never across a library call that
    /// waits), including by a rebuild while its reader is online.
    owned: Mutex<HashMap<u32, Arc<Mapping>>>,
}

impl Drop for Inner {
    /// The bridge vouched to hvrt that its mappings stay mapped while their slots exist, and
    /// the mappings go when the last handle does (unless views still hold them): so the slots
    /// go first. Each delete returns after hvrt's grace period, as every slot change does (do
    /// not drop the last handle on a thread whose own reader is online). A slot already gone
    /// (deleted on the Vm) gives EINVAL, which changes nothing.
    fn drop(&mut self) {
        let owned = self.owned.get_mut().unwrap_or_else(|p| p.into_inner());
        for &slot in owned.keys() {
            let _ = self.vm.delete_slot(slot);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps half-updated (single inserts/removes).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HvrtMemory {
    /// Guest memory of address space `as_id` of `vm` showing only the regions added through
    /// this handle (its clones included); slots made directly on the `Vm` stay invisible to
    /// vm-memory users. Registers one reader (kept offline). Live check off: the bridge's own
    /// changes publish themselves; call `refresh()` after changing one of its slots on the `Vm`
    /// (flags, a move), or turn the live check on.
    /// Errors: `EINVAL` as_id out of range; `ENOMEM`.
    pub fn new(vm: Arc<Vm>, as_id: u32) -> Result<HvrtMemory> {
        HvrtMemory::build(vm, as_id, false)
    }

    /// As [`HvrtMemory::new`], but the views also show every slot of `as_id` made directly on
    /// the `Vm` (by the VMM, or before the bridge existed), with the host memory hvrt has for
    /// it (`userspace_addr`). Live check on (see [`HvrtMemory::set_live_check`]).
    ///
    /// # Safety
    /// For every such slot, `[userspace_addr, userspace_addr + memory_size)` must stay mapped
    /// read-write, and usable as guest memory, for as long as any view showing the slot lives:
    /// views are taken by `memory()` and may be kept (and cloned) by devices, and a view taken
    /// before the slot was deleted still shows it. The simple way to meet this: keep that
    /// memory mapped until every clone of this handle and every view taken from it is dropped.
    pub unsafe fn with_foreign_slots(vm: Arc<Vm>, as_id: u32) -> Result<HvrtMemory> {
        HvrtMemory::build(vm, as_id, true)
    }

    fn build(vm: Arc<Vm>, as_id: u32, foreign: bool) -> Result<HvrtMemory> {
        live_generation(&vm, as_id)?; // EINVAL for an as_id the VM does not have
        let mut reader = Reader::new(vm.clone())?;
        reader.offline()?;
        let empty = HvrtGuestMemory::new(u64::MAX, as_id, Vec::new());
        let inner = Arc::new(Inner {
            vm,
            as_id,
            foreign,
            live_check: AtomicBool::new(foreign),
            current: GuestMemoryAtomic::new(empty),
            refresh: Mutex::new(reader),
            change: Mutex::new(()),
            owned: Mutex::new(HashMap::new()),
        });
        let mem = HvrtMemory { inner };
        mem.refresh()?;
        Ok(mem)
    }

    /// Turns the live check of `memory()` on or off (for every clone of this handle). Off,
    /// `memory()` costs what `GuestMemoryAtomic::memory()` costs, and slot changes made on the
    /// `Vm` show once `refresh()` has run (as a `GuestMemoryAtomic` writer `replace`s).
    pub fn set_live_check(&self, on: bool) {
        self.inner.live_check.store(on, Ordering::Relaxed);
    }

    /// The VM.
    pub fn vm(&self) -> &Arc<Vm> {
        &self.inner.vm
    }

    /// The address space shown.
    pub fn as_id(&self) -> u32 {
        self.inner.as_id
    }

    /// Rebuilds the view from the slot set published now, unless the published view already
    /// is of that generation. `memory()` does this by itself; call it to move the O(slots)
    /// copy off a device thread after changing slots directly on the `Vm`.
    /// Errors: those of `hvrt_reader_online`/`offline` (none for a live reader).
    pub fn refresh(&self) -> Result<()> {
        let inner = &*self.inner;
        let mut reader = lock(&inner.refresh);
        // Re-check under the lock: another thread may have rebuilt while this one waited.
        let live = live_generation(&inner.vm, inner.as_id)?;
        if settled(live) == settled(inner.current.memory().generation()) {
            return Ok(());
        }
        let mut regions = Vec::new();
        // Locked once for the whole copy (a lock per slot cost ~80 us at 4096 slots), while
        // the reader is online: see copy_slots. Bridge changes take it only briefly.
        let owned = lock(&inner.owned);
        let foreign = inner.foreign;
        let generation = copy_slots(&mut reader, inner.as_id, &mut regions, |e| {
            let len = e.npages * PAGE_SIZE;
            let backing = if owned.is_empty() { None } else { owned.get(&e.slot).cloned() };
            let backing = match backing {
                // The slot's host range must lie inside the mapping the bridge gave it (a slot
                // deleted and re-created on the Vm with other memory is not the bridge's).
                Some(m) if e.hva >= m.addr() && e.hva - m.addr() + len <= m.len() as u64 => Some(m),
                _ if foreign => None,
                _ => return None,
            };
            // SAFETY: an owned region holds its mapping (backing); a foreign one is covered by
            // the promise of with_foreign_slots' caller.
            Some(unsafe { HvrtRegion::new(e.base_gfn * PAGE_SIZE, len, e.hva, e.slot, e.tr_flags, backing) })
        })?;
        drop(owned);
        let view = HvrtGuestMemory::new(generation, inner.as_id, regions);
        lock_atomic(&inner.current).replace(view);
        Ok(())
    }

    /// Creates slot `as_id << 16 | id` at guest address `gpa` over the whole of `mapping`,
    /// which the bridge then owns (unmapped once the slot is removed and the last view
    /// showing it is dropped). `flags`: `KVM_MEM_*` (LOG_DIRTY_PAGES, READONLY). Returns after
    /// hvrt's grace period, with the new view published.
    /// Errors: hvrt's (`EINVAL`, `EEXIST` an overlap, `ENOMEM`); the mapping is dropped then.
    pub fn add_region(&self, id: u16, gpa: GuestAddress, mapping: Mapping, flags: u32) -> Result<()> {
        let inner = &*self.inner;
        let _serial = lock(&inner.change);
        let slot = inner.as_id << 16 | id as u32;
        if lock(&inner.owned).contains_key(&slot) {
            return Err(Error::EEXIST);
        }
        let r = region_of(slot, flags, gpa, &mapping);
        let mapping = Arc::new(mapping);
        // Known before the slot exists, so a rebuild that sees the slot finds its owner.
        lock(&inner.owned).insert(slot, mapping.clone());
        // SAFETY: the range is `mapping`, mapped read-write; the bridge keeps it mapped while
        // the slot exists (owned table) and while any view shows it (the views' Arcs).
        if let Err(e) = unsafe { inner.vm.set_user_memory_region2(&r) } {
            lock(&inner.owned).remove(&slot);
            return Err(e);
        }
        self.refresh()
    }

    /// Deletes the bridge-owned slot `as_id << 16 | id`; its mapping is released once no view
    /// shows it. Errors: `ENOENT` not a region of this bridge; hvrt's.
    pub fn remove_region(&self, id: u16) -> Result<()> {
        let inner = &*self.inner;
        let _serial = lock(&inner.change);
        let slot = inner.as_id << 16 | id as u32;
        if !lock(&inner.owned).contains_key(&slot) {
            return Err(Error::ENOENT);
        }
        inner.vm.delete_slot(slot)?;
        // After the grace period: no rebuild is still copying a snapshot with the slot.
        lock(&inner.owned).remove(&slot);
        self.refresh()
    }

    /// Moves the bridge-owned slot `as_id << 16 | id` to guest address `gpa` (same memory,
    /// flags `flags`). Errors: `ENOENT` not a region of this bridge; hvrt's (`EEXIST` ...).
    pub fn move_region(&self, id: u16, gpa: GuestAddress, flags: u32) -> Result<()> {
        let inner = &*self.inner;
        let _serial = lock(&inner.change);
        let slot = inner.as_id << 16 | id as u32;
        let m = lock(&inner.owned).get(&slot).cloned().ok_or(Error::ENOENT)?;
        let r = region_of(slot, flags, gpa, &m);
        // SAFETY: the same owned mapping as the slot already has.
        unsafe { inner.vm.set_user_memory_region2(&r) }?;
        self.refresh()
    }
}

/// GuestMemoryAtomic's lock, poison ignored (the replace it guards is one store).
fn lock_atomic(a: &GuestMemoryAtomic<HvrtGuestMemory>) -> ::vm_memory::atomic::GuestMemoryExclusiveGuard<'_, HvrtGuestMemory> {
    a.lock().unwrap_or_else(|p| p.into_inner())
}

impl GuestAddressSpace for HvrtMemory {
    type M = HvrtGuestMemory;
    type T = GuestMemoryLoadGuard<HvrtGuestMemory>;

    /// The published view; with the live check on, a fresh one when hvrt's generation moved.
    /// vm-memory's trait cannot report errors; a failed rebuild (which hvrt's reader calls do
    /// not produce for a live reader) returns the last published view.
    fn memory(&self) -> GuestMemoryLoadGuard<HvrtGuestMemory> {
        let inner = &*self.inner;
        let view = inner.current.memory();
        if !inner.live_check.load(Ordering::Relaxed) {
            return view;
        }
        match live_generation(&inner.vm, inner.as_id) {
            Ok(live) if settled(live) != settled(view.generation()) => {
                drop(view);
                let _ = self.refresh();
                inner.current.memory()
            }
            _ => view,
        }
    }
}

impl std::fmt::Debug for HvrtMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HvrtMemory")
            .field("vm", &self.inner.vm)
            .field("as_id", &self.inner.as_id)
            .field("foreign", &self.inner.foreign)
            .field("live_check", &self.inner.live_check.load(Ordering::Relaxed))
            .finish()
    }
}

/// The region2 request that places `mapping` at `gpa` as `slot`.
fn region_of(slot: u32, flags: u32, gpa: GuestAddress, mapping: &Mapping) -> sys::kvm_userspace_memory_region2 {
    sys::kvm_userspace_memory_region2 {
        slot,
        flags,
        guest_phys_addr: gpa.0,
        memory_size: mapping.len() as u64,
        userspace_addr: mapping.addr(),
        ..Default::default()
    }
}

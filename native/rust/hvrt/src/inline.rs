//! The inline fast path of hvrt_inline.h in Rust: `hvrt_reader_lookup_inline` and
//! `hvrt_reader_translate_inline` over the frozen snapshot layout, with no call into the
//! library (a call costs about 7 ns, as much as the search). The loops are the header's, line
//! for line; tests/inline.rs compares them with the exported call on random layouts.
//!
//! Soundness rests on hvrt's QSBR contract: an online registered reader keeps every snapshot
//! it can reach alive until its next quiescent state, offline or unregister. `Reader` tracks
//! online/offline itself and those transitions take `&mut self`, so an entry borrowed from
//! `&self` cannot outlive them. `Vm::new` refuses a library whose ABI version differs from
//! the layouts mirrored here.

use crate::owner::VmOwner;
use crate::reader::Reader;
use crate::sys::{self, hvrt_reader_layout, hvrt_slot_entry, hvrt_snapshot, hvrt_translation};
use crate::translation::Translation;
use crate::error::{Error, Result};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// The slot entry type the inline lookup returns (hvrt_inline.h's `struct hvrt_slot_entry`).
pub type SlotEntry = hvrt_slot_entry;

/// `hvrt_snapshot_find`: the entry of snapshot `s` whose range holds gfn, or NULL.
///
/// # Safety
/// `s` is a published snapshot kept alive by an online reader.
#[inline(always)]
unsafe fn snapshot_find(s: *const hvrt_snapshot, gfn: u64) -> *const hvrt_slot_entry {
    // SAFETY (whole body): s and everything it points to are immutable and alive (caller); the
    // indexes stay within nr_leaves and count, which hvrt keeps consistent with the arrays.
    unsafe {
        let idx = &(*s).gfn;
        let leaves = idx.nr_leaves as usize;
        if leaves == 0 {
            return core::ptr::null();
        }
        let leaf = *idx.leaves.add(crate::search::last_at_most(idx.first0, leaves, gfn));
        let i = crate::search::last_at_most((*leaf).keys.as_ptr(), (*leaf).count as usize, gfn);
        let e = (*leaf).entries.as_ptr().add(i);
        if gfn.wrapping_sub((*e).base_gfn) < (*e).npages {
            e
        } else {
            core::ptr::null()
        }
    }
}

/// `hvrt_translation_fill`: the translation of gfn inside entry e of a snapshot of `generation`.
#[inline(always)]
pub fn translation_fill(e: &SlotEntry, gfn: u64, generation: u64) -> Translation {
    let offset = gfn.wrapping_sub(e.base_gfn);
    let f = e.tr_flags;
    Translation(hvrt_translation {
        slot: e.slot,
        flags: f,
        base_gfn: e.base_gfn,
        npages: e.npages,
        hva: e.hva.wrapping_add(offset << 12),
        // 0 without HAS_PRIVATE, as the header's mask does.
        private_pgoff: e.private_pgoff.wrapping_add(offset) & 0u64.wrapping_sub(((f >> 3) & 1) as u64),
        private_fd: e.private_fd,
        result: 0,
        run_pages: e.npages - offset,
        generation,
    })
}

/// `hvrt_slot_hva`: the host address of gfn inside entry e (which must hold it).
#[inline(always)]
pub fn slot_hva(e: &SlotEntry, gfn: u64) -> u64 {
    e.hva.wrapping_add(gfn.wrapping_sub(e.base_gfn) << 12)
}

impl<V: VmOwner> Reader<V> {
    /// The layout view of the reader and the entry (not a translation: no attributes) the last
    /// hit cache or a search finds, with the generation the cache now holds.
    #[inline(always)]
    fn lookup_raw(&self, as_id: u32, gfn: u64) -> *const hvrt_slot_entry {
        if !self.is_online() {
            return core::ptr::null();
        }
        let r = self.as_ptr() as *mut hvrt_reader_layout;
        // SAFETY (whole body): r is a registered reader of a live VM (self), online, used by
        // this thread only (Reader is !Sync); its first 64 bytes and the VM's first 48 are the
        // frozen layouts (ABI version checked at Vm creation). The snapshot published in
        // current[as_id] is kept alive by this online reader; the cache is written only here
        // and in hvrt's reader calls on this same thread.
        unsafe {
            let vm = (*r).vm;
            if as_id as usize >= sys::HVRT_MAX_ADDRESS_SPACES || as_id >= (*vm).nr_address_spaces {
                return core::ptr::null();
            }
            // Pairs with the release exchange that publishes a snapshot (VmHandle.Publish).
            let cur = &*(core::ptr::addr_of!((*vm).current[as_id as usize]) as *const AtomicPtr<hvrt_snapshot>);
            let s = cur.load(Ordering::Acquire);
            let generation = (*(core::ptr::addr_of!((*s).generation) as *const AtomicU64)).load(Ordering::Relaxed);
            let c = core::ptr::addr_of_mut!((*r).cache[as_id as usize]);
            let e = (*c).entry;
            // The generation is compared first: generations are never reused, so a match
            // proves e belongs to the live snapshot before it is touched.
            if (*c).generation == generation && gfn.wrapping_sub((*e).base_gfn) < (*e).npages {
                return e;
            }
            let e = snapshot_find(s, gfn);
            if !e.is_null() {
                (*c).generation = generation;
                (*c).entry = e;
            }
            e
        }
    }

    /// `hvrt_reader_lookup_inline`: the slot entry holding `gfn` of `as_id`, or `None` (gfn in
    /// no slot, as_id out of range, or the reader offline). No call into the library, no
    /// allocation. Says nothing about attributes: use [`Reader::translate_inline`] or
    /// `Vm::memory_attributes` for that. The entry is valid until the reader's next quiescent
    /// state, offline or drop, which the borrow enforces.
    #[inline]
    pub fn lookup_inline(&self, as_id: u32, gfn: u64) -> Option<&SlotEntry> {
        let e = self.lookup_raw(as_id, gfn);
        // SAFETY: a non-null e is an entry of a snapshot this online reader keeps alive until
        // a &mut self call (quiescent/offline/drop), which the returned borrow of self precedes.
        unsafe { e.as_ref() }
    }

    /// `hvrt_reader_translate_inline`: exactly `Reader::translate`'s answer, inline when the VM
    /// allows it (no private page yet, as_id in range), else through the exported call.
    /// Errors: `EINVAL` as_id out of range; `EPERM` offline; `ENOENT` gfn in no slot.
    #[inline]
    pub fn translate_inline(&self, as_id: u32, gfn: u64) -> Result<Translation> {
        if !self.is_online() {
            // The export gives the errno in hvrt's order (EINVAL before EPERM).
            return self.translate(as_id, gfn);
        }
        let r = self.as_ptr() as *const hvrt_reader_layout;
        // SAFETY: registered reader of a live VM; inline_as_limit is read atomically as in
        // the header (hvrt changes it when the VM gets its first private page).
        let limit = unsafe {
            (*(core::ptr::addr_of!((*(*r).vm).inline_as_limit) as *const AtomicU32)).load(Ordering::Relaxed)
        };
        if as_id >= limit {
            return self.translate(as_id, gfn);
        }
        let e = self.lookup_raw(as_id, gfn);
        if e.is_null() {
            return Err(Error::ENOENT);
        }
        // SAFETY: e is live (as in lookup_inline); a hit leaves the cache holding e and the
        // generation of the snapshot it came from.
        unsafe { Ok(translation_fill(&*e, gfn, (*r).cache[as_id as usize].generation)) }
    }
}

//! Copying one hvrt snapshot: the gfn index of the slot set published for an address space,
//! read through hvrt_inline.h's frozen layout while a registered reader is online (the reader
//! keeps the snapshot alive), then the reader goes offline again. This is the only place the
//! bridge holds a reader online, for the length of one copy.

use crate::sys::{self, hvrt_reader_layout, hvrt_snapshot};
use crate::{Error, Reader, Result, SlotEntry, Vm};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

/// Bit 63 of a generation cleared: two generations that agree here describe the same slot set
/// (or the set and the same set while its successor is being published, which is not yet
/// visible to anyone as finished).
pub(super) fn settled(generation: u64) -> u64 {
    generation & !sys::HVRT_GEN_UPDATE_IN_PROGRESS
}

/// The generation of the slot set published for `as_id` now, without registration: the batch
/// call reports the generation it searched even for a miss (hvrt.h), so one gfn is enough.
/// Errors: `EINVAL` as_id out of range.
pub(super) fn live_generation(vm: &Vm, as_id: u32) -> Result<u64> {
    let mut out = [crate::Translation::default()];
    vm.translate_batch(as_id, &[0], &mut out)?;
    Ok(out[0].generation())
}

/// Clears `out` and fills it with the entries of the slot set published for `as_id`, in gfn
/// order; returns that set's generation. The reader is online only inside this call (it must
/// be offline when called, and is offline when this returns, on every path).
/// `visit` runs for each entry while the snapshot is pinned, so it may consult state that a
/// concurrent slot change could alter only after its grace period (the bridge's ownership
/// table: a delete returns, and the bridge forgets the mapping, only once this reader is
/// offline). Errors: `EINVAL` as_id out of range.
pub(super) fn copy_slots<T>(
    reader: &mut Reader<Arc<Vm>>,
    as_id: u32,
    out: &mut Vec<T>,
    mut visit: impl FnMut(&SlotEntry) -> Option<T>,
) -> Result<u64> {
    out.clear();
    reader.online()?;
    let r = reader.as_ptr() as *const hvrt_reader_layout;
    // SAFETY (whole block): r is a registered reader of a live VM (the reader owns an Arc of
    // it), now online and used by this thread only (&mut); the VM's first 48 bytes and the
    // snapshot/index/leaf layouts are hvrt_inline.h's, frozen by the ABI version Vm::new
    // checked. The snapshot loaded from current[as_id] and everything it points to stay alive
    // and unchanged until this reader goes offline below; counts and leaf pointers are
    // consistent with their arrays (hvrt builds them before publishing).
    let generation = unsafe {
        let vm = (*r).vm;
        if as_id as usize >= sys::HVRT_MAX_ADDRESS_SPACES || as_id >= (*vm).nr_address_spaces {
            let _ = reader.offline();
            return Err(Error::EINVAL);
        }
        // Pairs with the release exchange that publishes a snapshot, as in crate::inline.
        let cur = &*(core::ptr::addr_of!((*vm).current[as_id as usize]) as *const AtomicPtr<hvrt_snapshot>);
        let s = cur.load(Ordering::Acquire);
        let generation = (*(core::ptr::addr_of!((*s).generation) as *const AtomicU64)).load(Ordering::Relaxed);
        let idx = &(*s).gfn;
        out.reserve(idx.count as usize);
        for l in 0..idx.nr_leaves as usize {
            let leaf = *idx.leaves.add(l);
            let entries = &(*leaf).entries;
            for e in &entries[..(*leaf).count as usize] {
                if let Some(t) = visit(e) {
                    out.push(t);
                }
            }
        }
        generation
    };
    // Nothing read above is used past this point (visit copied what it needed).
    reader.offline()?;
    Ok(generation)
}

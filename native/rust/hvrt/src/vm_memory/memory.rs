//! `HvrtGuestMemory`: one view — an immutable copy of one generation of an address space's
//! slot set — as vm-memory's `GuestMemory`. Lookups search the view's own arrays with hvrt's
//! branch-free search (hvrt_inline.h's `hvrt__last_at_most`): no library call, no reader, no
//! allocation, from any thread.

use super::region::HvrtRegion;
use ::vm_memory::guest_memory::{self, GuestMemoryIterator};
use ::vm_memory::{GuestAddress, GuestMemory, GuestMemoryRegion};

/// A consistent view of one hvrt slot set (one generation of one address space), with the
/// regions sorted by guest address. Obtained from [`HvrtMemory`](super::HvrtMemory)'s
/// `GuestAddressSpace::memory()`; never changes, whatever happens to the slots afterwards
/// (take a new one for that), as a `GuestMemoryAtomic` load guard.
#[derive(Debug)]
pub struct HvrtGuestMemory {
    generation: u64,
    as_id: u32,
    /// Guest address of each region's first byte: the search keys, apart from the regions so
    /// the search touches one dense array.
    starts: Box<[u64]>,
    regions: Box<[HvrtRegion]>,
}

/// Index of the last key <= x in sorted keys, or 0 when there is none (the crate's branch-free
/// search, shared with the inline path).
#[inline(always)]
fn last_at_most(keys: &[u64], x: u64) -> usize {
    // SAFETY: the pointer and length come from one slice.
    unsafe { crate::search::last_at_most(keys.as_ptr(), keys.len(), x) }
}

impl HvrtGuestMemory {
    /// A view of `regions` (sorted by start, not overlapping: hvrt's gfn index order).
    pub(super) fn new(generation: u64, as_id: u32, regions: Vec<HvrtRegion>) -> HvrtGuestMemory {
        let starts = regions.iter().map(|r| r.start_addr().0).collect();
        HvrtGuestMemory { generation, as_id, starts, regions: regions.into_boxed_slice() }
    }

    /// The generation of the hvrt slot set this view copies (as `Translation::generation`;
    /// bit 63 set if that set was being replaced while it was copied).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The hvrt address space this view shows.
    pub fn as_id(&self) -> u32 {
        self.as_id
    }

    /// The regions, sorted by guest address (the slice `iter()` walks).
    pub fn regions(&self) -> &[HvrtRegion] {
        &self.regions
    }
}

impl<'a> GuestMemoryIterator<'a, HvrtRegion> for HvrtGuestMemory {
    type Iter = std::slice::Iter<'a, HvrtRegion>;
}

impl GuestMemory for HvrtGuestMemory {
    type R = HvrtRegion;
    type I = Self;

    fn num_regions(&self) -> usize {
        self.regions.len()
    }

    #[inline]
    fn find_region(&self, addr: GuestAddress) -> Option<&HvrtRegion> {
        if self.starts.is_empty() {
            return None;
        }
        let i = last_at_most(&self.starts, addr.0);
        // SAFETY: i < starts.len() == regions.len() (last_at_most, new()).
        let (start, r) = unsafe { (*self.starts.get_unchecked(i), self.regions.get_unchecked(i)) };
        // Wrapping: an addr below the first region wraps to a huge offset and misses.
        if addr.0.wrapping_sub(start) < r.len() {
            Some(r)
        } else {
            None
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, HvrtRegion> {
        self.regions.iter()
    }

    /// The provided method's answer (same errors) without its second range check: the search
    /// already proved addr inside the region.
    #[inline]
    fn get_host_address(&self, addr: GuestAddress) -> guest_memory::Result<*mut u8> {
        match self.find_region(addr) {
            Some(r) => Ok(r.host_base().wrapping_add((addr.0 - r.start_addr().0) as usize)),
            None => Err(guest_memory::Error::InvalidGuestAddress(addr)),
        }
    }
}

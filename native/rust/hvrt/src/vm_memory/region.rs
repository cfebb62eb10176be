//! `HvrtRegion`: one slot of a view, as vm-memory's `GuestMemoryRegion`. Byte accesses go
//! through a `VolatileSlice` over the slot's host memory, as `GuestRegionMmap`'s do, so both
//! types read and write alike (volatile copies, the same error for the same bad offset).

use crate::Mapping;
use ::vm_memory::bitmap::BS;
use ::vm_memory::guest_memory::{self, FileOffset};
use ::vm_memory::{
    Address, AtomicAccess, Bytes, GuestAddress, GuestMemoryRegion, GuestUsize, MemoryRegionAddress, VolatileSlice,
};
use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One hvrt slot in an [`HvrtGuestMemory`](super::HvrtGuestMemory) view: its guest range, the
/// host memory behind it, and (for regions the bridge created) the mapping it keeps alive.
#[derive(Debug)]
pub struct HvrtRegion {
    start: GuestAddress,
    len: GuestUsize,
    host: *mut u8,
    slot: u32,
    tr_flags: u32,
    /// Keeps a bridge-owned mapping mapped while this view lives; None for a foreign slot
    /// (whose lifetime the caller of `HvrtMemory::with_foreign_slots` vouched for).
    _backing: Option<Arc<Mapping>>,
}

// SAFETY: the region only describes host memory that stays mapped while it lives (module
// docs); every access goes through volatile slices, as GuestRegionMmap's do, which vm-memory
// allows from any thread.
unsafe impl Send for HvrtRegion {}
// SAFETY: as above; no interior mutability.
unsafe impl Sync for HvrtRegion {}

impl HvrtRegion {
    /// # Safety
    /// `[host, host + len)` is mapped read-write for as long as the region lives (`backing`
    /// owns it, or the caller of `HvrtMemory::with_foreign_slots` vouched for it).
    pub(super) unsafe fn new(
        start: u64,
        len: u64,
        host: u64,
        slot: u32,
        tr_flags: u32,
        backing: Option<Arc<Mapping>>,
    ) -> HvrtRegion {
        HvrtRegion { start: GuestAddress(start), len, host: host as *mut u8, slot, tr_flags, _backing: backing }
    }

    /// The hvrt slot (`as_id << 16 | id`).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The slot's `HVRT_TR_*` flags when the view was taken (READONLY, LOG_DIRTY, HAS_PRIVATE;
    /// PRIVATE is per page and not tracked here).
    pub fn tr_flags(&self) -> u32 {
        self.tr_flags
    }

    /// Whether the bridge owns the backing mapping (created through `HvrtMemory::add_region`).
    pub fn is_owned(&self) -> bool {
        self._backing.is_some()
    }

    /// The first host byte of the region.
    pub fn host_base(&self) -> *mut u8 {
        self.host
    }

    /// The whole region as a volatile slice.
    #[inline]
    fn volatile(&self) -> VolatileSlice<'_> {
        // SAFETY: [host, host + len) stays mapped read-write while self lives (constructor).
        unsafe { VolatileSlice::new(self.host, self.len as usize) }
    }
}

impl Bytes<MemoryRegionAddress> for HvrtRegion {
    type E = guest_memory::Error;

    fn write(&self, buf: &[u8], addr: MemoryRegionAddress) -> guest_memory::Result<usize> {
        self.volatile().write(buf, addr.raw_value() as usize).map_err(Into::into)
    }

    fn read(&self, buf: &mut [u8], addr: MemoryRegionAddress) -> guest_memory::Result<usize> {
        self.volatile().read(buf, addr.raw_value() as usize).map_err(Into::into)
    }

    fn write_slice(&self, buf: &[u8], addr: MemoryRegionAddress) -> guest_memory::Result<()> {
        self.volatile().write_slice(buf, addr.raw_value() as usize).map_err(Into::into)
    }

    fn read_slice(&self, buf: &mut [u8], addr: MemoryRegionAddress) -> guest_memory::Result<()> {
        self.volatile().read_slice(buf, addr.raw_value() as usize).map_err(Into::into)
    }

    fn read_from<F: Read>(&self, addr: MemoryRegionAddress, src: &mut F, count: usize) -> guest_memory::Result<usize> {
        self.volatile().read_from(addr.raw_value() as usize, src, count).map_err(Into::into)
    }

    fn read_exact_from<F: Read>(&self, addr: MemoryRegionAddress, src: &mut F, count: usize) -> guest_memory::Result<()> {
        self.volatile().read_exact_from(addr.raw_value() as usize, src, count).map_err(Into::into)
    }

    fn write_to<F: Write>(&self, addr: MemoryRegionAddress, dst: &mut F, count: usize) -> guest_memory::Result<usize> {
        self.volatile().write_to(addr.raw_value() as usize, dst, count).map_err(Into::into)
    }

    fn write_all_to<F: Write>(&self, addr: MemoryRegionAddress, dst: &mut F, count: usize) -> guest_memory::Result<()> {
        self.volatile().write_all_to(addr.raw_value() as usize, dst, count).map_err(Into::into)
    }

    fn store<T: AtomicAccess>(&self, val: T, addr: MemoryRegionAddress, order: Ordering) -> guest_memory::Result<()> {
        self.volatile().store(val, addr.raw_value() as usize, order).map_err(Into::into)
    }

    fn load<T: AtomicAccess>(&self, addr: MemoryRegionAddress, order: Ordering) -> guest_memory::Result<T> {
        self.volatile().load(addr.raw_value() as usize, order).map_err(Into::into)
    }
}

impl GuestMemoryRegion for HvrtRegion {
    /// No vm-memory dirty bitmap: hvrt keeps the dirty log of logging slots itself
    /// (`Vm::mark_dirty`, `Vm::dirty_log_get`).
    type B = ();

    fn len(&self) -> GuestUsize {
        self.len
    }

    fn start_addr(&self) -> GuestAddress {
        self.start
    }

    fn bitmap(&self) -> &() {
        &()
    }

    fn get_host_address(&self, addr: MemoryRegionAddress) -> guest_memory::Result<*mut u8> {
        self.check_address(addr)
            .ok_or(guest_memory::Error::InvalidBackendAddress)
            .map(|a| self.host.wrapping_add(a.raw_value() as usize))
    }

    fn file_offset(&self) -> Option<&FileOffset> {
        None
    }

    unsafe fn as_slice(&self) -> Option<&[u8]> {
        // SAFETY: mapped for self's life (constructor); aliasing is the caller's to rule out,
        // as the trait documents.
        Some(unsafe { std::slice::from_raw_parts(self.host, self.len as usize) })
    }

    #[allow(clippy::mut_from_ref)]
    unsafe fn as_mut_slice(&self) -> Option<&mut [u8]> {
        // SAFETY: as as_slice; the trait makes the caller responsible for aliasing.
        Some(unsafe { std::slice::from_raw_parts_mut(self.host, self.len as usize) })
    }

    fn get_slice(&self, offset: MemoryRegionAddress, count: usize) -> guest_memory::Result<VolatileSlice<'_, BS<'_, ()>>> {
        // subslice keeps the lifetime of &self (VolatileMemory::get_slice would borrow the
        // temporary slice); it checks offset + count against the region the same way.
        self.volatile().subslice(offset.raw_value() as usize, count).map_err(Into::into)
    }
}

//! The slot layout both sides of the translation workloads use: `n` regions of 2 MiB, each
//! followed by a 2 MiB hole (non-contiguous, so no lookup can get away with arithmetic), the
//! host memory mapped once by vm-memory and the same host addresses given to hvrt's slots.

use crate::timing::XorShift;
use hvrt::sys::kvm_userspace_memory_region;
use hvrt::{HvrtMemory, Vm};
use std::sync::Arc;
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap, MmapRegion};

pub const REGION_SIZE: u64 = 2 << 20;
pub const REGION_STRIDE: u64 = 2 * REGION_SIZE;
pub const PAGE: u64 = 4096;

pub fn region_gpa(i: u64) -> u64 {
    i * REGION_STRIDE
}

/// n anonymous (MAP_NORESERVE, untouched) regions at region_gpa(0..n).
pub fn guest_memory(n: u64) -> GuestMemoryMmap {
    let ranges: Vec<(GuestAddress, usize)> =
        (0..n).map(|i| (GuestAddress(region_gpa(i)), REGION_SIZE as usize)).collect();
    GuestMemoryMmap::from_ranges(&ranges).expect("GuestMemoryMmap::from_ranges")
}

/// One more region at region_gpa(index), for the writers that add and remove it.
pub fn extra_region(index: u64) -> GuestRegionMmap {
    let m = MmapRegion::new(REGION_SIZE as usize).expect("MmapRegion::new");
    GuestRegionMmap::new(m, GuestAddress(region_gpa(index))).expect("GuestRegionMmap::new")
}

/// hvrt_set_user_memory_region of slot `slot` (size 0 deletes).
///
/// # Safety
/// `[hva, hva + size)` is mapped read-write (vm-memory's region memory) and stays so while the
/// slot exists and while any bridge view showing it lives.
pub unsafe fn set_region(vm: &Vm, slot: u32, gpa: u64, size: u64, hva: u64) {
    let r = kvm_userspace_memory_region { slot, flags: 0, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva };
    // SAFETY: the caller's promise.
    unsafe { vm.set_user_memory_region(&r) }.unwrap_or_else(|e| panic!("hvrt_set_user_memory_region slot {slot}: {e}"));
}

/// An hvrt VM whose slot i is vm-memory's region i (same gpa, size and host address).
/// `mem` must outlive the VM's slots and every bridge view of them (the workloads drop the VM
/// and bridges first).
pub fn hvrt_vm(mem: &GuestMemoryMmap) -> Arc<Vm> {
    let vm = Arc::new(Vm::with_defaults().expect("hvrt Vm"));
    for (i, r) in mem.iter().enumerate() {
        // SAFETY: vm-memory's mapping, alive while `mem` is (see above).
        unsafe { set_region(&vm, i as u32, r.start_addr().0, r.len(), r.as_ptr() as u64) };
    }
    vm
}

/// The vm-memory bridge over `vm`'s slots (which vm-memory's regions back): slots made on the
/// Vm are foreign to the bridge, so this is its unsafe constructor.
///
/// # Safety
/// The memory of every slot of `vm` outlives the bridge and all its views.
pub unsafe fn bridge(vm: &Arc<Vm>) -> HvrtMemory {
    // SAFETY: the caller's promise.
    unsafe { HvrtMemory::with_foreign_slots(vm.clone(), 0) }.expect("HvrtMemory")
}

/// count gpas that all hit: a random region, a random page in it, a random byte offset.
pub fn random_gpas(n_regions: u64, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = XorShift::new(seed);
    (0..count)
        .map(|_| region_gpa(rng.below(n_regions)) + rng.below(REGION_SIZE))
        .collect()
}

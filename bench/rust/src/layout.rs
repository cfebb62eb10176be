//! The slot layout both sides of the translation workloads use: `n` regions of 2 MiB, each
//! followed by a 2 MiB hole (non-contiguous, so no lookup can get away with arithmetic), the
//! host memory mapped once by vm-memory and the same host addresses given to hvrt's slots.

use crate::ffi::Vm;
use crate::timing::XorShift;
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

/// An hvrt VM whose slot i is vm-memory's region i (same gpa, size and host address).
pub fn hvrt_vm(mem: &GuestMemoryMmap) -> Vm {
    let vm = Vm::new();
    for (i, r) in mem.iter().enumerate() {
        let rc = vm.set_region(i as u32, 0, r.start_addr().0, r.len(), r.as_ptr() as u64);
        assert_eq!(rc, 0, "hvrt_set_user_memory_region slot {i}");
    }
    vm
}

/// count gpas that all hit: a random region, a random page in it, a random byte offset.
pub fn random_gpas(n_regions: u64, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = XorShift::new(seed);
    (0..count)
        .map(|_| region_gpa(rng.below(n_regions)) + rng.below(REGION_SIZE))
        .collect()
}

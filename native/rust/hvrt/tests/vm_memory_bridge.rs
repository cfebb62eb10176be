//! The vm-memory bridge against vm-memory's own `GuestMemoryMmap`: device-model-style code
//! that knows only vm-memory's traits runs on both, on the same layout, and must see the same
//! results; then slot changes (through the bridge and directly on the Vm), views kept across
//! changes, and readers on several threads while the slot set changes.
#![cfg(feature = "vm-memory")]

use hvrt::sys::{kvm_userspace_memory_region2, KVM_MEM_LOG_DIRTY_PAGES};
use hvrt::{Error, HvrtGuestMemory, HvrtMemory, Mapping, Vm};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use vm_memory::{
    Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryAtomic, GuestMemoryMmap,
    GuestMemoryRegion,
};

const PAGE: u64 = 4096;

/// (gpa, size): holes, two adjacent regions (0x20000.. and 0x24000..), a large one far up.
const LAYOUT: [(u64, u64); 5] = [
    (0x0, 0x10000),
    (0x20000, 0x4000),
    (0x24000, 0x8000),
    (0x100000, 0x200000),
    (0x1_0000_0000, 0x3000),
];

fn mmap_memory(layout: &[(u64, u64)]) -> GuestMemoryMmap {
    let ranges: Vec<_> = layout.iter().map(|&(g, s)| (GuestAddress(g), s as usize)).collect();
    GuestMemoryMmap::from_ranges(&ranges).expect("GuestMemoryMmap::from_ranges")
}

/// An hvrt VM with a bridge whose region i (slot i) is layout[i], each on its own mapping.
fn hvrt_memory(layout: &[(u64, u64)]) -> HvrtMemory {
    let vm = Arc::new(Vm::with_defaults().expect("Vm"));
    let mem = HvrtMemory::new(vm, 0).expect("HvrtMemory::new");
    for (i, &(g, s)) in layout.iter().enumerate() {
        let m = Mapping::anonymous(s as usize).expect("mmap");
        mem.add_region(i as u16, GuestAddress(g), m, 0).expect("add_region");
    }
    mem
}

/// What a device model observes, in a comparable form (errors by their Debug text: vm-memory's
/// Error has no PartialEq; host pointers by whether they exist, and by the bytes behind them).
fn observe<M: GuestMemory>(m: &M) -> Vec<String> {
    let mut out = vec![];
    let regions: Vec<_> = m.iter().map(|r| (r.start_addr().0, r.len())).collect();
    out.push(format!("regions {regions:x?} n {} last {:#x}", m.num_regions(), m.last_addr().0));
    // Probe addresses: every region's edges, holes, far outside.
    let mut probes = vec![0u64, 0xfff8, 0x10000, 0x1fff8, 0x23ffc, 0x23ff8, 0x2bff8, 0x2c000, 0xffffc];
    probes.extend([0x2ffffc, 0x300000, 0x1_0000_2ffc, 0x1_0000_3000, u64::MAX - 3]);
    for (i, &a) in probes.iter().enumerate() {
        let ga = GuestAddress(a);
        out.push(format!("write_obj {a:#x} {:?}", m.write_obj(0x1122_3344u32 + i as u32, ga)));
        out.push(format!("read_obj {a:#x} {:?}", m.read_obj::<u32>(ga).map_err(|e| format!("{e:?}"))));
        out.push(format!("check_range {a:#x} {} {}", m.check_range(ga, 4), m.check_range(ga, 0x5000)));
        out.push(format!("checked_offset {a:#x} {:?} {:?}", m.checked_offset(ga, 4), m.checked_offset(ga, 0x4000)));
        out.push(format!("address_in_range {a:#x} {}", m.address_in_range(ga)));
        out.push(format!(
            "to_region_addr {a:#x} {:?}",
            m.to_region_addr(ga).map(|(r, off)| (r.start_addr().0, off.raw_value()))
        ));
        match m.get_host_address(ga) {
            // SAFETY: a host address vm-memory vouches for, inside a region of m; 1 byte.
            Ok(p) => out.push(format!("host {a:#x} byte {}", unsafe { std::ptr::read_volatile(p) })),
            Err(e) => out.push(format!("host {a:#x} {e:?}")),
        }
        match m.get_slice(ga, 8) {
            Ok(s) => {
                let mut b = [0u8; 8];
                use vm_memory::Bytes as _;
                out.push(format!("get_slice {a:#x} len {} {:?} {:?}", s.len(), s.read_slice(&mut b, 0), b));
            }
            Err(e) => out.push(format!("get_slice {a:#x} {e:?}")),
        }
    }
    // Slices across the adjacent regions' boundary and into a hole.
    let pattern: Vec<u8> = (0..0x3000u32).map(|i| (i * 7 + 3) as u8).collect();
    out.push(format!("write_slice cross {:?}", m.write_slice(&pattern, GuestAddress(0x23000))));
    let mut back = vec![0u8; 0x3000];
    out.push(format!("read_slice cross {:?} same {}", m.read_slice(&mut back, GuestAddress(0x23000)), back == pattern));
    out.push(format!("write into hole {:?}", m.write_slice(&pattern, GuestAddress(0x2b000))));
    out.push(format!("write partial {:?}", m.write(&pattern, GuestAddress(0x2b000))));
    let mut back = vec![0u8; 0x3000];
    out.push(format!("read partial {:?} {:?}", m.read(&mut back, GuestAddress(0x2b000)), &back[..4]));
    // read_from / write_to through std::io.
    let mut src: &[u8] = &pattern[..0x1800];
    out.push(format!("read_from {:?}", m.read_from(GuestAddress(0x23800), &mut src, 0x1800)));
    let mut sink = vec![];
    out.push(format!("write_to {:?} {}", m.write_to(GuestAddress(0x23800), &mut sink, 0x1800), sink == pattern[..0x1800]));
    // Atomic accesses.
    out.push(format!("store {:?}", m.store(0xdead_beefu32, GuestAddress(0x100040), Ordering::SeqCst)));
    out.push(format!("load {:?}", m.load::<u32>(GuestAddress(0x100040), Ordering::SeqCst).map_err(|e| format!("{e:?}"))));
    out
}

#[test]
fn device_model_sees_what_guest_memory_mmap_gives() {
    let reference = mmap_memory(&LAYOUT);
    let bridge = hvrt_memory(&LAYOUT);
    let view = bridge.memory();
    let want = observe(&reference);
    let got = observe(&*view);
    if std::env::var_os("SHOW").is_some() {
        eprintln!("{}", want.join("\n"));
    }
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // Region objects: slot numbers and ownership.
    for (i, r) in view.iter().enumerate() {
        assert_eq!(r.slot(), i as u32);
        assert!(r.is_owned());
    }
}

#[test]
fn find_region_and_host_address_match_hvrt_translate() {
    let bridge = hvrt_memory(&LAYOUT);
    let view = bridge.memory();
    let vm = bridge.vm();
    for &(g, s) in &LAYOUT {
        for a in [g, g + 1, g + s / 2, g + s - 1] {
            let t = vm.translate(0, a / PAGE).expect("translate");
            let r = view.find_region(GuestAddress(a)).expect("find_region");
            assert_eq!(r.start_addr().0 / PAGE, t.base_gfn());
            assert_eq!(r.len() / PAGE, t.npages());
            assert_eq!(view.get_host_address(GuestAddress(a)).unwrap() as u64, t.hva() + a % PAGE);
        }
        if let Some(r) = view.find_region(GuestAddress(g + s)) {
            assert_eq!(r.start_addr().0, g + s);
        }
    }
    assert!(view.find_region(GuestAddress(0x10000)).is_none());
    assert!(view.find_region(GuestAddress(u64::MAX)).is_none());
}

/// A device that only knows GuestAddressSpace: writes a 16-byte "descriptor" and reads it back.
fn device_round_trip<AS: GuestAddressSpace>(space: &AS, gpa: u64, tag: u64) -> Result<u64, String> {
    let mem = space.memory();
    mem.write_obj(tag, GuestAddress(gpa)).map_err(|e| format!("{e:?}"))?;
    mem.write_obj(!tag, GuestAddress(gpa + 8)).map_err(|e| format!("{e:?}"))?;
    let a: u64 = mem.read_obj(GuestAddress(gpa)).map_err(|e| format!("{e:?}"))?;
    let b: u64 = mem.read_obj(GuestAddress(gpa + 8)).map_err(|e| format!("{e:?}"))?;
    Ok(a ^ b)
}

#[test]
fn same_device_code_on_guest_memory_atomic_and_bridge() {
    let atomic = GuestMemoryAtomic::new(mmap_memory(&LAYOUT));
    let bridge = hvrt_memory(&LAYOUT);
    for gpa in [0x0, 0x23ff8, 0x27ff8, 0x10000, 0x2ffff8, 0x1_0000_2ff8] {
        assert_eq!(device_round_trip(&atomic, gpa, gpa ^ 0x5a5a), device_round_trip(&bridge, gpa, gpa ^ 0x5a5a));
    }
}

#[test]
fn bridge_changes_show_in_the_next_view_and_old_views_stay() {
    let bridge = hvrt_memory(&LAYOUT[..2]);
    let before = bridge.memory();
    assert_eq!(before.num_regions(), 2);
    before.write_obj(0xabcdu64, GuestAddress(0x20000)).unwrap();

    // add
    bridge.add_region(7, GuestAddress(0x40_0000), Mapping::anonymous(0x2000).unwrap(), 0).unwrap();
    let added = bridge.memory();
    assert_eq!(added.num_regions(), 3);
    assert_eq!(added.find_region(GuestAddress(0x40_1fff)).unwrap().slot(), 7);
    assert!(before.find_region(GuestAddress(0x40_0000)).is_none(), "an old view never changes");
    assert!(added.generation() != before.generation());

    // move: same memory at a new address
    added.write_obj(0x77u8, GuestAddress(0x40_0010)).unwrap();
    bridge.move_region(7, GuestAddress(0x80_0000), KVM_MEM_LOG_DIRTY_PAGES).unwrap();
    let moved = bridge.memory();
    assert!(moved.find_region(GuestAddress(0x40_0000)).is_none());
    assert_eq!(moved.read_obj::<u8>(GuestAddress(0x80_0010)).unwrap(), 0x77);
    assert_eq!(added.read_obj::<u8>(GuestAddress(0x40_0010)).unwrap(), 0x77, "the old view still reads it");

    // remove slot 1: gone from new views, still readable in old ones (the bridge owns it)
    bridge.remove_region(1).unwrap();
    let removed = bridge.memory();
    assert!(removed.find_region(GuestAddress(0x20000)).is_none());
    assert_eq!(before.read_obj::<u64>(GuestAddress(0x20000)).unwrap(), 0xabcd);
    assert_eq!(removed.num_regions(), 2);
    drop(before); // the last view showing slot 1: its mapping goes now

    // errors
    assert_eq!(bridge.remove_region(1), Err(Error::ENOENT));
    assert_eq!(bridge.move_region(1, GuestAddress(0), 0), Err(Error::ENOENT));
    let overlap = bridge.add_region(9, GuestAddress(0x8000), Mapping::anonymous(0x2000).unwrap(), 0);
    assert_eq!(overlap, Err(Error::EEXIST));
    assert_eq!(bridge.memory().num_regions(), 2);
    assert_eq!(HvrtMemory::new(bridge.vm().clone(), 5).err(), Some(Error::EINVAL));
}

/// A slot made directly on the Vm: hidden by a safe bridge, shown (and kept up to date) by one
/// made with `with_foreign_slots`.
#[test]
fn foreign_slots_only_with_the_unsafe_constructor() {
    let vm = Arc::new(Vm::with_defaults().unwrap());
    let host = Mapping::anonymous(0x4000).unwrap(); // outlives both bridges and their views
    let r = kvm_userspace_memory_region2 {
        slot: 3,
        guest_phys_addr: 0x10_0000,
        memory_size: 0x4000,
        userspace_addr: host.addr(),
        ..Default::default()
    };
    // SAFETY: host is mapped and outlives the VM's use of it (dropped last).
    unsafe { vm.set_user_memory_region2(&r) }.unwrap();
    let safe = HvrtMemory::new(vm.clone(), 0).unwrap();
    // SAFETY: host stays mapped until the end of the test, after every view is gone.
    let trusting = unsafe { HvrtMemory::with_foreign_slots(vm.clone(), 0) }.unwrap();
    assert_eq!(safe.memory().num_regions(), 0);
    let v = trusting.memory();
    assert_eq!(v.num_regions(), 1);
    assert!(!v.iter().next().unwrap().is_owned());
    v.write_obj(0x1234u32, GuestAddress(0x10_0ffe)).unwrap();
    // SAFETY: host is mapped; a 4-byte read at offset 0xffe of 0x4000.
    assert_eq!(unsafe { std::ptr::read_unaligned(host.as_ptr().add(0xffe) as *const u32) }, 0x1234);

    // Changed on the Vm: the next memory() shows it without a refresh call.
    let moved = kvm_userspace_memory_region2 { guest_phys_addr: 0x20_0000, ..r };
    // SAFETY: same host memory.
    unsafe { vm.set_user_memory_region2(&moved) }.unwrap();
    let v2 = trusting.memory();
    assert!(v2.find_region(GuestAddress(0x10_0000)).is_none());
    assert_eq!(v2.read_obj::<u32>(GuestAddress(0x20_0ffe)).unwrap(), 0x1234);
    assert_eq!(v.read_obj::<u32>(GuestAddress(0x10_0ffe)).unwrap(), 0x1234, "old view unchanged");
    vm.delete_slot(3).unwrap();
    assert_eq!(trusting.memory().num_regions(), 0);
    // A bridge-owned region beside foreign ones, and safe bridges see their own.
    safe.add_region(4, GuestAddress(0), Mapping::anonymous(0x1000).unwrap(), 0).unwrap();
    assert_eq!(safe.memory().num_regions(), 1);
    assert_eq!(trusting.memory().num_regions(), 1, "another bridge's region is foreign to this one");
    drop((v, v2, safe, trusting));
    drop(host);
}

/// Views held as long as one likes never block slot changes (the bridge holds no reader
/// online between calls), on this thread or another.
#[test]
fn held_views_do_not_block_slot_changes() {
    let bridge = hvrt_memory(&LAYOUT);
    let held = bridge.memory();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let other = {
        let b = bridge.clone();
        std::thread::spawn(move || {
            let v = b.memory();
            ready_tx.send(()).unwrap();
            // Holds its view until the main thread's changes are all done (or 20 s: they hung).
            let finished = done_rx.recv_timeout(std::time::Duration::from_secs(20)).is_ok();
            (finished, v.num_regions())
        })
    };
    ready_rx.recv().unwrap();
    for k in 0..20u16 {
        bridge.add_region(100 + k, GuestAddress(0x2_0000_0000 + k as u64 * 0x10000), Mapping::anonymous(0x1000).unwrap(), 0).unwrap();
    }
    for k in 0..20u16 {
        bridge.remove_region(100 + k).unwrap();
    }
    done_tx.send(()).unwrap();
    assert_eq!(other.join().unwrap(), (true, LAYOUT.len()));
    assert_eq!(held.num_regions(), LAYOUT.len());
}

/// Readers on several threads, each taking a view per request, while the main thread adds,
/// moves and removes a region: every view is one consistent slot set, every byte read is the
/// region's own tag, and nothing blocks.
#[test]
fn concurrent_views_during_slot_changes() {
    const EXTRA: u16 = 50;
    const AT: [u64; 2] = [0x4000_0000, 0x5000_0000];
    let bridge = hvrt_memory(&LAYOUT);
    let stop = Arc::new(AtomicBool::new(false));
    // The writer starts once every reader has taken a view: under load a reader may otherwise
    // be scheduled only after all 150 rounds and check none of them.
    let started = Arc::new(AtomicUsize::new(0));
    let mut threads = vec![];
    for t in 0..3u64 {
        let b = bridge.clone();
        let (stop, started) = (stop.clone(), started.clone());
        threads.push(std::thread::spawn(move || {
            let (mut views, mut seen_extra) = (0u64, 0u64);
            while views <= 1 || !stop.load(Ordering::Relaxed) {
                if views == 1 {
                    started.fetch_add(1, Ordering::SeqCst);
                }
                let m = b.memory();
                views += 1;
                // The fixed regions are always there, and writable.
                m.write_obj(t, GuestAddress(0x100000 + t * 8)).unwrap();
                assert_eq!(m.read_obj::<u64>(GuestAddress(0x100000 + t * 8)).unwrap(), t);
                // The moving region: at most one of its two places, with its tag.
                let hits: Vec<_> = AT.iter().filter_map(|&a| m.find_region(GuestAddress(a))).collect();
                assert!(hits.len() <= 1, "two copies of one slot in one view");
                if let Some(r) = hits.first() {
                    let tag: u64 = m.read_obj(r.start_addr()).unwrap();
                    assert_eq!(tag, 0x7a67_0000 + EXTRA as u64);
                    assert_eq!(r.slot(), EXTRA as u32);
                    seen_extra += 1;
                }
                let n = m.num_regions();
                assert!(n == LAYOUT.len() || n == LAYOUT.len() + 1);
                let mut last = 0;
                for r in m.iter() {
                    assert!(r.start_addr().0 >= last);
                    last = r.last_addr().0;
                }
            }
            (views, seen_extra)
        }));
    }
    while started.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    let mut changes = 0;
    for round in 0..150 {
        let m = Mapping::anonymous(0x2000).unwrap();
        // SAFETY: fresh mapping of 0x2000 bytes; the tag is its first 8.
        unsafe { (m.as_ptr() as *mut u64).write(0x7a67_0000 + EXTRA as u64) };
        bridge.add_region(EXTRA, GuestAddress(AT[round % 2]), m, 0).unwrap();
        bridge.move_region(EXTRA, GuestAddress(AT[(round + 1) % 2]), 0).unwrap();
        bridge.remove_region(EXTRA).unwrap();
        changes += 3;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let (views, _seen) = t.join().unwrap();
        assert!(views > 0);
    }
    assert_eq!(changes, 450);
    assert_eq!(bridge.memory().num_regions(), LAYOUT.len());
}

/// The view type is usable where vm-memory wants `GuestMemory` by value or reference.
#[test]
fn views_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HvrtGuestMemory>();
    assert_send_sync::<HvrtMemory>();
    assert_send_sync::<<HvrtMemory as GuestAddressSpace>::T>();
}

/// Live check off: a change made on the Vm shows once refresh() ran (GuestMemoryAtomic's
/// explicit publish); on: by itself.
#[test]
fn live_check_and_explicit_refresh() {
    let vm = Arc::new(Vm::with_defaults().unwrap());
    let host = Mapping::anonymous(0x2000).unwrap();
    // SAFETY: host stays mapped until after every view and bridge is dropped (end of test).
    let bridge = unsafe { HvrtMemory::with_foreign_slots(vm.clone(), 0) }.unwrap();
    bridge.set_live_check(false);
    let r = kvm_userspace_memory_region2 { slot: 1, guest_phys_addr: 0x3000, memory_size: 0x2000, userspace_addr: host.addr(), ..Default::default() };
    // SAFETY: as above.
    unsafe { vm.set_user_memory_region2(&r) }.unwrap();
    assert_eq!(bridge.memory().num_regions(), 0, "not published yet");
    bridge.refresh().unwrap();
    assert_eq!(bridge.memory().num_regions(), 1);
    vm.delete_slot(1).unwrap();
    assert_eq!(bridge.memory().num_regions(), 1);
    bridge.set_live_check(true);
    assert_eq!(bridge.memory().num_regions(), 0, "the live check sees the delete");
    drop(bridge);
    drop(host);
}

/// Foreign slots moved and deleted directly on the Vm while several threads take views with
/// the live check on: the threads race into the rebuild, and every view they get is one
/// consistent slot set whose memory reads back the slot's tag.
#[test]
fn live_check_rebuilds_under_concurrent_readers() {
    const AT: [u64; 2] = [0x100_0000, 0x200_0000];
    let vm = Arc::new(Vm::with_defaults().unwrap());
    let fixed = Mapping::anonymous(0x1000).unwrap();
    let moving = Mapping::anonymous(0x3000).unwrap();
    // SAFETY: fresh mappings; the tags are their first 8 bytes.
    unsafe {
        (fixed.as_ptr() as *mut u64).write(0xf1);
        (moving.as_ptr() as *mut u64).write(0x70);
    }
    let region = |slot: u32, gpa: u64, m: &Mapping| kvm_userspace_memory_region2 {
        slot,
        guest_phys_addr: gpa,
        memory_size: m.len() as u64,
        userspace_addr: m.addr(),
        ..Default::default()
    };
    // SAFETY: both mappings outlive the bridge, its clones and every view (dropped last).
    unsafe { vm.set_user_memory_region2(&region(0, 0, &fixed)) }.unwrap();
    // SAFETY: as above.
    let bridge = unsafe { HvrtMemory::with_foreign_slots(vm.clone(), 0) }.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // The writer starts once every reader has taken a view (on 2 cores a thread may otherwise
    // start after all 200 rounds and see none of them), so the readers overlap the changes.
    let started = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (b, stop, started) = (bridge.clone(), stop.clone(), started.clone());
            std::thread::spawn(move || {
                let mut views = 0u64;
                while views <= 1 || !stop.load(Ordering::Relaxed) {
                    if views == 1 {
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                    let m = b.memory();
                    views += 1;
                    assert_eq!(m.read_obj::<u64>(GuestAddress(0)).unwrap(), 0xf1);
                    let hits: Vec<_> = AT.iter().filter_map(|&a| m.find_region(GuestAddress(a))).collect();
                    assert!(hits.len() <= 1);
                    if let Some(r) = hits.first() {
                        assert_eq!(m.read_obj::<u64>(r.start_addr()).unwrap(), 0x70);
                        assert_eq!(r.len(), 0x3000);
                    }
                }
                views
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    for round in 0..200 {
        // SAFETY: as above.
        unsafe { vm.set_user_memory_region2(&region(1, AT[round % 2], &moving)) }.unwrap();
        // SAFETY: as above (a move: same memory).
        unsafe { vm.set_user_memory_region2(&region(1, AT[(round + 1) % 2], &moving)) }.unwrap();
        vm.delete_slot(1).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(bridge.memory().num_regions(), 1);
    drop(bridge);
    drop((fixed, moving));
}

/// Dropping the last handle deletes the bridge's slots before their mappings go (the Vm never
/// keeps a slot over unmapped memory), while a view still held keeps its memory readable.
#[test]
fn dropping_the_bridge_deletes_its_slots() {
    let bridge = hvrt_memory(&LAYOUT[..2]);
    let vm = bridge.vm().clone();
    let view = bridge.memory();
    view.write_obj(0x55u8, GuestAddress(0x20010)).unwrap();
    assert!(vm.translate(0, 0x20).is_ok());
    drop(bridge);
    assert_eq!(vm.translate(0, 0x20).err(), Some(Error::ENOENT));
    assert_eq!(vm.translate(0, 0).err(), Some(Error::ENOENT));
    assert_eq!(view.read_obj::<u8>(GuestAddress(0x20010)).unwrap(), 0x55, "the view keeps its memory");
}

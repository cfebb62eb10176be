//! Workload (a), issue 5's target: dirty-log get-and-clear of a 64 GiB slot (16M pages) with
//! 0.1% / 1% / 10% of its pages dirty, hvrt >= 30x vm-memory's AtomicBitmap.
//! vm-memory: AtomicBitmap::new(64 GiB, 4096), pages marked with Bitmap::mark_dirty, harvested
//! with get_and_reset() — its only public way to read and clear the log short of one
//! is_bit_set call per page, and what rust-vmm VMMs (e.g. Cloud Hypervisor) call on each
//! region's bitmap. It fetch_and(0)s every word into a new Vec<u64>.
//! hvrt: a LOG_DIRTY_PAGES slot of the same size (unbound VM, mode 0: no manual protect), the
//! same pages marked with hvrt_mark_dirty, harvested with hvrt_dirty_log_get into a bitmap the
//! caller keeps (get-and-clear), and with hvrt_dirty_log_get_view (the same harvest handed out in
//! hvrt's own array, no copy: what a caller that only reads the bitmap needs, like the Vec
//! get_and_reset returns). Marking is timed too, on both sides, for information.
//! A second vm-memory baseline is the per-page harvest Firecracker does when it writes a diff
//! snapshot: Bitmap::dirty_at for every page of the region, then AtomicBitmap::reset.

use crate::layout::PAGE;
use hvrt::sys::{kvm_userspace_memory_region, KVM_MEM_LOG_DIRTY_PAGES};
use hvrt::Vm;
use std::cell::RefCell;
use crate::report::{Report, Row};
use crate::timing::{black_box, median_ns_with_setup, Plan, XorShift};
use vm_memory::bitmap::{AtomicBitmap, Bitmap};

const SLOT_BYTES: u64 = 64 << 30;
const PAGES: u64 = SLOT_BYTES / PAGE;

/// Host address range for the slot: reserved, never touched (hvrt only records it).
struct Reservation(*mut libc::c_void, usize);

impl Reservation {
    fn new(len: usize) -> Reservation {
        // SAFETY: a fresh anonymous PROT_NONE mapping; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap of the 64 GiB reservation");
        Reservation(p, len)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.0, self.1) };
    }
}

fn popcount(words: &[u64]) -> u64 {
    words.iter().map(|w| w.count_ones() as u64).sum()
}

pub fn run(plan: Plan, densities: &[f64], rep: &mut Report) {
    let host = Reservation::new(SLOT_BYTES as usize);
    let vm = Vm::with_defaults().expect("hvrt Vm");
    vm.dirty_log_set_mode(0).expect("hvrt_dirty_log_set_mode(0)");
    let r = kvm_userspace_memory_region {
        slot: 0,
        flags: KVM_MEM_LOG_DIRTY_PAGES,
        guest_phys_addr: 0,
        memory_size: SLOT_BYTES,
        userspace_addr: host.0 as u64,
    };
    // SAFETY: the reservation outlives the VM (declared first, dropped last). It is PROT_NONE,
    // which the crate's contract does not allow for memory anyone dereferences: this workload
    // only marks and harvests the dirty log, so nothing ever translates and touches it.
    unsafe { vm.set_user_memory_region(&r) }.expect("hvrt_set_user_memory_region");
    // get_view borrows the VM mutably while the marking closures borrow it too: a RefCell.
    let vm = RefCell::new(vm);
    let words = hvrt::bitmap_words(PAGES);
    let mut hvrt_bitmap = vec![0u64; words];
    let bm = AtomicBitmap::new(SLOT_BYTES as usize, PAGE as usize);

    // The floor for any harvest into a caller's bitmap: writing its 2 MiB once (memset).
    let buf = hvrt_bitmap.as_mut_ptr();
    let floor = median_ns_with_setup(plan, 1, || (), |_| {
        // SAFETY: buf holds `words` u64s.
        unsafe {
            std::ptr::write_bytes(buf, 0, words);
            std::ptr::read_volatile(buf.add(words / 2))
        }
    });

    for &d in densities {
        let count = ((PAGES as f64) * d) as usize;
        let mut rng = XorShift::new(0xd1f7_0000 + count as u64);
        let pages: Vec<u64> = (0..count).map(|_| rng.below(PAGES)).collect();
        let ops = pages.len() as u64;

        // Both logs must hold exactly the same pages.
        for &p in &pages {
            bm.mark_dirty((p * PAGE) as usize, PAGE as usize);
            // (0 or 1: whether a page already dirty counts is hvrt's to say.)
            let marked = vm.borrow().mark_dirty(p * PAGE, PAGE).expect("hvrt_mark_dirty");
            assert!(marked <= 1, "hvrt_mark_dirty: {marked}");
        }
        let theirs = bm.get_and_reset();
        vm.borrow().dirty_log_get(0, &mut hvrt_bitmap).expect("hvrt_dirty_log_get");
        assert!(theirs[..words] == hvrt_bitmap[..], "hvrt and AtomicBitmap logs differ");
        let dirty = popcount(&hvrt_bitmap);
        // The log is clear now.
        vm.borrow().dirty_log_get(0, &mut hvrt_bitmap).expect("hvrt_dirty_log_get");
        assert_eq!(popcount(&hvrt_bitmap), 0, "hvrt_dirty_log_get did not clear");

        // Marking, each round on a clear log (the clearing is the untimed setup).
        let mark_vmm = median_ns_with_setup(plan, ops, || drop(bm.get_and_reset()), |_| {
            for &p in &pages {
                bm.mark_dirty((p * PAGE) as usize, PAGE as usize);
            }
            0
        });
        bm.reset();
        let bits = RefCell::new(&mut hvrt_bitmap);
        let clear_hvrt = || {
            vm.borrow().dirty_log_get(0, &mut bits.borrow_mut()[..]).expect("hvrt_dirty_log_get");
        };
        let mark_hvrt = median_ns_with_setup(plan, ops, clear_hvrt, |_| {
            let v = vm.borrow();
            let mut n = 0u64;
            for &p in &pages {
                n += v.mark_dirty(p * PAGE, PAGE).unwrap_or(0);
            }
            n
        });
        clear_hvrt();
        let mark_all = || {
            let v = vm.borrow();
            for &p in &pages {
                v.mark_dirty(p * PAGE, PAGE).expect("hvrt_mark_dirty");
            }
        };

        let get_vmm = median_ns_with_setup(
            plan,
            1,
            || {
                for &p in &pages {
                    bm.mark_dirty((p * PAGE) as usize, PAGE as usize);
                }
            },
            |_| {
                let v = bm.get_and_reset();
                black_box(v.as_ptr() as u64) ^ v.len() as u64
            },
        );
        let get_hvrt = median_ns_with_setup(plan, 1, mark_all, |_| {
            let mut b = bits.borrow_mut();
            vm.borrow().dirty_log_get(0, &mut b[..]).is_ok() as u64
        });

        // The view must hold exactly the pages the copy-get reports.
        mark_all();
        {
            let mut v = vm.borrow_mut();
            let view = v.dirty_log_get_view(0).expect("hvrt_dirty_log_get_view");
            assert!(view[..words] == theirs[..words], "hvrt view and AtomicBitmap logs differ");
        }
        let view_hvrt = median_ns_with_setup(plan, 1, mark_all, |_| {
            let mut v = vm.borrow_mut();
            let view = v.dirty_log_get_view(0).expect("hvrt_dirty_log_get_view");
            black_box(view.as_ptr() as u64) ^ view.len() as u64
        });

        // Firecracker's way: ask every page, then reset the whole bitmap (only the density the
        // first one names: it costs tens of milliseconds per round, whatever the density).
        let per_page_vmm = if d == densities[0] {
            let mut out = vec![0u64; words];
            Some(median_ns_with_setup(
                plan,
                1,
                || {
                    for &p in &pages {
                        bm.mark_dirty((p * PAGE) as usize, PAGE as usize);
                    }
                },
                |_| {
                    for (i, w) in out.iter_mut().enumerate() {
                        let mut bits = 0u64;
                        for j in 0..64 {
                            let page = (i * 64 + j) as u64;
                            if page < PAGES && bm.dirty_at((page * PAGE) as usize) {
                                bits |= 1 << j;
                            }
                        }
                        *w = bits;
                    }
                    bm.reset();
                    black_box(out[words / 2])
                },
            ))
        } else {
            None
        };

        let params = format!("64 GiB slot, {} dirty ({dirty} pages)", pct(d));
        rep.rows.push(Row::new("dirty log get-and-clear", &params, "hvrt_dirty_log_get", get_hvrt / 1000.0, "AtomicBitmap::get_and_reset", get_vmm / 1000.0, "us/harvest"));
        rep.rows.push(Row::new("dirty log get-and-clear, no copy", &params, "hvrt_dirty_log_get_view", view_hvrt / 1000.0, "AtomicBitmap::get_and_reset", get_vmm / 1000.0, "us/harvest"));
        if let Some(pp) = per_page_vmm {
            rep.rows.push(Row::new("dirty log get-and-clear", &params, "hvrt_dirty_log_get", get_hvrt / 1000.0, "dirty_at per page + reset (Firecracker)", pp / 1000.0, "us/harvest"));
        }
        rep.rows.push(Row::new("dirty marking (info)", &params, "hvrt_mark_dirty", mark_hvrt, "Bitmap::mark_dirty", mark_vmm, "ns/page"));
        let ratio = get_vmm / get_hvrt;
        let vratio = get_vmm / view_hvrt;
        rep.notes.push(format!(
            "dirty log at {}: AtomicBitmap {:.1} us; hvrt copy {:.1} us = {ratio:.1}x, view {:.1} us = {vratio:.1}x (target >= 30x: copy {}, view {})",
            pct(d),
            get_vmm / 1000.0,
            get_hvrt / 1000.0,
            view_hvrt / 1000.0,
            if ratio >= 30.0 { "met" } else { "NOT met" },
            if vratio >= 30.0 { "met" } else { "NOT met" }
        ));
        if d == densities[0] {
            rep.notes.push(format!(
                "dirty log floor: writing the caller's 2 MiB bitmap once (memset) takes {:.1} us, \
                 so a harvest into it can reach at most {:.1}x AtomicBitmap at {}",
                floor / 1000.0,
                get_vmm / floor,
                pct(d)
            ));
        }
    }
}

fn pct(d: f64) -> String {
    format!("{}%", d * 100.0)
}

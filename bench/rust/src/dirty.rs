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

use crate::ffi::{self, Vm, KVM_MEM_LOG_DIRTY_PAGES};
use crate::layout::PAGE;
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
    let vm = Vm::new();
    // SAFETY: vm live.
    assert_eq!(unsafe { ffi::hvrt_dirty_log_set_mode(vm.0, 0) }, 0, "hvrt_dirty_log_set_mode(0)");
    assert_eq!(vm.set_region(0, KVM_MEM_LOG_DIRTY_PAGES, 0, SLOT_BYTES, host.0 as u64), 0);
    let words = (PAGES as usize + 63) / 64;
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
            // SAFETY: vm live.
            // (0 or 1: whether a page already dirty counts is hvrt's to say.)
            let marked = unsafe { ffi::hvrt_mark_dirty(vm.0, p * PAGE, PAGE) };
            assert!((0..=1).contains(&marked), "hvrt_mark_dirty: {marked}");
        }
        let theirs = bm.get_and_reset();
        // SAFETY: the buffer holds ALIGN(npages, 64) / 8 bytes.
        assert_eq!(unsafe { ffi::hvrt_dirty_log_get(vm.0, 0, hvrt_bitmap.as_mut_ptr().cast()) }, 0);
        assert!(theirs[..words] == hvrt_bitmap[..], "hvrt and AtomicBitmap logs differ");
        let dirty = popcount(&hvrt_bitmap);
        // SAFETY: as above; the log is clear now.
        assert_eq!(unsafe { ffi::hvrt_dirty_log_get(vm.0, 0, hvrt_bitmap.as_mut_ptr().cast()) }, 0);
        assert_eq!(popcount(&hvrt_bitmap), 0, "hvrt_dirty_log_get did not clear");

        // Marking, each round on a clear log (the clearing is the untimed setup).
        let mark_vmm = median_ns_with_setup(plan, ops, || drop(bm.get_and_reset()), |_| {
            for &p in &pages {
                bm.mark_dirty((p * PAGE) as usize, PAGE as usize);
            }
            0
        });
        bm.reset();
        let clear_hvrt = || {
            // SAFETY: buf holds the slot's bitmap; vm live.
            unsafe { ffi::hvrt_dirty_log_get(vm.0, 0, buf.cast()) };
        };
        let mark_hvrt = median_ns_with_setup(plan, ops, clear_hvrt, |_| {
            let mut n = 0i64;
            for &p in &pages {
                // SAFETY: vm live.
                n += unsafe { ffi::hvrt_mark_dirty(vm.0, p * PAGE, PAGE) };
            }
            n as u64
        });
        clear_hvrt();

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
        let get_hvrt = median_ns_with_setup(
            plan,
            1,
            || {
                for &p in &pages {
                    // SAFETY: vm live.
                    unsafe { ffi::hvrt_mark_dirty(vm.0, p * PAGE, PAGE) };
                }
            },
            |_| {
                // SAFETY: buf holds the slot's bitmap.
                unsafe { ffi::hvrt_dirty_log_get(vm.0, 0, buf.cast()) as u64 }
            },
        );

        // The view must hold exactly the pages the copy-get reports.
        for &p in &pages {
            // SAFETY: vm live.
            unsafe { ffi::hvrt_mark_dirty(vm.0, p * PAGE, PAGE) };
        }
        let mut view: *const u64 = std::ptr::null();
        // SAFETY: vm live; the view holds `words` u64s until the next call on the slot.
        assert_eq!(unsafe { ffi::hvrt_dirty_log_get_view(vm.0, 0, &mut view) }, 0);
        assert!(unsafe { std::slice::from_raw_parts(view, words) } == &theirs[..words], "hvrt view and AtomicBitmap logs differ");
        let view_hvrt = median_ns_with_setup(
            plan,
            1,
            || {
                for &p in &pages {
                    // SAFETY: vm live.
                    unsafe { ffi::hvrt_mark_dirty(vm.0, p * PAGE, PAGE) };
                }
            },
            |_| {
                let mut v: *const u64 = std::ptr::null();
                // SAFETY: vm live.
                let r = unsafe { ffi::hvrt_dirty_log_get_view(vm.0, 0, &mut v) };
                black_box(v as u64) ^ r as u64
            },
        );

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

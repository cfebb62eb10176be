//! The Rust inline path against the exports (native/tests/inline_test.c): on random layouts in
//! both address spaces, random and sequential gfns, across moves, deletes and flag changes that
//! must invalidate the last-hit cache; the update-in-progress bit; attributes.
mod common;
use common::fixture::{set_v1, FX_HVA};
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};

const NSLOTS: u64 = 300;
const SPAN: u64 = 1 << 16;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn random_change(vm: &Vm, r: &mut Reader<&Vm>, rng: &mut Rng) {
    let s = slot((rng.next() & 1) as u32, (rng.next() % NSLOTS) as u32);
    let gpa = (rng.next() % SPAN) * PAGE;
    let size = (1 + rng.next() % 200) * PAGE;
    let flags = if rng.next() & 1 != 0 { F_LOG } else { 0 };
    let size = if rng.next() % 5 != 0 { size } else { 0 };
    // The writer waits for online readers, this thread's own included: go offline around it.
    r.offline().unwrap();
    if set_v1(vm, s, flags, gpa, size, FX_HVA + (((s & 0xffff) as u64) << 24)) == Err(EINVAL) {
        let _ = vm.delete_slot(s); // an existing slot of another size
    }
    r.online().unwrap();
}

#[test]
fn inline_equals_the_exports_on_random_layouts() {
    let vm = vm();
    let mut r = vm.reader().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3 * NSLOTS {
        random_change(&vm, &mut r, &mut rng);
    }
    let (mut wrong, mut hits) = (0, 0);
    for _ in 0..200 {
        let mut gfn = 0u64;
        for i in 0..500 {
            let as_id = (rng.next() & 1) as u32;
            gfn = if i & 1 != 0 { gfn + 1 } else { rng.next() % (SPAN + 64) };
            let a = r.translate_inline(as_id, gfn);
            let b = r.translate(as_id, gfn);
            let c = vm.translate(as_id, gfn);
            hits += a.is_ok() as u32;
            if a != b || a != c {
                wrong += 1;
                if wrong < 4 {
                    eprintln!("as {as_id} gfn {gfn:#x}: inline {a:?} reader {b:?} vm {c:?}");
                }
            }
            let e = r.lookup_inline(as_id, gfn);
            match (e, &a) {
                (None, Err(_)) => {}
                (Some(e), Ok(t)) => {
                    let same = e.slot == t.slot()
                        && hvrt::slot_hva(e, gfn) == t.hva()
                        && e.tr_flags == t.flags()
                        && e.base_gfn == t.base_gfn()
                        && e.npages == t.npages()
                        && e.private_fd == t.private_fd();
                    wrong += !same as u32;
                }
                _ => wrong += 1,
            }
        }
        for _ in 0..1 + rng.next() % 8 {
            random_change(&vm, &mut r, &mut rng);
        }
        r.quiescent().unwrap();
    }
    assert_eq!(wrong, 0);
    assert!(hits > 10000, "only {hits} hits: the comparison covered too few real answers");
    assert_eq!(r.translate_inline(2, 0), Err(EINVAL));
    assert!(r.lookup_inline(2, 0).is_none());
}

#[test]
fn the_cache_follows_changes() {
    let vm = vm();
    let mut r = vm.reader().unwrap();
    r.offline().unwrap();
    set_v1(&vm, 1, 0, 0, 16 * PAGE, FX_HVA).unwrap();
    r.online().unwrap();
    let t = r.translate_inline(0, 3).unwrap();
    assert!(t.slot() == 1 && t.hva() == FX_HVA + 3 * PAGE && t.generation() == 2);
    r.offline().unwrap();
    set_v1(&vm, 1, 0, 64 * PAGE, 16 * PAGE, FX_HVA).unwrap(); // move
    r.online().unwrap();
    assert_eq!(r.translate_inline(0, 3), Err(ENOENT));
    assert!(r.lookup_inline(0, 3).is_none());
    let t = r.translate_inline(0, 67).unwrap();
    assert!(t.hva() == FX_HVA + 3 * PAGE && t.generation() == 4);
    r.offline().unwrap();
    vm.delete_slot(1).unwrap();
    r.online().unwrap();
    assert_eq!(r.translate_inline(0, 67), Err(ENOENT));
}

#[test]
fn a_held_snapshot_shows_the_update_in_progress_bit() {
    let vm = vm();
    set_v1(&vm, 1, 0, 0, 16 * PAGE, FX_HVA).unwrap();
    let mut r = vm.reader().unwrap();
    let layout = vm.as_ptr() as *const hvrt_vm_layout;
    // SAFETY: the frozen layout of a live VM; the snapshot is held by the online reader r.
    let held = unsafe { (*layout).current[0] };
    // SAFETY: as above (a racy read of a u64 the writer sets atomically; read volatile).
    let gen_of = || unsafe { core::ptr::read_volatile(&(*held).generation) };
    assert_eq!(gen_of(), 2);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            vm.delete_slot(1).unwrap();
            done.store(true, Ordering::SeqCst);
        });
        let mut seen = 2;
        for _ in 0..2000 {
            seen = gen_of();
            if seen != 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(seen, 2 | HVRT_GEN_UPDATE_IN_PROGRESS);
        assert!(!done.load(Ordering::SeqCst), "the delete waits for this online reader");
        assert_eq!(r.translate_inline(0, 0), Err(ENOENT)); // the new set, already published
        r.quiescent().unwrap();
    });
    assert!(done.load(Ordering::SeqCst));
}

#[test]
fn with_private_pages_the_inline_path_answers_through_the_export() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    set_v1(&vm, 1, 0, 0x10_0000 * PAGE, 4096 * PAGE, FX_HVA).unwrap();
    let mut r = vm.reader().unwrap();
    let a = r.translate_inline(0, 0x10_0000).unwrap();
    assert!(a.run_pages() == 4096 && !a.is_private());
    r.offline().unwrap();
    vm.set_memory_attributes(0x10_0100 * PAGE, 16 * PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE).unwrap();
    r.online().unwrap();
    for gfn in (0x10_0000..0x10_0000 + 4096).step_by(7) {
        assert_eq!(r.translate_inline(0, gfn), r.translate(0, gfn));
    }
    let a = r.translate_inline(0, 0x10_0101).unwrap();
    assert!(a.is_private() && a.run_pages() == 15);
    let a = r.translate_inline(0, 0x10_00f0).unwrap();
    assert!(!a.is_private() && a.run_pages() == 0x10);
}

#[test]
fn translation_fill_matches_the_header_formula() {
    let e = SlotEntry {
        base_gfn: 100,
        npages: 10,
        hva: 0x1000_0000,
        private_pgoff: 5,
        private_fd: 7,
        kvm_flags: F_PRIV,
        slot: 3,
        tr_flags: HVRT_TR_HAS_PRIVATE,
        file_dev: 1,
        file_ino: 2,
    };
    let t = hvrt::translation_fill(&e, 104, 42);
    assert_eq!((t.hva(), t.private_pgoff(), t.run_pages(), t.generation()), (0x1000_4000, 9, 6, 42));
    let e2 = SlotEntry { tr_flags: 0, ..e };
    assert_eq!(hvrt::translation_fill(&e2, 104, 42).private_pgoff(), 0);
}
use hvrt::SlotEntry;

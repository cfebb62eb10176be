//! Dirty logging (native/tests/dirty_log_test.c): set_mode/get/clear with KVM's errors in KVM's
//! order plus the crate's own buffer-length checks, the bitmap's life across create, move,
//! flag changes and delete, INITIALLY_SET, mark_dirty across slots and holes, bitmap_next_set,
//! markers on several threads racing get-and-clear, and get_view.
mod common;
use common::*;
use hvrt::{bitmap_iter, bitmap_next_set, bitmap_words};

const HVA: u64 = 0x7f00_0000_0000;

fn count_bits(b: &[u64], nbits: u64) -> u64 {
    bitmap_iter(b, nbits).count() as u64
}

#[test]
fn errors() {
    let vm = vm();
    let mut b = [0u64; 4];
    let ones = [!0u64; 4];
    add_at(&vm, 0, F_LOG, 0, 200 * PAGE, HVA).unwrap();
    add_at(&vm, 1, 0, 1 << 20, 16 * PAGE, HVA).unwrap();
    assert_eq!(vm.dirty_log_set_mode(HVRT_DIRTY_LOG_INITIALLY_SET), Err(EINVAL));
    assert_eq!(vm.dirty_log_set_mode(4), Err(EINVAL));
    assert_eq!(vm.dirty_log_set_mode(HVRT_DIRTY_LOG_MANUAL_PROTECT | 8), Err(EINVAL));
    vm.dirty_log_set_mode(0).unwrap();
    assert_eq!(vm.dirty_log_get(slot(2, 0), &mut b), Err(EINVAL));
    assert_eq!(vm.dirty_log_get(32764, &mut b), Err(EINVAL));
    assert_eq!(vm.dirty_log_get(5, &mut b), Err(ENOENT));
    assert_eq!(vm.dirty_log_get(1, &mut b), Err(ENOENT));
    // The crate's check: 200 pages need 4 words.
    assert_eq!(vm.dirty_log_get(0, &mut b[..3]), Err(EINVAL));
    assert_eq!(bitmap_words(200), 4);
    vm.dirty_log_get(0, &mut b).unwrap();
    assert_eq!(vm.dirty_log_clear(slot(2, 0), 0, 64, &ones), Err(EINVAL));
    assert_eq!(vm.dirty_log_clear(5, 1, 64, &ones), Err(EINVAL)); // first_page before the lookup
    assert_eq!(vm.dirty_log_clear(5, 0, 64, &ones), Err(ENOENT));
    assert_eq!(vm.dirty_log_clear(0, 256, 0, &ones), Err(EINVAL));
    assert_eq!(vm.dirty_log_clear(0, 128, 73, &ones), Err(EINVAL));
    assert_eq!(vm.dirty_log_clear(0, 0, 100, &ones), Err(EINVAL));
    assert_eq!(vm.dirty_log_clear(0, 0, 129, &ones[..2]), Err(EINVAL)); // the crate's check
    vm.dirty_log_clear(0, 64, 0, &[]).unwrap();
    vm.dirty_log_clear(0, 128, 72, &ones).unwrap();
    assert_eq!(vm.mark_dirty(u64::MAX - 5, 10), Err(EINVAL));
    assert_eq!(vm.mark_dirty(u64::MAX - PAGE + 1, PAGE), Ok(0));
    assert_eq!(vm.mark_dirty(0, 0), Ok(0));
}

#[test]
fn lifecycle() {
    let vm = vm();
    let mut b = [0u64; 3];
    add_at(&vm, 3, F_LOG, 0x10_0000, 130 * PAGE, HVA).unwrap();
    assert_eq!(vm.mark_dirty(0x10_0000 + 5 * PAGE, 2 * PAGE), Ok(2));
    assert_eq!(vm.mark_dirty(0x10_0000 + 129 * PAGE + 17, 1), Ok(1));
    add_at(&vm, 3, F_LOG, 0x90_0000, 130 * PAGE, HVA).unwrap(); // a move keeps the bitmap
    vm.dirty_log_get(3, &mut b).unwrap();
    assert_eq!(b, [3 << 5, 0, 2]);
    vm.dirty_log_get(3, &mut b).unwrap();
    assert_eq!(count_bits(&b, 130), 0);
    assert_eq!(vm.mark_dirty(0x90_0000, PAGE), Ok(1));
    add_at(&vm, 3, 0, 0x90_0000, 130 * PAGE, HVA).unwrap(); // logging off: gone
    assert_eq!(vm.dirty_log_get(3, &mut b), Err(ENOENT));
    assert_eq!(vm.mark_dirty(0x90_0000, PAGE), Ok(0));
    add_at(&vm, 3, F_LOG, 0x90_0000, 130 * PAGE, HVA).unwrap(); // on again: clear
    vm.dirty_log_get(3, &mut b).unwrap();
    assert_eq!(count_bits(&b, 130), 0);
    assert_eq!(vm.mark_dirty(0x90_0000, PAGE), Ok(1));
    vm.delete_slot(3).unwrap();
    assert_eq!(vm.dirty_log_get(3, &mut b), Err(ENOENT));
    add_at(&vm, 3, F_LOG, 0x90_0000, 130 * PAGE, HVA).unwrap();
    vm.dirty_log_get(3, &mut b).unwrap();
    assert_eq!(count_bits(&b, 130), 0);
}

#[test]
fn manual_protect_and_initially_set() {
    let vm = vm();
    let mut b = [0u64; 2];
    vm.dirty_log_set_mode(HVRT_DIRTY_LOG_MANUAL_PROTECT | HVRT_DIRTY_LOG_INITIALLY_SET).unwrap();
    add_at(&vm, 1, F_LOG, 0, 100 * PAGE, HVA).unwrap();
    vm.dirty_log_get(1, &mut b).unwrap();
    assert_eq!(b, [u64::MAX, (1 << 36) - 1]);
    vm.dirty_log_clear(1, 0, 64, &[0xff]).unwrap();
    vm.dirty_log_get(1, &mut b).unwrap();
    assert!(b[0] == !0xff && count_bits(&b, 100) == 92);
    vm.dirty_log_get(1, &mut b).unwrap(); // manual: GET does not clear
    assert_eq!(count_bits(&b, 100), 92);
    vm.dirty_log_set_mode(0).unwrap();
    vm.dirty_log_get(1, &mut b).unwrap(); // get-and-clear
    assert_eq!(count_bits(&b, 100), 92);
    vm.dirty_log_get(1, &mut b).unwrap();
    assert_eq!(count_bits(&b, 100), 0);
}

#[test]
fn mark_ranges_across_slots_and_holes() {
    let vm = vm();
    add_at(&vm, 0, F_LOG, 0, 16 * PAGE, HVA).unwrap();
    add_at(&vm, 1, 0, 32 * PAGE, 32 * PAGE, HVA + 0x10_0000).unwrap();
    add_at(&vm, 2, F_LOG, 64 * PAGE, 136 * PAGE, HVA + 0x20_0000).unwrap();
    add_at(&vm, slot(1, 0), F_LOG, 0, 300 * PAGE, HVA).unwrap();
    assert_eq!(vm.mark_dirty(8 * PAGE, 92 * PAGE), Ok(8 + 36));
    let mut a = [0u64; 1];
    vm.dirty_log_get(0, &mut a).unwrap();
    assert_eq!(a[0], 0xff00);
    let mut c = [0u64; 3];
    vm.dirty_log_get(2, &mut c).unwrap();
    assert_eq!(count_bits(&c, 136), 36);
    assert_eq!(bitmap_next_set(&c, 136, 0), 0);
    assert_eq!(bitmap_next_set(&c, 136, 36), 136);
    assert_eq!(bitmap_next_set(&c, 1000, 36), 192); // nbits clamped to the slice
    let mut as1 = [0u64; 5];
    vm.dirty_log_get(slot(1, 0), &mut as1).unwrap();
    assert_eq!(count_bits(&as1, 300), 0); // mark_dirty is address space 0
}

#[test]
fn markers_racing_get_and_clear_lose_nothing() {
    const PAGES: u64 = 4096;
    const MARKERS: u64 = 3;
    let vm = vm();
    add_at(&vm, 0, F_LOG, 0, PAGES * PAGE, HVA).unwrap();
    let mut seen = vec![0u8; PAGES as usize];
    let mut b = vec![0u64; bitmap_words(PAGES)];
    let (mut twice, mut gets) = (0, 0);
    std::thread::scope(|s| {
        for id in 0..MARKERS {
            let vm = &vm;
            s.spawn(move || {
                let per = PAGES / MARKERS;
                for k in 0..per {
                    let p = (k * 2_654_435_761 % per) * MARKERS + id;
                    assert_eq!(vm.mark_dirty(p * PAGE, 1), Ok(1));
                }
            });
        }
        for _ in 0..2000 {
            vm.dirty_log_get(0, &mut b).unwrap();
            gets += 1;
            for i in bitmap_iter(&b, PAGES) {
                twice += (seen[i as usize] != 0) as u32;
                seen[i as usize] += 1;
            }
        }
    });
    vm.dirty_log_get(0, &mut b).unwrap();
    for i in bitmap_iter(&b, PAGES) {
        twice += (seen[i as usize] != 0) as u32;
        seen[i as usize] += 1;
    }
    let missing = seen[..(MARKERS * (PAGES / MARKERS)) as usize].iter().filter(|&&x| x == 0).count();
    assert_eq!(gets, 2000);
    assert_eq!(twice, 0);
    assert_eq!(missing, 0);
}

#[test]
fn get_view() {
    let mut vm = vm();
    add_at(&vm, 0, F_LOG, 0, 200 * PAGE, HVA).unwrap();
    assert_eq!(vm.dirty_log_get_view(slot(2, 0)).err(), Some(EINVAL));
    assert_eq!(vm.dirty_log_get_view(5).err(), Some(ENOENT));
    assert_eq!(vm.mark_dirty(3 * PAGE, 2 * PAGE), Ok(2));
    let view = vm.dirty_log_get_view(0).unwrap();
    assert_eq!(view, &[0x18, 0, 0, 0]);
    // The view borrows the VM mutably: the next call needs the borrow to end first (the
    // borrow checker enforces what hvrt.h says about the view's life).
    assert_eq!(vm.mark_dirty(199 * PAGE, 1), Ok(1));
    let mut b = [0u64; 4];
    vm.dirty_log_get(0, &mut b).unwrap();
    assert_eq!(b, [0, 0, 0, 1 << (199 - 192)]);
    let view = vm.dirty_log_get_view(0).unwrap();
    assert_eq!(view.len(), 4);
    assert_eq!(count_bits(view, 200), 0);
}

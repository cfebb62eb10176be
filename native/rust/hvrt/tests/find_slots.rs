//! Reverse queries (native/tests/find_slots_test.c): KVM's gfn formulas on a known layout,
//! order, truncation and the growing Vec, file identity (dup, reopen, hvrt's own duplicate),
//! bad arguments.
mod common;
use common::fixture::{set_ext, set_v1, FX_HVA as H};
use common::*;
use hvrt::SlotRange;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

const TRP: u32 = HVRT_TR_HAS_PRIVATE;

fn r(slot: u32, flags: u32, gfn_start: u64, gfn_end: u64) -> SlotRange {
    SlotRange { slot, flags, gfn_start, gfn_end, reserved: 0 }
}

/// as0: slot 1 (16 pages at H, gfn 0x100), slot 3 (private, file pages 10-13, hva H+8p, gfn
/// 0x300), slot 4 (READONLY, 1 page at H+100p); as1: slot 2 (LOG_DIRTY, 8 pages at H+4p).
fn known_layout(memfd: &File) -> Vm {
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    set_v1(&vm, slot(0, 1), 0, 0x100 * PAGE, 16 * PAGE, H).unwrap();
    set_v1(&vm, slot(1, 2), F_LOG, 0x200 * PAGE, 8 * PAGE, H + 4 * PAGE).unwrap();
    set_ext(&vm, slot(0, 3), F_PRIV, 0x300 * PAGE, 4 * PAGE, H + 8 * PAGE, memfd.as_raw_fd() as u32, 10 * PAGE).unwrap();
    set_v1(&vm, slot(0, 4), F_RO, 0x400 * PAGE, PAGE, H + 100 * PAGE).unwrap();
    vm
}

#[test]
fn by_hva_formulas_and_order() {
    let f = File::from(memfd(64 * PAGE));
    let vm = known_layout(&f);
    assert_eq!(
        vm.find_slots_by_hva(H + 5 * PAGE + 17, 1).unwrap(),
        vec![r(slot(0, 1), 0, 0x105, 0x106), r(slot(1, 2), HVRT_TR_LOG_DIRTY, 0x201, 0x202)]
    );
    assert_eq!(
        vm.find_slots_by_hva(H + 9 * PAGE + 4095, 2).unwrap(),
        vec![r(slot(0, 1), 0, 0x109, 0x10b), r(slot(0, 3), TRP, 0x301, 0x303), r(slot(1, 2), HVRT_TR_LOG_DIRTY, 0x205, 0x207)]
    );
    assert!(vm.find_slots_by_hva(H - PAGE, PAGE).unwrap().is_empty());
    assert!(vm.find_slots_by_hva(H + 16 * PAGE, 84 * PAGE).unwrap().is_empty());
    assert_eq!(vm.find_slots_by_hva(H + 16 * PAGE, 84 * PAGE + 1).unwrap(), vec![r(slot(0, 4), HVRT_TR_READONLY, 0x400, 0x401)]);
    let all = vec![
        r(slot(0, 1), 0, 0x100, 0x110),
        r(slot(0, 3), TRP, 0x300, 0x304),
        r(slot(0, 4), HVRT_TR_READONLY, 0x400, 0x401),
        r(slot(1, 2), HVRT_TR_LOG_DIRTY, 0x200, 0x208),
    ];
    assert_eq!(vm.find_slots_by_hva(0, u64::MAX).unwrap(), all);
    assert!(vm.find_slots_by_hva(H + 5 * PAGE, 0).unwrap().is_empty());
    // Truncation: the total comes back, only out.len() pairs are written.
    let junk = SlotRange { slot: 0xa5a5_a5a5, flags: 0, gfn_start: 1, gfn_end: 2, reserved: 7 };
    let mut o = [junk; 3];
    assert_eq!(vm.find_slots_by_hva_into(0, u64::MAX, &mut o[..2]), Ok(4));
    assert_eq!(&o[..2], &all[..2]);
    assert_eq!(o[2], junk);
    assert_eq!(vm.find_slots_by_hva_into(0, u64::MAX, &mut []), Ok(4));
    // A move changes the gfns; a delete removes the pair.
    set_v1(&vm, slot(0, 1), F_LOG, 0x1000 * PAGE, 16 * PAGE, H).unwrap();
    assert_eq!(vm.find_slots_by_hva(H, 1).unwrap(), vec![r(slot(0, 1), HVRT_TR_LOG_DIRTY, 0x1000, 0x1001)]);
    vm.delete_slot(slot(0, 1)).unwrap();
    assert!(vm.find_slots_by_hva(H, 1).unwrap().is_empty());
}

#[test]
fn the_result_grows_past_its_first_buffer() {
    // 200 slots backing the same host page: more than the first buffer of 16.
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    for i in 0..200u32 {
        set_v1(&vm, slot(i & 1, i), 0, i as u64 * 16 * PAGE, (i as u64 % 7 + 1) * PAGE, H).unwrap();
    }
    let got = vm.find_slots_by_hva(H, 1).unwrap();
    let want: Vec<SlotRange> = (0..200u32)
        .map(|i| if i < 100 { i * 2 } else { (i - 100) * 2 + 1 })
        .map(|id| r(slot(id & 1, id), 0, id as u64 * 16, id as u64 * 16 + 1))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn by_private_file_identity() {
    let f = File::from(memfd(64 * PAGE));
    let other = File::from(memfd(64 * PAGE));
    let vm = known_layout(&f);
    set_ext(&vm, slot(1, 7), F_PRIV, 0x700 * PAGE, 8 * PAGE, H, f.as_raw_fd() as u32, 20 * PAGE).unwrap();
    let dup = f.try_clone().unwrap();
    let reopened = File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
    let t = vm.translate(0, 0x300).unwrap();
    // SAFETY: hvrt's duplicate stays open while the slot exists (it does, for this borrow).
    let hvrt_dup = unsafe { BorrowedFd::borrow_raw(t.private_fd()) };
    for fd in [f.as_fd(), dup.as_fd(), reopened.as_fd(), hvrt_dup] {
        assert_eq!(
            vm.find_slots_by_private(fd, 11 * PAGE + 1, 10 * PAGE - 1).unwrap(),
            vec![r(slot(0, 3), TRP, 0x301, 0x304), r(slot(1, 7), TRP, 0x700, 0x701)]
        );
    }
    assert!(vm.find_slots_by_private(f.as_fd(), 0, 10 * PAGE).unwrap().is_empty());
    assert!(vm.find_slots_by_private(f.as_fd(), 14 * PAGE, 6 * PAGE).unwrap().is_empty());
    assert_eq!(vm.find_slots_by_private(f.as_fd(), 13 * PAGE + 4095, 1).unwrap(), vec![r(slot(0, 3), TRP, 0x303, 0x304)]);
    assert_eq!(vm.find_slots_by_private(f.as_fd(), 0, u64::MAX).unwrap().len(), 2);
    assert!(vm.find_slots_by_private(f.as_fd(), 12 * PAGE, 0).unwrap().is_empty());
    assert!(vm.find_slots_by_private(other.as_fd(), 0, u64::MAX).unwrap().is_empty());
    let devnull = File::open("/dev/null").unwrap();
    assert!(vm.find_slots_by_private(devnull.as_fd(), 0, u64::MAX).unwrap().is_empty());
    drop(f);
    drop(reopened);
    assert_eq!(vm.find_slots_by_private_into(dup.as_fd(), 0, u64::MAX, &mut []), Ok(2));
    vm.delete_slot(slot(0, 3)).unwrap();
    assert_eq!(vm.find_slots_by_private(dup.as_fd(), 0, u64::MAX).unwrap(), vec![r(slot(1, 7), TRP, 0x700, 0x708)]);
}

#[test]
fn bad_arguments() {
    let f = File::from(memfd(64 * PAGE));
    let vm = known_layout(&f);
    assert_eq!(vm.find_slots_by_hva(u64::MAX, 1), Err(EINVAL));
    assert_eq!(vm.find_slots_by_hva(H, u64::MAX - H + 1), Err(EINVAL));
    assert_eq!(vm.find_slots_by_private(f.as_fd(), PAGE, u64::MAX), Err(EINVAL));
    // SAFETY: a number that is not open, only for the errno.
    let closed = unsafe { BorrowedFd::borrow_raw(common::fixture::closed_fd_number() as i32) };
    assert_eq!(vm.find_slots_by_private(closed, 0, 1), Err(EBADF));
}

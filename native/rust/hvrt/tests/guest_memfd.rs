//! region2's success path needs a real guest_memfd, which only /dev/kvm can make
//! (native/tests/guest_memfd_test.c); each test skips itself, with the reason printed, where
//! there is none. Both tests count fds, so they hold `serial`.
mod common;
use common::fixture::*;
use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// KVM_CREATE_GUEST_MEMFD = _IOWR(0xAE, 0xd4, struct kvm_create_guest_memfd (64 bytes)).
const KVM_CREATE_GUEST_MEMFD: libc::c_ulong = 0xC040_AED4;

/// A KVM VM fd and a guest_memfd of `bytes` from it, or None with the reason printed.
fn open_guest_memfd(test: &str, bytes: u64) -> Option<(OwnedFd, OwnedFd)> {
    let kvm_vm = kvm_vm(test)?;
    let mut req = [0u64; 8]; // size, flags, reserved[6]
    req[0] = bytes;
    // SAFETY: kvm_vm is a KVM VM fd; req is the 64-byte struct the ioctl reads.
    let fd = unsafe { libc::ioctl(kvm_vm.as_raw_fd(), KVM_CREATE_GUEST_MEMFD, req.as_mut_ptr()) };
    if fd < 0 {
        common::skip(test, &format!("no KVM_CREATE_GUEST_MEMFD ({})", std::io::Error::last_os_error()));
        return None;
    }
    // SAFETY: a new fd this function owns.
    Some((kvm_vm, unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[test]
fn region2_private_slots() {
    let _serial = serial();
    let Some((_kvm_vm, gmem)) = open_guest_memfd("region2_private_slots", 16 * PAGE) else { return };
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    let fd = gmem.as_raw_fd() as u32;
    let file = gmem.as_raw_fd();
    let baseline = count_open_fds();

    // Pages 2-5 of the 16-page file; the caller's fd is not needed afterwards.
    let a = SlotDesc { pgoff: 2, ..desc(slot(0, 1), F_PRIV, 0x100, 4, FX_HVA) };
    // The safe layer's region2_private builds the same request as set_r2 with bit 2.
    let r = region2_private(a.slot, a.gfn * PAGE, 4 * PAGE, FX_HVA, file, 2 * PAGE);
    // SAFETY: the fixture's host range is never touched.
    assert_eq!(unsafe { vm.set_user_memory_region2(&r) }, Ok(()));
    assert_eq!(count_open_fds(), baseline + 1);
    for g in a.gfn..a.gfn + a.npages {
        assert!(translates_as_file(&vm, g, &a, 2, file));
    }
    assert!(translates_to_nothing(&vm, 0, a.gfn + a.npages));

    // The bindings: pages 2-5 are taken, in either address space and through either entry.
    assert_eq!(set_r2(&vm, slot(0, 2), F_PRIV, 0x200 * PAGE, PAGE, FX_HVA, fd, 5 * PAGE), Err(EINVAL));
    assert_eq!(set_r2(&vm, slot(1, 2), F_PRIV, 0x200 * PAGE, 4 * PAGE, FX_HVA, fd, 0), Err(EINVAL));
    assert_eq!(set_ext(&vm, slot(0, 2), F_PRIV, 0x200 * PAGE, 2 * PAGE, FX_HVA, fd, PAGE), Err(EINVAL));
    let b = SlotDesc { pgoff: 6, ..desc(slot(1, 2), F_PRIV, 0x100, 2, FX_HVA) };
    assert_eq!(set_r2(&vm, b.slot, F_PRIV, b.gfn * PAGE, 2 * PAGE, FX_HVA, fd, 6 * PAGE), Ok(()));
    assert!(translates_as_file(&vm, b.gfn + 1, &b, 3, file));

    // The end: offset + size up to the file's 16 pages, not past; a negative loff_t is refused.
    assert_eq!(set_r2(&vm, slot(0, 3), F_PRIV, 0x300 * PAGE, 2 * PAGE, FX_HVA, fd, 15 * PAGE), Err(EINVAL));
    assert_eq!(set_r2(&vm, slot(0, 3), F_PRIV, 0x300 * PAGE, PAGE, FX_HVA, fd, 16 * PAGE), Err(EINVAL));
    assert_eq!(set_r2(&vm, slot(0, 3), F_PRIV, 0x300 * PAGE, PAGE, FX_HVA, fd, 1 << 63), Err(EINVAL));
    let c = SlotDesc { pgoff: 14, ..desc(slot(0, 3), F_PRIV, 0x300, 2, FX_HVA) };
    assert_eq!(set_r2(&vm, c.slot, F_PRIV, c.gfn * PAGE, 2 * PAGE, FX_HVA, fd, 14 * PAGE), Ok(()));
    assert!(translates_as_file(&vm, c.gfn + 1, &c, 4, file));

    // Immutable, even when identical; delete frees the pages (hvrt's fd stays for b and c).
    assert_eq!(set_r2(&vm, a.slot, F_PRIV, a.gfn * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), Err(EINVAL));
    assert_eq!(set_r2(&vm, a.slot, F_PRIV, 0x500 * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), Err(EINVAL));
    assert_eq!(set_v1(&vm, a.slot, F_LOG, a.gfn * PAGE, 4 * PAGE, FX_HVA), Err(EINVAL));
    assert!(translates_as_file(&vm, a.gfn, &a, 4, file));
    assert_eq!(count_open_fds(), baseline + 1); // one duplicate per file, shared by its slots
    assert_eq!(vm.delete_slot(a.slot), Ok(()));
    assert_eq!(count_open_fds(), baseline + 1);
    assert_eq!(set_r2(&vm, slot(0, 4), F_PRIV, 0x400 * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), Ok(()));
    drop(vm);
    assert_eq!(count_open_fds(), baseline);
}

/// ext takes a guest_memfd too (hvrt.h: "may be a guest_memfd, a memfd or any regular file").
#[test]
fn ext_takes_a_guest_memfd() {
    let _serial = serial();
    let Some((_kvm_vm, gmem)) = open_guest_memfd("ext_takes_a_guest_memfd", 16 * PAGE) else { return };
    let vm = vm();
    let s = desc(slot(0, 0), F_PRIV, 0, 16, FX_HVA);
    assert_eq!(set_ext(&vm, s.slot, F_PRIV, 0, 16 * PAGE, FX_HVA, gmem.as_raw_fd() as u32, 0), Ok(()));
    assert!(translates_as_file(&vm, 15, &s, 2, gmem.as_raw_fd()));
}

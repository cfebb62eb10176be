//! Private slots without /dev/kvm (native/tests/private_fd_test.c): the files each entry point
//! accepts, the offset and size checks, the page bindings (one page of a file backs at most one
//! slot), immutability, and fd ownership (hvrt keeps its own duplicate and closes it on delete
//! and destroy, leaking none). Every test holds `serial`: they count the process's fds.
mod common;
use common::fixture::*;
use common::*;
use common::memfd as new_memfd;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NEW_GPA: u64 = 0x4000 * PAGE;
const NEW_SLOT: u32 = 50;

fn raw(fd: &impl AsRawFd) -> u32 {
    fd.as_raw_fd() as u32
}

/// ext's private file must be a regular file (memfd, tmpfs, any); region2's a guest_memfd.
#[test]
fn which_files() {
    let _serial = serial();
    let mut fx = Fixture::new();
    let mut p = [0i32; 2];
    // SAFETY: p has room for the two fds pipe writes.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new fds this test owns.
    let (pr, pw) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let (sock, _sock2) = std::os::unix::net::UnixStream::pair().unwrap();
    let dir = File::open("/").unwrap();
    let devnull = File::options().read(true).write(true).open("/dev/null").unwrap();
    let memfd = new_memfd(4 * PAGE);
    for fd in [raw(&pr), raw(&pw), raw(&sock), raw(&dir), raw(&devnull)] {
        fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), EINVAL);
        fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), EINVAL);
    }
    // A memfd is not a guest_memfd: region2 refuses what ext takes.
    fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, raw(&memfd), 0), EINVAL);
    // Not open at all: -EBADF from both; -1 is the u32 0xffffffff.
    for fd in [closed_fd_number(), u32::MAX, 0x7fff_ffff, 0x8000_0000, 1 << 20] {
        fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), EBADF);
        fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), EBADF);
    }
    // A regular file on disk is fine for ext.
    let path = format!("/tmp/hvrt-private-{}", std::process::id());
    let file = File::options().read(true).write(true).create_new(true).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file.set_len(4 * PAGE).unwrap();
    let s = SlotDesc { pgoff: 1, ..desc(NEW_SLOT, F_PRIV, NEW_GPA / PAGE, 2, FX_HVA) };
    assert_eq!(set_ext(&fx.vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, raw(&file), PAGE), Ok(()));
    fx.gen[0] += fx.nr_as;
    assert!(translates_as_file(&fx.vm, s.gfn + 1, &s, fx.gen[0], file.as_raw_fd()));
    assert_eq!(fx.vm.delete_slot(s.slot), Ok(()));
    fx.gen[0] += fx.nr_as;
    assert!(fx.intact());
}

/// private_offset must be page aligned, offset + size must not wrap, and for ext the slot must
/// end within the file's size at the time of the call.
#[test]
fn offset_and_size() {
    let _serial = serial();
    let mut fx = Fixture::new();
    let memfd = new_memfd(4 * PAGE);
    let fd = raw(&memfd);
    let mut bad = 1;
    while bad < PAGE {
        fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, bad), EINVAL);
        fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, PAGE + bad), EINVAL);
        bad <<= 1;
    }
    // The alignment and wrap checks come before the fd is looked at.
    let closed = closed_fd_number();
    let top_page = 0u64.wrapping_sub(PAGE);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 8), EINVAL);
    fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 8), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, closed, top_page), EINVAL);
    fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, closed, top_page), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, top_page), EINVAL);
    // Past the end of the 4-page file.
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, 5 * PAGE, FX_HVA, fd, 0), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 3 * PAGE), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 4 * PAGE), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 1 << 62), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 1 << 63), EINVAL);
    // Exactly to the end: fine. The size counts when the call is made.
    let mut s = SlotDesc { pgoff: 2, ..desc(NEW_SLOT, F_PRIV, NEW_GPA / PAGE, 2, FX_HVA) };
    assert_eq!(set_ext(&fx.vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 2 * PAGE), Ok(()));
    fx.gen[0] += fx.nr_as;
    assert!(translates_as_file(&fx.vm, s.gfn + 1, &s, fx.gen[0], memfd.as_raw_fd()));
    assert_eq!(fx.vm.delete_slot(s.slot), Ok(()));
    fx.gen[0] += fx.nr_as;
    // SAFETY: the test's own memfd.
    assert_eq!(unsafe { libc::ftruncate(memfd.as_raw_fd(), 8 * PAGE as libc::off_t) }, 0);
    assert_eq!(set_ext(&fx.vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 6 * PAGE), Ok(()));
    s.pgoff = 6;
    fx.gen[0] += fx.nr_as;
    assert!(translates_as_file(&fx.vm, s.gfn, &s, fx.gen[0], memfd.as_raw_fd()));
    assert_eq!(fx.vm.delete_slot(s.slot), Ok(()));
    fx.gen[0] += fx.nr_as;
    assert!(fx.intact());
}

/// A page of a private file backs at most one slot, in any address space; disjoint ranges of one
/// file may back several slots; a delete frees the pages for another slot.
#[test]
fn bindings() {
    let _serial = serial();
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    let memfd = new_memfd(16 * PAGE);
    let other = new_memfd(16 * PAGE);
    let dup = memfd.try_clone().unwrap();
    let (mfd, ofd, dfd) = (raw(&memfd), raw(&other), raw(&dup));
    let file = memfd.as_raw_fd();
    // Pages 4-7 of memfd.
    let a = SlotDesc { pgoff: 4, ..desc(slot(0, 1), F_PRIV, 0x100, 4, FX_HVA) };
    assert_eq!(set_ext(&vm, a.slot, F_PRIV, a.gfn * PAGE, 4 * PAGE, FX_HVA, mfd, 4 * PAGE), Ok(()));
    let (mut gen0, mut gen1) = (2u64, 1u64);
    // Any overlap with pages 4-7, through this fd or another of the same file, in either space.
    for (first, npages) in [(4, 4), (7, 1), (0, 5), (6, 8), (5, 1), (0, 16)] {
        let (off, size) = (first * PAGE, npages * PAGE);
        assert_eq!(set_ext(&vm, slot(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, mfd, off), Err(EINVAL));
        assert_eq!(set_ext(&vm, slot(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, dfd, off), Err(EINVAL));
        assert_eq!(set_ext(&vm, slot(1, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, mfd, off), Err(EINVAL));
        // The same slot ids and pages of another file are free.
        assert_eq!(set_ext(&vm, slot(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, ofd, off), Ok(()));
        assert_eq!(vm.delete_slot(slot(0, 2)), Ok(()));
        gen0 += 4;
    }
    assert!(translates_to_nothing(&vm, 0, 0x200));
    assert!(translates_to_nothing(&vm, 1, 0x200));
    assert!(translates_as_file(&vm, a.gfn, &a, gen0, file));
    // Right before and right after: disjoint, so allowed; in the other address space too.
    let b = desc(slot(0, 2), F_PRIV, 0x200, 4, FX_HVA);
    let c = SlotDesc { pgoff: 8, ..desc(slot(1, 3), F_PRIV, 0x100, 8, FX_HVA) };
    assert_eq!(set_ext(&vm, b.slot, F_PRIV, b.gfn * PAGE, 4 * PAGE, FX_HVA, dfd, 0), Ok(()));
    assert_eq!(set_ext(&vm, c.slot, F_PRIV, c.gfn * PAGE, 8 * PAGE, FX_HVA, mfd, 8 * PAGE), Ok(()));
    gen0 += 2;
    gen1 += 2;
    assert!(translates_as_file(&vm, b.gfn + 3, &b, gen0, file));
    assert!(translates_as_file(&vm, c.gfn + 7, &c, gen1, file));
    // Now every page is bound: nothing more fits, not even one page.
    for page in 0..16 {
        assert_eq!(set_ext(&vm, slot(0, 9), F_PRIV, 0x900 * PAGE, PAGE, FX_HVA, mfd, page * PAGE), Err(EINVAL));
    }
    // -EEXIST (gpa overlap) is found before the binding.
    assert_eq!(set_ext(&vm, slot(0, 9), F_PRIV, 0x100 * PAGE, PAGE, FX_HVA, mfd, 4 * PAGE), Err(EEXIST));
    // After a delete, its pages can be bound again, by another slot in another space.
    assert_eq!(vm.delete_slot(a.slot), Ok(()));
    gen0 += 2;
    let d = SlotDesc { pgoff: 5, ..desc(slot(1, 4), F_PRIV, 0x400, 2, FX_HVA) };
    assert_eq!(set_ext(&vm, d.slot, F_PRIV, d.gfn * PAGE, 2 * PAGE, FX_HVA, mfd, 5 * PAGE), Ok(()));
    gen1 += 2;
    assert!(translates_as_file(&vm, d.gfn + 1, &d, gen1, file));
    assert!(translates_to_nothing(&vm, 0, a.gfn));
    assert!(translates_as_file(&vm, b.gfn, &b, gen0, file));
    assert!(translates_as_file(&vm, c.gfn, &c, gen1, file));
}

/// Private slots are immutable: any request but a delete is -EINVAL, even an identical one.
#[test]
fn private_slots_are_immutable() {
    let _serial = serial();
    let mut fx = Fixture::new();
    let p = *fx.slot(slot(0, 3));
    let (gpa, size, off) = (p.gfn * PAGE, p.npages * PAGE, p.pgoff * PAGE);
    let memfd = new_memfd(16 * PAGE);
    let fd = raw(&memfd);
    fx.rejected(|vm| set_ext(vm, p.slot, F_PRIV, gpa, size, p.hva, fd, off), EINVAL);
    fx.rejected(|vm| set_ext(vm, p.slot, F_PRIV, gpa + 0x1000 * PAGE, size, p.hva, fd, off), EINVAL);
    fx.rejected(|vm| set_ext(vm, p.slot, 0, gpa, size, p.hva, fd, off), EINVAL);
    fx.rejected(|vm| set_r2(vm, p.slot, F_PRIV, gpa, size, p.hva, fd, off), EINVAL);
    fx.rejected(|vm| set_v1(vm, p.slot, 0, gpa, size, p.hva), EINVAL);
    fx.rejected(|vm| set_v1(vm, p.slot, F_LOG, gpa, size, p.hva), EINVAL);
    fx.rejected(|vm| set_v1(vm, p.slot, 0, gpa + 0x1000 * PAGE, size, p.hva), EINVAL);
    // A shared slot cannot turn private either.
    fx.rejected(|vm| set_ext(vm, slot(0, 0), F_PRIV, 0, 16 * PAGE, FX_HVA, fd, 0), EINVAL);
    // Delete works, through v1 (no bit 2 needed), and the slot can be made again.
    assert_eq!(fx.vm.delete_slot(p.slot), Ok(()));
    fx.forget(p.slot);
    fx.gen[0] += fx.nr_as;
    assert!(fx.intact());
    let again = new_memfd(16 * PAGE);
    assert_eq!(set_ext(&fx.vm, p.slot, F_PRIV, gpa, size, p.hva, raw(&again), off), Ok(()));
    fx.record(p);
    assert!(fx.intact());
    assert!(translates_as_file(&fx.vm, p.gfn, &p, fx.gen[0], again.as_raw_fd()));
}

/// hvrt duplicates the private fd: the caller's may be closed at once; hvrt's shows in the
/// translation, and is closed on delete and on destroy.
#[test]
fn fd_ownership() {
    let _serial = serial();
    let vm = vm();
    let baseline = count_open_fds();
    let memfd = new_memfd(8 * PAGE);
    let memfd_no = memfd.as_raw_fd();
    let keep = file_id(memfd_no).unwrap();
    let s = SlotDesc { pgoff: 4, ..desc(slot(0, 7), F_PRIV, 0x40, 4, FX_HVA) };
    assert_eq!(set_ext(&vm, s.slot, F_PRIV, s.gfn * PAGE, 4 * PAGE, FX_HVA, raw(&memfd), 4 * PAGE), Ok(()));
    assert_eq!(count_open_fds(), baseline + 2);
    drop(memfd);
    assert_eq!(count_open_fds(), baseline + 1);
    assert!(translates_as(&vm, s.gfn + 2, &s, 2));
    let t = vm.translate(0, s.gfn).unwrap();
    assert_ne!(t.private_fd(), memfd_no); // hvrt's own fd, not the (closed) caller's
    assert_eq!(file_id(t.private_fd()), Some(keep));
    assert_eq!(vm.delete_slot(s.slot), Ok(()));
    assert_eq!(count_open_fds(), baseline);

    // Destroy closes what slots still hold, in both address spaces.
    let memfd = new_memfd(8 * PAGE);
    assert_eq!(set_ext(&vm, slot(0, 1), F_PRIV, 0, 4 * PAGE, FX_HVA, raw(&memfd), 0), Ok(()));
    assert_eq!(set_ext(&vm, slot(1, 1), F_PRIV, 0, 4 * PAGE, FX_HVA, raw(&memfd), 4 * PAGE), Ok(()));
    drop(memfd);
    assert_eq!(count_open_fds(), baseline + 1); // one duplicate for the file's two slots
    drop(vm);
    assert_eq!(count_open_fds(), baseline);
}

/// Refused private requests take no fd, whichever check refuses them.
#[test]
fn refusals_take_no_fd() {
    let _serial = serial();
    let mut fx = Fixture::new();
    let memfd = new_memfd(4 * PAGE);
    let fd = raw(&memfd);
    let baseline = count_open_fds();
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, 0, PAGE, FX_HVA, fd, 0), EEXIST);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, 1 << 40, PAGE, FX_HVA, fd, 0), EINVAL);
    fx.rejected(|vm| set_ext(vm, NEW_SLOT, F_PRIV, NEW_GPA, 8 * PAGE, FX_HVA, fd, 0), EINVAL);
    fx.rejected(|vm| set_r2(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), EINVAL);
    fx.rejected(|vm| set_ext(vm, slot(0, 3), F_PRIV, 0x300 * PAGE, 8 * PAGE, FX_HVA + 0x30_0000, fd, 2 * PAGE), EINVAL);
    assert_eq!(count_open_fds(), baseline);
}

/// 1000 create/delete cycles of a private slot, and of a VM holding private slots: no fd left.
#[test]
fn no_leak_over_cycles() {
    let _serial = serial();
    let vm = vm();
    let memfd = new_memfd(4 * PAGE);
    let fd = raw(&memfd);
    let baseline = count_open_fds();
    let mut failures = 0;
    for i in 0..1000u32 {
        let s = slot(i & 1, i % 32764);
        failures += set_ext(&vm, s, F_PRIV, i as u64 * PAGE, 2 * PAGE, FX_HVA, fd, 2 * PAGE).is_err() as u32;
        failures += vm.delete_slot(s).is_err() as u32;
    }
    assert_eq!(failures, 0);
    assert_eq!(count_open_fds(), baseline);
    drop(vm);
    for _ in 0..1000 {
        let vm = self::vm();
        failures += set_ext(&vm, 0, F_PRIV, 0, 2 * PAGE, FX_HVA, fd, 0).is_err() as u32;
        failures += set_ext(&vm, 1, F_PRIV, 2 * PAGE, 2 * PAGE, FX_HVA, fd, 2 * PAGE).is_err() as u32;
    }
    assert_eq!(failures, 0);
    assert_eq!(count_open_fds(), baseline);
}

/// With no fd number left, the duplicate fails: -EMFILE, and nothing changes.
#[test]
fn fd_limit_gives_emfile() {
    let _serial = serial();
    let mut fx = Fixture::new();
    let memfd = new_memfd(4 * PAGE);
    let m = memfd.as_raw_fd();
    let baseline = count_open_fds();
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-buffer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    // Lower the limit to just above the highest open fd, then fill every hole below it.
    // SAFETY: F_GETFD on any number only asks whether it is open.
    let highest = (m + 1..m + 4096).filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).max().unwrap_or(m);
    let tight = libc::rlimit { rlim_cur: highest as libc::rlim_t + 1, rlim_max: old.rlim_max };
    // SAFETY: a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) } < 0 {
        common::skip("fd_limit_gives_emfile", "cannot lower RLIMIT_NOFILE");
        return;
    }
    let mut fillers = Vec::new();
    while fillers.len() < 4096 {
        match File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(_) => break,
        }
    }
    let r = set_ext(&fx.vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, m as u32, 0);
    drop(fillers);
    // SAFETY: the limit read above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    assert_eq!(r, Err(Error::EMFILE));
    assert!(translates_to_nothing(&fx.vm, 0, NEW_GPA / PAGE));
    assert!(fx.intact());
    assert!(fx.still_works());
    assert_eq!(count_open_fds(), baseline);
}

//! The KVM binding against the real /dev/kvm (native/tests/kvm_bind_test.c): the bind's
//! errors, the capabilities against KVM_CHECK_EXTENSION, existing slots handed to KVM, later
//! changes reaching KVM first (and KVM's refusals winning), guest_memfd creation with its
//! mapping released on drop. Whether KVM holds a slot is asked of KVM itself. Each test prints
//! SKIP with the reason (common::skip, counted as skipped by ./build.sh test) where /dev/kvm cannot be opened.
//! The KVM VM is of the type under test: SW_PROTECTED where KVM_CAP_VM_TYPES offers it, else the
//! default type; hvrt's VM has that type under this host's profile (kvm_profile 0), and the
//! guest_memfd parts run only where a VM of the type takes guest_memfd slots (KVM_CAP_GUEST_MEMFD).
mod common;
use common::fixture::{closed_fd_number, set_ext, set_v1};
use common::*;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const K_CREATE_VM: u64 = 0xAE01;
const K_CHECK_EXTENSION: u64 = 0xAE03;
const K_SET_REGION: u64 = 0x4020_AE46;
const K_SET_REGION2: u64 = 0x40A0_AE49;
const K_GET_DIRTY_LOG: u64 = 0x4010_AE42;
const K_CREATE_GUEST_MEMFD: u64 = 0xC040_AED4;

/// /dev/kvm, the VM type under test and whether a VM of it takes guest_memfd slots.
struct Kvm(OwnedFd, u32, bool);

fn kvm(test: &str) -> Option<Kvm> {
    // SAFETY: plain open of a static path.
    let fd = unsafe { libc::open(b"/dev/kvm\0".as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        common::skip(test, "/dev/kvm cannot be opened");
        return None;
    }
    // SAFETY: a new fd.
    let dev = unsafe { OwnedFd::from_raw_fd(fd) };
    let vm_type = if check_ext(dev.as_fd(), 235) & (1 << HVRT_VM_TYPE_SW_PROTECTED) != 0 {
        HVRT_VM_TYPE_SW_PROTECTED
    } else {
        HVRT_VM_TYPE_DEFAULT
    };
    let mut k = Kvm(dev, vm_type, false);
    let probe = k.new_vm();
    k.2 = check_ext(probe.as_fd(), 234) > 0;
    Some(k)
}

/// ioctl's result, or -errno.
fn kio(fd: BorrowedFd<'_>, req: u64, arg: usize) -> i64 {
    // SAFETY: each caller passes the argument its request expects.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, arg) };
    if r < 0 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap() as i64)
    } else {
        r as i64
    }
}

fn check_ext(fd: BorrowedFd<'_>, cap: usize) -> u64 {
    kio(fd, K_CHECK_EXTENSION, cap).max(0) as u64
}

impl Kvm {
    fn new_vm(&self) -> OwnedFd {
        let r = kio(self.0.as_fd(), K_CREATE_VM, self.1 as usize);
        assert!(r >= 0, "KVM_CREATE_VM({}): {r}", self.1);
        // SAFETY: a new fd.
        unsafe { OwnedFd::from_raw_fd(r as i32) }
    }
    /// An hvrt VM of the type under test, under this host's profile (its address spaces too).
    fn hvrt_vm(&self, cfg: VmConfig) -> Vm {
        Vm::new(&VmConfig { vm_type: self.1, kvm_profile: HVRT_KVM_PROFILE_HOST, ..cfg }).unwrap()
    }
}

/// Direct KVM_SET_USER_MEMORY_REGION2 (v1 where the kernel lacks it, 6.1) on the VM fd, bypassing hvrt.
fn kvm_region(vm: BorrowedFd<'_>, slot: u32, gpa: u64, size: u64, hva: u64) -> i64 {
    let r = region2(slot, 0, gpa, size, hva);
    let req = if check_ext(vm, 231) > 0 { K_SET_REGION2 } else { K_SET_REGION };
    kio(vm, req, &r as *const _ as usize)
}

/// KVM has a slot over gpa: a direct create of a spare slot there is refused with EEXIST.
fn kvm_has_slot_at(vm: BorrowedFd<'_>, gpa: u64, hva: u64) -> bool {
    let r = kvm_region(vm, 999, gpa, PAGE, hva);
    if r == 0 {
        kvm_region(vm, 999, 0, 0, hva);
    }
    r == -(libc::EEXIST as i64)
}

/// KVM_GET_DIRTY_LOG of a slot: 0 (it exists and logs) or -ENOENT.
fn kvm_dirty_log(vm: BorrowedFd<'_>, slot: u32) -> i64 {
    let bitmap = [0u64; 64];
    let d: [u64; 2] = [slot as u64, bitmap.as_ptr() as u64];
    kio(vm, K_GET_DIRTY_LOG, d.as_ptr() as usize)
}

fn kvm_gmem(vm: BorrowedFd<'_>, size: u64, flags: u64) -> OwnedFd {
    let req = [size, flags, 0, 0, 0, 0, 0, 0];
    let r = kio(vm, K_CREATE_GUEST_MEMFD, req.as_ptr() as usize);
    assert!(r >= 0, "KVM_CREATE_GUEST_MEMFD: {r}");
    // SAFETY: a new fd.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

#[test]
fn bind_errors() {
    let _serial = serial();
    let Some(k) = kvm("bind_errors") else { return };
    let kvm_vm = k.new_vm();
    let other = k.new_vm();
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let vm = k.hvrt_vm(VmConfig::default());
    // SAFETY (both): a number that is not open, only for the errno.
    let closed = unsafe { BorrowedFd::borrow_raw(closed_fd_number() as i32) };
    assert_eq!(vm.kvm_bind(closed, 0), Err(EBADF));
    assert_eq!(vm.kvm_bind(devnull.as_fd(), 0), Err(Error::ENOTTY));
    assert_eq!(vm.kvm_bind(k.0.as_fd(), 0), Err(Error::ENOTTY)); // /dev/kvm itself is no VM
    assert_eq!(vm.kvm_bind(kvm_vm.as_fd(), 1 << 5), Err(EINVAL));
    assert_eq!(vm.kvm_caps().err(), Some(Error::ENODEV));
    assert_eq!(vm.create_guest_memfd(PAGE, 0).err(), Some(Error::ENODEV));
    if k.1 == HVRT_VM_TYPE_DEFAULT && check_ext(kvm_vm.as_fd(), 118) < 2 {
        // Two address spaces (the newest profile has SMM) against a KVM with one.
        let two = Vm::new(&newest(VmConfig::default()).nr_address_spaces(2)).unwrap();
        assert_eq!(two.kvm_bind(kvm_vm.as_fd(), 0), Err(EINVAL));
    }
    let hc = check_ext(kvm_vm.as_fd(), 201) & (1 << 12) != 0;
    let r = vm.kvm_bind(kvm_vm.as_fd(), HVRT_BIND_EXIT_HYPERCALL);
    assert_eq!(r, if hc { Ok(()) } else { Err(Error::ENODEV) });
    if !hc {
        vm.kvm_bind(kvm_vm.as_fd(), 0).unwrap();
    }
    assert_eq!(vm.kvm_bind(kvm_vm.as_fd(), 0), Err(Error::EBUSY));
    assert_eq!(vm.kvm_bind(other.as_fd(), 0), Err(Error::EBUSY));
    assert_eq!(vm.kvm_caps().unwrap().flags & HVRT_KVM_EXIT_HYPERCALL != 0, hc);
}

#[test]
fn caps_match_kvm() {
    let _serial = serial();
    let Some(k) = kvm("caps_match_kvm") else { return };
    let kvm_vm = k.new_vm();
    let vm = k.hvrt_vm(VmConfig::default());
    vm.kvm_bind(kvm_vm.as_fd(), 0).unwrap();
    let c = vm.kvm_caps().unwrap();
    let ext = |cap| check_ext(kvm_vm.as_fd(), cap);
    assert_eq!(c.size, 72);
    assert_eq!(c.flags & HVRT_KVM_USER_MEMORY2 != 0, ext(231) > 0);
    assert_eq!(c.flags & HVRT_KVM_GUEST_MEMFD != 0, ext(234) > 0);
    assert_eq!(c.flags & HVRT_KVM_MEMORY_ATTRIBUTES != 0, ext(233) & KVM_MEMORY_ATTRIBUTE_PRIVATE != 0);
    assert_eq!(c.flags & HVRT_KVM_EXIT_HYPERCALL, 0);
    assert_eq!(c.flags & HVRT_KVM_MANUAL_DIRTY_LOG != 0, ext(168) > 0);
    assert_eq!(c.flags & HVRT_KVM_READONLY_MEM != 0, ext(81) > 0);
    assert_eq!(c.flags & HVRT_KVM_MEMORY_FAULT_INFO != 0, ext(232) > 0);
    assert_eq!(c.flags & !0x7f, 0);
    assert_eq!(c.guest_memfd_flags, ext(244));
    assert_eq!(c.memory_attributes, ext(233));
    assert_eq!(c.hypercall_exits, ext(201));
    assert_eq!(c.nr_memslots as u64, ext(10));
    assert_eq!(c.nr_address_spaces as u64, ext(118).max(1));
    assert_eq!(c.reserved, [0; 4]);
}

#[test]
fn existing_slots_are_handed_to_kvm() {
    let _serial = serial();
    let Some(k) = kvm("existing_slots_are_handed_to_kvm") else { return };
    let kvm_vm = k.new_vm();
    let mem = Mapping::anonymous((64 * PAGE) as usize).unwrap();
    let vm = k.hvrt_vm(VmConfig::default());
    let hva = mem.addr();
    add_at(&vm, slot(0, 0), 0, 0, 16 * PAGE, hva).unwrap();
    set_v1(&vm, slot(0, 1), F_LOG, 0x10_0000, 16 * PAGE, hva + 16 * PAGE).unwrap();
    if k.2 {
        let gmem = kvm_gmem(kvm_vm.as_fd(), 16 * PAGE, 0);
        // SAFETY: mem outlives the VM.
        unsafe { vm.set_user_memory_region2(&region2_private(slot(0, 2), 0x20_0000, 16 * PAGE, hva + 32 * PAGE, gmem.as_raw_fd(), 0)) }
            .unwrap();
        drop(gmem); // hvrt's duplicate is what KVM gets
    }
    let kfd = kvm_vm.as_fd();
    assert!(!kvm_has_slot_at(kfd, 0, hva));
    vm.kvm_bind(kfd, 0).unwrap();
    assert!(kvm_has_slot_at(kfd, 0, hva));
    assert!(kvm_has_slot_at(kfd, 0x10_0000 + 15 * PAGE, hva));
    assert_eq!(kvm_has_slot_at(kfd, 0x20_0000, hva), k.2);
    assert!(!kvm_has_slot_at(kfd, 0x30_0000, hva));
    assert_eq!(kvm_dirty_log(kfd, slot(0, 1)), 0);
    assert_eq!(kvm_dirty_log(kfd, slot(0, 0)), -(libc::ENOENT as i64));
    drop(vm);
}

#[test]
fn changes_reach_kvm_first() {
    let _serial = serial();
    let Some(k) = kvm("changes_reach_kvm_first") else { return };
    let kvm_vm = k.new_vm();
    let other = k.new_vm();
    let mem = Mapping::anonymous((64 * PAGE) as usize).unwrap();
    // max_gpa_bits 32: stricter than KVM, so hvrt's refusal must not reach KVM.
    let vm = k.hvrt_vm(VmConfig::default().max_gpa_bits(32));
    let (kfd, hva) = (kvm_vm.as_fd(), mem.addr());
    vm.kvm_bind(kfd, 0).unwrap();
    add_at(&vm, 3, 0, 0x40_0000, 16 * PAGE, hva).unwrap();
    assert!(kvm_has_slot_at(kfd, 0x40_0000, hva));
    add_at(&vm, 3, 0, 0x50_0000, 16 * PAGE, hva).unwrap(); // move
    assert!(!kvm_has_slot_at(kfd, 0x40_0000, hva));
    assert!(kvm_has_slot_at(kfd, 0x50_0000, hva));
    assert_eq!(kvm_dirty_log(kfd, 3), -(libc::ENOENT as i64));
    set_v1(&vm, 3, F_LOG, 0x50_0000, 16 * PAGE, hva).unwrap(); // flags
    assert_eq!(kvm_dirty_log(kfd, 3), 0);
    vm.delete_slot(3).unwrap();
    assert!(!kvm_has_slot_at(kfd, 0x50_0000, hva));
    // A batch: each entry goes to KVM.
    let batch = [region2(4, 0, 0x60_0000, 16 * PAGE, hva), region2(5, F_LOG, 0x70_0000, 16 * PAGE, hva + 16 * PAGE)];
    // SAFETY: mem outlives the VM.
    assert_eq!(unsafe { vm.set_user_memory_regions(&batch) }.unwrap(), vec![Ok(()), Ok(())]);
    assert!(kvm_has_slot_at(kfd, 0x60_0000, hva));
    assert_eq!(kvm_dirty_log(kfd, 5), 0);
    // The harvest goes through KVM_GET_DIRTY_LOG: the bound VM's log reads empty.
    let mut b = [0u64; 1];
    vm.dirty_log_get(5, &mut b).unwrap();
    assert_eq!(b, [0]);
    // hvrt-only refusals never reach KVM.
    assert_eq!(add_at(&vm, 6, 0, 1 << 33, 16 * PAGE, hva), Err(EINVAL));
    assert!(!kvm_has_slot_at(kfd, 1 << 33, hva));
    assert_eq!(add_at(&vm, 6, 0, 0x60_0000, PAGE, hva), Err(EEXIST));
    // KVM refuses what hvrt alone accepted: another VM's guest_memfd, an _ext memfd (where the
    // VM takes no guest_memfd slot, hvrt's own flag check refuses both first).
    let foreign = if k.2 { Some(kvm_gmem(other.as_fd(), 16 * PAGE, 0)) } else { None };
    let mfd = memfd(16 * PAGE);
    let fds = count_open_fds();
    let target = foreign.as_ref().map_or(mfd.as_raw_fd(), |f| f.as_raw_fd());
    // SAFETY: mem outlives the VM.
    let r = unsafe { vm.set_user_memory_region2(&region2_private(7, 0x80_0000, 16 * PAGE, hva, target, 0)) };
    // A kernel without REGION2 (6.1): the ioctl itself is missing, -ENOTTY.
    assert_eq!(r, Err(if check_ext(kfd, 231) > 0 { EINVAL } else { Error::ENOTTY }));
    assert_eq!(vm.translate(0, 0x800), Err(ENOENT));
    assert_eq!(set_ext(&vm, 7, F_PRIV, 0x80_0000, 16 * PAGE, hva, mfd.as_raw_fd() as u32, 0), Err(EINVAL));
    assert_eq!(count_open_fds(), fds, "a refused private slot keeps no duplicate");
    // A slot KVM has but hvrt does not: KVM's EEXIST wins.
    assert_eq!(kvm_region(kfd, 20, 0x90_0000, PAGE, hva), 0);
    assert_eq!(add_at(&vm, 8, 0, 0x90_0000, PAGE, hva), Err(EEXIST));
    assert_eq!(vm.translate(0, 0x900), Err(ENOENT));
    drop(vm);
}

#[test]
fn guest_memfds() {
    let _serial = serial();
    let Some(k) = kvm("guest_memfds") else { return };
    let kvm_vm = k.new_vm();
    let vm = k.hvrt_vm(VmConfig::default());
    vm.kvm_bind(kvm_vm.as_fd(), 0).unwrap();
    let caps = vm.kvm_caps().unwrap();
    if caps.flags & HVRT_KVM_GUEST_MEMFD == 0 {
        assert_eq!(vm.create_guest_memfd(PAGE, 0).err(), Some(Error::ENODEV));
        common::skip("guest_memfds", "this KVM has no guest_memfd");
        return;
    }
    let fds = count_open_fds();
    let g = vm.create_guest_memfd(16 * PAGE, 0).unwrap();
    assert!(g.mapping().is_none());
    // SAFETY: F_GETFD on an open fd.
    assert!(unsafe { libc::fcntl(g.as_fd().as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC != 0);
    drop(g);
    let both = caps.guest_memfd_flags & 3 == 3;
    if both {
        let g = vm.create_guest_memfd(16 * PAGE, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED).unwrap();
        let m = g.mapping().expect("mapped");
        // SAFETY: the guest_memfd's own shared mapping.
        unsafe { std::ptr::write_bytes(m.as_ptr(), 0x5a, m.len()) };
        let again = Mapping::shared(g.as_fd(), PAGE as usize, 15 * PAGE).unwrap();
        // SAFETY: inside the second mapping.
        assert_eq!(unsafe { *again.as_ptr().add(7) }, 0x5a, "it is the file's memory");
        // SAFETY: m outlives the slot (deleted below).
        unsafe { vm.set_user_memory_region2(&region2_private(0, 0, 16 * PAGE, m.addr(), g.as_fd().as_raw_fd(), 0)) }
            .unwrap();
        assert!(kvm_has_slot_at(kvm_vm.as_fd(), 0, m.addr()));
        vm.delete_slot(0).unwrap();
    }
    let g = vm.create_guest_memfd(16 * PAGE, HVRT_GMEM_SHARED_IF_SUPPORTED).unwrap();
    assert_eq!(g.mapping().is_some(), both);
    drop(g);
    for (size, flags) in [(16 * PAGE, 1 << 10), (16 * PAGE, 1 << 33), (0, 0), (100, 0), (1 << 63, 0)] {
        assert_eq!(vm.create_guest_memfd(size, flags).err(), Some(EINVAL), "size {size} flags {flags:#x}");
    }
    assert_eq!(count_open_fds(), fds, "every GuestMemfd closed its fd and unmapped on drop");
}

//! Helpers shared by the conformance tests (the Rust side of native/tests/test_util.h).
#![allow(dead_code)]

pub use hvrt::sys::*;
#[allow(unused_imports)]
pub use hvrt::{Error, Mapping, Reader, Translation, Vm, VmConfig, PAGE_SIZE};
use std::os::fd::{FromRawFd, OwnedFd};

pub const PAGE: u64 = 4096;
pub const F_LOG: u32 = KVM_MEM_LOG_DIRTY_PAGES;
pub const F_RO: u32 = KVM_MEM_READONLY;
pub const F_PRIV: u32 = KVM_MEM_PRIVATE;
/// x86-64 TASK_SIZE_MAX with 4-level paging.
pub const USER_LIMIT_4LEVEL: u64 = 0x7fff_ffff_f000;

pub const EINVAL: Error = Error::EINVAL;
pub const EEXIST: Error = Error::EEXIST;
pub const ENOENT: Error = Error::ENOENT;
pub const EBADF: Error = Error::EBADF;
pub const EPERM: Error = Error::EPERM;

pub fn slot(as_id: u32, id: u32) -> u32 {
    as_id << 16 | id
}

pub fn region2(slot: u32, flags: u32, gpa: u64, size: u64, hva: u64) -> kvm_userspace_memory_region2 {
    kvm_userspace_memory_region2 {
        slot,
        flags,
        guest_phys_addr: gpa,
        memory_size: size,
        userspace_addr: hva,
        ..Default::default()
    }
}

/// A private region2 (KVM_MEM_GUEST_MEMFD) bound to fd at offset.
pub fn region2_private(slot: u32, gpa: u64, size: u64, hva: u64, fd: i32, offset: u64) -> kvm_userspace_memory_region2 {
    kvm_userspace_memory_region2 {
        guest_memfd: fd as u32,
        guest_memfd_offset: offset,
        ..region2(slot, F_PRIV, gpa, size, hva)
    }
}

/// A private _ext region (KVM_MEM_PRIVATE) on any regular file.
pub fn region_ext(slot: u32, gpa: u64, size: u64, hva: u64, fd: i32, offset: u64) -> kvm_userspace_memory_region_ext {
    kvm_userspace_memory_region_ext {
        region: kvm_userspace_memory_region {
            slot,
            flags: F_PRIV,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: hva,
        },
        private_offset: offset,
        private_fd: fd as u32,
        ..Default::default()
    }
}

/// A default VM under the newest kernel profile: hvrt's own rules, the same on every host
/// (`Vm::with_defaults()` follows this host's KVM; the tests that compare with KVM use that).
pub fn vm() -> Vm {
    vm_of(hvrt::sys::HVRT_VM_TYPE_DEFAULT)
}

/// A VM of `vm_type` under the newest kernel profile.
pub fn vm_of(vm_type: u32) -> Vm {
    Vm::new(&newest(VmConfig::of_type(vm_type))).expect("hvrt_vm_create")
}

/// `cfg` under the newest kernel profile (hvrt's own rules).
pub fn newest(cfg: VmConfig) -> VmConfig {
    cfg.kvm_profile(hvrt::sys::HVRT_KVM_PROFILE_NEWEST)
}

/// Adds a slot over `map` (which the test keeps alive longer than the VM or deletes first).
pub fn add(vm: &Vm, slot: u32, flags: u32, gpa: u64, map: &Mapping) -> Result<(), Error> {
    // SAFETY: map is mapped read-write and outlives the slot (each test drops the VM first or
    // deletes the slot).
    unsafe { set_shared(vm, &region2(slot, flags, gpa, map.len() as u64, map.addr())) }
}

/// Adds a slot over an arbitrary host address (the rule tests, which never touch the memory).
pub fn add_at(vm: &Vm, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64) -> Result<(), Error> {
    // SAFETY: these tests never convert, dereference or discard: hvrt only checks the range.
    unsafe { set_shared(vm, &region2(slot, flags, gpa, size, hva)) }
}

/// A shared slot through region2 where the VM's kernel profile has it, else through v1 (6.1,
/// probed: a VM following a host without KVM_SET_USER_MEMORY_REGION2).
///
/// # Safety
/// As [`Vm::set_user_memory_region2`].
pub unsafe fn set_shared(vm: &Vm, r: &kvm_userspace_memory_region2) -> Result<(), Error> {
    if vm.kvm_profile()?.features & hvrt::sys::HVRT_PROFILE_F_REGION2 != 0 {
        // SAFETY: the caller's.
        return unsafe { vm.set_user_memory_region2(r) };
    }
    // SAFETY: the caller's.
    unsafe { vm.set_user_memory_region(&r.into()) }
}

/// A memfd of `size` bytes.
pub fn memfd(size: u64) -> OwnedFd {
    // SAFETY: a plain syscall with a static name.
    let fd = unsafe { libc::memfd_create(b"hvrt-test\0".as_ptr().cast(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a new fd this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: valid fd.
    let rc = unsafe { libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&fd), size as libc::off_t) };
    assert_eq!(rc, 0);
    fd
}

/// Says that `test` did not check what it is for (no /dev/kvm, a kernel without the feature),
/// printed, and as a line in the file named by HVRT_SKIP_LOG: cargo counts a test that returns
/// early as passed, so ./build.sh test moves the tests named there from passed to skipped.
pub fn skip(test: &str, why: &str) {
    println!("SKIP {test}: {why}");
    if let Some(path) = std::env::var_os("HVRT_SKIP_LOG") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("HVRT_SKIP_LOG");
        // One write of one short line: O_APPEND keeps the lines of parallel tests whole.
        f.write_all(format!("{test}\n").as_bytes()).expect("HVRT_SKIP_LOG");
    }
}

/// A KVM VM fd for making guest_memfds, or None with the reason printed (the caller skips).
pub fn kvm_vm(test: &str) -> Option<OwnedFd> {
    // SAFETY: plain syscalls on a static path.
    let kvm = unsafe { libc::open(b"/dev/kvm\0".as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if kvm < 0 {
        skip(test, "/dev/kvm cannot be opened");
        return None;
    }
    // SAFETY: kvm is open; KVM_CREATE_VM(0) = _IO(0xAE, 0x01).
    let vm = unsafe { libc::ioctl(kvm, 0xAE01, 0) };
    // SAFETY: kvm is ours.
    unsafe { libc::close(kvm) };
    if vm < 0 {
        skip(test, "KVM_CREATE_VM failed");
        return None;
    }
    // SAFETY: vm is a new fd.
    Some(unsafe { OwnedFd::from_raw_fd(vm) })
}
pub mod fixture;

/// A raw call's return code as the safe layer's result (0 → Ok), for `Fixture::rejected`.
pub fn rc(code: i32) -> Result<(), Error> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::from_code(code))
    }
}

/// Open fds of this process (the directory's own fd excluded), as test_util.h counts them.
pub fn count_open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

/// (st_dev, st_ino) of an open fd, or None when it is not open.
pub fn file_id(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: a zeroed stat is a valid out-buffer; fstat only writes it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: any fd number; fstat fails cleanly on a closed one.
    if fd < 0 || unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// translates_as for a private slot, and its private_fd is open on the same file as `file`
/// (test_util.h's fd_is_file).
pub fn translates_as_file(vm: &Vm, gfn: u64, s: &fixture::SlotDesc, gen: u64, file: i32) -> bool {
    if !fixture::translates_as(vm, gfn, s, gen) {
        return false;
    }
    let t = vm.translate(s.slot >> 16, gfn).unwrap();
    let same = file_id(t.private_fd()).is_some() && file_id(t.private_fd()) == file_id(file);
    if !same {
        eprintln!("  gfn {gfn:#x}: private_fd {} is not the private file", t.private_fd());
    }
    same
}

/// Serializes the tests of one binary that count fds, change process limits or rely on no VM
/// being created concurrently (cargo runs a file's tests on parallel threads).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

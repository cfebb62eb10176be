//! Vcpu::run with a real KVM guest (native/tests/vcpu_kvm_test.c; skipped with the reason
//! printed where /dev/kvm cannot be opened). Here the hvrt VM is bound, so the slots reach KVM
//! through hvrt: a 16-bit real-mode program writes its data page, writes to 0xA0000 (in no slot:
//! device MMIO), writes to a READONLY slot (KVM's MMIO exit for ROM writes), then halts. Each
//! exit comes back classified; immediate_exit gives INTERRUPTED; the dirty log is harvested.
mod common;
use common::*;
use hvrt::{bitmap_iter, ExitAction, Vcpu};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

const MEM_SIZE: u64 = 0x10000; // slot 0: code at 0x1000, data at 0x2000, logs dirty pages
const ROM_GPA: u64 = 0x20000; // slot 1: 4 KiB READONLY
const MMIO_GPA: u64 = 0xA0000; // in no slot
const KVM_EXIT_HLT: u32 = 5;

const PROGRAM: [u8; 14] = [
    0xB0, 0x42, // mov al, 0x42
    0xA2, 0x00, 0x20, // mov [0x2000], al        (data page)
    0x26, 0xA2, 0x04, 0x00, // mov [es:0x0004], al     (MMIO)
    0x64, 0xA2, 0x10, 0x00, // mov [fs:0x0010], al     (ROM write)
    0xF4, // hlt
];

fn ioctl(fd: i32, req: u64, arg: usize) -> i32 {
    // SAFETY: each caller passes what its request expects.
    unsafe { libc::ioctl(fd, req as _, arg) }
}

/// Real mode: cs:ip = 0:rip, ds = ss = 0, es and fs at the given paragraphs.
fn real_mode(vcpu: i32, rip: u64, es: u16, fs: u16) -> bool {
    let mut sregs = [0u8; 312];
    if ioctl(vcpu, 0x8138_AE83, sregs.as_mut_ptr() as usize) < 0 {
        return false;
    }
    // struct kvm_segment is 24 bytes: base at 0, limit at 8, selector at 12.
    for (off, para) in [(0usize, 0u16), (24, 0), (48, es), (72, fs), (120, 0)] {
        sregs[off..off + 8].copy_from_slice(&((para as u64) << 4).to_ne_bytes());
        sregs[off + 8..off + 12].copy_from_slice(&0xffffu32.to_ne_bytes());
        sregs[off + 12..off + 14].copy_from_slice(&para.to_ne_bytes());
    }
    if ioctl(vcpu, 0x4138_AE84, sregs.as_ptr() as usize) < 0 {
        return false;
    }
    let mut regs = [0u64; 18];
    regs[6] = 0xf000; // rsp
    regs[16] = rip;
    regs[17] = 2; // rflags: bit 1 is reserved and must be set
    ioctl(vcpu, 0x4090_AE82, regs.as_ptr() as usize) >= 0
}

#[test]
fn a_real_guest_through_vcpu_run() {
    let Some(kvm_vm) = kvm_vm("a_real_guest_through_vcpu_run") else { return };
    let kvm = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").unwrap();
    let mem = Mapping::anonymous(MEM_SIZE as usize).unwrap();
    let rom = Mapping::anonymous(PAGE as usize).unwrap();
    // SAFETY: inside the test's mapping.
    unsafe { std::ptr::copy_nonoverlapping(PROGRAM.as_ptr(), mem.as_ptr().add(0x1000), PROGRAM.len()) };
    let nr_as = ioctl(kvm.as_raw_fd(), 0xAE03, 118).max(1) as u32;
    let vm = Vm::new(&VmConfig::default().nr_address_spaces(nr_as)).unwrap();
    vm.kvm_bind(kvm_vm.as_fd(), 0).unwrap();
    add(&vm, 0, F_LOG, 0, &mem).unwrap();
    add(&vm, 1, F_RO, ROM_GPA, &rom).unwrap();
    let vcpu_fd = ioctl(kvm_vm.as_raw_fd(), 0xAE41, 0);
    let mmap_size = ioctl(kvm.as_raw_fd(), 0xAE04, 0);
    if vcpu_fd < 0 || mmap_size <= 0 {
        common::skip("a_real_guest_through_vcpu_run", "KVM_CREATE_VCPU failed");
        return;
    }
    // SAFETY: a new fd.
    let vcpu_fd = unsafe { OwnedFd::from_raw_fd(vcpu_fd) };
    assert!(real_mode(vcpu_fd.as_raw_fd(), 0x1000, (MMIO_GPA >> 4) as u16, (ROM_GPA >> 4) as u16));
    let run = Mapping::shared(vcpu_fd.as_fd(), mmap_size as usize, 0).unwrap();
    let mut v = Vcpu::new(&vm, Some(vcpu_fd), run).unwrap();

    // 0: immediate_exit (byte 1 of kvm_run): KVM_RUN returns -1 EINTR at once.
    v.run_page_mut()[1] = 1;
    assert_eq!(v.run(), Ok(ExitAction::Unhandled));
    v.run_page_mut()[1] = 0;
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_INTERRUPTED && i.result == 0);

    // 1: the MMIO write to a gpa in no slot.
    assert_eq!(v.run(), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MMIO && i.exit_reason == KVM_EXIT_MMIO);
    assert!(i.mmio_class == HVRT_MMIO_DEVICE && i.gpa == MMIO_GPA + 4 && i.size == 1 && i.is_write == 1);
    assert_eq!(i.slot, u32::MAX);
    assert_eq!(v.run_page()[40], 0x42); // mmio.data[0]
    // SAFETY: inside the test's mapping; the guest is stopped.
    assert_eq!(unsafe { *mem.as_ptr().add(0x2000) }, 0x42);
    // The vCPU's reader is online after the run.
    assert_eq!(v.translate(0, 2).unwrap().hva(), mem.addr() + 0x2000);

    // 2: the write to the READONLY slot.
    assert_eq!(v.run(), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MMIO && i.mmio_class == HVRT_MMIO_READONLY_WRITE);
    assert!(i.gpa == ROM_GPA + 0x10 && i.size == 1 && i.is_write == 1 && i.slot == 1);
    // SAFETY: inside the test's mapping.
    assert_eq!(unsafe { *rom.as_ptr().add(0x10) }, 0);

    // 3: hlt, not hvrt's.
    assert_eq!(v.run(), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_OTHER && i.exit_reason == KVM_EXIT_HLT);

    // The harvest merges KVM's log (where this host's KVM tracks guest writes) with hvrt's.
    let mut b = [0u64; 1];
    v.enter().unwrap(); // the dirty-log get takes the VM lock: not with this thread's reader online
    vm.dirty_log_get(0, &mut b).unwrap();
    let pages: Vec<u64> = bitmap_iter(&b, 16).collect();
    assert!(pages.is_empty() || pages.contains(&2), "dirty pages {pages:?}");
    assert_eq!(vm.mark_dirty(5 * PAGE, 1), Ok(1));
    vm.dirty_log_get(0, &mut b).unwrap();
    assert_eq!(b[0], 1 << 5);
    v.exit().unwrap();
    drop(v);
    drop(vm);
}

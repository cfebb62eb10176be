//! hvrt_vcpu_* through the safe Vcpu with kvm_run contents built by hand (no vCPU fd;
//! native/tests/vcpu_test.c): memory faults to private and shared, the repeated-fault guard,
//! EHWPOISON, KVM_HC_MAP_GPA_RANGE valid and malformed, MMIO classes, interrupted and other
//! exits, argument errors.
mod common;
use common::*;
use hvrt::{ExitAction, Vcpu};

const KVM_EXIT_HLT: u32 = 5;
const EINVAL_U64: u64 = (-KVM_EINVAL) as u64;
const PRIV: u64 = KVM_MEMORY_ATTRIBUTE_PRIVATE;

fn put32(run: &mut [u8], off: usize, v: u32) {
    run[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put64(run: &mut [u8], off: usize, v: u64) {
    run[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}
fn get64(run: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(run[off..off + 8].try_into().unwrap())
}

// struct kvm_run on x86_64: exit_reason at 8, the exit union at 32 (hvrt.h asserts these).
fn memory_fault(run: &mut [u8], flags: u64, gpa: u64, size: u64) {
    put32(run, 8, KVM_EXIT_MEMORY_FAULT);
    put64(run, 32, flags);
    put64(run, 40, gpa);
    put64(run, 48, size);
}
fn map_gpa_range(run: &mut [u8], gpa: u64, npages: u64, attrs: u64) {
    put32(run, 8, KVM_EXIT_HYPERCALL);
    put64(run, 32, KVM_HC_MAP_GPA_RANGE); // hypercall.nr
    put64(run, 40, gpa); // args[0]
    put64(run, 48, npages);
    put64(run, 56, attrs);
    put64(run, 88, 0); // ret
}
fn mmio(run: &mut [u8], gpa: u64, len: u32, write: bool) {
    put32(run, 8, KVM_EXIT_MMIO);
    put64(run, 32, gpa); // phys_addr
    put32(run, 48, len);
    run[52] = write as u8;
}

fn new_vcpu(vm: &Vm) -> Vcpu<&Vm> {
    Vcpu::new(vm, None, Mapping::anonymous(4096).unwrap()).unwrap()
}

#[test]
fn arguments_and_the_reader() {
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    assert_eq!(Vcpu::new(&vm, None, Mapping::anonymous(100).unwrap()).err(), Some(EINVAL)); // run page too small
    let mut v = new_vcpu(&vm);
    assert_eq!(v.run(), Err(Error::ENODEV));
    v.enter().unwrap();
    v.exit().unwrap();
    // A slot change from the vCPU thread only with its reader offline.
    v.enter().unwrap();
    assert_eq!(v.translate(0, 3), Err(EPERM));
    add_at(&vm, 0, 0, 0, 16 * PAGE, 0x1_0000_0000).unwrap();
    v.exit().unwrap();
    assert_eq!(v.translate(0, 3).unwrap().hva(), 0x1_0000_0000 + 3 * PAGE);
    assert!(v.fd().is_none());
}

#[test]
fn memory_faults() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    let mut v = new_vcpu(&vm);
    memory_fault(v.run_page_mut(), KVM_MEMORY_EXIT_FLAG_PRIVATE, 5 * PAGE, PAGE);
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Ok(ExitAction::Resume));
    assert_eq!(vm.memory_attributes(5), Ok(PRIV));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MEMORY_FAULT && i.exit_reason == KVM_EXIT_MEMORY_FAULT);
    assert!(i.gpa == 5 * PAGE && i.size == PAGE && i.to_private == 1 && i.result == 0);
    assert!(i.slot == u32::MAX && i.mmio_class == 0 && i.reserved == [0, 0]);
    // The same fault straight back: KVM would loop forever.
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Err(Error::EFAULT));
    assert_eq!(v.exit_info().unwrap().result, HVRT_EFAULT as i64);
    memory_fault(v.run_page_mut(), 0, 4 * PAGE, 2 * PAGE);
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Ok(ExitAction::Resume));
    assert_eq!(vm.memory_attributes(5), Ok(0));
    // Already shared, first time: resumed; then EFAULT.
    memory_fault(v.run_page_mut(), 0, 9 * PAGE, PAGE);
    mmio(v.run_page_mut(), 0x1000_0000, 4, true);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    memory_fault(v.run_page_mut(), 0, 9 * PAGE, PAGE);
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Ok(ExitAction::Resume));
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Err(Error::EFAULT));
    // Poisoned: no conversion.
    memory_fault(v.run_page_mut(), KVM_MEMORY_EXIT_FLAG_PRIVATE, 6 * PAGE, PAGE);
    assert_eq!(v.handle_exit(-1, libc::EHWPOISON).map_err(|e| e.code()), Err(HVRT_EHWPOISON));
    assert_eq!(vm.memory_attributes(6), Ok(0));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MEMORY_FAULT && i.gpa == 6 * PAGE && i.result == HVRT_EHWPOISON as i64);
    // Exit reason 39 with another errno: KVM_RUN's plain error.
    assert_eq!(v.handle_exit(-1, libc::EIO).map_err(|e| e.errno()), Err(Some(libc::EIO)));
    assert_eq!(v.exit_info().unwrap().kind, HVRT_EXIT_OTHER);
    // An unknown flag bit: the VMM's.
    memory_fault(v.run_page_mut(), KVM_MEMORY_EXIT_FLAG_PRIVATE | 1 << 4, 6 * PAGE, PAGE);
    assert_eq!(v.handle_exit(-1, libc::EFAULT), Ok(ExitAction::Unhandled));
    assert_eq!(vm.memory_attributes(6), Ok(0));
    // Interrupted.
    assert_eq!(v.handle_exit(-1, libc::EINTR), Ok(ExitAction::Unhandled));
    assert_eq!(v.exit_info().unwrap().kind, HVRT_EXIT_INTERRUPTED);
    assert_eq!(v.handle_exit(-1, libc::EAGAIN), Ok(ExitAction::Unhandled));
    assert_eq!(v.exit_info().unwrap().kind, HVRT_EXIT_INTERRUPTED);
    // Anything else.
    put32(v.run_page_mut(), 8, KVM_EXIT_HLT);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_OTHER && i.exit_reason == KVM_EXIT_HLT && i.result == 0);
}

#[test]
fn map_gpa_range_hypercalls() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    let mut v = new_vcpu(&vm);
    map_gpa_range(v.run_page_mut(), 0x10 * PAGE, 4, KVM_MAP_GPA_RANGE_ENCRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_4K);
    put64(v.run_page_mut(), 88, 0xdead);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Resume));
    assert_eq!(get64(v.run_page(), 88), 0);
    assert_eq!(vm.memory_attributes(0xf), Ok(0));
    assert_eq!(vm.memory_attributes(0x10), Ok(PRIV));
    assert_eq!(vm.memory_attributes(0x13), Ok(PRIV));
    assert_eq!(vm.memory_attributes(0x14), Ok(0));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MAP_GPA_RANGE && i.gpa == 0x10 * PAGE && i.size == 4 * PAGE && i.to_private == 1);
    map_gpa_range(v.run_page_mut(), 0x11 * PAGE, 1, KVM_MAP_GPA_RANGE_DECRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Resume));
    assert_eq!(get64(v.run_page(), 88), 0);
    assert_eq!(vm.memory_attributes(0x11), Ok(0));
    assert_eq!(vm.memory_attributes(0x12), Ok(PRIV));
    let bad = [
        (0x20 * PAGE, 1, 1 << 5),
        (0x20 * PAGE, 1, KVM_MAP_GPA_RANGE_ENCRYPTED | 3),
        (0x20 * PAGE + 1, 1, KVM_MAP_GPA_RANGE_ENCRYPTED),
        (0x20 * PAGE, 0, KVM_MAP_GPA_RANGE_ENCRYPTED),
        (1 << 63, 1 << 51, KVM_MAP_GPA_RANGE_ENCRYPTED),
        (0x20 * PAGE, u64::MAX, KVM_MAP_GPA_RANGE_ENCRYPTED),
    ];
    for (gpa, npages, attrs) in bad {
        let s0 = vm.conversion_seq().unwrap();
        map_gpa_range(v.run_page_mut(), gpa, npages, attrs);
        assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Resume));
        assert_eq!(get64(v.run_page(), 88), EINVAL_U64);
        assert_eq!(vm.conversion_seq().unwrap(), s0);
        assert_eq!(v.exit_info().unwrap().result, HVRT_EINVAL as i64);
    }
    assert_eq!(vm.memory_attributes(0x20), Ok(0));
    // Another hypercall: not hvrt's.
    map_gpa_range(v.run_page_mut(), 0x20 * PAGE, 1, KVM_MAP_GPA_RANGE_ENCRYPTED);
    put64(v.run_page_mut(), 32, 9);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    assert_eq!(v.exit_info().unwrap().kind, HVRT_EXIT_OTHER);
    assert_eq!(get64(v.run_page(), 88), 0);
    assert_eq!(vm.memory_attributes(0x20), Ok(0));
}

#[test]
fn mmio_classes() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    add_at(&vm, 0, 0, 0, 16 * PAGE, 0x1_0000_0000).unwrap();
    add_at(&vm, 3, F_RO, 32 * PAGE, 8 * PAGE, 0x2_0000_0000).unwrap();
    let mut v = new_vcpu(&vm);
    mmio(v.run_page_mut(), 0x1000_0000, 4, true);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.kind == HVRT_EXIT_MMIO && i.mmio_class == HVRT_MMIO_DEVICE && i.gpa == 0x1000_0000);
    assert!(i.size == 4 && i.is_write == 1 && i.slot == u32::MAX && i.exit_reason == KVM_EXIT_MMIO);
    mmio(v.run_page_mut(), 33 * PAGE + 2, 2, true);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.mmio_class == HVRT_MMIO_READONLY_WRITE && i.slot == 3 && i.size == 2);
    mmio(v.run_page_mut(), 33 * PAGE, 8, false);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.mmio_class == HVRT_MMIO_IN_SLOT && i.is_write == 0);
    // The slot's host address is not mapped: discard nothing, change the attribute only. The
    // vCPU thread brackets the conversion (it takes the VM lock) with enter/exit.
    vm.set_discard_policy(0).unwrap();
    v.enter().unwrap();
    vm.convert(2 * PAGE, PAGE, true).unwrap();
    v.exit().unwrap();
    mmio(v.run_page_mut(), 2 * PAGE, 4, true);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.mmio_class == HVRT_MMIO_PRIVATE && i.slot == 0);
    mmio(v.run_page_mut(), 3 * PAGE, 4, true);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    let i = v.exit_info().unwrap();
    assert!(i.mmio_class == HVRT_MMIO_IN_SLOT && i.slot == 0);
}

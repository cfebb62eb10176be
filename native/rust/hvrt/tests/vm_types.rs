//! The slot rules that depend on the VM type (native/tests/vm_types_test.c): address spaces,
//! READONLY slots, private (bit 2) slots, and that a private slot never allows READONLY or
//! LOG_DIRTY_PAGES. A flag region2 accepts shows as -EBADF with a closed fd (the fd is checked
//! after the flags); one it refuses shows as -EINVAL.
mod common;
use common::fixture::*;
use common::*;
use std::os::fd::AsRawFd;

struct TypeRules {
    vm_type: u32,
    nr_as: u32,
    readonly: bool,
    private_mem: bool,
}

const TABLE: [TypeRules; 6] = [
    TypeRules { vm_type: HVRT_VM_TYPE_DEFAULT, nr_as: 2, readonly: true, private_mem: true },
    TypeRules { vm_type: HVRT_VM_TYPE_SW_PROTECTED, nr_as: 1, readonly: true, private_mem: true },
    // The newest profile (6.18) takes guest_memfd slots on every type, SEV and SEV-ES included.
    TypeRules { vm_type: HVRT_VM_TYPE_SEV, nr_as: 2, readonly: true, private_mem: true },
    TypeRules { vm_type: HVRT_VM_TYPE_SEV_ES, nr_as: 2, readonly: false, private_mem: true },
    TypeRules { vm_type: HVRT_VM_TYPE_SNP, nr_as: 1, readonly: false, private_mem: true },
    TypeRules { vm_type: HVRT_VM_TYPE_TDX, nr_as: 1, readonly: false, private_mem: true },
];

fn ok_if(cond: bool, otherwise: Error) -> Result<(), Error> {
    if cond {
        Ok(())
    } else {
        Err(otherwise)
    }
}

fn check_type(r: &TypeRules) {
    let vm = vm_of(r.vm_type);
    let memfd = memfd(4 * PAGE);
    let mfd = memfd.as_raw_fd() as u32;
    let ro = ok_if(r.readonly, EINVAL);
    let two = r.nr_as == 2;

    // Address spaces: as_id 1 (SMM) only where the type has two.
    assert_eq!(vm.translate(1, 0).map(|_| ()), Err(if two { ENOENT } else { EINVAL }));
    assert_eq!(set_v1(&vm, slot(1, 0), 0, 0, PAGE, FX_HVA), ok_if(two, EINVAL));
    assert_eq!(set_v1(&vm, slot(2, 0), 0, 0, PAGE, FX_HVA), Err(EINVAL));
    assert_eq!(vm.translate(2, 0).map(|_| ()), Err(EINVAL));

    // LOG_DIRTY_PAGES everywhere; READONLY where the state is not protected; every entry.
    assert_eq!(set_v1(&vm, slot(0, 0), F_LOG, 0x0000, PAGE, FX_HVA), Ok(()));
    assert_eq!(set_v1(&vm, slot(0, 1), F_RO, 0x1000, PAGE, FX_HVA), ro);
    assert_eq!(set_r2(&vm, slot(0, 2), F_RO | F_LOG, 0x2000, PAGE, FX_HVA, 0, 0), ro);
    assert_eq!(set_ext(&vm, slot(0, 3), F_RO, 0x3000, PAGE, FX_HVA, 0, 0), ro);
    assert_eq!(vm.translate(0, 1).map(|_| ()), ok_if(r.readonly, ENOENT));

    // Bit 2: region2 reaches the fd check only when the type allows private memory.
    let closed = closed_fd_number();
    let private_err = if r.private_mem { EBADF } else { EINVAL };
    assert_eq!(set_r2(&vm, slot(0, 4), F_PRIV, 0x4000, PAGE, FX_HVA, closed, 0), Err(private_err));
    assert_eq!(set_ext(&vm, slot(0, 5), F_PRIV, 0x5000, PAGE, FX_HVA, mfd, 0), ok_if(r.private_mem, EINVAL));
    // A private slot never allows READONLY or LOG_DIRTY_PAGES, whatever the type.
    assert_eq!(set_ext(&vm, slot(0, 6), F_PRIV | F_RO, 0x6000, PAGE, FX_HVA, mfd, PAGE), Err(EINVAL));
    assert_eq!(set_ext(&vm, slot(0, 6), F_PRIV | F_LOG, 0x6000, PAGE, FX_HVA, mfd, PAGE), Err(EINVAL));
    assert_eq!(set_r2(&vm, slot(0, 6), F_PRIV | F_RO, 0x6000, PAGE, FX_HVA, closed, 0), Err(EINVAL));
    assert_eq!(set_r2(&vm, slot(0, 6), F_PRIV | F_LOG, 0x6000, PAGE, FX_HVA, closed, 0), Err(EINVAL));
    // v1 has no bit 2 whatever the type.
    assert_eq!(set_v1(&vm, slot(0, 7), F_PRIV, 0x7000, PAGE, FX_HVA), Err(EINVAL));
    assert_eq!(vm.translate(0, 5).map(|_| ()), ok_if(r.private_mem, ENOENT));
    assert_eq!(vm.translate(0, 6).map(|_| ()), Err(ENOENT));
    assert_eq!(vm.translate(0, 7).map(|_| ()), Err(ENOENT));
}

#[test]
fn default() {
    check_type(&TABLE[0]);
}
#[test]
fn sw_protected() {
    check_type(&TABLE[1]);
}
#[test]
fn sev() {
    check_type(&TABLE[2]);
}
#[test]
fn sev_es() {
    check_type(&TABLE[3]);
}
#[test]
fn snp() {
    check_type(&TABLE[4]);
}
#[test]
fn tdx() {
    check_type(&TABLE[5]);
}

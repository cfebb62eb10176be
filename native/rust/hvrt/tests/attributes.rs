//! Memory attributes (native/tests/attributes_test.c): KVM_SET_MEMORY_ATTRIBUTES' checks and
//! errno, per-type support, sparse and huge ranges, KVM's range_has quirks, mapping levels,
//! runs and counts.
mod common;
use common::fixture::{set_ext, set_v1};
use common::*;
use std::os::fd::AsRawFd;

const PRIV: u64 = KVM_MEMORY_ATTRIBUTE_PRIVATE;

fn set(vm: &Vm, address: u64, size: u64, attributes: u64, flags: u64) -> Result<(), Error> {
    vm.set_memory_attributes_raw(&kvm_memory_attributes { address, size, attributes, flags })
}

#[test]
fn errors_in_the_kernels_order_change_nothing() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    vm.set_memory_attributes(0x10000, 0x2000, PRIV).unwrap();
    assert_eq!(set(&vm, 1, 0, 1, 1), Err(EINVAL));
    assert_eq!(set(&vm, 0, 0x1000, 1, 0), Err(EINVAL));
    assert_eq!(set(&vm, 0, 0x1000, PRIV | 16, 0), Err(EINVAL));
    assert_eq!(set(&vm, 0, 0, 0, 0), Err(EINVAL));
    assert_eq!(set(&vm, 0xffff_ffff_ffff_f000, 0x2000, 0, 0), Err(EINVAL));
    assert_eq!(set(&vm, 0x10800, 0x1000, 0, 0), Err(EINVAL));
    assert_eq!(set(&vm, 0x10000, 0x800, 0, 0), Err(EINVAL));
    assert_eq!(vm.max_mapping_level(1, 0), Err(EINVAL));
    assert_eq!(vm.max_mapping_level(0, 0), Err(ENOENT));
    assert_eq!(vm.memory_attributes(0x10), Ok(PRIV));
    assert_eq!(vm.memory_attributes(0x11), Ok(PRIV));
    assert_eq!(vm.memory_attributes(0x12), Ok(0));
    assert_eq!(vm.memory_attributes(0xf), Ok(0));
    // The end of the space, beyond any max gfn: accepted as by the kernel.
    vm.set_memory_attributes(0xffff_ffff_ffff_e000, 0x1000, PRIV).unwrap();
    assert_eq!(vm.memory_attributes(0xf_ffff_ffff_fffe), Ok(PRIV));
    assert_eq!(vm.memory_attributes(0xf_ffff_ffff_ffff), Ok(0));
    assert_eq!(vm.memory_attributes(!0), Ok(0));
}

#[test]
fn only_private_memory_types_take_private() {
    for t in 0..=5 {
        let vm = vm_of(t);
        let has_private = matches!(t, 1 | 4 | 5);
        assert_eq!(vm.set_memory_attributes(0, 0x1000, PRIV), if has_private { Ok(()) } else { Err(EINVAL) });
        vm.set_memory_attributes(0, 0x1000, 0).unwrap();
        assert_eq!(vm.memory_attributes(0), Ok(0));
        assert_eq!(vm.range_has_attributes(0, 1, PRIV, PRIV), Ok(false));
        assert_eq!(vm.range_has_attributes(0, 1, !0, 0), Ok(true));
    }
}

#[test]
fn huge_sparse_ranges_and_quirks() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    let (g0, n) = ((1u64 << 30) + 123, 1u64 << 31);
    vm.set_memory_attributes(g0 * PAGE, n * PAGE, PRIV).unwrap();
    assert_eq!(vm.memory_attributes(g0 - 1), Ok(0));
    assert_eq!(vm.memory_attributes(g0), Ok(PRIV));
    assert_eq!(vm.memory_attributes(g0 + n / 2), Ok(PRIV));
    assert_eq!(vm.memory_attributes(g0 + n - 1), Ok(PRIV));
    assert_eq!(vm.memory_attributes(g0 + n), Ok(0));
    assert_eq!(vm.range_has_attributes(g0, g0 + n, PRIV, PRIV), Ok(true));
    assert_eq!(vm.range_has_attributes(g0 - 1, g0 + n, PRIV, PRIV), Ok(false));
    assert_eq!(vm.range_has_attributes(g0, g0 + n + 1, PRIV, PRIV), Ok(false));
    assert_eq!(vm.range_has_attributes(0, g0, PRIV, 0), Ok(true));
    assert_eq!(vm.range_has_attributes(0, g0 + 1, PRIV, 0), Ok(false));
    assert_eq!(vm.range_has_attributes(g0 + 5, g0 + 5, PRIV, PRIV), Ok(true));
    assert_eq!(vm.range_has_attributes(g0 + 5, g0 + 5, PRIV, 0), Ok(true));
    assert_eq!(vm.range_has_attributes(g0 + 5, 0, PRIV, 0), Ok(false));
    assert_eq!(vm.range_has_attributes(g0 + n, 0, PRIV, 0), Ok(true));
    assert_eq!(vm.range_has_attributes(g0, g0 + 4, 0, 0), Ok(false));
    assert_eq!(vm.range_has_attributes(g0, g0 + 1, 0, 0), Ok(true));
    // Runs and counts over the same range.
    assert_eq!(vm.attributes_count(0, 1 << 40), Ok(n));
    assert_eq!(vm.attributes_count(g0 + 10, g0 + 20), Ok(10));
    assert_eq!(vm.attributes_count(5, 4), Err(EINVAL));
    assert_eq!(vm.attributes_run(0, 1 << 40), Ok((g0, 0)));
    assert_eq!(vm.attributes_run(g0, 1 << 40), Ok((g0 + n, PRIV)));
    assert_eq!(vm.attributes_run(g0 + 7, g0 + 9), Ok((g0 + 9, PRIV)));
    assert_eq!(vm.attributes_run(5, 5), Err(EINVAL));
    // The whole space private, then shared again.
    vm.set_memory_attributes(0, 1 << 63, PRIV).unwrap();
    vm.set_memory_attributes(1 << 63, (1 << 63) - PAGE, PRIV).unwrap();
    assert_eq!(vm.range_has_attributes(0, (1 << 52) - 1, PRIV, PRIV), Ok(true));
    assert_eq!(vm.range_has_attributes(0, 1 << 52, PRIV, PRIV), Ok(false));
    vm.set_memory_attributes(0, 0xffff_ffff_ffff_f000, 0).unwrap();
    assert_eq!(vm.range_has_attributes(0, 0, PRIV, 0), Ok(true));
}

#[test]
fn mapping_levels() {
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    let fd = memfd(4 << 30);
    set_v1(&vm, slot(0, 0), 0, 1 << 30, 2 << 30, 0x400_0000_0000).unwrap();
    assert_eq!(vm.max_mapping_level(0, (1 << 18) + 77), Ok(3));
    vm.set_memory_attributes((1 << 30) + 0x5000, PAGE, PRIV).unwrap();
    assert_eq!(vm.max_mapping_level(0, (1 << 18) + 1), Ok(1));
    assert_eq!(vm.max_mapping_level(0, (1 << 18) + 512), Ok(2));
    assert_eq!(vm.max_mapping_level(0, (2 << 18) + 512), Ok(3));
    vm.set_memory_attributes(1 << 30, 2 << 20, PRIV).unwrap();
    assert_eq!(vm.max_mapping_level(0, (1 << 18) + 1), Ok(2));
    vm.set_memory_attributes(1 << 30, 1 << 30, PRIV).unwrap();
    assert_eq!(vm.max_mapping_level(0, (1 << 18) + 1), Ok(3));
    set_v1(&vm, slot(0, 1), 0, 4 << 30, 1 << 30, 0x500_0000_1000).unwrap();
    assert_eq!(vm.max_mapping_level(0, (4 << 18) + 600), Ok(1));
    set_v1(&vm, slot(0, 2), 0, 5 << 30, 1 << 30, 0x600_0020_0000).unwrap();
    assert_eq!(vm.max_mapping_level(0, (5 << 18) + 600), Ok(2));
    set_ext(&vm, slot(0, 3), F_PRIV, 6 << 30, 1 << 30, 0x700_0000_0000, fd.as_raw_fd() as u32, 2 << 20).unwrap();
    assert_eq!(vm.max_mapping_level(0, (6 << 18) + 600), Ok(2));
    set_v1(&vm, slot(0, 4), 0, (7 << 30) + (1 << 20), 3 << 20, 0x800_0010_0000).unwrap();
    assert_eq!(vm.max_mapping_level(0, (7 << 18) + 256), Ok(1));
    assert_eq!(vm.max_mapping_level(0, (7 << 18) + 512), Ok(2));
    assert_eq!(vm.max_mapping_level(0, (7 << 18) + 1023), Ok(2));
    set_v1(&vm, slot(0, 5), 0, 8 << 30, 3 << 20, 0x900_0000_0000).unwrap();
    assert_eq!(vm.max_mapping_level(0, (8 << 18) + 511), Ok(2));
    assert_eq!(vm.max_mapping_level(0, (8 << 18) + 512), Ok(1));
    assert_eq!(vm.max_mapping_level(0, (7 << 18) + 1024), Err(ENOENT));
}

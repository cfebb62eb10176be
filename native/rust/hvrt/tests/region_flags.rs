//! Flags each entry point accepts on a default VM (native/tests/region_flags_test.c): v1 knows
//! only LOG_DIRTY_PAGES and READONLY; region2 and ext add bit 2 (GUEST_MEMFD / PRIVATE), which
//! excludes the other two; every other bit is -EINVAL.
mod common;
use common::fixture::*;
use common::*;

const NEW_GPA: u64 = 0x4000 * PAGE;
const NEW_SLOT: u32 = 50;

/// Bits no entry point knows: the first unknown, KVM's internal ones, the top one.
const UNKNOWN_BITS: [u32; 6] = [1 << 3, 1 << 15, 1 << 16, 1 << 17, 1 << 31, 0xffff_fff8];

type Setter = fn(&Vm, u32, u32, u64, u64, u64, u32, u64) -> Result<(), Error>;

#[test]
fn v1_flags() {
    let mut fx = Fixture::new();
    fx.rejected(|vm| set_v1(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, NEW_SLOT, F_PRIV | F_LOG, NEW_GPA, PAGE, FX_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, NEW_SLOT, u32::MAX, NEW_GPA, PAGE, FX_HVA), EINVAL);
    for bit in UNKNOWN_BITS {
        fx.rejected(|vm| set_v1(vm, NEW_SLOT, bit, NEW_GPA, PAGE, FX_HVA), EINVAL);
        // On an existing slot (would be a flags-only change) and on a delete.
        fx.rejected(|vm| set_v1(vm, slot(0, 2), F_LOG | bit, 0x200 * PAGE, 4 * PAGE, FX_HVA + 0x20_0000), EINVAL);
        fx.rejected(|vm| set_v1(vm, slot(0, 2), bit, 0, 0, 0), EINVAL);
    }
    // Bit 2 on a delete: v1's filter runs before anything looks at the slot.
    fx.rejected(|vm| set_v1(vm, slot(0, 2), F_PRIV, 0, 0, 0), EINVAL);
    // Every allowed combination creates a slot with exactly those flags.
    for flags in 0..=(F_LOG | F_RO) {
        let s = desc(NEW_SLOT, flags, NEW_GPA / PAGE, 2, FX_HVA);
        assert_eq!(set_v1(&fx.vm, s.slot, flags, NEW_GPA, 2 * PAGE, FX_HVA), Ok(()));
        fx.gen[0] += fx.nr_as;
        assert!(translates_as(&fx.vm, s.gfn + 1, &s, fx.gen[0]));
        assert_eq!(fx.vm.delete_slot(s.slot), Ok(()));
        fx.gen[0] += fx.nr_as;
    }
    assert!(fx.intact());
}

/// region2 and ext share the flag rules; with bit 2 they differ in the file they accept, so a
/// closed fd is used: -EBADF proves the flags passed.
#[test]
fn region2_and_ext_flags() {
    let mut fx = Fixture::new();
    for set in [set_r2 as Setter, set_ext as Setter] {
        let closed = closed_fd_number();
        fx.rejected(|vm| set(vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 0), EBADF);
        fx.rejected(|vm| set(vm, NEW_SLOT, F_PRIV | F_RO, NEW_GPA, PAGE, FX_HVA, closed, 0), EINVAL);
        fx.rejected(|vm| set(vm, NEW_SLOT, F_PRIV | F_LOG, NEW_GPA, PAGE, FX_HVA, closed, 0), EINVAL);
        fx.rejected(|vm| set(vm, NEW_SLOT, F_PRIV | F_LOG | F_RO, NEW_GPA, PAGE, FX_HVA, closed, 0), EINVAL);
        for bit in UNKNOWN_BITS {
            fx.rejected(|vm| set(vm, NEW_SLOT, bit, NEW_GPA, PAGE, FX_HVA, 0, 0), EINVAL);
            fx.rejected(|vm| set(vm, NEW_SLOT, bit | F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 0), EINVAL);
            fx.rejected(|vm| set(vm, NEW_SLOT, bit | F_LOG, NEW_GPA, PAGE, FX_HVA, 0, 0), EINVAL);
            fx.rejected(|vm| set(vm, slot(0, 2), bit, 0, 0, 0, 0, 0), EINVAL);
        }
        // Without bit 2 the file fields mean nothing: a closed fd and an odd offset pass.
        for flags in 0..=(F_LOG | F_RO) {
            let s = desc(NEW_SLOT, flags, NEW_GPA / PAGE, 2, FX_HVA);
            assert_eq!(set(&fx.vm, s.slot, flags, NEW_GPA, 2 * PAGE, FX_HVA, closed, 123), Ok(()));
            fx.gen[0] += fx.nr_as;
            assert!(translates_as(&fx.vm, s.gfn, &s, fx.gen[0]));
            assert_eq!(set(&fx.vm, s.slot, 0, 0, 0, 0, closed, 77), Ok(()));
            fx.gen[0] += fx.nr_as;
        }
        assert!(fx.intact());
    }
}

/// pad1 and pad2 are ignored, as KVM ignores them.
#[test]
fn padding_is_ignored() {
    let mut fx = Fixture::new();
    let r = kvm_userspace_memory_region2 {
        pad1: u32::MAX,
        pad2: [u64::MAX; 14],
        guest_memfd: u32::MAX,
        guest_memfd_offset: u64::MAX,
        ..region2(NEW_SLOT, F_LOG, NEW_GPA, PAGE, FX_HVA)
    };
    // SAFETY: the fixture's memory is never touched.
    assert_eq!(unsafe { fx.vm.set_user_memory_region2(&r) }, Ok(()));
    let mut e = region_ext(NEW_SLOT + 1, NEW_GPA + PAGE, PAGE, FX_HVA, -1, u64::MAX);
    e.region.flags = F_RO;
    e.pad1 = u32::MAX;
    e.pad2 = [u64::MAX; 14];
    // SAFETY: as above.
    assert_eq!(unsafe { fx.vm.set_user_memory_region_ext(&e) }, Ok(()));
    fx.record(desc(NEW_SLOT, F_LOG, NEW_GPA / PAGE, 1, FX_HVA));
    fx.record(desc(NEW_SLOT + 1, F_RO, NEW_GPA / PAGE + 1, 1, FX_HVA));
    assert!(fx.intact());
}

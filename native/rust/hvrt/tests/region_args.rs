//! The numeric checks of a region request through every entry point
//! (native/tests/region_args_test.c): alignment, wrap-around, the user address limit, address
//! space and slot id ranges, the page limit and max_gpa_bits. Each refused request leaves the VM
//! as it was (`Fixture::rejected`).
mod common;
use common::fixture::*;
use common::*;

const NEW_GPA: u64 = 0x4000 * PAGE;
const NEW_SLOT: u32 = 50;
const USER_LIMIT_5LEVEL: u64 = 0xff_ffff_ffff_f000;

/// The same request through v1, region2 and ext (bit 2 clear: their extra fields are ignored).
#[track_caller]
fn check_all_entries(fx: &mut Fixture, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64, want: Error) {
    fx.rejected(|vm| set_v1(vm, slot, flags, gpa, size, hva), want);
    fx.rejected(|vm| set_r2(vm, slot, flags, gpa, size, hva, 0, 0), want);
    fx.rejected(|vm| set_ext(vm, slot, flags, gpa, size, hva, 0, 0), want);
}

/// TASK_SIZE_MAX of this host: only a 5-level kernel can place a mapping at 2^48.
fn host_user_limit() -> u64 {
    let want = (1u64 << 48) as *mut libc::c_void;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; unmapped at once.
    let p = unsafe {
        libc::mmap(want, PAGE as usize, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE, -1, 0)
    };
    if p == libc::MAP_FAILED {
        return USER_LIMIT_4LEVEL;
    }
    // SAFETY: the page this function just mapped.
    unsafe { libc::munmap(p, PAGE as usize) };
    if p == want {
        USER_LIMIT_5LEVEL
    } else {
        USER_LIMIT_4LEVEL
    }
}

#[test]
fn misaligned() {
    let mut fx = Fixture::new();
    let mut bad = 1;
    while bad < PAGE {
        check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA + bad, PAGE, FX_HVA, EINVAL);
        check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, PAGE + bad, FX_HVA, EINVAL);
        check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, PAGE, FX_HVA + bad, EINVAL);
        // The same for a request on an existing slot, and for a delete.
        check_all_entries(&mut fx, slot(0, 0), 0, bad, 16 * PAGE, FX_HVA, EINVAL);
        check_all_entries(&mut fx, slot(0, 0), 0, 0, 16 * PAGE, FX_HVA + bad, EINVAL);
        check_all_entries(&mut fx, slot(0, 0), 0, 0, bad, FX_HVA, EINVAL);
        check_all_entries(&mut fx, slot(0, 2), 0, bad, 0, 0, EINVAL);
        check_all_entries(&mut fx, slot(0, 2), 0, 0, 0, bad, EINVAL);
        bad = bad * 2 + 1;
    }
}

#[test]
fn wrap_around() {
    let mut fx = Fixture::new();
    // gpa + size past 2^64, and exactly 2^64 (the sum wraps to 0).
    check_all_entries(&mut fx, NEW_SLOT, 0, 0u64.wrapping_sub(PAGE), 2 * PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, 0u64.wrapping_sub(PAGE), PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, 0u64.wrapping_sub(16 * PAGE), 0u64.wrapping_sub(8 * PAGE), FX_HVA, EINVAL);
    // hva + size past 2^64.
    check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, 0u64.wrapping_sub(PAGE), EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, 0u64.wrapping_sub(8 * PAGE), 16 * PAGE, EINVAL);
    // A move of an existing slot to where gpa + size wraps.
    check_all_entries(&mut fx, slot(0, 2), F_LOG, 0u64.wrapping_sub(2 * PAGE), 4 * PAGE, FX_HVA + 0x20_0000, EINVAL);
}

/// access_ok: hva + size may reach the limit but not pass it.
#[test]
fn user_address_limit() {
    let mut fx = Fixture::new();
    let limit = host_user_limit();
    check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, limit - PAGE, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, PAGE, limit, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, NEW_GPA, PAGE, 1 << 63, EINVAL);
    assert_eq!(set_v1(&fx.vm, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, limit - 2 * PAGE), Ok(()));
    assert_eq!(fx.vm.delete_slot(NEW_SLOT), Ok(()));
    assert_eq!(set_r2(&fx.vm, NEW_SLOT, 0, NEW_GPA, PAGE, limit - PAGE, 0, 0), Ok(()));
    assert_eq!(fx.vm.delete_slot(NEW_SLOT), Ok(()));
    assert_eq!(set_ext(&fx.vm, NEW_SLOT, 0, NEW_GPA, PAGE, limit - PAGE, 0, 0), Ok(()));
    assert_eq!(fx.vm.delete_slot(NEW_SLOT), Ok(()));
    // hva 0 is a valid user address for KVM (access_ok), if an odd one.
    assert_eq!(set_v1(&fx.vm, NEW_SLOT, 0, NEW_GPA, PAGE, 0), Ok(()));
    assert_eq!(fx.vm.delete_slot(NEW_SLOT), Ok(()));
    fx.gen[0] += 8 * fx.nr_as;
    assert!(fx.intact());
    // This host's limit is the 4-level one (documented for the CI machines).
    if limit == USER_LIMIT_4LEVEL {
        assert_eq!(limit, 0x7fff_ffff_f000);
    } else {
        common::skip("user_address_limit", "5-level paging host: TASK_SIZE_MAX is 2^56 - 4096");
    }
}

#[test]
fn slot_and_address_space_ids() {
    let mut fx = Fixture::new();
    check_all_entries(&mut fx, slot(0, 32764), 0, NEW_GPA, PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, slot(0, 0xffff), 0, NEW_GPA, PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, slot(2, 0), 0, NEW_GPA, PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, slot(0xffff, 0), 0, NEW_GPA, PAGE, FX_HVA, EINVAL);
    // Deletes are held to the same ranges.
    check_all_entries(&mut fx, slot(0, 32764), 0, 0, 0, 0, EINVAL);
    check_all_entries(&mut fx, slot(2, 0), 0, 0, 0, 0, EINVAL);
    // The highest id, in both address spaces of a default VM.
    for as_id in 0..2u32 {
        let s = desc(slot(as_id, 32763), 0, NEW_GPA / PAGE, 1, FX_HVA);
        assert_eq!(set_v1(&fx.vm, s.slot, 0, NEW_GPA, PAGE, FX_HVA), Ok(()));
        fx.gen[as_id as usize] += fx.nr_as;
        assert!(translates_as(&fx.vm, s.gfn, &s, fx.gen[as_id as usize]));
        assert_eq!(fx.vm.delete_slot(s.slot), Ok(()));
        fx.gen[as_id as usize] += fx.nr_as;
    }
    assert!(fx.intact());
}

/// KVM_MEM_MAX_NR_PAGES: a user slot may have 2^31 - 1 pages, not 2^31.
#[test]
fn page_limit() {
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(48)).unwrap();
    let hva = 0x1000_0000_0000;
    let max = ((1u64 << 31) - 1) * PAGE;
    assert_eq!(set_v1(&vm, 0, 0, 0, max + PAGE, hva), Err(EINVAL));
    assert_eq!(set_r2(&vm, 0, 0, 0, max + PAGE, hva, 0, 0), Err(EINVAL));
    assert_eq!(set_ext(&vm, 0, 0, 0, max + PAGE, hva, 0, 0), Err(EINVAL));
    assert_eq!(set_v1(&vm, 0, 0, 0, 1 << 46, hva), Err(EINVAL));
    assert!(translates_to_nothing(&vm, 0, 0));
    let s = desc(slot(0, 0), 0, 0, max / PAGE, hva);
    assert_eq!(set_v1(&vm, s.slot, 0, 0, max, hva), Ok(()));
    assert!(translates_as(&vm, 0, &s, 2));
    assert!(translates_as(&vm, s.npages - 1, &s, 2));
    assert!(translates_to_nothing(&vm, 0, s.npages));
    assert_eq!(vm.delete_slot(s.slot), Ok(()));
    assert_eq!(set_r2(&vm, 1, 0, 0, max, hva, 0, 0), Ok(()));
    assert_eq!(set_ext(&vm, 2, 0, max, max, hva, 0, 0), Ok(()));
}

/// max_gpa_bits 40 (the fixture's): a slot may end at 2^40, not past it. The check comes last
/// (kvm_arch_prepare_memory_region), so an overlap's -EEXIST wins over it.
#[test]
fn max_gpa() {
    let mut fx = Fixture::new();
    let top = 1u64 << 40;
    check_all_entries(&mut fx, NEW_SLOT, 0, top, PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, top - PAGE, 2 * PAGE, FX_HVA, EINVAL);
    check_all_entries(&mut fx, NEW_SLOT, 0, 1 << 52, PAGE, FX_HVA, EINVAL);

    let last = desc(slot(0, 60), 0, top / PAGE - 1, 1, FX_HVA);
    assert_eq!(set_v1(&fx.vm, last.slot, 0, top - PAGE, PAGE, FX_HVA), Ok(()));
    fx.record(last);
    assert!(fx.intact());
    // Overlapping that last page and passing 2^40: -EEXIST, from a create and from a move.
    check_all_entries(&mut fx, NEW_SLOT, 0, top - PAGE, 2 * PAGE, FX_HVA, EEXIST);
    check_all_entries(&mut fx, slot(0, 2), F_LOG, top - 2 * PAGE, 4 * PAGE, FX_HVA + 0x20_0000, EEXIST);
    // A move past 2^40 that overlaps nothing: -EINVAL.
    check_all_entries(&mut fx, slot(0, 2), F_LOG, top, 4 * PAGE, FX_HVA + 0x20_0000, EINVAL);
    check_all_entries(&mut fx, slot(0, 2), F_LOG, top - 3 * PAGE, 4 * PAGE, FX_HVA + 0x20_0000, EEXIST);
    // A move right under it is fine.
    assert_eq!(set_v1(&fx.vm, slot(0, 2), F_LOG, top - 5 * PAGE, 4 * PAGE, FX_HVA + 0x20_0000), Ok(()));
    fx.slot(slot(0, 2)).gfn = top / PAGE - 5;
    fx.gen[0] += fx.nr_as;
    assert!(fx.intact());
}

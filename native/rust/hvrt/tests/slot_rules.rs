//! KVM's classification of slot requests (native/tests/slot_rules_test.c): create, delete,
//! move, flags-only, no-op; immutable fields; -EEXIST within one address space only; which
//! check wins.
mod common;
use common::fixture::*;
use common::*;

const NEW_GPA: u64 = 0x4000 * PAGE;
const S2_HVA: u64 = FX_HVA + 0x20_0000;

fn s2() -> u32 {
    slot(0, 2)
}
fn new_slot() -> u32 {
    slot(0, 50)
}

#[test]
fn identical_request_is_a_noop() {
    let fx = Fixture::new();
    assert!(fx.intact());
    set_v1(&fx.vm, s2(), F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA).unwrap();
    set_r2(&fx.vm, s2(), F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 12345, 77).unwrap();
    set_ext(&fx.vm, s2(), F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 12345, 77).unwrap();
    set_v1(&fx.vm, slot(1, 5), F_LOG | F_RO, 0x1000 * PAGE, 2 * PAGE, FX_HVA + 0x50_0000).unwrap();
    assert!(fx.intact());
}

#[test]
fn flags_only_change() {
    let mut fx = Fixture::new();
    set_v1(&fx.vm, s2(), 0, 0x200 * PAGE, 4 * PAGE, S2_HVA).unwrap();
    fx.slot(s2()).flags = 0;
    fx.gen[0] += 2;
    assert!(fx.intact());
    set_r2(&fx.vm, s2(), F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 0, 0).unwrap();
    fx.slot(s2()).flags = F_LOG;
    fx.gen[0] += 2;
    assert!(fx.intact());
    // READONLY stays; LOG_DIRTY may go.
    set_ext(&fx.vm, slot(1, 5), F_RO, 0x1000 * PAGE, 2 * PAGE, FX_HVA + 0x50_0000, 0, 0).unwrap();
    fx.slot(slot(1, 5)).flags = F_RO;
    fx.gen[1] += 2;
    assert!(fx.intact());
}

/// Moves S2 (LOG_DIRTY, 4 pages) to gfn, expects success, and checks the whole fixture after.
fn move_s2(fx: &mut Fixture, gfn: u64) {
    set_v1(&fx.vm, s2(), F_LOG, gfn * PAGE, 4 * PAGE, S2_HVA).unwrap();
    fx.slot(s2()).gfn = gfn;
    fx.gen[0] += 2;
    assert!(fx.intact(), "after the move to {gfn:#x}");
}

#[test]
fn move_slot() {
    let mut fx = Fixture::new();
    move_s2(&mut fx, 0x2000);
    assert!(translates_to_nothing(&fx.vm, 0, 0x200));
    // A move onto part of its own old range overlaps only itself.
    move_s2(&mut fx, 0x2002);
    move_s2(&mut fx, 0x2001);
    // Right against a neighbour (the plain slot ends at gfn 0x10): touching is not overlapping.
    move_s2(&mut fx, 0x10);
    move_s2(&mut fx, 0xfc);
}

/// A move that also toggles LOG_DIRTY_PAGES is a MOVE, and KVM's new slot takes the request's
/// flags (new->flags = mem->flags).
#[test]
fn move_with_new_flags() {
    let mut fx = Fixture::new();
    set_v1(&fx.vm, s2(), 0, 0x3000 * PAGE, 4 * PAGE, S2_HVA).unwrap();
    *fx.slot(s2()) = desc(s2(), 0, 0x3000, 4, S2_HVA);
    fx.gen[0] += 2;
    assert!(fx.intact());
    set_v1(&fx.vm, s2(), F_LOG, 0x3100 * PAGE, 4 * PAGE, S2_HVA).unwrap();
    *fx.slot(s2()) = desc(s2(), F_LOG, 0x3100, 4, S2_HVA);
    fx.gen[0] += 2;
    assert!(fx.intact());
}

#[test]
fn immutable_fields() {
    let mut fx = Fixture::new();
    let s = *fx.slot(s2());
    let (gpa, size) = (s.gfn * PAGE, s.npages * PAGE);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, gpa, size, S2_HVA + PAGE), EINVAL);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, gpa, size + PAGE, S2_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, gpa, size - PAGE, S2_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags | F_RO, gpa, size, S2_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, slot(0, 1), 0, 0x100 * PAGE, 8 * PAGE, FX_HVA + 0x10_0000), EINVAL);
    // Together with a move, even onto another slot (the check precedes -EEXIST).
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, 0x5000 * PAGE, size, S2_HVA + PAGE), EINVAL);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, 0, size, S2_HVA + PAGE), EINVAL);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, 0, size * 2, S2_HVA), EINVAL);
    fx.rejected(|vm| set_r2(vm, s2(), s.flags | F_RO, 0, size, S2_HVA, 0, 0), EINVAL);
    // The same id in the other address space is another slot.
    set_v1(&fx.vm, slot(1, 2), 0, gpa, size + PAGE, S2_HVA + PAGE).unwrap();
    fx.record(desc(slot(1, 2), 0, s.gfn, s.npages + 1, S2_HVA + PAGE));
    assert!(fx.intact());
}

#[test]
fn overlap_is_eexist_within_an_address_space() {
    let mut fx = Fixture::new();
    let s = *fx.slot(s2());
    for (gfn, npages) in [(0x0, 1), (0xf, 1), (0x8, 16), (0x0, 16), (0x4, 2), (0x0, 0x1000), (0xe, 0x100)] {
        let (gpa, size) = (gfn * PAGE, npages * PAGE);
        fx.rejected(|vm| set_v1(vm, new_slot(), 0, gpa, size, FX_HVA), EEXIST);
        fx.rejected(|vm| set_r2(vm, new_slot(), F_RO, gpa, size, FX_HVA, 0, 0), EEXIST);
        fx.rejected(|vm| set_ext(vm, new_slot(), F_LOG, gpa, size, FX_HVA, 0, 0), EEXIST);
        fx.rejected(|vm| set_v1(vm, s2(), s.flags, gpa, s.npages * PAGE, s.hva), EEXIST);
    }
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, 0x104 * PAGE, s.npages * PAGE, s.hva), EEXIST);
    fx.rejected(|vm| set_v1(vm, s2(), s.flags, 0xfd * PAGE, s.npages * PAGE, s.hva), EEXIST);
    // In as1, against as1's own slots.
    fx.rejected(|vm| set_v1(vm, slot(1, 50), 0, 0x3 * PAGE, PAGE, FX_HVA), EEXIST);
    fx.rejected(|vm| set_v1(vm, slot(1, 50), 0, 0xfff * PAGE, 2 * PAGE, FX_HVA), EEXIST);
    fx.rejected(|vm| set_v1(vm, slot(1, 0), 0, 0x1001 * PAGE, 4 * PAGE, FX_HVA + 0x40_0000), EEXIST);
}

/// Slots in different address spaces never conflict, in either direction.
#[test]
fn no_overlap_across_address_spaces() {
    let mut fx = Fixture::new();
    // Under as0's READONLY slot, and under as1's slot 5.
    set_v1(&fx.vm, slot(1, 40), 0, 0x100 * PAGE, 8 * PAGE, FX_HVA).unwrap();
    fx.record(desc(slot(1, 40), 0, 0x100, 8, FX_HVA));
    set_v1(&fx.vm, slot(0, 41), 0, 0x1000 * PAGE, 2 * PAGE, FX_HVA).unwrap();
    fx.record(desc(slot(0, 41), 0, 0x1000, 2, FX_HVA));
    assert!(fx.intact());
}

#[test]
fn delete() {
    let mut fx = Fixture::new();
    fx.rejected(|vm| vm.delete_slot(new_slot()), EINVAL);
    fx.rejected(|vm| vm.delete_slot(slot(1, 1)), EINVAL);
    fx.rejected(|vm| vm.delete_slot(slot(0, 5)), EINVAL);
    // A delete ignores gpa, hva and the file fields, through any entry point.
    set_r2(&fx.vm, slot(0, 1), F_PRIV, 0x777 * PAGE, 0, PAGE, closed_fd_number(), 0).unwrap();
    fx.forget(slot(0, 1));
    fx.gen[0] += 2;
    assert!(fx.intact());
    assert!(translates_to_nothing(&fx.vm, 0, 0x100));
    fx.rejected(|vm| vm.delete_slot(slot(0, 1)), EINVAL);
    set_ext(&fx.vm, slot(1, 5), F_RO, 0, 0, 0, 0, 0).unwrap();
    fx.forget(slot(1, 5));
    fx.gen[1] += 2;
    assert!(fx.intact());
    fx.vm.delete_slot(slot(1, 0)).unwrap();
    fx.forget(slot(1, 0));
    fx.gen[1] += 2;
    assert!(fx.intact());
    let again = desc(slot(0, 1), F_LOG, 0x100, 2, FX_HVA + 0x90_0000);
    set_v1(&fx.vm, again.slot, again.flags, again.gfn * PAGE, again.npages * PAGE, again.hva).unwrap();
    fx.record(again);
    assert!(fx.intact());
}

#[test]
fn check_order() {
    let mut fx = Fixture::new();
    let closed = closed_fd_number();
    fx.rejected(|vm| set_ext(vm, new_slot(), F_PRIV, 0, PAGE, FX_HVA, closed, 0), EEXIST);
    fx.rejected(|vm| set_r2(vm, new_slot(), F_PRIV, 0, PAGE, FX_HVA, closed, 0), EEXIST);
    fx.rejected(|vm| set_v1(vm, new_slot(), 0, 0, PAGE + 1, FX_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, new_slot(), 1 << 3, 0, PAGE, FX_HVA), EINVAL);
    fx.rejected(|vm| set_v1(vm, slot(0, 32764), 0, 0, PAGE, FX_HVA), EINVAL);
    fx.rejected(|vm| set_ext(vm, new_slot(), F_PRIV, 1 << 41, PAGE, FX_HVA, closed, 0), EBADF);
    fx.rejected(|vm| set_r2(vm, new_slot(), F_PRIV, 1 << 41, PAGE, FX_HVA, closed, 0), EBADF);
}

#[test]
fn generations() {
    let mut fx = Fixture::new();
    let (g0, g1) = (fx.gen[0], fx.gen[1]);
    assert!(g0 % 2 == 0 && g1 % 2 == 1);
    set_v1(&fx.vm, new_slot(), 0, NEW_GPA, PAGE, FX_HVA).unwrap(); // create
    set_v1(&fx.vm, new_slot(), F_LOG, NEW_GPA, PAGE, FX_HVA).unwrap(); // flags
    set_v1(&fx.vm, new_slot(), F_LOG, NEW_GPA + PAGE, PAGE, FX_HVA).unwrap(); // move
    set_v1(&fx.vm, new_slot(), F_LOG, NEW_GPA + PAGE, PAGE, FX_HVA).unwrap(); // no-op
    assert_eq!(fx.vm.translate(0, NEW_GPA / PAGE + 1).unwrap().generation(), g0 + 6);
    fx.vm.delete_slot(new_slot()).unwrap();
    fx.gen[0] = g0 + 8;
    assert_eq!(fx.gen[1], g1);
    assert!(fx.intact());
}

#[test]
fn batch_applies_each_entry_with_its_own_result() {
    let vm = vm();
    let regions = [
        region2(0, 0, 0, 4 * PAGE, FX_HVA),
        region2(1, 0, 2 * PAGE, 4 * PAGE, FX_HVA), // overlaps entry 0
        region2(0, 0, 0x100 * PAGE, 4 * PAGE, FX_HVA), // moves entry 0
        region2(2, 0, 0, PAGE + 1, FX_HVA), // unaligned
    ];
    // SAFETY: the memory is never touched.
    let r = unsafe { vm.set_user_memory_regions(&regions) }.unwrap();
    assert_eq!(r, vec![Ok(()), Err(EEXIST), Ok(()), Err(EINVAL)]);
    assert_eq!(vm.translate(0, 0x100).unwrap().slot(), 0);
    assert_eq!(vm.translate(0, 0), Err(ENOENT));
    // One publish: the generation rose once.
    assert_eq!(vm.translate(0, 0x100).unwrap().generation(), 2);
    assert_eq!(vm.translate(0, 0x100).unwrap().npages(), 4);
    assert_eq!(vm.translate(0, 2), Err(ENOENT)); // entry 1 was refused
}

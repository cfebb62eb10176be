//! hvrt_set_user_memory_regions (native/tests/batch_regions_test.c): per-entry codes equal those
//! of single calls on a twin VM (random batches of creates, deletes, moves and flag changes),
//! one generation step per batch, a later entry sees earlier ones, bad arguments refused with
//! nothing changed.
mod common;
use common::fixture::*;
use common::*;

const GFNS: u64 = 1 << 14;

fn region(slot: u32, flags: u32, gpa: u64, size: u64) -> kvm_userspace_memory_region2 {
    region2(slot, flags, gpa, size, FX_HVA + (((slot & 0xffff) as u64) << 26))
}

/// NULL pointers and a count over INT32_MAX cannot be written with slices: hvrt::sys.
#[test]
fn bad_arguments() {
    let vm = vm();
    let r = region(0, 0, 0, PAGE);
    let mut res = 7i32;
    // SAFETY: NULL where the case needs it; every other pointer is valid for one element, and
    // hvrt refuses the count before reading past it.
    unsafe {
        assert_eq!(hvrt_set_user_memory_regions(core::ptr::null_mut(), &r, 1, &mut res), HVRT_EFAULT);
        assert_eq!(hvrt_set_user_memory_regions(vm.as_ptr(), core::ptr::null(), 1, &mut res), HVRT_EFAULT);
        assert_eq!(hvrt_set_user_memory_regions(vm.as_ptr(), core::ptr::null(), 0, core::ptr::null_mut()), 0);
        assert_eq!(hvrt_set_user_memory_regions(vm.as_ptr(), &r, i32::MAX as usize + 1, &mut res), HVRT_EINVAL);
    }
    assert_eq!(res, 7);
    // The safe layer's empty batch: nothing to do.
    // SAFETY: no regions.
    assert_eq!(unsafe { vm.set_user_memory_regions(&[]) }, Ok(vec![]));
    assert_eq!(vm.translate(0, 0).map(|_| ()), Err(ENOENT));
}

#[test]
fn one_step_per_batch() {
    let vm = vm();
    let rs = [
        region(slot(0, 1), 0, 0, 16 * PAGE),
        region(slot(1, 1), 0, 0, 16 * PAGE),
        region(slot(0, 1), F_LOG, 64 * PAGE, 16 * PAGE), // move the slot created above
        region(slot(0, 2), 0, 64 * PAGE, PAGE),          // overlaps it now
    ];
    // A new VM's slot sets have generations 0 and 1 (KVM: as_id); one publish adds 2.
    // SAFETY: the memory is never touched.
    let res = unsafe { vm.set_user_memory_regions(&rs) }.unwrap();
    assert_eq!(res, vec![Ok(()), Ok(()), Ok(()), Err(EEXIST)]);
    // hvrt returns the number applied (3); the safe layer gives it as the Ok count.
    assert_eq!(res.iter().filter(|r| r.is_ok()).count(), 3);
    let t = vm.translate(0, 64).unwrap();
    assert!(t.flags() == HVRT_TR_LOG_DIRTY && t.generation() == 2);
    assert_eq!(vm.translate(1, 0).unwrap().generation(), 3);
    assert_eq!(vm.translate(0, 0).map(|_| ()), Err(ENOENT));
    // The raw call's return value is the applied count (a fresh VM, same batch).
    let raw = raw_applied_count(&rs);
    assert_eq!(raw, 3);
}

fn raw_applied_count(rs: &[kvm_userspace_memory_region2]) -> i32 {
    let vm = vm();
    let mut res = vec![0i32; rs.len()];
    // SAFETY: live VM; rs and res hold rs.len() elements; the memory is never touched.
    unsafe { hvrt_set_user_memory_regions(vm.as_ptr(), rs.as_ptr(), rs.len(), res.as_mut_ptr()) }
}

/// glibc's rand() seeded as the C test seeds it, so the batches are the C test's.
fn rand() -> u64 {
    // SAFETY: plain libc call; only this test of the binary uses it.
    unsafe { libc::rand() as u64 }
}

#[test]
fn random_against_single_calls() {
    let batched = vm();
    let single = vm();
    // SAFETY: plain libc call.
    unsafe { libc::srand(42) };
    let mut wrong = 0;
    let mut total_ok = 0;
    for _round in 0..40 {
        let n = 1 + rand() % 256;
        let mut rs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let s = slot((rand() % 2) as u32, (rand() % 200) as u32);
            let size = if rand() % 8 != 0 { (1 + rand() % 64) * PAGE } else { 0 };
            let flags = if rand() % 2 != 0 { F_LOG } else { 0 };
            rs.push(region(s, flags, (rand() % GFNS) * PAGE, size));
        }
        // SAFETY: the memory is never touched.
        let res = unsafe { batched.set_user_memory_regions(&rs) }.unwrap();
        for (r, got) in rs.iter().zip(&res) {
            // SAFETY: as above.
            let want = unsafe { single.set_user_memory_region2(r) };
            wrong += (want != *got) as u32;
            total_ok += want.is_ok() as u32;
        }
        for as_id in 0..2 {
            let mut gfn = 0;
            while gfn < GFNS + 64 {
                match (batched.translate(as_id, gfn), single.translate(as_id, gfn)) {
                    (Ok(a), Ok(b)) => {
                        wrong += (a.slot() != b.slot()
                            || a.hva() != b.hva()
                            || a.flags() != b.flags()
                            || a.base_gfn() != b.base_gfn()) as u32
                    }
                    (a, b) => wrong += (a.map(|_| ()) != b.map(|_| ())) as u32,
                }
                gfn += 1 + rand() % 7;
            }
        }
    }
    assert_eq!(wrong, 0);
    // The batches did something (creates succeeded), so the comparison can fail.
    assert!(total_ok > 100, "only {total_ok} entries applied");
}

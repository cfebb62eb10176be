//! Translation through hvrt_translate and the batch call (native/tests/translate_test.c).
mod common;
use common::*;

#[test]
fn translate_hits_misses_and_fields() {
    let vm = vm();
    let m = Mapping::anonymous(16 * PAGE as usize).unwrap();
    add(&vm, slot(0, 3), F_LOG, 0x10_0000, &m).unwrap();
    let t = vm.translate(0, 0x100 + 5).unwrap();
    assert_eq!(t.slot(), 3);
    assert_eq!(t.base_gfn(), 0x100);
    assert_eq!(t.npages(), 16);
    assert_eq!(t.hva(), m.addr() + 5 * PAGE);
    assert_eq!(t.flags(), HVRT_TR_LOG_DIRTY);
    assert!(t.logs_dirty() && !t.is_private() && !t.has_private());
    assert_eq!(t.private_fd(), -1);
    assert_eq!(t.private_pgoff(), 0);
    assert_eq!(t.run_pages(), 11);
    assert_eq!(t.result(), 0);
    assert_eq!(vm.translate(0, 0x100 + 16), Err(ENOENT));
    assert_eq!(vm.translate(0, 0xff), Err(ENOENT));
    assert_eq!(vm.translate(2, 0x100), Err(EINVAL));
    // Generation: starts at as_id, rises by nr_as (2) per publish.
    let g0 = t.generation();
    add(&vm, slot(0, 4), 0, 0x20_0000, &m).unwrap();
    assert_eq!(vm.translate(0, 0x100).unwrap().generation(), g0 + 2);
    drop(vm);
}

#[test]
fn translate_batch_per_entry_results() {
    let vm = vm();
    let m = Mapping::anonymous(4 * PAGE as usize).unwrap();
    add(&vm, 0, 0, 0, &m).unwrap();
    let gfns = [0, 3, 4, 1, 1 << 40];
    let mut out = [Translation::default(); 5];
    assert_eq!(vm.translate_batch(0, &gfns, &mut out), Ok(3));
    assert!(out[0].is_hit() && out[1].is_hit() && out[3].is_hit());
    assert_eq!(out[2].result(), HVRT_ENOENT);
    assert_eq!(out[4].result(), HVRT_ENOENT);
    assert_eq!(out[2].hva(), 0);
    assert_eq!(out[2].generation(), out[0].generation());
    assert_eq!(out[1].hva(), m.addr() + 3 * PAGE);
    assert_eq!(vm.translate_batch(0, &[], &mut []), Ok(0));
    assert_eq!(vm.translate_batch(0, &gfns, &mut out[..2]), Err(EINVAL));
    assert_eq!(vm.translate_batch(5, &gfns, &mut out), Err(EINVAL));
}

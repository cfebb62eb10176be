//! Registered readers and the inline path (native/tests/reader_test.c, inline_test.c).
mod common;
use common::*;

#[test]
fn reader_translate_matches_vm_translate() {
    let vm = vm();
    let m = Mapping::anonymous(8 * PAGE as usize).unwrap();
    add(&vm, slot(1, 2), 0, 0x4000, &m).unwrap();
    let r = vm.reader().unwrap();
    assert!(r.is_online());
    assert_eq!(r.translate(1, 6), vm.translate(1, 6));
    assert_eq!(r.translate_inline(1, 6), vm.translate(1, 6));
    assert_eq!(r.lookup_inline(1, 6).map(|e| hvrt::slot_hva(e, 6)), Some(m.addr() + 2 * PAGE));
    assert_eq!(r.translate(1, 100), Err(ENOENT));
    assert_eq!(r.translate_inline(1, 100), Err(ENOENT));
    assert!(r.lookup_inline(1, 100).is_none());
    assert_eq!(r.translate(2, 6), Err(EINVAL));
    assert_eq!(r.translate_inline(2, 6), Err(EINVAL));
    assert!(r.lookup_inline(2, 6).is_none());
}

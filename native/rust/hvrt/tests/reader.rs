//! Registered readers (native/tests/reader_test.c): register/translate/unregister, online and
//! offline rules with their errno, batches, grace periods (a delete waits for an online reader,
//! never for an offline one), readers owned through Arc and moved between threads.
mod common;
use common::fixture::{set_v1, FX_HVA};
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn register_translate_unregister() {
    let vm = vm();
    set_v1(&vm, 0, 0, 0, 16 * PAGE, FX_HVA).unwrap();
    set_v1(&vm, 1, F_RO, 32 * PAGE, 8 * PAGE, FX_HVA + 0x10_0000).unwrap();
    let r = vm.reader().unwrap();
    assert!(r.is_online());
    for gfn in 0..48 {
        assert_eq!(r.translate(0, gfn), vm.translate(0, gfn), "gfn {gfn}");
    }
    // A second and third reader at once.
    let r2 = vm.reader().unwrap();
    let r3 = Reader::new(&vm).unwrap();
    assert_ne!(r2.as_ptr(), r3.as_ptr());
    assert_eq!(r2.translate(0, 33).unwrap().flags(), HVRT_TR_READONLY);
    let raw = r.as_ptr();
    drop(r);
    // Dropped = unregistered: the raw call now sees a reader that is not registered.
    // SAFETY: hvrt keeps the record until the VM is destroyed; EBADF is the documented answer.
    assert_eq!(unsafe { hvrt_reader_unregister(raw) }, HVRT_EBADF);
}

#[test]
fn errors_in_hvrt_order() {
    let vm = vm();
    set_v1(&vm, 0, 0, 0, PAGE, FX_HVA).unwrap();
    let mut r = vm.reader().unwrap();
    let mut out = [Translation::default()];
    assert_eq!(r.translate(2, 0), Err(EINVAL));
    assert_eq!(r.translate(u32::MAX, 0), Err(EINVAL));
    assert_eq!(r.translate(0, 1), Err(ENOENT));
    assert_eq!(r.translate_batch(2, &[0], &mut out), Err(EINVAL));
    assert_eq!(r.translate_batch(0, &[0, 1], &mut out), Err(EINVAL));
    assert_eq!(r.translate_batch(0, &[], &mut []), Ok(0));
    r.offline().unwrap();
    r.offline().unwrap();
    assert!(!r.is_online());
    assert_eq!(r.translate(0, 0), Err(EPERM));
    assert_eq!(r.translate_inline(0, 0), Err(EPERM));
    assert_eq!(r.translate_inline(2, 0), Err(EINVAL)); // EINVAL before EPERM, as the export
    assert!(r.lookup_inline(0, 0).is_none());
    assert_eq!(r.translate_batch(0, &[0], &mut out), Err(EPERM));
    assert_eq!(r.quiescent(), Err(EPERM));
    r.online().unwrap();
    r.online().unwrap();
    r.quiescent().unwrap();
    assert_eq!(r.translate(0, 0).unwrap().hva(), FX_HVA);
    assert_eq!(r.translate_inline(0, 0).unwrap().hva(), FX_HVA);
}

#[test]
fn batches() {
    let vm = vm();
    set_v1(&vm, 0, 0, 0, 16 * PAGE, FX_HVA).unwrap();
    set_v1(&vm, 1, F_LOG, 32 * PAGE, 8 * PAGE, FX_HVA + 0x10_0000).unwrap();
    let r = vm.reader().unwrap();
    let gfns: Vec<u64> = (0..48).collect();
    let mut a = vec![Translation::default(); 48];
    let mut b = vec![Translation::default(); 48];
    assert_eq!(r.translate_batch(0, &gfns, &mut a), Ok(24));
    assert_eq!(vm.translate_batch(0, &gfns, &mut b), Ok(24));
    assert_eq!(a, b);
    for (g, t) in gfns.iter().zip(&a) {
        match vm.translate(0, *g) {
            Ok(one) => assert_eq!(*t, one),
            Err(e) => {
                assert_eq!(e, ENOENT);
                assert_eq!(t.result(), HVRT_ENOENT);
            }
        }
    }
    assert_eq!(a[33].flags(), HVRT_TR_LOG_DIRTY);
}

#[test]
fn delete_waits_for_an_online_reader() {
    let vm = vm();
    set_v1(&vm, 0, 0, 0, PAGE, FX_HVA).unwrap();
    let mut r = vm.reader().unwrap();
    r.translate(0, 0).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let rc = vm.delete_slot(0);
            done.store(true, Ordering::SeqCst);
            rc
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!done.load(Ordering::SeqCst), "the delete returned while a reader held the slot");
        r.quiescent().unwrap();
        assert_eq!(h.join().unwrap(), Ok(()));
    });
    assert_eq!(r.translate(0, 0), Err(ENOENT));
}

#[test]
fn an_offline_reader_does_not_delay_changes() {
    let vm = vm();
    let mut r = vm.reader().unwrap();
    r.offline().unwrap();
    let start = Instant::now();
    for _ in 0..200 {
        set_v1(&vm, 1, 0, PAGE, PAGE, FX_HVA).unwrap();
        vm.delete_slot(1).unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(500), "400 changes took {:?}", start.elapsed());
    r.online().unwrap();
}

#[test]
fn arc_owned_readers_move_between_threads() {
    let vm = Arc::new(vm());
    let m = Mapping::anonymous(64 * PAGE as usize).unwrap();
    add(&vm, 0, 0, 0, &m).unwrap();
    let want = vm.translate(0, 7).unwrap();
    // A reader registered here, used on another thread (a hand-off by move), then back.
    let r = Reader::new(Arc::clone(&vm)).unwrap();
    let r = std::thread::spawn(move || {
        assert_eq!(r.translate_inline(0, 7).unwrap(), want);
        r
    })
    .join()
    .unwrap();
    assert_eq!(r.translate(0, 7).unwrap(), want);
    // The reader keeps the VM alive: the last Arc is the reader's after this.
    let weak = Arc::downgrade(&vm);
    drop(vm);
    assert!(weak.upgrade().is_some());
    drop(r);
    assert!(weak.upgrade().is_none(), "dropping the last reader drops the VM");
    drop(m);
}

#[test]
fn concurrent_readers_see_whole_slots_under_a_churning_writer() {
    // Readers on 2 threads translate while a writer moves a slot; every hit must be one of the
    // two consistent answers (never a mix), and the writer must make progress (the readers
    // quiesce each turn).
    let vm = vm();
    let m = Mapping::anonymous(16 * PAGE as usize).unwrap();
    add(&vm, 0, 0, 0, &m).unwrap();
    let stop = AtomicBool::new(false);
    let start = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut r = vm.reader().unwrap();
                let mut n = 0u64;
                start.wait();
                loop {
                    for gfn in [3u64, 0x1003] {
                        if let Ok(t) = r.translate_inline(0, gfn) {
                            assert_eq!(t.hva(), m.addr() + 3 * PAGE);
                            assert_eq!(t.base_gfn(), gfn - 3);
                            n += 1;
                        }
                    }
                    r.quiescent().unwrap();
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                assert!(n > 0);
            });
        }
        start.wait();
        for i in 0..200u64 {
            let gpa = if i % 2 == 0 { 0x1000 * PAGE } else { 0 };
            // SAFETY: a move of the slot over m (same host range).
            unsafe { vm.set_user_memory_region2(&region2(0, 0, gpa, m.len() as u64, m.addr())) }.unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
}

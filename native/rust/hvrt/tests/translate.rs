//! hvrt_translate and the batch call (native/tests/translate_test.c): every gfn of many slots
//! against a model, misses, out-of-range address spaces, generations, flags.
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

use common::fixture::{desc, set_ext, set_v1, translates_as, translates_to_nothing, SlotDesc, FX_HVA};
use std::os::fd::AsRawFd;

const MANY: usize = 300;

/// Every gfn in [0, end) of both address spaces answers as the model says.
fn model_matches(vm: &Vm, slots: &[SlotDesc], gen: &[u64; 2], end: u64) -> bool {
    let mut wrong = 0;
    for as_id in 0..2u32 {
        for gfn in 0..end {
            let s = slots.iter().find(|s| s.slot >> 16 == as_id && gfn.wrapping_sub(s.gfn) < s.npages);
            let ok = match s {
                Some(s) => translates_as(vm, gfn, s, gen[as_id as usize]),
                None => translates_to_nothing(vm, as_id, gfn),
            };
            wrong += !ok as u32;
            if wrong >= 5 {
                return false;
            }
        }
    }
    wrong == 0
}

#[test]
fn many_slots_against_a_model() {
    // Sizes 1..7 pages, holes of 0..3, every third private, flags cycling, both address
    // spaces, inserted in a scattered order; then half deleted.
    let vm = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(40)).unwrap();
    let fd = memfd(8 * MANY as u64 * PAGE);
    let mut gen = [0u64, 1];
    let (mut gfn, mut file_page) = ([0u64; 2], 0u64);
    let mut slots = Vec::new();
    for i in 0..2 * MANY {
        let as_id = (i & 1) as u32;
        let (npages, hole) = (1 + (i * 3 % 7) as u64, (i * 5 % 4) as u64);
        let flags = if i % 3 == 0 { F_PRIV } else { (i / 2 % 4) as u32 };
        let s = SlotDesc {
            pgoff: if flags & F_PRIV != 0 { file_page } else { 0 },
            ..desc(slot(as_id, (i * 37 % 32764) as u32), flags, gfn[as_id as usize] + hole, npages, FX_HVA + i as u64 * 0x10_0000)
        };
        gfn[as_id as usize] = s.gfn + npages;
        file_page += if flags & F_PRIV != 0 { npages } else { 0 };
        slots.push(s);
    }
    for k in 0..slots.len() {
        let s = slots[(k * 211) % slots.len()];
        set_ext(&vm, s.slot, s.flags, s.gfn * PAGE, s.npages * PAGE, s.hva, fd.as_raw_fd() as u32, s.pgoff * PAGE).unwrap();
        gen[(s.slot >> 16) as usize] += 2;
    }
    drop(fd); // the slots hold hvrt's duplicate
    let end = gfn[0].max(gfn[1]) + 8;
    assert!(model_matches(&vm, &slots, &gen, end));
    for i in (0..slots.len()).rev().step_by(2) {
        let s = slots.swap_remove(i);
        vm.delete_slot(s.slot).unwrap();
        gen[(s.slot >> 16) as usize] += 2;
    }
    assert!(model_matches(&vm, &slots, &gen, end));
}

#[test]
fn nothing_there() {
    let vm = vm();
    for gfn in [0, 1, 0xfffff, 1 << 40, (1 << 52) - 1, u64::MAX] {
        assert!(translates_to_nothing(&vm, 0, gfn) && translates_to_nothing(&vm, 1, gfn));
    }
    // One slot at the top of a 52-bit guest; the gfns around it stay empty.
    let top = (1u64 << 52) / PAGE;
    let s = desc(0, 0, top - 3, 2, FX_HVA);
    let high = Vm::new(&common::newest(VmConfig::default()).max_gpa_bits(52)).unwrap();
    set_v1(&high, s.slot, 0, s.gfn * PAGE, 2 * PAGE, FX_HVA).unwrap();
    assert!(translates_as(&high, s.gfn, &s, 2) && translates_as(&high, s.gfn + 1, &s, 2));
    assert!(translates_to_nothing(&high, 0, s.gfn - 1) && translates_to_nothing(&high, 0, s.gfn + 2));
    assert!(translates_to_nothing(&high, 0, u64::MAX) && translates_to_nothing(&high, 1, s.gfn));
}

#[test]
fn address_space_out_of_range() {
    for (v, vm) in [vm(), Vm::new(&common::newest(VmConfig::default()).nr_address_spaces(1)).unwrap()].iter().enumerate() {
        set_v1(vm, 0, 0, 0, PAGE, FX_HVA).unwrap();
        for bad in [if v == 0 { 2 } else { 1 }, 2, 3, 0x10000, u32::MAX] {
            assert_eq!(vm.translate(bad, 0), Err(EINVAL));
        }
    }
}

#[test]
fn generations_follow_kvm() {
    let vm = vm();
    set_v1(&vm, slot(0, 0), 0, 0, PAGE, FX_HVA).unwrap();
    set_v1(&vm, slot(1, 0), 0, 0, PAGE, FX_HVA).unwrap();
    let gen_at = |as_id| vm.translate(as_id, 0).unwrap().generation();
    let mut g = [2u64, 3];
    assert_eq!((gen_at(0), gen_at(1)), (2, 3));
    for i in 1..=50 {
        let as_id = (i % 3 == 0) as u32;
        let s = slot(as_id, 1);
        set_v1(&vm, s, 0, 0x10 * PAGE, PAGE, FX_HVA).unwrap(); // create
        set_v1(&vm, s, 0, 0x10 * PAGE, PAGE, FX_HVA).unwrap(); // no-op
        assert_eq!(set_v1(&vm, s, 0, 0, PAGE, FX_HVA), Err(EEXIST)); // refused
        set_v1(&vm, s, F_LOG, 0x10 * PAGE, PAGE, FX_HVA).unwrap(); // flags
        set_v1(&vm, s, F_LOG, 0x11 * PAGE, PAGE, FX_HVA).unwrap(); // move
        vm.delete_slot(s).unwrap(); // delete
        g[as_id as usize] += 4 * 2;
        assert_eq!((gen_at(0), gen_at(1)), (g[0], g[1]));
    }
    // One address space (SW_PROTECTED): 0, 1, 2, ...
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    set_v1(&vm, 0, 0, 0, PAGE, FX_HVA).unwrap();
    assert_eq!(vm.translate(0, 0).unwrap().generation(), 1);
    set_v1(&vm, 0, F_LOG, 0, PAGE, FX_HVA).unwrap();
    assert_eq!(vm.translate(0, 0).unwrap().generation(), 2);
    set_v1(&vm, 1, F_LOG, PAGE, PAGE, FX_HVA).unwrap();
    assert_eq!(vm.translate(0, 0).unwrap().generation(), 3);
}

#[test]
fn translation_flags() {
    let vm = vm();
    let fd = memfd(PAGE);
    set_ext(&vm, 0, F_PRIV, 0, PAGE, FX_HVA, fd.as_raw_fd() as u32, 0).unwrap();
    set_v1(&vm, 1, F_RO | F_LOG, PAGE, PAGE, FX_HVA).unwrap();
    assert_eq!(vm.translate(0, 0).unwrap().flags(), HVRT_TR_HAS_PRIVATE);
    assert_eq!(vm.translate(0, 1).unwrap().flags(), HVRT_TR_READONLY | HVRT_TR_LOG_DIRTY);
}

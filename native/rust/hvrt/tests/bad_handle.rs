//! Every export with a NULL pointer (-EFAULT), a block that is not a VM (-EBADF) and a destroyed
//! VM (-EBADF, destroy a no-op), as hvrt.h's conventions say (native/tests/bad_handle_test.c).
//! The safe layer makes all of these impossible (references, RAII), so they go through
//! hvrt::sys; a destroyed handle is made by dropping a `Vm`, which proves Drop destroys it.
mod common;
use common::fixture::*;
use common::*;
use core::ptr::{null, null_mut};

/// What a stale or foreign pointer looks like to hvrt: 64 bytes (the handle's size).
#[repr(C, align(64))]
struct Block([u8; 64]);

fn valid_v1() -> kvm_userspace_memory_region {
    kvm_userspace_memory_region { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: PAGE, userspace_addr: FX_HVA }
}

/// Every VM-taking int export gives `want` for vm, with valid other arguments.
#[track_caller]
fn check_every_export_refuses(vm: *mut hvrt_vm, want: i32) {
    let v1 = valid_v1();
    let r2 = region2(0, 0, 0, PAGE, FX_HVA);
    let ext = kvm_userspace_memory_region_ext { region: v1, ..Default::default() };
    let mut t = hvrt_translation::default();
    let gfn = 0u64;
    let mut reader: *mut hvrt_reader = null_mut();
    // SAFETY: every pointer but vm is valid; vm is what hvrt must refuse (it checks handles
    // before use, hvrt.h "Handles").
    unsafe {
        assert_eq!(hvrt_set_user_memory_region(vm, &v1), want);
        assert_eq!(hvrt_set_user_memory_region2(vm, &r2), want);
        assert_eq!(hvrt_set_user_memory_region_ext(vm, &ext), want);
        assert_eq!(hvrt_translate(vm, 0, 0, &mut t), want);
        assert_eq!(hvrt_translate_batch(vm, 0, &gfn, 1, &mut t), want);
        assert_eq!(hvrt_reader_register(vm, &mut reader), want);
    }
    assert!(reader.is_null());
}

#[test]
fn versions() {
    assert_eq!(hvrt::abi_version(), HVRT_ABI_VERSION);
    assert_eq!(hvrt::version_number(), HVRT_VERSION_NUMBER);
}

#[test]
fn null_vm_is_efault() {
    let _serial = serial();
    check_every_export_refuses(null_mut(), HVRT_EFAULT);
    // SAFETY: NULL everywhere: hvrt refuses it without dereferencing.
    unsafe {
        assert_eq!(hvrt_set_user_memory_region(null_mut(), null()), HVRT_EFAULT);
        assert_eq!(hvrt_set_user_memory_region2(null_mut(), null()), HVRT_EFAULT);
        assert_eq!(hvrt_set_user_memory_region_ext(null_mut(), null()), HVRT_EFAULT);
        assert_eq!(hvrt_translate(null_mut(), 0, 0, null_mut()), HVRT_EFAULT);
        hvrt_vm_destroy(null_mut()); // a no-op; must simply return
    }
}

#[test]
fn null_struct_is_efault() {
    let _serial = serial();
    let mut fx = Fixture::new();
    // SAFETY (each closure): a live VM and a NULL struct, which hvrt refuses unread.
    fx.rejected(|vm| rc(unsafe { hvrt_set_user_memory_region(vm.as_ptr(), null()) }), Error::EFAULT);
    fx.rejected(|vm| rc(unsafe { hvrt_set_user_memory_region2(vm.as_ptr(), null()) }), Error::EFAULT);
    fx.rejected(|vm| rc(unsafe { hvrt_set_user_memory_region_ext(vm.as_ptr(), null()) }), Error::EFAULT);
    fx.rejected(|vm| rc(unsafe { hvrt_translate(vm.as_ptr(), 0, 0, null_mut()) }), Error::EFAULT);
    // A NULL out-parameter is refused before the gfn is looked at.
    // SAFETY: as above.
    unsafe {
        assert_eq!(hvrt_translate(fx.vm.as_ptr(), 0, 0x777_7777, null_mut()), HVRT_EFAULT);
        assert_eq!(hvrt_translate(fx.vm.as_ptr(), 5, 0, null_mut()), HVRT_EFAULT);
    }
}

#[test]
fn vm_create_null_out_is_efault() {
    let _serial = serial();
    let c = VmConfig::default().to_raw();
    // SAFETY: a NULL out-pointer, which hvrt refuses before creating anything.
    unsafe {
        assert_eq!(hvrt_vm_create(null(), null_mut()), HVRT_EFAULT);
        assert_eq!(hvrt_vm_create(&c, null_mut()), HVRT_EFAULT);
    }
}

#[test]
fn not_a_vm_is_ebadf() {
    let _serial = serial();
    let mut zeroed = Block([0; 64]);
    let mut poisoned = Block([0xa5; 64]);
    for block in [&mut zeroed, &mut poisoned] {
        let vm = block.0.as_mut_ptr() as *mut hvrt_vm;
        check_every_export_refuses(vm, HVRT_EBADF);
        // SAFETY: a readable 64-byte block hvrt must recognise as no VM.
        unsafe {
            // As the ioctl: the fd is resolved before the argument is copied.
            assert_eq!(hvrt_set_user_memory_region(vm, null()), HVRT_EBADF);
            assert_eq!(hvrt_set_user_memory_region2(vm, null()), HVRT_EBADF);
            assert_eq!(hvrt_set_user_memory_region_ext(vm, null()), HVRT_EBADF);
            assert_eq!(hvrt_translate(vm, 0, 0, null_mut()), HVRT_EBADF);
            hvrt_vm_destroy(vm); // a no-op that must not touch the block
        }
    }
    assert_eq!(zeroed.0, [0; 64], "hvrt_vm_destroy wrote into a block that is not a VM");
    assert_eq!(poisoned.0, [0xa5; 64], "hvrt_vm_destroy wrote into a block that is not a VM");
}

/// hvrt.h: "NULL or an already destroyed VM: no-op", "not a live VM gives -EBADF". Nothing may
/// create a VM in between (the block could be that VM again): every test here holds `serial`.
#[test]
fn destroyed_vm_is_ebadf() {
    let _serial = serial();
    let vm = vm();
    assert_eq!(set_v1(&vm, 0, 0, 0, PAGE, FX_HVA), Ok(()));
    let raw = vm.as_ptr();
    drop(vm);
    check_every_export_refuses(raw, HVRT_EBADF);
    // SAFETY: a destroyed VM: destroy again is a documented no-op.
    unsafe { hvrt_vm_destroy(raw) };
}

/// A VM is independent of others: destroying one leaves the other's slots.
#[test]
fn vms_are_independent() {
    let _serial = serial();
    let a = vm();
    let b = vm();
    let s = desc(slot(0, 0), 0, 0x10, 2, FX_HVA);
    assert_eq!(set_v1(&a, s.slot, 0, s.gfn * PAGE, s.npages * PAGE, s.hva), Ok(()));
    assert!(translates_to_nothing(&b, 0, s.gfn));
    drop(b);
    assert!(translates_as(&a, s.gfn + 1, &s, 2));
}

/// hvrt_vm_destroy_checked (native/tests/misuse_test.c): -EBUSY while a reader is registered,
/// nothing freed; 0 once it is gone; -EFAULT for NULL. The safe layer orders this by borrows,
/// so it goes through hvrt::sys on a VM the test owns.
#[test]
fn destroy_checked_refuses_while_a_reader_is_registered() {
    let _serial = serial();
    let mut vm: *mut hvrt_vm = null_mut();
    let mut reader: *mut hvrt_reader = null_mut();
    let mut t = hvrt_translation::default();
    let v1 = valid_v1();
    // SAFETY: a VM and a reader this test creates and unregisters/destroys in order; the
    // refused destroy frees nothing, so both stay valid until their own calls.
    unsafe {
        assert_eq!(hvrt_vm_destroy_checked(null_mut()), HVRT_EFAULT);
        assert_eq!(hvrt_vm_create(null(), &mut vm), 0);
        assert_eq!(hvrt_set_user_memory_region(vm, &v1), 0);
        assert_eq!(hvrt_reader_register(vm, &mut reader), 0);
        assert_eq!(hvrt_vm_destroy_checked(vm), HVRT_EBUSY);
        assert_eq!(hvrt_reader_translate(reader, 0, 0, &mut t), 0);
        assert_eq!(hvrt_reader_unregister(reader), 0);
        assert_eq!(hvrt_vm_destroy_checked(vm), 0);
    }
}

//! hvrt_vm_create's config (native/tests/vm_config_test.c): the size-prefixed struct rules
//! (short, long, zero tail), each field's range, and that a failed create leaves *out alone.
//! The size rules need bytes past this header's struct, so they call hvrt::sys directly; the
//! field rules go through the safe `Vm::from_raw_config` / `Vm::new`.
mod common;
use common::fixture::*;
use common::*;

const CFG: usize = core::mem::size_of::<hvrt_vm_config>();

/// A config with room past struct hvrt_vm_config, as a newer header's would be.
#[repr(C, align(8))]
struct LongConfig([u8; 256]);

impl LongConfig {
    fn set_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn set_size(&mut self, size: u32) {
        self.set_u32(0, size);
    }
}

const SENTINEL: usize = 0x5e5e_5e5e_5e5e_5e50;

/// hvrt_vm_create(cfg) gives want; on failure *out keeps its old value; on success the VM works.
#[track_caller]
fn check_create_raw(cfg: *const hvrt_vm_config, want: i32) {
    let mut vm = SENTINEL as *mut hvrt_vm;
    // SAFETY: cfg is NULL or points to at least its `size` bytes (each caller's buffer).
    let got = unsafe { hvrt_vm_create(cfg, &mut vm) };
    assert_eq!(got, want);
    if got == 0 {
        assert!(vm as usize != SENTINEL && !vm.is_null());
        let r = kvm_userspace_memory_region { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: PAGE, userspace_addr: 0 };
        // SAFETY: a live VM; hva 0 is under any limit and never touched.
        assert_eq!(unsafe { hvrt_set_user_memory_region(vm, &r) }, 0);
        // SAFETY: the VM this call created, destroyed once.
        unsafe { hvrt_vm_destroy(vm) };
    } else {
        assert_eq!(vm as usize, SENTINEL, "a failed create wrote *out");
    }
}

/// The same through the safe layer (a config of this header's size).
#[track_caller]
fn check_create(c: &hvrt_vm_config, want: Result<(), Error>) {
    check_create_raw(c, want.err().map_or(0, |e| e.code()));
    match Vm::from_raw_config(Some(c)) {
        Ok(vm) => {
            assert_eq!(want, Ok(()));
            assert_eq!(set_v1(&vm, 0, 0, 0, PAGE, 0), Ok(()));
        }
        Err(e) => assert_eq!(Err(e), want),
    }
}

/// A config of `vm_type` under the newest kernel profile (hvrt's own rules on every host).
fn config_for(vm_type: u32) -> hvrt_vm_config {
    VmConfig::of_type(vm_type).kvm_profile(HVRT_KVM_PROFILE_NEWEST).to_raw()
}

#[test]
fn null_config_is_default() {
    // NULL: the default type under this host's profile (its address spaces: 1 where KVM has no SMM).
    let host = Vm::with_defaults().unwrap();
    assert_eq!(host.kvm_profile().unwrap(), hvrt::kvm_profile_query(HVRT_KVM_PROFILE_HOST, 0).unwrap());
    assert_eq!(set_v1(&host, slot(0, 32763), 0, 0, PAGE, FX_HVA), Ok(()));
    assert_eq!(set_v1(&host, slot(0, 32764), 0, PAGE, PAGE, FX_HVA), Err(EINVAL));
    drop(host);
    // The newest profile's default VM: two address spaces, 32764 user slots.
    let vm = Vm::new(&VmConfig::default().kvm_profile(HVRT_KVM_PROFILE_NEWEST)).unwrap();
    assert_eq!(set_v1(&vm, slot(1, 32763), 0, 0, PAGE, FX_HVA), Ok(()));
    assert_eq!(set_v1(&vm, slot(0, 32763), F_RO, 0, PAGE, FX_HVA), Ok(()));
    assert_eq!(set_v1(&vm, slot(0, 32764), 0, PAGE, PAGE, FX_HVA), Err(EINVAL));
    assert_eq!(set_v1(&vm, slot(2, 0), 0, PAGE, PAGE, FX_HVA), Err(EINVAL));
    check_create_raw(core::ptr::null(), 0);
}

#[test]
fn size_rules() {
    let mut u = LongConfig([0; 256]);
    let p = u.0.as_ptr() as *const hvrt_vm_config;
    for size in 0..8 {
        u.set_size(size);
        check_create_raw(u.0.as_ptr().cast(), HVRT_EINVAL);
        let c = hvrt_vm_config { size, ..config_for(0) };
        assert_eq!(Vm::from_raw_config(Some(&c)).err(), Some(EINVAL));
    }
    // An older, shorter struct: only `size` bytes are the caller's; what follows is not read.
    u.0 = [0xff; 256];
    u.set_size(8);
    u.set_u32(4, HVRT_VM_TYPE_DEFAULT);
    check_create_raw(p, 0);
    u.set_size(12);
    u.set_u32(8, 1); // nr_address_spaces
    check_create_raw(p, 0);
    u.set_size(24);
    u.set_u32(12, 0); // max_user_slots
    u.set_u32(16, 0); // max_gpa_bits
    u.set_u32(20, 0); // flags
    check_create_raw(p, 0);

    // Exactly this header's size, then longer with a zero tail: accepted.
    u.0 = [0; 256];
    let mut size = CFG as u32;
    while size <= 256 {
        u.set_size(size);
        check_create_raw(p, 0);
        size += 8;
    }
    u.set_size(CFG as u32 + 1);
    check_create_raw(p, 0);
    // The safe layer's long config passes a zero tail: accepted too.
    let long = hvrt_vm_config { size: 256, ..config_for(0) };
    assert!(Vm::from_raw_config(Some(&long)).is_ok());
    // A non-zero byte past the known fields is a field this library cannot honour: -E2BIG.
    u.set_size(256);
    u.0[CFG] = 1;
    check_create_raw(p, HVRT_E2BIG);
    u.0[CFG] = 0;
    u.0[255] = 0x80;
    check_create_raw(p, HVRT_E2BIG);
    // ...but not when that byte lies past `size`.
    u.set_size(256 - 8);
    check_create_raw(p, 0);
    // A page-sized struct (the kernel's copy_struct_from_user bound) with a zero tail.
    #[repr(C, align(8))]
    struct Page([u8; 4096]);
    let mut page = Page([0; 4096]);
    let head = hvrt_vm_config { size: 4096, ..config_for(HVRT_VM_TYPE_SEV) };
    // SAFETY: the page is larger than the struct and 8-aligned like it.
    unsafe { core::ptr::write(page.0.as_mut_ptr() as *mut hvrt_vm_config, head) };
    check_create_raw(page.0.as_ptr().cast(), 0);
    page.0[4095] = 1;
    check_create_raw(page.0.as_ptr().cast(), HVRT_E2BIG);
}

#[test]
fn field_rules() {
    let mut c = config_for(HVRT_VM_TYPE_DEFAULT);
    check_create(&c, Ok(()));
    for t in HVRT_VM_TYPE_DEFAULT..=HVRT_VM_TYPE_TDX {
        c.vm_type = t;
        check_create(&c, Ok(()));
    }
    c.vm_type = HVRT_VM_TYPE_TDX + 1;
    check_create(&c, Err(EINVAL));
    c.vm_type = u32::MAX;
    check_create(&c, Err(EINVAL));

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.flags = 1;
    check_create(&c, Err(EINVAL));
    c.flags = 1 << 31;
    check_create(&c, Err(EINVAL));

    for i in 0..3 {
        c = config_for(HVRT_VM_TYPE_DEFAULT);
        c.reserved[i] = 1;
        check_create(&c, Err(EINVAL));
    }
    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.reserved32 = 1;
    check_create(&c, Err(EINVAL));
    // kvm_profile: the named ones, 0 (this host), nothing else.
    for p in [HVRT_KVM_PROFILE_6_1, HVRT_KVM_PROFILE_6_8, HVRT_KVM_PROFILE_6_12, HVRT_KVM_PROFILE_6_18] {
        c = hvrt_vm_config { kvm_profile: p, ..config_for(HVRT_VM_TYPE_DEFAULT) };
        check_create(&c, Ok(()));
        assert_eq!(Vm::new(&VmConfig::default().kvm_profile(p)).unwrap().kvm_profile().unwrap().profile, p);
    }
    for p in [1, 0x0600, 0x0602, 0x0613, 0x0702, u32::MAX] {
        c = hvrt_vm_config { kvm_profile: p, ..config_for(HVRT_VM_TYPE_DEFAULT) };
        check_create(&c, Err(EINVAL));
        assert_eq!(hvrt::kvm_profile_query(p, 0).err(), Some(EINVAL));
    }

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_user_slots = 32764;
    check_create(&c, Ok(()));
    c.max_user_slots = 32765;
    check_create(&c, Err(EINVAL));
    c.max_user_slots = u32::MAX;
    check_create(&c, Err(EINVAL));

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    for (bits, want) in [(12, Err(EINVAL)), (13, Ok(())), (64, Ok(())), (65, Err(EINVAL))] {
        c.max_gpa_bits = bits;
        check_create(&c, want);
    }

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    for (limit, want) in [(0x1_0000_0001, Err(EINVAL)), (0x1_0000_0800, Err(EINVAL)), (0x1_0000_0000, Ok(()))] {
        c.user_addr_limit = limit;
        check_create(&c, want);
        assert_eq!(Vm::new(&VmConfig::default().user_addr_limit(limit)).map(|_| ()), want);
    }
}

/// nr_address_spaces may lower the type's number, never raise it.
#[test]
fn address_space_rules() {
    let types = [
        (HVRT_VM_TYPE_DEFAULT, 2),
        (HVRT_VM_TYPE_SW_PROTECTED, 1),
        (HVRT_VM_TYPE_SEV, 2),
        (HVRT_VM_TYPE_SEV_ES, 2),
        (HVRT_VM_TYPE_SNP, 1),
        (HVRT_VM_TYPE_TDX, 1),
    ];
    for (t, nr_as) in types {
        let mut c = config_for(t);
        for n in 1..=nr_as {
            c.nr_address_spaces = n;
            check_create(&c, Ok(()));
        }
        c.nr_address_spaces = nr_as + 1;
        check_create(&c, Err(EINVAL));
        c.nr_address_spaces = u32::MAX;
        check_create(&c, Err(EINVAL));
    }
}

/// The limits a config sets are the ones slots meet.
#[test]
fn configured_limits_apply() {
    let vm = Vm::new(&VmConfig::default().nr_address_spaces(1).max_user_slots(10).user_addr_limit(0x1_0000_0000))
        .unwrap();
    assert_eq!(set_v1(&vm, slot(0, 9), 0, 0, PAGE, 0x1_0000_0000 - PAGE), Ok(()));
    assert_eq!(set_v1(&vm, slot(0, 10), 0, PAGE, PAGE, 0), Err(EINVAL));
    assert_eq!(set_v1(&vm, slot(1, 0), 0, PAGE, PAGE, 0), Err(EINVAL));
    assert_eq!(vm.translate(1, 0).map(|_| ()), Err(EINVAL));
    assert_eq!(set_v1(&vm, slot(0, 8), 0, PAGE, 2 * PAGE, 0x1_0000_0000 - PAGE), Err(EINVAL));
    // With one address space the generation moves by one per change.
    assert_eq!(vm.translate(0, 0).unwrap().generation(), 1);
    assert_eq!(set_v1(&vm, slot(0, 8), 0, PAGE, PAGE, 0), Ok(()));
    assert_eq!(vm.translate(0, 0).unwrap().generation(), 2);
}

/// Many VMs may live at once, and creating and destroying them leaks nothing visible.
#[test]
fn many_vms() {
    let _serial = serial();
    let vms: Vec<Vm> = (0..64).map(|_| Vm::with_defaults().unwrap()).collect();
    for (i, vm) in vms.iter().enumerate() {
        assert_eq!(set_v1(vm, 0, 0, i as u64 * PAGE, PAGE, FX_HVA), Ok(()));
    }
    for (i, vm) in vms.iter().enumerate() {
        assert_eq!(vm.translate(0, i as u64).unwrap().base_gfn(), i as u64);
    }
    drop(vms);
    let fds = count_open_fds();
    for _ in 0..1000 {
        drop(Vm::with_defaults().unwrap());
    }
    assert_eq!(count_open_fds(), fds);
}

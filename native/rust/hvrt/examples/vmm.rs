//! vmm: what native/examples/vmm.c does, through the hvrt crate's safe API (KVM ioctls with
//! libc directly):
//!
//!   1. opens /dev/kvm, creates a KVM VM and an hvrt `Vm`, and binds them: from then on every
//!      slot change goes to KVM first, then to hvrt;
//!   2. backs the guest's code with a guest_memfd made through hvrt (mmap-able and shared where
//!      this KVM offers MMAP | INIT_SHARED, anonymous memory otherwise) and its data with
//!      anonymous memory that logs dirty pages;
//!   3. runs a real-mode program that writes three data pages, stores to an address in no slot
//!      (an MMIO exit) and halts, with hvrt handling the exits (`Vcpu`);
//!   4. prints the dirty pages hvrt harvested from KVM merged with a page the VMM marked itself;
//!   5. simulates the conversion exits of a confidential guest (KVM_EXIT_MEMORY_FAULT and
//!      KVM_HC_MAP_GPA_RANGE) on a software-protected VM whose private half is a memfd, with a
//!      closure listener, and shows the discarded memory.
//!
//! Without /dev/kvm it says so and runs step 5 alone. Exits 0 on success, 1 on a wrong answer.

use hvrt::sys::*;
use hvrt::{bitmap_iter, ExitAction, Mapping, Vcpu, Vm, VmConfig};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

const PAGE: u64 = 4096;
const CODE_GPA: u64 = 0x0; // slot 0: code, 64 KiB, guest_memfd (or anonymous)
const DATA_GPA: u64 = 0x10000; // slot 1: data, 64 KiB, anonymous, logs dirty pages
const SLOT_BYTES: u64 = 0x10000;
const MMIO_GPA: u64 = 0x20010; // in no slot: a device register
const ENTRY: u64 = 0x1000;

// KVM ioctls (linux/kvm.h on x86_64).
const KVM_CREATE_VM: u64 = 0xAE01;
const KVM_CHECK_EXTENSION: u64 = 0xAE03;
const KVM_GET_VCPU_MMAP_SIZE: u64 = 0xAE04;
const KVM_CREATE_VCPU: u64 = 0xAE41;
const KVM_RUN: u64 = 0xAE80;
const KVM_GET_SREGS: u64 = 0x8138_AE83;
const KVM_SET_SREGS: u64 = 0x4138_AE84;
const KVM_SET_REGS: u64 = 0x4090_AE82;
const KVM_CAP_MULTI_ADDRESS_SPACE: u64 = 118;
const KVM_EXIT_HLT: u32 = 5;

/// The guest, 16-bit real mode, loaded at ENTRY: writes data pages 0, 3 and 5 through es =
/// 0x1000, then one byte to MMIO_GPA (es = 0x2000, offset 0x10), then hlt.
const GUEST_CODE: [u8; 35] = [
    0xB8, 0x00, 0x10, 0x8E, 0xC0, // mov ax, 0x1000 ; mov es, ax
    0x26, 0xC6, 0x06, 0x00, 0x00, 0x11, // mov byte [es:0x0000], 0x11
    0x26, 0xC6, 0x06, 0x00, 0x30, 0x22, // mov byte [es:0x3000], 0x22
    0x26, 0xC6, 0x06, 0x00, 0x50, 0x33, // mov byte [es:0x5000], 0x33
    0xB8, 0x00, 0x20, 0x8E, 0xC0, // mov ax, 0x2000 ; mov es, ax
    0x26, 0xC6, 0x06, 0x10, 0x00, 0x42, // mov byte [es:0x0010], 0x42
    0xF4, // hlt
];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn say(s: impl AsRef<str>) {
    println!("   {}", s.as_ref());
}

fn step(s: &str) {
    println!("\n== {s}");
}

/// ioctl with an integer or pointer argument; the OS error on failure.
fn ioctl(fd: BorrowedFd<'_>, req: u64, arg: usize) -> std::io::Result<i32> {
    // SAFETY: each caller passes the argument its request expects (a value, or a pointer to a
    // buffer of the request's size).
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, arg) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: a new fd returned by the kernel, owned from here on.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Real mode at ENTRY: cs base 0, rip ENTRY, rflags 2.
fn set_real_mode(vcpu: BorrowedFd<'_>) -> Res<()> {
    let mut sregs = [0u8; 312];
    ioctl(vcpu, KVM_GET_SREGS, sregs.as_mut_ptr() as usize)?;
    sregs[0..8].fill(0); // cs.base
    sregs[12..14].fill(0); // cs.selector
    ioctl(vcpu, KVM_SET_SREGS, sregs.as_ptr() as usize)?;
    let mut regs = [0u64; 18];
    regs[16] = ENTRY; // rip
    regs[17] = 2; // rflags
    ioctl(vcpu, KVM_SET_REGS, regs.as_ptr() as usize)?;
    Ok(())
}

fn mmio_class_name(c: u32) -> &'static str {
    match c {
        HVRT_MMIO_DEVICE => "device MMIO (gpa in no slot)",
        HVRT_MMIO_READONLY_WRITE => "write to a read-only slot",
        HVRT_MMIO_PRIVATE => "private gpa",
        HVRT_MMIO_IN_SLOT => "inside a writable slot",
        _ => "?",
    }
}

fn exit_reason(run: &[u8]) -> u32 {
    u32::from_ne_bytes(run[8..12].try_into().unwrap())
}

/// Runs the vCPU until it halts: hvrt handles memory exits, the VMM "emulates" the device.
fn run_guest(vcpu: &mut Vcpu<&Vm>, failures: &mut u32) -> Res<bool> {
    for _ in 0..16 {
        // The loop Vcpu::run does, spelled out: the reader is offline while the guest runs.
        vcpu.enter()?;
        let fd = vcpu.fd().expect("a KVM vCPU").as_raw_fd();
        // SAFETY: KVM_RUN on the vCPU fd; it writes the run page, which no borrow holds now.
        let r = unsafe { libc::ioctl(fd, KVM_RUN as _, 0) };
        let e = if r < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
        vcpu.exit()?;
        if vcpu.handle_exit(r, e)? == ExitAction::Resume {
            say("exit handled by hvrt, resuming");
            continue;
        }
        let info = vcpu.exit_info()?;
        if info.kind == HVRT_EXIT_MMIO {
            say(format!(
                "MMIO {} of {} byte(s) at gpa {:#x}: {}; data {:#04x} (the VMM's device model would take it)",
                if info.is_write != 0 { "write" } else { "read" },
                info.size,
                info.gpa,
                mmio_class_name(info.mmio_class),
                vcpu.run_page()[40]
            ));
            if info.mmio_class != HVRT_MMIO_DEVICE || info.gpa != MMIO_GPA || info.is_write == 0 {
                say(format!("FAILED: expected a 1-byte device write at {MMIO_GPA:#x}"));
                *failures += 1;
            }
            continue;
        }
        let reason = exit_reason(vcpu.run_page());
        if reason == KVM_EXIT_HLT {
            say("guest halted (KVM_EXIT_HLT, not about memory: hvrt left it to the VMM)");
            return Ok(true);
        }
        say(format!("FAILED: unexpected exit reason {reason}"));
        *failures += 1;
        return Ok(false);
    }
    say("FAILED: the guest did not halt");
    *failures += 1;
    Ok(false)
}

fn print_dirty(bitmap: &[u64], npages: u64, base_gpa: u64) {
    let mut any = false;
    for i in bitmap_iter(bitmap, npages) {
        say(format!("dirty: page {i} (gpa {:#x})", base_gpa + i * PAGE));
        any = true;
    }
    if !any {
        say("no dirty pages");
    }
}

/// A slot through KVM_SET_USER_MEMORY_REGION2 where the kernel has it, else through v1 (its first
/// 32 bytes: a guest_memfd slot needs REGION2, so only shared slots come here on such a kernel).
///
/// # Safety
/// As [`Vm::set_user_memory_region2`].
unsafe fn set_region(vm: &Vm, r: &kvm_userspace_memory_region2, region2: bool) -> hvrt::Result<()> {
    if region2 {
        // SAFETY: the caller's.
        return unsafe { vm.set_user_memory_region2(r) };
    }
    // SAFETY: the caller's.
    unsafe { vm.set_user_memory_region(&r.into()) }
}

fn real_guest(kvm: &File, failures: &mut u32) -> Res<()> {
    let nr_as = ioctl(kvm.as_fd(), KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE as usize).unwrap_or(0);
    step("1. KVM VM + hvrt VM, bound");
    let vmfd = match ioctl(kvm.as_fd(), KVM_CREATE_VM, 0) {
        Ok(fd) => owned(fd),
        Err(e) => {
            say(format!("KVM_CREATE_VM failed ({e}): skipping the real guest"));
            return Ok(());
        }
    };
    // Guest memory is declared before the VM, so it is unmapped only after the VM is dropped
    // (on every path: a slot's memory must stay mapped while the slot exists).
    let data = Mapping::anonymous(SLOT_BYTES as usize)?;
    let gmem_holder: hvrt::GuestMemfd;
    let anon_code: Mapping;
    // Declared after vmfd, so dropped before it: the VM fd stays open while hvrt is bound.
    let vm = Vm::new(&VmConfig::of_type(HVRT_VM_TYPE_DEFAULT).nr_address_spaces(nr_as.max(1) as u32))?;
    vm.kvm_bind(vmfd.as_fd(), 0)?;
    let caps = vm.kvm_caps()?;
    // A kernel without KVM_SET_USER_MEMORY_REGION2 (6.1) takes shared slots through v1.
    let region2 = caps.flags & HVRT_KVM_USER_MEMORY2 != 0;
    let yes = |f: u32| if caps.flags & f != 0 { "yes" } else { "no" };
    say(format!(
        "bound: region2 {}, guest_memfd {} (flags offered {:#x}), memory attributes {}, {} memslots",
        yes(HVRT_KVM_USER_MEMORY2),
        yes(HVRT_KVM_GUEST_MEMFD),
        caps.guest_memfd_flags,
        if caps.flags & HVRT_KVM_MEMORY_ATTRIBUTES != 0 { "yes" } else { "no (kept in hvrt alone)" },
        caps.nr_memslots
    ));

    step("2. guest memory");
    let made = vm.create_guest_memfd(SLOT_BYTES, HVRT_GMEM_SHARED_IF_SUPPORTED);
    let mut r0 = kvm_userspace_memory_region2 { slot: 0, guest_phys_addr: CODE_GPA, memory_size: SLOT_BYTES, ..Default::default() };
    let code: &Mapping = match made {
        Ok(g) if g.mapping().is_some() => {
            gmem_holder = g;
            let gmem = &gmem_holder;
            say(format!(
                "code slot 0: guest_memfd {} (MMAP | INIT_SHARED), its shared half mapped at {:p}",
                gmem.as_fd().as_raw_fd(),
                gmem.mapping().unwrap().as_ptr()
            ));
            r0.flags = KVM_MEM_GUEST_MEMFD;
            r0.guest_memfd = gmem.as_fd().as_raw_fd() as u32;
            gmem.mapping().unwrap()
        }
        other => {
            let why = match &other {
                Ok(_) => "not mmap-able here".to_string(),
                Err(e) => e.text().to_string(),
            };
            say(format!("code slot 0: anonymous memory (guest_memfd {why})"));
            anon_code = Mapping::anonymous(SLOT_BYTES as usize)?;
            &anon_code
        }
    };
    r0.userspace_addr = code.addr();
    // SAFETY: ENTRY + the program lies inside the code mapping, which nothing else uses yet.
    unsafe { std::ptr::copy_nonoverlapping(GUEST_CODE.as_ptr(), code.as_ptr().add(ENTRY as usize), GUEST_CODE.len()) };
    // SAFETY: the code mapping outlives the VM (declared before it).
    unsafe { set_region(&vm, &r0, region2) }?;

    let r1 = kvm_userspace_memory_region2 {
        slot: 1,
        flags: KVM_MEM_LOG_DIRTY_PAGES,
        guest_phys_addr: DATA_GPA,
        memory_size: SLOT_BYTES,
        userspace_addr: data.addr(),
        ..Default::default()
    };
    // SAFETY: the data mapping outlives the VM (declared before it).
    unsafe { set_region(&vm, &r1, region2) }?;
    say(format!("data slot 1: anonymous memory at gpa {DATA_GPA:#x}, logging dirty pages"));
    let clash = kvm_userspace_memory_region2 { slot: 2, ..r1 };
    // SAFETY: as for r0 (refused anyway).
    let rc = unsafe { set_region(&vm, &clash, region2) };
    match rc {
        Err(e) => say(format!("a slot overlapping slot 1: {} (-{}, KVM's answer: it was asked first)", e.code(), e.name())),
        Ok(()) => {
            say("FAILED: an overlapping slot was accepted");
            *failures += 1;
        }
    }

    step("3. run the guest");
    let vcpu_fd = owned(ioctl(vmfd.as_fd(), KVM_CREATE_VCPU, 0)?);
    let mmap_size = ioctl(kvm.as_fd(), KVM_GET_VCPU_MMAP_SIZE, 0)? as usize;
    let run = Mapping::shared(vcpu_fd.as_fd(), mmap_size, 0)?;
    set_real_mode(vcpu_fd.as_fd())?;
    let mut vcpu = Vcpu::new(&vm, Some(vcpu_fd), run)?;
    let data_byte = |off: usize| {
        // SAFETY: inside the data mapping; the guest is not running.
        unsafe { *data.as_ptr().add(off) }
    };
    if run_guest(&mut vcpu, failures)? {
        say(format!(
            "guest wrote data pages: {:#04x} {:#04x} {:#04x} (read back through the slot's host memory)",
            data_byte(0),
            data_byte(0x3000),
            data_byte(0x5000)
        ));
    }
    if (data_byte(0), data_byte(0x3000), data_byte(0x5000)) != (0x11, 0x22, 0x33) {
        say("FAILED: the guest's writes are not in the data slot");
        *failures += 1;
    }

    step("4. dirty pages of slot 1");
    let npages = SLOT_BYTES / PAGE;
    let mut bitmap = vec![0u64; hvrt::bitmap_words(npages)];
    vm.dirty_log_get(1, &mut bitmap)?;
    if bitmap_iter(&bitmap, npages).next().is_some() {
        say("harvested from KVM_GET_DIRTY_LOG:");
        print_dirty(&bitmap, npages, DATA_GPA);
    } else {
        say("KVM_GET_DIRTY_LOG reported no pages: this host's KVM does not track guest writes (nested)");
    }
    vm.mark_dirty(DATA_GPA + 7 * PAGE, 100)?;
    say("the VMM wrote page 7 itself (a device's DMA) and marked it with Vm::mark_dirty");
    vm.dirty_log_get(1, &mut bitmap)?;
    print_dirty(&bitmap, npages, DATA_GPA);
    if !bitmap_iter(&bitmap, npages).any(|i| i == 7) {
        say("FAILED: the marked page is not in the log");
        *failures += 1;
    }
    vm.dirty_log_get(1, &mut bitmap)?;
    say("a second get (the first one cleared what it returned):");
    print_dirty(&bitmap, npages, DATA_GPA);

    // Order: the vCPU (and its fd and run page), then the VM, then its memory and KVM's fd.
    drop(vcpu);
    drop(vm);
    Ok(())
}

fn blocks(f: &File) -> u64 {
    f.metadata().map(|m| m.blocks()).unwrap_or(0)
}

fn print_attrs(vm: &Vm, gpa: u64, size: u64) -> Res<()> {
    let end = (gpa + size) / PAGE;
    let mut g = gpa / PAGE;
    while g < end {
        let (run_end, attrs) = vm.attributes_run(g, end)?;
        let what = if attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE != 0 { "private" } else { "shared" };
        say(format!("  gfns [{g:#x}, {run_end:#x}): {what}"));
        g = run_end;
    }
    Ok(())
}

fn put64(run: &mut [u8], off: usize, v: u64) {
    run[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Step 5: a confidential guest's conversion exits, built by hand in a kvm_run page.
fn simulated_conversions(failures: &mut u32) -> Res<()> {
    step("5. conversion exits (simulated: this host's KVM has no private memory for its VMs)");
    let size: u64 = 4 << 20; // 4 MiB: two 2 MiB frames
    // SAFETY: memfd_create with a static name.
    let priv_fd = unsafe { libc::memfd_create(b"vmm-private\0".as_ptr().cast(), libc::MFD_CLOEXEC) };
    if priv_fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let private = File::from(owned(priv_fd));
    private.set_len(size)?;
    // 2 MiB-aligned host memory, so a uniform 2 MiB frame can be mapped as a huge page.
    let area = Mapping::anonymous((size + (2 << 20)) as usize)?;
    let shared = (area.addr() + (2 << 20) - 1) & !((2 << 20) - 1);
    // Declared after the memory it uses, so dropped before it.
    // hvrt's own model of the newest kernel (kvm_profile 0 would follow this host's KVM, which may
    // offer no SW_PROTECTED VM): the exits are built by hand, so no KVM needs to take them.
    let vm = Vm::new(&VmConfig::of_type(HVRT_VM_TYPE_SW_PROTECTED).kvm_profile(HVRT_KVM_PROFILE_NEWEST))?;
    let ext = kvm_userspace_memory_region_ext {
        region: kvm_userspace_memory_region {
            slot: 0,
            flags: KVM_MEM_PRIVATE,
            guest_phys_addr: 0x20_0000,
            memory_size: size,
            userspace_addr: shared,
        },
        private_offset: 0,
        private_fd: private.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: [shared, shared + size) lies inside `area`, which outlives the VM.
    unsafe { vm.set_user_memory_region_ext(&ext) }?;
    let _listener = vm.add_conversion_listener(|gpa, size, to_private| {
        say(format!(
            "listener: [{gpa:#x}, {:#x}) is now {}",
            gpa + size,
            if to_private { "private" } else { "shared" }
        ))
    })?;
    say("slot 0: gpa 0x200000, 4 MiB, shared half anonymous, private half a memfd (the 2022 _ext layout)");

    // The private side holds data (as if the guest had used it privately).
    // SAFETY: fallocate on our memfd.
    if unsafe { libc::fallocate(private.as_raw_fd(), 0, 0, size as libc::off_t) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: inside `area`.
    unsafe { std::ptr::write_bytes(shared as *mut u8, 0xab, size as usize) };
    say(format!("memfd: {} KiB allocated; shared pages filled with 0xAB", blocks(&private) / 2));

    let mut vcpu = Vcpu::new(&vm, None, Mapping::anonymous(4096)?)?;
    // A private access to a shared gfn: KVM_RUN returns -1/EFAULT with a memory fault.
    let run = vcpu.run_page_mut();
    run[8..12].copy_from_slice(&KVM_EXIT_MEMORY_FAULT.to_ne_bytes());
    put64(run, HVRT_KVM_RUN_EXIT_UNION_OFFSET, KVM_MEMORY_EXIT_FLAG_PRIVATE);
    put64(run, HVRT_KVM_RUN_EXIT_UNION_OFFSET + 8, 0x20_0000);
    put64(run, HVRT_KVM_RUN_EXIT_UNION_OFFSET + 16, 2 << 20);
    let h = vcpu.handle_exit(-1, libc::EFAULT)?;
    say(format!("KVM_EXIT_MEMORY_FAULT, private, [0x200000, +2 MiB): {h:?}"));
    // SAFETY: inside `area`.
    let first = unsafe { *(shared as *const u8) };
    say(format!("shared page at 0x200000 reads {first:#04x} after the conversion to private (its shared copy was dropped)"));
    if first != 0 || h != ExitAction::Resume {
        say("FAILED: the shared copy was not dropped");
        *failures += 1;
    }
    match vcpu.handle_exit(-1, libc::EFAULT) {
        Err(e) => say(format!("the same fault again: {} ({}): KVM would loop forever, so it is an error", e.code(), e.name())),
        Ok(a) => {
            say(format!("FAILED: the same fault again gave {a:?}"));
            *failures += 1;
        }
    }

    // The guest asks for the first 1 MiB back as shared: KVM_HC_MAP_GPA_RANGE.
    let run = vcpu.run_page_mut();
    run.fill(0);
    run[8..12].copy_from_slice(&KVM_EXIT_HYPERCALL.to_ne_bytes());
    put64(run, 32, KVM_HC_MAP_GPA_RANGE);
    put64(run, 40, 0x20_0000);
    put64(run, 48, 256); // pages
    put64(run, 56, 0); // 4 KiB pages, decrypted (shared)
    let before = blocks(&private);
    let h = vcpu.handle_exit(0, 0)?;
    let ret = i64::from_ne_bytes(vcpu.run_page()[88..96].try_into().unwrap());
    say(format!("KVM_HC_MAP_GPA_RANGE to shared, [0x200000, +1 MiB): {h:?}, hypercall.ret {ret}"));
    say(format!(
        "memfd: {} -> {} KiB allocated (the private copy of that 1 MiB was punched out)",
        before / 2,
        blocks(&private) / 2
    ));
    if blocks(&private) >= before {
        say("FAILED: the private side was not discarded");
        *failures += 1;
    }
    put64(vcpu.run_page_mut(), 56, 1 << 5); // a reserved bit: the guest gets -KVM_EINVAL
    vcpu.handle_exit(0, 0)?;
    let ret = i64::from_ne_bytes(vcpu.run_page()[88..96].try_into().unwrap());
    say(format!("the same hypercall with a reserved attribute bit: hypercall.ret {ret} (guest-visible -EINVAL)"));
    if ret != -KVM_EINVAL {
        *failures += 1;
    }
    say("attributes now:");
    print_attrs(&vm, 0x20_0000, size)?;
    say(format!(
        "max mapping level of gpa 0x200000: {} (its 2 MiB frame is mixed), of 0x400000: {} (uniform) (1 = 4 KiB, 2 = 2 MiB)",
        vm.max_mapping_level(0, 0x200)?,
        vm.max_mapping_level(0, 0x400)?
    ));
    Ok(())
}

fn main() {
    if hvrt::abi_version() != HVRT_ABI_VERSION {
        eprintln!("libhvrt ABI {}, crate {}", hvrt::abi_version(), HVRT_ABI_VERSION);
        std::process::exit(1);
    }
    let mut failures = 0u32;
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Err(e) => println!("/dev/kvm: {e}: no real guest on this machine, only the simulated part"),
        Ok(kvm) => {
            if let Err(e) = real_guest(&kvm, &mut failures) {
                println!("   FAILED: {e}");
                failures += 1;
            }
        }
    }
    if let Err(e) = simulated_conversions(&mut failures) {
        println!("   FAILED: {e}");
        failures += 1;
    }
    println!("\n{}", if failures > 0 { "vmm: FAILED" } else { "vmm: done" });
    std::process::exit(if failures > 0 { 1 } else { 0 });
}

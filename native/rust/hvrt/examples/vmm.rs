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
//!   5. the conversion exits of a confidential guest (KVM_HC_MAP_GPA_RANGE and
//!      KVM_EXIT_MEMORY_FAULT), with a closure listener, and the discarded memory:
//!      - real where /dev/kvm offers KVM_X86_SW_PROTECTED_VM (VM type 1, KVM_CAP_VM_TYPES bit 1):
//!        a real-mode guest on a type-1 VM bound with `HVRT_BIND_EXIT_HYPERCALL` converts a
//!        guest_memfd page private and back with hypercalls that `Vcpu::handle_exit` handles, and
//!        reports what it reads after each conversion (`out 0x10, eax`); the private page comes
//!        back zero (hvrt punched the guest_memfd) and, run again with private discard off,
//!        keeps its data; a private read of a plain slot's page is a real KVM_EXIT_MEMORY_FAULT;
//!        its dirty pages are logged (native/tests/private_guest_test.c, through the crate);
//!      - simulated elsewhere: the exits are built by hand in a kvm_run page, on a
//!        software-protected VM whose private half is a memfd.
//!
//! Without /dev/kvm it says so and runs the simulated step 5 alone. Exits 0 on success, 1 on a
//! wrong answer.

use hvrt::sys::*;
use hvrt::{bitmap_iter, Error, ExitAction, ExitInfo, Mapping, Vcpu, Vm, VmConfig};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

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
const KVM_CAP_VM_TYPES: u64 = 235;
const KVM_EXIT_IO: u32 = 2;
const KVM_EXIT_HLT: u32 = 5;
const KVM_EXIT_IO_OUT: u8 = 1;

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

fn step(s: impl AsRef<str>) {
    let s = s.as_ref();
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

/// Real mode at ENTRY: cs, ds and ss at 0, es and fs at the paragraphs given (base = 16 *
/// paragraph, limit 0xffff), rip ENTRY, rflags 2, rsp 0xf000.
fn set_real_mode(vcpu: BorrowedFd<'_>, es: u16, fs: u16) -> Res<()> {
    let mut sregs = [0u8; 312];
    ioctl(vcpu, KVM_GET_SREGS, sregs.as_mut_ptr() as usize)?;
    // struct kvm_sregs: cs, ds, es, fs, gs, ss (24-byte kvm_segment: base u64, limit u32,
    // selector u16, ...).
    for (seg, para) in [(0usize, 0u16), (1, 0), (2, es), (3, fs), (5, 0)] {
        let s = &mut sregs[seg * 24..seg * 24 + 24];
        s[0..8].copy_from_slice(&(u64::from(para) << 4).to_ne_bytes());
        s[8..12].copy_from_slice(&0xffffu32.to_ne_bytes());
        s[12..14].copy_from_slice(&para.to_ne_bytes());
    }
    ioctl(vcpu, KVM_SET_SREGS, sregs.as_ptr() as usize)?;
    let mut regs = [0u64; 18];
    regs[6] = 0xf000; // rsp
    regs[16] = ENTRY; // rip
    regs[17] = 2; // rflags (bit 1 is reserved and must be set)
    ioctl(vcpu, KVM_SET_REGS, regs.as_ptr() as usize)?;
    Ok(())
}

/// One KVM_RUN with the reader offline around it: KVM_RUN's return value and errno.
fn kvm_run(vcpu: &mut Vcpu<&Vm>) -> Res<(i32, i32)> {
    vcpu.enter()?;
    let fd = vcpu.fd().expect("a KVM vCPU").as_raw_fd();
    // SAFETY: KVM_RUN on the vCPU fd; it writes the run page, which no borrow holds now.
    let r = unsafe { libc::ioctl(fd, KVM_RUN as _, 0) };
    let e = if r < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
    vcpu.exit()?;
    Ok((r, e))
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
        let (r, e) = kvm_run(vcpu)?;
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
    set_real_mode(vcpu_fd.as_fd(), 0, 0)?;
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

/// Step 5 without a type-1 VM: a confidential guest's conversion exits, built by hand in a
/// kvm_run page (`why`: why no real guest takes them here).
fn simulated_conversions(why: &str, failures: &mut u32) -> Res<()> {
    step(format!("5. conversion exits (simulated: {why})"));
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

// The real step 5's guest physical layout (as native/tests/private_guest_test.c).
const P_CODE_BYTES: u64 = 0x10000; // slot 0 at gpa 0: 64 KiB shared (anonymous), code at ENTRY
const P_GMEM_GPA: u64 = 0x20000; // slot 1: 2 pages, guest_memfd + an anonymous shared side (es)
const P_PLAIN_GPA: u64 = 0x30000; // slot 2: 1 page, shared memory only, made PRIVATE by the VMM (fs)
const P_DIRTY_GPA: u64 = 0x40000; // slot 3: 4 pages, LOG_DIRTY_PAGES (gs, loaded by the guest)
const PORT: u8 = 0x10; // the guest reports what it read with `out PORT, eax`
const H1: u32 = 0x1111_1111; // the VMM's data on the shared side, before any conversion
const G1: u32 = 0x2222_2222; // the guest's private data, page 0
const H2: u32 = 0x3333_3333; // the VMM's data on the shared side after private -> shared
const G2: u32 = 0x4444_4444; // the guest's private data, page 1 (never converted back)
const H3: u32 = 0x5555_5555; // the VMM's data in the plain slot

/// A 16-bit real-mode program, built instruction by instruction.
struct Asm(Vec<u8>);

impl Asm {
    fn b(&mut self, bytes: &[u8]) -> &mut Asm {
        self.0.extend_from_slice(bytes);
        self
    }
    /// mov e<reg>, imm32 (0xB8 + register number: eax 0, ecx 1, edx 2, ebx 3).
    fn mov32(&mut self, reg: u8, v: u32) -> &mut Asm {
        self.b(&[0x66, 0xB8 + reg]).b(&v.to_le_bytes())
    }
    /// out PORT, eax: the report.
    fn report(&mut self) -> &mut Asm {
        self.b(&[0x66, 0xE7, PORT])
    }
    /// eax = <seg>:[off] (0x26 es, 0x64 fs), then report it.
    fn read_report(&mut self, seg: u8, off: u16) -> &mut Asm {
        self.b(&[seg, 0x66, 0xA1]).b(&off.to_le_bytes()).report()
    }
    /// dword es:[off] = v.
    fn write_es(&mut self, off: u16, v: u32) -> &mut Asm {
        self.b(&[0x26, 0x66, 0xC7, 0x06]).b(&off.to_le_bytes()).b(&v.to_le_bytes())
    }
    /// KVM_HC_MAP_GPA_RANGE (rax 12, rbx gpa, rcx pages, rdx attributes; `call`: vmmcall on AMD,
    /// vmcall on Intel), then report its return value.
    fn map_gpa_range(&mut self, call: &[u8; 3], gpa: u64, npages: u32, attrs: u32) -> &mut Asm {
        self.mov32(0, KVM_HC_MAP_GPA_RANGE as u32).mov32(3, gpa as u32).mov32(1, npages).mov32(2, attrs);
        self.b(call).report()
    }
}

/// The guest of the real step 5; r1..r11 are its reports, in order.
fn private_program() -> Vec<u8> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let amd = cpuinfo.lines().any(|l| l.starts_with("vendor_id") && (l.contains("AuthenticAMD") || l.contains("HygonGenuine")));
    let call: &[u8; 3] = if amd { &[0x0F, 0x01, 0xD9] } else { &[0x0F, 0x01, 0xC1] };
    let enc = KVM_MAP_GPA_RANGE_ENCRYPTED as u32;
    let dec = KVM_MAP_GPA_RANGE_DECRYPTED as u32;
    let mut a = Asm(Vec::new());
    a.read_report(0x26, 0) // r1: es:[0], shared: H1
        .map_gpa_range(call, P_GMEM_GPA, 2, enc) // r2: both pages private; ret
        .read_report(0x26, 0) // r3: a fresh private page: 0
        .write_es(0, G1)
        .write_es(0x1000, G2)
        .read_report(0x26, 0) // r4: G1
        .map_gpa_range(call, P_GMEM_GPA, 1, dec) // r5: page 0 shared; ret
        .read_report(0x26, 0) // r6: shared: H2
        .map_gpa_range(call, P_GMEM_GPA, 1, enc) // r7: page 0 private again; ret
        .read_report(0x26, 0) // r8: punched: 0 (G1 with private discard off)
        .read_report(0x26, 0x1000) // r9: G2
        .map_gpa_range(call, P_GMEM_GPA + PAGE, 1, 0x100) // r10: attributes bit 8: -KVM_EINVAL
        .read_report(0x64, 0) // r11: fs:[0]: a memory fault, then H3
        .b(&[0xB8, 0x00, 0x40, 0x8E, 0xE8]) // mov ax, 0x4000 ; mov gs, ax
        .b(&[0x65, 0xC6, 0x06, 0x00, 0x00, 0x01]) // byte gs:[0x0000] = 1 (page 0)
        .b(&[0x65, 0xC6, 0x06, 0x00, 0x20, 0x01]) // byte gs:[0x2000] = 1 (page 2)
        .b(&[0xF4]); // hlt
    a.0
}

/// KVM_X86_SW_PROTECTED_VM on this KVM (KVM_CAP_VM_TYPES bit 1), or why not.
fn sw_protected_offered(kvm: &File) -> Result<(), String> {
    match ioctl(kvm.as_fd(), KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES as usize) {
        Ok(t) if t & (1 << HVRT_VM_TYPE_SW_PROTECTED) != 0 => Ok(()),
        Ok(t) => Err(format!("KVM_CAP_VM_TYPES = {t:#x}, no KVM_X86_SW_PROTECTED_VM (type 1) here")),
        Err(e) => Err(format!("KVM_CAP_VM_TYPES: {e}")),
    }
}

fn u32_at(run: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(run[off..off + 4].try_into().unwrap())
}

fn u64_at(run: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(run[off..off + 8].try_into().unwrap())
}

/// The real step 5's vCPU, VM, what the listener saw and the failures so far.
struct PrivateGuest<'a, 'f> {
    vcpu: Vcpu<&'a Vm>,
    conv: Arc<Mutex<Vec<(u64, u64, bool)>>>,
    failures: &'f mut u32,
}

impl PrivateGuest<'_, '_> {
    fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            say(format!("FAILED: {what}"));
            *self.failures += 1;
        }
    }

    fn attrs(&self, gpa: u64) -> u64 {
        self.vcpu.vm().memory_attributes(gpa / PAGE).unwrap_or(u64::MAX)
    }

    fn conversions(&self) -> usize {
        self.conv.lock().unwrap().len()
    }

    /// One KVM_RUN and Vcpu::handle_exit: what handle_exit said, and the decoded exit.
    fn step(&mut self) -> Res<(hvrt::Result<ExitAction>, ExitInfo)> {
        let (r, e) = kvm_run(&mut self.vcpu)?;
        let h = self.vcpu.handle_exit(r, e);
        Ok((h, self.vcpu.exit_info()?))
    }

    /// The next exit is the guest's report (`out PORT, eax`, left to the VMM): its value.
    fn report(&mut self, want: u32, what: &str) -> Res<()> {
        let (h, info) = self.step()?;
        let run = self.vcpu.run_page();
        let (reason, dir, size, port) = (exit_reason(run), run[32], run[33], u16::from_ne_bytes([run[34], run[35]]));
        if h != Ok(ExitAction::Unhandled) || info.kind != HVRT_EXIT_OTHER || reason != KVM_EXIT_IO || dir != KVM_EXIT_IO_OUT
            || port != u16::from(PORT) || size != 4
        {
            return Err(format!(
                "{what}: want the guest's report, got handle_exit {h:?}, kind {}, exit_reason {reason}, gpa {:#x}",
                info.kind, info.gpa
            )
            .into());
        }
        let got = u32_at(run, u64_at(run, 40) as usize); // io.data_offset
        say(format!("guest reads {got:#010x}: {what}"));
        self.check(got == want, &format!("{what}: want {want:#010x}"));
        Ok(())
    }

    /// The next exit is a well-formed KVM_HC_MAP_GPA_RANGE that hvrt converted.
    fn expect_map(&mut self, gpa: u64, npages: u64, to_private: bool) -> Res<()> {
        let before = self.conversions();
        let (h, info) = self.step()?;
        let run = self.vcpu.run_page();
        let (reason, nr, ret) = (exit_reason(run), u64_at(run, 32), u64_at(run, 88));
        say(format!(
            "KVM_EXIT_HYPERCALL KVM_HC_MAP_GPA_RANGE [{gpa:#x}, +{npages} page(s)) to {}: {h:?}, hypercall.ret {}",
            if to_private { "private" } else { "shared" },
            ret as i64
        ));
        if h != Ok(ExitAction::Resume) || reason != KVM_EXIT_HYPERCALL || nr != KVM_HC_MAP_GPA_RANGE {
            return Err(format!("want a KVM_HC_MAP_GPA_RANGE hvrt resumes, got {h:?}, exit_reason {reason}, nr {nr}").into());
        }
        let ok = info.kind == HVRT_EXIT_MAP_GPA_RANGE
            && info.exit_reason == KVM_EXIT_HYPERCALL
            && info.gpa == gpa
            && info.size == npages * PAGE
            && info.to_private == to_private as u32
            && info.result == 0
            && ret == 0;
        self.check(ok, &format!("exit_info {info:?}, hypercall.ret {ret}"));
        let want = if to_private { KVM_MEMORY_ATTRIBUTE_PRIVATE } else { 0 };
        let attrs_ok = (0..npages).all(|p| self.attrs(gpa + p * PAGE) == want);
        self.check(attrs_ok, "hvrt's attributes do not follow the hypercall");
        let conv = self.conv.lock().unwrap().clone();
        let ok = conv.len() == before + 1 && conv[before] == (gpa, npages * PAGE, to_private);
        self.check(ok, &format!("the listener saw {:?}", &conv[before.min(conv.len())..]));
        Ok(())
    }
}

/// Four bytes of host memory at `off` in `m` (a slot's shared side; the guest is not running).
fn host_u32(m: &Mapping, off: usize) -> u32 {
    let mut v = [0u8; 4];
    // SAFETY: off + 4 lies inside the mapping, which is ours; no vCPU runs during the copy.
    unsafe { std::ptr::copy_nonoverlapping(m.as_ptr().add(off), v.as_mut_ptr(), 4) };
    u32::from_ne_bytes(v)
}

fn set_host_u32(m: &Mapping, off: usize, v: u32) {
    // SAFETY: as host_u32.
    unsafe { std::ptr::copy_nonoverlapping(v.to_ne_bytes().as_ptr(), m.as_ptr().add(off), 4) };
}

/// Step 5 on a real KVM_X86_SW_PROTECTED_VM guest (`punch`: hvrt's default discard policy; off,
/// HVRT_DISCARD_SHARED alone, the private data survives the round trip through shared, which
/// shows the zero of the default run is hvrt's punch). Ok(Some(why)): KVM cannot forward the
/// hypercall here (the simulated step runs instead).
fn real_conversions(kvm: &File, punch: bool, failures: &mut u32) -> Res<Option<String>> {
    // Guest memory and the KVM VM fd are declared before the Vm, so they go after it.
    let code = Mapping::anonymous(P_CODE_BYTES as usize)?;
    let gmem_shared = Mapping::anonymous(2 * PAGE as usize)?;
    let plain = Mapping::anonymous(PAGE as usize)?;
    let dirty = Mapping::anonymous(4 * PAGE as usize)?;
    let gmem: hvrt::GuestMemfd;
    let vmfd = owned(ioctl(kvm.as_fd(), KVM_CREATE_VM, HVRT_VM_TYPE_SW_PROTECTED as usize)?);
    let vm = Vm::new(&VmConfig::of_type(HVRT_VM_TYPE_SW_PROTECTED).kvm_profile(HVRT_KVM_PROFILE_HOST))?;
    match vm.kvm_bind(vmfd.as_fd(), HVRT_BIND_EXIT_HYPERCALL) {
        Err(e) if e == Error::ENODEV => {
            return Ok(Some("KVM cannot forward KVM_HC_MAP_GPA_RANGE here (HVRT_BIND_EXIT_HYPERCALL: -ENODEV)".into()))
        }
        r => r?,
    }
    let caps = vm.kvm_caps()?;
    let need = HVRT_KVM_USER_MEMORY2 | HVRT_KVM_GUEST_MEMFD | HVRT_KVM_MEMORY_ATTRIBUTES | HVRT_KVM_EXIT_HYPERCALL;
    if caps.flags & need != need {
        return Err(format!("a type-1 VM without what it needs: caps.flags {:#x}, want {need:#x}", caps.flags).into());
    }
    say(format!(
        "a type-1 KVM VM (KVM_X86_SW_PROTECTED_VM) bound with HVRT_BIND_EXIT_HYPERCALL; private discard {}",
        if punch { "on (the default)" } else { "off (HVRT_DISCARD_SHARED only)" }
    ));
    let conv = Arc::new(Mutex::new(Vec::new()));
    let seen = conv.clone();
    let _listener = vm.add_conversion_listener(move |gpa, size, to_private| {
        say(format!("listener: [{gpa:#x}, {:#x}) is now {}", gpa + size, if to_private { "private" } else { "shared" }));
        seen.lock().unwrap().push((gpa, size, to_private));
    })?;
    if !punch {
        vm.set_discard_policy(HVRT_DISCARD_SHARED)?;
    }

    let program = private_program();
    // SAFETY: ENTRY + the program lies inside the code mapping, which nothing else uses yet.
    unsafe { std::ptr::copy_nonoverlapping(program.as_ptr(), code.as_ptr().add(ENTRY as usize), program.len()) };
    gmem = vm.create_guest_memfd(2 * PAGE, 0)?;
    let region = |slot, flags, gpa, m: &Mapping, fd: i32| kvm_userspace_memory_region2 {
        slot,
        flags,
        guest_phys_addr: gpa,
        memory_size: m.len() as u64,
        userspace_addr: m.addr(),
        guest_memfd: fd as u32,
        ..Default::default()
    };
    for r in [
        region(0, 0, 0, &code, 0),
        region(1, KVM_MEM_GUEST_MEMFD, P_GMEM_GPA, &gmem_shared, gmem.as_fd().as_raw_fd()),
        region(2, 0, P_PLAIN_GPA, &plain, 0),
        region(3, KVM_MEM_LOG_DIRTY_PAGES, P_DIRTY_GPA, &dirty, 0),
    ] {
        // SAFETY: each mapping is ours, used for nothing else, and outlives the VM (declared
        // before it).
        unsafe { vm.set_user_memory_region2(&r) }?;
    }
    // The plain slot's page is PRIVATE (in hvrt and, through the bind, in KVM), with no private
    // memory behind it.
    vm.set_memory_attributes(P_PLAIN_GPA, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE)?;
    say(format!(
        "slots: code at 0, a guest_memfd page pair at {P_GMEM_GPA:#x} (shared side anonymous), a plain page at \
         {P_PLAIN_GPA:#x} made private, 4 dirty-logged pages at {P_DIRTY_GPA:#x}"
    ));
    set_host_u32(&gmem_shared, 0, H1);
    set_host_u32(&plain, 0, H3);

    let vcpu_fd = owned(ioctl(vmfd.as_fd(), KVM_CREATE_VCPU, 0)?);
    let mmap_size = ioctl(kvm.as_fd(), KVM_GET_VCPU_MMAP_SIZE, 0)? as usize;
    let run = Mapping::shared(vcpu_fd.as_fd(), mmap_size, 0)?;
    set_real_mode(vcpu_fd.as_fd(), (P_GMEM_GPA >> 4) as u16, (P_PLAIN_GPA >> 4) as u16)?;
    let mut g = PrivateGuest { vcpu: Vcpu::new(&vm, Some(vcpu_fd), run)?, conv, failures };
    let npages = 4;
    let mut bitmap = vec![0u64; hvrt::bitmap_words(npages)];
    vm.dirty_log_get(3, &mut bitmap)?;
    g.check(bitmap[0] == 0, "dirty pages before the guest ran");

    // 1. shared, then private by the guest's own hypercall.
    g.report(H1, "shared page, before any conversion (the VMM's data)")?;
    g.expect_map(P_GMEM_GPA, 2, true)?;
    g.check(host_u32(&gmem_shared, 0) == 0, "to private did not discard the shared side");
    g.report(0, "MAP_GPA_RANGE(private) return value")?;
    g.report(0, "the same gpa now private: a fresh guest_memfd page")?;
    g.report(G1, "its private data written by the guest, read back")?;
    g.check(host_u32(&gmem_shared, 0) == 0, "the guest's private write reached the shared side");

    // 2. private -> shared (punch) -> private.
    g.expect_map(P_GMEM_GPA, 1, false)?;
    g.check(g.attrs(P_GMEM_GPA + PAGE) == KVM_MEMORY_ATTRIBUTE_PRIVATE, "page 1 is not private any more");
    set_host_u32(&gmem_shared, 0, H2);
    g.report(0, "MAP_GPA_RANGE(shared) return value")?;
    g.report(H2, "the page shared again: the VMM's new data")?;
    g.expect_map(P_GMEM_GPA, 1, true)?;
    g.report(0, "MAP_GPA_RANGE(private) return value")?;
    g.check(host_u32(&gmem_shared, 0) == 0, "the shared data was not discarded");
    if punch {
        g.report(0, "private again after the round trip: zero, hvrt punched the guest_memfd page")?;
    } else {
        g.report(G1, "private again after the round trip: the guest's data kept (no private discard)")?;
    }
    g.report(G2, "the other private page, never converted, keeps its data")?;
    let before = g.conversions();
    let (h, info) = g.step()?;
    let ret = u64_at(g.vcpu.run_page(), 88) as i64;
    say(format!("KVM_HC_MAP_GPA_RANGE with attribute bit 8: {h:?}, hypercall.ret {ret} (guest-visible -EINVAL)"));
    let ok = h == Ok(ExitAction::Resume) && info.kind == HVRT_EXIT_MAP_GPA_RANGE && info.result == HVRT_EINVAL as i64;
    g.check(ok && ret == -KVM_EINVAL, "a malformed MAP_GPA_RANGE was not refused");
    let ok = g.conversions() == before && g.attrs(P_GMEM_GPA + PAGE) == KVM_MEMORY_ATTRIBUTE_PRIVATE;
    g.check(ok, "a malformed MAP_GPA_RANGE converted memory");
    g.report(-KVM_EINVAL as u32, "MAP_GPA_RANGE(bit 8) return value")?;

    // 3. a private access where there is no private memory: KVM_EXIT_MEMORY_FAULT.
    let (h, info) = g.step()?;
    let run = g.vcpu.run_page();
    let (reason, flags, gpa, size) = (exit_reason(run), u64_at(run, 32), u64_at(run, 40), u64_at(run, 48));
    say(format!(
        "KVM_EXIT_MEMORY_FAULT (exit_reason {reason}), flags {flags:#x}, [{gpa:#x}, +{size:#x}): {h:?} (already private: \
         nothing to convert, resumed once)"
    ));
    let ok = h == Ok(ExitAction::Resume)
        && reason == KVM_EXIT_MEMORY_FAULT
        && flags & KVM_MEMORY_EXIT_FLAG_PRIVATE != 0
        && (gpa, size) == (P_PLAIN_GPA, PAGE)
        && info.kind == HVRT_EXIT_MEMORY_FAULT
        && (info.gpa, info.size, info.to_private, info.result) == (P_PLAIN_GPA, PAGE, 1, 0);
    g.check(ok, &format!("want a private memory fault at {P_PLAIN_GPA:#x}, exit_info {info:?}"));
    let before = g.conversions();
    let (h, info) = g.step()?;
    match h {
        Err(e) => say(format!("the same fault again: {} ({}): KVM would fault forever, so it is an error", e.code(), e.name())),
        Ok(a) => say(format!("the same fault again: {a:?}")),
    }
    let ok = h == Err(Error::EFAULT) && info.kind == HVRT_EXIT_MEMORY_FAULT && (info.gpa, info.size) == (P_PLAIN_GPA, PAGE);
    g.check(ok, "the repeated fault is not EFAULT");
    g.check(g.conversions() == before && g.attrs(P_PLAIN_GPA) == KVM_MEMORY_ATTRIBUTE_PRIVATE, "the fault converted");
    // The VMM resolves it: shared (the reader offline, as for any conversion from this thread).
    g.vcpu.enter()?;
    let r = vm.convert(P_PLAIN_GPA, PAGE, false);
    g.vcpu.exit()?;
    r?;
    g.check(g.attrs(P_PLAIN_GPA) == 0, "Vm::convert did not make the page shared");
    g.report(H3, "the plain page once the VMM made it shared")?;

    // 4. the guest's writes in the dirty log, then hlt.
    let (h, info) = g.step()?;
    let reason = exit_reason(g.vcpu.run_page());
    if h != Ok(ExitAction::Unhandled) || info.kind != HVRT_EXIT_OTHER || reason != KVM_EXIT_HLT {
        return Err(format!("want the guest's hlt, got {h:?}, exit_reason {reason}").into());
    }
    // SAFETY: inside the dirty mapping; the guest has halted.
    let (d0, d2) = unsafe { (*dirty.as_ptr(), *dirty.as_ptr().add(2 * PAGE as usize)) };
    g.check((d0, d2) == (1, 1), "the guest's writes are not in the dirty-logged slot");
    vm.dirty_log_get(3, &mut bitmap)?;
    say(format!("guest halted; dirty pages of its dirty-logged slot: {:?}", bitmap_iter(&bitmap, npages).collect::<Vec<_>>()));
    g.check(bitmap[0] == 0x5, "want pages 0 and 2");

    // Order: the vCPU, the listener, the VM, then the guest_memfd, the memory and the VM fd.
    drop(g);
    drop(_listener);
    drop(vm);
    drop(gmem);
    Ok(None)
}

fn main() {
    if hvrt::abi_version() != HVRT_ABI_VERSION {
        eprintln!("libhvrt ABI {}, crate {}", hvrt::abi_version(), HVRT_ABI_VERSION);
        std::process::exit(1);
    }
    let mut failures = 0u32;
    // Step 5 is real where this KVM offers VM type 1, simulated otherwise (and why).
    let mut simulated = Some("this host's KVM has no private memory for its VMs".to_string());
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Err(e) => println!("/dev/kvm: {e}: no real guest on this machine, only the simulated part"),
        Ok(kvm) => {
            if let Err(e) = real_guest(&kvm, &mut failures) {
                println!("   FAILED: {e}");
                failures += 1;
            }
            match sw_protected_offered(&kvm) {
                Err(why) => simulated = Some(why),
                Ok(()) => {
                    simulated = None;
                    for punch in [true, false] {
                        step(format!(
                            "5{}. conversion exits (real: a guest on a KVM_X86_SW_PROTECTED_VM, private discard {})",
                            if punch { "" } else { "b" },
                            if punch { "on" } else { "off" }
                        ));
                        match real_conversions(&kvm, punch, &mut failures) {
                            Ok(None) => {}
                            Ok(Some(why)) => {
                                simulated = Some(why);
                                break;
                            }
                            Err(e) => {
                                println!("   FAILED: {e}");
                                failures += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(why) = simulated {
        if let Err(e) = simulated_conversions(&why, &mut failures) {
            println!("   FAILED: {e}");
            failures += 1;
        }
    }
    println!("\n{}", if failures > 0 { "vmm: FAILED" } else { "vmm: done" });
    std::process::exit(if failures > 0 { 1 } else { 0 });
}

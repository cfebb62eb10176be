//! RAII and type-level guarantees: what each handle releases on drop (fds, mappings, readers,
//! vCPUs, listeners), which handles may cross threads, and the Error conversions.
mod common;
use common::fixture::set_ext;
use common::*;
use hvrt::{ExitAction, Vcpu};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Two tests here count the process's open fds, so every test that makes a VM or a reader holds
// common::serial(): a VM made on another thread meanwhile changed the count (1 run in 40 failed).

// Compile-time checks. `assert_impl` needs the bound; `assert_not_sync` / `assert_not_send`
// are ambiguous (do not compile) when the type implements the trait.
fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}
trait AmbiguousIfSend<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

#[test]
fn thread_safety_of_the_handles() {
    assert_send::<Vm>();
    assert_sync::<Vm>();
    assert_send::<Reader<Arc<Vm>>>();
    assert_send::<Reader<&'static Vm>>();
    assert_send::<hvrt::ListenerGuard<'static>>();
    assert_send::<Mapping>();
    assert_send::<hvrt::GuestMemfd>();
    // A reader is used by one thread at a time; a vCPU stays on its thread.
    <Reader<Arc<Vm>> as AmbiguousIfSync<_>>::check();
    <Vcpu<Arc<Vm>> as AmbiguousIfSync<_>>::check();
    <Vcpu<Arc<Vm>> as AmbiguousIfSend<_>>::check();
}

#[test]
fn dropping_the_vm_closes_its_private_fd_duplicates() {
    let _s = serial();
    let vm = vm_of(HVRT_VM_TYPE_SW_PROTECTED);
    let before = count_open_fds();
    let f = memfd(64 * PAGE);
    for i in 0..4 {
        set_ext(&vm, i, F_PRIV, i as u64 * 16 * PAGE, 16 * PAGE, 0x7f00_0000_0000, f.as_raw_fd() as u32, i as u64 * 16 * PAGE)
            .unwrap();
    }
    drop(f);
    assert_eq!(count_open_fds(), before + 1, "one duplicate per file, shared by its slots");
    drop(vm);
    assert_eq!(count_open_fds(), before, "the duplicate closed with the VM");
}

#[test]
fn a_dropped_reader_no_longer_delays_slot_changes() {
    let _s = serial();
    let vm = vm();
    let m = Mapping::anonymous(PAGE as usize).unwrap();
    add(&vm, 0, 0, 0, &m).unwrap();
    let r = vm.reader().unwrap();
    r.translate(0, 0).unwrap(); // online, holding a translation
    drop(r); // unregisters: the delete below must not wait for it
    let start = Instant::now();
    vm.delete_slot(0).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_dropped_vcpu_releases_its_reader_fd_and_run_page() {
    let _s = serial();
    let vm = vm();
    let m = Mapping::anonymous(PAGE as usize).unwrap();
    let run = Mapping::anonymous(4096).unwrap();
    let run_addr = run.as_ptr();
    let before = count_open_fds();
    // Any open fd stands in for the vCPU fd (hvrt only checks that it is open; no KVM_RUN here).
    let fake_vcpu_fd: std::os::fd::OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let mut v = Vcpu::new(&vm, Some(fake_vcpu_fd), run).unwrap();
    assert!(v.fd().is_some());
    assert_eq!(count_open_fds(), before + 1);
    put_hlt(&mut v);
    assert_eq!(v.handle_exit(0, 0), Ok(ExitAction::Unhandled));
    drop(v);
    assert_eq!(count_open_fds(), before, "the vCPU fd closed with the Vcpu");
    // SAFETY: msync on a range only asks whether it is mapped (ENOMEM when not).
    let rc = unsafe { libc::msync(run_addr.cast(), 4096, libc::MS_ASYNC) };
    assert_eq!(rc, -1, "the run page was unmapped");
    // The vCPU's reader is gone: a slot change from this thread does not wait for it.
    add(&vm, 0, 0, 0, &m).unwrap();
    vm.delete_slot(0).unwrap();
}

fn put_hlt(v: &mut Vcpu<&Vm>) {
    v.run_page_mut()[8..12].copy_from_slice(&5u32.to_ne_bytes()); // KVM_EXIT_HLT
}

#[test]
fn a_dropped_mapping_is_unmapped() {
    let m = Mapping::anonymous(8 * PAGE as usize).unwrap();
    let (p, len) = (m.as_ptr(), m.len());
    // SAFETY: as above, msync only probes the range.
    assert_eq!(unsafe { libc::msync(p.cast(), len, libc::MS_ASYNC) }, 0);
    drop(m);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::msync(p.cast(), len, libc::MS_ASYNC) }, -1);
    assert_eq!(Mapping::anonymous(0).err(), Some(EINVAL));
}

#[test]
fn config_rules() {
    let _s = serial();
    let cfg = VmConfig { max_gpa_bits: 12, ..VmConfig::default() }; // below 13: refused
    assert_eq!(Vm::new(&cfg).err(), Some(EINVAL));
    let mut raw = cfg.to_raw();
    raw.reserved[0] = 1;
    raw.max_gpa_bits = 0;
    assert_eq!(Vm::from_raw_config(Some(&raw)).err(), Some(EINVAL));
    raw.reserved[0] = 0;
    // A newer header's longer struct: its tail goes as zeros, which hvrt accepts.
    raw.size = 128;
    assert!(Vm::from_raw_config(Some(&raw)).is_ok());
    raw.size = 4096;
    assert!(Vm::from_raw_config(Some(&raw)).is_ok());
    raw.size = 4;
    assert_eq!(Vm::from_raw_config(Some(&raw)).err(), Some(EINVAL));
    raw.size = 4097;
    assert_eq!(Vm::from_raw_config(Some(&raw)).err(), Some(Error::E2BIG));
}

#[test]
fn error_conversions() {
    let e = Error::ENOENT;
    assert_eq!((e.code(), e.errno(), e.name()), (-2, Some(2), "ENOENT"));
    assert_eq!(e.to_string(), "ENOENT (-2): no slot holds this guest frame");
    assert_eq!(format!("{e:?}"), "Error(ENOENT -2)");
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
    let internal = Error::EINTERNAL;
    assert_eq!(internal.errno(), None);
    assert_eq!(internal.name(), "EINTERNAL");
    let io: std::io::Error = internal.into();
    assert_eq!(io.raw_os_error(), None);
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    assert!(io.to_string().contains("internal hvrt error"));
    assert_eq!(Error::from_code(5).code(), HVRT_EINTERNAL); // not an error code
    let boxed: Box<dyn std::error::Error> = Box::new(Error::EEXIST);
    assert!(boxed.to_string().starts_with("EEXIST"));
}

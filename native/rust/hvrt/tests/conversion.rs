//! hvrt_convert on real memory (native/tests/conversion_test.c): a memfd private file loses its
//! blocks (st_blocks) on to-shared, shared memfd and anonymous memory read zeros after
//! to-private, a guest_memfd (skipped without /dev/kvm or MMAP support) reads zeros through its
//! mmap; already-converted pages are not discarded again; slots and holes; a failing discard
//! leaves the attributes; closure listeners, the sequence, the discard policy, the errors.
mod common;
use common::fixture::set_ext;
use common::*;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Mutex};

const NPAGES: u64 = 16;
const BLOCKS_PER_PAGE: u64 = 8;
const PRIV: u64 = KVM_MEMORY_ATTRIBUTE_PRIVATE;

fn private_vm() -> Vm {
    vm_of(HVRT_VM_TYPE_SW_PROTECTED)
}

fn memfd_file(size: u64) -> File {
    File::from(memfd(size))
}

fn blocks(f: &File) -> u64 {
    f.metadata().unwrap().blocks()
}

fn fill_file(f: &File, first: u64, n: u64, seed: u8) {
    for i in first..first + n {
        f.write_all_at(&[seed.wrapping_add(i as u8); PAGE as usize], i * PAGE).unwrap();
    }
}

fn file_page_is(f: &File, i: u64, seed: u8, zero: bool) -> bool {
    let mut buf = [0u8; PAGE as usize];
    f.read_exact_at(&mut buf, i * PAGE).unwrap();
    let want = if zero { 0 } else { seed.wrapping_add(i as u8) };
    buf.iter().all(|&b| b == want)
}

fn mem_page_is(m: &Mapping, i: u64, seed: u8, zero: bool) -> bool {
    let want = if zero { 0 } else { seed.wrapping_add(i as u8) };
    // SAFETY: the page is inside the test's own mapping.
    let page = unsafe { std::slice::from_raw_parts(m.as_ptr().add((i * PAGE) as usize), PAGE as usize) };
    page.iter().all(|&b| b == want)
}

fn fill_mem(m: &Mapping, n: u64, seed: u8) {
    for i in 0..n {
        // SAFETY: inside the test's own mapping.
        unsafe { std::ptr::write_bytes(m.as_ptr().add((i * PAGE) as usize), seed.wrapping_add(i as u8), PAGE as usize) };
    }
}

fn attrs_are(vm: &Vm, gfn: u64, n: u64, want: u64) -> bool {
    (gfn..gfn + n).all(|g| vm.memory_attributes(g) == Ok(want))
}

/// Calls recorded by a listener: (gpa, size, to_private, seq inside the call).
type Calls = Arc<Mutex<Vec<(u64, u64, bool, u64)>>>;

/// A listener recording its calls, the sequence seen inside them and what a nested convert
/// returned (EDEADLK).
fn recorder(vm: &Arc<Vm>) -> (Calls, Arc<Mutex<Option<Error>>>, impl FnMut(u64, u64, bool) + Send + 'static) {
    let calls: Calls = Arc::default();
    let nested = Arc::new(Mutex::new(None));
    let (c, n, v) = (Arc::clone(&calls), Arc::clone(&nested), Arc::clone(vm));
    let f = move |gpa, size, to_private| {
        c.lock().unwrap().push((gpa, size, to_private, v.conversion_seq().unwrap()));
        *n.lock().unwrap() = v.convert(0x10_0000 * PAGE, PAGE, true).err();
    };
    (calls, nested, f)
}

unsafe extern "C" fn raw_listener(_: *mut core::ffi::c_void, _: u64, _: u64, _: i32) {}

#[test]
fn bad_arguments() {
    let vm = private_vm();
    assert_eq!(vm.convert(0, PAGE, true), Ok(()));
    assert_eq!(vm.convert(0, 0, true), Err(EINVAL));
    assert_eq!(vm.convert(2048, PAGE, true), Err(EINVAL));
    assert_eq!(vm.convert(0, PAGE + 1, false), Err(EINVAL));
    assert_eq!(vm.convert(u64::MAX - PAGE + 1, 2 * PAGE, true), Err(EINVAL));
    assert_eq!(vm.set_discard_policy(HVRT_DISCARD_PRIVATE << 1), Err(EINVAL));
    // to_private not 0 or 1, and (cb, ctx) twice: only reachable through sys.
    // SAFETY: a live VM; a valid callback that does nothing.
    unsafe {
        assert_eq!(hvrt_convert(vm.as_ptr(), 0, PAGE, 2), HVRT_EINVAL);
        let ctx = 1 as *mut core::ffi::c_void;
        assert_eq!(hvrt_remove_conversion_listener(vm.as_ptr(), Some(raw_listener), ctx), HVRT_ENOENT);
        assert_eq!(hvrt_add_conversion_listener(vm.as_ptr(), Some(raw_listener), ctx), 0);
        assert_eq!(hvrt_add_conversion_listener(vm.as_ptr(), Some(raw_listener), ctx), HVRT_EEXIST);
        assert_eq!(hvrt_remove_conversion_listener(vm.as_ptr(), Some(raw_listener), ctx), 0);
        assert_eq!(hvrt_add_conversion_listener(vm.as_ptr(), None, ctx), HVRT_EFAULT);
    }
    assert_eq!(vm.conversion_seq(), Ok(2));
    assert_eq!(Error::EDEADLK.name(), "EDEADLK");
    assert_eq!(Error::EACCES.name(), "EACCES");
    let plain = vm_of(HVRT_VM_TYPE_DEFAULT); // no private memory: every conversion is refused
    assert_eq!(plain.convert(0, PAGE, true), Err(EINVAL));
    assert_eq!(plain.convert(0, PAGE, false), Err(EINVAL));
}

#[test]
fn private_memfd_is_punched() {
    let vm = private_vm();
    let f = memfd_file(NPAGES * PAGE);
    let shared = Mapping::anonymous((NPAGES * PAGE) as usize).unwrap();
    // SAFETY: shared outlives the VM (dropped after it).
    unsafe {
        vm.set_user_memory_region_ext(&region_ext(0, 0, NPAGES * PAGE, shared.addr(), f.as_raw_fd(), 0))
    }
    .unwrap();
    fill_file(&f, 0, NPAGES, 0x10);
    let full = blocks(&f);
    assert_eq!(full, NPAGES * BLOCKS_PER_PAGE);
    vm.set_memory_attributes(0, NPAGES * PAGE, PRIV).unwrap();
    vm.convert(4 * PAGE, 4 * PAGE, false).unwrap();
    assert_eq!(blocks(&f), full - 4 * BLOCKS_PER_PAGE);
    for i in 0..NPAGES {
        assert!(file_page_is(&f, i, 0x10, (4..8).contains(&i)), "page {i}");
    }
    assert!(attrs_are(&vm, 0, 4, PRIV) && attrs_are(&vm, 4, 4, 0) && attrs_are(&vm, 8, 8, PRIV));
    // Again: already shared, so the re-filled file keeps its blocks.
    fill_file(&f, 0, NPAGES, 0x20);
    vm.convert(4 * PAGE, 4 * PAGE, false).unwrap();
    assert_eq!(blocks(&f), full);
    assert_eq!(vm.conversion_seq(), Ok(2));
    // A superset: only [8, 12) changes.
    vm.convert(4 * PAGE, 8 * PAGE, false).unwrap();
    assert_eq!(blocks(&f), full - 4 * BLOCKS_PER_PAGE);
    assert!(file_page_is(&f, 4, 0x20, false));
    assert!(file_page_is(&f, 8, 0x20, true));
    drop(vm);
}

fn shared_memory_dropped(memfd: bool) {
    let vm = private_vm();
    let f = memfd_file(NPAGES * PAGE);
    let mem = if memfd {
        Mapping::shared(f.as_fd(), (NPAGES * PAGE) as usize, 0).unwrap()
    } else {
        Mapping::anonymous((NPAGES * PAGE) as usize).unwrap()
    };
    add(&vm, 0, 0, 0x100 * PAGE, &mem).unwrap();
    fill_mem(&mem, NPAGES, 0x40);
    vm.convert(0x102 * PAGE, 5 * PAGE, true).unwrap();
    if memfd {
        assert_eq!(blocks(&f), (NPAGES - 5) * BLOCKS_PER_PAGE);
    }
    for i in 0..NPAGES {
        assert!(mem_page_is(&mem, i, 0x40, (2..7).contains(&i)), "page {i}");
    }
    assert!(attrs_are(&vm, 0x100, 2, 0) && attrs_are(&vm, 0x102, 5, PRIV) && attrs_are(&vm, 0x107, 9, 0));
    drop(vm);
}

#[test]
fn shared_memfd_is_dropped() {
    shared_memory_dropped(true);
}

#[test]
fn shared_anonymous_memory_is_dropped() {
    shared_memory_dropped(false);
}

#[test]
fn guest_memfd_is_punched() {
    let Some(kvm) = kvm_vm("guest_memfd_is_punched") else { return };
    // KVM_CREATE_GUEST_MEMFD = _IOWR(0xAE, 0xd4, struct kvm_create_guest_memfd (64 bytes)).
    let mut req = [0u64; 8];
    req[0] = NPAGES * PAGE;
    req[1] = 0x3; // MMAP | INIT_SHARED
    // SAFETY: the ioctl reads the 64-byte request.
    let gmem = unsafe { libc::ioctl(kvm.as_raw_fd(), 0xc040_aed4, req.as_mut_ptr()) };
    if gmem < 0 {
        common::skip("guest_memfd_is_punched", "KVM_CREATE_GUEST_MEMFD(MMAP | INIT_SHARED) is not supported");
        return;
    }
    // SAFETY: a new fd.
    let gmem = unsafe { OwnedFd::from_raw_fd(gmem) };
    let vm = private_vm();
    let gm = Mapping::shared(gmem.as_fd(), (NPAGES * PAGE) as usize, 0).unwrap();
    let shared = Mapping::anonymous((NPAGES * PAGE) as usize).unwrap();
    // SAFETY: shared outlives the VM.
    unsafe {
        vm.set_user_memory_region2(&region2_private(0, 0, NPAGES * PAGE, shared.addr(), gmem.as_raw_fd(), 0))
    }
    .unwrap();
    fill_mem(&gm, NPAGES, 0x70);
    vm.set_memory_attributes(0, NPAGES * PAGE, PRIV).unwrap();
    vm.convert(0, 8 * PAGE, false).unwrap();
    for i in 0..NPAGES {
        assert!(mem_page_is(&gm, i, 0x70, i < 8), "page {i}");
    }
    assert!(attrs_are(&vm, 0, 8, 0) && attrs_are(&vm, 8, 8, PRIV));
}

#[test]
fn slots_and_holes_with_a_listener() {
    let vm = Arc::new(private_vm());
    let f = memfd_file(32 * PAGE);
    let pf = memfd_file(32 * PAGE);
    let mem = Mapping::shared(f.as_fd(), (32 * PAGE) as usize, 0).unwrap();
    let p = pf.as_raw_fd() as u32;
    set_ext(&vm, 0, F_PRIV, 0, 8 * PAGE, mem.addr(), p, 0).unwrap();
    set_ext(&vm, 1, F_PRIV, 8 * PAGE, 8 * PAGE, mem.addr() + 8 * PAGE, p, 8 * PAGE).unwrap();
    set_ext(&vm, 2, F_PRIV, 24 * PAGE, 8 * PAGE, mem.addr() + 24 * PAGE, p, 24 * PAGE).unwrap();
    // SAFETY: the test's own mapping.
    unsafe { std::ptr::write_bytes(mem.as_ptr(), 3, (32 * PAGE) as usize) };
    fill_file(&pf, 0, 32, 9);
    let (calls, nested, listener) = recorder(&vm);
    let guard = vm.add_conversion_listener(listener).unwrap();
    vm.convert(2 * PAGE, 28 * PAGE, true).unwrap();
    assert_eq!(blocks(&f), 12 * BLOCKS_PER_PAGE); // 2 + 8 (hole: its pages stay) + 2
    for i in 0..32u64 {
        let gone = (2..16).contains(&i) || (24..30).contains(&i);
        // SAFETY: inside the test's mapping.
        let (first, last) = unsafe { (*mem.as_ptr().add((i * PAGE) as usize), *mem.as_ptr().add((i * PAGE + PAGE - 1) as usize)) };
        assert_eq!((first, last), if gone { (0, 0) } else { (3, 3) }, "page {i}");
    }
    assert!(attrs_are(&vm, 0, 2, 0) && attrs_are(&vm, 2, 28, PRIV) && attrs_are(&vm, 30, 2, 0));
    assert_eq!(*calls.lock().unwrap(), vec![(2 * PAGE, 28 * PAGE, true, 1)]);
    assert_eq!(*nested.lock().unwrap(), Some(Error::EDEADLK));
    vm.convert(0, 32 * PAGE, false).unwrap();
    for i in 0..32u64 {
        assert!(file_page_is(&pf, i, 9, (2..16).contains(&i) || (24..30).contains(&i)), "file page {i}");
    }
    assert!(attrs_are(&vm, 0, 32, 0));
    assert_eq!(calls.lock().unwrap()[1], (2 * PAGE, 28 * PAGE, false, 3));
    assert_eq!(vm.conversion_seq(), Ok(4));
    drop(guard);
    vm.convert(0, PAGE, true).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 2, "a dropped guard's listener is not called");
}

#[test]
fn failing_discard_leaves_the_attributes() {
    let vm = Arc::new(private_vm());
    let good = memfd_file(8 * PAGE);
    let bad = memfd_file(8 * PAGE);
    let ro = File::open(format!("/proc/self/fd/{}", bad.as_raw_fd())).unwrap();
    let shared = Mapping::anonymous((16 * PAGE) as usize).unwrap();
    set_ext(&vm, 0, F_PRIV, 0, 8 * PAGE, shared.addr(), good.as_raw_fd() as u32, 0).unwrap();
    set_ext(&vm, 1, F_PRIV, 8 * PAGE, 8 * PAGE, shared.addr() + 8 * PAGE, ro.as_raw_fd() as u32, 0).unwrap();
    fill_file(&good, 0, 8, 5);
    fill_file(&bad, 0, 8, 6);
    vm.set_memory_attributes(0, 16 * PAGE, PRIV).unwrap();
    let (calls, _, listener) = recorder(&vm);
    let guard = vm.add_conversion_listener(listener).unwrap();
    assert_eq!(vm.convert(4 * PAGE, 8 * PAGE, false), Err(EBADF));
    assert!(attrs_are(&vm, 0, 16, PRIV));
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(vm.conversion_seq(), Ok(2));
    assert_eq!(blocks(&good), 4 * BLOCKS_PER_PAGE); // punched before the failure
    assert_eq!(blocks(&bad), 8 * BLOCKS_PER_PAGE);
    // io::Error keeps the errno.
    let io: std::io::Error = Error::EBADF.into();
    assert_eq!(io.raw_os_error(), Some(libc::EBADF));
    vm.set_discard_policy(HVRT_DISCARD_SHARED).unwrap();
    vm.convert(4 * PAGE, 8 * PAGE, false).unwrap();
    assert!(attrs_are(&vm, 4, 8, 0));
    assert_eq!(blocks(&bad), 8 * BLOCKS_PER_PAGE);
    assert_eq!(*calls.lock().unwrap(), vec![(4 * PAGE, 8 * PAGE, false, 3)]);
    drop(guard);
    vm.convert(0, PAGE, false).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(vm.conversion_seq(), Ok(6));
}

#[test]
fn listeners_removed_from_callbacks() {
    // Guards dropped inside callbacks need a VM that outlives 'static: leak one for the test.
    let vm: &'static Vm = Box::leak(Box::new(private_vm()));
    let a_calls = Arc::new(Mutex::new(Vec::new()));
    let b_calls = Arc::new(Mutex::new(0));
    let b_guard: Arc<Mutex<Option<hvrt::ListenerGuard<'static>>>> = Arc::default();
    let self_guard: Arc<Mutex<Option<hvrt::ListenerGuard<'static>>>> = Arc::default();
    let remove_b = Arc::new(Mutex::new(false));
    let ga = {
        let (calls, b_guard, remove_b) = (Arc::clone(&a_calls), Arc::clone(&b_guard), Arc::clone(&remove_b));
        vm.add_conversion_listener(move |gpa, size, p| {
            calls.lock().unwrap().push((gpa, size, p, vm.conversion_seq().unwrap()));
            if *remove_b.lock().unwrap() {
                b_guard.lock().unwrap().take(); // removes B from inside A's call
            }
        })
        .unwrap()
    };
    let n = Arc::clone(&b_calls);
    *b_guard.lock().unwrap() = Some(vm.add_conversion_listener(move |_, _, _| *n.lock().unwrap() += 1).unwrap());
    // C removes itself on its first call (its closure is then leaked, never freed under it).
    let c_calls = Arc::new(Mutex::new(0));
    let (n, me) = (Arc::clone(&c_calls), Arc::clone(&self_guard));
    *self_guard.lock().unwrap() = Some(
        vm.add_conversion_listener(move |_, _, _| {
            *n.lock().unwrap() += 1;
            me.lock().unwrap().take();
        })
        .unwrap(),
    );
    vm.convert(0x10 * PAGE, 0x10 * PAGE, true).unwrap();
    *remove_b.lock().unwrap() = true;
    vm.convert(0, 0x30 * PAGE, true).unwrap(); // two runs: [0, 0x10) and [0x20, 0x30)
    assert_eq!(
        *a_calls.lock().unwrap(),
        vec![(0x10 * PAGE, 0x10 * PAGE, true, 1), (0, 0x10 * PAGE, true, 3), (0x20 * PAGE, 0x10 * PAGE, true, 3)]
    );
    assert_eq!(*b_calls.lock().unwrap(), 1, "B is not called for the run after its removal");
    assert_eq!(*c_calls.lock().unwrap(), 1, "C removed itself");
    assert_eq!(vm.conversion_seq(), Ok(4));
    drop(ga);
}

//! The fixture VM of native/tests/test_util.h: a default VM (max_gpa_bits 40) with slots of
//! every kind whose every translation and generation is known, so a test can prove that a
//! rejected call changed nothing (`rejected`).
use super::*;
use std::os::fd::AsRawFd;

pub const FX_HVA: u64 = 0x7f00_0000_0000;
pub const FX_PROBE_SLOT: u32 = 100;
pub const FX_PROBE_GFN: u64 = 0x8000;

#[derive(Clone, Copy, Debug)]
pub struct SlotDesc {
    pub slot: u32,
    pub flags: u32,
    pub gfn: u64,
    pub npages: u64,
    pub hva: u64,
    pub pgoff: u64,
}

pub fn desc(slot: u32, flags: u32, gfn: u64, npages: u64, hva: u64) -> SlotDesc {
    SlotDesc { slot, flags, gfn, npages, hva, pgoff: 0 }
}

pub struct Fixture {
    pub vm: Vm,
    pub nr_as: u64,
    pub slots: Vec<SlotDesc>,
    pub gen: [u64; 2],
}

/// v1 through the wrapper (the fixture's host addresses are never touched).
pub fn set_v1(vm: &Vm, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64) -> Result<(), Error> {
    let r = kvm_userspace_memory_region { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva };
    // SAFETY: the rule tests never dereference, convert or discard the fixture's memory.
    unsafe { vm.set_user_memory_region(&r) }
}

pub fn set_r2(vm: &Vm, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64, fd: u32, off: u64) -> Result<(), Error> {
    let r = kvm_userspace_memory_region2 {
        guest_memfd: fd,
        guest_memfd_offset: off,
        ..region2(slot, flags, gpa, size, hva)
    };
    // SAFETY: as set_v1.
    unsafe { vm.set_user_memory_region2(&r) }
}

pub fn set_ext(vm: &Vm, slot: u32, flags: u32, gpa: u64, size: u64, hva: u64, fd: u32, off: u64) -> Result<(), Error> {
    let mut r = region_ext(slot, gpa, size, hva, fd as i32, off);
    r.region.flags = flags;
    // SAFETY: as set_v1.
    unsafe { vm.set_user_memory_region_ext(&r) }
}

/// A number that is not an open fd and will not become one while the tests run.
///
/// Not the number of a file just closed: the kernel hands out the lowest free number, so the
/// next open() on another test thread (cargo runs tests in parallel) would reuse it, and a test
/// expecting -EBADF would see that thread's memfd (seen in a clean-clone run: -EINVAL). The highest number under
/// the soft RLIMIT_NOFILE is reached only when every number below it is open.
pub fn closed_fd_number() -> u32 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let top = lim.rlim_cur.min(1 << 20) as i32 - 1; // RLIM_INFINITY: a number the kernel can still give
    // SAFETY: F_GETFD only asks whether the number is open.
    let fd = (3..=top).rev().find(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0);
    fd.expect("no closed fd number under RLIMIT_NOFILE") as u32
}

impl Fixture {
    pub fn new() -> Fixture {
        // The newest profile: hvrt's own rules (two address spaces, private slots), on any host.
        let vm = Vm::new(&VmConfig::default().max_gpa_bits(40).kvm_profile(hvrt::sys::HVRT_KVM_PROFILE_NEWEST)).unwrap();
        let mut fx = Fixture { vm, nr_as: 2, slots: Vec::new(), gen: [0, 1] };
        fx.add(desc(slot(0, 0), 0, 0x0, 16, FX_HVA));
        fx.add(desc(slot(0, 1), F_RO, 0x100, 8, FX_HVA + 0x10_0000));
        fx.add(desc(slot(0, 2), F_LOG, 0x200, 4, FX_HVA + 0x20_0000));
        fx.add(SlotDesc { pgoff: 2, ..desc(slot(0, 3), F_PRIV, 0x300, 8, FX_HVA + 0x30_0000) });
        fx.add(desc(slot(1, 0), 0, 0x0, 4, FX_HVA + 0x40_0000));
        fx.add(desc(slot(1, 5), F_RO | F_LOG, 0x1000, 2, FX_HVA + 0x50_0000));
        fx
    }

    fn add(&mut self, s: SlotDesc) {
        if s.flags & F_PRIV != 0 {
            // hvrt keeps a duplicate: the test's memfd closes at once.
            let fd = memfd(16 * PAGE);
            let gpa = s.gfn * PAGE;
            set_ext(&self.vm, s.slot, s.flags, gpa, s.npages * PAGE, s.hva, fd.as_raw_fd() as u32, s.pgoff * PAGE)
                .unwrap();
        } else {
            set_v1(&self.vm, s.slot, s.flags, s.gfn * PAGE, s.npages * PAGE, s.hva).unwrap();
        }
        self.record(s);
    }

    /// Records a slot the test has just created (one change of its address space).
    pub fn record(&mut self, s: SlotDesc) {
        self.slots.push(s);
        self.gen[(s.slot >> 16) as usize] += self.nr_as;
    }

    pub fn slot(&mut self, slot: u32) -> &mut SlotDesc {
        self.slots.iter_mut().find(|s| s.slot == slot).expect("fixture slot")
    }

    pub fn forget(&mut self, slot: u32) {
        self.slots.retain(|s| s.slot != slot);
    }

    fn covers(&self, as_id: u32, gfn: u64) -> bool {
        self.slots.iter().any(|s| s.slot >> 16 == as_id && gfn.wrapping_sub(s.gfn) < s.npages)
    }

    fn translates_as(&self, gfn: u64, s: &SlotDesc, gen: u64) -> bool {
        translates_as(&self.vm, gfn, s, gen)
    }

    fn translates_to_nothing(&self, as_id: u32, gfn: u64) -> bool {
        translates_to_nothing(&self.vm, as_id, gfn)
    }

    /// hvrt answers exactly what the fixture records.
    pub fn intact(&self) -> bool {
        let mut ok = true;
        for s in &self.slots {
            let as_id = s.slot >> 16;
            for g in s.gfn..s.gfn + s.npages {
                ok &= self.translates_as(g, s, self.gen[as_id as usize]);
            }
            if s.gfn > 0 && !self.covers(as_id, s.gfn - 1) {
                ok &= self.translates_to_nothing(as_id, s.gfn - 1);
            }
            if !self.covers(as_id, s.gfn + s.npages) {
                ok &= self.translates_to_nothing(as_id, s.gfn + s.npages);
            }
        }
        for as_id in 0..self.nr_as as u32 {
            if !self.covers(as_id, FX_PROBE_GFN) {
                ok &= self.translates_to_nothing(as_id, FX_PROBE_GFN);
            }
        }
        ok
    }

    /// A valid create and delete after a rejected call: the VM works and the generation moves
    /// on from where it was (the rejection did not bump it).
    pub fn still_works(&mut self) -> bool {
        let probe = desc(FX_PROBE_SLOT, 0, FX_PROBE_GFN, 1, FX_HVA + 0x800_0000);
        let mut ok = set_v1(&self.vm, probe.slot, 0, probe.gfn * PAGE, PAGE, probe.hva).is_ok();
        self.gen[0] += self.nr_as;
        ok = ok && self.translates_as(probe.gfn, &probe, self.gen[0]);
        ok = ok && self.vm.delete_slot(probe.slot).is_ok();
        self.gen[0] += self.nr_as;
        ok && self.translates_to_nothing(0, probe.gfn)
    }

    /// A call hvrt must refuse with `want`, leaving everything as it was.
    #[track_caller]
    pub fn rejected(&mut self, call: impl FnOnce(&Vm) -> Result<(), Error>, want: Error) {
        assert_eq!(call(&self.vm), Err(want));
        assert!(self.intact(), "a rejected call changed the slots");
        assert!(self.still_works(), "the VM stopped working after a rejected call");
    }
}

/// hvrt answers for gfn exactly what slot s (in a slot set of generation gen) says.
pub fn translates_as(vm: &Vm, gfn: u64, s: &SlotDesc, gen: u64) -> bool {
    let as_id = s.slot >> 16;
    let t = match vm.translate(as_id, gfn) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("  gfn {gfn:#x} as {as_id}: {e}");
            return false;
        }
    };
    let off = gfn - s.gfn;
    let mut flags = 0;
    if s.flags & F_RO != 0 {
        flags |= HVRT_TR_READONLY;
    }
    if s.flags & F_LOG != 0 {
        flags |= HVRT_TR_LOG_DIRTY;
    }
    if s.flags & F_PRIV != 0 {
        flags |= HVRT_TR_HAS_PRIVATE;
    }
    let private = s.flags & F_PRIV != 0;
    let ok = t.slot() == s.slot
        && t.flags() == flags
        && t.base_gfn() == s.gfn
        && t.npages() == s.npages
        && t.hva() == s.hva + off * PAGE
        && t.private_pgoff() == if private { s.pgoff + off } else { 0 }
        && (t.private_fd() >= 0) == private
        && t.run_pages() == s.npages - off
        && t.generation() == gen;
    if !ok {
        eprintln!("  gfn {gfn:#x}: got {t:?}, want {s:?} gen {gen}");
    }
    ok
}

/// gfn of as_id is in no slot.
pub fn translates_to_nothing(vm: &Vm, as_id: u32, gfn: u64) -> bool {
    let r = vm.translate(as_id, gfn);
    if r != Err(ENOENT) {
        eprintln!("  gfn {gfn:#x} as {as_id}: {r:?}, want ENOENT");
    }
    r == Err(ENOENT)
}

//! Workload (b): random gpa -> host address on the same layout, 1 / 64 / 4096 slots.
//! vm-memory: GuestMemoryMmap::find_region (binary search over Arc<region>s) and
//! GuestMemory::get_host_address (find_region + offset check); hvrt: hvrt_translate (no
//! registration) and hvrt_reader_translate (registered QSBR reader), both through the exported
//! C ABI (~7 ns of call transition included; issue 6's crate may use the inline path).

use crate::ffi::{self, hvrt_translation};
use crate::layout::{self, PAGE};
use crate::report::{Report, Row};
use crate::timing::{median_ns_interleaved, Plan};
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryRegion};

const QUERIES: usize = 1 << 16;

pub fn run(plan: Plan, slot_counts: &[u64], rep: &mut Report) {
    for &n in slot_counts {
        let mem = layout::guest_memory(n);
        let vm = layout::hvrt_vm(&mem);
        let gpas = layout::random_gpas(n, QUERIES, 0x5eed_0000 + n);
        let mut reader = std::ptr::null_mut();
        // SAFETY: vm is live; reader points to a local.
        assert_eq!(unsafe { ffi::hvrt_reader_register(vm.0, &mut reader) }, 0);

        // Both sides must give the same host address for every query before any timing.
        for &gpa in &gpas {
            let want = mem.get_host_address(GuestAddress(gpa)).expect("vm-memory miss") as u64;
            let mut tr = hvrt_translation::default();
            // SAFETY: vm live, tr a local.
            assert_eq!(unsafe { ffi::hvrt_translate(vm.0, 0, gpa / PAGE, &mut tr) }, 0);
            assert_eq!(tr.hva + gpa % PAGE, want, "hvrt_translate hva of gpa {gpa:#x}");
            let mut tr2 = hvrt_translation::default();
            // SAFETY: reader registered and online.
            assert_eq!(unsafe { ffi::hvrt_reader_translate(reader, 0, gpa / PAGE, &mut tr2) }, 0);
            assert_eq!(tr2.hva, tr.hva);
        }

        let ops = gpas.len() as u64;
        let vmp = vm.0;
        // Independent lookups (throughput: the CPU may overlap consecutive searches) ...
        let mut find_region = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(mem.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
            }
            sum
        };
        let mut host_address = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(mem.get_host_address(GuestAddress(gpa)).unwrap() as u64);
            }
            sum
        };
        let mut hvrt_translate = || {
            let mut sum = 0u64;
            let mut tr = hvrt_translation::default();
            for &gpa in &gpas {
                // SAFETY: vm live, tr a local.
                unsafe { ffi::hvrt_translate(vmp, 0, gpa >> 12, &mut tr) };
                sum = sum.wrapping_add(tr.hva + (gpa & (PAGE - 1)));
            }
            sum
        };
        let mut reader_translate = || {
            let mut sum = 0u64;
            let mut tr = hvrt_translation::default();
            for &gpa in &gpas {
                // SAFETY: reader registered and online, used by this thread only.
                unsafe { ffi::hvrt_reader_translate(reader, 0, gpa >> 12, &mut tr) };
                sum = sum.wrapping_add(tr.hva + (gpa & (PAGE - 1)));
            }
            // A quiescent state per round: the reader holds none of these translations.
            // SAFETY: as above.
            unsafe { ffi::hvrt_reader_quiescent(reader) };
            sum
        };
        // ... and dependent ones (latency: each gpa waits for the previous answer, as in a walk
        // of guest page tables or a descriptor chain). `dep` is always 0 (host addresses are
        // below 2^63) but the CPU cannot know that before the lookup is done.
        let mut find_region_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                let r = mem.find_region(GuestAddress(gpa | dep)).unwrap();
                dep = (r.as_ptr() as u64) >> 63;
            }
            dep
        };
        let mut host_address_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                dep = (mem.get_host_address(GuestAddress(gpa | dep)).unwrap() as u64) >> 63;
            }
            dep
        };
        let mut hvrt_translate_dep = || {
            let mut dep = 0u64;
            let mut tr = hvrt_translation::default();
            for &gpa in &gpas {
                // SAFETY: vm live, tr a local.
                unsafe { ffi::hvrt_translate(vmp, 0, (gpa | dep) >> 12, &mut tr) };
                dep = tr.hva >> 63;
            }
            dep
        };
        let mut reader_translate_dep = || {
            let mut dep = 0u64;
            let mut tr = hvrt_translation::default();
            for &gpa in &gpas {
                // SAFETY: reader registered and online, used by this thread only.
                unsafe { ffi::hvrt_reader_translate(reader, 0, (gpa | dep) >> 12, &mut tr) };
                dep = tr.hva >> 63;
            }
            // SAFETY: as above.
            unsafe { ffi::hvrt_reader_quiescent(reader) };
            dep
        };
        let m = median_ns_interleaved(
            plan,
            ops,
            &mut [
                &mut find_region,
                &mut host_address,
                &mut hvrt_translate,
                &mut reader_translate,
                &mut find_region_dep,
                &mut host_address_dep,
                &mut hvrt_translate_dep,
                &mut reader_translate_dep,
            ],
        );
        let (fr, ha, ht, rt) = (m[0], m[1], m[2], m[3]);
        let (frd, had, htd, rtd) = (m[4], m[5], m[6], m[7]);
        let params = format!("{n} slots x 2 MiB, random gpa");
        let dparams = format!("{n} slots x 2 MiB, random gpa, each after the last");
        let row = |w: &str, p: &str, h: &str, hv: f64, b: &str, bv: f64| Row::new(w, p, h, hv, b, bv, "ns/lookup");
        rep.rows.push(row("translate", &params, "hvrt_translate", ht, "find_region", fr));
        rep.rows.push(row("translate", &params, "hvrt_reader_translate", rt, "find_region", fr));
        rep.rows.push(row("gpa->hva", &params, "hvrt_translate", ht, "get_host_address", ha));
        rep.rows.push(row("gpa->hva", &params, "hvrt_reader_translate", rt, "get_host_address", ha));
        rep.rows.push(row("translate, dependent", &dparams, "hvrt_translate", htd, "find_region", frd));
        rep.rows.push(row("translate, dependent", &dparams, "hvrt_reader_translate", rtd, "find_region", frd));
        rep.rows.push(row("gpa->hva, dependent", &dparams, "hvrt_translate", htd, "get_host_address", had));
        rep.rows.push(row("gpa->hva, dependent", &dparams, "hvrt_reader_translate", rtd, "get_host_address", had));
        // SAFETY: registered above, unregistered before the VM goes.
        assert_eq!(unsafe { ffi::hvrt_reader_unregister(reader) }, 0);
        drop(vm);
    }
}

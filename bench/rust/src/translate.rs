//! Workload (b): random gpa -> host address on the same layout, 1 / 64 / 4096 slots.
//! vm-memory: GuestMemoryMmap::find_region (binary search over Arc<region>s) and
//! GuestMemory::get_host_address (find_region + offset check); hvrt: hvrt_translate (no
//! registration) and hvrt_reader_translate (registered QSBR reader), both through the exported
//! C ABI (~7 ns of call transition included; issue 6's crate may use the inline path).

use crate::ffi::{self, hvrt_translation};
use crate::layout::{self, PAGE};
use crate::report::{Report, Row};
use crate::timing::{median_ns, Plan};
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
        let find_region = median_ns(plan, ops, || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(mem.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
            }
            sum
        });
        let host_address = median_ns(plan, ops, || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(mem.get_host_address(GuestAddress(gpa)).unwrap() as u64);
            }
            sum
        });
        let hvrt_translate = median_ns(plan, ops, || {
            let mut sum = 0u64;
            let mut tr = hvrt_translation::default();
            for &gpa in &gpas {
                // SAFETY: vm live, tr a local.
                unsafe { ffi::hvrt_translate(vm.0, 0, gpa >> 12, &mut tr) };
                sum = sum.wrapping_add(tr.hva + (gpa & (PAGE - 1)));
            }
            sum
        });
        let reader_translate = median_ns(plan, ops, || {
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
        });
        // SAFETY: registered above, unregistered before the VM goes.
        assert_eq!(unsafe { ffi::hvrt_reader_unregister(reader) }, 0);

        let params = format!("{n} slots x 2 MiB, random gpa");
        rep.rows.push(Row::new("translate", &params, "hvrt_translate", hvrt_translate, "find_region", find_region, "ns/lookup"));
        rep.rows.push(Row::new("translate", &params, "hvrt_reader_translate", reader_translate, "find_region", find_region, "ns/lookup"));
        rep.rows.push(Row::new("gpa->hva", &params, "hvrt_translate", hvrt_translate, "get_host_address", host_address, "ns/lookup"));
        rep.rows.push(Row::new("gpa->hva", &params, "hvrt_reader_translate", reader_translate, "get_host_address", host_address, "ns/lookup"));
        drop(vm);
    }
}

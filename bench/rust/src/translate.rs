//! Workload (b): random gpa -> host address on the same layout, 1 / 64 / 4096 slots.
//! vm-memory: GuestMemoryMmap::find_region (binary search over Arc<region>s) and
//! GuestMemory::get_host_address (find_region + offset check). hvrt, through its crate:
//! `Vm::translate` (hvrt_translate, no registration) and `Reader::translate`
//! (hvrt_reader_translate), both exported calls (~7 ns of call transition included);
//! `Reader::lookup_inline` (hvrt_inline.h's path in Rust: no call); and the vm-memory bridge
//! `HvrtGuestMemory` (a view taken with `HvrtMemory::memory()`) through the same vm-memory
//! trait calls as the baseline.

use crate::layout::{self, PAGE};
use crate::report::{Report, Row};
use crate::timing::{median_ns_interleaved, Plan};
use hvrt::{slot_hva, Reader};
use vm_memory::{GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryRegion};

const QUERIES: usize = 1 << 16;

pub fn run(plan: Plan, slot_counts: &[u64], rep: &mut Report) {
    for &n in slot_counts {
        let mem = layout::guest_memory(n);
        let vm = layout::hvrt_vm(&mem);
        // SAFETY: mem (every slot's memory) is dropped after the bridge and its view (below).
        let bridge = unsafe { layout::bridge(&vm) };
        let view = bridge.memory();
        let gpas = layout::random_gpas(n, QUERIES, 0x5eed_0000 + n);
        let mut reader = Reader::new(&*vm).expect("reader");
        let mut inline_reader = Reader::new(&*vm).expect("reader");
        // The design the bridge rejected: a reader taken online and offline around each lookup.
        let mut toggled = Reader::new(&*vm).expect("reader");
        toggled.offline().unwrap();

        // Every path must give the same host address for every query before any timing.
        for &gpa in &gpas {
            let want = mem.get_host_address(GuestAddress(gpa)).expect("vm-memory miss") as u64;
            let t = vm.translate(0, gpa / PAGE).expect("hvrt_translate");
            assert_eq!(t.hva() + gpa % PAGE, want, "hvrt_translate hva of gpa {gpa:#x}");
            assert_eq!(reader.translate(0, gpa / PAGE).expect("hvrt_reader_translate").hva(), t.hva());
            let e = inline_reader.lookup_inline(0, gpa / PAGE).expect("lookup_inline");
            assert_eq!(slot_hva(e, gpa / PAGE), t.hva());
            assert_eq!(view.get_host_address(GuestAddress(gpa)).expect("bridge miss") as u64, want);
            let (a, b) = (view.find_region(GuestAddress(gpa)).unwrap(), mem.find_region(GuestAddress(gpa)).unwrap());
            assert_eq!((a.start_addr(), a.len()), (b.start_addr(), b.len()));
        }
        inline_reader.quiescent().unwrap();

        let ops = gpas.len() as u64;
        let vmr = &*vm;
        let v = &*view;
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
            for &gpa in &gpas {
                let t = vmr.translate(0, gpa >> 12).map_or(0, |t| t.hva());
                sum = sum.wrapping_add(t + (gpa & (PAGE - 1)));
            }
            sum
        };
        let mut reader_translate = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                let t = reader.translate(0, gpa >> 12).map_or(0, |t| t.hva());
                sum = sum.wrapping_add(t + (gpa & (PAGE - 1)));
            }
            // A quiescent state per round: the reader holds none of these translations.
            reader.quiescent().unwrap();
            sum
        };
        let mut inline = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                let gfn = gpa >> 12;
                let h = inline_reader.lookup_inline(0, gfn).map_or(0, |e| slot_hva(e, gfn));
                sum = sum.wrapping_add(h + (gpa & (PAGE - 1)));
            }
            inline_reader.quiescent().unwrap();
            sum
        };
        let mut toggle = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                let gfn = gpa >> 12;
                toggled.online().unwrap();
                let h = toggled.lookup_inline(0, gfn).map_or(0, |e| slot_hva(e, gfn));
                toggled.offline().unwrap();
                sum = sum.wrapping_add(h + (gpa & (PAGE - 1)));
            }
            sum
        };
        let mut bridge_find = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(v.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
            }
            sum
        };
        let mut bridge_host = || {
            let mut sum = 0u64;
            for &gpa in &gpas {
                sum = sum.wrapping_add(v.get_host_address(GuestAddress(gpa)).unwrap() as u64);
            }
            sum
        };
        let m = median_ns_interleaved(
            plan,
            ops,
            &mut [
                &mut find_region,
                &mut host_address,
                &mut hvrt_translate,
                &mut reader_translate,
                &mut inline,
                &mut bridge_find,
                &mut bridge_host,
                &mut toggle,
            ],
        );
        let (fr, ha, ht, rt, il, bf, bh, tg) = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);

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
            for &gpa in &gpas {
                dep = vmr.translate(0, (gpa | dep) >> 12).map_or(1, |t| t.hva() >> 63);
            }
            dep
        };
        let mut reader_translate_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                dep = reader.translate(0, (gpa | dep) >> 12).map_or(1, |t| t.hva() >> 63);
            }
            reader.quiescent().unwrap();
            dep
        };
        let mut inline_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                let gfn = (gpa | dep) >> 12;
                dep = inline_reader.lookup_inline(0, gfn).map_or(1, |e| slot_hva(e, gfn) >> 63);
            }
            inline_reader.quiescent().unwrap();
            dep
        };
        let mut bridge_find_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                let r = v.find_region(GuestAddress(gpa | dep)).unwrap();
                dep = (r.host_base() as u64) >> 63;
            }
            dep
        };
        let mut bridge_host_dep = || {
            let mut dep = 0u64;
            for &gpa in &gpas {
                dep = (v.get_host_address(GuestAddress(gpa | dep)).unwrap() as u64) >> 63;
            }
            dep
        };
        let d = median_ns_interleaved(
            plan,
            ops,
            &mut [
                &mut find_region_dep,
                &mut host_address_dep,
                &mut hvrt_translate_dep,
                &mut reader_translate_dep,
                &mut inline_dep,
                &mut bridge_find_dep,
                &mut bridge_host_dep,
            ],
        );
        let (frd, had, htd, rtd, ild, bfd, bhd) = (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);

        let params = format!("{n} slots x 2 MiB, random gpa");
        let dparams = format!("{n} slots x 2 MiB, random gpa, each after the last");
        let row = |w: &str, p: &str, h: &str, hv: f64, b: &str, bv: f64| Row::new(w, p, h, hv, b, bv, "ns/lookup");
        for (w, p, f, h, t, r, i, bfv, bhv) in [
            ("translate", &params, fr, ha, ht, rt, il, bf, bh),
            ("translate, dependent", &dparams, frd, had, htd, rtd, ild, bfd, bhd),
        ] {
            let wh = if w == "translate" { "gpa->hva".to_string() } else { "gpa->hva, dependent".to_string() };
            rep.rows.push(row(w, p, "Vm::translate (hvrt_translate)", t, "find_region", f));
            rep.rows.push(row(w, p, "Reader::translate (hvrt_reader_translate)", r, "find_region", f));
            rep.rows.push(row(w, p, "Reader::lookup_inline (inline path)", i, "find_region", f));
            rep.rows.push(row(w, p, "bridge HvrtGuestMemory::find_region", bfv, "find_region", f));
            rep.rows.push(row(&wh, p, "Vm::translate (hvrt_translate)", t, "get_host_address", h));
            rep.rows.push(row(&wh, p, "Reader::lookup_inline + slot_hva", i, "get_host_address", h));
            rep.rows.push(row(&wh, p, "bridge get_host_address", bhv, "get_host_address", h));
        }
        rep.rows.push(row("gpa->hva", &params, "online + lookup_inline + offline per lookup (rejected)", tg, "get_host_address", ha));
        drop(reader);
        drop(inline_reader);
        drop(toggled);
        drop(view);
        drop(bridge);
        drop(vm);
        drop(mem);
    }
}

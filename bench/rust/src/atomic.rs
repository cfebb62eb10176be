//! Workload (c): readers looking up random gpas while a writer changes the slot set every
//! 100 µs (alternately adds and removes one 2 MiB region/slot past the others).
//! vm-memory: each lookup is `mem.memory().find_region(gpa)` on a GuestMemoryAtomic (an
//! arc-swap load guard per lookup, as a device model takes one per request); the writer takes
//! `lock()`, builds the next GuestMemoryMmap with insert_region/remove_region and `replace`s it.
//! hvrt, through its crate: a registered reader (`Reader::translate` = hvrt_reader_translate,
//! and `Reader::lookup_inline`, the inline path; quiescent every QUIESCE lookups),
//! unregistered `Vm::translate` (hvrt_translate), and the vm-memory bridge
//! (`HvrtMemory::memory().find_region(gpa)`, the same trait calls as the baseline); the writer
//! calls hvrt_set_user_memory_region (create / delete), which returns after the grace period,
//! and for the bridge then `HvrtMemory::refresh`. Reported: reader ns/lookup with and without
//! the writer.

use crate::layout::{self, REGION_SIZE};
use hvrt::{slot_hva, Reader};
use std::cell::RefCell;
use crate::report::{Report, Row};
use crate::timing::{black_box, median, Plan};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vm_memory::{GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryAtomic, GuestMemoryRegion};

const QUERIES: usize = 1 << 14;
const BATCH: usize = 1024;
/// Lookups between a registered reader's quiescent states: as bench/native/translate_bench.c.
const QUIESCE: usize = 256;
const WRITER_PERIOD: Duration = Duration::from_micros(100);

/// Timer slack 1 ns for this thread, so a 100 µs sleep is not stretched by the default 50 µs.
fn tight_timer_slack() {
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Calls `change` every WRITER_PERIOD (absolute deadlines) until stop; returns how long each
/// change took, in µs.
fn writer_loop(stop: &AtomicBool, mut change: impl FnMut(u64)) -> Vec<f64> {
    tight_timer_slack();
    let mut took = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        change(k);
        took.push(t.elapsed().as_nanos() as f64 / 1000.0);
        k += 1;
        let next = start + WRITER_PERIOD * k as u32;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    took
}

/// Runs `reader` (which does one batch of lookups and returns how many) for `dur` on this
/// thread while `writer` runs on another; returns reader ns/lookup and the writer's changes/s.
/// `idle(true)` runs when the reader stops and `idle(false)` after the writer has been joined:
/// a registered hvrt reader goes offline there, or the writer's grace period would wait for it
/// (it no longer quiesces) while it waits for the writer.
fn run_pair<R, W>(dur: Duration, with_writer: bool, mut reader: R, writer: W, idle: &dyn Fn(bool)) -> (f64, f64, Vec<f64>)
where
    R: FnMut() -> u64,
    W: FnOnce(&AtomicBool) -> Vec<f64> + Send,
{
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let w = if with_writer { Some(s.spawn(|| writer(&stop))) } else { None };
        let t = Instant::now();
        let mut lookups = 0u64;
        while t.elapsed() < dur {
            lookups += reader();
        }
        let ns = t.elapsed().as_nanos() as f64 / lookups as f64;
        let secs = t.elapsed().as_secs_f64();
        idle(true);
        stop.store(true, Ordering::Relaxed);
        let took = w.map(|h| h.join().unwrap()).unwrap_or_default();
        idle(false);
        (ns, took.len() as f64 / secs, took)
    })
}

struct Side {
    quiet: f64,
    busy: f64,
    rate: f64,
    /// Median and 99th percentile of one change, µs.
    change_med: f64,
    change_p99: f64,
    change_mean: f64,
}

/// Median over rounds of (quiet, busy) pairs, each round `dur` long per phase.
fn measure<R, W>(plan: Plan, dur: Duration, mut reader: R, writer: W, idle: &dyn Fn(bool)) -> Side
where
    R: FnMut() -> u64,
    W: Fn(&AtomicBool) -> Vec<f64> + Sync,
{
    let (mut quiet, mut busy, mut rate, mut took) = (vec![], vec![], vec![], vec![]);
    for i in 0..plan.warmup.min(1) + plan.rounds {
        let q = run_pair(dur, false, &mut reader, |s: &AtomicBool| writer(s), idle).0;
        let (b, r, t) = run_pair(dur, true, &mut reader, |s: &AtomicBool| writer(s), idle);
        if i >= plan.warmup.min(1) {
            quiet.push(q);
            busy.push(b);
            rate.push(r);
            took.extend(t);
        }
    }
    took.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p99 = took.get(took.len() * 99 / 100).copied().unwrap_or(f64::NAN);
    let mean = took.iter().sum::<f64>() / took.len() as f64;
    Side {
        quiet: median(&mut quiet),
        busy: median(&mut busy),
        rate: median(&mut rate),
        change_med: median(&mut took),
        change_p99: p99,
        change_mean: mean,
    }
}

pub fn run(plan: Plan, n: u64, dur: Duration, rep: &mut Report) {
    let gpas = layout::random_gpas(n, QUERIES, 0xa70_0000 + n);
    let extra_gpa = layout::region_gpa(n);

    // vm-memory
    let mem = layout::guest_memory(n);
    let extra = Arc::new(layout::extra_region(n));
    let gm = GuestMemoryAtomic::new(mem.clone());
    let mut at = 0usize;
    let vmm = measure(
        plan,
        dur,
        || {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let gpa = gpas[at];
                at = (at + 1) % gpas.len();
                let m = gm.memory();
                sum = sum.wrapping_add(m.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
            }
            black_box(sum);
            BATCH as u64
        },
        |stop| {
            writer_loop(stop, |_| {
                let guard = gm.lock().unwrap();
                let cur = gm.memory();
                let next = if cur.num_regions() as u64 > n {
                    cur.remove_region(GuestAddress(extra_gpa), REGION_SIZE).unwrap().0
                } else {
                    cur.insert_region(extra.clone()).unwrap()
                };
                drop(cur);
                guard.replace(next);
            })
        },
        &|_| {},
    );
    // Leave the set as it started (an odd number of changes added the region).
    if gm.memory().num_regions() as u64 > n {
        let guard = gm.lock().unwrap();
        let next = gm.memory().remove_region(GuestAddress(extra_gpa), REGION_SIZE).unwrap().0;
        guard.replace(next);
    }

    // hvrt, same host memory, through the crate
    let vm = layout::hvrt_vm(&mem);
    let extra_hva = extra.as_ptr() as u64;
    let present = AtomicU64::new(0);
    let change = || {
        let size = if present.load(Ordering::Relaxed) == 0 { REGION_SIZE } else { 0 };
        // SAFETY: vm-memory's extra region, alive until the end of this function.
        unsafe { layout::set_region(&vm, n as u32, extra_gpa, size, extra_hva) };
        present.store((size != 0) as u64, Ordering::Relaxed);
    };
    let hvrt_writer = |stop: &AtomicBool| writer_loop(stop, |_| change());
    // The registered readers live in a RefCell: the batch closure uses them, and so does the
    // idle hook that takes them offline while the writer is joined.
    let reader = RefCell::new(Reader::new(&*vm).expect("reader"));
    let offline_when_idle = |stopping: bool| {
        let mut r = reader.borrow_mut();
        if stopping { r.offline() } else { r.online() }.expect("reader offline/online");
    };
    let mut at = 0usize;
    let reg = measure(
        plan,
        dur,
        || {
            let mut r = reader.borrow_mut();
            let mut sum = 0u64;
            for i in 0..BATCH {
                let gpa = gpas[at];
                at = (at + 1) % gpas.len();
                sum = sum.wrapping_add(r.translate(0, gpa >> 12).map_or(0, |t| t.hva()));
                if i % QUIESCE == QUIESCE - 1 {
                    // No translation is held past this point.
                    r.quiescent().unwrap();
                }
            }
            black_box(sum);
            BATCH as u64
        },
        hvrt_writer,
        &offline_when_idle,
    );
    let mut at = 0usize;
    let inline = measure(
        plan,
        dur,
        || {
            let mut r = reader.borrow_mut();
            let mut sum = 0u64;
            for i in 0..BATCH {
                let gpa = gpas[at];
                at = (at + 1) % gpas.len();
                let gfn = gpa >> 12;
                sum = sum.wrapping_add(r.lookup_inline(0, gfn).map_or(0, |e| slot_hva(e, gfn)));
                if i % QUIESCE == QUIESCE - 1 {
                    r.quiescent().unwrap();
                }
            }
            black_box(sum);
            BATCH as u64
        },
        hvrt_writer,
        &offline_when_idle,
    );
    drop(reader);
    let mut at = 0usize;
    let unreg = measure(
        plan,
        dur,
        || {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let gpa = gpas[at];
                at = (at + 1) % gpas.len();
                sum = sum.wrapping_add(vm.translate(0, gpa >> 12).map_or(0, |t| t.hva()));
            }
            black_box(sum);
            BATCH as u64
        },
        hvrt_writer,
        &|_| {},
    );
    // The bridge: a view per lookup (memory(), as the GuestMemoryAtomic side takes a guard per
    // lookup); the writer changes the slot on the Vm and then publishes with refresh(), as a
    // GuestMemoryAtomic writer replace()s. Live check off (memory() is an arc-swap load, as
    // GuestMemoryAtomic's), then on (memory() also asks hvrt for the live generation).
    // SAFETY: every slot's memory (mem, extra) outlives the bridge, dropped below.
    let bridge = unsafe { layout::bridge(&vm) };
    let bridge_writer = |stop: &AtomicBool| {
        writer_loop(stop, |_| {
            change();
            bridge.refresh().expect("refresh");
        })
    };
    let view_per_lookup = |at: &mut usize| {
        let mut sum = 0u64;
        for _ in 0..BATCH {
            let gpa = gpas[*at];
            *at = (*at + 1) % gpas.len();
            let m = bridge.memory();
            sum = sum.wrapping_add(m.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
        }
        black_box(sum);
        BATCH as u64
    };
    bridge.set_live_check(false);
    let mut at = 0usize;
    let bridged = measure(plan, dur, || view_per_lookup(&mut at), bridge_writer, &|_| {});
    bridge.set_live_check(true);
    let mut at = 0usize;
    let checked = measure(plan, dur, || view_per_lookup(&mut at), bridge_writer, &|_| {});
    bridge.set_live_check(false);
    // A view per batch of lookups (a device taking memory() once per request).
    let mut at = 0usize;
    let per_batch = measure(
        plan,
        dur,
        || {
            let m = bridge.memory();
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let gpa = gpas[at];
                at = (at + 1) % gpas.len();
                sum = sum.wrapping_add(m.find_region(GuestAddress(gpa)).unwrap().start_addr().0);
            }
            black_box(sum);
            BATCH as u64
        },
        bridge_writer,
        &|_| {},
    );
    drop(bridge);
    drop(vm);

    let p = format!("{n} slots, 1 reader, writer every 100 us");
    let pq = format!("{n} slots, 1 reader, no writer");
    let base = "memory().find_region";
    for (w, params, pick) in [("reader under writer", &p, true), ("reader, quiet", &pq, false)] {
        let v = |s: &Side| if pick { s.busy } else { s.quiet };
        let mut row = |label: &str, s: &Side| rep.rows.push(Row::new(w, params, label, v(s), base, v(&vmm), "ns/lookup"));
        row("bridge memory().find_region", &bridged);
        row("bridge memory().find_region, live check on", &checked);
        row("Reader::lookup_inline (inline path)", &inline);
        row("Reader::translate (hvrt_reader_translate)", &reg);
        row("Vm::translate (hvrt_translate)", &unreg);
    }
    rep.rows.push(Row::new("reader under writer", &p, "bridge memory() per 1024 lookups", per_batch.busy, base, vmm.busy, "ns/lookup"));
    rep.rows.push(Row::new("reader, quiet", &pq, "bridge memory() per 1024 lookups", per_batch.quiet, base, vmm.quiet, "ns/lookup"));
    let w = |name: &str, s: &Side| {
        format!(
            "{name} {:.0}/s, a change {:.1} us median, {:.1} us mean, {:.1} us p99",
            s.rate, s.change_med, s.change_mean, s.change_p99
        )
    };
    rep.notes.push(format!(
        "writer ({n} slots, a change asked every 100 us = 10,000/s): {}; {}; {}; {}",
        w("vm-memory lock + insert/remove_region + replace", &vmm),
        w("hvrt_set_user_memory_region with a registered reader", &reg),
        w("the same with a Reader::lookup_inline reader", &inline),
        w("hvrt_set_user_memory_region with hvrt_translate readers", &unreg)
    ));
    rep.notes.push(format!(
        "writer ({n} slots) with bridge readers: {}",
        w("hvrt_set_user_memory_region + HvrtMemory::refresh (view rebuild)", &bridged)
    ));
}

//! hvrt-bench-rs: hvrt against rust-vmm's vm-memory (Debian's librust-vm-memory-dev 0.10),
//! both measured in this one process, medians of repeated rounds.
//!
//! Run it with `./build.sh bench rust [ARGS]` (builds libhvrt.so, then this crate in release
//! mode, offline, against /usr/share/cargo/registry through the repository's
//! .cargo/config.toml). By hand: `cargo run --release -- ARGS` in
//! bench/rust after ./build.sh; the binary finds libhvrt.so through its rpath (out/lib, or
//! HVRT_LIB_DIR at build time), or set LD_LIBRARY_PATH.
//!
//! ARGS:
//!   --quick            fewer rounds and shorter phases (smoke run, a few seconds)
//!   --only NAME        dirty | translate | atomic (repeatable; default: all built in)
//!   --rounds N         timed rounds per measurement (default 21; quick 5)
//!   --atomic-slots N[,N...]  slot counts for the reader-under-writer workload (default 64,4096)
//!   --translate-slots N[,N...]  slot counts for the translate workload (default 1,64,4096)
//! HVRT_BENCH_RESULTS=1 also prints RESULT rows for bench/collect.py (bench/README.md).
//!
//! Workloads (one module each):
//!   dirty      (a) dirty-log get-and-clear, 64 GiB slot, 0.1/1/10% dirty
//!   translate  (b) random gpa lookups, 1/64/4096 slots of 2 MiB with holes: vm-memory's
//!              GuestMemoryMmap against hvrt through its crate (exported calls, the inline
//!              path, and the vm-memory bridge HvrtGuestMemory)
//!   atomic     (c) readers while a writer changes the slot set every 100 us: GuestMemoryAtomic
//!              against hvrt's readers and the bridge's HvrtMemory::memory()
//! hvrt is reached only through the `hvrt` crate (native/rust/hvrt), as a Rust VMM would.
//! Output: a Markdown table (ratio = vm-memory / hvrt: above 1 means hvrt is faster) and notes.

mod atomic;
mod dirty;
mod layout;
mod report;
mod timing;
mod translate;

use std::time::Duration;
use timing::Plan;

fn usage() -> ! {
    eprintln!("usage: hvrt-bench-rs [--quick] [--only dirty|translate|atomic]... [--rounds N] [--atomic-slots N[,N...]] [--translate-slots N[,N...]]");
    std::process::exit(2)
}

fn main() {
    // The crate's Vm::new refuses a library of another ABI too; say so before any workload.
    assert_eq!(hvrt::abi_version(), hvrt::sys::HVRT_ABI_VERSION, "libhvrt.so's ABI differs from the hvrt crate's");
    let mut quick = false;
    let mut only: Vec<String> = vec![];
    let mut rounds: Option<usize> = None;
    let mut atomic_slots: Vec<u64> = vec![64, 4096];
    let mut translate_slots: Vec<u64> = vec![1, 64, 4096];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => only.push(args.next().unwrap_or_else(|| usage())),
            "--rounds" => rounds = Some(args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())),
            "--atomic-slots" => {
                let v = args.next().unwrap_or_else(|| usage());
                atomic_slots = v.split(',').map(|n| n.parse().unwrap_or_else(|_| usage())).collect();
            }
            "--translate-slots" => {
                let v = args.next().unwrap_or_else(|| usage());
                translate_slots = v.split(',').map(|n| n.parse().unwrap_or_else(|_| usage())).collect();
            }
            _ => usage(),
        }
    }
    for o in &only {
        if !["dirty", "translate", "atomic"].contains(&o.as_str()) {
            usage();
        }
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let plan = Plan {
        warmup: if quick { 1 } else { 3 },
        rounds: rounds.unwrap_or(if quick { 5 } else { 21 }),
    };
    let phase = Duration::from_millis(if quick { 100 } else { 300 });
    let mut rep = report::Report::default();

    if wanted("dirty") {
        eprintln!("hvrt-bench-rs: dirty log (64 GiB slot)");
        dirty::run(plan, &[0.001, 0.01, 0.1], &mut rep);
    }
    if wanted("translate") {
        eprintln!("hvrt-bench-rs: translate ({translate_slots:?} slots)");
        translate::run(plan, &translate_slots, &mut rep);
    }
    if wanted("atomic") {
        // Each round is a quiet and a busy phase per side; fewer rounds keep it short.
        let p = Plan { warmup: 1, rounds: (plan.rounds / 3).max(3) };
        for &n in &atomic_slots {
            eprintln!("hvrt-bench-rs: reader under writer ({n} slots)");
            atomic::run(p, n, phase, &mut rep);
        }
    }
    report::print(&rep);
}

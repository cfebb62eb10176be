//! The harness's only timing tool: warm-up rounds, then N timed rounds, median per operation.
//! No criterion (not in Debian's registry here); the median keeps a noisy shared host's
//! outliers out, and both sides of a comparison are measured by the same code in one process.

use std::time::Instant;

/// Keeps `x` alive as far as the optimizer knows (std::hint::black_box needs rustc 1.66).
#[inline(always)]
pub fn black_box(x: u64) -> u64 {
    // SAFETY: a volatile read of a local.
    unsafe { std::ptr::read_volatile(&x) }
}

/// Rounds and warm-up used by every workload (quick mode: fewer rounds).
#[derive(Clone, Copy)]
pub struct Plan {
    pub warmup: usize,
    pub rounds: usize,
}

/// Median ns per operation for several paths, one round doing `ops` operations, after
/// `plan.warmup` untimed rounds; the rounds are interleaved (round 1 of every path, then
/// round 2, ...) so that drift on a shared host hits them alike. One median per path.
pub fn median_ns_interleaved(plan: Plan, ops: u64, paths: &mut [&mut dyn FnMut() -> u64]) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(plan.rounds); paths.len()];
    for i in 0..plan.warmup + plan.rounds.max(1) {
        for (k, path) in paths.iter_mut().enumerate() {
            let t = Instant::now();
            black_box(path());
            if i >= plan.warmup {
                samples[k].push(t.elapsed().as_nanos() as f64 / ops as f64);
            }
        }
    }
    samples.iter_mut().map(|s| median(s)).collect()
}

/// One path like median_ns_interleaved, but `round` is given a setup that is not timed: `setup` runs before each
/// round (warm-up included) and its result is handed to `timed`.
pub fn median_ns_with_setup<S, T, F>(plan: Plan, ops: u64, mut setup: S, mut timed: F) -> f64
where
    S: FnMut() -> T,
    F: FnMut(T) -> u64,
{
    let mut samples = Vec::with_capacity(plan.rounds);
    for i in 0..plan.warmup + plan.rounds.max(1) {
        let input = setup();
        let t = Instant::now();
        black_box(timed(input));
        let ns = t.elapsed().as_nanos() as f64 / ops as f64;
        if i >= plan.warmup {
            samples.push(ns);
        }
    }
    median(&mut samples)
}

pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// xorshift64 (Marsaglia): fixed seeds give both sides the same "random" gfns, run after run.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in [0, n) for a benchmark's addresses (n far below 2^32).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

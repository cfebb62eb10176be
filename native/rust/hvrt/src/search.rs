//! The search step of hvrt_inline.h, shared by the inline lookup and the vm-memory bridge.

/// Index of the last key <= x among keys[0..n) (sorted), or 0 when there is none:
/// hvrt_inline.h's loop, whose number of iterations depends on n only, so random addresses cost
/// no branch mispredictions — provided the step is a conditional move. Written as `if k <= x`
/// (or with a mask), LLVM's x86 cmov-to-branch conversion turned it into a branch (measured: 25 ns
/// per random lookup at 64 regions against 7 ns for the branch-free std binary search vm-memory
/// uses; 32 / 61 ns at 64 / 4096 slots for the inline lookup), hence the one-instruction `asm!`
/// on x86-64.
///
/// # Safety
/// `keys` points to `n` readable, initialized u64s.
#[inline(always)]
pub(crate) unsafe fn last_at_most(keys: *const u64, mut n: usize, x: u64) -> usize {
    let mut lo = 0usize;
    while n > 1 {
        let half = n >> 1;
        // SAFETY: lo + half < lo + n <= the caller's n: lo gains at most half when n loses half.
        let k = unsafe { *keys.add(lo + half) };
        lo = select_le(k, x, lo + half, lo);
        n -= half;
    }
    lo
}

/// `if k <= x { a } else { b }` as a conditional move.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn select_le(k: u64, x: u64, a: usize, b: usize) -> usize {
    let mut r = b;
    // SAFETY: register-only compare and cmov; touches no memory and no stack.
    unsafe {
        core::arch::asm!(
            "cmp {k}, {x}",
            "cmovbe {r}, {a}",
            k = in(reg) k,
            x = in(reg) x,
            a = in(reg) a,
            r = inout(reg) r,
            options(pure, nomem, nostack)
        );
    }
    r
}

/// `if k <= x { a } else { b }` (other architectures: whatever the compiler makes of it).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn select_le(k: u64, x: u64, a: usize, b: usize) -> usize {
    if k <= x {
        a
    } else {
        b
    }
}

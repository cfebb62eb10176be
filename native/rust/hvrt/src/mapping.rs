//! `Mapping`: host memory mapped with mmap and unmapped on drop — the backing a VMM gives its
//! slots (anonymous memory, or a shared file such as a memfd or a guest_memfd with MMAP).

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

/// An mmap'ed host range, unmapped on drop. Give it to a slot (as `userspace_addr`) only while
/// it lives: delete the slot before dropping the mapping.
#[derive(Debug)]
pub struct Mapping {
    addr: *mut u8,
    len: usize,
}

// SAFETY: a mapping is plain process memory; the handle only records its range.
unsafe impl Send for Mapping {}
// SAFETY: &Mapping only exposes the range, never a reference into it.
unsafe impl Sync for Mapping {}

fn last_error() -> Error {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
    Error::from_code(-errno)
}

impl Mapping {
    /// `len` bytes of private anonymous memory (MAP_NORESERVE: pages cost nothing until
    /// touched). Errors: mmap's errno (`EINVAL` for len 0, `ENOMEM`).
    pub fn anonymous(len: usize) -> Result<Mapping> {
        // SAFETY: a fresh anonymous mapping, aliasing nothing.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_error());
        }
        Ok(Mapping { addr: p.cast(), len })
    }

    /// `len` bytes of `fd` from `offset`, MAP_SHARED, read-write (a memfd, a guest_memfd with
    /// GUEST_MEMFD_FLAG_MMAP, a file). Errors: mmap's errno.
    pub fn shared(fd: BorrowedFd<'_>, len: usize, offset: u64) -> Result<Mapping> {
        // SAFETY: a fresh shared mapping of the caller's fd; the kernel checks access.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_error());
        }
        Ok(Mapping { addr: p.cast(), len })
    }

    /// Takes ownership of an existing mapping (e.g. the one `hvrt_create_guest_memfd` made).
    ///
    /// # Safety
    /// `[addr, addr + len)` is one mapping made with mmap that nothing else unmaps.
    pub unsafe fn from_raw(addr: *mut u8, len: usize) -> Mapping {
        Mapping { addr, len }
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr
    }

    /// The first byte as a `userspace_addr`.
    pub fn addr(&self) -> u64 {
        self.addr as u64
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: mmap refuses 0 bytes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is this mapping's own (constructors); nothing else unmaps it. An
        // error cannot happen for a range mmap returned.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}

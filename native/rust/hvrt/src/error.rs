//! `Error`: a negative code from hvrt (a Linux errno, or hvrt's own `HVRT_EINTERNAL`), named and
//! explained by the library itself (hvrt_errname / hvrt_strerror).

use crate::sys;
use std::ffi::CStr;
use std::fmt;

/// An hvrt error: the negative code a call returned (`-libc::EINVAL`, ...). Each call's
/// meaning of a code is in hvrt.h's comment of that call.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    code: i32,
}

/// `Result<T, hvrt::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// `HVRT_EPERM`: a reader call on an offline reader.
    pub const EPERM: Error = Error { code: sys::HVRT_EPERM };
    /// `HVRT_ENOENT`: no slot holds the gfn (or no such listener).
    pub const ENOENT: Error = Error { code: sys::HVRT_ENOENT };
    /// `HVRT_E2BIG`: config struct too large or with unknown non-zero fields.
    pub const E2BIG: Error = Error { code: sys::HVRT_E2BIG };
    /// `HVRT_EBADF`: not a live VM or reader, or an fd that is not open.
    pub const EBADF: Error = Error { code: sys::HVRT_EBADF };
    /// `HVRT_ENOMEM`: out of memory.
    pub const ENOMEM: Error = Error { code: sys::HVRT_ENOMEM };
    /// `HVRT_EACCES`: a discard was refused.
    pub const EACCES: Error = Error { code: sys::HVRT_EACCES };
    /// `HVRT_EFAULT`: NULL pointer argument (or an unresolvable memory fault).
    pub const EFAULT: Error = Error { code: sys::HVRT_EFAULT };
    /// `HVRT_EEXIST`: an overlapping slot, or a listener added twice.
    pub const EEXIST: Error = Error { code: sys::HVRT_EEXIST };
    /// `HVRT_EINVAL`: invalid argument (as KVM would refuse it).
    pub const EINVAL: Error = Error { code: sys::HVRT_EINVAL };
    /// `HVRT_EMFILE`: the private fd could not be duplicated.
    pub const EMFILE: Error = Error { code: sys::HVRT_EMFILE };
    /// `HVRT_EDEADLK`: a change of the VM from inside its own conversion listener.
    pub const EDEADLK: Error = Error { code: sys::HVRT_EDEADLK };
    /// `HVRT_EBUSY`: already bound, readers still registered, or (debug mode) a reader in use by another thread.
    pub const EBUSY: Error = Error { code: sys::HVRT_EBUSY };
    /// `HVRT_ENODEV`: not supported by this KVM, or not bound.
    pub const ENODEV: Error = Error { code: sys::HVRT_ENODEV };
    /// `HVRT_ENOTTY`: not a KVM VM fd.
    pub const ENOTTY: Error = Error { code: sys::HVRT_ENOTTY };
    /// `HVRT_EINTERNAL`: an internal failure hvrt caught (a bug).
    pub const EINTERNAL: Error = Error { code: sys::HVRT_EINTERNAL };

    /// The error of a negative code (`-libc::EINVAL`, `HVRT_EINTERNAL`, ...). A non-negative
    /// `code` (not an error) gives `HVRT_EINTERNAL`.
    pub fn from_code(code: i32) -> Error {
        Error { code: if code < 0 { code } else { sys::HVRT_EINTERNAL } }
    }

    /// The negative code (`-22` for EINVAL).
    pub fn code(self) -> i32 {
        self.code
    }

    /// The positive errno (`libc::EINVAL`) when the code is a Linux errno, else `None`
    /// (`HVRT_EINTERNAL`).
    pub fn errno(self) -> Option<i32> {
        // Linux errno values are small (EHWPOISON is 133); hvrt's own codes start at
        // HVRT_EINTERNAL (-4000), "outside the errno range".
        if (sys::HVRT_EINTERNAL + 1..0).contains(&self.code) {
            Some(-self.code)
        } else {
            None
        }
    }

    /// The code's name from hvrt ("EINVAL"), or "UNKNOWN".
    pub fn name(self) -> &'static str {
        // SAFETY: hvrt_errname returns a static NUL-terminated string for any code.
        unsafe { static_str(sys::hvrt_errname(self.code)) }
    }

    /// hvrt's text for the code ("unknown error" for a code it does not list).
    pub fn text(self) -> &'static str {
        // SAFETY: hvrt_strerror returns a static NUL-terminated string for any code.
        unsafe { static_str(sys::hvrt_strerror(self.code)) }
    }

    /// `Ok(rc)` for a non-negative return value, else the error.
    pub(crate) fn check(rc: i32) -> Result<i32> {
        if rc >= 0 {
            Ok(rc)
        } else {
            Err(Error { code: rc })
        }
    }

    /// `check` for the calls that return 0 or -errno.
    pub(crate) fn check0(rc: i32) -> Result<()> {
        Error::check(rc).map(|_| ())
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for the whole program.
unsafe fn static_str(p: *const core::ffi::c_char) -> &'static str {
    if p.is_null() {
        return "UNKNOWN";
    }
    // SAFETY: per the caller, p is a static NUL-terminated string; hvrt's texts are ASCII.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("UNKNOWN")
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({} {})", self.name(), self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.code, self.text())
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// A Linux errno becomes `from_raw_os_error` (so `kind()` works); hvrt's own codes become
    /// `ErrorKind::Other` carrying the `Error`.
    fn from(e: Error) -> std::io::Error {
        match e.errno() {
            Some(errno) => std::io::Error::from_raw_os_error(errno),
            None => std::io::Error::other(e),
        }
    }
}

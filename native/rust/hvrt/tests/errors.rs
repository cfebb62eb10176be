//! hvrt_errname / hvrt_strerror agree with the crate's errno table (native/tests/errors_test.c:
//! HVRT_ERRNO_MAP is the header's single list; sys::HVRT_ERRNO_MAP mirrors it).
mod common;
use common::*;
use std::ffi::CStr;

fn errname(code: i32) -> String {
    // SAFETY: hvrt_errname returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(hvrt_errname(code)) }.to_str().unwrap().to_owned()
}

fn strerror(code: i32) -> String {
    // SAFETY: hvrt_strerror returns a static NUL-terminated string (never NULL) for any code.
    unsafe { CStr::from_ptr(hvrt_strerror(code)) }.to_str().unwrap().to_owned()
}

#[test]
fn every_entry_of_the_map_matches_the_library() {
    // The C test checks 23 entries (OK .. EINTERNAL); the table must have them all.
    assert_eq!(HVRT_ERRNO_MAP.len(), 23);
    for &(name, code, text) in HVRT_ERRNO_MAP {
        assert_eq!(errname(code), name, "hvrt_errname({code})");
        assert_eq!(strerror(code), text, "hvrt_strerror({code})");
        // The safe layer names and explains an error the same way.
        if code < 0 {
            let e = Error::from_code(code);
            assert_eq!(e.name(), name);
            assert_eq!(e.text(), text);
        }
    }
}

#[test]
fn values_and_unknown_codes() {
    assert_eq!(HVRT_EINVAL, -22);
    assert_eq!(HVRT_EINTERNAL, -4000);
    assert_eq!(errname(-12345), "UNKNOWN");
    assert_eq!(strerror(1), "unknown error");
    // SAFETY: as strerror; only the pointer is checked.
    assert!(!unsafe { hvrt_strerror(0x7fff_ffff) }.is_null());
    assert_eq!(Error::from_code(-12345).name(), "UNKNOWN");
    assert_eq!(Error::from_code(1).name(), "EINTERNAL");
}

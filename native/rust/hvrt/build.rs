// Links libhvrt.so from the project's out/lib (./build.sh publishes it there) and records that
// directory as the rpath of everything linked (tests, examples, dependents' binaries), so they
// run without LD_LIBRARY_PATH. HVRT_LIB_DIR overrides the directory (build.sh passes $OUT/lib
// when HVRT_OUT moves it). Same logic as bench/rust/build.rs.
//
// It also exports HVRT_INCLUDE_DIR to the tests (native/include: hvrt.h, kvm_uapi.h and
// hvrt_testing.h, which hvrt.h includes, and hvrt_inline.h), which compile a small C program
// against the headers to check the layout of the #[repr(C)] mirrors and read hvrt.h and
// hvrt_testing.h for the declared functions.
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let dir = match env::var_os("HVRT_LIB_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest.join("../../../out/lib"),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let include = manifest.join("../../include");
    let include = include.canonicalize().unwrap_or(include);
    println!("cargo:rerun-if-env-changed=HVRT_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", dir.join("libhvrt.so").display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=hvrt");
    // -rpath for this crate's own tests and examples; `links = "hvrt"` passes lib_dir to
    // dependents' build scripts (DEP_HVRT_LIB_DIR) for theirs.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    println!("cargo:lib_dir={}", dir.display());
    println!("cargo:include={}", include.display());
    println!("cargo:rustc-env=HVRT_INCLUDE_DIR={}", include.display());
    println!("cargo:rustc-env=HVRT_LIB_DIR={}", dir.display());
}

// Links libhvrt.so from the project's out/lib (./build.sh publishes it there) and records that
// directory as the binary's rpath, so `hvrt-bench-rs` runs without LD_LIBRARY_PATH.
// HVRT_LIB_DIR overrides the directory (build.sh passes $OUT/lib when HVRT_OUT moves it).
use std::env;
use std::path::PathBuf;

fn main() {
    let dir = match env::var_os("HVRT_LIB_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../out/lib"),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("cargo:rerun-if-env-changed=HVRT_LIB_DIR");
    println!("cargo:rerun-if-changed={}", dir.join("libhvrt.so").display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=hvrt");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

// The hvrt crate links libhvrt.so; this only records its directory as the binary's rpath, so
// `hvrt-bench-rs` runs without LD_LIBRARY_PATH. The directory is the one the hvrt crate's
// build script linked against (DEP_HVRT_LIB_DIR, from its `links = "hvrt"`), which follows
// HVRT_LIB_DIR (build.sh passes $OUT/lib) or defaults to the repository's out/lib.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=HVRT_LIB_DIR");
    if let Some(dir) = env::var_os("DEP_HVRT_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}

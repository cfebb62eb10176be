//! The #[repr(C)] mirrors against the C header: a small C program compiled with gcc against
//! native/include prints sizeof/offsetof of every struct and field, and each must equal
//! Rust's size_of / offset_of!. Also checks the constants and the errno map against the header
//! and the library.

use hvrt::sys::*;
use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::process::Command;

/// (C expression, Rust value) pairs: "sizeof(struct x)" or "offsetof(struct x, f)".
fn rust_layout() -> Vec<(String, usize)> {
    let mut v = Vec::new();
    macro_rules! size {
        ($c:literal, $t:ty) => {
            v.push((format!("sizeof(struct {})", $c), size_of::<$t>()));
        };
    }
    macro_rules! off {
        ($c:literal, $t:ty, $($f:ident),+) => {
            $( v.push((format!("offsetof(struct {}, {})", $c, stringify!($f)), offset_of!($t, $f))); )+
        };
    }
    size!("hvrt_vm_config", hvrt_vm_config);
    off!("hvrt_vm_config", hvrt_vm_config, size, vm_type, nr_address_spaces, max_user_slots, max_gpa_bits, flags, user_addr_limit, kvm_profile, reserved32, reserved);
    size!("hvrt_kvm_profile", hvrt_kvm_profile);
    off!("hvrt_kvm_profile", hvrt_kvm_profile, size, profile, source, vm_types, features, reserved);
    size!("kvm_userspace_memory_region", kvm_userspace_memory_region);
    off!("kvm_userspace_memory_region", kvm_userspace_memory_region, slot, flags, guest_phys_addr, memory_size, userspace_addr);
    size!("kvm_userspace_memory_region2", kvm_userspace_memory_region2);
    off!("kvm_userspace_memory_region2", kvm_userspace_memory_region2, slot, flags, guest_phys_addr, memory_size, userspace_addr, guest_memfd_offset, guest_memfd, pad1, pad2);
    size!("kvm_userspace_memory_region_ext", kvm_userspace_memory_region_ext);
    off!("kvm_userspace_memory_region_ext", kvm_userspace_memory_region_ext, region, private_offset, private_fd, pad1, pad2);
    size!("kvm_memory_attributes", kvm_memory_attributes);
    off!("kvm_memory_attributes", kvm_memory_attributes, address, size, attributes, flags);
    size!("hvrt_kvm_memory_fault", hvrt_kvm_memory_fault);
    off!("hvrt_kvm_memory_fault", hvrt_kvm_memory_fault, flags, gpa, size);
    size!("hvrt_translation", hvrt_translation);
    off!("hvrt_translation", hvrt_translation, slot, flags, base_gfn, npages, hva, private_pgoff, private_fd, result, run_pages, generation);
    size!("hvrt_slot_range", hvrt_slot_range);
    off!("hvrt_slot_range", hvrt_slot_range, slot, flags, gfn_start, gfn_end, reserved);
    size!("hvrt_kvm_caps", hvrt_kvm_caps);
    off!("hvrt_kvm_caps", hvrt_kvm_caps, size, flags, guest_memfd_flags, memory_attributes, hypercall_exits, nr_memslots, nr_address_spaces, reserved);
    size!("hvrt_exit_info", hvrt_exit_info);
    off!("hvrt_exit_info", hvrt_exit_info, kind, exit_reason, gpa, size, to_private, mmio_class, is_write, slot, result, reserved);
    size!("hvrt_slot_entry", hvrt_slot_entry);
    off!("hvrt_slot_entry", hvrt_slot_entry, base_gfn, npages, hva, private_pgoff, private_fd, kvm_flags, slot, tr_flags, file_dev, file_ino);
    size!("hvrt_leaf", hvrt_leaf);
    off!("hvrt_leaf", hvrt_leaf, count, reserved, max_end, pad, keys, entries);
    size!("hvrt_index", hvrt_index);
    off!("hvrt_index", hvrt_index, nr_leaves, count, first0, first1, first2, max_end, leaves, max_end_prefix, pad);
    size!("hvrt_snapshot", hvrt_snapshot);
    off!("hvrt_snapshot", hvrt_snapshot, generation, count, as_id, bytes, pad, gfn, hva, private_);
    size!("hvrt_vm_layout", hvrt_vm_layout);
    off!("hvrt_vm_layout", hvrt_vm_layout, magic, managed, inline_as_limit, nr_address_spaces, current, serial);
    size!("hvrt_reader_cache", hvrt_reader_cache);
    off!("hvrt_reader_cache", hvrt_reader_cache, generation, entry);
    size!("hvrt_reader_layout", hvrt_reader_layout);
    off!("hvrt_reader_layout", hvrt_reader_layout, magic, vm, ctr, next, cache);
    v
}

/// (C expression, Rust value as i128) for the constants.
fn rust_constants() -> Vec<(&'static str, i128)> {
    let mut v: Vec<(&'static str, i128)> = Vec::new();
    macro_rules! c {
        ($($n:ident),+ $(,)?) => { $( v.push((stringify!($n), $n as i128)); )+ };
    }
    c!(HVRT_ABI_VERSION, HVRT_VERSION_MAJOR, HVRT_VERSION_MINOR, HVRT_VERSION_PATCH, HVRT_VERSION_NUMBER);
    c!(KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_MEM_GUEST_MEMFD, KVM_MEM_PRIVATE, KVM_SET_USER_MEMORY_REGION2);
    c!(KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_SET_MEMORY_ATTRIBUTES, KVM_EXIT_HYPERCALL, KVM_EXIT_MMIO, KVM_EXIT_MEMORY_FAULT);
    c!(KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_HC_MAP_GPA_RANGE, KVM_MAP_GPA_RANGE_PAGE_SZ_4K, KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
    c!(KVM_MAP_GPA_RANGE_PAGE_SZ_1G, KVM_MAP_GPA_RANGE_ENCRYPTED, KVM_MAP_GPA_RANGE_DECRYPTED, KVM_EINVAL, KVM_EFAULT);
    c!(GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED, HVRT_KVM_RUN_EXIT_UNION_OFFSET);
    c!(HVRT_VM_TYPE_DEFAULT, HVRT_VM_TYPE_SW_PROTECTED, HVRT_VM_TYPE_SEV, HVRT_VM_TYPE_SEV_ES, HVRT_VM_TYPE_SNP, HVRT_VM_TYPE_TDX);
    c!(HVRT_TR_PRIVATE, HVRT_TR_READONLY, HVRT_TR_LOG_DIRTY, HVRT_TR_HAS_PRIVATE, HVRT_GEN_UPDATE_IN_PROGRESS);
    c!(HVRT_DISCARD_SHARED, HVRT_DISCARD_PRIVATE);
    c!(HVRT_KVM_USER_MEMORY2, HVRT_KVM_GUEST_MEMFD, HVRT_KVM_MEMORY_ATTRIBUTES, HVRT_KVM_EXIT_HYPERCALL);
    c!(HVRT_KVM_MANUAL_DIRTY_LOG, HVRT_KVM_READONLY_MEM, HVRT_KVM_MEMORY_FAULT_INFO, HVRT_BIND_EXIT_HYPERCALL);
    c!(HVRT_GMEM_SHARED_IF_SUPPORTED, HVRT_DIRTY_LOG_MANUAL_PROTECT, HVRT_DIRTY_LOG_INITIALLY_SET);
    c!(HVRT_EXIT_UNHANDLED, HVRT_EXIT_RESUME, HVRT_EXIT_OTHER, HVRT_EXIT_MEMORY_FAULT, HVRT_EXIT_MAP_GPA_RANGE);
    c!(HVRT_EXIT_MMIO, HVRT_EXIT_INTERRUPTED, HVRT_MMIO_DEVICE, HVRT_MMIO_READONLY_WRITE, HVRT_MMIO_PRIVATE, HVRT_MMIO_IN_SLOT);
    c!(HVRT_LEAF_CAP, HVRT_MAX_ADDRESS_SPACES);
    c!(HVRT_KVM_PROFILE_HOST, HVRT_KVM_PROFILE_6_1, HVRT_KVM_PROFILE_6_8, HVRT_KVM_PROFILE_6_12, HVRT_KVM_PROFILE_6_18);
    c!(HVRT_KVM_PROFILE_NEWEST, HVRT_PROFILE_FROM_CONFIG, HVRT_PROFILE_FROM_PROBE, HVRT_PROFILE_FROM_NO_KVM);
    c!(HVRT_PROFILE_F_REGION2, HVRT_PROFILE_F_GUEST_MEMFD, HVRT_PROFILE_F_PRIVATE_SLOTS, HVRT_PROFILE_F_MEMORY_ATTRIBUTES);
    c!(HVRT_PROFILE_F_PRIVATE_ATTRIBUTE, HVRT_PROFILE_F_READONLY);
    for &(name, value, _) in HVRT_ERRNO_MAP {
        // HVRT_<name> enum constants, named by the table itself.
        v.push((Box::leak(format!("HVRT_{name}").into_boxed_str()), value as i128));
    }
    v
}

/// Compiles and runs a C program printing `expr=value` for each expression.
fn c_values(tag: &str, exprs: &[String]) -> HashMap<String, i128> {
    let dir = std::env::temp_dir().join(format!("hvrt-layout-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut src = String::from("#include <stdio.h>\n#include <stddef.h>\n#include <errno.h>\n#include \"hvrt_inline.h\"\nint main(void) {\n");
    for e in exprs {
        // Signed for negative values (errno codes), unsigned for the rest (bit 63 constants).
        src += &format!(
            "    if (({e}) < 0) printf(\"%s=%lld\\n\", \"{e}\", (long long)({e}));\n    else printf(\"%s=%llu\\n\", \"{e}\", (unsigned long long)({e}));\n"
        );
    }
    src += "    return 0;\n}\n";
    let c = dir.join("layout.c");
    let bin = dir.join("layout");
    std::fs::write(&c, src).unwrap();
    let out = Command::new("gcc")
        .args(["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Werror", "-I", env!("HVRT_INCLUDE_DIR"), "-o"])
        .arg(&bin)
        .arg(&c)
        .output()
        .expect("gcc (the layout test compiles hvrt.h)");
    assert!(out.status.success(), "gcc failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(&bin).output().unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn struct_sizes_and_offsets_match_the_header() {
    let rust = rust_layout();
    let exprs: Vec<String> = rust.iter().map(|(e, _)| e.clone()).collect();
    let c = c_values("structs", &exprs);
    let mut bad = Vec::new();
    for (e, r) in &rust {
        if c[e] != *r as i128 {
            bad.push(format!("{e}: C {} Rust {r}", c[e]));
        }
    }
    assert!(bad.is_empty(), "layout differs:\n{}", bad.join("\n"));
    assert!(rust.len() > 100, "checked {} items", rust.len());
}

#[test]
fn constants_match_the_header() {
    let rust = rust_constants();
    let exprs: Vec<String> = rust.iter().map(|(e, _)| e.to_string()).collect();
    let c = c_values("constants", &exprs);
    for (e, r) in &rust {
        assert_eq!(c[*e], *r, "{e}");
    }
}

#[test]
fn errno_map_matches_the_library() {
    for &(name, code, text) in HVRT_ERRNO_MAP {
        let e = hvrt::Error::from_code(if code == 0 { -99999 } else { code });
        if code == 0 {
            continue;
        }
        assert_eq!(e.name(), name);
        assert_eq!(e.text(), text);
        assert_eq!(e.code(), code);
    }
    assert_eq!(hvrt::Error::from_code(-99999).name(), "UNKNOWN");
    assert_eq!(hvrt::Error::from_code(-99999).text(), "unknown error");
}

#[test]
fn library_versions_match() {
    assert_eq!(hvrt::abi_version(), HVRT_ABI_VERSION);
    assert_eq!(hvrt::version_number(), HVRT_VERSION_NUMBER);
}

#[test]
fn every_header_function_is_declared() {
    // The names hvrt.h and hvrt_testing.h declare (build.sh's export check reads them the same
    // way) must all be in src/sys/mod.rs as `pub fn name(`.
    let header = ["/hvrt.h", "/hvrt_testing.h"]
        .map(|h| std::fs::read_to_string(format!("{}{h}", env!("HVRT_INCLUDE_DIR"))).unwrap())
        .concat();
    let sys = include_str!("../src/sys/mod.rs");
    let mut missing = Vec::new();
    let mut n = 0;
    for line in header.lines() {
        if line.starts_with(' ') || line.starts_with('#') || line.starts_with('/') {
            continue;
        }
        if let Some(i) = line.find("hvrt_") {
            let rest = &line[i..];
            if let Some(j) = rest.find('(') {
                let name = &rest[..j];
                if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    n += 1;
                    if !sys.contains(&format!("pub fn {name}(")) {
                        missing.push(name.to_string());
                    }
                }
            }
        }
    }
    assert!(n >= 49, "found only {n} declarations in hvrt.h and hvrt_testing.h");
    assert!(missing.is_empty(), "not declared in sys: {missing:?}");
}

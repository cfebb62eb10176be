#!/usr/bin/env python3
"""Writes native/fuzz/corpus/ and native/fuzz/abi.dict: small hand-made inputs for abi_fuzz, one or more per op family.

Each helper below emits the bytes abi_fuzz.c's decoders read (pick_gfn, pick_size, gen_region,
...), so an input reads as a program: config, then ops. Run it after changing the decoders:
    python3 native/fuzz/make_corpus.py      (rewrites the directory; scripts/fuzz.sh replay checks it)
"""
import os
import shutil
import struct

OPS = ["set_v1", "set_region2", "set_ext", "batch", "translate", "reader_translate", "inline_translate",
       "translate_batch", "set_attributes", "get_attributes", "range_has_attributes", "attributes_run",
       "attributes_count", "max_mapping_level", "convert", "discard_policy", "listener", "write", "find_by_hva",
       "find_by_private", "dirty_mode", "dirty_get", "dirty_get_view", "dirty_clear", "mark_dirty",
       "reader_register", "reader_online", "reader_offline", "reader_quiescent", "reader_unregister", "misuse",
       "check_all", "bitmap_next_set", "bulk_slots"]
OP = {n: i for i, n in enumerate(OPS)}
TYPES = {"default": 0, "sw_protected": 1, "sev": 2, "sev_es": 3, "snp": 4, "tdx": 5}
FDS = {"gmem": 0, "B": 1, "C": 2, "B_ro": 3, "A": 4, "pipe": 5, "closed": 6, "minus1": 7}
BITS = {36: 0, 23: 1, 52: 2, 64: 3, 13: 4, 40: 5, 48: 6, 57: 7}


def config(vm_type="default", one_as=False, slots8=False, bits=36, bad=None):
    for b0 in range(256):
        if b0 % 6 == TYPES[vm_type] and (b0 >> 3) & 1 == one_as and (b0 >> 4) & 1 == slots8:
            break
    b1 = BITS[bits] if bad is None else 0xF0 | bad
    assert bad is None or (b1 % 8) == BITS.get(bits, 0) or True
    return bytes([b0, b1])


def u64(v):
    return struct.pack("<Q", v & (2**64 - 1))


def gfn(g):
    if g < 128:
        return bytes([g])
    if 480 <= g < 544:
        return bytes([128 + g - 480])
    return bytes([0xF0]) + u64(g)


def npages(n):
    if 1 <= n <= 128:
        return bytes([n - 1])
    if 496 <= n < 528:
        return bytes([144 + n - 512])
    edges = [0, 1024, 1025, 2048, 1 << 18, (1 << 31) - 1, 1 << 31]
    return bytes([160 + edges.index(n)])


def size(n):
    return b"\x00" + npages(n)


def gpa(g):
    return b"\x00" + gfn(g)


def hva(page):
    if page < 128:
        return bytes([page])
    if 480 <= page < 552:
        return bytes([128 + page - 480])
    assert page % 32 == 0
    return bytes([200 + page // 32])


def slot(as_id, sid):
    assert sid < 7
    return bytes([as_id << 6 | sid])


def region(as_id, sid, flags, g, n, page, fd=None, off=0):
    """A fresh request (gen_region with mutate 0); the leading 0 is op_set_region's mutate byte."""
    b = b"\x00" + slot(as_id, sid) + bytes([flags]) + size(n) + gpa(g) + hva(page)
    if flags & 4:
        b += bytes([FDS[fd]]) + bytes([off])
    elif fd is not None:
        b += b"\x00" + bytes([FDS[fd]]) + bytes([off])
    else:
        b += b"\xff"
    return b + b"\xff"  # no pads


def mutate(index, kind, extra=b""):
    """A change of the index-th model slot: 0 delete, 1 move, 2 LOG toggle, 3 identical, 4 RO
    toggle, 5 hva + 4096, 6 size + 4096, 7 private toggle, 8 move + LOG toggle."""
    return b"\x01" + bytes([index, kind]) + extra


def op(name, *parts):
    return bytes([OP[name]]) + b"".join(parts)


def create(as_id, sid, flags, g, n, page, entry="set_region2", **kw):
    return op(entry, region(as_id, sid, flags, g, n, page, **kw))


def tr(as_id, g):
    return op("translate", bytes([as_id]), gfn(g))


def set_attr(g, n, private=True):
    return op("set_attributes", b"\x00", gfn(g), size(n), bytes([1 if private else 0]), b"\x00")


def convert(g, n, to_private):
    return op("convert", b"\x00", gfn(g), size(n), bytes([to_private]))


def query(name, a, k=0, b=None, extra=b""):
    return op(name, gfn(a), bytes([k]), gfn(b) if b is not None else b"", extra)


CHECK = op("check_all")
INPUTS = {
    # slots through every entry point, both address spaces
    "slots_v1_create_delete": config() + create(0, 0, 0, 0, 16, 0, "set_v1") + tr(0, 5) +
        op("set_v1", mutate(0, 0, b"\x00")) + tr(0, 5),
    "slots_r2_two_as": config() + create(0, 1, 0, 16, 8, 0) + create(1, 1, 0, 16, 8, 8) + tr(1, 17) + CHECK,
    "slots_overlap_eexist": config() + create(0, 0, 0, 0, 16, 0) + create(0, 1, 0, 8, 16, 32),
    "slots_move": config() + create(0, 2, 0, 0, 8, 0) + op("set_region2", mutate(0, 1, gpa(100))) + tr(0, 101),
    "slots_move_eexist": config() + create(0, 0, 0, 0, 8, 0) + create(0, 1, 0, 16, 8, 8) +
        op("set_region2", mutate(1, 1, gpa(4))),
    "slots_flags_log": config() + create(0, 3, 0, 0, 8, 0) + op("set_region2", mutate(0, 2)) +
        op("set_region2", mutate(0, 3)),
    "slots_readonly_toggle_einval": config() + create(0, 0, 2, 0, 8, 0) + op("set_region2", mutate(0, 4)),
    "slots_hva_change_einval": config() + create(0, 0, 0, 0, 8, 0) + op("set_v1", mutate(0, 5)) +
        op("set_v1", mutate(0, 6)),
    "slots_readonly_sev_es": config("sev_es") + create(0, 0, 2, 0, 8, 0) + create(1, 0, 1, 0, 8, 0),
    "slots_max_gfn": config(bits=23) + create(0, 0, 0, 2047, 1, 0) + create(0, 1, 0, 2047, 2, 8) + CHECK,
    "slots_max_slots8": config(slots8=True) + op("set_region2", b"\x00", bytes([0x39]), b"\x00", size(1), gpa(0),
                                                 hva(0), b"\xff\xff"),
    "slots_ext_memfd": config("sw_protected") + create(0, 0, 4, 0, 16, 0, "set_ext", fd="B", off=0) + tr(0, 3) +
        create(0, 1, 4, 32, 16, 16, "set_ext", fd="B", off=8) + CHECK,
    "slots_ext_pipe_closed": config("snp") + create(0, 0, 4, 0, 4, 0, "set_ext", fd="pipe") +
        create(0, 1, 4, 8, 4, 4, "set_ext", fd="closed") + create(0, 2, 4, 16, 4, 8, "set_ext", fd="C", off=62),
    "slots_r2_gmem": config() + create(0, 0, 4, 0, 16, 0, fd="gmem", off=0) + create(0, 1, 4, 16, 16, 16, fd="B") +
        tr(0, 2) + op("set_region2", mutate(0, 3)) + op("set_region2", mutate(0, 0, b"\x01")),
    "slots_private_immutable": config("tdx") + create(0, 0, 4, 0, 8, 0, "set_ext", fd="C") +
        op("set_ext", mutate(0, 1, gpa(64))) + op("set_ext", mutate(0, 7, b"\x02")),
    "slots_batch": config() + op("batch", b"\x02\x00", region(0, 0, 0, 0, 8, 0), region(0, 1, 0, 8, 8, 8),
                                 region(0, 2, 0, 4, 8, 16)) + CHECK,
    "slots_batch_bad_args": config() + op("batch", b"\x00\xfa") + op("batch", b"\x00\xfb"),
    "slots_bad_config": config(bad=2) + create(0, 0, 0, 0, 1, 0),
    "slots_bad_config_size": config(bad=9),
    # translate: plain, reader, inline, batch
    "translate_paths": config() + create(0, 0, 0, 0, 64, 0) + op("reader_register", b"\x00") +
        op("reader_translate", b"\x00\x00", gfn(10)) + op("inline_translate", b"\x00\x00", gfn(63)) +
        op("inline_translate", b"\x00\x01", gfn(1)) + tr(0, 64),
    "translate_batch": config() + create(0, 0, 0, 8, 8, 0) +
        op("translate_batch", b"\x00\x00\x04\x00", gfn(7), gfn(8), gfn(15), gfn(16)),
    "translate_batch_reader": config() + create(0, 0, 0, 8, 8, 0) + op("reader_register", b"\x00") +
        op("translate_batch", b"\x01\x00\x00\x03\x00", gfn(7), gfn(9), gfn(9)) +
        op("translate_batch", b"\x01\x00\x00\x00\xfb"),
    # attributes
    "attr_set_get": config("sw_protected") + set_attr(4, 8) + query("get_attributes", 5) +
        query("get_attributes", 12) + CHECK,
    "attr_default_einval": config() + set_attr(0, 1) + set_attr(0, 1, False),
    "attr_range_has": config("snp") + set_attr(10, 4) + query("range_has_attributes", 10, 200, 14, b"\x11") +
        query("range_has_attributes", 9, 70, extra=b"\x00") + query("range_has_attributes", 10, 0, extra=b"\x10"),
    "attr_run_count": config("tdx") + set_attr(20, 4) + set_attr(30, 2) + query("attributes_run", 18, 200, 60) +
        query("attributes_count", 0, 200, 127) + query("attributes_run", 21, 200, 20),
    "attr_huge": config("sw_protected") + op("set_attributes", b"\x00", gfn(0), b"\xf4", b"\x01\x00") +
        query("attributes_count", 0, 200, 1 << 52) + set_attr(5, 3, False) + CHECK,
    "max_level_1g": config("sw_protected") + create(0, 0, 0, 0, 1 << 18, 0) + query("max_mapping_level", 5) +
        query("max_mapping_level", 600) + set_attr(700, 1) + query("max_mapping_level", 600) +
        query("max_mapping_level", 1 << 17) + convert(1000, 2, 1) + convert(0, 1 << 18, 1) + CHECK,
    "attr_chunk_edges": config("sw_protected") + set_attr((1 << 18) - 2, 4) + set_attr(1 << 18, 1 << 18) +
        set_attr((1 << 18) + 7, 1, False) + query("attributes_count", 0, 200, 1 << 20) +
        query("attributes_run", (1 << 18) - 2, 200, 1 << 20) + query("attributes_run", (1 << 18) + 8, 200, 1 << 20) +
        query("range_has_attributes", 1 << 18, 200, (1 << 18) + 7, b"\x11") + set_attr(1 << 18, 1 << 18, False) +
        query("attributes_run", (1 << 18) - 2, 200, 1 << 20) + set_attr((1 << 40) - 2, 4) +
        query("attributes_count", (1 << 40) - 8, 200, (1 << 40) + 8) + set_attr((1 << 52) - 5, 4) +
        query("range_has_attributes", (1 << 52) - 5, 200, (1 << 52) - 1, b"\x11") +
        query("attributes_run", (1 << 52) - 4, 200, 2**64 - 1) + CHECK,
    "max_level_1g_revert": config("tdx") + create(0, 0, 0, 0, 1 << 18, 0) + set_attr(700, 1) +
        query("max_mapping_level", 5) + set_attr(700, 1, False) + query("max_mapping_level", 5) +
        op("set_attributes", b"\x00", gfn(0), size(1 << 18), b"\x01\x00") + query("max_mapping_level", 9) +
        set_attr(1 << 17, 1, False) + query("max_mapping_level", 9) + query("max_mapping_level", 1 << 17) +
        convert(1 << 17, 1, 1) + query("max_mapping_level", 9) + CHECK,
    "max_level": config("sw_protected") + create(0, 0, 0, 0, 1024, 0) + query("max_mapping_level", 5) +
        query("max_mapping_level", 600) + set_attr(700, 1) + query("max_mapping_level", 600),
    # conversion, discards, listeners
    "convert_shared_discard": config("sw_protected") + create(0, 0, 0, 0, 16, 0) +
        op("write", b"\x00", gfn(2), b"\x03", b"\x41") + convert(0, 8, 1) + CHECK + convert(0, 8, 0),
    "convert_private_punch": config("sw_protected") + create(0, 0, 4, 0, 16, 0, "set_ext", fd="B", off=4) +
        op("write", b"\x01", gfn(4), b"\x07", b"\x43") + convert(0, 16, 1) + convert(2, 2, 0) + CHECK,
    "convert_readonly_fd": config("snp") + create(0, 0, 4, 0, 4, 0, "set_ext", fd="B_ro") + convert(0, 4, 1) +
        convert(0, 4, 0) + CHECK,
    "convert_listeners": config("tdx") + op("listener", b"\x01") + op("listener", b"\x03") +
        op("listener", b"\x03") + set_attr(3, 1) + convert(0, 8, 1) + op("listener", b"\x00") + convert(0, 8, 0),
    "convert_listener_removes_itself": config("sw_protected") + op("listener", b"\x01") + op("listener", b"\x05") +
        op("listener", b"\x03") + set_attr(2, 1) + set_attr(5, 1) + convert(0, 8, 1) + convert(0, 8, 0) +
        op("listener", b"\x05") + op("listener", b"\x04"),
    "convert_policy": config("sw_protected") + op("discard_policy", b"\x00") + create(0, 0, 0, 0, 8, 0) +
        op("write", b"\x00", gfn(0), b"\x07", b"\x55") + convert(0, 8, 1) + op("discard_policy", b"\x06") + CHECK,
    "convert_default_einval": config() + convert(0, 1, 1) + op("convert", b"\x00", gfn(0), size(1), b"\xfa"),
    # reverse queries
    "find_by_hva": config() + create(0, 0, 0, 0, 16, 0) + create(1, 0, 0, 100, 16, 8) +
        op("find_by_hva", hva(4), b"\xff", b"\x00", npages(8), b"\x00", b"\x00") +
        op("find_by_hva", hva(4), b"\x00", b"\x00", npages(8), b"\x04", b"\x00") +
        op("find_by_hva", hva(4), b"\xff", b"\xf0", b"\x00", b"\x00"),
    "find_by_private": config("sw_protected") + create(0, 0, 4, 0, 16, 0, "set_ext", fd="B", off=8) +
        create(0, 1, 4, 32, 8, 16, "set_ext", fd="B_ro", off=32) +
        op("find_by_private", bytes([FDS["B_ro"]]), b"\x00", b"\xff", b"\x00", npages(64), b"\x00", b"\x00") +
        op("find_by_private", bytes([FDS["closed"]]), b"\x00", b"\xff", b"\x00", npages(1), b"\x00", b"\x00"),
    # dirty log
    "dirty_get_clear": config() + create(0, 0, 1, 0, 100, 0) + op("mark_dirty", gfn(3), b"\xff", b"\x00", npages(4)) +
        op("dirty_get", b"\x00\x00") + op("mark_dirty", gfn(70), b"\x00", b"\x00", npages(1)) +
        op("dirty_get_view", b"\x00\x00") + op("dirty_mode", b"\x01") +
        op("mark_dirty", gfn(1), b"\xff", b"\x00", npages(90)) +
        op("dirty_clear", b"\x00", b"\x00", b"\x00", b"\x00", b"\x01") + op("dirty_get", b"\x00\x00"),
    "dirty_initially_set": config() + op("dirty_mode", b"\x02") + create(0, 0, 1, 0, 70, 0) +
        op("dirty_clear", b"\x00", b"\x02", b"\x01", b"\x00", b"\x01") + op("dirty_get_view", b"\x00\x00") +
        op("dirty_mode", b"\x05"),
    "dirty_move_keep": config() + create(0, 0, 1, 0, 8, 0) + op("mark_dirty", gfn(1), b"\xff", b"\x00", npages(1)) +
        op("set_region2", mutate(0, 1, gpa(64))) + op("dirty_get", b"\x00\x00") +
        op("set_region2", mutate(0, 2)) + op("dirty_get", b"\x00\x00"),
    "dirty_view_stable": config() + create(0, 0, 1, 0, 100, 0) + create(0, 1, 1, 200, 64, 100) +
        op("mark_dirty", gfn(1), b"\xff", b"\x00", npages(3)) + op("mark_dirty", gfn(201), b"\xff", b"\x00", npages(2)) +
        op("dirty_get_view", b"\x00\x00") + op("mark_dirty", gfn(1), b"\xff", b"\x00", npages(99)) +
        op("dirty_get", b"\x01\x00") + op("dirty_get_view", b"\x01\x00") + op("mark_dirty", gfn(0), b"\xff", b"\x00", npages(128)) +
        op("dirty_mode", b"\x01") + op("dirty_get_view", b"\x00\x00") + op("mark_dirty", gfn(5), b"\xff", b"\x00", npages(5)) +
        op("set_region2", mutate(1, 2)) + CHECK + op("dirty_get_view", b"\x00\x00"),
    "dirty_errors": config() + create(0, 0, 0, 0, 8, 0) + op("dirty_get", b"\x00\x00") +
        op("dirty_get", b"\xff\xff\x00") + op("dirty_clear", b"\x00\x05\x00\x00\x01") +
        op("mark_dirty", gfn(1 << 52), b"\xff", b"\xf0"),
    # readers
    "readers_lifecycle": config() + op("reader_register", b"\x00") + op("reader_register", b"\x00") +
        op("reader_offline", b"\x00") + op("reader_quiescent", b"\x00") + op("reader_online", b"\x00") +
        op("reader_quiescent", b"\x01") + op("reader_unregister", b"\x01") + op("reader_unregister", b"\x01") +
        op("reader_online", b"\x01") + op("reader_register", b"\x00") + op("reader_quiescent", b"\xf1"),
    "readers_across_changes": config() + op("reader_register", b"\x00") + create(0, 0, 0, 0, 8, 0) +
        op("reader_online", b"\x00") + op("inline_translate", b"\x00\x00", gfn(1)) +
        op("set_region2", mutate(0, 1, gpa(16))) + op("reader_online", b"\x00") +
        op("inline_translate", b"\x00\x00", gfn(17)) + op("reader_translate", b"\x00\x00", gfn(1)),
    "bitmap_next_set": config() + op("bitmap_next_set", b"\x01", b"\x05", b"\x80", b"\x60", gfn(3), b"\x00") +
        op("bitmap_next_set", b"\x00", b"\x3f", b"\xfa", gfn(70), b"\x00") +
        op("bitmap_next_set", b"\x00", b"\xc0", b"\x20", gfn(0), b"\xff"),
    "bulk_batch": config() + op("bulk_slots", b"\x50", b"\x01", gfn(0), b"\x01", b"\x00") + tr(0, 150) +
        op("mark_dirty", gfn(0), b"\xff", b"\x00", npages(128)) + op("reader_register", b"\x00") +
        op("inline_translate", b"\x00\x00", gfn(100)) + op("set_region2", mutate(30, 0, b"\x00")) + CHECK,
    "bulk_single_calls": config() + create(0, 0, 0, 60, 4, 0) + op("bulk_slots", b"\x0a", b"\x00", gfn(0), b"\x00",
                                                                    b"\x10") + op("set_region2", mutate(5, 1, gpa(1000))),
    "bulk_private_ext": config("sw_protected") + op("bulk_slots", b"\x0a", b"\x02", gfn(0), b"\x00", b"\x10", b"\x01") +
        op("find_by_private", bytes([FDS["B"]]), b"\x00", b"\xff", b"\x00", npages(64), b"\x00", b"\x00") +
        convert(0, 128, 1) + convert(0, 100, 0) + CHECK,
    "bulk_private_batch_gmem": config() + op("bulk_slots", b"\x4a", b"\x02", gfn(480), b"\x01", b"\x00") +
        op("find_by_private", bytes([FDS["gmem"]]), b"\x05", b"\xff", b"\x00", npages(100), b"\x00", b"\x00"),
    "misuse_null_and_foreign": config() + b"".join(op("misuse", bytes([i])) for i in range(32)),
}


# Byte strings worth splicing anywhere (libFuzzer -dict): whole ops that set state up, and the
# raw edge values the decoders take after an escape byte.
DICT = {
    "create_r2": create(0, 0, 0, 0, 16, 0),
    "create_r2_as1": create(1, 1, 0, 16, 16, 16),
    "create_log": create(0, 1, 1, 32, 100, 32),
    "create_big": create(0, 2, 0, 512, 512, 0),
    "create_ext_B": create(0, 3, 4, 64, 16, 64, "set_ext", fd="B", off=16),
    "create_ext_B_ro": create(0, 4, 4, 96, 8, 96, "set_ext", fd="B_ro", off=48),
    "create_r2_gmem": create(0, 5, 4, 128, 16, 128, fd="gmem", off=0),
    "delete_first": op("set_region2", mutate(0, 0, b"\x00")),
    "move_first": op("set_region2", mutate(0, 1, gpa(200))),
    "set_private": set_attr(0, 32),
    "to_private": convert(0, 64, 1),
    "to_shared": convert(0, 64, 0),
    "listener_add": op("listener", b"\x01"),
    "reader_register": op("reader_register", b"\x00"),
    "reader_online": op("reader_online", b"\x00"),
    "mark_dirty": op("mark_dirty", gfn(32), b"\xff", b"\x00", npages(64)),
    "write_A": op("write", b"\x00", gfn(0), b"\x0f", b"\x41"),
    "check_all": CHECK,
    "gfn_2_52": gfn(1 << 52),
    "gfn_2_52_m1": gfn((1 << 52) - 1),
    "gfn_2_40": gfn(1 << 40),
    "u64_max": u64(2**64 - 1),
    "u64_2_63": u64(1 << 63),
}


def write_dict(path):
    with open(path, "w") as f:
        f.write("# abi_fuzz dictionary, written by make_corpus.py (ops and edge values as the decoders read them)\n")
        for name, data in DICT.items():
            hexed = "".join("\\x%02x" % b for b in data)
            f.write(f'{name}="{hexed}"\n')


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(INPUTS.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    write_dict(os.path.join(os.path.dirname(d), "abi.dict"))
    print(f"{len(INPUTS)} inputs in {d}, {len(DICT)} dictionary entries")


if __name__ == "__main__":
    main()

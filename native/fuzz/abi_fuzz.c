/*
 * abi_fuzz: decodes its input into a sequence of hvrt ABI calls on one VM and checks every
 * result against fuzz_model.h. Any disagreement prints "hvrt-fuzz MISMATCH ..." and aborts, so
 * libFuzzer keeps the input. Built two ways (scripts/fuzz.sh):
 *   clang -fsanitize=fuzzer,address  → out/fuzz/abi_fuzz   (libFuzzer drives it)
 *   gcc  + replay.c                  → out/fuzz/abi_replay (runs the corpus files as a test)
 * Input layout: byte 0 and 1 choose the VM config (type, address spaces, slot limit, max gpa
 * bits); then one op per opcode byte followed by its argument bytes (see the OP_ list and the
 * pick_* decoders). Short inputs are fine: a read past the end gives 0 and ends the sequence.
 * HVRT_FUZZ_VERBOSE=1 prints every op and its result (replay a crash input with it).
 * The ops live in fuzz_ops_*.h, what they share in fuzz_harness.h; this file has the whole-state
 * check, the process set-up and the op table.
 */
#include <dirent.h>
#include <sys/mman.h>
#include "fuzz_ops_log.h" /* fuzz_harness.h, fuzz_ops_slots.h, fuzz_ops_memory.h */
#include "test_util.h"    /* count_open_fds */

/* ---- whole-state check ---- */

/* Every gfn below U_GFNS (full, for the check_all op) or only the interesting ones (light, at the
 * end of every input: the first 64, each slot's edges and middle, each attribute run's edges),
 * through every translate path, plus attributes, file contents and the conversion sequence. */
static void check_all(int full)
{
    struct fm_reader *r = reader_online();
    static uint64_t probes[U_GFNS + 7 * KD_MAX_SLOTS + 64];
    int np = 0;
    for (uint64_t g = 0; g < (full ? U_GFNS : 64); g++)
        probes[np++] = g;
    for (int i = 0; i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        const uint64_t e[] = { s->base - 1, s->base, s->base + 1, s->base + s->npages / 2, s->base + s->npages - 2,
                               s->base + s->npages - 1, s->base + s->npages };
        for (int k = 0; k < 7 && np < (int)(sizeof probes / sizeof probes[0]) - 64; k++)
            probes[np++] = e[k];
    }
    for (int i = 0; i < M.nivs && i < 30; i++) {
        probes[np++] = M.ivs[i].s - 1;
        probes[np++] = M.ivs[i].e;
    }
    probes[np++] = FM_GFN_LIMIT - 1;
    probes[np++] = M.rules.max_gfn;
    for (uint32_t as = 0; as < M.rules.nr_as; as++)
        for (int i = 0; i < np; i++) {
            check_translate(as, probes[i]);
            if (r)
                check_reader_translate(r, as, probes[i], i & 1);
            if (!M.had_private) /* the differential test's own check, too */
                kd_check_gfn(g_vm, &M.slots, as, probes[i]);
        }
    EXPECT(h_failed == 0, "kd_check_gfn (kvm_diff_model.h) disagreed");
    for (int i = 0; i < np; i++)
        check_get_attr(probes[i]);
    check_content();
    uint64_t seq;
    EXPECT(hvrt_conversion_seq(g_vm, &seq) == 0 && seq == M.conv_seq, "conversion sequence %" PRIu64 ", model %" PRIu64,
           seq, M.conv_seq);
}

/* ---- setup and the entry point ---- */


static int make_memfd(const char *name, uint64_t pages, unsigned char **map, void *at)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)(pages * FM_PAGE)) < 0) {
        perror("abi_fuzz: memfd");
        abort();
    }
    void *p = mmap(at, pages * FM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
    if (p == MAP_FAILED) {
        perror("abi_fuzz: mmap");
        abort();
    }
    *map = p;
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *v = getenv("HVRT_FUZZ_VERBOSE");
    g_verbose = v && *v == '1';
    if (hvrt_abi_version() != HVRT_ABI_VERSION) {
        fprintf(stderr, "abi_fuzz: libhvrt ABI %u, header %u\n", hvrt_abi_version(), HVRT_ABI_VERSION);
        abort();
    }
    /* The shared area, 1 GiB aligned inside a larger PROT_NONE reservation: file A's 4 MiB (its
     * pages' contents are checked), then 1 GiB of untouched anonymous memory, so that a slot can
     * be large enough for a 1 GiB mapping level. hvrt only madvises it (hvrt_convert). */
    size_t len = FM_AREA_PAGES * FM_PAGE;
    unsigned char *res = mmap(NULL, len + (1ul << 30), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        abort();
    unsigned char *aligned = (unsigned char *)(((uintptr_t)res + (1ul << 30) - 1) & ~(uintptr_t)((1ul << 30) - 1));
    g_files[FM_FILE_A] = (struct fm_file){ .pages = AREA_PAGES, .regular = 1 };
    g_files[FM_FILE_A].fd = make_memfd("hvrt-fuzz-A", AREA_PAGES, &g_files[FM_FILE_A].map, aligned);
    if (mmap(aligned + AREA_PAGES * FM_PAGE, len - AREA_PAGES * FM_PAGE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
        abort();
    g_area = g_files[FM_FILE_A].map;
    g_area_end = (uint64_t)g_area + len;
    g_files[FM_FILE_B] = (struct fm_file){ .pages = AREA_PAGES, .regular = 1 };
    g_files[FM_FILE_B].fd = make_memfd("hvrt-fuzz-B", AREA_PAGES, &g_files[FM_FILE_B].map, NULL);
    g_files[FM_FILE_C] = (struct fm_file){ .pages = 64, .regular = 1 };
    g_files[FM_FILE_C].fd = make_memfd("hvrt-fuzz-C", 64, &g_files[FM_FILE_C].map, NULL);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", g_files[FM_FILE_B].fd);
    g_fd_b_ro = open(path, O_RDONLY | O_CLOEXEC);
    int pipefd[2];
    if (g_fd_b_ro < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        abort();
    g_files[FM_FILE_PIPE] = (struct fm_file){ .fd = pipefd[0] };
    /* A guest_memfd where KVM makes one (region2 takes nothing else); else region2's private
     * slots are all -EINVAL, which the model knows. */
    g_files[FM_FILE_GMEM] = (struct fm_file){ .fd = -1 };
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int kvm_vm = kvm >= 0 ? kd_create_vm(kvm) : -1;
    int gm = kvm_vm >= 0 ? kd_create_gmem(kvm_vm, AREA_PAGES * FM_PAGE, 0) : -1;
    if (gm >= 0)
        g_files[FM_FILE_GMEM] = (struct fm_file){ .fd = gm, .pages = AREA_PAGES, .gmem = 1 };
    if (kvm_vm >= 0)
        close(kvm_vm); /* the guest_memfd keeps it alive */
    if (kvm >= 0)
        close(kvm);
    fprintf(stderr, "abi_fuzz: guest_memfd %s\n", gm >= 0 ? "available (region2 private slots)" : "unavailable (no /dev/kvm)");
    for (int f = 0; f < FM_NFILES; f++) {
        struct stat st;
        if (g_files[f].fd >= 0 && fstat(g_files[f].fd, &st) == 0) {
            g_ino[f] = st.st_ino;
            g_files[f].regular = S_ISREG(st.st_mode);
        }
    }
    g_fd_closed = 900;
    close(g_fd_closed);
    fm_file_of_fd = file_of_fd;
    fm_fd_readonly = fd_readonly;
    fm_files = g_files;
    /* The first call starts the .NET runtime (it keeps some fds): before any fd count. */
    hvrt_vm *warm = NULL;
    if (hvrt_vm_create(NULL, &warm) == 0)
        hvrt_vm_destroy(warm);
    return 0;
}

enum {
    OP_SET_V1, OP_SET_R2, OP_SET_EXT, OP_BATCH, OP_TRANSLATE, OP_READER_TR, OP_INLINE_TR, OP_TR_BATCH,
    OP_SET_ATTR, OP_GET_ATTR, OP_RANGE_HAS, OP_ATTR_RUN, OP_ATTR_COUNT, OP_MAX_LEVEL, OP_CONVERT, OP_POLICY,
    OP_LISTENER, OP_WRITE, OP_FIND_HVA, OP_FIND_PRIV, OP_DIRTY_MODE, OP_DIRTY_GET, OP_DIRTY_VIEW, OP_DIRTY_CLEAR,
    OP_MARK_DIRTY, OP_R_REGISTER, OP_R_ONLINE, OP_R_OFFLINE, OP_R_QUIESCENT, OP_R_UNREGISTER, OP_MISUSE, OP_CHECK,
    OP_BITMAP, OP_BULK, OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "set_v1", "set_region2", "set_ext", "batch", "translate", "reader_translate", "inline_translate",
    "translate_batch", "set_attributes", "get_attributes", "range_has_attributes", "attributes_run",
    "attributes_count", "max_mapping_level", "convert", "discard_policy", "listener", "write", "find_by_hva",
    "find_by_private", "dirty_mode", "dirty_get", "dirty_get_view", "dirty_clear", "mark_dirty", "reader_register",
    "reader_online", "reader_offline", "reader_quiescent", "reader_unregister", "misuse", "check_all",
    "bitmap_next_set", "bulk_slots",
};
_Static_assert(OP_COUNT <= NOPS, "feedback counters");

#define MAX_OPS 64

/* For replay's HVRT_FUZZ_STATS=1: how often each op ended in each result class (which errno,
 * 0, a positive count): shows what a corpus exercises. */
void abi_fuzz_stats(FILE *f);
void abi_fuzz_stats(FILE *f)
{
    static const char *const cls[NCLASS] = { "0", "-", "EINVAL", "ENOENT", "EEXIST", "EBADF", "EFAULT", "EPERM",
                                             "E2BIG", "EDEADLK", "ENOMEM", "EACCES", "1", "2..7", ">=8", "other" };
    for (int op = 0; op < OP_COUNT; op++) {
        fprintf(f, "%-22s", op_names[op]);
        for (int c = 0; c < NCLASS; c++)
            if (g_stats[op * NCLASS + c])
                fprintf(f, " %s:%u", cls[c], g_stats[op * NCLASS + c]);
        fprintf(f, "\n");
    }
}

static void create_vm(struct in *in)
{
    uint8_t b0 = u8(in), b1 = u8(in);
    const uint32_t bits[] = { 36, 23, 52, 64, 13, 40, 48, 57 };
    struct hvrt_vm_config c = { .size = sizeof c, .vm_type = b0 % 6, .nr_address_spaces = (b0 >> 3) & 1,
                                .max_user_slots = (b0 >> 4) & 1 ? 8 : 0, .max_gpa_bits = bits[b1 % 8],
                                .user_addr_limit = g_area_end, .kvm_profile = HVRT_KVM_PROFILE_NEWEST };
    if (b1 >= 0xf0) { /* a bad config first: the errno of hvrt_vm_create */
        unsigned char bytes[256] = { 0 };
        struct hvrt_vm_config bad = c;
        switch (b1 & 15) {
        case 0: bad.vm_type = 6; break;
        case 1: bad.nr_address_spaces = 3; break;
        case 2: bad.max_user_slots = 32765; break;
        case 3: bad.max_gpa_bits = 12; break;
        case 4: bad.max_gpa_bits = 65; break;
        case 5: bad.flags = 1; break;
        case 6: bad.user_addr_limit |= 1; break;
        case 7: bad.size = 4; break;
        case 8: bad.size = 5000; break;
        case 9: bad.size = 128; bytes[100] = 1; break;
        case 10: bad.size = 12; bad.nr_address_spaces = 9; break; /* a short struct from an older header */
        default: bad.size = 128; break; /* a longer, zero tail: fine */
        }
        memcpy(bytes, &bad, sizeof bad);
        int want = fm_config_errno(bytes);
        hvrt_vm *v = NULL;
        int rc = hvrt_vm_create((struct hvrt_vm_config *)bytes, &v);
        g_op_name = "vm_create";
        EXPECT(rc == want, "hvrt_vm_create(bad config %d): %d, model %d", b1 & 15, rc, want);
        if (rc == 0)
            hvrt_vm_destroy(v);
    }
    fm_release(&M);
    memset(&M, 0, sizeof M);
    fm_rules_init(&M.rules, c.vm_type, c.nr_address_spaces, c.max_user_slots, c.max_gpa_bits, c.user_addr_limit);
    M.gen[1] = 1;
    M.on_change = view_on_change;
    g_view.active = 0;
    M.discard_policy = HVRT_DISCARD_SHARED | HVRT_DISCARD_PRIVATE;
    g_vm = NULL;
    int rc = hvrt_vm_create(&c, &g_vm);
    EXPECT(rc == 0, "hvrt_vm_create(type %u): %d", c.vm_type, rc);
    if (g_verbose)
        fprintf(stderr, "vm type %u, %u address spaces, max slots %u, gpa bits %u\n", c.vm_type, M.rules.nr_as,
                M.rules.max_slots, c.max_gpa_bits);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size, 0 };
    int fds0 = count_open_fds();
    for (int f = 0; f <= FM_FILE_C; f++) /* the pages the last input wrote back to zero */
        for (uint64_t p = 0, q; p < g_files[f].pages; p = q + 1) {
            for (q = p; q < g_files[f].pages && g_touched[f][q]; q++)
                ;
            if (q > p && fallocate(g_files[f].fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(p * FM_PAGE),
                                   (off_t)((q - p) * FM_PAGE)))
                abort();
        }
    memset(g_content, 0, sizeof g_content);
    memset(g_touched, 0, sizeof g_touched);
    g_op_no = 0;
    create_vm(&in);
    for (g_op_no = 1; g_op_no <= MAX_OPS; g_op_no++) {
        uint8_t o = u8(&in);
        if (in.done)
            break;
        check_view();
        int op = o % OP_COUNT;
        g_op_name = op_names[op];
        switch (op) {
        case OP_SET_V1: op_set_region(&in, KD_V1, op); break;
        case OP_SET_R2: op_set_region(&in, KD_R2, op); break;
        case OP_SET_EXT: op_set_region(&in, KD_EXT, op); break;
        case OP_BATCH: op_batch(&in, op); break;
        case OP_TRANSLATE: {
            uint32_t as = pick_as(&in);
            check_translate(as, pick_gfn(&in));
            note(op, 0);
            break;
        }
        case OP_READER_TR:
        case OP_INLINE_TR: {
            void *p;
            struct fm_reader *r = pick_reader(&in, &p);
            uint32_t as = pick_as(&in);
            uint64_t g = pick_gfn(&in);
            if (!r) { /* NULL or foreign reader */
                struct hvrt_translation t;
                int rc = hvrt_reader_translate(p, as, g, &t);
                note(op, rc);
                EXPECT_RC(rc, p ? -EBADF : -EFAULT, "hvrt_reader_translate(bad reader)");
            } else if (op == OP_READER_TR || r->st == FM_R_ONLINE) { /* inline needs an online reader */
                check_reader_translate(r, as, g, op == OP_INLINE_TR);
                note(op, r->st);
            }
            break;
        }
        case OP_TR_BATCH: op_translate_batch(&in, op); break;
        case OP_SET_ATTR: op_set_attributes(&in, op); break;
        case OP_GET_ATTR: op_attr_query(&in, op, 0); break;
        case OP_RANGE_HAS: op_attr_query(&in, op, 1); break;
        case OP_ATTR_RUN: op_attr_query(&in, op, 2); break;
        case OP_ATTR_COUNT: op_attr_query(&in, op, 3); break;
        case OP_MAX_LEVEL: op_attr_query(&in, op, 4); break;
        case OP_CONVERT: op_convert(&in, op); break;
        case OP_POLICY: op_discard_policy(&in, op); break;
        case OP_LISTENER: op_listener(&in, op); break;
        case OP_WRITE: op_write(&in, op); break;
        case OP_FIND_HVA: op_find_hva(&in, op); break;
        case OP_FIND_PRIV: op_find_private(&in, op); break;
        case OP_DIRTY_MODE: op_dirty_mode(&in, op); break;
        case OP_DIRTY_GET: op_dirty_get(&in, op, 0); break;
        case OP_DIRTY_VIEW: op_dirty_get(&in, op, 1); break;
        case OP_DIRTY_CLEAR: op_dirty_clear(&in, op); break;
        case OP_MARK_DIRTY: op_mark_dirty(&in, op); break;
        case OP_R_REGISTER: op_reader(&in, op, 0); break;
        case OP_R_ONLINE: op_reader(&in, op, 1); break;
        case OP_R_OFFLINE: op_reader(&in, op, 2); break;
        case OP_R_QUIESCENT: op_reader(&in, op, 3); break;
        case OP_R_UNREGISTER: op_reader(&in, op, 4); break;
        case OP_MISUSE: op_misuse(&in, op); break;
        case OP_BITMAP: op_bitmap_next_set(&in, op); break;
        case OP_BULK: op_bulk(&in, op); break;
        default: check_all(1); note(op, 0); break;
        }
    }
    g_op_name = "final check";
    check_view();
    check_all(0);
    /* every dirty bitmap, then tear down: readers first (hvrt.h), then the VM */
    for (int i = 0; i < FM_MAX_DIRTY; i++)
        if (M.dirty[i].used) {
            static uint64_t buf[FM_DIRTY_WORDS];
            uint32_t slot = M.dirty[i].as << 16 | M.dirty[i].id;
            EXPECT_RC(hvrt_dirty_log_get(g_vm, slot, buf), 0, "hvrt_dirty_log_get (final)");
            const struct kd_slot *s = kd_find_id(&M.slots, M.dirty[i].as, M.dirty[i].id);
            EXPECT(!memcmp(buf, M.dirty[i].bits, (s->npages + 63) / 64 * 8), "final dirty log of slot 0x%x differs", slot);
        }
    for (int i = 0; i < M.nreaders; i++)
        if (M.readers[i].st != FM_R_UNREGISTERED)
            EXPECT_RC(hvrt_reader_unregister(M.readers[i].ptr), 0, "hvrt_reader_unregister (final)");
    hvrt_vm_destroy(g_vm);
    g_vm = NULL;
    int fds1 = count_open_fds();
    EXPECT(fds1 == fds0, "open fds %d before the VM, %d after hvrt_vm_destroy (a private-file duplicate leaked?)", fds0, fds1);
    return 0;
}

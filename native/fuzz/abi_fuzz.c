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
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include "fuzz_model.h"
#include "hvrt_inline.h"

/* ---- backing memory, made once per process ---- */

#define AREA_PAGES 1024ull /* file A, mapped at the start of the shared area, which is 1 GiB aligned
                              and FM_AREA_PAGES long (the rest anonymous): slots reach levels 2 and 3 */
#define U_GFNS 2048ull     /* the check_all op translates every gfn below this */

static unsigned char *g_area;
static uint64_t g_area_end;
static struct fm_file g_files[FM_NFILES];
static ino_t g_ino[FM_NFILES];
static int g_fd_b_ro = -1, g_fd_closed = -1;
static int g_verbose;
static unsigned char g_fake[256]; /* a pointer that is neither a VM nor a reader: -EBADF */

static int file_of_fd(uint32_t fd)
{
    if (fd == (uint32_t)g_fd_b_ro)
        return FM_FILE_B;
    for (int f = 0; f < FM_NFILES; f++)
        if (g_files[f].fd >= 0 && fd == (uint32_t)g_files[f].fd)
            return f;
    return -1;
}
static int fd_readonly(uint32_t fd) { return fd == (uint32_t)g_fd_b_ro; }

/* ---- feedback: libFuzzer reads this section as coverage (the .so itself has none) ---- */

#define NOPS 40
#define NCLASS 16
#ifdef HVRT_FUZZ_LIBFUZZER
__attribute__((section("__libfuzzer_extra_counters"), used))
#endif
static uint8_t g_counters[NOPS * NCLASS + NOPS * 32];
static unsigned g_stats[NOPS * NCLASS];

static int rc_class(int64_t rc)
{
    switch (rc) {
    case 0: return 0;
    case -EINVAL: return 2;
    case -ENOENT: return 3;
    case -EEXIST: return 4;
    case -EBADF: return 5;
    case -EFAULT: return 6;
    case -EPERM: return 7;
    case -E2BIG: return 8;
    case -EDEADLK: return 9;
    case -ENOMEM: return 10;
    case -EACCES: return 11;
    default: return rc > 0 ? (rc == 1 ? 12 : rc < 8 ? 13 : 14) : 15;
    }
}

/* ---- the run of one input ---- */

struct in {
    const uint8_t *p;
    size_t n;
    int done;
};

static struct fm M;
static hvrt_vm *g_vm;
static int g_op_no;
static const char *g_op_name = "setup";

static uint8_t u8(struct in *in)
{
    if (in->n == 0) {
        in->done = 1;
        return 0;
    }
    in->n--;
    return *in->p++;
}
static uint64_t u64(struct in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

__attribute__((noreturn, format(printf, 2, 3))) static void fail(int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hvrt-fuzz MISMATCH (abi_fuzz.c:%d) op #%d %s: ", line, g_op_no, g_op_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (vm type %u, %u address spaces, %u slots max, max gfn 0x%" PRIx64 "; rerun with HVRT_FUZZ_VERBOSE=1)\n",
            M.rules.type, M.rules.nr_as, M.rules.max_slots, M.rules.max_gfn);
    abort();
}
#define EXPECT(cond, ...) \
    do { if (!(cond)) fail(__LINE__, __VA_ARGS__); } while (0)
#define EXPECT_RC(got, want, what) \
    do { long long g_ = (long long)(got), w_ = (long long)(want); \
         EXPECT(g_ == w_, "%s returned %lld, model says %lld", what, g_, w_); } while (0)

/* Counts the result for libFuzzer; every error an export returns must be one hvrt.h lists. */
static void note(int op, int64_t rc)
{
    if (rc < 0 && (!strcmp(hvrt_errname((int)rc), "UNKNOWN") || !hvrt_strerror((int)rc)))
        fail(__LINE__, "returned %" PRId64 ", a code HVRT_ERRNO_MAP does not list", rc);
    g_counters[op * NCLASS + rc_class(rc)]++;
    g_stats[op * NCLASS + rc_class(rc)]++;
    int ns = M.slots.n > 7 ? 7 : M.slots.n;
    g_counters[NOPS * NCLASS + op * 32 + ns * 4 + (M.had_private ? 2 : 0) + (M.nivs > 1)]++;
    if (g_verbose)
        fprintf(stderr, "  #%d %s -> %lld\n", g_op_no, g_op_name, (long long)rc);
}

/* ---- argument decoders: mostly small, meaningful values, sometimes an edge or raw bytes ---- */

static uint64_t pick_gfn(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 128)
        return b;
    if (b < 192)
        return 480 + (b - 128);
    if (b < 240) {
        const uint64_t e[] = { 1023, 1024, 1025, 1535, 2047, 2048, M.rules.max_gfn, M.rules.max_gfn + 1,
                               M.rules.max_gfn - 1, (1ull << 18) - 1, 1ull << 18, (1ull << 40) - 1,
                               FM_GFN_LIMIT - 1, FM_GFN_LIMIT, UINT64_MAX >> 12, UINT64_MAX };
        return e[(b - 192) % 16];
    }
    return u64(in);
}

static uint64_t pick_npages(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 128)
        return b + 1;
    if (b < 160)
        return 512 + (b - 144);
    const uint64_t e[] = { 0, 1024, 1025, 2048, 1ull << 18, FM_MAX_PAGES, FM_MAX_PAGES + 1, UINT64_MAX >> 12 };
    return e[b % 8];
}

static uint64_t pick_size(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 240)
        return pick_npages(in) * FM_PAGE;
    const uint64_t e[] = { 0, 1, 4095, 4097, UINT64_MAX - 4095, UINT64_MAX, 1ull << 63, (1ull << 47) };
    return e[b % 8];
}

static uint64_t pick_gpa(struct in *in, uint64_t size)
{
    uint8_t b = u8(in);
    if (b < 230)
        return pick_gfn(in) << 12;
    uint64_t top = (M.rules.max_gfn + 1) << 12;
    const uint64_t e[] = { top - size, top - size + FM_PAGE, UINT64_MAX - size + 1, 0x800, 1ull << 63, top };
    return e[b % 6];
}

/* Every hva that can pass the checks lies inside the shared area (user_addr_limit is its end):
 * hvrt_convert madvises a slot's memory, which must be ours. */
static uint64_t pick_hva(struct in *in)
{
    uint8_t b = u8(in);
    uint64_t a = (uint64_t)g_area;
    if (b < 128)
        return a + (uint64_t)b * FM_PAGE;
    if (b < 200)
        return a + (uint64_t)(480 + (b - 128)) * FM_PAGE;
    if (b < 240)
        return a + (uint64_t)((b - 200) * 32) * FM_PAGE;
    const uint64_t e[] = { a + 1, g_area_end, g_area_end - FM_PAGE, UINT64_MAX - 4095, 1ull << 47, a + 2048 };
    return e[b % 6];
}

static uint32_t pick_slot(struct in *in)
{
    uint8_t b = u8(in);
    uint32_t as = (b >> 6) & 1, id = b & 7;
    if ((b & 0x38) == 0x38) {
        const uint32_t ids[] = { 7, 8, 32763, 32764, 32767, 65535, 9, 100 };
        id = ids[b & 7];
    }
    if (b >= 0xf0) {
        const uint32_t ases[] = { 2, 0xffff };
        as = ases[b & 1];
    }
    return as << 16 | id;
}

static uint32_t pick_flags(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 200)
        return b & 7;
    const uint32_t e[] = { 8, 1u << 16, 1u << 31, 0xffffffffu, 5, 6, 7, 3 };
    return e[b % 8];
}

static uint32_t pick_fd(struct in *in)
{
    uint8_t b = u8(in);
    const int f[] = { g_files[FM_FILE_GMEM].fd, g_files[FM_FILE_B].fd, g_files[FM_FILE_C].fd, g_fd_b_ro,
                      g_files[FM_FILE_A].fd, g_files[FM_FILE_PIPE].fd, g_fd_closed, -1 };
    if (b < 240)
        return (uint32_t)f[b % 8];
    return b & 1 ? 0x7fffffffu : 0x80000000u;
}

static uint64_t pick_offset(struct in *in, uint64_t size, uint32_t fd)
{
    uint8_t b = u8(in);
    if (b < 128)
        return (uint64_t)b * FM_PAGE;
    if (b < 200)
        return (uint64_t)(480 + (b - 128)) * FM_PAGE;
    int f = file_of_fd(fd);
    uint64_t fs = f >= 0 ? g_files[f].pages * FM_PAGE : 0;
    const uint64_t e[] = { fs - size, fs - size + FM_PAGE, fs, 1ull << 63, (1ull << 63) - FM_PAGE, UINT64_MAX - 4095,
                           (1ull << 63) - size, 0x10 };
    return e[b % 8];
}

static uint32_t pick_as(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 250)
        return b & 1;
    return b & 1 ? 2 : 0xffffffffu;
}

/* ---- translations ---- */

static uint32_t tr_flags(const struct kd_slot *s)
{
    return (s->flags & KVM_MEM_READONLY ? HVRT_TR_READONLY : 0) |
           (s->flags & KVM_MEM_LOG_DIRTY_PAGES ? HVRT_TR_LOG_DIRTY : 0) | (fm_slot_private(s) ? HVRT_TR_HAS_PRIVATE : 0);
}

/* The model's answer for (as, gfn): 0 and *t, -EINVAL or -ENOENT. */
static int expect_tr(uint32_t as, uint64_t gfn, struct hvrt_translation *t, const struct kd_slot **sp)
{
    memset(t, 0, sizeof *t);
    *sp = NULL;
    if (as >= M.rules.nr_as)
        return -EINVAL;
    const struct kd_slot *s = kd_find_gfn(&M.slots, as, gfn);
    if (!s)
        return -ENOENT;
    uint64_t off = gfn - s->base;
    *sp = s;
    t->slot = s->as << 16 | s->id;
    t->flags = tr_flags(s);
    t->base_gfn = s->base;
    t->npages = s->npages;
    t->hva = s->hva + (off << 12);
    t->private_pgoff = fm_slot_private(s) ? s->pgoff + off : 0;
    t->private_fd = -1;
    t->run_pages = s->npages - off;
    if (M.had_private) {
        uint64_t look = t->run_pages < (1ull << 18) ? t->run_pages : 1ull << 18;
        if (fm_attr_private(&M, gfn))
            t->flags |= HVRT_TR_PRIVATE;
        t->run_pages = fm_attr_run_end(&M, gfn, gfn + look) - gfn;
    }
    t->generation = M.gen[as];
    return 0;
}

static void check_tr_fields(const char *what, uint64_t gfn, const struct hvrt_translation *got,
                            const struct hvrt_translation *want, const struct kd_slot *s)
{
    EXPECT(got->slot == want->slot && got->flags == want->flags && got->base_gfn == want->base_gfn &&
               got->npages == want->npages && got->hva == want->hva && got->private_pgoff == want->private_pgoff &&
               got->result == 0 && got->run_pages == want->run_pages && got->generation == want->generation,
           "%s gfn 0x%" PRIx64 ": got slot 0x%x flags 0x%x base 0x%" PRIx64 " npages %" PRIu64 " hva 0x%" PRIx64
           " pgoff %" PRIu64 " result %d run %" PRIu64 " gen %" PRIu64 "; model slot 0x%x flags 0x%x base 0x%" PRIx64
           " npages %" PRIu64 " hva 0x%" PRIx64 " pgoff %" PRIu64 " run %" PRIu64 " gen %" PRIu64,
           what, gfn, got->slot, got->flags, got->base_gfn, got->npages, got->hva, got->private_pgoff, got->result,
           got->run_pages, got->generation, want->slot, want->flags, want->base_gfn, want->npages, want->hva,
           want->private_pgoff, want->run_pages, want->generation);
    if (fm_slot_private(s)) {
        struct stat st;
        int f = file_of_fd(s->fd);
        EXPECT(got->private_fd >= 0 && fstat(got->private_fd, &st) == 0 && st.st_ino == g_ino[f],
               "%s gfn 0x%" PRIx64 ": private_fd %d is not the slot's file", what, gfn, got->private_fd);
    } else {
        EXPECT(got->private_fd == -1, "%s gfn 0x%" PRIx64 ": private_fd %d for a slot without private backing", what,
               gfn, got->private_fd);
    }
}

static const uint8_t POISON[sizeof(struct hvrt_translation)] = { [0 ... sizeof(struct hvrt_translation) - 1] = 0xa5 };

static void check_translate(uint32_t as, uint64_t gfn)
{
    struct hvrt_translation got, want;
    const struct kd_slot *s;
    int w = expect_tr(as, gfn, &want, &s);
    memset(&got, 0xa5, sizeof got);
    int rc = hvrt_translate(g_vm, as, gfn, &got);
    EXPECT(rc == w, "hvrt_translate(as %u, gfn 0x%" PRIx64 ") returned %d, model says %d", as, gfn, rc, w);
    if (rc == 0)
        check_tr_fields("hvrt_translate", gfn, &got, &want, s);
    else
        EXPECT(!memcmp(&got, POISON, sizeof got), "hvrt_translate wrote out on error %d", rc);
}

static struct fm_reader *reader_online(void)
{
    for (int i = 0; i < M.nreaders; i++)
        if (M.readers[i].st == FM_R_ONLINE)
            return &M.readers[i];
    return NULL;
}

static void check_reader_translate(struct fm_reader *r, uint32_t as, uint64_t gfn, int use_inline)
{
    struct hvrt_translation got, want;
    const struct kd_slot *s;
    int w = expect_tr(as, gfn, &want, &s);
    if (r->st == FM_R_UNREGISTERED)
        w = -EBADF;
    else if (w != -EINVAL && r->st == FM_R_OFFLINE)
        w = -EPERM;
    memset(&got, 0xa5, sizeof got);
    int rc = use_inline ? hvrt_reader_translate_inline(r->ptr, as, gfn, &got) : hvrt_reader_translate(r->ptr, as, gfn, &got);
    const char *what = use_inline ? "hvrt_reader_translate_inline" : "hvrt_reader_translate";
    EXPECT(rc == w, "%s(as %u, gfn 0x%" PRIx64 ") returned %d, model says %d", what, as, gfn, rc, w);
    if (rc == 0)
        check_tr_fields(what, gfn, &got, &want, s);
    else
        EXPECT(!memcmp(&got, POISON, sizeof got), "%s wrote out on error %d", what, rc);
    if (use_inline && as < M.rules.nr_as) {
        const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(r->ptr, as, gfn);
        EXPECT((e != NULL) == (s != NULL), "hvrt_reader_lookup_inline(as %u, gfn 0x%" PRIx64 "): %s, model: %s", as,
               gfn, e ? "an entry" : "NULL", s ? "a slot" : "none");
        if (e)
            EXPECT(e->base_gfn == s->base && e->npages == s->npages && e->hva == s->hva &&
                       e->slot == (s->as << 16 | s->id) && e->kvm_flags == s->flags && e->tr_flags == tr_flags(s) &&
                       hvrt_slot_hva(e, gfn) == s->hva + ((gfn - s->base) << 12) &&
                       (!fm_slot_private(s) || e->private_pgoff == s->pgoff),
                   "hvrt_reader_lookup_inline(as %u, gfn 0x%" PRIx64 "): entry differs from the model's slot", as, gfn);
    }
}

/* ---- slot requests ---- */

static void readers_offline(void)
{
    for (int i = 0; i < M.nreaders; i++)
        if (M.readers[i].st == FM_R_ONLINE) {
            EXPECT_RC(hvrt_reader_offline(M.readers[i].ptr), 0, "hvrt_reader_offline (before a change)");
            M.readers[i].st = FM_R_OFFLINE;
        }
}

static void spot_check(const struct kvm_userspace_memory_region2 *r)
{
    uint32_t as = r->slot >> 16;
    if (as > 1)
        as = 0;
    uint64_t b = r->guest_phys_addr >> 12, n = r->memory_size >> 12;
    const uint64_t g[] = { b, b + n - 1, b - 1, b + n, b + n / 2 };
    for (int i = 0; i < 5; i++)
        check_translate(as, g[i]);
}

static void print_region(const char *entry, const struct kvm_userspace_memory_region2 *r)
{
    if (g_verbose)
        fprintf(stderr, "  %s slot 0x%x flags 0x%x gpa 0x%" PRIx64 " size 0x%" PRIx64 " hva area+0x%" PRIx64
                " fd %d off 0x%" PRIx64 "\n", entry, r->slot, r->flags, (uint64_t)r->guest_phys_addr,
                (uint64_t)r->memory_size, (uint64_t)r->userspace_addr - (uint64_t)g_area, (int)r->guest_memfd,
                (uint64_t)r->guest_memfd_offset);
}

/* A fresh request from the input, or a change of an existing slot (delete, move, flags, ...). */
static void gen_region(struct in *in, struct kvm_userspace_memory_region2 *r, int mutate)
{
    memset(r, 0, sizeof *r);
    if (mutate && M.slots.n) {
        const struct kd_slot *s = &M.slots.s[u8(in) % M.slots.n];
        struct kd_op op;
        kd_op_from_slot(&op, s);
        *r = op.r;
        switch (u8(in) % 9) {
        case 0: r->memory_size = 0; if (u8(in) & 1) r->flags = 0; break;
        case 1: r->guest_phys_addr = pick_gpa(in, r->memory_size); break;
        case 2: r->flags ^= KVM_MEM_LOG_DIRTY_PAGES; break;
        case 3: break; /* identical */
        case 4: r->flags ^= KVM_MEM_READONLY; break;
        case 5: r->userspace_addr += FM_PAGE; break;
        case 6: r->memory_size += FM_PAGE; break;
        case 7: r->flags ^= KVM_MEM_GUEST_MEMFD; r->guest_memfd = pick_fd(in); break;
        default: r->guest_phys_addr = pick_gpa(in, r->memory_size); r->flags ^= KVM_MEM_LOG_DIRTY_PAGES; break;
        }
        return;
    }
    r->slot = pick_slot(in);
    r->flags = pick_flags(in);
    r->memory_size = pick_size(in);
    r->guest_phys_addr = pick_gpa(in, r->memory_size);
    r->userspace_addr = pick_hva(in);
    if (r->flags & KVM_MEM_GUEST_MEMFD || u8(in) < 32) {
        r->guest_memfd = pick_fd(in);
        r->guest_memfd_offset = pick_offset(in, r->memory_size, r->guest_memfd);
    }
    if (u8(in) < 16) { /* pads are ignored */
        r->pad1 = 0xdead;
        r->pad2[u8(in) % 14] = u64(in);
    }
}

static void op_set_region(struct in *in, enum kd_entry entry, int op)
{
    struct kvm_userspace_memory_region2 r;
    gen_region(in, &r, u8(in) & 1);
    if (entry == KD_V1) { /* v1 has 32 bytes: the model sees what hvrt sees */
        struct kvm_userspace_memory_region2 z = { 0 };
        memcpy(&z, &r, 32);
        r = z;
    }
    print_region(kd_entry_name[entry], &r);
    readers_offline();
    enum fm_change ch;
    int want = fm_predict_region(&M, entry, &r, &ch);
    struct kd_op kop = { .entry = entry, .kind = "fuzz", .r = r };
    int rc = kd_hvrt_apply(g_vm, &kop);
    note(op, rc);
    EXPECT(rc == want, "set_user_memory_region (%s) slot 0x%x flags 0x%x gpa 0x%" PRIx64 " size 0x%" PRIx64
           " hva area+0x%" PRIx64 " fd %d off 0x%" PRIx64 ": hvrt %d, model %d", kd_entry_name[entry], r.slot, r.flags,
           (uint64_t)r.guest_phys_addr, (uint64_t)r.memory_size, (uint64_t)r.userspace_addr - (uint64_t)g_area,
           (int)r.guest_memfd, (uint64_t)r.guest_memfd_offset, rc, want);
    if (rc == 0 && ch != FM_NONE) {
        fm_apply_region(&M, entry, &r, ch);
        M.gen[r.slot >> 16] += M.rules.nr_as;
    }
    spot_check(&r);
}

static void op_batch(struct in *in, int op)
{
    struct kvm_userspace_memory_region2 r[4];
    int32_t res[4], want_res[4];
    size_t n = 1 + u8(in) % 4;
    uint8_t mode = u8(in);
    readers_offline();
    if (mode >= 250) { /* argument checks, in hvrt.h's order */
        int rc = mode & 1 ? hvrt_set_user_memory_regions(g_vm, NULL, n, NULL)
                          : hvrt_set_user_memory_regions(g_vm, r, (size_t)INT32_MAX + 1, NULL);
        note(op, rc);
        EXPECT_RC(rc, mode & 1 ? -EFAULT : -EINVAL, "hvrt_set_user_memory_regions (bad arguments)");
        return;
    }
    uint64_t gen0[2] = { M.gen[0], M.gen[1] };
    int changed[2] = { 0, 0 }, applied = 0;
    for (size_t i = 0; i < n; i++) {
        gen_region(in, &r[i], u8(in) & 1);
        print_region("batch", &r[i]);
        enum fm_change ch;
        want_res[i] = fm_predict_region(&M, KD_R2, &r[i], &ch);
        if (want_res[i] == 0) {
            applied++;
            if (ch != FM_NONE) {
                fm_apply_region(&M, KD_R2, &r[i], ch);
                changed[r[i].slot >> 16] = 1;
            }
        }
    }
    memset(res, 0x5a, sizeof res);
    int rc = hvrt_set_user_memory_regions(g_vm, r, n, mode & 1 ? NULL : res);
    note(op, rc);
    EXPECT_RC(rc, applied, "hvrt_set_user_memory_regions (entries applied)");
    for (size_t i = 0; !(mode & 1) && i < n; i++)
        EXPECT(res[i] == want_res[i], "batch entry %zu: hvrt %d, model %d", i, res[i], want_res[i]);
    for (int as = 0; as < 2; as++)
        M.gen[as] = gen0[as] + (changed[as] ? M.rules.nr_as : 0);
    for (size_t i = 0; i < n; i++)
        spot_check(&r[i]);
}

/* Many small slots at once (ids 100...), so snapshots get several index leaves (64 entries
 * each): through one batch (region2), or one call each (region2, or _ext for private slots).
 * Private ones are one page each of a file at consecutive offsets (the private-file index). */
static void op_bulk(struct in *in, int op)
{
    static struct kvm_userspace_memory_region2 r[KD_MAX_SLOTS];
    static int32_t res[KD_MAX_SLOTS];
    int room = KD_MAX_SLOTS - 8 - M.slots.n;
    uint8_t b = u8(in), fb = u8(in);
    int n = 60 + b % 140;
    uint32_t as = (b >> 7) & 1, flags = fb & 1 ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    uint64_t base = pick_gfn(in), stride = 1 + u8(in) % 3, hpage = u8(in);
    int batch = (b >> 6) & 1, priv = (fb >> 1) & 1;
    uint32_t fd = priv ? (batch ? (uint32_t)g_files[FM_FILE_GMEM].fd : pick_fd(in)) : 0;
    enum kd_entry entry = priv && !batch ? KD_EXT : KD_R2;
    if (priv)
        flags = KVM_MEM_GUEST_MEMFD;
    if (n > room)
        n = room;
    if (n <= 0)
        return;
    readers_offline();
    uint64_t gen0 = M.gen[as];
    int applied = 0, changed = 0;
    for (int i = 0; i < n; i++) {
        r[i] = (struct kvm_userspace_memory_region2){ .slot = as << 16 | (uint32_t)(100 + i), .flags = flags,
                                                      .guest_phys_addr = (base + (uint64_t)i * stride) << 12,
                                                      .memory_size = FM_PAGE,
                                                      .userspace_addr = (uint64_t)g_area + ((hpage + (uint64_t)i) % AREA_PAGES) * FM_PAGE,
                                                      .guest_memfd = fd,
                                                      .guest_memfd_offset = priv ? ((hpage + (uint64_t)i) % AREA_PAGES) * FM_PAGE : 0 };
        enum fm_change ch;
        int want = fm_predict_region(&M, entry, &r[i], &ch);
        int rc = 0;
        if (!batch) {
            struct kd_op kop = { .entry = entry, .kind = "bulk", .r = r[i] };
            rc = kd_hvrt_apply(g_vm, &kop);
            EXPECT(rc == want, "bulk %s #%d gfn 0x%" PRIx64 ": hvrt %d, model %d", kd_entry_name[entry], i,
                   base + (uint64_t)i * stride, rc, want);
        }
        res[i] = want;
        applied += want == 0;
        if (want == 0 && ch != FM_NONE) {
            fm_apply_region(&M, entry, &r[i], ch);
            changed = 1;
            if (!batch)
                M.gen[as] += M.rules.nr_as;
        }
    }
    if (batch) {
        static int32_t got[KD_MAX_SLOTS];
        int rc = hvrt_set_user_memory_regions(g_vm, r, (size_t)n, got);
        note(op, rc);
        EXPECT_RC(rc, applied, "hvrt_set_user_memory_regions (bulk)");
        for (int i = 0; i < n; i++)
            EXPECT(got[i] == res[i], "bulk batch entry %d: hvrt %d, model %d", i, got[i], res[i]);
        M.gen[as] = gen0 + (changed ? M.rules.nr_as : 0);
    } else {
        note(op, applied);
    }
}

/* ---- translate ---- */

static struct fm_reader *pick_reader(struct in *in, void **ptr)
{
    uint8_t b = u8(in);
    if (M.nreaders && b < 240) {
        struct fm_reader *r = &M.readers[b % M.nreaders];
        *ptr = r->ptr;
        return r;
    }
    *ptr = b & 1 ? NULL : (void *)g_fake;
    return NULL;
}

static void op_translate_batch(struct in *in, int op)
{
    uint64_t gfns[8];
    struct hvrt_translation out[8];
    void *rp = NULL;
    int use_reader = u8(in) & 1;
    struct fm_reader *rd = use_reader ? pick_reader(in, &rp) : NULL;
    uint32_t as = pick_as(in);
    size_t n = u8(in) % 9;
    uint8_t mode = u8(in);
    for (size_t i = 0; i < n; i++)
        gfns[i] = pick_gfn(in);
    memset(out, 0xa5, sizeof out);
    int want;
    if (use_reader && !rd)
        want = rp ? -EBADF : -EFAULT;
    else if (rd && rd->st == FM_R_UNREGISTERED)
        want = -EBADF;
    else if (as >= M.rules.nr_as)
        want = -EINVAL;
    else if (rd && rd->st == FM_R_OFFLINE)
        want = -EPERM;
    else if (mode >= 250 && (mode & 1)) /* n > INT32_MAX */
        want = -EINVAL;
    else if (n == 0)
        want = 0;
    else if (mode >= 250) /* NULL gfns */
        want = -EFAULT;
    else {
        want = 0;
        for (size_t i = 0; i < n; i++) {
            struct hvrt_translation t;
            const struct kd_slot *s;
            if (expect_tr(as, gfns[i], &t, &s) == 0)
                want++;
        }
    }
    size_t nn = mode >= 250 && (mode & 1) ? (size_t)INT32_MAX + 1 : n;
    const uint64_t *g = mode >= 250 && !(mode & 1) ? NULL : gfns;
    int rc = use_reader ? hvrt_reader_translate_batch(rp, as, g, nn, out) : hvrt_translate_batch(g_vm, as, g, nn, out);
    note(op, rc);
    EXPECT_RC(rc, want, use_reader ? "hvrt_reader_translate_batch" : "hvrt_translate_batch");
    if (rc <= 0 && !(rc == 0 && n > 0 && mode < 250)) {
        for (size_t i = 0; i < 8; i++)
            EXPECT(!memcmp(&out[i], POISON, sizeof out[i]), "translate batch wrote out on %d", rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct hvrt_translation t;
        const struct kd_slot *s;
        if (expect_tr(as, gfns[i], &t, &s) == 0) {
            check_tr_fields("translate batch", gfns[i], &out[i], &t, s);
        } else {
            struct hvrt_translation miss = { .result = -ENOENT, .generation = M.gen[as] };
            EXPECT(!memcmp(&out[i], &miss, sizeof miss), "translate batch miss gfn 0x%" PRIx64 ": result %d gen %" PRIu64
                   " (model gen %" PRIu64 "), other fields must be 0", gfns[i], out[i].result, out[i].generation, M.gen[as]);
        }
    }
}

/* ---- attributes ---- */

static void op_set_attributes(struct in *in, int op)
{
    struct kvm_memory_attributes a = { 0 };
    uint8_t b = u8(in);
    a.address = b < 240 ? pick_gfn(in) << 12 : (b & 1 ? pick_gfn(in) << 12 | 0x800 : UINT64_MAX - 4095);
    a.size = pick_size(in);
    const uint64_t at[] = { 0, FM_PRIVATE, FM_PRIVATE, 0, FM_PRIVATE | 1, 1, 16, UINT64_MAX };
    a.attributes = at[u8(in) % 8];
    a.flags = u8(in) >= 250 ? 1 : 0;
    readers_offline();
    int want;
    if (a.flags || (a.attributes & ~M.rules.supported_attrs) || a.size == 0 || a.address + a.size < a.address ||
        ((a.address | a.size) & 4095))
        want = -EINVAL;
    else
        want = 0;
    int rc = hvrt_set_memory_attributes(g_vm, b == 255 ? NULL : &a);
    if (b == 255)
        want = -EFAULT;
    note(op, rc);
    EXPECT(rc == want, "hvrt_set_memory_attributes(address 0x%" PRIx64 ", size 0x%" PRIx64 ", attrs 0x%" PRIx64
           ", flags %" PRIu64 "): hvrt %d, model %d", (uint64_t)a.address, (uint64_t)a.size, (uint64_t)a.attributes,
           (uint64_t)a.flags, rc, want);
    if (rc == 0) {
        uint64_t s = a.address >> 12, e = (a.address + a.size) >> 12;
        if (a.address + a.size == 0)
            e = 1ull << 52; /* ends exactly at 2^64 (not reachable: that wraps) */
        fm_attr_set(&M, s, e, a.attributes != 0);
    }
}

static void check_get_attr(uint64_t gfn)
{
    uint64_t v = 0xa5a5;
    int rc = hvrt_get_memory_attributes(g_vm, gfn, &v);
    uint64_t want = fm_attr_private(&M, gfn) ? FM_PRIVATE : 0;
    EXPECT(rc == 0 && v == want, "hvrt_get_memory_attributes(0x%" PRIx64 "): rc %d attrs 0x%" PRIx64 ", model 0x%" PRIx64,
           gfn, rc, v, want);
}

static void op_attr_query(struct in *in, int op, int which)
{
    uint64_t a = pick_gfn(in), b;
    uint8_t k = u8(in);
    if (k < 64)
        b = a + 1 + (k & 7);
    else if (k < 80)
        b = k & 1 ? 0 : a;
    else
        b = pick_gfn(in);
    int rc;
    switch (which) {
    case 0: { /* get */
        uint64_t v = 0xa5a5;
        rc = hvrt_get_memory_attributes(g_vm, a, k == 255 ? NULL : &v);
        note(op, rc);
        if (k == 255) {
            EXPECT_RC(rc, -EFAULT, "hvrt_get_memory_attributes(attrs NULL)");
            return;
        }
        check_get_attr(a);
        return;
    }
    case 1: { /* range_has */
        const uint64_t masks[] = { UINT64_MAX, FM_PRIVATE, 0, 1, FM_PRIVATE | 1, 16 };
        const uint64_t attrs[] = { 0, FM_PRIVATE, FM_PRIVATE | 1, 1 };
        uint8_t m = u8(in);
        uint64_t mask = masks[m % 6], at = attrs[(m >> 4) % 4];
        rc = hvrt_range_has_attributes(g_vm, a, b, mask, at);
        note(op, rc);
        int want = fm_range_has(&M, a, b, mask, at);
        EXPECT(rc == want, "hvrt_range_has_attributes(0x%" PRIx64 ", 0x%" PRIx64 ", mask 0x%" PRIx64 ", attrs 0x%" PRIx64
               "): hvrt %d, model %d", a, b, mask, at, rc, want);
        return;
    }
    case 2: { /* attributes_run */
        uint64_t end = 0xa5, at = 0xa5;
        rc = hvrt_attributes_run(g_vm, a, b, &end, &at);
        note(op, rc);
        if (a >= b) {
            EXPECT(rc == -EINVAL && end == 0xa5 && at == 0xa5, "hvrt_attributes_run(0x%" PRIx64 ", 0x%" PRIx64
                   "): rc %d, model -EINVAL (out untouched)", a, b, rc);
            return;
        }
        uint64_t we = fm_attr_run_end(&M, a, b), wa = fm_attr_private(&M, a) ? FM_PRIVATE : 0;
        EXPECT(rc == 0 && end == we && at == wa, "hvrt_attributes_run(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d end 0x%" PRIx64
               " attrs 0x%" PRIx64 "; model end 0x%" PRIx64 " attrs 0x%" PRIx64, a, b, rc, end, at, we, wa);
        return;
    }
    case 3: { /* attributes_count */
        uint64_t c = 0xa5;
        rc = hvrt_attributes_count(g_vm, a, b, k == 254 ? NULL : &c);
        note(op, rc);
        if (k == 254) {
            EXPECT_RC(rc, -EFAULT, "hvrt_attributes_count(NULL)");
            return;
        }
        if (a > b) {
            EXPECT(rc == -EINVAL && c == 0xa5, "hvrt_attributes_count(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d, model -EINVAL",
                   a, b, rc);
            return;
        }
        uint64_t w = fm_attr_count(&M, a, b);
        EXPECT(rc == 0 && c == w, "hvrt_attributes_count(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d count %" PRIu64
               ", model %" PRIu64, a, b, rc, c, w);
        return;
    }
    default: { /* max_mapping_level */
        uint32_t as = k & 1;
        if (k >= 250)
            as = k & 1 ? 2 : 0xffffffffu;
        rc = hvrt_max_mapping_level(g_vm, as, a);
        note(op, rc);
        int want;
        const struct kd_slot *s = as < M.rules.nr_as ? kd_find_gfn(&M.slots, as, a) : NULL;
        if (as >= M.rules.nr_as)
            want = -EINVAL;
        else if (!s)
            want = -ENOENT;
        else
            want = fm_max_level(&M, s, a);
        EXPECT(rc == want, "hvrt_max_mapping_level(as %u, gfn 0x%" PRIx64 "): hvrt %d, model %d", as, a, rc, want);
        return;
    }
    }
}

/* ---- conversion: discards, listeners, sequence ---- */

struct cb_call {
    uintptr_t ctx;
    uint64_t gpa, size;
    int to_private;
};
#define CB_MAX 4096
static struct cb_call g_cb[CB_MAX];
static int g_ncb;
static const char *g_cb_error;

static void listener(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    if (g_ncb < CB_MAX)
        g_cb[g_ncb] = (struct cb_call){ (uintptr_t)ctx, gpa, size, to_private };
    g_ncb++;
    uint64_t seq = 0, at = 0xa5;
    struct kvm_memory_attributes a = { .address = gpa, .size = 4096, .attributes = 0 };
    if (hvrt_conversion_seq(g_vm, &seq) != 0 || !(seq & 1))
        g_cb_error = "hvrt_conversion_seq is not odd inside a listener";
    else if (hvrt_get_memory_attributes(g_vm, gpa >> 12, &at) != 0 || at != (to_private ? FM_PRIVATE : 0))
        g_cb_error = "a listener does not see the new attribute";
    else if (hvrt_convert(g_vm, gpa, 4096, !to_private) != -EDEADLK)
        g_cb_error = "hvrt_convert inside a listener is not -EDEADLK";
    else if (hvrt_set_memory_attributes(g_vm, &a) != -EDEADLK)
        g_cb_error = "hvrt_set_memory_attributes inside a listener is not -EDEADLK";
    else if ((uintptr_t)ctx == 3 && hvrt_remove_conversion_listener(g_vm, listener, ctx) != 0)
        g_cb_error = "listener 3 could not remove itself from its callback";
}

/* content[f][page]: the first byte of each page of files A, B, C; -1 unknown. Only pages the
 * input wrote (touched) are checked and reset: reading or punching all 2112 pages per input
 * would cost more than the rest of the run. */
static int16_t g_content[3][AREA_PAGES];
static uint8_t g_touched[3][AREA_PAGES];

static void discard_page(int f, uint64_t pg, int failed)
{
    if (f <= FM_FILE_C && pg < g_files[f].pages)
        g_content[f][pg] = failed ? -1 : 0;
}

static void op_convert(struct in *in, int op)
{
    uint8_t b = u8(in);
    uint64_t gpa = b < 240 ? pick_gfn(in) << 12 : (b & 1 ? 0x800 : UINT64_MAX - 4095);
    uint64_t size = pick_size(in);
    uint8_t t = u8(in);
    int tp = t < 250 ? t & 1 : (t & 1 ? 2 : -1);
    readers_offline();
    int want = 0;
    if (!M.rules.private_mem || (tp != 0 && tp != 1) || size == 0 || gpa + size < gpa || ((gpa | size) & 4095))
        want = -EINVAL;
    /* the runs of pages whose attribute changes */
    struct fm_iv runs[FM_MAX_IVS + 1];
    int nruns = 0;
    if (want == 0) {
        uint64_t s = gpa >> 12, e = (gpa + size) >> 12;
        for (uint64_t g = s; g < e;) {
            uint64_t r = fm_attr_run_end(&M, g, e);
            if (fm_attr_private(&M, g) != tp) {
                if (nruns && runs[nruns - 1].e == g)
                    runs[nruns - 1].e = r;
                else
                    runs[nruns++] = (struct fm_iv){ g, r };
            }
            g = r;
        }
    }
    /* which discards: a punch through a read-only duplicate fails with -EBADF */
    int punch_fails = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nruns; i++) {
            for (int k = 0; k < M.slots.n; k++) {
                const struct kd_slot *s = &M.slots.s[k];
                uint64_t a = runs[i].s > s->base ? runs[i].s : s->base;
                uint64_t z = runs[i].e < s->base + s->npages ? runs[i].e : s->base + s->npages;
                if (a >= z)
                    continue;
                if (tp && (M.discard_policy & HVRT_DISCARD_SHARED) && pass == 1) {
                    for (uint64_t g = a; g < z; g++)
                        discard_page(FM_FILE_A, (s->hva - (uint64_t)g_area) / FM_PAGE + (g - s->base), punch_fails);
                }
                if (!tp && (M.discard_policy & HVRT_DISCARD_PRIVATE) && fm_slot_private(s)) {
                    int f = file_of_fd(s->fd);
                    if (pass == 0 && M.file_dup_ro[f])
                        punch_fails = 1;
                    if (pass == 1)
                        for (uint64_t g = a; g < z; g++)
                            discard_page(f, s->pgoff + (g - s->base), punch_fails);
                }
            }
        }
    }
    if (want == 0 && punch_fails)
        want = -EBADF;
    uint64_t seq0 = 0, seq1 = 0;
    EXPECT_RC(hvrt_conversion_seq(g_vm, &seq0), 0, "hvrt_conversion_seq");
    g_ncb = 0;
    g_cb_error = NULL;
    int rc = hvrt_convert(g_vm, gpa, size, tp);
    note(op, rc);
    EXPECT(rc == want, "hvrt_convert(0x%" PRIx64 ", 0x%" PRIx64 ", %d): hvrt %d, model %d (%d runs)", gpa, size, tp, rc,
           want, nruns);
    EXPECT(g_cb_error == NULL, "hvrt_convert: %s", g_cb_error);
    EXPECT_RC(hvrt_conversion_seq(g_vm, &seq1), 0, "hvrt_conversion_seq");
    uint64_t adv = (rc == 0 || rc == -EBADF) && nruns ? 2 : 0;
    EXPECT(seq0 == M.conv_seq && seq1 == seq0 + adv, "conversion sequence %" PRIu64 " -> %" PRIu64 ", model %" PRIu64
           " + %" PRIu64, seq0, seq1, M.conv_seq, adv);
    M.conv_seq += adv;
    if (rc != 0) {
        EXPECT(g_ncb == 0, "a failed conversion called listeners %d times", g_ncb);
        return;
    }
    /* every run, every listener in the order added; listener 3 removes itself on its first call,
     * so it is not called for the runs that follow */
    int c = 0;
    for (int i = 0; i < nruns; i++)
        for (int l = 0; l < M.nlisteners; l++, c++) {
            EXPECT(c < g_ncb, "hvrt_convert called listeners %d times; the model expects more (run %d of %d, listener %d)",
                   g_ncb, i, nruns, l);
            const struct cb_call *x = &g_cb[c < CB_MAX ? c : CB_MAX - 1];
            EXPECT(c >= CB_MAX || (x->ctx == M.listeners[l] && x->gpa == runs[i].s << 12 &&
                                   x->size == (runs[i].e - runs[i].s) << 12 && x->to_private == tp),
                   "listener call %d: ctx %" PRIuPTR " [0x%" PRIx64 ", +0x%" PRIx64 ") %d; model ctx %" PRIuPTR
                   " [0x%" PRIx64 ", +0x%" PRIx64 ")", c, x->ctx, x->gpa, x->size, x->to_private, M.listeners[l],
                   runs[i].s << 12, (runs[i].e - runs[i].s) << 12);
            if (M.listeners[l] == 3) {
                memmove(&M.listeners[l], &M.listeners[l + 1], (size_t)(M.nlisteners - l - 1) * sizeof M.listeners[0]);
                M.nlisteners--;
                l--;
            }
        }
    EXPECT(g_ncb == c, "hvrt_convert called listeners %d times, model %d", g_ncb, c);
    if (want == 0)
        fm_attr_set(&M, gpa >> 12, (gpa + size) >> 12 ? (gpa + size) >> 12 : FM_GFN_LIMIT, tp);
}

static void op_listener(struct in *in, int op)
{
    uint8_t b = u8(in);
    uintptr_t ctx = 1 + (b >> 1) % 3;
    int rc, want;
    if (b >= 250) {
        rc = hvrt_add_conversion_listener(g_vm, NULL, (void *)ctx);
        note(op, rc);
        EXPECT_RC(rc, -EFAULT, "hvrt_add_conversion_listener(cb NULL)");
        return;
    }
    int idx = fm_listener_index(&M, ctx);
    if (b & 1) {
        rc = hvrt_add_conversion_listener(g_vm, listener, (void *)ctx);
        want = idx >= 0 ? -EEXIST : 0;
        if (rc == 0 && want == 0)
            M.listeners[M.nlisteners++] = ctx;
    } else {
        rc = hvrt_remove_conversion_listener(g_vm, listener, (void *)ctx);
        want = idx >= 0 ? 0 : -ENOENT;
        if (rc == 0 && want == 0) {
            memmove(&M.listeners[idx], &M.listeners[idx + 1], (size_t)(M.nlisteners - idx - 1) * sizeof M.listeners[0]);
            M.nlisteners--;
        }
    }
    note(op, rc);
    EXPECT(rc == want, "%s conversion listener ctx %" PRIuPTR ": hvrt %d, model %d", b & 1 ? "add" : "remove", ctx, rc, want);
}

static void op_discard_policy(struct in *in, int op)
{
    const uint32_t p[] = { 0, 1, 2, 3, 3, 3, 4, 0xffffffffu };
    uint32_t f = p[u8(in) % 8];
    int rc = hvrt_set_discard_policy(g_vm, f);
    note(op, rc);
    int want = f & ~3u ? -EINVAL : 0;
    EXPECT_RC(rc, want, "hvrt_set_discard_policy");
    if (rc == 0)
        M.discard_policy = f;
}

static void op_write(struct in *in, int op)
{
    int f = u8(in) % 3;
    uint64_t pg = pick_gfn(in) % g_files[f].pages, n = 1 + u8(in) % 16;
    unsigned char v = u8(in) | 1;
    for (uint64_t i = pg; i < pg + n && i < g_files[f].pages; i++) {
        g_files[f].map[i * FM_PAGE] = v;
        g_content[f][i] = v;
        g_touched[f][i] = 1;
    }
    note(op, 0);
}

static void check_content(void)
{
    for (int f = 0; f <= FM_FILE_C; f++)
        for (uint64_t p = 0; p < g_files[f].pages; p++)
            EXPECT(!g_touched[f][p] || g_content[f][p] < 0 || g_files[f].map[p * FM_PAGE] == g_content[f][p],
                   "file %c page %" PRIu64 ": byte 0x%x, model 0x%x (a discard hit the wrong page or missed one)",
                   'A' + f, p, g_files[f].map[p * FM_PAGE], g_content[f][p]);
}

/* ---- reverse queries ---- */

#define RANGES_MAX (KD_MAX_SLOTS + 8) /* a slot gives at most one pair */

static int cmp_range(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* key[0..2] */
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

struct keyed { uint64_t k[3]; struct hvrt_slot_range r; };

static void check_pairs(const char *what, int rc, int want_total, struct keyed *w, size_t cap,
                        const struct hvrt_slot_range *out)
{
    EXPECT(rc == want_total, "%s returned %d, model %d pairs", what, rc, want_total);
    qsort(w, (size_t)want_total, sizeof *w, cmp_range);
    for (size_t i = 0; i < (size_t)want_total && i < cap; i++)
        EXPECT(!memcmp(&out[i], &w[i].r, sizeof out[i]), "%s pair %zu: slot 0x%x flags 0x%x [0x%" PRIx64 ", 0x%" PRIx64
               ") reserved %" PRIu64 "; model slot 0x%x flags 0x%x [0x%" PRIx64 ", 0x%" PRIx64 ")", what, i, out[i].slot,
               out[i].flags, out[i].gfn_start, out[i].gfn_end, out[i].reserved, w[i].r.slot, w[i].r.flags,
               w[i].r.gfn_start, w[i].r.gfn_end);
    for (size_t i = (size_t)want_total < cap ? (size_t)want_total : cap; i < RANGES_MAX; i++)
        EXPECT(((const uint8_t *)&out[i])[0] == 0xa5, "%s wrote past min(total, cap)", what);
}

static size_t pick_cap(struct in *in)
{
    const size_t c[] = { 8, 8, 8, 0, 1, 2, SIZE_MAX, 8 }; /* SIZE_MAX: "enough", whatever the total */
    return c[u8(in) % 8];
}

static void op_find_hva(struct in *in, int op)
{
    uint64_t hva = pick_hva(in) + (u8(in) < 64 ? 100 : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 1) : l < 220 ? 0 : l < 240 ? UINT64_MAX - hva : UINT64_MAX - hva + 1;
    size_t cap = pick_cap(in);
    int null_out = u8(in) >= 240;
    static struct hvrt_slot_range out[RANGES_MAX];
    memset(out, 0xa5, sizeof out);
    int rc = hvrt_find_slots_by_hva(g_vm, hva, len, null_out ? NULL : out, cap);
    note(op, rc);
    if (null_out && cap > 0) {
        EXPECT_RC(rc, -EFAULT, "hvrt_find_slots_by_hva(out NULL)");
        return;
    }
    if (hva + len < hva) {
        EXPECT_RC(rc, -EINVAL, "hvrt_find_slots_by_hva(wrapping range)");
        return;
    }
    struct keyed w[KD_MAX_SLOTS];
    int n = 0;
    for (int i = 0; len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        uint64_t se = s->hva + s->npages * FM_PAGE;
        uint64_t a = hva > s->hva ? hva : s->hva, z = hva + len < se ? hva + len : se;
        if (a >= z)
            continue;
        w[n].k[0] = s->as;
        w[n].k[1] = s->hva;
        w[n].k[2] = s->as << 16 | s->id;
        w[n].r = (struct hvrt_slot_range){ .slot = s->as << 16 | s->id, .flags = tr_flags(s),
                                           .gfn_start = s->base + ((a - s->hva) >> 12),
                                           .gfn_end = s->base + ((z + 4095 - s->hva) >> 12) };
        n++;
    }
    check_pairs("hvrt_find_slots_by_hva", rc, n, w, null_out ? 0 : cap, out);
}

static void op_find_private(struct in *in, int op)
{
    uint32_t fd = pick_fd(in);
    uint64_t off = pick_offset(in, 0, fd) + (u8(in) < 64 ? 100 : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 1) : l < 220 ? 0 : l < 240 ? UINT64_MAX - off : UINT64_MAX - off + 1;
    size_t cap = pick_cap(in);
    int null_out = u8(in) >= 240;
    static struct hvrt_slot_range out[RANGES_MAX];
    memset(out, 0xa5, sizeof out);
    int rc = hvrt_find_slots_by_private(g_vm, (int)fd, off, len, null_out ? NULL : out, cap);
    note(op, rc);
    int f = file_of_fd(fd);
    if (null_out && cap > 0) {
        EXPECT_RC(rc, -EFAULT, "hvrt_find_slots_by_private(out NULL)");
        return;
    }
    if (off + len < off) {
        EXPECT_RC(rc, -EINVAL, "hvrt_find_slots_by_private(wrapping range)");
        return;
    }
    if ((int)fd < 0 || f < 0) {
        EXPECT_RC(rc, -EBADF, "hvrt_find_slots_by_private(fd not open)");
        return;
    }
    unsigned __int128 first = off >> 12, end = ((unsigned __int128)off + len + 4095) >> 12;
    struct keyed w[KD_MAX_SLOTS];
    int n = 0;
    for (int i = 0; len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        if (!fm_slot_private(s) || file_of_fd(s->fd) != f)
            continue;
        unsigned __int128 a = s->pgoff > first ? s->pgoff : first;
        unsigned __int128 z = s->pgoff + s->npages < end ? s->pgoff + s->npages : end;
        if (a >= z)
            continue;
        w[n].k[0] = s->as;
        w[n].k[1] = s->pgoff;
        w[n].k[2] = 0;
        w[n].r = (struct hvrt_slot_range){ .slot = s->as << 16 | s->id, .flags = tr_flags(s),
                                           .gfn_start = s->base + (uint64_t)a - s->pgoff,
                                           .gfn_end = s->base + (uint64_t)z - s->pgoff };
        n++;
    }
    check_pairs("hvrt_find_slots_by_private", rc, n, w, null_out ? 0 : cap, out);
}

/* ---- dirty log ---- */

static uint32_t pick_dirty_slot(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 200 && M.slots.n) {
        const struct kd_slot *s = &M.slots.s[b % M.slots.n];
        return s->as << 16 | s->id;
    }
    return pick_slot(in);
}

/* -EINVAL / -ENOENT / 0 and the slot's npages, as KVM looks a dirty-log slot up. */
static int dirty_lookup(uint32_t slot, struct fm_dirty **d, uint64_t *npages)
{
    uint32_t as = slot >> 16, id = slot & 0xffff;
    if (as >= M.rules.nr_as || id >= M.rules.max_slots)
        return -EINVAL;
    const struct kd_slot *s = kd_find_id(&M.slots, as, id);
    *d = s ? fm_dirty_of(&M, as, id) : NULL;
    *npages = s ? s->npages : 0;
    return *d ? 0 : -ENOENT;
}

/* The last hvrt_dirty_log_get_view: hvrt.h promises it stays unchanged until the next get,
 * get_view or clear of its slot, a change of the slot, or hvrt_vm_destroy. */
static struct {
    int active;
    uint32_t slot;
    const uint64_t *p;
    size_t n;
    uint64_t w[FM_DIRTY_WORDS];
} g_view;

static void view_end(uint32_t slot)
{
    if (g_view.active && g_view.slot == slot)
        g_view.active = 0;
}
static void view_on_change(uint32_t as, uint32_t id) { view_end(as << 16 | id); }

static void check_view(void)
{
    if (g_view.active)
        EXPECT(!memcmp(g_view.p, g_view.w, g_view.n * 8), "the dirty-log view of slot 0x%x changed while hvrt.h "
               "says it stays valid and unchanged (no get/get_view/clear of the slot, no change of it since)", g_view.slot);
}

static void op_dirty_get(struct in *in, int op, int view)
{
    uint32_t slot = pick_dirty_slot(in);
    view_end(slot);
    int null_bm = u8(in) >= 245;
    static uint64_t buf[FM_DIRTY_WORDS + 2];
    const uint64_t *vp = (const uint64_t *)0x1;
    memset(buf, 0xa5, sizeof buf);
    struct fm_dirty *d;
    uint64_t np;
    int want = dirty_lookup(slot, &d, &np);
    if (want == 0 && null_bm)
        want = -EFAULT;
    int rc = view ? hvrt_dirty_log_get_view(g_vm, slot, null_bm ? NULL : &vp)
                  : hvrt_dirty_log_get(g_vm, slot, null_bm ? NULL : buf);
    note(op, rc);
    EXPECT(rc == want, "hvrt_dirty_log_%s(slot 0x%x): hvrt %d, model %d", view ? "get_view" : "get", slot, rc, want);
    if (rc != 0)
        return;
    size_t words = (np + 63) / 64;
    const uint64_t *got = view ? vp : buf;
    for (size_t i = 0; i < words; i++)
        EXPECT(got[i] == d->bits[i], "dirty log of slot 0x%x word %zu: 0x%" PRIx64 ", model 0x%" PRIx64, slot, i, got[i],
               d->bits[i]);
    if (!view)
        EXPECT(buf[words] == 0xa5a5a5a5a5a5a5a5ull, "hvrt_dirty_log_get wrote past ALIGN(npages, 64) / 8 bytes");
    if (view) {
        g_view.active = 1;
        g_view.slot = slot;
        g_view.p = vp;
        g_view.n = words;
        memcpy(g_view.w, vp, words * 8);
    }
    if (!(M.dirty_mode & HVRT_DIRTY_LOG_MANUAL_PROTECT))
        memset(d->bits, 0, words * 8);
}

static void op_dirty_clear(struct in *in, int op)
{
    uint32_t slot = pick_dirty_slot(in);
    view_end(slot);
    struct fm_dirty *d;
    uint64_t np;
    int look = dirty_lookup(slot, &d, &np);
    const uint64_t fp[] = { 0, 0, 64, 128, 512, 1, np, np + 64, UINT64_MAX - 63 };
    uint64_t first = fp[u8(in) % 9];
    uint8_t k = u8(in);
    const uint32_t nps[] = { (uint32_t)(np - first), 64, 0, 128, 1, 63, 65, 0xffffffffu };
    uint32_t num = nps[k % 8];
    static uint64_t bm[FM_DIRTY_WORDS + 2];
    int null_bm = u8(in) >= 245;
    uint8_t fill = u8(in);
    for (size_t i = 0; i < sizeof bm / 8; i++) /* words from the input, then the last one repeated */
        bm[i] = fill & 1 ? ~0ull : i < 4 ? u64(in) : bm[3];
    int want = look == -EINVAL ? -EINVAL : (first % 64) ? -EINVAL : look;
    if (want == 0 && (first > np || num > np - first || (num % 64 && first + num != np)))
        want = -EINVAL;
    if (want == 0 && null_bm && num > 0)
        want = -EFAULT;
    int rc = hvrt_dirty_log_clear(g_vm, slot, first, num, null_bm ? NULL : bm);
    note(op, rc);
    EXPECT(rc == want, "hvrt_dirty_log_clear(slot 0x%x, first %" PRIu64 ", num %u%s): hvrt %d, model %d", slot, first,
           num, null_bm ? ", NULL" : "", rc, want);
    if (rc == 0)
        for (uint64_t i = 0; i < num && first + i < np; i++)
            if (bm[i / 64] >> (i % 64) & 1)
                d->bits[(first + i) / 64] &= ~(1ull << ((first + i) % 64));
}

static void op_mark_dirty(struct in *in, int op)
{
    uint64_t gpa = (pick_gfn(in) << 12) + (u8(in) < 64 ? 0x7ff : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 3) : l < 220 ? 0 : l < 240 ? 0 - gpa : 1 - gpa;
    int64_t want = 0;
    int wraps = gpa + len < gpa && gpa + len != 0;
    uint64_t first = gpa >> 12, last = (uint64_t)(((unsigned __int128)gpa + len - 1) >> 12);
    if (wraps)
        want = -EINVAL;
    for (int i = 0; !wraps && len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        struct fm_dirty *d = s->as == 0 ? fm_dirty_of(&M, 0, s->id) : NULL;
        if (!d)
            continue;
        uint64_t a = first > s->base ? first : s->base, z = last < s->base + s->npages - 1 ? last : s->base + s->npages - 1;
        for (uint64_t g = a; g <= z && a <= z; g++) {
            d->bits[(g - s->base) / 64] |= 1ull << ((g - s->base) % 64);
            want++;
        }
    }
    int64_t rc = hvrt_mark_dirty(g_vm, gpa, len);
    note(op, rc);
    EXPECT(rc == want, "hvrt_mark_dirty(0x%" PRIx64 ", 0x%" PRIx64 "): hvrt %" PRId64 ", model %" PRId64, gpa, len, rc, want);
}

static void op_dirty_mode(struct in *in, int op)
{
    const uint32_t m[] = { 0, 1, 3, 1, 2, 4, 0xffffffffu, 3 };
    uint32_t mode = m[u8(in) % 8];
    int rc = hvrt_dirty_log_set_mode(g_vm, mode);
    note(op, rc);
    uint32_t allowed = mode & 1 ? 3u : 1u;
    int want = mode & ~allowed ? -EINVAL : 0;
    EXPECT_RC(rc, want, "hvrt_dirty_log_set_mode");
    if (rc == 0)
        M.dirty_mode = mode;
}

/* ---- readers ---- */

static void op_reader(struct in *in, int op, int which)
{
    if (which == 0) { /* register */
        if (M.nreaders == FM_MAX_READERS)
            return;
        hvrt_reader *r = NULL;
        int null_out = u8(in) >= 250;
        int rc = hvrt_reader_register(g_vm, null_out ? NULL : &r);
        note(op, rc);
        EXPECT_RC(rc, null_out ? -EFAULT : 0, "hvrt_reader_register");
        if (rc)
            return;
        struct fm_reader *m = fm_reader_of(&M, r);
        EXPECT(!m || m->st == FM_R_UNREGISTERED, "hvrt_reader_register returned a reader that is still registered");
        if (!m) {
            m = &M.readers[M.nreaders++];
            m->ptr = r;
        }
        m->st = FM_R_ONLINE;
        return;
    }
    void *p;
    struct fm_reader *r = pick_reader(in, &p);
    int want = !p ? -EFAULT : !r || r->st == FM_R_UNREGISTERED ? -EBADF : 0;
    int rc;
    const char *what;
    switch (which) {
    case 1: rc = hvrt_reader_online(p); what = "hvrt_reader_online"; break;
    case 2: rc = hvrt_reader_offline(p); what = "hvrt_reader_offline"; break;
    case 3:
        rc = hvrt_reader_quiescent(p);
        what = "hvrt_reader_quiescent";
        if (want == 0 && r->st == FM_R_OFFLINE)
            want = -EPERM;
        break;
    default: rc = hvrt_reader_unregister(p); what = "hvrt_reader_unregister"; break;
    }
    note(op, rc);
    EXPECT_RC(rc, want, what);
    if (rc == 0)
        r->st = which == 1 ? FM_R_ONLINE : which == 2 ? FM_R_OFFLINE : which == 3 ? r->st : FM_R_UNREGISTERED;
}

/* ---- misuse: NULL and foreign handles ---- */

static void op_misuse(struct in *in, int op)
{
    uint8_t b = u8(in);
    hvrt_vm *v = b & 1 ? NULL : (hvrt_vm *)g_fake;
    int want = v ? -EBADF : -EFAULT;
    struct hvrt_translation t;
    struct kvm_userspace_memory_region2 r2 = { .memory_size = 4096, .userspace_addr = (uint64_t)g_area };
    struct kvm_memory_attributes a = { .size = 4096 };
    uint64_t x;
    hvrt_reader *rd;
    struct hvrt_slot_range sr[1];
    int64_t rc;
    switch ((b >> 1) % 16) {
    case 0: rc = hvrt_translate(v, 0, 0, &t); break;
    case 1: rc = hvrt_set_user_memory_region2(v, &r2); break;
    case 2: rc = hvrt_set_memory_attributes(v, &a); break;
    case 3: rc = hvrt_get_memory_attributes(v, 0, &x); break;
    case 4: rc = hvrt_convert(v, 0, 4096, 1); break;
    case 5: rc = hvrt_dirty_log_get(v, 0, &x); break;
    case 6: rc = hvrt_mark_dirty(v, 0, 4096); break;
    case 7: rc = hvrt_find_slots_by_hva(v, 0, 4096, sr, 1); break;
    case 8: rc = hvrt_reader_register(v, &rd); break;
    case 9: rc = hvrt_range_has_attributes(v, 0, 1, 8, 0); break;
    case 10: rc = hvrt_attributes_run(v, 0, 1, &x, &x); break;
    case 11: rc = hvrt_attributes_count(v, 0, 1, &x); break;
    case 12: rc = hvrt_max_mapping_level(v, 0, 0); break;
    case 13: rc = hvrt_conversion_seq(v, &x); break;
    case 14: rc = hvrt_set_discard_policy(v, 0); break;
    default: rc = hvrt_dirty_log_set_mode(v, 0); break;
    }
    note(op, rc);
    EXPECT(rc == want, "call %d with a %s VM: %" PRId64 ", want %d", (b >> 1) % 16, v ? "foreign" : "NULL", rc, want);
}

/* ---- hvrt_bitmap_next_set over a bitmap from the input, in a buffer ending at its last word ---- */

static void op_bitmap_next_set(struct in *in, int op)
{
    static uint64_t words[8];
    size_t nw = 1 + u8(in) % 8;
    uint64_t *bm = words + 8 - nw; /* ASan catches a read past the end */
    for (size_t i = 0; i < nw; i++) {
        uint8_t k = u8(in);
        bm[i] = k < 64 ? 1ull << k : k < 128 ? 0 : k < 192 ? ~0ull : u64(in);
    }
    uint8_t b = u8(in);
    uint64_t nbits = b < 250 ? b % (nw * 64 + 1) : nw * 64; /* never past the buffer */
    uint64_t from = pick_gfn(in);
    int null_bm = u8(in) >= 250;
    uint64_t want = nbits;
    for (uint64_t i = from; !null_bm && i < nbits; i++)
        if (bm[i / 64] >> (i % 64) & 1) {
            want = i;
            break;
        }
    uint64_t got = hvrt_bitmap_next_set(null_bm ? NULL : bm, nbits, from);
    note(op, got == nbits);
    EXPECT(got == want, "hvrt_bitmap_next_set(%zu words, nbits %" PRIu64 ", from %" PRIu64 "): %" PRIu64 ", model %" PRIu64,
           nw, nbits, from, got, want);
}

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

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

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
                                .user_addr_limit = g_area_end };
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
    int fds0 = count_fds();
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
    int fds1 = count_fds();
    EXPECT(fds1 == fds0, "open fds %d before the VM, %d after hvrt_vm_destroy (a private-file duplicate leaked?)", fds0, fds1);
    return 0;
}

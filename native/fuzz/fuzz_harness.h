/* fuzz_harness.h — what abi_fuzz's ops share: the backing memory (made once per process), the
 * feedback counters libFuzzer reads, the input reader, the mismatch report and the argument
 * decoders. Part of abi_fuzz.c's single translation unit (static functions only). */
#ifndef HVRT_FUZZ_HARNESS_H
#define HVRT_FUZZ_HARNESS_H
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
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

__attribute__((noreturn, format(printf, 3, 4))) static void fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    const char *base = strrchr(file, '/');
    fprintf(stderr, "hvrt-fuzz MISMATCH (%s:%d) op #%d %s: ", base ? base + 1 : file, line, g_op_no, g_op_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (vm type %u, %u address spaces, %u slots max, max gfn 0x%" PRIx64 "; rerun with HVRT_FUZZ_VERBOSE=1)\n",
            M.rules.type, M.rules.nr_as, M.rules.max_slots, M.rules.max_gfn);
    abort();
}
#define EXPECT(cond, ...) \
    do { if (!(cond)) fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define EXPECT_RC(got, want, what) \
    do { long long g_ = (long long)(got), w_ = (long long)(want); \
         EXPECT(g_ == w_, "%s returned %lld, model says %lld", what, g_, w_); } while (0)

/* Counts the result for libFuzzer; every error an export returns must be one hvrt.h lists. */
static void note(int op, int64_t rc)
{
    if (rc < 0 && (!strcmp(hvrt_errname((int)rc), "UNKNOWN") || !hvrt_strerror((int)rc)))
        fail(__FILE__, __LINE__, "returned %" PRId64 ", a code HVRT_ERRNO_MAP does not list", rc);
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
#endif

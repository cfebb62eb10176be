/* translate_bench: gfn → slot translation as a C caller of libhvrt.so pays it, against the C a
 * VMM author would write instead, in the same run over the same layout and the same gfns.
 *
 *   ./build.sh bench native [--slots 1,8,64] [--reps 7] [--lookups 2097152] [--conc-secs 1]
 *                           [--conc-slots 64,4096] [--no-conc] [--no-single] [--rcu-nap]
 *
 * Single-threaded part: for each slot count, N slots of 2 MiB with seeded gaps of 1..4 × 2 MiB
 * are created in one hvrt VM (hvrt_set_user_memory_regions) and kept in a sorted C array. Two
 * precomputed streams of 64 Ki gfns (random: ~90% hits, ~10% misses; sequential: every page of
 * consecutive slots in order) are walked by every path; one repetition is `lookups` lookups
 * timed with CLOCK_MONOTONIC; repetitions of the paths are interleaved (rep 1 of every path,
 * then rep 2, ...) so drift on a shared host hits them alike. Prints ns per lookup: median,
 * min and max of the repetitions, and the ratio of medians to c_bsearch of the same run.
 * Every path fills the same 64-byte struct hvrt_translation into a small ring the loop reads
 * back, so no path gets its stores optimised away. Paths: c_bsearch (the branchy baseline the
 * report's targets use), c_bsearch_lru, c_bsearch_hva; c_flat, c_flat_lru, c_flat_hva (the
 * branch-free search over flat keys a skilled author writes: issue 15's honest baselines);
 * reader_lookup (host address only, no fill), inline_find (hvrt_inline.h
 * search without a reader), reader_inline, export (hvrt_translate),
 * reader_export, batch64 and reader_batch64 (64 gfns a call). Then reverse queries by host
 * address and by private-file page (hvrt_find_slots_by_hva / _by_private against a scan and a
 * binary search, reverse_query.h).
 *
 * Concurrent part: 1 and 2 reader threads for conc-secs each while a writer changes a slot
 * every 100 µs (toggles LOG_DIRTY, then moves it 2 MiB up, then toggles, then moves it back).
 * Reports reader lookups/s and the writer's change latency. The baseline c_rcu has the same
 * threads: its writer copies the sorted array, changes the copy, publishes it with an atomic
 * exchange, waits for readers (QSBR: readers report a quiescent state every QS_EVERY lookups)
 * and frees the old array; its readers binary-search the current array. hvrt's readers are
 * unregistered (export) or registered (reader_inline, reader_export), the latter quiescent
 * every QS_EVERY lookups too. Nothing is pinned.
 *
 * The benchmark never asserts speed: it prints numbers and, last, one line per target of the
 * issue "Lock-free translation at scale" saying met or not met. It exits non-zero only if the
 * paths disagree on a translation or set-up fails.
 */
#include "bench_result.h"
#include <errno.h>
#include <hvrt.h>
#include <hvrt_inline.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include "bench_layout.h"
#include "reverse_query.h"

#define STREAM_LEN 65536u /* 512 KiB of gfns: fits L2, too long for the branch predictor */
#define STREAM_MASK (STREAM_LEN - 1)
#define BATCH 64
#define QS_EVERY 256 /* lookups between a reader's quiescent states (both hvrt and c_rcu readers) */
#define WRITER_PERIOD_NS 100000ll
#define MAX_SLOT_COUNTS 8
#define MAX_PATHS 16

/* ---- options ---------------------------------------------------------------------------- */

static size_t opt_slots[MAX_SLOT_COUNTS] = { 1, 8, 64, 512, 4096, 32764 };
static int opt_nslots = 6;
static size_t opt_conc_slots[MAX_SLOT_COUNTS] = { 64, 4096 };
static int opt_nconc = 2;
static int opt_reps = 7;
static size_t opt_lookups = 2u << 20;
static double opt_conc_secs = 1.0;
static bool opt_single = true, opt_conc = true;
static bool opt_rcu_sleep = false; /* --rcu-nap: c_rcu's writer naps 10 us (not yields) after 100 spins */

static int parse_list(const char *s, size_t *out)
{
    int n = 0;
    while (*s && n < MAX_SLOT_COUNTS) {
        char *end;
        out[n++] = strtoull(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--slots"))
            opt_nslots = parse_list(v, opt_slots), i++;
        else if (!strcmp(a, "--conc-slots"))
            opt_nconc = parse_list(v, opt_conc_slots), i++;
        else if (!strcmp(a, "--reps"))
            opt_reps = atoi(v), i++;
        else if (!strcmp(a, "--lookups"))
            opt_lookups = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--conc-secs"))
            opt_conc_secs = atof(v), i++;
        else if (!strcmp(a, "--no-conc"))
            opt_conc = false;
        else if (!strcmp(a, "--no-single"))
            opt_single = false;
        else if (!strcmp(a, "--rcu-nap"))
            opt_rcu_sleep = true;
        else {
            fprintf(stderr, "usage: translate_bench [--slots 1,8,...] [--reps N] [--lookups N] [--conc-secs S] "
                            "[--conc-slots 64,4096] [--no-conc] [--no-single] [--rcu-nap]\n");
            exit(2);
        }
    }
    if (opt_reps < 1 || opt_lookups < BATCH)
        exit(2);
    opt_lookups -= opt_lookups % BATCH;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The host's load average, printed at start and end: this machine is shared, and a number
 * measured next to somebody's build says so. */
static void print_load(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(buf, sizeof buf, f) == NULL)
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("# load average %s: %s\n", when, buf);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "translate_bench: %s: %d (%s)\n", what, rc, hvrt_strerror(rc));
    exit(1);
}

/* Where every path writes its translations: a ring, so stores cannot be hoisted out of loops. */
static struct hvrt_translation g_ring[16] __attribute__((aligned(64)));
static struct hvrt_translation g_batch_out[BATCH] __attribute__((aligned(64)));

/* A default VM under the newest kernel profile: hvrt's own paths, whatever this host's KVM takes
 * (kvm_profile 0 would refuse the reverse queries' private slots on a KVM without them). */
static const struct hvrt_vm_config g_newest = { .size = sizeof g_newest, .kvm_profile = HVRT_KVM_PROFILE_NEWEST };
static volatile uint64_t g_sink;

/* ---- the VM under test --------------------------------------------------------------------- */

struct bench {
    size_t n;
    struct cslot *slots;
    hvrt_vm *vm;
    uint64_t *streams[2]; /* random, sequential */
    uint64_t *hvas;       /* host addresses for the reverse queries */
    size_t last_hit;      /* c_bsearch_lru's cache */
    uint64_t *keys;       /* the slots' base gfns, flat (c_flat*) */
    size_t flat_last_hit; /* c_flat_lru's cache */
    hvrt_reader *reader;  /* the main thread's, online during the single-threaded part */
};

static hvrt_vm *vm_with_slots(const struct cslot *slots, size_t n)
{
    hvrt_vm *vm;
    int rc = hvrt_vm_create(&g_newest, &vm);
    if (rc != 0)
        die("hvrt_vm_create", rc);
    struct kvm_userspace_memory_region2 *r = calloc(n, sizeof *r);
    int32_t *results = calloc(n, sizeof *results);
    for (size_t i = 0; i < n; i++) {
        r[i].slot = slots[i].slot;
        r[i].flags = slots[i].flags;
        r[i].guest_phys_addr = slots[i].base_gfn << 12;
        r[i].memory_size = slots[i].npages << 12;
        r[i].userspace_addr = slots[i].hva;
    }
    rc = hvrt_set_user_memory_regions(vm, r, n, results);
    for (size_t i = 0; rc >= 0 && rc != (int)n && i < n; i++)
        if (results[i] != 0)
            rc = results[i]; /* the first refused entry's code */
    if (rc != (int)n)
        die("hvrt_set_user_memory_regions", rc);
    free(r);
    free(results);
    return vm;
}

static void bench_init(struct bench *b, size_t n)
{
    b->n = n;
    b->slots = malloc(n * sizeof *b->slots);
    layout_build(b->slots, n, 1000 + n);
    b->vm = vm_with_slots(b->slots, n);
    for (int k = 0; k < 2; k++)
        b->streams[k] = aligned_alloc(64, STREAM_LEN * sizeof(uint64_t));
    stream_random(b->slots, n, b->streams[0], STREAM_LEN, 2000 + n);
    stream_sequential(b->slots, n, b->streams[1], STREAM_LEN);
    b->hvas = aligned_alloc(64, STREAM_LEN * sizeof(uint64_t));
    stream_hva(n, b->hvas, STREAM_LEN, 3000 + n);
    b->last_hit = 0;
    b->keys = c_flat_keys(b->slots, n);
    b->flat_last_hit = 0;
    int rc = hvrt_reader_register(b->vm, &b->reader);
    if (rc != 0)
        die("hvrt_reader_register", rc);
}

static void bench_fini(struct bench *b)
{
    hvrt_reader_unregister(b->reader);
    hvrt_vm_destroy(b->vm);
    free(b->slots);
    free(b->keys);
    free(b->streams[0]);
    free(b->streams[1]);
    free(b->hvas);
}

/* The published snapshot of address space 0 (hvrt_inline.h layout). Only safe while no writer
 * runs (single-threaded part): a bare load keeps nothing alive. */
static inline const struct hvrt_snapshot *current_snapshot(hvrt_vm *vm)
{
    return __atomic_load_n(&((const struct hvrt_vm_layout *)vm)->current[0], __ATOMIC_ACQUIRE);
}

/* ---- paths: each does opt_lookups lookups over one stream ---------------------------------- */

typedef uint64_t (*path_fn)(struct bench *b, const uint64_t *gfns);

static uint64_t run_c_bsearch(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    size_t n = b->n;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        struct hvrt_translation *t = &g_ring[i & 15];
        const struct cslot *s = c_bsearch(slots, n, gfn);
        if (s != NULL) {
            c_fill(s, gfn, 0, t);
            sum += t->hva;
        }
    }
    return sum;
}

/* KVM's last_used_slot in front of the same search. */
static uint64_t run_c_bsearch_lru(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    size_t n = b->n, last = b->last_hit;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        struct hvrt_translation *t = &g_ring[i & 15];
        const struct cslot *s = &slots[last];
        if (gfn - s->base_gfn >= s->npages) {
            s = c_bsearch(slots, n, gfn);
            if (s == NULL)
                continue;
            last = (size_t)(s - slots);
        }
        c_fill(s, gfn, 0, t);
        sum += t->hva;
    }
    b->last_hit = last;
    return sum;
}

/* The branch-free search over flat keys, filling the same 64 bytes (issue 15's baseline). */
static uint64_t run_c_flat(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    const uint64_t *keys = b->keys;
    size_t n = b->n;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        struct hvrt_translation *t = &g_ring[i & 15];
        const struct cslot *s = c_flat_find(keys, slots, n, gfn);
        if (s != NULL) {
            c_fill(s, gfn, 0, t);
            sum += t->hva;
        }
    }
    return sum;
}

/* The same, host address only (no fill): the like-for-like baseline of reader_lookup. */
static uint64_t run_c_flat_hva(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    const uint64_t *keys = b->keys;
    size_t n = b->n;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        const struct cslot *s = c_flat_find(keys, slots, n, gfn);
        if (s != NULL)
            sum += s->hva + ((gfn - s->base_gfn) << 12);
    }
    return sum;
}

/* KVM's last_used_slot in front of the branch-free search, filling the 64 bytes. */
static uint64_t run_c_flat_lru(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    const uint64_t *keys = b->keys;
    size_t n = b->n, last = b->flat_last_hit;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        struct hvrt_translation *t = &g_ring[i & 15];
        const struct cslot *s = &slots[last];
        if (gfn - s->base_gfn >= s->npages) {
            s = c_flat_find(keys, slots, n, gfn);
            if (s == NULL)
                continue;
            last = (size_t)(s - slots);
        }
        c_fill(s, gfn, 0, t);
        sum += t->hva;
    }
    b->flat_last_hit = last;
    return sum;
}

/* hvrt_inline.h's search and fill on the published snapshot, loaded (acquire) per lookup as
 * hvrt_reader_translate_inline does, without a reader's last-hit cache. */
static uint64_t run_inline_find(struct bench *b, const uint64_t *gfns)
{
    hvrt_vm *vm = b->vm;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        struct hvrt_translation *t = &g_ring[i & 15];
        const struct hvrt_snapshot *s = current_snapshot(vm);
        const struct hvrt_slot_entry *e = hvrt_snapshot_find(s, gfn);
        if (e != NULL) {
            hvrt_translation_fill(e, gfn, __atomic_load_n(&s->generation, __ATOMIC_RELAXED), t);
            sum += t->hva;
        }
    }
    return sum;
}

static uint64_t run_export(struct bench *b, const uint64_t *gfns)
{
    hvrt_vm *vm = b->vm;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        struct hvrt_translation *t = &g_ring[i & 15];
        if (hvrt_translate(vm, 0, gfns[i & STREAM_MASK], t) == 0)
            sum += t->hva;
    }
    return sum;
}

/* The same search returning only the host address (no 64-byte fill): the like-for-like
 * baseline of reader_lookup. */
static uint64_t run_c_bsearch_hva(struct bench *b, const uint64_t *gfns)
{
    const struct cslot *slots = b->slots;
    size_t n = b->n;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        const struct cslot *s = c_bsearch(slots, n, gfn);
        if (s != NULL)
            sum += s->hva + ((gfn - s->base_gfn) << 12);
    }
    return sum;
}

/* hvrt_reader_lookup_inline + hvrt_slot_hva: the entry and the host address, nothing filled. */
static uint64_t run_reader_lookup(struct bench *b, const uint64_t *gfns)
{
    hvrt_reader *r = b->reader;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        uint64_t gfn = gfns[i & STREAM_MASK];
        const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(r, 0, gfn);
        if (e != NULL)
            sum += hvrt_slot_hva(e, gfn);
    }
    return sum;
}

/* hvrt_inline.h's reader lookup: last-hit check, then search (no call into the library). */
static uint64_t run_reader_inline(struct bench *b, const uint64_t *gfns)
{
    hvrt_reader *r = b->reader;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        struct hvrt_translation *t = &g_ring[i & 15];
        if (hvrt_reader_translate_inline(r, 0, gfns[i & STREAM_MASK], t) == 0)
            sum += t->hva;
    }
    return sum;
}

static uint64_t run_reader_export(struct bench *b, const uint64_t *gfns)
{
    hvrt_reader *r = b->reader;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i++) {
        struct hvrt_translation *t = &g_ring[i & 15];
        if (hvrt_reader_translate(r, 0, gfns[i & STREAM_MASK], t) == 0)
            sum += t->hva;
    }
    return sum;
}

/* Sums the hits of one batch, as the per-lookup loops sum theirs. */
static inline uint64_t batch_sum(void)
{
    uint64_t sum = 0;
    for (int j = 0; j < BATCH; j++)
        sum += g_batch_out[j].result == 0 ? g_batch_out[j].hva : 0;
    return sum;
}

static uint64_t run_batch64(struct bench *b, const uint64_t *gfns)
{
    hvrt_vm *vm = b->vm;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i += BATCH) {
        int rc = hvrt_translate_batch(vm, 0, &gfns[i & STREAM_MASK], BATCH, g_batch_out);
        if (rc < 0)
            die("hvrt_translate_batch", rc);
        sum += batch_sum();
    }
    return sum;
}

static uint64_t run_reader_batch64(struct bench *b, const uint64_t *gfns)
{
    hvrt_reader *r = b->reader;
    uint64_t sum = 0;
    for (size_t i = 0; i < opt_lookups; i += BATCH) {
        int rc = hvrt_reader_translate_batch(r, 0, &gfns[i & STREAM_MASK], BATCH, g_batch_out);
        if (rc < 0)
            die("hvrt_reader_translate_batch", rc);
        sum += batch_sum();
    }
    return sum;
}

struct path {
    const char *name;
    path_fn fn;
};

static const struct path g_paths[] = {
    { "c_bsearch", run_c_bsearch },
    { "c_bsearch_lru", run_c_bsearch_lru },
    { "c_bsearch_hva", run_c_bsearch_hva },
    { "c_flat", run_c_flat },
    { "c_flat_lru", run_c_flat_lru },
    { "c_flat_hva", run_c_flat_hva },
    { "inline_find", run_inline_find },
    { "reader_inline", run_reader_inline },
    { "reader_lookup", run_reader_lookup },
    { "export", run_export },
    { "reader_export", run_reader_export },
    { "batch64", run_batch64 },
    { "reader_batch64", run_reader_batch64 },
};
#define NPATHS (sizeof g_paths / sizeof g_paths[0])

/* ---- agreement: every path must answer every gfn of both streams alike ------------------- */

static void verify(struct bench *b)
{
    const struct hvrt_snapshot *snap = current_snapshot(b->vm);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < STREAM_LEN; i++) {
            uint64_t gfn = b->streams[k][i];
            const struct cslot *s = c_bsearch(b->slots, b->n, gfn);
            struct hvrt_translation te, ti;
            int rc = hvrt_translate(b->vm, 0, gfn, &te);
            const struct hvrt_slot_entry *e = hvrt_snapshot_find(snap, gfn);
            bool ok = (s == NULL) == (rc == -ENOENT) && (s == NULL) == (e == NULL);
            if (ok && s != NULL) {
                hvrt_translation_fill(e, gfn, snap->generation, &ti);
                ok = rc == 0 && !memcmp(&te, &ti, sizeof te) && te.slot == s->slot &&
                     te.hva == s->hva + ((gfn - s->base_gfn) << 12) && te.run_pages == s->base_gfn + s->npages - gfn;
            }
            struct hvrt_translation tr, ti2, tb, trb;
            int rr = hvrt_reader_translate(b->reader, 0, gfn, &tr);
            int ri = hvrt_reader_translate_inline(b->reader, 0, gfn, &ti2);
            int nb = hvrt_translate_batch(b->vm, 0, &gfn, 1, &tb);
            int nrb = hvrt_reader_translate_batch(b->reader, 0, &gfn, 1, &trb);
            const struct hvrt_slot_entry *le = hvrt_reader_lookup_inline(b->reader, 0, gfn);
            ok = ok && (le == NULL) == (s == NULL) && (le == NULL || hvrt_slot_hva(le, gfn) == te.hva);
            ok = ok && rr == (s ? 0 : -ENOENT) && ri == rr && nb == (s != NULL) && nrb == nb &&
                 tb.result == (s ? 0 : -ENOENT) && trb.result == tb.result;
            if (ok && s != NULL)
                ok = !memcmp(&tr, &te, sizeof te) && !memcmp(&ti2, &te, sizeof te) && !memcmp(&tb, &te, sizeof te) &&
                     !memcmp(&trb, &te, sizeof te);
            if (!ok) {
                fprintf(stderr, "translate_bench: paths disagree at %zu slots, gfn %#llx\n", b->n,
                        (unsigned long long)gfn);
                exit(1);
            }
        }
}

/* ---- single-threaded measurements --------------------------------------------------------- */

struct cell {
    double med, min, max;
};

static struct cell g_cells[2][MAX_SLOT_COUNTS][MAX_PATHS];
static const char *const g_pattern[2] = { "random", "sequential" };

static void measure(struct bench *b, int si)
{
    double *samples = calloc((size_t)opt_reps * NPATHS, sizeof *samples);
    for (int k = 0; k < 2; k++) {
        const uint64_t *gfns = b->streams[k];
        for (size_t p = 0; p < NPATHS; p++) /* warm-up: caches, first-call attach, the predictor */
            g_sink += g_paths[p].fn(b, gfns);
        for (int r = 0; r < opt_reps; r++)
            for (size_t p = 0; p < NPATHS; p++) {
                int64_t t0 = now_ns();
                g_sink += g_paths[p].fn(b, gfns);
                samples[p * (size_t)opt_reps + (size_t)r] = (double)(now_ns() - t0) / (double)opt_lookups;
            }
        for (size_t p = 0; p < NPATHS; p++) {
            double *s = &samples[p * (size_t)opt_reps];
            qsort(s, (size_t)opt_reps, sizeof *s, cmp_double);
            g_cells[k][si][p] = (struct cell){ s[opt_reps / 2], s[0], s[opt_reps - 1] };
        }
    }
    free(samples);
}

static int path_index(const char *name)
{
    for (size_t p = 0; p < NPATHS; p++)
        if (!strcmp(g_paths[p].name, name))
            return (int)p;
    return -1;
}

static void print_single(void)
{
    printf("\n## ns per lookup: median [min..max] of %d reps x %zu lookups; ratio = median / c_bsearch median\n",
           opt_reps, opt_lookups);
    for (int k = 0; k < 2; k++) {
        printf("\n%s\n%-15s", g_pattern[k], "path");
        for (int si = 0; si < opt_nslots; si++)
            printf(" | %21zu slots", opt_slots[si]);
        printf("\n");
        for (size_t p = 0; p < NPATHS; p++) {
            printf("%-15s", g_paths[p].name);
            for (int si = 0; si < opt_nslots; si++) {
                struct cell c = g_cells[k][si][p];
                printf(" | %6.2f [%5.1f..%5.1f] %5.2fx", c.med, c.min, c.max, c.med / g_cells[k][si][0].med);
            }
            printf("\n");
        }
    }
    for (int k = 0; k < 2; k++)
        for (int si = 0; si < opt_nslots; si++)
            for (size_t p = 0; p < NPATHS; p++) {
                char w[32], params[32];
                snprintf(w, sizeof w, "translate, %s gfns", g_pattern[k]);
                snprintf(params, sizeof params, "%zu slots", opt_slots[si]);
                bench_result("translate", w, params, g_paths[p].name,
                             strncmp(g_paths[p].name, "c_", 2) ? "hvrt" : "baseline", g_cells[k][si][p].med, "ns/lookup");
            }
}

/* ---- reverse queries ----------------------------------------------------------------------- */

#define NQKINDS 2 /* by hva, by private file page */
#define NQLENS 2
#define NQPATHS 3
static const uint64_t g_qlen[NQLENS] = { 4096, 64ull << 20 }; /* one page; 16 slots' worth */
static const char *const g_qkind[NQKINDS] = { "hva (hvrt_find_slots_by_hva)", "private file (hvrt_find_slots_by_private)" };
static const char *const g_qpaths[NQKINDS][NQPATHS] = { { "c_hva_scan", "c_hva_bsearch", "hvrt_by_hva" },
                                                        { "c_priv_scan", "c_priv_bsearch", "hvrt_by_private" } };
static struct cell g_qcells[NQKINDS][NQLENS][MAX_SLOT_COUNTS][NQPATHS];
static struct hvrt_slot_range g_ranges[2][64];

/* The private-file VM: the same slots, slot i bound at page i * 512 of one sparse memfd. */
struct query_vm {
    hvrt_vm *vm;
    int fd;
    uint64_t *offsets;
};

/* hvrt keeps one duplicate per private file, so the n slots on one memfd cost one descriptor
 * (before 2026-11-25 18:30 it was one per slot, and 32764 slots exceeded this host's limit). */
static bool query_vm_init(struct query_vm *q, const struct bench *b)
{
    int rc = hvrt_vm_create(&g_newest, &q->vm);
    if (rc != 0)
        die("hvrt_vm_create", rc);
    q->fd = memfd_create("translate_bench", 0);
    if (q->fd < 0 || ftruncate(q->fd, (off_t)(priv_pgoff(b->n) << 12)) != 0)
        die("memfd", -errno);
    for (size_t i = 0; i < b->n; i++) {
        const struct cslot *s = &b->slots[i];
        struct kvm_userspace_memory_region_ext r;
        memset(&r, 0, sizeof r);
        r.region = (struct kvm_userspace_memory_region){ .slot = s->slot, .flags = KVM_MEM_PRIVATE,
                                                         .guest_phys_addr = s->base_gfn << 12,
                                                         .memory_size = s->npages << 12, .userspace_addr = s->hva };
        r.private_fd = (uint32_t)q->fd;
        r.private_offset = priv_pgoff(i) << 12;
        if ((rc = hvrt_set_user_memory_region_ext(q->vm, &r)) != 0)
            die("hvrt_set_user_memory_region_ext", rc);
    }
    q->offsets = aligned_alloc(64, STREAM_LEN * sizeof(uint64_t));
    stream_private(b->n, q->offsets, STREAM_LEN, 4000 + b->n);
    return true;
}

static void query_vm_fini(struct query_vm *q)
{
    if (q->vm == NULL)
        return;
    hvrt_vm_destroy(q->vm);
    close(q->fd);
    free(q->offsets);
}

/* Queries per repetition: the scans are O(n), so they get fewer (numbers stay per query). */
static size_t query_count(const struct bench *b, int path)
{
    size_t q = opt_lookups / 8;
    if (path == 0 && q * 8 / b->n < q)
        q = q * 8 / b->n > 256 ? q * 8 / b->n : 256;
    return q;
}

/* This layout's host ranges and file pages rise with the gfn order, so b->slots serves as the
 * by-hva and by-file arrays too. */
static int query(const struct bench *b, const struct query_vm *q, int kind, int path, uint64_t at, uint64_t len,
                 struct hvrt_slot_range *out)
{
    if (kind == 0)
        return path == 0   ? c_hva_scan(b->slots, b->n, at, len, out, 64)
               : path == 1 ? c_hva_bsearch(b->slots, b->n, at, len, out, 64)
                           : hvrt_find_slots_by_hva(b->vm, at, len, out, 64);
    return path == 0   ? c_priv_scan(b->slots, b->n, at, len, out, 64)
           : path == 1 ? c_priv_bsearch(b->slots, b->n, at, len, out, 64)
                       : hvrt_find_slots_by_private(q->vm, q->fd, at, len, out, 64);
}

static uint64_t run_query(const struct bench *b, const struct query_vm *q, int kind, int path, uint64_t len,
                          size_t count)
{
    const uint64_t *at = kind == 0 ? b->hvas : q->offsets;
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        int n = query(b, q, kind, path, at[i & STREAM_MASK], len, g_ranges[0]);
        sum += (uint64_t)n + (n > 0 ? g_ranges[0][0].gfn_start : 0);
    }
    return sum;
}

static void verify_queries(const struct bench *b, const struct query_vm *q)
{
    for (int k = 0; k < (q->vm != NULL ? NQKINDS : 1); k++)
        for (int l = 0; l < NQLENS; l++)
            for (size_t i = 0; i < 4096; i++) {
                uint64_t at = (k == 0 ? b->hvas : q->offsets)[i];
                int n0 = query(b, q, k, 0, at, g_qlen[l], g_ranges[0]);
                bool ok = true;
                for (int p = 1; p < NQPATHS && ok; p++) {
                    int n = query(b, q, k, p, at, g_qlen[l], g_ranges[1]);
                    ok = n == n0 && !memcmp(g_ranges[0], g_ranges[1], (size_t)n0 * sizeof g_ranges[0][0]);
                }
                if (!ok || n0 < 0) {
                    fprintf(stderr, "translate_bench: %s queries disagree at %zu slots, %#llx len %llu\n", g_qkind[k],
                            b->n, (unsigned long long)at, (unsigned long long)g_qlen[l]);
                    exit(1);
                }
            }
}

static void measure_queries(const struct bench *b, const struct query_vm *q, int si)
{
    double samples[NQPATHS][64];
    int reps = opt_reps < 64 ? opt_reps : 64;
    for (int k = 0; k < NQKINDS; k++)
        for (int l = 0; l < NQLENS; l++) {
            if (k == 1 && q->vm == NULL) {
                for (int p = 0; p < NQPATHS; p++)
                    g_qcells[k][l][si][p] = (struct cell){ -1, -1, -1 };
                continue;
            }
            for (int p = 0; p < NQPATHS; p++)
                g_sink += run_query(b, q, k, p, g_qlen[l], query_count(b, p) / 4);
            for (int r = 0; r < reps; r++)
                for (int p = 0; p < NQPATHS; p++) {
                    size_t count = query_count(b, p);
                    int64_t t0 = now_ns();
                    g_sink += run_query(b, q, k, p, g_qlen[l], count);
                    samples[p][r] = (double)(now_ns() - t0) / (double)count;
                }
            for (int p = 0; p < NQPATHS; p++) {
                qsort(samples[p], (size_t)reps, sizeof(double), cmp_double);
                g_qcells[k][l][si][p] = (struct cell){ samples[p][reps / 2], samples[p][0], samples[p][reps - 1] };
            }
        }
}

static void print_queries(void)
{
    for (int k = 0; k < NQKINDS; k++) {
        printf("\n## reverse queries by %s: ns per query, median [min..max]; ratio to %s\n", g_qkind[k],
               g_qpaths[k][1]);
        for (int l = 0; l < NQLENS; l++) {
            printf("\nlen %llu KiB\n%-15s", (unsigned long long)(g_qlen[l] >> 10), "path");
            for (int si = 0; si < opt_nslots; si++)
                printf(" | %21zu slots", opt_slots[si]);
            printf("\n");
            for (int p = 0; p < NQPATHS; p++) {
                printf("%-15s", g_qpaths[k][p]);
                for (int si = 0; si < opt_nslots; si++) {
                    struct cell c = g_qcells[k][l][si][p];
                    if (c.med < 0)
                        printf(" | %27s", "n/a (fd limit)");
                    else
                        printf(" | %7.1f [%6.0f..%6.0f] %5.2fx", c.med, c.min, c.max, c.med / g_qcells[k][l][si][1].med);
                    if (c.med >= 0) {
                        char w[128], params[32];
                        snprintf(w, sizeof w, "reverse query by %s, %llu KiB", g_qkind[k],
                                 (unsigned long long)(g_qlen[l] >> 10));
                        snprintf(params, sizeof params, "%zu slots", opt_slots[si]);
                        bench_result("reverse-query", w, params, g_qpaths[k][p],
                                     strncmp(g_qpaths[k][p], "c_", 2) ? "hvrt" : "baseline", c.med, "ns/query");
                    }
                }
                printf("\n");
            }
        }
    }
}

/* ---- concurrent part ---------------------------------------------------------------------- */

enum conc_mode { CONC_C_RCU, CONC_EXPORT, CONC_READER_INLINE, CONC_READER_EXPORT };
static const char *const g_conc_names[] = { "c_rcu", "export", "reader_inline", "reader_export" };
#define NCONC 4

/* The C baseline's published array and its QSBR state (urcu-qsbr in miniature). */
struct rcu_array {
    size_t n;
    struct cslot slots[];
};

struct qsbr_reader {
    uint64_t ctr; /* 0 offline, else the grace-period counter it last saw */
    char pad[56];
};

struct conc {
    struct bench *b;
    enum conc_mode mode;
    int nreaders;
    int stop;
    struct rcu_array *cur;
    uint64_t gp; /* odd: starts at 1, rises by 2 per grace period */
    struct qsbr_reader qr[2];
    uint64_t lookups[2][8]; /* one cache line per reader */
    int64_t *lat;
    size_t nlat, cap;
    pthread_barrier_t start;
};

static void *c_rcu_reader(struct conc *c, int id)
{
    const uint64_t *gfns = c->b->streams[0];
    struct qsbr_reader *me = &c->qr[id];
    struct hvrt_translation t;
    uint64_t sum = 0, count = 0;
    size_t i = (size_t)id * (STREAM_LEN / 2);
    __atomic_store_n(&me->ctr, __atomic_load_n(&c->gp, __ATOMIC_ACQUIRE), __ATOMIC_SEQ_CST); /* online */
    while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        for (int j = 0; j < QS_EVERY; j++, i++) {
            /* rcu_dereference: pairs with the writer's exchange. */
            const struct rcu_array *a = __atomic_load_n(&c->cur, __ATOMIC_ACQUIRE);
            uint64_t gfn = gfns[i & STREAM_MASK];
            const struct cslot *s = c_bsearch(a->slots, a->n, gfn);
            if (s != NULL) {
                c_fill(s, gfn, 0, &t);
                sum += t.hva;
            }
        }
        count += QS_EVERY;
        /* Quiescent state. x86: the loads above complete before this store (no load-store
         * reordering) and the acquire load of gp orders the next snapshot loads after it. */
        __atomic_store_n(&me->ctr, __atomic_load_n(&c->gp, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    }
    __atomic_store_n(&me->ctr, 0, __ATOMIC_SEQ_CST); /* offline */
    c->lookups[id][0] = count;
    g_sink += sum;
    return NULL;
}

static void c_rcu_synchronize(struct conc *c)
{
    uint64_t gp = __atomic_add_fetch(&c->gp, 2, __ATOMIC_SEQ_CST);
    for (int r = 0; r < c->nreaders; r++) {
        int spins = 0;
        for (;;) {
            uint64_t v = __atomic_load_n(&c->qr[r].ctr, __ATOMIC_ACQUIRE);
            if (v == 0 || v == gp)
                break;
            if (++spins <= 100)
                continue;
            if (opt_rcu_sleep) { /* urcu-qsbr parks in a futex after 100 spins; a 10 us nap is the cheap twin */
                struct timespec nap = { 0, 10000 };
                nanosleep(&nap, NULL);
            } else {
                sched_yield();
            }
        }
    }
}

/* The state of the changed slot after change i: a cycle of four states, each one change (a
 * flags toggle or a 2 MiB move, which stays inside the gap after the slot) from the last:
 * (LOG_DIRTY, home) (LOG_DIRTY, moved) (0, moved) (0, home). */
static void next_change(const struct cslot *orig, uint64_t i, uint32_t *flags, uint64_t *base)
{
    *flags = i % 4 < 2 ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    *base = orig->base_gfn + (i % 4 == 1 || i % 4 == 2 ? SLOT_PAGES : 0);
}

static void c_rcu_change(struct conc *c, uint64_t i)
{
    size_t n = c->b->n, k = n / 2;
    struct rcu_array *a = malloc(sizeof *a + n * sizeof(struct cslot));
    a->n = n;
    memcpy(a->slots, c->cur->slots, n * sizeof(struct cslot)); /* only this thread writes cur */
    next_change(&c->b->slots[k], i, &a->slots[k].flags, &a->slots[k].base_gfn);
    struct rcu_array *old = __atomic_exchange_n(&c->cur, a, __ATOMIC_SEQ_CST); /* rcu_assign_pointer */
    c_rcu_synchronize(c);
    free(old);
}

static void hvrt_change(struct conc *c, uint64_t i)
{
    const struct cslot *s = &c->b->slots[c->b->n / 2];
    uint32_t flags;
    uint64_t base;
    next_change(s, i, &flags, &base);
    struct kvm_userspace_memory_region r = { .slot = s->slot, .flags = flags, .guest_phys_addr = base << 12,
                                             .memory_size = s->npages << 12, .userspace_addr = s->hva };
    int rc = hvrt_set_user_memory_region(c->b->vm, &r);
    if (rc != 0)
        die("writer: hvrt_set_user_memory_region", rc);
}

static void *export_reader(struct conc *c, int id)
{
    const uint64_t *gfns = c->b->streams[0];
    hvrt_vm *vm = c->b->vm;
    struct hvrt_translation t;
    uint64_t sum = 0, count = 0;
    size_t i = (size_t)id * (STREAM_LEN / 2);
    while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        for (int j = 0; j < QS_EVERY; j++, i++)
            if (hvrt_translate(vm, 0, gfns[i & STREAM_MASK], &t) == 0)
                sum += t.hva;
        count += QS_EVERY;
    }
    c->lookups[id][0] = count;
    g_sink += sum;
    return NULL;
}

/* A registered reader per thread, quiescent every QS_EVERY lookups as the c_rcu readers are. */
static void *hvrt_reader_thread(struct conc *c, int id, bool inline_path)
{
    const uint64_t *gfns = c->b->streams[0];
    hvrt_reader *r;
    int rc = hvrt_reader_register(c->b->vm, &r);
    if (rc != 0)
        die("hvrt_reader_register", rc);
    struct hvrt_translation t;
    uint64_t sum = 0, count = 0;
    size_t i = (size_t)id * (STREAM_LEN / 2);
    while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        if (inline_path) {
            for (int j = 0; j < QS_EVERY; j++, i++)
                if (hvrt_reader_translate_inline(r, 0, gfns[i & STREAM_MASK], &t) == 0)
                    sum += t.hva;
        } else {
            for (int j = 0; j < QS_EVERY; j++, i++)
                if (hvrt_reader_translate(r, 0, gfns[i & STREAM_MASK], &t) == 0)
                    sum += t.hva;
        }
        count += QS_EVERY;
        hvrt_reader_quiescent(r);
    }
    hvrt_reader_unregister(r);
    c->lookups[id][0] = count;
    g_sink += sum;
    return NULL;
}

struct reader_arg {
    struct conc *c;
    int id;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    pthread_barrier_wait(&a->c->start);
    switch (a->c->mode) {
    case CONC_C_RCU:
        return c_rcu_reader(a->c, a->id);
    case CONC_EXPORT:
        return export_reader(a->c, a->id);
    case CONC_READER_INLINE:
        return hvrt_reader_thread(a->c, a->id, true);
    case CONC_READER_EXPORT:
        return hvrt_reader_thread(a->c, a->id, false);
    }
    return NULL;
}

static void *writer_main(void *p)
{
    struct conc *c = p;
    prctl(PR_SET_TIMERSLACK, 1ul); /* wake at the 100 us tick, not up to 50 us later */
    pthread_barrier_wait(&c->start);
    int64_t next = now_ns();
    for (uint64_t i = 0; !__atomic_load_n(&c->stop, __ATOMIC_RELAXED); i++) {
        next += WRITER_PERIOD_NS;
        struct timespec ts = { next / 1000000000ll, next % 1000000000ll };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        int64_t t0 = now_ns();
        if (c->mode == CONC_C_RCU)
            c_rcu_change(c, i);
        else
            hvrt_change(c, i);
        int64_t t1 = now_ns();
        if (c->nlat < c->cap)
            c->lat[c->nlat++] = t1 - t0;
        if (t1 > next + WRITER_PERIOD_NS)
            next = t1; /* fell behind: no burst to catch up */
    }
    return NULL;
}

struct conc_result {
    double lookups_per_s;
    size_t changes;
    double expected_changes;
    int64_t lat_med, lat_p99, lat_max;
};

static struct conc_result run_conc(struct bench *b, enum conc_mode mode, int nreaders)
{
    struct conc c;
    memset(&c, 0, sizeof c);
    c.b = b;
    c.mode = mode;
    c.nreaders = nreaders;
    c.gp = 1;
    c.cap = (size_t)(opt_conc_secs * 1e9 / WRITER_PERIOD_NS) + 1000;
    c.lat = malloc(c.cap * sizeof *c.lat);
    if (mode == CONC_C_RCU) {
        c.cur = malloc(sizeof *c.cur + b->n * sizeof(struct cslot));
        c.cur->n = b->n;
        memcpy(c.cur->slots, b->slots, b->n * sizeof(struct cslot));
    }
    pthread_barrier_init(&c.start, NULL, (unsigned)nreaders + 2);
    pthread_t readers[2], writer;
    struct reader_arg args[2];
    for (int r = 0; r < nreaders; r++) {
        args[r] = (struct reader_arg){ &c, r };
        pthread_create(&readers[r], NULL, reader_main, &args[r]);
    }
    pthread_create(&writer, NULL, writer_main, &c);
    pthread_barrier_wait(&c.start);
    int64_t t0 = now_ns();
    struct timespec d = { (time_t)opt_conc_secs, (long)((opt_conc_secs - (double)(time_t)opt_conc_secs) * 1e9) };
    nanosleep(&d, NULL);
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
    pthread_join(writer, NULL);
    for (int r = 0; r < nreaders; r++)
        pthread_join(readers[r], NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    struct conc_result res = { 0 };
    for (int r = 0; r < nreaders; r++)
        res.lookups_per_s += (double)c.lookups[r][0] / secs;
    res.changes = c.nlat;
    res.expected_changes = secs * 1e9 / WRITER_PERIOD_NS;
    qsort(c.lat, c.nlat, sizeof *c.lat, cmp_i64);
    if (c.nlat > 0) {
        res.lat_med = c.lat[c.nlat / 2];
        res.lat_p99 = c.lat[c.nlat * 99 / 100];
        res.lat_max = c.lat[c.nlat - 1];
    }
    free(c.lat);
    free(c.cur);
    pthread_barrier_destroy(&c.start);
    /* Change 3 puts the slot back as it was (flags 0, at home) for the next run. */
    if (mode != CONC_C_RCU)
        hvrt_change(&c, 3);
    return res;
}

static struct conc_result g_conc[MAX_SLOT_COUNTS][2][NCONC];

static void print_conc(void)
{
    printf("\n## concurrent: readers on the random stream for %.1f s; writer changes slot n/2 every 100 us\n",
           opt_conc_secs);
    printf("%-7s %-8s %-14s | %14s %9s | %8s %9s | %9s %9s %9s\n", "slots", "readers", "path", "lookups/s",
           "vs c_rcu", "changes", "expected", "w.median", "w.p99", "w.max");
    for (int si = 0; si < opt_nconc; si++)
        for (int nr = 0; nr < 2; nr++)
            for (int m = 0; m < NCONC; m++) {
                struct conc_result *r = &g_conc[si][nr][m];
                printf("%-7zu %-8d %-14s | %14.0f %8.2fx | %8zu %9.0f | %7.1fus %7.1fus %7.1fus\n",
                       opt_conc_slots[si], nr + 1, g_conc_names[m], r->lookups_per_s,
                       r->lookups_per_s / g_conc[si][nr][CONC_C_RCU].lookups_per_s, r->changes,
                       r->expected_changes, (double)r->lat_med / 1e3, (double)r->lat_p99 / 1e3,
                       (double)r->lat_max / 1e3);
                char params[48];
                snprintf(params, sizeof params, "%zu slots, %d reader%s", opt_conc_slots[si], nr + 1, nr ? "s" : "");
                const char *role = m == CONC_C_RCU ? "baseline" : "hvrt";
                bench_result("concurrent", "reader lookups/s, writer every 100 us", params, g_conc_names[m], role,
                             r->lookups_per_s, "lookups/s");
                /* one reader's time per lookup (the threads share 2 cores: per reader, not per core) */
                bench_result("concurrent", "ns per lookup per reader, writer every 100 us", params, g_conc_names[m],
                             role, (nr + 1) * 1e9 / r->lookups_per_s, "ns/lookup");
                bench_result("concurrent", "writer ticks done", params, g_conc_names[m], role,
                             100.0 * (double)r->changes / r->expected_changes, "%");
                bench_result("concurrent", "writer change p99", params, g_conc_names[m], role,
                             (double)r->lat_p99 / 1e3, "us");
            }
}

/* ---- targets ---------------------------------------------------------------------------- */

/* One target: every cell of `path` over the given slot counts (all when max_slots is 0) and
 * both patterns must satisfy ratio <= limit (or, with add_ns, med <= base + add_ns), against
 * base_path of the same run. */
static void target_ratio(const char *label, const char *path, const char *base_path, size_t min_slots,
                         size_t max_slots, double limit, double add_ns)
{
    int p = path_index(path), bp = path_index(base_path);
    if (p < 0) {
        printf("target %-44s: not measured (%s has not landed)\n", label, path);
        return;
    }
    bool met = true, any = false;
    double worst = -1e9;
    char detail[512] = "";
    for (int k = 0; k < 2; k++)
        for (int si = 0; si < opt_nslots; si++) {
            if (opt_slots[si] < min_slots || (max_slots && opt_slots[si] > max_slots))
                continue;
            double v = g_cells[k][si][p].med, base = g_cells[k][si][bp].med;
            double score = add_ns > 0 ? v - base : v / base;
            bool ok = add_ns > 0 ? score <= add_ns : score <= limit;
            any = true;
            met &= ok;
            worst = score > worst ? score : worst;
            if (!ok && strlen(detail) < 400)
                snprintf(detail + strlen(detail), sizeof detail - strlen(detail), " %s/%zu=%.2f%s", g_pattern[k],
                         opt_slots[si], score, add_ns > 0 ? "ns" : "x");
        }
    if (!any) {
        printf("target %-44s: not measured (slot counts not run)\n", label);
        return;
    }
    printf("target %-44s: %s (worst %.2f%s)%s%s\n", label, met ? "MET" : "NOT MET", worst, add_ns > 0 ? " ns" : "x",
           met ? "" : "; failing:", detail);
}

static void print_targets(void)
{
    printf("\n## targets (issue \"Lock-free translation at scale\"); cells are random and sequential\n");
    if (opt_single) {
        /* The inline path fills a translation; reader_lookup (the entry and its hva, no
         * fill) is judged against the C search that also returns only the hva. */
        target_ratio("inline <= 1.0x c_bsearch, 1..64 slots", "reader_inline", "c_bsearch", 1, 64, 1.0, 0);
        target_ratio("inline <= 0.5x c_bsearch at 4096 slots", "reader_inline", "c_bsearch", 4096, 4096, 0.5, 0);
        target_ratio("lookup <= 1.0x c_bsearch_hva, 1..64 slots", "reader_lookup", "c_bsearch_hva", 1, 64, 1.0, 0);
        target_ratio("lookup <= 0.5x c_bsearch_hva at 4096 slots", "reader_lookup", "c_bsearch_hva", 4096, 4096, 0.5, 0);
        target_ratio("export <= c_bsearch + 8 ns", "export", "c_bsearch", 0, 0, 0, 8.0);
        target_ratio("reader_export <= c_bsearch + 8 ns", "reader_export", "c_bsearch", 0, 0, 0, 8.0);
        target_ratio("batch64 <= 1.0x c_bsearch per gfn", "batch64", "c_bsearch", 0, 0, 1.0, 0);
        static const char *const seq_paths[] = { "reader_inline", "reader_lookup" };
        for (int q = 0; q < 2; q++) {
            int p = path_index(seq_paths[q]);
            bool met = true;
            double worst = 0;
            for (int si = 0; si < opt_nslots; si++) {
                double v = g_cells[1][si][p].med;
                met &= v <= 1.5;
                worst = v > worst ? v : worst;
            }
            char label[64];
            snprintf(label, sizeof label, "sequential %s <= 1.5 ns", seq_paths[q]);
            printf("target %-44s: %s (worst %.2f ns)\n", label, met ? "MET" : "NOT MET", worst);
        }
    }
    if (!opt_conc)
        return;
    for (int m = 1; m < NCONC; m++) {
        bool met = true;
        double worst = 1e9;
        for (int si = 0; si < opt_nconc; si++)
            for (int nr = 0; nr < 2; nr++) {
                double ratio = g_conc[si][nr][m].lookups_per_s / g_conc[si][nr][CONC_C_RCU].lookups_per_s;
                worst = ratio < worst ? ratio : worst;
                met &= ratio >= 1.0;
            }
        char label[96];
        snprintf(label, sizeof label, "concurrent %s lookups/s >= c_rcu", g_conc_names[m]);
        printf("target %-44s: %s (worst %.2fx)\n", label, met ? "MET" : "NOT MET", worst);
    }
    /* "Never blocked": the writer keeps its schedule (>= 95% of the 100 us ticks) and 99% of
     * its changes return within one period. c_rcu is judged the same way, for comparison. */
    for (int nr = 0; nr < 2; nr++)
        for (int m = 0; m < NCONC; m++) {
            bool met = true;
            double done = 1e9;
            int64_t p99 = 0;
            for (int si = 0; si < opt_nconc; si++) {
                struct conc_result *r = &g_conc[si][nr][m];
                double f = (double)r->changes / r->expected_changes;
                done = f < done ? f : done;
                p99 = r->lat_p99 > p99 ? r->lat_p99 : p99;
                met &= f >= 0.95 && r->lat_p99 <= WRITER_PERIOD_NS;
            }
            char label[96];
            snprintf(label, sizeof label, "writer never blocked, %d reader%s, %s%s", nr + 1, nr ? "s" : "", g_conc_names[m],
                     m == CONC_C_RCU ? " (ref)" : "");
            printf("target %-44s: %s (worst: %.0f%% of ticks done, p99 change %.1f us)\n", label, met ? "MET" : "NOT MET",
                   100 * done, (double)p99 / 1e3);
        }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (hvrt_abi_version() != HVRT_ABI_VERSION) {
        fprintf(stderr, "translate_bench: libhvrt ABI %u, header %u\n", hvrt_abi_version(), HVRT_ABI_VERSION);
        return 1;
    }
    printf("# translate_bench: 2 MiB slots, gaps 1..4 x 2 MiB (seeded); streams of %u gfns; libhvrt %u\n", STREAM_LEN,
           hvrt_version_number());
    print_load("at start");
    fflush(stdout);
    if (opt_single) {
        for (int si = 0; si < opt_nslots; si++) {
            struct bench b;
            bench_init(&b, opt_slots[si]);
            verify(&b);
            measure(&b, si);
            struct query_vm q;
            if (!query_vm_init(&q, &b))
                fprintf(stderr, "  %zu private slots exceed RLIMIT_NOFILE: no private-file queries\n", b.n);
            verify_queries(&b, &q);
            measure_queries(&b, &q, si);
            query_vm_fini(&q);
            bench_fini(&b);
            fprintf(stderr, "  measured %zu slots\n", opt_slots[si]);
        }
        print_single();
        print_queries();
    }
    if (opt_conc) {
        for (int si = 0; si < opt_nconc; si++) {
            struct bench b;
            bench_init(&b, opt_conc_slots[si]);
            hvrt_reader_offline(b.reader); /* or every slot change would wait for this thread */
            for (int nr = 0; nr < 2; nr++)
                for (int m = 0; m < NCONC; m++)
                    g_conc[si][nr][m] = run_conc(&b, (enum conc_mode)m, nr + 1);
            hvrt_reader_online(b.reader);
            verify(&b);
            bench_fini(&b);
        }
        print_conc();
    }
    printf("\n");
    print_load("at end");
    print_targets();
    return 0;
}

/* hvrt soak: everything at once on one SW_PROTECTED VM for a given time, invariants checked
 * continuously (./build.sh soak [minutes], scripts/soak.sh).
 *
 *   readers (R threads, registered)  translate gfns all over the layout through
 *       hvrt_reader_translate and hvrt_inline.h's lookup, now and then hvrt_translate without
 *       registration; read the memory behind every hit; mark pages of the dirty slot; check
 *       attribute blocks inside the conversion seqlock; quiesce every turn, go offline now and then.
 *   writer    churns SLOT_IDS slots: create, move, flags (LOG_DIRTY), delete, through v1, region2
 *             and _ext (private memfd slots) and batches of 2-4.
 *   converter hvrt_convert of whole blocks both ways (inside a private slot and in a hole) with a
 *             listener, repeats that must change nothing, and hvrt_set_memory_attributes blocks.
 *   harvester hvrt_dirty_log_get, _get_view, and get + _clear in manual-protect mode, in turns.
 *
 * Invariants (a violation is printed, counted, and makes the exit status 1):
 *   - every hit is consistent with the layout the writer recorded for the hit's generation
 *     BEFORE publishing it (slot id, base, size, hva, flags, private offset and fd; the
 *     generation was published and never goes backwards for a reader), and the memory at its
 *     hva holds the tag written there for that slot id and page: an hva of a slot that never
 *     existed, a torn answer or a freed slot set (HVRT_POISON=1) cannot pass;
 *   - the static slots are never missed;
 *   - dirty pages are harvested exactly once: each marker marks only a page no harvest is still
 *     owing, and the harvest that starts after hvrt_mark_dirty returned must report it (not an
 *     earlier or a later one, and nothing unmarked);
 *   - attributes are never torn: a block read inside an unchanged, even hvrt_conversion_seq (or
 *     the soak's own sequence around hvrt_set_memory_attributes) is uniform and equals the value
 *     the listener recorded, and TR_PRIVATE agrees;
 *   - discarded memory reads zeros: shared pages of a block converted to private (readers and
 *     converter), private-file pages of a block converted back to shared (converter);
 *   - each conversion calls the listener once for exactly its block and moves the sequence by
 *     2; a repeat calls nothing and moves nothing; every call returns what it must.
 * Prints progress every PROGRESS_S seconds and a summary; exit 0 only with 0 violations. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <hvrt_inline.h>
#include "../tests/test_util.h"

#define READERS 3
#define SLOT_IDS 24
#define SPAN 64ull            /* pages of shared memory and private file per slot id */
#define CHURN_GFN 0x10000ull  /* slot id k lives at CHURN_GFN + k * 128, at offset 0 or 64 */
#define D_ID 100              /* the dirty-logged slot, never changed */
#define D_GFN 0x1000ull
#define D_PAGES 1000ull       /* one 8-word block and a tail */
#define C_ID 101              /* the private slot conversions run in, never changed */
#define C_GFN 0x4000ull
#define HOLE_GFN 0x8000ull    /* conversion blocks in no slot */
#define ATTR_GFN 0x9000ull    /* blocks set with hvrt_set_memory_attributes */
#define BLOCK 8ull            /* pages per conversion / attribute block */
#define C_BLOCKS 8            /* blocks inside slot C (C has C_BLOCKS * BLOCK pages) */
#define CONV_BLOCKS 16        /* C_BLOCKS in C, the rest in the hole */
#define ATTR_BLOCKS 8
#define RING (1u << 16)       /* generations of layout history kept */
#define PROGRESS_S 30
#define PRIV ((uint64_t)KVM_MEMORY_ATTRIBUTE_PRIVATE)

/* ---- shared state -------------------------------------------------------------------- */

static hvrt_vm *vm;
static uint8_t *mem;       /* SLOT_IDS * SPAN shared pages (memfd), each tagged */
static uint8_t *mem_c;     /* slot C's shared pages */
static uint8_t *mem_d;     /* slot D's shared pages */
static int priv_fd;        /* private file of the churned private slots (SLOT_IDS * SPAN pages) */
static int priv_c;         /* slot C's private file */
static atomic_int stop;

struct layout_rec {
    _Atomic uint64_t gen;
    uint8_t lay[SLOT_IDS]; /* bit0 present, bit1 position 1, bit2 LOG_DIRTY */
};
static struct layout_rec ring[RING];
static _Atomic uint64_t hist_max; /* newest generation with a record */

static atomic_int conv_rec[CONV_BLOCKS]; /* PRIVATE or 0, stored by the listener */
static atomic_int attr_rec[ATTR_BLOCKS];
static _Atomic uint64_t attr_seq;         /* odd while the converter sets an attribute block */

/* dirty-page ownership for the exactly-once check: 0 idle, 1 marking, 2 | stamp << 2 marked */
static _Atomic uint64_t dstate[D_PAGES];
static _Atomic uint64_t harvests_started;

static atomic_long violations;
static _Atomic uint64_t n_tr_export, n_tr_inline, n_tr_plain, n_hits, n_misses, n_content, n_marks,
    n_attr_checks, n_attr_windows, n_skipped_old;
static _Atomic uint64_t n_creates, n_moves, n_flags, n_deletes, n_batches, n_gens;
static _Atomic uint64_t n_convs, n_conv_pages, n_callbacks, n_repeats, n_attr_sets, n_zero_checks;
static _Atomic uint64_t n_harvests[3], n_harvested;

static void violation(const char *fmt, ...)
{
    if (atomic_fetch_add(&violations, 1) < 30) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "VIOLATION: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

#define EXPECT(expr, want)                                                                    \
    do {                                                                                      \
        long long _g = (long long)(expr), _w = (long long)(want);                             \
        if (_g != _w)                                                                         \
            violation("%s:%d: %s = %lld, want %lld", __FILE__, __LINE__, #expr, _g, _w);      \
    } while (0)

static uint64_t xrand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void inc(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static bool is_private_kind(int k) { return k % 3 == 0; }
static uint64_t npages_of(int k) { return 16 + (uint64_t)(k % 4) * 8; }
static uint64_t pos_of(int k, int which) { return CHURN_GFN + (uint64_t)k * 128 + (uint64_t)which * 64; }
static uint64_t hva_of(int k) { return (uint64_t)(uintptr_t)mem + (uint64_t)k * SPAN * PAGE; }
static uint64_t tag_of(uint64_t id, uint64_t page) { return 0x5a5a000000000000ull | id << 24 | page; }
static uint64_t conv_gfn(int b) { return b < C_BLOCKS ? C_GFN + (uint64_t)b * BLOCK : HOLE_GFN + (uint64_t)(b - C_BLOCKS) * BLOCK; }

static uint64_t generation_now(void)
{
    struct hvrt_translation t;
    EXPECT(hvrt_translate(vm, 0, D_GFN, &t), 0);
    return t.generation & ~HVRT_GEN_UPDATE_IN_PROGRESS;
}

/* ---- readers ------------------------------------------------------------------------- */

/* A hit t for gfn against the layout of its generation; `last` is the reader's newest generation. */
static void check_hit(const char *how, uint64_t gfn, const struct hvrt_translation *t, uint64_t *last, bool quiet)
{
    uint64_t g = t->generation & ~HVRT_GEN_UPDATE_IN_PROGRESS;
    uint64_t max = atomic_load_explicit(&hist_max, memory_order_acquire);
    uint64_t off = gfn - t->base_gfn;
    inc(&n_hits);
    if (g > max)
        violation("%s gfn 0x%llx: generation %llu never published (newest %llu)", how, (unsigned long long)gfn,
                  (unsigned long long)g, (unsigned long long)max);
    if (g < *last)
        violation("%s gfn 0x%llx: generation %llu after %llu", how, (unsigned long long)gfn, (unsigned long long)g,
                  (unsigned long long)*last);
    *last = g > *last ? g : *last;
    /* run_pages: to the slot's end, except where attributes differ (slot C, from the export: then
     * it ends on a block boundary, unless a conversion ran during the call (quiet false), which
     * may show the pages after gfn in their new state; the inline entry knows no attributes) */
    bool attr_run = (t->slot & 0xffff) == C_ID && how[0] != 'i';
    if (off >= t->npages || t->run_pages < 1 || t->run_pages > t->npages - off ||
        (attr_run ? quiet && (gfn + t->run_pages) % BLOCK != 0 : t->run_pages != t->npages - off) ||
        t->result != 0 || (t->slot >> 16) != 0)
        violation("%s gfn 0x%llx: base 0x%llx npages %llu run %llu result %d slot 0x%x", how, (unsigned long long)gfn,
                  (unsigned long long)t->base_gfn, (unsigned long long)t->npages, (unsigned long long)t->run_pages,
                  t->result, t->slot);
    uint32_t id = t->slot & 0xffff;
    if (id == D_ID || id == C_ID) {
        bool d = id == D_ID;
        uint64_t base = d ? D_GFN : C_GFN, n = d ? D_PAGES : C_BLOCKS * BLOCK;
        uint8_t *m = d ? mem_d : mem_c;
        uint32_t fl = d ? HVRT_TR_LOG_DIRTY : HVRT_TR_HAS_PRIVATE;
        if (t->base_gfn != base || t->npages != n || t->hva != (uint64_t)(uintptr_t)m + off * PAGE ||
            (t->flags & ~HVRT_TR_PRIVATE) != fl || (d && (t->flags & HVRT_TR_PRIVATE)) ||
            (d ? t->private_fd != -1 : (t->private_fd < 0 || t->private_pgoff != off)))
            violation("%s gfn 0x%llx: static slot %u answered base 0x%llx npages %llu hva 0x%llx flags 0x%x fd %d",
                      how, (unsigned long long)gfn, id, (unsigned long long)t->base_gfn,
                      (unsigned long long)t->npages, (unsigned long long)t->hva, t->flags, t->private_fd);
        return;
    }
    if (id >= SLOT_IDS) {
        violation("%s gfn 0x%llx: slot id %u never existed", how, (unsigned long long)gfn, id);
        return;
    }
    if (max - g > RING / 2) {
        inc(&n_skipped_old);
        return;
    }
    const struct layout_rec *rec = &ring[g % RING]; /* a seqlock: gen, the layout, gen again */
    uint64_t rg = atomic_load_explicit(&rec->gen, memory_order_acquire);
    uint8_t lay = rec->lay[id];
    atomic_thread_fence(memory_order_acquire);
    if (rg != g || atomic_load_explicit(&rec->gen, memory_order_relaxed) != g) {
        inc(&n_skipped_old);
        return;
    }
    int k = (int)id;
    bool priv = is_private_kind(k);
    uint32_t want_flags = (lay & 4 ? HVRT_TR_LOG_DIRTY : 0) | (priv ? HVRT_TR_HAS_PRIVATE : 0);
    if (!(lay & 1) || t->base_gfn != pos_of(k, lay >> 1 & 1) || t->npages != npages_of(k) ||
        t->hva != hva_of(k) + off * PAGE || t->flags != want_flags ||
        (priv ? (t->private_fd < 0 || t->private_pgoff != (uint64_t)k * SPAN + off) : t->private_fd != -1)) {
        violation("%s gfn 0x%llx gen %llu: slot %d (recorded 0x%x) answered base 0x%llx npages %llu hva +0x%llx "
                  "flags 0x%x fd %d pgoff %llu",
                  how, (unsigned long long)gfn, (unsigned long long)g, k, lay, (unsigned long long)t->base_gfn,
                  (unsigned long long)t->npages, (unsigned long long)(t->hva - hva_of(k)), t->flags, t->private_fd,
                  (unsigned long long)t->private_pgoff);
        return;
    }
    uint64_t v = *(volatile uint64_t *)(uintptr_t)t->hva;
    inc(&n_content);
    if (v != tag_of((uint64_t)k, off))
        violation("%s gfn 0x%llx: memory at the hva holds 0x%llx, want the tag 0x%llx", how, (unsigned long long)gfn,
                  (unsigned long long)v, (unsigned long long)tag_of((uint64_t)k, off));
}

static uint64_t random_gfn(uint64_t *rng)
{
    uint64_t x = xrand(rng);
    switch (x & 15) {
    case 0: return D_GFN + (x >> 8) % D_PAGES;
    case 1: return C_GFN + (x >> 8) % (C_BLOCKS * BLOCK);
    case 2: return HOLE_GFN + (x >> 8) % 64;
    default: return pos_of((int)((x >> 8) % SLOT_IDS), (int)(x >> 16) & 1) + (x >> 24) % 48;
    }
}

static bool in_static(uint64_t gfn)
{
    return gfn - D_GFN < D_PAGES || gfn - C_GFN < C_BLOCKS * BLOCK;
}

/* A conversion block read inside an unchanged, even sequence: uniform, as recorded, and the
 * translation's TR_PRIVATE and the shared memory (zeros when private) agree. */
static void check_conv_block(hvrt_reader *r, int b)
{
    uint64_t s0, s1, end = 0, attrs = 0, gfn = conv_gfn(b);
    struct hvrt_translation t;
    EXPECT(hvrt_conversion_seq(vm, &s0), 0);
    if (s0 & 1)
        return;
    int rec = atomic_load_explicit(&conv_rec[b], memory_order_acquire);
    EXPECT(hvrt_attributes_run(vm, gfn, gfn + BLOCK, &end, &attrs), 0);
    int trc = -1;
    uint64_t content = 0;
    if (b < C_BLOCKS) {
        trc = hvrt_reader_translate(r, 0, gfn + BLOCK - 1, &t);
        content = *(volatile uint64_t *)(mem_c + (b * BLOCK + BLOCK - 1) * PAGE);
    }
    EXPECT(hvrt_conversion_seq(vm, &s1), 0);
    inc(&n_attr_checks);
    if (s1 != s0)
        return;
    inc(&n_attr_windows);
    if (end != gfn + BLOCK || attrs != (uint64_t)rec)
        violation("conversion block %d torn or stale: attributes 0x%llx up to gfn 0x%llx (block ends 0x%llx), "
                  "recorded 0x%x", b, (unsigned long long)attrs, (unsigned long long)end,
                  (unsigned long long)(gfn + BLOCK), rec);
    if (b < C_BLOCKS) {
        EXPECT(trc, 0);
        if (((t.flags & HVRT_TR_PRIVATE) != 0) != (rec != 0))
            violation("block %d: TR_PRIVATE %d, recorded 0x%x", b, (t.flags & HVRT_TR_PRIVATE) != 0, rec);
        uint64_t tag = tag_of(C_ID, b * BLOCK + BLOCK - 1);
        if (rec ? content != 0 : (content != 0 && content != tag))
            violation("block %d (%s): shared memory holds 0x%llx", b, rec ? "private: discarded" : "shared",
                      (unsigned long long)content);
    }
}

static void check_attr_block(int a)
{
    uint64_t v0 = atomic_load_explicit(&attr_seq, memory_order_acquire), end = 0, attrs = 0;
    if (v0 & 1)
        return;
    int rec = atomic_load_explicit(&attr_rec[a], memory_order_relaxed);
    uint64_t gfn = ATTR_GFN + (uint64_t)a * BLOCK;
    EXPECT(hvrt_attributes_run(vm, gfn, gfn + BLOCK, &end, &attrs), 0);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&attr_seq, memory_order_relaxed) != v0)
        return;
    if (end != gfn + BLOCK || attrs != (uint64_t)rec)
        violation("attribute block %d: 0x%llx up to 0x%llx, recorded 0x%x", a, (unsigned long long)attrs,
                  (unsigned long long)end, rec);
}

/* Marks an idle page this reader owns (page % READERS == idx), as the exactly-once protocol says. */
static void mark_one(int idx, uint64_t *rng)
{
    uint64_t p = (xrand(rng) % (D_PAGES / READERS)) * READERS + (uint64_t)idx;
    if (p >= D_PAGES || atomic_load(&dstate[p]) != 0)
        return;
    atomic_store(&dstate[p], 1);
    EXPECT(hvrt_mark_dirty(vm, (D_GFN + p) * PAGE, 1 + xrand(rng) % PAGE), 1);
    uint64_t stamp = atomic_load(&harvests_started), one = 1;
    atomic_compare_exchange_strong(&dstate[p], &one, 2 | stamp << 2);
    inc(&n_marks);
}

static void *reader_main(void *arg)
{
    int idx = (int)(intptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1), last = 0, last_plain = 0;
    hvrt_reader *r = NULL;
    EXPECT(hvrt_reader_register(vm, &r), 0);
    for (uint64_t it = 0; !atomic_load_explicit(&stop, memory_order_relaxed); it++) {
        for (int j = 0; j < 64; j++) {
            uint64_t gfn = random_gfn(&rng), s0 = 1, s1 = 0;
            bool in_c = gfn - C_GFN < C_BLOCKS * BLOCK;
            struct hvrt_translation t;
            int rc;
            const char *how;
            if (in_c)
                hvrt_conversion_seq(vm, &s0);
            if (j & 1) {
                const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(r, 0, gfn);
                rc = e != NULL ? 0 : -ENOENT;
                if (e != NULL) /* the cache now holds e and the generation of its slot set */
                    hvrt_translation_fill(e, gfn, ((struct hvrt_reader_layout *)r)->cache[0].generation, &t);
                how = "inline";
                inc(&n_tr_inline);
            } else {
                rc = hvrt_reader_translate(r, 0, gfn, &t);
                how = "reader";
                inc(&n_tr_export);
            }
            if (in_c)
                hvrt_conversion_seq(vm, &s1);
            if (rc == 0) {
                check_hit(how, gfn, &t, &last, !in_c || (s0 == s1 && !(s0 & 1)));
            } else {
                inc(&n_misses);
                if (rc != -ENOENT)
                    violation("%s gfn 0x%llx: rc %d", how, (unsigned long long)gfn, rc);
                else if (in_static(gfn))
                    violation("%s gfn 0x%llx: a static slot missed", how, (unsigned long long)gfn);
            }
        }
        mark_one(idx, &rng);
        if (it % 4 == 0)
            check_conv_block(r, (int)(xrand(&rng) % CONV_BLOCKS));
        if (it % 8 == 0)
            check_attr_block((int)(xrand(&rng) % ATTR_BLOCKS));
        if (it % 8 == 4) {
            uint64_t gfn = random_gfn(&rng), s0 = 1, s1 = 0;
            struct hvrt_translation t;
            hvrt_conversion_seq(vm, &s0);
            int rc = hvrt_translate(vm, 0, gfn, &t);
            hvrt_conversion_seq(vm, &s1);
            inc(&n_tr_plain);
            if (rc == 0) {
                check_hit("translate", gfn, &t, &last_plain, s0 == s1 && !(s0 & 1));
            } else if (rc != -ENOENT || in_static(gfn)) {
                violation("translate gfn 0x%llx: rc %d", (unsigned long long)gfn, rc);
            }
        }
        EXPECT(hvrt_reader_quiescent(r), 0);
        if (it % 512 == 511) {
            EXPECT(hvrt_reader_offline(r), 0);
            sched_yield();
            EXPECT(hvrt_reader_online(r), 0);
        }
    }
    EXPECT(hvrt_reader_unregister(r), 0);
    return NULL;
}

/* ---- writer -------------------------------------------------------------------------- */

static uint8_t cur[SLOT_IDS];
static uint64_t gen_cur;

/* Records the layout of the next generation before it can be published. */
static void record_next(const uint8_t *lay)
{
    uint64_t g = gen_cur + 1;
    struct layout_rec *rec = &ring[g % RING];
    atomic_store_explicit(&rec->gen, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(rec->lay, lay, SLOT_IDS);
    atomic_store_explicit(&rec->gen, g, memory_order_release);
    atomic_store_explicit(&hist_max, g, memory_order_release);
}

static struct kvm_userspace_memory_region2 request_of(int k, uint8_t lay)
{
    if (!(lay & 1)) /* delete */
        return region2_of((uint32_t)k, 0, 0, 0, 0, 0, 0);
    if (is_private_kind(k))
        return region2_of((uint32_t)k, F_PRIV, pos_of(k, lay >> 1 & 1) * PAGE, npages_of(k) * PAGE,
                          hva_of(k), (uint32_t)priv_fd, (uint64_t)k * SPAN * PAGE);
    return region2_of((uint32_t)k, lay & 4 ? F_LOG : 0, pos_of(k, lay >> 1 & 1) * PAGE, npages_of(k) * PAGE, hva_of(k),
                      0, 0);
}

/* The next state of slot k: create, or move / flags / delete. */
static uint8_t next_state(int k, uint64_t x)
{
    uint8_t s = cur[k];
    if (!(s & 1)) {
        inc(&n_creates);
        return (uint8_t)(1 | (x & 2) | (is_private_kind(k) ? 0 : x & 4));
    }
    if (is_private_kind(k) || x % 4 == 0) {
        inc(&n_deletes);
        return 0;
    }
    if (x % 4 == 1) {
        inc(&n_flags);
        return s ^ 4;
    }
    inc(&n_moves);
    return (uint8_t)((s ^ 2) & ~4) | (uint8_t)(x & 4);
}

static void *writer_main(void *arg)
{
    (void)arg;
    uint64_t rng = 0x1234567;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t x = xrand(&rng);
        uint8_t lay[SLOT_IDS];
        memcpy(lay, cur, SLOT_IDS);
        if (x % 8 == 0) { /* a batch of 2-4 different slots: one generation */
            struct kvm_userspace_memory_region2 req[4];
            int32_t res[4];
            int want = 2 + (int)(x >> 8) % 3, k0 = (int)((x >> 16) % SLOT_IDS), n = 0;
            for (int i = 0; i < want; i++) {
                int k = (k0 + i * 5) % SLOT_IDS;
                if (is_private_kind(k) && !(cur[k] & 1))
                    continue; /* a batch entry is region2, which takes no memfd as private file */
                lay[k] = next_state(k, xrand(&rng));
                req[n++] = request_of(k, lay[k]);
            }
            if (n == 0)
                continue;
            memcpy(cur, lay, SLOT_IDS);
            record_next(lay);
            EXPECT(hvrt_set_user_memory_regions(vm, req, (size_t)n, res), n);
            inc(&n_batches);
        } else {
            int k = (int)((x >> 8) % SLOT_IDS);
            lay[k] = next_state(k, x >> 16);
            record_next(lay);
            struct kvm_userspace_memory_region2 q = request_of(k, lay[k]);
            int rc;
            if (is_private_kind(k) && (lay[k] & 1)) {
                rc = set_ext(vm, q.slot, q.flags, q.guest_phys_addr, q.memory_size, q.userspace_addr,
                             q.guest_memfd, q.guest_memfd_offset);
            } else if (x & (1 << 20)) {
                rc = set_v1(vm, q.slot, q.flags, q.guest_phys_addr, q.memory_size, q.userspace_addr);
            } else {
                rc = hvrt_set_user_memory_region2(vm, &q);
            }
            EXPECT(rc, 0);
            cur[k] = lay[k];
        }
        gen_cur++;
        inc(&n_gens);
        if (x % 64 == 1)
            EXPECT(generation_now(), gen_cur);
    }
    return NULL;
}

/* ---- converter ----------------------------------------------------------------------- */

struct calls {
    int n;
    uint64_t gpa, size;
    int to_private;
};

static void listener(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    struct calls *c = ctx;
    c->n++;
    c->gpa = gpa;
    c->size = size;
    c->to_private = to_private;
    for (int b = 0; b < CONV_BLOCKS; b++)
        if (conv_gfn(b) * PAGE >= gpa && (conv_gfn(b) + BLOCK) * PAGE <= gpa + size)
            atomic_store_explicit(&conv_rec[b], to_private ? (int)PRIV : 0, memory_order_release);
    inc(&n_callbacks);
}

static struct calls calls;

static void *converter_main(void *arg)
{
    (void)arg;
    uint64_t rng = 0xabcdef, page[PAGE / 8];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t x = xrand(&rng);
        int b = (int)(x % CONV_BLOCKS), to = atomic_load(&conv_rec[b]) == 0;
        uint64_t gpa = conv_gfn(b) * PAGE, s0 = 0, s1 = 0;
        calls.n = 0;
        EXPECT(hvrt_conversion_seq(vm, &s0), 0);
        EXPECT(hvrt_convert(vm, gpa, BLOCK * PAGE, to), 0);
        EXPECT(hvrt_conversion_seq(vm, &s1), 0);
        EXPECT(s1, s0 + 2);
        if (calls.n != 1 || calls.gpa != gpa || calls.size != BLOCK * PAGE || calls.to_private != to)
            violation("convert block %d to %d: %d callbacks, last gpa 0x%llx size 0x%llx to %d", b, to, calls.n,
                      (unsigned long long)calls.gpa, (unsigned long long)calls.size, calls.to_private);
        inc(&n_convs);
        atomic_fetch_add(&n_conv_pages, BLOCK);
        if (b < C_BLOCKS) {
            off_t foff = (off_t)(b * BLOCK * PAGE);
            for (uint64_t p = 0; p < BLOCK; p++) {
                uint64_t *shared = (uint64_t *)(mem_c + (b * BLOCK + p) * PAGE);
                if (to) { /* the shared side was discarded: zeros; the guest now writes private memory */
                    if (*shared != 0)
                        violation("block %d page %llu: shared memory 0x%llx after the conversion to private", b,
                                  (unsigned long long)p, (unsigned long long)*shared);
                    uint64_t tag = tag_of(C_ID, b * BLOCK + p) ^ 1;
                    if (pwrite(priv_c, &tag, 8, foff + (off_t)(p * PAGE)) != 8)
                        violation("pwrite private file");
                } else { /* the private file was punched: zeros; the guest now writes shared memory */
                    if (pread(priv_c, page, PAGE, foff + (off_t)(p * PAGE)) != (ssize_t)PAGE)
                        violation("pread private file");
                    for (uint64_t w = 0; w < PAGE / 8; w++)
                        if (page[w] != 0) {
                            violation("block %d page %llu: private file word %llu = 0x%llx after the conversion to shared",
                                      b, (unsigned long long)p, (unsigned long long)w, (unsigned long long)page[w]);
                            break;
                        }
                    *shared = tag_of(C_ID, b * BLOCK + p);
                }
                inc(&n_zero_checks);
            }
        }
        if (x % 4 == 1) { /* the same again: nothing to change, nothing happens */
            calls.n = 0;
            EXPECT(hvrt_convert(vm, gpa, BLOCK * PAGE, to), 0);
            EXPECT(hvrt_conversion_seq(vm, &s0), 0);
            EXPECT(s0, s1);
            EXPECT(calls.n, 0);
            inc(&n_repeats);
        }
        if (x % 8 == 2) { /* an attribute block, flipped whole, inside the soak's own sequence */
            int a = (int)((x >> 8) % ATTR_BLOCKS), v = atomic_load(&attr_rec[a]) ? 0 : (int)PRIV;
            struct kvm_memory_attributes at = { (ATTR_GFN + (uint64_t)a * BLOCK) * PAGE, BLOCK * PAGE, (uint64_t)v, 0 };
            atomic_fetch_add_explicit(&attr_seq, 1, memory_order_acq_rel);
            atomic_thread_fence(memory_order_seq_cst);
            EXPECT(hvrt_set_memory_attributes(vm, &at), 0);
            atomic_store_explicit(&attr_rec[a], v, memory_order_relaxed);
            atomic_fetch_add_explicit(&attr_seq, 1, memory_order_release);
            inc(&n_attr_sets);
        }
        if (x % 16 == 3)
            sched_yield();
    }
    return NULL;
}

/* ---- harvester ----------------------------------------------------------------------- */

/* One harvest of slot D in the given mode (0 get, 1 get_view, 2 manual get + clear), checked. */
static void harvest(int mode)
{
    static int cur_mode = -1;
    uint64_t copy[(D_PAGES + 63) / 64];
    const uint64_t *bits = copy;
    if ((mode == 2) != (cur_mode == 2))
        EXPECT(hvrt_dirty_log_set_mode(vm, mode == 2 ? HVRT_DIRTY_LOG_MANUAL_PROTECT : 0), 0);
    cur_mode = mode;
    uint64_t h = atomic_fetch_add(&harvests_started, 1) + 1; /* this harvest's number */
    if (mode == 1) {
        EXPECT(hvrt_dirty_log_get_view(vm, D_ID, &bits), 0);
    } else {
        EXPECT(hvrt_dirty_log_get(vm, D_ID, copy), 0);
        if (mode == 2)
            EXPECT(hvrt_dirty_log_clear(vm, D_ID, 0, (uint32_t)D_PAGES, copy), 0);
    }
    if (bits == NULL)
        return;
    if (bits[D_PAGES / 64] >> (D_PAGES % 64) != 0)
        violation("dirty bits past the slot's end: 0x%llx", (unsigned long long)bits[D_PAGES / 64]);
    for (uint64_t p = hvrt_bitmap_next_set(bits, D_PAGES, 0); p < D_PAGES; p = hvrt_bitmap_next_set(bits, D_PAGES, p + 1)) {
        uint64_t old = atomic_exchange(&dstate[p], 0);
        inc(&n_harvested);
        if (old == 0)
            violation("harvest %llu reported page %llu, which no one marked since it was last harvested",
                      (unsigned long long)h, (unsigned long long)p);
        else if ((old & 3) == 2 && (old >> 2) + 1 < h)
            violation("harvest %llu reported page %llu late: its mark returned before harvest %llu started",
                      (unsigned long long)h, (unsigned long long)p, (unsigned long long)(old >> 2) + 1);
    }
    for (uint64_t p = 0; p < D_PAGES; p++) {
        uint64_t s = atomic_load(&dstate[p]);
        if ((s & 3) == 2 && (s >> 2) < h)
            violation("harvest %llu lost page %llu, marked before harvest %llu started", (unsigned long long)h,
                      (unsigned long long)p, (unsigned long long)(s >> 2) + 1);
    }
    inc(&n_harvests[mode]);
}

static void *harvester_main(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        harvest((int)(i / 64 % 3));
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

static uint8_t *map_memfd(uint64_t pages, int *fd_out)
{
    int fd = new_memfd(pages * PAGE);
    void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    if (fd_out != NULL)
        *fd_out = fd;
    else
        close(fd);
    return p;
}

static void setup(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    c.max_gpa_bits = 40;
    vm = vm_new(&c);
    mem = map_memfd(SLOT_IDS * SPAN, NULL);
    for (uint64_t k = 0; k < SLOT_IDS; k++)
        for (uint64_t p = 0; p < SPAN; p++)
            *(uint64_t *)(mem + (k * SPAN + p) * PAGE) = tag_of(k, p);
    mem_c = map_memfd(C_BLOCKS * BLOCK, NULL);
    for (uint64_t p = 0; p < C_BLOCKS * BLOCK; p++)
        *(uint64_t *)(mem_c + p * PAGE) = tag_of(C_ID, p);
    mem_d = map_memfd(D_PAGES, NULL);
    priv_fd = new_memfd(SLOT_IDS * SPAN * PAGE);
    priv_c = new_memfd(C_BLOCKS * BLOCK * PAGE);
    gen_cur = 0; /* a new VM's generation (as_id 0; hvrt.h) */
    record_next(cur);
    EXPECT(set_v1(vm, D_ID, F_LOG, D_GFN * PAGE, D_PAGES * PAGE, (uint64_t)(uintptr_t)mem_d), 0);
    gen_cur++;
    record_next(cur);
    EXPECT(set_ext(vm, C_ID, F_PRIV, C_GFN * PAGE, C_BLOCKS * BLOCK * PAGE, (uint64_t)(uintptr_t)mem_c,
                   (uint32_t)priv_c, 0),
           0);
    gen_cur++;
    EXPECT(generation_now(), gen_cur);
    EXPECT(hvrt_add_conversion_listener(vm, listener, &calls), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, double elapsed)
{
#define L(c) ((unsigned long long)atomic_load(&(c)))
    printf("%s %.0f s: translations %llu reader + %llu inline + %llu unregistered (%llu hits, %llu misses, "
           "%llu memory tags read, %llu too old to check); writer %llu generations (%llu creates, %llu moves, "
           "%llu flag changes, %llu deletes, %llu batches); %llu conversions (%llu pages, %llu callbacks, %llu "
           "repeats, %llu discarded pages checked zero), %llu attribute sets, %llu attribute checks (%llu in a "
           "quiet window); %llu marks, harvests %llu get + %llu get_view + %llu get/clear (%llu pages); "
           "%ld violations\n",
           what, elapsed, L(n_tr_export), L(n_tr_inline), L(n_tr_plain), L(n_hits), L(n_misses), L(n_content),
           L(n_skipped_old), L(n_gens), L(n_creates), L(n_moves), L(n_flags), L(n_deletes), L(n_batches), L(n_convs),
           L(n_conv_pages), L(n_callbacks), L(n_repeats), L(n_zero_checks), L(n_attr_sets), L(n_attr_checks),
           L(n_attr_windows), L(n_marks), L(n_harvests[0]), L(n_harvests[1]), L(n_harvests[2]), L(n_harvested),
           atomic_load(&violations));
#undef L
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double minutes = argc > 1 ? atof(argv[1]) : 1.0;
    if (hvrt_abi_version() != HVRT_ABI_VERSION)
        FATAL("ABI %u, header %u", hvrt_abi_version(), HVRT_ABI_VERSION);
    setup();
    printf("soak: %.2f min, %d readers, %d churned slots, HVRT_POISON=%s\n", minutes, READERS, SLOT_IDS,
           getenv("HVRT_POISON") ? getenv("HVRT_POISON") : "0");
    fflush(stdout);
    pthread_t readers[READERS], writer, converter, harvester;
    for (int i = 0; i < READERS; i++)
        pthread_create(&readers[i], NULL, reader_main, (void *)(intptr_t)i);
    pthread_create(&writer, NULL, writer_main, NULL);
    pthread_create(&converter, NULL, converter_main, NULL);
    pthread_create(&harvester, NULL, harvester_main, NULL);
    double t0 = now_s(), next = t0 + PROGRESS_S;
    while (now_s() - t0 < minutes * 60 && atomic_load(&violations) < 1000) {
        struct timespec ts = { 0, 100000000 };
        nanosleep(&ts, NULL);
        if (now_s() >= next) {
            report("progress", now_s() - t0);
            next += PROGRESS_S;
        }
    }
    atomic_store(&stop, 1);
    pthread_join(writer, NULL);
    pthread_join(converter, NULL);
    pthread_join(harvester, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    /* Markers stopped: two more harvests leave no page owed (a mark stamped s is due in s + 1). */
    harvest(0);
    harvest(0);
    for (uint64_t p = 0; p < D_PAGES; p++)
        if (atomic_load(&dstate[p]) != 0)
            violation("page %llu still owed after the final harvests (state 0x%llx)", (unsigned long long)p,
                      (unsigned long long)atomic_load(&dstate[p]));
    EXPECT(hvrt_remove_conversion_listener(vm, listener, &calls), 0);
    hvrt_vm_destroy(vm);
    report("soak: done,", now_s() - t0);
    long v = atomic_load(&violations);
    printf("soak: %s\n", v == 0 ? "0 violations" : "FAILED");
    return v == 0 ? 0 : 1;
}

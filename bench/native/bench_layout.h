/* The slot layout and lookup streams of translate_bench.c, and the C baselines it measures
 * hvrt against: a branchy three-way binary search over a VMM's own sorted array of slot structs
 * (the shape of KVM's search_memslots and vm-memory's find_region; c_bsearch), the branch-free
 * search over flat keys a skilled author writes (c_flat), and each behind a last-hit cache (KVM's
 * last_used_slot). Everything is static inline: one translation unit, no link-time surprises. */
#ifndef HVRT_BENCH_LAYOUT_H
#define HVRT_BENCH_LAYOUT_H
#include <hvrt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SLOT_PAGES 512ull /* 2 MiB slots */
#define HVA_BASE 0x100000000000ull

/* One slot as a VMM keeps it in its own table: 32 bytes, sorted by base_gfn. */
struct cslot {
    uint64_t base_gfn;
    uint64_t npages;
    uint64_t hva;
    uint32_t flags; /* KVM_MEM_* */
    uint32_t slot;  /* as_id << 16 | id */
};

/* splitmix64: small, seeded, good enough for layouts and streams. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_below(uint64_t *s, uint64_t n) { return rng_next(s) % n; }

/* n slots of 2 MiB in gfn order, each after a gap of 1..4 × 2 MiB (seeded); host addresses
 * 4 MiB apart; ids shuffled as a VMM hands them out over time. */
static inline void layout_build(struct cslot *slots, size_t n, uint64_t seed)
{
    uint64_t rng = seed;
    uint64_t gfn = 0;
    for (size_t i = 0; i < n; i++) {
        gfn += SLOT_PAGES * (1 + rng_below(&rng, 4));
        slots[i] = (struct cslot){ .base_gfn = gfn, .npages = SLOT_PAGES, .hva = HVA_BASE + (uint64_t)i * (4ull << 20),
                                   .flags = 0, .slot = (uint32_t)i };
        gfn += SLOT_PAGES;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        uint32_t t = slots[i - 1].slot;
        slots[i - 1].slot = slots[j].slot;
        slots[j].slot = t;
    }
}

/* The search a VMM author writes: a three-way binary search over the sorted array that stops
 * on the first slot holding gfn. */
static inline const struct cslot *c_bsearch(const struct cslot *slots, size_t n, uint64_t gfn)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cslot *s = &slots[mid];
        if (gfn < s->base_gfn)
            hi = mid;
        else if (gfn - s->base_gfn >= s->npages)
            lo = mid + 1;
        else
            return s;
    }
    return NULL;
}

/* The search a skilled VMM author writes instead (issue 15's honest baseline): branch-free over a
 * flat sorted array of base gfns, so the loop count depends on n only and a random gfn costs no
 * mispredicted branch; the index found picks the slot from a parallel array. Returns the index
 * of the last key <= gfn (0 when there is none: the caller's range check then fails). */
static inline size_t c_flat_last_at_most(const uint64_t *keys, size_t n, uint64_t gfn)
{
    const uint64_t *b = keys;
    size_t len = n;
    while (len > 1) {
        size_t half = len / 2;
        b = b[half] <= gfn ? b + half : b; /* gcc emits cmov: no branch on the key */
        len -= half;
    }
    return (size_t)(b - keys);
}

/* The flat keys of a slot array (base gfns in order), malloc'd; the caller frees them. */
static inline uint64_t *c_flat_keys(const struct cslot *slots, size_t n)
{
    uint64_t *keys = aligned_alloc(64, ((n * sizeof(uint64_t)) + 63) & ~(size_t)63);
    for (size_t i = 0; i < n; i++)
        keys[i] = slots[i].base_gfn;
    return keys;
}

/* The slot holding gfn through the flat keys, or NULL. */
static inline const struct cslot *c_flat_find(const uint64_t *keys, const struct cslot *slots, size_t n, uint64_t gfn)
{
    const struct cslot *s = &slots[c_flat_last_at_most(keys, n, gfn)];
    return gfn - s->base_gfn < s->npages ? s : NULL;
}

/* What the baselines fill: the same 64 bytes hvrt_translate fills (no private backing here). */
static inline void c_fill(const struct cslot *s, uint64_t gfn, uint64_t generation, struct hvrt_translation *out)
{
    uint64_t offset = gfn - s->base_gfn;
    out->slot = s->slot;
    out->flags = ((s->flags & 2) ? HVRT_TR_READONLY : 0) | ((s->flags & 1) ? HVRT_TR_LOG_DIRTY : 0);
    out->base_gfn = s->base_gfn;
    out->npages = s->npages;
    out->hva = s->hva + (offset << 12);
    out->private_pgoff = 0;
    out->private_fd = -1;
    out->result = 0;
    out->run_pages = s->npages - offset;
    out->generation = generation;
}

/* Random stream: ~90% hits on a uniformly chosen slot and page, ~10% misses (a gap, below the
 * first slot or up to 8 MiB past the last). */
static inline void stream_random(const struct cslot *slots, size_t n, uint64_t *gfns, size_t len, uint64_t seed)
{
    uint64_t rng = seed;
    uint64_t limit = slots[n - 1].base_gfn + slots[n - 1].npages + 4 * SLOT_PAGES;
    for (size_t i = 0; i < len; i++) {
        if (rng_below(&rng, 100) < 10) {
            uint64_t gfn;
            do
                gfn = rng_below(&rng, limit);
            while (c_bsearch(slots, n, gfn) != NULL);
            gfns[i] = gfn;
        } else {
            const struct cslot *s = &slots[rng_below(&rng, n)];
            gfns[i] = s->base_gfn + rng_below(&rng, s->npages);
        }
    }
}

/* Sequential stream: every page of consecutive slots in order (gaps skipped), wrapping. */
static inline void stream_sequential(const struct cslot *slots, size_t n, uint64_t *gfns, size_t len)
{
    size_t k = 0;
    uint64_t p = 0;
    for (size_t i = 0; i < len; i++) {
        gfns[i] = slots[k].base_gfn + p;
        if (++p == slots[k].npages) {
            p = 0;
            k = k + 1 == n ? 0 : k + 1;
        }
    }
}

#endif /* HVRT_BENCH_LAYOUT_H */

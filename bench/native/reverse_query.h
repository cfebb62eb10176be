/* Reverse queries for translate_bench.c. By host address: "which gfns of which slots back
 * [hva, hva + len)", what a VMM asks on munmap / MADV_DONTNEED (KVM's mmu-notifier walk). The C
 * baselines fill the same struct hvrt_slot_range as hvrt_find_slots_by_hva, with its formulas:
 *   - c_hva_scan: every slot, in order (KVM before 5.17 walked all memslots this way);
 *   - c_hva_bsearch: binary search for the first slot ending above hva in an array sorted by
 *     userspace_addr, then forward while slots start below hva + len (valid because this
 *     layout's host ranges do not overlap; hvrt's index also handles overlapping ones). */
/* By private file page: "which gfns are bound to file bytes [offset, offset + len)", what a VMM
 * asks on fallocate(PUNCH_HOLE) of a private file (kvm_gmem_invalidate_begin); here slot i of
 * the layout is bound at file page i * 512, so the slot array is also in file order:
 *   - c_priv_scan: every slot; c_priv_bsearch: binary search on the file page, then forward. */
#ifndef HVRT_BENCH_REVERSE_QUERY_H
#define HVRT_BENCH_REVERSE_QUERY_H
#include "bench_layout.h"

static inline int hva_pair(const struct cslot *s, uint64_t hva, uint64_t end, struct hvrt_slot_range *out)
{
    uint64_t s_end = s->hva + (s->npages << 12);
    if (s->hva >= end || s_end <= hva)
        return 0;
    uint64_t lo = hva > s->hva ? hva : s->hva, hi = end < s_end ? end : s_end;
    out->slot = s->slot;
    out->flags = ((s->flags & 2) ? HVRT_TR_READONLY : 0) | ((s->flags & 1) ? HVRT_TR_LOG_DIRTY : 0);
    out->gfn_start = s->base_gfn + ((lo - s->hva) >> 12);
    out->gfn_end = s->base_gfn + ((hi + 4095 - s->hva) >> 12);
    out->reserved = 0;
    return 1;
}

/* Returns the total number of pairs and writes the first min(total, cap), as hvrt does. */
static inline int c_hva_scan(const struct cslot *slots, size_t n, uint64_t hva, uint64_t len,
                             struct hvrt_slot_range *out, size_t cap)
{
    int total = 0;
    struct hvrt_slot_range spare;
    for (size_t i = 0; i < n; i++)
        total += hva_pair(&slots[i], hva, hva + len, (size_t)total < cap ? &out[total] : &spare);
    return total;
}

static inline int c_hva_bsearch(const struct cslot *by_hva, size_t n, uint64_t hva, uint64_t len,
                                struct hvrt_slot_range *out, size_t cap)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first slot whose host range ends above hva */
        size_t mid = lo + (hi - lo) / 2;
        if (by_hva[mid].hva + (by_hva[mid].npages << 12) <= hva)
            lo = mid + 1;
        else
            hi = mid;
    }
    int total = 0;
    struct hvrt_slot_range spare;
    for (size_t i = lo; i < n && by_hva[i].hva < hva + len; i++)
        total += hva_pair(&by_hva[i], hva, hva + len, (size_t)total < cap ? &out[total] : &spare);
    return total;
}

/* Host addresses to query: ~90% a page inside a random slot's host range, ~10% in the 2 MiB
 * host gaps between slots (layout_build maps slot i at HVA_BASE + i * 4 MiB). */
static inline void stream_hva(size_t n, uint64_t *hvas, size_t len, uint64_t seed)
{
    uint64_t rng = seed;
    for (size_t i = 0; i < len; i++) {
        uint64_t base = HVA_BASE + rng_below(&rng, n) * (4ull << 20);
        uint64_t page = rng_below(&rng, SLOT_PAGES);
        hvas[i] = base + (rng_below(&rng, 100) < 10 ? (2ull << 20) : 0) + (page << 12);
    }
}

/* File page at which slot index i is bound. */
static inline uint64_t priv_pgoff(size_t i) { return (uint64_t)i * SLOT_PAGES; }

static inline int priv_pair(const struct cslot *s, uint64_t pgoff, uint64_t first, uint64_t end,
                            struct hvrt_slot_range *out)
{
    if (pgoff >= end || pgoff + s->npages <= first)
        return 0;
    out->slot = s->slot;
    out->flags = HVRT_TR_HAS_PRIVATE;
    out->gfn_start = s->base_gfn + (first > pgoff ? first : pgoff) - pgoff;
    out->gfn_end = s->base_gfn + (end < pgoff + s->npages ? end : pgoff + s->npages) - pgoff;
    out->reserved = 0;
    return 1;
}

static inline int c_priv_scan(const struct cslot *slots, size_t n, uint64_t offset, uint64_t len,
                              struct hvrt_slot_range *out, size_t cap)
{
    uint64_t first = offset >> 12, end = (offset + len + 4095) >> 12;
    int total = 0;
    struct hvrt_slot_range spare;
    for (size_t i = 0; i < n; i++)
        total += priv_pair(&slots[i], priv_pgoff(i), first, end, (size_t)total < cap ? &out[total] : &spare);
    return total;
}

static inline int c_priv_bsearch(const struct cslot *slots, size_t n, uint64_t offset, uint64_t len,
                                 struct hvrt_slot_range *out, size_t cap)
{
    uint64_t first = offset >> 12, end = (offset + len + 4095) >> 12;
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first slot whose file pages end above `first` */
        size_t mid = lo + (hi - lo) / 2;
        if (priv_pgoff(mid) + slots[mid].npages <= first)
            lo = mid + 1;
        else
            hi = mid;
    }
    int total = 0;
    struct hvrt_slot_range spare;
    for (size_t i = lo; i < n && priv_pgoff(i) < end; i++)
        total += priv_pair(&slots[i], priv_pgoff(i), first, end, (size_t)total < cap ? &out[total] : &spare);
    return total;
}

/* File offsets to query: ~90% a page inside a random slot's binding, ~10% past the last one. */
static inline void stream_private(size_t n, uint64_t *offsets, size_t len, uint64_t seed)
{
    uint64_t rng = seed;
    for (size_t i = 0; i < len; i++) {
        uint64_t k = rng_below(&rng, 100) < 10 ? n + rng_below(&rng, 4) : rng_below(&rng, n);
        offsets[i] = (priv_pgoff(k) + rng_below(&rng, SLOT_PAGES)) << 12;
    }
}

#endif /* HVRT_BENCH_REVERSE_QUERY_H */

/* Which search structure for gfn -> slot? The measurement behind hvrt's choice (the issue asks
 * to measure before choosing): ns per lookup of random gfns (90% hits) over N slots of 2 MiB
 * with random gaps, for
 *   bsearch     the plain binary search a VMM writes (KVM search_memslots shape, branchy);
 *   branchless  a branch-free lower bound over one flat sorted key array (hvrt's first layout);
 *   eytzinger   keys in BFS order with prefetch of the 4th descendant (Khuong & Morin);
 *   hvrt        hvrt_snapshot_find: two levels, 64-key leaves, branch-free in both (copy-on-
 *               write friendly: a change copies one leaf and the top array, not N entries).
 * Medians of 7 runs of 2^20 lookups; run: out/bin/search_layouts */
#include "bench_result.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hvrt_inline.h"

struct region { uint64_t base, npages, hva; uint32_t flags, slot; };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const struct region *bsearch_region(const struct region *a, size_t n, uint64_t gfn)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (gfn < a[mid].base)
            hi = mid;
        else if (gfn >= a[mid].base + a[mid].npages)
            lo = mid + 1;
        else
            return &a[mid];
    }
    return NULL;
}

static const struct region *branchless(const uint64_t *keys, const struct region *a, size_t n, uint64_t gfn)
{
    if (n == 0 || gfn < keys[0])
        return NULL;
    size_t lo = 0;
    while (n > 1) {
        size_t half = n >> 1;
        lo = keys[lo + half] <= gfn ? lo + half : lo;
        n -= half;
    }
    const struct region *r = &a[lo];
    return gfn - r->base < r->npages ? r : NULL;
}

/* Eytzinger: eyt[1..n] in BFS order, idx[k] = index of eyt[k] in the sorted array. */
static size_t eyt_fill(const uint64_t *sorted, uint64_t *eyt, uint32_t *idx, size_t n, size_t i, size_t k)
{
    if (k <= n) {
        i = eyt_fill(sorted, eyt, idx, n, i, 2 * k);
        eyt[k] = sorted[i];
        idx[k] = (uint32_t)i++;
        i = eyt_fill(sorted, eyt, idx, n, i, 2 * k + 1);
    }
    return i;
}

static const struct region *eytzinger(const uint64_t *eyt, const uint32_t *idx, const struct region *a, size_t n,
                                      uint64_t gfn)
{
    size_t k = 1;
    while (k <= n) {
        __builtin_prefetch(eyt + 16 * k);
        k = 2 * k + (eyt[k] <= gfn);
    }
    /* The last node where we went right holds the greatest key <= gfn. */
    k >>= __builtin_ffsll((long long)~k);
    if (k == 0)
        return NULL;
    const struct region *r = &a[idx[k]];
    return gfn - r->base < r->npages ? r : NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define RUNS 7
#define M (1 << 20)

int main(void)
{
    static const int counts[] = { 1, 8, 64, 512, 4096, 32764 };
    printf("%-6s %10s %10s %10s %10s   (ns/lookup, median of %d; ratio to bsearch)\n", "slots", "bsearch",
           "branchless", "eytzinger", "hvrt", RUNS);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = (size_t)counts[c];
        hvrt_vm *vm;
        if (hvrt_vm_create(NULL, &vm) != 0)
            return 1;
        struct region *a = calloc(n, sizeof *a);
        uint64_t *keys = calloc(n, 8), *eyt = calloc(n + 1 + 64, 8);
        uint32_t *idx = calloc(n + 1, 4);
        uint64_t gpa = 0, seed = 88172645463325252ull;
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            gpa += (seed % 4) << 21; /* gaps of 0..3 slots */
            struct kvm_userspace_memory_region r = { .slot = (uint32_t)i, .guest_phys_addr = gpa,
                                                     .memory_size = 2 << 20,
                                                     .userspace_addr = 0x100000000ull + ((uint64_t)i << 21) };
            if (hvrt_set_user_memory_region(vm, &r) != 0)
                return 1;
            a[i] = (struct region){ gpa >> 12, 512, r.userspace_addr, 0, (uint32_t)i };
            keys[i] = gpa >> 12;
            gpa += 2 << 20;
        }
        /* What a flat layout pays per slot change: rebuilding the whole array (keys and the
         * entries' order) from the sorted one, here just the Eytzinger permutation of keys. */
        double r0 = now();
        for (int rep = 0; rep < 16; rep++)
            eyt_fill(keys, eyt, idx, n, 0, 1);
        double rebuild_us = (now() - r0) / 16 * 1e6;
        uint64_t *g = malloc(8 * (size_t)M), span = gpa >> 12;
        for (int i = 0; i < M; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            g[i] = seed % (span + span / 9);
        }
        const struct hvrt_snapshot *s = ((const struct hvrt_vm_layout *)vm)->current[0];
        double t[4][RUNS];
        volatile uint64_t sink = 0;
        for (int run = 0; run < RUNS; run++) {
            uint64_t acc = 0;
            double t0 = now();
            for (int i = 0; i < M; i++) {
                const struct region *r = bsearch_region(a, n, g[i]);
                acc += r ? r->hva : 0;
            }
            double t1 = now();
            for (int i = 0; i < M; i++) {
                const struct region *r = branchless(keys, a, n, g[i]);
                acc += r ? r->hva : 0;
            }
            double t2 = now();
            for (int i = 0; i < M; i++) {
                const struct region *r = eytzinger(eyt, idx, a, n, g[i]);
                acc += r ? r->hva : 0;
            }
            double t3 = now();
            for (int i = 0; i < M; i++) {
                const struct hvrt_slot_entry *e = hvrt_snapshot_find(s, g[i]);
                acc += e ? e->hva : 0;
            }
            double t4 = now();
            sink += acc;
            t[0][run] = t1 - t0, t[1][run] = t2 - t1, t[2][run] = t3 - t2, t[3][run] = t4 - t3;
        }
        double med[4];
        for (int k = 0; k < 4; k++) {
            qsort(t[k], RUNS, sizeof(double), cmp_double);
            med[k] = t[k][RUNS / 2] / M * 1e9;
        }
        printf("%-6zu %10.2f %5.2f %4.2fx %5.2f %4.2fx %5.2f %4.2fx   eytzinger rebuild %.1f us\n", n, med[0], med[1],
               med[1] / med[0], med[2], med[2] / med[0], med[3], med[3] / med[0], rebuild_us);
        char params[32];
        snprintf(params, sizeof params, "%zu slots", n);
        static const char *const names[4] = { "C bsearch", "C branchless bsearch", "C eytzinger", "hvrt_snapshot_find" };
        for (int k = 0; k < 4; k++)
            bench_result("search-layouts", "random lookup, hva only", params, names[k], k == 3 ? "hvrt" : "baseline",
                         med[k], "ns/lookup");
        bench_result("search-layouts", "eytzinger rebuild", params, "C eytzinger permutation", "info", rebuild_us, "us");
        hvrt_vm_destroy(vm);
        free(a), free(keys), free(eyt), free(idx), free(g);
    }
    return 0;
}

/* Dirty-log harvest of a realistic slot: 64 GiB (16M pages, a 2 MiB bitmap) with 0.1%, 1% and
 * 10% of its pages dirty, marked by hvrt_mark_dirty, then hvrt_dirty_log_get (get-and-clear:
 * SIMD scan for clean runs, one atomic exchange per non-zero word). Baselines in the same
 * process, on a C bitmap with the same pages set: what a naive VMM does (an atomic exchange of
 * every word of the bitmap), and KVM's own loop (test each word, exchange the non-zero ones).
 * Also the cost of a mark: hvrt_mark_dirty of one page against a C atomic OR of its bit.
 * Rounds interleave the three; medians. Run: out/bin/dirty_log_bench [rounds] */
#include "bench_result.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hvrt.h"

#define PAGE 4096ull
#define NPAGES (16ull << 20) /* 64 GiB */
#define WORDS (NPAGES / 64)
#define GPA (4ull << 30)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* The naive VMM: fetch-and-clear every word. */
static void naive_get(uint64_t *map, uint64_t *out)
{
    for (uint64_t i = 0; i < WORDS; i++)
        out[i] = __atomic_exchange_n(&map[i], 0, __ATOMIC_SEQ_CST);
}

/* kvm_get_dirty_log_protect's loop: skip zero words, exchange the others. */
static void kvm_style_get(uint64_t *map, uint64_t *out)
{
    for (uint64_t i = 0; i < WORDS; i++)
        out[i] = map[i] ? __atomic_exchange_n(&map[i], 0, __ATOMIC_SEQ_CST) : 0;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 11;
    if (rounds < 1)
        rounds = 1;
    hvrt_vm *vm;
    if (hvrt_vm_create(NULL, &vm) != 0)
        return 1;
    struct kvm_userspace_memory_region2 r;
    memset(&r, 0, sizeof r);
    r.slot = 0;
    r.flags = KVM_MEM_LOG_DIRTY_PAGES;
    r.guest_phys_addr = GPA;
    r.memory_size = NPAGES * PAGE;
    r.userspace_addr = 0x7f0000000000ull; /* hvrt never touches guest memory */
    if (hvrt_set_user_memory_region2(vm, &r) != 0)
        return 1;
    uint64_t *out = aligned_alloc(64, WORDS * 8), *ref = aligned_alloc(64, WORDS * 8);
    uint64_t *cmap = aligned_alloc(64, WORDS * 8), *cout = aligned_alloc(64, WORDS * 8);
    memset(cmap, 0, WORDS * 8);
    double *t_hvrt = calloc((size_t)rounds, sizeof(double)), *t_naive = calloc((size_t)rounds, sizeof(double));
    double *t_kvm = calloc((size_t)rounds, sizeof(double)), *t_mark = calloc((size_t)rounds, sizeof(double));
    double *t_cmark = calloc((size_t)rounds, sizeof(double));
    const double densities[] = {0.001, 0.01, 0.10};
    printf("slot: 64 GiB, %llu pages, bitmap %llu KiB; %d rounds, medians\n", (unsigned long long)NPAGES,
           (unsigned long long)(WORDS * 8 / 1024), rounds);
    printf("| dirty | pages | hvrt get-and-clear | naive xchg every word | ratio naive/hvrt | KVM-style test+xchg | ratio kvm/hvrt | hvrt_mark_dirty ns/page | C atomic OR ns/page |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int d = 0; d < 3; d++) {
        uint64_t n = (uint64_t)(densities[d] * (double)NPAGES);
        uint64_t *pages = malloc(n * sizeof(uint64_t));
        for (int round = -1; round < rounds; round++) {
            rng_state = 88172645463325252ull + (uint64_t)d; /* the same pages every round */
            for (uint64_t i = 0; i < n; i++)
                pages[i] = rnd() % NPAGES;
            double t0 = now();
            for (uint64_t i = 0; i < n; i++)
                hvrt_mark_dirty(vm, GPA + pages[i] * PAGE, 1);
            double t1 = now();
            if (hvrt_dirty_log_get(vm, 0, out) != 0)
                return 1;
            double t2 = now();
            for (uint64_t i = 0; i < n; i++)
                __atomic_fetch_or(&cmap[pages[i] >> 6], 1ull << (pages[i] & 63), __ATOMIC_SEQ_CST);
            double t3 = now();
            naive_get(cmap, cout);
            double t4 = now();
            memcpy(ref, cout, WORDS * 8);
            for (uint64_t i = 0; i < n; i++)
                __atomic_fetch_or(&cmap[pages[i] >> 6], 1ull << (pages[i] & 63), __ATOMIC_SEQ_CST);
            double t5 = now();
            kvm_style_get(cmap, cout);
            double t6 = now();
            if (memcmp(out, ref, WORDS * 8) != 0 || memcmp(cout, ref, WORDS * 8) != 0) {
                fprintf(stderr, "bitmaps differ\n");
                return 1;
            }
            if (round >= 0) {
                t_mark[round] = (t1 - t0) / (double)n * 1e9;
                t_hvrt[round] = (t2 - t1) * 1e6;
                t_cmark[round] = (t3 - t2) / (double)n * 1e9;
                t_naive[round] = (t4 - t3) * 1e6;
                t_kvm[round] = (t6 - t5) * 1e6;
            }
        }
        double h = median(t_hvrt, rounds), nv = median(t_naive, rounds), k = median(t_kvm, rounds);
        printf("| %.1f%% | %llu | %.0f us | %.0f us | %.1fx | %.0f us | %.2fx | %.1f | %.1f |\n", densities[d] * 100,
               (unsigned long long)n, h, nv, nv / h, k, k / h, median(t_mark, rounds), median(t_cmark, rounds));
        char params[64];
        snprintf(params, sizeof params, "64 GiB slot, %.1f%% dirty", densities[d] * 100);
        bench_result("dirty-log", "get-and-clear", params, "hvrt_dirty_log_get", "hvrt", h, "us");
        bench_result("dirty-log", "get-and-clear", params, "C naive xchg every word", "baseline", nv, "us");
        bench_result("dirty-log", "get-and-clear", params, "C KVM-style test+xchg", "baseline", k, "us");
        bench_result("dirty-log", "mark dirty", params, "hvrt_mark_dirty", "hvrt", median(t_mark, rounds), "ns/page");
        bench_result("dirty-log", "mark dirty", params, "C atomic OR", "baseline", median(t_cmark, rounds), "ns/page");
        free(pages);
    }
    /* A clean bitmap: the scan alone. */
    for (int round = 0; round < rounds; round++) {
        double t0 = now();
        hvrt_dirty_log_get(vm, 0, out);
        double t1 = now();
        naive_get(cmap, cout);
        double t2 = now();
        kvm_style_get(cmap, cout);
        double t3 = now();
        t_hvrt[round] = (t1 - t0) * 1e6;
        t_naive[round] = (t2 - t1) * 1e6;
        t_kvm[round] = (t3 - t2) * 1e6;
    }
    double h = median(t_hvrt, rounds), nv = median(t_naive, rounds), k = median(t_kvm, rounds);
    printf("| 0%% | 0 | %.0f us | %.0f us | %.1fx | %.0f us | %.2fx | - | - |\n", h, nv, nv / h, k, k / h);
    bench_result("dirty-log", "get-and-clear", "64 GiB slot, 0.0% dirty", "hvrt_dirty_log_get", "hvrt", h, "us");
    bench_result("dirty-log", "get-and-clear", "64 GiB slot, 0.0% dirty", "C naive xchg every word", "baseline", nv, "us");
    bench_result("dirty-log", "get-and-clear", "64 GiB slot, 0.0% dirty", "C KVM-style test+xchg", "baseline", k, "us");
    hvrt_vm_destroy(vm);
    return 0;
}

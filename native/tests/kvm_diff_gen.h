/* kvm_diff_gen.h — random memslot requests for kvm_diff_test, valid and invalid, biased toward a
 * few slot ids and a 64 MiB gpa arena so that creates, moves, overlaps and deletes interact,
 * plus the edges of every check in kvm_set_memory_region (kvm-abi.md §2, §4.4). */
#ifndef KVM_DIFF_GEN_H
#define KVM_DIFF_GEN_H
#include "kvm_diff_model.h"

#define KD_PAGE 4096ull
#define KD_GPA_TOP (1ull << 52)            /* KVM's max gpa without TDP (kvm_mmu_max_gfn) */
#define KD_USER_LIMIT 0x7ffffffff000ull    /* x86-64 TASK_SIZE_MAX, 4-level paging */
#define KD_HVA_BASE 0x7f0000000000ull
#define KD_SAFE_BYTES (1ull << 30)         /* largest slot the kernel may be allowed to accept */
#define KD_MAX_NPAGES ((1ull << 31) - 1)   /* KVM_MEM_MAX_NR_PAGES */
#define KD_MAX_GMEM 8

struct kd_ctx {
    uint64_t rng;
    uint32_t nr_as;
    int private_slots;                     /* the KVM VM takes guest_memfd slots (KVM_CAP_GUEST_MEMFD on it) */
    int gpa_top_checked;                   /* the kernel refused a slot reaching past 2^52 */
    struct kd_model model;
    int ngm;
    int gm_fd[KD_MAX_GMEM];
    uint64_t gm_size[KD_MAX_GMEM];
    int foreign_fd, memfd_fd, vm_fd, kvm_fd;
    uint32_t closed_fd;
};

static uint64_t kd_rand(struct kd_ctx *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t kd_below(struct kd_ctx *c, uint64_t n) { return n ? kd_rand(c) % n : 0; }
static int kd_pct(struct kd_ctx *c, unsigned p) { return kd_below(c, 100) < p; }
#define KD_PICK(c, arr) ((arr)[kd_below((c), sizeof(arr) / sizeof((arr)[0]))])

static uint32_t kd_pick_id(struct kd_ctx *c)
{
    static const uint32_t edge[] = { 8, 31, 509, 32762, 32763, 32764, 32765, 32767, 65535 };
    return kd_pct(c, 90) ? (uint32_t)kd_below(c, 8) : KD_PICK(c, edge);
}

static uint32_t kd_pick_as(struct kd_ctx *c)
{
    static const uint32_t edge[] = { 1, 2, 0xffff };
    return kd_pct(c, 93) ? 0 : KD_PICK(c, edge);
}

static uint64_t kd_pick_npages(struct kd_ctx *c, uint64_t file_pages)
{
    static const uint64_t small[] = { 1, 2, 3, 8, 16, 64, 256, 512, 1024, 4096, 16384 };
    static const uint64_t big[] = { 65536, 262144, 262145, 1ull << 20, KD_MAX_NPAGES, 1ull << 31,
                                    (1ull << 31) + 1, 1ull << 36, (1ull << 40) - 1 };
    unsigned r = (unsigned)kd_below(c, 100);
    if (file_pages && r < 85) {
        uint64_t n;
        do
            n = KD_PICK(c, small);
        while (n > file_pages);
        return n;
    }
    return r < 88 ? KD_PICK(c, small) : KD_PICK(c, big);
}

static uint64_t kd_low_gpa(struct kd_ctx *c)
{
    return (kd_below(c, 1024) * 16 + (kd_pct(c, 10) ? kd_below(c, 16) : 0)) * KD_PAGE;
}

static uint64_t kd_pick_gpa(struct kd_ctx *c, uint64_t size)
{
    static const uint64_t odd[] = { UINT64_MAX - 4095, 1ull << 63, KD_GPA_TOP, KD_GPA_TOP - KD_PAGE,
                                    (1ull << 47), 0 };
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 78)
        return kd_low_gpa(c);
    if (r < 88) /* the slot's end around 2^52 */
        return KD_GPA_TOP - size + (kd_below(c, 9) - 4) * KD_PAGE;
    if (r < 93)
        return (1ull << 32) - 16 * KD_PAGE + kd_below(c, 32) * KD_PAGE;
    if (r < 96)
        return kd_low_gpa(c) | (1 + kd_below(c, 4095));
    return kd_pct(c, 70) ? KD_PICK(c, odd) : kd_rand(c) & ~(KD_PAGE - 1);
}

static uint64_t kd_pick_hva(struct kd_ctx *c, uint64_t size)
{
    static const uint64_t odd[] = { KD_USER_LIMIT, KD_USER_LIMIT + KD_PAGE, 1ull << 47, (1ull << 56) - KD_PAGE,
                                    0xffff800000000000ull, UINT64_MAX - 4095 };
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 80)
        return KD_HVA_BASE + kd_below(c, 1u << 20) * KD_PAGE;
    if (r < 88) /* the end around the user address limit */
        return KD_USER_LIMIT - size + (kd_below(c, 5) - 2) * KD_PAGE;
    if (r < 91)
        return 0;
    if (r < 94)
        return KD_HVA_BASE + kd_below(c, 1u << 20) * KD_PAGE + 1 + kd_below(c, 4095);
    return KD_PICK(c, odd);
}

static uint32_t kd_odd_flag(struct kd_ctx *c)
{
    static const uint32_t odd[] = { 1u << 3, 1u << 4, 1u << 15, 1u << 16, 1u << 17, 1u << 31 };
    return kd_pct(c, 85) ? KD_PICK(c, odd) : (uint32_t)kd_rand(c);
}

static uint32_t kd_pick_flags(struct kd_ctx *c, int priv)
{
    static const uint32_t base[] = { 0, 0, 0, 0, 0, 0, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_LOG_DIRTY_PAGES,
                                     KVM_MEM_READONLY, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES };
    uint32_t f = KD_PICK(c, base);
    if (priv)
        f = kd_pct(c, 85) ? KVM_MEM_GUEST_MEMFD : f | KVM_MEM_GUEST_MEMFD;
    if (kd_pct(c, 6))
        f |= kd_odd_flag(c);
    return f;
}

/* A private fd: mostly this VM's guest_memfds, else every kind the kernel refuses. */
static uint32_t kd_pick_fd(struct kd_ctx *c)
{
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 75 && c->ngm)
        return (uint32_t)c->gm_fd[kd_below(c, (uint64_t)c->ngm)];
    if (r < 80 && c->foreign_fd >= 0)
        return (uint32_t)c->foreign_fd;
    uint32_t other[] = { (uint32_t)c->memfd_fd, (uint32_t)c->vm_fd, (uint32_t)c->kvm_fd, 1, c->closed_fd,
                         UINT32_MAX, 0x80000000u, 0x7fffffffu };
    return KD_PICK(c, other);
}

static uint64_t kd_file_size(const struct kd_ctx *c, uint32_t fd)
{
    for (int i = 0; i < c->ngm; i++)
        if ((uint32_t)c->gm_fd[i] == fd)
            return c->gm_size[i];
    return 4ull << 20;
}

static uint64_t kd_pick_offset(struct kd_ctx *c, uint32_t fd, uint64_t size)
{
    uint64_t fsize = kd_file_size(c, fd);
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 60)
        return size <= fsize ? kd_below(c, (fsize - size) / KD_PAGE + 1) * KD_PAGE : 0;
    if (r < 72) { /* near another slot's binding of the same file: page overlaps */
        for (int i = 0; i < c->model.n; i++) {
            const struct kd_slot *s = &c->model.s[(i + (int)kd_below(c, 7)) % c->model.n];
            if (s->fd == fd)
                return (s->pgoff + s->npages - 1 - kd_below(c, 3)) * KD_PAGE;
        }
        return 0;
    }
    if (r < 80) {
        uint64_t end[] = { fsize - size, fsize - size + KD_PAGE, fsize };
        return KD_PICK(c, end);
    }
    if (r < 85)
        return kd_below(c, fsize) | 1;
    uint64_t odd[] = { (1ull << 63) - KD_PAGE, (1ull << 63) - size, (1ull << 63) - size - KD_PAGE, 1ull << 63,
                       UINT64_MAX - 4095, 1ull << 62, (1ull << 63) - 16 * KD_PAGE };
    return KD_PICK(c, odd);
}

static const struct kd_slot *kd_random_slot(struct kd_ctx *c, int want_private)
{
    int n = c->model.n;
    if (!n)
        return NULL;
    int start = (int)kd_below(c, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        const struct kd_slot *s = &c->model.s[(start + i) % n];
        if (!want_private || (s->flags & KVM_MEM_GUEST_MEMFD))
            return s;
    }
    return NULL;
}
#endif

/* kvm_diff_kinds.h — the kinds of request kvm_diff_test mixes (create, delete, move, flag
 * toggle, repeat, private-slot change, one-field edge mutation, garbage) and the safety rule
 * that keeps the kernel from accepting (and allocating for) a huge slot. */
#ifndef KVM_DIFF_KINDS_H
#define KVM_DIFF_KINDS_H
#include "kvm_diff_gen.h"

static void kd_gen_create(struct kd_ctx *c, struct kd_op *op)
{
    struct kvm_userspace_memory_region2 *r = &op->r;
    int priv = op->entry != KD_V1 ? kd_pct(c, 40) : kd_pct(c, 3);
    op->kind = priv ? "create-private" : "create";
    uint32_t as = kd_pick_as(c), id = kd_pick_id(c);
    for (int i = 0; i < 8 && kd_pct(c, 75) && kd_find_id(&c->model, as, id); i++)
        id = (uint32_t)kd_below(c, 8); /* mostly a real create: a free id of the pool */
    r->slot = as << 16 | id;
    uint32_t fd = priv ? kd_pick_fd(c) : 0;
    uint64_t npages = kd_pick_npages(c, priv ? kd_file_size(c, fd) / KD_PAGE : 0);
    r->memory_size = npages * KD_PAGE;
    r->guest_phys_addr = kd_pick_gpa(c, r->memory_size);
    r->userspace_addr = kd_pick_hva(c, r->memory_size);
    r->flags = kd_pick_flags(c, priv);
    if (priv) {
        r->guest_memfd = fd;
        r->guest_memfd_offset = kd_pick_offset(c, fd, r->memory_size);
    } else if (kd_pct(c, 20)) { /* ignored without bit 2 */
        r->guest_memfd = kd_pick_fd(c);
        r->guest_memfd_offset = kd_rand(c);
    }
}

static void kd_gen_delete(struct kd_ctx *c, struct kd_op *op, const struct kd_slot *s)
{
    op->kind = "delete";
    kd_op_from_slot(op, s);
    op->r.memory_size = 0;
    if (kd_pct(c, 30))
        op->r.flags = 0;
    if (kd_pct(c, 20))
        op->r.guest_phys_addr = kd_low_gpa(c);
    if (kd_pct(c, 10))
        op->r.userspace_addr = kd_pick_hva(c, 0);
    if (kd_pct(c, 15))
        op->r.slot = kd_pick_id(c); /* maybe no such slot */
    if (kd_pct(c, 20))
        op->r.guest_memfd = kd_pick_fd(c); /* delete ignores the fd... */
    if (kd_pct(c, 10))
        op->r.guest_memfd_offset = kd_pick_offset(c, op->r.guest_memfd, 0); /* ...not the offset checks */
}

static void kd_gen_move(struct kd_ctx *c, struct kd_op *op, const struct kd_slot *s)
{
    op->kind = "move";
    kd_op_from_slot(op, s);
    op->r.guest_phys_addr = kd_pct(c, 85) ? kd_low_gpa(c) : kd_pick_gpa(c, op->r.memory_size);
    if (kd_pct(c, 10))
        op->r.userspace_addr = kd_pick_hva(c, op->r.memory_size);
    if (kd_pct(c, 25))
        op->r.flags ^= KVM_MEM_LOG_DIRTY_PAGES; /* a move takes the request's flags too */
}

static void kd_gen_flags(struct kd_ctx *c, struct kd_op *op, const struct kd_slot *s)
{
    op->kind = "flags";
    kd_op_from_slot(op, s);
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 70)
        op->r.flags ^= KVM_MEM_LOG_DIRTY_PAGES;
    else if (r < 80)
        op->r.flags ^= KVM_MEM_READONLY;
    else if (r < 90) {
        op->r.flags ^= KVM_MEM_GUEST_MEMFD;
        op->r.guest_memfd = kd_pick_fd(c);
    } else
        op->r.flags |= kd_odd_flag(c);
}

/* Changes of a guest_memfd slot: all refused by KVM (private slots are immutable) but delete. */
static void kd_gen_private_mod(struct kd_ctx *c, struct kd_op *op, const struct kd_slot *s)
{
    op->kind = "private-mod";
    kd_op_from_slot(op, s);
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 40)
        return; /* identical request */
    if (r < 55)
        op->r.flags &= ~KVM_MEM_GUEST_MEMFD;
    else if (r < 60) { /* without the flag, moved (maybe onto another slot) */
        op->r.flags &= ~KVM_MEM_GUEST_MEMFD;
        op->r.guest_phys_addr = kd_low_gpa(c);
    } else if (r < 75)
        op->r.guest_phys_addr = kd_low_gpa(c);
    else if (r < 85)
        op->r.flags ^= KVM_MEM_LOG_DIRTY_PAGES;
    else if (r < 90)
        op->r.guest_memfd_offset += KD_PAGE;
    else
        op->r.memory_size = 0;
}

/* One field of an existing (or fresh) request set to an edge value. */
static void kd_gen_mutate(struct kd_ctx *c, struct kd_op *op, const struct kd_slot *s)
{
    struct kvm_userspace_memory_region2 *r = &op->r;
    if (s)
        kd_op_from_slot(op, s);
    else
        kd_gen_create(c, op);
    op->kind = "mutate";
    uint64_t size = r->memory_size, fsize = kd_file_size(c, r->guest_memfd);
    switch (kd_below(c, 8)) {
    case 0: {
        uint32_t as[] = { 1, 2, 0xffff, c->nr_as }, id[] = { 32763, 32764, 32765, 32766, 32767, 65535 };
        r->slot = kd_pct(c, 50) ? KD_PICK(c, as) << 16 | (r->slot & 0xffff) : (r->slot & 0xffff0000u) | KD_PICK(c, id);
        break;
    }
    case 1: {
        uint32_t f[] = { 1u << 3, 1u << 16, 1u << 31, 1u << 17, 0xffffffffu, KVM_MEM_GUEST_MEMFD, 3, 5, 6 };
        r->flags ^= KD_PICK(c, f);
        break;
    }
    case 2: {
        uint64_t g[] = { KD_GPA_TOP - size, KD_GPA_TOP - size + KD_PAGE, KD_GPA_TOP, UINT64_MAX - size + 1,
                         UINT64_MAX - 4095, r->guest_phys_addr | 0x800, 1ull << 63 };
        r->guest_phys_addr = KD_PICK(c, g);
        break;
    }
    case 3: {
        uint64_t z[] = { 0, size + 1, KD_MAX_NPAGES * KD_PAGE, (KD_MAX_NPAGES + 1) * KD_PAGE,
                         (KD_MAX_NPAGES + 2) * KD_PAGE, UINT64_MAX - 4095, 1ull << 47, size * 2 };
        r->memory_size = KD_PICK(c, z);
        break;
    }
    case 4: {
        uint64_t h[] = { 0, KD_USER_LIMIT - size, KD_USER_LIMIT - size + KD_PAGE, KD_USER_LIMIT,
                         r->userspace_addr | 1, UINT64_MAX - 4095, 0xffff800000000000ull, 1ull << 47 };
        r->userspace_addr = KD_PICK(c, h);
        break;
    }
    case 5: {
        uint64_t o[] = { fsize - size, fsize - size + KD_PAGE, fsize, (1ull << 63) - KD_PAGE, (1ull << 63) - size,
                         1ull << 63, UINT64_MAX - 4095, r->guest_memfd_offset | 0x10 };
        r->guest_memfd_offset = KD_PICK(c, o);
        break;
    }
    case 6:
        r->guest_memfd = kd_pick_fd(c);
        break;
    default:
        r->pad1 = (uint32_t)kd_rand(c);
        r->pad2[kd_below(c, 14)] = kd_rand(c);
        break;
    }
}

static void kd_gen_garbage(struct kd_ctx *c, struct kd_op *op)
{
    struct kvm_userspace_memory_region2 *r = &op->r;
    op->kind = "garbage";
    r->slot = kd_pct(c, 50) ? (uint32_t)kd_rand(c) : kd_pick_as(c) << 16 | kd_pick_id(c);
    r->flags = kd_pct(c, 50) ? (uint32_t)kd_rand(c) : kd_pick_flags(c, kd_pct(c, 50));
    r->memory_size = kd_pct(c, 30) ? kd_rand(c) : kd_pick_npages(c, 0) * KD_PAGE;
    r->guest_phys_addr = kd_pct(c, 30) ? kd_rand(c) : kd_pick_gpa(c, r->memory_size);
    r->userspace_addr = kd_pct(c, 30) ? kd_rand(c) : kd_pick_hva(c, r->memory_size);
    r->guest_memfd = kd_pick_fd(c);
    r->guest_memfd_offset = kd_pct(c, 30) ? kd_rand(c) : kd_pick_offset(c, r->guest_memfd, r->memory_size);
}

/* True when the kernel refuses op before kvm_alloc_memslot_metadata (only sure reasons). */
static int kd_refused_early(struct kd_ctx *c, const struct kd_op *op)
{
    const struct kvm_userspace_memory_region2 *r = &op->r;
    uint64_t size = r->memory_size, gpa = r->guest_phys_addr, hva = r->userspace_addr;
    uint32_t bad_flags = op->entry == KD_V1 ? ~3u : ~7u;
    if ((r->flags & bad_flags) || ((r->flags & 4) && (r->flags & 3)))
        return 1;
    if ((size | gpa | hva) & (KD_PAGE - 1) || hva + size < hva || hva + size > KD_USER_LIMIT)
        return 1;
    if ((r->flags & 4) && ((r->guest_memfd_offset & (KD_PAGE - 1)) || r->guest_memfd_offset + size < size))
        return 1;
    if ((r->slot >> 16) >= c->nr_as || (r->slot & 0xffff) >= 32764 || gpa + size < gpa || size / KD_PAGE > KD_MAX_NPAGES)
        return 1;
    /* an existing slot is small: a huge request differs in size (EINVAL) */
    return kd_find_id(&c->model, r->slot >> 16, r->slot & 0xffff) != NULL;
}

/*
 * x86 KVM without TDP allocates an 8-byte rmap entry per page at create/move (plus a dirty
 * bitmap with LOG_DIRTY_PAGES): a 2^31-page slot would really take 16 GiB, or fail with ENOMEM,
 * which hvrt cannot mimic. So a request over KD_SAFE_BYTES that could pass the early checks is
 * pushed past 2^52 (EINVAL in kvm_arch_prepare_memory_region, before the allocation) or made to
 * wrap (EINVAL in the general checks).
 */
static void kd_make_safe(struct kd_ctx *c, struct kd_op *op)
{
    uint64_t size = op->r.memory_size;
    if (size <= KD_SAFE_BYTES || kd_refused_early(c, op))
        return;
    if (c->gpa_top_checked && kd_pct(c, 70))
        op->r.guest_phys_addr = kd_pct(c, 50) ? KD_GPA_TOP : KD_GPA_TOP - size + KD_PAGE;
    else
        op->r.guest_phys_addr = UINT64_MAX - size + 1 + KD_PAGE * kd_below(c, 4);
    op->kind = "huge";
}
#endif

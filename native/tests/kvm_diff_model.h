/* kvm_diff_model.h — one memslot request (kd_op), applied to KVM or hvrt, and the model of the
 * slots the kernel accepted, against which hvrt_translate is checked. */
#ifndef KVM_DIFF_MODEL_H
#define KVM_DIFF_MODEL_H
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"
#include "kvm_diff_kvm.h"

enum kd_entry { KD_V1, KD_R2, KD_EXT };
static const char *const kd_entry_name[] = { "v1", "region2", "ext" };

/* A request: the 160-byte region2 layout serves all three entries (v1 uses its first 32 bytes,
 * ext is byte-identical). The kernel always sees v1 or region2. */
struct kd_op {
    enum kd_entry entry;
    const char *kind;
    struct kvm_userspace_memory_region2 r;
};

static void kd_print_op(const struct kd_op *op)
{
    const struct kvm_userspace_memory_region2 *r = &op->r;
    fprintf(stderr,
            "  %s/%s slot=0x%x (as %u id %u) flags=0x%x gpa=0x%" PRIx64 " size=0x%" PRIx64
            " hva=0x%" PRIx64 " offset=0x%" PRIx64 " fd=%d pad1=0x%x pad2[0]=0x%" PRIx64 "\n",
            kd_entry_name[op->entry], op->kind, r->slot, r->slot >> 16, r->slot & 0xffff, r->flags,
            (uint64_t)r->guest_phys_addr, (uint64_t)r->memory_size, (uint64_t)r->userspace_addr,
            (uint64_t)r->guest_memfd_offset, (int)r->guest_memfd, r->pad1, (uint64_t)r->pad2[0]);
}

/* Whether the kernel has KVM_SET_USER_MEMORY_REGION2 (6.8); without it the _ext proposal's
 * requests go to the kernel as v1, as a bound hvrt VM sends them (hvrt.h "Kernel profiles"). */
static int kd_kernel_region2 = 1;

static int kd_kernel_apply(int vm_fd, const struct kd_op *op)
{
    if (op->entry == KD_V1 || (op->entry == KD_EXT && !kd_kernel_region2))
        return kd_set_region_v1(vm_fd, &op->r);
    return kd_set_region2(vm_fd, &op->r);
}

static int kd_hvrt_apply(hvrt_vm *vm, const struct kd_op *op)
{
    if (op->entry == KD_V1) {
        struct kvm_userspace_memory_region v1;
        memcpy(&v1, &op->r, sizeof v1);
        return hvrt_set_user_memory_region(vm, &v1);
    }
    if (op->entry == KD_R2)
        return hvrt_set_user_memory_region2(vm, &op->r);
    struct kvm_userspace_memory_region_ext ext;
    memcpy(&ext, &op->r, sizeof ext);
    return hvrt_set_user_memory_region_ext(vm, &ext);
}

/* ---- model of the kernel's accepted slots ---- */

#define KD_MAX_SLOTS 256

struct kd_slot {
    uint32_t as, id, flags, fd;
    uint64_t base, npages, hva, pgoff;
};

struct kd_model {
    int n;
    struct kd_slot s[KD_MAX_SLOTS];
};

static struct kd_slot *kd_find_id(struct kd_model *m, uint32_t as, uint32_t id)
{
    for (int i = 0; i < m->n; i++)
        if (m->s[i].as == as && m->s[i].id == id)
            return &m->s[i];
    return NULL;
}

static const struct kd_slot *kd_find_gfn(const struct kd_model *m, uint32_t as, uint64_t gfn)
{
    for (int i = 0; i < m->n; i++)
        if (m->s[i].as == as && gfn >= m->s[i].base && gfn - m->s[i].base < m->s[i].npages)
            return &m->s[i];
    return NULL;
}

/* The request as it would recreate slot s (region2 layout). */
static void kd_op_from_slot(struct kd_op *op, const struct kd_slot *s)
{
    memset(&op->r, 0, sizeof op->r);
    op->r.slot = s->as << 16 | s->id;
    op->r.flags = s->flags;
    op->r.guest_phys_addr = s->base << 12;
    op->r.memory_size = s->npages << 12;
    op->r.userspace_addr = s->hva;
    if (s->flags & KVM_MEM_GUEST_MEMFD) {
        op->r.guest_memfd = s->fd;
        op->r.guest_memfd_offset = s->pgoff << 12;
    }
}

/* Records what the kernel did with an op it accepted (returned 0). */
static void kd_model_apply(struct kd_model *m, const struct kd_op *op)
{
    const struct kvm_userspace_memory_region2 *r = &op->r;
    uint32_t as = r->slot >> 16, id = r->slot & 0xffff;
    struct kd_slot *old = kd_find_id(m, as, id);
    if (r->memory_size == 0) {
        if (old)
            *old = m->s[--m->n];
        return;
    }
    if (old) {
        old->base = r->guest_phys_addr >> 12;
        old->flags = r->flags;
        return;
    }
    if (m->n == KD_MAX_SLOTS) {
        fprintf(stderr, "model full\n");
        abort();
    }
    int priv = op->entry != KD_V1 && (r->flags & KVM_MEM_GUEST_MEMFD);
    m->s[m->n++] = (struct kd_slot){
        .as = as, .id = id, .flags = r->flags, .fd = priv ? r->guest_memfd : UINT32_MAX,
        .base = r->guest_phys_addr >> 12, .npages = r->memory_size >> 12, .hva = r->userspace_addr,
        .pgoff = priv ? r->guest_memfd_offset >> 12 : 0,
    };
}

/* hvrt_translate(as, gfn) must describe exactly the model's slot (or give -ENOENT). */
static void kd_check_gfn(hvrt_vm *vm, const struct kd_model *m, uint32_t as, uint64_t gfn)
{
    struct hvrt_translation t;
    memset(&t, 0xa5, sizeof t);
    int rc = hvrt_translate(vm, as, gfn, &t);
    const struct kd_slot *s = kd_find_gfn(m, as, gfn);
    int ok;
    if (!s) {
        ok = rc == HVRT_ENOENT;
    } else {
        uint64_t off = gfn - s->base;
        int priv = (s->flags & KVM_MEM_GUEST_MEMFD) != 0;
        uint32_t fl = (s->flags & KVM_MEM_READONLY ? HVRT_TR_READONLY : 0) |
                      (s->flags & KVM_MEM_LOG_DIRTY_PAGES ? HVRT_TR_LOG_DIRTY : 0) |
                      (priv ? HVRT_TR_HAS_PRIVATE : 0);
        ok = rc == 0 && t.slot == (s->as << 16 | s->id) && t.flags == fl && t.base_gfn == s->base &&
             t.npages == s->npages && t.hva == s->hva + (off << 12) &&
             t.private_pgoff == (priv ? s->pgoff + off : 0) && (priv ? t.private_fd >= 0 : t.private_fd == -1) &&
             t.run_pages == s->npages - off;
    }
    if (!ok) {
        fprintf(stderr, "TRANSLATE MISMATCH as %u gfn 0x%" PRIx64 ": rc %d", as, gfn, rc);
        if (rc == 0)
            fprintf(stderr, " got slot 0x%x flags 0x%x base 0x%" PRIx64 " npages 0x%" PRIx64 " hva 0x%" PRIx64
                    " pgoff 0x%" PRIx64 " fd %d run %" PRIu64, t.slot, t.flags, t.base_gfn, t.npages, t.hva,
                    t.private_pgoff, t.private_fd, t.run_pages);
        if (s)
            fprintf(stderr, "; model slot %u/%u base 0x%" PRIx64 " npages 0x%" PRIx64 " hva 0x%" PRIx64
                    " flags 0x%x pgoff 0x%" PRIx64, s->as, s->id, s->base, s->npages, s->hva, s->flags, s->pgoff);
        else
            fprintf(stderr, "; model: no slot");
        fprintf(stderr, "\n");
    }
    CHECK(ok);
}
#endif

/* fuzz_model.h — the reference model abi_fuzz checks libhvrt against: the slots (kvm_diff_model.h's
 * kd_model, shared with the differential test) plus what that test does not need — the VM type's
 * rules and KVM's errno for a slot request (hvrt.h, kvm-abi.md §2, §4.4), generations, the per-gfn
 * attributes (a sorted list of private intervals over all 2^52 gfns), dirty bitmaps, readers,
 * conversion listeners and the content of the backing files. Deliberately naive: linear scans,
 * one obvious rule per line, so that a disagreement is easier to believe of hvrt than of it. */
#ifndef HVRT_FUZZ_MODEL_H
#define HVRT_FUZZ_MODEL_H
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* kvm_diff_kvm.h's ioctl helpers we do not call */
#include "kvm_diff_model.h"
#pragma GCC diagnostic pop

#define FM_PAGE 4096ull
#define FM_MAX_PAGES ((1ull << 31) - 1) /* KVM_MEM_MAX_NR_PAGES */
#define FM_GFN_LIMIT (1ull << 52)       /* attributes exist below it; above, gfns are shared */
#define FM_PRIVATE 8ull                 /* KVM_MEMORY_ATTRIBUTE_PRIVATE */
#define FM_MAX_IVS 1024
#define FM_MAX_DIRTY KD_MAX_SLOTS
#define FM_MAX_READERS 8
#define FM_MAX_LISTENERS 4
#define FM_AREA_PAGES ((1ull << 18) + 1024) /* the shared area: 4 MiB of file A, then 1 GiB anonymous */
#define FM_DIRTY_WORDS ((FM_AREA_PAGES + 63) / 64) /* no slot is larger than the shared area */

/* Backing files: index into fm_file (A is also the shared area, mapped MAP_SHARED). */
enum { FM_FILE_A, FM_FILE_B, FM_FILE_C, FM_FILE_GMEM, FM_FILE_PIPE, FM_NFILES };

struct fm_file {
    int fd;            /* -1: not available (guest_memfd without /dev/kvm) */
    uint64_t pages;    /* file size in pages */
    int regular;       /* S_ISREG (the _ext entry takes regular files only) */
    int gmem;          /* a guest_memfd (region2 takes only these) */
    unsigned char *map; /* MAP_SHARED view for content checks, or NULL (guest_memfd) */
};

/* The VM's rules (hvrt.h "struct hvrt_vm_config" table). */
struct fm_rules {
    uint32_t type, nr_as, max_slots;
    uint64_t max_gfn, user_limit, supported_attrs;
    int readonly_ok, private_slots_ok, private_mem;
};

struct fm_iv { uint64_t s, e; }; /* private gfns [s, e) */

struct fm_dirty {
    int used;
    uint32_t as, id;
    uint64_t *bits; /* ALIGN(npages, 64) / 64 words, calloc'd */
};

enum fm_reader_state { FM_R_UNREGISTERED, FM_R_OFFLINE, FM_R_ONLINE };
struct fm_reader {
    void *ptr;
    enum fm_reader_state st;
};

struct fm {
    struct fm_rules rules;
    struct kd_model slots;
    uint64_t gen[2];
    int nivs;
    struct fm_iv ivs[FM_MAX_IVS];
    int had_private; /* translations consult attributes from the first private page on */
    struct fm_dirty dirty[FM_MAX_DIRTY];
    uint32_t dirty_mode;
    uint32_t discard_policy;
    uint64_t conv_seq;
    int nlisteners;
    uintptr_t listeners[FM_MAX_LISTENERS];
    int nreaders;
    struct fm_reader readers[FM_MAX_READERS];
    /* hvrt keeps one duplicate per private file, made from the fd of the first slot bound to it:
     * whether that fd was read-only decides whether a punch through it can work. */
    int file_slots[FM_NFILES];
    int file_dup_ro[FM_NFILES];
    void (*on_change)(uint32_t as, uint32_t id); /* told of every accepted change of a slot */
};

/* ---- VM rules ---- */

static void fm_rules_init(struct fm_rules *r, uint32_t type, uint32_t nr_as, uint32_t max_slots, uint32_t gpa_bits,
                          uint64_t user_limit)
{
    int priv = type == HVRT_VM_TYPE_SW_PROTECTED || type == HVRT_VM_TYPE_SNP || type == HVRT_VM_TYPE_TDX;
    int prot = type == HVRT_VM_TYPE_SEV_ES || type == HVRT_VM_TYPE_SNP || type == HVRT_VM_TYPE_TDX;
    r->type = type;
    r->nr_as = nr_as ? nr_as : priv ? 1 : 2;
    r->max_slots = max_slots ? max_slots : 32764;
    r->max_gfn = gpa_bits >= 64 ? UINT64_MAX >> 12 : (1ull << (gpa_bits - 12)) - 1;
    r->user_limit = user_limit;
    r->supported_attrs = priv ? FM_PRIVATE : 0;
    r->readonly_ok = !prot;
    /* The newest profile (6.18, d1e54dd08f16): guest_memfd slots on every type. */
    r->private_slots_ok = 1;
    r->private_mem = priv;
}

/* hvrt_vm_create's answer for a config (hvrt.h): 0, -EINVAL or -E2BIG. `bytes` is the struct as
 * passed (cfg->size of them are read). */
static int fm_config_errno(const unsigned char *bytes)
{
    struct hvrt_vm_config c;
    uint32_t size;
    memcpy(&size, bytes, 4);
    if (size < 8)
        return -EINVAL;
    if (size > 4096)
        return -E2BIG;
    for (uint32_t i = sizeof c; i < size; i++)
        if (bytes[i])
            return -E2BIG;
    memset(&c, 0, sizeof c);
    memcpy(&c, bytes, size < sizeof c ? size : sizeof c);
    int priv = c.vm_type == 1 || c.vm_type == 4 || c.vm_type == 5;
    /* The model is the newest profile's (the harness asks for it; a short struct from an older
     * header has 0, this host's, which the harness never makes valid). 6.18 takes types 0..5. */
    if ((c.kvm_profile != 0 && c.kvm_profile != HVRT_KVM_PROFILE_6_1 && c.kvm_profile != HVRT_KVM_PROFILE_6_8 &&
         c.kvm_profile != HVRT_KVM_PROFILE_6_12 && c.kvm_profile != HVRT_KVM_PROFILE_6_18) ||
        c.reserved32 || c.reserved[0] || c.reserved[1] || c.reserved[2])
        return -EINVAL;
    if (c.vm_type > 5 || c.flags || c.nr_address_spaces > (priv ? 1u : 2u) || c.max_user_slots > 32764 ||
        (c.max_gpa_bits && (c.max_gpa_bits < 13 || c.max_gpa_bits > 64)) || (c.user_addr_limit & 4095))
        return -EINVAL;
    return 0;
}

/* ---- private files and their bindings ---- */

static const struct kd_slot *fm_slot_at(const struct fm *m, int i) { return &m->slots.s[i]; }
static int fm_slot_private(const struct kd_slot *s) { return (s->flags & KVM_MEM_GUEST_MEMFD) && s->fd != UINT32_MAX; }

/* The file index of an fd number, or -1 (filled in by the harness: fd numbers are per process). */
static int (*fm_file_of_fd)(uint32_t fd);
static int (*fm_fd_readonly)(uint32_t fd);
static const struct fm_file *fm_files;

/* A page of file f in [pg, pg + n) already bound to a slot (any address space). */
static int fm_pages_bound(const struct fm *m, int f, uint64_t pg, uint64_t n)
{
    for (int i = 0; i < m->slots.n; i++) {
        const struct kd_slot *s = fm_slot_at(m, i);
        if (fm_slot_private(s) && fm_file_of_fd(s->fd) == f && pg < s->pgoff + s->npages && s->pgoff < pg + n)
            return 1;
    }
    return 0;
}

static int fm_overlaps(const struct fm *m, uint32_t as, uint32_t id, uint64_t base, uint64_t n)
{
    for (int i = 0; i < m->slots.n; i++) {
        const struct kd_slot *s = fm_slot_at(m, i);
        if (s->as == as && s->id != id && base < s->base + s->npages && s->base < base + n)
            return 1;
    }
    return 0;
}

/* ---- the slot request: hvrt.h's hvrt_set_user_memory_region2 rules, in its order ---- */

enum fm_change { FM_NONE, FM_CREATE, FM_DELETE, FM_MOVE, FM_FLAGS };

static int fm_predict_region(const struct fm *m, enum kd_entry entry, const struct kvm_userspace_memory_region2 *r,
                             enum fm_change *change)
{
    const struct fm_rules *R = &m->rules;
    uint32_t fl = r->flags, as = r->slot >> 16, id = r->slot & 0xffff;
    uint64_t size = r->memory_size, gpa = r->guest_phys_addr, hva = r->userspace_addr, off = r->guest_memfd_offset;
    int priv = (fl & KVM_MEM_GUEST_MEMFD) != 0;
    *change = FM_NONE;
    /* v1's filter, then check_memory_region_flags */
    if (entry == KD_V1 && (fl & ~3u))
        return -EINVAL;
    uint32_t valid = KVM_MEM_LOG_DIRTY_PAGES;
    if (R->private_slots_ok)
        valid |= KVM_MEM_GUEST_MEMFD;
    if (priv)
        valid &= ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES;
    else if (R->readonly_ok)
        valid |= KVM_MEM_READONLY;
    if (fl & ~valid)
        return -EINVAL;
    /* general checks */
    if ((size | gpa | hva) & 4095)
        return -EINVAL;
    if (hva + size < hva || hva + size > R->user_limit)
        return -EINVAL;
    if (priv && ((off & 4095) || off + size < off))
        return -EINVAL;
    if (as >= R->nr_as || id >= R->max_slots)
        return -EINVAL;
    if (gpa + size < gpa || size / FM_PAGE > FM_MAX_PAGES)
        return -EINVAL;
    const struct kd_slot *old = kd_find_id((struct kd_model *)&m->slots, as, id);
    uint64_t base = gpa >> 12, n = size >> 12;
    if (size == 0) {
        if (!old)
            return -EINVAL;
        *change = FM_DELETE;
        return 0;
    }
    if (old) {
        if (priv || fm_slot_private(old))
            return -EINVAL; /* private slots are immutable */
        if (hva != old->hva || n != old->npages || ((fl ^ old->flags) & KVM_MEM_READONLY))
            return -EINVAL;
        if (base != old->base) {
            if (fm_overlaps(m, as, id, base, n))
                return -EEXIST;
            if (base + n - 1 > R->max_gfn)
                return -EINVAL;
            *change = FM_MOVE;
            return 0;
        }
        *change = fl == old->flags ? FM_NONE : FM_FLAGS;
        return 0;
    }
    if (fm_overlaps(m, as, id, base, n))
        return -EEXIST;
    if (priv) {
        int f = fm_file_of_fd(r->guest_memfd);
        if (f < 0)
            return -EBADF; /* not an open fd */
        const struct fm_file *F = &fm_files[f];
        uint64_t fsize = F->pages * FM_PAGE;
        if (entry == KD_R2) {
            if (!F->gmem)
                return -EINVAL;
            if ((int64_t)off < 0 || (int64_t)(off + size) > (int64_t)fsize)
                return -EINVAL;
        } else {
            if (!F->regular)
                return -EINVAL;
            if (off + size > fsize)
                return -EINVAL;
        }
        if (fm_pages_bound(m, f, off >> 12, n))
            return -EINVAL;
    }
    if (base + n - 1 > R->max_gfn)
        return -EINVAL;
    *change = FM_CREATE;
    return 0;
}

/* ---- dirty bitmaps ---- */

static struct fm_dirty *fm_dirty_of(struct fm *m, uint32_t as, uint32_t id)
{
    for (int i = 0; i < FM_MAX_DIRTY; i++)
        if (m->dirty[i].used && m->dirty[i].as == as && m->dirty[i].id == id)
            return &m->dirty[i];
    return NULL;
}

static void fm_dirty_drop(struct fm *m, uint32_t as, uint32_t id)
{
    struct fm_dirty *d = fm_dirty_of(m, as, id);
    if (d) {
        d->used = 0;
        free(d->bits);
        d->bits = NULL;
    }
}

/* Frees what the model allocated (before it is reset for the next input). */
static void fm_release(struct fm *m)
{
    for (int i = 0; i < FM_MAX_DIRTY; i++)
        if (m->dirty[i].used)
            fm_dirty_drop(m, m->dirty[i].as, m->dirty[i].id);
}

static void fm_dirty_new(struct fm *m, uint32_t as, uint32_t id, uint64_t npages)
{
    struct fm_dirty *d = NULL;
    for (int i = 0; i < FM_MAX_DIRTY && !d; i++)
        if (!m->dirty[i].used)
            d = &m->dirty[i];
    if (!d) {
        fprintf(stderr, "fuzz model: more logging slots than FM_MAX_DIRTY\n");
        abort();
    }
    memset(d, 0, sizeof *d);
    d->used = 1;
    d->as = as;
    d->id = id;
    d->bits = calloc((npages + 63) / 64 + 1, 8);
    if (!d->bits)
        abort();
    if (m->dirty_mode == (HVRT_DIRTY_LOG_MANUAL_PROTECT | HVRT_DIRTY_LOG_INITIALLY_SET))
        for (uint64_t p = 0; p < npages; p++)
            d->bits[p / 64] |= 1ull << (p % 64);
}

/* Records an accepted slot request (change from fm_predict_region); the caller raises the
 * generation (once per request, or once per address space for a batch). */
static void fm_apply_region(struct fm *m, enum kd_entry entry, const struct kvm_userspace_memory_region2 *r,
                            enum fm_change change)
{
    uint32_t as = r->slot >> 16, id = r->slot & 0xffff;
    const struct kd_slot *old = kd_find_id(&m->slots, as, id);
    uint32_t old_flags = old ? old->flags : 0;
    uint64_t npages = r->memory_size >> 12;
    if (change == FM_NONE)
        return;
    if (m->on_change)
        m->on_change(as, id);
    if (change == FM_DELETE && fm_slot_private(old))
        m->file_slots[fm_file_of_fd(old->fd)]--;
    if (change == FM_CREATE && entry != KD_V1 && (r->flags & KVM_MEM_GUEST_MEMFD)) {
        int f = fm_file_of_fd(r->guest_memfd);
        if (m->file_slots[f]++ == 0)
            m->file_dup_ro[f] = fm_fd_readonly(r->guest_memfd);
    }
    struct kd_op op = { .entry = entry, .kind = "fuzz", .r = *r };
    kd_model_apply(&m->slots, &op);
    int was_log = (old_flags & KVM_MEM_LOG_DIRTY_PAGES) != 0, log = (r->flags & KVM_MEM_LOG_DIRTY_PAGES) != 0;
    if (change == FM_DELETE || (was_log && !log))
        fm_dirty_drop(m, as, id);
    else if (log && (change == FM_CREATE || !was_log))
        fm_dirty_new(m, as, id, change == FM_CREATE ? npages : kd_find_id(&m->slots, as, id)->npages);
}

/* ---- attributes: sorted, disjoint, non-adjacent private intervals ---- */

static int fm_attr_private(const struct fm *m, uint64_t g)
{
    for (int i = 0; i < m->nivs; i++)
        if (g >= m->ivs[i].s && g < m->ivs[i].e)
            return 1;
    return 0;
}

static void fm_attr_set(struct fm *m, uint64_t s, uint64_t e, int priv)
{
    struct fm_iv out[FM_MAX_IVS + 2];
    int n = 0;
    for (int i = 0; i < m->nivs; i++) {
        struct fm_iv v = m->ivs[i];
        if (v.e <= s || v.s >= e) {
            out[n++] = v;
            continue;
        }
        if (v.s < s)
            out[n++] = (struct fm_iv){ v.s, s };
        if (v.e > e)
            out[n++] = (struct fm_iv){ e, v.e };
    }
    if (priv)
        out[n++] = (struct fm_iv){ s, e };
    /* sort (insertion) and merge adjacent */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1].s > out[j].s; j--) {
            struct fm_iv t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    m->nivs = 0;
    for (int i = 0; i < n; i++) {
        if (m->nivs && m->ivs[m->nivs - 1].e >= out[i].s) {
            if (out[i].e > m->ivs[m->nivs - 1].e)
                m->ivs[m->nivs - 1].e = out[i].e;
            continue;
        }
        if (m->nivs == FM_MAX_IVS) {
            fprintf(stderr, "fuzz model: more than %d attribute intervals\n", FM_MAX_IVS);
            abort();
        }
        m->ivs[m->nivs++] = out[i];
    }
    if (priv)
        m->had_private = 1;
}

/* The first gfn in (g, end] whose attribute differs from g's, or end (hvrt_attributes_run). */
static uint64_t fm_attr_run_end(const struct fm *m, uint64_t g, uint64_t end)
{
    for (int i = 0; i < m->nivs; i++) {
        if (g >= m->ivs[i].s && g < m->ivs[i].e)
            return m->ivs[i].e < end ? m->ivs[i].e : end;
        if (m->ivs[i].s > g)
            return m->ivs[i].s < end ? m->ivs[i].s : end;
    }
    return end;
}

static uint64_t fm_attr_count(const struct fm *m, uint64_t s, uint64_t e)
{
    uint64_t c = 0;
    for (int i = 0; i < m->nivs; i++) {
        uint64_t a = m->ivs[i].s > s ? m->ivs[i].s : s, b = m->ivs[i].e < e ? m->ivs[i].e : e;
        if (a < b)
            c += b - a;
    }
    return c;
}

/* kvm_range_has_memory_attributes with hvrt.h's stated quirks. */
static int fm_range_has(const struct fm *m, uint64_t start, uint64_t end, uint64_t mask, uint64_t attrs)
{
    mask &= m->rules.supported_attrs;
    if (attrs & ~mask)
        return 0;
    if (end == start + 1)
        return ((fm_attr_private(m, start) ? FM_PRIVATE : 0) & mask) == attrs;
    if (attrs == 0) {
        uint64_t last = end - 1; /* inclusive; wraps for end == 0 */
        if (end != 0 && start >= end)
            return 1;
        if (last >= FM_GFN_LIMIT)
            last = FM_GFN_LIMIT - 1;
        return start > last || fm_attr_count(m, start, last + 1) == 0;
    }
    for (uint64_t g = start; g < end;) { /* attrs == PRIVATE == mask here */
        if (!fm_attr_private(m, g))
            return 0;
        g = fm_attr_run_end(m, g, end);
    }
    return 1;
}

/* hvrt_max_mapping_level (hvrt.h): level 3 / 2 need the aligned 2^18 / 512-page frame inside the
 * slot, gfn, hva (and private offset) congruent modulo the frame, and uniform attributes. */
static int fm_max_level(const struct fm *m, const struct kd_slot *s, uint64_t gfn)
{
    for (int level = 3; level >= 2; level--) {
        uint64_t f = level == 3 ? 1ull << 18 : 512, fr = gfn & ~(f - 1);
        if (fr < s->base || fr + f > s->base + s->npages)
            continue;
        if ((s->base - (s->hva >> 12)) & (f - 1))
            continue;
        if (fm_slot_private(s) && ((s->base - s->pgoff) & (f - 1)))
            continue;
        if (fm_attr_run_end(m, fr, fr + f) != fr + f)
            continue;
        return level;
    }
    return 1;
}

/* ---- readers, listeners ---- */

static struct fm_reader *fm_reader_of(struct fm *m, void *p)
{
    for (int i = 0; i < m->nreaders; i++)
        if (m->readers[i].ptr == p)
            return &m->readers[i];
    return NULL;
}

static int fm_listener_index(const struct fm *m, uintptr_t ctx)
{
    for (int i = 0; i < m->nlisteners; i++)
        if (m->listeners[i] == ctx)
            return i;
    return -1;
}
#endif

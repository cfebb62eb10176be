/*
 * hvrt_inline.h — the inline fast path: hvrt's published slot-set layout and a static inline
 * translation for C callers that hold a registered, online reader.
 *
 * Why: a call into libhvrt.so costs a reverse P/Invoke transition (about 7 ns here), as much as
 * the search itself. A registered reader already keeps the snapshots it reads alive (QSBR), so
 * its lookups need no call at all: acquire-load the published snapshot pointer, check the
 * reader's last-hit slot, search. liburing does the same for its rings, urcu for rcu_dereference.
 *
 * Contract:
 *   - The layouts below are part of the ABI: they change only with HVRT_ABI_VERSION (hvrt.h),
 *     so check hvrt_abi_version() == HVRT_ABI_VERSION once at start-up before using this file.
 *   - hvrt_reader_translate_inline() gives exactly what hvrt_reader_translate() gives (tests
 *     compare both on random layouts). Use it only with a reader that is registered and online,
 *     on the thread that owns it; what it returns stays valid until that reader's next
 *     quiescent state, offline or unregister, as with the exported call.
 *   - Everything here is read-only. Never write through these structs (the reader's cache is
 *     the one exception, written only by its owning thread) and never keep pointers into a
 *     snapshot past a quiescent state.
 *   - Needs GCC or Clang (__atomic builtins); C11 or C++.
 */
#ifndef HVRT_INLINE_H
#define HVRT_INLINE_H

#include "hvrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HVRT_LEAF_CAP 64
#define HVRT_MAX_ADDRESS_SPACES 2 /* the layout has room for two (x86 KVM: normal and SMM) */

/* One slot, 64 bytes; the same record sits in every index of a snapshot. */
struct hvrt_slot_entry {
    uint64_t base_gfn;
    uint64_t npages;
    uint64_t hva;           /* userspace_addr */
    uint64_t private_pgoff; /* first page of the slot in its private file */
    int32_t private_fd;     /* hvrt's duplicate, or -1 */
    uint32_t kvm_flags;     /* KVM_MEM_* */
    uint32_t slot;          /* as_id << 16 | id */
    uint32_t tr_flags;      /* the slot's HVRT_TR_* flags, as hvrt_translation.flags reports them */
    uint64_t file_dev;      /* st_dev, st_ino of the private file; 0 without one */
    uint64_t file_ino;
};

/* Up to HVRT_LEAF_CAP entries in key order; keys[i] is entries[i]'s first key component
 * (base_gfn in the gfn index); keys past count are UINT64_MAX. */
struct hvrt_leaf {
    uint32_t count;
    uint32_t reserved;
    uint64_t max_end;
    uint64_t pad[6];
    uint64_t keys[HVRT_LEAF_CAP];
    struct hvrt_slot_entry entries[HVRT_LEAF_CAP];
};

/* One index of a snapshot: per leaf, in key order, its first key, max end and pointer. */
struct hvrt_index {
    uint32_t nr_leaves;
    uint32_t count;
    const uint64_t *first0; /* first key component of each leaf (base_gfn in the gfn index) */
    const uint64_t *first1;
    const uint64_t *first2;
    const uint64_t *max_end;
    const struct hvrt_leaf *const *leaves;
    const uint64_t *max_end_prefix; /* max(max_end[0..i]) */
    uint64_t pad;
};

/* The slot set of one address space, immutable once published (only bit 63 of generation is
 * set while its successor is being published). */
struct hvrt_snapshot {
    uint64_t generation;
    uint32_t count;
    uint32_t as_id;
    uint64_t bytes;
    uint64_t pad[5];
    struct hvrt_index gfn;
    struct hvrt_index hva;
    struct hvrt_index private_;
};

/* What an hvrt_vm * points to (its first 48 bytes). */
struct hvrt_vm_layout {
    uint64_t magic;
    uint64_t managed;
    uint32_t inline_as_limit; /* address spaces the inline translation answers by itself:
                                 nr_address_spaces until the VM has a private page, then 0 */
    uint32_t nr_address_spaces;
    const struct hvrt_snapshot *current[HVRT_MAX_ADDRESS_SPACES];
    uint64_t serial;         /* unique per VM in the process */
};

/* What an hvrt_reader * points to (its first 64 bytes). */
struct hvrt_reader_cache {
    uint64_t generation; /* of the snapshot `entry` came from; UINT64_MAX = empty (never a generation) */
    const struct hvrt_slot_entry *entry;
};
struct hvrt_reader_layout {
    uint64_t magic;
    const struct hvrt_vm_layout *vm;
    uint64_t ctr;            /* 0 = offline */
    const void *next;        /* the VM's list of readers */
    struct hvrt_reader_cache cache[HVRT_MAX_ADDRESS_SPACES];
};

HVRT_STATIC_ASSERT(sizeof(struct hvrt_slot_entry) == 64, "hvrt_slot_entry size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_entry, private_fd) == 32, "hvrt_slot_entry.private_fd");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_entry, slot) == 40, "hvrt_slot_entry.slot");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_entry, file_ino) == 56, "hvrt_slot_entry.file_ino");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_leaf, keys) == 64, "hvrt_leaf.keys");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_leaf, entries) == 64 + 8 * HVRT_LEAF_CAP, "hvrt_leaf.entries");
HVRT_STATIC_ASSERT(sizeof(struct hvrt_index) == 64, "hvrt_index size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_index, leaves) == 40, "hvrt_index.leaves");
HVRT_STATIC_ASSERT(sizeof(struct hvrt_snapshot) == 256, "hvrt_snapshot size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_snapshot, gfn) == 64, "hvrt_snapshot.gfn");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_vm_layout, inline_as_limit) == 16, "hvrt_vm_layout.inline_as_limit");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_vm_layout, nr_address_spaces) == 20, "hvrt_vm_layout.nr_address_spaces");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_vm_layout, current) == 24, "hvrt_vm_layout.current");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_reader_layout, ctr) == 16, "hvrt_reader_layout.ctr");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_reader_layout, cache) == 32, "hvrt_reader_layout.cache");

/* Index of the last key <= x in sorted keys[0..n), or 0 when there is none. Branch-free:
 * the loop count depends on n only (compilers emit cmov), so random gfns cost no
 * mispredictions. The runtime's Snapshot.LastAtMost is the same loop. */
static inline size_t hvrt__last_at_most(const uint64_t *keys, size_t n, uint64_t x)
{
    size_t lo = 0;
    while (n > 1) {
        size_t half = n >> 1;
        lo = keys[lo + half] <= x ? lo + half : lo;
        n -= half;
    }
    return lo;
}

/* The entry of snapshot s whose range holds gfn, or NULL. */
static inline const struct hvrt_slot_entry *hvrt_snapshot_find(const struct hvrt_snapshot *s, uint64_t gfn)
{
    size_t leaves = s->gfn.nr_leaves;
    if (leaves == 0)
        return NULL;
    const struct hvrt_leaf *leaf = s->gfn.leaves[hvrt__last_at_most(s->gfn.first0, leaves, gfn)];
    const struct hvrt_slot_entry *e = &leaf->entries[hvrt__last_at_most(leaf->keys, leaf->count, gfn)];
    return gfn - e->base_gfn < e->npages ? e : NULL;
}

/* Fills out as hvrt_translate does, for gfn inside entry e of a snapshot of that generation. */
static inline void hvrt_translation_fill(const struct hvrt_slot_entry *e, uint64_t gfn, uint64_t generation,
                                         struct hvrt_translation *out)
{
    uint64_t offset = gfn - e->base_gfn;
    uint32_t f = e->tr_flags;
    out->slot = e->slot;
    out->flags = f;
    out->base_gfn = e->base_gfn;
    out->npages = e->npages;
    out->hva = e->hva + (offset << 12);
    out->private_pgoff = (e->private_pgoff + offset) & (0 - (uint64_t)((f >> 3) & 1)); /* 0 without HAS_PRIVATE */
    out->private_fd = e->private_fd;
    out->result = 0;
    out->run_pages = e->npages - offset;
    out->generation = generation;
}

/*
 * The cheapest lookup: the slot entry holding gfn, or NULL (gfn in no slot, or as_id not below
 * the VM's number of address spaces). Nothing is filled in; the VMM reads what it needs, e.g.
 * hvrt_slot_hva(e, gfn). It says nothing about memory attributes (whether gfn is private now):
 * ask hvrt_get_memory_attributes, or use hvrt_reader_translate_inline. Same preconditions as
 * hvrt_reader_translate_inline: reader registered, online and owned by this thread. The entry stays valid, and its fields unchanged, until the
 * reader's next quiescent state, offline or unregister. The last-hit cache is checked against
 * the snapshot's generation before its entry is touched: generations are never reused, so a
 * matching one proves the entry belongs to the live snapshot.
 */
static inline const struct hvrt_slot_entry *hvrt_reader_lookup_inline(hvrt_reader *reader, uint32_t as_id,
                                                                      uint64_t gfn)
{
    struct hvrt_reader_layout *r = (struct hvrt_reader_layout *)reader;
    const struct hvrt_vm_layout *vm = r->vm;
    if (as_id >= HVRT_MAX_ADDRESS_SPACES || as_id >= vm->nr_address_spaces)
        return NULL;
    /* Pairs with the release exchange that publishes a snapshot (VmHandle.Publish). */
    const struct hvrt_snapshot *s = __atomic_load_n(&vm->current[as_id], __ATOMIC_ACQUIRE);
    uint64_t generation = __atomic_load_n(&s->generation, __ATOMIC_RELAXED);
    struct hvrt_reader_cache *c = &r->cache[as_id];
    const struct hvrt_slot_entry *e = c->entry;
    if (c->generation == generation && gfn - e->base_gfn < e->npages)
        return e;
    e = hvrt_snapshot_find(s, gfn);
    if (e != NULL) {
        c->generation = generation;
        c->entry = e;
    }
    return e;
}

/* The host address of gfn inside entry e (which must hold it). */
static inline uint64_t hvrt_slot_hva(const struct hvrt_slot_entry *e, uint64_t gfn)
{
    return e->hva + ((gfn - e->base_gfn) << 12);
}

/*
 * hvrt_reader_translate() without the call: the same answer in the same struct. Returns 0,
 * -EINVAL (as_id out of range) or -ENOENT (gfn in no slot). Preconditions as above.
 */
static inline int hvrt_reader_translate_inline(hvrt_reader *reader, uint32_t as_id, uint64_t gfn,
                                               struct hvrt_translation *out)
{
    struct hvrt_reader_layout *r = (struct hvrt_reader_layout *)reader;
    const struct hvrt_vm_layout *vm = r->vm;
    /* One rarely taken branch for the cases the export answers: an as_id out of range (-EINVAL)
     * and a VM with private pages, whose answer needs the attribute store that this header does
     * not (yet) publish; inline_as_limit folds both into the compare as_id needed anyway. */
    if (__builtin_expect(as_id >= __atomic_load_n(&vm->inline_as_limit, __ATOMIC_RELAXED), 0))
        return hvrt_reader_translate(reader, as_id, gfn, out);
    const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(reader, as_id, gfn);
    if (e == NULL)
        return -2; /* -ENOENT */
    /* A hit leaves the cache holding e and the generation of the snapshot it came from. */
    hvrt_translation_fill(e, gfn, r->cache[as_id].generation, out);
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* HVRT_INLINE_H */

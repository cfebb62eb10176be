/* hvrt_inline.h: hvrt_reader_translate_inline gives exactly what hvrt_reader_translate and
 * hvrt_translate give (and hvrt_reader_lookup_inline the same slot), on random layouts in both address spaces, for random and sequential
 * gfns (hits, misses, slot edges), across moves, deletes and flag changes that must
 * invalidate the reader's last-hit cache; the layout macros agree with the library; a snapshot
 * being replaced shows KVM's update-in-progress bit to a reader that still holds it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "hvrt_inline.h"
#include "test_util.h"

#define NSLOTS 300
#define SPAN (1u << 16) /* gfns used by the layout */

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Both results must be equal field by field (the inline path writes the same struct). */
static bool same(int ra, const struct hvrt_translation *a, int rb, const struct hvrt_translation *b)
{
    return ra == rb && (ra != 0 || memcmp(a, b, sizeof *a) == 0);
}

static long hits;

static int compare_many(hvrt_vm *vm, hvrt_reader *r, uint64_t *rng, int n)
{
    int wrong = 0;
    uint64_t gfn = 0;
    for (int i = 0; i < n; i++) {
        uint32_t as_id = (uint32_t)(rnd(rng) & 1);
        /* Half random, half sequential walks (which the cache serves). */
        gfn = (i & 1) ? gfn + 1 : rnd(rng) % (SPAN + 64);
        struct hvrt_translation a, b, c;
        memset(&a, 0xcc, sizeof a);
        memset(&b, 0xcc, sizeof b);
        memset(&c, 0xcc, sizeof c);
        int ra = hvrt_reader_translate_inline(r, as_id, gfn, &a);
        int rb = hvrt_reader_translate(r, as_id, gfn, &b);
        int rc = hvrt_translate(vm, as_id, gfn, &c);
        hits += ra == 0;
        const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(r, as_id, gfn);
        if ((e != NULL) != (ra == 0) ||
            (e && (e->slot != a.slot || hvrt_slot_hva(e, gfn) != a.hva || e->tr_flags != a.flags ||
                   e->base_gfn != a.base_gfn || e->npages != a.npages || e->private_fd != a.private_fd)))
            wrong++;
        if (!same(ra, &a, rb, &b) || !same(ra, &a, rc, &c)) {
            if (wrong++ < 3)
                fprintf(stderr, "  as %u gfn 0x%llx: inline %d slot %u hva 0x%llx, reader %d slot %u hva 0x%llx, vm %d\n",
                        as_id, (unsigned long long)gfn, ra, a.slot, (unsigned long long)a.hva, rb, b.slot,
                        (unsigned long long)b.hva, rc);
        }
    }
    return wrong;
}

/* One random change; the reader goes offline around it (a writer waits for online readers,
 * this thread's own included). */
static void random_change(hvrt_vm *vm, hvrt_reader *r, uint64_t *rng)
{
    uint32_t slot = SLOT(rnd(rng) & 1, rnd(rng) % NSLOTS);
    uint64_t gpa = (rnd(rng) % SPAN) * PAGE;
    uint64_t size = (1 + rnd(rng) % 200) * PAGE;
    uint32_t flags = (rnd(rng) & 1) ? F_LOG : 0;
    hvrt_reader_offline(r);
    int rc = set_v1(vm, slot, flags, gpa, (rnd(rng) % 5) ? size : 0, FX_HVA + ((uint64_t)(slot & 0xffff) << 24));
    if (rc == -EINVAL) /* an existing slot of another size: move it instead, or delete it */
        rc = delete_slot(vm, slot);
    hvrt_reader_online(r);
    (void)rc;
}

static void test_inline_equals_exports(void)
{
    hvrt_vm *vm = vm_new(NULL);
    hvrt_reader *r;
    CHECK_RC(hvrt_reader_register(vm, &r), 0);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 3 * NSLOTS; i++)
        random_change(vm, r, &rng);
    int wrong = 0;
    for (int round = 0; round < 400; round++) {
        wrong += compare_many(vm, r, &rng, 500);
        for (int k = 0; k < 1 + (int)(rnd(&rng) % 8); k++)
            random_change(vm, r, &rng);
        hvrt_reader_quiescent(r);
    }
    CHECK_RC(wrong, 0);
    CHECK(hits > 20000); /* most lookups hit a slot: the comparison covered real answers */
    CHECK_RC(hvrt_reader_translate_inline(r, 2, 0, &(struct hvrt_translation){ 0 }), -EINVAL);
    CHECK(hvrt_reader_lookup_inline(r, 2, 0) == NULL);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

/* After a move, a cached slot must not answer for its old place. */
static void test_cache_follows_changes(void)
{
    hvrt_vm *vm = vm_new(NULL);
    hvrt_reader *r;
    CHECK_RC(hvrt_reader_register(vm, &r), 0);
    struct hvrt_translation t;
    hvrt_reader_offline(r);
    CHECK_RC(set_v1(vm, 1, 0, 0, 16 * PAGE, FX_HVA), 0);
    hvrt_reader_online(r);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 3, &t), 0);
    CHECK(t.slot == 1 && t.hva == FX_HVA + 3 * PAGE && t.generation == 2);
    hvrt_reader_offline(r);
    CHECK_RC(set_v1(vm, 1, 0, 64 * PAGE, 16 * PAGE, FX_HVA), 0); /* move */
    hvrt_reader_online(r);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 3, &t), -ENOENT);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 67, &t), 0);
    CHECK(t.hva == FX_HVA + 3 * PAGE && t.generation == 4);
    hvrt_reader_offline(r);
    CHECK_RC(delete_slot(vm, 1), 0);
    hvrt_reader_online(r);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 67, &t), -ENOENT);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

struct writer_arg {
    hvrt_vm *vm;
    atomic_int done;
};

static void *delete_slot_thread(void *p)
{
    struct writer_arg *w = p;
    delete_slot(w->vm, 1);
    atomic_store(&w->done, 1);
    return NULL;
}

/* A reader that holds the old slot set sees bit 63 on its generation while the writer waits. */
static void test_update_in_progress_bit(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 1, 0, 0, 16 * PAGE, FX_HVA), 0);
    hvrt_reader *r;
    CHECK_RC(hvrt_reader_register(vm, &r), 0);
    const struct hvrt_vm_layout *layout = (const struct hvrt_vm_layout *)vm;
    const struct hvrt_snapshot *held = __atomic_load_n(&layout->current[0], __ATOMIC_ACQUIRE);
    uint64_t gen = __atomic_load_n(&held->generation, __ATOMIC_RELAXED);
    CHECK(gen == 2);
    struct writer_arg w = { vm, 0 };
    pthread_t th;
    pthread_create(&th, NULL, delete_slot_thread, &w);
    uint64_t seen = gen;
    for (int i = 0; i < 2000 && seen == gen; i++) {
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
        seen = __atomic_load_n(&held->generation, __ATOMIC_RELAXED);
    }
    CHECK(seen == (gen | HVRT_GEN_UPDATE_IN_PROGRESS));
    CHECK(atomic_load(&w.done) == 0); /* the delete waits for this online reader */
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 0, &t), -ENOENT); /* the new set, already published */
    CHECK_RC(hvrt_reader_quiescent(r), 0);
    pthread_join(th, NULL);
    CHECK(atomic_load(&w.done) == 1);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

/* With private pages the inline path answers through the export: same flags and run_pages. */
static void test_attributes_follow(void)
{
    struct hvrt_vm_config cfg = config_for(1); /* software-protected: has private memory */
    hvrt_vm *vm = vm_new(&cfg);
    CHECK_RC(set_v1(vm, 1, 0, 0x100000 * PAGE, 4096 * PAGE, FX_HVA), 0);
    hvrt_reader *r;
    CHECK_RC(hvrt_reader_register(vm, &r), 0);
    struct hvrt_translation a, b;
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 0x100000, &a), 0);
    CHECK(a.run_pages == 4096 && !(a.flags & HVRT_TR_PRIVATE));
    hvrt_reader_offline(r);
    struct kvm_memory_attributes attrs = { .address = 0x100100 * PAGE, .size = 16 * PAGE,
                                           .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE, .flags = 0 };
    CHECK_RC(hvrt_set_memory_attributes(vm, &attrs), 0);
    hvrt_reader_online(r);
    int wrong = 0;
    for (uint64_t gfn = 0x100000; gfn < 0x100000 + 4096; gfn += 7) {
        int ra = hvrt_reader_translate_inline(r, 0, gfn, &a), rb = hvrt_reader_translate(r, 0, gfn, &b);
        wrong += ra != rb || memcmp(&a, &b, sizeof a) != 0;
    }
    CHECK_RC(wrong, 0);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 0x100101, &a), 0);
    CHECK(a.flags & HVRT_TR_PRIVATE);
    CHECK(a.run_pages == 15);
    CHECK_RC(hvrt_reader_translate_inline(r, 0, 0x1000f0, &a), 0);
    CHECK(!(a.flags & HVRT_TR_PRIVATE) && a.run_pages == 0x10);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

int main(void)
{
    CHECK_RC(hvrt_abi_version(), HVRT_ABI_VERSION);
    test_inline_equals_exports();
    test_cache_follows_changes();
    test_update_in_progress_bit();
    test_attributes_follow();
    return harness_finish();
}

/* Translations that race with conversions of the pages they ask about (found by the soak run):
 * a hit always answers run_pages >= 1, however the attributes change between hvrt reading the
 * gfn's own attributes and scanning the pages after it. A VMM walking runs (gfn += run_pages)
 * would loop forever on a 0. hvrt_translate, hvrt_reader_translate and the batch call. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include "test_util.h"

#define PAGE 4096ull
#define BASE_GFN 0x4000ull
#define SLOT_PAGES 64
#define ROUNDS 2000000

static atomic_int stop;
static atomic_long conversions;

static void *converter(void *arg)
{
    hvrt_vm *vm = arg;
    for (unsigned i = 0; !atomic_load(&stop); i++)
        if (hvrt_convert(vm, (BASE_GFN + (i % 3)) * PAGE, 8 * PAGE, i & 1) == 0)
            atomic_fetch_add(&conversions, 1);
    return NULL;
}

int main(void)
{
    struct hvrt_vm_config c = { .size = sizeof c, .vm_type = HVRT_VM_TYPE_SW_PROTECTED, .kvm_profile = HVRT_KVM_PROFILE_NEWEST };
    hvrt_vm *vm = NULL;
    CHECK_RC(hvrt_vm_create(&c, &vm), 0);
    CHECK_RC(hvrt_set_discard_policy(vm, 0), 0); /* the race is in the bookkeeping, not the discard */
    void *mem = mmap(NULL, SLOT_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    struct kvm_userspace_memory_region r = { 1, 0, BASE_GFN * PAGE, SLOT_PAGES * PAGE, (unsigned long)mem };
    CHECK_RC(hvrt_set_user_memory_region(vm, &r), 0);
    hvrt_reader *reader = NULL;
    CHECK_RC(hvrt_reader_register(vm, &reader), 0);

    pthread_t t;
    CHECK_RC(pthread_create(&t, NULL, converter, vm), 0);
    while (atomic_load(&conversions) < 2) /* translations race only once pages are private */
        sched_yield();
    long bad_export = 0, bad_reader = 0, bad_batch = 0, bad_flags = 0;
    uint64_t gfns[8];
    struct hvrt_translation out[8];
    for (long n = 0; n < ROUNDS; n++) {
        uint64_t gfn = BASE_GFN + (n % 12);
        struct hvrt_translation tr;
        if (hvrt_translate(vm, 0, gfn, &tr) != 0 || tr.run_pages == 0)
            bad_export++;
        else if (tr.run_pages > BASE_GFN + SLOT_PAGES - gfn)
            bad_flags++;
        if (hvrt_reader_translate(reader, 0, gfn, &tr) != 0 || tr.run_pages == 0)
            bad_reader++;
        hvrt_reader_quiescent(reader);
        if ((n & 63) == 0) {
            for (int i = 0; i < 8; i++)
                gfns[i] = BASE_GFN + i;
            if (hvrt_translate_batch(vm, 0, gfns, 8, out) != 8)
                bad_batch++;
            for (int i = 0; i < 8; i++)
                if (out[i].result != 0 || out[i].run_pages == 0)
                    bad_batch++;
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("%d rounds of 3 translations against %ld conversions\n", ROUNDS, atomic_load(&conversions));
    CHECK(atomic_load(&conversions) > 1000); /* the race was exercised */
    CHECK_RC(bad_export, 0);
    CHECK_RC(bad_reader, 0);
    CHECK_RC(bad_batch, 0);
    CHECK_RC(bad_flags, 0);
    CHECK_RC(hvrt_reader_unregister(reader), 0);
    hvrt_vm_destroy(vm);
    munmap(mem, SLOT_PAGES * PAGE);
    return harness_finish();
}

/* Dirty logging through the C ABI: hvrt_dirty_log_set_mode / _get / _clear with KVM's errors in
 * KVM's order, the bitmap's life across create, move, flag changes and delete, INITIALLY_SET,
 * hvrt_mark_dirty across slots and holes, hvrt_bitmap_next_set, and markers on several threads
 * racing get-and-clear (every marked page reported exactly once). No KVM needed: the bound-VM
 * part is dirty_log_kvm_test.c. */
#include <pthread.h>
#include <stdatomic.h>
#include "test_util.h"

#define HVA 0x7f0000000000ull
#define WORDS(n) (((n) + 63) / 64)

static uint64_t count_bits(const uint64_t *b, uint64_t nbits)
{
    uint64_t n = 0;
    for (uint64_t i = hvrt_bitmap_next_set(b, nbits, 0); i < nbits; i = hvrt_bitmap_next_set(b, nbits, i + 1))
        n++;
    return n;
}

static void test_errors(void)
{
    hvrt_vm *vm = vm_new(NULL);
    uint64_t b[4] = {0}, ones[4];
    memset(ones, 0xff, sizeof ones);
    CHECK_RC(set_r2(vm, 0, F_LOG, 0, 200 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(set_r2(vm, 1, 0, 1 << 20, 16 * PAGE, HVA, 0, 0), 0);

    CHECK_RC(hvrt_dirty_log_set_mode(NULL, 0), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_set_mode(vm, HVRT_DIRTY_LOG_INITIALLY_SET), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_set_mode(vm, 4), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_set_mode(vm, HVRT_DIRTY_LOG_MANUAL_PROTECT | 8), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_set_mode(vm, 0), 0);

    CHECK_RC(hvrt_dirty_log_get(NULL, 0, b), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_get(vm, SLOT(2, 0), b), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_get(vm, 32764, NULL), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_get(vm, 5, NULL), HVRT_ENOENT);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), HVRT_ENOENT);
    CHECK_RC(hvrt_dirty_log_get(vm, 0, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_get(vm, 0, b), 0);

    CHECK_RC(hvrt_dirty_log_clear(NULL, 0, 0, 64, ones), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_clear(vm, SLOT(2, 0), 0, 64, ones), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_clear(vm, 5, 1, 64, ones), HVRT_EINVAL); /* first_page before lookup */
    CHECK_RC(hvrt_dirty_log_clear(vm, 5, 0, 64, ones), HVRT_ENOENT);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 256, 0, ones), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 128, 73, ones), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 0, 100, ones), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 0, 64, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 64, 0, NULL), 0);
    CHECK_RC(hvrt_dirty_log_clear(vm, 0, 128, 72, ones), 0);

    CHECK_RC(hvrt_mark_dirty(NULL, 0, 1), HVRT_EFAULT);
    CHECK_RC(hvrt_mark_dirty(vm, UINT64_MAX - 5, 10), HVRT_EINVAL);
    CHECK_RC(hvrt_mark_dirty(vm, UINT64_MAX - PAGE + 1, PAGE), 0);
    CHECK_RC(hvrt_mark_dirty(vm, 0, 0), 0);
    hvrt_vm_destroy(vm);
}

static void test_lifecycle(void)
{
    hvrt_vm *vm = vm_new(NULL);
    uint64_t b[WORDS(130)];
    CHECK_RC(set_r2(vm, 3, F_LOG, 0x100000, 130 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_mark_dirty(vm, 0x100000 + 5 * PAGE, 2 * PAGE), 2);
    CHECK_RC(hvrt_mark_dirty(vm, 0x100000 + 129 * PAGE + 17, 1), 1);
    /* MOVE keeps the bitmap */
    CHECK_RC(set_r2(vm, 3, F_LOG, 0x900000, 130 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), 0);
    CHECK(b[0] == (3ull << 5) && b[1] == 0 && b[2] == 2);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), 0);
    CHECK(count_bits(b, 130) == 0);
    /* logging off: gone; on: clear */
    CHECK_RC(hvrt_mark_dirty(vm, 0x900000, PAGE), 1);
    CHECK_RC(set_r2(vm, 3, 0, 0x900000, 130 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), HVRT_ENOENT);
    CHECK_RC(hvrt_mark_dirty(vm, 0x900000, PAGE), 0);
    CHECK_RC(set_r2(vm, 3, F_LOG, 0x900000, 130 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), 0);
    CHECK(count_bits(b, 130) == 0);
    /* delete and re-create */
    CHECK_RC(hvrt_mark_dirty(vm, 0x900000, PAGE), 1);
    CHECK_RC(delete_slot(vm, 3), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), HVRT_ENOENT);
    CHECK_RC(set_r2(vm, 3, F_LOG, 0x900000, 130 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 3, b), 0);
    CHECK(count_bits(b, 130) == 0);
    hvrt_vm_destroy(vm);
}

static void test_modes(void)
{
    hvrt_vm *vm = vm_new(NULL);
    uint64_t b[2], mask[1] = {0xff};
    CHECK_RC(hvrt_dirty_log_set_mode(vm, HVRT_DIRTY_LOG_MANUAL_PROTECT | HVRT_DIRTY_LOG_INITIALLY_SET), 0);
    CHECK_RC(set_r2(vm, 1, F_LOG, 0, 100 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), 0);
    CHECK(b[0] == UINT64_MAX && b[1] == (1ull << 36) - 1);
    CHECK_RC(hvrt_dirty_log_clear(vm, 1, 0, 64, mask), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), 0);
    CHECK(b[0] == ~0xffull && count_bits(b, 100) == 92);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), 0); /* manual: GET does not clear */
    CHECK(count_bits(b, 100) == 92);
    CHECK_RC(hvrt_dirty_log_set_mode(vm, 0), 0);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), 0); /* get-and-clear */
    CHECK(count_bits(b, 100) == 92);
    CHECK_RC(hvrt_dirty_log_get(vm, 1, b), 0);
    CHECK(count_bits(b, 100) == 0);
    hvrt_vm_destroy(vm);
}

static void test_mark_ranges(void)
{
    hvrt_vm *vm = vm_new(NULL);
    uint64_t a[1], c[WORDS(136)];
    CHECK_RC(set_r2(vm, 0, F_LOG, 0, 16 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(set_r2(vm, 1, 0, 32 * PAGE, 32 * PAGE, HVA + 0x100000, 0, 0), 0);
    CHECK_RC(set_r2(vm, 2, F_LOG, 64 * PAGE, 136 * PAGE, HVA + 0x200000, 0, 0), 0);
    CHECK_RC(set_r2(vm, SLOT(1, 0), F_LOG, 0, 300 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_mark_dirty(vm, 8 * PAGE, 92 * PAGE), 8 + 36);
    CHECK_RC(hvrt_dirty_log_get(vm, 0, a), 0);
    CHECK(a[0] == 0xff00);
    CHECK_RC(hvrt_dirty_log_get(vm, 2, c), 0);
    CHECK(count_bits(c, 136) == 36 && hvrt_bitmap_next_set(c, 136, 0) == 0 && hvrt_bitmap_next_set(c, 136, 36) == 136);
    uint64_t as1[WORDS(300)];
    CHECK_RC(hvrt_dirty_log_get(vm, SLOT(1, 0), as1), 0);
    CHECK(count_bits(as1, 300) == 0); /* hvrt_mark_dirty is address space 0 */
    CHECK(hvrt_bitmap_next_set(NULL, 9, 0) == 9);
    hvrt_vm_destroy(vm);
}

/* ---- markers racing get-and-clear on one slot -------------------------------------------- */

#define RACE_PAGES 4096ull
#define RACE_MARKERS 3

struct race {
    hvrt_vm *vm;
    atomic_int done;
    int id;
};

static void *marker(void *arg)
{
    struct race *r = arg;
    /* Each page of this marker once, in a scattered order. */
    for (uint64_t k = 0; k < RACE_PAGES / RACE_MARKERS; k++) {
        uint64_t p = (k * 2654435761u % (RACE_PAGES / RACE_MARKERS)) * RACE_MARKERS + (uint64_t)r->id;
        if (hvrt_mark_dirty(r->vm, p * PAGE, 1) != 1)
            abort();
    }
    return NULL;
}

static void test_race(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_r2(vm, 0, F_LOG, 0, RACE_PAGES * PAGE, HVA, 0, 0), 0);
    static unsigned char seen[RACE_PAGES];
    memset(seen, 0, sizeof seen);
    struct race rs[RACE_MARKERS];
    pthread_t t[RACE_MARKERS];
    for (int i = 0; i < RACE_MARKERS; i++) {
        rs[i] = (struct race){.vm = vm, .id = i};
        pthread_create(&t[i], NULL, marker, &rs[i]);
    }
    uint64_t b[WORDS(RACE_PAGES)];
    int twice = 0, gets = 0;
    for (int round = 0; round < 2000; round++) {
        if (hvrt_dirty_log_get(vm, 0, b) != 0)
            break;
        gets++;
        for (uint64_t i = hvrt_bitmap_next_set(b, RACE_PAGES, 0); i < RACE_PAGES; i = hvrt_bitmap_next_set(b, RACE_PAGES, i + 1))
            twice += seen[i]++ != 0;
    }
    for (int i = 0; i < RACE_MARKERS; i++)
        pthread_join(t[i], NULL);
    CHECK_RC(hvrt_dirty_log_get(vm, 0, b), 0);
    for (uint64_t i = hvrt_bitmap_next_set(b, RACE_PAGES, 0); i < RACE_PAGES; i = hvrt_bitmap_next_set(b, RACE_PAGES, i + 1))
        twice += seen[i]++ != 0;
    int missing = 0;
    for (uint64_t i = 0; i < RACE_MARKERS * (RACE_PAGES / RACE_MARKERS); i++)
        missing += seen[i] == 0;
    CHECK(gets == 2000);
    CHECK_RC(twice, 0);
    CHECK_RC(missing, 0);
    hvrt_vm_destroy(vm);
}

/* hvrt_dirty_log_get_view: the same harvest as a get, in hvrt's array, errors as get's. */
static void test_view(void)
{
    hvrt_vm *vm = vm_new(NULL);
    const uint64_t *view = NULL;
    uint64_t b[4];
    CHECK_RC(set_r2(vm, 0, F_LOG, 0, 200 * PAGE, HVA, 0, 0), 0);
    CHECK_RC(hvrt_dirty_log_get_view(NULL, 0, &view), HVRT_EFAULT);
    CHECK_RC(hvrt_dirty_log_get_view(vm, SLOT(2, 0), &view), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_get_view(vm, 5, &view), HVRT_ENOENT);
    CHECK(hvrt_mark_dirty(vm, 3 * PAGE, 2 * PAGE) == 2);
    CHECK_RC(hvrt_dirty_log_get_view(vm, 0, NULL), HVRT_EFAULT); /* nothing cleared */
    CHECK_RC(hvrt_dirty_log_get_view(vm, 0, &view), 0);
    CHECK(view != NULL && view[0] == 0x18 && view[1] == 0 && view[2] == 0 && view[3] == 0);
    CHECK(hvrt_mark_dirty(vm, 199 * PAGE, 1) == 1);
    CHECK(view[0] == 0x18 && view[3] == 0); /* unchanged until the next call */
    CHECK_RC(hvrt_dirty_log_get(vm, 0, b), 0);
    CHECK(b[0] == 0 && b[3] == 1ull << (199 - 192));
    CHECK_RC(hvrt_dirty_log_get_view(vm, 0, &view), 0);
    CHECK(count_bits(view, 200) == 0);
    hvrt_vm_destroy(vm);
}

int main(void)
{
    test_errors();
    test_lifecycle();
    test_modes();
    test_mark_ranges();
    test_race();
    test_view();
    return harness_finish();
}

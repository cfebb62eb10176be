/* hvrt_set_user_memory_regions: per-entry codes equal those of single calls on a twin VM
 * (random batches of creates, deletes, moves and flag changes), one generation step per
 * batch, a later entry sees earlier ones, bad arguments refused with nothing changed. */
#include "test_util.h"
#include <errno.h>

#define GFNS (1u << 14)

static struct kvm_userspace_memory_region2 region(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size)
{
    return region2_of(slot, flags, gpa, size, FX_HVA + ((uint64_t)(slot & 0xffff) << 26), 0, 0);
}

static void test_bad_arguments(void)
{
    hvrt_vm *vm = vm_new(NULL);
    struct kvm_userspace_memory_region2 r = region(0, 0, 0, PAGE);
    int32_t res = 7;
    CHECK_RC(hvrt_set_user_memory_regions(NULL, &r, 1, &res), -EFAULT);
    CHECK_RC(hvrt_set_user_memory_regions(vm, NULL, 1, &res), -EFAULT);
    CHECK_RC(hvrt_set_user_memory_regions(vm, NULL, 0, NULL), 0);
    CHECK_RC(hvrt_set_user_memory_regions(vm, &r, (size_t)INT32_MAX + 1, &res), -EINVAL);
    CHECK(res == 7);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), -ENOENT);
    hvrt_vm_destroy(vm);
}

static void test_one_step_per_batch(void)
{
    hvrt_vm *vm = vm_new(NULL);
    struct kvm_userspace_memory_region2 rs[4] = {
        region(SLOT(0, 1), 0, 0, 16 * PAGE),
        region(SLOT(1, 1), 0, 0, 16 * PAGE),
        region(SLOT(0, 1), F_LOG, 64 * PAGE, 16 * PAGE), /* move the slot created above */
        region(SLOT(0, 2), 0, 64 * PAGE, PAGE),          /* overlaps it now */
    };
    int32_t res[4];
    /* A new VM's slot sets have generations 0 and 1 (KVM: as_id); one publish adds 2. */
    CHECK_RC(hvrt_set_user_memory_regions(vm, rs, 4, res), 3);
    CHECK_RC(res[0], 0);
    CHECK_RC(res[1], 0);
    CHECK_RC(res[2], 0);
    CHECK_RC(res[3], -EEXIST);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 64, &t), 0);
    CHECK(t.flags == HVRT_TR_LOG_DIRTY && t.generation == 2);
    CHECK_RC(hvrt_translate(vm, 1, 0, &t), 0);
    CHECK(t.generation == 3);
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), -ENOENT);
    hvrt_vm_destroy(vm);
}

static void test_random_against_single_calls(void)
{
    hvrt_vm *batched = vm_new(NULL), *single = vm_new(NULL);
    srand(42);
    static struct kvm_userspace_memory_region2 rs[256];
    static int32_t res[256];
    int wrong = 0;
    for (int round = 0; round < 40; round++) {
        int n = 1 + rand() % 256;
        for (int i = 0; i < n; i++) {
            uint32_t slot = SLOT(rand() % 2, rand() % 200);
            uint64_t size = rand() % 8 ? (uint64_t)(1 + rand() % 64) * PAGE : 0;
            rs[i] = region(slot, rand() % 2 ? F_LOG : 0, (uint64_t)(rand() % GFNS) * PAGE, size);
        }
        int applied = hvrt_set_user_memory_regions(batched, rs, (size_t)n, res), want = 0;
        for (int i = 0; i < n; i++) {
            int r = hvrt_set_user_memory_region2(single, &rs[i]);
            wrong += r != res[i];
            want += r == 0;
        }
        wrong += applied != want;
        for (uint32_t as_id = 0; as_id < 2; as_id++)
            for (uint64_t gfn = 0; gfn < GFNS + 64; gfn += 1 + rand() % 7) {
                struct hvrt_translation a, b;
                int ra = hvrt_translate(batched, as_id, gfn, &a), rb = hvrt_translate(single, as_id, gfn, &b);
                wrong += ra != rb;
                if (ra == 0 && rb == 0)
                    wrong += a.slot != b.slot || a.hva != b.hva || a.flags != b.flags || a.base_gfn != b.base_gfn;
            }
    }
    CHECK_RC(wrong, 0);
    hvrt_vm_destroy(batched);
    hvrt_vm_destroy(single);
}

int main(void)
{
    test_bad_arguments();
    test_one_step_per_batch();
    test_random_against_single_calls();
    return harness_finish();
}

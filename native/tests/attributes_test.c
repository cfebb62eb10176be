/* Memory attributes through the exports: KVM_SET_MEMORY_ATTRIBUTES' checks and errno, the
 * per-type supported attributes (type 1 = software-protected has PRIVATE, type 0 refuses it),
 * get / range_has on sparse and huge ranges, and hvrt_max_mapping_level.
 * No differential test against /dev/kvm: this project's host KVM does not support
 * KVM_SET_MEMORY_ATTRIBUTES for any VM type (design.md), so the rules come from the kernel source
 * (virt/kvm/kvm_main.c kvm_vm_ioctl_set_mem_attributes, kvm_range_has_memory_attributes). */
#include <errno.h>
#include "test_util.h"

#define PRIV KVM_MEMORY_ATTRIBUTE_PRIVATE

static int set_attr(hvrt_vm *vm, uint64_t address, uint64_t size, uint64_t attributes, uint64_t flags)
{
    struct kvm_memory_attributes a = { .address = address, .size = size, .attributes = attributes, .flags = flags };
    return hvrt_set_memory_attributes(vm, &a);
}

static uint64_t get_attr(hvrt_vm *vm, uint64_t gfn)
{
    uint64_t v = 0xdead;
    int rc = hvrt_get_memory_attributes(vm, gfn, &v);
    return rc == 0 ? v : (uint64_t)(int64_t)rc;
}

static void test_errors(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    CHECK_RC(set_attr(vm, 0x10000, 0x2000, PRIV, 0), 0);
    /* The kernel's order: flags, attributes, size 0 / wrap, alignment. */
    CHECK_RC(set_attr(vm, 1, 0, 1, 1), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0, 0x1000, 1, 0), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0, 0x1000, PRIV | 16, 0), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0, 0, 0, 0), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0xfffffffffffff000ull, 0x2000, 0, 0), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0x10800, 0x1000, 0, 0), HVRT_EINVAL);
    CHECK_RC(set_attr(vm, 0x10000, 0x800, 0, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_set_memory_attributes(vm, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_set_memory_attributes(NULL, NULL), HVRT_EFAULT);
    uint64_t v = 7;
    CHECK_RC(hvrt_get_memory_attributes(vm, 0x10, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_get_memory_attributes(NULL, 0x10, &v), HVRT_EFAULT);
    CHECK(v == 7);
    CHECK_RC(hvrt_range_has_attributes(NULL, 0, 1, PRIV, 0), HVRT_EFAULT);
    CHECK_RC(hvrt_max_mapping_level(NULL, 0, 0), HVRT_EFAULT);
    CHECK_RC(hvrt_max_mapping_level(vm, 1, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, 0), HVRT_ENOENT);
    /* Nothing changed. */
    CHECK_RC(get_attr(vm, 0x10), PRIV);
    CHECK_RC(get_attr(vm, 0x11), PRIV);
    CHECK_RC(get_attr(vm, 0x12), 0);
    CHECK_RC(get_attr(vm, 0xf), 0);
    /* Exactly the end of the space, and beyond any max gfn: accepted as by the kernel. */
    CHECK_RC(set_attr(vm, 0xffffffffffffe000ull, 0x1000, PRIV, 0), 0);
    CHECK_RC(get_attr(vm, 0xffffffffffffeull), PRIV);
    CHECK_RC(get_attr(vm, 0xfffffffffffffull), 0);
    CHECK_RC(get_attr(vm, ~0ull), 0);
    hvrt_vm_destroy(vm);
    char junk[64] = { 0 };
    CHECK_RC(hvrt_get_memory_attributes((hvrt_vm *)junk, 0, &v), HVRT_EBADF);
    CHECK_RC(hvrt_set_memory_attributes((hvrt_vm *)junk, NULL), HVRT_EBADF);
    CHECK_RC(hvrt_range_has_attributes((hvrt_vm *)junk, 0, 1, 0, 0), HVRT_EBADF);
    CHECK_RC(hvrt_max_mapping_level((hvrt_vm *)junk, 0, 0), HVRT_EBADF);
}

static void test_types(void)
{
    static const uint32_t types[] = { 0, 1, 2, 3, 4, 5 };
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct hvrt_vm_config c = config_for(types[i]);
        hvrt_vm *vm = vm_new(&c);
        int has_private = types[i] == 1 || types[i] == 4 || types[i] == 5;
        CHECK_RC(set_attr(vm, 0, 0x1000, PRIV, 0), has_private ? 0 : HVRT_EINVAL);
        CHECK_RC(set_attr(vm, 0, 0x1000, 0, 0), 0);
        CHECK_RC(get_attr(vm, 0), 0);
        /* The mask is limited to the supported attributes. */
        CHECK_RC(hvrt_range_has_attributes(vm, 0, 1, PRIV, PRIV), 0);
        CHECK_RC(hvrt_range_has_attributes(vm, 0, 1, ~0ull, 0), 1);
        hvrt_vm_destroy(vm);
    }
}

static void test_ranges(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    /* 2^31 pages starting mid-chunk: no memory per page, every page private. */
    uint64_t g0 = (1ull << 30) + 123, n = 1ull << 31;
    CHECK_RC(set_attr(vm, g0 * PAGE, n * PAGE, PRIV, 0), 0);
    CHECK_RC(get_attr(vm, g0 - 1), 0);
    CHECK_RC(get_attr(vm, g0), PRIV);
    CHECK_RC(get_attr(vm, g0 + n / 2), PRIV);
    CHECK_RC(get_attr(vm, g0 + n - 1), PRIV);
    CHECK_RC(get_attr(vm, g0 + n), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, g0, g0 + n, PRIV, PRIV), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, g0 - 1, g0 + n, PRIV, PRIV), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, g0, g0 + n + 1, PRIV, PRIV), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, 0, g0, PRIV, 0), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, 0, g0 + 1, PRIV, 0), 0);
    /* Quirks: empty ranges; attrs 0 with end 0 looks up to the end of the space. */
    CHECK_RC(hvrt_range_has_attributes(vm, g0 + 5, g0 + 5, PRIV, PRIV), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, g0 + 5, g0 + 5, PRIV, 0), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, g0 + 5, 0, PRIV, 0), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, g0 + n, 0, PRIV, 0), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, g0, g0 + 4, 0, 0), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, g0, g0 + 1, 0, 0), 1);
    /* The whole space private, then shared again. */
    CHECK_RC(set_attr(vm, 0, 1ull << 63, PRIV, 0), 0);
    CHECK_RC(set_attr(vm, 1ull << 63, (1ull << 63) - PAGE, PRIV, 0), 0);
    /* address + size < 2^64 and both page aligned: gfn 2^52 - 1 can never be named. */
    CHECK_RC(hvrt_range_has_attributes(vm, 0, (1ull << 52) - 1, PRIV, PRIV), 1);
    CHECK_RC(hvrt_range_has_attributes(vm, 0, 1ull << 52, PRIV, PRIV), 0);
    CHECK_RC(set_attr(vm, 0, 0xfffffffffffff000ull, 0, 0), 0);
    CHECK_RC(hvrt_range_has_attributes(vm, 0, 0, PRIV, 0), 1);
    hvrt_vm_destroy(vm);
}

static void test_levels(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    int memfd = new_memfd(4ull << 30);
    /* Slot 0: 2 GiB at 1 GiB, hva 1 GiB aligned. */
    CHECK_RC(set_v1(vm, SLOT(0, 0), 0, 1ull << 30, 2ull << 30, 0x40000000000ull), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (1ull << 18) + 77), 3);
    /* One private page makes its 2 MiB and 1 GiB frames mixed. */
    CHECK_RC(set_attr(vm, (1ull << 30) + 0x5000, PAGE, PRIV, 0), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (1ull << 18) + 1), 1);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (1ull << 18) + 512), 2);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (2ull << 18) + 512), 3);
    /* The whole 2 MiB frame private: uniform again at 2 MiB, still mixed at 1 GiB. */
    CHECK_RC(set_attr(vm, 1ull << 30, 2ull << 20, PRIV, 0), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (1ull << 18) + 1), 2);
    CHECK_RC(set_attr(vm, 1ull << 30, 1ull << 30, PRIV, 0), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (1ull << 18) + 1), 3);
    /* Slot 1: hva misaligned at 2 MiB → 4 KiB only; slot 2: hva aligned at 2 MiB only. */
    CHECK_RC(set_v1(vm, SLOT(0, 1), 0, 4ull << 30, 1ull << 30, 0x50000001000ull), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (4ull << 18) + 600), 1);
    CHECK_RC(set_v1(vm, SLOT(0, 2), 0, 5ull << 30, 1ull << 30, 0x60000200000ull), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (5ull << 18) + 600), 2);
    /* Slot 3: private with an offset aligned at 2 MiB only. */
    CHECK_RC(set_ext(vm, SLOT(0, 3), F_PRIV, 6ull << 30, 1ull << 30, 0x70000000000ull, (uint32_t)memfd, 2ull << 20), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (6ull << 18) + 600), 2);
    /* Slot 4: 3 MiB at 7 GiB + 1 MiB: head and tail frames stick out. */
    CHECK_RC(set_v1(vm, SLOT(0, 4), 0, (7ull << 30) + (1ull << 20), 3ull << 20, 0x80000100000ull), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (7ull << 18) + 256), 1);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (7ull << 18) + 512), 2);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (7ull << 18) + 1023), 2);
    /* Slot 5: 3 MiB at 8 GiB: the tail frame sticks out. */
    CHECK_RC(set_v1(vm, SLOT(0, 5), 0, 8ull << 30, 3ull << 20, 0x90000000000ull), 0);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (8ull << 18) + 511), 2);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (8ull << 18) + 512), 1);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (8ull << 18) + 767), 1);
    CHECK_RC(hvrt_max_mapping_level(vm, 0, (7ull << 18) + 1024), HVRT_ENOENT);
    close(memfd);
    hvrt_vm_destroy(vm);
}

/* hvrt_attributes_run / hvrt_attributes_count: a walk over a sparse layout, and their errors. */
static void test_runs(void)
{
    hvrt_vm *vm = vm_new(&(struct hvrt_vm_config){ .size = sizeof(struct hvrt_vm_config), .vm_type = 1, .kvm_profile = HVRT_KVM_PROFILE_NEWEST });
    CHECK_RC(set_attr(vm, 0x10000, 0x3000, PRIV, 0), 0);           /* gfns 0x10..0x12 */
    CHECK_RC(set_attr(vm, 1ull << 40, 1ull << 41, PRIV, 0), 0);    /* 2^29 pages from gfn 2^28 */
    uint64_t g = 0, end = 1ull << 32, run_end = 0, attrs = 0, priv = 0, runs = 0;
    while (g < end) {
        if (hvrt_attributes_run(vm, g, end, &run_end, &attrs) != 0 || run_end <= g)
            break;
        priv += attrs ? run_end - g : 0;
        runs++;
        g = run_end;
    }
    CHECK(g == end && runs == 5 && priv == 3 + (1ull << 29));
    uint64_t n = 0;
    CHECK_RC(hvrt_attributes_count(vm, 0, end, &n), 0);
    CHECK(n == priv);
    CHECK_RC(hvrt_attributes_count(vm, 0x11, 0x11, &n), 0);
    CHECK(n == 0);
    CHECK_RC(hvrt_attributes_count(vm, 0x12, 0x11, &n), -EINVAL);
    CHECK_RC(hvrt_attributes_run(vm, 7, 7, &run_end, &attrs), -EINVAL);
    CHECK_RC(hvrt_attributes_run(vm, 0, 7, NULL, &attrs), -EFAULT);
    CHECK_RC(hvrt_attributes_count(NULL, 0, 7, &n), -EFAULT);
    hvrt_vm_destroy(vm);
}

int main(void)
{
    test_errors();
    test_types();
    test_ranges();
    test_levels();
    test_runs();
    return harness_finish();
}

/* The numeric checks of a region request, through every entry point: alignment, wrap-around,
 * the user address limit, address space and slot id ranges, the page limit and max_gpa_bits.
 * Each refused request must leave the VM as it was (CHECK_REJECTED). */
#include "test_util.h"

/* A free gfn range of the fixture for new slots, and a free slot id. */
#define NEW_GPA (0x4000 * PAGE)
#define NEW_SLOT SLOT(0, 50)

/* The same request through v1, region2 and ext (bit 2 clear: their extra fields are ignored). */
static void check_all_entries(struct fixture *fx, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                              uint64_t hva, int want)
{
    CHECK_REJECTED(fx, set_v1(fx->vm, slot, flags, gpa, size, hva), want);
    CHECK_REJECTED(fx, set_r2(fx->vm, slot, flags, gpa, size, hva, 0, 0), want);
    CHECK_REJECTED(fx, set_ext(fx->vm, slot, flags, gpa, size, hva, 0, 0), want);
}

static void misaligned(struct fixture *fx)
{
    for (uint64_t bad = 1; bad < PAGE; bad = bad * 2 + 1) {
        check_all_entries(fx, NEW_SLOT, 0, NEW_GPA + bad, PAGE, FX_HVA, HVRT_EINVAL);
        check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, PAGE + bad, FX_HVA, HVRT_EINVAL);
        check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, PAGE, FX_HVA + bad, HVRT_EINVAL);
        /* The same for a request on an existing slot, and for a delete. */
        check_all_entries(fx, SLOT(0, 0), 0, bad, 16 * PAGE, FX_HVA, HVRT_EINVAL);
        check_all_entries(fx, SLOT(0, 0), 0, 0, 16 * PAGE, FX_HVA + bad, HVRT_EINVAL);
        check_all_entries(fx, SLOT(0, 0), 0, 0, bad, FX_HVA, HVRT_EINVAL);
        check_all_entries(fx, SLOT(0, 2), 0, bad, 0, 0, HVRT_EINVAL);
        check_all_entries(fx, SLOT(0, 2), 0, 0, 0, bad, HVRT_EINVAL);
    }
}

static void wrap_around(struct fixture *fx)
{
    /* gpa + size past 2^64, and exactly 2^64 (the sum wraps to 0). */
    check_all_entries(fx, NEW_SLOT, 0, 0ull - PAGE, 2 * PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, 0ull - PAGE, PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, 0ull - 16 * PAGE, 0ull - 8 * PAGE, FX_HVA, HVRT_EINVAL);
    /* hva + size past 2^64. */
    check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, 0ull - PAGE, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, 0ull - 8 * PAGE, 16 * PAGE, HVRT_EINVAL);
    /* A move of an existing slot to where gpa + size wraps. */
    check_all_entries(fx, SLOT(0, 2), F_LOG, 0ull - 2 * PAGE, 4 * PAGE, FX_HVA + 0x200000, HVRT_EINVAL);
}

/* access_ok: hva + size may reach the limit but not pass it. */
static void user_address_limit(struct fixture *fx)
{
    uint64_t limit = host_user_limit();
    check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, limit - PAGE, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, PAGE, limit, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, NEW_GPA, PAGE, 1ull << 63, HVRT_EINVAL);
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, 0, NEW_GPA, 2 * PAGE, limit - 2 * PAGE), 0);
    CHECK_RC(delete_slot(fx->vm, NEW_SLOT), 0);
    CHECK_RC(set_r2(fx->vm, NEW_SLOT, 0, NEW_GPA, PAGE, limit - PAGE, 0, 0), 0);
    CHECK_RC(delete_slot(fx->vm, NEW_SLOT), 0);
    CHECK_RC(set_ext(fx->vm, NEW_SLOT, 0, NEW_GPA, PAGE, limit - PAGE, 0, 0), 0);
    CHECK_RC(delete_slot(fx->vm, NEW_SLOT), 0);
    /* hva 0 is a valid user address for KVM (access_ok), if an odd one. */
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, 0, NEW_GPA, PAGE, 0), 0);
    CHECK_RC(delete_slot(fx->vm, NEW_SLOT), 0);
    fx->gen[0] += 8 * fx->nr_as;
    CHECK(fixture_intact(fx));
    /* This host's limit is the 4-level one (documented for the CI machines). */
    if (limit == USER_LIMIT_4LEVEL)
        CHECK_RC(limit, 0x7ffffffff000ull);
    else
        SKIP("5-level paging host: TASK_SIZE_MAX is 2^56 - 4096");
}

static void slot_and_address_space_ids(struct fixture *fx)
{
    check_all_entries(fx, SLOT(0, 32764), 0, NEW_GPA, PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, SLOT(0, 0xffff), 0, NEW_GPA, PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, SLOT(2, 0), 0, NEW_GPA, PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, SLOT(0xffff, 0), 0, NEW_GPA, PAGE, FX_HVA, HVRT_EINVAL);
    /* Deletes are held to the same ranges. */
    check_all_entries(fx, SLOT(0, 32764), 0, 0, 0, 0, HVRT_EINVAL);
    check_all_entries(fx, SLOT(2, 0), 0, 0, 0, 0, HVRT_EINVAL);
    /* The highest id, in both address spaces of a default VM. */
    for (uint32_t as_id = 0; as_id < 2; as_id++) {
        struct slot_desc s = { SLOT(as_id, 32763), 0, NEW_GPA / PAGE, 1, FX_HVA, 0 };
        CHECK_RC(set_v1(fx->vm, s.slot, 0, NEW_GPA, PAGE, FX_HVA), 0);
        fx->gen[as_id] += fx->nr_as;
        CHECK(translates_as(fx->vm, s.gfn, &s, fx->gen[as_id], NULL));
        CHECK_RC(delete_slot(fx->vm, s.slot), 0);
        fx->gen[as_id] += fx->nr_as;
    }
    CHECK(fixture_intact(fx));
}

/* KVM_MEM_MAX_NR_PAGES: a user slot may have 2^31 - 1 pages, not 2^31. */
static void page_limit(void)
{
    hvrt_vm *vm = vm_new_gpa_bits(48);
    uint64_t hva = 0x100000000000ull;
    uint64_t max = ((1ull << 31) - 1) * PAGE;
    CHECK_RC(set_v1(vm, 0, 0, 0, max + PAGE, hva), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, 0, 0, 0, max + PAGE, hva, 0, 0), HVRT_EINVAL);
    CHECK_RC(set_ext(vm, 0, 0, 0, max + PAGE, hva, 0, 0), HVRT_EINVAL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 1ull << 46, hva), HVRT_EINVAL);
    CHECK(translates_to_nothing(vm, 0, 0));
    struct slot_desc s = { SLOT(0, 0), 0, 0, max / PAGE, hva, 0 };
    CHECK_RC(set_v1(vm, s.slot, 0, 0, max, hva), 0);
    CHECK(translates_as(vm, 0, &s, 2, NULL));
    CHECK(translates_as(vm, s.npages - 1, &s, 2, NULL));
    CHECK(translates_to_nothing(vm, 0, s.npages));
    CHECK_RC(delete_slot(vm, s.slot), 0);
    CHECK_RC(set_r2(vm, 1, 0, 0, max, hva, 0, 0), 0);
    CHECK_RC(set_ext(vm, 2, 0, max, max, hva, 0, 0), 0);
    hvrt_vm_destroy(vm);
}

/* max_gpa_bits 40 (the fixture's): a slot may end at 2^40, not past it. The check comes last
 * (kvm_arch_prepare_memory_region), so an overlap's -EEXIST wins over it. */
static void max_gpa(struct fixture *fx)
{
    const uint64_t top = 1ull << 40;
    check_all_entries(fx, NEW_SLOT, 0, top, PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, top - PAGE, 2 * PAGE, FX_HVA, HVRT_EINVAL);
    check_all_entries(fx, NEW_SLOT, 0, 1ull << 52, PAGE, FX_HVA, HVRT_EINVAL);

    struct slot_desc last = { SLOT(0, 60), 0, top / PAGE - 1, 1, FX_HVA, 0 };
    CHECK_RC(set_v1(fx->vm, last.slot, 0, top - PAGE, PAGE, FX_HVA), 0);
    fixture_record(fx, last);
    CHECK(fixture_intact(fx));
    /* Overlapping that last page and passing 2^40: -EEXIST, from a create and from a move. */
    check_all_entries(fx, NEW_SLOT, 0, top - PAGE, 2 * PAGE, FX_HVA, HVRT_EEXIST);
    check_all_entries(fx, SLOT(0, 2), F_LOG, top - 2 * PAGE, 4 * PAGE, FX_HVA + 0x200000, HVRT_EEXIST);
    /* A move past 2^40 that overlaps nothing: -EINVAL. */
    check_all_entries(fx, SLOT(0, 2), F_LOG, top, 4 * PAGE, FX_HVA + 0x200000, HVRT_EINVAL);
    check_all_entries(fx, SLOT(0, 2), F_LOG, top - 3 * PAGE, 4 * PAGE, FX_HVA + 0x200000, HVRT_EEXIST);
    /* A move right under it is fine. */
    CHECK_RC(set_v1(fx->vm, SLOT(0, 2), F_LOG, top - 5 * PAGE, 4 * PAGE, FX_HVA + 0x200000), 0);
    fixture_slot(fx, SLOT(0, 2))->gfn = top / PAGE - 5;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
}

int main(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    misaligned(&fx);
    wrap_around(&fx);
    user_address_limit(&fx);
    slot_and_address_space_ids(&fx);
    max_gpa(&fx);
    fixture_teardown(&fx);
    page_limit();
    return harness_finish();
}

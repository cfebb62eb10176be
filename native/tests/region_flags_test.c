/* Flags each entry point accepts, on a default VM: v1 knows only LOG_DIRTY_PAGES and READONLY;
 * region2 and ext add bit 2 (GUEST_MEMFD / PRIVATE), which excludes the other two; every other
 * bit is -EINVAL. The per-type differences are in vm_types_test.c. */
#include "test_util.h"

#define NEW_GPA (0x4000 * PAGE)
#define NEW_SLOT SLOT(0, 50)

/* Bits no entry point knows: the first unknown, KVM's internal ones, the top one. */
static const uint32_t unknown_bits[] = { 1u << 3, 1u << 15, 1u << 16, 1u << 17, 1u << 31, 0xfffffff8u };

static void v1_flags(struct fixture *fx)
{
    CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, F_PRIV | F_LOG, NEW_GPA, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, UINT32_MAX, NEW_GPA, PAGE, FX_HVA), HVRT_EINVAL);
    for (size_t i = 0; i < sizeof unknown_bits / sizeof unknown_bits[0]; i++) {
        CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, unknown_bits[i], NEW_GPA, PAGE, FX_HVA), HVRT_EINVAL);
        /* On an existing slot (would be a flags-only change) and on a delete. */
        CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(0, 2), F_LOG | unknown_bits[i], 0x200 * PAGE, 4 * PAGE, FX_HVA + 0x200000),
                       HVRT_EINVAL);
        CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(0, 2), unknown_bits[i], 0, 0, 0), HVRT_EINVAL);
    }
    /* Bit 2 on a delete: v1's filter runs before anything looks at the slot. */
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(0, 2), F_PRIV, 0, 0, 0), HVRT_EINVAL);
    /* Every allowed combination creates a slot with exactly those flags. */
    for (uint32_t flags = 0; flags <= (F_LOG | F_RO); flags++) {
        struct slot_desc s = { NEW_SLOT, flags, NEW_GPA / PAGE, 2, FX_HVA, 0 };
        CHECK_RC(set_v1(fx->vm, s.slot, flags, NEW_GPA, 2 * PAGE, FX_HVA), 0);
        fx->gen[0] += fx->nr_as;
        CHECK(translates_as(fx->vm, s.gfn + 1, &s, fx->gen[0], NULL));
        CHECK_RC(delete_slot(fx->vm, s.slot), 0);
        fx->gen[0] += fx->nr_as;
    }
}

/* region2 and ext share the flag rules; with bit 2 they differ in the file they accept, so a
 * closed fd is used: -EBADF proves the flags passed. */
static void region2_and_ext_flags(struct fixture *fx)
{
    for (int entry = 0; entry < 2; entry++) {
        int (*set)(hvrt_vm *, uint32_t, uint32_t, uint64_t, uint64_t, uint64_t, uint32_t, uint64_t) =
            entry == 0 ? set_r2 : set_ext;
        uint32_t closed = (uint32_t)closed_fd_number();
        CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 0), HVRT_EBADF);
        CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, F_PRIV | F_RO, NEW_GPA, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
        CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, F_PRIV | F_LOG, NEW_GPA, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
        CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, F_PRIV | F_LOG | F_RO, NEW_GPA, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
        for (size_t i = 0; i < sizeof unknown_bits / sizeof unknown_bits[0]; i++) {
            uint32_t bit = unknown_bits[i];
            CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, bit, NEW_GPA, PAGE, FX_HVA, 0, 0), HVRT_EINVAL);
            CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, bit | F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
            CHECK_REJECTED(fx, set(fx->vm, NEW_SLOT, bit | F_LOG, NEW_GPA, PAGE, FX_HVA, 0, 0), HVRT_EINVAL);
            CHECK_REJECTED(fx, set(fx->vm, SLOT(0, 2), bit, 0, 0, 0, 0, 0), HVRT_EINVAL);
        }
        /* Without bit 2 the file fields mean nothing: a closed fd and an odd offset pass. */
        for (uint32_t flags = 0; flags <= (F_LOG | F_RO); flags++) {
            struct slot_desc s = { NEW_SLOT, flags, NEW_GPA / PAGE, 2, FX_HVA, 0 };
            CHECK_RC(set(fx->vm, s.slot, flags, NEW_GPA, 2 * PAGE, FX_HVA, closed, 123), 0);
            fx->gen[0] += fx->nr_as;
            CHECK(translates_as(fx->vm, s.gfn, &s, fx->gen[0], NULL));
            CHECK_RC(set(fx->vm, s.slot, 0, 0, 0, 0, closed, 77), 0);
            fx->gen[0] += fx->nr_as;
        }
        CHECK(fixture_intact(fx));
    }
}

/* pad1 and pad2 are ignored, as KVM ignores them. */
static void padding_is_ignored(struct fixture *fx)
{
    struct kvm_userspace_memory_region2 r;
    memset(&r, 0xff, sizeof r);
    r.slot = NEW_SLOT;
    r.flags = F_LOG;
    r.guest_phys_addr = NEW_GPA;
    r.memory_size = PAGE;
    r.userspace_addr = FX_HVA;
    CHECK_RC(hvrt_set_user_memory_region2(fx->vm, &r), 0);
    struct kvm_userspace_memory_region_ext e;
    memset(&e, 0xff, sizeof e);
    e.region.slot = NEW_SLOT + 1;
    e.region.flags = F_RO;
    e.region.guest_phys_addr = NEW_GPA + PAGE;
    e.region.memory_size = PAGE;
    e.region.userspace_addr = FX_HVA;
    CHECK_RC(hvrt_set_user_memory_region_ext(fx->vm, &e), 0);
    fixture_record(fx, (struct slot_desc){ NEW_SLOT, F_LOG, NEW_GPA / PAGE, 1, FX_HVA, 0 });
    fixture_record(fx, (struct slot_desc){ NEW_SLOT + 1, F_RO, NEW_GPA / PAGE + 1, 1, FX_HVA, 0 });
    CHECK(fixture_intact(fx));
}

int main(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    v1_flags(&fx);
    region2_and_ext_flags(&fx);
    padding_is_ignored(&fx);
    fixture_teardown(&fx);
    return harness_finish();
}

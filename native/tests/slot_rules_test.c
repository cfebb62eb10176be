/* KVM's classification of a request on shared slots: create, delete, move, flags-only, no-op;
 * what may not change on an existing slot; -EEXIST on overlap within one address space only;
 * and which check wins when several fail. Private slots are in private_fd_test.c. */
#include "test_util.h"

#define NEW_GPA (0x4000 * PAGE)
#define NEW_SLOT SLOT(0, 50)

/* The fixture's LOG_DIRTY slot: as0 id 2, gfn 0x200, 4 pages. */
#define S2 SLOT(0, 2)
#define S2_HVA (FX_HVA + 0x200000)

static void identical_request_is_a_noop(struct fixture *fx)
{
    /* Through every entry point; the generation must not move (checked by fixture_intact). */
    CHECK_RC(set_v1(fx->vm, S2, F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA), 0);
    CHECK_RC(set_r2(fx->vm, S2, F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 12345, 77), 0);
    CHECK_RC(set_ext(fx->vm, S2, F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 12345, 77), 0);
    CHECK_RC(set_v1(fx->vm, SLOT(1, 5), F_LOG | F_RO, 0x1000 * PAGE, 2 * PAGE, FX_HVA + 0x500000), 0);
    CHECK(fixture_intact(fx));
}

static void flags_only_change(struct fixture *fx)
{
    struct slot_desc *s2 = fixture_slot(fx, S2);
    CHECK_RC(set_v1(fx->vm, S2, 0, 0x200 * PAGE, 4 * PAGE, S2_HVA), 0);
    s2->flags = 0;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    CHECK_RC(set_r2(fx->vm, S2, F_LOG, 0x200 * PAGE, 4 * PAGE, S2_HVA, 0, 0), 0);
    s2->flags = F_LOG;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    /* READONLY stays; LOG_DIRTY may go. */
    CHECK_RC(set_ext(fx->vm, SLOT(1, 5), F_RO, 0x1000 * PAGE, 2 * PAGE, FX_HVA + 0x500000, 0, 0), 0);
    fixture_slot(fx, SLOT(1, 5))->flags = F_RO;
    fx->gen[1] += fx->nr_as;
    CHECK(fixture_intact(fx));
}

/* Moves S2 (LOG_DIRTY, 4 pages) to gfn, expects success, and checks the whole fixture after. */
static void move_s2(struct fixture *fx, uint64_t gfn)
{
    CHECK_RC(set_v1(fx->vm, S2, F_LOG, gfn * PAGE, 4 * PAGE, S2_HVA), 0);
    fixture_slot(fx, S2)->gfn = gfn;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
}

static void move(struct fixture *fx)
{
    move_s2(fx, 0x2000);
    CHECK(translates_to_nothing(fx->vm, 0, 0x200));
    /* A move onto part of its own old range overlaps only itself. */
    move_s2(fx, 0x2002);
    move_s2(fx, 0x2001);
    /* Right against a neighbour (the plain slot ends at gfn 0x10): touching is not overlapping. */
    move_s2(fx, 0x10);
    move_s2(fx, 0xfc);
}

/* A move that also toggles LOG_DIRTY_PAGES is a MOVE, and KVM's new slot takes the request's
 * flags (new->flags = mem->flags), so the moved slot has the new flags. */
static void move_with_new_flags(struct fixture *fx)
{
    struct slot_desc *s2 = fixture_slot(fx, S2);
    CHECK_RC(set_v1(fx->vm, S2, 0, 0x3000 * PAGE, 4 * PAGE, S2_HVA), 0);
    s2->gfn = 0x3000;
    s2->flags = 0;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    CHECK_RC(set_v1(fx->vm, S2, F_LOG, 0x3100 * PAGE, 4 * PAGE, S2_HVA), 0);
    s2->gfn = 0x3100;
    s2->flags = F_LOG;
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
}

/* userspace_addr, size and READONLY of an existing slot cannot change (KVM has no resize);
 * that check comes before the overlap check, so it wins over -EEXIST. */
static void immutable_fields(struct fixture *fx)
{
    const struct slot_desc s2 = *fixture_slot(fx, S2);
    uint64_t gpa = s2.gfn * PAGE, size = s2.npages * PAGE;
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, gpa, size, S2_HVA + PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, gpa, size + PAGE, S2_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, gpa, size - PAGE, S2_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags | F_RO, gpa, size, S2_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(0, 1), 0, 0x100 * PAGE, 8 * PAGE, FX_HVA + 0x100000), HVRT_EINVAL);
    /* Together with a move, even onto another slot. */
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, 0x5000 * PAGE, size, S2_HVA + PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, 0, size, S2_HVA + PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, 0, size * 2, S2_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_r2(fx->vm, S2, s2.flags | F_RO, 0, size, S2_HVA, 0, 0), HVRT_EINVAL);
    /* The same id in the other address space is another slot: there it is a create. */
    CHECK_RC(set_v1(fx->vm, SLOT(1, 2), 0, gpa, size + PAGE, S2_HVA + PAGE), 0);
    fixture_record(fx, (struct slot_desc){ SLOT(1, 2), 0, s2.gfn, s2.npages + 1, S2_HVA + PAGE, 0 });
    CHECK(fixture_intact(fx));
}

static void overlap(struct fixture *fx)
{
    /* The plain slot covers gfns 0x0-0xf of as0, the READONLY one 0x100-0x107. */
    static const struct { uint64_t gfn, npages; } hits[] = {
        { 0x0, 1 }, { 0xf, 1 }, { 0x8, 16 }, { 0x0, 16 }, { 0x4, 2 }, { 0x0, 0x1000 }, { 0xe, 0x100 },
    };
    const struct slot_desc s2 = *fixture_slot(fx, S2);
    for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
        uint64_t gpa = hits[i].gfn * PAGE, size = hits[i].npages * PAGE;
        CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, 0, gpa, size, FX_HVA), HVRT_EEXIST);
        CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_RO, gpa, size, FX_HVA, 0, 0), HVRT_EEXIST);
        CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_LOG, gpa, size, FX_HVA, 0, 0), HVRT_EEXIST);
        /* A move of another slot (4 pages) onto it. */
        CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, gpa, s2.npages * PAGE, s2.hva), HVRT_EEXIST);
    }
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, 0x104 * PAGE, s2.npages * PAGE, s2.hva), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_v1(fx->vm, S2, s2.flags, 0xfd * PAGE, s2.npages * PAGE, s2.hva), HVRT_EEXIST);
    /* In as1, against as1's own slots. */
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(1, 50), 0, 0x3 * PAGE, PAGE, FX_HVA), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(1, 50), 0, 0xfff * PAGE, 2 * PAGE, FX_HVA), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(1, 0), 0, 0x1001 * PAGE, 4 * PAGE, FX_HVA + 0x400000), HVRT_EEXIST);
}

/* Slots in different address spaces never conflict, in either direction. */
static void no_overlap_across_address_spaces(struct fixture *fx)
{
    struct slot_desc a = { SLOT(1, 40), 0, 0x100, 8, FX_HVA, 0 };   /* under as0's READONLY slot */
    struct slot_desc b = { SLOT(0, 41), 0, 0x1000, 2, FX_HVA, 0 };  /* under as1's slot 5 */
    CHECK_RC(set_v1(fx->vm, a.slot, 0, a.gfn * PAGE, a.npages * PAGE, a.hva), 0);
    fixture_record(fx, a);
    CHECK_RC(set_v1(fx->vm, b.slot, 0, b.gfn * PAGE, b.npages * PAGE, b.hva), 0);
    fixture_record(fx, b);
    CHECK(fixture_intact(fx));
}

static void delete(struct fixture *fx)
{
    /* Deleting what does not exist: never created, an id only the other space has, twice. */
    CHECK_REJECTED(fx, delete_slot(fx->vm, NEW_SLOT), HVRT_EINVAL);
    CHECK_REJECTED(fx, delete_slot(fx->vm, SLOT(1, 1)), HVRT_EINVAL);
    CHECK_REJECTED(fx, delete_slot(fx->vm, SLOT(0, 5)), HVRT_EINVAL);
    /* A delete ignores gpa, hva and the file fields (as long as they are well-formed), and may
     * come through any entry point, even with bit 2 and a closed fd (nothing is bound). */
    CHECK_RC(set_r2(fx->vm, SLOT(0, 1), F_PRIV, 0x777 * PAGE, 0, PAGE, (uint32_t)closed_fd_number(), 0), 0);
    fixture_forget(fx, SLOT(0, 1));
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    CHECK(translates_to_nothing(fx->vm, 0, 0x100));
    CHECK_REJECTED(fx, delete_slot(fx->vm, SLOT(0, 1)), HVRT_EINVAL);
    CHECK_RC(set_ext(fx->vm, SLOT(1, 5), F_RO, 0, 0, 0, 0, 0), 0);
    fixture_forget(fx, SLOT(1, 5));
    fx->gen[1] += fx->nr_as;
    CHECK(fixture_intact(fx));
    /* The other address space's slot with the same id is untouched by a delete. */
    CHECK_RC(delete_slot(fx->vm, SLOT(1, 0)), 0);
    fixture_forget(fx, SLOT(1, 0));
    fx->gen[1] += fx->nr_as;
    CHECK(fixture_intact(fx));
    /* The id and the range are free again: re-create it somewhere else, with other flags. */
    struct slot_desc again = { SLOT(0, 1), F_LOG, 0x100, 2, FX_HVA + 0x900000, 0 };
    CHECK_RC(set_v1(fx->vm, again.slot, again.flags, again.gfn * PAGE, again.npages * PAGE, again.hva), 0);
    fixture_record(fx, again);
    CHECK(fixture_intact(fx));
}

/* Which error wins: -EEXIST over a too-high gpa and over a bad fd; -EINVAL of a sanity check
 * over -EEXIST. */
static void check_order(struct fixture *fx)
{
    uint32_t closed = (uint32_t)closed_fd_number();
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, 0, PAGE, FX_HVA, closed, 0), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, 0, PAGE, FX_HVA, closed, 0), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, 0, 0, PAGE + 1, FX_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, NEW_SLOT, 1u << 3, 0, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, SLOT(0, 32764), 0, 0, PAGE, FX_HVA), HVRT_EINVAL);
    /* With no overlap, a bad fd comes before the max gpa check (the bind precedes it). */
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, 1ull << 41, PAGE, FX_HVA, closed, 0), HVRT_EBADF);
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, 1ull << 41, PAGE, FX_HVA, closed, 0), HVRT_EBADF);
}

/* The generation moves by the number of address spaces per change, in the changed space only. */
static void generations(struct fixture *fx)
{
    uint64_t g0 = fx->gen[0], g1 = fx->gen[1];
    CHECK(g0 % 2 == 0 && g1 % 2 == 1);
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, 0, NEW_GPA, PAGE, FX_HVA), 0);                 /* create */
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, F_LOG, NEW_GPA, PAGE, FX_HVA), 0);             /* flags */
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, F_LOG, NEW_GPA + PAGE, PAGE, FX_HVA), 0);      /* move */
    CHECK_RC(set_v1(fx->vm, NEW_SLOT, F_LOG, NEW_GPA + PAGE, PAGE, FX_HVA), 0);      /* no-op */
    CHECK_RC(generation_at(fx->vm, 0, NEW_GPA / PAGE + 1), g0 + 3 * fx->nr_as);
    CHECK_RC(delete_slot(fx->vm, NEW_SLOT), 0);                                       /* delete */
    fx->gen[0] = g0 + 4 * fx->nr_as;
    CHECK_RC(fx->gen[1], g1);
    CHECK(fixture_intact(fx));
}

int main(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    identical_request_is_a_noop(&fx);
    flags_only_change(&fx);
    move(&fx);
    move_with_new_flags(&fx);
    immutable_fields(&fx);
    overlap(&fx);
    no_overlap_across_address_spaces(&fx);
    delete(&fx);
    check_order(&fx);
    generations(&fx);
    fixture_teardown(&fx);
    return harness_finish();
}

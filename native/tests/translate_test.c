/* hvrt_translate: every gfn of many slots against a model (hva, slot, base_gfn, npages,
 * run_pages, private_pgoff, flags, private_fd), -ENOENT in holes and just past each slot,
 * -EINVAL for an address space the VM lacks, out written only on success, and generations
 * (distinct per address space, moving by the number of address spaces per change). */
#include "test_util.h"

#define MANY 300

/* The model: slots of one VM, and which one holds a gfn. */
struct model {
    int n;
    struct slot_desc slots[2 * MANY];
    uint64_t gen[2];
    struct stat private_file;
};

static const struct slot_desc *model_find(const struct model *m, uint32_t as_id, uint64_t gfn)
{
    for (int i = 0; i < m->n; i++)
        if (AS_OF(m->slots[i].slot) == as_id && gfn - m->slots[i].gfn < m->slots[i].npages)
            return &m->slots[i];
    return NULL;
}

/* Every gfn in [0, end) of both address spaces answers as the model says. */
static bool model_matches(hvrt_vm *vm, const struct model *m, uint64_t end)
{
    int wrong = 0;
    for (uint32_t as_id = 0; as_id < 2; as_id++)
        for (uint64_t gfn = 0; gfn < end && wrong < 5; gfn++) {
            const struct slot_desc *s = model_find(m, as_id, gfn);
            bool ok = s ? translates_as(vm, gfn, s, m->gen[as_id], &m->private_file)
                        : translates_to_nothing(vm, as_id, gfn);
            wrong += !ok;
        }
    return wrong == 0;
}

/* Slots of sizes 1..7 pages with holes of 0..3 pages between them, every third one private,
 * flags cycling, in both address spaces, inserted in a scattered order; then half deleted. */
static void many_slots(void)
{
    static struct model m;
    hvrt_vm *vm = vm_new_gpa_bits(40);
    int memfd = new_memfd(8 * MANY * PAGE);
    fstat(memfd, &m.private_file);
    m.gen[0] = 0;
    m.gen[1] = 1;
    uint64_t gfn[2] = { 0, 0 }, file_page = 0;
    for (int i = 0; i < 2 * MANY; i++) {
        uint32_t as_id = (uint32_t)i & 1;
        uint64_t npages = 1 + (uint64_t)(i * 3 % 7), hole = (uint64_t)(i * 5 % 4);
        uint32_t flags = i % 3 == 0 ? F_PRIV : (uint32_t)(i / 2 % 4);
        struct slot_desc s = { SLOT(as_id, (uint32_t)(i * 37 % 32764)), flags, gfn[as_id] + hole, npages,
                               FX_HVA + (uint64_t)i * 0x100000, flags & F_PRIV ? file_page : 0 };
        gfn[as_id] = s.gfn + npages;
        file_page += flags & F_PRIV ? npages : 0;
        m.slots[m.n++] = s;
    }
    /* Insert in a scattered order so the sorted index sees inserts in the middle. */
    int failures = 0;
    for (int k = 0; k < m.n; k++) {
        const struct slot_desc *s = &m.slots[(k * 211) % m.n];
        failures += set_ext(vm, s->slot, s->flags, s->gfn * PAGE, s->npages * PAGE, s->hva, (uint32_t)memfd,
                            s->pgoff * PAGE) != 0;
        m.gen[AS_OF(s->slot)] += 2;
    }
    CHECK_RC(failures, 0);
    close(memfd); /* the slots hold hvrt's duplicates */
    uint64_t end = (gfn[0] > gfn[1] ? gfn[0] : gfn[1]) + 8;
    CHECK(model_matches(vm, &m, end));
    for (int i = m.n - 1; i >= 0; i -= 2) {
        failures += delete_slot(vm, m.slots[i].slot) != 0;
        m.gen[AS_OF(m.slots[i].slot)] += 2;
        m.slots[i] = m.slots[--m.n];
    }
    CHECK_RC(failures, 0);
    CHECK(model_matches(vm, &m, end));
    hvrt_vm_destroy(vm);
}

static void nothing_there(void)
{
    hvrt_vm *vm = vm_new(NULL);
    static const uint64_t gfns[] = { 0, 1, 0xfffff, 1ull << 40, (1ull << 52) - 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof gfns / sizeof gfns[0]; i++) {
        CHECK(translates_to_nothing(vm, 0, gfns[i]));
        CHECK(translates_to_nothing(vm, 1, gfns[i]));
    }
    /* One slot at the top of the address space; the gfns around it stay empty. */
    uint64_t top = (1ull << 52) / PAGE; /* gfns of a 52-bit guest */
    struct slot_desc s = { SLOT(0, 0), 0, top - 3, 2, FX_HVA, 0 };
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_gpa_bits = 52;
    hvrt_vm *high = vm_new(&c);
    CHECK_RC(set_v1(high, s.slot, 0, s.gfn * PAGE, 2 * PAGE, FX_HVA), 0);
    CHECK(translates_as(high, s.gfn, &s, 2, NULL));
    CHECK(translates_as(high, s.gfn + 1, &s, 2, NULL));
    CHECK(translates_to_nothing(high, 0, s.gfn - 1));
    CHECK(translates_to_nothing(high, 0, s.gfn + 2));
    CHECK(translates_to_nothing(high, 0, UINT64_MAX));
    CHECK(translates_to_nothing(high, 1, s.gfn));
    hvrt_vm_destroy(high);
    hvrt_vm_destroy(vm);
}

/* as_id must be below the VM's number of address spaces; out stays as it was. */
static void address_space_out_of_range(void)
{
    struct hvrt_vm_config one = config_for(HVRT_VM_TYPE_DEFAULT);
    one.nr_address_spaces = 1;
    hvrt_vm *vms[] = { vm_new(NULL), vm_new(&one) };
    for (int v = 0; v < 2; v++) {
        hvrt_vm *vm = vms[v];
        CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, FX_HVA), 0);
        const uint32_t bad[] = { v == 0 ? 2u : 1u, 2, 3, 0x10000, UINT32_MAX };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            struct hvrt_translation t;
            memset(&t, 0x5a, sizeof t);
            CHECK_RC(hvrt_translate(vm, bad[i], 0, &t), HVRT_EINVAL);
            CHECK(t.slot == 0x5a5a5a5a && t.generation == 0x5a5a5a5a5a5a5a5aull);
        }
        hvrt_vm_destroy(vm);
    }
}

/* KVM's scheme: as_id first, then + the number of address spaces per change; a rejected or
 * no-op request does not count. */
static void generations(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, SLOT(0, 0), 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, SLOT(1, 0), 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(generation_at(vm, 0, 0), 2);
    CHECK_RC(generation_at(vm, 1, 0), 3);
    uint64_t g0 = 2, g1 = 3;
    bool steady = true;
    for (int i = 1; i <= 50; i++) {
        uint32_t as_id = (uint32_t)(i % 3 == 0);
        uint32_t slot = SLOT(as_id, 1);
        uint64_t *g = as_id ? &g1 : &g0;
        steady = steady && set_v1(vm, slot, 0, 0x10 * PAGE, PAGE, FX_HVA) == 0;       /* create */
        steady = steady && set_v1(vm, slot, 0, 0x10 * PAGE, PAGE, FX_HVA) == 0;       /* no-op */
        steady = steady && set_v1(vm, slot, 0, 0, PAGE, FX_HVA) == HVRT_EEXIST;       /* refused */
        steady = steady && set_v1(vm, slot, F_LOG, 0x10 * PAGE, PAGE, FX_HVA) == 0;   /* flags */
        steady = steady && set_v1(vm, slot, F_LOG, 0x11 * PAGE, PAGE, FX_HVA) == 0;   /* move */
        steady = steady && delete_slot(vm, slot) == 0;                                 /* delete */
        *g += 4 * 2;
        steady = steady && generation_at(vm, 0, 0) == g0 && generation_at(vm, 1, 0) == g1;
    }
    CHECK(steady);
    CHECK(g0 % 2 == 0 && g1 % 2 == 1 && g0 > 2 && g1 > 3);
    hvrt_vm_destroy(vm);

    /* One address space (SW_PROTECTED): 0, 1, 2, ... */
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    vm = vm_new(&c);
    CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(generation_at(vm, 0, 0), 1);
    CHECK_RC(set_v1(vm, 0, F_LOG, 0, PAGE, FX_HVA), 0);
    CHECK_RC(generation_at(vm, 0, 0), 2);
    CHECK_RC(set_v1(vm, 1, F_LOG, PAGE, PAGE, FX_HVA), 0);
    CHECK_RC(generation_at(vm, 0, 0), 3);
    hvrt_vm_destroy(vm);
}

/* hvrt_translate's flags: HAS_PRIVATE, READONLY and LOG_DIRTY from the slot; PRIVATE (the
 * gfn's attribute) is never set, since this ABI has no way to set attributes. */
static void translation_flags(void)
{
    hvrt_vm *vm = vm_new(NULL);
    int memfd = new_memfd(PAGE);
    CHECK_RC(set_ext(vm, 0, F_PRIV, 0, PAGE, FX_HVA, (uint32_t)memfd, 0), 0);
    CHECK_RC(set_v1(vm, 1, F_RO | F_LOG, PAGE, PAGE, FX_HVA), 0);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), 0);
    CHECK_RC(t.flags, HVRT_TR_HAS_PRIVATE);
    CHECK_RC(hvrt_translate(vm, 0, 1, &t), 0);
    CHECK_RC(t.flags, HVRT_TR_READONLY | HVRT_TR_LOG_DIRTY);
    close(memfd);
    hvrt_vm_destroy(vm);
}

int main(void)
{
    many_slots();
    nothing_there();
    address_space_out_of_range();
    generations();
    translation_flags();
    return harness_finish();
}

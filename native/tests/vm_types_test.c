/* The slot rules that depend on the VM type under the newest kernel profile (hvrt.h's table): address spaces, READONLY slots,
 * private (bit 2) slots, and that a private slot never allows READONLY or LOG_DIRTY_PAGES.
 * A flag that region2 accepts shows as -EBADF with a closed fd (the fd is checked after the
 * flags); one it refuses shows as -EINVAL. */
#include "test_util.h"

struct type_rules {
    uint32_t type;
    const char *name;
    uint32_t nr_as;
    bool readonly;
    bool private_mem;
};

static const struct type_rules table[] = {
    { HVRT_VM_TYPE_DEFAULT, "DEFAULT", 2, true, true },
    { HVRT_VM_TYPE_SW_PROTECTED, "SW_PROTECTED", 1, true, true },
    /* 6.18 (the newest profile) takes guest_memfd slots on every type, SEV and SEV-ES included
     * (d1e54dd08f16); kvm_profile_test checks the older profiles. */
    { HVRT_VM_TYPE_SEV, "SEV", 2, true, true },
    { HVRT_VM_TYPE_SEV_ES, "SEV_ES", 2, false, true },
    { HVRT_VM_TYPE_SNP, "SNP", 1, false, true },
    { HVRT_VM_TYPE_TDX, "TDX", 1, false, true },
};

static void check_type(const struct type_rules *r)
{
    struct hvrt_vm_config c = config_for(r->type);
    hvrt_vm *vm = vm_new(&c);
    struct hvrt_translation t;
    int memfd = new_memfd(4 * PAGE);
    int h_before = h_failed;
    int allowed_ro = r->readonly ? 0 : HVRT_EINVAL;

    /* Address spaces: as_id 1 (SMM) only where the type has two. */
    CHECK_RC(hvrt_translate(vm, 1, 0, &t), r->nr_as == 2 ? HVRT_ENOENT : HVRT_EINVAL);
    CHECK_RC(set_v1(vm, SLOT(1, 0), 0, 0, PAGE, FX_HVA), r->nr_as == 2 ? 0 : HVRT_EINVAL);
    CHECK_RC(set_v1(vm, SLOT(2, 0), 0, 0, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_RC(hvrt_translate(vm, 2, 0, &t), HVRT_EINVAL);

    /* LOG_DIRTY_PAGES everywhere; READONLY where the state is not protected; every entry. */
    CHECK_RC(set_v1(vm, SLOT(0, 0), F_LOG, 0x0000, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 1), F_RO, 0x1000, PAGE, FX_HVA), allowed_ro);
    CHECK_RC(set_r2(vm, SLOT(0, 2), F_RO | F_LOG, 0x2000, PAGE, FX_HVA, 0, 0), allowed_ro);
    CHECK_RC(set_ext(vm, SLOT(0, 3), F_RO, 0x3000, PAGE, FX_HVA, 0, 0), allowed_ro);
    CHECK_RC(hvrt_translate(vm, 0, 1, &t), r->readonly ? 0 : HVRT_ENOENT);

    /* Bit 2: region2 reaches the fd check only when the type allows private memory. */
    uint32_t closed = (uint32_t)closed_fd_number();
    CHECK_RC(set_r2(vm, SLOT(0, 4), F_PRIV, 0x4000, PAGE, FX_HVA, closed, 0),
             r->private_mem ? HVRT_EBADF : HVRT_EINVAL);
    CHECK_RC(set_ext(vm, SLOT(0, 5), F_PRIV, 0x5000, PAGE, FX_HVA, (uint32_t)memfd, 0),
             r->private_mem ? 0 : HVRT_EINVAL);
    /* A private slot never allows READONLY or LOG_DIRTY_PAGES, whatever the type. */
    CHECK_RC(set_ext(vm, SLOT(0, 6), F_PRIV | F_RO, 0x6000, PAGE, FX_HVA, (uint32_t)memfd, PAGE), HVRT_EINVAL);
    CHECK_RC(set_ext(vm, SLOT(0, 6), F_PRIV | F_LOG, 0x6000, PAGE, FX_HVA, (uint32_t)memfd, PAGE), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, SLOT(0, 6), F_PRIV | F_RO, 0x6000, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, SLOT(0, 6), F_PRIV | F_LOG, 0x6000, PAGE, FX_HVA, closed, 0), HVRT_EINVAL);
    /* v1 has no bit 2 whatever the type. */
    CHECK_RC(set_v1(vm, SLOT(0, 7), F_PRIV, 0x7000, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_RC(hvrt_translate(vm, 0, 5, &t), r->private_mem ? 0 : HVRT_ENOENT);
    CHECK_RC(hvrt_translate(vm, 0, 6, &t), HVRT_ENOENT);
    CHECK_RC(hvrt_translate(vm, 0, 7, &t), HVRT_ENOENT);

    if (h_failed != h_before)
        fprintf(stderr, "  ^ VM type %s\n", r->name);
    close(memfd);
    hvrt_vm_destroy(vm);
}

int main(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        check_type(&table[i]);
    return harness_finish();
}

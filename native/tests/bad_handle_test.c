/* Every export with a NULL pointer (-EFAULT), a block that is not a VM (-EBADF) and a destroyed
 * VM (-EBADF, destroy a no-op), as hvrt.h's conventions say. */
#include "test_util.h"

/* What a stale or foreign pointer looks like to hvrt: 64 bytes (the handle's size) of zeros,
 * and of the poison hvrt writes into freed blocks. */
static _Alignas(64) unsigned char zeroed_block[64];
static _Alignas(64) unsigned char poisoned_block[64];

/* A valid request, so that only the VM argument is wrong. */
static const struct kvm_userspace_memory_region valid_v1 = {
    .slot = 0, .guest_phys_addr = 0, .memory_size = PAGE, .userspace_addr = FX_HVA,
};

static struct kvm_userspace_memory_region2 valid_r2(void)
{
    struct kvm_userspace_memory_region2 r;
    memset(&r, 0, sizeof r);
    r.memory_size = PAGE;
    r.userspace_addr = FX_HVA;
    return r;
}

static struct kvm_userspace_memory_region_ext valid_ext(void)
{
    struct kvm_userspace_memory_region_ext r;
    memset(&r, 0, sizeof r);
    r.region = valid_v1;
    return r;
}

/* Every VM-taking int export gives `want` for vm, with valid other arguments. */
static void check_every_export_refuses(hvrt_vm *vm, int want)
{
    struct kvm_userspace_memory_region2 r2 = valid_r2();
    struct kvm_userspace_memory_region_ext ext = valid_ext();
    struct hvrt_translation t;
    uint64_t gfn = 0;
    hvrt_reader *reader = NULL;
    CHECK_RC(hvrt_set_user_memory_region(vm, &valid_v1), want);
    CHECK_RC(hvrt_set_user_memory_region2(vm, &r2), want);
    CHECK_RC(hvrt_set_user_memory_region_ext(vm, &ext), want);
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), want);
    CHECK_RC(hvrt_translate_batch(vm, 0, &gfn, 1, &t), want);
    CHECK_RC(hvrt_reader_register(vm, &reader), want);
    CHECK(reader == NULL);
}

static void null_vm_is_efault(void)
{
    check_every_export_refuses(NULL, HVRT_EFAULT);
    CHECK_RC(hvrt_set_user_memory_region(NULL, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_set_user_memory_region2(NULL, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_set_user_memory_region_ext(NULL, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_translate(NULL, 0, 0, NULL), HVRT_EFAULT);
    hvrt_vm_destroy(NULL); /* a no-op; must simply return */
    CHECK(1);
}

static void null_struct_is_efault(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    CHECK_REJECTED(&fx, hvrt_set_user_memory_region(fx.vm, NULL), HVRT_EFAULT);
    CHECK_REJECTED(&fx, hvrt_set_user_memory_region2(fx.vm, NULL), HVRT_EFAULT);
    CHECK_REJECTED(&fx, hvrt_set_user_memory_region_ext(fx.vm, NULL), HVRT_EFAULT);
    CHECK_REJECTED(&fx, hvrt_translate(fx.vm, 0, 0, NULL), HVRT_EFAULT);
    /* A NULL out-parameter is refused before the gfn is looked at. */
    CHECK_RC(hvrt_translate(fx.vm, 0, 0x7777777, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_translate(fx.vm, 5, 0, NULL), HVRT_EFAULT);
    fixture_teardown(&fx);
}

static void vm_create_null_out_is_efault(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    CHECK_RC(hvrt_vm_create(NULL, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_vm_create(&c, NULL), HVRT_EFAULT);
}

static void not_a_vm_is_ebadf(void)
{
    memset(poisoned_block, 0xa5, sizeof poisoned_block);
    for (int i = 0; i < 2; i++) {
        hvrt_vm *vm = (hvrt_vm *)(i == 0 ? zeroed_block : poisoned_block);
        check_every_export_refuses(vm, HVRT_EBADF);
        /* As the ioctl: the fd is resolved before the argument is copied. */
        CHECK_RC(hvrt_set_user_memory_region(vm, NULL), HVRT_EBADF);
        CHECK_RC(hvrt_set_user_memory_region2(vm, NULL), HVRT_EBADF);
        CHECK_RC(hvrt_set_user_memory_region_ext(vm, NULL), HVRT_EBADF);
        CHECK_RC(hvrt_translate(vm, 0, 0, NULL), HVRT_EBADF);
        hvrt_vm_destroy(vm); /* a no-op that must not touch the block */
    }
    unsigned char zeros[64] = { 0 };
    CHECK(memcmp(zeroed_block, zeros, sizeof zeros) == 0);
    for (size_t i = 0; i < sizeof poisoned_block; i++)
        if (poisoned_block[i] != 0xa5) {
            CHECK(!"hvrt_vm_destroy wrote into a block that is not a VM");
            break;
        }
}

/* hvrt.h: "NULL or an already destroyed VM: no-op", "not a live VM gives -EBADF". Nothing may
 * create a VM in between, or the block could be that VM again. */
static void destroyed_vm_is_ebadf(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, FX_HVA), 0);
    hvrt_vm_destroy(vm);
    check_every_export_refuses(vm, HVRT_EBADF);
    hvrt_vm_destroy(vm);
    CHECK(1);
}

/* A VM is independent of others: destroying one leaves the other's slots. */
static void vms_are_independent(void)
{
    hvrt_vm *a = vm_new(NULL), *b = vm_new(NULL);
    struct slot_desc s = { SLOT(0, 0), 0, 0x10, 2, FX_HVA, 0 };
    CHECK_RC(set_v1(a, s.slot, 0, s.gfn * PAGE, s.npages * PAGE, s.hva), 0);
    CHECK(translates_to_nothing(b, 0, s.gfn));
    hvrt_vm_destroy(b);
    CHECK(translates_as(a, s.gfn + 1, &s, 2, NULL));
    hvrt_vm_destroy(a);
}

int main(void)
{
    CHECK_RC(hvrt_abi_version(), HVRT_ABI_VERSION);
    CHECK_RC(hvrt_version_number(), HVRT_VERSION_NUMBER);
    null_vm_is_efault();
    null_struct_is_efault();
    vm_create_null_out_is_efault();
    not_a_vm_is_ebadf();
    destroyed_vm_is_ebadf();
    vms_are_independent();
    return harness_finish();
}

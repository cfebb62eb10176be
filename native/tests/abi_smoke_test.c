/* Smoke test of the C ABI: version, create/destroy, one slot, one translation. */
#include <hvrt.h>
#include "harness.h"

int main(void)
{
    CHECK_RC(hvrt_abi_version(), HVRT_ABI_VERSION);
    CHECK_RC(hvrt_version_number(), HVRT_VERSION_NUMBER);
    hvrt_vm *vm = NULL;
    CHECK_RC(hvrt_vm_create(NULL, &vm), 0);
    struct kvm_userspace_memory_region r = { .slot = 3, .guest_phys_addr = 0x10000, .memory_size = 0x4000, .userspace_addr = 0x7f0000000000ull };
    CHECK_RC(hvrt_set_user_memory_region(vm, &r), 0);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0x11, &t), 0);
    CHECK_RC(t.hva, 0x7f0000001000ull);
    CHECK_RC(t.run_pages, 3);
    CHECK_RC(t.private_fd, -1);
    CHECK_RC(hvrt_translate(vm, 0, 0x14, &t), HVRT_ENOENT);
    hvrt_vm_destroy(vm);
    hvrt_vm_destroy(NULL);
    return harness_finish();
}

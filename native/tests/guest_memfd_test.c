/* region2's success path needs a real guest_memfd, which only /dev/kvm can make: this test
 * skips itself where there is none. Everything else private lives in private_fd_test.c. */
#include <errno.h>
#include <sys/ioctl.h>
#include "test_util.h"

static int kvm_vm_fd = -1;

/* A guest_memfd of `bytes`, or -1 when this host cannot make one. */
static int open_guest_memfd(uint64_t bytes)
{
    if (kvm_vm_fd < 0) {
        int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0)
            return -1;
        kvm_vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
        close(kvm);
        if (kvm_vm_fd < 0)
            return -1;
    }
    struct kvm_create_guest_memfd req = { .size = bytes };
    return ioctl(kvm_vm_fd, KVM_CREATE_GUEST_MEMFD, &req);
}

static void region2_private_slots(int gmem)
{
    hvrt_vm *vm = vm_new_gpa_bits(40);
    struct stat st;
    fstat(gmem, &st);
    uint32_t fd = (uint32_t)gmem;
    int baseline = count_open_fds();

    /* Pages 2-5 of the 16-page file; the caller's fd is not needed afterwards. */
    struct slot_desc a = { SLOT(0, 1), F_PRIV, 0x100, 4, FX_HVA, 2 };
    CHECK_RC(set_r2(vm, a.slot, F_PRIV, a.gfn * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), 0);
    CHECK_RC(count_open_fds(), baseline + 1);
    for (uint64_t g = a.gfn; g < a.gfn + a.npages; g++)
        CHECK(translates_as(vm, g, &a, 2, &st));
    CHECK(translates_to_nothing(vm, 0, a.gfn + a.npages));

    /* The bindings: pages 2-5 are taken, in either address space and through either entry. */
    CHECK_RC(set_r2(vm, SLOT(0, 2), F_PRIV, 0x200 * PAGE, PAGE, FX_HVA, fd, 5 * PAGE), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, SLOT(1, 2), F_PRIV, 0x200 * PAGE, 4 * PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    CHECK_RC(set_ext(vm, SLOT(0, 2), F_PRIV, 0x200 * PAGE, 2 * PAGE, FX_HVA, fd, PAGE), HVRT_EINVAL);
    struct slot_desc b = { SLOT(1, 2), F_PRIV, 0x100, 2, FX_HVA, 6 };
    CHECK_RC(set_r2(vm, b.slot, F_PRIV, b.gfn * PAGE, 2 * PAGE, FX_HVA, fd, 6 * PAGE), 0);
    CHECK(translates_as(vm, b.gfn + 1, &b, 3, &st));

    /* The end: offset + size up to the file's 16 pages, not past; a negative loff_t is refused. */
    CHECK_RC(set_r2(vm, SLOT(0, 3), F_PRIV, 0x300 * PAGE, 2 * PAGE, FX_HVA, fd, 15 * PAGE), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, SLOT(0, 3), F_PRIV, 0x300 * PAGE, PAGE, FX_HVA, fd, 16 * PAGE), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, SLOT(0, 3), F_PRIV, 0x300 * PAGE, PAGE, FX_HVA, fd, 1ull << 63), HVRT_EINVAL);
    struct slot_desc c = { SLOT(0, 3), F_PRIV, 0x300, 2, FX_HVA, 14 };
    CHECK_RC(set_r2(vm, c.slot, F_PRIV, c.gfn * PAGE, 2 * PAGE, FX_HVA, fd, 14 * PAGE), 0);
    CHECK(translates_as(vm, c.gfn + 1, &c, 4, &st));

    /* Immutable, even when identical; delete frees the pages (hvrt's fd stays for b and c). */
    CHECK_RC(set_r2(vm, a.slot, F_PRIV, a.gfn * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), HVRT_EINVAL);
    CHECK_RC(set_r2(vm, a.slot, F_PRIV, 0x500 * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), HVRT_EINVAL);
    CHECK_RC(set_v1(vm, a.slot, F_LOG, a.gfn * PAGE, 4 * PAGE, FX_HVA), HVRT_EINVAL);
    CHECK(translates_as(vm, a.gfn, &a, 4, &st));
    CHECK_RC(count_open_fds(), baseline + 1); /* one duplicate per file, shared by its slots */
    CHECK_RC(delete_slot(vm, a.slot), 0);
    CHECK_RC(count_open_fds(), baseline + 1);
    CHECK_RC(set_r2(vm, SLOT(0, 4), F_PRIV, 0x400 * PAGE, 4 * PAGE, FX_HVA, fd, 2 * PAGE), 0);
    hvrt_vm_destroy(vm);
    CHECK_RC(count_open_fds(), baseline);
}

/* ext takes a guest_memfd too (hvrt.h: "may be a guest_memfd, a memfd or any regular file"). */
static void ext_takes_a_guest_memfd(int gmem)
{
    hvrt_vm *vm = vm_new(NULL);
    struct stat st;
    fstat(gmem, &st);
    struct slot_desc s = { SLOT(0, 0), F_PRIV, 0, 16, FX_HVA, 0 };
    CHECK_RC(set_ext(vm, s.slot, F_PRIV, 0, 16 * PAGE, FX_HVA, (uint32_t)gmem, 0), 0);
    CHECK(translates_as(vm, 15, &s, 2, &st));
    hvrt_vm_destroy(vm);
}

int main(void)
{
    int gmem = open_guest_memfd(16 * PAGE);
    if (gmem < 0) {
        SKIP(errno == ENOENT || errno == EACCES ? "no /dev/kvm" : "no KVM_CREATE_GUEST_MEMFD");
        return harness_finish();
    }
    region2_private_slots(gmem);
    ext_takes_a_guest_memfd(gmem);
    close(gmem);
    close(kvm_vm_fd);
    return harness_finish();
}

/* kvm_diff_kvm.h — the kernel side of kvm_diff_test: /dev/kvm, VMs, guest_memfds and the two
 * memslot ioctls. Numbers are the uapi's (hvrt.h / kvm-abi.md §1), not Debian's older
 * <linux/kvm.h>. Every call reports failure as -errno. */
#ifndef KVM_DIFF_KVM_H
#define KVM_DIFF_KVM_H
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <hvrt.h>

#define KD_CREATE_VM 0xAE01ul
#define KD_CHECK_EXTENSION 0xAE03ul
#define KD_SET_REGION 0x4020AE46ul
#define KD_SET_REGION2 0x40A0AE49ul
#define KD_CREATE_GUEST_MEMFD 0xC040AED4ul
#define KD_CAP_MULTI_ADDRESS_SPACE 118
#define KD_CAP_GUEST_MEMFD 234
#define KD_CAP_GUEST_MEMFD_FLAGS 244

struct kd_create_gmem {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};
_Static_assert(sizeof(struct kd_create_gmem) == 64, "kvm_create_guest_memfd size");

/* ioctl returning its non-negative result, or -errno (EINTR retried). */
static long kd_ioctl(int fd, unsigned long req, unsigned long arg)
{
    long r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* KVM_CREATE_VM of the pass's type (kd_vm_type: 0 default, 1 SW_PROTECTED, ...). */
static uint32_t kd_vm_type;
static int kd_create_vm(int kvm_fd)
{
    return (int)kd_ioctl(kvm_fd, KD_CREATE_VM, (unsigned long)kd_vm_type);
}

/* KVM_CHECK_EXTENSION; a failing ioctl counts as "not supported" (0). */
static long kd_check_extension(int fd, long cap)
{
    long r = kd_ioctl(fd, KD_CHECK_EXTENSION, (unsigned long)cap);
    return r < 0 ? 0 : r;
}

static int kd_create_gmem(int vm_fd, uint64_t size, uint64_t flags)
{
    struct kd_create_gmem g = { .size = size, .flags = flags };
    return (int)kd_ioctl(vm_fd, KD_CREATE_GUEST_MEMFD, (unsigned long)&g);
}

/* KVM_SET_USER_MEMORY_REGION with the first 32 bytes of r. */
static int kd_set_region_v1(int vm_fd, const struct kvm_userspace_memory_region2 *r)
{
    struct kvm_userspace_memory_region v1;
    memcpy(&v1, r, sizeof v1);
    return (int)kd_ioctl(vm_fd, KD_SET_REGION, (unsigned long)&v1);
}

static int kd_set_region2(int vm_fd, const struct kvm_userspace_memory_region2 *r)
{
    struct kvm_userspace_memory_region2 copy = *r;
    return (int)kd_ioctl(vm_fd, KD_SET_REGION2, (unsigned long)&copy);
}
#endif

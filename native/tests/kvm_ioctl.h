/* Raw KVM ioctls for the tests that check KVM's own state behind hvrt's back (kvm_bind_test,
 * fault_injection_test): request numbers spelled out, since Debian 12's <linux/kvm.h> (6.1)
 * lacks region2, memory attributes and guest_memfd. */
#ifndef HVRT_TEST_KVM_IOCTL_H
#define HVRT_TEST_KVM_IOCTL_H
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define K_CREATE_VM 0xAE01ul
#define K_CHECK_EXTENSION 0xAE03ul
#define K_SET_REGION 0x4020AE46ul
#define K_SET_REGION2 0x40A0AE49ul
#define K_GET_DIRTY_LOG 0x4010AE42ul
#define K_SET_MEMORY_ATTRIBUTES 0x4020AED2ul
#define K_CREATE_GUEST_MEMFD 0xC040AED4ul

/* ioctl's result, or -errno. */
static inline long kio(int fd, unsigned long req, void *arg)
{
    long r = ioctl(fd, req, arg);
    return r < 0 ? -errno : r;
}

/* KVM_GET_DIRTY_LOG of a slot: 0 (it exists and logs), -ENOENT otherwise. */
static inline int kvm_dirty_log(int vm_fd, uint32_t slot)
{
    static uint64_t bitmap[64];
    struct {
        uint32_t slot, pad;
        uint64_t bitmap;
    } d = { slot, 0, (uint64_t)(uintptr_t)bitmap };
    return (int)kio(vm_fd, K_GET_DIRTY_LOG, &d);
}
#endif

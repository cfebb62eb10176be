/* A real KVM guest in a few calls, for tests, the benchmark and the example VMM: a VM fd (type
 * 0, or another with kvm_guest_open_type), one vCPU with its mapped struct kvm_run, memory slots
 * given to KVM, and a 16-bit real-mode start (cs base 0, rip at the code, rflags 2) with data
 * segments at chosen paragraphs. The caller gives the same slots to hvrt
 * (hvrt_set_user_memory_region or hvrt_kvm_bind). Static inline so it stays header-only. Every
 * function returns 0, or -1 with *why set. */
#ifndef HVRT_KVM_GUEST_H
#define HVRT_KVM_GUEST_H
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct kvm_guest {
    int kvm, vm, vcpu;
    struct kvm_run *run;
    size_t run_size;
};

static inline void kvm_guest_close(struct kvm_guest *g)
{
    if (g->run != NULL)
        munmap(g->run, g->run_size);
    if (g->vcpu >= 0)
        close(g->vcpu);
    if (g->vm >= 0)
        close(g->vm);
    if (g->kvm >= 0)
        close(g->kvm);
    g->run = NULL;
    g->vcpu = g->vm = g->kvm = -1;
}

/* /dev/kvm, KVM_CREATE_VM(vm_type), KVM_CREATE_VCPU(0), mmap of KVM_GET_VCPU_MMAP_SIZE bytes. */
static inline int kvm_guest_open_type(struct kvm_guest *g, unsigned long vm_type, const char **why)
{
    memset(g, 0, sizeof *g);
    g->kvm = g->vm = g->vcpu = -1;
    g->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (g->kvm < 0) {
        *why = "/dev/kvm cannot be opened";
        return -1;
    }
    g->vm = ioctl(g->kvm, KVM_CREATE_VM, vm_type);
    if (g->vm < 0) {
        *why = "KVM_CREATE_VM failed";
        goto fail;
    }
    g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
    if (g->vcpu < 0) {
        *why = "KVM_CREATE_VCPU failed";
        goto fail;
    }
    int size = ioctl(g->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof(struct kvm_run)) {
        *why = "KVM_GET_VCPU_MMAP_SIZE failed";
        goto fail;
    }
    g->run_size = (size_t)size;
    void *run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu, 0);
    if (run == MAP_FAILED) {
        *why = "mmap of the vCPU's kvm_run failed";
        goto fail;
    }
    g->run = run;
    return 0;
fail:
    kvm_guest_close(g);
    return -1;
}

/* kvm_guest_open_type with the default VM type (0). */
static inline int kvm_guest_open(struct kvm_guest *g, const char **why)
{
    return kvm_guest_open_type(g, 0, why);
}

/* KVM_SET_USER_MEMORY_REGION: the region as given (pass the same struct to hvrt). */
static inline int kvm_guest_set_region(struct kvm_guest *g, const struct kvm_userspace_memory_region *r,
                                       const char **why)
{
    if (ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, r) < 0) {
        *why = "KVM_SET_USER_MEMORY_REGION failed";
        return -1;
    }
    return 0;
}

static inline void kvm_guest_real_segment(struct kvm_segment *s, uint16_t paragraph)
{
    s->selector = paragraph;
    s->base = (uint64_t)paragraph << 4;
    s->limit = 0xffff;
}

/* Real mode at cs:ip = 0:rip; ds and ss at 0, es and fs at the paragraphs given (base = 16 *
 * paragraph, as real mode computes it). */
static inline int kvm_guest_real_mode(struct kvm_guest *g, uint64_t rip, uint16_t es, uint16_t fs,
                                      const char **why)
{
    struct kvm_sregs sregs;
    if (ioctl(g->vcpu, KVM_GET_SREGS, &sregs) < 0) {
        *why = "KVM_GET_SREGS failed";
        return -1;
    }
    kvm_guest_real_segment(&sregs.cs, 0);
    kvm_guest_real_segment(&sregs.ds, 0);
    kvm_guest_real_segment(&sregs.ss, 0);
    kvm_guest_real_segment(&sregs.es, es);
    kvm_guest_real_segment(&sregs.fs, fs);
    if (ioctl(g->vcpu, KVM_SET_SREGS, &sregs) < 0) {
        *why = "KVM_SET_SREGS failed";
        return -1;
    }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = rip;
    regs.rflags = 2; /* bit 1 is reserved and must be set */
    regs.rsp = 0xf000;
    if (ioctl(g->vcpu, KVM_SET_REGS, &regs) < 0) {
        *why = "KVM_SET_REGS failed";
        return -1;
    }
    return 0;
}
#endif

/* What the running kernel's KVM answers: KVM_CHECK_EXTENSION for the capabilities hvrt cares
 * about, on /dev/kvm and on a VM of each x86 type, and whether a guest_memfd can be made there.
 * The lab (scripts/kvm_lab.sh) runs it in each guest kernel; native/tests/lab/caps-KERNEL.txt
 * keeps each kernel's answers for the team.
 *
 *   kvm_probe [--expect-vm-type N]...   exit 0; 1 if a check failed (type N missing from
 *                                       KVM_CAP_VM_TYPES or KVM_CREATE_VM(N) refused); 77 without KVM
 *
 * Self-contained on purpose (no project header): it describes the kernel, not hvrt, and the
 * constants newer than Debian 12's <linux/kvm.h> (6.1) are spelled out with their uapi values
 * (checked against /work/shared/docs/kvm-abi.md, "Capability number cheat-sheet"). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#define KVMIO 0xAE
#define P_KVM_GET_API_VERSION _IO(KVMIO, 0x00)
#define P_KVM_CREATE_VM _IO(KVMIO, 0x01)
#define P_KVM_CHECK_EXTENSION _IO(KVMIO, 0x03)
#define P_KVM_CREATE_GUEST_MEMFD 0xC040AED4u /* _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd) */

struct p_create_guest_memfd {
    uint64_t size, flags, reserved[6];
};

static const struct {
    int nr;
    const char *name;
} caps[] = {
    {3, "USER_MEMORY"},
    {10, "NR_MEMSLOTS"},
    {81, "READONLY_MEM"},
    {118, "MULTI_ADDRESS_SPACE"},
    {168, "MANUAL_DIRTY_LOG_PROTECT2"},
    {201, "EXIT_HYPERCALL"},
    {231, "USER_MEMORY2"},
    {232, "MEMORY_FAULT_INFO"},
    {233, "MEMORY_ATTRIBUTES"},
    {234, "GUEST_MEMFD"},
    {235, "VM_TYPES"},
    {244, "GUEST_MEMFD_FLAGS"},
};
static const char *const vm_type_names[] = {"DEFAULT", "SW_PROTECTED", "SEV", "SEV_ES", "SNP", "TDX"};
#define NTYPES (int)(sizeof vm_type_names / sizeof vm_type_names[0])

static int passed, failed;

/* An ioctl's answer as the kernel gave it: the value, or -errno. */
static long answer(int fd, unsigned long req, unsigned long arg)
{
    long r = ioctl(fd, req, arg);
    return r < 0 ? -errno : r;
}

static const char *errname(long e)
{
    switch (-e) {
    case EINVAL: return "-EINVAL";
    case ENOTTY: return "-ENOTTY";
    case ENOSYS: return "-ENOSYS";
    case EPERM: return "-EPERM";
    case ENOMEM: return "-ENOMEM";
    case EBADF: return "-EBADF";
    default: return NULL;
    }
}

static void print_answer(long v)
{
    const char *n = v < 0 ? errname(v) : NULL;
    if (n)
        printf("%s\n", n);
    else
        printf("%ld\n", v);
}

static void print_caps(int fd, const char *indent)
{
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        printf("%s%-26s (%3d): ", indent, caps[i].name, caps[i].nr);
        print_answer(answer(fd, P_KVM_CHECK_EXTENSION, (unsigned long)caps[i].nr));
    }
}

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s\n", what);
    }
}

int main(int argc, char **argv)
{
    unsigned expect = 0; /* bit n: --expect-vm-type n */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect-vm-type") == 0 && i + 1 < argc) {
            int t = atoi(argv[++i]);
            if (t >= 0 && t < 32)
                expect |= 1u << t;
        } else {
            fprintf(stderr, "usage: kvm_probe [--expect-vm-type N]...\n");
            return 2;
        }
    }

    struct utsname u;
    uname(&u);
    printf("kernel: %s\n", u.release);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("/dev/kvm: %s\nhvrt-c: 0 passed, 0 failed, 1 skipped\n", strerror(errno));
        return 77;
    }
    printf("KVM_GET_API_VERSION: %ld\n", answer(kvm, P_KVM_GET_API_VERSION, 0));
    printf("/dev/kvm KVM_CHECK_EXTENSION:\n");
    print_caps(kvm, "  ");

    long types = answer(kvm, P_KVM_CHECK_EXTENSION, 235);
    unsigned bits = types > 0 ? (unsigned)types : 1u; /* no VM_TYPES: only the default type exists */
    for (int t = 0; t < NTYPES; t++) {
        if (!(bits & (1u << t)) && !(expect & (1u << t)) && t > 1)
            continue; /* types 0 and 1 are always tried, the others when announced */
        long vm = answer(kvm, P_KVM_CREATE_VM, (unsigned long)t);
        printf("VM type %d (%s): KVM_CREATE_VM ", t, vm_type_names[t]);
        if (vm < 0) {
            print_answer(vm);
        } else {
            printf("ok\n");
            print_caps((int)vm, "  ");
            struct p_create_guest_memfd g = {.size = 2u << 20};
            long gfd = answer((int)vm, P_KVM_CREATE_GUEST_MEMFD, (unsigned long)&g);
            printf("  KVM_CREATE_GUEST_MEMFD (2 MiB): %s\n", gfd >= 0 ? "fd" : errname(gfd) ? errname(gfd) : "error");
            if (gfd >= 0)
                close((int)gfd);
            close((int)vm);
        }
        if (t == 0)
            check(vm >= 0, "KVM_CREATE_VM(0)");
        if (expect & (1u << t)) {
            char what[96];
            snprintf(what, sizeof what, "VM type %d in KVM_CAP_VM_TYPES (%ld)", t, types);
            check(types > 0 && (types & (1l << t)), what);
            snprintf(what, sizeof what, "KVM_CREATE_VM(%d)", t);
            check(vm >= 0, what);
        }
    }
    close(kvm);
    printf("hvrt-c: %d passed, %d failed, 0 skipped\n", passed, failed);
    return failed ? 1 : 0;
}

/* vmm: a small VMM that runs a real guest through hvrt.
 *
 *   1. opens /dev/kvm, creates a KVM VM and an hvrt VM, and binds them (hvrt_kvm_bind): from
 *      then on every slot change goes to KVM first, then to hvrt;
 *   2. backs the guest's code with a guest_memfd created through hvrt (mmap-able and shared
 *      where this KVM offers GUEST_MEMFD_FLAG_MMAP | _INIT_SHARED, anonymous memory otherwise)
 *      and its data with anonymous memory that logs dirty pages;
 *   3. loads a real-mode program that writes three data pages, stores to an address in no slot
 *      (an MMIO exit) and halts; runs it with hvrt handling the exits;
 *   4. prints the dirty pages hvrt harvested from KVM (saying so when this host's KVM tracks
 *      none) merged with a page the VMM marked itself (a "device" write);
 *   5. simulates the conversion exits a confidential guest makes (KVM_EXIT_MEMORY_FAULT and
 *      KVM_HC_MAP_GPA_RANGE), on a software-protected hvrt VM whose private half is a memfd,
 *      and shows the discarded memory.
 * Without /dev/kvm it says so and runs step 5 alone. Exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <hvrt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE UINT64_C(4096)
#define CODE_GPA UINT64_C(0x0)       /* slot 0: code, 64 KiB, guest_memfd (or anonymous) */
#define DATA_GPA UINT64_C(0x10000)   /* slot 1: data, 64 KiB, anonymous, logs dirty pages */
#define SLOT_BYTES UINT64_C(0x10000)
#define MMIO_GPA UINT64_C(0x20010)   /* in no slot: a device register */
#define ENTRY UINT64_C(0x1000)

static int failures;

#define STEP(...) (printf("\n== " __VA_ARGS__), printf("\n"))
#define SAY(...) (printf("   " __VA_ARGS__), printf("\n"))
#define MUST(expr)                                                                             \
    do {                                                                                       \
        long rc_ = (long)(expr);                                                               \
        if (rc_ < 0) {                                                                         \
            printf("   FAILED: %s -> %ld (%s)\n", #expr, rc_, hvrt_strerror((int)rc_));         \
            failures++;                                                                        \
            return -1;                                                                         \
        }                                                                                      \
    } while (0)

/* The guest, 16-bit real mode, loaded at ENTRY:
 *   mov ax, 0x1000 ; mov es, ax          es base = DATA_GPA
 *   mov byte [es:0x0000], 0x11           data page 0
 *   mov byte [es:0x3000], 0x22           data page 3
 *   mov byte [es:0x5000], 0x33           data page 5
 *   mov ax, 0x2000 ; mov es, ax          es base = 0x20000
 *   mov byte [es:0x0010], 0x42           MMIO_GPA: in no slot, KVM_EXIT_MMIO
 *   hlt */
static const uint8_t guest_code[] = {
    0xB8, 0x00, 0x10, 0x8E, 0xC0,
    0x26, 0xC6, 0x06, 0x00, 0x00, 0x11,
    0x26, 0xC6, 0x06, 0x00, 0x30, 0x22,
    0x26, 0xC6, 0x06, 0x00, 0x50, 0x33,
    0xB8, 0x00, 0x20, 0x8E, 0xC0,
    0x26, 0xC6, 0x06, 0x10, 0x00, 0x42,
    0xF4,
};

static int set_real_mode(int vcpu)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        return -errno;
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = ENTRY;
    regs.rflags = 2;
    return ioctl(vcpu, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

static const char *mmio_class_name(uint32_t c)
{
    switch (c) {
    case HVRT_MMIO_DEVICE: return "device MMIO (gpa in no slot)";
    case HVRT_MMIO_READONLY_WRITE: return "write to a read-only slot";
    case HVRT_MMIO_PRIVATE: return "private gpa";
    case HVRT_MMIO_IN_SLOT: return "inside a writable slot";
    default: return "?";
    }
}

/* Runs the vCPU until it halts: hvrt handles memory exits, the VMM "emulates" the device. */
static int run_guest(hvrt_vcpu *vcpu, int vcpu_fd, struct kvm_run *run)
{
    for (int exits = 0; exits < 16; exits++) {
        /* The loop hvrt_vcpu_run does, spelled out: the reader is offline while the guest runs. */
        MUST(hvrt_vcpu_enter(vcpu));
        int r = ioctl(vcpu_fd, KVM_RUN, 0);
        int e = r < 0 ? errno : 0;
        MUST(hvrt_vcpu_exit(vcpu));
        int h = hvrt_vcpu_handle_exit(vcpu, r, e);
        MUST(h);
        if (h == HVRT_EXIT_RESUME) {
            SAY("exit handled by hvrt, resuming");
            continue;
        }
        struct hvrt_exit_info info;
        MUST(hvrt_vcpu_exit_info(vcpu, &info));
        if (info.kind == HVRT_EXIT_MMIO) {
            SAY("MMIO %s of %" PRIu64 " byte(s) at gpa 0x%" PRIx64 ": %s; data 0x%02x (the VMM's device model would take it)",
                info.is_write ? "write" : "read", info.size, info.gpa, mmio_class_name(info.mmio_class), run->mmio.data[0]);
            if (info.mmio_class != HVRT_MMIO_DEVICE || info.gpa != MMIO_GPA || !info.is_write) {
                SAY("FAILED: expected a 1-byte device write at 0x%" PRIx64, MMIO_GPA);
                failures++;
            }
            continue;
        }
        if (run->exit_reason == KVM_EXIT_HLT) {
            SAY("guest halted (KVM_EXIT_HLT, not about memory: hvrt left it to the VMM)");
            return 0;
        }
        SAY("FAILED: unexpected exit reason %u", run->exit_reason);
        failures++;
        return -1;
    }
    SAY("FAILED: the guest did not halt");
    failures++;
    return -1;
}

static void print_dirty(const uint64_t *bitmap, uint64_t npages, uint64_t base_gpa)
{
    int any = 0;
    for (uint64_t i = hvrt_bitmap_next_set(bitmap, npages, 0); i < npages; i = hvrt_bitmap_next_set(bitmap, npages, i + 1)) {
        SAY("dirty: page %" PRIu64 " (gpa 0x%" PRIx64 ")", i, base_gpa + i * PAGE);
        any = 1;
    }
    if (!any)
        SAY("no dirty pages");
}

/* A slot through KVM_SET_USER_MEMORY_REGION2 where the kernel has it, else through v1 (the first
 * 32 bytes: a guest_memfd slot needs REGION2, so only shared slots come here on such a kernel). */
static int set_region(hvrt_vm *vm, const struct kvm_userspace_memory_region2 *r, bool region2)
{
    if (region2)
        return hvrt_set_user_memory_region2(vm, r);
    struct kvm_userspace_memory_region v1;
    memcpy(&v1, r, sizeof v1);
    return hvrt_set_user_memory_region(vm, &v1);
}

static int real_guest(int kvm)
{
    int nr_as = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
    STEP("1. KVM VM + hvrt VM, bound");
    int vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vmfd < 0) {
        SAY("KVM_CREATE_VM failed (%s): skipping the real guest", strerror(errno));
        return 0;
    }
    struct hvrt_vm_config cfg = { .size = sizeof cfg, .vm_type = HVRT_VM_TYPE_DEFAULT,
                                  .nr_address_spaces = nr_as > 1 ? (uint32_t)nr_as : 1 };
    hvrt_vm *vm;
    MUST(hvrt_vm_create(&cfg, &vm));
    MUST(hvrt_kvm_bind(vm, vmfd, 0));
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    MUST(hvrt_kvm_caps(vm, &caps));
    SAY("bound: region2 %s, guest_memfd %s (flags offered 0x%" PRIx64 "), memory attributes %s, %u memslots",
        caps.flags & HVRT_KVM_USER_MEMORY2 ? "yes" : "no", caps.flags & HVRT_KVM_GUEST_MEMFD ? "yes" : "no",
        caps.guest_memfd_flags, caps.flags & HVRT_KVM_MEMORY_ATTRIBUTES ? "yes" : "no (kept in hvrt alone)",
        caps.nr_memslots);

    /* A kernel without KVM_SET_USER_MEMORY_REGION2 (6.1) takes shared slots through v1. */
    const bool region2 = (caps.flags & HVRT_KVM_USER_MEMORY2) != 0;

    STEP("2. guest memory");
    void *code = NULL;
    int gmem = hvrt_create_guest_memfd(vm, SLOT_BYTES, HVRT_GMEM_SHARED_IF_SUPPORTED, &code);
    struct kvm_userspace_memory_region2 r0 = { .slot = 0, .guest_phys_addr = CODE_GPA, .memory_size = SLOT_BYTES };
    if (gmem >= 0 && code != NULL) {
        SAY("code slot 0: guest_memfd %d (MMAP | INIT_SHARED), its shared half mapped at %p", gmem, code);
        r0.flags = KVM_MEM_GUEST_MEMFD;
        r0.guest_memfd = (uint32_t)gmem;
        r0.guest_memfd_offset = 0;
    } else {
        SAY("code slot 0: anonymous memory (guest_memfd %s)", gmem >= 0 ? "not mmap-able here" : hvrt_strerror(gmem));
        if (gmem >= 0)
            close(gmem);
        gmem = -1;
        code = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (code == MAP_FAILED)
            return -1;
    }
    r0.userspace_addr = (uint64_t)(uintptr_t)code;
    memcpy((uint8_t *)code + ENTRY, guest_code, sizeof guest_code);
    MUST(set_region(vm, &r0, region2));

    uint8_t *data = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return -1;
    struct kvm_userspace_memory_region2 r1 = { .slot = 1, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = DATA_GPA,
                                               .memory_size = SLOT_BYTES, .userspace_addr = (uint64_t)(uintptr_t)data };
    MUST(set_region(vm, &r1, region2));
    SAY("data slot 1: anonymous memory at gpa 0x%" PRIx64 ", logging dirty pages", DATA_GPA);
    struct kvm_userspace_memory_region2 clash = r1;
    clash.slot = 2;
    int rc = set_region(vm, &clash, region2);
    SAY("a slot overlapping slot 1: %d (-%s, KVM's answer: it was asked first)", rc, hvrt_errname(rc));

    STEP("3. run the guest");
    int vcpu_fd = ioctl(vmfd, KVM_CREATE_VCPU, 0);
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vcpu_fd < 0 || mmap_size <= 0)
        return -1;
    struct kvm_run *run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (run == MAP_FAILED)
        return -1;
    MUST(set_real_mode(vcpu_fd));
    hvrt_vcpu *vcpu;
    MUST(hvrt_vcpu_create(vm, vcpu_fd, run, &vcpu));
    if (run_guest(vcpu, vcpu_fd, run) == 0)
        SAY("guest wrote data pages: 0x%02x 0x%02x 0x%02x (read back through the slot's host memory)",
            data[0], data[0x3000], data[0x5000]);
    if (data[0] != 0x11 || data[0x3000] != 0x22 || data[0x5000] != 0x33) {
        SAY("FAILED: the guest's writes are not in the data slot");
        failures++;
    }

    STEP("4. dirty pages of slot 1");
    uint64_t bitmap[(SLOT_BYTES / PAGE + 63) / 64];
    MUST(hvrt_dirty_log_get(vm, 1, bitmap));
    uint64_t npages = SLOT_BYTES / PAGE;
    int kvm_tracks = hvrt_bitmap_next_set(bitmap, npages, 0) < npages;
    if (kvm_tracks) {
        SAY("harvested from KVM_GET_DIRTY_LOG:");
        print_dirty(bitmap, npages, DATA_GPA);
    } else {
        SAY("KVM_GET_DIRTY_LOG reported no pages: this host's KVM does not track guest writes (nested)");
    }
    MUST(hvrt_mark_dirty(vm, DATA_GPA + 7 * PAGE, 100));
    SAY("the VMM wrote page 7 itself (a device's DMA) and marked it with hvrt_mark_dirty");
    MUST(hvrt_dirty_log_get(vm, 1, bitmap));
    print_dirty(bitmap, npages, DATA_GPA);
    MUST(hvrt_dirty_log_get(vm, 1, bitmap));
    SAY("a second get (the first one cleared what it returned):");
    print_dirty(bitmap, npages, DATA_GPA);

    hvrt_vcpu_destroy(vcpu);
    munmap(run, (size_t)mmap_size);
    close(vcpu_fd);
    hvrt_vm_destroy(vm);
    close(vmfd);
    if (gmem >= 0)
        close(gmem);
    munmap(code, SLOT_BYTES);
    munmap(data, SLOT_BYTES);
    return 0;
}

static uint64_t blocks(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_blocks : 0;
}

static void print_attrs(hvrt_vm *vm, uint64_t gpa, uint64_t size)
{
    uint64_t end = (gpa + size) / PAGE;
    for (uint64_t g = gpa / PAGE, run_end, attrs; g < end; g = run_end) {
        if (hvrt_attributes_run(vm, g, end, &run_end, &attrs) < 0)
            return;
        SAY("  gfns [0x%" PRIx64 ", 0x%" PRIx64 "): %s", g, run_end, attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE ? "private" : "shared");
    }
}

static void on_conversion(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    (void)ctx;
    SAY("listener: [0x%" PRIx64 ", 0x%" PRIx64 ") is now %s", gpa, gpa + size, to_private ? "private" : "shared");
}

/* Step 5: a confidential guest's conversion exits, built by hand in a struct kvm_run. */
static int simulated_conversions(void)
{
    STEP("5. conversion exits (simulated: this host's KVM has no private memory for its VMs)");
    /* hvrt's own model of the newest kernel (kvm_profile 0 would follow this host's KVM, which
     * may offer no SW_PROTECTED VM): the exits are built by hand, so no KVM needs to take them. */
    struct hvrt_vm_config cfg = { .size = sizeof cfg, .vm_type = HVRT_VM_TYPE_SW_PROTECTED,
                                  .kvm_profile = HVRT_KVM_PROFILE_NEWEST };
    hvrt_vm *vm;
    MUST(hvrt_vm_create(&cfg, &vm));
    const uint64_t size = 4ull << 20; /* 4 MiB: two 2 MiB frames */
    int priv = memfd_create("vmm-private", MFD_CLOEXEC);
    if (priv < 0 || ftruncate(priv, (off_t)size) < 0)
        return -1;
    /* 2 MiB-aligned host memory, so a uniform 2 MiB frame can be mapped as a huge page. */
    uint8_t *area = mmap(NULL, size + (2u << 20), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return -1;
    uint8_t *shared = (uint8_t *)(((uintptr_t)area + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
    struct kvm_userspace_memory_region_ext ext = {
        .region = { .slot = 0, .flags = KVM_MEM_PRIVATE, .guest_phys_addr = 0x200000, .memory_size = size,
                    .userspace_addr = (uint64_t)(uintptr_t)shared },
        .private_offset = 0, .private_fd = (uint32_t)priv };
    MUST(hvrt_set_user_memory_region_ext(vm, &ext));
    MUST(hvrt_add_conversion_listener(vm, on_conversion, NULL));
    SAY("slot 0: gpa 0x200000, 4 MiB, shared half anonymous, private half a memfd (the 2022 _ext layout)");

    /* The private side holds data (as if the guest had used it privately). */
    if (fallocate(priv, 0, 0, (off_t)size) < 0)
        return -1;
    memset(shared, 0xAB, size);
    SAY("memfd: %" PRIu64 " KiB allocated; shared pages filled with 0xAB", blocks(priv) / 2);

    struct kvm_run run;
    memset(&run, 0, sizeof run);
    hvrt_vcpu *vcpu;
    MUST(hvrt_vcpu_create(vm, -1, &run, &vcpu));

    /* A private access to a shared gfn: KVM_RUN returns -1/EFAULT with a memory fault. */
    run.exit_reason = KVM_EXIT_MEMORY_FAULT;
    HVRT_KVM_MEMORY_FAULT(&run)->flags = KVM_MEMORY_EXIT_FLAG_PRIVATE; /* run.memory_fault where <linux/kvm.h> has it */
    HVRT_KVM_MEMORY_FAULT(&run)->gpa = 0x200000;
    HVRT_KVM_MEMORY_FAULT(&run)->size = 2ull << 20;
    int h = hvrt_vcpu_handle_exit(vcpu, -1, EFAULT);
    SAY("KVM_EXIT_MEMORY_FAULT, private, [0x200000, +2 MiB): %s", h == HVRT_EXIT_RESUME ? "converted, resume" : hvrt_strerror(h));
    MUST(h);
    SAY("shared page at 0x200000 reads 0x%02x after the conversion to private (its shared copy was dropped)",
        ((uint8_t *)shared)[0]);
    h = hvrt_vcpu_handle_exit(vcpu, -1, EFAULT);
    SAY("the same fault again: %d (%s): KVM would loop forever, so it is an error", h, hvrt_errname(h));

    /* The guest asks for the first 1 MiB back as shared: KVM_HC_MAP_GPA_RANGE. */
    memset(&run, 0, sizeof run);
    run.exit_reason = KVM_EXIT_HYPERCALL;
    run.hypercall.nr = KVM_HC_MAP_GPA_RANGE;
    run.hypercall.args[0] = 0x200000;
    run.hypercall.args[1] = 256; /* pages */
    run.hypercall.args[2] = 0;   /* 4 KiB pages, decrypted (shared) */
    uint64_t before = blocks(priv);
    h = hvrt_vcpu_handle_exit(vcpu, 0, 0);
    MUST(h);
    SAY("KVM_HC_MAP_GPA_RANGE to shared, [0x200000, +1 MiB): %s, hypercall.ret %" PRId64,
        h == HVRT_EXIT_RESUME ? "converted, resume" : "?", (int64_t)run.hypercall.ret);
    SAY("memfd: %" PRIu64 " -> %" PRIu64 " KiB allocated (the private copy of that 1 MiB was punched out)",
        before / 2, blocks(priv) / 2);
    if (blocks(priv) >= before) {
        SAY("FAILED: the private side was not discarded");
        failures++;
    }
    run.hypercall.args[2] = 1ull << 5; /* a reserved bit: the guest gets -KVM_EINVAL */
    h = hvrt_vcpu_handle_exit(vcpu, 0, 0);
    SAY("the same hypercall with a reserved attribute bit: hypercall.ret %" PRId64 " (guest-visible -EINVAL)",
        (int64_t)run.hypercall.ret);
    SAY("attributes now:");
    print_attrs(vm, 0x200000, size);
    SAY("max mapping level of gpa 0x200000: %d (its 2 MiB frame is mixed), of 0x400000: %d (uniform) (1 = 4 KiB, 2 = 2 MiB)",
        hvrt_max_mapping_level(vm, 0, 0x200), hvrt_max_mapping_level(vm, 0, 0x400));

    hvrt_vcpu_destroy(vcpu);
    hvrt_vm_destroy(vm);
    munmap(area, size + (2u << 20));
    close(priv);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (hvrt_abi_version() != HVRT_ABI_VERSION) {
        fprintf(stderr, "libhvrt ABI %u, header %u\n", hvrt_abi_version(), HVRT_ABI_VERSION);
        return 1;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("/dev/kvm: %s: no real guest on this machine, only the simulated part\n", strerror(errno));
    } else {
        real_guest(kvm);
        close(kvm);
    }
    simulated_conversions();
    printf("\n%s\n", failures ? "vmm: FAILED" : "vmm: done");
    return failures ? 1 : 0;
}

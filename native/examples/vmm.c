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
 *   5. the conversion exits a confidential guest makes (KVM_HC_MAP_GPA_RANGE and
 *      KVM_EXIT_MEMORY_FAULT), handled by hvrt: where /dev/kvm offers KVM_X86_SW_PROTECTED_VM
 *      (VM type 1), a second real guest converts a guest_memfd page private and back and
 *      reports what it reads after each conversion, and touches a private page with no private
 *      memory behind it; elsewhere the same exits are simulated, built by hand in a struct
 *      kvm_run, on a software-protected hvrt VM whose private half is a memfd.
 * Without /dev/kvm it says so and runs the simulated step 5 alone. Exits 0 on success, 1 on any
 * wrong answer.
 */
#include <cpuid.h>
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

/* Step 5 with a real confidential guest, where this KVM offers KVM_X86_SW_PROTECTED_VM (VM type 1:
 * KVM_CAP_VM_TYPES bit 1). Such a VM has private memory (a guest_memfd, which the host cannot
 * read) and shared memory (the slot's userspace_addr), chosen page by page by the memory
 * attributes. The guest asks for conversions with KVM_HC_MAP_GPA_RANGE; KVM forwards them to the
 * VMM (HVRT_BIND_EXIT_HYPERCALL enables that) and hvrt_vcpu_handle_exit carries them out. */
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235 /* (6.8; older <linux/kvm.h> lack the name) */
#endif

#define CV_CODE_GPA UINT64_C(0x0)      /* slot 0: 64 KiB shared only (anonymous): the code at ENTRY */
#define CV_GMEM_GPA UINT64_C(0x20000)  /* slot 1: 2 pages, a guest_memfd + an anonymous shared side (es) */
#define CV_PLAIN_GPA UINT64_C(0x30000) /* slot 2: 1 page, shared only (no guest_memfd) (fs) */
#define CV_PORT 0x10                   /* the guest reports what it read with `out 0x10, eax` */

#define H1 0x11111111u /* the host's data on slot 1's shared side, before any conversion */
#define G1 0x22222222u /* the guest's private data, slot 1 page 0 */
#define H2 0x33333333u /* the host's data on page 0's shared side once it is shared again */
#define G2 0x44444444u /* the guest's private data, slot 1 page 1 (never converted back) */
#define H3 0x55555555u /* the host's data in slot 2 */

/* Real-mode encodings (16-bit code; 0x66 makes an operand 32 bits, 0x26/0x64 select es/fs). */
#define B4(v) (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)
#define MOV_EAX(v) 0x66, 0xB8, B4(v)
#define MOV_EBX(v) 0x66, 0xBB, B4(v)
#define MOV_ECX(v) 0x66, 0xB9, B4(v)
#define MOV_EDX(v) 0x66, 0xBA, B4(v)
#define VMMCALL 0x0F, 0x01, 0xD9 /* AMD's; made Intel's vmcall (0F 01 C1) at load time */
#define REPORT 0x66, 0xE7, CV_PORT /* out 0x10, eax */
#define READ_ES(off) 0x26, 0x66, 0xA1, (uint8_t)(off), (uint8_t)((off) >> 8) /* mov eax, es:[off] */
#define WRITE_ES(off, v) 0x26, 0x66, 0xC7, 0x06, (uint8_t)(off), (uint8_t)((off) >> 8), B4(v)
#define READ_FS(off) 0x64, 0x66, 0xA1, (uint8_t)(off), (uint8_t)((off) >> 8) /* mov eax, fs:[off] */
/* KVM's hypercall ABI (as Linux guests call it): rax = nr, rbx = gpa, rcx = pages, rdx =
 * attributes; the result comes back in rax, which the guest reports. */
#define MAP_GPA_RANGE(gpa, pages, attrs) \
    MOV_EAX(KVM_HC_MAP_GPA_RANGE), MOV_EBX(gpa), MOV_ECX(pages), MOV_EDX(attrs), VMMCALL, REPORT

/* The guest. Each REPORT is one KVM_EXIT_IO the VMM checks, in this order. */
static const uint8_t conv_code[] = {
    0xB8, 0x00, 0x20, 0x8E, 0xC0,                         /* mov ax, 0x2000; mov es, ax: slot 1 */
    0xB8, 0x00, 0x30, 0x8E, 0xE0,                         /* mov ax, 0x3000; mov fs, ax: slot 2 */
    READ_ES(0), REPORT,                                   /* shared: H1 */
    MAP_GPA_RANGE(CV_GMEM_GPA, 2, KVM_MAP_GPA_RANGE_ENCRYPTED), /* both pages private; ret 0 */
    READ_ES(0), REPORT,                                   /* a fresh private page: 0 */
    WRITE_ES(0, G1), WRITE_ES(0x1000, G2),                /* private data on both pages */
    READ_ES(0), REPORT,                                   /* G1 */
    MAP_GPA_RANGE(CV_GMEM_GPA, 1, KVM_MAP_GPA_RANGE_DECRYPTED), /* page 0 shared; ret 0 */
    READ_ES(0), REPORT,                                   /* the host's H2, not G1 */
    MAP_GPA_RANGE(CV_GMEM_GPA, 1, KVM_MAP_GPA_RANGE_ENCRYPTED), /* page 0 private again; ret 0 */
    READ_ES(0), REPORT,                                   /* 0: hvrt punched G1 out of the guest_memfd */
    READ_ES(0x1000), REPORT,                              /* G2: page 1 was never converted */
    MAP_GPA_RANGE(CV_GMEM_GPA, 1, 0x100),                 /* a reserved attribute bit: -KVM_EINVAL */
    READ_FS(0), REPORT,                                   /* private, no private memory: a fault; then H3 */
    0xF4,                                                 /* hlt */
};

/* Whether /dev/kvm creates KVM_X86_SW_PROTECTED_VM VMs (type 1). */
static bool sw_protected_offered(int kvm)
{
    int types = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
    return types > 0 && (types & (1 << HVRT_VM_TYPE_SW_PROTECTED));
}

/* vmmcall is AMD's hypercall instruction, vmcall Intel's (the other one raises #UD, which KVM
 * would fix by patching the guest's code; the VMM picks the right one instead). */
static bool cpu_is_amd(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return false;
    return (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) || /* AuthenticAMD */
           (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975);   /* HygonGenuine */
}

/* The conversion guest's vCPU: one KVM_RUN, then hvrt_vcpu_handle_exit, as in run_guest. */
struct conv_vcpu {
    int fd;
    struct kvm_run *run;
    hvrt_vm *vm;
    hvrt_vcpu *vcpu;
    struct hvrt_exit_info info; /* the last exit, as hvrt decoded it */
};

static int conv_run(struct conv_vcpu *c)
{
    hvrt_vcpu_enter(c->vcpu);
    int r = ioctl(c->fd, KVM_RUN, 0);
    int e = r < 0 ? errno : 0;
    hvrt_vcpu_exit(c->vcpu);
    int h = hvrt_vcpu_handle_exit(c->vcpu, r, e);
    memset(&c->info, 0, sizeof c->info);
    hvrt_vcpu_exit_info(c->vcpu, &c->info);
    return h;
}

/* A wrong answer fails the example, and ends step 5: the guest's next exits would not be the
 * ones expected. */
#define EXPECT(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            SAY("FAILED: " __VA_ARGS__);                                                       \
            failures++;                                                                        \
            return -1;                                                                         \
        }                                                                                      \
    } while (0)

static bool is_private(hvrt_vm *vm, uint64_t gpa)
{
    uint64_t attrs = 0;
    return hvrt_get_memory_attributes(vm, gpa / PAGE, &attrs) == 0 && (attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE);
}

/* The next exit is the guest's REPORT (KVM_EXIT_IO, not hvrt's: UNHANDLED), of want. */
static int conv_report(struct conv_vcpu *c, uint32_t want, const char *what)
{
    int h = conv_run(c);
    struct kvm_run *run = c->run;
    EXPECT(h == HVRT_EXIT_UNHANDLED && run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
               run->io.port == CV_PORT && run->io.size == 4,
           "want the guest's report (%s), got handle_exit %d, exit_reason %u, hvrt kind %u", what, h,
           run->exit_reason, c->info.kind);
    uint32_t got;
    memcpy(&got, (uint8_t *)run + run->io.data_offset, sizeof got);
    SAY("guest reads 0x%08x: %s", got, what);
    EXPECT(got == want, "want 0x%08x", want);
    return 0;
}

/* The next exit is the guest's KVM_HC_MAP_GPA_RANGE, which hvrt converts (the listener prints
 * it) and answers (hypercall.ret 0) before the VMM resumes. */
static int conv_map(struct conv_vcpu *c, uint64_t gpa, uint64_t pages, int to_private)
{
    int h = conv_run(c);
    EXPECT(h == HVRT_EXIT_RESUME && c->info.kind == HVRT_EXIT_MAP_GPA_RANGE,
           "want KVM_HC_MAP_GPA_RANGE, got handle_exit %d, exit_reason %u, hvrt kind %u", h, c->run->exit_reason,
           c->info.kind);
    SAY("KVM_HC_MAP_GPA_RANGE [0x%" PRIx64 ", +%" PRIu64 " KiB) to %s: hvrt converted, hypercall.ret %" PRId64, c->info.gpa,
        c->info.size / 1024, c->info.to_private ? "private" : "shared", (int64_t)c->run->hypercall.ret);
    EXPECT(c->info.gpa == gpa && c->info.size == pages * PAGE && c->info.to_private == (uint32_t)to_private &&
               c->info.result == 0 && c->run->hypercall.ret == 0,
           "want [0x%" PRIx64 ", +%" PRIu64 " pages) to %s, ret 0", gpa, pages, to_private ? "private" : "shared");
    for (uint64_t p = 0; p < pages; p++)
        EXPECT(is_private(c->vm, gpa + p * PAGE) == (to_private != 0), "gpa 0x%" PRIx64 "'s attributes", gpa + p * PAGE);
    return 0;
}

static void *anon_pages(uint64_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Returns 0 when it ran (failures counts what went wrong), 1 when this KVM cannot forward the
 * hypercall after all (the caller then simulates step 5). */
static int real_conversions(int kvm)
{
    int vmfd = ioctl(kvm, KVM_CREATE_VM, (unsigned long)HVRT_VM_TYPE_SW_PROTECTED);
    EXPECT(vmfd >= 0, "KVM_CREATE_VM(KVM_X86_SW_PROTECTED_VM): %s", strerror(errno));
    /* kvm_profile 0: hvrt's rules follow this host's KVM, to which the VM is bound below (every
     * slot and attribute change goes to KVM first, then to hvrt). */
    struct hvrt_vm_config cfg = { .size = sizeof cfg, .vm_type = HVRT_VM_TYPE_SW_PROTECTED,
                                  .kvm_profile = HVRT_KVM_PROFILE_HOST };
    struct conv_vcpu c = { .fd = -1 };
    MUST(hvrt_vm_create(&cfg, &c.vm));
    int rc = hvrt_kvm_bind(c.vm, vmfd, HVRT_BIND_EXIT_HYPERCALL);
    if (rc == HVRT_ENODEV) {
        SAY("(KVM_CAP_EXIT_HYPERCALL cannot forward KVM_HC_MAP_GPA_RANGE here: step 5 is simulated)");
        hvrt_vm_destroy(c.vm);
        close(vmfd);
        return 1;
    }
    MUST(rc);
    STEP("5. conversion exits (real guest on a KVM_X86_SW_PROTECTED_VM)");
    MUST(hvrt_add_conversion_listener(c.vm, on_conversion, NULL));

    /* Slot 1's private side is a guest_memfd (made through hvrt, which knows its size and punches
     * it on conversions to shared); its shared side is ordinary anonymous memory. */
    uint8_t *code = anon_pages(SLOT_BYTES), *gmem_shared = anon_pages(2 * PAGE), *plain = anon_pages(PAGE);
    EXPECT(code != NULL && gmem_shared != NULL && plain != NULL, "mmap");
    int gmem = hvrt_create_guest_memfd(c.vm, 2 * PAGE, 0, NULL);
    MUST(gmem);
    memcpy(code + ENTRY, conv_code, sizeof conv_code);
    if (!cpu_is_amd()) /* (the program's immediates hold no 0F 01 D9) */
        for (uint8_t *p = code + ENTRY; p + 2 < code + ENTRY + sizeof conv_code; p++)
            if (p[0] == 0x0F && p[1] == 0x01 && p[2] == 0xD9)
                p[2] = 0xC1;
    struct kvm_userspace_memory_region2 s0 = { .slot = 0, .guest_phys_addr = CV_CODE_GPA, .memory_size = SLOT_BYTES,
                                               .userspace_addr = (uint64_t)(uintptr_t)code };
    struct kvm_userspace_memory_region2 s1 = { .slot = 1, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = CV_GMEM_GPA,
                                               .memory_size = 2 * PAGE, .userspace_addr = (uint64_t)(uintptr_t)gmem_shared,
                                               .guest_memfd = (uint32_t)gmem, .guest_memfd_offset = 0 };
    struct kvm_userspace_memory_region2 s2 = { .slot = 2, .guest_phys_addr = CV_PLAIN_GPA, .memory_size = PAGE,
                                               .userspace_addr = (uint64_t)(uintptr_t)plain };
    MUST(hvrt_set_user_memory_region2(c.vm, &s0));
    MUST(hvrt_set_user_memory_region2(c.vm, &s1));
    MUST(hvrt_set_user_memory_region2(c.vm, &s2));
    /* Slot 2's page is made PRIVATE (in hvrt and, through the bind, in KVM) although the slot has
     * no private memory: the guest's access there is a real KVM_EXIT_MEMORY_FAULT. */
    struct kvm_memory_attributes a = { .address = CV_PLAIN_GPA, .size = PAGE, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE };
    MUST(hvrt_set_memory_attributes(c.vm, &a));
    memcpy(gmem_shared, &(uint32_t){ H1 }, 4);
    memcpy(plain, &(uint32_t){ H3 }, 4);
    SAY("slots: 0 code (shared), 1 [0x%" PRIx64 ", +8 KiB) guest_memfd %d + anonymous shared side, 2 [0x%" PRIx64
        ", +4 KiB) anonymous only, made private",
        CV_GMEM_GPA, gmem, CV_PLAIN_GPA);

    c.fd = ioctl(vmfd, KVM_CREATE_VCPU, 0);
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    EXPECT(c.fd >= 0 && mmap_size > 0, "KVM_CREATE_VCPU / KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
    c.run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
    EXPECT(c.run != MAP_FAILED, "mmap of kvm_run: %s", strerror(errno));
    MUST(set_real_mode(c.fd));
    MUST(hvrt_vcpu_create(c.vm, c.fd, c.run, &c.vcpu));

    /* Shared -> private: the guest then reads its guest_memfd, which starts zeroed; hvrt dropped
     * the shared copy (HVRT_DISCARD_SHARED), and the guest's private writes never reach it. */
    if (conv_report(&c, H1, "slot 1 page 0, shared: the host's data") < 0 || conv_map(&c, CV_GMEM_GPA, 2, 1) < 0 ||
        conv_report(&c, 0, "hypercall's ret") < 0 || conv_report(&c, 0, "page 0, private: a fresh guest_memfd page") < 0 ||
        conv_report(&c, G1, "page 0 after the guest wrote it") < 0)
        return -1;
    uint32_t host_view;
    memcpy(&host_view, gmem_shared, 4);
    SAY("the host's view of page 0 (its shared side): 0x%08x", host_view);
    EXPECT(host_view == 0, "the guest's private data (or H1) reached the shared side");

    /* Private -> shared: the guest sees what the host put there. Back to private: the data the
     * guest had there is gone, because hvrt punched the page out of the guest_memfd
     * (HVRT_DISCARD_PRIVATE): private memory given up is not handed back. */
    if (conv_map(&c, CV_GMEM_GPA, 1, 0) < 0)
        return -1;
    memcpy(gmem_shared, &(uint32_t){ H2 }, 4);
    if (conv_report(&c, 0, "hypercall's ret") < 0 || conv_report(&c, H2, "page 0, shared again: the host's new data") < 0 ||
        conv_map(&c, CV_GMEM_GPA, 1, 1) < 0 || conv_report(&c, 0, "hypercall's ret") < 0 ||
        conv_report(&c, 0, "page 0, private again: its old data was punched out") < 0 ||
        conv_report(&c, G2, "page 1 (never converted back) keeps its private data") < 0)
        return -1;

    /* A malformed request is the guest's error, not the VMM's: -KVM_EINVAL in its rax. */
    int h = conv_run(&c);
    EXPECT(h == HVRT_EXIT_RESUME && c.info.kind == HVRT_EXIT_MAP_GPA_RANGE && c.info.result == HVRT_EINVAL &&
               c.run->hypercall.ret == (uint64_t)-KVM_EINVAL,
           "want the malformed hypercall answered -KVM_EINVAL, got handle_exit %d, kind %u, ret %" PRId64, h,
           c.info.kind, (int64_t)c.run->hypercall.ret);
    SAY("KVM_HC_MAP_GPA_RANGE with a reserved attribute bit: hypercall.ret %" PRId64 ", nothing converted",
        (int64_t)c.run->hypercall.ret);
    if (conv_report(&c, (uint32_t)-KVM_EINVAL, "hypercall's ret") < 0)
        return -1;

    /* A private access to slot 2, which has no private memory: KVM_RUN fails with EFAULT and a
     * KVM_EXIT_MEMORY_FAULT. The page is already private, so hvrt has nothing to convert: it
     * resumes once (another vCPU could have converted it meanwhile), and the same fault again
     * is -EFAULT (KVM would fault forever). The VMM resolves it: here, by making it shared. */
    h = conv_run(&c);
    const struct hvrt_kvm_memory_fault *mf = HVRT_KVM_MEMORY_FAULT(c.run);
    SAY("KVM_EXIT_MEMORY_FAULT (KVM's flags %#" PRIx64 "), %s, [0x%" PRIx64 ", +%" PRIu64 " KiB): %s", (uint64_t)mf->flags,
        c.info.to_private ? "private" : "shared", c.info.gpa, c.info.size / 1024,
        h == HVRT_EXIT_RESUME ? "already private, nothing to convert: resume" : hvrt_errname(h));
    EXPECT(h == HVRT_EXIT_RESUME && c.info.kind == HVRT_EXIT_MEMORY_FAULT && c.run->exit_reason == KVM_EXIT_MEMORY_FAULT &&
               c.info.gpa == CV_PLAIN_GPA && c.info.size == PAGE && c.info.to_private == 1 && c.info.result == 0,
           "want a private fault on [0x%" PRIx64 ", +4 KiB) that resumes", CV_PLAIN_GPA);
    h = conv_run(&c);
    SAY("the same fault again: %d (%s): KVM would loop forever, so it is the VMM's to resolve", h, hvrt_errname(h));
    EXPECT(h == HVRT_EFAULT && c.info.kind == HVRT_EXIT_MEMORY_FAULT && c.info.gpa == CV_PLAIN_GPA,
           "want -EFAULT for the repeated fault");
    MUST(hvrt_convert(c.vm, CV_PLAIN_GPA, PAGE, 0));
    if (conv_report(&c, H3, "slot 2 once the VMM made it shared: the host's data") < 0)
        return -1;
    h = conv_run(&c);
    EXPECT(h == HVRT_EXIT_UNHANDLED && c.run->exit_reason == KVM_EXIT_HLT, "want hlt, got exit_reason %u",
           c.run->exit_reason);
    SAY("guest halted");

    hvrt_vcpu_destroy(c.vcpu);
    hvrt_vm_destroy(c.vm);
    munmap(c.run, (size_t)mmap_size);
    close(c.fd);
    close(gmem);
    close(vmfd);
    munmap(code, SLOT_BYTES);
    munmap(gmem_shared, 2 * PAGE);
    munmap(plain, PAGE);
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
    if (kvm < 0)
        printf("/dev/kvm: %s: no real guest on this machine, only the simulated part\n", strerror(errno));
    else
        real_guest(kvm);
    /* Step 5 needs a VM type with private memory; only a KVM that offers one runs it for real. */
    if (kvm < 0 || !sw_protected_offered(kvm) || real_conversions(kvm) == 1)
        simulated_conversions();
    if (kvm >= 0)
        close(kvm);
    printf("\n%s\n", failures ? "vmm: FAILED" : "vmm: done");
    return failures ? 1 : 0;
}

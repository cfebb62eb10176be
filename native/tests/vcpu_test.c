/* hvrt_vcpu_* through the ABI with struct kvm_run contents built by hand (vcpu_fd -1; this
 * host's KVM makes neither memory fault nor hypercall exits): memory faults to private and
 * shared, the repeated-fault guard, EHWPOISON, KVM_HC_MAP_GPA_RANGE valid and malformed, MMIO
 * classes, interrupted and other exits, and the argument errors. The memory_fault fields are
 * written through hvrt.h's HVRT_KVM_MEMORY_FAULT overlay, as a C VMM on Debian 12 reads them. */
#include <errno.h>
#include "test_util.h"

#define EINVAL_U64 ((uint64_t)-(int64_t)KVM_EINVAL)

static struct kvm_run *new_run(void)
{
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    return p;
}

static void memory_fault(struct kvm_run *run, uint64_t flags, uint64_t gpa, uint64_t size)
{
    run->exit_reason = KVM_EXIT_MEMORY_FAULT;
    struct hvrt_kvm_memory_fault *mf = HVRT_KVM_MEMORY_FAULT(run);
    mf->flags = flags;
    mf->gpa = gpa;
    mf->size = size;
}

static void map_gpa_range(struct kvm_run *run, uint64_t gpa, uint64_t npages, uint64_t attrs)
{
    run->exit_reason = KVM_EXIT_HYPERCALL;
    run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
    run->hypercall.args[0] = gpa;
    run->hypercall.args[1] = npages;
    run->hypercall.args[2] = attrs;
    run->hypercall.ret = 0;
}

static void mmio(struct kvm_run *run, uint64_t gpa, uint32_t len, int write)
{
    run->exit_reason = KVM_EXIT_MMIO;
    run->mmio.phys_addr = gpa;
    run->mmio.len = len;
    run->mmio.is_write = (uint8_t)write;
}

static uint64_t attr(hvrt_vm *vm, uint64_t gfn)
{
    uint64_t a = ~0ull;
    CHECK_RC(hvrt_get_memory_attributes(vm, gfn, &a), 0);
    return a;
}

static struct hvrt_exit_info info_of(hvrt_vcpu *v)
{
    struct hvrt_exit_info i;
    memset(&i, 0xff, sizeof i);
    CHECK_RC(hvrt_vcpu_exit_info(v, &i), 0);
    return i;
}

static void bad_arguments(void)
{
    hvrt_vm *vm = vm_new_gpa_bits(40);
    struct kvm_run *run = new_run();
    hvrt_vcpu *v = NULL;
    CHECK_RC(hvrt_vcpu_create(NULL, -1, run, &v), -EFAULT);
    CHECK_RC(hvrt_vcpu_create(vm, -1, NULL, &v), -EFAULT);
    CHECK_RC(hvrt_vcpu_create(vm, -1, run, NULL), -EFAULT);
    CHECK_RC(hvrt_vcpu_create(vm, -2, run, &v), -EINVAL);
    CHECK_RC(hvrt_vcpu_create(vm, closed_fd_number(), run, &v), -EBADF);
    CHECK(v == NULL);
    CHECK_RC(hvrt_vcpu_create(vm, -1, run, &v), 0);
    CHECK(v != NULL && hvrt_vcpu_reader(v) != NULL);
    CHECK_RC(hvrt_vcpu_run(v), -ENODEV);
    CHECK_RC(hvrt_vcpu_enter(v), 0);
    CHECK_RC(hvrt_vcpu_exit(v), 0);
    CHECK_RC(hvrt_vcpu_exit_info(v, NULL), -EFAULT);
    CHECK_RC(hvrt_vcpu_exit_info(NULL, NULL), -EFAULT);
    CHECK_RC(hvrt_vcpu_handle_exit(NULL, 0, 0), -EFAULT);
    CHECK_RC(hvrt_vcpu_enter(NULL), -EFAULT);
    CHECK_RC(hvrt_vcpu_exit(NULL), -EFAULT);
    CHECK_RC(hvrt_vcpu_run(NULL), -EFAULT);
    CHECK(hvrt_vcpu_reader(NULL) == NULL);
    /* the reader is a real registered reader: translate through it. A slot change from the
     * vCPU thread only with its reader offline (it would wait for itself) */
    CHECK_RC(hvrt_vcpu_enter(v), 0);
    CHECK_RC(set_v1(vm, 0, 0, 0, 16 * PAGE, 0x100000000ull), 0);
    CHECK_RC(hvrt_vcpu_exit(v), 0);
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(hvrt_vcpu_reader(v), 0, 3, &t), 0);
    CHECK(t.hva == 0x100000000ull + 3 * PAGE);
    hvrt_vcpu_destroy(v);
    hvrt_vcpu_destroy(NULL);
    hvrt_vm_destroy(vm);
    munmap(run, PAGE);
}

static void memory_faults(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    struct kvm_run *run = new_run();
    hvrt_vcpu *v = NULL;
    CHECK_RC(hvrt_vcpu_create(vm, -1, run, &v), 0);

    memory_fault(run, KVM_MEMORY_EXIT_FLAG_PRIVATE, 5 * PAGE, PAGE);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), HVRT_EXIT_RESUME);
    CHECK(attr(vm, 5) == KVM_MEMORY_ATTRIBUTE_PRIVATE);
    struct hvrt_exit_info i = info_of(v);
    CHECK(i.kind == HVRT_EXIT_MEMORY_FAULT && i.exit_reason == KVM_EXIT_MEMORY_FAULT);
    CHECK(i.gpa == 5 * PAGE && i.size == PAGE && i.to_private == 1 && i.result == 0);
    CHECK(i.slot == UINT32_MAX && i.mmio_class == 0 && i.reserved[0] == 0 && i.reserved[1] == 0);
    /* the same fault straight back: KVM would loop forever */
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), -EFAULT);
    CHECK(info_of(v).result == -EFAULT);
    /* to shared */
    memory_fault(run, 0, 4 * PAGE, 2 * PAGE);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), HVRT_EXIT_RESUME);
    CHECK(attr(vm, 5) == 0);
    /* already shared, first time: resumed (another vCPU won), then -EFAULT */
    memory_fault(run, 0, 9 * PAGE, PAGE);
    mmio(run, 0x10000000, 4, 1);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    memory_fault(run, 0, 9 * PAGE, PAGE);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), HVRT_EXIT_RESUME);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), -EFAULT);
    /* poisoned: no conversion */
    memory_fault(run, KVM_MEMORY_EXIT_FLAG_PRIVATE, 6 * PAGE, PAGE);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EHWPOISON), -EHWPOISON);
    CHECK(attr(vm, 6) == 0);
    i = info_of(v);
    CHECK(i.kind == HVRT_EXIT_MEMORY_FAULT && i.gpa == 6 * PAGE && i.result == -EHWPOISON);
    /* exit reason 39 with another errno: stale, KVM_RUN's plain error */
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EIO), -EIO);
    CHECK(info_of(v).kind == HVRT_EXIT_OTHER);
    CHECK(attr(vm, 6) == 0);
    /* an unknown flag bit: the VMM's */
    memory_fault(run, KVM_MEMORY_EXIT_FLAG_PRIVATE | (1ull << 4), 6 * PAGE, PAGE);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EFAULT), HVRT_EXIT_UNHANDLED);
    CHECK(attr(vm, 6) == 0);
    /* interrupted */
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EINTR), HVRT_EXIT_UNHANDLED);
    CHECK(info_of(v).kind == HVRT_EXIT_INTERRUPTED);
    CHECK_RC(hvrt_vcpu_handle_exit(v, -1, EAGAIN), HVRT_EXIT_UNHANDLED);
    CHECK(info_of(v).kind == HVRT_EXIT_INTERRUPTED);
    /* anything else */
    run->exit_reason = KVM_EXIT_HLT;
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    i = info_of(v);
    CHECK(i.kind == HVRT_EXIT_OTHER && i.exit_reason == KVM_EXIT_HLT && i.result == 0);

    hvrt_vcpu_destroy(v);
    hvrt_vm_destroy(vm);
    munmap(run, PAGE);
}

static void hypercalls(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    struct kvm_run *run = new_run();
    hvrt_vcpu *v = NULL;
    CHECK_RC(hvrt_vcpu_create(vm, -1, run, &v), 0);

    map_gpa_range(run, 0x10 * PAGE, 4, KVM_MAP_GPA_RANGE_ENCRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_4K);
    run->hypercall.ret = 0xdead;
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_RESUME);
    CHECK(run->hypercall.ret == 0);
    CHECK(attr(vm, 0xf) == 0 && attr(vm, 0x10) != 0 && attr(vm, 0x13) != 0 && attr(vm, 0x14) == 0);
    struct hvrt_exit_info i = info_of(v);
    CHECK(i.kind == HVRT_EXIT_MAP_GPA_RANGE && i.gpa == 0x10 * PAGE && i.size == 4 * PAGE && i.to_private == 1);
    /* shared, with a 2M hint on a 4K-aligned range */
    map_gpa_range(run, 0x11 * PAGE, 1, KVM_MAP_GPA_RANGE_DECRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_RESUME);
    CHECK(run->hypercall.ret == 0 && attr(vm, 0x11) == 0 && attr(vm, 0x12) != 0);

    static const struct { uint64_t gpa, npages, attrs; } bad[] = {
        { 0x20 * PAGE, 1, 1ull << 5 },
        { 0x20 * PAGE, 1, KVM_MAP_GPA_RANGE_ENCRYPTED | 3 },
        { 0x20 * PAGE + 1, 1, KVM_MAP_GPA_RANGE_ENCRYPTED },
        { 0x20 * PAGE, 0, KVM_MAP_GPA_RANGE_ENCRYPTED },
        { 1ull << 63, 1ull << 51, KVM_MAP_GPA_RANGE_ENCRYPTED },
        { 0x20 * PAGE, UINT64_MAX, KVM_MAP_GPA_RANGE_ENCRYPTED },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint64_t s0 = 0, s1 = 1;
        CHECK_RC(hvrt_conversion_seq(vm, &s0), 0);
        map_gpa_range(run, bad[k].gpa, bad[k].npages, bad[k].attrs);
        CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_RESUME);
        CHECK(run->hypercall.ret == EINVAL_U64);
        CHECK_RC(hvrt_conversion_seq(vm, &s1), 0);
        CHECK(s0 == s1);
        CHECK(info_of(v).result == -EINVAL);
    }
    CHECK(attr(vm, 0x20) == 0);
    /* another hypercall: not hvrt's */
    map_gpa_range(run, 0x20 * PAGE, 1, KVM_MAP_GPA_RANGE_ENCRYPTED);
    run->hypercall.nr = 9;
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    CHECK(info_of(v).kind == HVRT_EXIT_OTHER && run->hypercall.ret == 0 && attr(vm, 0x20) == 0);

    hvrt_vcpu_destroy(v);
    hvrt_vm_destroy(vm);
    munmap(run, PAGE);
}

static void mmio_classes(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    struct kvm_run *run = new_run();
    hvrt_vcpu *v = NULL;
    CHECK_RC(set_v1(vm, 0, 0, 0, 16 * PAGE, 0x100000000ull), 0);
    CHECK_RC(set_v1(vm, 3, KVM_MEM_READONLY, 32 * PAGE, 8 * PAGE, 0x200000000ull), 0);
    CHECK_RC(hvrt_vcpu_create(vm, -1, run, &v), 0);

    mmio(run, 0x10000000, 4, 1);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    struct hvrt_exit_info i = info_of(v);
    CHECK(i.kind == HVRT_EXIT_MMIO && i.mmio_class == HVRT_MMIO_DEVICE && i.gpa == 0x10000000);
    CHECK(i.size == 4 && i.is_write == 1 && i.slot == UINT32_MAX && i.exit_reason == KVM_EXIT_MMIO);
    mmio(run, 33 * PAGE + 2, 2, 1);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    i = info_of(v);
    CHECK(i.mmio_class == HVRT_MMIO_READONLY_WRITE && i.slot == 3 && i.size == 2);
    mmio(run, 33 * PAGE, 8, 0);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    CHECK(info_of(v).mmio_class == HVRT_MMIO_IN_SLOT && info_of(v).is_write == 0);
    CHECK_RC(hvrt_set_discard_policy(vm, 0), 0); /* the slot's hva is not mapped */
    CHECK_RC(hvrt_convert(vm, 2 * PAGE, PAGE, 1), 0);
    mmio(run, 2 * PAGE, 4, 1);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    i = info_of(v);
    CHECK(i.mmio_class == HVRT_MMIO_PRIVATE && i.slot == 0);
    mmio(run, 3 * PAGE, 4, 1);
    CHECK_RC(hvrt_vcpu_handle_exit(v, 0, 0), HVRT_EXIT_UNHANDLED);
    CHECK(info_of(v).mmio_class == HVRT_MMIO_IN_SLOT && info_of(v).slot == 0);

    hvrt_vcpu_destroy(v);
    hvrt_vm_destroy(vm);
    munmap(run, PAGE);
}

int main(void)
{
    bad_arguments();
    memory_faults();
    hypercalls();
    mmio_classes();
    return harness_finish();
}

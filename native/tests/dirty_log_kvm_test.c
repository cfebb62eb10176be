/* Dirty logging on a VM bound to a real KVM VM (hvrt_kvm_bind): a real-mode guest writes three
 * pages of a logging slot; hvrt_dirty_log_get harvests KVM_GET_DIRTY_LOG into hvrt's bitmap.
 * Where the host's KVM reports the written pages, hvrt must report exactly those; where it
 * reports none (nested hosts that do not track guest writes, like the project's machines), the
 * test says so and checks the merge with pages marked by hvrt_mark_dirty instead. Then: the mode
 * goes to KVM (KVM_ENABLE_CAP before hvrt's own), CLEAR goes to KVM first, and a harvest KVM
 * refuses (-ENXIO: a VM logging into a dirty ring) copies and clears nothing.
 * Skips (saying why) without /dev/kvm. */
#include <errno.h>
#include <linux/kvm.h>
#include "test_util.h"

#define ENTRY 0x1000ull
#define CODE_GPA 0x0ull
#define DATA_GPA 0x10000ull
#define SLOT_BYTES 0x10000ull
#define NPAGES (SLOT_BYTES / PAGE)

/* 16-bit real mode at ENTRY: es = DATA_GPA >> 4; writes data pages 0, 3 and 5; hlt. */
static const uint8_t guest_code[] = {
    0xB8, 0x00, 0x10, 0x8E, 0xC0,       /* mov ax, 0x1000 ; mov es, ax */
    0x26, 0xC6, 0x06, 0x00, 0x00, 0x11, /* mov byte [es:0x0000], 0x11 */
    0x26, 0xC6, 0x06, 0x00, 0x30, 0x22, /* mov byte [es:0x3000], 0x22 */
    0x26, 0xC6, 0x06, 0x00, 0x50, 0x33, /* mov byte [es:0x5000], 0x33 */
    0xF4,                               /* hlt */
};
#define GUEST_PAGES ((1ull << 0) | (1ull << 3) | (1ull << 5))

struct rig {
    int kvm, vmfd, vcpu;
    struct kvm_run *run;
    int run_size;
    hvrt_vm *vm;
    uint8_t *code, *data;
};

static int kvm_enable_cap(int vmfd, uint32_t cap, uint64_t arg)
{
    struct kvm_enable_cap c;
    memset(&c, 0, sizeof c);
    c.cap = cap;
    c.args[0] = arg;
    return ioctl(vmfd, KVM_ENABLE_CAP, &c) < 0 ? -errno : 0;
}

/* A KVM VM and an hvrt VM bound to it with a code slot and a logging data slot (slot 1).
 * ring_bytes > 0 turns on KVM's dirty ring first. Returns 0, or 1 to skip (*why set). */
static int rig_up(struct rig *r, uint32_t mode, uint32_t ring_bytes, const char **why)
{
    memset(r, 0, sizeof *r);
    r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (r->kvm < 0) {
        *why = "/dev/kvm cannot be opened";
        return 1;
    }
    r->vmfd = ioctl(r->kvm, KVM_CREATE_VM, 0);
    if (r->vmfd < 0) {
        *why = "KVM_CREATE_VM failed";
        return 1;
    }
    if (ring_bytes != 0 && kvm_enable_cap(r->vmfd, KVM_CAP_DIRTY_LOG_RING, ring_bytes) != 0) {
        *why = "this KVM has no dirty ring";
        return 1;
    }
    struct hvrt_vm_config cfg = config_for(HVRT_VM_TYPE_DEFAULT);
    int nr_as = ioctl(r->kvm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
    cfg.nr_address_spaces = nr_as > 1 ? (uint32_t)nr_as : 1;
    r->vm = vm_new(&cfg);
    CHECK_RC(hvrt_dirty_log_set_mode(r->vm, mode), 0);
    CHECK_RC(hvrt_kvm_bind(r->vm, r->vmfd, 0), 0);
    r->code = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    r->data = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r->code == MAP_FAILED || r->data == MAP_FAILED)
        FATAL("mmap");
    memcpy(r->code + ENTRY, guest_code, sizeof guest_code);
    CHECK_RC(set_r2(r->vm, 0, 0, CODE_GPA, SLOT_BYTES, (uint64_t)(uintptr_t)r->code, 0, 0), 0);
    CHECK_RC(set_r2(r->vm, 1, F_LOG, DATA_GPA, SLOT_BYTES, (uint64_t)(uintptr_t)r->data, 0, 0), 0);
    r->vcpu = ioctl(r->vmfd, KVM_CREATE_VCPU, 0);
    r->run_size = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (r->vcpu < 0 || r->run_size <= 0)
        FATAL("KVM_CREATE_VCPU");
    r->run = mmap(NULL, (size_t)r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
    if (r->run == MAP_FAILED)
        FATAL("mmap kvm_run");
    return 0;
}

static void rig_down(struct rig *r)
{
    munmap(r->run, (size_t)r->run_size);
    close(r->vcpu);
    hvrt_vm_destroy(r->vm);
    close(r->vmfd);
    close(r->kvm);
    munmap(r->code, SLOT_BYTES);
    munmap(r->data, SLOT_BYTES);
}

/* Runs the guest to its hlt; true when it wrote its three pages. */
static bool run_guest(struct rig *r)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0)
        return false;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    memset(&regs, 0, sizeof regs);
    regs.rip = ENTRY;
    regs.rflags = 2;
    if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0)
        return false;
    for (int i = 0; i < 8; i++) {
        if (ioctl(r->vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
            return false;
        if (r->run->exit_reason == KVM_EXIT_HLT)
            return r->data[0] == 0x11 && r->data[0x3000] == 0x22 && r->data[0x5000] == 0x33;
    }
    return false;
}

static void test_harvest(void)
{
    struct rig r;
    const char *why;
    if (rig_up(&r, 0, 0, &why)) {
        SKIP(why);
        return;
    }
    uint64_t b[(NPAGES + 63) / 64];
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0); /* whatever KVM logged before the run */
    CHECK(run_guest(&r));
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
    if (b[0] != 0) {
        printf("KVM_GET_DIRTY_LOG reported the guest's writes: 0x%llx\n", (unsigned long long)b[0]);
        CHECK(b[0] == GUEST_PAGES);
        CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0); /* harvested and cleared in both */
        CHECK(b[0] == 0);
    } else {
        printf("KVM_GET_DIRTY_LOG reported no pages after guest writes: this host's KVM tracks none;\n"
               "checking the merge with pages marked by hvrt_mark_dirty instead\n");
        CHECK_RC(hvrt_mark_dirty(r.vm, DATA_GPA + 2 * PAGE, 1), 1);
        CHECK_RC(hvrt_mark_dirty(r.vm, DATA_GPA + 15 * PAGE, PAGE), 1);
        CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
        CHECK(b[0] == ((1ull << 2) | (1ull << 15)));
        CHECK(hvrt_bitmap_next_set(b, NPAGES, 0) == 2 && hvrt_bitmap_next_set(b, NPAGES, 3) == 15 &&
              hvrt_bitmap_next_set(b, NPAGES, 16) == NPAGES);
        CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
        CHECK(b[0] == 0);
    }
    /* The KVM VM fd takes the same slot numbers: hvrt's errors are KVM's. */
    CHECK_RC(hvrt_dirty_log_get(r.vm, 0, b), HVRT_ENOENT);
    rig_down(&r);
}

static void test_manual_mode(void)
{
    struct rig r;
    const char *why;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        SKIP("/dev/kvm cannot be opened");
        return;
    }
    int caps = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    close(kvm);
    if (caps <= 0) {
        SKIP("no KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
        return;
    }
    /* Set before the bind: hvrt_kvm_bind enables it on KVM. */
    if (rig_up(&r, HVRT_DIRTY_LOG_MANUAL_PROTECT | HVRT_DIRTY_LOG_INITIALLY_SET, 0, &why)) {
        SKIP(why);
        return;
    }
    uint64_t b[(NPAGES + 63) / 64], ones[(NPAGES + 63) / 64];
    memset(ones, 0xff, sizeof ones);
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
    CHECK(b[0] == (1ull << NPAGES) - 1); /* INITIALLY_SET, in hvrt (and in KVM) */
    CHECK_RC(hvrt_dirty_log_clear(r.vm, 1, 0, NPAGES, ones), 0); /* KVM_CLEAR_DIRTY_LOG first */
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
    CHECK(b[0] == 0);
    CHECK(run_guest(&r));
    CHECK_RC(hvrt_mark_dirty(r.vm, DATA_GPA + 9 * PAGE, 1), 1);
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
    CHECK((b[0] & (1ull << 9)) != 0 && (b[0] & ~(GUEST_PAGES | (1ull << 9))) == 0);
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0); /* manual: still there */
    CHECK((b[0] & (1ull << 9)) != 0);
    CHECK_RC(hvrt_dirty_log_clear(r.vm, 1, 0, NPAGES, ones), 0);
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), 0);
    CHECK(b[0] == 0);
    /* KVM's rules on the bound VM: same answers as unbound hvrt. */
    CHECK_RC(hvrt_dirty_log_clear(r.vm, 1, 1, 64, ones), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_set_mode(r.vm, HVRT_DIRTY_LOG_INITIALLY_SET), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_set_mode(r.vm, 0), 0); /* KVM_ENABLE_CAP(168, 0) accepted */
    rig_down(&r);
}

static void test_ring_refuses_harvest(void)
{
    struct rig r;
    const char *why;
    if (rig_up(&r, 0, 65536, &why)) {
        SKIP(why);
        return;
    }
    uint64_t b[(NPAGES + 63) / 64] = {0xdead};
    CHECK_RC(hvrt_mark_dirty(r.vm, DATA_GPA + 4 * PAGE, 1), 1);
    /* KVM_GET_DIRTY_LOG: -ENXIO (no bitmap in a ring VM); nothing copied, nothing cleared. */
    CHECK_RC(hvrt_dirty_log_get(r.vm, 1, b), HVRT_ENXIO);
    CHECK(b[0] == 0xdead);
    uint64_t ones[1] = {UINT64_MAX};
    CHECK_RC(hvrt_dirty_log_clear(r.vm, 1, 0, NPAGES, ones), HVRT_ENXIO);
    rig_down(&r);
}

int main(void)
{
    test_harvest();
    test_manual_mode();
    test_ring_refuses_harvest();
    return harness_finish();
}

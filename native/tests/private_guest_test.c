/* A real guest with private memory (skipped unless /dev/kvm offers KVM_X86_SW_PROTECTED_VM, VM
 * type 1: KVM_CAP_VM_TYPES bit 1; the lab's 6.12-sw kernel does). A type-1 KVM VM is bound to
 * an hvrt VM of type SW_PROTECTED (kvm_profile 0, HVRT_BIND_EXIT_HYPERCALL); every exit goes
 * through hvrt_vcpu_handle_exit. The 16-bit real-mode guest, in a shared code slot, reports
 * what it reads with `out 0x10, eax` and:
 *   1. asks for private and shared memory with KVM_HC_MAP_GPA_RANGE (vmmcall/vmcall: rax 12,
 *      rbx gpa, rcx pages, rdx attributes, as the kernel's private_mem_conversions_test):
 *      hvrt converts (hvrt_get_memory_attributes, the listener) and KVM follows (what the
 *      guest then reads comes from the guest_memfd or from the shared memory);
 *   2. converts a guest_memfd page private -> shared -> private: the shared side shows the
 *      host's data, and the private data written before is gone (hvrt punched the guest_memfd;
 *      a page of the same file never converted keeps its data); a malformed hypercall gets
 *      -KVM_EINVAL;
 *   3. reads a plain (no guest_memfd) slot whose page the host made PRIVATE: a real
 *      KVM_EXIT_MEMORY_FAULT, classified (RESUME once, then -EFAULT for the same fault), that
 *      the host resolves by converting the page to shared;
 *   4. writes two pages of a LOG_DIRTY_PAGES slot, which hvrt_dirty_log_get then shows.
 * It runs twice: the second time with hvrt's private discard off, when the private data
 * survives step 2's round trip. */
#include <cpuid.h>
#include <errno.h>
#include "kvm_guest.h"
#include "test_util.h"

#define CODE_GPA 0x0ull      /* slot 0: 64 KiB shared (anonymous), code at 0x1000 */
#define CODE_SIZE 0x10000ull
#define ENTRY 0x1000ull
#define GMEM_GPA 0x20000ull  /* slot 1: 2 pages, guest_memfd + anonymous shared side (es) */
#define PLAIN_GPA 0x30000ull /* slot 2: 1 page, shared only, made PRIVATE by the host (fs) */
#define DIRTY_GPA 0x40000ull /* slot 3: 4 pages, LOG_DIRTY_PAGES (gs, loaded by the guest) */
#define PORT 0x10

#define H1 0x11111111u /* the host's data on the shared side, before any conversion */
#define G1 0x22222222u /* the guest's private data, page 0 */
#define H2 0x33333333u /* the host's data on the shared side after private -> shared */
#define G2 0x44444444u /* the guest's private data, page 1 (never converted back) */
#define H3 0x55555555u /* the host's data in the plain slot */

#define B4(v) (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)
#define MOV_EAX(v) 0x66, 0xB8, B4(v)
#define MOV_EBX(v) 0x66, 0xBB, B4(v)
#define MOV_ECX(v) 0x66, 0xB9, B4(v)
#define MOV_EDX(v) 0x66, 0xBA, B4(v)
#define VMMCALL 0x0F, 0x01, 0xD9 /* AMD; patched to vmcall (0F 01 C1) on Intel */
#define OUT_EAX 0x66, 0xE7, PORT
#define MAP_GPA_RANGE(gpa, npages, attrs) \
    MOV_EAX(KVM_HC_MAP_GPA_RANGE), MOV_EBX(gpa), MOV_ECX(npages), MOV_EDX(attrs), VMMCALL, OUT_EAX
#define ENC KVM_MAP_GPA_RANGE_ENCRYPTED
#define DEC KVM_MAP_GPA_RANGE_DECRYPTED

static uint8_t program[] = {
    0x26, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r1: eax = es:[0] (shared: H1) */
    MAP_GPA_RANGE(GMEM_GPA, 2, ENC),                               /* r2: both pages private, ret */
    0x26, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r3: es:[0] (fresh private: 0) */
    0x26, 0x66, 0xC7, 0x06, 0x00, 0x00, B4(G1),                    /* es:[0] = G1 */
    0x26, 0x66, 0xC7, 0x06, 0x00, 0x10, B4(G2),                    /* es:[0x1000] = G2 */
    0x26, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r4: es:[0] (G1) */
    MAP_GPA_RANGE(GMEM_GPA, 1, DEC),                               /* r5: page 0 shared, ret */
    0x26, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r6: es:[0] (shared: H2) */
    MAP_GPA_RANGE(GMEM_GPA, 1, ENC),                               /* r7: page 0 private again, ret */
    0x26, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r8: es:[0] (punched: 0) */
    0x26, 0x66, 0xA1, 0x00, 0x10, OUT_EAX,                         /* r9: es:[0x1000] (G2) */
    MAP_GPA_RANGE(GMEM_GPA + PAGE, 1, 0x100),                      /* r10: attrs bit 8: -KVM_EINVAL */
    0x64, 0x66, 0xA1, 0x00, 0x00, OUT_EAX,                         /* r11: fs:[0] (fault, then H3) */
    0xB8, 0x00, 0x40, 0x8E, 0xE8,                                  /* mov ax, 0x4000; mov gs, ax */
    0x65, 0xC6, 0x06, 0x00, 0x00, 0x01,                            /* gs:[0x0000] = 1 (page 0) */
    0x65, 0xC6, 0x06, 0x00, 0x20, 0x01,                            /* gs:[0x2000] = 1 (page 2) */
    0xF4,                                                          /* hlt */
};

struct run {
    struct kvm_guest g;
    hvrt_vm *vm;
    hvrt_vcpu *v;
    struct hvrt_exit_info i;
    uint8_t *code, *gmem_shared, *plain, *dirty;
    int gmem;
};

/* What the conversion listener saw. */
struct conversion {
    uint64_t gpa, size;
    int to_private;
};
static struct conversion conv[16];
static int nconv;

static void on_convert(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    (void)ctx;
    if (nconv < 16)
        conv[nconv] = (struct conversion){ gpa, size, to_private };
    nconv++;
}

/* One KVM_RUN and hvrt_vcpu_handle_exit; r->i is the decoded exit. */
static int step(struct run *r)
{
    hvrt_vcpu_enter(r->v);
    int ret = ioctl(r->g.vcpu, KVM_RUN, 0);
    int err = ret < 0 ? errno : 0;
    hvrt_vcpu_exit(r->v);
    int h = hvrt_vcpu_handle_exit(r->v, ret, err);
    memset(&r->i, 0, sizeof r->i);
    hvrt_vcpu_exit_info(r->v, &r->i);
    return h;
}

/* The next exit is the guest's `out PORT, eax`: its value, or FATAL. */
static uint32_t next_report(struct run *r, const char *what)
{
    int h = step(r);
    struct kvm_run *run = r->g.run;
    if (h != HVRT_EXIT_UNHANDLED || r->i.kind != HVRT_EXIT_OTHER || run->exit_reason != KVM_EXIT_IO ||
        run->io.direction != KVM_EXIT_IO_OUT || run->io.port != PORT || run->io.size != 4)
        FATAL("%s: want the guest's report, got handle_exit %d kind %u exit_reason %u result %lld gpa 0x%llx",
              what, h, r->i.kind, run->exit_reason, (long long)r->i.result, (unsigned long long)r->i.gpa);
    uint32_t val;
    memcpy(&val, (uint8_t *)run + run->io.data_offset, sizeof val);
    return val;
}

#define REPORT_IS(r, want, what)                                                               \
    do {                                                                                       \
        uint32_t got_ = next_report(r, what);                                                  \
        if (got_ != (uint32_t)(want))                                                          \
            fprintf(stderr, "  %s: the guest read 0x%x, want 0x%x\n", what, got_, (uint32_t)(want)); \
        CHECK(got_ == (uint32_t)(want));                                                       \
    } while (0)

static uint64_t attrs_of(hvrt_vm *vm, uint64_t gpa)
{
    uint64_t a = UINT64_MAX;
    if (hvrt_get_memory_attributes(vm, gpa / PAGE, &a) != 0)
        return UINT64_MAX;
    return a;
}

/* The next exit is a well-formed KVM_HC_MAP_GPA_RANGE that hvrt converted. */
static void expect_map(struct run *r, uint64_t gpa, uint64_t npages, int to_private)
{
    int before = nconv;
    CHECK_RC(step(r), HVRT_EXIT_RESUME);
    CHECK(r->g.run->exit_reason == KVM_EXIT_HYPERCALL && r->g.run->hypercall.nr == KVM_HC_MAP_GPA_RANGE);
    CHECK(r->i.kind == HVRT_EXIT_MAP_GPA_RANGE && r->i.exit_reason == KVM_EXIT_HYPERCALL);
    CHECK(r->i.gpa == gpa && r->i.size == npages * PAGE && r->i.to_private == (uint32_t)to_private);
    CHECK(r->i.result == 0 && r->g.run->hypercall.ret == 0);
    uint64_t want = to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    for (uint64_t p = 0; p < npages; p++)
        CHECK(attrs_of(r->vm, gpa + p * PAGE) == want);
    CHECK(nconv == before + 1);
    if (nconv == before + 1 && nconv <= 16)
        CHECK(conv[before].gpa == gpa && conv[before].size == npages * PAGE && conv[before].to_private == to_private);
}

/* KVM_X86_SW_PROTECTED_VM on this host's KVM, or why not. */
static bool sw_protected_offered(const char **why)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        *why = "/dev/kvm cannot be opened";
        return false;
    }
    int types = ioctl(kvm, KVM_CHECK_EXTENSION, 235 /* KVM_CAP_VM_TYPES */);
    close(kvm);
    static char buf[128];
    if (types < 0 || !(types & (1 << HVRT_VM_TYPE_SW_PROTECTED))) {
        snprintf(buf, sizeof buf, "KVM_CAP_VM_TYPES = %#x: no KVM_X86_SW_PROTECTED_VM (type 1) here", types);
        *why = buf;
        return false;
    }
    return true;
}

static bool is_amd(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return false;
    return (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) /* AuthenticAMD */ ||
           (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975); /* HygonGenuine */
}

static void *anon(uint64_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    return p;
}

/* punch: hvrt's default discard policy; without it (HVRT_DISCARD_SHARED only) the private data
 * survives the round trip through shared, which shows the zero of the default run is hvrt's
 * fallocate and not KVM's doing. */
static void private_guest(bool punch)
{
    const char *why = NULL;
    nconv = 0;
    struct run r;
    memset(&r, 0, sizeof r);
    if (kvm_guest_open_type(&r.g, 1 /* KVM_X86_SW_PROTECTED_VM */, &why) != 0)
        FATAL("%s (type 1)", why);

    struct hvrt_vm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.vm_type = HVRT_VM_TYPE_SW_PROTECTED;
    cfg.kvm_profile = HVRT_KVM_PROFILE_HOST;
    r.vm = vm_new(&cfg);
    int rc = hvrt_kvm_bind(r.vm, r.g.vm, HVRT_BIND_EXIT_HYPERCALL);
    if (rc == HVRT_ENODEV) {
        SKIP("KVM cannot forward KVM_HC_MAP_GPA_RANGE here (HVRT_BIND_EXIT_HYPERCALL: -ENODEV)");
        hvrt_vm_destroy(r.vm);
        kvm_guest_close(&r.g);
        return;
    }
    CHECK_RC(rc, 0);
    struct hvrt_kvm_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.size = sizeof caps;
    CHECK_RC(hvrt_kvm_caps(r.vm, &caps), 0);
    uint32_t need = HVRT_KVM_USER_MEMORY2 | HVRT_KVM_GUEST_MEMFD | HVRT_KVM_MEMORY_ATTRIBUTES | HVRT_KVM_EXIT_HYPERCALL;
    if ((caps.flags & need) != need)
        FATAL("a type-1 VM without what it needs: caps.flags %#x, want %#x", caps.flags, need);
    CHECK_RC(hvrt_add_conversion_listener(r.vm, on_convert, NULL), 0);
    if (!punch)
        CHECK_RC(hvrt_set_discard_policy(r.vm, HVRT_DISCARD_SHARED), 0);

    /* The program (vmcall on Intel), and the slots, through hvrt to KVM. */
    if (!is_amd()) /* (idempotent: the second run finds nothing left to patch) */
        for (size_t k = 0; k + 2 < sizeof program; k++)
            if (program[k] == 0x0F && program[k + 1] == 0x01 && program[k + 2] == 0xD9)
                program[k + 2] = 0xC1;
    r.code = anon(CODE_SIZE);
    memcpy(r.code + ENTRY, program, sizeof program);
    r.gmem_shared = anon(2 * PAGE);
    r.plain = anon(PAGE);
    r.dirty = anon(4 * PAGE);
    r.gmem = hvrt_create_guest_memfd(r.vm, 2 * PAGE, 0, NULL);
    if (r.gmem < 0)
        FATAL("hvrt_create_guest_memfd = %d", r.gmem);
    CHECK_RC(set_r2(r.vm, 0, 0, CODE_GPA, CODE_SIZE, (uint64_t)(uintptr_t)r.code, 0, 0), 0);
    CHECK_RC(set_r2(r.vm, 1, (uint32_t)KVM_MEM_GUEST_MEMFD, GMEM_GPA, 2 * PAGE, (uint64_t)(uintptr_t)r.gmem_shared,
                    (uint32_t)r.gmem, 0), 0);
    CHECK_RC(set_r2(r.vm, 2, 0, PLAIN_GPA, PAGE, (uint64_t)(uintptr_t)r.plain, 0, 0), 0);
    CHECK_RC(set_r2(r.vm, 3, F_LOG, DIRTY_GPA, 4 * PAGE, (uint64_t)(uintptr_t)r.dirty, 0, 0), 0);
    /* The plain slot's page is PRIVATE (in hvrt and, through the bind, in KVM), with no
     * private backing behind it. */
    struct kvm_memory_attributes a = { .address = PLAIN_GPA, .size = PAGE, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE };
    CHECK_RC(hvrt_set_memory_attributes(r.vm, &a), 0);
    CHECK(attrs_of(r.vm, PLAIN_GPA) == KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK(attrs_of(r.vm, GMEM_GPA) == 0);
    memcpy(r.gmem_shared, &(uint32_t){ H1 }, 4);
    memcpy(r.plain, &(uint32_t){ H3 }, 4);
    if (kvm_guest_real_mode(&r.g, ENTRY, GMEM_GPA >> 4, PLAIN_GPA >> 4, &why) != 0)
        FATAL("%s", why);
    CHECK_RC(hvrt_vcpu_create(r.vm, r.g.vcpu, r.g.run, &r.v), 0);
    if (r.v == NULL)
        FATAL("hvrt_vcpu_create");
    uint64_t dirty_bits = 0;
    CHECK_RC(hvrt_dirty_log_get(r.vm, 3, &dirty_bits), 0); /* nothing the guest wrote yet */
    CHECK(dirty_bits == 0);

    /* 1. shared, then private by the guest's own hypercall */
    REPORT_IS(&r, H1, "r1 shared read");
    expect_map(&r, GMEM_GPA, 2, 1);
    REPORT_IS(&r, 0, "r2 MAP_GPA_RANGE(private) ret");
    uint32_t host_view;
    memcpy(&host_view, r.gmem_shared, 4);
    CHECK(host_view == 0); /* to private discarded the shared side (MADV_DONTNEED: anonymous) */
    REPORT_IS(&r, 0, "r3 fresh private page");
    REPORT_IS(&r, G1, "r4 private write read back");
    memcpy(&host_view, r.gmem_shared, 4);
    CHECK(host_view == 0); /* the guest's private write did not reach the shared side */

    /* 2. private -> shared (punch) -> private */
    expect_map(&r, GMEM_GPA, 1, 0);
    CHECK(attrs_of(r.vm, GMEM_GPA + PAGE) == KVM_MEMORY_ATTRIBUTE_PRIVATE);
    memcpy(r.gmem_shared, &(uint32_t){ H2 }, 4);
    REPORT_IS(&r, 0, "r5 MAP_GPA_RANGE(shared) ret");
    REPORT_IS(&r, H2, "r6 shared read after private -> shared");
    expect_map(&r, GMEM_GPA, 1, 1);
    REPORT_IS(&r, 0, "r7 MAP_GPA_RANGE(private) ret");
    memcpy(&host_view, r.gmem_shared, 4);
    CHECK(host_view == 0); /* H2 discarded */
    if (punch)
        REPORT_IS(&r, 0, "r8 private page after a round trip through shared (guest_memfd punched)");
    else
        REPORT_IS(&r, G1, "r8 private page after a round trip through shared (no private discard)");
    REPORT_IS(&r, G2, "r9 private page never converted keeps its data");
    int before = nconv;
    CHECK_RC(step(&r), HVRT_EXIT_RESUME); /* malformed: attributes bit 8 */
    CHECK(r.i.kind == HVRT_EXIT_MAP_GPA_RANGE && r.i.result == HVRT_EINVAL);
    CHECK(r.g.run->hypercall.ret == (uint64_t)-KVM_EINVAL);
    CHECK(nconv == before && attrs_of(r.vm, GMEM_GPA + PAGE) == KVM_MEMORY_ATTRIBUTE_PRIVATE);
    REPORT_IS(&r, (uint32_t)-KVM_EINVAL, "r10 malformed MAP_GPA_RANGE ret");

    /* 3. a private access where there is no private memory: KVM_EXIT_MEMORY_FAULT */
    struct hvrt_kvm_memory_fault *mf = HVRT_KVM_MEMORY_FAULT(r.g.run);
    CHECK_RC(step(&r), HVRT_EXIT_RESUME); /* already private: nothing to convert, once */
    CHECK(r.g.run->exit_reason == KVM_EXIT_MEMORY_FAULT);
    CHECK(mf->gpa == PLAIN_GPA && mf->size == PAGE && (mf->flags & KVM_MEMORY_EXIT_FLAG_PRIVATE));
    CHECK(r.i.kind == HVRT_EXIT_MEMORY_FAULT && r.i.exit_reason == KVM_EXIT_MEMORY_FAULT);
    CHECK(r.i.gpa == PLAIN_GPA && r.i.size == PAGE && r.i.to_private == 1 && r.i.result == 0);
    before = nconv;
    CHECK_RC(step(&r), HVRT_EFAULT); /* the same fault again: KVM would fault forever */
    CHECK(r.i.kind == HVRT_EXIT_MEMORY_FAULT && r.i.gpa == PLAIN_GPA && r.i.size == PAGE);
    CHECK(nconv == before && attrs_of(r.vm, PLAIN_GPA) == KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK_RC(hvrt_convert(r.vm, PLAIN_GPA, PAGE, 0), 0); /* the VMM resolves it: shared */
    CHECK(attrs_of(r.vm, PLAIN_GPA) == 0);
    REPORT_IS(&r, H3, "r11 plain slot read once shared");

    /* 4. dirty pages of the guest's writes, then hlt */
    CHECK_RC(step(&r), HVRT_EXIT_UNHANDLED);
    CHECK(r.i.kind == HVRT_EXIT_OTHER && r.g.run->exit_reason == KVM_EXIT_HLT);
    CHECK(r.dirty[0] == 1 && r.dirty[2 * PAGE] == 1);
    CHECK_RC(hvrt_dirty_log_get(r.vm, 3, &dirty_bits), 0);
    if (dirty_bits != 0x5)
        fprintf(stderr, "  dirty bitmap of slot 3: %#llx, want 0x5\n", (unsigned long long)dirty_bits);
    CHECK(dirty_bits == 0x5);

    hvrt_vcpu_destroy(r.v);
    hvrt_vm_destroy(r.vm);
    close(r.gmem);
    kvm_guest_close(&r.g);
    munmap(r.code, CODE_SIZE);
    munmap(r.gmem_shared, 2 * PAGE);
    munmap(r.plain, PAGE);
    munmap(r.dirty, 4 * PAGE);
}

int main(void)
{
    const char *why = NULL;
    if (!sw_protected_offered(&why)) {
        SKIP(why);
        return harness_finish();
    }
    private_guest(true);
    private_guest(false);
    return harness_finish();
}

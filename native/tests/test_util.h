/* Helpers shared by the C conformance tests: VM and region builders, fd bookkeeping, a checker
 * for one translation, and a "fixture" VM whose every slot is known, so that a test can prove
 * that a rejected call changed nothing (CHECK_REJECTED). Everything is static inline so each
 * test stays a single translation unit and unused helpers cost nothing. */
#ifndef HVRT_TEST_UTIL_H
#define HVRT_TEST_UTIL_H
#include <dirent.h>
#include <fcntl.h>
#include <hvrt.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

/* Debian 12's <linux/kvm.h> (6.1) predates guest_memfd. */
#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif

#define PAGE 4096ull

/* A KVM VM fd of type 0 for making guest_memfds, or -1 with *why set (no /dev/kvm here, or
 * KVM_CREATE_VM refused): the caller SKIPs with it. */
static inline int open_kvm_vm(const char **why)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        *why = "/dev/kvm cannot be opened";
        return -1;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    close(kvm);
    if (vm < 0)
        *why = "KVM_CREATE_VM failed";
    return vm;
}
#define SLOT(as_id, id) ((uint32_t)(as_id) << 16 | (uint32_t)(id))
#define AS_OF(slot) ((slot) >> 16)

/* Flag bits by their uapi names, as u32 (the kernel's macros are unsigned long). */
#define F_LOG ((uint32_t)KVM_MEM_LOG_DIRTY_PAGES)
#define F_RO ((uint32_t)KVM_MEM_READONLY)
#define F_PRIV ((uint32_t)KVM_MEM_PRIVATE) /* = KVM_MEM_GUEST_MEMFD */

/* x86-64 TASK_SIZE_MAX with 4- and 5-level paging. */
#define USER_LIMIT_4LEVEL 0x7ffffffff000ull
#define USER_LIMIT_5LEVEL 0xfffffffffff000ull

/* Ends the test now: what follows cannot run without what just failed. */
#define FATAL(...)                                                                   \
    do {                                                                             \
        fprintf(stderr, "FATAL %s:%d: ", __FILE__, __LINE__);                        \
        fprintf(stderr, __VA_ARGS__);                                                \
        fputc('\n', stderr);                                                         \
        h_failed++;                                                                  \
        exit(harness_finish());                                                      \
    } while (0)

/* hvrt's debug mode (HVRT_DEBUG=1, read by the library once, as here): freed handles are
 * quarantined, so records are never handed out twice. */
static inline bool debug_mode(void)
{
    const char *v = getenv("HVRT_DEBUG");
    return v != NULL && strcmp(v, "1") == 0;
}

/* ---- VMs ------------------------------------------------------------------------------- */

/* A config of vm_type under the newest kernel profile: hvrt's own rules, the same on every host
 * (kvm_profile 0 would follow the host's KVM; the tests that compare with it ask for that). */
static inline struct hvrt_vm_config config_for(uint32_t vm_type)
{
    struct hvrt_vm_config c;
    memset(&c, 0, sizeof c);
    c.size = sizeof c;
    c.vm_type = vm_type;
    c.kvm_profile = HVRT_KVM_PROFILE_NEWEST;
    return c;
}

/* A new VM of cfg; NULL is config_for(HVRT_VM_TYPE_DEFAULT), hvrt's own rules (the newest
 * profile), not hvrt_vm_create(NULL), which follows this host's KVM (kvm_profile_test,
 * vm_config_test and the tests that compare with KVM ask for that themselves). */
static inline hvrt_vm *vm_new(const struct hvrt_vm_config *cfg)
{
    hvrt_vm *vm = NULL;
    struct hvrt_vm_config dflt = config_for(HVRT_VM_TYPE_DEFAULT);
    int rc = hvrt_vm_create(cfg ? cfg : &dflt, &vm);
    if (rc != 0 || vm == NULL)
        FATAL("hvrt_vm_create = %d", rc);
    return vm;
}

/* A default VM whose highest guest address is 2^bits (deterministic, unlike the host's). */
static inline hvrt_vm *vm_new_gpa_bits(uint32_t bits)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_gpa_bits = bits;
    return vm_new(&c);
}

/* ---- Region requests, one wrapper per entry point -------------------------------------- */

static inline int set_v1(hvrt_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                         uint64_t hva)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = hva,
    };
    return hvrt_set_user_memory_region(vm, &r);
}

static inline struct kvm_userspace_memory_region2 region2_of(uint32_t slot, uint32_t flags, uint64_t gpa,
                                                             uint64_t size, uint64_t hva, uint32_t fd,
                                                             uint64_t offset)
{
    struct kvm_userspace_memory_region2 r;
    memset(&r, 0, sizeof r);
    r.slot = slot;
    r.flags = flags;
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = hva;
    r.guest_memfd = fd;
    r.guest_memfd_offset = offset;
    return r;
}

static inline int set_r2(hvrt_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                         uint64_t hva, uint32_t fd, uint64_t offset)
{
    struct kvm_userspace_memory_region2 r = region2_of(slot, flags, gpa, size, hva, fd, offset);
    return hvrt_set_user_memory_region2(vm, &r);
}

static inline int set_ext(hvrt_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                          uint64_t hva, uint32_t fd, uint64_t offset)
{
    struct kvm_userspace_memory_region_ext r;
    memset(&r, 0, sizeof r);
    r.region.slot = slot;
    r.region.flags = flags;
    r.region.guest_phys_addr = gpa;
    r.region.memory_size = size;
    r.region.userspace_addr = hva;
    r.private_fd = fd;
    r.private_offset = offset;
    return hvrt_set_user_memory_region_ext(vm, &r);
}

static inline int delete_slot(hvrt_vm *vm, uint32_t slot)
{
    return set_v1(vm, slot, 0, 0, 0, 0);
}

/* ---- File descriptors ------------------------------------------------------------------ */

/* Open fds of this process (the directory's own fd excluded). */
static inline int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        FATAL("opendir /proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static inline int new_memfd(uint64_t bytes)
{
    int fd = memfd_create("hvrt-test-private", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
        FATAL("memfd_create/ftruncate");
    return fd;
}

/* A number that is not an open fd and will not become one: the highest number under the soft
 * RLIMIT_NOFILE that is closed. Not the number of a file just closed: the kernel hands out the
 * lowest free number, so the next open() on any thread (the runtime's included) would reuse it
 * (the Rust tests, which run in parallel, saw another test's memfd there). As
 * native/rust/hvrt/tests/common/fixture.rs's closed_fd_number. */
static inline int closed_fd_number(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
        FATAL("getrlimit");
    int top = (int)(lim.rlim_cur < (1u << 20) ? lim.rlim_cur : 1u << 20) - 1; /* RLIM_INFINITY too */
    for (int fd = top; fd > 2; fd--)
        if (fcntl(fd, F_GETFD) < 0)
            return fd;
    FATAL("no closed fd number under RLIMIT_NOFILE");
}

/* True when fd is open and is the file described by st (same device and inode). */
static inline bool fd_is_file(int fd, const struct stat *st)
{
    struct stat now;
    return fd >= 0 && fstat(fd, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

/* The user address limit hvrt.h promises by default: TASK_SIZE_MAX of this host. Only a 5-level
 * kernel can place a mapping at 2^48. */
static inline uint64_t host_user_limit(void)
{
    void *want = (void *)(1ull << 48);
    void *p = mmap(want, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return USER_LIMIT_4LEVEL;
    munmap(p, PAGE);
    return p == want ? USER_LIMIT_5LEVEL : USER_LIMIT_4LEVEL;
}

/* ---- Translations ---------------------------------------------------------------------- */

/* What a test knows about one slot. */
struct slot_desc {
    uint32_t slot;   /* as_id << 16 | id */
    uint32_t flags;  /* KVM_MEM_* */
    uint64_t gfn;    /* base gfn */
    uint64_t npages;
    uint64_t hva;
    uint64_t pgoff;  /* first page in the private file (private slots) */
};

static inline uint32_t tr_flags_of(uint32_t kvm_flags)
{
    return (kvm_flags & F_RO ? HVRT_TR_READONLY : 0) | (kvm_flags & F_LOG ? HVRT_TR_LOG_DIRTY : 0) |
           (kvm_flags & F_PRIV ? HVRT_TR_HAS_PRIVATE : 0);
}

/* True when hvrt translates gfn exactly as slot s with generation gen; private_file identifies
 * the private backing (private slots only). Prints the first difference. */
static inline bool translates_as(hvrt_vm *vm, uint64_t gfn, const struct slot_desc *s, uint64_t gen,
                                 const struct stat *private_file)
{
    struct hvrt_translation t;
    memset(&t, 0xee, sizeof t); /* so that a field hvrt forgets to write shows */
    int rc = hvrt_translate(vm, AS_OF(s->slot), gfn, &t);
    uint64_t off = gfn - s->gfn;
    bool priv = (s->flags & F_PRIV) != 0;
    const char *bad = NULL;
    unsigned long long got = 0, want = 0;
#define FIELD_IS(name, value, expected)                                              \
    if (bad == NULL && (unsigned long long)(value) != (unsigned long long)(expected)) { \
        bad = name;                                                                  \
        got = (unsigned long long)(value);                                           \
        want = (unsigned long long)(expected);                                       \
    }
    FIELD_IS("rc", rc, 0);
    FIELD_IS("slot", t.slot, s->slot);
    FIELD_IS("flags", t.flags, tr_flags_of(s->flags));
    FIELD_IS("base_gfn", t.base_gfn, s->gfn);
    FIELD_IS("npages", t.npages, s->npages);
    FIELD_IS("hva", t.hva, s->hva + off * PAGE);
    FIELD_IS("private_pgoff", t.private_pgoff, priv ? s->pgoff + off : 0);
    if (priv) {
        FIELD_IS("private_fd (is the private file)", fd_is_file(t.private_fd, private_file), 1);
    } else {
        FIELD_IS("private_fd", t.private_fd, -1);
    }
    FIELD_IS("result", t.result, 0);
    FIELD_IS("run_pages", t.run_pages, s->npages - off);
    FIELD_IS("generation", t.generation, gen);
#undef FIELD_IS
    if (bad != NULL)
        fprintf(stderr, "  translate(as %u, gfn 0x%llx) of slot 0x%x: %s = 0x%llx, want 0x%llx\n",
                AS_OF(s->slot), (unsigned long long)gfn, s->slot, bad, got, want);
    return bad == NULL;
}

/* True when gfn of as_id is in no slot, and the out-parameter was left alone. */
static inline bool translates_to_nothing(hvrt_vm *vm, uint32_t as_id, uint64_t gfn)
{
    struct hvrt_translation t;
    memset(&t, 0x5a, sizeof t);
    int rc = hvrt_translate(vm, as_id, gfn, &t);
    const unsigned char *p = (const unsigned char *)&t;
    bool untouched = true;
    for (size_t i = 0; i < sizeof t; i++)
        untouched = untouched && p[i] == 0x5a;
    if (rc != HVRT_ENOENT || !untouched)
        fprintf(stderr, "  translate(as %u, gfn 0x%llx) = %d%s, want ENOENT\n", as_id,
                (unsigned long long)gfn, rc, untouched ? "" : " and wrote out");
    return rc == HVRT_ENOENT && untouched;
}

/* The generation of as_id, read through a gfn known to be in a slot there. */
static inline uint64_t generation_at(hvrt_vm *vm, uint32_t as_id, uint64_t gfn)
{
    struct hvrt_translation t;
    return hvrt_translate(vm, as_id, gfn, &t) == 0 ? t.generation : UINT64_MAX;
}

/* ---- The fixture: a default VM (max_gpa_bits 40) with slots of every kind --------------- */

#define FX_MAX_SLOTS 16
#define FX_PROBE_SLOT SLOT(0, 100)
#define FX_PROBE_GFN 0x8000ull
#define FX_HVA 0x7f0000000000ull

struct fixture {
    hvrt_vm *vm;
    uint32_t nr_as;
    int nslots;
    struct slot_desc slots[FX_MAX_SLOTS];
    uint64_t gen[2];         /* expected generation of each address space */
    struct stat private_file; /* the memfd behind the private slot (caller's fd already closed) */
};

/* Records a slot the test has just created (one change of its address space). */
static inline void fixture_record(struct fixture *fx, struct slot_desc s)
{
    if (fx->nslots == FX_MAX_SLOTS)
        FATAL("fixture full");
    fx->slots[fx->nslots++] = s;
    fx->gen[AS_OF(s.slot)] += fx->nr_as;
}

/* Adds a slot through the entry point its flags need and records it; the test's own memfd is
 * closed right away, since hvrt keeps a duplicate. */
static inline void fixture_add(struct fixture *fx, struct slot_desc s)
{
    int rc;
    if (s.flags & F_PRIV) {
        int fd = new_memfd(16 * PAGE);
        fstat(fd, &fx->private_file);
        rc = set_ext(fx->vm, s.slot, s.flags, s.gfn * PAGE, s.npages * PAGE, s.hva, (uint32_t)fd, s.pgoff * PAGE);
        close(fd);
    } else {
        rc = set_v1(fx->vm, s.slot, s.flags, s.gfn * PAGE, s.npages * PAGE, s.hva);
    }
    if (rc != 0)
        FATAL("fixture slot 0x%x: %d", s.slot, rc);
    fixture_record(fx, s);
}

/* as0: a plain slot at gfn 0, a READONLY one, a LOG_DIRTY one and a private one (ext, memfd,
 * offset 2 pages); as1: a slot overlapping as0's first (allowed across address spaces) and a
 * READONLY|LOG_DIRTY one. Only one private slot: there is one private_file. */
static inline void fixture_setup(struct fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->vm = vm_new_gpa_bits(40);
    fx->nr_as = 2;
    fx->gen[0] = 0;
    fx->gen[1] = 1;
    fixture_add(fx, (struct slot_desc){ SLOT(0, 0), 0, 0x0, 16, FX_HVA, 0 });
    fixture_add(fx, (struct slot_desc){ SLOT(0, 1), F_RO, 0x100, 8, FX_HVA + 0x100000, 0 });
    fixture_add(fx, (struct slot_desc){ SLOT(0, 2), F_LOG, 0x200, 4, FX_HVA + 0x200000, 0 });
    fixture_add(fx, (struct slot_desc){ SLOT(0, 3), F_PRIV, 0x300, 8, FX_HVA + 0x300000, 2 });
    fixture_add(fx, (struct slot_desc){ SLOT(1, 0), 0, 0x0, 4, FX_HVA + 0x400000, 0 });
    fixture_add(fx, (struct slot_desc){ SLOT(1, 5), F_RO | F_LOG, 0x1000, 2, FX_HVA + 0x500000, 0 });
}

static inline struct slot_desc *fixture_slot(struct fixture *fx, uint32_t slot)
{
    for (int i = 0; i < fx->nslots; i++)
        if (fx->slots[i].slot == slot)
            return &fx->slots[i];
    FATAL("no fixture slot 0x%x", slot);
}

static inline void fixture_forget(struct fixture *fx, uint32_t slot)
{
    struct slot_desc *s = fixture_slot(fx, slot);
    *s = fx->slots[--fx->nslots];
}

static inline bool fixture_covers(const struct fixture *fx, uint32_t as_id, uint64_t gfn)
{
    for (int i = 0; i < fx->nslots; i++) {
        const struct slot_desc *s = &fx->slots[i];
        if (AS_OF(s->slot) == as_id && gfn - s->gfn < s->npages)
            return true;
    }
    return false;
}

/* True when hvrt answers exactly what the fixture records: every gfn of every slot, the gfns
 * just before and just past each slot, and the generation of each address space. */
static inline bool fixture_intact(struct fixture *fx)
{
    bool ok = true;
    for (int i = 0; i < fx->nslots; i++) {
        const struct slot_desc *s = &fx->slots[i];
        uint32_t as_id = AS_OF(s->slot);
        for (uint64_t g = s->gfn; g < s->gfn + s->npages; g++)
            ok = translates_as(fx->vm, g, s, fx->gen[as_id], &fx->private_file) && ok;
        if (s->gfn > 0 && !fixture_covers(fx, as_id, s->gfn - 1))
            ok = translates_to_nothing(fx->vm, as_id, s->gfn - 1) && ok;
        if (!fixture_covers(fx, as_id, s->gfn + s->npages))
            ok = translates_to_nothing(fx->vm, as_id, s->gfn + s->npages) && ok;
    }
    for (uint32_t as_id = 0; as_id < fx->nr_as; as_id++)
        if (!fixture_covers(fx, as_id, FX_PROBE_GFN))
            ok = translates_to_nothing(fx->vm, as_id, FX_PROBE_GFN) && ok;
    return ok;
}

/* A valid create and delete after a rejected call: the VM still works, and the generation moves
 * on from the value it had before the rejection (so the rejection did not bump it). */
static inline bool fixture_still_works(struct fixture *fx)
{
    struct slot_desc probe = { FX_PROBE_SLOT, 0, FX_PROBE_GFN, 1, FX_HVA + 0x8000000, 0 };
    bool ok = set_v1(fx->vm, probe.slot, 0, probe.gfn * PAGE, PAGE, probe.hva) == 0;
    fx->gen[0] += fx->nr_as;
    ok = ok && translates_as(fx->vm, probe.gfn, &probe, fx->gen[0], NULL);
    ok = ok && delete_slot(fx->vm, probe.slot) == 0;
    fx->gen[0] += fx->nr_as;
    ok = ok && translates_to_nothing(fx->vm, 0, probe.gfn);
    if (!ok)
        fprintf(stderr, "  the probe create/delete failed\n");
    return ok;
}

/* A call hvrt must refuse with `want`, leaving every translation and generation as they were,
 * and the VM usable. */
#define CHECK_REJECTED(fx, expr, want)                                               \
    do {                                                                             \
        CHECK_RC(expr, want);                                                        \
        CHECK(fixture_intact(fx));                                                   \
        CHECK(fixture_still_works(fx));                                              \
    } while (0)

static inline void fixture_teardown(struct fixture *fx)
{
    hvrt_vm_destroy(fx->vm);
    fx->vm = NULL;
}
#endif

/* hvrt_kvm_bind, hvrt_kvm_caps and hvrt_create_guest_memfd against the real /dev/kvm: the bind's
 * errors, the capabilities against KVM_CHECK_EXTENSION, existing slots handed to KVM, later slot
 * changes reaching KVM first (and KVM's refusals winning), and guest_memfd creation. Whether KVM
 * really holds a slot is asked of KVM itself: a slot KVM has makes an overlapping create on the
 * VM fd fail with EEXIST, and a logging slot answers KVM_GET_DIRTY_LOG with 0 (else ENOENT).
 * Skips with the reason where /dev/kvm is absent. */
#include <errno.h>
#include <sys/resource.h>
#include "test_util.h"
#include "kvm_ioctl.h"


static int kvm_fd = -1;


static long check_ext(int fd, long cap)
{
    long r = ioctl(fd, K_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

/* The pass under way: the KVM VM type under test (SW_PROTECTED where KVM_CAP_VM_TYPES offers it,
 * then the default type), whether a VM of it takes guest_memfd slots (KVM_CAP_GUEST_MEMFD on such
 * a VM), and the kernel profile hvrt gets: 0 (probed) or the number the probe gave, set explicitly. */
static uint32_t g_type;
static bool g_gmem;
static uint32_t g_profile;

static int new_kvm_vm(void)
{
    int vm = ioctl(kvm_fd, K_CREATE_VM, (unsigned long)g_type);
    if (vm < 0)
        FATAL("KVM_CREATE_VM(%u): errno %d", g_type, errno);
    return vm;
}

/* The config of an hvrt VM like this pass's KVM VM: its type, its profile, the host's address
 * spaces (a profile's default for the type). */
static struct hvrt_vm_config config_like_kvm(void)
{
    struct hvrt_vm_config c = config_for(g_type);
    c.kvm_profile = g_profile;
    if (g_profile != HVRT_KVM_PROFILE_HOST) {
        /* A named profile has its type's address spaces; this host's may be fewer (no SMM). */
        int vm = new_kvm_vm();
        long n = check_ext(vm, 118 /* KVM_CAP_MULTI_ADDRESS_SPACE */);
        close(vm);
        c.nr_address_spaces = n > 0 ? (uint32_t)n : 1;
    }
    return c;
}

static hvrt_vm *vm_like_kvm(void)
{
    struct hvrt_vm_config c = config_like_kvm();
    return vm_new(&c);
}

/* Whether this KVM has KVM_SET_USER_MEMORY_REGION2 (6.8): without it (6.1) the test's shared
 * slots go through v1, on KVM and on hvrt alike (hvrt's 6.1 profile answers REGION2 -ENOTTY). */
static bool g_region2;

/* Direct KVM_SET_USER_MEMORY_REGION2 (v1 without it) on the VM fd, bypassing hvrt. */
static int kvm_region(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *hva, int gmem)
{
    struct kvm_userspace_memory_region2 r = region2_of(slot, flags, gpa, size, (uint64_t)(uintptr_t)hva,
                                                       gmem < 0 ? 0 : (uint32_t)gmem, 0);
    return g_region2 ? (int)kio(vm_fd, K_SET_REGION2, &r) : (int)kio(vm_fd, K_SET_REGION, &r);
}

/* A shared slot through hvrt: region2 where the kernel has it, else v1. */
static int set_slot(hvrt_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, uint64_t hva)
{
    return g_region2 ? set_r2(vm, slot, flags, gpa, size, hva, 0, 0) : set_v1(vm, slot, flags, gpa, size, hva);
}

/* True when KVM has a slot over gpa: a direct create of a spare slot there is refused with EEXIST. */
static bool kvm_has_slot_at(int vm_fd, uint64_t gpa, void *hva)
{
    const uint32_t spare = 999;
    int r = kvm_region(vm_fd, spare, 0, gpa, PAGE, hva, -1);
    if (r == 0)
        kvm_region(vm_fd, spare, 0, 0, 0, hva, -1);
    return r == -EEXIST;
}


static int kvm_gmem(int vm_fd, uint64_t size, uint64_t flags)
{
    struct kvm_create_guest_memfd g = { .size = size, .flags = flags };
    return (int)kio(vm_fd, K_CREATE_GUEST_MEMFD, &g);
}

static void *anon(uint64_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    return p;
}

static void bind_errors(void)
{
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct hvrt_kvm_caps caps = { .size = sizeof caps };

    CHECK_RC(hvrt_kvm_bind(NULL, kvm_vm, 0), HVRT_EFAULT);
    CHECK_RC(hvrt_kvm_bind(vm, -1, 0), HVRT_EBADF);
    CHECK_RC(hvrt_kvm_bind(vm, closed_fd_number(), 0), HVRT_EBADF);
    CHECK_RC(hvrt_kvm_bind(vm, devnull, 0), HVRT_ENOTTY);
    /* /dev/kvm itself answers KVM_CHECK_EXTENSION, yet is no VM: hvrt tells by its /proc link. */
    CHECK_RC(hvrt_kvm_bind(vm, kvm_fd, 0), HVRT_ENOTTY);
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 1u << 5), HVRT_EINVAL);
    CHECK_RC(hvrt_kvm_caps(vm, &caps), HVRT_ENODEV);
    CHECK_RC(hvrt_create_guest_memfd(vm, PAGE, 0, NULL), HVRT_ENODEV);

    /* More address spaces in hvrt than in KVM (a host without SMM has one). */
    if (g_type == HVRT_VM_TYPE_DEFAULT && check_ext(kvm_vm, 118) < 2) {
        struct hvrt_vm_config two = config_for(HVRT_VM_TYPE_DEFAULT);
        two.nr_address_spaces = 2;
        hvrt_vm *vm2 = vm_new(&two);
        CHECK_RC(hvrt_kvm_bind(vm2, kvm_vm, 0), HVRT_EINVAL);
        hvrt_vm_destroy(vm2);
    }

    /* Hypercall exits: enabled where KVM forwards KVM_HC_MAP_GPA_RANGE, else -ENODEV. */
    bool hc = (check_ext(kvm_vm, 201) & (1u << 12)) != 0;
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, HVRT_BIND_EXIT_HYPERCALL), hc ? 0 : HVRT_ENODEV);
    if (!hc)
        CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), HVRT_EBUSY);
    int other = new_kvm_vm();
    CHECK_RC(hvrt_kvm_bind(vm, other, 0), HVRT_EBUSY);
    CHECK_RC(hvrt_kvm_caps(vm, &caps), 0);
    CHECK(((caps.flags & HVRT_KVM_EXIT_HYPERCALL) != 0) == hc);
    hvrt_vm_destroy(vm);
    close(other);
    close(devnull);
    close(kvm_vm);
}

static void caps_match_kvm(void)
{
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);

    struct hvrt_kvm_caps c;
    memset(&c, 0xAB, sizeof c);
    c.size = sizeof c;
    CHECK_RC(hvrt_kvm_caps(vm, &c), 0);
    CHECK_RC(c.size, sizeof c);
    CHECK(((c.flags & HVRT_KVM_USER_MEMORY2) != 0) == (check_ext(kvm_vm, 231) > 0));
    CHECK(((c.flags & HVRT_KVM_GUEST_MEMFD) != 0) == (check_ext(kvm_vm, 234) > 0));
    CHECK(((c.flags & HVRT_KVM_MEMORY_ATTRIBUTES) != 0) == ((check_ext(kvm_vm, 233) & KVM_MEMORY_ATTRIBUTE_PRIVATE) != 0));
    CHECK((c.flags & HVRT_KVM_EXIT_HYPERCALL) == 0);
    CHECK(((c.flags & HVRT_KVM_MANUAL_DIRTY_LOG) != 0) == (check_ext(kvm_vm, 168) > 0));
    CHECK(((c.flags & HVRT_KVM_READONLY_MEM) != 0) == (check_ext(kvm_vm, 81) > 0));
    CHECK(((c.flags & HVRT_KVM_MEMORY_FAULT_INFO) != 0) == (check_ext(kvm_vm, 232) > 0));
    CHECK((c.flags & ~0x7fu) == 0);
    CHECK_RC(c.guest_memfd_flags, check_ext(kvm_vm, 244));
    CHECK_RC(c.memory_attributes, check_ext(kvm_vm, 233));
    CHECK_RC(c.hypercall_exits, check_ext(kvm_vm, 201));
    CHECK_RC(c.nr_memslots, check_ext(kvm_vm, 10));
    long nas = check_ext(kvm_vm, 118);
    CHECK_RC(c.nr_address_spaces, nas > 0 ? nas : 1);
    CHECK(c.reserved[0] == 0 && c.reserved[1] == 0 && c.reserved[2] == 0 && c.reserved[3] == 0);
    printf("kvm caps: flags 0x%x guest_memfd_flags 0x%llx memory_attributes 0x%llx hypercall_exits 0x%llx "
           "nr_memslots %u nr_address_spaces %u\n",
           c.flags, (unsigned long long)c.guest_memfd_flags, (unsigned long long)c.memory_attributes,
           (unsigned long long)c.hypercall_exits, c.nr_memslots, c.nr_address_spaces);

    /* A shorter struct gets only its own bytes; size says how many were written. */
    struct hvrt_kvm_caps small;
    memset(&small, 0xCD, sizeof small);
    small.size = 12;
    CHECK_RC(hvrt_kvm_caps(vm, &small), 0);
    CHECK_RC(small.size, 12);
    CHECK(((unsigned char *)&small)[12] == 0xCD && small.hypercall_exits == 0xCDCDCDCDCDCDCDCDull);
    /* A longer one: hvrt writes its 72 bytes and leaves the rest. */
    struct {
        struct hvrt_kvm_caps caps;
        unsigned char tail[24];
    } big;
    memset(&big, 0xEE, sizeof big);
    big.caps.size = sizeof big;
    CHECK_RC(hvrt_kvm_caps(vm, &big.caps), 0);
    CHECK_RC(big.caps.size, 72);
    CHECK(big.tail[0] == 0xEE && big.tail[23] == 0xEE);

    struct hvrt_kvm_caps tiny = { .size = 7 };
    CHECK_RC(hvrt_kvm_caps(vm, &tiny), HVRT_EINVAL);
    CHECK_RC(hvrt_kvm_caps(vm, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_kvm_caps(NULL, &c), HVRT_EFAULT);
    hvrt_vm_destroy(vm);
    close(kvm_vm);
}

/* Slots hvrt had before the bind are in KVM after it, a private one with its guest_memfd. */
static void replay_existing_slots(void)
{
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    void *mem = anon(64 * PAGE);
    uint64_t hva = (uint64_t)(uintptr_t)mem;
    CHECK_RC(set_slot(vm, SLOT(0, 0), 0, 0, 16 * PAGE, hva), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 1), F_LOG, 0x100000, 16 * PAGE, hva + 16 * PAGE), 0);
    if (g_gmem) {
        int gmem = kvm_gmem(kvm_vm, 16 * PAGE, 0);
        CHECK(gmem >= 0);
        CHECK_RC(set_r2(vm, SLOT(0, 2), F_PRIV, 0x200000, 16 * PAGE, hva + 32 * PAGE, (uint32_t)gmem, 0), 0);
        close(gmem); /* hvrt's duplicate is what KVM gets */
    }
    CHECK(!kvm_has_slot_at(kvm_vm, 0, mem));

    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    CHECK(kvm_has_slot_at(kvm_vm, 0, mem));
    CHECK(kvm_has_slot_at(kvm_vm, 0x100000 + 15 * PAGE, mem));
    CHECK(kvm_has_slot_at(kvm_vm, 0x200000, mem) == g_gmem);
    CHECK(!kvm_has_slot_at(kvm_vm, 0x300000, mem));
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 1)), 0);
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 0)), -ENOENT);
    hvrt_vm_destroy(vm);
    close(kvm_vm);
    munmap(mem, 64 * PAGE);
}

/* After the bind: create, move, flag change, delete, batch reach KVM; KVM's refusals win. */
static void changes_reach_kvm(void)
{
    struct hvrt_vm_config cfg = config_like_kvm();
    cfg.max_gpa_bits = 32; /* stricter than KVM: hvrt's refusal must not reach KVM */
    hvrt_vm *vm = vm_new(&cfg);
    int kvm_vm = new_kvm_vm();
    void *mem = anon(64 * PAGE);
    uint64_t hva = (uint64_t)(uintptr_t)mem;
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);

    CHECK_RC(set_slot(vm, SLOT(0, 3), 0, 0x400000, 16 * PAGE, hva), 0);
    CHECK(kvm_has_slot_at(kvm_vm, 0x400000, mem));
    CHECK_RC(set_slot(vm, SLOT(0, 3), 0, 0x500000, 16 * PAGE, hva), 0); /* move */
    CHECK(!kvm_has_slot_at(kvm_vm, 0x400000, mem));
    CHECK(kvm_has_slot_at(kvm_vm, 0x500000, mem));
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 3)), -ENOENT);
    CHECK_RC(set_v1(vm, SLOT(0, 3), F_LOG, 0x500000, 16 * PAGE, hva), 0); /* flags */
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 3)), 0);
    CHECK_RC(delete_slot(vm, SLOT(0, 3)), 0);
    CHECK(!kvm_has_slot_at(kvm_vm, 0x500000, mem));
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 3)), -ENOENT);

    /* The batch: each entry goes to KVM. */
    struct kvm_userspace_memory_region2 batch[2] = {
        region2_of(SLOT(0, 4), 0, 0x600000, 16 * PAGE, hva, 0, 0),
        region2_of(SLOT(0, 5), F_LOG, 0x700000, 16 * PAGE, hva + 16 * PAGE, 0, 0),
    };
    int32_t results[2];
    CHECK_RC(hvrt_set_user_memory_regions(vm, batch, 2, results), 2);
    CHECK(kvm_has_slot_at(kvm_vm, 0x600000, mem));
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 5)), 0);

    /* hvrt-only refusals never reach KVM: past max_gpa_bits (KVM would take it), and an
     * overlap hvrt sees first. */
    CHECK_RC(set_slot(vm, SLOT(0, 6), 0, 1ull << 33, 16 * PAGE, hva), HVRT_EINVAL);
    CHECK(!kvm_has_slot_at(kvm_vm, 1ull << 33, mem));
    CHECK_RC(set_slot(vm, SLOT(0, 6), 0, 0x600000, PAGE, hva), HVRT_EEXIST);

    /* KVM refuses what hvrt alone accepted: a guest_memfd of another KVM VM (hvrt cannot tell
     * whose it is), and an _ext private memfd (KVM takes only guest_memfds). KVM's errno, and
     * hvrt has no slot and holds no duplicate. */
    int other = new_kvm_vm();
    int foreign = g_gmem ? kvm_gmem(other, 16 * PAGE, 0) : -1;
    int memfd = new_memfd(16 * PAGE);
    int own = g_gmem ? kvm_gmem(kvm_vm, 16 * PAGE, 0) : -1;
    int fds = count_open_fds();
    if (g_gmem) {
        CHECK_RC(set_r2(vm, SLOT(0, 7), F_PRIV, 0x800000, 16 * PAGE, hva, (uint32_t)foreign, 0), HVRT_EINVAL);
        CHECK(translates_to_nothing(vm, 0, 0x800));
    }
    /* (Where the VM takes no private slots at all, hvrt's own flag check refuses it first.) */
    CHECK_RC(set_ext(vm, SLOT(0, 7), F_PRIV, 0x800000, 16 * PAGE, hva, (uint32_t)memfd, 0), HVRT_EINVAL);
    CHECK(translates_to_nothing(vm, 0, 0x800));
    CHECK_RC(count_open_fds(), fds);
    if (g_gmem) {
        /* The same slot with this VM's own guest_memfd is taken by both. */
        CHECK_RC(set_r2(vm, SLOT(0, 7), F_PRIV, 0x800000, 16 * PAGE, hva, (uint32_t)own, 0), 0);
        CHECK(kvm_has_slot_at(kvm_vm, 0x800000, mem));
        struct hvrt_translation t;
        CHECK_RC(hvrt_translate(vm, 0, 0x800, &t), 0);
        CHECK_RC(delete_slot(vm, SLOT(0, 7)), 0);
        CHECK(!kvm_has_slot_at(kvm_vm, 0x800000, mem));
    } else {
        /* And a guest_memfd slot is refused by hvrt's rules as by KVM's: the flag is not valid. */
        CHECK_RC(kvm_region(kvm_vm, 7, F_PRIV, 0x800000, 16 * PAGE, mem, memfd), -EINVAL);
        CHECK_RC(set_r2(vm, SLOT(0, 7), F_PRIV, 0x800000, 16 * PAGE, hva, (uint32_t)memfd, 0), g_region2 ? HVRT_EINVAL : -25 /* -ENOTTY */);
    }

    /* A slot KVM has but hvrt does not (the VMM went around hvrt): KVM's EEXIST wins. */
    CHECK_RC(kvm_region(kvm_vm, 20, 0, 0x900000, PAGE, mem, -1), 0);
    CHECK_RC(set_slot(vm, SLOT(0, 8), 0, 0x900000, PAGE, hva), HVRT_EEXIST);
    CHECK(translates_to_nothing(vm, 0, 0x900));

    hvrt_vm_destroy(vm);
    if (own >= 0)
        close(own);
    close(memfd);
    if (foreign >= 0)
        close(foreign);
    close(other);
    close(kvm_vm);
    munmap(mem, 64 * PAGE);
}

/* A slot KVM refuses at bind: the slots handed before it are deleted again, nothing is bound. */
static void bind_rolls_back(void)
{
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    int other = new_kvm_vm();
    int foreign = g_gmem ? kvm_gmem(other, 16 * PAGE, 0) : -1;
    void *mem = anon(32 * PAGE);
    uint64_t hva = (uint64_t)(uintptr_t)mem;

    CHECK_RC(set_slot(vm, SLOT(0, 0), F_LOG, 0, 16 * PAGE, hva), 0);
    if (g_gmem) {
        /* A guest_memfd of another KVM VM: hvrt cannot tell, KVM refuses it. */
        CHECK_RC(set_r2(vm, SLOT(0, 1), F_PRIV, 0x100000, 16 * PAGE, hva + 16 * PAGE, (uint32_t)foreign, 0), 0);
        CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), HVRT_EINVAL);
    } else {
        /* A slot KVM already has at that place (made on the fd directly): KVM's -EEXIST. */
        CHECK_RC(set_slot(vm, SLOT(0, 1), 0, 0x100000, 16 * PAGE, hva + 16 * PAGE), 0);
        CHECK_RC(kvm_region(kvm_vm, 9, 0, 0x100000, PAGE, mem, -1), 0);
        CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), HVRT_EEXIST);
        CHECK_RC(kvm_region(kvm_vm, 9, 0, 0x100000, 0, mem, -1), 0);
    }
    CHECK(!kvm_has_slot_at(kvm_vm, 0, mem));
    CHECK_RC(kvm_dirty_log(kvm_vm, SLOT(0, 0)), -ENOENT);
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    CHECK_RC(hvrt_kvm_caps(vm, &caps), HVRT_ENODEV);
    /* Unbound, hvrt alone still takes changes; without the foreign slot the bind succeeds. */
    CHECK_RC(delete_slot(vm, SLOT(0, 1)), 0);
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    CHECK(kvm_has_slot_at(kvm_vm, 0, mem));
    hvrt_vm_destroy(vm);
    if (foreign >= 0)
        close(foreign);
    close(other);
    close(kvm_vm);
    munmap(mem, 32 * PAGE);
}

/* hvrt fails after KVM accepted (here: no fd left for hvrt's duplicate of the guest_memfd,
 * -EMFILE): KVM's new slot is deleted again, so both still agree, and hvrt's errno is returned. */
static void hvrt_failure_undoes_kvm(void)
{
    if (!g_gmem) {
        SKIP("this KVM VM takes no guest_memfd slot: no private file for hvrt to fail on");
        return;
    }
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    void *mem = anon(16 * PAGE);
    uint64_t hva = (uint64_t)(uintptr_t)mem;
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    int gmem = kvm_gmem(kvm_vm, 16 * PAGE, 0);
    CHECK(gmem >= 0);

    /* Every fd number below the limit in use: the next dup fails with EMFILE. */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int highest = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            highest = fd;
    low = old;
    low.rlim_cur = (rlim_t)highest + 1;
    int fillers[4096], nfill = 0;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
        SKIP("setrlimit refused");
    } else {
        for (int fd; nfill < 4096 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
            fillers[nfill++] = fd;
        int r = set_r2(vm, SLOT(0, 0), F_PRIV, 0, 16 * PAGE, hva, (uint32_t)gmem, 0);
        while (nfill > 0)
            close(fillers[--nfill]);
        setrlimit(RLIMIT_NOFILE, &old);
        CHECK_RC(r, HVRT_EMFILE);
        CHECK(!kvm_has_slot_at(kvm_vm, 0, mem));
        CHECK(translates_to_nothing(vm, 0, 0));
        /* With fds again, the same request is taken by both. */
        CHECK_RC(set_r2(vm, SLOT(0, 0), F_PRIV, 0, 16 * PAGE, hva, (uint32_t)gmem, 0), 0);
        CHECK(kvm_has_slot_at(kvm_vm, 0, mem));
    }
    hvrt_vm_destroy(vm);
    close(gmem);
    close(kvm_vm);
    munmap(mem, 16 * PAGE);
}

static bool cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f >= 0 && (f & FD_CLOEXEC) != 0;
}

static void guest_memfds(void)
{
    hvrt_vm *vm = vm_like_kvm();
    int kvm_vm = new_kvm_vm();
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    CHECK_RC(hvrt_kvm_caps(vm, &caps), 0);
    if (!(caps.flags & HVRT_KVM_GUEST_MEMFD)) {
        CHECK_RC(hvrt_create_guest_memfd(vm, PAGE, 0, NULL), HVRT_ENODEV);
        SKIP("this KVM has no guest_memfd");
        hvrt_vm_destroy(vm);
        close(kvm_vm);
        return;
    }
    int fds = count_open_fds();

    /* Flags 0: not mmap-able, *shared is NULL. */
    void *shared = (void *)1;
    int fd = hvrt_create_guest_memfd(vm, 16 * PAGE, 0, &shared);
    CHECK(fd >= 0);
    CHECK(shared == NULL);
    CHECK(cloexec(fd));
    close(fd);

    bool both = (caps.guest_memfd_flags & 3) == 3;
    if (both) {
        /* MMAP | INIT_SHARED: mapped, usable, and the mapping backs a slot of the file. */
        fd = hvrt_create_guest_memfd(vm, 16 * PAGE, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED, &shared);
        CHECK(fd >= 0 && shared != NULL);
        if (fd >= 0 && shared != NULL) {
            CHECK(cloexec(fd));
            memset(shared, 0x5A, 16 * PAGE);
            CHECK(((unsigned char *)shared)[15 * PAGE + 7] == 0x5A);
            /* The same file through a second mapping sees the bytes: it is the file's memory. */
            void *again = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 15 * PAGE);
            CHECK(again != MAP_FAILED && ((unsigned char *)again)[7] == 0x5A);
            munmap(again, PAGE);
            CHECK_RC(set_r2(vm, SLOT(0, 0), F_PRIV, 0, 16 * PAGE, (uint64_t)(uintptr_t)shared, (uint32_t)fd, 0), 0);
            CHECK(kvm_has_slot_at(kvm_vm, 0, shared));
            CHECK_RC(delete_slot(vm, SLOT(0, 0)), 0);
            munmap(shared, 16 * PAGE);
            close(fd);
        }
        /* Asked for, but no place to put the address: the fd alone. */
        fd = hvrt_create_guest_memfd(vm, 16 * PAGE, 3, NULL);
        CHECK(fd >= 0);
        close(fd);
    }

    /* SHARED_IF_SUPPORTED: mapped where the VM offers both flags, plain otherwise. */
    shared = (void *)1;
    fd = hvrt_create_guest_memfd(vm, 16 * PAGE, HVRT_GMEM_SHARED_IF_SUPPORTED, &shared);
    CHECK(fd >= 0);
    CHECK((shared != NULL) == both);
    if (shared != NULL) {
        ((volatile char *)shared)[0] = 1;
        CHECK(((volatile char *)shared)[0] == 1);
        munmap(shared, 16 * PAGE);
    }
    close(fd);

    /* KVM's checks, KVM's errno; *shared untouched, no fd left open. */
    shared = (void *)1;
    CHECK_RC(hvrt_create_guest_memfd(vm, 16 * PAGE, 1ull << 10, &shared), HVRT_EINVAL);
    CHECK_RC(hvrt_create_guest_memfd(vm, 16 * PAGE, 1ull << 33, &shared), HVRT_EINVAL);
    CHECK_RC(hvrt_create_guest_memfd(vm, 0, 0, &shared), HVRT_EINVAL);
    CHECK_RC(hvrt_create_guest_memfd(vm, 100, 0, &shared), HVRT_EINVAL);
    CHECK_RC(hvrt_create_guest_memfd(vm, 1ull << 63, 0, &shared), HVRT_EINVAL);
    CHECK(shared == (void *)1);
    CHECK_RC(count_open_fds(), fds);
    CHECK_RC(hvrt_create_guest_memfd(NULL, PAGE, 0, NULL), HVRT_EFAULT);
    hvrt_vm_destroy(vm);
    close(kvm_vm);
}

/* This host's KVM takes no PRIVATE attribute: hvrt keeps them alone (the VMM's record). */
static void attributes_kept_in_hvrt(void)
{
    /* An hvrt VM with private memory (the newest profile's SW_PROTECTED) on this pass's KVM VM. */
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    int kvm_vm = new_kvm_vm();
    /* Set before the bind: nothing to hand KVM where it takes no PRIVATE. */
    struct kvm_memory_attributes a = { .address = 0x10000, .size = 4 * PAGE, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE };
    CHECK_RC(hvrt_set_memory_attributes(vm, &a), 0);
    CHECK_RC(hvrt_kvm_bind(vm, kvm_vm, 0), 0);
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    CHECK_RC(hvrt_kvm_caps(vm, &caps), 0);
    if (caps.flags & HVRT_KVM_MEMORY_ATTRIBUTES) {
        SKIP("this KVM takes PRIVATE attributes: the hvrt-alone path does not apply");
        hvrt_vm_destroy(vm);
        close(kvm_vm);
        return;
    }
    struct kvm_memory_attributes probe = { .address = 0, .size = PAGE, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE };
    printf("KVM_SET_MEMORY_ATTRIBUTES on this VM: %ld (so hvrt keeps the attributes alone)\n",
           kio(kvm_vm, K_SET_MEMORY_ATTRIBUTES, &probe));

    a.address = 0x20000;
    CHECK_RC(hvrt_set_memory_attributes(vm, &a), 0);
    uint64_t attrs = 0;
    CHECK_RC(hvrt_get_memory_attributes(vm, 0x20, &attrs), 0);
    CHECK_RC(attrs, KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK_RC(hvrt_convert(vm, 0x20000, 2 * PAGE, 0), 0);
    CHECK_RC(hvrt_get_memory_attributes(vm, 0x21, &attrs), 0);
    CHECK_RC(attrs, 0);
    CHECK_RC(hvrt_convert(vm, 0x30000, PAGE, 1), 0);
    CHECK_RC(hvrt_get_memory_attributes(vm, 0x30, &attrs), 0);
    CHECK_RC(attrs, KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK_RC(hvrt_get_memory_attributes(vm, 0x10, &attrs), 0);
    CHECK_RC(attrs, KVM_MEMORY_ATTRIBUTE_PRIVATE);
    /* hvrt's own checks still apply (flags must be 0). */
    a.flags = 1;
    CHECK_RC(hvrt_set_memory_attributes(vm, &a), HVRT_EINVAL);
    hvrt_vm_destroy(vm);
    close(kvm_vm);
}

int main(void)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        SKIP("/dev/kvm cannot be opened: the binding needs a real KVM");
        return harness_finish();
    }
    int probe = ioctl(kvm_fd, K_CREATE_VM, 0);
    if (probe < 0) {
        SKIP("KVM_CREATE_VM(type 0) failed");
        return harness_finish();
    }
    close(probe);
    /* Every pass twice: hvrt's profile probed (0), then the probed number given explicitly. */
    long types = check_ext(kvm_fd, 235 /* KVM_CAP_VM_TYPES */);
    g_region2 = check_ext(kvm_fd, 231 /* KVM_CAP_USER_MEMORY2 */) > 0;
    const uint32_t pass_types[] = { HVRT_VM_TYPE_SW_PROTECTED, HVRT_VM_TYPE_DEFAULT };
    for (unsigned i = 0; i < 2; i++) {
        g_type = pass_types[i];
        if (g_type != HVRT_VM_TYPE_DEFAULT && !((types >> g_type) & 1)) {
            printf("KVM_CAP_VM_TYPES %#lx: no VM type %u here\n", types, g_type);
            continue;
        }
        int vm = new_kvm_vm();
        g_gmem = check_ext(vm, 234 /* KVM_CAP_GUEST_MEMFD */) > 0;
        close(vm);
        struct hvrt_kvm_profile q = { .size = sizeof q };
        CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_HOST, g_type, &q), 0);
        for (int explicit = 0; explicit < 2; explicit++) {
            g_profile = explicit ? q.profile : HVRT_KVM_PROFILE_HOST;
            printf("pass: KVM VM type %u, guest_memfd slots %s, hvrt profile %#x%s\n", g_type, g_gmem ? "yes" : "no",
                   q.profile, explicit ? " (set)" : " (probed)");
            bind_errors();
            caps_match_kvm();
            replay_existing_slots();
            changes_reach_kvm();
            bind_rolls_back();
            hvrt_failure_undoes_kvm();
            guest_memfds();
            attributes_kept_in_hvrt();
        }
    }
    close(kvm_fd);
    return harness_finish();
}

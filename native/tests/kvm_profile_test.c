/* Kernel profiles (hvrt.h "Kernel profiles"): every row of the table, per named profile and VM
 * type, on an unbound VM (no KVM needed); the size-prefixed query; and kvm_profile 0, checked
 * against this host's /dev/kvm asked directly (or, without one, the newest profile). */
#include <errno.h>
#include <hvrt_testing.h>
#include "test_util.h"

#define HVRT_ENOTTY (-25)
#define NTYPES 6

static const uint32_t k_profiles[] = { HVRT_KVM_PROFILE_6_1, HVRT_KVM_PROFILE_6_8, HVRT_KVM_PROFILE_6_12,
                                       HVRT_KVM_PROFILE_6_18 };
#define NPROFILES (sizeof k_profiles / sizeof k_profiles[0])

/* The table, written out independently of the library: VM types each profile's KVM takes. */
static uint32_t want_types(uint32_t p)
{
    return p == HVRT_KVM_PROFILE_6_1 ? 0x1 : p == HVRT_KVM_PROFILE_6_8 ? 0x3 : p == HVRT_KVM_PROFILE_6_12 ? 0x1f : 0x3f;
}
static bool private_type(uint32_t t) { return t == 1 || t == 4 || t == 5; }
static bool protected_type(uint32_t t) { return t == 3 || t == 4 || t == 5; }
static bool want_gmem_slots(uint32_t p, uint32_t t) { return p >= HVRT_KVM_PROFILE_6_8 && (p >= HVRT_KVM_PROFILE_6_18 || private_type(t)); }
static bool want_readonly(uint32_t p, uint32_t t) { return p == HVRT_KVM_PROFILE_6_1 || !protected_type(t); }
static uint32_t want_spaces(uint32_t p, uint32_t t) { return p >= HVRT_KVM_PROFILE_6_8 && private_type(t) ? 1 : 2; }

static uint64_t want_features(uint32_t p, uint32_t t)
{
    uint64_t f = 0;
    if (p >= HVRT_KVM_PROFILE_6_8)
        f |= HVRT_PROFILE_F_REGION2 | HVRT_PROFILE_F_GUEST_MEMFD | HVRT_PROFILE_F_MEMORY_ATTRIBUTES;
    if (want_gmem_slots(p, t))
        f |= HVRT_PROFILE_F_PRIVATE_SLOTS;
    if (p >= HVRT_KVM_PROFILE_6_8 && private_type(t))
        f |= HVRT_PROFILE_F_PRIVATE_ATTRIBUTE;
    if (want_readonly(p, t))
        f |= HVRT_PROFILE_F_READONLY;
    return f;
}

static hvrt_vm *vm_of(uint32_t profile, uint32_t type)
{
    struct hvrt_vm_config c = config_for(type);
    c.kvm_profile = profile;
    return vm_new(&c);
}

static int set_attrs(hvrt_vm *vm, uint64_t gpa, uint64_t size, uint64_t attrs)
{
    struct kvm_memory_attributes a = { .address = gpa, .size = size, .attributes = attrs };
    return hvrt_set_memory_attributes(vm, &a);
}

static void query_matches_table(void)
{
    for (unsigned i = 0; i < NPROFILES; i++)
        for (uint32_t t = 0; t < NTYPES; t++) {
            struct hvrt_kvm_profile q = { .size = sizeof q };
            CHECK_RC(hvrt_kvm_profile_query(k_profiles[i], t, &q), 0);
            CHECK(q.size == sizeof q && q.profile == k_profiles[i] && q.source == HVRT_PROFILE_FROM_CONFIG);
            CHECK(q.vm_types == want_types(k_profiles[i]));
            if (q.features != want_features(k_profiles[i], t))
                fprintf(stderr, "  profile %#x type %u: features %#llx, want %#llx\n", k_profiles[i], t,
                        (unsigned long long)q.features, (unsigned long long)want_features(k_profiles[i], t));
            CHECK(q.features == want_features(k_profiles[i], t));
            CHECK(q.reserved[0] == 0 && q.reserved[1] == 0 && q.reserved[2] == 0);
        }
}

static void query_arguments(void)
{
    struct hvrt_kvm_profile q;
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_6_12, 0, NULL), HVRT_EFAULT);
    q.size = 7;
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_6_12, 0, &q), HVRT_EINVAL);
    q.size = sizeof q;
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_6_12, 32, &q), HVRT_EINVAL);
    CHECK_RC(hvrt_kvm_profile_query(0x0602, 0, &q), HVRT_EINVAL);
    /* A shorter struct (an older header's) gets only its bytes; size says how many. */
    unsigned char buf[64];
    memset(buf, 0xa5, sizeof buf);
    uint32_t eight = 8;
    memcpy(buf, &eight, 4);
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_6_1, 0, (struct hvrt_kvm_profile *)buf), 0);
    uint32_t got[2];
    memcpy(got, buf, 8);
    CHECK(got[0] == 8 && got[1] == HVRT_KVM_PROFILE_6_1 && buf[8] == 0xa5);
    /* A longer one: 48 bytes written, the rest left alone. */
    memset(buf, 0xa5, sizeof buf);
    uint32_t big = sizeof buf;
    memcpy(buf, &big, 4);
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_6_1, 0, (struct hvrt_kvm_profile *)buf), 0);
    memcpy(got, buf, 4);
    CHECK(got[0] == 48 && buf[48] == 0xa5);

    hvrt_vm *vm = vm_of(HVRT_KVM_PROFILE_6_12, 0);
    CHECK_RC(hvrt_vm_kvm_profile(NULL, &q), HVRT_EFAULT);
    CHECK_RC(hvrt_vm_kvm_profile(vm, NULL), HVRT_EFAULT);
    q.size = 4;
    CHECK_RC(hvrt_vm_kvm_profile(vm, &q), HVRT_EINVAL);
    q.size = sizeof q;
    CHECK_RC(hvrt_vm_kvm_profile(vm, &q), 0);
    CHECK(q.profile == HVRT_KVM_PROFILE_6_12 && q.source == HVRT_PROFILE_FROM_CONFIG && q.vm_types == 0x1f);
    hvrt_vm_destroy(vm);
}

/* Which types each profile creates, and what the VM then reports. */
static void types_per_profile(void)
{
    for (unsigned i = 0; i < NPROFILES; i++)
        for (uint32_t t = 0; t < NTYPES + 1; t++) {
            struct hvrt_vm_config c = config_for(t);
            c.kvm_profile = k_profiles[i];
            hvrt_vm *vm = NULL;
            bool takes = (want_types(k_profiles[i]) >> t) & 1;
            CHECK_RC(hvrt_vm_create(&c, &vm), takes ? 0 : HVRT_EINVAL);
            if (!vm)
                continue;
            struct hvrt_kvm_profile q = { .size = sizeof q };
            CHECK_RC(hvrt_vm_kvm_profile(vm, &q), 0);
            CHECK(q.profile == k_profiles[i] && q.features == want_features(k_profiles[i], t));
            /* The type's address spaces: as_id 1 exists only with SMM. */
            CHECK_RC(set_v1(vm, SLOT(1, 0), 0, 0, PAGE, FX_HVA), want_spaces(k_profiles[i], t) == 2 ? 0 : HVRT_EINVAL);
            CHECK_RC(set_v1(vm, SLOT(2, 0), 0, 0, PAGE, FX_HVA), HVRT_EINVAL);
            c.nr_address_spaces = 2;
            hvrt_vm *two = NULL;
            CHECK_RC(hvrt_vm_create(&c, &two), want_spaces(k_profiles[i], t) == 2 ? 0 : HVRT_EINVAL);
            hvrt_vm_destroy(two);
            hvrt_vm_destroy(vm);
        }
}

/* 6.1 has neither KVM_SET_USER_MEMORY_REGION2 nor KVM_SET_MEMORY_ATTRIBUTES: -ENOTTY, before the
 * argument is read; the batch checks its entries as v1; v1 and _ext are as ever. */
static void linux_6_1_lacks_the_ioctls(void)
{
    hvrt_vm *vm = vm_of(HVRT_KVM_PROFILE_6_1, 0);
    CHECK_RC(hvrt_set_user_memory_region2(vm, NULL), HVRT_ENOTTY);
    CHECK_RC(set_r2(vm, 0, 0, 0, PAGE, FX_HVA, 0, 0), HVRT_ENOTTY);
    CHECK_RC(hvrt_set_memory_attributes(vm, NULL), HVRT_ENOTTY);
    CHECK_RC(set_attrs(vm, 0, PAGE, 0), HVRT_ENOTTY);
    /* Nothing was created by the refused calls. */
    struct hvrt_translation tr;
    CHECK_RC(hvrt_translate(vm, 0, 0, &tr), HVRT_ENOENT);
    CHECK_RC(set_v1(vm, 0, F_RO, 0, PAGE, FX_HVA), 0);
    CHECK_RC(hvrt_translate(vm, 0, 0, &tr), 0);

    struct kvm_userspace_memory_region2 batch[3] = {
        region2_of(1, F_LOG, 16 * PAGE, PAGE, FX_HVA, 0, 0),
        region2_of(2, F_PRIV, 32 * PAGE, PAGE, FX_HVA, 0, 0),   /* v1's filter: -EINVAL */
        region2_of(3, 1u << 3, 48 * PAGE, PAGE, FX_HVA, 0, 0),  /* an unknown flag: -EINVAL */
    };
    int32_t res[3];
    CHECK_RC(hvrt_set_user_memory_regions(vm, batch, 3, res), 1);
    CHECK(res[0] == 0 && res[1] == HVRT_EINVAL && res[2] == HVRT_EINVAL);
    /* The _ext proposal keeps its own entry, but a default VM of 6.1 has no private slots. */
    int fd = new_memfd(16 * PAGE);
    CHECK_RC(set_ext(vm, 4, F_PRIV, 64 * PAGE, PAGE, FX_HVA, (uint32_t)fd, 0), HVRT_EINVAL);
    CHECK_RC(set_ext(vm, 4, 0, 64 * PAGE, PAGE, FX_HVA, (uint32_t)fd, 0), 0);
    close(fd);
    hvrt_vm_destroy(vm);
}

/* Whether a GUEST_MEMFD slot passes check_memory_region_flags on this profile and type. Without a
 * real guest_memfd the bind would refuse the file, so the request overlaps an existing slot: the
 * overlap (-EEXIST) is checked after the flags and before the file, so -EEXIST means the flag was
 * valid and -EINVAL that it was not. */
static int gmem_flag_verdict(uint32_t profile, uint32_t t)
{
    hvrt_vm *vm = vm_of(profile, t);
    CHECK_RC(set_v1(vm, 0, 0, 0, 16 * PAGE, FX_HVA), 0);
    int fd = new_memfd(16 * PAGE);
    int rc = profile == HVRT_KVM_PROFILE_6_1 ? set_ext(vm, 1, F_PRIV, 0, PAGE, FX_HVA, (uint32_t)fd, 0)
                                             : set_r2(vm, 1, F_PRIV, 0, PAGE, FX_HVA, (uint32_t)fd, 0);
    close(fd);
    hvrt_vm_destroy(vm);
    return rc;
}

static void slot_flags_per_profile(void)
{
    for (unsigned i = 0; i < NPROFILES; i++)
        for (uint32_t t = 0; t < NTYPES; t++) {
            uint32_t p = k_profiles[i];
            if (!((want_types(p) >> t) & 1))
                continue;
            int rc = gmem_flag_verdict(p, t);
            if (rc != (want_gmem_slots(p, t) ? HVRT_EEXIST : HVRT_EINVAL))
                fprintf(stderr, "  profile %#x type %u: GUEST_MEMFD slot %d\n", p, t, rc);
            CHECK_RC(rc, want_gmem_slots(p, t) ? HVRT_EEXIST : HVRT_EINVAL);

            hvrt_vm *vm = vm_of(p, t);
            CHECK_RC(set_v1(vm, 0, F_RO, 0, PAGE, FX_HVA), want_readonly(p, t) ? 0 : HVRT_EINVAL);
            /* GUEST_MEMFD never goes with READONLY or LOG_DIRTY_PAGES (the flags are refused first). */
            if (p >= HVRT_KVM_PROFILE_6_8) {
                CHECK_RC(set_r2(vm, 2, F_PRIV | F_RO, 0, PAGE, FX_HVA, 0, 0), HVRT_EINVAL);
                CHECK_RC(set_r2(vm, 2, F_PRIV | F_LOG, 0, PAGE, FX_HVA, 0, 0), HVRT_EINVAL);
                /* PRIVATE attributes only where the type has private memory; 0 is always fine. */
                CHECK_RC(set_attrs(vm, 0, PAGE, KVM_MEMORY_ATTRIBUTE_PRIVATE), private_type(t) ? 0 : HVRT_EINVAL);
                CHECK_RC(set_attrs(vm, 0, PAGE, 0), 0);
            }
            hvrt_vm_destroy(vm);
        }
}

/* The bind rules stable kernels changed (7.2's, in Debian's 6.12): the errno of binding pages
 * another slot binds, and the end check's arithmetic. A memfd stands in for a guest_memfd. */
static void bind_rules_per_profile(void)
{
    const struct { uint32_t profile; int rebind; bool end_unsigned; } rows[] = {
        { HVRT_KVM_PROFILE_6_8, HVRT_EINVAL, false },
        { HVRT_KVM_PROFILE_6_12, HVRT_EEXIST, true },
        { HVRT_KVM_PROFILE_6_18, HVRT_EINVAL, false },
    };
    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        hvrt_vm *vm = vm_of(rows[i].profile, HVRT_VM_TYPE_SW_PROTECTED);
        int fd = new_memfd(4 * PAGE);
        CHECK_RC(hvrt_test_stand_in_guest_memfd(fd), 0);
        CHECK_RC(set_r2(vm, 0, F_PRIV, 0, PAGE, FX_HVA, (uint32_t)fd, 0), 0);
        CHECK_RC(set_r2(vm, 1, F_PRIV, PAGE, PAGE, FX_HVA, (uint32_t)fd, 0), rows[i].rebind);
        CHECK_RC(set_ext(vm, 1, F_PRIV, PAGE, PAGE, FX_HVA, (uint32_t)fd, 0), rows[i].rebind);
        /* offset + size == 2^63: a signed loff_t sum wraps negative and passes. */
        CHECK_RC(set_r2(vm, 2, F_PRIV, 2 * PAGE, PAGE, FX_HVA, (uint32_t)fd, (1ull << 63) - PAGE),
                 rows[i].end_unsigned ? HVRT_EINVAL : 0);
        CHECK_RC(set_r2(vm, 3, F_PRIV, 3 * PAGE, PAGE, FX_HVA, (uint32_t)fd, 1ull << 63), HVRT_EINVAL);
        close(fd);
        hvrt_vm_destroy(vm);
    }
}

/* ---- kvm_profile 0: this host's KVM ---------------------------------------------------- */

static int check_ext(int fd, unsigned long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

/* hvrt_vm_create(NULL): the default type under this host's profile (vm_new(NULL) is the newest). */
static hvrt_vm *host_vm(void)
{
    hvrt_vm *vm = NULL;
    CHECK_RC(hvrt_vm_create(NULL, &vm), 0);
    if (!vm)
        FATAL("hvrt_vm_create(NULL) failed");
    return vm;
}

static void host_profile(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm >= 0 && ioctl(kvm, KVM_CHECK_EXTENSION, 3 /* KVM_CAP_USER_MEMORY */) < 0) {
        /* Something that is not KVM at that path (a container's stand-in): no KVM, for hvrt too. */
        close(kvm);
        kvm = -1;
    }
    struct hvrt_kvm_profile q = { .size = sizeof q };
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_HOST, 0, &q), 0);
    hvrt_vm *vm = host_vm();
    struct hvrt_kvm_profile v = { .size = sizeof v };
    CHECK_RC(hvrt_vm_kvm_profile(vm, &v), 0);
    CHECK(memcmp(&q, &v, sizeof q) == 0); /* a NULL config is kvm_profile 0 */
    hvrt_vm_destroy(vm);
    if (kvm < 0) {
        /* No KVM: the newest profile, every type it has. */
        CHECK(q.source == HVRT_PROFILE_FROM_NO_KVM && q.profile == HVRT_KVM_PROFILE_NEWEST);
        CHECK(q.vm_types == want_types(HVRT_KVM_PROFILE_NEWEST));
        printf("no /dev/kvm: kvm_profile 0 is the newest profile (%#x)\n", q.profile);
        return;
    }
    /* The rules of the probe, asked of KVM directly (231 USER_MEMORY2, 235 VM_TYPES, 244 GUEST_MEMFD_FLAGS). */
    int region2 = check_ext(kvm, 231), types = check_ext(kvm, 235), gflags = check_ext(kvm, 244);
    uint32_t want = !region2 ? HVRT_KVM_PROFILE_6_1 : !gflags ? HVRT_KVM_PROFILE_6_12 : HVRT_KVM_PROFILE_6_18;
    uint32_t mask = types > 0 ? (uint32_t)types : 1;
    printf("/dev/kvm: USER_MEMORY2 %d, VM_TYPES %#x, GUEST_MEMFD_FLAGS %d: profile %#x\n", region2, types, gflags, want);
    CHECK(q.source == HVRT_PROFILE_FROM_PROBE && q.profile == want);
    /* A build may lack guest_memfd or memory attributes: 234 and 233 on /dev/kvm say so. */
    int gmem = check_ext(kvm, 234), attrs = check_ext(kvm, 233);
    CHECK(!!(q.features & HVRT_PROFILE_F_GUEST_MEMFD) == (region2 && gmem > 0));
    CHECK(!!(q.features & HVRT_PROFILE_F_MEMORY_ATTRIBUTES) == (region2 && attrs > 0));
    hvrt_vm *hv = host_vm();
    if (!(q.features & HVRT_PROFILE_F_MEMORY_ATTRIBUTES))
        CHECK_RC(set_attrs(hv, 0, PAGE, 0), HVRT_ENOTTY);
    else
        CHECK_RC(set_attrs(hv, 0, PAGE, 0), 0);
    hvrt_vm_destroy(hv);
    for (uint32_t t = 0; t < NTYPES; t++) {
        struct hvrt_kvm_profile qt = { .size = sizeof qt };
        CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_HOST, t, &qt), 0);
        /* A type is offered when KVM_CREATE_VM takes it, exactly. */
        int vmfd = (mask >> t) & 1 ? ioctl(kvm, KVM_CREATE_VM, (unsigned long)t) : -1;
        bool created = vmfd >= 0;
        if (((qt.vm_types >> t) & 1) != created)
            fprintf(stderr, "  type %u: hvrt offers %u, KVM_CREATE_VM %s\n", t, (qt.vm_types >> t) & 1, created ? "took it" : "refused");
        CHECK(((qt.vm_types >> t) & 1) == created);
        struct hvrt_vm_config c = config_for(t);
        c.kvm_profile = HVRT_KVM_PROFILE_HOST;
        hvrt_vm *h = NULL;
        CHECK_RC(hvrt_vm_create(&c, &h), created ? 0 : HVRT_EINVAL);
        if (created) {
            /* Its address spaces and memslots are that VM's. */
            int spaces = check_ext(vmfd, 118), slots = check_ext(vmfd, 10);
            spaces = spaces > 0 ? spaces : 1;
            CHECK_RC(set_v1(h, SLOT(spaces - 1, (uint32_t)slots - 1), 0, 0, PAGE, FX_HVA), 0);
            CHECK_RC(set_v1(h, SLOT(spaces, 0), 0, PAGE, PAGE, FX_HVA), HVRT_EINVAL);
            CHECK_RC(set_v1(h, SLOT(0, (uint32_t)slots), 0, PAGE, PAGE, FX_HVA), HVRT_EINVAL);
            /* KVM_SET_MEMORY_ATTRIBUTES, shared and private: hvrt answers what this VM answers. */
            for (uint64_t a = 0; a <= KVM_MEMORY_ATTRIBUTE_PRIVATE; a += KVM_MEMORY_ATTRIBUTE_PRIVATE) {
                struct kvm_memory_attributes ka = { .address = 0, .size = PAGE, .attributes = a };
                int kr = ioctl(vmfd, KVM_SET_MEMORY_ATTRIBUTES, &ka) < 0 ? -errno : 0;
                CHECK_RC(set_attrs(h, 0, PAGE, a), kr);
            }
            close(vmfd);
        }
        hvrt_vm_destroy(h);
    }
    close(kvm);
}

int main(void)
{
    query_matches_table();
    query_arguments();
    types_per_profile();
    linux_6_1_lacks_the_ioctls();
    slot_flags_per_profile();
    bind_rules_per_profile();
    host_profile();
    return harness_finish();
}

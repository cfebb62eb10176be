/* hvrt_vm_create's config: the size-prefixed struct rules (short, long, zero tail), each field's
 * range, and that a failed create leaves *out alone. The per-type slot rules are in
 * vm_types_test.c. */
#include "test_util.h"

/* A config with room past struct hvrt_vm_config, as a newer header's would be. */
union long_config {
    struct hvrt_vm_config cfg;
    unsigned char bytes[256];
};

static hvrt_vm *const sentinel = (hvrt_vm *)(uintptr_t)0x5e5e5e5e5e5e5e50ull;

/* hvrt_vm_create(cfg) gives want; on failure *out keeps its old value; on success the VM works. */
static void check_create(const void *cfg, int want, int line)
{
    hvrt_vm *vm = sentinel;
    int rc = hvrt_vm_create((const struct hvrt_vm_config *)cfg, &vm);
    if (rc != want)
        fprintf(stderr, "  (config checked at line %d)\n", line);
    CHECK_RC(rc, want);
    if (rc == 0) {
        CHECK(vm != sentinel && vm != NULL);
        /* hva 0: under any user_addr_limit a config may set. */
        CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, 0), 0);
        hvrt_vm_destroy(vm);
    } else {
        CHECK(vm == sentinel);
    }
}
#define CHECK_CREATE(cfg, want) check_create(cfg, want, __LINE__)

static void null_config_is_default(void)
{
    /* NULL is the default type under this host's profile: its address spaces (2 with SMM, and
     * without a KVM; 1 where KVM has no SMM) and 32764 user slots. */
    hvrt_vm *host = NULL;
    CHECK_RC(hvrt_vm_create(NULL, &host), 0);
    struct hvrt_kvm_profile q = { .size = sizeof q };
    CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_HOST, HVRT_VM_TYPE_DEFAULT, &q), 0);
    struct hvrt_kvm_profile v = { .size = sizeof v };
    CHECK_RC(hvrt_vm_kvm_profile(host, &v), 0);
    CHECK(v.profile == q.profile && v.source == q.source);
    CHECK_RC(set_v1(host, SLOT(0, 32763), 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(host, SLOT(0, 32764), 0, PAGE, PAGE, FX_HVA), HVRT_EINVAL);
    hvrt_vm_destroy(host);

    /* The same config spelled out, under the newest profile: two address spaces. */
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, SLOT(1, 32763), 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 32763), F_RO, 0, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 32764), 0, PAGE, PAGE, FX_HVA), HVRT_EINVAL);
    CHECK_RC(set_v1(vm, SLOT(2, 0), 0, PAGE, PAGE, FX_HVA), HVRT_EINVAL);
    hvrt_vm_destroy(vm);
}

static void size_rules(void)
{
    union long_config u;
    memset(&u, 0, sizeof u);
    for (uint32_t size = 0; size < 8; size++) {
        u.cfg.size = size;
        CHECK_CREATE(&u, HVRT_EINVAL);
    }
    /* An older, shorter struct: only `size` bytes are the caller's; what follows is not read. */
    memset(&u, 0xff, sizeof u);
    u.cfg.size = 8;
    u.cfg.vm_type = HVRT_VM_TYPE_DEFAULT;
    CHECK_CREATE(&u, 0);
    u.cfg.size = 12;
    u.cfg.nr_address_spaces = 1;
    CHECK_CREATE(&u, 0);
    u.cfg.size = 24;
    u.cfg.max_user_slots = 0;
    u.cfg.max_gpa_bits = 0;
    u.cfg.flags = 0;
    CHECK_CREATE(&u, 0);

    /* Exactly this header's size, then longer with a zero tail: accepted. */
    memset(&u, 0, sizeof u);
    for (uint32_t size = sizeof u.cfg; size <= sizeof u; size += 8) {
        u.cfg.size = size;
        CHECK_CREATE(&u, 0);
    }
    u.cfg.size = sizeof u.cfg + 1;
    CHECK_CREATE(&u, 0);
    /* A non-zero byte past the known fields is a field this library cannot honour: -E2BIG. */
    u.cfg.size = sizeof u;
    u.bytes[sizeof u.cfg] = 1;
    CHECK_CREATE(&u, HVRT_E2BIG);
    u.bytes[sizeof u.cfg] = 0;
    u.bytes[sizeof u - 1] = 0x80;
    CHECK_CREATE(&u, HVRT_E2BIG);
    /* ...but not when that byte lies past `size`. */
    u.cfg.size = sizeof u - 8;
    CHECK_CREATE(&u, 0);
    /* A page-sized struct (the kernel's copy_struct_from_user bound) with a zero tail. */
    static _Alignas(8) unsigned char page[4096];
    struct hvrt_vm_config head = config_for(HVRT_VM_TYPE_SEV);
    head.size = sizeof page;
    memcpy(page, &head, sizeof head);
    CHECK_CREATE(page, 0);
    page[sizeof page - 1] = 1;
    CHECK_CREATE(page, HVRT_E2BIG);
}

static void field_rules(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    CHECK_CREATE(&c, 0);
    for (uint32_t type = HVRT_VM_TYPE_DEFAULT; type <= HVRT_VM_TYPE_TDX; type++) {
        c.vm_type = type;
        CHECK_CREATE(&c, 0);
    }
    c.vm_type = HVRT_VM_TYPE_TDX + 1;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.vm_type = UINT32_MAX;
    CHECK_CREATE(&c, HVRT_EINVAL);

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.flags = 1;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.flags = 1u << 31;
    CHECK_CREATE(&c, HVRT_EINVAL);

    for (int i = 0; i < 3; i++) {
        c = config_for(HVRT_VM_TYPE_DEFAULT);
        c.reserved[i] = 1;
        CHECK_CREATE(&c, HVRT_EINVAL);
    }
    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.reserved32 = 1;
    CHECK_CREATE(&c, HVRT_EINVAL);
    /* kvm_profile: the named ones, 0 (this host), nothing else. */
    const uint32_t named[] = { HVRT_KVM_PROFILE_6_1, HVRT_KVM_PROFILE_6_8, HVRT_KVM_PROFILE_6_12, HVRT_KVM_PROFILE_6_18 };
    for (unsigned i = 0; i < sizeof named / sizeof named[0]; i++) {
        c = config_for(HVRT_VM_TYPE_DEFAULT);
        c.kvm_profile = named[i];
        CHECK_CREATE(&c, 0);
    }
    const uint32_t unknown[] = { 1, 0x0600, 0x0602, 0x0613, 0x0702, 0xffffffffu };
    for (unsigned i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        c = config_for(HVRT_VM_TYPE_DEFAULT);
        c.kvm_profile = unknown[i];
        CHECK_CREATE(&c, HVRT_EINVAL);
    }

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_user_slots = 32764;
    CHECK_CREATE(&c, 0);
    c.max_user_slots = 32765;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.max_user_slots = UINT32_MAX;
    CHECK_CREATE(&c, HVRT_EINVAL);

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_gpa_bits = 12;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.max_gpa_bits = 13;
    CHECK_CREATE(&c, 0);
    c.max_gpa_bits = 64;
    CHECK_CREATE(&c, 0);
    c.max_gpa_bits = 65;
    CHECK_CREATE(&c, HVRT_EINVAL);

    c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.user_addr_limit = 0x100000000ull + 1;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.user_addr_limit = 0x100000000ull + 0x800;
    CHECK_CREATE(&c, HVRT_EINVAL);
    c.user_addr_limit = 0x100000000ull;
    CHECK_CREATE(&c, 0);
}

/* nr_address_spaces may lower the type's number, never raise it. */
static void address_space_rules(void)
{
    static const struct { uint32_t type, nr_as; } types[] = {
        { HVRT_VM_TYPE_DEFAULT, 2 }, { HVRT_VM_TYPE_SW_PROTECTED, 1 }, { HVRT_VM_TYPE_SEV, 2 },
        { HVRT_VM_TYPE_SEV_ES, 2 },  { HVRT_VM_TYPE_SNP, 1 },          { HVRT_VM_TYPE_TDX, 1 },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct hvrt_vm_config c = config_for(types[i].type);
        for (uint32_t n = 1; n <= types[i].nr_as; n++) {
            c.nr_address_spaces = n;
            CHECK_CREATE(&c, 0);
        }
        c.nr_address_spaces = types[i].nr_as + 1;
        CHECK_CREATE(&c, HVRT_EINVAL);
        c.nr_address_spaces = UINT32_MAX;
        CHECK_CREATE(&c, HVRT_EINVAL);
    }
}

/* The limits a config sets are the ones slots meet. */
static void configured_limits_apply(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.nr_address_spaces = 1;
    c.max_user_slots = 10;
    c.user_addr_limit = 0x100000000ull;
    hvrt_vm *vm = vm_new(&c);
    struct hvrt_translation t;
    CHECK_RC(set_v1(vm, SLOT(0, 9), 0, 0, PAGE, 0x100000000ull - PAGE), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 10), 0, PAGE, PAGE, 0), HVRT_EINVAL);
    CHECK_RC(set_v1(vm, SLOT(1, 0), 0, PAGE, PAGE, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_translate(vm, 1, 0, &t), HVRT_EINVAL);
    CHECK_RC(set_v1(vm, SLOT(0, 8), 0, PAGE, 2 * PAGE, 0x100000000ull - PAGE), HVRT_EINVAL);
    /* With one address space the generation moves by one per change. */
    CHECK_RC(generation_at(vm, 0, 0), 1);
    CHECK_RC(set_v1(vm, SLOT(0, 8), 0, PAGE, PAGE, 0), 0);
    CHECK_RC(generation_at(vm, 0, 0), 2);
    hvrt_vm_destroy(vm);
}

/* Many VMs may live at once, and creating and destroying them leaks nothing visible. */
static void many_vms(void)
{
    enum { N = 64 };
    hvrt_vm *vms[N];
    for (int i = 0; i < N; i++) {
        vms[i] = vm_new(NULL);
        CHECK_RC(set_v1(vms[i], 0, 0, (uint64_t)i * PAGE, PAGE, FX_HVA), 0);
    }
    bool all_own = true;
    for (int i = 0; i < N; i++) {
        struct hvrt_translation t;
        all_own = all_own && hvrt_translate(vms[i], 0, (uint64_t)i, &t) == 0 && t.base_gfn == (uint64_t)i;
    }
    CHECK(all_own);
    for (int i = 0; i < N; i++)
        hvrt_vm_destroy(vms[i]);
    int fds = count_open_fds();
    for (int i = 0; i < 1000; i++)
        hvrt_vm_destroy(vm_new(NULL));
    CHECK_RC(count_open_fds(), fds);
}

int main(void)
{
    null_config_is_default();
    size_rules();
    field_rules();
    address_space_rules();
    configured_limits_apply();
    many_vms();
    return harness_finish();
}

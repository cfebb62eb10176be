/* misuse_test.c's table: every function hvrt.h declares, how to call it, and what each NULL
 * pointer argument and a NULL or stale handle must give. misuse_test.c checks at run time that
 * the table names exactly the functions hvrt.h declares, so a new export cannot be forgotten. */
#ifndef HVRT_MISUSE_EXPORTS_H
#define HVRT_MISUSE_EXPORTS_H
#include "test_util.h"

/* What a call gets: the handle of its kind (live, NULL or stale) and, for each further pointer
 * argument i, p[i] != NULL for a valid object (the wrapper builds it) or NULL. */
struct call_args {
    hvrt_vm *vm;
    hvrt_reader *reader;
    hvrt_vcpu *vcpu;
    const void *p[4];
    int memfd; /* an open memfd (find_slots_by_private) */
};

enum handle_kind { H_NONE, H_VM, H_READER, H_VCPU };

#define NO_CHECK INT64_MIN /* no expectation (the case cannot be built) */

struct export_case {
    const char *name;
    int64_t (*call)(struct call_args *a); /* void functions give 0, pointers 1 (non-NULL) or 0 */
    enum handle_kind handle;
    int64_t null_handle; /* the handle NULL (H_NONE: unused) */
    int64_t stale;       /* a stale handle, debug mode (H_NONE: unused) */
    int nptr;            /* further pointer arguments */
    int64_t null_ptr[4]; /* with p[i] NULL and everything else valid */
};

#define P(i, obj) (a->p[i] != NULL ? (obj) : NULL)
#define LIVE_GFN 0x1ull /* in the fixture's slot 0 of address space 0 */
#define LOG_SLOT SLOT(0, 2) /* the fixture's LOG_DIRTY_PAGES slot, 4 pages */

static struct kvm_userspace_memory_region2 delete_of_missing_slot(void)
{
    /* Refused by every entry point (deleting a slot that does not exist is -EINVAL), so a call
     * that gets past its NULL checks still changes nothing. */
    return region2_of(SLOT(0, 77), 0, 0, 0, 0, 0, 0);
}

static void misuse_listener(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    (void)ctx, (void)gpa, (void)size, (void)to_private;
}

static int64_t c_abi_version(struct call_args *a) { (void)a; return hvrt_abi_version() == HVRT_ABI_VERSION; }
static int64_t c_version_number(struct call_args *a) { (void)a; return hvrt_version_number() == HVRT_VERSION_NUMBER; }
static int64_t c_strerror(struct call_args *a) { (void)a; return hvrt_strerror(INT32_MIN) != NULL; }
static int64_t c_errname(struct call_args *a) { (void)a; return hvrt_errname(INT32_MIN) != NULL; }

static int64_t c_vm_create(struct call_args *a)
{
    hvrt_vm *vm = NULL;
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    int rc = hvrt_vm_create(P(0, &c), a->p[1] != NULL ? &vm : NULL);
    if (rc == 0)
        hvrt_vm_destroy(vm);
    return rc;
}
static int64_t c_vm_destroy(struct call_args *a) { hvrt_vm_destroy(a->vm); return 0; }
static int64_t c_vm_destroy_checked(struct call_args *a) { return hvrt_vm_destroy_checked(a->vm); }

static int64_t c_set_region(struct call_args *a)
{
    struct kvm_userspace_memory_region r = { .slot = SLOT(0, 77) };
    return hvrt_set_user_memory_region(a->vm, P(0, &r));
}
static int64_t c_set_region2(struct call_args *a)
{
    struct kvm_userspace_memory_region2 r = delete_of_missing_slot();
    return hvrt_set_user_memory_region2(a->vm, P(0, &r));
}
static int64_t c_set_region_ext(struct call_args *a)
{
    struct kvm_userspace_memory_region_ext r;
    memset(&r, 0, sizeof r);
    r.region.slot = SLOT(0, 77);
    return hvrt_set_user_memory_region_ext(a->vm, P(0, &r));
}
static int64_t c_set_regions(struct call_args *a)
{
    struct kvm_userspace_memory_region2 r = delete_of_missing_slot();
    int32_t results[1];
    return hvrt_set_user_memory_regions(a->vm, P(0, &r), 1, P(1, results));
}

static int64_t c_translate(struct call_args *a)
{
    struct hvrt_translation t;
    return hvrt_translate(a->vm, 0, LIVE_GFN, P(0, &t));
}
static int64_t c_translate_batch(struct call_args *a)
{
    uint64_t gfn = LIVE_GFN;
    struct hvrt_translation t;
    return hvrt_translate_batch(a->vm, 0, P(0, &gfn), 1, P(1, &t));
}

static int64_t c_reader_register(struct call_args *a)
{
    hvrt_reader *r = NULL;
    int rc = hvrt_reader_register(a->vm, a->p[0] != NULL ? &r : NULL);
    if (rc == 0)
        hvrt_reader_unregister(r);
    return rc;
}
static int64_t c_reader_unregister(struct call_args *a) { return hvrt_reader_unregister(a->reader); }
static int64_t c_reader_quiescent(struct call_args *a) { return hvrt_reader_quiescent(a->reader); }
static int64_t c_reader_offline(struct call_args *a) { return hvrt_reader_offline(a->reader); }
static int64_t c_reader_online(struct call_args *a) { return hvrt_reader_online(a->reader); }
static int64_t c_reader_translate(struct call_args *a)
{
    struct hvrt_translation t;
    return hvrt_reader_translate(a->reader, 0, LIVE_GFN, P(0, &t));
}
static int64_t c_reader_translate_batch(struct call_args *a)
{
    uint64_t gfn = LIVE_GFN;
    struct hvrt_translation t;
    return hvrt_reader_translate_batch(a->reader, 0, P(0, &gfn), 1, P(1, &t));
}

static int64_t c_find_by_hva(struct call_args *a)
{
    struct hvrt_slot_range out[4];
    return hvrt_find_slots_by_hva(a->vm, FX_HVA, PAGE, P(0, out), 4);
}
static int64_t c_find_by_private(struct call_args *a)
{
    struct hvrt_slot_range out[4];
    return hvrt_find_slots_by_private(a->vm, a->memfd, 0, PAGE, P(0, out), 4);
}

static int64_t c_set_attributes(struct call_args *a)
{
    struct kvm_memory_attributes m = { .address = 0, .size = PAGE, .attributes = 0, .flags = 1 }; /* flags: -EINVAL */
    return hvrt_set_memory_attributes(a->vm, P(0, &m));
}
static int64_t c_get_attributes(struct call_args *a)
{
    uint64_t attrs;
    return hvrt_get_memory_attributes(a->vm, LIVE_GFN, P(0, &attrs));
}
static int64_t c_range_has(struct call_args *a) { return hvrt_range_has_attributes(a->vm, 0, 16, 0, 0); }
static int64_t c_max_level(struct call_args *a) { return hvrt_max_mapping_level(a->vm, 0, LIVE_GFN); }
static int64_t c_attributes_run(struct call_args *a)
{
    uint64_t end, attrs;
    return hvrt_attributes_run(a->vm, 0, 16, P(0, &end), P(1, &attrs));
}
static int64_t c_attributes_count(struct call_args *a)
{
    uint64_t n;
    return hvrt_attributes_count(a->vm, 0, 16, P(0, &n));
}

static int64_t c_convert(struct call_args *a) { return hvrt_convert(a->vm, 0, 0, 1); /* size 0: -EINVAL */ }
static int64_t c_discard_policy(struct call_args *a) { return hvrt_set_discard_policy(a->vm, ~0u); /* -EINVAL */ }
static int64_t c_conversion_seq(struct call_args *a)
{
    uint64_t seq;
    return hvrt_conversion_seq(a->vm, P(0, &seq));
}
static int64_t c_add_listener(struct call_args *a)
{
    static int ctx;
    int rc = hvrt_add_conversion_listener(a->vm, a->p[0] != NULL ? misuse_listener : NULL, P(1, &ctx));
    if (rc == 0)
        hvrt_remove_conversion_listener(a->vm, misuse_listener, P(1, &ctx));
    return rc;
}
static int64_t c_remove_listener(struct call_args *a)
{
    static int ctx;
    return hvrt_remove_conversion_listener(a->vm, a->p[0] != NULL ? misuse_listener : NULL, P(1, &ctx));
}

static int64_t c_kvm_bind(struct call_args *a) { return hvrt_kvm_bind(a->vm, -1, 0); /* fd -1: -EBADF */ }
static int64_t c_kvm_caps(struct call_args *a)
{
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    return hvrt_kvm_caps(a->vm, P(0, &caps));
}
static int64_t c_vm_kvm_profile(struct call_args *a)
{
    struct hvrt_kvm_profile q = { .size = sizeof q };
    return hvrt_vm_kvm_profile(a->vm, P(0, &q));
}
static int64_t c_kvm_profile_query(struct call_args *a)
{
    struct hvrt_kvm_profile q = { .size = sizeof q };
    return hvrt_kvm_profile_query(HVRT_KVM_PROFILE_NEWEST, HVRT_VM_TYPE_DEFAULT, P(0, &q));
}
static int64_t c_create_guest_memfd(struct call_args *a)
{
    void *shared;
    return hvrt_create_guest_memfd(a->vm, PAGE, 0, P(0, &shared));
}

static int64_t c_dirty_set_mode(struct call_args *a) { return hvrt_dirty_log_set_mode(a->vm, ~0u); /* -EINVAL */ }
static int64_t c_dirty_get(struct call_args *a)
{
    uint64_t bitmap[1];
    return hvrt_dirty_log_get(a->vm, LOG_SLOT, P(0, bitmap));
}
static int64_t c_dirty_get_view(struct call_args *a)
{
    const uint64_t *view;
    return hvrt_dirty_log_get_view(a->vm, LOG_SLOT, P(0, &view));
}
static int64_t c_dirty_clear(struct call_args *a)
{
    uint64_t bitmap[1] = { 0 };
    return hvrt_dirty_log_clear(a->vm, LOG_SLOT, 0, 4, P(0, bitmap));
}
static int64_t c_mark_dirty(struct call_args *a) { return hvrt_mark_dirty(a->vm, 0, ~0ull); /* wraps: -EINVAL */ }
static int64_t c_bitmap_next_set(struct call_args *a)
{
    uint64_t bitmap[2] = { 0, 1 };
    return (int64_t)hvrt_bitmap_next_set(P(0, bitmap), 128, 0);
}

static int64_t c_vcpu_create(struct call_args *a)
{
    static _Alignas(4096) unsigned char run[4096];
    hvrt_vcpu *v = NULL;
    int rc = hvrt_vcpu_create(a->vm, -1, P(0, (struct kvm_run *)run), a->p[1] != NULL ? &v : NULL);
    if (rc == 0)
        hvrt_vcpu_destroy(v);
    return rc;
}
static int64_t c_vcpu_destroy(struct call_args *a) { hvrt_vcpu_destroy(a->vcpu); return 0; }
static int64_t c_vcpu_reader(struct call_args *a) { return hvrt_vcpu_reader(a->vcpu) != NULL; }
static int64_t c_vcpu_enter(struct call_args *a) { return hvrt_vcpu_enter(a->vcpu); }
static int64_t c_vcpu_exit(struct call_args *a) { return hvrt_vcpu_exit(a->vcpu); }
static int64_t c_vcpu_handle_exit(struct call_args *a) { return hvrt_vcpu_handle_exit(a->vcpu, 0, 0); }
static int64_t c_vcpu_exit_info(struct call_args *a)
{
    struct hvrt_exit_info info;
    return hvrt_vcpu_exit_info(a->vcpu, P(0, &info));
}
static int64_t c_vcpu_run(struct call_args *a) { return hvrt_vcpu_run(a->vcpu); }

#define EF HVRT_EFAULT
#define EB HVRT_EBADF
/* name, call, handle, handle NULL, stale handle, pointer count, each pointer NULL */
static const struct export_case export_cases[] = {
    { "hvrt_abi_version", c_abi_version, H_NONE, 0, 0, 0, { 0 } },
    { "hvrt_version_number", c_version_number, H_NONE, 0, 0, 0, { 0 } },
    { "hvrt_strerror", c_strerror, H_NONE, 0, 0, 0, { 0 } },
    { "hvrt_errname", c_errname, H_NONE, 0, 0, 0, { 0 } },
    { "hvrt_vm_create", c_vm_create, H_NONE, 0, 0, 2, { 0 /* cfg NULL: defaults */, EF } },
    { "hvrt_vm_destroy", c_vm_destroy, H_VM, 0, 0, 0, { 0 } },
    { "hvrt_vm_destroy_checked", c_vm_destroy_checked, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_set_user_memory_region", c_set_region, H_VM, EF, EB, 1, { EF } },
    { "hvrt_set_user_memory_region2", c_set_region2, H_VM, EF, EB, 1, { EF } },
    { "hvrt_set_user_memory_region_ext", c_set_region_ext, H_VM, EF, EB, 1, { EF } },
    { "hvrt_set_user_memory_regions", c_set_regions, H_VM, EF, EB, 2, { EF, 0 /* results NULL: allowed */ } },
    { "hvrt_translate", c_translate, H_VM, EF, EB, 1, { EF } },
    { "hvrt_translate_batch", c_translate_batch, H_VM, EF, EB, 2, { EF, EF } },
    { "hvrt_reader_register", c_reader_register, H_VM, EF, EB, 1, { EF } },
    { "hvrt_reader_unregister", c_reader_unregister, H_READER, EF, EB, 0, { 0 } },
    { "hvrt_reader_quiescent", c_reader_quiescent, H_READER, EF, EB, 0, { 0 } },
    { "hvrt_reader_offline", c_reader_offline, H_READER, EF, EB, 0, { 0 } },
    { "hvrt_reader_online", c_reader_online, H_READER, EF, EB, 0, { 0 } },
    { "hvrt_reader_translate", c_reader_translate, H_READER, EF, EB, 1, { EF } },
    { "hvrt_reader_translate_batch", c_reader_translate_batch, H_READER, EF, EB, 2, { EF, EF } },
    { "hvrt_find_slots_by_hva", c_find_by_hva, H_VM, EF, EB, 1, { EF } },
    { "hvrt_find_slots_by_private", c_find_by_private, H_VM, EF, EB, 1, { EF } },
    { "hvrt_set_memory_attributes", c_set_attributes, H_VM, EF, EB, 1, { EF } },
    { "hvrt_get_memory_attributes", c_get_attributes, H_VM, EF, EB, 1, { EF } },
    { "hvrt_range_has_attributes", c_range_has, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_max_mapping_level", c_max_level, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_attributes_run", c_attributes_run, H_VM, EF, EB, 2, { EF, EF } },
    { "hvrt_attributes_count", c_attributes_count, H_VM, EF, EB, 1, { EF } },
    { "hvrt_convert", c_convert, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_set_discard_policy", c_discard_policy, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_conversion_seq", c_conversion_seq, H_VM, EF, EB, 1, { EF } },
    { "hvrt_add_conversion_listener", c_add_listener, H_VM, EF, EB, 2, { EF, 0 /* ctx NULL: a listener */ } },
    { "hvrt_remove_conversion_listener", c_remove_listener, H_VM, EF, EB, 2, { HVRT_ENOENT, HVRT_ENOENT } },
    { "hvrt_kvm_bind", c_kvm_bind, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_kvm_caps", c_kvm_caps, H_VM, EF, EB, 1, { EF } },
    { "hvrt_vm_kvm_profile", c_vm_kvm_profile, H_VM, EF, EB, 1, { EF } },
    { "hvrt_kvm_profile_query", c_kvm_profile_query, H_NONE, 0, 0, 1, { EF } },
    { "hvrt_create_guest_memfd", c_create_guest_memfd, H_VM, EF, EB, 1, { HVRT_ENODEV /* unbound; shared NULL is allowed */ } },
    { "hvrt_dirty_log_set_mode", c_dirty_set_mode, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_dirty_log_get", c_dirty_get, H_VM, EF, EB, 1, { EF } },
    { "hvrt_dirty_log_get_view", c_dirty_get_view, H_VM, EF, EB, 1, { EF } },
    { "hvrt_dirty_log_clear", c_dirty_clear, H_VM, EF, EB, 1, { EF } },
    { "hvrt_mark_dirty", c_mark_dirty, H_VM, EF, EB, 0, { 0 } },
    { "hvrt_bitmap_next_set", c_bitmap_next_set, H_NONE, 0, 0, 1, { 128 /* NULL: nbits */ } },
    { "hvrt_vcpu_create", c_vcpu_create, H_VM, EF, EB, 2, { EF, EF } },
    { "hvrt_vcpu_destroy", c_vcpu_destroy, H_VCPU, 0, 0, 0, { 0 } },
    { "hvrt_vcpu_reader", c_vcpu_reader, H_VCPU, 0, 0, 0, { 0 } },
    { "hvrt_vcpu_enter", c_vcpu_enter, H_VCPU, EF, EB, 0, { 0 } },
    { "hvrt_vcpu_exit", c_vcpu_exit, H_VCPU, EF, EB, 0, { 0 } },
    { "hvrt_vcpu_handle_exit", c_vcpu_handle_exit, H_VCPU, EF, EB, 0, { 0 } },
    { "hvrt_vcpu_exit_info", c_vcpu_exit_info, H_VCPU, EF, EB, 1, { EF } },
    { "hvrt_vcpu_run", c_vcpu_run, H_VCPU, EF, EB, 0, { 0 } },
};
#undef EF
#undef EB
#define NR_EXPORT_CASES (sizeof export_cases / sizeof export_cases[0])
#endif

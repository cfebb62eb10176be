/*
 * kvm_diff_test: differential test of hvrt's memslot rules against the running kernel's KVM.
 * Random requests (valid and invalid, through v1, region2 and _ext) go to a real KVM VM and to
 * an hvrt VM configured like it; both must give the same return code, and hvrt_translate must
 * agree with a model of the slots the kernel accepted. A pass per VM type this KVM takes of
 * DEFAULT and SW_PROTECTED (KVM_CAP_VM_TYPES; HVRT_DIFF_TYPE=N runs one), each twice: hvrt's
 * kernel profile probed (kvm_profile 0), then set to the number the probe gave. The private ops
 * are generated everywhere and must be refused alike where the VM takes no guest_memfd slot.
 * HVRT_DIFF_OPS (default 20000 a pass) and HVRT_DIFF_SEED (default: time) select the run; the
 * seed is printed for replay. HVRT_DIFF_VERBOSE=1 prints every op with both results.
 * Known gap: hvrt cannot tell which KVM VM created a guest_memfd, so binding another VM's
 * guest_memfd is refused only by the kernel; such ops count neither passed nor failed.
 * HVRT_DIFF_BIND=1: hvrt is bound (hvrt_kvm_bind) to a second KVM VM with guest_memfds of its own
 * (same sizes and flags; requests naming the first VM's files name the second's for hvrt), so
 * hvrt's answers are its own checks and then that KVM's: they must equal the first VM's exactly,
 * and the foreign-guest_memfd gap closes (the bound KVM refuses it).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/mman.h>
#include <time.h>
#include "kvm_diff_kinds.h"
#include "test_util.h" /* count_open_fds */

#define KD_CHECK_EVERY 100

static uint64_t g_seed;
static long g_op_index = -1;
static int g_mismatches, g_gaps, g_verbose;
static long g_stats[3][5]; /* entry x {0, EINVAL, EEXIST, EBADF, other} */
static int g_bind;                      /* HVRT_DIFF_BIND */
static int g_bound_vm = -1;             /* the KVM VM hvrt is bound to */
static int g_bound_gm[KD_MAX_GMEM];     /* its guest_memfds, parallel to c->gm_fd */
static uint64_t g_gm_flags[KD_MAX_GMEM]; /* the flags c->gm_fd[i] were made with */


static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void kd_gen(struct kd_ctx *c, struct kd_op *op)
{
    memset(op, 0, sizeof *op);
    unsigned e = (unsigned)kd_below(c, 100);
    op->entry = e < 25 ? KD_V1 : e < 75 ? KD_R2 : KD_EXT;
    const struct kd_slot *s = kd_random_slot(c, 0), *p = kd_random_slot(c, 1);
    unsigned r = (unsigned)kd_below(c, 100);
    if (r < 28 || !s)
        kd_gen_create(c, op);
    else if (r < 40)
        kd_gen_delete(c, op, s);
    else if (r < 52)
        kd_gen_move(c, op, s);
    else if (r < 62)
        kd_gen_flags(c, op, s);
    else if (r < 68) {
        kd_op_from_slot(op, s);
        op->kind = "repeat";
    } else if (r < 76)
        kd_gen_private_mod(c, op, p ? p : s);
    else if (r < 92)
        kd_gen_mutate(c, op, kd_pct(c, 80) ? s : NULL);
    else
        kd_gen_garbage(c, op);
    if (kd_pct(c, 5)) { /* pads are ignored */
        op->r.pad1 = (uint32_t)kd_rand(c);
        op->r.pad2[kd_below(c, 14)] = kd_rand(c);
    }
    if (op->entry == KD_EXT && (op->r.flags & KVM_MEM_GUEST_MEMFD)) {
        uint64_t off = op->r.guest_memfd_offset, end = off + op->r.memory_size;
        /* _ext also takes memfds and regular files (stdout may be one): not KVM's rules. And hvrt.h
         * gives _ext an unsigned end check, while KVM's loff_t sum wraps negative and passes. */
        if (op->r.guest_memfd == (uint32_t)c->memfd_fd || op->r.guest_memfd <= 2 ||
            (off < (1ull << 63) && end >= off && end > (uint64_t)INT64_MAX))
            op->entry = KD_R2;
    }
    kd_make_safe(c, op);
}

static void stat_rc(enum kd_entry e, int rc)
{
    int k = rc == 0 ? 0 : rc == -EINVAL ? 1 : rc == -EEXIST ? 2 : rc == -EBADF ? 3 : 4;
    g_stats[e][k]++;
}

/* HVRT_DIFF_BIND: a fresh KVM VM for hvrt (the old one still holds the old hvrt VM's slots) and
 * its guest_memfds like the first VM's. */
static void new_bound_kvm(const struct kd_ctx *c)
{
    if (g_bound_vm >= 0) {
        for (int i = 0; i < c->ngm; i++)
            close(g_bound_gm[i]);
        close(g_bound_vm);
    }
    g_bound_vm = kd_create_vm(c->kvm_fd);
    for (int i = 0; i < c->ngm; i++) {
        g_bound_gm[i] = kd_create_gmem(g_bound_vm, c->gm_size[i], g_gm_flags[i]);
        CHECK(g_bound_gm[i] >= 0);
    }
}

/* The request as hvrt gets it: with HVRT_DIFF_BIND, the first VM's guest_memfds become the
 * bound VM's. */
static struct kd_op for_hvrt(const struct kd_ctx *c, const struct kd_op *op)
{
    struct kd_op h = *op;
    for (int i = 0; g_bind && i < c->ngm; i++)
        if (h.r.guest_memfd == (uint32_t)c->gm_fd[i])
            h.r.guest_memfd = (uint32_t)g_bound_gm[i];
    return h;
}

static int hvrt_apply(const struct kd_ctx *c, hvrt_vm *vm, const struct kd_op *op)
{
    struct kd_op h = for_hvrt(c, op);
    return kd_hvrt_apply(vm, &h);
}

static uint32_t g_profile; /* the pass's hvrt_vm_config.kvm_profile: 0 (probed) or the probed number, set */
static uint32_t g_profile_probed; /* what kvm_profile 0 resolved to for the pass's type */

static hvrt_vm *hvrt_new(const struct kd_ctx *c)
{
    struct hvrt_vm_config cfg = { .size = sizeof cfg, .vm_type = kd_vm_type, .nr_address_spaces = c->nr_as,
                                  .kvm_profile = g_profile };
    hvrt_vm *vm = NULL;
    int rc = hvrt_vm_create(&cfg, &vm);
    CHECK_RC(rc, 0);
    if (rc == 0 && g_bind) {
        new_bound_kvm(c);
        CHECK_RC(hvrt_kvm_bind(vm, g_bound_vm, 0), 0);
    }
    return rc == 0 ? vm : NULL;
}

/* After a mismatch hvrt's slots differ from the kernel's: rebuild hvrt from the model. */
static hvrt_vm *resync(const struct kd_ctx *c, hvrt_vm *vm)
{
    hvrt_vm_destroy(vm);
    vm = hvrt_new(c);
    for (int i = 0; vm && i < c->model.n; i++) {
        struct kd_op op = { .entry = kd_kernel_region2 ? KD_R2 : KD_V1, .kind = "resync" };
        kd_op_from_slot(&op, &c->model.s[i]);
        CHECK_RC(hvrt_apply(c, vm, &op), 0);
    }
    return vm;
}

static void check_translations(struct kd_ctx *c, hvrt_vm *vm)
{
    for (uint32_t as = 0; as < c->nr_as; as++) {
        for (int i = 0; i < c->model.n; i++) {
            const struct kd_slot *s = &c->model.s[i];
            if (s->as != as)
                continue;
            uint64_t g[] = { s->base, s->base + s->npages - 1, s->base + kd_below(c, s->npages), s->base - 1,
                             s->base + s->npages };
            for (unsigned k = 0; k < sizeof g / sizeof g[0]; k++)
                kd_check_gfn(vm, &c->model, as, g[k]);
        }
        for (int k = 0; k < 8; k++) {
            uint64_t g[] = { kd_below(c, 20000), (1ull << 40) - 1 - kd_below(c, 64), (1ull << 20) - 16 + kd_below(c, 32),
                             kd_rand(c) };
            kd_check_gfn(vm, &c->model, as, KD_PICK(c, g));
        }
    }
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, c->nr_as, 0, &t), HVRT_EINVAL);
}

/* ---- Recording the kernel's answers (HVRT_DIFF_RECORD=FILE, `./build.sh lab record`) ---------
 * One text file per kernel, replayed against hvrt on every machine by kvm_replay_test.c (its
 * header says the format). Only the passes with hvrt's profile probed are recorded (the set
 * passes send the same requests). */
static FILE *g_rec;

/* The largest gpa width a 1-page slot may reach (kvm_mmu_max_gfn), and TASK_SIZE_MAX, as this VM
 * answers them: hvrt's defaults agreed with them here, the replay sets them explicitly. */
static int kd_probe_one(int vm_fd, uint64_t gpa, uint64_t hva)
{
    struct kvm_userspace_memory_region2 r = { .slot = 32000, .guest_phys_addr = gpa, .memory_size = KD_PAGE,
                                              .userspace_addr = hva };
    int rc = kd_set_region_v1(vm_fd, &r);
    if (rc == 0) {
        r.memory_size = 0;
        kd_set_region_v1(vm_fd, &r);
    }
    return rc;
}

static void record_pass_header(const struct kd_ctx *c)
{
    unsigned bits = 0;
    for (unsigned b = 64; b >= 13 && !bits; b--)
        if (kd_probe_one(c->vm_fd, b == 64 ? UINT64_MAX - KD_PAGE + 1 : (1ull << b) - KD_PAGE, KD_HVA_BASE) == 0)
            bits = b;
    uint64_t limit = 0;
    const uint64_t limits[] = { 0xfffffffffff000ull, 0x7ffffffff000ull };
    for (unsigned i = 0; i < 2 && !limit; i++)
        if (kd_probe_one(c->vm_fd, 0, limits[i] - KD_PAGE) == 0)
            limit = limits[i];
    fprintf(g_rec, "pass vm_type %u profile 0x%x nr_as %u max_gpa_bits %u user_addr_limit 0x%" PRIx64 " region2 %d\n",
            kd_vm_type, g_profile_probed, c->nr_as, bits, limit, kd_kernel_region2);
    static const struct { const char *name; long cap; } caps[] = {
        { "USER_MEMORY2", 231 }, { "GUEST_MEMFD", 234 }, { "MEMORY_ATTRIBUTES", 233 }, { "VM_TYPES", 235 },
        { "GUEST_MEMFD_FLAGS", 244 }, { "NR_MEMSLOTS", 10 }, { "MULTI_ADDRESS_SPACE", 118 }, { "READONLY_MEM", 81 },
    };
    fprintf(g_rec, "caps");
    for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++)
        fprintf(g_rec, " %s=%ld/%ld", caps[i].name, kd_check_extension(c->kvm_fd, caps[i].cap),
                kd_check_extension(c->vm_fd, caps[i].cap));
    fprintf(g_rec, "\n");
    for (int i = 0; i < c->ngm; i++)
        fprintf(g_rec, "file G%d %" PRIu64 " %" PRIu64 "\n", i, c->gm_size[i], g_gm_flags[i]);
    fprintf(g_rec, "file M %d 0\n", 16 << 20);
}

/* What a request's guest_memfd number was, so the replay can name a file of the same kind. */
static void fd_role(const struct kd_ctx *c, uint32_t fd, char *out, size_t n)
{
    for (int i = 0; i < c->ngm; i++)
        if (fd == (uint32_t)c->gm_fd[i]) {
            snprintf(out, n, "G%u", (unsigned)i % 100u);
            return;
        }
    if (fd == (uint32_t)c->memfd_fd)
        snprintf(out, n, "M");
    else if (c->foreign_fd >= 0 && fd == (uint32_t)c->foreign_fd)
        snprintf(out, n, "F");
    else if ((int)fd < 0 || fcntl((int)fd, F_GETFD) < 0)
        snprintf(out, n, "C"); /* not open: -EBADF wherever it is checked */
    else
        snprintf(out, n, "O"); /* open, neither a guest_memfd nor a memfd (e.g. /dev/kvm) */
}

static void record_op(const struct kd_ctx *c, const struct kd_op *op, int kr)
{
    if (!g_rec)
        return;
    char role[16];
    fd_role(c, op->r.guest_memfd, role, sizeof role);
    const struct kvm_userspace_memory_region2 *r = &op->r;
    fprintf(g_rec, "op %d 0x%x 0x%x 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %s %d\n", (int)op->entry,
            r->slot, r->flags, (uint64_t)r->guest_phys_addr, (uint64_t)r->memory_size, (uint64_t)r->userspace_addr,
            (uint64_t)r->guest_memfd_offset, role, kr);
}

/* One request to both; returns hvrt (possibly rebuilt). */
static hvrt_vm *run_op(struct kd_ctx *c, hvrt_vm *vm, const struct kd_op *op)
{
    int kr = kd_kernel_apply(c->vm_fd, op);
    int hr = hvrt_apply(c, vm, op);
    record_op(c, op, kr);
    stat_rc(op->entry, kr);
    if (g_verbose) {
        fprintf(stderr, "op #%ld kernel %d hvrt %d\n", g_op_index, kr, hr);
        kd_print_op(op);
    }
    int foreign = op->entry != KD_V1 && (op->r.flags & KVM_MEM_GUEST_MEMFD) && c->foreign_fd >= 0 &&
                  op->r.guest_memfd == (uint32_t)c->foreign_fd;
    if (foreign && hr == 0 && kr == -EINVAL) {
        if (g_gaps++ == 0) {
            fprintf(stderr, "NOTE known gap (not counted): another VM's guest_memfd, kernel -EINVAL, hvrt 0; "
                            "later ones only counted\n");
            kd_print_op(op);
        }
        struct kd_op undo = *op;
        undo.entry = KD_R2;
        undo.r.memory_size = 0;
        undo.r.flags = 0;
        CHECK_RC(hvrt_apply(c, vm, &undo), 0);
    } else {
        if (hr != kr && g_mismatches++ < 40) {
            fprintf(stderr, "MISMATCH op #%ld (seed %" PRIu64 "): kernel %d, hvrt %d\n", g_op_index, g_seed, kr, hr);
            kd_print_op(op);
            const struct kd_slot *s = kd_find_id(&c->model, op->r.slot >> 16, op->r.slot & 0xffff);
            if (s)
                fprintf(stderr, "  existing slot: base 0x%" PRIx64 " npages 0x%" PRIx64 " hva 0x%" PRIx64
                        " flags 0x%x fd %d pgoff 0x%" PRIx64 "\n", s->base, s->npages, s->hva, s->flags, (int)s->fd, s->pgoff);
        }
        CHECK_RC(hr, kr);
    }
    if (kr == 0)
        kd_model_apply(&c->model, op);
    if (hr != kr && !(foreign && hr == 0))
        vm = resync(c, vm);
    return vm;
}

/* Directed: the max-gfn rule (a slot ending at 2^52 passes, one page further does not) and the
 * first address space past the VM's number (KVM_CAP_MULTI_ADDRESS_SPACE). */
static hvrt_vm *probe_directed(struct kd_ctx *c, hvrt_vm *vm)
{
    struct kd_op op = { .entry = kd_kernel_region2 ? KD_R2 : KD_V1, .kind = "probe" };
    op.r = (struct kvm_userspace_memory_region2){ .slot = c->nr_as << 16, .memory_size = KD_PAGE,
                                                  .userspace_addr = KD_HVA_BASE };
    vm = run_op(c, vm, &op);
    op.r.slot = 0;
    op.r.guest_phys_addr = KD_GPA_TOP;
    int kr = kd_kernel_apply(c->vm_fd, &op);
    c->gpa_top_checked = kr == -EINVAL;
    vm = run_op(c, vm, &op);
    op.r.guest_phys_addr = KD_GPA_TOP - KD_PAGE;
    vm = run_op(c, vm, &op);
    op.r.memory_size = 0;
    return run_op(c, vm, &op);
}

static int setup(struct kd_ctx *c, int kvm_fd)
{
    c->kvm_fd = kvm_fd;
    c->vm_fd = kd_create_vm(kvm_fd);
    if (c->vm_fd < 0)
        return c->vm_fd;
    long nas = kd_check_extension(c->vm_fd, KD_CAP_MULTI_ADDRESS_SPACE);
    c->nr_as = nas > 0 ? (uint32_t)nas : 1;
    long gflags = kd_check_extension(c->vm_fd, KD_CAP_GUEST_MEMFD_FLAGS);
    c->private_slots = kd_check_extension(c->vm_fd, KD_CAP_GUEST_MEMFD) > 0;
    kd_kernel_region2 = kd_check_extension(c->vm_fd, 231 /* KVM_CAP_USER_MEMORY2 */) > 0;
    printf("KVM VM type %u: nr_address_spaces %u, KVM_CAP_GUEST_MEMFD %d, guest_memfd flags 0x%lx\n", kd_vm_type,
           c->nr_as, c->private_slots, gflags);
    static const uint64_t sizes[] = { 1ull << 20, 2ull << 20, 4ull << 20, 16ull << 20, 64ull << 20, 64ull << 20 };
    for (int i = 0; i < 6; i++) {
        uint64_t f = (i & 1) && (gflags & 3) == 3 ? 3 : 0;
        int fd = kd_create_gmem(c->vm_fd, sizes[i], f);
        if (fd < 0) {
            printf("note: KVM_CREATE_GUEST_MEMFD(%" PRIu64 ", %" PRIu64 "): %s\n", sizes[i], f, strerror(-fd));
            continue;
        }
        g_gm_flags[c->ngm] = f;
        c->gm_fd[c->ngm] = fd;
        c->gm_size[c->ngm++] = sizes[i];
    }
    int vm2 = kd_create_vm(kvm_fd);
    c->foreign_fd = vm2 >= 0 ? kd_create_gmem(vm2, 4ull << 20, 0) : -1;
    if (vm2 >= 0)
        close(vm2); /* the guest_memfd keeps that VM alive */
    c->memfd_fd = memfd_create("kvm-diff", MFD_CLOEXEC);
    if (c->memfd_fd < 0 || ftruncate(c->memfd_fd, 16 << 20) < 0)
        return -errno;
    c->closed_fd = 500;
    close(500);
    return 0;
}

/* One pass: a KVM VM of kd_vm_type and an hvrt VM of the same type under g_profile, nops random
 * requests to both, every answer compared, then everything deleted on both sides. */
static void run_pass(int kvm_fd, long nops)
{
    /* Static, not calloc'd: every early return (a failed setup) would leak it, and
     * LeakSanitizer fails the ASan run for that. */
    static struct kd_ctx ctx;
    struct kd_ctx *c = &ctx;
    memset(c, 0, sizeof *c);
    memset(g_stats, 0, sizeof g_stats);
    int mismatches0 = g_mismatches;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c->rng = g_seed;
    int rc = setup(c, kvm_fd);
    if (rc < 0) {
        fprintf(stderr, "setup: %s\n", strerror(-rc));
        SKIP("cannot create a KVM VM or its files");
        return;
    }

    /* The first call into libhvrt starts the .NET runtime, which keeps /dev/urandom open for the
     * process: warm it up with a throwaway VM (and a private slot) before counting fds. */
    hvrt_vm *vm = hvrt_new(c);
    if (vm && c->ngm && c->private_slots) {
        struct kvm_userspace_memory_region2 w = { .flags = KVM_MEM_GUEST_MEMFD, .memory_size = KD_PAGE,
                                                  .userspace_addr = KD_HVA_BASE,
                                                  .guest_memfd = (uint32_t)(g_bind ? g_bound_gm[0] : c->gm_fd[0]) };
        CHECK_RC(hvrt_set_user_memory_region2(vm, &w), 0);
    }
    hvrt_vm_destroy(vm);
    FILE *rec = g_rec;
    if (g_profile != HVRT_KVM_PROFILE_HOST)
        g_rec = NULL; /* the set pass repeats the probed one's requests */
    if (g_rec)
        record_pass_header(c);
    int fds_before = count_open_fds();
    vm = hvrt_new(c);
    if (!vm)
        return;
    vm = probe_directed(c, vm);
    for (g_op_index = 0; g_op_index < nops && vm; g_op_index++) {
        struct kd_op op;
        kd_gen(c, &op);
        vm = run_op(c, vm, &op);
        if (vm && (g_op_index + 1) % KD_CHECK_EVERY == 0)
            check_translations(c, vm);
    }
    if (!vm)
        return;
    check_translations(c, vm);

    /* Delete everything on both sides. */
    while (c->model.n) {
        /* Both entries in turn where the kernel has REGION2; v1 alone where it does not (6.1). */
        struct kd_op op = { .entry = c->model.n % 2 || !kd_kernel_region2 ? KD_V1 : KD_R2, .kind = "cleanup" };
        kd_op_from_slot(&op, &c->model.s[0]);
        op.r.memory_size = 0;
        op.r.flags = 0; /* v1 refuses bit 2; delete needs no flags */
        int kr = kd_kernel_apply(c->vm_fd, &op), hr = hvrt_apply(c, vm, &op);
        record_op(c, &op, kr);
        if (kr || hr) {
            fprintf(stderr, "cleanup: kernel %d, hvrt %d\n", kr, hr);
            kd_print_op(&op);
        }
        CHECK_RC(kr, 0);
        CHECK_RC(hr, 0);
        kd_model_apply(&c->model, &op);
    }
    check_translations(c, vm);
    hvrt_vm_destroy(vm);
    int fds_after = count_open_fds();
    if (fds_after != fds_before)
        fprintf(stderr, "FD LEAK: %d fds before hvrt_vm_create, %d after hvrt_vm_destroy\n", fds_before, fds_after);
    CHECK_RC(fds_after, fds_before);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    static const char *const cls[] = { "0", "EINVAL", "EEXIST", "EBADF", "other" };
    for (int e = 0; e < 3; e++) {
        printf("kernel results via %-7s:", kd_entry_name[e]);
        for (int k = 0; k < 5; k++)
            printf(" %s %ld", cls[k], g_stats[e][k]);
        printf("\n");
    }
    if (g_rec)
        fprintf(g_rec, "end\n");
    g_rec = rec;
    printf("pass VM type %u, profile %#x%s: seed %" PRIu64 ", %ld ops, %d mismatches, %d foreign-guest_memfd gaps (not counted), %.1f s\n",
           kd_vm_type, g_profile, g_profile ? " (set)" : " (probed)", g_seed, nops, g_mismatches - mismatches0, g_gaps,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (int i = 0; i < c->ngm; i++)
        close(c->gm_fd[i]);
    if (c->foreign_fd >= 0)
        close(c->foreign_fd);
    for (int i = 0; g_bound_vm >= 0 && i < c->ngm; i++)
        close(g_bound_gm[i]);
    if (g_bound_vm >= 0)
        close(g_bound_vm);
    g_bound_vm = -1;
    close(c->memfd_fd);
    close(c->vm_fd);
}

int main(void)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g_seed = env_u64("HVRT_DIFF_SEED", (uint64_t)t0.tv_nsec ^ (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
    long nops = (long)env_u64("HVRT_DIFF_OPS", 20000);
    g_verbose = (int)env_u64("HVRT_DIFF_VERBOSE", 0);
    g_bind = (int)env_u64("HVRT_DIFF_BIND", 0);
    printf("kvm_diff_test: seed %" PRIu64 ", %ld ops a pass (HVRT_DIFF_SEED / HVRT_DIFF_OPS), hvrt %s\n", g_seed, nops,
           g_bind ? "bound to a second KVM VM (HVRT_DIFF_BIND=1)" : "unbound");

    int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        SKIP("cannot open /dev/kvm");
        return harness_finish();
    }
    const char *record = getenv("HVRT_DIFF_RECORD");
    if (record && *record) {
        g_rec = fopen(record, "w");
        if (!g_rec)
            FATAL("HVRT_DIFF_RECORD %s: %s", record, strerror(errno));
        struct utsname u;
        uname(&u);
        fprintf(g_rec, "# KVM's answers to kvm_diff_test's requests (native/tests/kvm_replay_test.c replays them)\n");
        fprintf(g_rec, "kernel %s\nseed %" PRIu64 "\nops %ld\n", u.release, g_seed, nops);
    }
    /* A pass per VM type this KVM takes of DEFAULT and SW_PROTECTED (HVRT_DIFF_TYPE picks one),
     * each with hvrt's profile probed and then set to the probed number. */
    long types = kd_check_extension(kvm_fd, 235 /* KVM_CAP_VM_TYPES */);
    long only = (long)env_u64("HVRT_DIFF_TYPE", (uint64_t)-1);
    printf("KVM_CAP_VM_TYPES %#lx\n", types);
    for (uint32_t t = 0; t <= 1; t++) {
        if ((only >= 0 && (uint32_t)only != t) || (t != 0 && !((types >> t) & 1)))
            continue;
        kd_vm_type = t;
        struct hvrt_kvm_profile q = { .size = sizeof q };
        CHECK_RC(hvrt_kvm_profile_query(HVRT_KVM_PROFILE_HOST, t, &q), 0);
        g_profile_probed = q.profile;
        for (int explicit = 0; explicit < 2; explicit++) {
            g_profile = explicit ? q.profile : HVRT_KVM_PROFILE_HOST;
            run_pass(kvm_fd, nops);
        }
    }
    printf("seed %" PRIu64 ": %d mismatches in all passes\n", g_seed, g_mismatches);
    if (g_rec) {
        fclose(g_rec);
        printf("recorded the kernel's answers in %s\n", record);
    }
    close(kvm_fd);
    return harness_finish();
}

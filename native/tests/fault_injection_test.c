/* Fault injection (hvrt_testing.h): every operation family runs for N = 1, 2, ... with
 * the Nth call at hvrt's allocator, fallocate, madvise, ioctls, dup or mmap failing once, until
 * N is past the operation's last call. Each run starts from a VM built afresh by the same calls,
 * so hvrt's internal reserves are the same in every run and the Nth call is the same call (on
 * one VM, a failed run's reserves would shorten the next and skip calls). Each failed run must return the injected errno (the
 * site's documented one) and leave everything a VMM can observe exactly as before: every slot
 * (hvrt_find_slots_by_hva over all host addresses), the translation of every gfn of a small
 * universe in every address space (generations included), every attribute run over all 2^52
 * gfns, every logging slot's dirty bitmap, the inline readers' limit, the open fds and, on a
 * bound VM, which gfns KVM itself has a slot for and which slots KVM logs; memory on the side
 * still in use keeps its contents. After a failed run the same call, disarmed, must succeed on
 * that VM, and so must the run past the last call.
 * Real memfds, real /dev/kvm (the bound part skips with the reason where it cannot open). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include "hvrt_inline.h"
#include "test_util.h"
#include "kvm_ioctl.h"

#define U_GFNS 64        /* the gfn universe of the snapshots: [0, 64) in every address space */
#define MAX_SLOTS 16
#define MAX_RUNS 64
#define SHARED_PAGES 256 /* one shared memfd mapping backs every slot's host memory */


/* ---- The switch ------------------------------------------------------------------------ */

static void disarm(void)
{
    if (hvrt_test_fail_nth(0, 0, 0) != 0)
        FATAL("disarm");
}

/* The code a failed run must return: ALLOC is -ENOMEM whatever err, DUP -EMFILE or -ENOMEM. */
static int expected_rc(uint32_t fired, int err)
{
    switch (fired) {
    case HVRT_FAULT_ALLOC:
        return -ENOMEM;
    case HVRT_FAULT_DUP:
        return err == EMFILE ? -EMFILE : -ENOMEM;
    default:
        return -err;
    }
}

/* ---- Snapshots of everything observable ------------------------------------------------ */

struct state {
    int nslots;
    struct hvrt_slot_range slots[MAX_SLOTS];
    int tr_rc[2][U_GFNS];
    struct hvrt_translation tr[2][U_GFNS];
    int nruns;
    uint64_t runs[MAX_RUNS][3]; /* gfn, run end, attrs */
    uint64_t private_pages;
    int dirty_rc[MAX_SLOTS];
    uint64_t dirty[MAX_SLOTS];  /* slots of at most 64 pages: one word */
    uint32_t inline_limit;
    int fds;
    uint64_t kvm_slot_at;       /* bit g: KVM has a slot over gfn g of address space 0 */
    uint64_t kvm_logs;          /* bit i: KVM_GET_DIRTY_LOG of slots[i] answers 0 */
    int caps_rc;                /* hvrt_kvm_caps: 0 bound, -ENODEV not */
    struct hvrt_kvm_caps caps;
};

struct world {
    hvrt_vm *vm;
    uint32_t nr_as;
    int kvm_vm;                 /* bound KVM VM fd, or -1 */
    uint8_t *shared;            /* SHARED_PAGES pages, MAP_SHARED over a memfd */
    int priv[2];                /* private memfds, or -1 */
    uint8_t *priv_map[2];       /* their mappings (PRIV_PAGES pages) */
    int gmem;                   /* a guest_memfd of the KVM VM, or -1 */
};


/* KVM has a slot over gfn: a direct create of a spare slot there is refused with EEXIST. */
static bool kvm_has_slot_at(int vm_fd, uint64_t gfn, uint64_t hva)
{
    struct kvm_userspace_memory_region2 r = region2_of(999, 0, gfn * PAGE, PAGE, hva, 0, 0);
    long rc = kio(vm_fd, K_SET_REGION2, &r);
    if (rc == 0) {
        r.memory_size = 0;
        kio(vm_fd, K_SET_REGION2, &r);
    }
    return rc == -EEXIST;
}


static void snap(const struct world *w, struct state *s)
{
    memset(s, 0, sizeof *s);
    int n = hvrt_find_slots_by_hva(w->vm, 0, UINT64_MAX, s->slots, MAX_SLOTS);
    if (n < 0 || n > MAX_SLOTS)
        FATAL("find_slots_by_hva = %d", n);
    s->nslots = n;
    for (uint32_t as = 0; as < w->nr_as; as++)
        for (uint64_t g = 0; g < U_GFNS; g++)
            s->tr_rc[as][g] = hvrt_translate(w->vm, as, g, &s->tr[as][g]);
    uint64_t g = 0, end = 1ull << 52;
    while (g < end) {
        if (s->nruns == MAX_RUNS)
            FATAL("more than %d attribute runs", MAX_RUNS);
        uint64_t run_end, attrs;
        if (hvrt_attributes_run(w->vm, g, end, &run_end, &attrs) != 0)
            FATAL("attributes_run");
        s->runs[s->nruns][0] = g;
        s->runs[s->nruns][1] = run_end;
        s->runs[s->nruns][2] = attrs;
        s->nruns++;
        g = run_end;
    }
    if (hvrt_attributes_count(w->vm, 0, end, &s->private_pages) != 0)
        FATAL("attributes_count");
    for (int i = 0; i < n; i++) {
        /* Manual protection (every VM here): GET copies and clears nothing. Slots of more than
         * 64 pages are left out: a step harvests one to grow hvrt's harvest buffer itself. */
        if ((s->slots[i].flags & HVRT_TR_LOG_DIRTY) && s->slots[i].gfn_end - s->slots[i].gfn_start <= 64)
            s->dirty_rc[i] = hvrt_dirty_log_get(w->vm, s->slots[i].slot, &s->dirty[i]);
        if (w->kvm_vm >= 0 && kvm_dirty_log(w->kvm_vm, s->slots[i].slot) == 0)
            s->kvm_logs |= 1ull << i;
    }
    s->inline_limit = __atomic_load_n(&((const struct hvrt_vm_layout *)(const void *)w->vm)->inline_as_limit,
                                      __ATOMIC_RELAXED);
    s->fds = count_open_fds();
    s->caps.size = sizeof s->caps;
    s->caps_rc = hvrt_kvm_caps(w->vm, &s->caps);
    if (w->kvm_vm >= 0)
        for (uint64_t gfn = 0; gfn < U_GFNS; gfn++)
            if (kvm_has_slot_at(w->kvm_vm, gfn, (uint64_t)(uintptr_t)w->shared))
                s->kvm_slot_at |= 1ull << gfn;
}

/* Prints the first difference. */
static bool same_state(const struct state *a, const struct state *b)
{
    const char *what = NULL;
    if (a->nslots != b->nslots || memcmp(a->slots, b->slots, sizeof a->slots) != 0)
        what = "slots (find_slots_by_hva)";
    else if (memcmp(a->tr_rc, b->tr_rc, sizeof a->tr_rc) != 0 || memcmp(a->tr, b->tr, sizeof a->tr) != 0)
        what = "translations";
    else if (a->nruns != b->nruns || memcmp(a->runs, b->runs, sizeof a->runs) != 0 ||
             a->private_pages != b->private_pages)
        what = "attributes";
    else if (memcmp(a->dirty_rc, b->dirty_rc, sizeof a->dirty_rc) != 0 || memcmp(a->dirty, b->dirty, sizeof a->dirty) != 0)
        what = "dirty bitmaps";
    else if (a->inline_limit != b->inline_limit)
        what = "inline_as_limit";
    else if (a->fds != b->fds)
        what = "open fds";
    else if (a->caps_rc != b->caps_rc || memcmp(&a->caps, &b->caps, sizeof a->caps) != 0)
        what = "the KVM binding";
    else if (a->kvm_slot_at != b->kvm_slot_at)
        what = "KVM's slots";
    else if (a->kvm_logs != b->kvm_logs)
        what = "KVM's dirty logging";
    if (what != NULL)
        fprintf(stderr, "  state changed: %s\n", what);
    return what == NULL;
}

/* ---- Worlds ------------------------------------------------------------------------------ */

#define PRIV_PAGES 32

static uint8_t *map_memfd(int fd, uint64_t pages)
{
    void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        FATAL("mmap memfd");
    return p;
}

static void world_open(struct world *w, uint32_t type, uint32_t nr_as, int kvm_vm)
{
    memset(w, 0, sizeof *w);
    struct hvrt_vm_config c = config_for(type);
    c.nr_address_spaces = nr_as;
    w->vm = vm_new(&c);
    w->nr_as = nr_as;
    w->kvm_vm = kvm_vm;
    int fd = new_memfd(SHARED_PAGES * PAGE);
    w->shared = map_memfd(fd, SHARED_PAGES);
    close(fd);
    for (int i = 0; i < 2; i++) {
        w->priv[i] = new_memfd(PRIV_PAGES * PAGE);
        w->priv_map[i] = map_memfd(w->priv[i], PRIV_PAGES);
    }
    w->gmem = -1;
    /* Manual protection, so that a snapshot's GET clears nothing (set before any bind). */
    if (hvrt_dirty_log_set_mode(w->vm, HVRT_DIRTY_LOG_MANUAL_PROTECT) != 0)
        FATAL("set_mode");
}

static void world_close(struct world *w)
{
    hvrt_vm_destroy(w->vm);
    munmap(w->shared, SHARED_PAGES * PAGE);
    for (int i = 0; i < 2; i++) {
        munmap(w->priv_map[i], PRIV_PAGES * PAGE);
        close(w->priv[i]);
    }
    if (w->gmem >= 0)
        close(w->gmem);
    if (w->kvm_vm >= 0)
        close(w->kvm_vm);
}

static uint64_t hva_of(const struct world *w, uint64_t page)
{
    return (uint64_t)(uintptr_t)w->shared + page * PAGE;
}

/* ---- Operations ---------------------------------------------------------------------------- */

typedef int (*op_fn)(struct world *w, const void *arg);

#define EINTERNAL_RET 4000 /* an op's own "unexpected" (matches no injected errno) */

#define FD_PRIV0 (-10) /* req.fd: the world's private memfd 0 / 1, its guest_memfd */
#define FD_PRIV1 (-11)
#define FD_GMEM (-12)

struct req {
    int entry; /* 1: v1, 2: region2, 3: _ext */
    uint32_t slot, flags;
    uint64_t gfn, npages, hva_page;
    int fd;
    uint64_t offset_pages;
};

static int op_region(struct world *w, const void *arg)
{
    const struct req *q = arg;
    uint64_t hva = hva_of(w, q->hva_page);
    int fd = q->fd == FD_PRIV0 ? w->priv[0] : q->fd == FD_PRIV1 ? w->priv[1] : q->fd == FD_GMEM ? w->gmem : q->fd;
    switch (q->entry) {
    case 1:
        return set_v1(w->vm, q->slot, q->flags, q->gfn * PAGE, q->npages * PAGE, hva);
    case 2:
        return set_r2(w->vm, q->slot, q->flags, q->gfn * PAGE, q->npages * PAGE, hva, (uint32_t)fd, q->offset_pages * PAGE);
    default:
        return set_ext(w->vm, q->slot, q->flags, q->gfn * PAGE, q->npages * PAGE, hva, (uint32_t)fd, q->offset_pages * PAGE);
    }
}

struct range {
    uint64_t gfn, npages;
    int priv;
};

static int op_attributes(struct world *w, const void *arg)
{
    const struct range *q = arg;
    struct kvm_memory_attributes a = { .address = q->gfn * PAGE, .size = q->npages * PAGE,
                                       .attributes = q->priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0 };
    return hvrt_set_memory_attributes(w->vm, &a);
}

static int op_convert(struct world *w, const void *arg)
{
    const struct range *q = arg;
    return hvrt_convert(w->vm, q->gfn * PAGE, q->npages * PAGE, q->priv);
}

/* hvrt_mark_dirty: no site (lock-free, allocation-free); used to give bitmaps contents. */
static int op_mark(struct world *w, const void *arg)
{
    const struct range *q = arg;
    int64_t n = hvrt_mark_dirty(w->vm, q->gfn * PAGE, q->npages * PAGE);
    return n >= 0 ? 0 : (int)n;
}

/* Registers and, when that worked, unregisters (so replaying the step leaves nothing behind). */
static int op_reader(struct world *w, const void *arg)
{
    (void)arg;
    hvrt_reader *r = NULL;
    int rc = hvrt_reader_register(w->vm, &r);
    if (rc == 0 && hvrt_reader_unregister(r) != 0)
        FATAL("unregister");
    return rc;
}

static int op_vcpu(struct world *w, const void *arg)
{
    (void)arg;
    static uint64_t run[4096 / 8];
    hvrt_vcpu *v = NULL;
    int rc = hvrt_vcpu_create(w->vm, -1, (struct kvm_run *)(void *)run, &v);
    if (rc == 0)
        hvrt_vcpu_destroy(v);
    return rc;
}

static int op_vm_create(struct world *w, const void *arg)
{
    (void)w;
    (void)arg;
    hvrt_vm *vm = NULL;
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    int rc = hvrt_vm_create(&c, &vm);
    if (rc == 0)
        hvrt_vm_destroy(vm);
    return rc;
}

static int op_dirty_get(struct world *w, const void *arg)
{
    uint64_t bitmap[4]; /* slots of up to 256 pages */
    return hvrt_dirty_log_get(w->vm, *(const uint32_t *)arg, bitmap);
}

static int op_dirty_view(struct world *w, const void *arg)
{
    const uint64_t *view = NULL;
    return hvrt_dirty_log_get_view(w->vm, *(const uint32_t *)arg, &view);
}

struct lookups {
    hvrt_vm *vm;
    int rc;
};

static void *lookups_thread(void *p)
{
    struct lookups *l = p;
    struct hvrt_translation t;
    struct hvrt_slot_range r[4];
    l->rc = hvrt_translate(l->vm, 0, 3, &t);
    int n = hvrt_find_slots_by_hva(l->vm, 0, UINT64_MAX, r, 4);
    if (l->rc == 0 && n < 0)
        l->rc = n;
    return NULL;
}

/* The first read section of a new thread takes a record (the one allocation of hvrt_translate
 * and the reverse queries, -ENOMEM when it fails); a record a dead thread left may be reused. */
static int op_new_thread_lookups(struct world *w, const void *arg)
{
    (void)arg;
    struct lookups l = { w->vm, 1 };
    pthread_t th;
    if (pthread_create(&th, NULL, lookups_thread, &l) != 0)
        FATAL("pthread_create");
    pthread_join(th, NULL);
    return l.rc;
}

static int op_dirty_clear(struct world *w, const void *arg)
{
    uint64_t mask = 0x5;
    return hvrt_dirty_log_clear(w->vm, *(const uint32_t *)arg, 0, 8, &mask);
}

static int op_dirty_mode(struct world *w, const void *arg)
{
    (void)arg;
    return hvrt_dirty_log_set_mode(w->vm, HVRT_DIRTY_LOG_MANUAL_PROTECT);
}

static int op_bind(struct world *w, const void *arg)
{
    (void)arg;
    return hvrt_kvm_bind(w->vm, w->kvm_vm, 0);
}

static int op_guest_memfd(struct world *w, const void *arg)
{
    (void)arg;
    void *shared = NULL;
    int fd = hvrt_create_guest_memfd(w->vm, 16 * PAGE, HVRT_GMEM_SHARED_IF_SUPPORTED, &shared);
    if (fd < 0)
        return fd;
    if (shared != NULL)
        munmap(shared, 16 * PAGE);
    close(fd);
    return 0;
}

/* A vCPU exit that converts (vcpu_fd -1: the exit is written by hand, as vcpu_test.c does):
 * KVM_EXIT_MEMORY_FAULT (priv: to private) or KVM_HC_MAP_GPA_RANGE (to shared) over the range.
 * RESUME is success; a failed conversion gives its -errno and, for the hypercall, tells the
 * guest -KVM_EFAULT. The vCPU is made and destroyed in the call (its allocations count too). */
static int op_exit(struct world *w, const void *arg)
{
    const struct range *q = arg;
    static uint64_t page[4096 / 8];
    struct kvm_run *run = (struct kvm_run *)(void *)page;
    memset(page, 0, sizeof page);
    hvrt_vcpu *v = NULL;
    int rc = hvrt_vcpu_create(w->vm, -1, run, &v);
    if (rc != 0)
        return rc;
    int ret, err;
    if (q->priv) {
        run->exit_reason = KVM_EXIT_MEMORY_FAULT;
        struct hvrt_kvm_memory_fault *mf = HVRT_KVM_MEMORY_FAULT(run);
        mf->flags = KVM_MEMORY_EXIT_FLAG_PRIVATE;
        mf->gpa = q->gfn * PAGE;
        mf->size = q->npages * PAGE;
        ret = -1;
        err = EFAULT;
    } else {
        run->exit_reason = KVM_EXIT_HYPERCALL;
        run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
        run->hypercall.args[0] = q->gfn * PAGE;
        run->hypercall.args[1] = q->npages;
        run->hypercall.args[2] = KVM_MAP_GPA_RANGE_DECRYPTED;
        ret = 0;
        err = 0;
    }
    rc = hvrt_vcpu_handle_exit(v, ret, err);
    if (rc < 0 && !q->priv && run->hypercall.ret != (uint64_t)-(int64_t)KVM_EFAULT) {
        fprintf(stderr, "  MAP_GPA_RANGE failed with %d but hypercall.ret = 0x%llx\n", rc,
                (unsigned long long)run->hypercall.ret);
        rc = -EINTERNAL_RET;
    }
    hvrt_vcpu_destroy(v);
    return rc == HVRT_EXIT_RESUME ? 0 : rc < 0 ? rc : -EINTERNAL_RET;
}

/* ---- Memory contents (the conversion steps) ------------------------------------------------ */

/* The private-memory layout (one address space, SW_PROTECTED):
 *   slot 0: gfn [0, 16),  shared pages [0, 16),   private file 0 pages [0, 16)
 *   slot 1: gfn [16, 32), shared pages [16, 32),  private file 0 pages [16, 32)
 *   slot 2: gfn [32, 40), shared pages [64, 72),  private file 1 pages [0, 8)
 * so a range over all three takes several discard calls (slot 2's memory is elsewhere). */
enum mem_when { MEM_BEFORE, MEM_FAILED, MEM_DONE };
typedef void (*mem_fn)(struct world *w, enum mem_when when);

static uint8_t *page_of(struct world *w, uint64_t gfn, int side)
{
    if (side == 0)
        return w->shared + (gfn < 32 ? gfn : gfn - 32 + 64) * PAGE;
    return gfn < 32 ? w->priv_map[0] + gfn * PAGE : w->priv_map[1] + (gfn - 32) * PAGE;
}

static uint8_t pattern(uint64_t gfn, int side)
{
    return (uint8_t)(0x10 + gfn * 2 + side);
}

static void fill_all(struct world *w)
{
    for (uint64_t g = 0; g < 40; g++)
        for (int side = 0; side < 2; side++)
            memset(page_of(w, g, side), pattern(g, side), PAGE);
}

/* gfn's side (0 shared, 1 private) holds `v` in every byte; prints the first page that does not. */
static bool page_holds(struct world *w, uint64_t gfn, int side, uint8_t v, const char *what)
{
    const uint8_t *p = page_of(w, gfn, side);
    for (uint64_t i = 0; i < PAGE; i++)
        if (p[i] != v) {
            fprintf(stderr, "  gfn 0x%llx: its %s page %s\n", (unsigned long long)gfn, side ? "private" : "shared", what);
            return false;
        }
    return true;
}

static bool kept(struct world *w, uint64_t gfn, int side)
{
    return page_holds(w, gfn, side, pattern(gfn, side), "lost its contents");
}

static bool dropped(struct world *w, uint64_t gfn, int side)
{
    return page_holds(w, gfn, side, 0, "was not discarded");
}

static bool in_range(uint64_t g, uint64_t start, uint64_t end)
{
    return g >= start && g < end;
}

/* The memory check every conversion step shares: over gfns [0, 40), the side a conversion drops
 * (dropped_side: 0 shared, 1 private) of the gfns that change, [lo, hi) minus [skip_lo, skip_hi)
 * (already converted), reads zero once the call is done; every other page keeps its contents,
 * also after a failed call. Pages of the range whose side was dropped before the call failed are
 * the documented exception (hvrt_convert): a failed run checks only what must be kept. */
static void check_conversion_memory(struct world *w, enum mem_when when, int dropped_side, uint64_t lo, uint64_t hi,
                                    uint64_t skip_lo, uint64_t skip_hi)
{
    if (when == MEM_BEFORE) {
        fill_all(w);
        return;
    }
    bool ok = true;
    for (uint64_t g = 0; g < 40; g++) {
        bool changing = in_range(g, lo, hi) && !in_range(g, skip_lo, skip_hi);
        ok = kept(w, g, !dropped_side) && ok;
        if (!changing)
            ok = kept(w, g, dropped_side) && ok;
        else if (when == MEM_DONE)
            ok = dropped(w, g, dropped_side) && ok;
    }
    CHECK(ok);
}

/* To private over gfns [2, 40) while [4, 8) is private already: the shared side of [2, 4) and
 * [8, 40) goes; the private side (the side converted to) is never touched. */
static void mem_to_private(struct world *w, enum mem_when when)
{
    check_conversion_memory(w, when, 0, 2, 40, 4, 8);
}

/* To shared over gfns [0, 36) (private: [2, 40)): exactly the private side of [2, 36) goes. */
static void mem_to_shared(struct world *w, enum mem_when when)
{
    check_conversion_memory(w, when, 1, 2, 36, 0, 0);
}

/* After the conversions above private is [36, 40): a memory fault makes [20, 22) private, dropping
 * only their shared side. */
static void mem_fault_to_private(struct world *w, enum mem_when when)
{
    check_conversion_memory(w, when, 0, 20, 22, 0, 0);
}

/* The guest makes [36, 38) shared: only their private side is punched. */
static void mem_hypercall_to_shared(struct world *w, enum mem_when when)
{
    check_conversion_memory(w, when, 1, 36, 38, 0, 0);
}

/* ---- The loop ------------------------------------------------------------------------------ */

struct step {
    const char *name;
    op_fn op;
    const void *arg;
    int err;      /* the errno the failed call returns (ALLOC: -ENOMEM whatever it is) */
    mem_fn mem;   /* NULL, or memory contents to prepare and check */
};

/* Builds a scenario's VM as every run starts it; false (with a SKIP printed) if it cannot. */
typedef bool (*setup_fn)(struct world *w);

static int total_runs;
static bool verbose; /* FAULT_VERBOSE=1: a line per failed run */

static void replay(struct world *w, const struct step *steps, int count)
{
    for (int j = 0; j < count; j++) {
        if (steps[j].mem)
            steps[j].mem(w, MEM_BEFORE);
        int rc = steps[j].op(w, steps[j].arg);
        if (rc != 0)
            FATAL("replaying %s: %d", steps[j].name, rc);
    }
}

/* Step i of a scenario with the Nth call at every site failing, N = 1, 2, ..., each run on a
 * VM built afresh (setup, then steps 0..i-1), until N is past the step's last call. */
static void step_faults(setup_fn setup, const struct step *steps, int i)
{
    const struct step *st = &steps[i];
    struct state before, after;
    for (uint64_t n = 1; n < 10000; n++) {
        struct world w;
        if (!setup(&w))
            return;
        replay(&w, steps, i);
        if (st->mem)
            st->mem(&w, MEM_BEFORE);
        snap(&w, &before);
        if (hvrt_test_fail_nth(HVRT_FAULT_ALL, n, st->err) != 0)
            FATAL("arm");
        int rc = st->op(&w, st->arg);
        uint64_t calls = 0;
        uint32_t fired = 0;
        CHECK_RC(hvrt_test_fault_status(&calls, &fired), 0);
        disarm();
        if (fired == 0) {
            if (rc != 0)
                fprintf(stderr, "  %s: the run past the last call (N=%llu) = %d\n", st->name, (unsigned long long)n, rc);
            CHECK_RC(rc, 0);
            CHECK(calls < n);
            if (st->mem)
                st->mem(&w, MEM_DONE);
            world_close(&w);
            printf("%-44s %3llu runs with a failed call: ok\n", st->name, (unsigned long long)(n - 1));
            total_runs += (int)(n - 1);
            return;
        }
        snap(&w, &after);
        int want = expected_rc(fired, st->err);
        if (verbose)
            printf("  %s: N=%llu: a call at site 0x%x failed, rc %d\n", st->name, (unsigned long long)n, fired, rc);
        if (rc != want)
            fprintf(stderr, "  %s: N=%llu: a call at site 0x%x failed: rc %d, want %d\n", st->name,
                    (unsigned long long)n, fired, rc, want);
        CHECK_RC(rc, want);
        bool same = same_state(&before, &after);
        if (!same)
            fprintf(stderr, "  %s: N=%llu (site 0x%x)\n", st->name, (unsigned long long)n, fired);
        CHECK(same);
        if (st->mem)
            st->mem(&w, MEM_FAILED);
        /* The same call, disarmed, on this VM now succeeds (a leftover anywhere, KVM's slots
         * included, would make it fail). */
        int again = st->op(&w, st->arg);
        if (again != 0)
            fprintf(stderr, "  %s: N=%llu: the same call after the failure = %d\n", st->name, (unsigned long long)n, again);
        CHECK_RC(again, 0);
        if (st->mem)
            st->mem(&w, MEM_DONE);
        world_close(&w);
    }
    FATAL("%s: no end", st->name);
}

/* malloc's bytes in use (hvrt's unmanaged memory comes from malloc: NativeMemory.AlignedAlloc). */
static long long heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return (long long)(m.uordblks + m.hblkhd);
}

/* Every step of a scenario under faults. Every run builds its VM and destroys it, so after a
 * first pass (process-wide first uses: thread records, sentinels) the heap must come back to
 * where it was: a leak in a failure path repeats in each of its runs. The bound leaves room for
 * the .NET runtime's own occasional malloc (a few hundred bytes here and there). */
static void scenario(setup_fn setup, const struct step *steps, int count, const char *title)
{
    struct world w;
    if (!setup(&w))
        return;
    replay(&w, steps, count);
    world_close(&w);
    long long heap0 = heap_bytes();
    for (int i = 0; i < count; i++)
        step_faults(setup, steps, i);
    long long grown = heap_bytes() - heap0;
    printf("%s: malloc'd bytes in use after all runs: %+lld\n", title, grown);
    CHECK(grown < 32 * 1024);
}

/* A batch of creates: a failing entry changes nothing and does not stop the others (hvrt.h),
 * so exactly one entry fails with the site's errno and the others are applied; deleting those
 * gives back the state before the batch (generations aside: two publishes happened). */
static void batch_faults(setup_fn setup, const char *name, const struct kvm_userspace_memory_region2 *r, int count)
{
    struct state before, after;
    for (uint64_t n = 1; n < 10000; n++) {
        struct world w;
        if (!setup(&w))
            return;
        struct kvm_userspace_memory_region2 reqs[8];
        for (int i = 0; i < count; i++) {
            reqs[i] = r[i];
            reqs[i].userspace_addr += hva_of(&w, 0);
        }
        snap(&w, &before);
        if (hvrt_test_fail_nth(HVRT_FAULT_ALL, n, EIO) != 0)
            FATAL("arm");
        int results[8];
        for (int i = 0; i < count; i++)
            results[i] = 1;
        int applied = hvrt_set_user_memory_regions(w.vm, reqs, (size_t)count, results);
        uint64_t calls = 0;
        uint32_t fired = 0;
        hvrt_test_fault_status(&calls, &fired);
        disarm();
        if (fired == 0) {
            CHECK_RC(applied, count);
            world_close(&w);
            printf("%-44s %3llu runs with a failed call: ok\n", name, (unsigned long long)(n - 1));
            total_runs += (int)(n - 1);
            return;
        }
        int failed = 0;
        for (int i = 0; i < count; i++) {
            if (results[i] == 0) {
                struct kvm_userspace_memory_region2 del = reqs[i];
                del.memory_size = 0;
                CHECK_RC(hvrt_set_user_memory_region2(w.vm, &del), 0);
            } else {
                CHECK_RC(results[i], expected_rc(fired, EIO));
                failed++;
            }
        }
        CHECK_RC(applied, count - 1);
        CHECK_RC(failed, 1);
        snap(&w, &after);
        for (uint32_t as = 0; as < w.nr_as; as++)
            for (int g = 0; g < U_GFNS; g++)
                before.tr[as][g].generation = after.tr[as][g].generation = 0;
        CHECK(same_state(&before, &after));
        world_close(&w);
    }
}

/* ---- Scenarios ------------------------------------------------------------------------------- */

static bool setup_default(struct world *w)
{
    world_open(w, HVRT_VM_TYPE_DEFAULT, 2, -1);
    return true;
}

static const uint32_t slot01 = SLOT(0, 1);
static const uint32_t slot06 = SLOT(0, 6);

/* Unbound default VM, two address spaces: slot create / flags / move / delete through every
 * entry point, dirty logging on and off, readers, vCPUs, VM creation. */
static const struct step unbound_steps[] = {
    { "v1 create (first slot)", op_region, &(struct req){ 1, SLOT(0, 0), 0, 0, 16, 0, 0, 0 }, EIO, NULL },
    { "region2 create LOG_DIRTY (first bitmap)", op_region, &(struct req){ 2, SLOT(0, 1), F_LOG, 16, 8, 16, 0, 0 }, EIO, NULL },
    { "v1 create in address space 1", op_region, &(struct req){ 1, SLOT(1, 0), 0, 0, 8, 32, 0, 0 }, EIO, NULL },
    { "mark_dirty (no site)", op_mark, &(struct range){ 16, 3, 0 }, EIO, NULL },
    { "v1 flags: LOG_DIRTY on", op_region, &(struct req){ 1, SLOT(0, 0), F_LOG, 0, 16, 0, 0, 0 }, EIO, NULL },
    { "region2 flags: LOG_DIRTY off", op_region, &(struct req){ 2, SLOT(0, 0), 0, 0, 16, 0, 0, 0 }, EIO, NULL },
    { "v1 move of a logging slot", op_region, &(struct req){ 1, SLOT(0, 1), F_LOG, 40, 8, 16, 0, 0 }, EIO, NULL },
    { "region2 create", op_region, &(struct req){ 2, SLOT(0, 2), 0, 48, 4, 48, 0, 0 }, EIO, NULL },
    { "region2 move + LOG_DIRTY on", op_region, &(struct req){ 2, SLOT(0, 2), F_LOG, 56, 4, 48, 0, 0 }, EIO, NULL },
    { "dirty_log_get (manual protect)", op_dirty_get, &slot01, EIO, NULL },
    { "dirty_log_clear", op_dirty_clear, &slot01, EIO, NULL },
    { "_ext create (shared only) in address space 1", op_region, &(struct req){ 3, SLOT(1, 3), 0, 40, 4, 120, 0, 0 }, EIO, NULL },
    { "_ext flags: LOG_DIRTY on", op_region, &(struct req){ 3, SLOT(1, 3), F_LOG, 40, 4, 120, 0, 0 }, EIO, NULL },
    { "_ext move", op_region, &(struct req){ 3, SLOT(1, 3), F_LOG, 44, 4, 120, 0, 0 }, EIO, NULL },
    { "reader_register", op_reader, NULL, EIO, NULL },
    { "translate + find_slots on a new thread", op_new_thread_lookups, NULL, EIO, NULL },
    { "vcpu_create (no KVM)", op_vcpu, NULL, EIO, NULL },
    { "vm_create", op_vm_create, NULL, EIO, NULL },
    { "v1 delete of a logging slot", op_region, &(struct req){ 1, SLOT(0, 1), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
    { "region2 delete", op_region, &(struct req){ 2, SLOT(1, 0), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
};

static bool setup_private(struct world *w)
{
    world_open(w, HVRT_VM_TYPE_SW_PROTECTED, 1, -1);
    return true;
}

/* SW_PROTECTED VM: private slots (hvrt's dup of each file), attributes, conversions with
 * discards on (the default), deletes. EIO, not EINVAL, for madvise: EINVAL from MADV_REMOVE
 * takes the documented MADV_DONTNEED fallback. */
static const struct step private_steps[] = {
    { "_ext create PRIVATE (dup of the file)", op_region, &(struct req){ 3, SLOT(0, 0), F_PRIV, 0, 16, 0, FD_PRIV0, 0 }, EMFILE, NULL },
    { "_ext create PRIVATE (same file, no dup)", op_region, &(struct req){ 3, SLOT(0, 1), F_PRIV, 16, 16, 16, FD_PRIV0, 16 }, EIO, NULL },
    { "_ext create PRIVATE (second file, dup)", op_region, &(struct req){ 3, SLOT(0, 2), F_PRIV, 32, 8, 64, FD_PRIV1, 0 }, ENFILE, NULL },
    { "set_memory_attributes PRIVATE (first)", op_attributes, &(struct range){ 4, 4, 1 }, EIO, NULL },
    /* Across a 1 GiB chunk and a 2^29 node boundary: new nodes at every level. */
    { "set_memory_attributes PRIVATE (2 chunks)", op_attributes, &(struct range){ (1ull << 29) - 8, 16, 1 }, EIO, NULL },
    { "set_memory_attributes shared (inside)", op_attributes, &(struct range){ (1ull << 29) - 4, 2, 0 }, EIO, NULL },
    { "convert to private [2, 40) (madvise)", op_convert, &(struct range){ 2, 38, 1 }, EIO, mem_to_private },
    { "convert to shared [0, 36) (fallocate)", op_convert, &(struct range){ 0, 36, 0 }, EIO, mem_to_shared },
    { "convert to private, no slot (no discard)", op_convert, &(struct range){ 1ull << 30, 1024, 1 }, EIO, NULL },
    { "vCPU memory fault to private [20, 22)", op_exit, &(struct range){ 20, 2, 1 }, EIO, mem_fault_to_private },
    { "vCPU MAP_GPA_RANGE to shared [36, 38)", op_exit, &(struct range){ 36, 2, 0 }, EIO, mem_hypercall_to_shared },
    { "_ext delete PRIVATE (file's last slot)", op_region, &(struct req){ 3, SLOT(0, 2), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
    { "_ext delete PRIVATE (file still used)", op_region, &(struct req){ 3, SLOT(0, 0), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
};

/* ---- A bound VM (real /dev/kvm) ------------------------------------------------------------- */

static int kvm_fd = -1;
static uint32_t kvm_nr_as = 1;

/* Default VM bound-to-be: two slots the bind replays (one logging, with a dirty page). */
static bool setup_kvm(struct world *w)
{
    int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm < 0)
        FATAL("KVM_CREATE_VM: errno %d", errno);
    world_open(w, HVRT_VM_TYPE_DEFAULT, kvm_nr_as, vm);
    struct kvm_create_guest_memfd g = { .size = 64 * PAGE };
    w->gmem = (int)ioctl(vm, K_CREATE_GUEST_MEMFD, &g);
    if (set_v1(w->vm, SLOT(0, 0), 0, 0, 16 * PAGE, hva_of(w, 0)) != 0 ||
        set_v1(w->vm, SLOT(0, 1), F_LOG, 16 * PAGE, 8 * PAGE, hva_of(w, 16)) != 0 ||
        hvrt_mark_dirty(w->vm, 17 * PAGE, PAGE) != 1)
        FATAL("setup_kvm");
    return true;
}

static bool setup_kvm_bound(struct world *w)
{
    setup_kvm(w);
    if (hvrt_kvm_bind(w->vm, w->kvm_vm, 0) != 0)
        FATAL("bind");
    return true;
}

static const struct step bound_steps[] = {
    { "kvm_bind (caps, replay of 2 slots)", op_bind, NULL, EIO, NULL },
    { "bound v1 create", op_region, &(struct req){ 1, SLOT(0, 2), 0, 32, 8, 32, 0, 0 }, EIO, NULL },
    { "bound region2 create LOG_DIRTY", op_region, &(struct req){ 2, SLOT(0, 3), F_LOG, 48, 4, 48, 0, 0 }, EIO, NULL },
    { "bound v1 flags: LOG_DIRTY on", op_region, &(struct req){ 1, SLOT(0, 0), F_LOG, 0, 16, 0, 0, 0 }, EIO, NULL },
    { "bound region2 move", op_region, &(struct req){ 2, SLOT(0, 2), 0, 40, 8, 32, 0, 0 }, EIO, NULL },
    { "bound v1 move + LOG_DIRTY on", op_region, &(struct req){ 1, SLOT(0, 2), F_LOG, 32, 8, 32, 0, 0 }, EIO, NULL },
    { "bound v1 flags: LOG_DIRTY off", op_region, &(struct req){ 1, SLOT(0, 0), 0, 0, 16, 0, 0, 0 }, EIO, NULL },
    { "bound dirty_log_get (harvest)", op_dirty_get, &slot01, EIO, NULL },
    { "bound dirty_log_clear", op_dirty_clear, &slot01, EIO, NULL },
    { "bound region2 create LOG_DIRTY, 256 pages", op_region, &(struct req){ 2, SLOT(0, 6), F_LOG, 128, 256, 0, 0, 0 }, EIO, NULL },
    { "bound dirty_log_get (harvest buffer grows)", op_dirty_get, &slot06, EIO, NULL },
    { "bound dirty_log_get_view", op_dirty_view, &slot01, EIO, NULL },
    { "bound dirty_log_set_mode", op_dirty_mode, NULL, EIO, NULL },
    { "bound v1 delete of a logging slot", op_region, &(struct req){ 1, SLOT(0, 1), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
    { "bound region2 delete", op_region, &(struct req){ 2, SLOT(0, 3), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
    { "create_guest_memfd (mmap-able if offered)", op_guest_memfd, NULL, EIO, NULL },
};

/* A guest_memfd slot (KVM_MEM_GUEST_MEMFD through region2), bound: the dup, KVM's refusal. */
static const struct step bound_gmem_steps[] = {
    { "kvm_bind", op_bind, NULL, EIO, NULL },
    { "bound region2 create GUEST_MEMFD (dup)", op_region, &(struct req){ 2, SLOT(0, 5), F_PRIV, 56, 8, 56, FD_GMEM, 0 }, EMFILE, NULL },
    { "bound region2 delete GUEST_MEMFD", op_region, &(struct req){ 2, SLOT(0, 5), 0, 0, 0, 0, 0, 0 }, EIO, NULL },
};

static void bound(void)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        SKIP("/dev/kvm cannot be opened: the bound steps (KVM ioctl site) need a real KVM");
        return;
    }
    int probe = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (probe < 0) {
        SKIP("KVM_CREATE_VM(type 0) failed");
        close(kvm_fd);
        return;
    }
    long n = ioctl(probe, K_CHECK_EXTENSION, 118 /* KVM_CAP_MULTI_ADDRESS_SPACE */);
    kvm_nr_as = n > 1 ? 2 : 1;
    /* The last step makes a guest_memfd: only where this KVM has them (a build may not). */
    /* Asked of the VM: a kernel may make guest_memfds but not for this VM type (6.12's default VM). */
    bool has_gmem = ioctl(probe, K_CHECK_EXTENSION, 234 /* KVM_CAP_GUEST_MEMFD */) > 0;
    close(probe);
    int nsteps = (int)(sizeof bound_steps / sizeof bound_steps[0]);
    if (!has_gmem) {
        nsteps--;
        SKIP("this KVM VM has no guest_memfd: the create_guest_memfd step");
    }
    scenario(setup_kvm, bound_steps, nsteps, "bound");
    static const struct kvm_userspace_memory_region2 batch[3] = {
        { .slot = SLOT(0, 10), .guest_phys_addr = 24 * PAGE, .memory_size = PAGE, .userspace_addr = 100 * PAGE },
        { .slot = SLOT(0, 11), .flags = F_LOG, .guest_phys_addr = 25 * PAGE, .memory_size = 2 * PAGE, .userspace_addr = 101 * PAGE },
        { .slot = SLOT(0, 12), .guest_phys_addr = 27 * PAGE, .memory_size = PAGE, .userspace_addr = 103 * PAGE },
    };
    batch_faults(setup_kvm_bound, "bound batch of 3 creates (one fails)", batch, 3);

    /* Whether this KVM takes a guest_memfd slot on a type-0 VM. */
    struct world w;
    setup_kvm(&w);
    int rc = w.gmem < 0 ? -EOPNOTSUPP : hvrt_kvm_bind(w.vm, w.kvm_vm, 0);
    if (rc == 0)
        rc = op_region(&w, bound_gmem_steps[1].arg);
    world_close(&w);
    if (rc != 0) {
        printf("a guest_memfd slot on this KVM's type-0 VM: %s\n", hvrt_strerror(rc));
        SKIP("this KVM takes no guest_memfd slot on a type-0 VM");
    } else {
        scenario(setup_kvm, bound_gmem_steps, (int)(sizeof bound_gmem_steps / sizeof bound_gmem_steps[0]), "bound guest_memfd");
    }
    close(kvm_fd);
}

/* ---- The switch's own contract --------------------------------------------------------------- */

static void switch_arguments(void)
{
    uint64_t calls = 7;
    uint32_t fired = 7;
    CHECK_RC(hvrt_test_fail_nth(1u << 6, 1, EIO), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_ALLOC, 0, EIO), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_ALLOC, 1, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_ALLOC, 1, -5), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_ALLOC, 1, 4096), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(0, 1, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fail_nth(0, 0, EIO), HVRT_EINVAL);
    CHECK_RC(hvrt_test_fault_status(NULL, &fired), HVRT_EFAULT);
    CHECK_RC(hvrt_test_fault_status(&calls, NULL), HVRT_EFAULT);
    /* None of those armed anything. */
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(hvrt_test_fault_status(&calls, &fired), 0);
    CHECK_RC(calls, 0);
    CHECK_RC(fired, 0);
    /* Armed: the Nth counted call fails once; later calls run and are still counted. */
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_ALLOC, 2, ENOMEM), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 0), 0, 0, PAGE, FX_HVA), HVRT_ENOMEM);
    CHECK_RC(hvrt_test_fault_status(&calls, &fired), 0);
    CHECK_RC(calls, 2);
    CHECK_RC(fired, HVRT_FAULT_ALLOC);
    CHECK_RC(set_v1(vm, SLOT(0, 0), 0, 0, PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 1), 0, PAGE, PAGE, FX_HVA), 0);
    uint64_t armed_calls = 0;
    CHECK_RC(hvrt_test_fault_status(&armed_calls, &fired), 0);
    CHECK(armed_calls > 2);
    disarm();
    /* Disarmed: the count and the fired site stay readable; nothing more is counted. */
    CHECK_RC(set_v1(vm, SLOT(0, 2), 0, 2 * PAGE, PAGE, FX_HVA), 0);
    CHECK_RC(hvrt_test_fault_status(&calls, &fired), 0);
    CHECK_RC(calls, armed_calls);
    CHECK_RC(fired, HVRT_FAULT_ALLOC);
    /* A site not selected is not counted. */
    CHECK_RC(hvrt_test_fail_nth(HVRT_FAULT_FALLOCATE, 1, EIO), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 3), 0, 3 * PAGE, PAGE, FX_HVA), 0);
    CHECK_RC(hvrt_test_fault_status(&calls, &fired), 0);
    CHECK_RC(calls, 0);
    CHECK_RC(fired, 0);
    disarm();
    hvrt_vm_destroy(vm);
}

int main(void)
{
    verbose = getenv("FAULT_VERBOSE") != NULL;
    /* stdout's buffer is malloc'd by the first printf: before any heap is measured. */
    printf("each step: N = 1, 2, ... with the Nth call at every site failing, on a VM built afresh\n");
    switch_arguments();
    scenario(setup_default, unbound_steps, (int)(sizeof unbound_steps / sizeof unbound_steps[0]), "unbound");
    static const struct kvm_userspace_memory_region2 batch[3] = {
        { .slot = SLOT(0, 10), .guest_phys_addr = 24 * PAGE, .memory_size = PAGE, .userspace_addr = 100 * PAGE },
        { .slot = SLOT(1, 10), .flags = F_LOG, .guest_phys_addr = 24 * PAGE, .memory_size = 2 * PAGE, .userspace_addr = 101 * PAGE },
        { .slot = SLOT(0, 11), .guest_phys_addr = 26 * PAGE, .memory_size = PAGE, .userspace_addr = 103 * PAGE },
    };
    batch_faults(setup_default, "batch of 3 creates (one fails)", batch, 3);
    scenario(setup_private, private_steps, (int)(sizeof private_steps / sizeof private_steps[0]), "private memory");
    bound();
    disarm();
    printf("fault injection: %d runs with one failed call, each checked\n", total_runs);
    return harness_finish();
}

/* Misuse of the ABI (issue 8), as hvrt.h's "Threading and lifetime rules" documents it: every
 * export with NULL for each pointer argument and for its handle, driven by misuse_exports.h's
 * table, which must name every function hvrt.h declares; in debug mode (HVRT_DEBUG=1: this test
 * sets it before its first hvrt call) stale handles of every kind, wrong threads for a vCPU and its
 * reader, a reader used by two threads at once; hvrt_vm_destroy_checked with readers, vCPUs and
 * from a listener; fds closed behind hvrt's back; huge counts and sizes. */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <time.h>
#include "misuse_exports.h"

/* ---- the table covers hvrt.h ------------------------------------------------------------ */

/* hvrt.h next to this source (build.sh compiles from the root: native/tests/misuse_test.c), or
 * next to the binary (out/bin/../../native/include). */
static FILE *open_header(void)
{
    char path[4096];
    const char *src = __FILE__;
    const char *tests = strstr(src, "tests/misuse_test.c");
    if (tests != NULL) {
        snprintf(path, sizeof path, "%.*sinclude/hvrt.h", (int)(tests - src), src);
        FILE *f = fopen(path, "r");
        if (f != NULL)
            return f;
    }
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 64);
    if (n <= 0)
        return NULL;
    path[n] = 0;
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        return NULL;
    strcpy(slash, "/../../native/include/hvrt.h");
    return fopen(path, "r");
}

static bool in_table(const char *name)
{
    for (size_t i = 0; i < NR_EXPORT_CASES; i++)
        if (strcmp(export_cases[i].name, name) == 0)
            return true;
    return false;
}

/* The functions hvrt.h declares, read as build.sh's export check reads them: a line that starts
 * with a return type (lower-case words, '*', spaces) and then hvrt_NAME(. hvrt.h alone: the
 * test-only exports of hvrt_testing.h (misused on purpose by their own tests) are not covered. */
static void table_covers_header(void)
{
    FILE *f = open_header();
    if (f == NULL) {
        CHECK(!"hvrt.h not found next to the source or the binary");
        return;
    }
    char line[1024];
    int declared = 0, missing = 0;
    char names[128][64];
    while (fgets(line, sizeof line, f) != NULL) {
        size_t i = strspn(line, "abcdefghijklmnopqrstuvwxyz_0123456789 *");
        char *name = strstr(line, "hvrt_");
        if (name == NULL || (size_t)(name - line) > i || (name > line && name[-1] != ' ' && name[-1] != '*'))
            continue;
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (name[len] != '(' || len >= sizeof names[0])
            continue;
        name[len] = 0;
        if (declared < 128)
            strcpy(names[declared], name);
        declared++;
        if (!in_table(name)) {
            fprintf(stderr, "  %s is declared in hvrt.h but not in misuse_exports.h\n", name);
            missing++;
        }
    }
    fclose(f);
    CHECK(declared >= 50 && declared <= 128);
    CHECK_RC(missing, 0);
    for (size_t i = 0; i < NR_EXPORT_CASES; i++) {
        bool found = false;
        for (int j = 0; j < declared && j < 128; j++)
            found = found || strcmp(names[j], export_cases[i].name) == 0;
        if (!found)
            fprintf(stderr, "  %s is in the table but not declared in hvrt.h\n", export_cases[i].name);
        CHECK(found);
    }
}

/* ---- NULL arguments --------------------------------------------------------------------- */

static const void *const VALID = &VALID;

static struct call_args valid_args(struct fixture *fx, hvrt_reader *r, hvrt_vcpu *v, int memfd)
{
    struct call_args a = { .vm = fx->vm, .reader = r, .vcpu = v, .memfd = memfd };
    for (int i = 0; i < 4; i++)
        a.p[i] = VALID;
    return a;
}

/* Each export with its handle NULL, and with each further pointer NULL on live handles; then
 * the fixture must be as before (bad input changes nothing). */
static void every_export_with_null(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    hvrt_reader *r = NULL;
    hvrt_vcpu *v = NULL;
    struct kvm_run *run = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK_RC(hvrt_reader_register(fx.vm, &r), 0);
    CHECK_RC(hvrt_vcpu_create(fx.vm, -1, run, &v), 0);
    int memfd = new_memfd(PAGE);
    int cases = 0;
    for (size_t i = 0; i < NR_EXPORT_CASES; i++) {
        const struct export_case *c = &export_cases[i];
        struct call_args a = valid_args(&fx, r, v, memfd);
        int64_t got;
        if (c->handle != H_NONE) {
            a.vm = c->handle == H_VM ? NULL : a.vm;
            a.reader = c->handle == H_READER ? NULL : a.reader;
            a.vcpu = c->handle == H_VCPU ? NULL : a.vcpu;
            got = c->call(&a);
            if (got != c->null_handle)
                fprintf(stderr, "  %s(handle NULL) = %lld, want %lld\n", c->name, (long long)got,
                        (long long)c->null_handle);
            CHECK(got == c->null_handle);
            cases++;
        }
        for (int p = 0; p < c->nptr; p++) {
            a = valid_args(&fx, r, v, memfd);
            a.p[p] = NULL;
            got = c->call(&a);
            if (got != c->null_ptr[p])
                fprintf(stderr, "  %s(pointer %d NULL) = %lld, want %lld\n", c->name, p, (long long)got,
                        (long long)c->null_ptr[p]);
            CHECK(got == c->null_ptr[p]);
            cases++;
        }
        if (c->handle == H_NONE && c->nptr == 0)
            CHECK_RC(c->call(&a), 1);
    }
    printf("NULL: %d cases over %zu functions\n", cases, NR_EXPORT_CASES);
    CHECK(fixture_intact(&fx));
    /* The handles still work: nothing NULL reached them. */
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(r, 0, LIVE_GFN, &t), 0);
    /* Offline around a slot change on this thread, which would otherwise wait for itself. */
    CHECK_RC(hvrt_reader_offline(r), 0);
    CHECK_RC(hvrt_vcpu_enter(v), 0);
    CHECK(fixture_still_works(&fx));
    CHECK_RC(hvrt_vcpu_exit(v), 0);
    hvrt_vcpu_destroy(v);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    CHECK_RC(hvrt_vm_destroy_checked(fx.vm), 0);
    close(memfd);
    munmap(run, PAGE);
}

/* ---- stale handles (debug mode) --------------------------------------------------------- */

/* Every export taking a handle of that kind, with the stale one: the stale code of the table. */
static void every_export_refuses_stale(enum handle_kind kind, hvrt_vm *vm, hvrt_reader *r, hvrt_vcpu *v,
                                       const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < NR_EXPORT_CASES; i++) {
        const struct export_case *c = &export_cases[i];
        if (c->handle != kind)
            continue;
        struct call_args a = { .vm = vm, .reader = r, .vcpu = v, .memfd = -1 };
        for (int p = 0; p < 4; p++)
            a.p[p] = VALID;
        int64_t got = c->call(&a);
        if (got != c->stale) {
            fprintf(stderr, "  %s(%s) = %lld, want %lld\n", c->name, what, (long long)got, (long long)c->stale);
            bad++;
        }
        /* As an ioctl resolves its fd first: the stale handle wins over a NULL argument. */
        for (int p = 0; p < c->nptr; p++) {
            a.p[p] = NULL;
            got = c->call(&a);
            a.p[p] = VALID;
            if (got != c->stale && c->handle != H_NONE) {
                fprintf(stderr, "  %s(%s, pointer %d NULL) = %lld, want %lld\n", c->name, what, p,
                        (long long)got, (long long)c->stale);
                bad++;
            }
        }
    }
    CHECK_RC(bad, 0);
}

static struct kvm_run *new_run(void)
{
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    return p;
}

/* True when none of n new objects (made by make, undone by unmake) got the address dead. */
#define NEVER_REUSED(dead, n, type, make, unmake)                                     \
    ({                                                                                \
        bool _ok = true;                                                              \
        type _objs[n];                                                                \
        for (int _i = 0; _i < (n); _i++) {                                            \
            _objs[_i] = (make);                                                       \
            _ok = _ok && (void *)_objs[_i] != (void *)(dead);                         \
        }                                                                             \
        for (int _i = (n) - 1; _i >= 0; _i--) {                                       \
            type _o = _objs[_i];                                                      \
            unmake;                                                                   \
        }                                                                             \
        _ok;                                                                          \
    })

static hvrt_reader *reader_new(hvrt_vm *vm)
{
    hvrt_reader *r = NULL;
    if (hvrt_reader_register(vm, &r) != 0)
        FATAL("hvrt_reader_register");
    return r;
}

static hvrt_vcpu *vcpu_new(hvrt_vm *vm, struct kvm_run *run)
{
    hvrt_vcpu *v = NULL;
    if (hvrt_vcpu_create(vm, -1, run, &v) != 0)
        FATAL("hvrt_vcpu_create");
    return v;
}

static void stale_handles(void)
{
    struct kvm_run *run = new_run();
    hvrt_vm *keep = vm_new(NULL);

    /* A destroyed VM: every export -EBADF, destroy a no-op, and its block is never handed out
     * again (in release mode the allocator gives it to the next create at once). */
    hvrt_vm *dead_vm = vm_new(NULL);
    CHECK_RC(set_v1(dead_vm, 0, 0, 0, PAGE, FX_HVA), 0);
    hvrt_vm_destroy(dead_vm);
    every_export_refuses_stale(H_VM, dead_vm, NULL, NULL, "destroyed VM");
    CHECK(NEVER_REUSED(dead_vm, 64, hvrt_vm *, vm_new(NULL), hvrt_vm_destroy(_o)));
    every_export_refuses_stale(H_VM, dead_vm, NULL, NULL, "destroyed VM after 64 creates");

    /* An unregistered reader: -EBADF, and register never hands its record out again. */
    hvrt_reader *dead_r = reader_new(keep);
    CHECK_RC(hvrt_reader_unregister(dead_r), 0);
    every_export_refuses_stale(H_READER, NULL, dead_r, NULL, "unregistered reader");
    CHECK(NEVER_REUSED(dead_r, 64, hvrt_reader *, reader_new(keep), hvrt_reader_unregister(_o)));
    every_export_refuses_stale(H_READER, NULL, dead_r, NULL, "unregistered reader after 64 registers");

    /* A destroyed vCPU. */
    hvrt_vcpu *dead_v = vcpu_new(keep, run);
    hvrt_vcpu_destroy(dead_v);
    every_export_refuses_stale(H_VCPU, NULL, NULL, dead_v, "destroyed vCPU");
    CHECK(NEVER_REUSED(dead_v, 64, hvrt_vcpu *, vcpu_new(keep, run), hvrt_vcpu_destroy(_o)));
    every_export_refuses_stale(H_VCPU, NULL, NULL, dead_v, "destroyed vCPU after 64 creates");

    /* hvrt_vm_destroy with a reader and a vCPU still registered (the documented rule broken):
     * the reader, the vCPU and the vCPU's reader are stale, not freed memory. */
    hvrt_vm *vm = vm_new(NULL);
    hvrt_reader *r = reader_new(vm);
    hvrt_vcpu *v = vcpu_new(vm, run);
    hvrt_reader *vr = hvrt_vcpu_reader(v);
    CHECK(vr != NULL);
    hvrt_vm_destroy(vm);
    every_export_refuses_stale(H_READER, NULL, r, NULL, "reader of a destroyed VM");
    every_export_refuses_stale(H_READER, NULL, vr, NULL, "vCPU reader of a destroyed VM");
    every_export_refuses_stale(H_VCPU, NULL, NULL, v, "vCPU of a destroyed VM");
    hvrt_vcpu_destroy(v); /* the vCPU itself is freed now; its VM's block is still mapped */
    every_export_refuses_stale(H_VCPU, NULL, NULL, v, "vCPU destroyed after its VM");

    /* The VM that stayed is untouched by all of it. */
    CHECK_RC(set_v1(keep, 0, 0, 0, PAGE, FX_HVA), 0);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(keep, 0, 0, &t), 0);
    CHECK_RC(hvrt_vm_destroy_checked(keep), 0);
    munmap(run, PAGE);
}

/* A live handle of one kind where another is expected (a C cast gone wrong): each kind has its
 * own magic, so it is refused like a stale one, in any mode, and left untouched. */
static void handles_of_the_wrong_kind(void)
{
    struct kvm_run *run = new_run();
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 4 * PAGE, FX_HVA), 0);
    hvrt_reader *r = reader_new(vm);
    hvrt_vcpu *v = vcpu_new(vm, run);
    every_export_refuses_stale(H_VM, (hvrt_vm *)r, NULL, NULL, "a reader as VM");
    every_export_refuses_stale(H_VM, (hvrt_vm *)v, NULL, NULL, "a vCPU as VM");
    every_export_refuses_stale(H_READER, NULL, (hvrt_reader *)vm, NULL, "a VM as reader");
    every_export_refuses_stale(H_READER, NULL, (hvrt_reader *)v, NULL, "a vCPU as reader");
    every_export_refuses_stale(H_VCPU, NULL, NULL, (hvrt_vcpu *)vm, "a VM as vCPU");
    every_export_refuses_stale(H_VCPU, NULL, NULL, (hvrt_vcpu *)r, "a reader as vCPU");
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(r, 0, 1, &t), 0);
    CHECK_RC(hvrt_reader_translate(hvrt_vcpu_reader(v), 0, 1, &t), 0);
    CHECK_RC(hvrt_translate(vm, 0, 1, &t), 0);
    hvrt_vcpu_destroy(v);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
    munmap(run, PAGE);
}

/* ---- destroy while in use ---------------------------------------------------------------- */

struct in_listener {
    hvrt_vm *vm;
    int checked_rc;
    int calls;
};

static void destroying_listener(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    (void)gpa, (void)size, (void)to_private;
    struct in_listener *l = ctx;
    l->calls++;
    l->checked_rc = hvrt_vm_destroy_checked(l->vm);
    hvrt_vm_destroy(l->vm); /* refused as well: the converting thread is walking the VM */
}

static void destroy_checked_refuses_while_in_use(void)
{
    struct kvm_run *run = new_run();
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 4 * PAGE, FX_HVA), 0);
    hvrt_reader *r = reader_new(vm);
    CHECK_RC(hvrt_vm_destroy_checked(vm), HVRT_EBUSY);
    /* Offline does not count as unregistered: the destroy would still free the record. */
    CHECK_RC(hvrt_reader_offline(r), 0);
    CHECK_RC(hvrt_vm_destroy_checked(vm), HVRT_EBUSY);
    CHECK_RC(hvrt_reader_online(r), 0);
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(r, 0, 1, &t), 0); /* nothing was freed */
    CHECK_RC(hvrt_reader_unregister(r), 0);

    hvrt_vcpu *v = vcpu_new(vm, run);
    CHECK_RC(hvrt_vm_destroy_checked(vm), HVRT_EBUSY);
    CHECK_RC(hvrt_vcpu_enter(v), 0);
    CHECK_RC(hvrt_vcpu_exit(v), 0);
    hvrt_vcpu_destroy(v);

    /* From a conversion listener: -EDEADLK, and hvrt_vm_destroy there does nothing. */
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *pvm = vm_new(&c);
    struct in_listener l = { .vm = pvm, .checked_rc = 1 };
    CHECK_RC(hvrt_add_conversion_listener(pvm, destroying_listener, &l), 0);
    CHECK_RC(hvrt_set_discard_policy(pvm, 0), 0);
    CHECK_RC(hvrt_convert(pvm, 0, PAGE, 1), 0);
    CHECK_RC(l.calls, 1);
    CHECK_RC(l.checked_rc, HVRT_EDEADLK);
    uint64_t attrs = 0;
    CHECK_RC(hvrt_get_memory_attributes(pvm, 0, &attrs), 0);
    CHECK_RC(attrs, KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK_RC(hvrt_remove_conversion_listener(pvm, destroying_listener, &l), 0);
    CHECK_RC(hvrt_vm_destroy_checked(pvm), 0);

    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
    CHECK_RC(hvrt_vm_destroy_checked(vm), HVRT_EBADF);
    munmap(run, PAGE);
}

/* ---- wrong threads (debug mode) ----------------------------------------------------------- */

struct other_thread {
    hvrt_vcpu *vcpu;
    hvrt_reader *reader;
    int rc[8];
};

static void *use_from_other_thread(void *arg)
{
    struct other_thread *o = arg;
    struct hvrt_exit_info info;
    struct hvrt_translation t;
    o->rc[0] = hvrt_vcpu_enter(o->vcpu);
    o->rc[1] = hvrt_vcpu_exit(o->vcpu);
    o->rc[2] = hvrt_vcpu_handle_exit(o->vcpu, 0, 0);
    o->rc[3] = hvrt_vcpu_exit_info(o->vcpu, &info);
    o->rc[4] = hvrt_vcpu_run(o->vcpu);
    o->rc[5] = hvrt_reader_translate(o->reader, 0, 1, &t);
    o->rc[6] = hvrt_reader_quiescent(o->reader);
    o->rc[7] = hvrt_reader_offline(o->reader);
    return NULL;
}

static void *destroy_from_other_thread(void *arg)
{
    hvrt_vcpu_destroy(arg);
    return NULL;
}

static void vcpu_from_another_thread(void)
{
    struct kvm_run *run = new_run();
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 4 * PAGE, FX_HVA), 0);
    hvrt_vcpu *v = vcpu_new(vm, run);
    struct other_thread o = { .vcpu = v, .reader = hvrt_vcpu_reader(v) };
    pthread_t th;
    pthread_create(&th, NULL, use_from_other_thread, &o);
    pthread_join(th, NULL);
    for (int i = 0; i < 8; i++)
        CHECK_RC(o.rc[i], HVRT_EPERM);
    /* Nothing changed: still online, usable from its own thread. */
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(o.reader, 0, 1, &t), 0);
    CHECK_RC(hvrt_vcpu_enter(v), 0);
    CHECK_RC(hvrt_reader_translate(o.reader, 0, 1, &t), HVRT_EPERM); /* offline */
    CHECK_RC(hvrt_vcpu_exit(v), 0);
    /* Destroy may come from any thread once the vCPU's thread is done with it. */
    pthread_create(&th, NULL, destroy_from_other_thread, v);
    pthread_join(th, NULL);
    CHECK_RC(hvrt_vcpu_enter(v), HVRT_EBADF);
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
    munmap(run, PAGE);
}

struct sharer {
    hvrt_reader *reader;
    atomic_int *stop;
    long ok, busy, other;
};

static void *translate_until_stopped(void *arg)
{
    struct sharer *s = arg;
    struct hvrt_translation t;
    while (!atomic_load(s->stop)) {
        for (int i = 0; i < 256; i++) {
            int rc = hvrt_reader_translate(s->reader, 0, 1, &t);
            if (rc == 0)
                s->ok++;
            else if (rc == HVRT_EBUSY)
                s->busy++;
            else
                s->other++;
        }
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Two threads using one plain reader at once: a call that finds the other inside a call gets
 * -EBUSY; every other call works. Overlaps are a matter of timing: run until both have seen
 * one (or 10 s; on two free cores it takes milliseconds). */
static void reader_shared_by_two_threads(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 4 * PAGE, FX_HVA), 0);
    hvrt_reader *r = reader_new(vm);
    atomic_int stop = 0;
    struct sharer a = { .reader = r, .stop = &stop }, b = a;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, translate_until_stopped, &a);
    pthread_create(&tb, NULL, translate_until_stopped, &b);
    double t0 = now_s();
    while (now_s() - t0 < 10 && (__atomic_load_n(&a.busy, __ATOMIC_RELAXED) == 0 ||
                                 __atomic_load_n(&b.busy, __ATOMIC_RELAXED) == 0))
        usleep(1000);
    atomic_store(&stop, 1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("reader shared by two threads: %ld + %ld translations, %ld + %ld -EBUSY in %.3f s\n", a.ok, b.ok,
           a.busy, b.busy, now_s() - t0);
    CHECK(a.busy + b.busy > 0);
    CHECK(a.ok > 0 && b.ok > 0);
    CHECK_RC(a.other + b.other, 0);
    /* No call was left marked busy. */
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(r, 0, 1, &t), 0);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
}

/* ---- fds closed behind hvrt's back -------------------------------------------------------- */

static void private_fds_closed(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *vm = vm_new(&c);
    void *shared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd = new_memfd(4 * PAGE);
    struct stat st;
    fstat(fd, &st);
    CHECK_RC(set_ext(vm, 0, F_PRIV, 0, 4 * PAGE, (uint64_t)shared, (uint32_t)fd, 0), 0);
    /* The caller's fd closed after the slot call: hvrt works on its own duplicate. */
    close(fd);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), 0);
    CHECK(fd_is_file(t.private_fd, &st));
    CHECK_RC(hvrt_convert(vm, 0, 4 * PAGE, 1), 0);
    CHECK_RC(hvrt_convert(vm, 0, PAGE, 0), 0); /* punches hvrt's duplicate */
    struct hvrt_slot_range out[2];
    CHECK_RC(hvrt_find_slots_by_private(vm, t.private_fd, 0, 4 * PAGE, out, 2), 1);

    /* hvrt's own duplicate closed behind its back (hvrt.h forbids it): the discard that needs it
     * fails with -EBADF and the attribute stays; queries go on. */
    CHECK_RC(close(t.private_fd), 0);
    CHECK_RC(hvrt_convert(vm, PAGE, PAGE, 0), HVRT_EBADF);
    uint64_t attrs = 0;
    CHECK_RC(hvrt_get_memory_attributes(vm, 1, &attrs), 0);
    CHECK_RC(attrs, KVM_MEMORY_ATTRIBUTE_PRIVATE);
    CHECK_RC(hvrt_translate(vm, 0, 1, &t), 0);
    CHECK_RC(hvrt_find_slots_by_private(vm, t.private_fd, 0, PAGE, out, 2), HVRT_EBADF);
    /* A conversion to private discards only the shared side: no fd needed, it works. */
    CHECK_RC(hvrt_convert(vm, 0, PAGE, 1), 0);

    /* The number reused for an unrelated file: hvrt checks that its duplicate still is its file
     * before punching or closing it, so the other file keeps its data and stays open. */
    int other = new_memfd(4 * PAGE);
    int moved = other;
    if (other != t.private_fd) { /* the lowest free number is normally the one just closed */
        moved = dup2(other, t.private_fd);
        close(other);
    }
    CHECK_RC(moved, t.private_fd);
    CHECK_RC(pwrite(moved, "data", 4, PAGE), 4);
    CHECK_RC(hvrt_convert(vm, PAGE, PAGE, 0), HVRT_EBADF);
    char back[4] = { 0 };
    CHECK_RC(pread(moved, back, 4, PAGE), 4);
    CHECK(memcmp(back, "data", 4) == 0);
    CHECK_RC(delete_slot(vm, 0), 0);
    CHECK(fcntl(moved, F_GETFD) >= 0); /* still open */
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
    CHECK(fcntl(moved, F_GETFD) >= 0);
    close(moved);
    munmap(shared, 4 * PAGE);
}

/* A KVM VM fd the VMM closed while bound: what reaches KVM gets the kernel's -EBADF and hvrt
 * changes nothing; what does not reach KVM goes on. A vCPU fd closed: KVM_RUN's -EBADF. */
static void kvm_fds_closed(void)
{
    const char *why = NULL;
    int kvm_vm = open_kvm_vm(&why);
    if (kvm_vm < 0) {
        SKIP(why);
        return;
    }
    hvrt_vm *vm = vm_new(NULL);
    struct hvrt_kvm_caps caps = { .size = sizeof caps };
    CHECK_RC(hvrt_kvm_caps(vm, &caps), HVRT_ENODEV);
    int rc = hvrt_kvm_bind(vm, kvm_vm, 0);
    if (rc == HVRT_EINVAL) {
        hvrt_vm_destroy(vm);
        struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
        c.nr_address_spaces = 1;
        vm = vm_new(&c);
        rc = hvrt_kvm_bind(vm, kvm_vm, 0);
    }
    CHECK_RC(rc, 0);
    void *mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK_RC(set_v1(vm, 0, 0, 0, 2 * PAGE, (uint64_t)mem), 0);
    /* A guest_memfd the VMM closes right after the slot call: hvrt's duplicate keeps the file
     * (KVM holds no reference of its own), and the slot goes on translating to it. */
    CHECK_RC(hvrt_kvm_caps(vm, &caps), 0);
    if (!(caps.flags & HVRT_KVM_GUEST_MEMFD)) {
        SKIP("no KVM_CAP_GUEST_MEMFD");
    } else {
        int gmem = hvrt_create_guest_memfd(vm, 4 * PAGE, 0, NULL);
        CHECK(gmem >= 0);
        struct stat st;
        fstat(gmem, &st);
        rc = set_r2(vm, 2, F_PRIV, 32 * PAGE, 4 * PAGE, (uint64_t)mem, (uint32_t)gmem, 0);
        close(gmem);
        if (rc == HVRT_EINVAL) {
            SKIP("this KVM takes no guest_memfd slot on a default VM");
        } else {
            CHECK_RC(rc, 0);
            struct hvrt_translation gt;
            CHECK_RC(hvrt_translate(vm, 0, 33, &gt), 0);
            CHECK(fd_is_file(gt.private_fd, &st));
            CHECK_RC(delete_slot(vm, 2), 0);
        }
    }
    int vcpu_fd = ioctl(kvm_vm, KVM_CREATE_VCPU, 0);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    long run_size = kvm >= 0 ? ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0) : -1;
    close(kvm);
    close(kvm_vm);
    CHECK_RC(set_v1(vm, 1, 0, 16 * PAGE, PAGE, (uint64_t)mem + 2 * PAGE), HVRT_EBADF);
    CHECK_RC(delete_slot(vm, 0), HVRT_EBADF);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 16, &t), HVRT_ENOENT);
    CHECK_RC(hvrt_translate(vm, 0, 1, &t), 0);
    CHECK_RC(hvrt_kvm_caps(vm, &caps), 0);
    if (vcpu_fd < 0 || run_size <= 0) {
        SKIP("KVM_CREATE_VCPU or KVM_GET_VCPU_MMAP_SIZE failed");
    } else {
        struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
        hvrt_vcpu *v = NULL;
        CHECK_RC(hvrt_vcpu_create(vm, vcpu_fd, run, &v), 0);
        close(vcpu_fd);
        CHECK_RC(hvrt_vcpu_run(v), HVRT_EBADF);
        hvrt_vcpu_destroy(v);
        munmap(run, (size_t)run_size);
    }
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
    munmap(mem, 4 * PAGE);
}

/* ---- huge counts and sizes ---------------------------------------------------------------- */

static void huge_counts(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    hvrt_vm *vm = fx.vm;
    uint64_t gfn = 1;
    struct hvrt_translation t[1];
    int32_t res[1];
    struct kvm_userspace_memory_region2 r2 = delete_of_missing_slot();
    /* Counts above INT32_MAX (the result is an int): refused before any array is read. */
    CHECK_RC(hvrt_translate_batch(vm, 0, &gfn, (size_t)INT32_MAX + 1, t), HVRT_EINVAL);
    CHECK_RC(hvrt_translate_batch(vm, 0, &gfn, SIZE_MAX, t), HVRT_EINVAL);
    CHECK_RC(hvrt_set_user_memory_regions(vm, &r2, SIZE_MAX, res), HVRT_EINVAL);
    hvrt_reader *r = reader_new(vm);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, &gfn, SIZE_MAX, t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    /* Capacities are only an upper bound on what is written. */
    struct hvrt_slot_range out[1];
    CHECK_RC(hvrt_find_slots_by_hva(vm, FX_HVA, PAGE, out, SIZE_MAX), 1);
    CHECK_RC(hvrt_find_slots_by_hva(vm, 0, UINT64_MAX, out, 0), fx.nslots);
    CHECK_RC(hvrt_find_slots_by_hva(vm, 1, UINT64_MAX, out, 0), HVRT_EINVAL); /* wraps */
    struct hvrt_kvm_caps caps = { .size = UINT32_MAX };
    CHECK_RC(hvrt_kvm_caps(vm, &caps), HVRT_ENODEV);
    /* Config sizes: past 4096 -E2BIG without reading past the struct. */
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.size = UINT32_MAX;
    hvrt_vm *none = NULL;
    CHECK_RC(hvrt_vm_create(&c, &none), HVRT_E2BIG);
    /* Ranges that cover the whole space cost O(chunks), not O(pages). */
    CHECK_RC(hvrt_mark_dirty(vm, 0, UINT64_MAX), fx.slots[2].npages);
    CHECK_RC(hvrt_mark_dirty(vm, 1, UINT64_MAX), fx.slots[2].npages); /* ends at 2^64 exactly */
    CHECK_RC(hvrt_mark_dirty(vm, 2, UINT64_MAX), HVRT_EINVAL);
    uint64_t n = 1;
    CHECK_RC(hvrt_attributes_count(vm, 0, UINT64_MAX, &n), 0);
    CHECK_RC(n, 0);
    CHECK_RC(hvrt_range_has_attributes(vm, 0, 0, ~0ull, 0), 1);
    struct hvrt_vm_config pc = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    hvrt_vm *pvm = vm_new(&pc);
    CHECK_RC(hvrt_set_discard_policy(pvm, 0), 0);
    CHECK_RC(hvrt_convert(pvm, 0, 1ull << 63, 1), 0);
    CHECK_RC(hvrt_attributes_count(pvm, 0, UINT64_MAX, &n), 0);
    CHECK_RC(n, 1ull << 51);
    struct kvm_memory_attributes all = { .address = 0, .size = UINT64_MAX - PAGE + 1, .attributes = 0 };
    CHECK_RC(hvrt_set_memory_attributes(pvm, &all), 0);
    CHECK_RC(hvrt_attributes_count(pvm, 0, UINT64_MAX, &n), 0);
    CHECK_RC(n, 0);
    all.size = UINT64_MAX & ~(PAGE - 1);
    all.address = PAGE;
    CHECK_RC(hvrt_set_memory_attributes(pvm, &all), HVRT_EINVAL); /* wraps */
    CHECK_RC(hvrt_vm_destroy_checked(pvm), 0);
    /* Slot sizes: above 2^31 - 1 pages -EINVAL; the largest, with dirty logging, needs two
     * 256 MiB bitmaps (not allocated here); without logging it costs nothing. */
    struct hvrt_vm_config big = config_for(HVRT_VM_TYPE_DEFAULT);
    big.max_gpa_bits = 52;
    hvrt_vm *bvm = vm_new(&big);
    CHECK_RC(set_v1(bvm, 0, 0, 0, (1ull << 31) * PAGE, PAGE), HVRT_EINVAL);
    CHECK_RC(set_v1(bvm, 0, 0, 0, ((1ull << 31) - 1) * PAGE, PAGE), 0);
    CHECK_RC(hvrt_dirty_log_clear(bvm, 0, 0, UINT32_MAX, NULL), HVRT_ENOENT); /* not logging */
    CHECK_RC(hvrt_vm_destroy_checked(bvm), 0);
    /* dirty_log_clear: num_pages past the slot. */
    uint64_t bits[1] = { 0 };
    CHECK_RC(hvrt_dirty_log_clear(vm, LOG_SLOT, 0, UINT32_MAX, bits), HVRT_EINVAL);
    CHECK_RC(hvrt_dirty_log_clear(vm, LOG_SLOT, UINT64_MAX & ~63ull, 64, bits), HVRT_EINVAL);
    /* hvrt_bitmap_next_set: from past nbits reads nothing. */
    CHECK_RC(hvrt_bitmap_next_set(bits, 64, UINT64_MAX), 64);
    /* Many readers: each a 64-byte record (128 in debug mode); all of them are waited for. */
    enum { NR = 4096 };
    static hvrt_reader *many[NR];
    int registered = 0;
    for (int i = 0; i < NR && hvrt_reader_register(vm, &many[i]) == 0; i++)
        registered++;
    CHECK_RC(registered, NR);
    for (int i = 0; i < registered; i++)
        hvrt_reader_offline(many[i]);
    CHECK(fixture_still_works(&fx));
    CHECK_RC(hvrt_vm_destroy_checked(vm), HVRT_EBUSY);
    for (int i = 0; i < registered; i++)
        hvrt_reader_unregister(many[i]);
    CHECK(fixture_intact(&fx));
    CHECK_RC(hvrt_vm_destroy_checked(vm), 0);
}

/* The largest slot with dirty logging needs two 256 MiB bitmaps: with the address space limited
 * to what the process maps now plus 64 MiB they cannot be allocated, and the create is -ENOMEM
 * with nothing changed (no overflow, no crash); without the limit it works. */
static void huge_dirty_bitmap_is_enomem(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_DEFAULT);
    c.max_gpa_bits = 52;
    hvrt_vm *vm = vm_new(&c);
    const uint64_t pages = (1ull << 31) - 1;
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), HVRT_ENOENT); /* the runtime is up: its reservations are made */
    struct rlimit old;
    getrlimit(RLIMIT_AS, &old);
    long vm_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld", &vm_pages) != 1)
        FATAL("/proc/self/statm");
    fclose(f);
    struct rlimit lim = { .rlim_cur = (rlim_t)vm_pages * 4096 + (64ull << 20), .rlim_max = old.rlim_max };
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur) {
        SKIP("RLIMIT_AS already lower than needed");
        hvrt_vm_destroy(vm);
        return;
    }
    CHECK_RC(setrlimit(RLIMIT_AS, &lim), 0);
    int rc = set_v1(vm, 0, F_LOG, 0, pages * PAGE, PAGE);
    int rc_plain = set_v1(vm, 1, 0, pages * PAGE, PAGE, PAGE); /* needs no bitmap */
    CHECK_RC(setrlimit(RLIMIT_AS, &old), 0);
    CHECK_RC(rc, HVRT_ENOMEM);
    CHECK_RC(rc_plain, 0);
    CHECK_RC(hvrt_translate(vm, 0, 0, &t), HVRT_ENOENT);
    CHECK_RC(hvrt_translate(vm, 0, pages, &t), 0);
    hvrt_vm_destroy(vm);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* Stale handles are only defined in debug mode, which hvrt reads from the environment once,
     * at the first call that needs it: before any hvrt call. (No re-exec, so the test stays
     * under valgrind or a debugger; the NEVER_REUSED checks fail if the switch did not take.) */
    setenv("HVRT_DEBUG", "1", 1);
    table_covers_header();
    every_export_with_null();
    stale_handles();
    handles_of_the_wrong_kind();
    destroy_checked_refuses_while_in_use();
    vcpu_from_another_thread();
    reader_shared_by_two_threads();
    private_fds_closed();
    kvm_fds_closed();
    huge_counts();
    huge_dirty_bitmap_is_enomem();
    return harness_finish();
}

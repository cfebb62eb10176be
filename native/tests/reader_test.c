/* hvrt_reader_* and the batch calls through the C ABI: registration and reuse, every bad
 * argument, offline readers (-EPERM), batch results, the grace period (a delete waits for an
 * online reader and not for an offline one), and a pthread stress run: registered and
 * unregistered readers against a writer, with versioned slots so that a torn answer, a freed
 * slot set, or a delete that returned while a reader still held the slot is caught. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "test_util.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static hvrt_reader *reader_new(hvrt_vm *vm)
{
    hvrt_reader *r = NULL;
    int rc = hvrt_reader_register(vm, &r);
    if (rc != 0 || r == NULL)
        FATAL("hvrt_reader_register = %d", rc);
    return r;
}

/* ---- Registration, states, arguments --------------------------------------------------- */

static void register_translate_unregister(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 16 * PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, 1, F_RO, 32 * PAGE, 8 * PAGE, FX_HVA + 0x100000), 0);
    hvrt_reader *r = reader_new(vm);
    for (uint64_t gfn = 0; gfn < 48; gfn++) {
        struct hvrt_translation a, b;
        memset(&a, 0x11, sizeof a);
        memset(&b, 0x11, sizeof b);
        int ra = hvrt_translate(vm, 0, gfn, &a), rb = hvrt_reader_translate(r, 0, gfn, &b);
        CHECK_RC(rb, ra);
        CHECK(memcmp(&a, &b, sizeof a) == 0); /* same fields, or both untouched on a miss */
        if (ra == 0)
            CHECK_RC(b.result, 0);
    }
    CHECK_RC(hvrt_reader_unregister(r), 0);
    CHECK_RC(hvrt_reader_unregister(r), HVRT_EBADF);
    /* The record comes back for the next registration (in debug mode, HVRT_DEBUG=1, never:
     * an unregistered record stays quarantined so a stale handle keeps failing). */
    hvrt_reader *again = reader_new(vm);
    CHECK(debug_mode() ? again != r : again == r);
    hvrt_reader *other = reader_new(vm);
    CHECK(other != r);
    CHECK_RC(hvrt_reader_unregister(again), 0);
    CHECK_RC(hvrt_reader_unregister(other), 0);
    hvrt_vm_destroy(vm);
}

static _Alignas(64) unsigned char zeroed_block[64];
static _Alignas(64) unsigned char poisoned_block[64];

static void bad_arguments(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, FX_HVA), 0);
    hvrt_reader *r = NULL;
    CHECK_RC(hvrt_reader_register(NULL, &r), HVRT_EFAULT);
    CHECK_RC(hvrt_reader_register(vm, NULL), HVRT_EFAULT);
    CHECK(r == NULL);

    memset(poisoned_block, 0xa5, sizeof poisoned_block);
    hvrt_reader *dead = reader_new(vm);
    CHECK_RC(hvrt_reader_unregister(dead), 0);
    struct { hvrt_reader *r; int want; } cases[] = {
        { NULL, HVRT_EFAULT },
        { (hvrt_reader *)zeroed_block, HVRT_EBADF },
        { (hvrt_reader *)poisoned_block, HVRT_EBADF },
        { dead, HVRT_EBADF },
    };
    struct hvrt_translation t;
    uint64_t gfn = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_RC(hvrt_reader_unregister(cases[i].r), cases[i].want);
        CHECK_RC(hvrt_reader_quiescent(cases[i].r), cases[i].want);
        CHECK_RC(hvrt_reader_offline(cases[i].r), cases[i].want);
        CHECK_RC(hvrt_reader_online(cases[i].r), cases[i].want);
        CHECK_RC(hvrt_reader_translate(cases[i].r, 0, 0, &t), cases[i].want);
        CHECK_RC(hvrt_reader_translate_batch(cases[i].r, 0, &gfn, 1, &t), cases[i].want);
    }

    r = reader_new(vm); /* reuses `dead`: live again (debug mode: a new record) */
    CHECK(debug_mode() ? r != dead : r == dead);
    memset(&t, 0x5a, sizeof t);
    CHECK_RC(hvrt_reader_translate(r, 0, 0, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_reader_translate(r, 2, 0, &t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_translate(r, UINT32_MAX, 0, &t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_translate(r, 0, 1, &t), HVRT_ENOENT);
    CHECK_RC(hvrt_reader_translate_batch(r, 2, &gfn, 1, &t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, NULL, 1, &t), HVRT_EFAULT);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, &gfn, 1, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, &gfn, (size_t)INT32_MAX + 1, &t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, &gfn, SIZE_MAX / 64 + 1, &t), HVRT_EINVAL);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, NULL, 0, NULL), 0);
    CHECK(t.slot == 0x5a5a5a5a && t.result == 0x5a5a5a5a);

    /* Offline: translation is -EPERM, quiescent too (and does not bring it online). */
    CHECK_RC(hvrt_reader_offline(r), 0);
    CHECK_RC(hvrt_reader_offline(r), 0);
    CHECK_RC(hvrt_reader_translate(r, 0, 0, &t), HVRT_EPERM);
    CHECK_RC(hvrt_reader_translate_batch(r, 0, &gfn, 1, &t), HVRT_EPERM);
    CHECK_RC(hvrt_reader_quiescent(r), HVRT_EPERM);
    CHECK_RC(hvrt_reader_translate(r, 0, 0, &t), HVRT_EPERM);
    CHECK(t.slot == 0x5a5a5a5a);
    CHECK_RC(hvrt_reader_online(r), 0);
    CHECK_RC(hvrt_reader_online(r), 0);
    CHECK_RC(hvrt_reader_quiescent(r), 0);
    CHECK_RC(hvrt_reader_translate(r, 0, 0, &t), 0);
    CHECK_RC(t.hva, FX_HVA);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    CHECK(strcmp(hvrt_errname(HVRT_EPERM), "EPERM") == 0);
    hvrt_vm_destroy(vm);
}

/* ---- Batches ------------------------------------------------------------------------- */

static void batches(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, 16 * PAGE, FX_HVA), 0);
    CHECK_RC(set_v1(vm, 1, F_LOG, 32 * PAGE, 8 * PAGE, FX_HVA + 0x100000), 0);
    uint64_t gen = generation_at(vm, 0, 0);
    enum { N = 64 };
    uint64_t gfns[N];
    struct hvrt_translation out[N], one;
    for (int i = 0; i < N; i++)
        gfns[i] = (uint64_t)i; /* sequential: 0..15 hit, 16..31 miss, 32..39 hit, 40.. miss */
    hvrt_reader *r = reader_new(vm);
    for (int via = 0; via < 2; via++) {
        memset(out, 0xee, sizeof out);
        int hits = via == 0 ? hvrt_translate_batch(vm, 0, gfns, N, out)
                            : hvrt_reader_translate_batch(r, 0, gfns, N, out);
        CHECK_RC(hits, 24);
        int wrong = 0;
        for (int i = 0; i < N; i++) {
            int rc = hvrt_translate(vm, 0, gfns[i], &one);
            if (rc == 0) {
                wrong += memcmp(&one, &out[i], sizeof one) != 0;
            } else {
                struct hvrt_translation miss;
                memset(&miss, 0, sizeof miss);
                miss.result = HVRT_ENOENT;
                miss.generation = gen;
                wrong += memcmp(&miss, &out[i], sizeof miss) != 0;
            }
        }
        CHECK_RC(wrong, 0);
        CHECK_RC(out[33].result, 0);
        CHECK_RC(out[33].flags, HVRT_TR_LOG_DIRTY);
        CHECK_RC(out[20].result, HVRT_ENOENT);
    }
    CHECK_RC(hvrt_translate_batch(vm, 0, NULL, 0, NULL), 0);
    CHECK_RC(hvrt_translate_batch(vm, 0, NULL, 1, out), HVRT_EFAULT);
    CHECK_RC(hvrt_translate_batch(vm, 0, gfns, 1, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_translate_batch(vm, 2, gfns, 1, out), HVRT_EINVAL);
    CHECK_RC(hvrt_translate_batch(vm, 0, gfns, SIZE_MAX, out), HVRT_EINVAL);
    CHECK_RC(hvrt_translate_batch(NULL, 0, gfns, 1, out), HVRT_EFAULT);
    /* hvrt_translate writes result = 0 over whatever was there. */
    memset(&one, 0xee, sizeof one);
    CHECK_RC(hvrt_translate(vm, 0, 0, &one), 0);
    CHECK_RC(one.result, 0);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

/* ---- Grace periods ------------------------------------------------------------------- */

struct deleter {
    hvrt_vm *vm;
    atomic_int done;
    int rc;
};

static void *delete_slot_0(void *arg)
{
    struct deleter *d = arg;
    d->rc = delete_slot(d->vm, 0);
    atomic_store(&d->done, 1);
    return NULL;
}

/* A delete does not return while an online reader holds the slot, and returns once it quiesces. */
static void delete_waits_for_online_reader(void)
{
    hvrt_vm *vm = vm_new(NULL);
    CHECK_RC(set_v1(vm, 0, 0, 0, PAGE, FX_HVA), 0);
    hvrt_reader *r = reader_new(vm);
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(r, 0, 0, &t), 0);
    struct deleter d = { vm, 0, -1 };
    pthread_t th;
    pthread_create(&th, NULL, delete_slot_0, &d);
    sleep_ms(300);
    CHECK(!atomic_load(&d.done));
    CHECK_RC(hvrt_reader_quiescent(r), 0);
    uint64_t start = now_ms();
    while (!atomic_load(&d.done) && now_ms() - start < 5000)
        sleep_ms(1);
    CHECK(atomic_load(&d.done));
    pthread_join(th, NULL);
    CHECK_RC(d.rc, 0);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

/* An offline reader delays no slot change (the writer never waits for it, however long it
 * stays offline). */
static void offline_reader_does_not_delay(void)
{
    hvrt_vm *vm = vm_new(NULL);
    hvrt_reader *r = reader_new(vm);
    CHECK_RC(hvrt_reader_offline(r), 0);
    uint64_t start = now_ms();
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        failures += set_v1(vm, 1, 0, PAGE, PAGE, FX_HVA) != 0;
        failures += delete_slot(vm, 1) != 0;
    }
    uint64_t elapsed = now_ms() - start;
    CHECK_RC(failures, 0);
    CHECK(elapsed < 500);
    if (elapsed >= 500)
        fprintf(stderr, "  400 changes took %llu ms with one reader offline\n", (unsigned long long)elapsed);
    CHECK_RC(hvrt_reader_online(r), 0);
    CHECK_RC(hvrt_reader_unregister(r), 0);
    hvrt_vm_destroy(vm);
}

/* ---- Stress ------------------------------------------------------------------------- */

#define S_SLOTS 8
#define S_SPAN 4096ull /* gfns per slot id; two positions inside */
#define S_READERS 3
#define VMASK ((1ull << 28) - 1)

static uint64_t s_pos(int id, int which) { return (uint64_t)id * S_SPAN + (which ? S_SPAN / 2 : 0); }
static uint64_t s_npages(int id, uint64_t v) { return (uint64_t)(id + 1) * 4 + (v & 3); }
static uint64_t s_hva(int id, uint64_t v) { return (uint64_t)(id + 1) << 40 | (v & VMASK) << 12; }

struct stress {
    hvrt_vm *vm;
    atomic_int stop;
    atomic_int started; /* reader threads running (registered ones: registered) */
    _Atomic uint64_t retired[S_SLOTS]; /* last version whose delete has returned */
    atomic_long errors, hits, reads;
};

static void s_fail(struct stress *s, const char *who, uint64_t gfn, const struct hvrt_translation *t)
{
    if (atomic_fetch_add(&s->errors, 1) == 0)
        fprintf(stderr, "  %s: gfn 0x%llx: slot %u base 0x%llx npages %llu hva 0x%llx result %d gen %llu\n", who,
                (unsigned long long)gfn, t->slot, (unsigned long long)t->base_gfn, (unsigned long long)t->npages,
                (unsigned long long)t->hva, t->result, (unsigned long long)t->generation);
}

/* The version a hit encodes, or 0 (after reporting) when its fields do not fit one slot. */
static uint64_t s_check(struct stress *s, const char *who, uint64_t gfn, const struct hvrt_translation *t)
{
    int id = (int)t->slot;
    uint64_t hva0 = t->hva - (gfn - t->base_gfn) * PAGE, v = (hva0 >> 12) & VMASK;
    bool ok = id >= 0 && id < S_SLOTS && (int)(hva0 >> 40) == id + 1 && v >= 1 &&
              (t->base_gfn == s_pos(id, 0) || t->base_gfn == s_pos(id, 1)) && t->npages == s_npages(id, v) &&
              gfn - t->base_gfn < t->npages && t->run_pages == t->base_gfn + t->npages - gfn &&
              (t->flags & ~HVRT_TR_LOG_DIRTY) == 0 && t->private_fd == -1 && t->result == 0 &&
              (t->generation & 1) == 0;
    if (!ok) {
        s_fail(s, who, gfn, t);
        return 0;
    }
    return v;
}

static uint64_t s_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A gfn at or just past one of the positions a slot may occupy: mostly hits, some misses. */
static uint64_t s_gfn(uint64_t *rng)
{
    uint64_t x = s_rand(rng);
    return s_pos((int)(x % S_SLOTS), (int)(x >> 8) & 1) + (x >> 16) % 48;
}

static void *s_registered(void *arg)
{
    struct stress *s = arg;
    hvrt_reader *r = reader_new(s->vm);
    atomic_fetch_add(&s->started, 1);
    uint64_t rng = (uint64_t)(uintptr_t)&r | 1;
    struct held_ref { int id; uint64_t v; } held[64];
    int nheld = 0, until = 1 + (int)(s_rand(&rng) % 32);
    while (!atomic_load(&s->stop)) {
        uint64_t gfn = s_gfn(&rng);
        struct hvrt_translation t;
        int rc = hvrt_reader_translate(r, 0, gfn, &t);
        atomic_fetch_add(&s->reads, 1);
        if (rc == 0) {
            atomic_fetch_add(&s->hits, 1);
            uint64_t v = s_check(s, "registered", gfn, &t);
            if (v != 0 && nheld < 64)
                held[nheld++] = (struct held_ref){ (int)t.slot, v };
        } else if (rc != HVRT_ENOENT) {
            s_fail(s, "registered rc", gfn, &t);
        }
        if (--until > 0 && nheld < 64)
            continue;
        /* Everything obtained since the last quiescent state is still live. */
        for (int i = 0; i < nheld; i++)
            if (atomic_load(&s->retired[held[i].id]) >= held[i].v) {
                if (atomic_fetch_add(&s->errors, 1) == 0)
                    fprintf(stderr, "  slot %d v%llu: delete returned while a reader held it\n", held[i].id,
                            (unsigned long long)held[i].v);
            }
        nheld = 0;
        until = 1 + (int)(s_rand(&rng) % 32);
        if (s_rand(&rng) % 16 == 0) {
            /* As around KVM_RUN: offline while "the guest runs", which also leaves the CPU to
             * the others (more reader threads than CPUs would otherwise starve the writer). */
            hvrt_reader_offline(r);
            struct timespec guest = { 0, 20000 };
            nanosleep(&guest, NULL);
            hvrt_reader_online(r);
        } else {
            hvrt_reader_quiescent(r);
        }
    }
    hvrt_reader_unregister(r);
    return NULL;
}

static void *s_unregistered(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    uint64_t gfns[8];
    struct hvrt_translation out[8];
    atomic_fetch_add(&s->started, 1);
    while (!atomic_load(&s->stop)) {
        for (int i = 0; i < 8; i++)
            gfns[i] = s_gfn(&rng);
        int hits = hvrt_translate_batch(s->vm, 0, gfns, 8, out), seen = 0;
        for (int i = 0; i < 8; i++) {
            if (out[i].result == 0) {
                seen++;
                s_check(s, "unregistered batch", gfns[i], &out[i]);
            } else if (out[i].result != HVRT_ENOENT || out[i].hva != 0 || out[i].generation != out[0].generation) {
                s_fail(s, "unregistered miss", gfns[i], &out[i]);
            }
        }
        if (hits != seen)
            s_fail(s, "unregistered count", 0, &out[0]);
        atomic_fetch_add(&s->hits, seen);
        atomic_fetch_add(&s->reads, 8);
    }
    return NULL;
}

static void stress(void)
{
    static struct stress s;
    s.vm = vm_new(NULL);
    const char *env = getenv("HVRT_STRESS_OPS");
    int ops = env ? atoi(env) : 20000;
    pthread_t th[S_READERS + 1];
    for (int i = 0; i < S_READERS; i++)
        pthread_create(&th[i], NULL, s_registered, &s);
    pthread_create(&th[S_READERS], NULL, s_unregistered, &s);
    while (atomic_load(&s.started) < S_READERS + 1)
        sleep_ms(1);

    bool present[S_SLOTS] = { 0 };
    int where[S_SLOTS] = { 0 };
    uint32_t flags[S_SLOTS] = { 0 };
    uint64_t version[S_SLOTS] = { 0 }, rng = 12345;
    int failures = 0, deletes = 0;
    uint64_t start = now_ms();
    /* `ops` changes, but at most ~3 s of them (with more reader threads than CPUs a change
     * waits for preempted online readers), and until the readers have checked something. */
    int op = 0;
    for (; (op < ops && now_ms() - start < 3000) || (atomic_load(&s.hits) < 1000 && now_ms() - start < 10000); op++) {
        int id = (int)(s_rand(&rng) % S_SLOTS);
        if (!present[id]) {
            uint64_t v = ++version[id];
            where[id] = (int)(s_rand(&rng) & 1);
            flags[id] = (uint32_t)(s_rand(&rng) & 1);
            failures += set_v1(s.vm, (uint32_t)id, flags[id], s_pos(id, where[id]) * PAGE, s_npages(id, v) * PAGE,
                               s_hva(id, v)) != 0;
            present[id] = true;
            continue;
        }
        uint64_t v = version[id];
        switch (s_rand(&rng) % 3) {
        case 0:
            failures += delete_slot(s.vm, (uint32_t)id) != 0;
            atomic_store(&s.retired[id], v); /* from now on nobody may hold v */
            present[id] = false;
            deletes++;
            break;
        case 1:
            where[id] ^= 1;
            failures += set_v1(s.vm, (uint32_t)id, flags[id], s_pos(id, where[id]) * PAGE, s_npages(id, v) * PAGE,
                               s_hva(id, v)) != 0;
            break;
        default:
            flags[id] ^= 1;
            failures += set_v1(s.vm, (uint32_t)id, flags[id], s_pos(id, where[id]) * PAGE, s_npages(id, v) * PAGE,
                               s_hva(id, v)) != 0;
            break;
        }
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i <= S_READERS; i++)
        pthread_join(th[i], NULL);
    CHECK_RC(failures, 0);
    CHECK_RC(atomic_load(&s.errors), 0);
    CHECK(atomic_load(&s.hits) > 0 && deletes > 0);
    printf("stress: %d writer ops in %llu ms, %ld reads, %ld hits\n", op, (unsigned long long)(now_ms() - start),
           atomic_load(&s.reads), atomic_load(&s.hits));
    hvrt_vm_destroy(s.vm);
}

int main(void)
{
    register_translate_unregister();
    bad_arguments();
    batches();
    delete_waits_for_online_reader();
    offline_reader_does_not_delay();
    stress();
    return harness_finish();
}

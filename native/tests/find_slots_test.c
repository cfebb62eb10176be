/* The reverse queries, hvrt_find_slots_by_hva and hvrt_find_slots_by_private, through the C ABI:
 * KVM's gfn formulas on known layouts, order, truncation and the retry pattern, file identity
 * (dup, reopen, hvrt's own duplicate), bad arguments, a real guest_memfd with a punched hole
 * where /dev/kvm exists, and readers querying while a writer changes slots. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include "test_util.h"

#define H FX_HVA
#define TRP HVRT_TR_HAS_PRIVATE

HVRT_STATIC_ASSERT(sizeof(struct hvrt_slot_range) == 32, "as hvrt.h promises");

/* True when r is exactly (slot, flags, gfn_start, gfn_end) with reserved 0; prints it if not. */
static bool range_is(const struct hvrt_slot_range *r, uint32_t slot, uint32_t flags, uint64_t start, uint64_t end)
{
    bool ok = r->slot == slot && r->flags == flags && r->gfn_start == start && r->gfn_end == end && r->reserved == 0;
    if (!ok)
        fprintf(stderr, "  got (slot 0x%x, flags 0x%x, gfns 0x%llx..0x%llx, reserved %llu), want (0x%x, 0x%x, 0x%llx..0x%llx)\n",
                r->slot, r->flags, (unsigned long long)r->gfn_start, (unsigned long long)r->gfn_end,
                (unsigned long long)r->reserved, slot, flags, (unsigned long long)start, (unsigned long long)end);
    return ok;
}

/* as0: slot 1 (16 pages at H, gfn 0x100), slot 3 (private, file pages 10-13, hva H+8p, gfn 0x300),
 *      slot 4 (READONLY, 1 page at H+100p, gfn 0x400);
 * as1: slot 2 (LOG_DIRTY, 8 pages at H+4p, gfn 0x200): overlaps slot 1's pages 4-11. */
static hvrt_vm *known_layout(int memfd)
{
    hvrt_vm *vm = vm_new_gpa_bits(40);
    CHECK_RC(set_v1(vm, SLOT(0, 1), 0, 0x100 * PAGE, 16 * PAGE, H), 0);
    CHECK_RC(set_v1(vm, SLOT(1, 2), F_LOG, 0x200 * PAGE, 8 * PAGE, H + 4 * PAGE), 0);
    CHECK_RC(set_ext(vm, SLOT(0, 3), F_PRIV, 0x300 * PAGE, 4 * PAGE, H + 8 * PAGE, (uint32_t)memfd, 10 * PAGE), 0);
    CHECK_RC(set_v1(vm, SLOT(0, 4), F_RO, 0x400 * PAGE, PAGE, H + 100 * PAGE), 0);
    return vm;
}

static void by_hva_formulas_and_order(void)
{
    int memfd = new_memfd(64 * PAGE);
    hvrt_vm *vm = known_layout(memfd);
    struct hvrt_slot_range o[8];

    /* One byte of page 5: slot 1's gfn 0x105 and as 1's slot 2 gfn 0x201; as 0 first. */
    CHECK_RC(hvrt_find_slots_by_hva(vm, H + 5 * PAGE + 17, 1, o, 8), 2);
    CHECK(range_is(&o[0], SLOT(0, 1), 0, 0x105, 0x106));
    CHECK(range_is(&o[1], SLOT(1, 2), HVRT_TR_LOG_DIRTY, 0x201, 0x202));
    /* The last byte of page 9 and the first of page 10: two pages of each of three slots;
     * within as 0 by host address (slot 1 at H before slot 3 at H+8p). */
    CHECK_RC(hvrt_find_slots_by_hva(vm, H + 9 * PAGE + 4095, 2, o, 8), 3);
    CHECK(range_is(&o[0], SLOT(0, 1), 0, 0x109, 0x10b));
    CHECK(range_is(&o[1], SLOT(0, 3), TRP, 0x301, 0x303));
    CHECK(range_is(&o[2], SLOT(1, 2), HVRT_TR_LOG_DIRTY, 0x205, 0x207));
    /* Ranges that touch a slot's ends are not in it. */
    CHECK_RC(hvrt_find_slots_by_hva(vm, H - PAGE, PAGE, o, 8), 0);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H + 16 * PAGE, 84 * PAGE, o, 8), 0);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H + 16 * PAGE, 84 * PAGE + 1, o, 8), 1);
    CHECK(range_is(&o[0], SLOT(0, 4), HVRT_TR_READONLY, 0x400, 0x401));
    /* Everything; len 0 is nothing, even inside a slot. */
    CHECK_RC(hvrt_find_slots_by_hva(vm, 0, UINT64_MAX, o, 8), 4);
    CHECK(range_is(&o[0], SLOT(0, 1), 0, 0x100, 0x110));
    CHECK(range_is(&o[1], SLOT(0, 3), TRP, 0x300, 0x304));
    CHECK(range_is(&o[2], SLOT(0, 4), HVRT_TR_READONLY, 0x400, 0x401));
    CHECK(range_is(&o[3], SLOT(1, 2), HVRT_TR_LOG_DIRTY, 0x200, 0x208));
    CHECK_RC(hvrt_find_slots_by_hva(vm, H + 5 * PAGE, 0, o, 8), 0);

    /* Truncation: the total comes back, only cap pairs are written, in the same order. */
    memset(o, 0xa5, sizeof o);
    CHECK_RC(hvrt_find_slots_by_hva(vm, 0, UINT64_MAX, o, 2), 4);
    CHECK(range_is(&o[0], SLOT(0, 1), 0, 0x100, 0x110));
    CHECK(range_is(&o[1], SLOT(0, 3), TRP, 0x300, 0x304));
    CHECK(o[2].slot == 0xa5a5a5a5u && o[2].reserved == 0xa5a5a5a5a5a5a5a5ull);
    CHECK_RC(hvrt_find_slots_by_hva(vm, 0, UINT64_MAX, NULL, 0), 4);

    /* A move changes the gfns reported; a delete removes the pair. */
    CHECK_RC(set_v1(vm, SLOT(0, 1), F_LOG, 0x1000 * PAGE, 16 * PAGE, H), 0);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, 1, o, 8), 1);
    CHECK(range_is(&o[0], SLOT(0, 1), HVRT_TR_LOG_DIRTY, 0x1000, 0x1001));
    CHECK_RC(delete_slot(vm, SLOT(0, 1)), 0);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, 1, o, 8), 0);
    hvrt_vm_destroy(vm);
    close(memfd);
}

/* The retry pattern of hvrt.h, on 200 slots that all back the same host page. */
static void retry_pattern(void)
{
    hvrt_vm *vm = vm_new_gpa_bits(40);
    for (uint32_t i = 0; i < 200; i++)
        CHECK_RC(set_v1(vm, SLOT(i & 1, i), 0, (uint64_t)i * 16 * PAGE, (i % 7 + 1) * PAGE, H), 0);
    struct hvrt_slot_range stack_buf[16], *buf = stack_buf;
    size_t cap = 16;
    int n, calls = 0;
    while ((n = hvrt_find_slots_by_hva(vm, H, 1, buf, cap)) > 0 && (size_t)n > cap) {
        calls++;
        cap = (size_t)n + 8;
        if (buf != stack_buf)
            free(buf);
        buf = malloc(cap * sizeof *buf);
        if (buf == NULL)
            FATAL("malloc");
    }
    CHECK_RC(n, 200);
    CHECK_RC(calls, 1);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        /* as 0's even slots, then as 1's odd ones; in each, same host address, so by slot. */
        uint32_t id = i < 100 ? (uint32_t)i * 2 : (uint32_t)(i - 100) * 2 + 1;
        ok = ok && range_is(&buf[i], SLOT(id & 1, id), 0, (uint64_t)id * 16, (uint64_t)id * 16 + 1);
    }
    CHECK(ok);
    if (buf != stack_buf)
        free(buf);
    hvrt_vm_destroy(vm);
}

static void by_private_file_identity(void)
{
    int memfd = new_memfd(64 * PAGE);
    int other = new_memfd(64 * PAGE);
    hvrt_vm *vm = known_layout(memfd);
    /* More of the same file: as 1, pages 20-27. */
    CHECK_RC(set_ext(vm, SLOT(1, 7), F_PRIV, 0x700 * PAGE, 8 * PAGE, H, (uint32_t)memfd, 20 * PAGE), 0);
    struct hvrt_slot_range o[4];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    int dup_fd = dup(memfd), reopened = open(path, O_RDONLY | O_CLOEXEC);
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0x300, &t), 0);
    int fds[] = { memfd, dup_fd, reopened, t.private_fd };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        /* Bytes 11p+1 .. 21p: pages 11-20 → slot 3's 11-13 and slot 7's 20. */
        CHECK_RC(hvrt_find_slots_by_private(vm, fds[i], 11 * PAGE + 1, 10 * PAGE - 1, o, 4), 2);
        CHECK(range_is(&o[0], SLOT(0, 3), TRP, 0x301, 0x304));
        CHECK(range_is(&o[1], SLOT(1, 7), TRP, 0x700, 0x701));
    }
    /* Ends: pages 0-9 and 14-19 are bound to nothing; the whole file finds both. */
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 0, 10 * PAGE, o, 4), 0);
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 14 * PAGE, 6 * PAGE, o, 4), 0);
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 13 * PAGE + 4095, 1, o, 4), 1);
    CHECK(range_is(&o[0], SLOT(0, 3), TRP, 0x303, 0x304));
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 0, UINT64_MAX, o, 4), 2);
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 12 * PAGE, 0, o, 4), 0);
    /* Other files: none of these back a slot. */
    CHECK_RC(hvrt_find_slots_by_private(vm, other, 0, UINT64_MAX, o, 4), 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_RC(hvrt_find_slots_by_private(vm, devnull, 0, UINT64_MAX, o, 4), 0);
    /* The caller's fds may go: hvrt's duplicate keeps the file, dup still names it. */
    close(memfd);
    close(reopened);
    CHECK_RC(hvrt_find_slots_by_private(vm, dup_fd, 0, UINT64_MAX, NULL, 0), 2);
    /* After a delete, only as 1's slot is left. */
    CHECK_RC(delete_slot(vm, SLOT(0, 3)), 0);
    CHECK_RC(hvrt_find_slots_by_private(vm, dup_fd, 0, UINT64_MAX, o, 4), 1);
    CHECK(range_is(&o[0], SLOT(1, 7), TRP, 0x700, 0x708));
    hvrt_vm_destroy(vm);
    close(devnull);
    close(dup_fd);
    close(other);
}

static _Alignas(64) unsigned char zeroed_block[64];

static void bad_arguments(void)
{
    int memfd = new_memfd(64 * PAGE);
    hvrt_vm *vm = known_layout(memfd);
    struct hvrt_slot_range o[2];
    memset(o, 0x5a, sizeof o);
    hvrt_vm *dead = (hvrt_vm *)zeroed_block;

    CHECK_RC(hvrt_find_slots_by_hva(NULL, H, 1, o, 2), HVRT_EFAULT);
    CHECK_RC(hvrt_find_slots_by_hva(dead, H, 1, o, 2), HVRT_EBADF);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, 1, NULL, 1), HVRT_EFAULT);
    CHECK_RC(hvrt_find_slots_by_hva(vm, UINT64_MAX, 1, o, 2), HVRT_EINVAL);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, UINT64_MAX - H + 1, o, 2), HVRT_EINVAL);

    CHECK_RC(hvrt_find_slots_by_private(NULL, memfd, 0, 1, o, 2), HVRT_EFAULT);
    CHECK_RC(hvrt_find_slots_by_private(dead, memfd, 0, 1, o, 2), HVRT_EBADF);
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, 0, 1, NULL, 1), HVRT_EFAULT);
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, PAGE, UINT64_MAX, o, 2), HVRT_EINVAL);
    CHECK_RC(hvrt_find_slots_by_private(vm, -1, 0, 1, o, 2), HVRT_EBADF);
    CHECK_RC(hvrt_find_slots_by_private(vm, closed_fd_number(), 0, 1, o, 2), HVRT_EBADF);
    CHECK_RC(hvrt_find_slots_by_private(vm, closed_fd_number(), 0, 0, o, 2), HVRT_EBADF);
    CHECK(o[0].slot == 0x5a5a5a5au); /* nothing written by any of them */
    /* The largest ranges that do not wrap. */
    CHECK_RC(hvrt_find_slots_by_hva(vm, UINT64_MAX, 0, o, 2), 0);
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, UINT64_MAX - H, NULL, 0), 4); /* ends at 2^64 - 1 */
    CHECK_RC(hvrt_find_slots_by_private(vm, memfd, PAGE, UINT64_MAX - PAGE, NULL, 0), 1);
    hvrt_vm_destroy(vm);
    close(memfd);
}

/* A real guest_memfd: a VMM punches a hole into it and asks which gfns to invalidate. */
static void guest_memfd_punch_hole(void)
{
    const char *why = NULL;
    int kvm_vm = open_kvm_vm(&why);
    if (kvm_vm < 0) {
        SKIP(why);
        return;
    }
    struct kvm_create_guest_memfd req = { .size = 64 * PAGE };
    int gmem = ioctl(kvm_vm, KVM_CREATE_GUEST_MEMFD, &req);
    if (gmem < 0) {
        SKIP("no KVM_CREATE_GUEST_MEMFD on this host");
        close(kvm_vm);
        return;
    }
    hvrt_vm *vm = vm_new_gpa_bits(40);
    CHECK_RC(set_r2(vm, SLOT(0, 1), F_PRIV, 0x1000 * PAGE, 16 * PAGE, H, (uint32_t)gmem, 0), 0);
    CHECK_RC(set_r2(vm, SLOT(0, 2), F_PRIV, 0x2000 * PAGE, 16 * PAGE, H + 16 * PAGE, (uint32_t)gmem, 32 * PAGE), 0);
    CHECK_RC(set_r2(vm, SLOT(1, 3), F_PRIV, 0x1000 * PAGE, 8 * PAGE, H, (uint32_t)gmem, 16 * PAGE), 0);
    /* Punch pages 12-35: the tail of slot 1, all of as 1's slot 3, the head of slot 2. */
    CHECK_RC(fallocate(gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 12 * PAGE, 24 * PAGE), 0);
    struct hvrt_slot_range o[4];
    CHECK_RC(hvrt_find_slots_by_private(vm, gmem, 12 * PAGE, 24 * PAGE, o, 4), 3);
    CHECK(range_is(&o[0], SLOT(0, 1), TRP, 0x100c, 0x1010));
    CHECK(range_is(&o[1], SLOT(0, 2), TRP, 0x2000, 0x2004));
    CHECK(range_is(&o[2], SLOT(1, 3), TRP, 0x1000, 0x1008));
    /* Through hvrt's own duplicate, after the caller closed its fd. */
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, 0x2000, &t), 0);
    close(gmem);
    CHECK_RC(hvrt_find_slots_by_private(vm, t.private_fd, 0, UINT64_MAX, o, 4), 3);
    /* The shared side is an ordinary hva query. */
    CHECK_RC(hvrt_find_slots_by_hva(vm, H, 32 * PAGE, o, 4), 3);
    hvrt_vm_destroy(vm);
    close(kvm_vm);
}

/* Readers query while a writer moves, toggles and deletes slots: every pair must be one the
 * slot could have had (its two positions), never torn, never from freed memory (HVRT_POISON). */
#define STRESS_SLOTS 16   /* shared slots 0..15, all backing host page H */
#define STRESS_PRIVATE 8  /* private slots 16..23, each at file pages (id - 16) * 8 of stress_memfd */
static hvrt_vm *stress_vm;
static int stress_memfd;
static atomic_int stress_stop;
static atomic_long stress_bad, stress_seen, stress_private_seen;

static uint64_t stress_gfn(uint32_t id, int where)
{
    return (uint64_t)id * 0x1000 + (where ? 0x800 : 0);
}

static void *stress_reader(void *arg)
{
    (void)arg;
    struct hvrt_slot_range o[2 * STRESS_SLOTS];
    while (!atomic_load(&stress_stop)) {
        /* Every slot backs H .. H + (id+1) pages, so a query of page 0 sees each present slot. */
        int n = hvrt_find_slots_by_hva(stress_vm, H, 1, o, 2 * STRESS_SLOTS);
        if (n < 0 || n > STRESS_SLOTS) {
            atomic_fetch_add(&stress_bad, 1);
            continue;
        }
        for (int i = 0; i < n; i++) {
            uint32_t id = o[i].slot;
            bool ok = id < STRESS_SLOTS && (o[i].flags & ~HVRT_TR_LOG_DIRTY) == 0 && o[i].reserved == 0 &&
                      (o[i].gfn_start == stress_gfn(id, 0) || o[i].gfn_start == stress_gfn(id, 1)) &&
                      o[i].gfn_end == o[i].gfn_start + 1 && (i == 0 || o[i - 1].slot < id);
            if (!ok)
                atomic_fetch_add(&stress_bad, 1);
        }
        atomic_fetch_add(&stress_seen, n);
    }
    return NULL;
}

static void *stress_private_reader(void *arg)
{
    (void)arg;
    struct hvrt_slot_range o[STRESS_PRIVATE];
    while (!atomic_load(&stress_stop)) {
        int n = hvrt_find_slots_by_private(stress_vm, stress_memfd, 0, UINT64_MAX, o, STRESS_PRIVATE);
        if (n < 0 || n > STRESS_PRIVATE) {
            atomic_fetch_add(&stress_bad, 1);
            continue;
        }
        for (int i = 0; i < n; i++) {
            uint32_t id = o[i].slot;
            bool ok = id >= STRESS_SLOTS && id < STRESS_SLOTS + STRESS_PRIVATE && o[i].flags == TRP &&
                      o[i].reserved == 0 && o[i].gfn_start == stress_gfn(id, 0) &&
                      o[i].gfn_end == o[i].gfn_start + 8 && (i == 0 || o[i - 1].slot < id);
            if (!ok)
                atomic_fetch_add(&stress_bad, 1);
        }
        atomic_fetch_add(&stress_private_seen, n);
    }
    return NULL;
}

static void readers_during_updates(void)
{
    stress_vm = vm_new_gpa_bits(40);
    stress_memfd = new_memfd(STRESS_PRIVATE * 8 * PAGE);
    bool present[STRESS_SLOTS + STRESS_PRIVATE] = { 0 };
    int where[STRESS_SLOTS] = { 0 }, flags[STRESS_SLOTS] = { 0 };
    pthread_t readers[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&readers[i], NULL, i < 3 ? stress_reader : stress_private_reader, NULL);
    unsigned seed = 1;
    int failures = 0;
    for (int op = 0; op < 4000; op++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t id = (seed >> 16) % (STRESS_SLOTS + STRESS_PRIVATE);
        uint64_t size = (id + 1) * PAGE;
        if (id >= STRESS_SLOTS) {
            /* Private slots cannot move: create or delete. */
            failures += (present[id] ? delete_slot(stress_vm, id)
                                     : set_ext(stress_vm, id, F_PRIV, stress_gfn(id, 0) * PAGE, 8 * PAGE, H + (1 << 20),
                                               (uint32_t)stress_memfd, (id - STRESS_SLOTS) * 8 * PAGE)) != 0;
            present[id] = !present[id];
        } else if (!present[id]) {
            failures += set_v1(stress_vm, id, (uint32_t)flags[id], stress_gfn(id, where[id]) * PAGE, size, H) != 0;
            present[id] = true;
        } else if ((seed >> 8) % 3 == 0) {
            failures += delete_slot(stress_vm, id) != 0;
            present[id] = false;
        } else if ((seed >> 8) % 3 == 1) {
            where[id] ^= 1;
            failures += set_v1(stress_vm, id, (uint32_t)flags[id], stress_gfn(id, where[id]) * PAGE, size, H) != 0;
        } else {
            flags[id] ^= (int)F_LOG;
            failures += set_v1(stress_vm, id, (uint32_t)flags[id], stress_gfn(id, where[id]) * PAGE, size, H) != 0;
        }
    }
    atomic_store(&stress_stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(readers[i], NULL);
    CHECK_RC(failures, 0);
    CHECK_RC(atomic_load(&stress_bad), 0);
    CHECK(atomic_load(&stress_seen) > 0);
    CHECK(atomic_load(&stress_private_seen) > 0);
    hvrt_vm_destroy(stress_vm);
    close(stress_memfd);
}

int main(void)
{
    by_hva_formulas_and_order();
    retry_pattern();
    by_private_file_identity();
    bad_arguments();
    guest_memfd_punch_hole();
    readers_during_updates();
    return harness_finish();
}

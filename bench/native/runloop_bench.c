/* The vCPU run loop's cost against a real KVM round trip, in one process:
 *   raw      ioctl(KVM_RUN) alone, one MMIO exit per call (the guest loops on a 1-byte write to
 *            0xA0000, in no slot);
 *   hvrt     hvrt_vcpu_enter + KVM_RUN + hvrt_vcpu_exit + hvrt_vcpu_handle_exit per exit (what
 *            hvrt_vcpu_run does);
 *   run      hvrt_vcpu_run (returns at each MMIO exit);
 * interleaved round by round, medians of ns per exit. Then hvrt_vcpu_handle_exit alone on a
 * built MMIO exit (vcpu_fd -1), for a gpa in no slot and one in a slot, ns per call.
 * Target: handle_exit <= 1% of a KVM_RUN round trip.
 * Run: out/bin/runloop_bench [rounds] [exits_per_round] */
#include "bench_result.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hvrt.h"
#include "../../native/tests/kvm_guest.h"

#define MEM_SIZE 0x10000ull
#define MMIO_GPA 0xA0000ull

static const uint8_t loop[] = {
    0xB0, 0x42,             /* mov al, 0x42 */
    0x26, 0xA2, 0x00, 0x00, /* l: mov [es:0], al  (MMIO exit) */
    0xEB, 0xFA,             /* jmp l */
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int check_mmio(struct kvm_run *run)
{
    if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.phys_addr != MMIO_GPA) {
        fprintf(stderr, "unexpected exit %u at 0x%llx\n", run->exit_reason, (unsigned long long)run->mmio.phys_addr);
        return -1;
    }
    return 0;
}

static double raw_round(struct kvm_guest *g, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        if (ioctl(g->vcpu, KVM_RUN, 0) < 0 || check_mmio(g->run) != 0)
            exit(1);
    }
    return (now() - t0) * 1e9 / n;
}

static double hvrt_round(struct kvm_guest *g, hvrt_vcpu *v, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        hvrt_vcpu_enter(v);
        int r = ioctl(g->vcpu, KVM_RUN, 0);
        int e = r < 0 ? errno : 0;
        hvrt_vcpu_exit(v);
        if (hvrt_vcpu_handle_exit(v, r, e) != HVRT_EXIT_UNHANDLED || check_mmio(g->run) != 0)
            exit(1);
    }
    return (now() - t0) * 1e9 / n;
}

static double run_round(struct kvm_guest *g, hvrt_vcpu *v, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        if (hvrt_vcpu_run(v) != HVRT_EXIT_UNHANDLED || check_mmio(g->run) != 0)
            exit(1);
    }
    return (now() - t0) * 1e9 / n;
}

/* handle_exit alone on a built MMIO exit at gpa. */
static double handle_only(hvrt_vcpu *v, struct kvm_run *run, uint64_t gpa, int n)
{
    run->exit_reason = KVM_EXIT_MMIO;
    run->mmio.phys_addr = gpa;
    run->mmio.len = 4;
    run->mmio.is_write = 1;
    double t0 = now();
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += hvrt_vcpu_handle_exit(v, 0, 0);
    double ns = (now() - t0) * 1e9 / n;
    if (sum != 0)
        exit(1);
    return ns;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 11;
    int exits = argc > 2 ? atoi(argv[2]) : 20000;
    if (rounds < 1 || rounds > 1000 || exits < 1)
        return 2;
    double *raw = calloc((size_t)rounds, sizeof *raw), *hv = calloc((size_t)rounds, sizeof *hv);
    double *rn = calloc((size_t)rounds, sizeof *rn), *h0 = calloc((size_t)rounds, sizeof *h0);
    double *h1 = calloc((size_t)rounds, sizeof *h1);
    if (!raw || !hv || !rn || !h0 || !h1)
        return 1;

    hvrt_vm *vm = NULL;
    struct hvrt_vm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    if (hvrt_vm_create(&cfg, &vm) != 0)
        return 1;
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 1;
    memcpy(mem + 0x1000, loop, sizeof loop);
    struct kvm_userspace_memory_region ram = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (hvrt_set_user_memory_region(vm, &ram) != 0)
        return 1;

    /* handle_exit alone (no KVM needed) */
    struct kvm_run *built = calloc(1, 4096);
    hvrt_vcpu *bv = NULL;
    if (built == NULL || hvrt_vcpu_create(vm, -1, built, &bv) != 0)
        return 1;
    const int calls = 1000000;
    handle_only(bv, built, MMIO_GPA, calls); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        h0[r] = handle_only(bv, built, MMIO_GPA, calls);
        h1[r] = handle_only(bv, built, 0x3000, calls);
    }
    hvrt_vcpu_destroy(bv);
    double m_h0 = median(h0, rounds), m_h1 = median(h1, rounds);
    printf("handle_exit alone, MMIO in no slot: %.1f ns/call (median of %d x %d)\n", m_h0, rounds, calls);
    printf("handle_exit alone, MMIO in a slot:  %.1f ns/call\n", m_h1);
    bench_result("runloop", "handle_exit alone (built MMIO exit)", "gpa in no slot", "hvrt_vcpu_handle_exit", "hvrt", m_h0, "ns");
    bench_result("runloop", "handle_exit alone (built MMIO exit)", "gpa in a slot", "hvrt_vcpu_handle_exit", "hvrt", m_h1, "ns");

    struct kvm_guest g;
    const char *why = NULL;
    if (kvm_guest_open(&g, &why) != 0 || kvm_guest_set_region(&g, &ram, &why) != 0 ||
        kvm_guest_real_mode(&g, 0x1000, MMIO_GPA >> 4, 0, &why) != 0) {
        printf("SKIP KVM round trips: %s\n", why);
        return 0;
    }
    hvrt_vcpu *v = NULL;
    if (hvrt_vcpu_create(vm, g.vcpu, g.run, &v) != 0)
        return 1;
    raw_round(&g, exits / 10 + 1); /* warm-up */
    hvrt_round(&g, v, exits / 10 + 1);
    for (int r = 0; r < rounds; r++) {
        raw[r] = raw_round(&g, exits);
        hv[r] = hvrt_round(&g, v, exits);
        rn[r] = run_round(&g, v, exits);
    }
    double m_raw = median(raw, rounds), m_hv = median(hv, rounds), m_rn = median(rn, rounds);
    printf("KVM_RUN round trip (MMIO exit), raw:               %.0f ns/exit (median of %d x %d)\n", m_raw, rounds, exits);
    printf("  + enter/exit/handle_exit per exit:               %.0f ns/exit (%+.2f%%)\n", m_hv, (m_hv / m_raw - 1) * 100);
    printf("  hvrt_vcpu_run per exit:                          %.0f ns/exit (%+.2f%%)\n", m_rn, (m_rn / m_raw - 1) * 100);
    printf("handle_exit alone / raw round trip:                %.3f%% (target <= 1%%)\n", m_h0 / m_raw * 100);
    bench_result("runloop", "KVM_RUN round trip (MMIO exit)", "real-mode guest", "raw ioctl(KVM_RUN)", "baseline", m_raw, "ns/exit");
    bench_result("runloop", "KVM_RUN round trip (MMIO exit)", "real-mode guest", "enter+KVM_RUN+exit+handle_exit", "hvrt", m_hv, "ns/exit");
    bench_result("runloop", "KVM_RUN round trip (MMIO exit)", "real-mode guest", "hvrt_vcpu_run", "hvrt", m_rn, "ns/exit");
    hvrt_vcpu_destroy(v);
    hvrt_vm_destroy(vm);
    kvm_guest_close(&g);
    return 0;
}

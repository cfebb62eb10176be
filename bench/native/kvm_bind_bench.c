/* kvm_bind_bench: what binding costs a slot change. One repetition creates and then deletes
 * `--slots` 1-page slots (distinct ids and gpas) through three paths, interleaved per repetition
 * so drift on a shared host hits them alike:
 *   kvm_direct   KVM_SET_USER_MEMORY_REGION2 on a KVM VM fd (the baseline: what a VMM pays anyway)
 *   hvrt_alone   hvrt_set_user_memory_region2 on an unbound hvrt VM
 *   hvrt_bound   hvrt_set_user_memory_region2 on an hvrt VM bound to another KVM VM (KVM first, then hvrt)
 * Between the creates and the deletes each slot is moved one page up (guest_phys_addr changes,
 * size and flags do not: KVM_MR_MOVE), timed apart from create+delete.
 * Prints µs per change: median, min, max over the repetitions, and each path's median over
 * kvm_direct's. Never asserts speed.
 *   ./build.sh && out/bin/kvm_bind_bench [--slots 1000] [--reps 7]
 */
#include "bench_result.h"
#include <errno.h>
#include <fcntl.h>
#include <hvrt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ull
#define MAX_REPS 31

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { KVM_DIRECT, HVRT_ALONE, HVRT_BOUND, NPATHS };
static const char *const names[NPATHS] = { "kvm_direct", "hvrt_alone", "hvrt_bound" };

/* One change through a path: 0 or -errno. */
static int change(int path, int kvm_vm, hvrt_vm *vm, struct kvm_userspace_memory_region2 *r)
{
    if (path == KVM_DIRECT)
        return ioctl(kvm_vm, 0x40A0AE49ul, r) < 0 ? -errno : 0;
    return hvrt_set_user_memory_region2(vm, r);
}

int main(int argc, char **argv)
{
    int slots = 1000, reps = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--slots"))
            slots = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (slots < 1 || slots > 30000 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "--slots 1..30000, --reps 1..%d\n", MAX_REPS);
        return 2;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("SKIP kvm_bind_bench: no usable /dev/kvm (%s), nothing to measure\n", strerror(errno));
        return 0;
    }
    int direct_vm = ioctl(kvm, 0xAE01ul, 0), bound_vm = ioctl(kvm, 0xAE01ul, 0);
    long nas = ioctl(kvm, 0xAE03ul, 118);
    struct hvrt_vm_config cfg = { .size = sizeof cfg, .nr_address_spaces = nas > 0 ? (uint32_t)nas : 1 };
    hvrt_vm *alone = NULL, *bound = NULL;
    if (direct_vm < 0 || bound_vm < 0 || hvrt_vm_create(&cfg, &alone) || hvrt_vm_create(&cfg, &bound) ||
        hvrt_kvm_bind(bound, bound_vm, 0)) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    void *mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    hvrt_vm *vms[NPATHS] = { NULL, alone, bound };
    double us[NPATHS][MAX_REPS], move_us[NPATHS][MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        for (int p = 0; p < NPATHS; p++) {
            struct kvm_userspace_memory_region2 r;
            memset(&r, 0, sizeof r);
            r.memory_size = PAGE;
            r.userspace_addr = (uint64_t)(uintptr_t)mem;
            /* phase 0 creates at 2 i pages, 1 moves to 2 i + 1 (into the gap), 2 deletes. */
            double t[4];
            for (int phase = 0; phase < 3; phase++) {
                t[phase] = now_us();
                for (int i = 0; i < slots; i++) {
                    r.slot = (uint32_t)i;
                    r.guest_phys_addr = ((uint64_t)i * 2 + (phase > 0)) * PAGE;
                    r.memory_size = phase < 2 ? PAGE : 0;
                    int rc = change(p, direct_vm, vms[p], &r);
                    if (rc != 0) {
                        fprintf(stderr, "%s: slot %d phase %d: %d\n", names[p], i, phase, rc);
                        return 1;
                    }
                }
            }
            t[3] = now_us();
            us[p][rep] = ((t[1] - t[0]) + (t[3] - t[2])) / (2.0 * slots);
            move_us[p][rep] = (t[2] - t[1]) / slots;
        }
    }
    printf("kvm_bind_bench: %d slots created, moved, deleted per repetition, %d repetitions; µs per change\n",
           slots, reps);
    char params[64];
    snprintf(params, sizeof params, "%d one-page slots", slots);
    for (int k = 0; k < 2; k++) {
        double(*v)[MAX_REPS] = k == 0 ? us : move_us;
        const char *what = k == 0 ? "slot create+delete" : "slot move";
        double med[NPATHS];
        for (int p = 0; p < NPATHS; p++) {
            qsort(v[p], (size_t)reps, sizeof v[p][0], cmp_double);
            med[p] = v[p][reps / 2];
        }
        printf(" %s:\n", what);
        for (int p = 0; p < NPATHS; p++)
            printf("  %-11s median %8.2f  min %8.2f  max %8.2f  ratio to kvm_direct %.2f\n", names[p], med[p], v[p][0],
                   v[p][reps - 1], med[p] / med[KVM_DIRECT]);
        for (int p = 0; p < NPATHS; p++)
            bench_result("kvm-bind", what, params, names[p], p == KVM_DIRECT ? "baseline" : "hvrt", med[p],
                         "us/change");
    }
    hvrt_vm_destroy(alone);
    hvrt_vm_destroy(bound);
    close(direct_vm);
    close(bound_vm);
    close(kvm);
    munmap(mem, PAGE);
    return 0;
}

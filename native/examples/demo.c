/* demo: create a VM, register a shared slot and a slot whose private half is a memfd,
 * translate a few gfns and print what hvrt answers. */
#include <hvrt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void show(hvrt_vm *vm, uint64_t gfn)
{
    struct hvrt_translation t;
    int rc = hvrt_translate(vm, 0, gfn, &t);
    if (rc < 0) {
        printf("gfn 0x%-8" PRIx64 " -> %s\n", gfn, rc == HVRT_ENOENT ? "no slot (MMIO)" : hvrt_strerror(rc));
        return;
    }
    printf("gfn 0x%-8" PRIx64 " -> slot %u hva 0x%" PRIx64 " run %" PRIu64 " pages%s", gfn, t.slot, t.hva,
           t.run_pages, t.flags & HVRT_TR_READONLY ? " readonly" : "");
    if (t.flags & HVRT_TR_HAS_PRIVATE)
        printf(", private fd %d page %" PRIu64, t.private_fd, t.private_pgoff);
    printf(" (generation %" PRIu64 ")\n", t.generation);
}

int main(void)
{
    if (hvrt_abi_version() != HVRT_ABI_VERSION) {
        fprintf(stderr, "libhvrt ABI %u, header %u\n", hvrt_abi_version(), HVRT_ABI_VERSION);
        return 1;
    }
    hvrt_vm *vm;
    int rc = hvrt_vm_create(NULL, &vm);
    if (rc < 0) {
        fprintf(stderr, "hvrt_vm_create: %s\n", hvrt_strerror(rc));
        return 1;
    }

    size_t low = 2 << 20, high = 1 << 20;
    void *ram = mmap(NULL, low + high, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int priv = memfd_create("guest-private", MFD_CLOEXEC);
    if (ram == MAP_FAILED || priv < 0 || ftruncate(priv, (off_t)high) < 0) {
        perror("setup");
        return 1;
    }

    struct kvm_userspace_memory_region lowmem = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = low, .userspace_addr = (uintptr_t)ram,
    };
    struct kvm_userspace_memory_region_ext highmem = {
        .region = { .slot = 1, .flags = KVM_MEM_PRIVATE, .guest_phys_addr = 0x100000000ull,
                    .memory_size = high, .userspace_addr = (uintptr_t)ram + low },
        .private_fd = (uint32_t)priv,
        .private_offset = 0,
    };
    printf("slot 0: %d (2 MiB shared at gpa 0)\n", hvrt_set_user_memory_region(vm, &lowmem));
    printf("slot 1: %d (1 MiB shared + memfd private at gpa 4 GiB)\n", hvrt_set_user_memory_region_ext(vm, &highmem));
    close(priv); /* hvrt keeps its own duplicate */

    show(vm, 0);
    show(vm, 0x1ff);
    show(vm, 0x200);
    show(vm, 0x100000);
    show(vm, 0x100010);

    struct kvm_userspace_memory_region clash = lowmem;
    clash.slot = 2;
    printf("overlapping slot 2: %d (-EEXIST, as KVM)\n", hvrt_set_user_memory_region(vm, &clash));

    hvrt_vm_destroy(vm);
    munmap(ram, low + high);
    return 0;
}

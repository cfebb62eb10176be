/* demo: create a VM, register a shared slot and a slot whose private half is a memfd,
 * translate a few gfns and print what hvrt answers; then the vCPU-thread way (a registered
 * reader and the inline lookup) and a reverse query (which slots does a host range back). */
#include <hvrt_inline.h>
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

    /* A vCPU thread: a registered reader, offline around KVM_RUN, inline lookups in between. */
    hvrt_reader *reader;
    if (hvrt_reader_register(vm, &reader) == 0) {
        struct hvrt_translation t = { 0 };
        rc = hvrt_reader_translate_inline(reader, 0, 0x10, &t);
        printf("inline lookup of gfn 0x10: %d, hva 0x%" PRIx64 " (same as hvrt_translate)\n", rc, t.hva);
        hvrt_reader_offline(reader); /* ... KVM_RUN would run here ... */
        hvrt_reader_unregister(reader);
    }

    /* Which guest frames must go if the host unmaps the last 4 KiB of slot 0 and the first of slot 1? */
    struct hvrt_slot_range ranges[4];
    int found = hvrt_find_slots_by_hva(vm, (uintptr_t)ram + low - 4096, 8192, ranges, 4);
    for (int i = 0; i < found && i < 4; i++)
        printf("host range backs slot %u gfns [0x%" PRIx64 ", 0x%" PRIx64 ")\n", ranges[i].slot, ranges[i].gfn_start,
               ranges[i].gfn_end);

    struct kvm_userspace_memory_region clash = lowmem;
    clash.slot = 2;
    printf("overlapping slot 2: %d (-EEXIST, as KVM)\n", hvrt_set_user_memory_region(vm, &clash));

    hvrt_vm_destroy(vm);
    munmap(ram, low + high);
    return 0;
}

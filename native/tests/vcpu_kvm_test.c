/* hvrt_vcpu_run with a real KVM guest (skipped without /dev/kvm): a 16-bit real-mode program in
 * anonymous memory, given to KVM and to hvrt as the same slot, writes its data page, writes to
 * 0xA0000 (in no slot: device MMIO), writes to a READONLY slot (an MMIO exit KVM makes for
 * ROM writes), then halts. Each exit comes back classified; the HLT as UNHANDLED / OTHER, and
 * a run with immediate_exit set as INTERRUPTED. */
#include <errno.h>
#include <pthread.h>
#include "kvm_guest.h"
#include "test_util.h"

#define MEM_SIZE 0x10000ull  /* slot 0: gpa 0 .. 64 KiB, code at 0x1000, data at 0x2000 */
#define ROM_GPA 0x20000ull   /* slot 1: 4 KiB READONLY */
#define MMIO_GPA 0xA0000ull  /* in no slot */

static const uint8_t program[] = {
    0xB0, 0x42,             /* mov al, 0x42 */
    0xA2, 0x00, 0x20,       /* mov [0x2000], al        (data page)   */
    0x26, 0xA2, 0x04, 0x00, /* mov [es:0x0004], al     (MMIO)        */
    0x64, 0xA2, 0x10, 0x00, /* mov [fs:0x0010], al     (ROM write)   */
    0xF4,                   /* hlt */
};

static void guest_run(void)
{
    struct kvm_guest g;
    const char *why = NULL;
    if (kvm_guest_open(&g, &why) != 0) {
        SKIP(why);
        return;
    }
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *rom = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || rom == MAP_FAILED)
        FATAL("mmap");
    memcpy(mem + 0x1000, program, sizeof program);
    struct kvm_userspace_memory_region ram = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    struct kvm_userspace_memory_region ro = {
        .slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = ROM_GPA, .memory_size = PAGE,
        .userspace_addr = (uint64_t)(uintptr_t)rom,
    };
    if (kvm_guest_set_region(&g, &ram, &why) != 0 || kvm_guest_set_region(&g, &ro, &why) != 0 ||
        kvm_guest_real_mode(&g, 0x1000, MMIO_GPA >> 4, ROM_GPA >> 4, &why) != 0) {
        SKIP(why);
        kvm_guest_close(&g);
        return;
    }
    hvrt_vm *vm = vm_new_gpa_bits(40);
    CHECK_RC(hvrt_set_user_memory_region(vm, &ram), 0);
    CHECK_RC(hvrt_set_user_memory_region(vm, &ro), 0);
    hvrt_vcpu *v = NULL;
    CHECK_RC(hvrt_vcpu_create(vm, g.vcpu, g.run, &v), 0);
    if (v == NULL)
        FATAL("hvrt_vcpu_create");

    /* 0: immediate_exit (byte 1 of kvm_run; renamed immediate_exit__unsafe in newer headers):
     * KVM_RUN returns -1 EINTR at once */
    ((volatile uint8_t *)g.run)[1] = 1;
    CHECK_RC(hvrt_vcpu_run(v), HVRT_EXIT_UNHANDLED);
    ((volatile uint8_t *)g.run)[1] = 0;
    struct hvrt_exit_info i;
    CHECK_RC(hvrt_vcpu_exit_info(v, &i), 0);
    CHECK(i.kind == HVRT_EXIT_INTERRUPTED && i.result == 0);

    /* 1: the MMIO write to a gpa in no slot */
    CHECK_RC(hvrt_vcpu_run(v), HVRT_EXIT_UNHANDLED);
    CHECK_RC(hvrt_vcpu_exit_info(v, &i), 0);
    CHECK(i.kind == HVRT_EXIT_MMIO && i.exit_reason == KVM_EXIT_MMIO);
    CHECK(i.mmio_class == HVRT_MMIO_DEVICE && i.gpa == MMIO_GPA + 4 && i.size == 1 && i.is_write == 1);
    CHECK(i.slot == UINT32_MAX);
    CHECK(g.run->mmio.data[0] == 0x42);
    CHECK(mem[0x2000] == 0x42); /* the guest wrote its data page before */
    CHECK(hvrt_vcpu_reader(v) != NULL);
    /* the reader is online after the run: a lock-free translation of the data page */
    struct hvrt_translation t;
    CHECK_RC(hvrt_reader_translate(hvrt_vcpu_reader(v), 0, 2, &t), 0);
    CHECK(t.hva == (uint64_t)(uintptr_t)mem + 0x2000);

    /* 2: the write to the READONLY slot */
    CHECK_RC(hvrt_vcpu_run(v), HVRT_EXIT_UNHANDLED);
    CHECK_RC(hvrt_vcpu_exit_info(v, &i), 0);
    CHECK(i.kind == HVRT_EXIT_MMIO && i.mmio_class == HVRT_MMIO_READONLY_WRITE);
    CHECK(i.gpa == ROM_GPA + 0x10 && i.size == 1 && i.is_write == 1 && i.slot == 1);
    CHECK(rom[0x10] == 0);

    /* 3: hlt, not hvrt's */
    CHECK_RC(hvrt_vcpu_run(v), HVRT_EXIT_UNHANDLED);
    CHECK_RC(hvrt_vcpu_exit_info(v, &i), 0);
    CHECK(i.kind == HVRT_EXIT_OTHER && i.exit_reason == KVM_EXIT_HLT);

    hvrt_vcpu_destroy(v);
    hvrt_vm_destroy(vm);
    kvm_guest_close(&g);
    munmap(mem, MEM_SIZE);
    munmap(rom, PAGE);
}

int main(void)
{
    guest_run();
    return harness_finish();
}

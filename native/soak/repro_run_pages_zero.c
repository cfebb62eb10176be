/* Reproduction (soak finding): hvrt_translate answers run_pages 0 (hvrt.h promises >= 1) for a gfn
 * whose block another thread is converting. TranslationAttributes.ApplyFromStore reads the gfn's
 * attributes (Get) and then scans for the first differing page starting AT gfn (NextDiffering): a
 * conversion between the two makes gfn itself differ, so the run is empty. A VMM walking runs
 * (g += run_pages) then loops forever. Exits 1 when it sees one (here: within ~10k calls).
 *   gcc -O2 -D_GNU_SOURCE -Inative/include native/soak/repro_run_pages_zero.c -Lout/lib -lhvrt \
 *       -Wl,-rpath,$PWD/out/lib -lpthread -o out/bin/repro_run_pages_zero && out/bin/repro_run_pages_zero */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <hvrt.h>
static hvrt_vm *vm;
static atomic_int stop;
static void *converter(void *a)
{
    (void)a;
    for (int i = 0; !atomic_load(&stop); i++)
        hvrt_convert(vm, 0x4000 * 4096ull, 8 * 4096, i & 1 ? 0 : 1);
    return NULL;
}
int main(void)
{
    struct hvrt_vm_config c = { .size = sizeof c, .vm_type = HVRT_VM_TYPE_SW_PROTECTED };
    hvrt_vm_create(&c, &vm);
    void *mem = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct kvm_userspace_memory_region r = { 1, 0, 0x4000 * 4096ull, 64 * 4096, (unsigned long)mem };
    printf("slot: %d\n", hvrt_set_user_memory_region(vm, &r));
    pthread_t t;
    pthread_create(&t, NULL, converter, NULL);
    long zero = 0, n = 0;
    for (; n < 20000000 && zero < 5; n++) {
        struct hvrt_translation tr;
        uint64_t gfn = 0x4000 + (n % 8);
        if (hvrt_translate(vm, 0, gfn, &tr) == 0 && tr.run_pages == 0 && zero++ < 5)
            printf("translate #%ld gfn 0x%llx: run_pages 0, flags 0x%x\n", n, (unsigned long long)gfn, tr.flags);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("%ld translations, %ld with run_pages 0\n", n, zero);
    hvrt_vm_destroy(vm);
    return zero != 0;
}

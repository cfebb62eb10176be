/* hvrt_convert on real memory: a memfd private file loses its blocks on to-shared, shared memfd
 * and anonymous memory read zeros after to-private, a guest_memfd (MMAP | INIT_SHARED, made on
 * /dev/kvm; skipped where absent) reads zeros through its mmap after to-shared; already-converted
 * pages are not discarded again; ranges across slots and holes; a failing discard leaves the
 * attributes; listeners, the sequence counter, the discard policy and the errors. */
#include <errno.h>
#include <sys/ioctl.h>
#include "test_util.h"

#define NPAGES 16ull
#define BLOCKS_PER_PAGE 8

static hvrt_vm *private_vm(void)
{
    struct hvrt_vm_config c = config_for(HVRT_VM_TYPE_SW_PROTECTED);
    return vm_new(&c);
}

static void *map(uint64_t bytes, int flags, int fd)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED)
        FATAL("mmap");
    return p;
}

static long blocks(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        FATAL("fstat");
    return (long)st.st_blocks;
}

static void fill_file(int fd, uint64_t first, uint64_t n, unsigned char seed)
{
    unsigned char buf[PAGE];
    for (uint64_t i = first; i < first + n; i++) {
        memset(buf, (unsigned char)(seed + i), sizeof buf);
        if (pwrite(fd, buf, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
            FATAL("pwrite");
    }
}

/* Every byte of page i is seed + i, or 0 when zero. */
static bool page_is(const unsigned char *p, uint64_t i, unsigned char seed, bool zero)
{
    unsigned char want = zero ? 0 : (unsigned char)(seed + i);
    for (uint64_t b = 0; b < PAGE; b++)
        if (p[i * PAGE + b] != want)
            return false;
    return true;
}

static bool file_page_is(int fd, uint64_t i, unsigned char seed, bool zero)
{
    unsigned char buf[PAGE];
    if (pread(fd, buf, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
        return false;
    unsigned char want = zero ? 0 : (unsigned char)(seed + i);
    for (uint64_t b = 0; b < PAGE; b++)
        if (buf[b] != want)
            return false;
    return true;
}

static bool attrs_are(hvrt_vm *vm, uint64_t gfn, uint64_t n, uint64_t want)
{
    for (uint64_t g = gfn; g < gfn + n; g++) {
        uint64_t a = 99;
        if (hvrt_get_memory_attributes(vm, g, &a) != 0 || a != want) {
            fprintf(stderr, "  gfn 0x%llx: attributes %llu, want %llu\n", (unsigned long long)g,
                    (unsigned long long)a, (unsigned long long)want);
            return false;
        }
    }
    return true;
}

static int set_private(hvrt_vm *vm, uint64_t gfn, uint64_t n, bool priv)
{
    struct kvm_memory_attributes a = { gfn * PAGE, n * PAGE, priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, 0 };
    return hvrt_set_memory_attributes(vm, &a);
}

static uint64_t seq_of(hvrt_vm *vm)
{
    uint64_t s = UINT64_MAX;
    if (hvrt_conversion_seq(vm, &s) != 0)
        FATAL("hvrt_conversion_seq");
    return s;
}

/* ---- listeners ------------------------------------------------------------------------- */

struct call {
    uint64_t gpa, size, seq;
    int to_private;
};

struct recorder {
    hvrt_vm *vm;
    int n;
    struct call calls[16];
    int nested;          /* what a hvrt_convert from the callback returned */
    void *remove_ctx;    /* the next callback removes the listener (record, remove_ctx) when set */
    int remove_rc;
};

static void record(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    struct recorder *r = ctx;
    if (r->n < 16)
        r->calls[r->n++] = (struct call){ gpa, size, seq_of(r->vm), to_private };
    r->nested = hvrt_convert(r->vm, 0x100000 * PAGE, PAGE, 1);
    if (r->remove_ctx != NULL) {
        r->remove_rc = hvrt_remove_conversion_listener(r->vm, record, r->remove_ctx);
        r->remove_ctx = NULL;
    }
}

static bool call_is(const struct recorder *r, int i, uint64_t gpa, uint64_t size, int to_private, uint64_t seq)
{
    if (i >= r->n) {
        fprintf(stderr, "  call %d missing (%d calls)\n", i, r->n);
        return false;
    }
    const struct call *c = &r->calls[i];
    bool ok = c->gpa == gpa && c->size == size && c->to_private == to_private && c->seq == seq;
    if (!ok)
        fprintf(stderr, "  call %d: gpa 0x%llx size 0x%llx to_private %d seq %llu\n", i, (unsigned long long)c->gpa,
                (unsigned long long)c->size, c->to_private, (unsigned long long)c->seq);
    return ok;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void bad_arguments(void)
{
    hvrt_vm *vm = private_vm();
    uint64_t seq;
    CHECK_RC(hvrt_convert(NULL, 0, PAGE, 1), HVRT_EFAULT);
    CHECK_RC(hvrt_set_discard_policy(NULL, 0), HVRT_EFAULT);
    CHECK_RC(hvrt_conversion_seq(NULL, &seq), HVRT_EFAULT);
    CHECK_RC(hvrt_add_conversion_listener(NULL, record, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_remove_conversion_listener(NULL, record, NULL), HVRT_EFAULT);
    uint64_t fake[8] = { 0 };
    hvrt_vm *dead = (hvrt_vm *)fake;
    CHECK_RC(hvrt_convert(dead, 0, PAGE, 1), HVRT_EBADF);
    CHECK_RC(hvrt_set_discard_policy(dead, 0), HVRT_EBADF);
    CHECK_RC(hvrt_conversion_seq(dead, &seq), HVRT_EBADF);
    CHECK_RC(hvrt_add_conversion_listener(dead, record, NULL), HVRT_EBADF);
    CHECK_RC(hvrt_remove_conversion_listener(dead, record, NULL), HVRT_EBADF);
    CHECK_RC(hvrt_convert(vm, 0, PAGE, 2), HVRT_EINVAL);
    CHECK_RC(hvrt_convert(vm, 0, 0, 1), HVRT_EINVAL);
    CHECK_RC(hvrt_convert(vm, 2048, PAGE, 1), HVRT_EINVAL);
    CHECK_RC(hvrt_convert(vm, 0, PAGE + 1, 0), HVRT_EINVAL);
    CHECK_RC(hvrt_convert(vm, UINT64_MAX - PAGE + 1, 2 * PAGE, 1), HVRT_EINVAL);
    CHECK_RC(hvrt_set_discard_policy(vm, HVRT_DISCARD_PRIVATE << 1), HVRT_EINVAL);
    CHECK_RC(hvrt_conversion_seq(vm, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_add_conversion_listener(vm, NULL, NULL), HVRT_EFAULT);
    CHECK_RC(hvrt_remove_conversion_listener(vm, record, NULL), HVRT_ENOENT);
    int ctx1, ctx2;
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &ctx1), 0);
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &ctx1), HVRT_EEXIST);
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &ctx2), 0); /* another ctx: another listener */
    CHECK_RC(hvrt_remove_conversion_listener(vm, record, &ctx1), 0);
    CHECK_RC(hvrt_remove_conversion_listener(vm, record, &ctx2), 0);
    CHECK_RC(seq_of(vm), 0);
    CHECK(attrs_are(vm, 0, 2, 0));
    CHECK(strcmp(hvrt_errname(-EDEADLK), "EDEADLK") == 0);
    CHECK(strcmp(hvrt_errname(-EACCES), "EACCES") == 0);
    hvrt_vm_destroy(vm);

    hvrt_vm *plain = vm_new(NULL); /* no private memory: every conversion is refused */
    CHECK_RC(hvrt_convert(plain, 0, PAGE, 1), HVRT_EINVAL);
    CHECK_RC(hvrt_convert(plain, 0, PAGE, 0), HVRT_EINVAL);
    hvrt_vm_destroy(plain);
}

static void private_memfd_punched(void)
{
    hvrt_vm *vm = private_vm();
    int fd = new_memfd(NPAGES * PAGE);
    void *shared = map(NPAGES * PAGE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    CHECK_RC(set_ext(vm, SLOT(0, 0), F_PRIV, 0, NPAGES * PAGE, (uint64_t)shared, (uint32_t)fd, 0), 0);
    fill_file(fd, 0, NPAGES, 0x10);
    long full = blocks(fd);
    CHECK_RC(full, NPAGES * BLOCKS_PER_PAGE);
    CHECK_RC(set_private(vm, 0, NPAGES, true), 0);
    CHECK_RC(hvrt_convert(vm, 4 * PAGE, 4 * PAGE, 0), 0);
    CHECK_RC(blocks(fd), full - 4 * BLOCKS_PER_PAGE);
    for (uint64_t i = 0; i < NPAGES; i++)
        CHECK(file_page_is(fd, i, 0x10, i >= 4 && i < 8));
    CHECK(attrs_are(vm, 0, 4, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    CHECK(attrs_are(vm, 4, 4, 0));
    CHECK(attrs_are(vm, 8, 8, KVM_MEMORY_ATTRIBUTE_PRIVATE));

    /* Again: those pages are shared already, so the re-filled file keeps its blocks. */
    fill_file(fd, 0, NPAGES, 0x20);
    CHECK_RC(hvrt_convert(vm, 4 * PAGE, 4 * PAGE, 0), 0);
    CHECK_RC(blocks(fd), full);
    CHECK_RC(seq_of(vm), 2);
    /* A superset: only [8, 12) changes. */
    CHECK_RC(hvrt_convert(vm, 4 * PAGE, 8 * PAGE, 0), 0);
    CHECK_RC(blocks(fd), full - 4 * BLOCKS_PER_PAGE);
    CHECK(file_page_is(fd, 4, 0x20, false));
    CHECK(file_page_is(fd, 8, 0x20, true));
    hvrt_vm_destroy(vm);
    munmap(shared, NPAGES * PAGE);
    close(fd);
}

static void shared_memory_dropped(bool memfd)
{
    hvrt_vm *vm = private_vm();
    int fd = memfd ? new_memfd(NPAGES * PAGE) : -1;
    unsigned char *mem = map(NPAGES * PAGE, memfd ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, fd);
    CHECK_RC(set_v1(vm, SLOT(0, 0), 0, 0x100 * PAGE, NPAGES * PAGE, (uint64_t)mem), 0);
    for (uint64_t i = 0; i < NPAGES; i++)
        memset(mem + i * PAGE, (int)(0x40 + i), PAGE);
    CHECK_RC(hvrt_convert(vm, 0x102 * PAGE, 5 * PAGE, 1), 0);
    if (memfd)
        CHECK_RC(blocks(fd), (NPAGES - 5) * BLOCKS_PER_PAGE); /* before a read fault refills */
    for (uint64_t i = 0; i < NPAGES; i++)
        CHECK(page_is(mem, i, 0x40, i >= 2 && i < 7));
    CHECK(attrs_are(vm, 0x100, 2, 0));
    CHECK(attrs_are(vm, 0x102, 5, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    CHECK(attrs_are(vm, 0x107, 9, 0));
    hvrt_vm_destroy(vm);
    munmap(mem, NPAGES * PAGE);
    if (fd >= 0)
        close(fd);
}

static void guest_memfd_punched(void)
{
    const char *why = NULL;
    int kvm_vm = open_kvm_vm(&why);
    if (kvm_vm < 0) {
        SKIP(why);
        return;
    }
    struct kvm_create_guest_memfd req = { .size = NPAGES * PAGE, .flags = 0x3 /* MMAP | INIT_SHARED */ };
    int gmem = ioctl(kvm_vm, KVM_CREATE_GUEST_MEMFD, &req);
    close(kvm_vm);
    if (gmem < 0) {
        SKIP("KVM_CREATE_GUEST_MEMFD(MMAP | INIT_SHARED) is not supported by this kernel");
        return;
    }
    hvrt_vm *vm = private_vm();
    unsigned char *gm = map(NPAGES * PAGE, MAP_SHARED, gmem);
    void *shared = map(NPAGES * PAGE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    CHECK_RC(set_r2(vm, SLOT(0, 0), F_PRIV, 0, NPAGES * PAGE, (uint64_t)shared, (uint32_t)gmem, 0), 0);
    for (uint64_t i = 0; i < NPAGES; i++)
        memset(gm + i * PAGE, (int)(0x70 + i), PAGE);
    CHECK_RC(set_private(vm, 0, NPAGES, true), 0);
    CHECK_RC(hvrt_convert(vm, 0, 8 * PAGE, 0), 0);
    for (uint64_t i = 0; i < NPAGES; i++)
        CHECK(page_is(gm, i, 0x70, i < 8));
    CHECK(attrs_are(vm, 0, 8, 0));
    CHECK(attrs_are(vm, 8, 8, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    hvrt_vm_destroy(vm);
    munmap(gm, NPAGES * PAGE);
    munmap(shared, NPAGES * PAGE);
    close(gmem);
}

/* Slots 0 and 1 adjacent (gfn and hva), an 8-page hole, slot 2; one memfd behind all three. */
static void slots_and_holes(void)
{
    hvrt_vm *vm = private_vm();
    int fd = new_memfd(32 * PAGE);
    int pfd = new_memfd(32 * PAGE);
    unsigned char *mem = map(32 * PAGE, MAP_SHARED, fd);
    CHECK_RC(set_ext(vm, SLOT(0, 0), F_PRIV, 0, 8 * PAGE, (uint64_t)mem, (uint32_t)pfd, 0), 0);
    CHECK_RC(set_ext(vm, SLOT(0, 1), F_PRIV, 8 * PAGE, 8 * PAGE, (uint64_t)mem + 8 * PAGE, (uint32_t)pfd, 8 * PAGE), 0);
    CHECK_RC(set_ext(vm, SLOT(0, 2), F_PRIV, 24 * PAGE, 8 * PAGE, (uint64_t)mem + 24 * PAGE, (uint32_t)pfd, 24 * PAGE), 0);
    memset(mem, 3, 32 * PAGE);
    fill_file(pfd, 0, 32, 9);
    struct recorder rec = { .vm = vm };
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &rec), 0);

    CHECK_RC(hvrt_convert(vm, 2 * PAGE, 28 * PAGE, 1), 0);
    CHECK_RC(blocks(fd), 12 * BLOCKS_PER_PAGE); /* 2 + 8 (hole: its pages stay) + 2 */
    for (uint64_t i = 0; i < 32; i++) {
        bool gone = (i >= 2 && i < 16) || (i >= 24 && i < 30);
        CHECK(mem[i * PAGE] == (gone ? 0 : 3) && mem[i * PAGE + PAGE - 1] == (gone ? 0 : 3));
    }
    CHECK(attrs_are(vm, 0, 2, 0));
    CHECK(attrs_are(vm, 2, 28, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    CHECK(attrs_are(vm, 30, 2, 0));
    CHECK_RC(rec.n, 1);
    CHECK(call_is(&rec, 0, 2 * PAGE, 28 * PAGE, 1, 1));
    CHECK_RC(rec.nested, HVRT_EDEADLK);

    CHECK_RC(hvrt_convert(vm, 0, 32 * PAGE, 0), 0);
    for (uint64_t i = 0; i < 32; i++)
        CHECK(file_page_is(pfd, i, 9, (i >= 2 && i < 16) || (i >= 24 && i < 30)));
    CHECK(attrs_are(vm, 0, 32, 0));
    CHECK_RC(rec.n, 2); /* [2, 30) was private as one run: one call */
    CHECK(call_is(&rec, 1, 2 * PAGE, 28 * PAGE, 0, 3));
    CHECK_RC(seq_of(vm), 4);
    hvrt_vm_destroy(vm);
    munmap(mem, 32 * PAGE);
    close(fd);
    close(pfd);
}

/* A private file opened read-only is a valid backing, but fallocate on it fails with EBADF. */
static void failing_discard(void)
{
    hvrt_vm *vm = private_vm();
    int good = new_memfd(8 * PAGE);
    int bad = new_memfd(8 * PAGE);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", bad);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    if (ro < 0)
        FATAL("reopen read-only");
    void *shared = map(16 * PAGE, MAP_SHARED | MAP_ANONYMOUS, -1);
    CHECK_RC(set_ext(vm, SLOT(0, 0), F_PRIV, 0, 8 * PAGE, (uint64_t)shared, (uint32_t)good, 0), 0);
    CHECK_RC(set_ext(vm, SLOT(0, 1), F_PRIV, 8 * PAGE, 8 * PAGE, (uint64_t)shared + 8 * PAGE, (uint32_t)ro, 0), 0);
    fill_file(good, 0, 8, 5);
    fill_file(bad, 0, 8, 6);
    CHECK_RC(set_private(vm, 0, 16, true), 0);
    struct recorder rec = { .vm = vm };
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &rec), 0);

    CHECK_RC(hvrt_convert(vm, 4 * PAGE, 8 * PAGE, 0), -EBADF);
    CHECK(attrs_are(vm, 0, 16, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    CHECK_RC(rec.n, 0);
    CHECK_RC(seq_of(vm), 2);
    CHECK_RC(blocks(good), 4 * BLOCKS_PER_PAGE); /* punched before the failure: not undone */
    CHECK_RC(blocks(bad), 8 * BLOCKS_PER_PAGE);

    /* Private discard off: attributes only. */
    CHECK_RC(hvrt_set_discard_policy(vm, HVRT_DISCARD_SHARED), 0);
    CHECK_RC(hvrt_convert(vm, 4 * PAGE, 8 * PAGE, 0), 0);
    CHECK(attrs_are(vm, 4, 8, 0));
    CHECK_RC(blocks(bad), 8 * BLOCKS_PER_PAGE);
    CHECK_RC(rec.n, 1);
    CHECK(call_is(&rec, 0, 4 * PAGE, 8 * PAGE, 0, 3));

    /* Removed listeners are not called; removing twice: ENOENT. */
    CHECK_RC(hvrt_remove_conversion_listener(vm, record, &rec), 0);
    CHECK_RC(hvrt_remove_conversion_listener(vm, record, &rec), HVRT_ENOENT);
    CHECK_RC(hvrt_convert(vm, 0, PAGE, 0), 0);
    CHECK_RC(rec.n, 1);
    CHECK_RC(seq_of(vm), 6);
    hvrt_vm_destroy(vm);
    munmap(shared, 16 * PAGE);
    close(good);
    close(bad);
    close(ro);
}

/* Two listeners; the first removes the second from its callback during a two-run conversion. */
static void listener_removed_from_a_callback(void)
{
    hvrt_vm *vm = private_vm();
    struct recorder a = { .vm = vm }, b = { .vm = vm };
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &a), 0);
    CHECK_RC(hvrt_add_conversion_listener(vm, record, &b), 0);
    CHECK_RC(hvrt_convert(vm, 0x10 * PAGE, 0x10 * PAGE, 1), 0);
    a.remove_ctx = &b;
    CHECK_RC(hvrt_convert(vm, 0, 0x30 * PAGE, 1), 0);
    CHECK_RC(a.remove_rc, 0);
    CHECK_RC(a.n, 3);
    CHECK(call_is(&a, 0, 0x10 * PAGE, 0x10 * PAGE, 1, 1));
    CHECK(call_is(&a, 1, 0, 0x10 * PAGE, 1, 3));
    CHECK(call_is(&a, 2, 0x20 * PAGE, 0x10 * PAGE, 1, 3));
    CHECK_RC(b.n, 1);
    CHECK_RC(seq_of(vm), 4);
    hvrt_vm_destroy(vm);
}

/* Host memory behind two gfn ranges (overlapping userspace ranges, which KVM allows): a
 * conversion to private drops the shared side only where no gfn outside the converted range
 * still uses it as shared. Slot 1 maps pages 0..7 of the memory at gfn 0x100, slot 2 maps pages
 * 4..11 at gfn 0x200; pages 4..7 back both. */
static void aliased_shared_memory_kept(void)
{
    hvrt_vm *vm = private_vm();
    unsigned char *mem = map(12 * PAGE, MAP_SHARED | MAP_ANONYMOUS, -1);
    for (uint64_t i = 0; i < 12; i++)
        memset(mem + i * PAGE, (unsigned char)(0x40 + i), PAGE);
    CHECK_RC(set_v1(vm, 1, 0, 0x100 * PAGE, 8 * PAGE, (uint64_t)mem), 0);
    CHECK_RC(set_v1(vm, 2, 0, 0x200 * PAGE, 8 * PAGE, (uint64_t)(mem + 4 * PAGE)), 0);

    /* gfns 0x100..0x107 private: pages 0..3 are dropped, 4..7 stay (slot 2's gfns use them). */
    CHECK_RC(hvrt_convert(vm, 0x100 * PAGE, 8 * PAGE, 1), 0);
    for (uint64_t i = 0; i < 12; i++)
        CHECK(page_is(mem, i, 0x40, i < 4));
    /* gfns 0x200..0x201 private (pages 4, 5): both of their users are private now, so dropped;
     * 6..7 still back shared gfns 0x202..0x203 and stay. */
    CHECK_RC(hvrt_convert(vm, 0x200 * PAGE, 2 * PAGE, 1), 0);
    for (uint64_t i = 4; i < 12; i++)
        CHECK(page_is(mem, i, 0x40, i < 6));
    /* One conversion over both aliases: nothing outside it still uses pages 6..11. */
    memset(mem + 6 * PAGE, 0x46, PAGE);
    CHECK_RC(hvrt_convert(vm, 0x100 * PAGE, 0x108 * PAGE, 1), 0);
    for (uint64_t i = 6; i < 12; i++)
        CHECK(page_is(mem, i, 0x40, true));
    CHECK(attrs_are(vm, 0x200, 8, KVM_MEMORY_ATTRIBUTE_PRIVATE));
    hvrt_vm_destroy(vm);
    munmap(mem, 12 * PAGE);
}

int main(void)
{
    bad_arguments();
    private_memfd_punched();
    shared_memory_dropped(true);
    shared_memory_dropped(false);
    guest_memfd_punched();
    slots_and_holes();
    failing_discard();
    listener_removed_from_a_callback();
    aliased_shared_memory_kept();
    return harness_finish();
}

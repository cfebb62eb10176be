/* Private slots without /dev/kvm: the files each entry point accepts, the offset and size
 * checks, the page bindings (one page of a file backs at most one slot), immutability, and fd
 * ownership (hvrt keeps its own duplicate and closes it on delete and destroy, leaking none). */
#include <sys/resource.h>
#include <sys/socket.h>
#include "test_util.h"

#define NEW_GPA (0x4000 * PAGE)
#define NEW_SLOT SLOT(0, 50)

/* ext's private file must be a regular file (memfd, tmpfs, any); region2's a guest_memfd. */
static void which_files(struct fixture *fx)
{
    int pipe_fds[2], sock_fds[2];
    if (pipe(pipe_fds) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_fds) < 0)
        FATAL("pipe/socketpair");
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int memfd = new_memfd(4 * PAGE);
    const int not_regular[] = { pipe_fds[0], pipe_fds[1], sock_fds[0], dir, devnull };
    for (size_t i = 0; i < sizeof not_regular / sizeof not_regular[0]; i++) {
        CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, (uint32_t)not_regular[i], 0),
                       HVRT_EINVAL);
        CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, (uint32_t)not_regular[i], 0),
                       HVRT_EINVAL);
    }
    /* A memfd is not a guest_memfd: region2 refuses what ext takes. */
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, (uint32_t)memfd, 0), HVRT_EINVAL);
    /* Not open at all: -EBADF from both; -1 is the u32 0xffffffff. */
    const uint32_t not_open[] = { (uint32_t)closed_fd_number(), UINT32_MAX, 0x7fffffff, 0x80000000u, 1u << 20 };
    for (size_t i = 0; i < sizeof not_open / sizeof not_open[0]; i++) {
        CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, not_open[i], 0), HVRT_EBADF);
        CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, not_open[i], 0), HVRT_EBADF);
    }
    /* A regular file on disk is fine for ext. */
    char path[] = "/tmp/hvrt-private-XXXXXX";
    int file = mkstemp(path);
    if (file < 0 || ftruncate(file, 4 * PAGE) < 0)
        FATAL("mkstemp");
    unlink(path);
    struct slot_desc s = { NEW_SLOT, F_PRIV, NEW_GPA / PAGE, 2, FX_HVA, 1 };
    CHECK_RC(set_ext(fx->vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, (uint32_t)file, PAGE), 0);
    fx->gen[0] += fx->nr_as;
    struct stat st;
    fstat(file, &st);
    CHECK(translates_as(fx->vm, s.gfn + 1, &s, fx->gen[0], &st));
    CHECK_RC(delete_slot(fx->vm, s.slot), 0);
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    close(file);
    close(memfd);
    close(devnull);
    close(dir);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    close(sock_fds[0]);
    close(sock_fds[1]);
}

/* private_offset must be page aligned, offset + size must not wrap, and for ext the slot must
 * end within the file's size at the time of the call. */
static void offset_and_size(struct fixture *fx)
{
    int memfd = new_memfd(4 * PAGE);
    uint32_t fd = (uint32_t)memfd;
    for (uint64_t bad = 1; bad < PAGE; bad <<= 1) {
        CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, bad), HVRT_EINVAL);
        CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, PAGE + bad), HVRT_EINVAL);
    }
    /* The alignment and wrap checks come before the fd is looked at. */
    uint32_t closed = (uint32_t)closed_fd_number();
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 8), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, closed, 8), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, closed, 0ull - PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, closed, 0ull - PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0ull - PAGE), HVRT_EINVAL);
    /* Past the end of the 4-page file. */
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, 5 * PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 3 * PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 4 * PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 1ull << 62), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 1ull << 63), HVRT_EINVAL);
    /* Exactly to the end: fine. The size counts when the call is made. */
    struct stat st;
    fstat(memfd, &st);
    struct slot_desc s = { NEW_SLOT, F_PRIV, NEW_GPA / PAGE, 2, FX_HVA, 2 };
    CHECK_RC(set_ext(fx->vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 2 * PAGE), 0);
    fx->gen[0] += fx->nr_as;
    CHECK(translates_as(fx->vm, s.gfn + 1, &s, fx->gen[0], &st));
    CHECK_RC(delete_slot(fx->vm, s.slot), 0);
    fx->gen[0] += fx->nr_as;
    if (ftruncate(memfd, 8 * PAGE) < 0)
        FATAL("ftruncate");
    CHECK_RC(set_ext(fx->vm, s.slot, F_PRIV, NEW_GPA, 2 * PAGE, FX_HVA, fd, 6 * PAGE), 0);
    s.pgoff = 6;
    fx->gen[0] += fx->nr_as;
    CHECK(translates_as(fx->vm, s.gfn, &s, fx->gen[0], &st));
    CHECK_RC(delete_slot(fx->vm, s.slot), 0);
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    close(memfd);
}

/* A page of a private file backs at most one slot, in any address space; disjoint ranges of one
 * file may back several slots; a delete frees the pages for another slot. */
static void bindings(void)
{
    hvrt_vm *vm = vm_new_gpa_bits(40);
    int memfd = new_memfd(16 * PAGE);
    int other = new_memfd(16 * PAGE);
    int dup_fd = dup(memfd);
    struct stat st;
    fstat(memfd, &st);
    /* Pages 4-7 of memfd. */
    struct slot_desc a = { SLOT(0, 1), F_PRIV, 0x100, 4, FX_HVA, 4 };
    CHECK_RC(set_ext(vm, a.slot, F_PRIV, a.gfn * PAGE, 4 * PAGE, FX_HVA, (uint32_t)memfd, 4 * PAGE), 0);
    uint64_t gen0 = 2, gen1 = 1;
    /* Any overlap with pages 4-7, through this fd or another of the same file, in either space. */
    static const struct { uint64_t first, npages; } overlaps[] = { { 4, 4 }, { 7, 1 }, { 0, 5 }, { 6, 8 }, { 5, 1 }, { 0, 16 } };
    for (size_t i = 0; i < sizeof overlaps / sizeof overlaps[0]; i++) {
        uint64_t off = overlaps[i].first * PAGE, size = overlaps[i].npages * PAGE;
        CHECK_RC(set_ext(vm, SLOT(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, (uint32_t)memfd, off), HVRT_EINVAL);
        CHECK_RC(set_ext(vm, SLOT(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, (uint32_t)dup_fd, off), HVRT_EINVAL);
        CHECK_RC(set_ext(vm, SLOT(1, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, (uint32_t)memfd, off), HVRT_EINVAL);
        /* The same slot ids and pages of another file are free. */
        CHECK_RC(set_ext(vm, SLOT(0, 2), F_PRIV, 0x200 * PAGE, size, FX_HVA, (uint32_t)other, off), 0);
        CHECK_RC(delete_slot(vm, SLOT(0, 2)), 0);
        gen0 += 4;
    }
    CHECK(translates_to_nothing(vm, 0, 0x200));
    CHECK(translates_to_nothing(vm, 1, 0x200));
    CHECK(translates_as(vm, a.gfn, &a, gen0, &st));
    /* Right before and right after: disjoint, so allowed; in the other address space too. */
    struct slot_desc b = { SLOT(0, 2), F_PRIV, 0x200, 4, FX_HVA, 0 };
    struct slot_desc c = { SLOT(1, 3), F_PRIV, 0x100, 8, FX_HVA, 8 };
    CHECK_RC(set_ext(vm, b.slot, F_PRIV, b.gfn * PAGE, 4 * PAGE, FX_HVA, (uint32_t)dup_fd, 0), 0);
    CHECK_RC(set_ext(vm, c.slot, F_PRIV, c.gfn * PAGE, 8 * PAGE, FX_HVA, (uint32_t)memfd, 8 * PAGE), 0);
    gen0 += 2;
    gen1 += 2;
    CHECK(translates_as(vm, b.gfn + 3, &b, gen0, &st));
    CHECK(translates_as(vm, c.gfn + 7, &c, gen1, &st));
    /* Now every page is bound: nothing more fits, not even one page. */
    for (uint64_t page = 0; page < 16; page++)
        CHECK_RC(set_ext(vm, SLOT(0, 9), F_PRIV, 0x900 * PAGE, PAGE, FX_HVA, (uint32_t)memfd, page * PAGE), HVRT_EINVAL);
    /* -EEXIST (gpa overlap) is found before the binding. */
    CHECK_RC(set_ext(vm, SLOT(0, 9), F_PRIV, 0x100 * PAGE, PAGE, FX_HVA, (uint32_t)memfd, 4 * PAGE), HVRT_EEXIST);
    /* After a delete, its pages can be bound again, by another slot in another space. */
    CHECK_RC(delete_slot(vm, a.slot), 0);
    gen0 += 2;
    struct slot_desc d = { SLOT(1, 4), F_PRIV, 0x400, 2, FX_HVA, 5 };
    CHECK_RC(set_ext(vm, d.slot, F_PRIV, d.gfn * PAGE, 2 * PAGE, FX_HVA, (uint32_t)memfd, 5 * PAGE), 0);
    gen1 += 2;
    CHECK(translates_as(vm, d.gfn + 1, &d, gen1, &st));
    CHECK(translates_to_nothing(vm, 0, a.gfn));
    CHECK(translates_as(vm, b.gfn, &b, gen0, &st));
    CHECK(translates_as(vm, c.gfn, &c, gen1, &st));
    hvrt_vm_destroy(vm);
    close(dup_fd);
    close(other);
    close(memfd);
}

/* Private slots are immutable: any request but a delete is -EINVAL, even an identical one. */
static void private_slots_are_immutable(struct fixture *fx)
{
    const struct slot_desc p = *fixture_slot(fx, SLOT(0, 3));
    uint64_t gpa = p.gfn * PAGE, size = p.npages * PAGE;
    int memfd = new_memfd(16 * PAGE);
    uint32_t fd = (uint32_t)memfd;
    CHECK_REJECTED(fx, set_ext(fx->vm, p.slot, F_PRIV, gpa, size, p.hva, fd, p.pgoff * PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, p.slot, F_PRIV, gpa + 0x1000 * PAGE, size, p.hva, fd, p.pgoff * PAGE),
                   HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, p.slot, 0, gpa, size, p.hva, fd, p.pgoff * PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_r2(fx->vm, p.slot, F_PRIV, gpa, size, p.hva, fd, p.pgoff * PAGE), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, p.slot, 0, gpa, size, p.hva), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, p.slot, F_LOG, gpa, size, p.hva), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_v1(fx->vm, p.slot, 0, gpa + 0x1000 * PAGE, size, p.hva), HVRT_EINVAL);
    /* A shared slot cannot turn private either. */
    CHECK_REJECTED(fx, set_ext(fx->vm, SLOT(0, 0), F_PRIV, 0, 16 * PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    /* Delete works, through v1 (no bit 2 needed), and the slot can be made again. */
    CHECK_RC(delete_slot(fx->vm, p.slot), 0);
    fixture_forget(fx, p.slot);
    fx->gen[0] += fx->nr_as;
    CHECK(fixture_intact(fx));
    fixture_add(fx, p);
    CHECK(fixture_intact(fx));
    close(memfd);
}

/* hvrt duplicates the private fd: the caller's may be closed at once; hvrt's shows in the
 * translation, and is closed on delete and on destroy. */
static void fd_ownership(void)
{
    hvrt_vm *vm = vm_new(NULL);
    int baseline = count_open_fds();
    int memfd = new_memfd(8 * PAGE);
    struct stat st;
    fstat(memfd, &st);
    struct slot_desc s = { SLOT(0, 7), F_PRIV, 0x40, 4, FX_HVA, 4 };
    CHECK_RC(set_ext(vm, s.slot, F_PRIV, s.gfn * PAGE, 4 * PAGE, FX_HVA, (uint32_t)memfd, 4 * PAGE), 0);
    CHECK_RC(count_open_fds(), baseline + 2);
    close(memfd);
    CHECK_RC(count_open_fds(), baseline + 1);
    CHECK(translates_as(vm, s.gfn + 2, &s, 2, &st));
    struct hvrt_translation t;
    CHECK_RC(hvrt_translate(vm, 0, s.gfn, &t), 0);
    CHECK(t.private_fd != memfd); /* hvrt's own fd, not the (closed) caller's */
    CHECK(fcntl(t.private_fd, F_GETFD) >= 0);
    CHECK_RC(delete_slot(vm, s.slot), 0);
    CHECK_RC(count_open_fds(), baseline);

    /* Destroy closes what slots still hold, in both address spaces. */
    memfd = new_memfd(8 * PAGE);
    CHECK_RC(set_ext(vm, SLOT(0, 1), F_PRIV, 0, 4 * PAGE, FX_HVA, (uint32_t)memfd, 0), 0);
    CHECK_RC(set_ext(vm, SLOT(1, 1), F_PRIV, 0, 4 * PAGE, FX_HVA, (uint32_t)memfd, 4 * PAGE), 0);
    close(memfd);
    CHECK_RC(count_open_fds(), baseline + 1); /* one duplicate for the file's two slots */
    hvrt_vm_destroy(vm);
    CHECK_RC(count_open_fds(), baseline);
}

/* Refused private requests take no fd, whichever check refuses them. */
static void refusals_take_no_fd(struct fixture *fx)
{
    int memfd = new_memfd(4 * PAGE);
    uint32_t fd = (uint32_t)memfd;
    int baseline = count_open_fds();
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, 0, PAGE, FX_HVA, fd, 0), HVRT_EEXIST);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, 1ull << 40, PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, 8 * PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_r2(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, fd, 0), HVRT_EINVAL);
    CHECK_REJECTED(fx, set_ext(fx->vm, SLOT(0, 3), F_PRIV, 0x300 * PAGE, 8 * PAGE, FX_HVA + 0x300000, fd, 2 * PAGE),
                   HVRT_EINVAL);
    CHECK_RC(count_open_fds(), baseline);
    close(memfd);
}

/* 1000 create/delete cycles of a private slot, and of a VM holding private slots: no fd left. */
static void no_leak_over_cycles(void)
{
    hvrt_vm *vm = vm_new(NULL);
    int memfd = new_memfd(4 * PAGE);
    int baseline = count_open_fds();
    int failures = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t slot = SLOT(i & 1, (uint32_t)i % 32764);
        failures += set_ext(vm, slot, F_PRIV, (uint64_t)i * PAGE, 2 * PAGE, FX_HVA, (uint32_t)memfd, 2 * PAGE) != 0;
        failures += delete_slot(vm, slot) != 0;
    }
    CHECK_RC(failures, 0);
    CHECK_RC(count_open_fds(), baseline);
    hvrt_vm_destroy(vm);
    for (int i = 0; i < 1000; i++) {
        vm = vm_new(NULL);
        failures += set_ext(vm, 0, F_PRIV, 0, 2 * PAGE, FX_HVA, (uint32_t)memfd, 0) != 0;
        failures += set_ext(vm, 1, F_PRIV, 2 * PAGE, 2 * PAGE, FX_HVA, (uint32_t)memfd, 2 * PAGE) != 0;
        hvrt_vm_destroy(vm);
    }
    CHECK_RC(failures, 0);
    CHECK_RC(count_open_fds(), baseline);
    close(memfd);
}

/* With no fd number left, the duplicate fails: -EMFILE, and nothing changes. */
static void fd_limit_gives_emfile(struct fixture *fx)
{
    int memfd = new_memfd(4 * PAGE);
    int baseline = count_open_fds();
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    /* Lower the limit to just above the highest open fd, then fill every hole below it. */
    int highest = memfd;
    for (int fd = memfd + 1; fd < memfd + 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            highest = fd;
    struct rlimit tight = { (rlim_t)highest + 1, old.rlim_max };
    if (setrlimit(RLIMIT_NOFILE, &tight) < 0) {
        SKIP("cannot lower RLIMIT_NOFILE");
        close(memfd);
        return;
    }
    int fillers[4096], nfill = 0;
    for (int fd; nfill < 4096 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
        fillers[nfill++] = fd;
    int rc = set_ext(fx->vm, NEW_SLOT, F_PRIV, NEW_GPA, PAGE, FX_HVA, (uint32_t)memfd, 0);
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    CHECK_RC(rc, HVRT_EMFILE);
    CHECK(translates_to_nothing(fx->vm, 0, NEW_GPA / PAGE));
    CHECK(fixture_intact(fx));
    CHECK(fixture_still_works(fx));
    CHECK_RC(count_open_fds(), baseline);
    close(memfd);
}

int main(void)
{
    struct fixture fx;
    fixture_setup(&fx);
    which_files(&fx);
    offset_and_size(&fx);
    private_slots_are_immutable(&fx);
    refusals_take_no_fd(&fx);
    fd_limit_gives_emfile(&fx);
    fixture_teardown(&fx);
    bindings();
    fd_ownership();
    no_leak_over_cycles();
    return harness_finish();
}

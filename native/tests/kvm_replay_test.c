/* kvm_replay_test: KVM's recorded answers, replayed against hvrt on every machine (no KVM needed).
 *
 * native/tests/lab/answers/KERNEL.txt holds, for one kernel, what kvm_diff_test sent it and what
 * it answered (written with HVRT_DIFF_RECORD=FILE; `./build.sh lab record` records every lab
 * kernel). Format, one record a line:
 *   kernel RELEASE | seed N | ops N         the run (information)
 *   pass vm_type T profile P nr_as N max_gpa_bits B user_addr_limit L region2 R
 *                                           a fresh KVM VM of type T; hvrt's probe gave profile P;
 *                                           B and L as that VM answered them (0: unknown)
 *   caps NAME=SYSTEM/VM ...                 what KVM_CHECK_EXTENSION said (information)
 *   file ROLE SIZE FLAGS                    a file the requests name: G<i> a guest_memfd, M a memfd
 *   op ENTRY SLOT FLAGS GPA SIZE HVA OFFSET FD RC
 *                                           ENTRY 0 v1, 1 region2, 2 _ext; FD the file's role: G<i>,
 *                                           M, F (another VM's guest_memfd), C (a closed number),
 *                                           O (an open fd of another kind); RC the kernel's answer
 *   end                                     the pass is over
 * Each pass runs on an hvrt VM of type T under profile P with those limits; a memfd of the size
 * stands in for each guest_memfd (hvrt_test_stand_in_guest_memfd). Every answer must be the
 * kernel's, but a private slot naming F that the kernel refused and hvrt took (hvrt cannot tell
 * whose guest_memfd a file is: kvm_diff_test's known gap), which is taken back and counted apart. HVRT_ANSWERS_DIR overrides the folder. */
#include <dirent.h>
#include <errno.h>
#include <hvrt_testing.h>
#include <inttypes.h>
#include <sys/mman.h>
#include "test_util.h"

#define MAX_FILES 16

struct replay {
    const char *path;
    hvrt_vm *vm;
    int gm[MAX_FILES]; /* G<i> */
    int ngm;
    int memfd, devnull, closed;
    int foreign_gm; /* F: kvm_diff_test's other VM's guest_memfd (4 MiB) */
    long ops, mismatches, foreign, passes;
};

static int make_file(uint64_t size, bool stand_in)
{
    int fd = new_memfd(size);
    if (stand_in && hvrt_test_stand_in_guest_memfd(fd) != 0)
        FATAL("hvrt_test_stand_in_guest_memfd");
    return fd;
}

static void end_pass(struct replay *r)
{
    if (r->vm)
        hvrt_vm_destroy(r->vm);
    r->vm = NULL;
    for (int i = 0; i < r->ngm; i++)
        close(r->gm[i]);
    r->ngm = 0;
}

static void begin_pass(struct replay *r, const char *line)
{
    unsigned type, nr_as, bits, region2;
    uint32_t profile;
    uint64_t limit;
    if (sscanf(line, "pass vm_type %u profile %" SCNx32 " nr_as %u max_gpa_bits %u user_addr_limit %" SCNx64 " region2 %u",
               &type, &profile, &nr_as, &bits, &limit, &region2) != 6)
        FATAL("%s: bad pass line: %s", r->path, line);
    struct hvrt_vm_config c = config_for(type);
    c.kvm_profile = profile;
    c.nr_address_spaces = nr_as;
    c.max_gpa_bits = bits;
    c.user_addr_limit = limit;
    int rc = hvrt_vm_create(&c, &r->vm);
    if (rc != 0)
        FATAL("%s: hvrt_vm_create(type %u, profile %#x, %u address spaces, %u bits): %d", r->path, type, profile,
              nr_as, bits, rc);
    /* The recorded kernel had REGION2 exactly where the profile says it has. */
    struct hvrt_kvm_profile q = { .size = sizeof q };
    CHECK_RC(hvrt_vm_kvm_profile(r->vm, &q), 0);
    CHECK(!!(q.features & HVRT_PROFILE_F_REGION2) == !!region2);
    r->passes++;
}

static void add_file(struct replay *r, const char *line)
{
    char role[8];
    uint64_t size, flags;
    if (sscanf(line, "file %7s %" SCNu64 " %" SCNu64, role, &size, &flags) != 3)
        FATAL("%s: bad file line: %s", r->path, line);
    if (role[0] == 'G') {
        if (r->ngm == MAX_FILES || atoi(role + 1) != r->ngm)
            FATAL("%s: guest_memfds out of order: %s", r->path, line);
        r->gm[r->ngm++] = make_file(size, true);
    }
}

static int fd_of(struct replay *r, const char *role)
{
    switch (role[0]) {
    case 'G': {
        int i = atoi(role + 1);
        if (i < 0 || i >= r->ngm)
            FATAL("%s: no file %s", r->path, role);
        return r->gm[i];
    }
    case 'M': return r->memfd;
    case 'F': return r->foreign_gm;
    case 'C': return r->closed;
    case 'O': return r->devnull;
    default: FATAL("%s: unknown fd role %s", r->path, role);
    }
}

static void replay_op(struct replay *r, const char *line)
{
    int entry, want;
    unsigned slot, flags;
    uint64_t gpa, size, hva, offset;
    char role[8];
    if (sscanf(line, "op %d %x %x %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %7s %d", &entry, &slot, &flags, &gpa,
               &size, &hva, &offset, role, &want) != 9 || !r->vm)
        FATAL("%s: bad op line: %s", r->path, line);
    struct kvm_userspace_memory_region2 q = region2_of(slot, flags, gpa, size, hva, (uint32_t)fd_of(r, role), offset);
    int got;
    if (entry == 0) {
        struct kvm_userspace_memory_region v1;
        memcpy(&v1, &q, sizeof v1);
        got = hvrt_set_user_memory_region(r->vm, &v1);
    } else if (entry == 1) {
        got = hvrt_set_user_memory_region2(r->vm, &q);
    } else {
        struct kvm_userspace_memory_region_ext ext;
        memset(&ext, 0, sizeof ext);
        memcpy(&ext.region, &q, sizeof ext.region);
        ext.private_offset = offset;
        ext.private_fd = q.guest_memfd;
        got = hvrt_set_user_memory_region_ext(r->vm, &ext);
    }
    if (role[0] == 'F' && got == 0 && want == HVRT_EINVAL) {
        /* kvm_diff_test's known gap: hvrt cannot tell another VM's guest_memfd from the VM's own
         * (a stand-in here), so it took what the kernel refused; take it back, count it apart. */
        CHECK_RC(set_v1(r->vm, slot, 0, 0, 0, 0), 0);
        r->foreign++;
        return;
    }
    r->ops++;
    if (got != want && r->mismatches++ < 20)
        fprintf(stderr, "MISMATCH %s: kernel %d, hvrt %d: %s", r->path, want, got, line);
    CHECK_RC(got, want);
}

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        FATAL("%s: %s", path, strerror(errno));
    struct replay r = { .path = path, .memfd = make_file(16 << 20, false), .foreign_gm = make_file(4 << 20, true),
                        .closed = (int)closed_fd_number() };
    r.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    char line[512], kernel[128] = "?";
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "kernel ", 7))
            sscanf(line, "kernel %127s", kernel);
        else if (!strncmp(line, "pass ", 5))
            begin_pass(&r, line);
        else if (!strncmp(line, "file ", 5))
            add_file(&r, line);
        else if (!strncmp(line, "op ", 3))
            replay_op(&r, line);
        else if (!strncmp(line, "end", 3))
            end_pass(&r);
    }
    end_pass(&r);
    fclose(f);
    close(r.memfd);
    close(r.foreign_gm);
    close(r.devnull);
    printf("%s (kernel %s): %ld passes, %ld answers replayed, %ld mismatches, %ld about another VM's guest_memfd left out\n",
           path, kernel, r.passes, r.ops, r.mismatches, r.foreign);
    CHECK(r.passes > 0 && r.ops > 0);
}

int main(void)
{
    const char *dir = getenv("HVRT_ANSWERS_DIR");
    if (!dir || !*dir)
        dir = "native/tests/lab/answers";
    DIR *d = opendir(dir);
    if (!d)
        FATAL("%s: %s (run from the repository's root, or set HVRT_ANSWERS_DIR)", dir, strerror(errno));
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".txt"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        replay_file(path);
        files++;
    }
    closedir(d);
    CHECK(files > 0);
    return harness_finish();
}

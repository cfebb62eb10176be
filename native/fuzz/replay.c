/*
 * abi_replay: runs abi_fuzz's decoder on files, without libFuzzer (gcc, no sanitizer), so the
 * corpus is a plain test: ./abi_replay native/fuzz/corpus [more files or directories].
 * Each input runs as libFuzzer would run it; a disagreement with the model aborts with the
 * "hvrt-fuzz MISMATCH" message after the file's name. Ends with the harness's summary line.
 * HVRT_FUZZ_STATS=1 prints, per op, how many calls ended in each result class.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void abi_fuzz_stats(FILE *f);

static int g_files, g_verbose;
static const char *g_current;

/* A mismatch aborts: name the input it came from. */
static void on_abort(int sig)
{
    (void)sig;
    static const char m[] = "abi_replay: the input was ";
    ssize_t w = write(2, m, sizeof m - 1);
    w += write(2, g_current, strlen(g_current));
    w += write(2, "\n", 1);
    (void)w;
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (g_verbose)
        fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    g_current = path;
    LLVMFuzzerTestOneInput(buf, n);
    g_files++;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            run_file(p);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    const char *v = getenv("HVRT_FUZZ_VERBOSE");
    g_verbose = v && *v == '1';
    signal(SIGABRT, on_abort);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        run_path(argv[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const char *st = getenv("HVRT_FUZZ_STATS");
    if (st && *st == '1')
        abi_fuzz_stats(stdout);
    printf("abi_replay: %d inputs agreed with the model in %.2f s\n", g_files,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("hvrt-c: %d passed, 0 failed, 0 skipped\n", g_files);
    return g_files > 0 ? 0 : 1;
}

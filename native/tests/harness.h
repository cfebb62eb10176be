/* A minimal test harness for the C ABI tests: CHECK counts, SKIP explains, and the last line
 * is "hvrt-c: N passed, N failed, N skipped", which build.sh adds to its closing line. */
#ifndef HVRT_TEST_HARNESS_H
#define HVRT_TEST_HARNESS_H
#include <stdio.h>
#include <stdlib.h>

static int h_passed, h_failed, h_skipped;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            h_passed++;                                                              \
        } else {                                                                     \
            h_failed++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                            \
    } while (0)

/* CHECK_RC(expr, expected): an int-returning call must give exactly `expected`. */
#define CHECK_RC(expr, expected)                                                     \
    do {                                                                             \
        long long _got = (long long)(expr), _want = (long long)(expected);           \
        if (_got == _want) {                                                         \
            h_passed++;                                                              \
        } else {                                                                     \
            h_failed++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, \
                    #expr, _got, _want);                                             \
        }                                                                            \
    } while (0)

#define SKIP(why)                                                                    \
    do {                                                                             \
        h_skipped++;                                                                 \
        printf("SKIP %s: %s\n", __func__, why);                                      \
    } while (0)

static inline int harness_finish(void)
{
    printf("hvrt-c: %d passed, %d failed, %d skipped\n", h_passed, h_failed, h_skipped);
    return h_failed == 0 ? 0 : 1;
}
#endif

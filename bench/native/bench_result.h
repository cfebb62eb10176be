/* Machine-readable result rows for bench/collect.py (format: bench/README.md, "Result rows").
 * With HVRT_BENCH_RESULTS=1 in the environment each harness also prints, on stdout,
 *   RESULT<TAB>family<TAB>workload<TAB>parameters<TAB>path<TAB>role<TAB>value<TAB>unit
 * role: hvrt (a path through hvrt), baseline (what a VMM author would write instead) or info.
 * Without the variable nothing changes in what a harness prints or measures. */
#ifndef HVRT_BENCH_RESULT_H
#define HVRT_BENCH_RESULT_H

#include <stdio.h>
#include <stdlib.h>

static inline int bench_results_on(void)
{
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("HVRT_BENCH_RESULTS");
        on = v != NULL && *v != 0 && *v != '0';
    }
    return on;
}

static inline void bench_result(const char *family, const char *workload, const char *params, const char *path,
                                const char *role, double value, const char *unit)
{
    if (!bench_results_on())
        return;
    printf("RESULT\t%s\t%s\t%s\t%s\t%s\t%.6g\t%s\n", family, workload, params, path, role, value, unit);
}

#endif

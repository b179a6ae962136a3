/* bench_util.h - timing helpers shared by the benchmark programs. */
#ifndef FR_BENCH_UTIL_H
#define FR_BENCH_UTIL_H

#include <time.h>

/* Monotonic seconds. */
static inline double fr_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* qsort comparator for doubles, ascending (medians and percentiles). */
static inline int fr_bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif

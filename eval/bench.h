/* bench.h - the offline A/B harness (`feedrank bench ab`, `feedrank tune`): loads a labelled data
 * set (dataset.h), builds its cases, ranks them through the served ranker (ranker.h) with every
 * ranker asked for, tunes on one half, and reports on the other (report.md to the caller's
 * stream, and with out_dir report.json and plots). It prints nothing itself: notes and progress go
 * to the caller's callbacks, errors to its message buffer; the command decides where they go. */
#ifndef FR_BENCH_H
#define FR_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

#define FR_BENCH_MAX_RANKERS 16

typedef struct {
    const char *dataset, *data;                                                   /* loader name and path (dataset.h) */
    const char *model, *device;                                                   /* embedding model folder (NULL: default) and backend */
    const char *out_dir, *cache;                                                  /* report folder (NULL: the report stream only); embedding cache */
    const char *sampler, *ties;                                                   /* "uniform"|"popularity"; "against"|"order" */
    const char *dump_cases, *dump_rankings, *save_profile, *frontier, *seq_model; /* NULL: not asked */
    const char *specs[FR_BENCH_MAX_RANKERS];                                      /* specs[0] is A, the others B */
    int n_specs;
    long distractors, negatives, seed, cold_k, rounds, limit;
    double min_cold;
    const char *cmdline; /* recorded in the report, shell-quoted */
    FILE *report;        /* where report.md goes (the caller's stream; required) */
    /* What the harness says while it runs; either may be NULL (not told). note: one line of
     * information, no newline ("ranker embed ...", "report written to DIR/report.md", a warning).
     * progress: a long step, `what` done/total, called often (the callee throttles). */
    void (*note)(void *ctx, const char *line);
    void (*progress)(void *ctx, const char *what, long done, long total);
    void *ctx;
} fr_bench_options;

/* Runs the comparison and writes its report. On failure, err says why and *refused is 1 when the
 * rankers asked for cannot run (an unknown or malformed ranker, one that does not fit the data
 * set's mode or lacks --seq-model: the command line's fault), 0 otherwise. */
fr_status fr_bench_ab(const fr_bench_options *o, int *refused, char *err, size_t errcap);

#endif

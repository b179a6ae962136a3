/* bench.h - the offline A/B harness (`feedrank bench ab`, `feedrank tune`): loads a labelled data
 * set (dataset.h), builds its cases, ranks them through the served ranker (ranker.h) with every
 * ranker asked for, tunes on one half, and reports on the other (report.md on stdout, and with
 * out_dir report.json and plots). Progress and errors go to stderr. */
#ifndef FR_BENCH_H
#define FR_BENCH_H

#define FR_BENCH_MAX_RANKERS 16

typedef struct {
    const char *dataset, *data;                                                   /* loader name and path (dataset.h) */
    const char *model, *device;                                                   /* embedding model folder (NULL: default) and backend */
    const char *out_dir, *cache;                                                  /* report folder (NULL: stdout only); embedding cache */
    const char *sampler, *ties;                                                   /* "uniform"|"popularity"; "against"|"order" */
    const char *dump_cases, *dump_rankings, *save_profile, *frontier, *seq_model; /* NULL: not asked */
    const char *specs[FR_BENCH_MAX_RANKERS];                                      /* specs[0] is A, the others B */
    int n_specs;
    long distractors, negatives, seed, cold_k, rounds, limit;
    double min_cold;
    const char *cmdline; /* recorded in the report, shell-quoted */
} fr_bench_options;

/* Runs the comparison; returns the process exit code (0, 1 on failure, 2 on bad rankers). */
int fr_bench_ab(const fr_bench_options *o);

#endif

/* bench_internal.h - the A/B harness's shared state (eval/bench.c runs rankers, eval/bench_report.c
 * writes what they scored). Not a public header: the command line uses bench.h. */
#ifndef FR_BENCH_INTERNAL_H
#define FR_BENCH_INTERNAL_H

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bm25.h"
#include "covis.h"
#include "atomic_file.h"
#include "json_strict.h"
#include "dataset.h"
#include "encoder.h"
#include "hash.h"
#include "item_store.h"
#include "metrics.h"
#include "model_config.h"
#include "priors.h"
#include "profile.h"
#include "ranker.h"
#include "bench.h"

#define MAX_PARTS 8
#define MAX_RANKERS FR_BENCH_MAX_RANKERS

typedef enum { RK_RANDOM,
               RK_ORDER,
               RK_BM25,
               RK_EMBED,
               RK_POP,
               RK_COVIS,
               RK_BLEND,
               RK_RRF,
               RK_GBLEND,
               RK_LCOVIS,
               RK_SEQ,
               RK_PROFILE } rk_kind;

/* One parameter setting's signals for every case (case offsets, like c_items): raw, normalised
 * (by o's normalisation), and the log's count per candidate; NULL = absent. */
typedef struct {
    fr_rank_options o;
    int window;
    float *raw[FR_SIG_COUNT], *norm[FR_SIG_COUNT];
    uint32_t *seen;
} sigset;

typedef struct rk rk;
struct rk {
    rk_kind kind;
    char name[160];
    /* signal rankers, blends and profiles: the ranker's options (signal parameters, weights, gate,
     * boost) and the priors window of the store they rank on */
    fr_rank_options o;
    int window;
    sigset ss; /* the signals the options were last computed for */
    /* covis (the harness's own co-visitation, not a served signal) */
    double half_life;
    fr_covis_params cp;
    fr_covis *covis;
    int n_parts;
    rk *parts[MAX_PARTS];
    double weights[MAX_PARTS];
    int weights_given;
    int gate_given;  /* log gate and cold boost fixed (a profile), not tuned */
    char tuned[400]; /* what tuning chose, for the report */
    /* results */
    float *scores;  /* per case, per candidate (case offsets) */
    double *m[5];   /* per case: ndcg5, ndcg10, hr1, hr10, mrr */
    double seconds; /* tuning and scoring time */
};

typedef struct {
    int window;
    char path[4200];
    fr_store *store;
    fr_ranker *ranker;
} bench_store;

typedef struct {
    fr_dataset *d;
    int mode;
    int n_cases;
    int *c_off; /* candidates of case k: c_items[c_off[k] .. c_off[k+1]-1] */
    int *c_items;
    float *c_grades;
    int *c_src;   /* query or user index */
    int *c_tune;  /* 1 = tuning half */
    int *c_cold;  /* feed: target seen < cold_k times in the log */
    float *c_pos; /* search: position in the dataset (for "order") */
    float *item_vecs, *query_vecs;
    int dim;
    double *pop;
    uint64_t seed;
    int ties_order;             /* 1: break score ties by candidate order instead of against relevance */
    double min_cold;            /* gblend tuning: only settings whose cold-slice NDCG@10 (tuning half) reaches this */
    double last_cold;           /* cold-slice NDCG@10 of the last run_ranker pass */
    double h_all[2], h_cold[2]; /* last pass: NDCG@10 per half (index = c_tune), all and cold cases */
    FILE *frontier;             /* --frontier: every grid setting's results (NULL: not asked) */
    const char *frontier_header_for;
    const char *frontier_path;
    int frontier_parts;                      /* parts of the blend the frontier file describes (its column layout) */
    rk *done[MAX_RANKERS * (MAX_PARTS + 1)]; /* rankers already tuned and scored, reused by name */
    int n_done;
    /* the served path: stores of the dataset's items with priors per window, and their rankers */
    bench_store stores[8];
    int n_stores;
    const char *cache;
    uint64_t data_hash, model_fp;
    char model_name[128];
    uint8_t *seq_model; /* --seq-model: the model section attached to every store */
    size_t seq_model_size;
    float zero_query[1];
    /* sized scratch (grows to the largest case) */
    fr_candidate *req_cands;
    fr_history_item *req_hist;
    int req_cap;
    int *iwork;
    int work_cap;
    const fr_bench_options *opt; /* the caller's report stream and callbacks */
} bench;

/* bench.c: a note to the caller (printf-style; nothing when it gave no callback) */
void fr_bench_note(const bench *B, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* bench_report.c */
const char *fr_bench_case_label(const bench *B, int k);
/* report.md to B->opt->report (and with out_dir report.md, report.json and plots there) */
void fr_bench_report(bench *B, rk **rks, int nr, int rounds, const char *out_dir, const char *cmdline, const char *model,
                     const char *summary, int distractors, int negatives, const char *sampler, int cold_k);
int fr_bench_write_rankings(bench *B, rk **rks, int nr, const char *path, char *err, size_t errcap);
int fr_bench_save_profile(bench *B, rk **rks, int nr, const char *path, const char *dataset, const char *data, int seed,
                          char *err, size_t errcap);

#endif

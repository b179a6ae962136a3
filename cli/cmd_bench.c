/* cmd_bench.c - `feedrank bench ab` and `feedrank tune`: arguments in, the A/B harness (eval/bench.h)
 * does the rest; this file decides what goes where: the report on stdout, notes, progress and
 * errors on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#define MAX_RANKERS FR_BENCH_MAX_RANKERS

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank bench ab --dataset NAME --data PATH --a RANKER --b RANKER [--b RANKER ...] [options]\n"
            "  --dataset homedepot|recbole|wands|jsonl-search|jsonl-feed\n"
            "  --data PATH            homedepot: train.csv; recbole: NAME.SPLIT.inter (NAME.item beside it);\n"
            "                         wands: the dataset/ folder; jsonl-*: the JSONL file\n"
            "  --a RANKER, --b RANKER rankers (A is the baseline; up to 15 B rankers):\n"
            "      random             seeded random order\n"
            "      order              the dataset's own order (search)\n"
            "      bm25               Okapi BM25 of the query over item texts, k1/b tuned (search)\n"
            "      embed              cosine of the query (search) or of the recency-weighted mean of the\n"
            "                         history items (feed, half-life tuned) to each item, by --model\n"
            "      popularity         interactions in the file's histories (feed)\n"
            "      logcovis           co-visitation exactly as the ranker computes it from log priors (feed; priors\n"
            "                         window and history half-life tuned); what tune and profiles use\n"
            "      covis              item-to-item co-visitation with the history (feed; window, normalisation\n"
            "                         and history half-life tuned)\n"
            "      blend(R1,R2,...)   z-score blend, weights tuned on a 0.1 grid; blend(R1:0.7,R2:0.3) fixes them\n"
            "      rrf(R1,R2,...)     reciprocal-rank fusion (k = 60), optional weights R:w\n"
            "      seq                the sequential model's score alone (feed; needs --seq-model)\n"
            "      profile:FILE       a ranking profile (feedrank tune) ranked by the served ranker as written: every\n"
            "                         option it holds (weights, normalisation, gate, boost, BM25 k1/b), not re-tuned\n"
            "      gblend(R1,R2,...)  blend whose log parts (popularity, covis) are scaled per candidate by\n"
            "                         g = seen / (seen + G), seen = the candidate's count in the log, and its content\n"
            "                         parts raised by (1 - g) x C; weights, G and C tuned together\n"
            "  --model DIR            embedding model (default: models/all-MiniLM-L6-v2)\n"
            "  --device cpu|cuda|auto\n"
            "  --distractors N        search: add N random catalogue items per query, counted irrelevant (slate mode)\n"
            "  --negatives N          feed: sampled negatives per user (default 99)\n"
            "  --sampler uniform|popularity  feed: how negatives are drawn (default uniform)\n"
            "  --seed S               sampling, random ranker and bootstrap seed (default 42)\n"
            "  --cold K               feed: cold-start slice = targets seen < K times in the log (default 5)\n"
            "  --bootstrap N          bootstrap rounds (default 1000)\n"
            "  --limit N              use only the first N queries/users (quick runs)\n"
            "  --out DIR              write report.md, report.json and plots (PNG/SVG via gnuplot) there\n"
            "  --cache DIR            embedding cache (default: build/bench-cache)\n"
            "  --ties against|order   how tied scores are ordered: against the relevant item (default,\n"
            "                         pessimistic) or by candidate order (dataset order in search mode)\n"
            "  --dump-cases FILE      write every case's candidates and grades as JSONL (what the rankers saw)\n"
            "  --dump-rankings FILE   write every case's ranking by each ranker (ids, best first, under --ties) and its\n"
            "                         NDCG@10 as JSONL: what the served path must reproduce (tests/test_one_path.sh)\n"
            "  --seq-model FILE       a sequential model (feedrank train --model-out) for the seq ranker and profiles\n"
            "                         with a sequential weight; trained on a store of this catalogue in the loader's\n"
            "                         order (feedrank index --format recbole of the NAME.item file)\n"
            "  --save-profile FILE    write the first B blend/gblend's tuned weights as a ranking profile\n"
            "  --min-cold V           gblend tuning (feed): choose the best setting whose cold-slice NDCG@10 on the\n"
            "                         tuning half is >= V (a floor for items the log barely knows)\n"
            "  --frontier FILE        write every blend grid setting with its NDCG@10 (all / cold-start) on the tuning\n"
            "                         half and on the report half, tab-separated: the trade-off curve between the\n"
            "                         overall metric and new items (scores the report half too: about 2x the tuning time;\n"
            "                         the choice still sees the tuning half only)\n");
}

static void bench_note(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "feedrank bench: %s\n", line);
}

/* Progress of a long step on stderr: a bar redrawn in place on a terminal, else a line every 10 s. */
typedef struct {
    int tty;
    double last; /* when the last line was shown; 0: none since the step started */
} bench_progress_state;

static void bench_progress(void *ctx, const char *what, long done, long total) {
    bench_progress_state *p = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const double now = ts.tv_sec + ts.tv_nsec * 1e-9;
    const int last = done >= total;
    if (p->tty) {
        if (!last && now - p->last < 0.2) return;
        const int width = 30, fill = total > 0 ? (int)(width * done / total) : width;
        fprintf(stderr, "\r  %-40.40s [%.*s%*s] %ld/%ld%s", what, fill, "##############################", width - fill, "", done, total, last ? "\n" : "");
    } else {
        if (!last && now - p->last < 10) return;
        if (last && p->last == 0) return; /* finished within 10 s: nothing to say */
        fprintf(stderr, "feedrank bench: %s: %ld/%ld (%.0f%%)\n", what, done, total, total > 0 ? 100.0 * done / total : 100.0);
    }
    p->last = last ? 0 : now;
    fflush(stderr);
}

int fr_cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "ab") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            bench_usage(stdout);
            return 0;
        }
        fprintf(stderr, "feedrank bench: expected 'ab'\n");
        bench_usage(stderr);
        return 2;
    }
    fr_bench_options o = {0};
    const char *dataset = NULL, *data = NULL, *model = NULL, *device = "cpu", *out_dir = NULL, *cache = "build/bench-cache";
    const char *sampler = "uniform", *a_spec = NULL, *b_specs[MAX_RANKERS], *dump = NULL, *ties = "against";
    const char *save_profile = NULL, *min_cold_s = NULL, *frontier = NULL, *seq_model = NULL, *dump_rankings = NULL;
    int nb = 0;
    long distractors = 0, negatives = 99, seed = 42, cold_k = 5, rounds = 1000, limit = 0;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL, *num = NULL;
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--dataset", &dataset)) || (r = fr_cli_value(argc, argv, &i, "--data", &data)) ||
            (r = fr_cli_value(argc, argv, &i, "--model", &model)) || (r = fr_cli_value(argc, argv, &i, "--device", &device)) ||
            (r = fr_cli_value(argc, argv, &i, "--out", &out_dir)) || (r = fr_cli_value(argc, argv, &i, "--cache", &cache)) ||
            (r = fr_cli_value(argc, argv, &i, "--sampler", &sampler)) || (r = fr_cli_value(argc, argv, &i, "--a", &a_spec)) ||
            (r = fr_cli_value(argc, argv, &i, "--dump-cases", &dump)) || (r = fr_cli_value(argc, argv, &i, "--ties", &ties)) ||
            (r = fr_cli_value(argc, argv, &i, "--save-profile", &save_profile)) || (r = fr_cli_value(argc, argv, &i, "--min-cold", &min_cold_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--frontier", &frontier)) || (r = fr_cli_value(argc, argv, &i, "--seq-model", &seq_model)) ||
            (r = fr_cli_value(argc, argv, &i, "--dump-rankings", &dump_rankings))) {
            if (r < 0) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--b", &v))) {
            if (r < 0) return 2;
            if (nb == MAX_RANKERS - 1) {
                fprintf(stderr, "feedrank bench: at most %d --b rankers\n", MAX_RANKERS - 1);
                return 2;
            }
            b_specs[nb++] = v;
        } else if ((r = fr_cli_value(argc, argv, &i, "--distractors", &num))) {
            if (r < 0 || fr_cli_int("--distractors", num, 0, 100000, &distractors)) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--negatives", &num))) {
            if (r < 0 || fr_cli_int("--negatives", num, 1, 100000, &negatives)) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--seed", &num))) {
            if (r < 0 || fr_cli_int("--seed", num, 0, 2147483647, &seed)) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--cold", &num))) {
            if (r < 0 || fr_cli_int("--cold", num, 1, 1000000, &cold_k)) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--bootstrap", &num))) {
            if (r < 0 || fr_cli_int("--bootstrap", num, 0, 100000, &rounds)) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--limit", &num))) {
            if (r < 0 || fr_cli_int("--limit", num, 1, 100000000, &limit)) return 2;
        } else if (strcmp(argv[i], "--help") == 0) {
            bench_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank bench ab: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dataset || !data || !a_spec || nb == 0) {
        fprintf(stderr, "feedrank bench ab: --dataset, --data, --a and --b are required\n");
        bench_usage(stderr);
        return 2;
    }
    if (strcmp(ties, "against") != 0 && strcmp(ties, "order") != 0) {
        fprintf(stderr, "feedrank bench ab: --ties must be against or order\n");
        return 2;
    }
    if (strcmp(sampler, "uniform") != 0 && strcmp(sampler, "popularity") != 0) {
        fprintf(stderr, "feedrank bench ab: --sampler must be uniform or popularity\n");
        return 2;
    }
    char cmdline[8192] = "feedrank bench";

    for (int i = 1; i < argc; i++) { /* shell-quoted, so that it can be pasted: 'it'\''s' */
        size_t l = strlen(cmdline);
        int plain = argv[i][0] != 0;
        for (const char *c = argv[i]; *c; c++) plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-_./:=,@%+", *c);
        if (plain) {
            snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]);
            continue;
        }
        if (l + 4 < sizeof cmdline) {
            cmdline[l++] = ' ';
            cmdline[l++] = '\'';
            cmdline[l] = 0;
        }
        for (const char *c = argv[i]; *c && l + 6 < sizeof cmdline; c++) {
            if (*c == '\'') {
                memcpy(cmdline + l, "'\\''", 4);
                l += 4;
            } else cmdline[l++] = *c;
            cmdline[l] = 0;
        }
        if (l + 2 < sizeof cmdline) {
            cmdline[l++] = '\'';
            cmdline[l] = 0;
        }
    }
    o.dataset = dataset;
    o.data = data;
    o.model = fr_cli_model_dir(model);
    o.device = device;
    o.out_dir = out_dir;
    o.cache = cache;
    o.sampler = sampler;
    o.dump_cases = dump;
    o.ties = ties;
    o.save_profile = save_profile;
    o.frontier = frontier;
    o.seq_model = seq_model;
    o.dump_rankings = dump_rankings;
    o.cmdline = cmdline;
    o.specs[0] = a_spec;
    for (int i = 0; i < nb; i++) o.specs[i + 1] = b_specs[i];
    o.n_specs = nb + 1;
    o.distractors = distractors;
    o.negatives = negatives;
    o.seed = seed;
    o.cold_k = cold_k;
    o.rounds = rounds;
    o.limit = limit;
    if (min_cold_s) {
        char *e;
        o.min_cold = strtod(min_cold_s, &e);
        if (*e || !(o.min_cold >= 0 && o.min_cold <= 1)) {
            fprintf(stderr, "feedrank bench ab: --min-cold must be a number in [0, 1]\n");
            return 2;
        }
    }
    bench_progress_state ps = {isatty(2), 0};
    o.report = stdout;
    o.note = bench_note;
    o.progress = bench_progress;
    o.ctx = &ps;
    char err[1024];
    int refused = 0;
    if (fr_bench_ab(&o, &refused, err, sizeof err) != FR_OK) {
        fprintf(stderr, "feedrank bench ab: %s\n", err);
        return refused ? 2 : 1;
    }
    if (save_profile) fprintf(stderr, "feedrank bench ab: profile written to %s\n", save_profile);
    return 0;
}

int fr_cmd_tune(int argc, char **argv) {
    const char *dataset = NULL, *out = NULL, *report = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dataset") == 0 && i + 1 < argc) dataset = argv[i + 1];
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[i + 1];
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) report = argv[i + 1];
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: feedrank tune --dataset NAME --data PATH --out PROFILE.json [--report DIR] [--min-cold V] [--frontier FILE] [bench ab options]\n"
                   "  Tunes a ranking profile on the tuning half of the dataset (grid search over the signal\n"
                   "  weights, the log gate and the cold-item content boost, by NDCG@10) and reports it on the\n"
                   "  other half against the baseline (popularity in feed mode, BM25 in search mode), with\n"
                   "  bootstrap intervals, in DIR (default PROFILE.json.report/). Feed: gblend(embed,popularity,logcovis);\n"
                   "  search: gblend(embed,bm25). Deterministic for a given --seed.\n"
                   "  --min-cold V     feed: the best setting whose tuning-half cold-start NDCG@10 is >= V (keep a margin:\n"
                   "                   on Games the tuning half reads 0.015-0.02 above held-out cases)\n"
                   "  --frontier FILE  every grid setting's NDCG@10 (all / cold-start) on both halves, tab-separated\n");
            return 0;
        }
    }
    if (!dataset || !out) {
        fprintf(stderr, "feedrank tune: --dataset and --out PROFILE.json are required (see --help)\n");
        return 2;
    }
    int search = strcmp(dataset, "homedepot") == 0 || strcmp(dataset, "wands") == 0 || strcmp(dataset, "jsonl-search") == 0;
    char rep[4096];
    snprintf(rep, sizeof rep, "%s.report", out);
    char **av = calloc((size_t)argc + 12, sizeof *av);
    if (!av) return 1;
    int n = 0;
    av[n++] = "bench";
    av[n++] = "ab";
    av[n++] = "--a";
    av[n++] = search ? "bm25" : "popularity";
    av[n++] = "--b";
    av[n++] = search ? "gblend(embed,bm25)" : "gblend(embed,popularity,logcovis)";
    av[n++] = "--save-profile";
    av[n++] = (char *)out;
    av[n++] = "--out";
    av[n++] = report ? (char *)report : rep;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--report") == 0) && i + 1 < argc) {
            i++;
            continue;
        }
        av[n++] = argv[i];
    }
    int rc = fr_cmd_bench(n, av);
    free(av);
    return rc;
}

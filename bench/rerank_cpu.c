/* rerank_cpu.c - re-rank throughput: one request = parse JSON, embed a 16-token query (or use a
 * 10-item history), score 500 candidates from a 100,000-item store, blend, sort, write JSON.
 *
 *   rerank_cpu [--model DIR] [--device cpu|cuda] [--items N] [--candidates N] [--seconds S] [--seq-only]
 *
 * The store holds random unit vectors: scoring speed does not depend on their values. Requests
 * run one at a time (latency) and as batches of 32 through the batch path `feedrank rerank`
 * uses (queries embedded together). Prints JSON lines with medians.
 * The store also carries log priors from a synthetic log (200,000 users x 10 events over a skewed
 * item distribution, 100 neighbours per item); history requests run twice, without and with the
 * popularity + co-visitation signals ("log": true), to price the log signals, and a randomly
 * initialised sequential model (seqmodel.h, default size: width 64, window 50, 2 blocks): history
 * requests of 10 and of 50 items run without and with the sequential signal ("seq": true), to
 * price it (its cost does not depend on the parameters' values). Each priced variant runs
 * interleaved with its baseline (one request of each in turn), so load on the machine falls on
 * both medians alike; rank_cpu_median_ms is the ranking step's CPU time on its thread. Each priced
 * pair also prints a "rerank_added" line: the difference of the two CPU medians and the median of
 * the per-turn differences (a request and its baseline ran back to back, so load hits both alike).
 * --seq-only runs the history requests only (no query, no unknown candidates): the sequential
 * signal's cost in a quarter of the time.
 * Last, candidates the store does not know, ranked by the text the request gives (issue #20 part 1):
 * a 16-token query and 500 candidates of which 10 or 100 are unknown ids with a 12-word title,
 * through the batch path (rank_batch.h: query and titles embedded before ranking), against the same
 * request with those candidates stored (no text), the two alternating in the same run, on one
 * OpenMP thread (the server's default). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "bench_util.h"
#include "item_store.h"
#include "rank_batch.h"
#include "priors.h"
#include "ranker.h"
#include "request_json.h"
#include "seqmodel_store.h"

static const char *WORDS[] = {"cord", "drill", "light", "water", "steel", "black", "white", "door", "garden", "hose",
                              "kitchen", "sink", "wall", "paint", "brush", "wood", "floor", "tile", "lamp", "table"};

/* CPU time of the calling thread: what fr_rank costs, apart from time the machine gave others */
static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *make_request(int i, int n_items, int n_cand, int with_query, int with_log, int n_hist, int with_seq) {
    size_t cap = (size_t)n_cand * 40 + 4096, len = 0;
    char *s = malloc(cap);
    unsigned x = (unsigned)i * 2654435761u + 7;
    len += (size_t)snprintf(s + len, cap - len, "{\"request_id\":\"r%d\",\"context\":{", i);
    if (with_query) {
        len += (size_t)snprintf(s + len, cap - len, "\"query\":\"");
        for (int w = 0; w < 14; w++) {
            x = x * 1103515245u + 12345u;
            len += (size_t)snprintf(s + len, cap - len, "%s%s", w ? " " : "", WORDS[(x >> 16) % 20]);
        }
        len += (size_t)snprintf(s + len, cap - len, "\"");
    } else {
        len += (size_t)snprintf(s + len, cap - len, "\"history\":[");
        for (int h = 0; h < n_hist; h++) {
            x = x * 1103515245u + 12345u;
            len += (size_t)snprintf(s + len, cap - len, "%s{\"item_id\":\"i%u\"}", h ? "," : "", (x >> 8) % n_items);
        }
        len += (size_t)snprintf(s + len, cap - len, "]");
    }
    len += (size_t)snprintf(s + len, cap - len, "},\"candidates\":[");
    for (int c = 0; c < n_cand; c++) {
        x = x * 1103515245u + 12345u;
        len += (size_t)snprintf(s + len, cap - len, "%s{\"item_id\":\"i%u\",\"upstream_score\":%.3f}", c ? "," : "", (x >> 8) % n_items, (x & 0xff) / 255.0);
    }
    snprintf(s + len, cap - len, "],\"options\":{\"top_k\":50%s%s}}", with_log ? ",\"popularity_weight\":0.2,\"covisitation_weight\":0.3" : "",
             with_seq ? ",\"sequential_weight\":0.5" : "");
    return s;
}

/* A 16-token query and n_cand candidates; with_text: the first n_unknown are ids the store lacks
 * with a 12-word title; else (the baseline) all are stored ids, without text. */
static char *make_unknown_request(int i, int n_items, int n_cand, int n_unknown, int with_text) {
    size_t cap = (size_t)n_cand * 160 + 4096, len = 0;
    char *s = malloc(cap);
    unsigned x = (unsigned)i * 2654435761u + 7;
    len += (size_t)snprintf(s + len, cap - len, "{\"request_id\":\"u%d\",\"context\":{\"query\":\"", i);
    for (int w = 0; w < 14; w++) {
        x = x * 1103515245u + 12345u;
        len += (size_t)snprintf(s + len, cap - len, "%s%s", w ? " " : "", WORDS[(x >> 16) % 20]);
    }
    len += (size_t)snprintf(s + len, cap - len, "\"},\"candidates\":[");
    for (int c = 0; c < n_cand; c++) {
        x = x * 1103515245u + 12345u;
        if (c < n_unknown && with_text) {
            len += (size_t)snprintf(s + len, cap - len, "%s{\"item_id\":\"new%d-%d\",\"text\":\"", c ? "," : "", i, c);
            for (int w = 0; w < 12; w++) {
                x = x * 1103515245u + 12345u;
                len += (size_t)snprintf(s + len, cap - len, "%s%s", w ? " " : "", WORDS[(x >> 16) % 20]);
            }
            len += (size_t)snprintf(s + len, cap - len, "\"}");
        } else {
            /* distinct stored ids (104729 is prime, so c -> row is one-to-one for n_cand < n_items) */
            len += (size_t)snprintf(s + len, cap - len, "%s{\"item_id\":\"i%llu\"}", c ? "," : "",
                                    ((unsigned long long)i * 7919 + (unsigned long long)c * 104729) % (unsigned long long)n_items);
        }
    }
    snprintf(s + len, cap - len, "],\"options\":{\"top_k\":50}}");
    return s;
}

int main(int argc, char **argv) {
    const char *model = "models/all-MiniLM-L6-v2", *device = "cpu";
    int n_items = 100000, n_cand = 500;
    double seconds = 3;
    int seq_only = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--model") == 0) model = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--device") == 0) device = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--items") == 0) n_items = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--candidates") == 0) n_cand = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seq-only") == 0) seq_only = 1;
        else {
            fprintf(stderr, "rerank_cpu: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        }
    }
    char err[1024];
    fr_encoder_options opt = {.backend = device};
    fr_encoder *enc;
    if (fr_encoder_load(model, &opt, &enc, err, sizeof err)) {
        fprintf(stderr, "rerank_cpu: %s\n", err);
        return 1;
    }
    const int dim = fr_encoder_dim(enc);
    char path[] = "/tmp/fr_bench_store_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    fr_store_writer *w;
    if (fr_store_writer_open(path, dim, FR_STORE_F32, fr_encoder_name(enc), fr_encoder_fingerprint(enc), 0, &w, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *v = malloc(sizeof(float) * dim);
    uint64_t seed = 11;
    for (int i = 0; i < n_items; i++) {
        double n2 = 0;
        for (int d = 0; d < dim; d++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            v[d] = (float)((seed >> 40) & 0xffff) / 32768.0f - 1;
            n2 += v[d] * v[d];
        }
        for (int d = 0; d < dim; d++) v[d] /= (float)sqrt(n2);
        char id[32];
        int il = snprintf(id, sizeof id, "i%d", i);
        if (fr_store_writer_add(w, id, (size_t)il, v, NULL, 0, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    if (fr_store_writer_finish(w, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    {
        fr_priors_builder *pb;
        fr_priors_params pp;
        fr_priors_params_default(&pp);
        uint8_t *sec = NULL;
        size_t sec_n = 0;
        if (fr_priors_builder_create((uint64_t)n_items, &pp, &pb, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        unsigned x = 99;
        for (int u = 0; u < 200000; u++) {
            char uid[16];
            int ul = snprintf(uid, sizeof uid, "u%d", u);
            for (int e = 0; e < 10; e++) {
                x = x * 1103515245u + 12345u;
                double r = ((x >> 8) & 0xFFFF) / 65536.0;
                uint32_t row = (uint32_t)((double)n_items * r * r * r); /* skewed: low rows popular */
                if (fr_priors_add(pb, uid, (size_t)ul, row, e, 1.0, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
            }
        }
        if (fr_priors_finish(pb, &sec, &sec_n, err, sizeof err) ||
            fr_store_attach(path, FR_STORE_SECTION_PRIORS, sec, sec_n, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        fr_priors_builder_free(pb);
        free(sec);
    }
    { /* a sequential model of the default size, randomly initialised, as the store's section */
        fr_store *plain;
        if (fr_store_open(path, 0, 0, &plain, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        fr_seq_config cfg = fr_seq_default_config(n_items, dim);
        fr_seq_model *m;
        if (fr_seq_create(&cfg, 1, 0, &m, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        fr_seq_init_params(m, 5);
        fr_seq_meta meta = {.cfg = cfg, .lr = 1e-3f, .batch = 1, .n_neg = 1, .patience = 1, .max_epochs = 1, .val_percent = 10, .val_negatives = 10, .seed = 5, .epochs_run = 1, .best_epoch = 1};
        fr_seq_store_key_of(plain, path, &meta.store);
        fr_store_close(plain);
        uint8_t *sec = NULL;
        size_t sec_n = 0;
        if (fr_seq_section_build(&meta, fr_seq_params(m), fr_seq_num_params(m), &sec, &sec_n, err, sizeof err) ||
            fr_store_attach(path, FR_STORE_SECTION_SEQMODEL, sec, sec_n, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        free(sec);
        fr_seq_free(m);
    }
    fr_store *store;
    if (fr_store_open(path, fr_encoder_fingerprint(enc), 0, &store, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unlink(path);
    fr_ranker *rk;
    if (fr_ranker_create(enc, store, &rk, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    enum { NREQ = 64,
           MAXRUNS = 200000 };
    /* query; history 10; + log; + seq; history 50; + seq. A variant and the one it is priced
     * against run interleaved, one request each in turn (groups below), so that a busy machine
     * slows both alike and their medians stay comparable. */
    static const int groups[][3] = {{0, -1, -1}, {1, 2, 3}, {4, 5, -1}};
    for (int g = seq_only ? 1 : 0; g < 3; g++) {
        int vs[3], nv = 0;
        for (int k = 0; k < 3; k++)
            if (groups[g][k] >= 0) vs[nv++] = groups[g][k];
        char *reqs[3][NREQ];
        double *lat[3], *rank_lat[3], *rank_cpu[3];
        for (int k = 0; k < nv; k++) {
            const int variant = vs[k];
            const int with_query = variant == 0, with_log = variant == 2, with_seq = variant == 3 || variant == 5;
            const int n_hist = variant >= 4 ? 50 : 10;
            for (int i = 0; i < NREQ; i++) reqs[k][i] = make_request(i, n_items, n_cand, with_query, with_log, n_hist, with_seq);
            lat[k] = malloc(sizeof(double) * MAXRUNS);
            rank_lat[k] = malloc(sizeof(double) * MAXRUNS);
            rank_cpu[k] = malloc(sizeof(double) * MAXRUNS);
        }
        int runs = 0;
        double start = fr_bench_now();
        while ((runs < 20 || fr_bench_now() - start < seconds * nv) && runs < MAXRUNS) {
            for (int k = 0; k < nv; k++) {
                const char *s = reqs[k][runs % NREQ];
                double t0 = fr_bench_now();
                fr_parsed_request p;
                fr_rank_result r;
                if (fr_request_parse(s, strlen(s), &p, err, sizeof err) || fr_rank_validate(&p.req, NULL, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
                double t1 = fr_bench_now(), c1 = thread_cpu_now();
                if (fr_rank(rk, &p.req, &r, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
                double t2 = fr_bench_now();
                rank_cpu[k][runs] = thread_cpu_now() - c1;
                char *json = fr_response_json(&p, &r, "m", 0);
                free(json);
                fr_parsed_request_free(&p);
                lat[k][runs] = fr_bench_now() - t0;
                rank_lat[k][runs] = t2 - t1;
            }
            runs++;
        }
        /* the priced variant (last of the group) against the group's first, per turn */
        double *paired = malloc(sizeof(double) * MAXRUNS);
        for (int i = 0; i < runs; i++) paired[i] = rank_cpu[nv - 1][i] - rank_cpu[0][i];
        qsort(paired, (size_t)runs, sizeof *paired, fr_bench_cmp_double);
        for (int k = 0; k < nv; k++) {
            const int variant = vs[k];
            const int with_query = variant == 0, with_log = variant == 2, with_seq = variant == 3 || variant == 5;
            const int n_hist = variant >= 4 ? 50 : 10;
            qsort(lat[k], (size_t)runs, sizeof *lat[k], fr_bench_cmp_double);
            qsort(rank_lat[k], (size_t)runs, sizeof *rank_lat[k], fr_bench_cmp_double);
            qsort(rank_cpu[k], (size_t)runs, sizeof *rank_cpu[k], fr_bench_cmp_double);
            char ctx[32];
            snprintf(ctx, sizeof ctx, with_query ? "query-16-tokens" : "history-%d-items", n_hist);
            printf("{\"bench\":\"rerank\",\"device\":\"%s\",\"context\":\"%s\",\"log\":%s,\"seq\":%s,\"candidates\":%d,\"store_items\":%d,\"runs\":%d,"
                   "\"median_ms\":%.3f,\"p99_ms\":%.3f,\"rank_median_ms\":%.3f,\"rank_cpu_median_ms\":%.3f,\"requests_per_s\":%.1f}\n",
                   fr_encoder_backend(enc)->name, ctx, with_log ? "true" : "false", with_seq ? "true" : "false", n_cand, n_items, runs,
                   lat[k][runs / 2] * 1e3, lat[k][runs * 99 / 100] * 1e3, rank_lat[k][runs / 2] * 1e3, rank_cpu[k][runs / 2] * 1e3,
                   1.0 / lat[k][runs / 2]);
        }
        if (nv > 1)
            printf("{\"bench\":\"rerank_added\",\"context\":\"history-%d-items\",\"seq\":true,\"runs\":%d,"
                   "\"added_rank_cpu_median_ms\":%.3f,\"added_rank_cpu_paired_median_ms\":%.3f}\n",
                   vs[0] >= 4 ? 50 : 10, runs, (rank_cpu[nv - 1][runs / 2] - rank_cpu[0][runs / 2]) * 1e3, paired[runs / 2] * 1e3);
        free(paired);
        for (int k = 0; k < nv; k++) {
            free(lat[k]);
            free(rank_lat[k]);
            free(rank_cpu[k]);
            for (int i = 0; i < NREQ; i++) free(reqs[k][i]);
        }
        fflush(stdout);
    }
    /* unknown candidates with text, against the same request with stored ids, alternating */
    if (!seq_only) {
        /* one OpenMP thread, as the server's compute threads run by default (--omp-threads 1): on a
         * shared machine a two-thread team waits for the busy second core in every layer */
        omp_set_num_threads(1);
        fr_batch_embed *be;
        if (fr_batch_embed_create(&be, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        const int counts[2] = {10, 100};
        for (int ci = 0; ci < 2; ci++) {
            /* the two requests alternate, so both see the same machine load */
            const int n_unknown = counts[ci];
            char *reqs[2][NREQ];
            for (int i = 0; i < NREQ; i++)
                for (int t = 0; t < 2; t++) reqs[t][i] = make_unknown_request(i, n_items, n_cand, n_unknown, t);
            double *lat[2] = {malloc(sizeof(double) * 200000), malloc(sizeof(double) * 200000)};
            int runs = 0;
            double start = fr_bench_now();
            while ((runs < 40 || fr_bench_now() - start < 2 * seconds) && runs < 400000) {
                const int with_text = runs & 1;
                const char *s = reqs[with_text][(runs / 2) % NREQ];
                double t0 = fr_bench_now();
                fr_parsed_request p;
                fr_rank_result r;
                if (fr_request_parse(s, strlen(s), &p, err, sizeof err) || fr_rank_validate(&p.req, NULL, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
                fr_rank_request *rq = &p.req;
                fr_candidate *cs = (fr_candidate *)p.req.candidates;
                if (fr_batch_embed_run(be, enc, store, &rq, &cs, 1, NULL, err, sizeof err) || fr_rank(rk, &p.req, &r, err, sizeof err)) {
                    fprintf(stderr, "%s\n", err);
                    return 1;
                }
                if (r.n_issues) {
                    fprintf(stderr, "rerank_cpu: %d candidates were not ranked\n", r.n_issues);
                    return 1;
                }
                char *json = fr_response_json(&p, &r, "m", 0);
                free(json);
                fr_parsed_request_free(&p);
                lat[with_text][runs / 2] = fr_bench_now() - t0;
                runs++;
            }
            const int per = runs / 2;
            for (int t = 0; t < 2; t++) qsort(lat[t], (size_t)per, sizeof(double), fr_bench_cmp_double);
            for (int t = 0; t < 2; t++)
                printf("{\"bench\":\"rerank\",\"device\":\"%s\",\"context\":\"query-16-tokens\",\"candidates\":%d,\"unknown_candidates\":%d,"
                       "\"unknown_with_text\":%d,\"store_items\":%d,\"runs\":%d,\"median_ms\":%.3f,\"p99_ms\":%.3f}\n",
                       fr_encoder_backend(enc)->name, n_cand, t ? n_unknown : 0, t, n_items, per, lat[t][per / 2] * 1e3, lat[t][per * 99 / 100] * 1e3);
            printf("{\"bench\":\"rerank_unknown_text_cost\",\"unknown_candidates\":%d,\"added_median_ms\":%.3f,\"added_ms_per_candidate\":%.3f}\n",
                   n_unknown, (lat[1][per / 2] - lat[0][per / 2]) * 1e3, (lat[1][per / 2] - lat[0][per / 2]) * 1e3 / n_unknown);
            fflush(stdout);
            free(lat[0]);
            free(lat[1]);
            for (int i = 0; i < NREQ; i++) {
                free(reqs[0][i]);
                free(reqs[1][i]);
            }
        }
        fr_batch_embed_free(be);
    }
    fr_ranker_free(rk);
    fr_store_close(store);
    fr_encoder_free(enc);
    free(v);
    return 0;
}

/* cmd_bench.c - `feedrank bench ab`: offline A/B comparison of rankers on labelled data.
 *
 * Cases: search mode - each query with >= 2 judged items and some grade above the lowest,
 * its judged items as candidates (plus --distractors random catalogue items counted irrelevant);
 * feed mode - each user, the target hidden among --negatives items sampled from the catalogue
 * (never the user's history or the target). Popularity and co-visitation are counted over the
 * histories of the evaluated file (targets never enter the log).
 * Tuning: cases are split by a hash of the query/user id into a tuning half and a report half;
 * every tunable parameter (BM25 k1/b, embedding history half-life, co-visitation window /
 * normalisation / half-life, blend weights) is chosen by NDCG@10 on the tuning half only. The
 * report gives the other half and all cases. */
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

#include "baselines.h"
#include "cli.h"
#include "dataset.h"
#include "encoder.h"
#include "hash.h"
#include "item_store.h"
#include "metrics.h"
#include "model_config.h"
#include "priors.h"
#include "profile.h"
#include "ranker.h"

#define MAX_PARTS 8
#define MAX_RANKERS 16

typedef enum { RK_RANDOM, RK_ORDER, RK_BM25, RK_EMBED, RK_POP, RK_COVIS, RK_BLEND, RK_RRF, RK_GBLEND, RK_LCOVIS, RK_SEQ, RK_PROFILE } rk_kind;

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
    sigset ss;               /* the signals the options were last computed for */
    /* covis (the harness's own co-visitation, not a served signal) */
    double half_life;
    fr_covis_params cp;
    fr_covis *covis;
    int n_parts;
    rk *parts[MAX_PARTS];
    double weights[MAX_PARTS];
    int weights_given;
    int gate_given;          /* log gate and cold boost fixed (a profile), not tuned */
    char tuned[400];         /* what tuning chose, for the report */
    /* results */
    float *scores;           /* per case, per candidate (case offsets) */
    double *m[5];            /* per case: ndcg5, ndcg10, hr1, hr10, mrr */
    double seconds;          /* tuning and scoring time */
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
    int *c_off;              /* candidates of case k: c_items[c_off[k] .. c_off[k+1]-1] */
    int *c_items;
    float *c_grades;
    int *c_src;              /* query or user index */
    int *c_tune;             /* 1 = tuning half */
    int *c_cold;             /* feed: target seen < cold_k times in the log */
    float *c_pos;            /* search: position in the dataset (for "order") */
    float *item_vecs, *query_vecs;
    int dim;
    double *pop;
    uint64_t seed;
    int ties_order;          /* 1: break score ties by candidate order instead of against relevance */
    double min_cold;         /* gblend tuning: only settings whose cold-slice NDCG@10 (tuning half) reaches this */
    double last_cold;        /* cold-slice NDCG@10 of the last run_ranker pass */
    double h_all[2], h_cold[2]; /* last pass: NDCG@10 per half (index = c_tune), all and cold cases */
    FILE *frontier;          /* --frontier: every grid setting's results (NULL: not asked) */
    const char *frontier_header_for;
    const char *frontier_path;
    int frontier_parts;      /* parts of the blend the frontier file describes (its column layout) */
    rk *done[MAX_RANKERS * (MAX_PARTS + 1)]; /* rankers already tuned and scored, reused by name */
    int n_done;
    /* the served path: stores of the dataset's items with priors per window, and their rankers */
    bench_store stores[8];
    int n_stores;
    const char *cache;
    uint64_t data_hash, model_fp;
    char model_name[128];
    uint8_t *seq_model;      /* --seq-model: the model section attached to every store */
    size_t seq_model_size;
    float zero_query[1];
    /* sized scratch (grows to the largest case) */
    fr_candidate *req_cands;
    fr_history_item *req_hist;
    int req_cap;
    int *iwork;
    int work_cap;
    /* progress */
    int tty;
    double last_progress;
} bench;

static int grow_scratch(bench *B, int n) {
    if (n <= B->work_cap) return 0;
    int *w = realloc(B->iwork, sizeof(int) * (size_t)n);
    if (!w) return -1;
    B->iwork = w;
    B->work_cap = n;
    return 0;
}

/* ---------- ranker specs ---------- */

static rk *rk_parse(const char *spec, char *err, size_t errcap);
static int rk_is_signal(rk_kind k);

/* profile:FILE - the profile as written, ranked by fr_rank itself (no re-tuning): its weights,
 * normalisations, gate, boost, half-lives, BM25 parameters, MMR; the store's priors use the
 * index defaults (`feedrank index --interactions`: window 10), as a store built without options. */
static rk *rk_profile(const char *spec, const char *path, char *err, size_t errcap) {
    rk *r = calloc(1, sizeof *r);
    if (!r) { fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory"); return NULL; }
    char name[64];
    if (fr_profile_load(path, &r->o, name, sizeof name, err, errcap)) { free(r); return NULL; }
    snprintf(r->name, sizeof r->name, "%s", spec);
    r->kind = RK_PROFILE;
    fr_priors_params pp;
    fr_priors_params_default(&pp);
    r->window = pp.window;
    { /* the priors window tuning chose (tuned.priors_window), for a store indexed with --window N */
        char *text;
        size_t len;
        if (fr_read_small_file(path, 1u << 20, &text, &len, err, errcap) == FR_OK) {
            cJSON *root = cJSON_ParseWithLength(text, len);
            const cJSON *t = root ? cJSON_GetObjectItemCaseSensitive(root, "tuned") : NULL;
            const cJSON *w = t ? cJSON_GetObjectItemCaseSensitive(t, "priors_window") : NULL;
            if (cJSON_IsNumber(w) && w->valuedouble >= 1 && w->valuedouble <= 64) r->window = (int)w->valuedouble;
            cJSON_Delete(root);
            free(text);
        }
    }
    const fr_rank_options *o = &r->o;
    snprintf(r->tuned, sizeof r->tuned, "as written, not re-tuned: semantic %g, popularity %g, covisitation %g, lexical %g, sequential %g; "
             "gate %g, cold boost %g; priors window %d (index --interactions --window)", o->semantic_weight, o->popularity_weight, o->covisitation_weight, o->lexical_weight,
             o->sequential_weight, o->log_gate, o->cold_content_boost, r->window);
    return r;
}

static rk *rk_parse(const char *spec, char *err, size_t errcap) {
    if (strncmp(spec, "profile:", 8) == 0) return rk_profile(spec, spec + 8, err, errcap);
    rk *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->name, sizeof r->name, "%s", spec);
    r->half_life = 4;
    r->cp = (fr_covis_params){3, 1.0, 0.0};
    fr_rank_options_default(&r->o);
    r->window = 10;
    const char *paren = strchr(spec, '(');
    size_t nl = paren ? (size_t)(paren - spec) : strlen(spec);
    struct { const char *n; rk_kind k; } names[] = {{"random", RK_RANDOM}, {"order", RK_ORDER}, {"bm25", RK_BM25}, {"embed", RK_EMBED},
                                                    {"popularity", RK_POP}, {"covis", RK_COVIS}, {"blend", RK_BLEND}, {"rrf", RK_RRF},
                                                    {"gblend", RK_GBLEND}, {"logcovis", RK_LCOVIS}, {"seq", RK_SEQ}};
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].n) == nl && strncmp(spec, names[i].n, nl) == 0) { r->kind = names[i].k; found = 1; }
    if (!found) { fr_fail(FR_ERR_ARG, err, errcap, "unknown ranker '%s' (see --help)", spec); free(r); return NULL; }
    const int combined = r->kind == RK_BLEND || r->kind == RK_RRF || r->kind == RK_GBLEND;
    if (combined != (paren != NULL)) {
        fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blend(...) and rrf(...) take a list of rankers; others take none", spec);
        free(r);
        return NULL;
    }
    if (paren) {
        const char *end = strrchr(spec, ')');
        if (!end || end < paren || end[1]) { fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': unbalanced parentheses", spec); free(r); return NULL; }
        char inner[256];
        snprintf(inner, sizeof inner, "%.*s", (int)(end - paren - 1), paren + 1);
        int given = 0;
        for (char *save = NULL, *tok = strtok_r(inner, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            char *colon = strchr(tok, ':');
            if (colon) { *colon = 0; given++; }
            if (r->n_parts == MAX_PARTS) { fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': at most %d parts", spec, MAX_PARTS); break; }
            rk *p = rk_parse(tok, err, errcap);
            if (!p) { for (int i = 0; i < r->n_parts; i++) free(r->parts[i]); free(r); return NULL; }
            if ((r->kind != RK_RRF && !rk_is_signal(p->kind)) || p->kind == RK_RRF || p->kind == RK_PROFILE) {
                fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blend parts are ranker signals (embed, bm25, popularity, logcovis, seq); '%s' is not%s",
                        spec, p->name, p->kind == RK_COVIS ? " (covis is the harness's own co-visitation; the served one is logcovis)" : "");
                free(p);
                for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
                free(r);
                return NULL;
            }
            if (p->kind == RK_BLEND || p->kind == RK_RRF || p->kind == RK_GBLEND) { free(p); fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blends do not nest", spec); for (int i = 0; i < r->n_parts; i++) free(r->parts[i]); free(r); return NULL; }
            char *e = NULL;
            r->weights[r->n_parts] = colon ? strtod(colon + 1, &e) : 1.0;
            if (colon && (e == colon + 1 || *e || !isfinite(r->weights[r->n_parts]))) {
                fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': weight '%s' is not a number", spec, colon + 1);
                free(p);
                for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
                free(r);
                return NULL;
            }
            r->parts[r->n_parts++] = p;
        }
        if (r->n_parts < 2 || (given && given != r->n_parts)) {
            fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': needs >= 2 parts, with weights on all or none", spec);
            for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
            free(r);
            return NULL;
        }
        r->weights_given = given > 0;
    }
    return r;
}

static void sigset_free(sigset *s);

static void rk_free(rk *r) {
    if (!r) return;
    for (int i = 0; i < r->n_parts; i++) rk_free(r->parts[i]);
    fr_covis_free(r->covis);
    sigset_free(&r->ss);
    free(r->scores);
    for (int i = 0; i < 5; i++) free(r->m[i]);
    free(r);
}

/* ---------- the ranker's store and signals ---------- */

/* The harness ranks through the ranker that serves (ranker.h): an item store of the dataset's items
 * (ids, the embeddings, the item texts) with log priors built from the evaluated file's histories
 * exactly as `feedrank index --interactions` builds them (one store per priors window tried), and
 * the sequential model when --seq-model gives one. Each case becomes a fr_rank_request: search, the
 * query (text and vector); feed, the user's history in order (no timestamps: recency by position).
 * fr_rank_signals_of computes the signals once per case and parameter setting; every weight / gate
 * / boost setting is then fr_rank_normalize + fr_rank_combine, the ranker's own blend. */

static fr_status write_bench_store(bench *B, const char *path, int window, char *err, size_t errcap) {
    const fr_dataset *d = B->d;
    const int D = B->dim ? B->dim : 1;
    fr_store_writer *w;
    fr_status rc = fr_store_writer_open(path, D, FR_STORE_F32, B->model_name[0] ? B->model_name : "none", B->model_fp, 1, &w, err, errcap);
    if (rc) return rc;
    float *zero = calloc((size_t)D, sizeof(float));
    if (!zero) { fr_store_writer_abort(w); return fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory"); }
    for (int i = 0; i < d->n_items && !rc; i++)
        rc = fr_store_writer_add(w, d->item_ids[i], strlen(d->item_ids[i]), B->item_vecs ? B->item_vecs + (size_t)i * D : zero,
                                 d->item_texts[i], strlen(d->item_texts[i]), err, errcap);
    free(zero);
    if (rc) { fr_store_writer_abort(w); return rc; }
    if ((rc = fr_store_writer_finish(w, err, errcap))) return rc;
    if (d->mode == FR_DS_FEED) { /* priors from the histories (targets never enter), one event per item in order */
        fr_priors_params pp;
        fr_priors_params_default(&pp);
        pp.window = window;
        fr_priors_builder *b;
        if ((rc = fr_priors_builder_create((uint64_t)d->n_items, &pp, &b, err, errcap))) return rc;
        for (int u = 0; u < d->n_users && !rc; u++) {
            char key[16];
            int kl = snprintf(key, sizeof key, "%d", u);
            for (int j = d->h_off[u]; j < d->h_off[u + 1] && !rc; j++)
                rc = fr_priors_add(b, key, (size_t)kl, (uint32_t)d->h_items[j], j - d->h_off[u], 1.0, err, errcap);
        }
        uint8_t *buf = NULL;
        size_t size = 0;
        if (!rc) rc = fr_priors_finish(b, &buf, &size, err, errcap);
        fr_priors_builder_free(b);
        if (!rc) rc = fr_store_attach(path, FR_STORE_SECTION_PRIORS, buf, size, err, errcap);
        free(buf);
        if (rc) return rc;
    }
    if (B->seq_model) rc = fr_store_attach(path, FR_STORE_SECTION_SEQMODEL, B->seq_model, B->seq_model_size, err, errcap);
    return rc;
}

/* The ranker over the store with priors of `window` (search: no priors, window ignored). */
static fr_status ranker_for(bench *B, int window, fr_ranker **out, char *err, size_t errcap) {
    if (B->mode != FR_DS_FEED) window = 0;
    for (int i = 0; i < B->n_stores; i++)
        if (B->stores[i].window == window) { *out = B->stores[i].ranker; return FR_OK; }
    if (B->n_stores == (int)(sizeof B->stores / sizeof B->stores[0])) return fr_fail(FR_ERR_ARG, err, errcap, "bench: too many priors windows");
    bench_store *s = &B->stores[B->n_stores];
    snprintf(s->path, sizeof s->path, "%s/bench-%d-%016" PRIx64 "-w%d.store", B->cache, (int)getpid(), B->data_hash, window);
    mkdir(B->cache, 0755);
    fr_status rc = write_bench_store(B, s->path, window, err, errcap);
    if (!rc) rc = fr_store_open(s->path, 0, 1, &s->store, err, errcap);
    if (!rc) rc = fr_ranker_create(NULL, s->store, &s->ranker, err, errcap);
    if (rc) { fr_store_close(s->store); s->store = NULL; unlink(s->path); return rc; }
    s->window = window;
    B->n_stores++;
    *out = s->ranker;
    return FR_OK;
}

/* Case k as the request the served path would get (history, or query text and vector). */
static fr_status case_request(bench *B, int k, const fr_rank_options *o, fr_rank_request *q, char *err, size_t errcap) {
    const fr_dataset *d = B->d;
    const int n = B->c_off[k + 1] - B->c_off[k], src = B->c_src[k];
    const int L = d->mode == FR_DS_FEED ? d->h_off[src + 1] - d->h_off[src] : 0;
    if (n > B->req_cap || L > B->req_cap) {
        int c = n > L ? n : L;
        fr_candidate *cs = realloc(B->req_cands, sizeof *cs * (size_t)c);
        if (cs) B->req_cands = cs;
        fr_history_item *hs = realloc(B->req_hist, sizeof *hs * (size_t)c);
        if (hs) B->req_hist = hs;
        if (!cs || !hs) return fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory");
        B->req_cap = c;
    }
    memset(q, 0, sizeof *q);
    for (int i = 0; i < n; i++) {
        const char *id = d->item_ids[B->c_items[B->c_off[k] + i]];
        B->req_cands[i] = (fr_candidate){.id = id, .id_len = strlen(id)};
    }
    for (int j = 0; j < L; j++) {
        const char *id = d->item_ids[d->h_items[d->h_off[src] + j]];
        B->req_hist[j] = (fr_history_item){.id = id, .id_len = strlen(id), .weight = 1};
    }
    if (d->mode == FR_DS_SEARCH) {
        q->query = d->query_texts[src];
        q->query_len = strlen(q->query);
        q->query_vector = B->query_vecs ? B->query_vecs + (size_t)src * B->dim : B->zero_query;
    }
    q->history = B->req_hist;
    q->n_history = L;
    q->candidates = B->req_cands;
    q->n_candidates = n;
    q->options = *o;
    return FR_OK;
}

static void sigset_free(sigset *s) {
    for (int g = 0; g < FR_SIG_COUNT; g++) { free(s->raw[g]); free(s->norm[g]); s->raw[g] = s->norm[g] = NULL; }
    free(s->seen);
    s->seen = NULL;
}

/* Signals of every case (want_tune -1) or one half through fr_rank_signals_of with o (its signal
 * parameters and which signals it asks for) on the store of `window`, normalised as o says. */
static fr_status sigset_compute(bench *B, sigset *s, const fr_rank_options *o, int window, int want_tune, char *err, size_t errcap) {
    sigset_free(s);
    s->o = *o;
    s->window = window;
    fr_ranker *rk_;
    fr_status rc = ranker_for(B, window, &rk_, err, errcap);
    if (rc) return rc;
    const size_t total = (size_t)B->c_off[B->n_cases];
    fr_rank_result res;
    for (int k = 0; k < B->n_cases; k++) {
        if (want_tune >= 0 && B->c_tune[k] != want_tune) continue;
        fr_rank_request q;
        fr_rank_signals sg;
        if ((rc = case_request(B, k, o, &q, err, errcap)) || (rc = fr_rank_signals_of(rk_, &q, &res, &sg, err, errcap))) return rc;
        const int n = B->c_off[k + 1] - B->c_off[k], off = B->c_off[k];
        if (sg.n != n) return fr_fail(FR_ERR_ARG, err, errcap, "bench: case %d: the ranker kept %d of %d candidates", k, sg.n, n);
        for (int g = 0; g < FR_SIG_COUNT; g++) {
            if (!sg.sig[g]) continue;
            if (!s->raw[g] && (!(s->raw[g] = calloc(total ? total : 1, sizeof(float))) || !(s->norm[g] = calloc(total ? total : 1, sizeof(float)))))
                return fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory");
            memcpy(s->raw[g] + off, sg.sig[g], sizeof(float) * (size_t)n);
        }
        if (sg.seen) {
            if (!s->seen && !(s->seen = calloc(total ? total : 1, sizeof(uint32_t)))) return fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory");
            memcpy(s->seen + off, sg.seen, sizeof(uint32_t) * (size_t)n);
        }
        /* normalised once: the grid only re-weights */
        fr_rank_signals v = sg;
        float *norm[FR_SIG_COUNT] = {0};
        for (int g = 0; g < FR_SIG_COUNT; g++) if (sg.sig[g]) norm[g] = s->norm[g] + off;
        if (grow_scratch(B, n)) return fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory");
        fr_rank_normalize(o, &v, norm, B->iwork);
    }
    return FR_OK;
}

/* The ranker's blend of case k's normalised signals under o (weights, gate, boost) into out. */
static void sigset_score(const bench *B, const sigset *s, int k, const fr_rank_options *o, float *out) {
    const int n = B->c_off[k + 1] - B->c_off[k], off = B->c_off[k];
    fr_rank_signals v = {.n = n};
    const float *norm[FR_SIG_COUNT] = {0};
    for (int g = 0; g < FR_SIG_COUNT; g++)
        if (s->raw[g]) { v.sig[g] = s->raw[g] + off; norm[g] = s->norm[g] + off; }
    v.seen = s->seen ? s->seen + off : NULL;
    fr_rank_combine(o, &v, norm, out);
}

/* ---------- scoring ---------- */

/* Raw scores of the harness-only rankers (random, order, covis) for case k into out. */
static void score_base(bench *B, rk *r, int k, float *out) {
    const int n = B->c_off[k + 1] - B->c_off[k], *items = B->c_items + B->c_off[k], src = B->c_src[k];
    const fr_dataset *d = B->d;
    switch (r->kind) {
    case RK_RANDOM:
        for (int i = 0; i < n; i++) out[i] = (float)fr_uniform3(B->seed, (uint64_t)k, (uint64_t)items[i]);
        break;
    case RK_ORDER:
        for (int i = 0; i < n; i++) out[i] = -B->c_pos[B->c_off[k] + i];
        break;
    case RK_COVIS: {
        const int h0 = d->h_off[src], L = d->h_off[src + 1] - h0;
        fr_covis_score(r->covis, d->h_items + h0, L, r->half_life, items, n, out);
        break;
    }
    default:
        break;
    }
}

/* Reciprocal-rank fusion of the parts' stored scores for case k (k = 60; tied items share their
 * average rank, so a tie carries no information). A harness-only fusion: no profile serves it. */
static void score_rrf(bench *B, rk *r, int k, const double *w, float *out) {
    const int n = B->c_off[k + 1] - B->c_off[k], off = B->c_off[k];
    int *order = B->iwork;
    for (int i = 0; i < n; i++) out[i] = 0;
    for (int p = 0; p < r->n_parts; p++) {
        const float *tmp = r->parts[p]->scores + off;
        for (int i = 0; i < n; i++) order[i] = i;
        for (int a = 1; a < n; a++) {
            int v = order[a], b = a;
            while (b > 0 && tmp[order[b - 1]] < tmp[v]) { order[b] = order[b - 1]; b--; }
            order[b] = v;
        }
        for (int a = 0; a < n;) {
            int b = a;
            while (b + 1 < n && tmp[order[b + 1]] == tmp[order[a]]) b++;
            double rank = (a + b) / 2.0 + 1;
            for (int c = a; c <= b; c++) out[order[c]] += (float)(w[p] / (60.0 + rank));
            a = b + 1;
        }
    }
}

/* Metrics of case k from scores s. */
static void case_metrics(bench *B, int k, const float *s, double m[5]) {
    const int n = B->c_off[k + 1] - B->c_off[k];
    const float *g = B->c_grades + B->c_off[k];
    int *order = B->iwork;
    if (B->ties_order) fr_rank_by_score_stable(s, n, order);
    else fr_rank_by_score(s, g, n, order);
    float gmin = B->d->mode == FR_DS_SEARCH ? B->d->grade_min : 0;
    m[0] = fr_ndcg(order, g, n, 5, gmin);
    m[1] = fr_ndcg(order, g, n, 10, gmin);
    m[2] = fr_hit(order, g, n, 1, gmin);
    m[3] = fr_hit(order, g, n, 10, gmin);
    m[4] = fr_mrr(order, g, n, gmin);
}

/* NDCG@10 of a feed case (one relevant candidate) without sorting: its rank is the number of
 * candidates scoring above it, ties counted against it - the same as case_metrics. */
static double feed_ndcg10(const bench *B, int k, const float *s) {
    const int n = B->c_off[k + 1] - B->c_off[k];
    const float *g = B->c_grades + B->c_off[k];
    int t = 0;
    while (t < n && !(g[t] > 0)) t++;
    if (t == n) return 0;
    int rank = 0;
    for (int i = 0; i < n; i++) rank += i != t && s[i] >= s[t];
    return rank < 10 ? 1.0 / log2(rank + 2.0) : 0;
}

static int rk_is_signal(rk_kind k) { return k == RK_EMBED || k == RK_BM25 || k == RK_POP || k == RK_LCOVIS || k == RK_SEQ; }
static int rk_is_blend(rk_kind k) { return k == RK_BLEND || k == RK_GBLEND; }

/* Scores every case of the half (want_tune; -1 all) with r: a signal ranker or blend through the
 * ranker's blend of r->ss under o, rrf from its parts, a profile from the scores fr_rank gave (already
 * in r->scores), the others by score_base. Returns mean NDCG@10 over those cases. */
static void alloc_results(const bench *B, rk *r) {
    if (r->scores) return;
    r->scores = malloc(sizeof(float) * (size_t)(B->c_off[B->n_cases] ? B->c_off[B->n_cases] : 1));
    for (int i = 0; i < 5; i++) r->m[i] = malloc(sizeof(double) * (size_t)(B->n_cases ? B->n_cases : 1));
    if (!r->scores || !r->m[0] || !r->m[1] || !r->m[2] || !r->m[3] || !r->m[4]) { fprintf(stderr, "feedrank bench: out of memory\n"); abort(); }
}

static double run_ranker(bench *B, rk *r, const fr_rank_options *o, const double *w, int want_tune, int store) {
    alloc_results(B, r);
    double hs[2] = {0, 0}, hc[2] = {0, 0}; /* NDCG@10 sums per half (index = c_tune): all cases, cold cases */
    int hn[2] = {0, 0}, hnc[2] = {0, 0};
    for (int k = 0; k < B->n_cases; k++) {
        if (want_tune >= 0 && B->c_tune[k] != want_tune) continue;
        float *s = r->scores + B->c_off[k];
        if (r->kind == RK_PROFILE) { /* scored by fr_rank already */ }
        else if (r->kind == RK_RRF) score_rrf(B, r, k, w, s);
        else if (r->ss.raw[FR_SIG_SEMANTIC]) sigset_score(B, &r->ss, k, o, s);
        else score_base(B, r, k, s);
        double m[5];
        if (!store && B->mode == FR_DS_FEED && !B->ties_order) m[1] = feed_ndcg10(B, k, s);
        else case_metrics(B, k, s, m);
        if (store) for (int i = 0; i < 5; i++) r->m[i][k] = m[i];
        const int t = B->c_tune[k] != 0;
        hs[t] += m[1]; hn[t]++;
        if (B->c_cold && B->c_cold[k]) { hc[t] += m[1]; hnc[t]++; }
    }
    for (int t = 0; t < 2; t++) { B->h_all[t] = hn[t] ? hs[t] / hn[t] : 0; B->h_cold[t] = hnc[t] ? hc[t] / hnc[t] : 0; }
    B->last_cold = hnc[0] + hnc[1] ? (hc[0] + hc[1]) / (hnc[0] + hnc[1]) : 0;
    return hn[0] + hn[1] ? (hs[0] + hs[1]) / (hn[0] + hn[1]) : 0;
}

/* Copies the tuned parameters and scores of an identical ranker run earlier (same spec). */
static int reuse(bench *B, rk *r) {
    for (int i = 0; i < B->n_done; i++) {
        rk *o = B->done[i];
        if (strcmp(o->name, r->name) != 0 || o == r || !o->scores) continue;
        size_t ns = (size_t)B->c_off[B->n_cases];
        r->scores = malloc(sizeof(float) * (ns ? ns : 1));
        for (int m = 0; m < 5; m++) r->m[m] = malloc(sizeof(double) * (size_t)(B->n_cases ? B->n_cases : 1));
        if (!r->scores) return 0;
        memcpy(r->scores, o->scores, sizeof(float) * ns);
        for (int m = 0; m < 5; m++) { if (!r->m[m]) return 0; memcpy(r->m[m], o->m[m], sizeof(double) * (size_t)B->n_cases); }
        r->o = o->o; r->window = o->window; r->half_life = o->half_life; r->cp = o->cp;
        memcpy(r->weights, o->weights, sizeof r->weights);
        memcpy(r->tuned, o->tuned, sizeof r->tuned);
        r->seconds = 0;
        return 1;
    }
    return 0;
}

/* The options a signal ranker ranks by alone: its own weight 1, every other 0, ungated. */
static fr_rank_options alone(const rk *r) {
    fr_rank_options o = r->o;
    o.semantic_weight = o.upstream_weight = o.popularity_weight = o.covisitation_weight = o.lexical_weight = o.sequential_weight = 0;
    o.log_gate = 0;
    o.cold_content_boost = 0;
    switch (r->kind) {
    case RK_EMBED: o.semantic_weight = 1; break;
    case RK_BM25: o.lexical_weight = 1; break;
    case RK_POP: o.popularity_weight = 1; break;
    case RK_LCOVIS: o.covisitation_weight = 1; break;
    case RK_SEQ: o.sequential_weight = 1; break;
    default: break;
    }
    return o;
}

/* One signal setting of a signal ranker: signals of the half, then NDCG@10. */
static int try_signal(bench *B, rk *r, int want_tune, double *v, char *err, size_t errcap) {
    fr_rank_options o = alone(r);
    if (sigset_compute(B, &r->ss, &o, r->window, want_tune, err, errcap)) return -1;
    *v = run_ranker(B, r, &o, NULL, want_tune, 0);
    return 0;
}

/* profile:FILE through fr_rank itself, every case: scores are the ranker's final scores (its
 * order with MMR or top_k, which re-order or cut the list). */
static int run_profile(bench *B, rk *r, char *err, size_t errcap) {
    fr_ranker *rk_;
    if (ranker_for(B, r->window, &rk_, err, errcap)) return -1;
    alloc_results(B, r);
    const int by_position = r->o.mmr_lambda < 1.0f || r->o.top_k > 0;
    for (int k = 0; k < B->n_cases; k++) {
        fr_rank_request q;
        fr_rank_result res;
        if (case_request(B, k, &r->o, &q, err, errcap) || fr_rank(rk_, &q, &res, err, errcap)) return -1;
        float *s = r->scores + B->c_off[k];
        const int n = B->c_off[k + 1] - B->c_off[k];
        for (int i = 0; i < n; i++) s[i] = -INFINITY; /* cut by top_k: after every returned item */
        for (int a = 0; a < res.n_items; a++) s[res.items[a].candidate] = by_position ? (float)(n - a) : res.items[a].score;
    }
    return 0;
}

/* --frontier: one row per grid setting of a blend, its tuning-half and report-half NDCG@10 (all
 * cases and cold-start slice) - the trade-off curve between the overall metric and new items. */
static void frontier_row(bench *B, const rk *r, const double *w) {
    if (!B->frontier_header_for || strcmp(B->frontier_header_for, r->name) != 0) {
        fprintf(B->frontier, "# %s\ngate\tcold_boost", r->name);
        for (int p = 0; p < r->n_parts; p++) fprintf(B->frontier, "\tw_%s", r->parts[p]->name);
        fprintf(B->frontier, "\ttune_ndcg10\ttune_cold_ndcg10\treport_ndcg10\treport_cold_ndcg10\n");
        B->frontier_header_for = r->name;
        B->frontier_parts = r->n_parts;
    }
    fprintf(B->frontier, "%g\t%g", r->kind == RK_GBLEND ? r->o.log_gate : 0, r->kind == RK_GBLEND ? r->o.cold_content_boost : 0);
    for (int p = 0; p < r->n_parts; p++) fprintf(B->frontier, "\t%g", w[p]);
    fprintf(B->frontier, "\t%.4f\t%.4f\t%.4f\t%.4f\n", B->h_all[1], B->h_cold[1], B->h_all[0], B->h_cold[0]);
}

/* A blend's options for weights w over its parts (each part's signal gets its weight). */
static void blend_options(rk *r, const double *w, fr_rank_options *o) {
    o->semantic_weight = o->upstream_weight = o->popularity_weight = o->covisitation_weight = o->lexical_weight = o->sequential_weight = 0;
    for (int p = 0; p < r->n_parts; p++) {
        float x = (float)w[p];
        switch (r->parts[p]->kind) {
        case RK_EMBED: o->semantic_weight = x; break;
        case RK_BM25: o->lexical_weight = x; break;
        case RK_POP: o->popularity_weight = x; break;
        case RK_LCOVIS: o->covisitation_weight = x; break;
        case RK_SEQ: o->sequential_weight = x; break;
        default: break;
        }
    }
}

static void progress(bench *B, const char *what, long done, long total);

/* Chooses r's parameters on the tuning half, then scores all cases. */
static int tune_and_run(bench *B, rk *r, char *err, size_t errcap) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (reuse(B, r)) return 0;
    double v;
    if (r->kind == RK_PROFILE) {
        if (run_profile(B, r, err, errcap)) return -1;
    } else if (r->kind == RK_BM25) {
        double k1s[] = {0.3, 0.6, 0.9, 1.2, 1.5, 2.0}, bs[] = {0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0}, best = -1, bk1 = 1.2, bb = 0.75;
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 7; j++) {
                r->o.bm25_k1 = (float)k1s[i];
                r->o.bm25_b = (float)bs[j];
                if (try_signal(B, r, 1, &v, err, errcap)) return -1;
                if (v > best) { best = v; bk1 = k1s[i]; bb = bs[j]; }
                progress(B, r->name, i * 7 + j + 1, 42);
            }
        r->o.bm25_k1 = (float)bk1;
        r->o.bm25_b = (float)bb;
        snprintf(r->tuned, sizeof r->tuned, "k1 %.1f, b %.2f", bk1, bb);
    } else if (r->kind == RK_EMBED && B->mode == FR_DS_FEED) {
        double hls[] = {0.5, 1, 2, 4, 8, 16, 1e6}, best = -1, bh = 4;
        for (int i = 0; i < 7; i++) {
            r->o.history_half_life = (float)hls[i];
            if (try_signal(B, r, 1, &v, err, errcap)) return -1;
            if (v > best) { best = v; bh = hls[i]; }
            progress(B, r->name, i + 1, 7);
        }
        r->o.history_half_life = (float)bh;
        snprintf(r->tuned, sizeof r->tuned, "history half-life %g positions", bh);
    } else if (r->kind == RK_LCOVIS) {
        int wins[] = {3, 5, 10}, bwin = 10;
        double hls[] = {1, 2, 4, 8, 1e6}, norms[] = {0, 0.25, 0.5}, best = -1, bh = 4, bn = 0.5;
        for (int i = 0; i < 3; i++)
            for (int h = 0; h < 5; h++)
                for (int q = 0; q < 3; q++) {
                    r->window = wins[i];
                    r->o.covisitation_half_life = (float)hls[h];
                    r->o.covisitation_norm = (float)norms[q];
                    if (try_signal(B, r, 1, &v, err, errcap)) return -1;
                    if (v > best) { best = v; bwin = wins[i]; bh = hls[h]; bn = norms[q]; }
                    progress(B, r->name, (i * 5 + h) * 3 + q + 1, 45);
                }
        r->window = bwin;
        r->o.covisitation_half_life = (float)bh;
        r->o.covisitation_norm = (float)bn;
        snprintf(r->tuned, sizeof r->tuned, "priors window %d, history half-life %g, normalisation power %.2f", bwin, bh, bn);
    } else if (r->kind == RK_COVIS) {
        int wins[] = {1, 2, 3, 5, 10};
        double norms[] = {0, 0.25, 0.5}, hls[] = {1, 2, 4, 8, 1e9}, best = -1;
        fr_covis_params bp = r->cp;
        double bh = 4;
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 3; j++) {
                fr_covis_params p = {wins[i], 1.0, norms[j]};
                fr_covis_free(r->covis);
                r->covis = NULL;
                if (fr_covis_build(B->d->h_off, B->d->h_items, B->d->n_users, B->d->n_items, &p, &r->covis, err, errcap)) return -1;
                for (int h = 0; h < 5; h++) {
                    r->half_life = hls[h];
                    v = run_ranker(B, r, NULL, NULL, 1, 0);
                    if (v > best) { best = v; bp = p; bh = hls[h]; }
                }
            }
        fr_covis_free(r->covis);
        r->covis = NULL;
        r->cp = bp;
        r->half_life = bh;
        if (fr_covis_build(B->d->h_off, B->d->h_items, B->d->n_users, B->d->n_items, &bp, &r->covis, err, errcap)) return -1;
        snprintf(r->tuned, sizeof r->tuned, "window %d, pair normalisation power %.2f, history half-life %g", bp.window, bp.norm_power, bh);
    } else if (r->kind == RK_RRF || rk_is_blend(r->kind)) {
        for (int p = 0; p < r->n_parts; p++)
            if (tune_and_run(B, r->parts[p], err, errcap)) return -1;
        const int feed = B->mode == FR_DS_FEED;
        if (rk_is_blend(r->kind)) {
            /* one signal pass with every part's tuned parameters: what the saved profile serves */
            for (int p = 0; p < r->n_parts; p++) {
                const rk *q = r->parts[p];
                if (q->kind == RK_EMBED) r->o.history_half_life = q->o.history_half_life;
                if (q->kind == RK_BM25) { r->o.bm25_k1 = q->o.bm25_k1; r->o.bm25_b = q->o.bm25_b; }
                if (q->kind == RK_LCOVIS) { r->window = q->window; r->o.covisitation_half_life = q->o.covisitation_half_life; r->o.covisitation_norm = q->o.covisitation_norm; }
            }
            fr_rank_options all = r->o;
            double ones[MAX_PARTS];
            for (int p = 0; p < MAX_PARTS; p++) ones[p] = 1;
            blend_options(r, ones, &all);
            all.cold_content_boost = feed ? 1 : 0; /* asks for the log signals even when a weight is 0 */
            if (sigset_compute(B, &r->ss, &all, r->window, -1, err, errcap)) return -1;
            if (r->kind == RK_BLEND || !feed) { if (!r->gate_given) { r->o.log_gate = 0; r->o.cold_content_boost = 0; } }
        }
        /* gblend: the gate and the boost are tuned jointly with the weights (a grid; weights given: gate only) */
        const double gates[] = {0.5, 0.75, 1, 1.5, 2, 3, 5, 10}, boosts[] = {0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3};
        const int NG = sizeof gates / sizeof gates[0], NB = sizeof boosts / sizeof boosts[0];
        const int n_gates = r->kind == RK_GBLEND && feed && !r->gate_given ? NG * NB : 1; /* no log (search): nothing to gate */
        double best = -1, bw[MAX_PARTS], bg = r->o.log_gate, bb = r->o.cold_content_boost;
        double best_cold = -1, cw[MAX_PARTS], cg = bg, cb = bb; /* fallback: the coldest-best setting */
        const double need = r->kind == RK_GBLEND && feed ? B->min_cold : 0;
        memcpy(bw, r->weights, sizeof bw);
        memcpy(cw, r->weights, sizeof cw);
        int n_w = 1;
        if (!r->weights_given) { /* settings on the simplex grid: C(10 + np - 1, np - 1) */
            n_w = 0;
            int idx[MAX_PARTS] = {0};
            for (;;) {
                int sum = 0;
                for (int p = 0; p < r->n_parts - 1; p++) sum += idx[p];
                n_w += sum <= 10;
                int p = 0;
                while (p < r->n_parts - 1 && ++idx[p] > 10) idx[p++] = 0;
                if (p == r->n_parts - 1) break;
            }
        }
        long done = 0, total = (long)n_gates * n_w;
        for (int gi = 0; gi < n_gates; gi++) {
            if (n_gates > 1) { r->o.log_gate = (float)gates[gi / NB]; r->o.cold_content_boost = (float)boosts[gi % NB]; }
            fr_rank_options o = r->o;
            if (r->weights_given) {
                blend_options(r, r->weights, &o);
                v = run_ranker(B, r, &o, r->weights, 1, 0);
                if (B->last_cold > best_cold) { best_cold = B->last_cold; cg = o.log_gate; cb = o.cold_content_boost; }
                if (v > best && B->last_cold >= need) { best = v; bg = o.log_gate; bb = o.cold_content_boost; }
                progress(B, r->name, ++done, total);
                continue;
            }
            /* grid over the simplex in steps of 0.1 */
            double w[MAX_PARTS];
            int np = r->n_parts, steps = 10, idx[MAX_PARTS] = {0};
            for (;;) {
                int sum = 0;
                for (int p = 0; p < np - 1; p++) sum += idx[p];
                if (sum <= steps) {
                    idx[np - 1] = steps - sum;
                    for (int p = 0; p < np; p++) w[p] = idx[p] / (double)steps;
                    blend_options(r, w, &o);
                    v = run_ranker(B, r, &o, w, B->frontier ? -1 : 1, 0);
                    if (B->frontier) { /* scored both halves; the choice still sees the tuning half only */
                        v = B->h_all[1];
                        B->last_cold = B->h_cold[1];
                        frontier_row(B, r, w);
                    }
                    if (B->last_cold > best_cold) { best_cold = B->last_cold; memcpy(cw, w, sizeof w); cg = o.log_gate; cb = o.cold_content_boost; }
                    if (v > best && B->last_cold >= need) { best = v; memcpy(bw, w, sizeof w); bg = o.log_gate; bb = o.cold_content_boost; }
                    progress(B, r->name, ++done, total);
                }
                int p = 0;
                while (p < np - 1 && ++idx[p] > steps) idx[p++] = 0;
                if (p == np - 1) break;
            }
        }
        if (best < 0) { /* no setting met --min-cold: the one closest to it */
            fprintf(stderr, "feedrank bench: %s: no setting reaches --min-cold %g on the tuning half; using the best cold slice (%.4f)\n",
                    r->name, need, best_cold);
            memcpy(bw, cw, sizeof bw);
            bg = cg;
            bb = cb;
        }
        memcpy(r->weights, bw, sizeof bw);
        r->o.log_gate = (float)bg;
        r->o.cold_content_boost = (float)bb;
        blend_options(r, r->weights, &r->o);
        char *t = r->tuned;
        size_t left = sizeof r->tuned;
        int n = snprintf(t, left, "weights");
        for (int p = 0; p < r->n_parts && n > 0 && (size_t)n < left; p++) {
            t += n; left -= (size_t)n;
            n = snprintf(t, left, "%s %s %.1f", p ? "," : "", r->parts[p]->name, r->weights[p]);
        }
        if (r->kind == RK_GBLEND) { size_t l = strlen(r->tuned); snprintf(r->tuned + l, sizeof r->tuned - l, "; log gate %g, cold content boost %g", r->o.log_gate, r->o.cold_content_boost); }
        if (!r->weights_given) { size_t l = strlen(r->tuned); snprintf(r->tuned + l, sizeof r->tuned - l, " (tuned)"); }
    }
    if (rk_is_signal(r->kind)) {
        fr_rank_options o = alone(r);
        if (sigset_compute(B, &r->ss, &o, r->window, -1, err, errcap)) return -1;
        run_ranker(B, r, &o, NULL, -1, 1);
    } else {
        run_ranker(B, r, &r->o, r->weights, -1, 1);
    }
    if (r->kind != RK_PROFILE) sigset_free(&r->ss); /* scores kept; the signals are not needed again */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (B->n_done < (int)(sizeof B->done / sizeof B->done[0])) B->done[B->n_done++] = r;
    return 0;
}

/* Progress of a long step on stderr: a bar redrawn in place on a terminal, else a line every 10 s. */
static void progress(bench *B, const char *what, long done, long total) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const double now = ts.tv_sec + ts.tv_nsec * 1e-9;
    const int last = done >= total;
    if (B->tty) {
        if (!last && now - B->last_progress < 0.2) return;
        const int width = 30, fill = total > 0 ? (int)(width * done / total) : width;
        fprintf(stderr, "\r  %-40.40s [%.*s%*s] %ld/%ld%s", what, fill, "##############################", width - fill, "", done, total, last ? "\n" : "");
    } else {
        if (!last && now - B->last_progress < 10) return;
        if (last && B->last_progress == 0) return; /* finished within 10 s: nothing to say */
        fprintf(stderr, "feedrank bench: %s: %ld/%ld (%.0f%%)\n", what, done, total, total > 0 ? 100.0 * done / total : 100.0);
    }
    B->last_progress = last ? 0 : now;
    fflush(stderr);
}

/* ---------- embeddings (cached as item stores) ---------- */

static int embed_cached(bench *B, fr_encoder *enc, char **texts, int n, fr_text_kind kind, const char *cache_dir, const char *tag,
                        float *out, char *err, size_t errcap) {
    const int D = fr_encoder_dim(enc);
    uint64_t h = fr_encoder_fingerprint(enc) ^ (uint64_t)kind;
    for (int i = 0; i < n; i++) h = fr_hash64(texts[i], strlen(texts[i]) + 1, h);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%016" PRIx64 ".store", cache_dir, tag, h);
    fr_store *s;
    if (fr_store_open(path, fr_encoder_fingerprint(enc), 0, &s, NULL, 0) == FR_OK) {
        int ok = fr_store_info_of(s)->count == (uint64_t)n && fr_store_info_of(s)->dim == D;
        for (int i = 0; ok && i < n; i++) fr_store_vector(s, (uint64_t)i, out + (size_t)i * D);
        fr_store_close(s);
        if (ok) { fprintf(stderr, "feedrank bench: %s embeddings from cache %s\n", tag, path); return 0; }
    }
    fprintf(stderr, "feedrank bench: embedding %d %s texts with %s ...\n", n, tag, fr_encoder_name(enc));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i += 256) {
        int m = n - i < 256 ? n - i : 256;
        if (fr_encoder_embed(enc, (const char *const *)texts + i, NULL, m, kind, out + (size_t)i * D, NULL, err, errcap)) return -1;
        char what[64];
        snprintf(what, sizeof what, "embedding %s", tag);
        progress(B, what, i + m, n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "feedrank bench: %d texts in %.1f s\n", n, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    mkdir(cache_dir, 0755);
    fr_store_writer *w;
    if (fr_store_writer_open(path, D, FR_STORE_F32, fr_encoder_name(enc), fr_encoder_fingerprint(enc), 0, &w, NULL, 0) == FR_OK) {
        int bad = 0;
        for (int i = 0; i < n && !bad; i++) {
            char id[16];
            int il = snprintf(id, sizeof id, "%d", i);
            bad = fr_store_writer_add(w, id, (size_t)il, out + (size_t)i * D, NULL, 0, NULL, 0) != FR_OK;
        }
        if (bad) fr_store_writer_abort(w);
        else fr_store_writer_finish(w, NULL, 0);
    }
    return 0;
}

/* ---------- cases ---------- */

static int build_cases(bench *B, int distractors, int negatives, int popularity_sampler, int cold_k, char *err, size_t errcap) {
    fr_dataset *d = B->d;
    size_t cap = 0, total = 0;
    int max_cases = d->mode == FR_DS_SEARCH ? d->n_queries : d->n_users;
    B->c_off = malloc(sizeof(int) * ((size_t)max_cases + 1));
    B->c_src = malloc(sizeof(int) * (size_t)max_cases);
    B->c_tune = malloc(sizeof(int) * (size_t)max_cases);
    B->c_cold = calloc((size_t)max_cases, sizeof(int));
    if (!B->c_off || !B->c_src || !B->c_tune || !B->c_cold) goto oom;
    B->c_off[0] = 0;
    double *cum = NULL;
    if (d->mode == FR_DS_FEED && popularity_sampler) {
        cum = malloc(sizeof(double) * (size_t)d->n_items);
        if (!cum) goto oom;
        double acc = 0;
        for (int i = 0; i < d->n_items; i++) { acc += B->pop[i] + 1; cum[i] = acc; } /* +1: unseen items can be drawn */
    }
    char *mark = calloc((size_t)d->n_items, 1);
    if (!mark) { free(cum); goto oom; }
    for (int s = 0; s < max_cases; s++) {
        int extra = d->mode == FR_DS_SEARCH ? distractors : negatives;
        int base_n = d->mode == FR_DS_SEARCH ? d->q_off[s + 1] - d->q_off[s] : 1;
        if (d->mode == FR_DS_SEARCH) {
            int rel = 0;
            for (int j = d->q_off[s]; j < d->q_off[s + 1]; j++) rel |= d->q_grades[j] > d->grade_min;
            if (base_n < 2 || !rel) continue;
        }
        if (total + (size_t)base_n + (size_t)extra > cap) {
            cap = (total + (size_t)base_n + (size_t)extra) * 2;
            int *a = realloc(B->c_items, sizeof(int) * cap);
            float *g = a ? realloc(B->c_grades, sizeof(float) * cap) : NULL, *p = g ? realloc(B->c_pos, sizeof(float) * cap) : NULL;
            if (a) B->c_items = a;
            if (g) B->c_grades = g;
            if (!a || !g || !p) { free(cum); free(mark); goto oom; }
            B->c_pos = p;
        }
        int k = B->n_cases;
        size_t at = total;
        const char *key;
        if (d->mode == FR_DS_SEARCH) {
            for (int j = d->q_off[s]; j < d->q_off[s + 1]; j++) {
                B->c_items[at] = d->q_items[j];
                B->c_grades[at] = d->q_grades[j];
                B->c_pos[at] = (float)(j - d->q_off[s]);
                mark[d->q_items[j]] = 1;
                at++;
            }
            key = d->query_texts[s];
        } else {
            B->c_items[at] = d->target[s];
            B->c_grades[at] = 1;
            B->c_pos[at++] = 0;
            mark[d->target[s]] = 1;
            for (int j = d->h_off[s]; j < d->h_off[s + 1]; j++) mark[d->h_items[j]] = 1;
            key = d->user_ids[s];
            B->c_cold[k] = B->pop[d->target[s]] < cold_k;
        }
        /* distractors / negatives: distinct, never judged, never history or target */
        int avail = d->n_items;
        for (int i = 0; i < d->n_items && avail >= 0; i++) if (mark[i]) avail--;
        if (extra > avail) extra = avail;
        for (int e = 0, tries = 0; e < extra && tries < extra * 1000 + 1000; tries++) {
            double u = fr_uniform3(B->seed, 0x5EED0000u + (uint64_t)s, (uint64_t)tries);
            int it;
            if (cum) {
                double target = u * cum[d->n_items - 1];
                int lo = 0, hi = d->n_items - 1;
                while (lo < hi) { int mid = (lo + hi) / 2; if (cum[mid] <= target) lo = mid + 1; else hi = mid; }
                it = lo;
            } else {
                it = (int)(u * d->n_items);
                if (it >= d->n_items) it = d->n_items - 1;
            }
            if (mark[it]) continue;
            mark[it] = 1;
            B->c_items[at] = it;
            B->c_grades[at] = d->mode == FR_DS_SEARCH ? d->grade_min : 0;
            B->c_pos[at++] = (float)(base_n + e);
            e++;
        }
        if ((d->mode == FR_DS_FEED || extra > 0) && at > total + 1) {
            /* shuffle the case (seeded): the target, or which items were judged rather than drawn
             * as distractors, must not be readable from candidate positions. c_pos (the dataset
             * order the "order" ranker uses) moves with its item. */
            for (size_t i = at - 1; i > total; i--) {
                size_t j = total + (size_t)(fr_uniform3(B->seed, 0x5EAF1Eu + (uint64_t)s, (uint64_t)i) * (double)(i - total + 1));
                if (j > i) j = i;
                int ti = B->c_items[i];
                float tg = B->c_grades[i], tp = B->c_pos[i];
                B->c_items[i] = B->c_items[j]; B->c_grades[i] = B->c_grades[j]; B->c_pos[i] = B->c_pos[j];
                B->c_items[j] = ti; B->c_grades[j] = tg; B->c_pos[j] = tp;
            }
        }
        for (size_t i = total; i < at; i++) mark[B->c_items[i]] = 0;
        if (d->mode == FR_DS_FEED) for (int j = d->h_off[s]; j < d->h_off[s + 1]; j++) mark[d->h_items[j]] = 0;
        B->c_src[k] = s;
        B->c_tune[k] = (fr_hash64(key, strlen(key), 0x7E57) & 1) == 0;
        total = at;
        B->c_off[++B->n_cases] = (int)total;
    }
    free(mark);
    free(cum);
    return 0;
oom:
    fr_fail(FR_ERR_NOMEM, err, errcap, "bench: out of memory");
    return -1;
}

/* ---------- report ---------- */

static const char *METRIC[5] = {"NDCG@5", "NDCG@10", "HR@1", "HR@10", "MRR"};

typedef struct { double *x; int n; } sel;

/* Report slices. Feed adds the slices the log-signal goals are stated on: cold-start targets (all,
 * and the report half's alone - the cases no tuning saw) and warm targets. */
enum { SL_REPORT, SL_ALL, SL_COLD, SL_COLD_REPORT, SL_WARM, SL_COUNT };
static const char *SLICE_NAME[SL_COUNT] = {"report half", "all cases", "cold-start slice", "cold-start slice, report half",
                                           "warm targets"};

static int in_slice(const bench *B, int k, int which) {
    const int cold = B->c_cold && B->c_cold[k];
    switch (which) {
    case SL_REPORT: return !B->c_tune[k];
    case SL_COLD: return cold;
    case SL_COLD_REPORT: return cold && !B->c_tune[k];
    case SL_WARM: return !cold;
    default: return 1;
    }
}

static sel select_cases(const bench *B, const double *m, int which) {
    sel s = {malloc(sizeof(double) * (size_t)(B->n_cases ? B->n_cases : 1)), 0};
    for (int k = 0; s.x && k < B->n_cases; k++)
        if (in_slice(B, k, which)) s.x[s.n++] = m[k];
    return s;
}

static const char *case_label(const bench *B, int k) {
    return B->d->mode == FR_DS_SEARCH ? B->d->query_texts[B->c_src[k]] : B->d->user_ids[B->c_src[k]];
}

/* The B-vs-A comparison on NDCG@10 over one slice. */
typedef struct {
    double gain, headroom, p;       /* gain (B-A)/A (NAN when A = 0); headroom closed (search; NAN in feed) */
    fr_interval diff;
    int win, tie, loss, n;
} cmp_ab;

static cmp_ab compare(const bench *B, const rk *A, const rk *Bk, int slice, int rounds) {
    cmp_ab c = {NAN, NAN, 1, {0, 0, 0}, 0, 0, 0, 0};
    sel a = select_cases(B, A->m[1], slice), b = select_cases(B, Bk->m[1], slice);
    double *diff = malloc(sizeof(double) * (size_t)(a.n ? a.n : 1));
    if (a.x && b.x && diff) {
        double ma = 0, mb = 0;
        for (int i = 0; i < a.n; i++) {
            diff[i] = b.x[i] - a.x[i];
            ma += a.x[i];
            mb += b.x[i];
            if (diff[i] > 1e-9) c.win++; else if (diff[i] < -1e-9) c.loss++; else c.tie++;
        }
        ma /= a.n ? a.n : 1;
        mb /= a.n ? a.n : 1;
        c.n = a.n;
        c.diff = fr_bootstrap(diff, a.n, rounds, B->seed + 99);
        c.p = fr_paired_p(a.x, b.x, a.n);
        if (ma > 0) c.gain = (mb - ma) / ma;
        if (B->d->mode == FR_DS_SEARCH && ma < 1) c.headroom = (mb - ma) / (1 - ma);
    }
    free(diff);
    free(a.x);
    free(b.x);
    return c;
}

/* JSON number, or null when not finite. */
static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* A plot label: at most 40 bytes (long ranker specs keep their start and end). */
static void plot_label(char *out, size_t cap, const char *name) {
    size_t n = strlen(name);
    if (n <= 40) snprintf(out, cap, "%s", name);
    else snprintf(out, cap, "%.24s...%s", name, name + n - 13);
    for (char *p = out; *p; p++) if (*p == '\'' || *p == '"') *p = '`'; /* inside gnuplot quotes */
}

static void report(bench *B, rk **rks, int nr, int rounds, const char *out_dir, const char *cmdline, const char *model,
                   const char *summary, int distractors, int negatives, const char *sampler, int cold_k) {
    const int feed = B->d->mode == FR_DS_FEED, nm = feed ? 5 : 3; /* search: NDCG@5, NDCG@10, MRR */
    const int mi[5] = {0, 1, feed ? 2 : 4, 3, 4};
    FILE *md = stdout, *js = NULL;
    char path[4096];
    if (out_dir) {
        mkdir(out_dir, 0755);
        snprintf(path, sizeof path, "%s/report.md", out_dir);
        FILE *f = fopen(path, "w");
        if (f) md = f;
        snprintf(path, sizeof path, "%s/report.json", out_dir);
        js = fopen(path, "w");
    }
    int n_tune = 0, n_cold = 0;
    for (int k = 0; k < B->n_cases; k++) { n_tune += B->c_tune[k]; n_cold += B->c_cold[k]; }
    char protocol[512], ties[160], cases_line[256];
    if (feed) snprintf(protocol, sizeof protocol, "target + %d %s negatives per user (never history or target), seed %" PRIu64 "; popularity and co-visitation from the file's histories; target at a random position", negatives, sampler, B->seed);
    else snprintf(protocol, sizeof protocol, "queries with >= 2 judged items and a grade above %g; candidates = judged items%s; gain 2^(grade - %g) - 1", B->d->grade_min, distractors ? " + random distractors (irrelevant)" : "", B->d->grade_min);
    snprintf(ties, sizeof ties, "%s", B->ties_order ? "broken by candidate order (dataset order in search mode; random positions in feed mode)" : "broken against the relevant item (pessimistic)");
    snprintf(cases_line, sizeof cases_line, "%d (tuning half %d, report half %d); parameters tuned on the tuning half only; %d bootstrap rounds for 95%% intervals", B->n_cases, n_tune, B->n_cases - n_tune, rounds);
    fprintf(md, "# feedrank A/B report\n\n");
    fprintf(md, "- command: `%s`\n- data: %s\n- model: %s\n", cmdline, summary, model ? model : "(none)");
    fprintf(md, "- scoring: every ranker through the served ranker (fr_rank_signals_of + fr_rank_combine; profiles by fr_rank as written)\n");
    fprintf(md, "- protocol: %s\n- ties: %s\n", protocol, ties);
    if (distractors) fprintf(md, "- slate: %d random catalogue items added per query, seed %" PRIu64 "\n", distractors, B->seed);
    fprintf(md, "- cases: %s\n", cases_line);
    if (feed) fprintf(md, "- cold-start slice: target seen < %d times in the log: %d cases\n", cold_k, n_cold);
    if (js) {
        fprintf(js, "{\"command\":"); fr_cli_json_string(js, cmdline);
        fprintf(js, ",\"data\":"); fr_cli_json_string(js, summary);
        fprintf(js, ",\"model\":"); fr_cli_json_string(js, model ? model : "");
        fprintf(js, ",\"mode\":\"%s\",\"protocol\":", feed ? "feed" : "search"); fr_cli_json_string(js, protocol);
        fprintf(js, ",\"ties\":\"%s\",\"seed\":%" PRIu64 ",\"negatives\":%d,\"sampler\":", B->ties_order ? "order" : "against", B->seed, negatives);
        fr_cli_json_string(js, sampler);
        fprintf(js, ",\"distractors\":%d,\"bootstrap_rounds\":%d,\"cold_k\":%d,\"cold_cases\":%d,\"cases\":%d,\"tuning_cases\":%d,\"rankers\":[",
                distractors, rounds, cold_k, n_cold, B->n_cases, n_tune);
    }
    const int n_slices = feed ? SL_COUNT : SL_COLD;
    for (int slice = 0; slice < n_slices; slice++) {
        fprintf(md, "\n## %s\n\n| ranker | tuned | ", SLICE_NAME[slice]);
        for (int j = 0; j < nm; j++) fprintf(md, "%s (95%% CI) | ", METRIC[mi[j]]);
        fprintf(md, "\n|---|---|");
        for (int j = 0; j < nm; j++) fprintf(md, "---|");
        fprintf(md, "\n");
        for (int r = 0; r < nr; r++) {
            fprintf(md, "| %s%s | %s |", r == 0 ? "A: " : "B: ", rks[r]->name, rks[r]->tuned[0] ? rks[r]->tuned : "-");
            for (int j = 0; j < nm; j++) {
                sel s = select_cases(B, rks[r]->m[mi[j]], slice);
                fr_interval ci = fr_bootstrap(s.x, s.n, rounds, B->seed + (uint64_t)j);
                fprintf(md, " %.4f (%.4f-%.4f) |", ci.mean, ci.lo, ci.hi);
                if (js) {
                    fprintf(js, "%s{\"slice\":\"%s\",\"ranker\":", (slice || r || j) ? "," : "", SLICE_NAME[slice]);
                    fr_cli_json_string(js, rks[r]->name);
                    fprintf(js, ",\"metric\":\"%s\",\"mean\":%.6f,\"lo\":%.6f,\"hi\":%.6f,\"n\":%d}", METRIC[mi[j]], ci.mean, ci.lo, ci.hi, s.n);
                }
                free(s.x);
            }
            fprintf(md, "\n");
        }
        /* B vs A on NDCG@10 */
        fprintf(md, "\n| B vs A (NDCG@10) | gain (B-A)/A | diff (95%% CI) | %s | paired p | win / tie / loss |\n|---|---|---|---|---|---|\n", feed ? "-" : "headroom closed (B-A)/(1-A)");
        for (int r = 1; r < nr; r++) {
            cmp_ab c = compare(B, rks[0], rks[r], slice, rounds);
            char head[32] = "-", gain[32] = "n/a (A = 0)";
            if (isfinite(c.headroom)) snprintf(head, sizeof head, "%+.1f%%", 100 * c.headroom);
            if (isfinite(c.gain)) snprintf(gain, sizeof gain, "%+.1f%%", 100 * c.gain);
            fprintf(md, "| %s | %s | %+.4f (%+.4f..%+.4f) | %s | %.2g | %d / %d / %d |\n", rks[r]->name, gain, c.diff.mean, c.diff.lo, c.diff.hi, head, c.p,
                    c.win, c.tie, c.loss);
        }
    }
    if (js) { /* the same comparisons, every slice */
        fprintf(js, "],\"comparisons\":[");
        int first = 1;
        for (int slice = 0; slice < n_slices; slice++)
            for (int r = 1; r < nr; r++) {
                cmp_ab c = compare(B, rks[0], rks[r], slice, rounds);
                fprintf(js, "%s{\"slice\":\"%s\",\"metric\":\"NDCG@10\",\"a\":", first ? "" : ",", SLICE_NAME[slice]);
                first = 0;
                fr_cli_json_string(js, rks[0]->name);
                fprintf(js, ",\"b\":");
                fr_cli_json_string(js, rks[r]->name);
                fprintf(js, ",\"n\":%d,\"gain\":", c.n); json_num(js, c.gain);
                fprintf(js, ",\"diff\":%.6f,\"diff_lo\":%.6f,\"diff_hi\":%.6f,\"headroom_closed\":", c.diff.mean, c.diff.lo, c.diff.hi); json_num(js, c.headroom);
                fprintf(js, ",\"paired_p\":"); json_num(js, c.p);
                fprintf(js, ",\"win\":%d,\"tie\":%d,\"loss\":%d}", c.win, c.tie, c.loss);
            }
    }
    /* cases helped and hurt most by the best B */
    if (nr > 1) {
        rk *A = rks[0], *Bk = rks[1];
        double bestm = -1;
        for (int r = 1; r < nr; r++) {
            double m = 0;
            for (int k = 0; k < B->n_cases; k++) m += rks[r]->m[1][k];
            if (m > bestm) { bestm = m; Bk = rks[r]; }
        }
        int *idx = malloc(sizeof(int) * (size_t)(B->n_cases ? B->n_cases : 1));
        int n = 0;
        for (int k = 0; idx && k < B->n_cases; k++) idx[n++] = k;
        if (js) { fprintf(js, "],\"cases_most\":{\"ranker\":"); fr_cli_json_string(js, Bk->name); }
        for (int pass = 0; idx && pass < 2; pass++) {
            fprintf(md, "\n## cases %s %s most (NDCG@10, all cases)\n\n", Bk->name, pass == 0 ? "hurts" : "helps");
            fprintf(md, "| %s | A | B |\n|---|---|---|\n", feed ? "user" : "query");
            if (js) fprintf(js, ",\"%s\":[", pass == 0 ? "hurts" : "helps");
            for (int t = 0; t < 5 && t < n; t++) {
                int best = -1;
                double bv = 0;
                for (int k = 0; k < n; k++) {
                    int c = idx[k];
                    if (c < 0) continue;
                    double dlt = Bk->m[1][c] - A->m[1][c];
                    if (pass == 0) dlt = -dlt;
                    if (best < 0 || dlt > bv) { bv = dlt; best = k; }
                }
                if (best < 0 || bv <= 0) break;
                int c = idx[best];
                fprintf(md, "| %s | %.3f | %.3f |\n", case_label(B, c), A->m[1][c], Bk->m[1][c]);
                if (js) { fprintf(js, "%s{\"case\":", t ? "," : ""); fr_cli_json_string(js, case_label(B, c)); fprintf(js, ",\"a\":%.6f,\"b\":%.6f}", A->m[1][c], Bk->m[1][c]); }
                idx[best] = -1;
            }
            if (js) fprintf(js, "]");
            for (int k = 0; k < n; k++) idx[k] = k;
        }
        if (js) fprintf(js, "}");
        free(idx);
    } else if (js) fprintf(js, "]");
    fprintf(md, "\n## timing\n\n| ranker | seconds (tuning + scoring all cases) | per case |\n|---|---|---|\n");
    for (int r = 0; r < nr; r++) fprintf(md, "| %s | %.2f | %.3f ms |\n", rks[r]->name, rks[r]->seconds, 1e3 * rks[r]->seconds / (B->n_cases ? B->n_cases : 1));
    if (js) {
        fprintf(js, ",\"tuned\":{");
        for (int r = 0; r < nr; r++) { fprintf(js, "%s", r ? "," : ""); fr_cli_json_string(js, rks[r]->name); fputc(':', js); fr_cli_json_string(js, rks[r]->tuned); }
        fprintf(js, "},\"seconds\":{");
        for (int r = 0; r < nr; r++) { fprintf(js, "%s", r ? "," : ""); fr_cli_json_string(js, rks[r]->name); fprintf(js, ":%.3f", rks[r]->seconds); }
        fprintf(js, "}}\n");
        fclose(js);
    }
    /* plots (gnuplot, labels as plain text): NDCG@10 with intervals per ranker (all cases, and the
     * cold-start slice in feed mode), a per-case difference histogram per B ranker, and the tuning
     * frontier when --frontier wrote one */
    if (out_dir) {
        const int W = 900 > 140 + 90 * nr ? 900 : 140 + 90 * nr;
        const char *term[2][2] = {{"pngcairo noenhanced size %d,%d font ',10'", "png"}, {"svg noenhanced size %d,%d font ',10'", "svg"}};
        const int slices[2] = {SL_ALL, SL_COLD};
        for (int q = 0; q < (feed ? 2 : 1); q++) {
            snprintf(path, sizeof path, "%s/ndcg10%s.dat", out_dir, q ? "_cold" : "");
            FILE *f = fopen(path, "w");
            for (int r = 0; f && r < nr; r++) {
                sel s = select_cases(B, rks[r]->m[1], slices[q]);
                fr_interval ci = fr_bootstrap(s.x, s.n, rounds, B->seed + 1);
                char lab[64];
                plot_label(lab, sizeof lab, rks[r]->name);
                fprintf(f, "%d \"%s\" %.6f %.6f %.6f\n", r, lab, ci.mean, ci.lo, ci.hi);
                free(s.x);
            }
            if (f) fclose(f);
        }
        for (int r = 1; r < nr; r++) {
            snprintf(path, sizeof path, "%s/diff%d.dat", out_dir, r);
            FILE *f = fopen(path, "w");
            for (int k = 0; f && k < B->n_cases; k++) fprintf(f, "%.6f\n", rks[r]->m[1][k] - rks[0]->m[1][k]);
            if (f) fclose(f);
        }
        snprintf(path, sizeof path, "%s/plots.gp", out_dir);
        FILE *f = fopen(path, "w");
        if (f) {
            char alab[64];
            plot_label(alab, sizeof alab, rks[0]->name);
            for (int t = 0; t < 2; t++) {
                fprintf(f, "set terminal ");
                fprintf(f, term[t][0], W, 640);
                fprintf(f, "\nset bmargin 15\nset lmargin 10\nset rmargin 16\nset grid ytics\nset style fill solid 0.5\nset boxwidth 0.6\nunset key\nset xtics rotate by -30 left\n"
                           "set xrange [-0.6:%d.6]\nset ylabel 'NDCG@10'\n", nr - 1);
                for (int q = 0; q < (feed ? 2 : 1); q++)
                    fprintf(f, "set output '%s/ndcg10%s.%s'\nset title 'NDCG@10, %s (%d cases; 95%% bootstrap CI)'\nset yrange [0:1]\n"
                               "plot '%s/ndcg10%s.dat' using 1:3:xtic(2) with boxes lc rgb '#4477aa', '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0,"
                               " '' using 1:($5 + 0.03):(sprintf('%%.3f', $3)) with labels font ',9'\n",
                            out_dir, q ? "_cold" : "", term[t][1], q ? "cold-start slice" : "all cases", q ? n_cold : B->n_cases, out_dir, q ? "_cold" : "");
                /* per-case differences: NDCG@10 lies in [0, 1], so differences in [-1, 1]; 0.1-wide bins centred on multiples of 0.1, zero alone */
                fprintf(f, "set terminal ");
                fprintf(f, term[t][0], 900, 500);
                fprintf(f, "\nset bmargin 4\nset rmargin 4\nset xtics norotate 0.2\nset xrange [-1.1:1.1]\nset yrange [0:*]\nset offsets 0, 0, graph 0.08, 0\nset ylabel 'cases'\nset xlabel 'NDCG@10 of B minus A, per case (0.1 bins)'\n"
                           "set boxwidth 0.09\nbin(x) = 0.1 * floor(x / 0.1 + 0.5)\n");
                for (int r = 1; r < nr; r++) {
                    char blab[64];
                    plot_label(blab, sizeof blab, rks[r]->name);
                    fprintf(f, "set output '%s/diff%d.%s'\nset title 'per case NDCG@10: %s minus %s (%d cases)'\n"
                               "plot '%s/diff%d.dat' using (bin($1)):(1.0) smooth freq with boxes lc rgb '#4477aa'\n",
                            out_dir, r, term[t][1], blab, alab, B->n_cases, out_dir, r);
                }
                fprintf(f, "unset xlabel\nset offsets 0, 0, 0, 0\n");
                if (B->frontier_path && B->frontier_parts > 0)
                    fprintf(f, "set output '%s/frontier.%s'\nset title 'tuning frontier: every grid setting (report half)'\nset xlabel 'cold-start slice NDCG@10'\n"
                               "set ylabel 'NDCG@10, all cases'\nset xrange [0:*]\nset yrange [0:*]\nset xtics auto\n"
                               "plot '%s' using %d:%d every ::1 with points pt 7 ps 0.4 lc rgb '#4477aa'\n",
                            out_dir, term[t][1], B->frontier_path, B->frontier_parts + 6, B->frontier_parts + 5);
            }
            fclose(f);
            if (B->frontier) fflush(B->frontier);
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "gnuplot '%s/plots.gp' 2>/dev/null", out_dir);
            int gp = access("/usr/bin/gnuplot", X_OK) == 0 ? system(cmd) : -1;
            fprintf(md, "\n%s\n", gp == 0 ? "Plots (gnuplot, PNG and SVG): ndcg10, ndcg10_cold (feed), diffN per B ranker N, frontier (with --frontier)."
                                          : "Plots: gnuplot not available; data in ndcg10*.dat and diffN.dat, script plots.gp.");
        }
    }
    if (md != stdout) {
        fclose(md);
        snprintf(path, sizeof path, "%s/report.md", out_dir);
        fprintf(stderr, "feedrank bench: report written to %s\n", path);
        FILE *f = fopen(path, "r");
        char buf[4096];
        size_t got;
        while (f && (got = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, got, stdout);
        if (f) fclose(f);
    }
}

/* mean NDCG@10 of r over a report slice (SL_*) */
static double mean_ndcg10(const bench *B, const rk *r, int which) {
    double sum = 0;
    int n = 0;
    for (int k = 0; k < B->n_cases; k++)
        if (in_slice(B, k, which)) { sum += r->m[1][k]; n++; }
    return n ? sum / n : 0;
}

/* The first B blend / gblend as a ranking profile, with where and how it was tuned. */
static int save_profile_of(bench *B, rk **rks, int nr, const char *path, const char *dataset, const char *data, int seed,
                           char *err, size_t errcap) {
    rk *r = NULL;
    for (int i = 1; i < nr && !r; i++)
        if (rks[i]->kind == RK_GBLEND || rks[i]->kind == RK_BLEND) r = rks[i];
    if (!r) { fr_fail(FR_ERR_ARG, err, errcap, "--save-profile: no B ranker is a blend or gblend"); return 1; }
    fr_rank_options o = r->o; /* everything tuning chose: weights, gate, boost, half-lives, BM25 k1/b, covis norm */
    o.upstream_weight = 0;
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f) { fr_fail(FR_ERR_NOMEM, err, errcap, "--save-profile: out of memory"); return 1; }
    char tuned[2048], base[256];
    const char *slash = strrchr(data, '/');
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : data);
    int n = snprintf(tuned, sizeof tuned,
                     "{\"by\": \"feedrank tune (grid search on the tuning half; seed %d)\", \"dataset\": \"%s\", \"data\": \"%s\", "
                     "\"ranker\": \"%s\", \"report_half_ndcg10\": %.4f, \"baseline\": \"%s\", \"baseline_report_half_ndcg10\": %.4f",
                     seed, dataset, base, r->name, mean_ndcg10(B, r, SL_REPORT), rks[0]->name, mean_ndcg10(B, rks[0], SL_REPORT));
    if (B->mode == FR_DS_FEED && B->c_cold && n > 0 && (size_t)n < sizeof tuned)
        n += snprintf(tuned + n, sizeof tuned - (size_t)n, ", \"all_ndcg10\": %.4f, \"baseline_all_ndcg10\": %.4f, \"warm_ndcg10\": %.4f, "
                      "\"cold_slice_ndcg10\": %.4f, \"cold_slice_report_half_ndcg10\": %.4f, \"min_cold\": %g",
                      mean_ndcg10(B, r, SL_ALL), mean_ndcg10(B, rks[0], SL_ALL), mean_ndcg10(B, r, SL_WARM), mean_ndcg10(B, r, SL_COLD),
                      mean_ndcg10(B, r, SL_COLD_REPORT), B->min_cold);
    fr_priors_params pp;
    fr_priors_params_default(&pp);
    for (int p = 0; p < r->n_parts; p++)
        if (r->parts[p]->kind == RK_LCOVIS && n > 0 && (size_t)n < sizeof tuned)
            n += snprintf(tuned + n, sizeof tuned - (size_t)n, ", \"priors_window\": %d, \"priors_neighbors\": %d", r->window, pp.capacity);
    if (n > 0 && (size_t)n < sizeof tuned) snprintf(tuned + n, sizeof tuned - (size_t)n, "}");
    char name[64];
    snprintf(name, sizeof name, "%.40s-tuned", dataset);
    fr_status rc = fr_profile_write(f, name, &o, tuned, err, errcap);
    if (fclose(f) != 0 && !rc) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "--save-profile: out of memory");
    if (!rc) rc = fr_cli_write_file(path, text, text_len, err, errcap);
    free(text);
    if (rc) return 1;
    fprintf(stderr, "feedrank bench ab: profile written to %s\n", path);
    return 0;
}

/* --dump-rankings: per case, each ranker's order (the metrics' order) and NDCG@10. */
static int write_rankings(bench *B, rk **rks, int nr, const char *path, char *err, size_t errcap) {
    FILE *f = fopen(path, "w");
    if (!f) { fr_fail(FR_ERR_IO, err, errcap, "cannot write %s: %s", path, strerror(errno)); return -1; }
    for (int k = 0; k < B->n_cases; k++) {
        const int n = B->c_off[k + 1] - B->c_off[k], off = B->c_off[k];
        fprintf(f, "{\"case\":");
        fr_cli_json_string(f, case_label(B, k));
        fprintf(f, ",\"grade_min\":%g,\"rankings\":{", B->d->mode == FR_DS_SEARCH ? B->d->grade_min : 0);
        for (int r = 0; r < nr; r++) {
            int *order = B->iwork;
            if (B->ties_order) fr_rank_by_score_stable(rks[r]->scores + off, n, order);
            else fr_rank_by_score(rks[r]->scores + off, B->c_grades + off, n, order);
            fprintf(f, "%s", r ? "," : "");
            fr_cli_json_string(f, rks[r]->name);
            fprintf(f, ":{\"ndcg10\":%.9f,\"order\":[", rks[r]->m[1][k]);
            for (int i = 0; i < n; i++) { fprintf(f, "%s", i ? "," : ""); fr_cli_json_string(f, B->d->item_ids[B->c_items[off + order[i]]]); }
            fprintf(f, "]}");
        }
        fprintf(f, "}}\n");
    }
    if (fclose(f) != 0) { fr_fail(FR_ERR_IO, err, errcap, "write failed: %s", path); return -1; }
    return 0;
}

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
            "      profile:FILE       a ranking profile (feedrank tune) as a gblend with its weights, gate and boost\n"
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

int fr_cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "ab") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) { bench_usage(stdout); return 0; }
        fprintf(stderr, "feedrank bench: expected 'ab'\n");
        bench_usage(stderr);
        return 2;
    }
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
            if (nb == MAX_RANKERS - 1) { fprintf(stderr, "feedrank bench: at most %d --b rankers\n", MAX_RANKERS - 1); return 2; }
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
    if (!dataset || !data || !a_spec || nb == 0) { fprintf(stderr, "feedrank bench ab: --dataset, --data, --a and --b are required\n"); bench_usage(stderr); return 2; }
    if (strcmp(ties, "against") != 0 && strcmp(ties, "order") != 0) { fprintf(stderr, "feedrank bench ab: --ties must be against or order\n"); return 2; }
    if (strcmp(sampler, "uniform") != 0 && strcmp(sampler, "popularity") != 0) { fprintf(stderr, "feedrank bench ab: --sampler must be uniform or popularity\n"); return 2; }
    char err[1024], cmdline[8192] = "feedrank bench";
    for (int i = 1; i < argc; i++) { /* shell-quoted, so that it can be pasted: 'it'\''s' */
        size_t l = strlen(cmdline);
        int plain = argv[i][0] != 0;
        for (const char *c = argv[i]; *c; c++) plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-_./:=,@%+", *c);
        if (plain) { snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]); continue; }
        if (l + 4 < sizeof cmdline) { cmdline[l++] = ' '; cmdline[l++] = '\''; cmdline[l] = 0; }
        for (const char *c = argv[i]; *c && l + 6 < sizeof cmdline; c++) {
            if (*c == '\'') { memcpy(cmdline + l, "'\\''", 4); l += 4; }
            else cmdline[l++] = *c;
            cmdline[l] = 0;
        }
        if (l + 2 < sizeof cmdline) { cmdline[l++] = '\''; cmdline[l] = 0; }
    }

    rk *rks[MAX_RANKERS] = {0};
    int nr = 0, rc = 0, need_embed = 0;
    const char *specs[MAX_RANKERS];
    specs[0] = a_spec;
    for (int i = 0; i < nb; i++) specs[i + 1] = b_specs[i];
    for (int i = 0; i <= nb; i++) {
        rk *r = rk_parse(specs[i], err, sizeof err);
        if (!r) { fprintf(stderr, "feedrank bench ab: %s\n", err); for (int j = 0; j < nr; j++) rk_free(rks[j]); return 2; }
        rks[nr++] = r;
    }
    bench B = {0};
    B.seed = (uint64_t)seed;
    B.cache = cache;
    B.data_hash = fr_hash64(data, strlen(data), 0xBE4C);
    B.tty = isatty(2);
    if (seq_model && fr_read_small_file(seq_model, (size_t)1 << 31, (char **)&B.seq_model, &B.seq_model_size, err, sizeof err)) {
        fprintf(stderr, "feedrank bench ab: --seq-model: %s\n", err);
        for (int j = 0; j < nr; j++) rk_free(rks[j]);
        return 1;
    }
    if (min_cold_s) {
        char *e;
        B.min_cold = strtod(min_cold_s, &e);
        if (*e || !(B.min_cold >= 0 && B.min_cold <= 1)) { fprintf(stderr, "feedrank bench ab: --min-cold must be a number in [0, 1]\n"); for (int j = 0; j < nr; j++) rk_free(rks[j]); return 2; }
    }
    B.ties_order = strcmp(ties, "order") == 0;
    B.frontier_path = frontier;
    if (frontier && !(B.frontier = fopen(frontier, "w"))) {
        fprintf(stderr, "feedrank bench ab: --frontier %s: %s\n", frontier, strerror(errno));
        for (int j = 0; j < nr; j++) rk_free(rks[j]);
        return 1;
    }
    fr_encoder *enc = NULL;
    if (fr_dataset_load(dataset, data, &B.d, err, sizeof err)) { fprintf(stderr, "feedrank bench ab: %s\n", err); rc = 1; goto done; }
    fr_dataset *d = B.d;
    B.mode = d->mode;
    if (limit) {
        if (d->mode == FR_DS_SEARCH && d->n_queries > limit) d->n_queries = (int)limit;
        if (d->mode == FR_DS_FEED && d->n_users > limit) d->n_users = (int)limit;
    }
    char summary[512];
    fr_dataset_summary(d, summary, sizeof summary);
    fprintf(stderr, "feedrank bench: %s\n", summary);
    /* check every ranker fits the mode, and what it needs */
    for (int i = 0; i < nr; i++) {
        rk *list[MAX_PARTS + 1];
        int n = 0;
        if (rks[i]->kind == RK_BLEND || rks[i]->kind == RK_RRF || rks[i]->kind == RK_GBLEND) for (int p = 0; p < rks[i]->n_parts; p++) list[n++] = rks[i]->parts[p];
        else list[n++] = rks[i];
        for (int p = 0; p < n; p++) {
            rk_kind k = list[p]->kind;
            if ((k == RK_BM25 || k == RK_ORDER) && d->mode != FR_DS_SEARCH) { fprintf(stderr, "feedrank bench ab: ranker '%s' needs a search dataset\n", list[p]->name); rc = 2; goto done; }
            if ((k == RK_POP || k == RK_COVIS || k == RK_LCOVIS || k == RK_SEQ) && d->mode != FR_DS_FEED) { fprintf(stderr, "feedrank bench ab: ranker '%s' needs a feed dataset (interaction histories)\n", list[p]->name); rc = 2; goto done; }
            if (k == RK_SEQ && !B.seq_model) { fprintf(stderr, "feedrank bench ab: ranker '%s' needs --seq-model FILE (feedrank train --model-out, trained on a store of this catalogue)\n", list[p]->name); rc = 2; goto done; }
            if (k == RK_PROFILE && rks[i]->o.sequential_weight != 0 && !B.seq_model) { fprintf(stderr, "feedrank bench ab: %s has a sequential weight: give --seq-model FILE\n", list[p]->name); rc = 2; goto done; }
            need_embed |= k == RK_EMBED || k == RK_SEQ || k == RK_PROFILE; /* seq reads the item vectors; a profile ranks by everything */
        }
    }
    B.pop = calloc((size_t)d->n_items, sizeof(double));
    if (!B.pop) { fprintf(stderr, "feedrank bench: out of memory\n"); rc = 1; goto done; }
    if (d->mode == FR_DS_FEED)
        for (int u = 0; u < d->n_users; u++)
            for (int j = d->h_off[u]; j < d->h_off[u + 1]; j++) B.pop[d->h_items[j]] += 1;
    if (build_cases(&B, (int)distractors, (int)negatives, strcmp(sampler, "popularity") == 0, (int)cold_k, err, sizeof err)) { fprintf(stderr, "%s\n", err); rc = 1; goto done; }
    if (B.n_cases == 0) { fprintf(stderr, "feedrank bench ab: no usable cases in %s\n", data); rc = 1; goto done; }
    { /* scratch sized to the largest case (--negatives / --distractors up to 100,000) */
        int maxn = 1;
        for (int k = 0; k < B.n_cases; k++) if (B.c_off[k + 1] - B.c_off[k] > maxn) maxn = B.c_off[k + 1] - B.c_off[k];
        if (grow_scratch(&B, maxn)) { fprintf(stderr, "feedrank bench: out of memory\n"); rc = 1; goto done; }
    }
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (!f) { fprintf(stderr, "feedrank bench ab: cannot write %s: %s\n", dump, strerror(errno)); rc = 1; goto done; }
        for (int k = 0; k < B.n_cases; k++) {
            fprintf(f, "{\"case\":");
            fr_cli_json_string(f, case_label(&B, k));
            fprintf(f, ",\"tuning\":%s,\"candidates\":[", B.c_tune[k] ? "true" : "false");
            for (int i = B.c_off[k]; i < B.c_off[k + 1]; i++) {
                fprintf(f, "%s[", i > B.c_off[k] ? "," : "");
                fr_cli_json_string(f, d->item_ids[B.c_items[i]]);
                fprintf(f, ",%g]", B.c_grades[i]);
            }
            fprintf(f, "]}\n");
        }
        fclose(f);
    }
    if (need_embed) {
        fr_encoder_options opt = {.backend = device};
        if (fr_encoder_load(fr_cli_model_dir(model), &opt, &enc, err, sizeof err)) { fprintf(stderr, "feedrank bench: cannot load model: %s\n", err); rc = 1; goto done; }
        B.dim = fr_encoder_dim(enc);
        B.model_fp = fr_encoder_fingerprint(enc);
        snprintf(B.model_name, sizeof B.model_name, "%s", fr_encoder_name(enc));
        B.item_vecs = malloc(sizeof(float) * (size_t)d->n_items * B.dim);
        if (!B.item_vecs) { rc = 1; goto done; }
        if (!limit) {
            if (embed_cached(&B, enc, d->item_texts, d->n_items, FR_TEXT_DOCUMENT, cache, "items", B.item_vecs, err, sizeof err)) { fprintf(stderr, "feedrank bench: %s\n", err); rc = 1; goto done; }
        } else { /* --limit: only the items its cases use (candidates and histories); the others stay 0 */
            char *used = calloc((size_t)d->n_items, 1);
            int *rows = malloc(sizeof(int) * (size_t)(d->n_items ? d->n_items : 1));
            char **sub = malloc(sizeof(char *) * (size_t)(d->n_items ? d->n_items : 1));
            float *vecs = NULL;
            int m = 0;
            if (used && rows && sub) {
                for (int i = 0; i < B.c_off[B.n_cases]; i++) used[B.c_items[i]] = 1;
                for (int k = 0; d->mode == FR_DS_FEED && k < B.n_cases; k++)
                    for (int j = d->h_off[B.c_src[k]]; j < d->h_off[B.c_src[k] + 1]; j++) used[d->h_items[j]] = 1;
                for (int i = 0; i < d->n_items; i++) if (used[i]) { rows[m] = i; sub[m++] = d->item_texts[i]; }
                vecs = malloc(sizeof(float) * (size_t)(m ? m : 1) * B.dim);
            }
            int bad = !vecs || embed_cached(&B, enc, sub, m, FR_TEXT_DOCUMENT, cache, "items", vecs, err, sizeof err);
            if (!bad) {
                memset(B.item_vecs, 0, sizeof(float) * (size_t)d->n_items * B.dim);
                for (int i = 0; i < m; i++) memcpy(B.item_vecs + (size_t)rows[i] * B.dim, vecs + (size_t)i * B.dim, sizeof(float) * B.dim);
                fprintf(stderr, "feedrank bench: --limit: %d of %d items embedded (those its cases use)\n", m, d->n_items);
            }
            const int oom = !vecs;
            free(used); free(rows); free(sub); free(vecs);
            if (bad) { fprintf(stderr, "feedrank bench: %s\n", oom ? "out of memory" : err); rc = 1; goto done; }
        }
        if (d->mode == FR_DS_SEARCH) {
            B.query_vecs = malloc(sizeof(float) * (size_t)d->n_queries * B.dim);
            if (!B.query_vecs) { rc = 1; goto done; }
            if (embed_cached(&B, enc, d->query_texts, d->n_queries, FR_TEXT_QUERY, cache, "queries", B.query_vecs, err, sizeof err)) { fprintf(stderr, "feedrank bench: %s\n", err); rc = 1; goto done; }
        }
    }
    for (int i = 0; i < nr; i++) {
        fprintf(stderr, "feedrank bench: ranker %s ...\n", rks[i]->name);
        if (tune_and_run(&B, rks[i], err, sizeof err)) { fprintf(stderr, "feedrank bench: %s\n", err); rc = 1; goto done; }
    }
    if (dump_rankings && write_rankings(&B, rks, nr, dump_rankings, err, sizeof err)) { fprintf(stderr, "feedrank bench ab: %s\n", err); rc = 1; goto done; }
    report(&B, rks, nr, (int)rounds, out_dir, cmdline, need_embed ? fr_encoder_name(enc) : NULL, summary, (int)distractors, (int)negatives, sampler, (int)cold_k);
    if (save_profile && (rc = save_profile_of(&B, rks, nr, save_profile, dataset, data, (int)seed, err, sizeof err)))
        fprintf(stderr, "feedrank bench ab: %s\n", err);
done:
    if (B.frontier && fclose(B.frontier) != 0 && rc == 0) { fprintf(stderr, "feedrank bench ab: --frontier %s: write failed\n", frontier); rc = 1; }
    for (int i = 0; i < nr; i++) rk_free(rks[i]);
    fr_encoder_free(enc);
    for (int i = 0; i < B.n_stores; i++) { fr_ranker_free(B.stores[i].ranker); fr_store_close(B.stores[i].store); unlink(B.stores[i].path); }
    free(B.seq_model); free(B.req_cands); free(B.req_hist); free(B.iwork);
    free(B.pop); free(B.item_vecs); free(B.query_vecs);
    free(B.c_off); free(B.c_items); free(B.c_grades); free(B.c_src); free(B.c_tune); free(B.c_cold); free(B.c_pos);
    fr_dataset_free(B.d);
    return rc;
}

/* feedrank tune: `bench ab` with the default blend for the dataset's mode, writing the profile. */
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
    if (!dataset || !out) { fprintf(stderr, "feedrank tune: --dataset and --out PROFILE.json are required (see --help)\n"); return 2; }
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
        if ((strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--report") == 0) && i + 1 < argc) { i++; continue; }
        av[n++] = argv[i];
    }
    int rc = fr_cmd_bench(n, av);
    free(av);
    return rc;
}

/* ranker.c - context vector, scoring through the backend's score op, normalisation, blend,
 * MMR and stable ordering for one request. All scratch lives in the ranker and grows on demand,
 * so steady-state requests allocate nothing. */
#define _GNU_SOURCE /* qsort_r */
#include "ranker.h"

#include "bm25.h"
#include "hash.h"
#include "priors.h"
#include "rank_options.h"
#include "seqmodel.h"
#include "seqmodel_serve.h"
#include "seqmodel_store.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void fr_rank_limits_default(fr_rank_limits *l) {
    l->max_candidates = 100000;
    l->max_history = 1000;
    l->max_query_bytes = 16384;
    l->max_mmr_depth = 1000;
    l->max_candidate_texts = 256;
    l->max_mmr_work = 1000000;
}

int fr_rank_mmr_depth(const fr_rank_options *o, int n_candidates) {
    int depth = o->mmr_depth > 0 ? o->mmr_depth : (o->top_k > 0 ? o->top_k : 100);
    return depth < n_candidates ? depth : n_candidates;
}

const char *fr_norm_name(fr_norm n) {
    static const char *names[] = {"zscore", "minmax", "rank", "none"};
    return (unsigned)n < 4 ? names[n] : "?";
}

int fr_norm_parse(const char *s) {
    char buf[16];
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < sizeof buf; i++)
        if (s[i] != '_' && s[i] != '-') buf[j++] = (char)tolower((unsigned char)s[i]);
    buf[j] = 0;
    for (int n = 0; n < 4; n++)
        if (strcmp(buf, fr_norm_name((fr_norm)n)) == 0) return n;
    return -1;
}

const char *fr_signal_name(fr_signal s) {
    static const char *names[FR_SIG_COUNT] = {"semantic", "upstream", "popularity", "covisitation", "lexical", "sequential"};
    return (unsigned)s < FR_SIG_COUNT ? names[s] : "?";
}

fr_status fr_rank_set_normalization(fr_rank_options *o, const char *signal, const char *method, char *err, size_t errcap) {
    int sig = -1;
    for (int i = 0; i < FR_SIG_COUNT; i++)
        if (strcmp(signal, fr_signal_name((fr_signal)i)) == 0) sig = i;
    if (sig < 0 && strcmp(signal, "default") != 0)
        return fr_fail(FR_ERR_ARG, err, errcap, "normalization.%s: not a signal (default, semantic, upstream, popularity, covisitation, lexical, sequential)", signal);
    const int n = fr_norm_parse(method);
    if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "normalization.%s must be one of \"zscore\", \"minmax\", \"rank\", \"none\"", signal);
    if (sig < 0) o->normalization = (fr_norm)n;
    else o->signal_norm[sig] = (uint8_t)(n + 1);
    return FR_OK;
}

fr_norm fr_rank_norm_of(const fr_rank_options *o, fr_signal s) {
    return o->signal_norm[s] ? (fr_norm)(o->signal_norm[s] - 1) : o->normalization;
}

const char *fr_issue_name(fr_issue c) {
    switch (c) {
    case FR_ISSUE_UNKNOWN_ITEM: return "UNKNOWN_ITEM";
    case FR_ISSUE_DUPLICATE: return "DUPLICATE_CANDIDATE";
    case FR_ISSUE_UNKNOWN_HISTORY: return "UNKNOWN_HISTORY_ITEM";
    }
    return "?";
}

/* candidates the device buffers are sized for at creation */
#define FR_RANK_DEVICE_RESERVE 10000

/* a history id the store does not have */
#define FR_NO_ROW UINT32_MAX

struct fr_ranker {
    fr_encoder *enc;
    const fr_store *store;
    fr_backend *be; /* the encoder's backend, or an own CPU backend */
    fr_backend *own_be;
    int dim;
    /* host scratch */
    size_t cap;       /* candidates the buffers hold */
    float *cand_vecs; /* [cap, dim] */
    float *norms, *sem, *up, *nsem, *nup, *final, *maxsim;
    int64_t *rows, *pairs;
    int *order, *keep, *upmask, *pos, *iscratch;
    float *ctx, *tmp;
    fr_ranked_item *items;
    fr_item_issue *issues;
    size_t issue_cap;
    /* the request's history, resolved once: store rows (FR_NO_ROW when unknown), weights, and
     * the known rows sorted (exclude_seen) */
    uint32_t *hist_row;
    float *hist_w;
    int64_t *hist_sorted;
    size_t hist_cap;
    /* log and lexical signals */
    fr_priors priors, store_priors; /* priors: what requests use (the store's, or fr_ranker_set_priors') */
    int has_priors, has_store_priors;
    fr_bm25 *bm25; /* built from the store's texts on first use */
    int bm25_failed;
    float *pop, *cov, *lex, *npop, *ncov, *nlex, *nseq;
    uint32_t *seen; /* per kept candidate: the log's event count (with priors) */
    fr_priors_scratch covis_scratch;
    /* the sequential model prepared for serving (seqmodel_serve.h), loaded once at creation; NULL
     * when the store has none */
    fr_seq_server *seq;
    fr_seq_scratch *seq_scratch; /* this ranker's forward buffers (a ranker serves one call at a time) */
    int32_t *seq_hist;           /* [max_len] the newest history rows known to the model */
    float *seq_user;             /* [d] user state */
    float *seq_wt;               /* [dim] Wp^T user state: scores a text vector without projecting it */
    float *seq_tv;               /* [dim] one stored text vector (a row the model has no id for) */
    float *seq_raw, *seq_norm;   /* per candidate: raw and normalised */
    int64_t *seq_rows;           /* per candidate: its store row, in ranking order */
    uint32_t *cand_rows;
    int *qterms;
    int qterms_cap;
    /* backend buffers for the score op */
    float *d_items, *d_ctx, *d_scores;
    size_t d_cap;
};

static int grow(fr_ranker *r, size_t n);
static fr_status ensure_device(fr_ranker *r, size_t n, char *err, size_t errcap);

/* The store's sequential model, once per ranker, prepared for serving: item vectors computed
 * and weights packed here, and everything a request needs sized here, so the signal allocates
 * nothing per request. */
static fr_status seq_load(fr_ranker *r, char *err, size_t errcap) {
    char serr[512];
    fr_seq_meta meta;
    fr_status rc = fr_seq_server_of_store(r->store, "item store", &r->seq, &meta, serr, sizeof serr);
    if (rc == FR_ERR_NOT_FOUND) return FR_OK; /* no model: only requests that ask for the signal fail */
    if (rc) return fr_fail(rc, err, errcap, "ranker: sequential model: %s", serr);
    const fr_seq_config *cfg = fr_seq_server_config(r->seq);
    if ((rc = fr_seq_scratch_create(r->seq, &r->seq_scratch, serr, sizeof serr)))
        return fr_fail(rc, err, errcap, "ranker: sequential model: %s", serr);
    r->seq_hist = malloc(sizeof *r->seq_hist * (size_t)cfg->max_len);
    r->seq_user = malloc(sizeof(float) * (size_t)cfg->d);
    r->seq_wt = malloc(sizeof(float) * (size_t)cfg->d_text);
    r->seq_tv = malloc(sizeof(float) * (size_t)cfg->d_text);
    if (!r->seq_hist || !r->seq_user || !r->seq_wt || !r->seq_tv) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
    return FR_OK;
}

fr_status fr_ranker_create(fr_encoder *enc, const fr_store *store, fr_ranker **out, char *err, size_t errcap) {
    *out = NULL;
    if (!store) return fr_fail(FR_ERR_ARG, err, errcap, "ranker: an item store is required");
    if (enc && fr_encoder_dim(enc) != fr_store_info_of(store)->dim)
        return fr_fail(FR_ERR_ARG, err, errcap, "ranker: model dimension %d differs from the store's %d", fr_encoder_dim(enc), fr_store_info_of(store)->dim);
    fr_ranker *r = calloc(1, sizeof *r);
    if (!r) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
    r->enc = enc;
    r->store = store;
    r->dim = fr_store_info_of(store)->dim;
    {
        char perr[256];
        fr_status prc = fr_priors_of_store(store, &r->priors, perr, sizeof perr);
        if (prc == FR_OK) {
            r->has_priors = r->has_store_priors = 1;
            r->store_priors = r->priors;
        } else if (prc != FR_ERR_NOT_FOUND) {
            free(r);
            return fr_fail(prc, err, errcap, "ranker: %s", perr);
        }
    }
    {
        fr_status src = seq_load(r, err, errcap);
        if (src) {
            fr_ranker_free(r);
            return src;
        }
    }
    if (enc) {
        r->be = fr_encoder_backend(enc);
    } else {
        fr_status rc = fr_backend_cpu_create(0, &r->own_be, err, errcap);
        if (rc) {
            free(r);
            return rc;
        }
        r->be = r->own_be;
    }
    r->ctx = malloc(sizeof(float) * (size_t)r->dim);
    r->tmp = malloc(sizeof(float) * (size_t)r->dim);
    if (!r->ctx || !r->tmp) {
        fr_ranker_free(r);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
    }
    /* device memory (a GPU backend) is reserved up front for a typical request, so that serving
     * allocates only for a request larger than any before it */
    if (strcmp(r->be->name, "cpu") != 0) {
        fr_status rc = grow(r, FR_RANK_DEVICE_RESERVE) ? fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory")
                                                       : ensure_device(r, FR_RANK_DEVICE_RESERVE, err, errcap);
        if (rc) {
            fr_ranker_free(r);
            return rc;
        }
    }
    *out = r;
    return FR_OK;
}

fr_status fr_ranker_set_priors(fr_ranker *r, const fr_priors *p, char *err, size_t errcap) {
    if (p && p->n_items < fr_store_info_of(r->store)->count) { /* rows past the store's: items added since (live_priors.h) */
        r->priors = r->store_priors;
        r->has_priors = r->has_store_priors;
        return fr_fail(FR_ERR_ARG, err, errcap, "ranker: priors of %llu items for a store of %llu", (unsigned long long)p->n_items,
                       (unsigned long long)fr_store_info_of(r->store)->count);
    }
    r->priors = p ? *p : r->store_priors;
    r->has_priors = p ? 1 : r->has_store_priors;
    return FR_OK;
}

void fr_ranker_free(fr_ranker *r) {
    if (!r) return;
    if (r->d_items) r->be->free(r->be, r->d_items);
    if (r->d_ctx) r->be->free(r->be, r->d_ctx);
    if (r->d_scores) r->be->free(r->be, r->d_scores);
    free(r->cand_vecs);
    free(r->norms);
    free(r->sem);
    free(r->up);
    free(r->nsem);
    free(r->nup);
    free(r->final);
    free(r->maxsim);
    free(r->rows);
    free(r->order);
    free(r->keep);
    free(r->ctx);
    free(r->tmp);
    free(r->pairs);
    free(r->upmask);
    free(r->pos);
    free(r->iscratch);
    free(r->items);
    free(r->issues);
    free(r->hist_row);
    free(r->hist_w);
    free(r->hist_sorted);
    free(r->pop);
    free(r->cov);
    free(r->lex);
    free(r->npop);
    free(r->ncov);
    free(r->nlex);
    free(r->nseq);
    free(r->seen);
    fr_priors_scratch_free(&r->covis_scratch);
    free(r->cand_rows);
    free(r->qterms);
    fr_bm25_free(r->bm25);
    fr_seq_server_free(r->seq);
    fr_seq_scratch_free(r->seq_scratch);
    free(r->seq_hist);
    free(r->seq_user);
    free(r->seq_wt);
    free(r->seq_tv);
    free(r->seq_raw);
    free(r->seq_rows);
    free(r->seq_norm);
    fr_backend_destroy(r->own_be);
    free(r);
}

static int grow(fr_ranker *r, size_t n) {
    if (n <= r->cap) return 0;
    size_t c = r->cap ? r->cap : 64;
    while (c < n) c *= 2;
#define RE(p, t, k)                            \
    do {                                       \
        void *q = realloc(p, sizeof(t) * (k)); \
        if (!q) return -1;                     \
        p = q;                                 \
    } while (0)
    RE(r->cand_vecs, float, c *(size_t)r->dim);
    RE(r->norms, float, c);
    RE(r->sem, float, c);
    RE(r->up, float, c);
    RE(r->nsem, float, c);
    RE(r->nup, float, c);
    RE(r->final, float, c);
    RE(r->maxsim, float, c);
    RE(r->rows, int64_t, c);
    RE(r->order, int, c);
    RE(r->keep, int, c);
    RE(r->pairs, int64_t, 2 * c);
    RE(r->upmask, int, c);
    RE(r->pos, int, c);
    RE(r->iscratch, int, c);
    RE(r->items, fr_ranked_item, c);
    RE(r->pop, float, c);
    RE(r->cov, float, c);
    RE(r->lex, float, c);
    RE(r->npop, float, c);
    RE(r->ncov, float, c);
    RE(r->nlex, float, c);
    RE(r->nseq, float, c);
    RE(r->seen, uint32_t, c);
    RE(r->cand_rows, uint32_t, c);
    RE(r->seq_raw, float, c);
    RE(r->seq_rows, int64_t, c);
    RE(r->seq_norm, float, c);
#undef RE
    r->cap = c;
    return 0;
}

static int add_issue(fr_ranker *r, int *n, int index, fr_issue code) {
    if ((size_t)*n >= r->issue_cap) {
        size_t c = r->issue_cap ? r->issue_cap * 2 : 16;
        fr_item_issue *p = realloc(r->issues, c * sizeof *p);
        if (!p) return -1;
        r->issues = p;
        r->issue_cap = c;
    }
    r->issues[(*n)++] = (fr_item_issue){index, code};
    return 0;
}

static int is_finite(double x) { return isfinite(x); }

fr_status fr_rank_validate(const fr_rank_request *q, const fr_rank_limits *lim, char *err, size_t errcap) {
    fr_rank_limits dl;
    if (!lim) {
        fr_rank_limits_default(&dl);
        lim = &dl;
    }
    const fr_rank_options *o = &q->options;
    if (q->n_candidates < 0 || q->n_candidates > lim->max_candidates)
        return fr_fail(FR_ERR_ARG, err, errcap, "%d candidates, the limit is %d", q->n_candidates, lim->max_candidates);
    if (q->n_history < 0 || q->n_history > lim->max_history)
        return fr_fail(FR_ERR_ARG, err, errcap, "%d history items, the limit is %d", q->n_history, lim->max_history);
    if (q->query && q->query_len > lim->max_query_bytes)
        return fr_fail(FR_ERR_ARG, err, errcap, "query is %zu bytes, the limit is %zu", q->query_len, lim->max_query_bytes);
    int has_query = q->query && q->query_len > 0;
    if (!has_query && q->n_history == 0) return fr_fail(FR_ERR_ARG, err, errcap, "empty context: give a query, history items, or both");
    int n_texts = 0;
    for (int i = 0; i < q->n_candidates; i++) {
        const fr_candidate *c = &q->candidates[i];
        if (!c->id || c->id_len == 0) return fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d].item_id is empty", i);
        if (c->id_len > FR_STORE_MAX_ID) return fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d].item_id is %zu bytes, the limit is %d", i, c->id_len, FR_STORE_MAX_ID);
        if (c->has_upstream && !is_finite(c->upstream))
            return fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d].upstream_score is %s", i, isnan(c->upstream) ? "NaN" : "infinite");
        if (c->text && c->text_len > lim->max_query_bytes)
            return fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d].text is %zu bytes, the limit is %zu", i, c->text_len, lim->max_query_bytes);
        if (c->text && ++n_texts > lim->max_candidate_texts)
            return fr_fail(FR_ERR_ARG, err, errcap, "more than %d candidates carry a text, the limit is %d", lim->max_candidate_texts, lim->max_candidate_texts);
    }
    for (int i = 0; i < q->n_history; i++) {
        const fr_history_item *h = &q->history[i];
        if (!h->id || h->id_len == 0) return fr_fail(FR_ERR_ARG, err, errcap, "history[%d].item_id is empty", i);
        if (h->id_len > FR_STORE_MAX_ID) return fr_fail(FR_ERR_ARG, err, errcap, "history[%d].item_id is %zu bytes, the limit is %d", i, h->id_len, FR_STORE_MAX_ID);
        if (h->has_weight && (!is_finite(h->weight) || h->weight < 0 || h->weight > 1e6))
            return fr_fail(FR_ERR_ARG, err, errcap, "history[%d].weight must be a finite number in [0, 1e6]", i);
        /* recency subtracts timestamps: bounding them keeps every difference far from int64 overflow */
        if (h->has_timestamp && (h->timestamp > FR_MAX_ABS_TIMESTAMP || h->timestamp < -FR_MAX_ABS_TIMESTAMP))
            return fr_fail(FR_ERR_ARG, err, errcap, "history[%d].timestamp %lld is out of range (|unix seconds| <= %lld)", i,
                           (long long)h->timestamp, (long long)FR_MAX_ABS_TIMESTAMP);
    }
    fr_status orc = fr_rank_options_check(o, err, errcap); /* every option's range (rank_options.def) */
    if (orc) return orc;
    if (o->mmr_depth > lim->max_mmr_depth)
        return fr_fail(FR_ERR_ARG, err, errcap, "options.mmr_depth %d is over the limit of %d", o->mmr_depth, lim->max_mmr_depth);
    /* MMR costs depth x candidates vector products: bound it so one request cannot hold a compute
     * thread for seconds (10,000 x 10,000 took 7 s) */
    if (o->mmr_lambda < 1.0f) {
        long long work = (long long)fr_rank_mmr_depth(o, q->n_candidates) * q->n_candidates;
        if (work > lim->max_mmr_work)
            return fr_fail(FR_ERR_ARG, err, errcap, "options.mmr_depth: MMR over %d positions x %d candidates is %lld products, the limit is %lld; lower mmr_depth or send fewer candidates",
                           fr_rank_mmr_depth(o, q->n_candidates), q->n_candidates, work, lim->max_mmr_work);
    }
    return FR_OK;
}

/* Normalises x[0..n) (only entries with mask[i], all when mask NULL) into out; others get 0. */
static void normalize(fr_norm how, const float *x, const int *mask, int n, float *out, int *order_scratch) {
    double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        m++;
        sum += x[i];
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    double mean = m ? sum / m : 0;
    for (int i = 0; i < n; i++)
        if (!mask || mask[i]) sq += (x[i] - mean) * (x[i] - mean);
    double sd = m ? sqrt(sq / m) : 0;
    if (how == FR_NORM_RANK) {
        /* average rank of ties, scaled to [0, 1] with the best at 1 */
        int k = 0;
        for (int i = 0; i < n; i++)
            if (!mask || mask[i]) order_scratch[k++] = i;
        for (int a = 1; a < k; a++) { /* insertion sort by value desc: n is small per request */
            int v = order_scratch[a], b = a;
            while (b > 0 && x[order_scratch[b - 1]] < x[v]) {
                order_scratch[b] = order_scratch[b - 1];
                b--;
            }
            order_scratch[b] = v;
        }
        for (int i = 0; i < n; i++) out[i] = 0;
        for (int a = 0; a < k;) {
            int b = a;
            while (b + 1 < k && x[order_scratch[b + 1]] == x[order_scratch[a]]) b++;
            float v = k > 1 ? 1.0f - (float)((a + b) / 2.0 / (k - 1)) : 1.0f;
            for (int c = a; c <= b; c++) out[order_scratch[c]] = v;
            a = b + 1;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        if (mask && !mask[i]) {
            out[i] = 0;
            continue;
        }
        switch (how) {
        case FR_NORM_ZSCORE: out[i] = sd > 1e-12 ? (float)((x[i] - mean) / sd) : 0.0f; break;
        case FR_NORM_MINMAX: out[i] = mx - mn > 1e-12 ? (float)((x[i] - mn) / (mx - mn)) : 0.0f; break;
        default: out[i] = x[i]; break;
        }
    }
}

/* Positions by final score, descending; equal scores keep request order (lower position first). */
static int by_final_desc(const void *a, const void *b, void *ctx) {
    const float *f = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (f[i] > f[j]) return -1;
    if (f[i] < f[j]) return 1;
    return (i > j) - (i < j);
}

/* (row, candidate index) pairs, lexicographic. */
static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0;
#pragma omp simd reduction(+ \
                           : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ctx = normalised context vector. Returns 0, or -1 with err set. */
/* Looks every history id up once: hist_row[i] (FR_NO_ROW when unknown) and hist_w[i]. */
static fr_status resolve_history(fr_ranker *r, const fr_rank_request *q, char *err, size_t errcap) {
    const int L = q->n_history;
    if ((size_t)L > r->hist_cap) {
        uint32_t *a = realloc(r->hist_row, sizeof *a * (size_t)L);
        if (a) r->hist_row = a;
        float *b = realloc(r->hist_w, sizeof *b * (size_t)L);
        if (b) r->hist_w = b;
        int64_t *c = realloc(r->hist_sorted, sizeof *c * (size_t)L);
        if (c) r->hist_sorted = c;
        if (!a || !b || !c) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory for %d history items", L);
        r->hist_cap = (size_t)L;
    }
    for (int i = 0; i < L; i++) {
        int64_t row = q->history[i].live ? -1 : fr_store_find(r->store, q->history[i].id, q->history[i].id_len);
        r->hist_row[i] = row < 0 ? FR_NO_ROW : (uint32_t)row;
        r->hist_w[i] = q->history[i].has_weight ? q->history[i].weight : 1.0f;
    }
    return FR_OK;
}

static fr_status context_vector(fr_ranker *r, const fr_rank_request *q, fr_rank_result *res, int *n_issues,
                                char *err, size_t errcap) {
    const int d = r->dim;
    const fr_rank_options *o = &q->options;
    int has_query = q->query && q->query_len > 0;
    /* history: recency-weighted mean of known items' unit vectors */
    int known = 0, all_ts = q->n_history > 0;
    int64_t t_max = INT64_MIN;
    for (int i = 0; i < q->n_history; i++) {
        if (!q->history[i].has_timestamp) all_ts = 0;
        else if (q->history[i].timestamp > t_max) t_max = q->history[i].timestamp;
    }
    float *h = r->tmp;
    memset(h, 0, sizeof(float) * (size_t)d);
    for (int i = 0; i < q->n_history; i++) {
        const fr_history_item *it = &q->history[i];
        if (r->hist_row[i] == FR_NO_ROW && !(it->live && it->vector)) {
            if (add_issue(r, n_issues, i, FR_ISSUE_UNKNOWN_HISTORY)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            continue;
        }
        double age = all_ts ? (double)(t_max - it->timestamp) / o->history_half_life_s
                            : (double)(q->n_history - 1 - i) / o->history_half_life;
        float w = (float)(r->hist_w[i] * pow(0.5, age));
        if (r->hist_row[i] == FR_NO_ROW) memcpy(r->ctx, it->vector, sizeof(float) * (size_t)d); /* a live upsert */
        else fr_store_vector(r->store, r->hist_row[i], r->ctx);
        float nv = sqrtf(dot(r->ctx, r->ctx, d));
        if (nv <= 0) continue;
        for (int k = 0; k < d; k++) h[k] += w * r->ctx[k] / nv;
        known++;
    }
    float hn = sqrtf(dot(h, h, d));
    int has_hist = known > 0 && hn > 1e-20f;
    float *ctx = r->ctx;
    if (!has_query && !has_hist) {
        /* No vector to compare with (every history id unknown, or every known one weighted 0):
         * the request is still ranked, by what it has (upstream scores, log signals), with a
         * semantic score of 0 for every candidate; the response says so (no_context_vector)
         * and lists the unknown history ids per item. */
        memset(ctx, 0, sizeof(float) * (size_t)d);
        res->no_context_vector = 1;
        return FR_OK;
    }
    if (has_query) {
        if (q->query_vector) {
            memcpy(ctx, q->query_vector, sizeof(float) * (size_t)d);
        } else {
            if (!r->enc) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "a query needs a model; this ranker has none");
            fr_embed_info info;
            size_t ql = q->query_len;
            fr_status rc = fr_encoder_embed(r->enc, &q->query, &ql, 1, FR_TEXT_QUERY, ctx, &info, err, errcap);
            if (rc) return rc;
            res->query_truncated = info.truncated;
        }
        float qn = sqrtf(dot(ctx, ctx, d));
        float qw = has_hist ? o->query_weight : 1.0f;
        for (int k = 0; k < d; k++) ctx[k] = qw * (qn > 0 ? ctx[k] / qn : 0) + (has_hist ? (1 - qw) * h[k] / hn : 0);
    } else {
        for (int k = 0; k < d; k++) ctx[k] = h[k] / hn;
    }
    float cn = sqrtf(dot(ctx, ctx, d));
    if (cn > 0)
        for (int k = 0; k < d; k++) ctx[k] /= cn;
    return FR_OK;
}

/* Backend buffers for n candidates (allocated when larger than before). */
static fr_status ensure_device(fr_ranker *r, size_t n, char *err, size_t errcap) {
    fr_backend *be = r->be;
    const size_t d = (size_t)r->dim;
    fr_status rc;
    if (!r->d_ctx && (rc = be->alloc(be, d * sizeof(float), (void **)&r->d_ctx, err, errcap))) return rc;
    if (n <= r->d_cap) return FR_OK;
    if (r->d_items) be->free(be, r->d_items);
    if (r->d_scores) be->free(be, r->d_scores);
    r->d_items = r->d_scores = NULL;
    r->d_cap = 0;
    if ((rc = be->alloc(be, n * d * sizeof(float), (void **)&r->d_items, err, errcap)) ||
        (rc = be->alloc(be, n * sizeof(float), (void **)&r->d_scores, err, errcap)))
        return rc;
    r->d_cap = n;
    return FR_OK;
}

/* semantic scores of the m gathered candidates via the backend's score op */
static fr_status score(fr_ranker *r, int m, char *err, size_t errcap) {
    fr_backend *be = r->be;
    const size_t d = (size_t)r->dim;
    fr_status rc;
    if ((rc = ensure_device(r, (size_t)m > r->cap ? (size_t)m : r->cap, err, errcap))) return rc;
    if ((rc = be->upload(be, r->d_items, r->cand_vecs, (size_t)m * d * sizeof(float), err, errcap)) ||
        (rc = be->upload(be, r->d_ctx, r->ctx, d * sizeof(float), err, errcap)) ||
        (rc = be->score(be, r->d_ctx, 1, r->d_items, NULL, m, r->dim, r->d_scores, err, errcap)) ||
        (rc = be->download(be, r->sem, r->d_scores, (size_t)m * sizeof(float), err, errcap)))
        return rc;
    return FR_OK;
}

/* BM25 over the store's texts, built once (O(catalogue)) on the first request that needs it */
static fr_status lexical_index(fr_ranker *r, char *err, size_t errcap) {
    if (r->bm25) return FR_OK;
    if (r->bm25_failed) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: the lexical index could not be built");
    const uint64_t n = fr_store_info_of(r->store)->count;
    if (n > 0x7FFFFFFF) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "ranker: too many items for the lexical index");
    char **docs = calloc(n ? n : 1, sizeof *docs);
    fr_status rc = docs ? FR_OK : fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
    for (uint64_t i = 0; !rc && i < n; i++) {
        size_t len = 0;
        const char *t = fr_store_text(r->store, i, &len);
        docs[i] = malloc(len + 1);
        if (!docs[i]) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
            break;
        }
        if (len) memcpy(docs[i], t, len);
        docs[i][len] = 0;
    }
    if (!rc) rc = fr_bm25_build((const char *const *)docs, (int)n, &r->bm25, err, errcap);
    for (uint64_t i = 0; docs && i < n; i++) free(docs[i]);
    free(docs);
    if (rc) r->bm25_failed = 1;
    return rc;
}

float fr_rank_gate(uint32_t seen, float log_gate) {
    return log_gate > 0 ? (float)((double)seen / ((double)seen + (double)log_gate)) : 1.0f;
}

/* seen[k] (the gate's input) and cand_rows[k] for the m kept candidates (needs priors) */
static void log_seen(fr_ranker *r, int m) {
    const fr_priors *p = &r->priors;
    for (int k = 0; k < m; k++) {
        int64_t row = r->rows[r->order[k]];
        r->seen[k] = row < 0 ? 0 : p->seen[row]; /* a text candidate: the log never saw it */
        r->cand_rows[k] = row < 0 ? FR_NO_ROW : (uint32_t)row;
    }
}

/* The sequential signal's raw values into seq[0..m): u . v_i with the item vectors computed at
 * load. A candidate the model has no id for (a store row added after training, or the request's
 * own vector) has v = Wp t + bp, scored as (Wp^T u) . t + u . bp: Wp^T u is computed once, and only
 * when such a candidate is present. *use_seq is 0 when the signal is off or the history gives no
 * state (raw values 0 then). */
static fr_status sequential_signal(fr_ranker *r, const fr_rank_request *q, int m, int *use_seq, fr_rank_result *res,
                                   char *err, size_t errcap) {
    const fr_rank_options *o = &q->options;
    *use_seq = 0;
    if (o->sequential_weight == 0) return FR_OK;
    if (!r->seq)
        return fr_fail(FR_ERR_ARG, err, errcap, "options.sequential_weight needs a sequential model in the item store (feedrank train --store STORE --interactions LOG)");
    const fr_seq_config *cfg = fr_seq_server_config(r->seq);
    const int T = cfg->max_len, Dt = cfg->d_text;
    int k = T;
    for (int i = q->n_history - 1; i >= 0 && k > 0; i--) /* newest last in the request: fill from the right */
        if (r->hist_row[i] < (uint32_t)cfg->n_items) r->seq_hist[--k] = (int32_t)r->hist_row[i];
    for (int j = 0; j < m; j++) r->seq_raw[j] = 0;
    if (k == T) {
        res->no_sequential_state = 1;
        return FR_OK;
    }
    /* The candidates' item vectors were asked for while their text vectors were gathered; the
     * semantic and log signals have since passed about 2 MB through L2. Asked for again, from
     * L3 now, they arrive during the forward below (rerank_cpu, 500 candidates: the scoring loop
     * 0.021 -> 0.013 ms with this second request). */
    for (int j = 0; j < m; j++) {
        r->seq_rows[j] = r->rows[r->order[j]];
        fr_seq_server_prefetch_item(r->seq, r->seq_rows[j]);
    }
    char serr[256];
    /* One request's forward is a few million products: waking an OpenMP team for each of its
     * products costs more than it saves, and on a shared or busy machine every region waits for a
     * second core (measured: 84 ms per request instead of 0.5 ms under load). Run it on this
     * thread; nthreads is a per-thread setting, restored for the encoder's next call. */
    const int omp_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    fr_status rc = fr_seq_server_state(r->seq, r->seq_scratch, r->seq_hist + k, T - k, r->seq_user, serr, sizeof serr);
    omp_set_num_threads(omp_threads);
    if (rc) return fr_fail(rc, err, errcap, "ranker: sequential model: %s", serr);
    const float *u = r->seq_user;
    if (fr_seq_server_score_rows(r->seq, u, r->seq_rows, m, r->seq_raw) > 0) {
        float ub = 0.0f;
        fr_seq_server_text_scorer(r->seq, u, r->seq_wt, &ub);
        for (int j = 0; j < m; j++) {
            const int64_t row = r->seq_rows[j];
            if (fr_seq_server_item(r->seq, row)) continue;
            const float *t = q->candidates[r->order[j]].vector;
            if (row >= 0) {
                fr_store_vector(r->store, (uint64_t)row, r->seq_tv);
                t = r->seq_tv;
            }
            r->seq_raw[j] = dot(r->seq_wt, t, Dt) + ub;
        }
    }
    *use_seq = 1;
    return FR_OK;
}

/* popularity, co-visitation with the history, lexical: raw values into pop/cov/lex, gate per candidate */
static fr_status log_signals(fr_ranker *r, const fr_rank_request *q, int m, int *use_log, int *use_lex, char *err,
                             size_t errcap) {
    const fr_rank_options *o = &q->options;
    *use_log = o->popularity_weight != 0 || o->covisitation_weight != 0 || o->cold_content_boost != 0;
    *use_lex = o->lexical_weight != 0 && q->query && q->query_len > 0;
    if (*use_log && !r->has_priors)
        return fr_fail(FR_ERR_ARG, err, errcap, "options.popularity_weight / covisitation_weight / cold_content_boost need log priors in the item store (feedrank index --interactions)");
    if (*use_lex && !fr_store_info_of(r->store)->has_texts)
        return fr_fail(FR_ERR_ARG, err, errcap, "options.lexical_weight needs item texts in the item store (it was built with --no-text)");
    if (*use_log) {
        const fr_priors *p = &r->priors;
        for (int k = 0; k < m; k++) {
            int64_t row = r->rows[r->order[k]];
            r->pop[k] = row < 0 ? 0.0f : (float)log1p(p->popularity[row]);
            r->cov[k] = 0;
        }
        if (o->covisitation_weight != 0 && q->n_history > 0) {
            const int L = q->n_history; /* unknown history rows (FR_NO_ROW) are out of range: skipped */
            double hl = o->covisitation_half_life > 0 ? o->covisitation_half_life : o->history_half_life;
            if (fr_priors_covis(p, r->hist_row, r->hist_w, L, hl, o->covisitation_norm, r->cand_rows, m, &r->covis_scratch, r->cov))
                return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
        }
    }
    if (*use_lex) {
        fr_status rc = lexical_index(r, err, errcap);
        if (rc) return rc;
        int cap = (int)q->query_len + 1;
        if (cap > r->qterms_cap) {
            int *t = realloc(r->qterms, sizeof *t * (size_t)cap);
            if (!t) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
            r->qterms = t;
            r->qterms_cap = cap;
        }
        char *qs = strndup(q->query, q->query_len);
        if (!qs) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
        int nt = fr_bm25_query(r->bm25, qs, r->qterms, cap);
        free(qs);
        for (int k = 0; k < m; k++) {
            const fr_candidate *c = &q->candidates[r->order[k]];
            double v = r->rows[r->order[k]] >= 0 ? fr_bm25_score(r->bm25, r->qterms, nt, (int)r->rows[r->order[k]], o->bm25_k1, o->bm25_b)
                       : c->text                 ? fr_bm25_score_text(r->bm25, r->qterms, nt, c->text, c->text_len, o->bm25_k1, o->bm25_b)
                                                 : 0;
            if (v < 0) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory");
            r->lex[k] = (float)v;
        }
    }
    return FR_OK;
}

/* Everything before the blend (see fr_rank_signals_of); *n_issues counts res's issues so far. */
static fr_status signals(fr_ranker *r, const fr_rank_request *q, fr_rank_result *res, int *n_issues_out, fr_rank_signals *sg,
                         int need_semantic, char *err, size_t errcap) {
    memset(res, 0, sizeof *res);
    const fr_rank_options *o = &q->options;
    const int d = r->dim, n = q->n_candidates;
    if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "negative candidate count");
    if (grow(r, (size_t)(n > 0 ? n : 1))) return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker: out of memory for %d candidates", n);
    int n_issues = 0;
    memset(sg, 0, sizeof *sg);
    fr_status rc = resolve_history(r, q, err, errcap);
    if (rc) return rc;
    if (need_semantic) {
        if ((rc = context_vector(r, q, res, &n_issues, err, errcap))) return rc;
    } else {
        for (int i = 0; i < q->n_history; i++)
            if (r->hist_row[i] == FR_NO_ROW && add_issue(r, &n_issues, i, FR_ISSUE_UNKNOWN_HISTORY)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }

    /* history rows (sorted) for exclude_seen */
    int n_hist_rows = 0;
    if (o->exclude_seen && q->n_history > 0) {
        for (int i = 0; i < q->n_history; i++)
            if (r->hist_row[i] != FR_NO_ROW) r->hist_sorted[n_hist_rows++] = r->hist_row[i];
        qsort(r->hist_sorted, (size_t)n_hist_rows, sizeof *r->hist_sorted, cmp_i64);
    }

    /* resolve candidates: unknown and duplicate ids become issues; seen ones are dropped */
    int m = 0;
    for (int i = 0; i < n; i++) {
        const fr_candidate *c = &q->candidates[i];
        int64_t row = c->live ? -1 : fr_store_find(r->store, c->id, c->id_len);
        if (row < 0 && c->vector) {
            /* ranked by the request's own text: a negative key from the id, so that repeats of
             * the same unknown id still meet as duplicates below (ids compared there too) */
            r->rows[i] = -1 - (int64_t)(fr_hash64(c->id, c->id_len, 0x7E47) >> 2);
            r->keep[i] = 1;
            r->order[m++] = i;
            continue;
        }
        if (row < 0) {
            if (add_issue(r, &n_issues, i, FR_ISSUE_UNKNOWN_ITEM)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            continue;
        }
        r->rows[i] = row;
        r->keep[i] = 1;
        if (n_hist_rows && bsearch(&row, r->hist_sorted, (size_t)n_hist_rows, sizeof row, cmp_i64)) {
            res->n_excluded_seen++;
            r->keep[i] = 0;
            continue;
        }
        r->order[m++] = i; /* candidate indices in request order, duplicates checked below */
    }
    /* duplicates: (row, index) pairs sorted, so repeats of a row are adjacent and the first
     * occurrence in the request comes first; later ones are dropped and reported */
    {
        int64_t *pairs = r->pairs;
        for (int k = 0; k < m; k++) {
            pairs[2 * k] = r->rows[r->order[k]];
            pairs[2 * k + 1] = r->order[k];
        }
        qsort(pairs, (size_t)m, 2 * sizeof(int64_t), cmp_pair);
        for (int k = 1; k < m; k++)
            if (pairs[2 * k] == pairs[2 * k - 2]) {
                int dup = (int)pairs[2 * k + 1];
                if (pairs[2 * k] < 0) { /* two text candidates: the same id, or only the same hash? */
                    const fr_candidate *a = &q->candidates[pairs[2 * k - 1]], *b = &q->candidates[dup];
                    if (a->id_len != b->id_len || memcmp(a->id, b->id, a->id_len) != 0) continue;
                }
                r->keep[dup] = 0;
                if (add_issue(r, &n_issues, dup, FR_ISSUE_DUPLICATE)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            }
        int w = 0;
        for (int k = 0; k < m; k++)
            if (r->keep[r->order[k]]) r->order[w++] = r->order[k];
        m = w;
    }

    /* gather kept candidates' vectors (unit-normalised) and their upstream scores */
    int any_up = 0;
    const fr_seq_server *seq_pf = r->seq && o->sequential_weight != 0 ? r->seq : NULL;
    for (int k = 0; k < m; k++) {
        int i = r->order[k];
        /* The sequential signal reads this candidate's item vector after the semantic and log
         * signals: asked for now (into L2), the row is on its way from memory while they run
         * (rerank_cpu, 500 candidates: the scoring loop 0.043 -> 0.025 ms). */
        if (seq_pf && r->rows[i] >= 0) fr_seq_server_prefetch_item(seq_pf, r->rows[i]);
        if (need_semantic) {
            float *v = r->cand_vecs + (size_t)k * d;
            if (r->rows[i] < 0) memcpy(v, q->candidates[i].vector, sizeof(float) * (size_t)d);
            else fr_store_vector(r->store, (uint64_t)r->rows[i], v);
            float nv = sqrtf(dot(v, v, d));
            if (nv > 0)
                for (int j = 0; j < d; j++) v[j] /= nv;
        }
        r->upmask[k] = q->candidates[i].has_upstream;
        r->up[k] = q->candidates[i].has_upstream ? q->candidates[i].upstream : 0;
        any_up |= q->candidates[i].has_upstream;
    }
    if (need_semantic && m > 0 && (rc = score(r, m, err, errcap))) return rc;

    if (r->has_priors) log_seen(r, m);
    int use_log = 0, use_lex = 0, use_seq = 0;
    if ((rc = log_signals(r, q, m, &use_log, &use_lex, err, errcap))) return rc;
    if ((rc = sequential_signal(r, q, m, &use_seq, res, err, errcap))) return rc;
    sg->n = m;
    sg->candidate = r->order;
    sg->sig[FR_SIG_SEMANTIC] = need_semantic ? r->sem : NULL;
    if (any_up) {
        sg->sig[FR_SIG_UPSTREAM] = r->up;
        sg->upstream_mask = r->upmask;
    }
    if (use_log) {
        sg->sig[FR_SIG_POPULARITY] = r->pop;
        sg->sig[FR_SIG_COVISITATION] = r->cov;
    }
    if (use_lex) sg->sig[FR_SIG_LEXICAL] = r->lex;
    if (use_seq) sg->sig[FR_SIG_SEQUENTIAL] = r->seq_raw;
    sg->seen = r->has_priors ? r->seen : NULL;
    res->issues = r->issues;
    res->n_issues = n_issues;
    *n_issues_out = n_issues;
    return FR_OK;
}

fr_status fr_rank_signals_of(fr_ranker *r, const fr_rank_request *req, fr_rank_result *res, fr_rank_signals *out,
                             char *err, size_t errcap) {
    int n_issues;
    const fr_rank_options *o = &req->options;
    const int need_semantic = o->semantic_weight != 0 || o->cold_content_boost != 0 || o->mmr_lambda < 1.0f;
    return signals(r, req, res, &n_issues, out, need_semantic, err, errcap);
}

void fr_rank_normalize(const fr_rank_options *o, const fr_rank_signals *s, float *const norm[FR_SIG_COUNT], int *work) {
    for (int g = 0; g < FR_SIG_COUNT; g++)
        if (s->sig[g]) normalize(fr_rank_norm_of(o, (fr_signal)g), s->sig[g], g == FR_SIG_UPSTREAM ? s->upstream_mask : NULL, s->n, norm[g], work);
}

void fr_rank_combine(const fr_rank_options *o, const fr_rank_signals *s, const float *const norm[FR_SIG_COUNT], float *final) {
    const float *nsem = s->sig[FR_SIG_SEMANTIC] ? norm[FR_SIG_SEMANTIC] : NULL, *nup = s->sig[FR_SIG_UPSTREAM] ? norm[FR_SIG_UPSTREAM] : NULL;
    const int use_log = s->sig[FR_SIG_POPULARITY] && (o->popularity_weight != 0 || o->covisitation_weight != 0 || o->cold_content_boost != 0);
    const int use_lex = s->sig[FR_SIG_LEXICAL] && o->lexical_weight != 0;
    const int use_seq = s->sig[FR_SIG_SEQUENTIAL] && o->sequential_weight != 0;
    const float *npop = norm[FR_SIG_POPULARITY], *ncov = norm[FR_SIG_COVISITATION], *nlex = norm[FR_SIG_LEXICAL],
                *nseq = norm[FR_SIG_SEQUENTIAL];
    for (int k = 0; k < s->n; k++) {
        const float g = s->seen ? fr_rank_gate(s->seen[k], o->log_gate) : 1.0f;
        const float sem = nsem ? nsem[k] : 0.0f; /* absent only when nothing weighs it (fr_rank_signals_of) */
        float f = o->semantic_weight * sem + (nup ? o->upstream_weight * nup[k] : 0.0f);
        if (use_log) f += g * (o->popularity_weight * npop[k] + o->covisitation_weight * ncov[k]) + (1.0f - g) * o->cold_content_boost * sem;
        if (use_lex) f += o->lexical_weight * nlex[k];
        /* the sequential term is gated like the log signals when the store has priors (ranker.h) */
        if (use_seq) f += g * o->sequential_weight * nseq[k];
        final[k] = f;
    }
}

fr_status fr_rank(fr_ranker *r, const fr_rank_request *q, fr_rank_result *res, char *err, size_t errcap) {
    memset(res, 0, sizeof *res);
    const fr_rank_options *o = &q->options;
    const int d = r->dim;
    int n_issues = 0;
    fr_rank_signals sg;
    fr_status rc = signals(r, q, res, &n_issues, &sg, 1, err, errcap);
    if (rc) return rc;
    const int m = sg.n;
    const int use_log = sg.sig[FR_SIG_POPULARITY] != NULL, use_lex = sg.sig[FR_SIG_LEXICAL] != NULL, use_seq = sg.sig[FR_SIG_SEQUENTIAL] != NULL;
    float *const norm[FR_SIG_COUNT] = {r->nsem, r->nup, r->npop, r->ncov, r->nlex, r->nseq};
    fr_rank_normalize(o, &sg, norm, r->iscratch);
    fr_rank_combine(o, &sg, (const float *const *)norm, r->final);

    /* stable order by final score (ties: request order, since positions follow it) */
    int *pos = r->pos;
    for (int k = 0; k < m; k++) pos[k] = k;
    qsort_r(pos, (size_t)m, sizeof *pos, by_final_desc, r->final);

    /* MMR over the first positions */
    int out_n = o->top_k > 0 && o->top_k < m ? o->top_k : m;
    if (o->mmr_lambda < 1.0f && m > 1) {
        int depth = fr_rank_mmr_depth(o, m);
        float fmin = r->final[pos[m - 1]], fmax = r->final[pos[0]], span = fmax - fmin > 1e-12f ? fmax - fmin : 1.0f;
        for (int k = 0; k < m; k++) r->maxsim[k] = -INFINITY;
        for (int sel = 0; sel < depth; sel++) {
            int best = -1;
            float best_v = -INFINITY;
            for (int a = sel; a < m; a++) {
                int k = pos[a];
                float rel = (r->final[k] - fmin) / span;
                float div = sel == 0 ? 0.0f : r->maxsim[k];
                float v = o->mmr_lambda * rel - (1.0f - o->mmr_lambda) * div;
                if (v > best_v) {
                    best_v = v;
                    best = a;
                }
            }
            int chosen = pos[best];
            memmove(pos + sel + 1, pos + sel, sizeof(int) * (size_t)(best - sel));
            pos[sel] = chosen;
            const float *cv = r->cand_vecs + (size_t)chosen * d;
            for (int a = sel + 1; a < m; a++) {
                int k = pos[a];
                float s = dot(cv, r->cand_vecs + (size_t)k * d, d);
                if (s > r->maxsim[k]) r->maxsim[k] = s;
            }
        }
    }
    for (int a = 0; a < out_n; a++) {
        int k = pos[a], i = r->order[k];
        r->items[a] = (fr_ranked_item){i, r->final[k], r->sem[k], q->candidates[i].upstream, q->candidates[i].has_upstream,
                                       use_log ? r->pop[k] : 0, use_log ? r->cov[k] : 0, use_lex ? r->lex[k] : 0,
                                       use_seq ? r->seq_raw[k] : 0, r->rows[i] < 0};
    }
    res->items = r->items;
    res->n_items = out_n;
    res->issues = r->issues;
    res->n_issues = n_issues;
    return FR_OK;
}

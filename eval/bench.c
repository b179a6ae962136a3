/* bench.c - the A/B harness behind `feedrank bench ab` and `feedrank tune`: offline A/B comparison of rankers on labelled data.
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
#include <stdarg.h>

#include "bench_internal.h"

void fr_bench_note(const bench *B, const char *fmt, ...) {
    if (!B->opt || !B->opt->note) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    B->opt->note(B->opt->ctx, line);
}

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
    if (!r) {
        fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        return NULL;
    }
    char name[64];
    if (fr_profile_load(path, &r->o, name, sizeof name, err, errcap)) {
        free(r);
        return NULL;
    }
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
                                        "gate %g, cold boost %g; priors window %d (index --interactions --window)",
             o->semantic_weight, o->popularity_weight, o->covisitation_weight, o->lexical_weight,
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
    struct {
        const char *n;
        rk_kind k;
    } names[] = {{"random", RK_RANDOM}, {"order", RK_ORDER}, {"bm25", RK_BM25}, {"embed", RK_EMBED}, {"popularity", RK_POP}, {"covis", RK_COVIS}, {"blend", RK_BLEND}, {"rrf", RK_RRF}, {"gblend", RK_GBLEND}, {"logcovis", RK_LCOVIS}, {"seq", RK_SEQ}};
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].n) == nl && strncmp(spec, names[i].n, nl) == 0) {
            r->kind = names[i].k;
            found = 1;
        }
    if (!found) {
        fr_fail(FR_ERR_ARG, err, errcap, "unknown ranker '%s' (see --help)", spec);
        free(r);
        return NULL;
    }
    const int combined = r->kind == RK_BLEND || r->kind == RK_RRF || r->kind == RK_GBLEND;
    if (combined != (paren != NULL)) {
        fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blend(...) and rrf(...) take a list of rankers; others take none", spec);
        free(r);
        return NULL;
    }
    if (paren) {
        const char *end = strrchr(spec, ')');
        if (!end || end < paren || end[1]) {
            fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': unbalanced parentheses", spec);
            free(r);
            return NULL;
        }
        char inner[256];
        snprintf(inner, sizeof inner, "%.*s", (int)(end - paren - 1), paren + 1);
        int given = 0;
        for (char *save = NULL, *tok = strtok_r(inner, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            char *colon = strchr(tok, ':');
            if (colon) {
                *colon = 0;
                given++;
            }
            if (r->n_parts == MAX_PARTS) {
                fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': at most %d parts", spec, MAX_PARTS);
                break;
            }
            rk *p = rk_parse(tok, err, errcap);
            if (!p) {
                for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
                free(r);
                return NULL;
            }
            if ((r->kind != RK_RRF && !rk_is_signal(p->kind)) || p->kind == RK_RRF || p->kind == RK_PROFILE) {
                fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blend parts are ranker signals (embed, bm25, popularity, logcovis, seq); '%s' is not%s",
                        spec, p->name, p->kind == RK_COVIS ? " (covis is the harness's own co-visitation; the served one is logcovis)" : "");
                free(p);
                for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
                free(r);
                return NULL;
            }
            if (p->kind == RK_BLEND || p->kind == RK_RRF || p->kind == RK_GBLEND) {
                free(p);
                fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s': blends do not nest", spec);
                for (int i = 0; i < r->n_parts; i++) free(r->parts[i]);
                free(r);
                return NULL;
            }
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
    if (!zero) {
        fr_store_writer_abort(w);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    for (int i = 0; i < d->n_items && !rc; i++)
        rc = fr_store_writer_add(w, d->item_ids[i], strlen(d->item_ids[i]), B->item_vecs ? B->item_vecs + (size_t)i * D : zero,
                                 d->item_texts[i], strlen(d->item_texts[i]), err, errcap);
    free(zero);
    if (rc) {
        fr_store_writer_abort(w);
        return rc;
    }
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
        if (B->stores[i].window == window) {
            *out = B->stores[i].ranker;
            return FR_OK;
        }
    if (B->n_stores == (int)(sizeof B->stores / sizeof B->stores[0])) return fr_fail(FR_ERR_ARG, err, errcap, "bench: too many priors windows");
    bench_store *s = &B->stores[B->n_stores];
    snprintf(s->path, sizeof s->path, "%s/bench-%d-%016" PRIx64 "-w%d.store", B->cache, (int)getpid(), B->data_hash, window);
    mkdir(B->cache, 0755);
    fr_status rc = write_bench_store(B, s->path, window, err, errcap);
    if (!rc) rc = fr_store_open(s->path, 0, 1, &s->store, err, errcap);
    if (!rc) rc = fr_ranker_create(NULL, s->store, &s->ranker, err, errcap);
    if (rc) {
        fr_store_close(s->store);
        s->store = NULL;
        unlink(s->path);
        return rc;
    }
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
        if (!cs || !hs) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
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
    for (int g = 0; g < FR_SIG_COUNT; g++) {
        free(s->raw[g]);
        free(s->norm[g]);
        s->raw[g] = s->norm[g] = NULL;
    }
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
                return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            memcpy(s->raw[g] + off, sg.sig[g], sizeof(float) * (size_t)n);
        }
        if (sg.seen) {
            if (!s->seen && !(s->seen = calloc(total ? total : 1, sizeof(uint32_t)))) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            memcpy(s->seen + off, sg.seen, sizeof(uint32_t) * (size_t)n);
        }
        /* normalised once: the grid only re-weights */
        fr_rank_signals v = sg;
        float *norm[FR_SIG_COUNT] = {0};
        for (int g = 0; g < FR_SIG_COUNT; g++)
            if (sg.sig[g]) norm[g] = s->norm[g] + off;
        if (grow_scratch(B, n)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
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
        if (s->raw[g]) {
            v.sig[g] = s->raw[g] + off;
            norm[g] = s->norm[g] + off;
        }
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
            while (b > 0 && tmp[order[b - 1]] < tmp[v]) {
                order[b] = order[b - 1];
                b--;
            }
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
static int alloc_results(const bench *B, rk *r, char *err, size_t errcap) {
    if (r->scores && r->m[0] && r->m[1] && r->m[2] && r->m[3] && r->m[4]) return 0;
    if (!r->scores) r->scores = malloc(sizeof(float) * (size_t)(B->c_off[B->n_cases] ? B->c_off[B->n_cases] : 1));
    for (int i = 0; i < 5; i++)
        if (!r->m[i]) r->m[i] = malloc(sizeof(double) * (size_t)(B->n_cases ? B->n_cases : 1));
    if (!r->scores || !r->m[0] || !r->m[1] || !r->m[2] || !r->m[3] || !r->m[4])
        return fr_fail(FR_ERR_NOMEM, err, errcap, "ranker %s: out of memory", r->name);
    return 0;
}

/* (r's results are allocated: tune_and_run does it first) */
static double run_ranker(bench *B, rk *r, const fr_rank_options *o, const double *w, int want_tune, int store) {
    double hs[2] = {0, 0}, hc[2] = {0, 0}; /* NDCG@10 sums per half (index = c_tune): all cases, cold cases */
    int hn[2] = {0, 0}, hnc[2] = {0, 0};
    for (int k = 0; k < B->n_cases; k++) {
        if (want_tune >= 0 && B->c_tune[k] != want_tune) continue;
        float *s = r->scores + B->c_off[k];
        if (r->kind == RK_PROFILE) { /* scored by fr_rank already */
        } else if (r->kind == RK_RRF) score_rrf(B, r, k, w, s);
        else if (rk_is_signal(r->kind) || rk_is_blend(r->kind)) sigset_score(B, &r->ss, k, o, s);
        else score_base(B, r, k, s);
        double m[5];
        if (!store && B->mode == FR_DS_FEED && !B->ties_order) m[1] = feed_ndcg10(B, k, s);
        else case_metrics(B, k, s, m);
        if (store)
            for (int i = 0; i < 5; i++) r->m[i][k] = m[i];
        const int t = B->c_tune[k] != 0;
        hs[t] += m[1];
        hn[t]++;
        if (B->c_cold && B->c_cold[k]) {
            hc[t] += m[1];
            hnc[t]++;
        }
    }
    for (int t = 0; t < 2; t++) {
        B->h_all[t] = hn[t] ? hs[t] / hn[t] : 0;
        B->h_cold[t] = hnc[t] ? hc[t] / hnc[t] : 0;
    }
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
        for (int m = 0; m < 5; m++) {
            if (!r->m[m]) return 0;
            memcpy(r->m[m], o->m[m], sizeof(double) * (size_t)B->n_cases);
        }
        r->o = o->o;
        r->window = o->window;
        r->half_life = o->half_life;
        r->cp = o->cp;
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
    if (alloc_results(B, r, err, errcap)) return -1;
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
                if (v > best) {
                    best = v;
                    bk1 = k1s[i];
                    bb = bs[j];
                }
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
            if (v > best) {
                best = v;
                bh = hls[i];
            }
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
                    if (v > best) {
                        best = v;
                        bwin = wins[i];
                        bh = hls[h];
                        bn = norms[q];
                    }
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
                    if (v > best) {
                        best = v;
                        bp = p;
                        bh = hls[h];
                    }
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
                if (q->kind == RK_BM25) {
                    r->o.bm25_k1 = q->o.bm25_k1;
                    r->o.bm25_b = q->o.bm25_b;
                }
                if (q->kind == RK_LCOVIS) {
                    r->window = q->window;
                    r->o.covisitation_half_life = q->o.covisitation_half_life;
                    r->o.covisitation_norm = q->o.covisitation_norm;
                }
            }
            fr_rank_options all = r->o;
            double ones[MAX_PARTS];
            for (int p = 0; p < MAX_PARTS; p++) ones[p] = 1;
            blend_options(r, ones, &all);
            all.cold_content_boost = feed ? 1 : 0; /* asks for the log signals even when a weight is 0 */
            if (sigset_compute(B, &r->ss, &all, r->window, -1, err, errcap)) return -1;
            if (r->kind == RK_BLEND || !feed) {
                if (!r->gate_given) {
                    r->o.log_gate = 0;
                    r->o.cold_content_boost = 0;
                }
            }
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
            if (n_gates > 1) {
                r->o.log_gate = (float)gates[gi / NB];
                r->o.cold_content_boost = (float)boosts[gi % NB];
            }
            fr_rank_options o = r->o;
            if (r->weights_given) {
                blend_options(r, r->weights, &o);
                v = run_ranker(B, r, &o, r->weights, 1, 0);
                if (B->last_cold > best_cold) {
                    best_cold = B->last_cold;
                    cg = o.log_gate;
                    cb = o.cold_content_boost;
                }
                if (v > best && B->last_cold >= need) {
                    best = v;
                    bg = o.log_gate;
                    bb = o.cold_content_boost;
                }
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
                    if (B->last_cold > best_cold) {
                        best_cold = B->last_cold;
                        memcpy(cw, w, sizeof w);
                        cg = o.log_gate;
                        cb = o.cold_content_boost;
                    }
                    if (v > best && B->last_cold >= need) {
                        best = v;
                        memcpy(bw, w, sizeof w);
                        bg = o.log_gate;
                        bb = o.cold_content_boost;
                    }
                    progress(B, r->name, ++done, total);
                }
                int p = 0;
                while (p < np - 1 && ++idx[p] > steps) idx[p++] = 0;
                if (p == np - 1) break;
            }
        }
        if (best < 0) { /* no setting met --min-cold: the one closest to it */
            fr_bench_note(B, "%s: no setting reaches --min-cold %g on the tuning half; using the best cold slice (%.4f)", r->name, need,
                          best_cold);
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
            t += n;
            left -= (size_t)n;
            n = snprintf(t, left, "%s %s %.1f", p ? "," : "", r->parts[p]->name, r->weights[p]);
        }
        if (r->kind == RK_GBLEND) {
            size_t l = strlen(r->tuned);
            snprintf(r->tuned + l, sizeof r->tuned - l, "; log gate %g, cold content boost %g", r->o.log_gate, r->o.cold_content_boost);
        }
        if (!r->weights_given) {
            size_t l = strlen(r->tuned);
            snprintf(r->tuned + l, sizeof r->tuned - l, " (tuned)");
        }
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

/* Progress of a long step, to the caller's callback (which decides how often to show it). */
static void progress(bench *B, const char *what, long done, long total) {
    if (B->opt && B->opt->progress) B->opt->progress(B->opt->ctx, what, done, total);
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
        if (ok) {
            fr_bench_note(B, "%s embeddings from cache %s", tag, path);
            return 0;
        }
    }
    fr_bench_note(B, "embedding %d %s texts with %s ...", n, tag, fr_encoder_name(enc));
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
    fr_bench_note(B, "%d texts in %.1f s", n, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
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
        for (int i = 0; i < d->n_items; i++) {
            acc += B->pop[i] + 1;
            cum[i] = acc;
        } /* +1: unseen items can be drawn */
    }
    char *mark = calloc((size_t)d->n_items, 1);
    if (!mark) {
        free(cum);
        goto oom;
    }
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
            if (!a || !g || !p) {
                free(cum);
                free(mark);
                goto oom;
            }
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
        for (int i = 0; i < d->n_items && avail >= 0; i++)
            if (mark[i]) avail--;
        if (extra > avail) extra = avail;
        for (int e = 0, tries = 0; e < extra && tries < extra * 1000 + 1000; tries++) {
            double u = fr_uniform3(B->seed, 0x5EED0000u + (uint64_t)s, (uint64_t)tries);
            int it;
            if (cum) {
                double target = u * cum[d->n_items - 1];
                int lo = 0, hi = d->n_items - 1;
                while (lo < hi) {
                    int mid = (lo + hi) / 2;
                    if (cum[mid] <= target) lo = mid + 1;
                    else hi = mid;
                }
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
                B->c_items[i] = B->c_items[j];
                B->c_grades[i] = B->c_grades[j];
                B->c_pos[i] = B->c_pos[j];
                B->c_items[j] = ti;
                B->c_grades[j] = tg;
                B->c_pos[j] = tp;
            }
        }
        for (size_t i = total; i < at; i++) mark[B->c_items[i]] = 0;
        if (d->mode == FR_DS_FEED)
            for (int j = d->h_off[s]; j < d->h_off[s + 1]; j++) mark[d->h_items[j]] = 0;
        B->c_src[k] = s;
        B->c_tune[k] = (fr_hash64(key, strlen(key), 0x7E57) & 1) == 0;
        total = at;
        B->c_off[++B->n_cases] = (int)total;
    }
    free(mark);
    free(cum);
    return 0;
oom:
    fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    return -1;
}

fr_status fr_bench_ab(const fr_bench_options *o, int *refused, char *err, size_t errcap) {
    const char *dataset = o->dataset, *data = o->data, *model = o->model, *device = o->device, *out_dir = o->out_dir, *cache = o->cache;
    const char *sampler = o->sampler, *dump = o->dump_cases, *ties = o->ties, *save_profile = o->save_profile;
    const char *frontier = o->frontier, *seq_model = o->seq_model, *dump_rankings = o->dump_rankings, *cmdline = o->cmdline;
    const char *const *specs = o->specs;
    const long distractors = o->distractors, negatives = o->negatives, seed = o->seed, cold_k = o->cold_k, rounds = o->rounds, limit = o->limit;
    const int nb = o->n_specs - 1;
    int loaded_queries = 0, loaded_users = 0;
    rk *rks[MAX_RANKERS] = {0};
    int nr = 0, need_embed = 0;
    fr_status rc = FR_OK;
    *refused = 0;
    if (!o->report || o->n_specs < 2 || o->n_specs > MAX_RANKERS)
        return fr_fail(FR_ERR_ARG, err, errcap, "bench: needs a report stream and 2..%d rankers", MAX_RANKERS);
    for (int i = 0; i <= nb; i++) {
        rk *r = rk_parse(specs[i], err, errcap);
        if (!r) {
            for (int j = 0; j < nr; j++) rk_free(rks[j]);
            *refused = 1;
            return FR_ERR_ARG;
        }
        rks[nr++] = r;
    }
    bench B = {0};
    B.opt = o;
    B.seed = (uint64_t)seed;
    B.cache = cache;
    B.data_hash = fr_hash64(data, strlen(data), 0xBE4C);
    if (seq_model && (rc = fr_read_small_file(seq_model, (size_t)1 << 31, (char **)&B.seq_model, &B.seq_model_size, err, errcap))) {
        char why[768];
        snprintf(why, sizeof why, "%s", err);
        fr_fail(rc, err, errcap, "--seq-model: %s", why);
        for (int j = 0; j < nr; j++) rk_free(rks[j]);
        return rc;
    }
    B.min_cold = o->min_cold;
    B.ties_order = strcmp(ties, "order") == 0;
    B.frontier_path = frontier;
    if (frontier && !(B.frontier = fopen(frontier, "w"))) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "--frontier %s: %s", frontier, strerror(errno));
        for (int j = 0; j < nr; j++) rk_free(rks[j]);
        free(B.seq_model);
        return rc;
    }
    fr_encoder *enc = NULL;
    if ((rc = fr_dataset_load(dataset, data, &B.d, err, errcap))) goto done;
    fr_dataset *d = B.d;
    B.mode = d->mode;
    loaded_queries = d->n_queries; /* what fr_dataset_free must free */
    loaded_users = d->n_users;
    if (limit) {
        if (d->mode == FR_DS_SEARCH && d->n_queries > limit) d->n_queries = (int)limit;
        if (d->mode == FR_DS_FEED && d->n_users > limit) d->n_users = (int)limit;
    }
    char summary[512];
    fr_dataset_summary(d, summary, sizeof summary);
    fr_bench_note(&B, "%s", summary);
    /* check every ranker fits the mode, and what it needs */
    for (int i = 0; i < nr; i++) {
        rk *list[MAX_PARTS + 1];
        int n = 0;
        if (rks[i]->kind == RK_BLEND || rks[i]->kind == RK_RRF || rks[i]->kind == RK_GBLEND)
            for (int p = 0; p < rks[i]->n_parts; p++) list[n++] = rks[i]->parts[p];
        else list[n++] = rks[i];
        for (int p = 0; p < n; p++) {
            rk_kind k = list[p]->kind;
            if ((k == RK_BM25 || k == RK_ORDER) && d->mode != FR_DS_SEARCH)
                rc = fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s' needs a search dataset", list[p]->name);
            else if ((k == RK_POP || k == RK_COVIS || k == RK_LCOVIS || k == RK_SEQ) && d->mode != FR_DS_FEED)
                rc = fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s' needs a feed dataset (interaction histories)", list[p]->name);
            else if (k == RK_SEQ && !B.seq_model)
                rc = fr_fail(FR_ERR_ARG, err, errcap, "ranker '%s' needs --seq-model FILE (feedrank train --model-out, trained on a store of this catalogue)",
                             list[p]->name);
            else if (k == RK_PROFILE && rks[i]->o.sequential_weight != 0 && !B.seq_model)
                rc = fr_fail(FR_ERR_ARG, err, errcap, "%s has a sequential weight: give --seq-model FILE", list[p]->name);
            if (rc) {
                *refused = 1;
                goto done;
            }
            need_embed |= k == RK_EMBED || k == RK_SEQ || k == RK_PROFILE; /* seq reads the item vectors; a profile ranks by everything */
        }
    }
    B.pop = calloc((size_t)d->n_items, sizeof(double));
    if (!B.pop) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        goto done;
    }
    if (d->mode == FR_DS_FEED)
        for (int u = 0; u < d->n_users; u++)
            for (int j = d->h_off[u]; j < d->h_off[u + 1]; j++) B.pop[d->h_items[j]] += 1;
    if (build_cases(&B, (int)distractors, (int)negatives, strcmp(sampler, "popularity") == 0, (int)cold_k, err, errcap)) {
        rc = FR_ERR_NOMEM;
        goto done;
    }
    if (B.n_cases == 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "no usable cases in %s", data);
        goto done;
    }
    { /* scratch sized to the largest case (--negatives / --distractors up to 100,000) */
        int maxn = 1;
        for (int k = 0; k < B.n_cases; k++)
            if (B.c_off[k + 1] - B.c_off[k] > maxn) maxn = B.c_off[k + 1] - B.c_off[k];
        if (grow_scratch(&B, maxn)) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            goto done;
        }
    }
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (!f) {
            rc = fr_fail(FR_ERR_IO, err, errcap, "cannot write %s: %s", dump, strerror(errno));
            goto done;
        }
        for (int k = 0; k < B.n_cases; k++) {
            fprintf(f, "{\"case\":");
            fr_json_write_string(f, fr_bench_case_label(&B, k));
            fprintf(f, ",\"tuning\":%s,\"candidates\":[", B.c_tune[k] ? "true" : "false");
            for (int i = B.c_off[k]; i < B.c_off[k + 1]; i++) {
                fprintf(f, "%s[", i > B.c_off[k] ? "," : "");
                fr_json_write_string(f, d->item_ids[B.c_items[i]]);
                fprintf(f, ",%g]", B.c_grades[i]);
            }
            fprintf(f, "]}\n");
        }
        fclose(f);
    }
    if (need_embed) {
        fr_encoder_options opt = {.backend = device};
        if ((rc = fr_encoder_load(model, &opt, &enc, err, errcap))) {
            char why[768];
            snprintf(why, sizeof why, "%s", err);
            fr_fail(rc, err, errcap, "cannot load model: %s", why);
            goto done;
        }
        B.dim = fr_encoder_dim(enc);
        B.model_fp = fr_encoder_fingerprint(enc);
        snprintf(B.model_name, sizeof B.model_name, "%s", fr_encoder_name(enc));
        B.item_vecs = malloc(sizeof(float) * (size_t)d->n_items * B.dim);
        if (!B.item_vecs) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            goto done;
        }
        if (!limit) {
            if (embed_cached(&B, enc, d->item_texts, d->n_items, FR_TEXT_DOCUMENT, cache, "items", B.item_vecs, err, errcap)) {
                rc = FR_ERR_IO;
                goto done;
            }
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
                for (int i = 0; i < d->n_items; i++)
                    if (used[i]) {
                        rows[m] = i;
                        sub[m++] = d->item_texts[i];
                    }
                vecs = malloc(sizeof(float) * (size_t)(m ? m : 1) * B.dim);
            }
            int bad = !vecs || embed_cached(&B, enc, sub, m, FR_TEXT_DOCUMENT, cache, "items", vecs, err, errcap);
            if (!bad) {
                memset(B.item_vecs, 0, sizeof(float) * (size_t)d->n_items * B.dim);
                for (int i = 0; i < m; i++) memcpy(B.item_vecs + (size_t)rows[i] * B.dim, vecs + (size_t)i * B.dim, sizeof(float) * B.dim);
                fr_bench_note(&B, "--limit: %d of %d items embedded (those its cases use)", m, d->n_items);
            }
            if (!vecs) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            else if (bad) rc = FR_ERR_IO;
            free(used);
            free(rows);
            free(sub);
            free(vecs);
            if (rc) goto done;
        }
        if (d->mode == FR_DS_SEARCH) {
            B.query_vecs = malloc(sizeof(float) * (size_t)d->n_queries * B.dim);
            if (!B.query_vecs) {
                rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
                goto done;
            }
            if (embed_cached(&B, enc, d->query_texts, d->n_queries, FR_TEXT_QUERY, cache, "queries", B.query_vecs, err, errcap)) {
                rc = FR_ERR_IO;
                goto done;
            }
        }
    }
    for (int i = 0; i < nr; i++) {
        fr_bench_note(&B, "ranker %s ...", rks[i]->name);
        if (tune_and_run(&B, rks[i], err, errcap)) {
            rc = FR_ERR_IO;
            goto done;
        }
    }
    if (dump_rankings && fr_bench_write_rankings(&B, rks, nr, dump_rankings, err, errcap)) {
        rc = FR_ERR_IO;
        goto done;
    }
    fr_bench_report(&B, rks, nr, (int)rounds, out_dir, cmdline, need_embed ? fr_encoder_name(enc) : NULL, summary, (int)distractors, (int)negatives, sampler, (int)cold_k);
    if (save_profile && fr_bench_save_profile(&B, rks, nr, save_profile, dataset, data, (int)seed, err, errcap)) rc = FR_ERR_IO;
done:
    if (B.frontier && fclose(B.frontier) != 0 && rc == FR_OK) rc = fr_fail(FR_ERR_IO, err, errcap, "--frontier %s: write failed", frontier);
    for (int i = 0; i < nr; i++) rk_free(rks[i]);
    fr_encoder_free(enc);
    for (int i = 0; i < B.n_stores; i++) {
        fr_ranker_free(B.stores[i].ranker);
        fr_store_close(B.stores[i].store);
        unlink(B.stores[i].path);
    }
    free(B.seq_model);
    free(B.req_cands);
    free(B.req_hist);
    free(B.iwork);
    free(B.pop);
    free(B.item_vecs);
    free(B.query_vecs);
    free(B.c_off);
    free(B.c_items);
    free(B.c_grades);
    free(B.c_src);
    free(B.c_tune);
    free(B.c_cold);
    free(B.c_pos);
    if (B.d && loaded_users + loaded_queries) {
        B.d->n_queries = loaded_queries;
        B.d->n_users = loaded_users;
    }
    fr_dataset_free(B.d);
    return rc;
}

/* test_ranker.c - ranking maths against hand-computed cases on a tiny 2-d store (blend under
 * each normalisation, MMR, recency by position and by timestamp, stable ties), per-item issues
 * (unknown, duplicate, seen), 10,000 candidates, request validation, the JSON codec, and the
 * sequential signal against the model's own functions (seqmodel.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priors.h"
#include "profile.h"
#include "ranker.h"
#include "request_json.h"
#include "seqmodel_store.h"
#include "test_util.h"

static char tmpdir[] = "/tmp/fr_rank_XXXXXX";

static fr_store *make_store(const char *name, int n, int dim, const char *const *ids, const float *vecs) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fr_store_writer *w;
    if (fr_store_writer_open(path, dim, FR_STORE_F32, "test", 1, 0, &w, err, sizeof err)) return NULL;
    for (int i = 0; i < n; i++) {
        char idbuf[32];
        const char *id = ids ? ids[i] : (snprintf(idbuf, sizeof idbuf, "i%d", i), idbuf);
        if (fr_store_writer_add(w, id, strlen(id), vecs + (size_t)i * dim, NULL, 0, err, sizeof err)) {
            fr_store_writer_abort(w);
            return NULL;
        }
    }
    if (fr_store_writer_finish(w, err, sizeof err)) return NULL;
    fr_store *s;
    return fr_store_open(path, 0, 0, &s, err, sizeof err) ? NULL : s;
}

static fr_candidate cand(const char *id) { return (fr_candidate){.id = id, .id_len = strlen(id)}; }
static fr_candidate cand_up(const char *id, float u) { return (fr_candidate){.id = id, .id_len = strlen(id), .upstream = u, .has_upstream = 1}; }

static const char *order_of(const fr_rank_request *q, const fr_rank_result *r) {
    static char buf[256];
    buf[0] = 0;
    for (int i = 0; i < r->n_items; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? "," : "", q->candidates[r->items[i].candidate].id);
    return buf;
}

static const float QX[2] = {1, 0};

static fr_rank_request query_req(const fr_candidate *c, int n) {
    fr_rank_request q = {0};
    q.query = "q";
    q.query_len = 1;
    q.query_vector = QX;
    q.candidates = c;
    q.n_candidates = n;
    fr_rank_options_default(&q.options);
    return q;
}

static void test_blend(fr_ranker *rk) {
    fr_candidate c[3] = {cand_up("A", 0), cand_up("B", 10), cand_up("C", 5)};
    fr_rank_request q = query_req(c, 3);
    fr_rank_result r;
    char err[256];
    /* z-score: semantic (1, .6, 0) -> (1.1355, .1622, -1.2978); upstream (0, 10, 5) ->
     * (-1.2247, 1.2247, 0); final = z_s + 0.5 z_u = (.5232, .7746, -1.2978) */
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "rank: %s", err);
    CHECK(strcmp(order_of(&q, &r), "B,A,C") == 0, "zscore order %s", order_of(&q, &r));
    CHECK(fabsf(r.items[0].score - 0.7746f) < 1e-3f && fabsf(r.items[1].score - 0.5232f) < 1e-3f && fabsf(r.items[2].score + 1.2978f) < 1e-3f,
          "zscore values %f %f %f", r.items[0].score, r.items[1].score, r.items[2].score);
    CHECK(fabsf(r.items[0].semantic - 0.6f) < 1e-5f && r.items[0].has_upstream && r.items[0].upstream == 10, "semantic/upstream reported");
    /* min-max: s (1, .6, 0), u (0, 1, .5): A 1, B 1.1, C .25 */
    q.options.normalization = FR_NORM_MINMAX;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "B,A,C") == 0 && fabsf(r.items[0].score - 1.1f) < 1e-5f && fabsf(r.items[2].score - 0.25f) < 1e-5f, "minmax");
    /* rank: s ranks (1, .5, 0), u ranks (0, 1, .5): A 1, B 1, C .25 -> tie, request order kept */
    q.options.normalization = FR_NORM_RANK;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,B,C") == 0 && r.items[0].score == r.items[1].score, "rank + stable tie: %s", order_of(&q, &r));
    /* none: A 1, B 5.6, C 2.5 */
    q.options.normalization = FR_NORM_NONE;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "B,C,A") == 0 && fabsf(r.items[0].score - 5.6f) < 1e-5f, "none");
    /* per signal: semantic raw, upstream z-scored: A 1 - .6124, B .6 + .6124, C 0 */
    char nerr[128];
    CHECK(fr_rank_set_normalization(&q.options, "upstream", "zscore", nerr, sizeof nerr) == FR_OK, "%s", nerr);
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "B,A,C") == 0 && fabsf(r.items[0].score - 1.2124f) < 1e-3f && fabsf(r.items[1].score - 0.3876f) < 1e-3f,
          "per-signal normalisation: %s %f %f", order_of(&q, &r), r.items[0].score, r.items[1].score);
    CHECK(fr_rank_set_normalization(&q.options, "popularty", "rank", nerr, sizeof nerr) == FR_ERR_ARG && strstr(nerr, "normalization.popularty"), "%s", nerr);
    CHECK(fr_rank_set_normalization(&q.options, "lexical", "l2", nerr, sizeof nerr) == FR_ERR_ARG && strstr(nerr, "normalization.lexical must be"), "%s", nerr);
    memset(q.options.signal_norm, 0, sizeof q.options.signal_norm);
    /* upstream weight 0: semantic only */
    q.options.normalization = FR_NORM_ZSCORE;
    q.options.upstream_weight = 0;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,B,C") == 0, "semantic only");
    /* top_k */
    q.options.top_k = 2;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(r.n_items == 2, "top_k 2 -> %d items", r.n_items);
}

static void test_mmr(fr_ranker *rk) {
    /* A (1,0), A2 (.99,.141) nearly A, D (0,1). Without MMR: A, A2, D. With lambda .4:
     * step 2: A2 = .4*.99 - .6*.99 = -.198, D = 0 - 0 = 0 -> D before A2. */
    fr_candidate c[3] = {cand("A"), cand("A2"), cand("D")};
    fr_rank_request q = query_req(c, 3);
    fr_rank_result r;
    char err[256];
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,A2,D") == 0, "no MMR: %s", order_of(&q, &r));
    q.options.mmr_lambda = 0.4f;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,D,A2") == 0, "MMR 0.4: %s", order_of(&q, &r));
    q.options.mmr_lambda = 0.6f; /* A2: .594 - .396 = .198 > D: 0 */
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,A2,D") == 0, "MMR 0.6: %s", order_of(&q, &r));
}

/* A candidate the store does not know, sent with its text (embedded by the caller), is ranked like
 * a stored one and marked; without a vector it stays an UNKNOWN_ITEM; repeats are duplicates. */
static void test_text_candidates(fr_ranker *rk) {
    static const float near_q[2] = {0.9f, 0.1f}, far_q[2] = {0, 1};
    fr_candidate c[5] = {cand("A2"), cand("new1"), cand("D"), cand("new2"), cand("new1")};
    c[1].vector = near_q;
    c[1].text = "new drill";
    c[1].text_len = 9;
    c[3].vector = far_q;
    c[4].vector = near_q;
    fr_rank_request q = query_req(c, 5);
    fr_rank_result r;
    char err[256];
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "text candidates: %s", err);
    /* cosine to (1,0): A2 .99, new1 .994, D 0, new2 0 (ties keep request order) */
    CHECK(strcmp(order_of(&q, &r), "new1,A2,D,new2") == 0, "text candidates ranked with stored ones: %s", order_of(&q, &r));
    CHECK(r.items[0].from_text && !r.items[1].from_text && !r.items[2].from_text && r.items[3].from_text, "from_text marks");
    CHECK(fabsf(r.items[0].semantic - 0.9939f) < 1e-3f, "text candidate's own vector scored: %f", r.items[0].semantic);
    CHECK(r.n_issues == 1 && r.issues[0].code == FR_ISSUE_DUPLICATE && r.issues[0].index == 4, "a repeated text candidate is a duplicate");
    c[1].vector = NULL; /* no text: an unknown item as before */
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.n_items == 4, "rank: %s", err);
    int unknown = 0;
    for (int i = 0; i < r.n_issues; i++) unknown += r.issues[i].code == FR_ISSUE_UNKNOWN_ITEM && r.issues[i].index == 1;
    CHECK(unknown == 1, "a candidate without a vector is an unknown item");
    /* a known id: the stored vector wins over a given one */
    fr_candidate k[2] = {cand("A"), cand("D")};
    k[1].vector = near_q;
    q = query_req(k, 2);
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && strcmp(order_of(&q, &r), "A,D") == 0 && !r.items[1].from_text, "stored vector wins");
}

static void test_history(fr_ranker *rk) {
    /* X (1,0) then Y (0,1), most recent last. Candidates A (1,0) and D (0,1). */
    fr_history_item h[2] = {{"X", 1, 1, 2000, 0, 0, 0, NULL}, {"Y", 1, 1, 1000, 0, 0, 0, NULL}};
    fr_candidate c[2] = {cand("A"), cand("D")};
    fr_rank_request q = {0};
    fr_rank_options_default(&q.options);
    q.history = h;
    q.n_history = 2;
    q.candidates = c;
    q.n_candidates = 2;
    fr_rank_result r;
    char err[256];
    q.options.history_half_life = 0.05f; /* by position: Y dominates */
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "history rank: %s", err);
    CHECK(strcmp(order_of(&q, &r), "D,A") == 0, "recent position wins: %s", order_of(&q, &r));
    h[0].has_timestamp = h[1].has_timestamp = 1; /* by time: X (t=2000) is the most recent */
    q.options.history_half_life_s = 10;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,D") == 0, "recent timestamp wins: %s", order_of(&q, &r));
    h[0].has_timestamp = h[1].has_timestamp = 0;
    h[0].has_weight = 1;
    h[0].weight = 1e5f; /* a heavy weight outweighs recency (0.5^(1/4) for one position back) */
    q.options.history_half_life = 4;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(strcmp(order_of(&q, &r), "A,D") == 0, "weight: %s", order_of(&q, &r));
    /* the equal mix: A and D tie at cosine .707, request order kept */
    h[0].has_weight = 0;
    q.options.history_half_life = 1e9f;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(fabsf(r.items[0].semantic - 0.70710678f) < 1e-5f && strcmp(order_of(&q, &r), "A,D") == 0, "equal mix");
    /* exclude_seen drops X from the candidates; unknown history ids are reported */
    fr_history_item h2[2] = {{"X", 1, 1, 0, 0, 0, 0, NULL}, {"nope", 4, 1, 0, 0, 0, 0, NULL}};
    fr_candidate c2[3] = {cand("X"), cand("A"), cand("D")};
    q.history = h2;
    q.candidates = c2;
    q.n_candidates = 3;
    q.options.exclude_seen = 1;
    fr_rank(rk, &q, &r, err, sizeof err);
    CHECK(r.n_excluded_seen == 1 && strcmp(order_of(&q, &r), "A,D") == 0, "exclude_seen: %s", order_of(&q, &r));
    CHECK(r.n_issues == 1 && r.issues[0].code == FR_ISSUE_UNKNOWN_HISTORY && r.issues[0].index == 1, "unknown history reported");
    /* only unknown history and no query: still ranked (by the other signals: here upstream
     * scores), semantic scores 0, the unknown id reported per item (was a request-level error) */
    fr_history_item h3[1] = {{"nope", 4, 1, 0, 0, 0, 0, NULL}};
    fr_candidate c3[3] = {cand_up("A", 1), cand_up("C", 3), cand_up("D", 2)};
    q.history = h3;
    q.n_history = 1;
    q.candidates = c3;
    q.n_candidates = 3;
    q.options.exclude_seen = 0;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "unknown-only history ranks: %s", err);
    CHECK(r.no_context_vector && strcmp(order_of(&q, &r), "C,D,A") == 0, "unknown-only history: by upstream: %s", order_of(&q, &r));
    CHECK(r.n_items == 3 && r.items[0].semantic == 0 && r.items[2].semantic == 0, "unknown-only history: semantic 0");
    CHECK(r.n_issues == 1 && r.issues[0].code == FR_ISSUE_UNKNOWN_HISTORY && r.issues[0].index == 0, "unknown-only history reported per item");
    /* a known id weighted 0 gives no vector either: ranked the same way, no false "not in the store" */
    fr_history_item h4[1] = {{"X", 1, 0, 0, 1, 0, 0, NULL}};
    q.history = h4;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.no_context_vector && r.n_issues == 0, "zero-weight history: %s", err);
    /* no signal at all: request order */
    fr_candidate c4[3] = {cand("D"), cand("A"), cand("C")};
    q.candidates = c4;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && strcmp(order_of(&q, &r), "D,A,C") == 0, "no signal: request order: %s", order_of(&q, &r));
    fr_history_item h5[1] = {{"X", 1, 1, 0, 0, 0, 0, NULL}};
    q.history = h5;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && !r.no_context_vector, "known history has a context vector");
}

static void test_issues(fr_ranker *rk) {
    fr_candidate c[6] = {cand("A"), cand("zz"), cand("D"), cand("A"), cand("C"), cand("zz")};
    fr_rank_request q = query_req(c, 6);
    fr_rank_result r;
    char err[256];
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "rank: %s", err);
    CHECK(strcmp(order_of(&q, &r), "A,D,C") == 0 || strcmp(order_of(&q, &r), "A,C,D") == 0, "kept items: %s", order_of(&q, &r));
    int unknown = 0, dup = 0;
    for (int i = 0; i < r.n_issues; i++) {
        if (r.issues[i].code == FR_ISSUE_UNKNOWN_ITEM && (r.issues[i].index == 1 || r.issues[i].index == 5)) unknown++;
        if (r.issues[i].code == FR_ISSUE_DUPLICATE && r.issues[i].index == 3) dup++;
    }
    CHECK(unknown == 2 && dup == 1 && r.n_issues == 3, "issues: %d unknown, %d duplicate, %d total", unknown, dup, r.n_issues);
    /* no candidates: an empty, successful result */
    q.n_candidates = 0;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.n_items == 0, "empty candidate list");
}

static void test_validation(void) {
    fr_candidate c[2] = {cand_up("A", 1), cand_up("B", NAN)};
    fr_rank_request q = query_req(c, 2);
    char err[256];
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "candidates[1].upstream_score is NaN"), "NaN: %s", err);
    c[1].upstream = INFINITY;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "candidates[1].upstream_score is infinite"), "inf: %s", err);
    c[1].upstream = 2;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_OK, "valid: %s", err);
    q.options.mmr_lambda = 1.5f;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "mmr_lambda"), "lambda: %s", err);
    q.options.mmr_lambda = 1;
    q.query = NULL;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "empty context"), "empty context: %s", err);
    q.query = "q";
    fr_rank_limits lim;
    fr_rank_limits_default(&lim);
    lim.max_candidates = 1;
    CHECK(fr_rank_validate(&q, &lim, err, sizeof err) == FR_ERR_ARG && strstr(err, "limit is 1"), "too many: %s", err);
    c[0].id_len = 0;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "candidates[0].item_id is empty"), "empty id: %s", err);
    c[0].id_len = 1;
    /* timestamps of +-2^62 overflowed the recency arithmetic (UBSan aborted the server) */
    fr_history_item h[2] = {{"A", 1, 1, (int64_t)1 << 62, 0, 1, 0, NULL}, {"B", 1, 1, -((int64_t)1 << 62), 0, 1, 0, NULL}};
    q.history = h;
    q.n_history = 2;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "history[0].timestamp") && strstr(err, "out of range"), "ts 2^62: %s", err);
    h[0].timestamp = 1700000000;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "history[1].timestamp"), "ts -2^62: %s", err);
    h[1].timestamp = -FR_MAX_ABS_TIMESTAMP;
    h[0].timestamp = FR_MAX_ABS_TIMESTAMP;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_OK, "ts at the bound: %s", err);
    q.n_history = 0;
    /* MMR work is bounded: depth over the limit, and depth x candidates over the budget */
    q.options.mmr_lambda = 0.5f;
    q.options.mmr_depth = 1001;
    CHECK(fr_rank_validate(&q, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "options.mmr_depth 1001"), "mmr depth: %s", err);
    q.options.mmr_depth = 2;
    lim.max_candidates = 100;
    lim.max_mmr_work = 3;
    CHECK(fr_rank_validate(&q, &lim, err, sizeof err) == FR_ERR_ARG && strstr(err, "options.mmr_depth: MMR over 2 positions x 2 candidates"), "mmr work: %s", err);
    lim.max_mmr_work = 4;
    CHECK(fr_rank_validate(&q, &lim, err, sizeof err) == FR_OK, "mmr work at the budget: %s", err);
    q.options.mmr_lambda = 1;
    lim.max_mmr_work = 0; /* MMR off: no budget applies */
    CHECK(fr_rank_validate(&q, &lim, err, sizeof err) == FR_OK, "no mmr: %s", err);
}

static void test_many(void) {
    enum { N = 10000,
           D = 16 };
    float *v = malloc(sizeof(float) * N * D);
    uint64_t seed = 3;
    fr_test_fill(v, (size_t)N * D, &seed, 1);
    fr_store *s = make_store("big.store", N, D, NULL, v);
    CHECK(s != NULL, "big store");
    if (!s) {
        free(v);
        return;
    }
    fr_ranker *rk;
    char err[256];
    CHECK(fr_ranker_create(NULL, s, &rk, err, sizeof err) == FR_OK, "ranker: %s", err);
    fr_candidate *c = malloc(sizeof *c * N);
    char(*ids)[16] = malloc(16 * N);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 16, "i%d", (i * 7919) % N);
        c[i] = cand(ids[i]);
    }
    float qv[D];
    fr_test_fill(qv, D, &seed, 1);
    fr_rank_request q = query_req(c, N);
    q.query_vector = qv;
    fr_rank_result r;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.n_items == N && r.n_issues == 0, "10,000 candidates: %s", err);
    int sorted = 1, *seen = calloc(N, sizeof *seen), dup = 0;
    for (int i = 0; i < r.n_items; i++) {
        if (i && r.items[i].score > r.items[i - 1].score) sorted = 0;
        if (seen[r.items[i].candidate]++) dup++;
    }
    CHECK(sorted && dup == 0, "10,000 results sorted and unique");
    /* the best item really is the one with the highest cosine */
    double best = -2;
    int best_i = -1;
    for (int i = 0; i < N; i++) {
        int row = (i * 7919) % N;
        double dd = 0, nn = 0, qq = 0;
        for (int d = 0; d < D; d++) {
            dd += v[row * D + d] * qv[d];
            nn += v[row * D + d] * v[row * D + d];
            qq += qv[d] * qv[d];
        }
        double cs = dd / sqrt(nn * qq);
        if (cs > best) {
            best = cs;
            best_i = i;
        }
    }
    CHECK(r.items[0].candidate == best_i && fabs(r.items[0].semantic - best) < 1e-5, "top item is the best cosine");
    q.options.mmr_lambda = 0.5f; /* MMR on the first 100 positions of 10,000 */
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.n_items == N, "MMR over 10,000");
    free(seen);
    free(c);
    free(ids);
    free(v);
    fr_ranker_free(rk);
    fr_store_close(s);
}

static void test_json(fr_ranker *rk) {
    fr_parsed_request p;
    char err[256];
    const char *ok = "{\"request_id\":\"r1\",\"context\":{\"query\":\"q\",\"history\":[{\"item_id\":\"X\",\"weight\":2,\"timestamp\":1700000000}]},"
                     "\"candidates\":[{\"item_id\":\"A\",\"upstream_score\":0.5},{\"item_id\":\"zz\"}],"
                     "\"options\":{\"top_k\":5,\"normalization\":\"MINMAX\",\"mmr_lambda\":0.9,\"exclude_seen\":true,\"return_scores\":true}}";
    CHECK(fr_request_parse(ok, strlen(ok), &p, err, sizeof err) == FR_OK, "parse: %s", err);
    CHECK(strcmp(p.request_id, "r1") == 0 && p.req.n_candidates == 2 && p.req.n_history == 1 && p.history[0].weight == 2 &&
              p.history[0].timestamp == 1700000000 && p.candidates[0].has_upstream && !p.candidates[1].has_upstream &&
              p.req.options.top_k == 5 && p.req.options.normalization == FR_NORM_MINMAX && p.req.options.exclude_seen,
          "parsed fields");
    { /* per-signal normalisation over a profile's: a string replaces every choice, an object adds to them */
        fr_rank_options prof;
        fr_rank_options_default(&prof);
        prof.signal_norm[FR_SIG_LEXICAL] = FR_NORM_RANK + 1;
        fr_parsed_request p2;
        const char *obj = "{\"candidates\":[{\"item_id\":\"A\"}],\"options\":{\"normalization\":{\"default\":\"none\",\"upstream\":\"minmax\"}}}";
        CHECK(fr_request_parse_from(obj, strlen(obj), &prof, &p2, err, sizeof err) == FR_OK && p2.req.options.normalization == FR_NORM_NONE &&
                  fr_rank_norm_of(&p2.req.options, FR_SIG_UPSTREAM) == FR_NORM_MINMAX && fr_rank_norm_of(&p2.req.options, FR_SIG_LEXICAL) == FR_NORM_RANK &&
                  fr_rank_norm_of(&p2.req.options, FR_SIG_SEMANTIC) == FR_NORM_NONE,
              "normalization object: %s", err);
        fr_parsed_request_free(&p2);
        const char *str = "{\"candidates\":[{\"item_id\":\"A\"}],\"options\":{\"normalization\":\"minmax\"}}";
        CHECK(fr_request_parse_from(str, strlen(str), &prof, &p2, err, sizeof err) == FR_OK &&
                  fr_rank_norm_of(&p2.req.options, FR_SIG_LEXICAL) == FR_NORM_MINMAX,
              "normalization string over a per-signal profile: %s", err);
        fr_parsed_request_free(&p2);
    }
    p.req.query_vector = QX;
    fr_rank_result r;
    CHECK(fr_rank(rk, &p.req, &r, err, sizeof err) == FR_OK, "rank parsed: %s", err);
    char *json = fr_response_json(&p, &r, "m", 0xabc);
    CHECK(json && strstr(json, "\"requestId\":\"r1\"") && strstr(json, "\"itemId\":\"A\"") && strstr(json, "\"code\":\"UNKNOWN_ITEM\"") &&
              strstr(json, "\"storeVersion\":\"0000000000000abc\"") && !strstr(json, "\"arm\""),
          "response json (canonical names): %s", json ? json : "(null)");
    free(json);
    json = fr_response_json_ex(&p, &r, "m", 0xabc, "b", FR_JSON_PROTO_NAMES);
    CHECK(json && strstr(json, "\"request_id\":\"r1\"") && strstr(json, "\"item_id\":\"A\"") && strstr(json, "\"store_version\":\"0000000000000abc\"") &&
              strstr(json, "\"arm\":\"b\""),
          "response json (proto names): %s", json ? json : "(null)");
    free(json);
    fr_parsed_request_free(&p);
    {
        const char *sq = "{\"context\":{\"history\":[{\"item_id\":\"A\"}]},\"candidates\":[{\"item_id\":\"A\"}],"
                         "\"options\":{\"sequential_weight\":0.5,\"normalization\":{\"sequential\":\"rank\"}}}";
        CHECK(fr_request_parse(sq, strlen(sq), &p, err, sizeof err) == FR_OK && p.req.options.sequential_weight == 0.5f &&
                  fr_rank_norm_of(&p.req.options, FR_SIG_SEQUENTIAL) == FR_NORM_RANK,
              "sequential_weight parsed: %s", err);
        p.req.options.sequential_weight = 1e7f;
        CHECK(fr_rank_validate(&p.req, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "options.sequential_weight"), "range: %s", err);
        p.req.options.sequential_weight = 1;
        CHECK(fr_rank(rk, &p.req, &r, err, sizeof err) == FR_ERR_ARG && strstr(err, "sequential_weight"), "no model: %s", err);
        fr_parsed_request_free(&p);
    }
    struct {
        const char *json, *needle;
    } bad[] = {
        {"[1]", "must be a JSON object"},
        {"{\"candidates\":[{\"item_id\":\"A\"}],\"options\":{\"topk\":3}}", "unknown field options.topk"},
        {"{\"candidates\":[{\"item_id\":\"A\"},{\"item_id\":5}]}", "candidates[1].item_id must be a string"},
        {"{\"candidates\":[{\"upstream_score\":1}]}", "candidates[0].item_id is required"},
        {"{\"context\":{\"query\":3}}", "context.query must be a string"},
        {"{\"context\":{\"history\":[{\"item_id\":\"x\",\"timestamp\":1.5}]}}", "timestamp must be whole"},
        {"{\"options\":{\"normalization\":\"l2\"}}", "normalization must be one of"},
        {"{\"options\":{\"normalization\":{\"popularty\":\"rank\"}}}", "options.normalization.popularty: not a signal"},
        {"{\"options\":{\"normalization\":{\"semantic\":7}}}", "options.normalization.semantic must be one of"},
        {"{\"options\":{\"normalization\":{\"semantic\":true}}}", "options.normalization.semantic must be one of"},
        {"{\"options\":{\"normalization\":[\"rank\"]}}", "or an object of them by signal"},
        {"{\"options\":{\"exclude_seen\":1}}", "exclude_seen must be true or false"},
        {"{\"options\":{\"top_k\":-1}}", "top_k must be a whole number"},
        {"{\"bogus\":1}", "unknown field bogus"},
        {"{\"candidates\":[{\"item_id\":\"A\"}", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        fr_status rc = fr_request_parse(bad[i].json, strlen(bad[i].json), &p, err, sizeof err);
        CHECK(rc == FR_ERR_ARG && strstr(err, bad[i].needle), "bad request %zu: '%s' lacks '%s'", i, err, bad[i].needle);
    }
    const char *inf = "{\"context\":{\"query\":\"q\"},\"candidates\":[{\"item_id\":\"A\",\"upstream_score\":1e999}]}";
    CHECK(fr_request_parse(inf, strlen(inf), &p, err, sizeof err) == FR_OK, "1e999 parses");
    CHECK(fr_rank_validate(&p.req, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "candidates[0].upstream_score is infinite"), "1e999 rejected: %s", err);
    fr_parsed_request_free(&p);
}

/* Log and lexical signals: a store of 6 items with texts and priors from a hand-made log.
 * Vectors are all equal, so only the signal under test orders the candidates. */
static void test_log_signals(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/log.store", tmpdir);
    const char *ids[] = {"a", "b", "c", "d", "e", "new"};
    const char *texts[] = {"red cordless drill", "blue garden hose", "drill bits set", "hose reel", "garden gloves", "cordless drill brand new"};
    fr_store_writer *w;
    CHECK(fr_store_writer_open(path, 2, FR_STORE_F32, "test", 1, 1, &w, err, sizeof err) == FR_OK, "%s", err);
    for (int i = 0; i < 6; i++) {
        float v[2] = {1, 0};
        fr_store_writer_add(w, ids[i], strlen(ids[i]), v, texts[i], strlen(texts[i]), err, sizeof err);
    }
    CHECK(fr_store_writer_finish(w, err, sizeof err) == FR_OK, "%s", err);
    /* log: b is the most popular (4 users); a then c co-occur for 2 users; d once; new never */
    const char *log = "{\"user\":1,\"item\":\"a\",\"ts\":1}\n{\"user\":1,\"item\":\"c\",\"ts\":2}\n"
                      "{\"user\":2,\"item\":\"a\",\"ts\":1}\n{\"user\":2,\"item\":\"c\",\"ts\":2}\n"
                      "{\"user\":3,\"item\":\"b\",\"ts\":1}\n{\"user\":4,\"item\":\"b\",\"ts\":1}\n"
                      "{\"user\":5,\"item\":\"b\",\"ts\":1}\n{\"user\":6,\"item\":\"b\",\"ts\":3}\n{\"user\":6,\"item\":\"d\",\"ts\":4}\n";
    fr_store *plain = NULL, *s = NULL;
    CHECK(fr_store_open(path, 0, 0, &plain, err, sizeof err) == FR_OK, "%s", err);
    fr_priors_builder *b;
    fr_priors_params p = {.window = 3, .half_life = 0, .capacity = 8};
    uint8_t *sec = NULL;
    size_t n;
    FILE *f = fmemopen((void *)log, strlen(log), "rb");
    CHECK(fr_priors_builder_create(6, &p, &b, err, sizeof err) == FR_OK &&
              fr_priors_read_log(b, f, "log.jsonl", FR_LOG_JSONL, plain, 0, 1, 0, NULL, err, sizeof err) == FR_OK &&
              fr_priors_finish(b, &sec, &n, err, sizeof err) == FR_OK,
          "priors: %s", err);
    fclose(f);
    fr_priors_builder_free(b);
    /* without priors: asking for log signals is an error that says what is missing */
    fr_ranker *rk = NULL;
    fr_candidate c[6] = {cand("a"), cand("b"), cand("c"), cand("d"), cand("e"), cand("new")};
    fr_rank_request q = query_req(c, 6);
    q.options.popularity_weight = 1;
    fr_rank_result r;
    CHECK(fr_ranker_create(NULL, plain, &rk, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_ERR_ARG && strstr(err, "priors"), "log weights without priors: %s", err);
    fr_ranker_free(rk);
    fr_store_close(plain);
    CHECK(fr_store_attach(path, FR_STORE_SECTION_PRIORS, sec, n, err, sizeof err) == FR_OK, "attach: %s", err);
    free(sec);
    CHECK(fr_store_open(path, 0, 0, &s, err, sizeof err) == FR_OK, "%s", err);
    if (!s || fr_ranker_create(NULL, s, &rk, err, sizeof err) != FR_OK) {
        CHECK(0, "ranker: %s", err);
        fr_store_close(s);
        return;
    }
    /* popularity alone, ungated, raw values: b (4) > a = c (2) > d (1) > e = new (0), ties in request order */
    q.options.semantic_weight = 0;
    q.options.normalization = FR_NORM_NONE;
    q.options.log_gate = 0;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    CHECK(strcmp(order_of(&q, &r), "b,a,c,d,e,new") == 0, "popularity order %s", order_of(&q, &r));
    CHECK(fabsf(r.items[0].score - (float)log1p(4.0)) < 1e-6 && fabsf(r.items[0].popularity - (float)log1p(4.0)) < 1e-6, "popularity = log1p(count): %g", r.items[0].score);
    /* gated: score x seen / (seen + 2): b 4/6 log1p(4), a 2/4 log1p(2) */
    q.options.log_gate = 2;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fabsf(r.items[0].score - (float)(4.0 / 6.0 * log1p(4.0))) < 1e-6, "gated score %g", r.items[0].score);
    CHECK(fabsf(r.items[1].score - (float)(0.5 * log1p(2.0))) < 1e-6, "gated score of a %g", r.items[1].score);
    /* a cold item with z-scores: its log terms are 0 (the average), it sits between the warm ones */
    q.options.normalization = FR_NORM_ZSCORE;
    q.options.log_gate = 0.001f;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    int pos_new = -1;
    for (int i = 0; i < r.n_items; i++)
        if (r.items[i].candidate == 5) pos_new = i;
    CHECK(pos_new > 0 && pos_new < 5 && r.items[pos_new].score == 0, "cold item: position %d score %g", pos_new, pos_new >= 0 ? r.items[pos_new].score : -1);
    /* co-visitation with a history of [a]: c (2 co-visits, /sqrt(2*2)) first; raw value 1 */
    fr_rank_request h = {0};
    fr_history_item hist[1] = {{"a", 1, 1, 0, 0, 0, 0, NULL}};
    h.history = hist;
    h.n_history = 1;
    h.candidates = c + 1;
    h.n_candidates = 5;
    fr_rank_options_default(&h.options);
    h.options.semantic_weight = 0;
    h.options.covisitation_weight = 1;
    h.options.normalization = FR_NORM_NONE;
    h.options.log_gate = 0;
    CHECK(fr_rank(rk, &h, &r, err, sizeof err) == FR_OK, "%s", err);
    CHECK(strcmp(order_of(&h, &r), "c,b,d,e,new") == 0 && fabsf(r.items[0].covisitation - 1.0f) < 1e-6, "co-visitation order %s (%g)",
          order_of(&h, &r), r.items[0].covisitation);
    /* lexical: "cordless drill" -> new and a (both words) before c (one word) */
    fr_rank_request lq = query_req(c, 6);
    lq.query = "cordless drill";
    lq.query_len = strlen(lq.query);
    lq.options.semantic_weight = 0;
    lq.options.lexical_weight = 1;
    lq.options.normalization = FR_NORM_NONE;
    CHECK(fr_rank(rk, &lq, &r, err, sizeof err) == FR_OK, "%s", err);
    const char *lo = order_of(&lq, &r);
    CHECK((strncmp(lo, "a,new,c", 7) == 0 || strncmp(lo, "new,a,c", 7) == 0) && r.items[0].lexical > 0, "lexical order %s", lo);
    /* a candidate the store lacks, with its text: scored by BM25 on that text (the same value as
     * the stored item "new" of the same text), no log signals, gated off like any cold item */
    static const float v2[2] = {1, 0};
    fr_candidate t[2] = {cand("new"), cand("unstored")};
    size_t nl = 0;
    const char *new_text = fr_store_text(s, (uint64_t)fr_store_find(s, "new", 3), &nl);
    t[1].vector = v2;
    t[1].text = new_text;
    t[1].text_len = nl;
    lq.candidates = t;
    lq.n_candidates = 2;
    CHECK(fr_rank(rk, &lq, &r, err, sizeof err) == FR_OK && r.n_items == 2, "%s", err);
    CHECK(r.items[0].lexical > 0 && r.items[0].lexical == r.items[1].lexical && r.items[r.items[0].from_text ? 0 : 1].from_text,
          "BM25 of a request's text = of the same stored text: %g %g", r.items[0].lexical, r.items[1].lexical);
    lq.options.popularity_weight = 1;
    lq.options.covisitation_weight = 1;
    lq.options.lexical_weight = 0;
    CHECK(fr_rank(rk, &lq, &r, err, sizeof err) == FR_OK, "%s", err);
    int u = r.items[0].from_text ? 0 : 1;
    CHECK(r.items[u].popularity == 0 && r.items[u].covisitation == 0, "text candidate: no log signals");
    fr_ranker_free(rk);
    fr_store_close(s);
}

/* Sequential signal: a store of 8 random items with a randomly initialised model attached. The
 * ranker's raw values must be dot(fr_seq_user_state, fr_seq_item_vector) of the same model, with
 * unknown history ids skipped and the newest max_len known items used; then normalisation, the
 * error without a model, a history unknown to the model, and the log gate once priors join. */
#define SQ_N 8
#define SQ_D 8
static void test_sequential(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/seq.store", tmpdir);
    const char *ids[SQ_N] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
    float vecs[SQ_N * SQ_D];
    uint64_t seed = 99;
    fr_test_fill(vecs, SQ_N * SQ_D, &seed, 1.0f);
    fr_store *s = make_store("seq.store", SQ_N, SQ_D, ids, vecs);
    CHECK(s != NULL, "seq store");
    if (!s) return;
    /* the request: 5 known history items (one unknown id between them), 8 stored candidates and
     * one ranked by a request-given vector */
    fr_history_item hist[6] = {{"s1", 2, 1, 0, 0, 0, 0, NULL}, {"nope", 4, 1, 0, 0, 0, 0, NULL}, {"s3", 2, 1, 0, 0, 0, 0, NULL}, {"s5", 2, 1, 0, 0, 0, 0, NULL}, {"s2", 2, 1, 0, 0, 0, 0, NULL}, {"s6", 2, 1, 0, 0, 0, 0, NULL}};
    float tv[SQ_D];
    fr_test_fill(tv, SQ_D, &seed, 1.0f);
    fr_candidate c[SQ_N + 1];
    for (int i = 0; i < SQ_N; i++) c[i] = cand(ids[i]);
    c[SQ_N] = cand("fresh");
    c[SQ_N].vector = tv;
    fr_rank_request q = {0};
    q.history = hist;
    q.n_history = 6;
    q.candidates = c;
    q.n_candidates = SQ_N + 1;
    fr_rank_options_default(&q.options);
    q.options.semantic_weight = 0;
    q.options.sequential_weight = 1;
    q.options.normalization = FR_NORM_NONE;
    fr_rank_result r;

    /* no model in the store: a clear error naming the option; the signal off ranks as before */
    fr_ranker *rk = NULL;
    CHECK(fr_ranker_create(NULL, s, &rk, err, sizeof err) == FR_OK, "%s", err);
    err[0] = 0;
    CHECK(rk && fr_rank(rk, &q, &r, err, sizeof err) == FR_ERR_ARG && strstr(err, "sequential_weight") && strstr(err, "feedrank train"),
          "sequential without a model: %s", err);
    fr_ranker_free(rk);
    rk = NULL;

    fr_seq_config cfg = fr_seq_default_config(SQ_N, SQ_D);
    cfg.d = 8;
    cfg.d_ff = 16;
    cfg.max_len = 4;
    cfg.n_heads = 2;
    fr_seq_model *m = NULL;
    CHECK(fr_seq_create(&cfg, 1, 0, &m, err, sizeof err) == FR_OK, "%s", err);
    if (!m) {
        fr_store_close(s);
        return;
    }
    fr_seq_init_params(m, 7);
    /* a larger spread than N(0, 0.02) so that the candidates' scores differ clearly */
    for (size_t i = 0; i < fr_seq_num_params(m); i++) fr_seq_params(m)[i] *= 20.0f;
    fr_seq_meta meta = {.cfg = cfg, .lr = 1e-3f, .batch = 1, .n_neg = 1, .patience = 1, .max_epochs = 1, .val_percent = 10, .val_negatives = 10, .seed = 1, .epochs_run = 1, .best_epoch = 1};
    fr_seq_store_key_of(s, path, &meta.store);
    uint8_t *sec = NULL;
    size_t size = 0;
    CHECK(fr_seq_section_build(&meta, fr_seq_params(m), fr_seq_num_params(m), &sec, &size, err, sizeof err) == FR_OK, "%s", err);
    fr_store_close(s);
    CHECK(fr_store_attach(path, FR_STORE_SECTION_SEQMODEL, sec, size, err, sizeof err) == FR_OK, "attach: %s", err);
    free(sec);
    CHECK(fr_store_open(path, 0, 0, &s, err, sizeof err) == FR_OK, "%s", err);
    if (!s || fr_ranker_create(NULL, s, &rk, err, sizeof err) != FR_OK) {
        CHECK(0, "ranker with a model: %s", err);
        fr_store_close(s);
        fr_seq_free(m);
        return;
    }

    /* the reference: user state of the known rows (the model keeps the newest 4: 3, 5, 2, 6) */
    const float *text = fr_store_vectors_f32(s);
    const int32_t rows[5] = {1, 3, 5, 2, 6};
    float u[8], v[8], want[SQ_N + 1];
    CHECK(fr_seq_user_state(m, rows, 5, text, u, err, sizeof err) == FR_OK, "%s", err);
    for (int i = 0; i <= SQ_N; i++) {
        fr_seq_item_vector(m, i < SQ_N ? i : -1, i < SQ_N ? text + (size_t)i * SQ_D : tv, v);
        want[i] = 0;
        for (int k = 0; k < 8; k++) want[i] += u[k] * v[k];
    }
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.n_items == SQ_N + 1, "rank: %s", err);
    int ok = !r.no_sequential_state, sorted = 1, from_text_ok = 0;
    for (int i = 0; i < r.n_items; i++) {
        const fr_ranked_item *it = &r.items[i];
        float w = want[it->candidate];
        if (fabsf(it->sequential - w) > 1e-4f * (1 + fabsf(w)) || it->score != it->sequential) {
            ok = 0;
            fprintf(stderr, "  candidate %d: sequential %.7g score %.7g, want %.7g\n", it->candidate, it->sequential, it->score, w);
        }
        if (i > 0 && it->score > r.items[i - 1].score) sorted = 0;
        if (it->candidate == SQ_N) from_text_ok = it->from_text;
    }
    CHECK(ok, "raw sequential = dot(user state, item vector) for every candidate, text projection for the request's vector");
    CHECK(sorted && from_text_ok, "ordered by the signal; the vector candidate ranked from its text");
    /* a different history gives a different state: the model reads the order, not a bag */
    {
        fr_history_item rev[5] = {hist[5], hist[4], hist[3], hist[2], hist[0]};
        fr_rank_request q2 = q;
        q2.history = rev;
        q2.n_history = 5;
        float first = r.items[0].sequential;
        int cand0 = r.items[0].candidate;
        CHECK(fr_rank(rk, &q2, &r, err, sizeof err) == FR_OK, "%s", err);
        int same = 1;
        for (int i = 0; i < r.n_items; i++)
            if (r.items[i].candidate == cand0 && r.items[i].sequential != first) same = 0;
        CHECK(!same, "reversed history changes the state");
        CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    }
    /* per-signal normalisation: z-scores of the reference values */
    CHECK(fr_rank_set_normalization(&q.options, "sequential", "zscore", err, sizeof err) == FR_OK, "%s", err);
    q.options.sequential_weight = 2;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    {
        double mean = 0, sd = 0;
        for (int i = 0; i <= SQ_N; i++) mean += want[i];
        mean /= SQ_N + 1;
        for (int i = 0; i <= SQ_N; i++) sd += (want[i] - mean) * (want[i] - mean);
        sd = sqrt(sd / (SQ_N + 1));
        int zok = 1;
        for (int i = 0; i < r.n_items; i++)
            if (fabs(r.items[i].score - 2 * (want[r.items[i].candidate] - mean) / sd) > 1e-3) zok = 0;
        CHECK(zok, "sequential z-scored and weighted");
    }
    /* a history with no id known to the model: 0 for every candidate, said in the result */
    fr_history_item unk[1] = {{"nope", 4, 1, 0, 0, 0, 0, NULL}};
    q.history = unk;
    q.n_history = 1;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && r.no_sequential_state && r.n_items == SQ_N + 1, "unknown history: %s", err);
    int zero = 1;
    for (int i = 0; i < r.n_items; i++) zero &= r.items[i].sequential == 0 && r.items[i].score == 0 && r.items[i].candidate == i;
    CHECK(zero, "no state: sequential 0 everywhere, request order kept");
    q.history = hist;
    q.n_history = 6;
    q.options.sequential_weight = 0;
    CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_OK && !r.no_sequential_state && r.items[0].sequential == 0, "signal off");
    fr_ranker_free(rk);
    fr_store_close(s);

    /* with log priors too: the term is gated like the log signals (s7 never in the log: 0) */
    const char *log = "{\"user\":1,\"item\":\"s1\",\"ts\":1}\n{\"user\":1,\"item\":\"s2\",\"ts\":2}\n"
                      "{\"user\":2,\"item\":\"s1\",\"ts\":1}\n{\"user\":2,\"item\":\"s3\",\"ts\":2}\n";
    fr_store *plain = NULL;
    CHECK(fr_store_open(path, 0, 0, &plain, err, sizeof err) == FR_OK, "%s", err);
    fr_priors_builder *b = NULL;
    fr_priors_params pp = {.window = 3, .half_life = 0, .capacity = 8};
    uint8_t *psec = NULL;
    size_t pn = 0;
    FILE *f = fmemopen((void *)log, strlen(log), "rb");
    CHECK(plain && fr_priors_builder_create(SQ_N, &pp, &b, err, sizeof err) == FR_OK &&
              fr_priors_read_log(b, f, "log.jsonl", FR_LOG_JSONL, plain, 0, 1, 0, NULL, err, sizeof err) == FR_OK &&
              fr_priors_finish(b, &psec, &pn, err, sizeof err) == FR_OK,
          "priors: %s", err);
    fclose(f);
    fr_priors_builder_free(b);
    fr_store_close(plain);
    CHECK(fr_store_attach(path, FR_STORE_SECTION_PRIORS, psec, pn, err, sizeof err) == FR_OK, "attach priors: %s", err);
    free(psec);
    CHECK(fr_store_open(path, 0, 0, &s, err, sizeof err) == FR_OK && fr_ranker_create(NULL, s, &rk, err, sizeof err) == FR_OK, "%s", err);
    q.options.sequential_weight = 1;
    q.options.normalization = FR_NORM_NONE;
    memset(q.options.signal_norm, 0, sizeof q.options.signal_norm);
    q.options.log_gate = 2;
    CHECK(rk && fr_rank(rk, &q, &r, err, sizeof err) == FR_OK, "%s", err);
    int gok = rk != NULL;
    for (int i = 0; rk && i < r.n_items; i++) {
        const fr_ranked_item *it = &r.items[i];
        double seen = it->candidate == 1 ? 2 : (it->candidate == 2 || it->candidate == 3) ? 1
                                                                                          : 0;
        if (fabsf(it->sequential - want[it->candidate]) > 1e-4f * (1 + fabsf(want[it->candidate])) ||
            fabs(it->score - seen / (seen + 2) * want[it->candidate]) > 1e-4 * (1 + fabs(want[it->candidate])))
            gok = 0;
    }
    CHECK(gok, "with priors: score = seen / (seen + log_gate) x sequential (0 for s7, s0 and the vector candidate)");
    fr_ranker_free(rk);
    fr_store_close(s);
    fr_seq_free(m);
}

/* profiles: write -> parse gives the same options; bad profiles are rejected naming the key */
static void test_profiles(void) {
    fr_rank_options o, back;
    fr_rank_options_default(&o);
    o.semantic_weight = 0.4f;
    o.popularity_weight = 0.3f;
    o.covisitation_weight = 0.3f;
    o.lexical_weight = 0.125f;
    o.upstream_weight = 0;
    o.log_gate = 3;
    o.cold_content_boost = 1;
    o.normalization = FR_NORM_RANK;
    o.history_half_life = 2;
    o.signal_norm[FR_SIG_POPULARITY] = FR_NORM_NONE + 1;
    o.signal_norm[FR_SIG_SEMANTIC] = FR_NORM_ZSCORE + 1;
    o.sequential_weight = 0.75f;
    o.signal_norm[FR_SIG_SEQUENTIAL] = FR_NORM_RANK + 1;
    char *buf = NULL, name[64], err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(fr_profile_write(f, "t", &o, "{\"dataset\": \"x\"}", err, sizeof err) == FR_OK, "%s", err);
    fclose(f);
    CHECK(fr_profile_parse(buf, len, "mem", &back, name, sizeof name, err, sizeof err) == FR_OK, "round trip: %s", err);
    CHECK(memcmp(&o, &back, sizeof o) == 0 && strcmp(name, "t") == 0, "profile round trip changed the options");
    CHECK(strstr(buf, "\"normalization\": {\"default\": \"rank\", \"semantic\": \"zscore\", \"popularity\": \"none\", \"sequential\": \"rank\"}") != NULL,
          "per-signal normalisation written: %s", buf);
    CHECK(strstr(buf, "\"lexical\": 0.125, \"sequential\": 0.75}") != NULL, "sequential weight written: %s", buf);
    free(buf);
    /* sequential is optional (profiles written before it load, with 0) and not written when 0 */
    o.sequential_weight = 0;
    buf = NULL;
    f = open_memstream(&buf, &len);
    CHECK(fr_profile_write(f, "t", &o, NULL, err, sizeof err) == FR_OK, "%s", err);
    fclose(f);
    CHECK(!strstr(buf, "\"sequential\": 0") && fr_profile_parse(buf, len, "mem", &back, NULL, 0, err, sizeof err) == FR_OK &&
              back.sequential_weight == 0,
          "sequential 0 left out and read back: %s", buf);
    free(buf);
    struct {
        const char *json, *why;
    } bad[] = {
        {"{\"feedrank_profile\":1,\"weights\":{\"semantic\":1,\"upstream\":0,\"popularity\":0,\"covisitation\":0}}", "weights.lexical"},
        {"{\"feedrank_profile\":1,\"weights\":{\"semantic\":1,\"upstream\":0,\"popularity\":0,\"covisitation\":0,\"lexical\":0,\"clicks\":1}}", "weights.clicks"},
        {"{\"feedrank_profile\":1,\"weights\":{\"semantic\":1e999,\"upstream\":0,\"popularity\":0,\"covisitation\":0,\"lexical\":0}}", "weights.semantic"},
        {"{\"feedrank_profile\":1,\"weight\":{}}", "weight"},
        {"{\"weights\":{}}", "feedrank_profile"},
        {"{\"feedrank_profile\":1,\"weights\":{\"semantic\":1,\"upstream\":0,\"popularity\":0,\"covisitation\":0,\"lexical\":0},\"log_gate\":-1}", "log_gate"},
        {"{\"feedrank_profile\":1,\"weights\":{\"semantic\":1,\"upstream\":0,\"popularity\":0,\"covisitation\":0,\"lexical\":0},\"normalization\":\"l2\"}", "normalization"},
        {"[1]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(fr_profile_parse(bad[i].json, strlen(bad[i].json), "p.json", &back, NULL, 0, err, sizeof err) == FR_ERR_FORMAT &&
                  strstr(err, bad[i].why) && strstr(err, "p.json"),
              "bad profile %zu: %s", i, err);
    }
}

int main(void) {
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    const char *ids[] = {"A", "A2", "B", "C", "D", "X", "Y"};
    float vecs[] = {1, 0, 0.99f, 0.14106736f, 0.6f, 0.8f, 0, 1, 0, 1, 1, 0, 0, 1};
    fr_store *s = make_store("small.store", 7, 2, ids, vecs);
    CHECK(s != NULL, "small store");
    fr_ranker *rk = NULL;
    char err[256];
    if (s && fr_ranker_create(NULL, s, &rk, err, sizeof err) == FR_OK) {
        test_blend(rk);
        test_mmr(rk);
        test_history(rk);
        test_issues(rk);
        test_text_candidates(rk);
        test_json(rk);
        /* a query without a model and without a precomputed vector */
        fr_candidate c[1] = {cand("A")};
        fr_rank_request q = query_req(c, 1);
        q.query_vector = NULL;
        fr_rank_result r;
        CHECK(fr_rank(rk, &q, &r, err, sizeof err) == FR_ERR_UNSUPPORTED, "query without a model: %s", err);
        fr_ranker_free(rk);
    } else {
        CHECK(0, "ranker: %s", err);
    }
    fr_store_close(s);
    test_validation();
    test_many();
    test_log_signals();
    test_sequential();
    test_profiles();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK(system(cmd) == 0, "cleanup");
    return fr_test_finish("test_ranker");
}

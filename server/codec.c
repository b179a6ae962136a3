/* codec.c - feedrank.v1 protobuf messages <-> the ranker's request/result structs. The
 * protobuf request is kept alive by the job, so ids and the query point into it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"
#include "wire_check.h"

/* Repeated fields other than the ones limited below (signal_normalization) stay small. */
#define OTHER_REPEATED_CAP 64

fr_status fr_codec_check_rerank_wire(const uint8_t *buf, size_t len, const fr_rank_limits *lim, char *err, size_t errcap) {
    const fr_wire_cap caps[] = {{"candidates", (size_t)lim->max_candidates}, {"history", (size_t)lim->max_history}};
    return fr_wire_check(&feedrank__v1__rerank_request__descriptor, buf, len, caps, 2, OTHER_REPEATED_CAP, err, errcap);
}

fr_status fr_codec_check_embed_wire(const uint8_t *buf, size_t len, int max_texts, char *err, size_t errcap) {
    const fr_wire_cap caps[] = {{"texts", (size_t)max_texts}};
    return fr_wire_check(&feedrank__v1__embed_request__descriptor, buf, len, caps, 1, OTHER_REPEATED_CAP, err, errcap);
}

/* fr_norm of a proto Normalization, -1 when unknown */
static int norm_of_proto(Feedrank__V1__Normalization n) {
    switch (n) {
    case FEEDRANK__V1__NORMALIZATION__NORMALIZATION_UNSPECIFIED:
    case FEEDRANK__V1__NORMALIZATION__ZSCORE: return FR_NORM_ZSCORE;
    case FEEDRANK__V1__NORMALIZATION__MINMAX: return FR_NORM_MINMAX;
    case FEEDRANK__V1__NORMALIZATION__RANK: return FR_NORM_RANK;
    case FEEDRANK__V1__NORMALIZATION__NONE: return FR_NORM_NONE;
    default: return -1;
    }
}

/* Every option of the table (rank_options.def) that the message sets, by its proto field: the
 * field's name is the option's, so protobuf-c's has_<name> / <name> members are named here by token
 * pasting; an option without its field in the .proto does not compile. Counts above int's range
 * are clamped, for validation to refuse by name. */
#define CODEC_NUM(name, member) d->member = o->name;
#define CODEC_COUNT(name, member) d->member = o->name > INT_MAX ? INT_MAX : (int)o->name;
#define CODEC_KIND_FLOAT CODEC_NUM
#define CODEC_KIND_DOUBLE CODEC_NUM
#define CODEC_KIND_COUNT CODEC_COUNT
#define CODEC_KIND_BOOL CODEC_NUM
#define CODEC_KIND_NORM(name, member)                                                                                  \
    {                                                                                                                  \
        const int n = norm_of_proto(o->name);                                                                          \
        if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "options." #name " %d is not a known value", (int)o->name); \
        d->member = (fr_norm)n;                                                                                        \
        memset(d->signal_norm, 0, sizeof d->signal_norm);                                                              \
    }

fr_status fr_codec_options(const Feedrank__V1__RerankOptions *o, fr_rank_options *d, char *err, size_t errcap) {
#define FR_RANK_OPTION(name, member, kind, def, lo, hi, field, profile, doc) \
    if (o->has_##name) CODEC_KIND_##kind(name, member)
#include "rank_options.def"
#undef FR_RANK_OPTION
    for (size_t i = 0; i < o->n_signal_normalization; i++) {
        const Feedrank__V1__SignalNormalization *sn = o->signal_normalization[i];
        int n = sn->has_normalization ? norm_of_proto(sn->normalization) : (int)FR_NORM_ZSCORE;
        if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "options.signal_normalization[%zu].normalization %d is not a known value", i, (int)sn->normalization);
        char nerr[200]; /* "default" is the normalization field's, not a signal */
        if (!sn->signal || !strcmp(sn->signal, "default") || fr_rank_set_normalization(d, sn->signal, fr_norm_name((fr_norm)n), nerr, sizeof nerr))
            return fr_fail(FR_ERR_ARG, err, errcap, "options.signal_normalization[%zu].signal '%.40s' is not one of semantic, upstream, popularity, covisitation, lexical, sequential",
                           i, sn->signal ? sn->signal : "");
    }
    return FR_OK;
}

fr_status fr_codec_request(const Feedrank__V1__RerankRequest *m, const fr_rank_options *arm_defaults, job *j,
                           char *err, size_t errcap) {
    fr_rank_request *q = &j->req;
    memset(q, 0, sizeof *q);
    q->options = *arm_defaults;
    const Feedrank__V1__Context *ctx = m->context;
    if (ctx) {
        if (ctx->query && *ctx->query) {
            q->query = ctx->query;
            q->query_len = strlen(ctx->query);
        }
        if (ctx->n_history > 0x7fffffff) return fr_fail(FR_ERR_ARG, err, errcap, "too many history items");
        j->hist = calloc(ctx->n_history ? ctx->n_history : 1, sizeof *j->hist);
        if (!j->hist) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        for (size_t i = 0; i < ctx->n_history; i++) {
            const Feedrank__V1__HistoryItem *h = ctx->history[i];
            fr_history_item *it = &j->hist[i];
            it->id = h->item_id ? h->item_id : "";
            it->id_len = strlen(it->id);
            it->has_weight = h->has_weight;
            it->weight = h->weight;
            it->has_timestamp = h->has_timestamp;
            it->timestamp = h->timestamp;
        }
        q->history = j->hist;
        q->n_history = (int)ctx->n_history;
    }
    if (m->n_candidates > 0x7fffffff) return fr_fail(FR_ERR_ARG, err, errcap, "too many candidates");
    j->cands = calloc(m->n_candidates ? m->n_candidates : 1, sizeof *j->cands);
    if (!j->cands) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    for (size_t i = 0; i < m->n_candidates; i++) {
        const Feedrank__V1__Candidate *c = m->candidates[i];
        j->cands[i].id = c->item_id ? c->item_id : "";
        j->cands[i].id_len = strlen(j->cands[i].id);
        j->cands[i].has_upstream = c->has_upstream_score;
        j->cands[i].upstream = c->upstream_score;
        if (c->text) {
            j->cands[i].text = c->text;
            j->cands[i].text_len = strlen(c->text);
        }
    }
    q->candidates = j->cands;
    q->n_candidates = (int)m->n_candidates;
    if (m->options) return fr_codec_options(m->options, &q->options, err, errcap);
    return FR_OK;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void fr_codec_response_free(Feedrank__V1__RerankResponse *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_items; i++) {
        if (r->items[i]) free(r->items[i]->item_id);
        free(r->items[i]);
    }
    for (size_t i = 0; i < r->n_item_errors; i++) {
        if (r->item_errors[i]) free(r->item_errors[i]->item_id);
        free(r->item_errors[i]);
    }
    free(r->items);
    free(r->item_errors);
    free(r);
}

Feedrank__V1__RerankResponse *fr_codec_response(const job *j, const fr_rank_result *res, const char *model,
                                                const char *store_version, const char *arm) {
    Feedrank__V1__RerankResponse *r = malloc(sizeof *r);
    if (!r) return NULL;
    feedrank__v1__rerank_response__init(r);
    r->request_id = j->rr->request_id ? j->rr->request_id : "";
    r->model = (char *)model;
    r->store_version = (char *)store_version;
    r->arm = (char *)arm;
    r->has_excluded_seen = res->n_excluded_seen > 0;
    r->excluded_seen = (uint32_t)res->n_excluded_seen;
    r->has_query_truncated = res->query_truncated;
    r->query_truncated = res->query_truncated;
    r->has_no_context_vector = res->no_context_vector;
    r->no_context_vector = res->no_context_vector;
    r->has_no_sequential_state = res->no_sequential_state;
    r->no_sequential_state = res->no_sequential_state;
    int scores = !(j->rr->options && j->rr->options->has_return_scores && !j->rr->options->return_scores);
    r->items = calloc((size_t)(res->n_items ? res->n_items : 1), sizeof *r->items);
    r->item_errors = calloc((size_t)(res->n_issues ? res->n_issues : 1), sizeof *r->item_errors);
    if (!r->items || !r->item_errors) {
        fr_codec_response_free(r);
        return NULL;
    }
    for (int i = 0; i < res->n_items; i++) {
        const fr_ranked_item *it = &res->items[i];
        Feedrank__V1__RankedItem *e = malloc(sizeof *e);
        if (!e) {
            fr_codec_response_free(r);
            return NULL;
        }
        feedrank__v1__ranked_item__init(e);
        r->items[r->n_items++] = e;
        const fr_candidate *c = &j->cands[it->candidate];
        e->item_id = dupn(c->id, c->id_len);
        if (!e->item_id) {
            fr_codec_response_free(r);
            return NULL;
        }
        if (scores) {
            e->has_score = e->has_semantic_score = 1;
            e->score = it->score;
            e->semantic_score = it->semantic;
            e->has_upstream_score = it->has_upstream;
            e->upstream_score = it->upstream;
        }
        e->has_from_text = e->from_text = it->from_text;
    }
    for (int i = 0; i < res->n_issues; i++) {
        const fr_item_issue *is = &res->issues[i];
        Feedrank__V1__ItemError *e = malloc(sizeof *e);
        if (!e) {
            fr_codec_response_free(r);
            return NULL;
        }
        feedrank__v1__item_error__init(e);
        r->item_errors[r->n_item_errors++] = e;
        int hist = is->code == FR_ISSUE_UNKNOWN_HISTORY;
        const char *id = hist ? j->hist[is->index].id : j->cands[is->index].id;
        size_t il = hist ? j->hist[is->index].id_len : j->cands[is->index].id_len;
        e->item_id = dupn(id, il);
        if (!e->item_id) {
            fr_codec_response_free(r);
            return NULL;
        }
        e->has_index = e->has_code = 1;
        e->index = (uint32_t)is->index;
        e->code = is->code == FR_ISSUE_UNKNOWN_ITEM ? FEEDRANK__V1__ITEM_ERROR_CODE__UNKNOWN_ITEM
                  : is->code == FR_ISSUE_DUPLICATE  ? FEEDRANK__V1__ITEM_ERROR_CODE__DUPLICATE_CANDIDATE
                                                    : FEEDRANK__V1__ITEM_ERROR_CODE__UNKNOWN_HISTORY_ITEM;
    }
    return r;
}

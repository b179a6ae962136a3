#include "request_json.h"
#include "json_strict.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int allowed(const cJSON *obj, const char *const *keys, const char *where, char *err, size_t errcap) {
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        int ok = 0;
        for (int k = 0; keys[k]; k++) ok |= strcmp(it->string, keys[k]) == 0;
        if (!ok) { fr_fail(FR_ERR_ARG, err, errcap, "unknown field %s%s", where, it->string); return 0; }
    }
    return 1;
}

/* A JSON number into *out; 0 with err set when present but not a finite number. */
static int num(const cJSON *o, const char *key, const char *where, double *out, int *present, char *err, size_t errcap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (present) *present = 0;
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v)) { fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a number", where, key); return 0; }
    if (!isfinite(v->valuedouble)) { fr_fail(FR_ERR_ARG, err, errcap, "%s%s is not finite", where, key); return 0; }
    *out = v->valuedouble;
    if (present) *present = 1;
    return 1;
}

static int str(const cJSON *o, const char *key, const char *where, const char **out, size_t *len, char *err, size_t errcap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsString(v)) { fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a string", where, key); return 0; }
    *out = v->valuestring;
    if (len) *len = strlen(v->valuestring);
    return 1;
}

void fr_parsed_request_free(fr_parsed_request *p) {
    if (!p) return;
    cJSON_Delete(p->root);
    free(p->history);
    free(p->candidates);
    memset(p, 0, sizeof *p);
}

void fr_request_id_of(const char *json, size_t len, char *out, size_t cap) {
    if (!cap) return;
    out[0] = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "request_id");
    if (cJSON_IsString(id)) snprintf(out, cap, "%s", id->valuestring);
    cJSON_Delete(root);
}

fr_status fr_request_parse(const char *json, size_t len, fr_parsed_request *out, char *err, size_t errcap) {
    return fr_request_parse_from(json, len, NULL, out, err, errcap);
}

fr_status fr_normalization_from_json(const cJSON *n, fr_rank_options *o, char *err, size_t errcap) {
    if (!n || cJSON_IsNull(n)) return FR_OK;
    if (cJSON_IsString(n)) { /* one method for every signal: replaces any per-signal choice */
        const int v = fr_norm_parse(n->valuestring);
        if (v < 0) return fr_fail(FR_ERR_ARG, err, errcap, "normalization must be one of \"zscore\", \"minmax\", \"rank\", \"none\"");
        memset(o->signal_norm, 0, sizeof o->signal_norm);
        o->normalization = (fr_norm)v;
        return FR_OK;
    }
    if (!cJSON_IsObject(n))
        return fr_fail(FR_ERR_ARG, err, errcap, "normalization must be one of \"zscore\", \"minmax\", \"rank\", \"none\", or an object of them by signal");
    for (const cJSON *e = n->child; e; e = e->next) {
        if (!cJSON_IsString(e)) return fr_fail(FR_ERR_ARG, err, errcap, "normalization.%.40s must be one of \"zscore\", \"minmax\", \"rank\", \"none\"", e->string);
        fr_status rc = fr_rank_set_normalization(o, e->string, e->valuestring, err, errcap);
        if (rc) return rc;
    }
    return FR_OK;
}

fr_status fr_request_parse_from(const char *json, size_t len, const fr_rank_options *defaults, fr_parsed_request *out,
                                char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    cJSON *root = fr_json_parse_strict(json, len, err, errcap);
    if (!root) return FR_ERR_ARG;
    out->root = root;
    out->request_id = "";
    out->return_scores = 1;
    if (defaults) out->req.options = *defaults;
    else fr_rank_options_default(&out->req.options);
    static const char *top[] = {"request_id", "context", "candidates", "options", NULL};
    static const char *ctxk[] = {"query", "history", NULL};
    static const char *histk[] = {"item_id", "weight", "timestamp", NULL};
    static const char *candk[] = {"item_id", "upstream_score", "text", NULL};
    static const char *optk[] = {"semantic_weight", "upstream_weight", "normalization", "query_weight", "history_half_life",
                                 "history_half_life_seconds", "mmr_lambda", "mmr_depth", "top_k", "exclude_seen",
                                 "return_scores", "popularity_weight", "covisitation_weight", "lexical_weight", "log_gate", "cold_content_boost", "covisitation_half_life", "covisitation_norm", "sequential_weight", NULL};
    char where[64];
    if (!cJSON_IsObject(root)) { fr_fail(FR_ERR_ARG, err, errcap, "a request must be a JSON object"); goto fail; }
    if (!allowed(root, top, "", err, errcap)) goto fail;
    if (!str(root, "request_id", "", &out->request_id, NULL, err, errcap)) goto fail;
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "context");
    if (ctx && !cJSON_IsObject(ctx)) { fr_fail(FR_ERR_ARG, err, errcap, "context must be an object"); goto fail; }
    if (ctx) {
        if (!allowed(ctx, ctxk, "context.", err, errcap)) goto fail;
        if (!str(ctx, "query", "context.", &out->req.query, &out->req.query_len, err, errcap)) goto fail;
        const cJSON *hist = cJSON_GetObjectItemCaseSensitive(ctx, "history");
        if (hist && !cJSON_IsArray(hist)) { fr_fail(FR_ERR_ARG, err, errcap, "context.history must be an array"); goto fail; }
        int n = cJSON_GetArraySize(hist);
        out->history = calloc((size_t)(n ? n : 1), sizeof *out->history);
        if (!out->history) { fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory"); goto fail; }
        int i = 0;
        const cJSON *h;
        cJSON_ArrayForEach(h, hist) {
            snprintf(where, sizeof where, "context.history[%d].", i);
            if (!cJSON_IsObject(h)) { fr_fail(FR_ERR_ARG, err, errcap, "context.history[%d] must be an object", i); goto fail; }
            if (!allowed(h, histk, where, err, errcap)) goto fail;
            fr_history_item *it = &out->history[i];
            if (!str(h, "item_id", where, &it->id, &it->id_len, err, errcap)) goto fail;
            if (!it->id) { fr_fail(FR_ERR_ARG, err, errcap, "%sitem_id is required", where); goto fail; }
            double w, ts;
            if (!num(h, "weight", where, &w, &it->has_weight, err, errcap)) goto fail;
            if (!num(h, "timestamp", where, &ts, &it->has_timestamp, err, errcap)) goto fail;
            if (it->has_weight) it->weight = (float)w;
            if (it->has_timestamp) {
                if (ts != floor(ts) || fabs(ts) > 9e15) { fr_fail(FR_ERR_ARG, err, errcap, "%stimestamp must be whole unix seconds", where); goto fail; }
                it->timestamp = (int64_t)ts;
            }
            i++;
        }
        out->req.history = out->history;
        out->req.n_history = n;
    }
    const cJSON *cands = cJSON_GetObjectItemCaseSensitive(root, "candidates");
    if (cands && !cJSON_IsArray(cands)) { fr_fail(FR_ERR_ARG, err, errcap, "candidates must be an array"); goto fail; }
    int n = cJSON_GetArraySize(cands);
    out->candidates = calloc((size_t)(n ? n : 1), sizeof *out->candidates);
    if (!out->candidates) { fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory"); goto fail; }
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cands) {
        snprintf(where, sizeof where, "candidates[%d].", i);
        if (!cJSON_IsObject(c)) { fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d] must be an object", i); goto fail; }
        if (!allowed(c, candk, where, err, errcap)) goto fail;
        fr_candidate *cd = &out->candidates[i];
        if (!str(c, "item_id", where, &cd->id, &cd->id_len, err, errcap)) goto fail;
        if (!cd->id) { fr_fail(FR_ERR_ARG, err, errcap, "%sitem_id is required", where); goto fail; }
        if (!str(c, "text", where, &cd->text, &cd->text_len, err, errcap)) goto fail; /* used when the store lacks the id */
        /* upstream_score: a JSON number; NaN/inf cannot be written in JSON, but 1e999 parses
         * to inf, which fr_rank_validate rejects with the candidate's index */
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(c, "upstream_score");
        if (u && !cJSON_IsNull(u)) {
            if (!cJSON_IsNumber(u)) { fr_fail(FR_ERR_ARG, err, errcap, "%supstream_score must be a number", where); goto fail; }
            cd->upstream = (float)u->valuedouble;
            if (isfinite(u->valuedouble) && !isfinite(cd->upstream)) cd->upstream = u->valuedouble > 0 ? INFINITY : -INFINITY;
            cd->has_upstream = 1;
        }
        i++;
    }
    out->req.candidates = out->candidates;
    out->req.n_candidates = n;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "options");
    if (opt && !cJSON_IsObject(opt)) { fr_fail(FR_ERR_ARG, err, errcap, "options must be an object"); goto fail; }
    if (opt) {
        fr_rank_options *o = &out->req.options;
        if (!allowed(opt, optk, "options.", err, errcap)) goto fail;
        struct { const char *key; float *f; double *d; int *i; } nums[] = {
            {"semantic_weight", &o->semantic_weight, NULL, NULL}, {"upstream_weight", &o->upstream_weight, NULL, NULL},
            {"query_weight", &o->query_weight, NULL, NULL}, {"history_half_life", &o->history_half_life, NULL, NULL},
            {"history_half_life_seconds", NULL, &o->history_half_life_s, NULL}, {"mmr_lambda", &o->mmr_lambda, NULL, NULL},
            {"mmr_depth", NULL, NULL, &o->mmr_depth}, {"top_k", NULL, NULL, &o->top_k},
            {"popularity_weight", &o->popularity_weight, NULL, NULL}, {"covisitation_weight", &o->covisitation_weight, NULL, NULL},
            {"lexical_weight", &o->lexical_weight, NULL, NULL}, {"log_gate", &o->log_gate, NULL, NULL},
            {"cold_content_boost", &o->cold_content_boost, NULL, NULL}, {"covisitation_half_life", &o->covisitation_half_life, NULL, NULL},
            {"covisitation_norm", &o->covisitation_norm, NULL, NULL}, {"sequential_weight", &o->sequential_weight, NULL, NULL},
        };
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            double v;
            int present;
            if (!num(opt, nums[k].key, "options.", &v, &present, err, errcap)) goto fail;
            if (!present) continue;
            if (nums[k].f) *nums[k].f = (float)v;
            else if (nums[k].d) *nums[k].d = v;
            else {
                if (v != floor(v) || v < 0 || v > 1e9) { fr_fail(FR_ERR_ARG, err, errcap, "options.%s must be a whole number >= 0", nums[k].key); goto fail; }
                *nums[k].i = (int)v;
            }
        }
        char nerr[200];
        if (fr_normalization_from_json(cJSON_GetObjectItemCaseSensitive(opt, "normalization"), o, nerr, sizeof nerr)) {
            fr_fail(FR_ERR_ARG, err, errcap, "options.%s", nerr);
            goto fail;
        }
        const char *bools[2] = {"exclude_seen", "return_scores"};
        int *bdst[2] = {&o->exclude_seen, &out->return_scores};
        for (int k = 0; k < 2; k++) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(opt, bools[k]);
            if (!b || cJSON_IsNull(b)) continue;
            if (!cJSON_IsBool(b)) { fr_fail(FR_ERR_ARG, err, errcap, "options.%s must be true or false", bools[k]); goto fail; }
            *bdst[k] = cJSON_IsTrue(b);
        }
    }
    return FR_OK;
fail:
    fr_parsed_request_free(out);
    return FR_ERR_ARG;
}

char *fr_response_json(const fr_parsed_request *p, const fr_rank_result *res, const char *model, uint64_t store_version) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ver[32];
    snprintf(ver, sizeof ver, "%016llx", (unsigned long long)store_version);
    cJSON_AddStringToObject(o, "request_id", p->request_id);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (int i = 0; items && i < res->n_items; i++) {
        const fr_ranked_item *it = &res->items[i];
        const fr_candidate *c = &p->candidates[it->candidate];
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddItemToArray(items, e);
        cJSON *id = cJSON_CreateString("");
        if (id) { /* ids may hold any bytes up to their length */
            free(id->valuestring);
            id->valuestring = strndup(c->id, c->id_len);
            cJSON_AddItemToObject(e, "item_id", id);
        }
        if (p->return_scores) {
            cJSON_AddNumberToObject(e, "score", it->score);
            cJSON_AddNumberToObject(e, "semantic_score", it->semantic);
            if (it->has_upstream) cJSON_AddNumberToObject(e, "upstream_score", it->upstream);
        }
        if (it->from_text) cJSON_AddBoolToObject(e, "from_text", 1);
    }
    if (res->n_issues) {
        cJSON *iss = cJSON_AddArrayToObject(o, "item_errors");
        for (int i = 0; iss && i < res->n_issues; i++) {
            const fr_item_issue *is = &res->issues[i];
            int hist = is->code == FR_ISSUE_UNKNOWN_HISTORY;
            const char *id = hist ? p->history[is->index].id : p->candidates[is->index].id;
            size_t il = hist ? p->history[is->index].id_len : p->candidates[is->index].id_len;
            cJSON *e = cJSON_CreateObject();
            if (!e) break;
            cJSON_AddItemToArray(iss, e);
            cJSON *idj = cJSON_CreateString("");
            if (idj) { free(idj->valuestring); idj->valuestring = strndup(id, il); cJSON_AddItemToObject(e, "item_id", idj); }
            cJSON_AddNumberToObject(e, "index", is->index);
            cJSON_AddStringToObject(e, "code", fr_issue_name(is->code));
        }
    }
    if (res->n_excluded_seen) cJSON_AddNumberToObject(o, "excluded_seen", res->n_excluded_seen);
    if (res->query_truncated) cJSON_AddBoolToObject(o, "query_truncated", 1);
    if (res->no_context_vector) cJSON_AddBoolToObject(o, "no_context_vector", 1);
    if (res->no_sequential_state) cJSON_AddBoolToObject(o, "no_sequential_state", 1);
    cJSON_AddStringToObject(o, "model", model ? model : "");
    cJSON_AddStringToObject(o, "store_version", ver);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

fr_status fr_request_parse_options(const char *json, size_t len, fr_rank_options *out, char *err, size_t errcap) {
    fr_parsed_request p;
    fr_rank_options base = *out;
    fr_status rc = fr_request_parse_from(json, len, &base, &p, err, errcap);
    if (rc) return rc;
    rc = fr_rank_validate(&p.req, NULL, err, errcap);
    if (!rc) *out = p.req.options;
    fr_parsed_request_free(&p);
    return rc;
}

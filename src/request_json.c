/* request_json.c - RerankRequest / RerankResponse as canonical protobuf JSON (request_json.h). */
#include "request_json.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_canon.h"
#include "json_strict.h"
#include "rank_options.h"

/* a double as a proto float: beyond float's range is +-infinity (a plain cast would be undefined),
 * which validation then refuses with the field's name */
static float to_float(double v) {
    if (v > FLT_MAX) return INFINITY;
    if (v < -FLT_MAX) return -INFINITY;
    return (float)v;
}

/* A string field: 1 and *out (may stay unset when absent), 0 with err when not a string. */
static int str(const cJSON *o, const char *key, const char *where, const char **out, size_t *len, char *err, size_t errcap) {
    const cJSON *v = fr_jc_get(o, key);
    if (!v) return 1;
    if (!cJSON_IsString(v)) {
        fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a string", where, key);
        return 0;
    }
    *out = v->valuestring;
    if (len) *len = strlen(v->valuestring);
    return 1;
}

/* A float field; *present says whether it was given. */
static int flt(const cJSON *o, const char *key, const char *where, float *out, int *present, char *err, size_t errcap) {
    const cJSON *v = fr_jc_get(o, key);
    double d;
    *present = 0;
    if (!v) return 1;
    if (!fr_jc_double(v, &d)) {
        fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a number", where, key);
        return 0;
    }
    *out = to_float(d);
    *present = 1;
    return 1;
}

/* an array field: NULL (absent or null) or the array; 0 with err when not an array */
static int arr(const cJSON *o, const char *key, const char *where, const cJSON **out, char *err, size_t errcap) {
    *out = fr_jc_get(o, key);
    if (*out && !cJSON_IsArray(*out)) {
        fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be an array", where, key);
        return 0;
    }
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
    const cJSON *id = cJSON_IsObject(root) ? fr_jc_get(root, "request_id") : NULL;
    if (cJSON_IsString(id)) snprintf(out, cap, "%s", id->valuestring);
    cJSON_Delete(root);
}

fr_status fr_request_parse(const char *json, size_t len, fr_parsed_request *out, char *err, size_t errcap) {
    return fr_request_parse_arms(json, len, NULL, NULL, 0, out, err, errcap);
}

fr_status fr_request_parse_from(const char *json, size_t len, const fr_rank_options *defaults, fr_parsed_request *out,
                                char *err, size_t errcap) {
    return fr_request_parse_arms(json, len, defaults, NULL, 0, out, err, errcap);
}

static fr_status parse_history(const cJSON *ctx, fr_parsed_request *out, char *err, size_t errcap) {
    static const char *const histk[] = {"item_id", "weight", "timestamp", NULL};
    const cJSON *hist;
    if (!arr(ctx, "history", "context.", &hist, err, errcap)) return FR_ERR_ARG;
    const int n = cJSON_GetArraySize(hist);
    out->history = calloc((size_t)(n ? n : 1), sizeof *out->history);
    if (!out->history) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    char where[64];
    int i = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, hist) {
        snprintf(where, sizeof where, "context.history[%d].", i);
        if (!cJSON_IsObject(h)) return fr_fail(FR_ERR_ARG, err, errcap, "context.history[%d] must be an object", i);
        if (fr_jc_check_fields(h, histk, where, err, errcap)) return FR_ERR_ARG;
        fr_history_item *it = &out->history[i];
        if (!str(h, "item_id", where, &it->id, &it->id_len, err, errcap)) return FR_ERR_ARG;
        if (!it->id) return fr_fail(FR_ERR_ARG, err, errcap, "%sitem_id is required", where);
        if (!flt(h, "weight", where, &it->weight, &it->has_weight, err, errcap)) return FR_ERR_ARG;
        const cJSON *ts = fr_jc_get(h, "timestamp");
        if (ts) { /* int64: a number, or a string of digits as protobuf writes it */
            int64_t t;
            if (!fr_jc_int(ts, INT64_MIN, INT64_MAX, &t))
                return fr_fail(FR_ERR_ARG, err, errcap, "%stimestamp must be whole unix seconds (a number or a string of digits)", where);
            it->timestamp = t;
            it->has_timestamp = 1;
        }
        i++;
    }
    out->req.history = out->history;
    out->req.n_history = n;
    return FR_OK;
}

static fr_status parse_candidates(const cJSON *root, fr_parsed_request *out, char *err, size_t errcap) {
    static const char *const candk[] = {"item_id", "upstream_score", "text", NULL};
    const cJSON *cands;
    if (!arr(root, "candidates", "", &cands, err, errcap)) return FR_ERR_ARG;
    const int n = cJSON_GetArraySize(cands);
    out->candidates = calloc((size_t)(n ? n : 1), sizeof *out->candidates);
    if (!out->candidates) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    char where[64];
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cands) {
        snprintf(where, sizeof where, "candidates[%d].", i);
        if (!cJSON_IsObject(c)) return fr_fail(FR_ERR_ARG, err, errcap, "candidates[%d] must be an object", i);
        if (fr_jc_check_fields(c, candk, where, err, errcap)) return FR_ERR_ARG;
        fr_candidate *cd = &out->candidates[i];
        if (!str(c, "item_id", where, &cd->id, &cd->id_len, err, errcap)) return FR_ERR_ARG;
        if (!cd->id) return fr_fail(FR_ERR_ARG, err, errcap, "%sitem_id is required", where);
        if (!str(c, "text", where, &cd->text, &cd->text_len, err, errcap)) return FR_ERR_ARG; /* used when the store lacks the id */
        /* NaN and infinities ("NaN", "Infinity", 1e999) parse; fr_rank_validate refuses them by index */
        if (!flt(c, "upstream_score", where, &cd->upstream, &cd->has_upstream, err, errcap)) return FR_ERR_ARG;
        i++;
    }
    out->req.candidates = out->candidates;
    out->req.n_candidates = n;
    return FR_OK;
}

fr_status fr_request_parse_arms(const char *json, size_t len, const fr_rank_options *defaults, const fr_arm *arms, int n_arms,
                                fr_parsed_request *out, char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    cJSON *root = fr_json_parse_strict(json, len, err, errcap);
    if (!root) return FR_ERR_ARG;
    out->root = root;
    out->request_id = out->user_id = out->arm = "";
    out->return_scores = 1;
    static const char *const top[] = {"request_id", "context", "candidates", "options", "user_id", "arm", NULL};
    static const char *const ctxk[] = {"query", "history", NULL};
    static const char *const extra[] = {"return_scores", NULL};
    fr_status rc = FR_ERR_ARG;
    if (!cJSON_IsObject(root)) {
        fr_fail(FR_ERR_ARG, err, errcap, "a request must be a JSON object");
        goto fail;
    }
    if (fr_jc_check_fields(root, top, "", err, errcap)) goto fail;
    if (!str(root, "request_id", "", &out->request_id, NULL, err, errcap) || !str(root, "user_id", "", &out->user_id, NULL, err, errcap) ||
        !str(root, "arm", "", &out->arm, NULL, err, errcap))
        goto fail;
    /* the arm first: its options are the ones the request's own options go on top of */
    const int a = n_arms < 0 ? 0 : fr_arm_pick(arms, n_arms, out->arm, out->user_id, err, errcap);
    if (a < 0) goto fail;
    out->arm_index = a;
    if (n_arms > 0) out->req.options = arms[a].options;
    else if (defaults) out->req.options = *defaults;
    else fr_rank_options_default(&out->req.options);
    const cJSON *ctx = fr_jc_get(root, "context");
    if (ctx) {
        if (!cJSON_IsObject(ctx)) {
            fr_fail(FR_ERR_ARG, err, errcap, "context must be an object");
            goto fail;
        }
        if (fr_jc_check_fields(ctx, ctxk, "context.", err, errcap)) goto fail;
        if (!str(ctx, "query", "context.", &out->req.query, &out->req.query_len, err, errcap)) goto fail;
        if ((rc = parse_history(ctx, out, err, errcap))) goto fail;
    }
    if ((rc = parse_candidates(root, out, err, errcap))) goto fail;
    rc = FR_ERR_ARG;
    const cJSON *opt = fr_jc_get(root, "options");
    if (opt) {
        if (!cJSON_IsObject(opt)) {
            fr_fail(FR_ERR_ARG, err, errcap, "options must be an object");
            goto fail;
        }
        if (fr_rank_options_from_json(opt, "options.", extra, &out->req.options, &out->options_set, err, errcap)) goto fail;
        const cJSON *b = fr_jc_get(opt, "return_scores");
        if (b && !fr_jc_bool(b, &out->return_scores)) {
            fr_fail(FR_ERR_ARG, err, errcap, "options.return_scores must be true or false");
            goto fail;
        }
    }
    return FR_OK;
fail:
    fr_parsed_request_free(out);
    return rc;
}

/*---------------------------------------------------------------------------------------------
 * The response: field names lowerCamelCase (protobuf's JSON names) unless FR_JSON_PROTO_NAMES;
 * floats as numbers, or "NaN"/"Infinity" strings; enums by name; ids may hold any bytes up to
 * their length.
 *-------------------------------------------------------------------------------------------*/

typedef struct {
    int snake;
    char buf[32];
} names;

static const char *nm(names *n, const char *snake) {
    if (n->snake) return snake;
    fr_jc_camel(snake, n->buf, sizeof n->buf);
    return n->buf;
}

static void add_id(cJSON *o, const char *key, const char *id, size_t len) {
    cJSON *s = cJSON_CreateString("");
    if (!s) return;
    free(s->valuestring);
    s->valuestring = strndup(id, len);
    if (!s->valuestring) {
        cJSON_Delete(s);
        return;
    }
    cJSON_AddItemToObject(o, key, s);
}

char *fr_response_json(const fr_parsed_request *p, const fr_rank_result *res, const char *model, uint64_t store_version) {
    return fr_response_json_ex(p, res, model, store_version, NULL, 0);
}

char *fr_response_json_ex(const fr_parsed_request *p, const fr_rank_result *res, const char *model, uint64_t store_version,
                          const char *arm, int flags) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    names n = {.snake = (flags & FR_JSON_PROTO_NAMES) != 0};
    char ver[32];
    snprintf(ver, sizeof ver, "%016llx", (unsigned long long)store_version);
    cJSON_AddStringToObject(o, nm(&n, "request_id"), p->request_id);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (int i = 0; items && i < res->n_items; i++) {
        const fr_ranked_item *it = &res->items[i];
        const fr_candidate *c = &p->candidates[it->candidate];
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddItemToArray(items, e);
        add_id(e, nm(&n, "item_id"), c->id, c->id_len);
        if (p->return_scores) {
            cJSON_AddItemToObject(e, "score", fr_jc_number(it->score));
            cJSON_AddItemToObject(e, nm(&n, "semantic_score"), fr_jc_number(it->semantic));
            if (it->has_upstream) cJSON_AddItemToObject(e, nm(&n, "upstream_score"), fr_jc_number(it->upstream));
        }
        if (it->from_text) cJSON_AddBoolToObject(e, nm(&n, "from_text"), 1);
    }
    if (res->n_issues) {
        cJSON *iss = cJSON_AddArrayToObject(o, nm(&n, "item_errors"));
        for (int i = 0; iss && i < res->n_issues; i++) {
            const fr_item_issue *is = &res->issues[i];
            const int hist = is->code == FR_ISSUE_UNKNOWN_HISTORY;
            cJSON *e = cJSON_CreateObject();
            if (!e) break;
            cJSON_AddItemToArray(iss, e);
            if (hist) add_id(e, nm(&n, "item_id"), p->history[is->index].id, p->history[is->index].id_len);
            else add_id(e, nm(&n, "item_id"), p->candidates[is->index].id, p->candidates[is->index].id_len);
            cJSON_AddNumberToObject(e, "index", is->index);
            cJSON_AddStringToObject(e, "code", fr_issue_name(is->code));
        }
    }
    if (res->n_excluded_seen) cJSON_AddNumberToObject(o, nm(&n, "excluded_seen"), res->n_excluded_seen);
    if (res->query_truncated) cJSON_AddBoolToObject(o, nm(&n, "query_truncated"), 1);
    if (res->no_context_vector) cJSON_AddBoolToObject(o, nm(&n, "no_context_vector"), 1);
    if (res->no_sequential_state) cJSON_AddBoolToObject(o, nm(&n, "no_sequential_state"), 1);
    cJSON_AddStringToObject(o, "model", model ? model : "");
    cJSON_AddStringToObject(o, nm(&n, "store_version"), ver);
    if (arm) cJSON_AddStringToObject(o, "arm", arm);
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

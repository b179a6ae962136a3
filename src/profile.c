/* profile.c - ranking profiles as JSON (see profile.h). */
#include "profile.h"

#include "request_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_config.h"

/* The first N_REQUIRED signals must be named in "weights"; the later ones are optional (default
 * 0) and written only when not 0, so profiles written before they existed still load and
 * profiles that do not use them stay readable by older builds. */
static const char *SIGNALS[] = {"semantic", "upstream", "popularity", "covisitation", "lexical", "sequential"};
#define N_SIGNALS 6
#define N_REQUIRED 5

static float *signal_weight(fr_rank_options *o, int i) {
    float *w[N_SIGNALS] = {&o->semantic_weight, &o->upstream_weight, &o->popularity_weight, &o->covisitation_weight,
                           &o->lexical_weight, &o->sequential_weight};
    return w[i];
}

static fr_status number(const cJSON *root, const char *key, const char *label, double lo, double hi, int required,
                        double *out, int *present, char *err, size_t errcap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *present = v != NULL;
    if (!v) return required ? fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" is missing", label, key) : FR_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be a number in [%g, %g]", label, key, lo, hi);
    *out = v->valuedouble;
    return FR_OK;
}

fr_status fr_profile_parse(const char *json, size_t len, const char *label, fr_rank_options *opt, char *name,
                           size_t name_cap, char *err, size_t errcap) {
    fr_rank_options_default(opt);
    if (name && name_cap) name[0] = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object", label);
    }
    fr_status rc = FR_OK;
    static const char *top[] = {"feedrank_profile", "name", "weights", "log_gate", "cold_content_boost", "normalization",
                                "history_half_life", "covisitation_half_life", "covisitation_norm", "mmr_lambda", "query_weight", "bm25_k1", "bm25_b", "tuned", NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        int ok = 0;
        for (int i = 0; top[i]; i++) ok |= strcmp(it->string, top[i]) == 0;
        if (!ok) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: unknown key \"%s\"", label, it->string); goto done; }
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "feedrank_profile");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"feedrank_profile\": 1 is required (format version)", label); goto done; }
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (nm && (!cJSON_IsString(nm) || strlen(nm->valuestring) == 0 || strlen(nm->valuestring) >= 64)) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"name\" must be a string of 1..63 bytes", label); goto done; }
    if (nm && name && name_cap) snprintf(name, name_cap, "%s", nm->valuestring);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
    if (!cJSON_IsObject(w)) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"weights\" must be an object naming every signal (semantic, upstream, popularity, covisitation, lexical)", label); goto done; }
    cJSON_ArrayForEach(it, w) {
        int ok = 0;
        for (int i = 0; i < N_SIGNALS; i++) ok |= strcmp(it->string, SIGNALS[i]) == 0;
        if (!ok) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: unknown signal \"weights.%s\"", label, it->string); goto done; }
    }
    char key[64];
    for (int i = 0; i < N_SIGNALS; i++) {
        double v;
        snprintf(key, sizeof key, "weights.%s", SIGNALS[i]);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(w, SIGNALS[i]);
        if (!x && i >= N_REQUIRED) continue;
        if (!x) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" is missing (every signal needs a weight, 0 to leave it out)", label, key); goto done; }
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > 1e6) { rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be a finite number in [-1e6, 1e6]", label, key); goto done; }
        v = x->valuedouble;
        *signal_weight(opt, i) = (float)v;
    }
    struct { const char *k; double lo, hi; float *f; } nums[] = {
        {"log_gate", 0, 1e9, &opt->log_gate}, {"cold_content_boost", -1e6, 1e6, &opt->cold_content_boost},
        {"history_half_life", 1e-6, 1e9, &opt->history_half_life}, {"covisitation_half_life", 0, 1e9, &opt->covisitation_half_life},
        {"covisitation_norm", 0, 2, &opt->covisitation_norm},
        {"mmr_lambda", 0, 1, &opt->mmr_lambda},
        {"query_weight", 0, 1, &opt->query_weight},
        {"bm25_k1", 0, 1000, &opt->bm25_k1}, {"bm25_b", 0, 1, &opt->bm25_b},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        double v = 0;
        int present;
        if ((rc = number(root, nums[i].k, label, nums[i].lo, nums[i].hi, 0, &v, &present, err, errcap))) goto done;
        if (present) *nums[i].f = (float)v;
    }
    char nerr[200];
    if (fr_normalization_from_json(cJSON_GetObjectItemCaseSensitive(root, "normalization"), opt, nerr, sizeof nerr)) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s", label, nerr);
        goto done;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tuned");
    if (t && !cJSON_IsObject(t)) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"tuned\" must be an object", label);
done:
    cJSON_Delete(root);
    if (rc) fr_rank_options_default(opt);
    return rc;
}

fr_status fr_profile_load(const char *path, fr_rank_options *opt, char *name, size_t name_cap, char *err, size_t errcap) {
    char *buf;
    size_t len;
    fr_status rc = fr_read_small_file(path, 1u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    rc = fr_profile_parse(buf, len, path, opt, name, name_cap, err, errcap);
    free(buf);
    return rc;
}

/* the shortest decimal that reads back as the same float */
static void put_float(FILE *f, float v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

fr_status fr_profile_write(FILE *f, const char *name, const fr_rank_options *o, const char *tuned_json, char *err,
                           size_t errcap) {
    fprintf(f, "{\"feedrank_profile\": 1, \"name\": ");
    fr_cli_json_string(f, name && *name ? name : "profile");
    fr_rank_options c = *o; /* signal_weight() takes a mutable view */
    fprintf(f, ",\n \"weights\": {");
    for (int i = 0; i < N_SIGNALS; i++) {
        const float v = *signal_weight(&c, i);
        if (i >= N_REQUIRED && v == 0) continue;
        fprintf(f, "%s\"%s\": ", i ? ", " : "", SIGNALS[i]);
        put_float(f, v);
    }
    fprintf(f, "},\n \"log_gate\": ");
    put_float(f, o->log_gate);
    fprintf(f, ", \"cold_content_boost\": ");
    put_float(f, o->cold_content_boost);
    int per_signal = 0;
    for (int i = 0; i < FR_SIG_COUNT; i++) per_signal |= o->signal_norm[i] != 0;
    if (!per_signal) {
        fprintf(f, ", \"normalization\": \"%s\"", fr_norm_name(o->normalization));
    } else {
        fprintf(f, ", \"normalization\": {\"default\": \"%s\"", fr_norm_name(o->normalization));
        for (int i = 0; i < FR_SIG_COUNT; i++)
            if (o->signal_norm[i]) fprintf(f, ", \"%s\": \"%s\"", fr_signal_name((fr_signal)i), fr_norm_name(fr_rank_norm_of(o, (fr_signal)i)));
        fprintf(f, "}");
    }
    fprintf(f, ", \"history_half_life\": ");
    put_float(f, o->history_half_life);
    fprintf(f, ", \"covisitation_half_life\": ");
    put_float(f, o->covisitation_half_life);
    fprintf(f, ", \"covisitation_norm\": ");
    put_float(f, o->covisitation_norm);
    fprintf(f, ",\n \"mmr_lambda\": ");
    put_float(f, o->mmr_lambda);
    fprintf(f, ", \"query_weight\": ");
    put_float(f, o->query_weight);
    fprintf(f, ", \"bm25_k1\": ");
    put_float(f, o->bm25_k1);
    fprintf(f, ", \"bm25_b\": ");
    put_float(f, o->bm25_b);
    if (tuned_json && *tuned_json) fprintf(f, ",\n \"tuned\": %s", tuned_json);
    fprintf(f, "}\n");
    if (ferror(f)) return fr_fail(FR_ERR_IO, err, errcap, "profile: write failed");
    return FR_OK;
}

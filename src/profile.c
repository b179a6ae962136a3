/* profile.c - ranking profiles as JSON (see profile.h). The keys, their ranges and what is written
 * come from the option table (rank_options.def): weights under "weights" by signal name, every
 * other option a top-level key under its option name. */
#include "profile.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_canon.h"
#include "json_strict.h"
#include "model_config.h"
#include "rank_options.h"

static int is_weight(int i) {
    const fr_opt_profile p = fr_rank_option_table[i].profile;
    return p == FR_PROFILE_WEIGHT_REQ || p == FR_PROFILE_WEIGHT;
}

/* One option's value from JSON, checked against its range; label and key name it in errors. */
static fr_status option_value(const cJSON *v, int i, fr_rank_options *opt, const char *label, const char *key, char *err,
                              size_t errcap) {
    const fr_rank_option *d = &fr_rank_option_table[i];
    double x;
    int64_t n;
    int b;
    switch (d->kind) {
    case FR_OPT_NORM: {
        char nerr[200];
        if (fr_normalization_from_json(v, opt, nerr, sizeof nerr)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s", label, nerr);
        return FR_OK;
    }
    case FR_OPT_BOOL:
        if (!fr_jc_bool(v, &b)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be true or false", label, key);
        x = b;
        break;
    case FR_OPT_COUNT:
        if (!fr_jc_int(v, (int64_t)d->lo, (int64_t)d->hi, &n))
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be a whole number in [%g, %g]", label, key, d->lo, d->hi);
        x = (double)n;
        break;
    default:
        if (!fr_jc_double(v, &x) || !isfinite(x) || x < d->lo || x > d->hi ||
            (d->kind == FR_OPT_FLOAT && fabs(x) > FLT_MAX))
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be a number in [%g, %g]", label, key, d->lo, d->hi);
    }
    fr_rank_option_set(opt, i, x);
    return FR_OK;
}

static fr_status parse_root(const cJSON *root, const char *label, fr_rank_options *opt, char *name, size_t name_cap, char *err,
                            size_t errcap) {
    const char *top[FR_N_RANK_OPTIONS + 8];
    int nt = 0;
    top[nt++] = "feedrank_profile";
    top[nt++] = "name";
    top[nt++] = "weights";
    top[nt++] = "tuned";
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++)
        if (!is_weight(i)) top[nt++] = fr_rank_option_table[i].name;
    top[nt] = NULL;
    char e2[256];
    if (fr_jc_check_fields(root, top, "", e2, sizeof e2)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s", label, e2);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "feedrank_profile");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"feedrank_profile\": 1 is required (format version)", label);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (nm && (!cJSON_IsString(nm) || strlen(nm->valuestring) == 0 || strlen(nm->valuestring) >= 64)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"name\" must be a string of 1..63 bytes", label);
    if (nm && name && name_cap) snprintf(name, name_cap, "%s", nm->valuestring);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
    if (!cJSON_IsObject(w)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"weights\" must be an object naming every signal (semantic, upstream, popularity, covisitation, lexical)", label);
    for (const cJSON *it = w->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; i < FR_N_RANK_OPTIONS; i++)
            ok |= is_weight(i) && strcmp(it->string, fr_signal_name((fr_signal)fr_rank_option_signal(i))) == 0;
        if (!ok) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: unknown signal \"weights.%s\"", label, it->string);
    }
    char key[64];
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const cJSON *v;
        if (is_weight(i)) {
            const char *sig = fr_signal_name((fr_signal)fr_rank_option_signal(i));
            snprintf(key, sizeof key, "weights.%s", sig);
            v = cJSON_GetObjectItemCaseSensitive(w, sig);
            if (!v && d->profile == FR_PROFILE_WEIGHT_REQ)
                return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" is missing (every signal needs a weight, 0 to leave it out)", label, key);
        } else {
            snprintf(key, sizeof key, "%s", d->name);
            v = fr_jc_get(root, d->name);
        }
        fr_status rc;
        if (v && (rc = option_value(v, i, opt, label, key, err, errcap))) return rc;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tuned");
    if (t && !cJSON_IsObject(t)) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"tuned\" must be an object", label);
    return FR_OK;
}

fr_status fr_profile_parse(const char *json, size_t len, const char *label, fr_rank_options *opt, char *name,
                           size_t name_cap, char *err, size_t errcap) {
    fr_rank_options_default(opt);
    if (name && name_cap) name[0] = 0;
    char e2[256];
    cJSON *root = fr_json_parse_strict(json, len, e2, sizeof e2);
    if (!root) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object (%s)", label, e2);
    fr_status rc = cJSON_IsObject(root) ? parse_root(root, label, opt, name, name_cap, err, errcap)
                                        : fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object", label);
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

/* the shortest decimal that reads back as the same value */
static void put_number(FILE *f, const fr_rank_option *d, double v) {
    if (d->kind == FR_OPT_BOOL) {
        fputs(v ? "true" : "false", f);
        return;
    }
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        const double back = strtod(buf, NULL);
        if (d->kind == FR_OPT_FLOAT ? (float)back == (float)v : back == v) break;
    }
    fputs(buf, f);
}

static void put_normalization(FILE *f, const fr_rank_options *o) {
    int per_signal = 0;
    for (int i = 0; i < FR_SIG_COUNT; i++) per_signal |= o->signal_norm[i] != 0;
    if (!per_signal) {
        fprintf(f, "\"%s\"", fr_norm_name(o->normalization));
        return;
    }
    fprintf(f, "{\"default\": \"%s\"", fr_norm_name(o->normalization));
    for (int i = 0; i < FR_SIG_COUNT; i++)
        if (o->signal_norm[i]) fprintf(f, ", \"%s\": \"%s\"", fr_signal_name((fr_signal)i), fr_norm_name(fr_rank_norm_of(o, (fr_signal)i)));
    fprintf(f, "}");
}

fr_status fr_profile_write(FILE *f, const char *name, const fr_rank_options *o, const char *tuned_json, char *err,
                           size_t errcap) {
    fprintf(f, "{\"feedrank_profile\": 1, \"name\": ");
    fr_json_write_string(f, name && *name ? name : "profile");
    fprintf(f, ",\n \"weights\": {");
    int n = 0;
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const double v = fr_rank_option_get(o, i);
        if (!is_weight(i) || (d->profile == FR_PROFILE_WEIGHT && v == d->def)) continue;
        fprintf(f, "%s\"%s\": ", n++ ? ", " : "", fr_signal_name((fr_signal)fr_rank_option_signal(i)));
        put_number(f, d, v);
    }
    fprintf(f, "},\n");
    n = 0;
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const double v = fr_rank_option_get(o, i);
        /* options newer than the format's first version only when set: older builds still read
         * the profiles that leave them alone */
        if (is_weight(i) || (d->profile == FR_PROFILE_NEW && v == d->def)) continue;
        fprintf(f, "%s\"%s\": ", n ? (n % 4 ? ", " : ",\n ") : " ", d->name);
        n++;
        if (d->kind == FR_OPT_NORM) put_normalization(f, o);
        else put_number(f, d, v);
    }
    if (tuned_json && *tuned_json) fprintf(f, ",\n \"tuned\": %s", tuned_json);
    fprintf(f, "}\n");
    if (ferror(f)) return fr_fail(FR_ERR_IO, err, errcap, "profile: write failed");
    return FR_OK;
}

/* rank_options.c - the ranking options as data (rank_options.h): the table of rank_options.def as
 * descriptors, and everything that only needs to loop over it. */
#include "rank_options.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_canon.h"

const fr_rank_option fr_rank_option_table[FR_N_RANK_OPTIONS] = {
#define FR_RANK_OPTION(name, member, kind, def, lo, hi, field, profile, doc) \
    {#name, FR_OPT_##kind, offsetof(fr_rank_options, member), def, lo, hi, field, FR_PROFILE_##profile, doc},
#include "rank_options.def"
#undef FR_RANK_OPTION
};

/* a bit per option in a uint64_t mask */
_Static_assert(FR_N_RANK_OPTIONS <= 64, "fr_rank_options_from_json's mask holds 64 options");

void fr_rank_options_default(fr_rank_options *o) {
    memset(o, 0, sizeof *o); /* padding too: option structs are compared with memcmp */
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) fr_rank_option_set(o, i, fr_rank_option_table[i].def);
}

double fr_rank_option_get(const fr_rank_options *o, int i) {
    const void *p = (const char *)o + fr_rank_option_table[i].offset;
    switch (fr_rank_option_table[i].kind) {
    case FR_OPT_FLOAT: return *(const float *)p;
    case FR_OPT_DOUBLE: return *(const double *)p;
    case FR_OPT_COUNT:
    case FR_OPT_BOOL: return *(const int *)p;
    case FR_OPT_NORM: return (double)*(const fr_norm *)p;
    }
    return 0;
}

/* v clamped to the member's type: no undefined out-of-range cast */
static float to_float(double v) {
    if (v > FLT_MAX) return INFINITY;
    if (v < -FLT_MAX) return -INFINITY;
    return (float)v;
}

static int to_int(double v) {
    if (v >= INT_MAX) return INT_MAX;
    if (v <= INT_MIN) return INT_MIN;
    return (int)v;
}

void fr_rank_option_set(fr_rank_options *o, int i, double v) {
    void *p = (char *)o + fr_rank_option_table[i].offset;
    switch (fr_rank_option_table[i].kind) {
    case FR_OPT_FLOAT: *(float *)p = to_float(v); break;
    case FR_OPT_DOUBLE: *(double *)p = v; break;
    case FR_OPT_COUNT: *(int *)p = to_int(v); break;
    case FR_OPT_BOOL: *(int *)p = v != 0; break;
    case FR_OPT_NORM: *(fr_norm *)p = (fr_norm)(int)v; break;
    }
}

int fr_rank_option_signal(int i) {
    const char *n = fr_rank_option_table[i].name;
    const size_t l = strlen(n);
    if (l < 8 || strcmp(n + l - 7, "_weight") != 0) return -1;
    for (int s = 0; s < FR_SIG_COUNT; s++) {
        const char *sn = fr_signal_name((fr_signal)s);
        if (strlen(sn) == l - 7 && strncmp(n, sn, l - 7) == 0) return s;
    }
    return -1;
}

fr_status fr_rank_options_check(const fr_rank_options *o, char *err, size_t errcap) {
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const double v = fr_rank_option_get(o, i);
        if (isfinite(v) && v >= d->lo && v <= d->hi) continue;
        switch (d->kind) {
        case FR_OPT_NORM: return fr_fail(FR_ERR_ARG, err, errcap, "options.%s is not one of zscore, minmax, rank, none", d->name);
        case FR_OPT_BOOL: return fr_fail(FR_ERR_ARG, err, errcap, "options.%s must be true or false", d->name);
        case FR_OPT_COUNT: return fr_fail(FR_ERR_ARG, err, errcap, "options.%s must be a whole number in [0, %.0f]", d->name, d->hi);
        default: return fr_fail(FR_ERR_ARG, err, errcap, "options.%s must be a number in [%g, %g]", d->name, d->lo, d->hi);
        }
    }
    for (int i = 0; i < FR_SIG_COUNT; i++)
        if (o->signal_norm[i] > FR_NORM_NONE + 1)
            return fr_fail(FR_ERR_ARG, err, errcap, "options.normalization.%s is not one of zscore, minmax, rank, none", fr_signal_name((fr_signal)i));
    return FR_OK;
}

/*---------------------------------------------------------------------------------------------
 * Normalization: the proto enum by name (ZSCORE, NORMALIZATION_UNSPECIFIED = ZSCORE) or number
 * (0..4, the proto's numbers, not fr_norm's), and feedrank's own spellings ("zscore", "min_max").
 *-------------------------------------------------------------------------------------------*/

static int norm_of_proto_number(int64_t n) {
    return n == 0 || n == 1 ? FR_NORM_ZSCORE : n == 2 ? FR_NORM_MINMAX
                                           : n == 3   ? FR_NORM_RANK
                                           : n == 4   ? FR_NORM_NONE
                                                      : -1;
}

/* a fr_norm from a JSON value, -1 when it names none */
static int norm_value(const cJSON *v) {
    int64_t n;
    if (fr_jc_int(v, 0, 4, &n)) return norm_of_proto_number(n);
    if (!cJSON_IsString(v)) return -1;
    if (strcasecmp(v->valuestring, "NORMALIZATION_UNSPECIFIED") == 0) return FR_NORM_ZSCORE;
    return fr_norm_parse(v->valuestring);
}

#define NORM_NAMES "one of \"zscore\", \"minmax\", \"rank\", \"none\" (or the Normalization enum's names or numbers)"

fr_status fr_normalization_from_json(const cJSON *n, fr_rank_options *o, char *err, size_t errcap) {
    if (!n || cJSON_IsNull(n)) return FR_OK;
    if (!cJSON_IsObject(n)) { /* one method for every signal: replaces any per-signal choice */
        const int v = norm_value(n);
        if (v < 0) {
            if (cJSON_IsArray(n)) return fr_fail(FR_ERR_ARG, err, errcap, "normalization must be " NORM_NAMES ", or an object of them by signal");
            return fr_fail(FR_ERR_ARG, err, errcap, "normalization must be " NORM_NAMES);
        }
        memset(o->signal_norm, 0, sizeof o->signal_norm);
        o->normalization = (fr_norm)v;
        return FR_OK;
    }
    for (const cJSON *e = n->child; e; e = e->next) {
        const int v = norm_value(e);
        if (v < 0) return fr_fail(FR_ERR_ARG, err, errcap, "normalization.%.40s must be " NORM_NAMES, e->string);
        fr_status rc = fr_rank_set_normalization(o, e->string, fr_norm_name((fr_norm)v), err, errcap);
        if (rc) return rc;
    }
    return FR_OK;
}

/* The proto's repeated SignalNormalization, applied after normalization (as the gRPC codec does). */
static fr_status signal_list_from_json(const cJSON *a, const char *where, fr_rank_options *o, char *err, size_t errcap) {
    if (!cJSON_IsArray(a)) return fr_fail(FR_ERR_ARG, err, errcap, "%ssignal_normalization must be a list of {\"signal\", \"normalization\"}", where);
    static const char *const fields[] = {"signal", "normalization", NULL};
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        char at[96];
        snprintf(at, sizeof at, "%ssignal_normalization[%d].", where, i);
        if (!cJSON_IsObject(e)) return fr_fail(FR_ERR_ARG, err, errcap, "%ssignal_normalization[%d] must be an object", where, i);
        fr_status rc = fr_jc_check_fields(e, fields, at, err, errcap);
        if (rc) return rc;
        const cJSON *s = fr_jc_get(e, "signal"), *n = fr_jc_get(e, "normalization");
        const int v = n ? norm_value(n) : FR_NORM_ZSCORE;
        if (v < 0) return fr_fail(FR_ERR_ARG, err, errcap, "%snormalization must be " NORM_NAMES, at);
        char nerr[160]; /* "default" is the normalization field's, not a signal */
        if (!cJSON_IsString(s) || strcmp(s->valuestring, "default") == 0 ||
            fr_rank_set_normalization(o, s->valuestring, fr_norm_name((fr_norm)v), nerr, sizeof nerr))
            return fr_fail(FR_ERR_ARG, err, errcap, "%ssignal must be one of semantic, upstream, popularity, covisitation, lexical, sequential", at);
    }
    return FR_OK;
}

fr_status fr_rank_options_from_json(const cJSON *obj, const char *where, const char *const *extra, fr_rank_options *o,
                                    uint64_t *set, char *err, size_t errcap) {
    if (set) *set = 0;
    if (!cJSON_IsObject(obj)) return fr_fail(FR_ERR_ARG, err, errcap, "options must be an object");
    const char *fields[FR_N_RANK_OPTIONS + 16];
    int nf = 0;
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) fields[nf++] = fr_rank_option_table[i].name;
    fields[nf++] = "signal_normalization";
    for (int k = 0; extra && extra[k] && nf < FR_N_RANK_OPTIONS + 15; k++) fields[nf++] = extra[k];
    fields[nf] = NULL;
    fr_status rc = fr_jc_check_fields(obj, fields, where, err, errcap);
    if (rc) return rc;
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const cJSON *v = fr_jc_get(obj, d->name);
        if (!v) continue;
        double x;
        int64_t n;
        int b;
        switch (d->kind) {
        case FR_OPT_FLOAT:
        case FR_OPT_DOUBLE:
            if (!fr_jc_double(v, &x)) return fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a number", where, d->name);
            fr_rank_option_set(o, i, x);
            break;
        case FR_OPT_COUNT:
            if (!fr_jc_int(v, 0, UINT32_MAX, &n)) return fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be a whole number >= 0 (uint32)", where, d->name);
            fr_rank_option_set(o, i, (double)n);
            break;
        case FR_OPT_BOOL:
            if (!fr_jc_bool(v, &b)) return fr_fail(FR_ERR_ARG, err, errcap, "%s%s must be true or false", where, d->name);
            fr_rank_option_set(o, i, b);
            break;
        case FR_OPT_NORM: {
            char nerr[200];
            if (fr_normalization_from_json(v, o, nerr, sizeof nerr)) return fr_fail(FR_ERR_ARG, err, errcap, "%s%s", where, nerr);
            break;
        }
        }
        if (set) *set |= 1ull << i;
    }
    const cJSON *sl = fr_jc_get(obj, "signal_normalization");
    if (sl && (rc = signal_list_from_json(sl, where, o, err, errcap))) return rc;
    return FR_OK;
}

fr_status fr_rank_option_from_text(fr_rank_options *o, int i, const char *text, char *err, size_t errcap) {
    const fr_rank_option *d = &fr_rank_option_table[i];
    char *end;
    double v;
    errno = 0;
    switch (d->kind) {
    case FR_OPT_NORM:
        v = fr_norm_parse(text);
        if (v < 0) return fr_fail(FR_ERR_ARG, err, errcap, "%s: '%s' is not one of zscore, minmax, rank, none", d->name, text);
        break;
    case FR_OPT_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1")) v = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0")) v = 0;
        else return fr_fail(FR_ERR_ARG, err, errcap, "%s: '%s' is not true or false", d->name, text);
        break;
    default:
        v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v) || (d->kind == FR_OPT_COUNT && v != floor(v)))
            return fr_fail(FR_ERR_ARG, err, errcap, "%s: '%s' is not a%s number", d->name, text, d->kind == FR_OPT_COUNT ? " whole" : "");
    }
    if (v < d->lo || v > d->hi) return fr_fail(FR_ERR_ARG, err, errcap, "%s: %s is outside [%g, %g]", d->name, text, d->lo, d->hi);
    fr_rank_option_set(o, i, v);
    if (d->kind == FR_OPT_NORM) memset(o->signal_norm, 0, sizeof o->signal_norm);
    return FR_OK;
}

int fr_rank_option_by_flag(const char *flag) {
    if (strncmp(flag, "--", 2) != 0) return -1;
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const char *a = flag + 2, *b = fr_rank_option_table[i].name;
        while (*a && (*a == *b || (*a == '-' && *b == '_'))) a++, b++;
        if (!*a && !*b) return i;
    }
    return -1;
}

static const char *kind_name(fr_opt_kind k) {
    static const char *n[] = {"float", "double", "uint32", "bool", "Normalization"};
    return n[k];
}

static void value_text(const fr_rank_option *d, double v, char *out, size_t cap) {
    if (d->kind == FR_OPT_NORM) snprintf(out, cap, "%s", fr_norm_name((fr_norm)(int)v));
    else if (d->kind == FR_OPT_BOOL) snprintf(out, cap, "%s", v ? "true" : "false");
    else snprintf(out, cap, "%g", v);
}

void fr_rank_options_reference(FILE *f, int markdown) {
    if (markdown)
        fprintf(f, "| option (JSON name) | type | default | range | field | what it does |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        char camel[64], def[32], lo[32], hi[32], flag[64];
        fr_jc_camel(d->name, camel, sizeof camel);
        value_text(d, d->def, def, sizeof def);
        value_text(d, d->lo, lo, sizeof lo);
        value_text(d, d->hi, hi, sizeof hi);
        if (markdown) {
            char names[140];
            if (strcmp(camel, d->name)) snprintf(names, sizeof names, "`%s` (`%s`)", d->name, camel);
            else snprintf(names, sizeof names, "`%s`", d->name);
            if (d->kind == FR_OPT_NORM || d->kind == FR_OPT_BOOL)
                fprintf(f, "| %s | %s | %s | | %d | %s |\n", names, kind_name(d->kind), def, d->field, d->doc);
            else
                fprintf(f, "| %s | %s | %s | %s .. %s | %d | %s |\n", names, kind_name(d->kind), def, lo, hi, d->field, d->doc);
        } else {
            snprintf(flag, sizeof flag, "--%s", d->name);
            for (char *p = flag + 2; *p; p++)
                if (*p == '_') *p = '-';
            fprintf(f, "  %-30s %s (default %s)\n", flag, d->doc, def);
        }
    }
}

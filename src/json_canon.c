/* json_canon.c - protobuf's JSON mapping on cJSON trees (see json_canon.h). */
#include "json_canon.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fr_jc_name_is(const char *key, const char *snake) {
    if (strcmp(key, snake) == 0) return 1;
    /* the JSON name: each "_x" of the proto name is "X" (protoc's ToJsonName) */
    for (;; key++, snake++) {
        if (*snake == '_') {
            snake++;
            if (!*snake || *key != (char)toupper((unsigned char)*snake)) return 0;
            continue;
        }
        if (*key != *snake) return 0;
        if (!*key) return 1;
    }
}

void fr_jc_camel(const char *snake, char *out, size_t cap) {
    size_t j = 0;
    for (int up = 0; *snake && j + 1 < cap; snake++) {
        if (*snake == '_') {
            up = 1;
            continue;
        }
        out[j++] = up ? (char)toupper((unsigned char)*snake) : *snake;
        up = 0;
    }
    if (cap) out[j] = 0;
}

fr_status fr_jc_check_fields(const cJSON *obj, const char *const *fields, const char *where, char *err, size_t errcap) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int f = -1;
        for (int k = 0; fields[k] && f < 0; k++)
            if (fr_jc_name_is(it->string, fields[k])) f = k;
        if (f < 0) return fr_fail(FR_ERR_ARG, err, errcap, "unknown field %s%.60s", where, it->string);
        /* an exact key twice is json_strict's; here the same field under its two names */
        for (const cJSON *b = it->next; b; b = b->next)
            if (strcmp(b->string, it->string) != 0 && fr_jc_name_is(b->string, fields[f]))
                return fr_fail(FR_ERR_ARG, err, errcap, "%s%s is given twice (as \"%.60s\" and \"%.60s\")", where, fields[f], it->string, b->string);
    }
    return FR_OK;
}

const cJSON *fr_jc_get(const cJSON *obj, const char *snake) {
    if (!obj) return NULL;
    for (const cJSON *it = obj->child; it; it = it->next)
        if (it->string && fr_jc_name_is(it->string, snake)) return cJSON_IsNull(it) ? NULL : it;
    return NULL;
}

/* JSON's number grammar, the whole string: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number_text(const char *s) {
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9')
        while (isdigit((unsigned char)*s)) s++;
    else return 0;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) return 0;
        while (isdigit((unsigned char)*s)) s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return 0;
        while (isdigit((unsigned char)*s)) s++;
    }
    return *s == 0;
}

int fr_jc_double(const cJSON *v, double *out) {
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 1;
    }
    if (!cJSON_IsString(v)) return 0;
    const char *s = v->valuestring;
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 1;
    }
    if (strcmp(s, "Infinity") == 0) {
        *out = INFINITY;
        return 1;
    }
    if (strcmp(s, "-Infinity") == 0) {
        *out = -INFINITY;
        return 1;
    }
    if (!json_number_text(s)) return 0;
    *out = strtod(s, NULL); /* out of range: +-HUGE_VAL, which validation refuses */
    return 1;
}

int fr_jc_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (cJSON_IsNumber(v)) {
        const double d = v->valuedouble;
        /* a double holds every integer up to 2^53 exactly; beyond it a number is not an exact int64 */
        if (!(d == floor(d)) || d < (double)lo || d > (double)hi || fabs(d) > 9007199254740992.0) return 0;
        *out = (int64_t)d;
        return 1;
    }
    if (!cJSON_IsString(v)) return 0;
    const char *s = v->valuestring;
    const char *d = s + (*s == '-');
    if (!*d || (*d == '0' && d[1])) return 0; /* "", "-", leading zeros */
    for (const char *p = d; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    errno = 0;
    long long x = strtoll(s, NULL, 10);
    if (errno || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

int fr_jc_bool(const cJSON *v, int *out) {
    if (!cJSON_IsBool(v)) return 0;
    *out = cJSON_IsTrue(v);
    return 1;
}

cJSON *fr_jc_number(double v) {
    if (isnan(v)) return cJSON_CreateString("NaN");
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(v);
}

/* json_strict.c - JSON lines parsed by cJSON, minus what cJSON lets through silently (see
 * json_strict.h). Used for rerank request lines and JSONL catalogue rows. */
#include "json_strict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*---------------------------------------------------------------------------------------------
 * What cJSON accepts and feedrank must not: cJSON decodes "\u0000" (or a raw NUL byte) into a NUL
 * that ends the C string early, so "p001\u0000x" would silently be the id "p001"; it keeps both of
 * two equal keys and lookups find the first, so {"top_k":1,"top_k":50} would silently mean 1; and it
 * stops after the first value, so '{...} garbage' or two objects on one line would pass. The raw
 * text is walked beside the parsed tree (same order) to name the field: "candidates[2].item_id".
 *-------------------------------------------------------------------------------------------*/

typedef struct {
    const char *p, *end; /* the raw text of the parsed value, already valid JSON */
    char path[160];      /* where the walk is, e.g. candidates[2].item_id ("" at the top) */
    const char *stray;   /* the first control byte skipped as white space, NULL while none */
    char *err;
    size_t errcap;
} raw_walk;

/* White space as cJSON skips it: every byte <= 32, NUL included, so the walk stays in step with
 * the parse; the ones JSON does not allow there are noted, to be refused after the walk. */
static void raw_ws(raw_walk *w) {
    for (; w->p < w->end && (unsigned char)*w->p <= 32; w->p++)
        if (!w->stray && *w->p != ' ' && *w->p != '\t' && *w->p != '\n' && *w->p != '\r') w->stray = w->p;
}

/* Skips the string literal at w->p (its opening quote); 1 when it holds a NUL, raw or escaped.
 * "\\u0000" is an escaped backslash followed by text, not a NUL: escapes are consumed in pairs. */
static int raw_string(raw_walk *w) {
    int nul = 0;
    for (w->p++; w->p < w->end && *w->p != '"'; w->p++) {
        if (*w->p == 0) nul = 1;
        if (*w->p == '\\') {
            if (w->end - w->p >= 6 && memcmp(w->p + 1, "u0000", 5) == 0) nul = 1;
            if (++w->p >= w->end) break;
        }
    }
    if (w->p < w->end) w->p++;
    return nul;
}

/* Appends ".key" or "[i]" to the path (truncated when long); returns the new length. */
static size_t raw_push(raw_walk *w, size_t len, const char *key, int index) {
    size_t cap = sizeof w->path - len;
    int n = key ? snprintf(w->path + len, cap, "%s%s", len ? "." : "", key) : snprintf(w->path + len, cap, "[%d]", index);
    return n < 0 ? len : len + ((size_t)n < cap ? (size_t)n : cap - 1);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The name of a key that occurs twice in obj, or NULL. Sorted when large: an object of 100,000 keys
 * must not cost 10^10 comparisons. *oom set when the sort could not allocate. */
static const char *duplicate_key(const cJSON *obj, int *oom) {
    int n = cJSON_GetArraySize(obj);
    const cJSON *a, *b;
    if (n <= 16) {
        for (a = obj->child; a; a = a->next)
            for (b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0) return a->string;
        return NULL;
    }
    const char **names = malloc(sizeof *names * (size_t)n);
    if (!names) {
        *oom = 1;
        return NULL;
    }
    int k = 0;
    for (a = obj->child; a; a = a->next) names[k++] = a->string;
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    const char *dup = NULL;
    for (k = 1; k < n && !dup; k++)
        if (strcmp(names[k - 1], names[k]) == 0) dup = names[k];
    free(names);
    return dup;
}

/* Walks one value (node: its parsed twin); 0, or -1 with err naming the field. Recursion is bounded
 * by cJSON's nesting limit (CJSON_NESTING_LIMIT): the text parsed already. */
static int raw_value(raw_walk *w, const cJSON *node, size_t len) {
    raw_ws(w);
    if (w->p >= w->end) return 0;
    if (*w->p == '"') {
        if (raw_string(w)) {
            fr_fail(FR_ERR_ARG, w->err, w->errcap, "%s contains a NUL byte", len ? w->path : "the value");
            return -1;
        }
        return 0;
    }
    if (*w->p == '{' || *w->p == '[') {
        const int is_obj = *w->p == '{';
        const char close = is_obj ? '}' : ']';
        const cJSON *child = node ? node->child : NULL;
        w->p++;
        for (int i = 0;; i++) {
            raw_ws(w);
            if (w->p >= w->end || *w->p == close) break;
            const char *at = w->p;
            size_t l;
            if (is_obj) {
                if (raw_string(w)) {
                    fr_fail(FR_ERR_ARG, w->err, w->errcap, "a key in %s contains a NUL byte", len ? w->path : "the object");
                    return -1;
                }
                raw_ws(w);
                if (w->p < w->end && *w->p == ':') w->p++;
                l = raw_push(w, len, child && child->string ? child->string : "?", 0);
            } else {
                l = raw_push(w, len, NULL, i);
            }
            if (raw_value(w, child, l)) return -1;
            w->path[len] = 0;
            child = child ? child->next : NULL;
            raw_ws(w);
            if (w->p < w->end && *w->p == ',') w->p++;
            if (w->p == at) w->p++; /* cannot happen on text cJSON accepted; never loop on it */
        }
        if (w->p < w->end) w->p++;
        if (is_obj && node) {
            int oom = 0;
            const char *dup = duplicate_key(node, &oom);
            if (oom) {
                fr_fail(FR_ERR_NOMEM, w->err, w->errcap, "out of memory");
                return -1;
            }
            if (dup) {
                fr_fail(FR_ERR_ARG, w->err, w->errcap, "duplicate key \"%.60s\"%s%s", dup, len ? " in " : "", len ? w->path : "");
                return -1;
            }
        }
        return 0;
    }
    /* a number, true, false, null */
    while (w->p < w->end && (unsigned char)*w->p > 32 && *w->p != ',' && *w->p != ']' && *w->p != '}') w->p++;
    return 0;
}

cJSON *fr_json_parse_strict(const char *json, size_t len, char *err, size_t errcap) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        fr_fail(FR_ERR_ARG, err, errcap, "not valid JSON");
        return NULL;
    }
    const char *q = end ? end : json + len;
    while (q < json + len && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
    if (q < json + len) {
        fr_fail(FR_ERR_ARG, err, errcap, "text after the JSON object (at byte %zu)", (size_t)(q - json) + 1);
        cJSON_Delete(root);
        return NULL;
    }
    raw_walk w = {.p = json, .end = end ? end : json + len, .err = err, .errcap = errcap};
    if (w.end - w.p >= 3 && memcmp(w.p, "\xEF\xBB\xBF", 3) == 0) w.p += 3; /* cJSON skips a leading BOM too */
    if (raw_value(&w, root, 0)) {
        cJSON_Delete(root);
        return NULL;
    }
    if (w.stray) {
        fr_fail(FR_ERR_ARG, err, errcap, "not valid JSON: control byte 0x%02x at byte %zu", (unsigned char)*w.stray, (size_t)(w.stray - json) + 1);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void fr_json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* catalog.c - CSV/TSV/JSONL catalogue readers and text templates. */
#include "catalog.h"
#include "json_strict.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FR_CAT_MAX_FIELDS 4096
#define FR_CAT_MAX_RECORD (64u << 20)

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, char ch) {
    if (b->n + 1 >= b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        char *p = realloc(b->p, nc);
        if (!p) return -1;
        b->p = p;
        b->cap = nc;
    }
    b->p[b->n++] = ch;
    return 0;
}

struct fr_catalog {
    FILE *f;
    int own;
    char label[512];
    fr_catalog_format fmt;
    int latin1;
    char sep;
    long line, row_line;
    long long bytes;
    int push[2], npush; /* bytes to read again: a latin-1 char's second UTF-8 byte, a look-ahead */
    /* CSV */
    char **header;
    int ncols;
    sbuf rec;          /* current record's fields, NUL separated */
    size_t *field_off; /* offsets of the current record's fields */
    int field_cap;     /* entries allocated in field_off */
    int nfields;
    /* JSONL */
    cJSON *obj;
    char *line_buf;
    size_t line_cap;
    char numbuf[64];
};

static int getbyte(fr_catalog *c) {
    if (c->npush) return c->push[--c->npush];
    int ch = getc(c->f);
    if (ch == EOF) return EOF;
    c->bytes++;
    if (c->latin1 && ch >= 0x80) {
        c->push[c->npush++] = 0x80 | (ch & 0x3F);
        return 0xC0 | (ch >> 6);
    }
    return ch;
}

/* Reads one CSV record into c->rec/field_off. 1 = ok, 0 = EOF, -1 = malformed, -2 = I/O. */
static int read_record(fr_catalog *c, char *err, size_t errcap, int *nfields, size_t **offs, int *cap) {
    c->rec.n = 0;
    int n = 0, quoted = 0, at_start = 1, any = 0, after_quote = 0;
    c->row_line = c->line + 1;
    for (;;) {
        int ch = getbyte(c);
        if (ch == EOF) {
            if (ferror(c->f)) {
                fr_fail(FR_ERR_IO, err, errcap, "%s: read error: %s", c->label, strerror(errno));
                return -2;
            }
            if (quoted) {
                fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: unterminated quoted field", c->label, c->row_line);
                return -1;
            }
            if (!any) return 0;
            ch = '\n';
        }
        any = 1;
        if (ch == 0) {
            /* fields are kept NUL-separated: a NUL byte would silently cut the field (an id) short */
            fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: NUL byte in field %d", c->label, c->row_line, at_start ? n + 1 : n);
            while (ch != '\n' && ch != EOF) ch = getbyte(c);
            c->line++;
            return -1;
        }
        if (c->rec.n > FR_CAT_MAX_RECORD) {
            fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: record larger than %u bytes", c->label, c->row_line, FR_CAT_MAX_RECORD);
            return -1;
        }
        if (at_start) {
            if (n >= *cap) {
                int nc = *cap ? *cap * 2 : 16;
                if (nc > FR_CAT_MAX_FIELDS + 1) {
                    fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: more than %d fields", c->label, c->row_line, FR_CAT_MAX_FIELDS);
                    return -1;
                }
                size_t *p = realloc(*offs, sizeof *p * (size_t)nc);
                if (!p) {
                    fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
                    return -2;
                }
                *offs = p;
                *cap = nc;
            }
            (*offs)[n++] = c->rec.n;
            at_start = 0;
            after_quote = 0;
            if (ch == '"') {
                quoted = 1;
                continue;
            }
        }
        if (quoted) {
            if (ch == '"') {
                int nx = getbyte(c);
                if (nx == '"') {
                    if (sb_put(&c->rec, '"')) goto oom;
                    continue;
                }
                quoted = 0;
                after_quote = 1;
                if (nx == EOF) ch = '\n';
                else ch = nx;
            } else {
                if (ch == '\n') c->line++;
                if (sb_put(&c->rec, (char)ch)) goto oom;
                continue;
            }
        }
        if (ch == c->sep) {
            if (sb_put(&c->rec, 0)) goto oom;
            at_start = 1;
            continue;
        }
        if (ch == '\r') {
            int nx = getbyte(c);
            if (nx != '\n' && nx != EOF) c->push[c->npush++] = nx; /* lone CR: end of record */
            ch = '\n';
        }
        if (ch == '\n') {
            c->line++;
            if (sb_put(&c->rec, 0)) goto oom;
            *nfields = n;
            return 1;
        }
        if (after_quote) {
            fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: text after a closing quote in field %d", c->label, c->row_line, n);
            /* skip to the end of the line so reading can resume */
            while (ch != '\n' && ch != EOF) ch = getbyte(c);
            c->line++;
            return -1;
        }
        if (sb_put(&c->rec, (char)ch)) goto oom;
    }
oom:
    fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    return -2;
}

fr_status fr_catalog_open_stream(FILE *f, const char *label, fr_catalog_format fmt, int latin1, fr_catalog **out,
                                 char *err, size_t errcap) {
    *out = NULL;
    fr_catalog *c = calloc(1, sizeof *c);
    if (!c) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    c->f = f;
    c->fmt = fmt;
    c->latin1 = latin1;
    c->sep = fmt == FR_CAT_TSV ? '\t' : ',';
    snprintf(c->label, sizeof c->label, "%s", label);
    if (fmt == FR_CAT_CSV || fmt == FR_CAT_TSV) {
        int cap = 0, n = 0;
        size_t *offs = NULL;
        int r = read_record(c, err, errcap, &n, &offs, &cap);
        if (r != 1) {
            free(offs);
            free(c->rec.p);
            free(c);
            if (r == 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: empty file (a header row is required)", label);
            return FR_ERR_FORMAT;
        }
        c->header = calloc((size_t)n, sizeof *c->header);
        if (!c->header) {
            free(offs);
            free(c->rec.p);
            free(c);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
        c->ncols = n;
        for (int i = 0; i < n; i++) {
            const char *name = c->rec.p + offs[i];
            if (i == 0 && (unsigned char)name[0] == 0xEF && (unsigned char)name[1] == 0xBB && (unsigned char)name[2] == 0xBF) name += 3; /* BOM */
            c->header[i] = strdup(name);
            if (!c->header[i]) {
                c->field_off = offs;
                c->field_cap = cap;
                fr_catalog_close(c);
                return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            }
        }
        c->field_off = offs;
        c->field_cap = cap;
        c->nfields = 0;
    }
    *out = c;
    return FR_OK;
}

fr_status fr_catalog_open(const char *path, fr_catalog_format fmt, int latin1, fr_catalog **out, char *err, size_t errcap) {
    *out = NULL;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    fr_status rc = fr_catalog_open_stream(f, path, fmt, latin1, out, err, errcap);
    if (rc) {
        if (f != stdin) fclose(f);
        return rc;
    }
    (*out)->own = f != stdin;
    return FR_OK;
}

void fr_catalog_close(fr_catalog *c) {
    if (!c) return;
    if (c->own) fclose(c->f);
    for (int i = 0; i < c->ncols; i++) free(c->header[i]);
    free(c->header);
    free(c->rec.p);
    free(c->field_off);
    cJSON_Delete(c->obj);
    free(c->line_buf);
    free(c);
}

long fr_catalog_line(const fr_catalog *c) { return c->row_line; }
long long fr_catalog_bytes(const fr_catalog *c) { return c->bytes; }

int fr_catalog_columns(const fr_catalog *c, const char *const **names) {
    *names = (const char *const *)c->header;
    return c->ncols;
}

int fr_catalog_next(fr_catalog *c, char *err, size_t errcap) {
    if (c->fmt != FR_CAT_JSONL) {
        int n = 0;
        for (;;) {
            int r = read_record(c, err, errcap, &n, &c->field_off, &c->field_cap);
            if (r != 1) return r;
            if (n == 1 && c->rec.p[0] == 0 && c->ncols != 1) continue; /* blank line */
            if (n != c->ncols) {
                fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: %d fields, the header has %d", c->label, c->row_line, n, c->ncols);
                return -1;
            }
            c->nfields = n;
            return 1;
        }
    }
    for (;;) {
        cJSON_Delete(c->obj);
        c->obj = NULL;
        c->row_line = c->line + 1;
        ssize_t got = getline(&c->line_buf, &c->line_cap, c->f);
        if (got < 0) {
            if (ferror(c->f)) {
                fr_fail(FR_ERR_IO, err, errcap, "%s: read error", c->label);
                return -2;
            }
            return 0;
        }
        c->line++;
        c->bytes += got;
        while (got > 0 && (c->line_buf[got - 1] == '\n' || c->line_buf[got - 1] == '\r')) c->line_buf[--got] = 0;
        size_t i = 0;
        while (i < (size_t)got && (c->line_buf[i] == ' ' || c->line_buf[i] == '\t')) i++;
        if (i == (size_t)got) continue; /* blank line */
        /* strict: an id "a\u0000b" would otherwise silently be "a", a key given twice one of them */
        char why[200];
        c->obj = fr_json_parse_strict(c->line_buf, (size_t)got, why, sizeof why);
        if (!c->obj) {
            fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: %s", c->label, c->row_line, why);
            return -1;
        }
        if (!cJSON_IsObject(c->obj)) {
            fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%ld: not a JSON object", c->label, c->row_line);
            return -1;
        }
        return 1;
    }
}

const char *fr_catalog_field(fr_catalog *c, const char *name, size_t *len) {
    if (c->fmt != FR_CAT_JSONL) {
        for (int i = 0; i < c->ncols && i < c->nfields; i++)
            if (strcmp(c->header[i], name) == 0) {
                const char *v = c->rec.p + c->field_off[i];
                *len = strlen(v);
                return v;
            }
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->obj, name);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (cJSON_IsString(v)) {
        *len = strlen(v->valuestring);
        return v->valuestring;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        int n = d == floor(d) && fabs(d) < 1e15 ? snprintf(c->numbuf, sizeof c->numbuf, "%.0f", d) : snprintf(c->numbuf, sizeof c->numbuf, "%.17g", d);
        *len = (size_t)n;
        return c->numbuf;
    }
    if (cJSON_IsBool(v)) {
        *len = cJSON_IsTrue(v) ? 4 : 5;
        return cJSON_IsTrue(v) ? "true" : "false";
    }
    return NULL; /* arrays / objects are not text */
}

/* ---------------- templates ---------------- */

typedef struct {
    int is_field;
    char *text;
} tpart;
struct fr_template {
    tpart *parts;
    int n;
};

void fr_template_free(fr_template *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->parts[i].text);
    free(t->parts);
    free(t);
}

fr_status fr_template_compile(const char *spec, fr_template **out, char *err, size_t errcap) {
    *out = NULL;
    fr_template *t = calloc(1, sizeof *t);
    size_t len = strlen(spec);
    if (!t || !(t->parts = calloc(len + 1, sizeof *t->parts))) {
        free(t);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    sbuf lit = {0};
    int nfields = 0;
    for (size_t i = 0; i <= len; i++) {
        char ch = spec[i];
        int flush = ch == 0 || (ch == '{' && spec[i + 1] != '{');
        if (flush && lit.n) {
            if (sb_put(&lit, 0)) goto oom;
            t->parts[t->n++] = (tpart){0, strdup(lit.p)};
            lit.n = 0;
        }
        if (ch == 0) break;
        if (ch == '{' && spec[i + 1] == '{') {
            if (sb_put(&lit, '{')) goto oom;
            i++;
            continue;
        }
        if (ch == '}' && spec[i + 1] == '}') {
            if (sb_put(&lit, '}')) goto oom;
            i++;
            continue;
        }
        if (ch == '}') {
            free(lit.p);
            fr_template_free(t);
            return fr_fail(FR_ERR_ARG, err, errcap, "template: unmatched '}' at offset %zu (use '}}' for a literal brace)", i);
        }
        if (ch == '{') {
            const char *end = strchr(spec + i + 1, '}');
            if (!end || end == spec + i + 1) {
                free(lit.p);
                fr_template_free(t);
                return fr_fail(FR_ERR_ARG, err, errcap, "template: '{' at offset %zu has no field name and '}'", i);
            }
            t->parts[t->n++] = (tpart){1, strndup(spec + i + 1, (size_t)(end - spec - i - 1))};
            nfields++;
            i = (size_t)(end - spec);
            continue;
        }
        if (sb_put(&lit, ch)) goto oom;
    }
    free(lit.p);
    for (int i = 0; i < t->n; i++)
        if (!t->parts[i].text) {
            fr_template_free(t);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
    if (!nfields) {
        fr_template_free(t);
        return fr_fail(FR_ERR_ARG, err, errcap, "template '%s' names no {field}", spec);
    }
    *out = t;
    return FR_OK;
oom:
    free(lit.p);
    fr_template_free(t);
    return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
}

fr_status fr_template_check(const fr_template *t, const fr_catalog *c, char *err, size_t errcap) {
    if (c->fmt == FR_CAT_JSONL) return FR_OK;
    for (int i = 0; i < t->n; i++) {
        if (!t->parts[i].is_field) continue;
        int found = 0;
        for (int k = 0; k < c->ncols; k++) found |= strcmp(c->header[k], t->parts[i].text) == 0;
        if (!found) {
            char cols[512] = "";
            for (int k = 0; k < c->ncols; k++) snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", k ? ", " : "", c->header[k]);
            return fr_fail(FR_ERR_ARG, err, errcap, "%s: no column '%s' (columns: %s)", c->label, t->parts[i].text, cols);
        }
    }
    return FR_OK;
}

long fr_template_render(const fr_template *t, fr_catalog *c, char **buf, size_t *cap, int *missing) {
    size_t n = 0;
    *missing = 0;
    for (int i = 0; i < t->n; i++) {
        const char *s = t->parts[i].text;
        size_t l = strlen(s);
        if (t->parts[i].is_field) {
            s = fr_catalog_field(c, t->parts[i].text, &l);
            if (!s) {
                (*missing)++;
                s = "";
                l = 0;
            }
        }
        if (n + l + 1 > *cap) {
            size_t nc = *cap ? *cap : 256;
            while (nc < n + l + 1) nc *= 2;
            char *p = realloc(*buf, nc);
            if (!p) return -1;
            *buf = p;
            *cap = nc;
        }
        memcpy(*buf + n, s, l);
        n += l;
    }
    if (!*buf) {
        *buf = malloc(1);
        if (!*buf) return -1;
        *cap = 1;
    }
    (*buf)[n] = 0;
    return (long)n;
}

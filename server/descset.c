/* descset.c - reads a FileDescriptorSet's wire bytes directly (no descriptor.proto code: protobuf-c
 * ships none, and only names, imports and extension numbers are needed). Symbols are kept in one
 * array sorted by name; a set of the server's size (four files, about 300 symbols) is read once at
 * start-up. The walk is strict: wire types 3/4 (groups) never appear in descriptors and are
 * refused, nesting is capped, full names are capped at MAX_NAME bytes. */
#include "descset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 1024 /* bytes of one full name */
#define MAX_DEPTH 32  /* nested message types */

enum { K_MESSAGE,
       K_OTHER,
       K_EXTENSION };

typedef struct {
    char *name; /* full name, no leading dot */
    int file;
    int kind;
    char *extendee; /* extensions: the extended message's full name */
    int number;     /* extensions: the field number */
} sym;

typedef struct {
    char *name;
    const uint8_t *bytes;
    size_t len;
    char **deps;
    int n_deps;
} file;

struct fr_descset {
    uint8_t *buf;
    file *files;
    int n_files;
    sym *syms;
    int n_syms, cap_syms;
    char **services;
    int n_services, cap_services;
};

typedef struct {
    fr_descset *d;
    int file;
    char *err;
    size_t errcap;
} ctx;

/* ---- wire ---- */

typedef struct {
    uint32_t num;
    int wt;
    uint64_t v;       /* varint value */
    const uint8_t *p; /* length-delimited value */
    size_t n;
} field;

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* The next field of [*p, end): 1 with f filled, 0 at the end, -1 when malformed. */
static int next(const uint8_t **p, const uint8_t *end, field *f) {
    if (*p >= end) return 0;
    f->v = 0;
    f->p = NULL;
    f->n = 0;
    uint64_t key;
    if (varint(p, end, &key) || key >> 32 || (key >> 3) == 0) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    switch (f->wt) {
    case 0: return varint(p, end, &f->v) ? -1 : 1;
    case 1:
        if ((size_t)(end - *p) < 8) return -1;
        *p += 8;
        return 1;
    case 5:
        if ((size_t)(end - *p) < 4) return -1;
        *p += 4;
        return 1;
    case 2: {
        uint64_t n;
        if (varint(p, end, &n) || n > (uint64_t)(end - *p)) return -1;
        f->p = *p;
        f->n = (size_t)n;
        *p += n;
        return 1;
    }
    default: return -1; /* groups and the reserved wire types */
    }
}

static fr_status malformed(ctx *c, const char *what) {
    const char *fn = c->file >= 0 && c->d->files[c->file].name ? c->d->files[c->file].name : "?";
    return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d (%s): malformed %s", c->file, fn, what);
}

/* A string field's value: no NUL byte, at most MAX_NAME bytes. */
static fr_status get_name(ctx *c, const field *f, const char *what, char *out) {
    if (f->wt != 2 || f->n >= MAX_NAME || memchr(f->p, 0, f->n))
        return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d: %s is not a string of at most %d bytes without NUL",
                       c->file, what, MAX_NAME - 1);
    memcpy(out, f->p, f->n);
    out[f->n] = 0;
    return FR_OK;
}

/* scope + "." + name (or name alone when scope is empty). */
static fr_status join(ctx *c, const char *scope, const char *name, char *out) {
    int n = snprintf(out, MAX_NAME, "%s%s%s", scope, *scope ? "." : "", name);
    if (n < 0 || n >= MAX_NAME) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d: the full name %s.%s is longer than %d bytes", c->file, scope, name, MAX_NAME - 1);
    return FR_OK;
}

static fr_status add_sym(ctx *c, const char *name, int kind, const char *extendee, int number) {
    fr_descset *d = c->d;
    if (d->n_syms == d->cap_syms) {
        int nc = d->cap_syms ? 2 * d->cap_syms : 64;
        sym *s = realloc(d->syms, (size_t)nc * sizeof *s);
        if (!s) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
        d->syms = s;
        d->cap_syms = nc;
    }
    sym *s = &d->syms[d->n_syms];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->extendee = extendee ? strdup(extendee[0] == '.' ? extendee + 1 : extendee) : NULL;
    if (!s->name || (extendee && !s->extendee)) {
        free(s->name);
        free(s->extendee);
        return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
    }
    s->file = c->file;
    s->kind = kind;
    s->number = number;
    d->n_syms++;
    return FR_OK;
}

/* The `name` (field 1) of a small descriptor (field, oneof, enum value, method); for fields also
 * extendee (2) and number (3). */
static fr_status read_named(ctx *c, const field *outer, const char *what, char *name, char *extendee, int *number) {
    const uint8_t *p = outer->p, *end = p + outer->n;
    field f;
    int r;
    name[0] = 0;
    if (extendee) extendee[0] = 0;
    while ((r = next(&p, end, &f)) > 0) {
        fr_status rc;
        if (f.num == 1 && (rc = get_name(c, &f, what, name))) return rc;
        if (extendee && f.num == 2 && (rc = get_name(c, &f, "an extendee", extendee))) return rc;
        if (number && f.num == 3 && f.wt == 0) *number = (int)(int32_t)f.v;
    }
    if (r < 0) return malformed(c, what);
    if (!name[0]) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d: %s without a name", c->file, what);
    return FR_OK;
}

static fr_status read_enum(ctx *c, const field *outer, const char *scope) {
    char name[MAX_NAME], full[MAX_NAME], v[MAX_NAME], vfull[MAX_NAME];
    fr_status rc;
    if ((rc = read_named(c, outer, "an enum", name, NULL, NULL)) || (rc = join(c, scope, name, full)) || (rc = add_sym(c, full, K_OTHER, NULL, 0))) return rc;
    const uint8_t *p = outer->p, *end = p + outer->n;
    field f;
    int r;
    while ((r = next(&p, end, &f)) > 0) {
        if (f.num != 2 || f.wt != 2) continue;
        /* enum values live in the enum's enclosing scope (C++ scoping) */
        if ((rc = read_named(c, &f, "an enum value", v, NULL, NULL)) || (rc = join(c, scope, v, vfull)) || (rc = add_sym(c, vfull, K_OTHER, NULL, 0))) return rc;
    }
    return r < 0 ? malformed(c, "enum") : FR_OK;
}

static fr_status read_extension(ctx *c, const field *f, const char *scope) {
    char name[MAX_NAME], full[MAX_NAME], ext[MAX_NAME];
    int number = 0;
    fr_status rc;
    if ((rc = read_named(c, f, "an extension", name, ext, &number)) || (rc = join(c, scope, name, full))) return rc;
    if (!ext[0]) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d: extension %s names no extendee", c->file, full);
    return add_sym(c, full, K_EXTENSION, ext, number);
}

static fr_status read_message(ctx *c, const field *outer, const char *scope, int depth) {
    if (depth > MAX_DEPTH) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d: messages nested deeper than %d", c->file, MAX_DEPTH);
    char name[MAX_NAME], full[MAX_NAME], sub[MAX_NAME], subfull[MAX_NAME];
    fr_status rc;
    if ((rc = read_named(c, outer, "a message", name, NULL, NULL)) || (rc = join(c, scope, name, full)) || (rc = add_sym(c, full, K_MESSAGE, NULL, 0))) return rc;
    const uint8_t *p = outer->p, *end = p + outer->n;
    field f;
    int r;
    while ((r = next(&p, end, &f)) > 0) {
        if (f.wt != 2) continue;
        switch (f.num) {
        case 2: /* field */
        case 8: /* oneof */
            if ((rc = read_named(c, &f, f.num == 2 ? "a field" : "a oneof", sub, NULL, NULL)) || (rc = join(c, full, sub, subfull)) ||
                (rc = add_sym(c, subfull, K_OTHER, NULL, 0)))
                return rc;
            break;
        case 3:
            if ((rc = read_message(c, &f, full, depth + 1))) return rc;
            break;
        case 4:
            if ((rc = read_enum(c, &f, full))) return rc;
            break;
        case 6:
            if ((rc = read_extension(c, &f, full))) return rc;
            break;
        default: break;
        }
    }
    return r < 0 ? malformed(c, "message") : FR_OK;
}

static fr_status read_service(ctx *c, const field *outer, const char *pkg) {
    char name[MAX_NAME], full[MAX_NAME], m[MAX_NAME], mfull[MAX_NAME];
    fr_status rc;
    if ((rc = read_named(c, outer, "a service", name, NULL, NULL)) || (rc = join(c, pkg, name, full)) || (rc = add_sym(c, full, K_OTHER, NULL, 0))) return rc;
    fr_descset *d = c->d;
    if (d->n_services == d->cap_services) {
        int nc = d->cap_services ? 2 * d->cap_services : 8;
        char **s = realloc(d->services, (size_t)nc * sizeof *s);
        if (!s) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
        d->services = s;
        d->cap_services = nc;
    }
    if (!(d->services[d->n_services] = strdup(full))) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
    d->n_services++;
    const uint8_t *p = outer->p, *end = p + outer->n;
    field f;
    int r;
    while ((r = next(&p, end, &f)) > 0) {
        if (f.num != 2 || f.wt != 2) continue;
        if ((rc = read_named(c, &f, "a method", m, NULL, NULL)) || (rc = join(c, full, m, mfull)) || (rc = add_sym(c, mfull, K_OTHER, NULL, 0))) return rc;
    }
    return r < 0 ? malformed(c, "service") : FR_OK;
}

static fr_status read_file(ctx *c, const field *outer) {
    file *fl = &c->d->files[c->file];
    fl->bytes = outer->p;
    fl->len = outer->n;
    char tmp[MAX_NAME], pkg[MAX_NAME] = "";
    const uint8_t *p = outer->p, *end = p + outer->n;
    field f;
    int r, n_deps = 0;
    fr_status rc;
    /* first pass: name, package, the number of imports */
    while ((r = next(&p, end, &f)) > 0) {
        if (f.num == 1) {
            if ((rc = get_name(c, &f, "the file name", tmp))) return rc;
            free(fl->name);
            if (!(fl->name = strdup(tmp))) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
        }
        if (f.num == 2 && (rc = get_name(c, &f, "the package", pkg))) return rc;
        if (f.num == 3) n_deps++;
    }
    if (r < 0) return malformed(c, "file");
    if (!fl->name || !fl->name[0]) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %d has no name", c->file);
    for (int i = 0; i < c->file; i++)
        if (strcmp(c->d->files[i].name, fl->name) == 0) return fr_fail(FR_ERR_FORMAT, c->err, c->errcap, "descriptor set: file %s appears twice", fl->name);
    if (n_deps && !(fl->deps = calloc((size_t)n_deps, sizeof *fl->deps))) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
    /* second pass: imports and definitions */
    p = outer->p;
    while ((r = next(&p, end, &f)) > 0) {
        if (f.wt != 2) continue;
        switch (f.num) {
        case 3:
            if ((rc = get_name(c, &f, "an import", tmp))) return rc;
            if (!(fl->deps[fl->n_deps] = strdup(tmp))) return fr_fail(FR_ERR_NOMEM, c->err, c->errcap, "descriptor set: out of memory");
            fl->n_deps++;
            break;
        case 4:
            if ((rc = read_message(c, &f, pkg, 0))) return rc;
            break;
        case 5:
            if ((rc = read_enum(c, &f, pkg))) return rc;
            break;
        case 6:
            if ((rc = read_service(c, &f, pkg))) return rc;
            break;
        case 7:
            if ((rc = read_extension(c, &f, pkg))) return rc;
            break;
        default: break;
        }
    }
    return r < 0 ? malformed(c, "file") : FR_OK;
}

static int by_name(const void *a, const void *b) { return strcmp(((const sym *)a)->name, ((const sym *)b)->name); }

void fr_descset_free(fr_descset *d) {
    if (!d) return;
    for (int i = 0; i < d->n_files; i++) {
        free(d->files[i].name);
        for (int k = 0; k < d->files[i].n_deps; k++) free(d->files[i].deps[k]);
        free(d->files[i].deps);
    }
    for (int i = 0; i < d->n_syms; i++) {
        free(d->syms[i].name);
        free(d->syms[i].extendee);
    }
    for (int i = 0; i < d->n_services; i++) free(d->services[i]);
    free(d->files);
    free(d->syms);
    free(d->services);
    free(d->buf);
    free(d);
}

fr_status fr_descset_parse(const uint8_t *buf, size_t len, fr_descset **out, char *err, size_t errcap) {
    *out = NULL;
    fr_descset *d = calloc(1, sizeof *d);
    if (!d || !(d->buf = malloc(len ? len : 1))) {
        free(d);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "descriptor set: out of memory");
    }
    if (len) memcpy(d->buf, buf, len);
    ctx c = {d, -1, err, errcap};
    const uint8_t *p = d->buf, *end = d->buf + len;
    field f;
    int r, n = 0;
    while ((r = next(&p, end, &f)) > 0) n += f.num == 1 && f.wt == 2;
    if (r < 0) {
        fr_descset_free(d);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "descriptor set: malformed wire data");
    }
    if (n == 0) {
        fr_descset_free(d);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "descriptor set: no files");
    }
    if (!(d->files = calloc((size_t)n, sizeof *d->files))) {
        fr_descset_free(d);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "descriptor set: out of memory");
    }
    p = d->buf;
    fr_status rc = FR_OK;
    while (!rc && next(&p, end, &f) > 0) {
        if (f.num != 1 || f.wt != 2) continue;
        c.file = d->n_files++;
        rc = read_file(&c, &f);
    }
    if (!rc) {
        if (d->n_syms > 1) qsort(d->syms, (size_t)d->n_syms, sizeof *d->syms, by_name);
        for (int i = 1; i < d->n_syms && !rc; i++)
            if (strcmp(d->syms[i - 1].name, d->syms[i].name) == 0)
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "descriptor set: symbol %s is defined twice", d->syms[i].name);
        for (int i = 0; i < d->n_files && !rc; i++)
            for (int k = 0; k < d->files[i].n_deps && !rc; k++)
                if (fr_descset_find_file(d, d->files[i].deps[k]) < 0)
                    rc = fr_fail(FR_ERR_FORMAT, err, errcap, "descriptor set: %s imports %s, which the set does not hold", d->files[i].name, d->files[i].deps[k]);
    }
    if (rc) {
        fr_descset_free(d);
        return rc;
    }
    *out = d;
    return FR_OK;
}

int fr_descset_file_count(const fr_descset *d) { return d->n_files; }
const char *fr_descset_file_name(const fr_descset *d, int i) { return d->files[i].name; }
const uint8_t *fr_descset_file_bytes(const fr_descset *d, int i, size_t *len) {
    *len = d->files[i].len;
    return d->files[i].bytes;
}
int fr_descset_service_count(const fr_descset *d) { return d->n_services; }
const char *fr_descset_service(const fr_descset *d, int k) { return d->services[k]; }

int fr_descset_find_file(const fr_descset *d, const char *name) {
    for (int i = 0; i < d->n_files; i++)
        if (strcmp(d->files[i].name, name) == 0) return i;
    return -1;
}

static const sym *lookup(const fr_descset *d, const char *name) {
    sym key = {.name = (char *)name};
    if (d->n_syms == 0) return NULL; /* bsearch's base must not be NULL, even for 0 elements */
    return bsearch(&key, d->syms, (size_t)d->n_syms, sizeof *d->syms, by_name);
}

int fr_descset_find_symbol(const fr_descset *d, const char *symbol) {
    const sym *s = lookup(d, symbol);
    return s ? s->file : -1;
}

int fr_descset_is_message(const fr_descset *d, const char *symbol) {
    const sym *s = lookup(d, symbol);
    return s && s->kind == K_MESSAGE;
}

int fr_descset_find_extension(const fr_descset *d, const char *type, int number) {
    for (int i = 0; i < d->n_syms; i++)
        if (d->syms[i].kind == K_EXTENSION && d->syms[i].number == number && strcmp(d->syms[i].extendee, type) == 0) return d->syms[i].file;
    return -1;
}

int fr_descset_extension_numbers(const fr_descset *d, const char *type, int *out, int cap) {
    int n = 0;
    for (int i = 0; i < d->n_syms; i++)
        if (d->syms[i].kind == K_EXTENSION && strcmp(d->syms[i].extendee, type) == 0) {
            if (n < cap) out[n] = d->syms[i].number;
            n++;
        }
    return n;
}

int fr_descset_closure(const fr_descset *d, int f, int *out) {
    int n = 0;
    out[n++] = f;
    for (int k = 0; k < n; k++) { /* breadth first over imports; each file once */
        const file *fl = &d->files[out[k]];
        for (int i = 0; i < fl->n_deps; i++) {
            int dep = fr_descset_find_file(d, fl->deps[i]);
            int seen = dep < 0;
            for (int j = 0; j < n && !seen; j++) seen = out[j] == dep;
            if (!seen) out[n++] = dep;
        }
    }
    return n;
}

/* dataset.c - loaders for Home Depot, RecBole atomic files, WANDS and generic JSONL. */
#include "dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hash.h"
#include "html.h"
#include "recbole.h"

/* ---- string -> index maps: fr_hindex over the caller's array of keys ---- */
/* ctx is the address of the array pointer (char ***), so the array may be reallocated as it grows. */
static const void *str_key(const void *ctx, uint32_t entry, size_t *len) {
    const char *k = (*(char **const *)ctx)[entry];
    *len = strlen(k);
    return k;
}
static int sm_find(const fr_hindex *m, const char *k) { return (int)fr_hindex_find(m, k, strlen(k)); }
/* Adds index idx, whose key (already in the array) is new. 0, or -1 when out of memory. */
static int sm_insert(fr_hindex *m, const char *key, int idx) { return fr_hindex_put(m, key, strlen(key), (uint32_t)idx) == -2 ? -1 : 0; }

/* ---- growable arrays ---- */
#define GROW(arr, n, cap)                                    \
    do {                                                     \
        if ((n) >= (cap)) {                                  \
            size_t nc_ = (cap) ? (cap)*2 : 256;              \
            void *p_ = realloc((arr), sizeof(*(arr)) * nc_); \
            if (!p_) goto oom;                               \
            (arr) = p_;                                      \
            (cap) = nc_;                                     \
        }                                                    \
    } while (0)

typedef struct {
    fr_dataset *d;
    fr_hindex items, queries; /* over d->item_ids, d->query_texts */
    size_t item_cap, query_cap, user_cap;
} builder;

/* The index of item id (adding it with text when new; text may be NULL to only look up). */
static int item_of(builder *b, const char *id, const char *text, int add) {
    int k = sm_find(&b->items, id);
    if (k >= 0 || !add) return k;
    fr_dataset *d = b->d;
    if ((size_t)d->n_items >= b->item_cap) {
        size_t nc = b->item_cap ? b->item_cap * 2 : 1024;
        char **a = realloc(d->item_ids, sizeof(char *) * nc), **t;
        if (!a) return -2;
        d->item_ids = a;
        if (!(t = realloc(d->item_texts, sizeof(char *) * nc))) return -2;
        d->item_texts = t;
        b->item_cap = nc;
    }
    d->item_ids[d->n_items] = strdup(id);
    d->item_texts[d->n_items] = strdup(text ? text : "");
    if (!d->item_ids[d->n_items] || !d->item_texts[d->n_items]) return -2;
    if (sm_insert(&b->items, d->item_ids[d->n_items], d->n_items)) return -2;
    return d->n_items++;
}

static int query_of(builder *b, const char *text) {
    int k = sm_find(&b->queries, text);
    if (k >= 0) return k;
    fr_dataset *d = b->d;
    if ((size_t)d->n_queries >= b->query_cap) {
        size_t nc = b->query_cap ? b->query_cap * 2 : 1024;
        char **a = realloc(d->query_texts, sizeof(char *) * nc);
        if (!a) return -2;
        d->query_texts = a;
        b->query_cap = nc;
    }
    if (!(d->query_texts[d->n_queries] = strdup(text))) return -2;
    if (sm_insert(&b->queries, d->query_texts[d->n_queries], d->n_queries)) return -2;
    return d->n_queries++;
}

/* Judgements collected as triples, grouped by query (file order kept) at the end. */
typedef struct {
    int q, item;
    float grade;
} judgement;

static fr_status group_judgements(fr_dataset *d, judgement *j, long n, char *err, size_t errcap) {
    d->q_off = calloc((size_t)d->n_queries + 1, sizeof(int));
    d->q_items = malloc(sizeof(int) * (size_t)(n ? n : 1));
    d->q_grades = malloc(sizeof(float) * (size_t)(n ? n : 1));
    int *fill = calloc((size_t)d->n_queries + 1, sizeof(int));
    if (!d->q_off || !d->q_items || !d->q_grades || !fill) {
        free(fill);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "dataset: out of memory");
    }
    for (long i = 0; i < n; i++) d->q_off[j[i].q + 1]++;
    for (int q = 0; q < d->n_queries; q++) d->q_off[q + 1] += d->q_off[q];
    /* keep the first judgement of a (query, item) pair */
    for (long i = 0; i < n; i++) {
        int q = j[i].q, dup = 0;
        for (int k = d->q_off[q]; k < d->q_off[q] + fill[q]; k++)
            if (d->q_items[k] == j[i].item) dup = 1;
        if (dup) {
            d->duplicate_rows++;
            continue;
        }
        d->q_items[d->q_off[q] + fill[q]] = j[i].item;
        d->q_grades[d->q_off[q] + fill[q]] = j[i].grade;
        fill[q]++;
    }
    /* compact away duplicate slots */
    int w = 0;
    for (int q = 0; q < d->n_queries; q++) {
        int start = d->q_off[q];
        d->q_off[q] = w;
        for (int k = 0; k < fill[q]; k++) {
            d->q_items[w] = d->q_items[start + k];
            d->q_grades[w] = d->q_grades[start + k];
            w++;
        }
    }
    d->q_off[d->n_queries] = w;
    free(fill);
    return FR_OK;
}

static fr_dataset *new_dataset(const char *name, fr_ds_mode mode, builder *b) {
    fr_dataset *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->mode = mode;
    memset(b, 0, sizeof *b);
    b->d = d;
    if (fr_hindex_init(&b->items, 1024, str_key, &d->item_ids) || fr_hindex_init(&b->queries, 1024, str_key, &d->query_texts)) {
        fr_hindex_free(&b->items);
        fr_hindex_free(&b->queries);
        free(d);
        return NULL;
    }
    return d;
}

static void builder_done(builder *b) {
    fr_hindex_free(&b->items);
    fr_hindex_free(&b->queries);
}

void fr_dataset_free(fr_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n_items; i++) {
        free(d->item_ids[i]);
        free(d->item_texts[i]);
    }
    for (int i = 0; i < d->n_queries; i++) free(d->query_texts[i]);
    for (int i = 0; i < d->n_users; i++) free(d->user_ids[i]);
    free(d->item_ids);
    free(d->item_texts);
    free(d->query_texts);
    free(d->q_off);
    free(d->q_items);
    free(d->q_grades);
    free(d->user_ids);
    free(d->h_off);
    free(d->h_items);
    free(d->target);
    free(d);
}

void fr_dataset_summary(const fr_dataset *d, char *buf, size_t cap) {
    if (d->mode == FR_DS_SEARCH)
        snprintf(buf, cap, "%s (search): %d queries, %d items, %d judgements (grades %g..%g) from %ld rows; skipped: %ld malformed, %ld duplicate, %ld unknown ids",
                 d->name, d->n_queries, d->n_items, d->q_off ? d->q_off[d->n_queries] : 0, d->grade_min, d->grade_max, d->rows, d->bad_rows, d->duplicate_rows, d->unknown_ids);
    else
        snprintf(buf, cap, "%s (feed): %d users, %d items, %d history events from %ld rows; skipped: %ld malformed rows, %ld unknown item ids",
                 d->name, d->n_users, d->n_items, d->h_off ? d->h_off[d->n_users] : 0, d->rows, d->bad_rows, d->unknown_ids);
}

static int parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

/* Next line of f without its line ending: its length (0: an empty line), or -1 at the end. */
static ssize_t read_line(FILE *f, char **line, size_t *cap) {
    ssize_t got = getline(line, cap, f);
    while (got > 0 && ((*line)[got - 1] == '\n' || (*line)[got - 1] == '\r')) (*line)[--got] = 0;
    return got;
}

/* Appends item id (NULL: not a string) to the history being read, h_items[*hn]; an id the catalogue
 * does not hold is counted in unknown_ids and skipped. 0, or -1 when out of memory. */
static int history_add(builder *b, const char *id, size_t *hn, size_t *hcap) {
    fr_dataset *d = b->d;
    const int it = id ? item_of(b, id, NULL, 0) : -1;
    if (it < 0) {
        d->unknown_ids++;
        return 0;
    }
    if (*hn >= *hcap) {
        size_t nc = *hcap ? *hcap * 2 : 256;
        int *h = realloc(d->h_items, sizeof(int) * nc);
        if (!h) return -1;
        d->h_items = h;
        *hcap = nc;
    }
    d->h_items[(*hn)++] = it;
    return 0;
}

/* Ends user uid's row: target t, history h_items[start .. hn-1]. A history with no known item makes
 * the row a bad one (not added). 0, or -1 when out of memory. */
static int add_user(builder *b, const char *uid, int t, size_t start, size_t hn, size_t *ucap) {
    fr_dataset *d = b->d;
    if (hn == start) {
        d->bad_rows++;
        return 0;
    }
    if ((size_t)d->n_users >= *ucap) {
        size_t nc = *ucap ? *ucap * 2 : 1024;
        char **u = realloc(d->user_ids, sizeof(char *) * nc);
        if (u) d->user_ids = u;
        int *tg = u ? realloc(d->target, sizeof(int) * nc) : NULL;
        if (tg) d->target = tg;
        int *off = tg ? realloc(d->h_off, sizeof(int) * (nc + 1)) : NULL;
        if (!off) return -1;
        d->h_off = off;
        *ucap = nc;
    }
    if (!(d->user_ids[d->n_users] = strdup(uid))) return -1;
    d->target[d->n_users] = t;
    d->h_off[++d->n_users] = (int)hn;
    return 0;
}

/* Next row of a catalogue file: 1 = a row, 0 = the end, -1 = a read error (err set). Malformed rows
 * are counted in bad_rows and skipped; count_rows also counts every row read in rows. */
static int next_row(fr_catalog *c, fr_dataset *d, int count_rows, char *err, size_t errcap) {
    char rowerr[512];
    for (;;) {
        int r = fr_catalog_next(c, rowerr, sizeof rowerr);
        if (r == 0) return 0;
        if (r == -2) {
            fr_fail(FR_ERR_IO, err, errcap, "%s", rowerr);
            return -1;
        }
        if (count_rows) d->rows++;
        if (r == -1) {
            d->bad_rows++;
            continue;
        }
        return 1;
    }
}

/* ---- Home Depot (Kaggle train.csv) ---- */
static fr_status load_homedepot(const char *path, fr_dataset **out, char *err, size_t errcap) {
    builder b;
    fr_dataset *d = new_dataset("homedepot", FR_DS_SEARCH, &b);
    if (!d) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    d->grade_min = 1;
    d->grade_max = 3;
    fr_catalog *c = NULL;
    judgement *js = NULL;
    size_t jn = 0, jcap = 0;
    fr_status rc = fr_catalog_open(path, FR_CAT_CSV, 1, &c, err, errcap);
    if (rc) goto fail;
    const char *need[] = {"product_uid", "product_title", "search_term", "relevance"};
    const char *const *cols;
    int nc = fr_catalog_columns(c, &cols);
    for (int k = 0; k < 4; k++) {
        int found = 0;
        for (int i = 0; i < nc; i++) found |= strcmp(cols[i], need[k]) == 0;
        if (!found) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: no column '%s' (expected Kaggle train.csv: id, product_uid, product_title, search_term, relevance)", path, need[k]);
            goto fail;
        }
    }
    int r;
    while ((r = next_row(c, d, 1, err, errcap)) == 1) {
        size_t l;
        const char *uid = fr_catalog_field(c, "product_uid", &l), *title = fr_catalog_field(c, "product_title", &l);
        const char *term = fr_catalog_field(c, "search_term", &l), *rel = fr_catalog_field(c, "relevance", &l);
        float g;
        if (!uid || !*uid || !term || !*term || !rel || parse_float(rel, &g) || g < 1 || g > 3) {
            d->bad_rows++;
            continue;
        }
        int item = item_of(&b, uid, title, 1), q = query_of(&b, term);
        if (item < 0 || q < 0) goto oom;
        GROW(js, jn, jcap);
        js[jn++] = (judgement){q, item, g};
    }
    if (r < 0) {
        rc = FR_ERR_IO;
        goto fail;
    }
    rc = group_judgements(d, js, (long)jn, err, errcap);
    if (rc) goto fail;
    fr_catalog_close(c);
    free(js);
    builder_done(&b);
    *out = d;
    return FR_OK;
oom:
    rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
fail:
    fr_catalog_close(c);
    free(js);
    builder_done(&b);
    fr_dataset_free(d);
    return rc;
}

/* ---- RecBole atomic files ---- */
static fr_status load_recbole(const char *path, fr_dataset **out, char *err, size_t errcap) {
    builder b;
    fr_dataset *d = new_dataset("recbole", FR_DS_FEED, &b);
    if (!d) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    FILE *f = NULL;
    char *line = NULL, *text = NULL;
    size_t lcap = 0, tcap = 0, ucap = 0, hn = 0, hcap = 0;
    fr_status rc = FR_OK;
    /* NAME.SPLIT.inter -> NAME.item in the same folder */
    char item_path[4096];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strchr(base, '.');
    if (!dot || strlen(path) < 6 || strcmp(path + strlen(path) - 6, ".inter") != 0) {
        rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: expected a RecBole NAME[.SPLIT].inter file", path);
        goto fail;
    }
    snprintf(item_path, sizeof item_path, "%.*s%.*s.item", (int)(base - path), path, (int)(dot - base), base);
    if (!(f = fopen(item_path, "rb"))) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s (the .item file beside %s)", item_path, strerror(errno), path);
        goto fail;
    }
    char *fl[8];
    ssize_t got = read_line(f, &line, &lcap);
    if (got < 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: empty file", item_path);
        goto fail;
    }
    int nf = fr_recbole_split(line, fl, 8), c_id = fr_recbole_column(fl, nf, "item_id", 0), c_title = fr_recbole_column(fl, nf, "title", 0);
    if (c_id < 0 || c_title < 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: header needs item_id:token and title:token_seq", item_path);
        goto fail;
    }
    while ((got = read_line(f, &line, &lcap)) >= 0) {
        if (got == 0) continue;
        nf = fr_recbole_split(line, fl, 8);
        if (nf <= c_id || nf <= c_title || !*fl[c_id]) {
            d->bad_rows++;
            continue;
        }
        if (fr_item_text_decode(fl[c_title], strlen(fl[c_title]), &text, &tcap) < 0) goto oom; /* index --format recbole: the same */
        if (item_of(&b, fl[c_id], NULL, 0) >= 0) {
            d->duplicate_rows++;
            continue;
        }
        if (item_of(&b, fl[c_id], text, 1) < 0) goto oom;
    }
    fclose(f);
    if (!(f = fopen(path, "rb"))) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (read_line(f, &line, &lcap) < 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: empty file", path);
        goto fail;
    }
    nf = fr_recbole_split(line, fl, 8);
    int c_user = fr_recbole_column(fl, nf, "user_id", 0), c_hist = fr_recbole_column(fl, nf, "item_id_list", 0), c_target = fr_recbole_column(fl, nf, "item_id", 0);
    if (c_user < 0 || c_hist < 0 || c_target < 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: header needs user_id:token, item_id_list:token_seq and item_id:token", path);
        goto fail;
    }
    d->h_off = malloc(sizeof(int));
    if (!d->h_off) goto oom;
    d->h_off[0] = 0;
    while ((got = read_line(f, &line, &lcap)) >= 0) {
        if (got == 0) continue;
        d->rows++;
        nf = fr_recbole_split(line, fl, 8);
        if (nf <= c_user || nf <= c_hist || nf <= c_target || !*fl[c_user]) {
            d->bad_rows++;
            continue;
        }
        int t = item_of(&b, fl[c_target], NULL, 0);
        if (t < 0) {
            d->unknown_ids++;
            d->bad_rows++;
            continue;
        }
        size_t start = hn;
        for (char *tok = strtok(fl[c_hist], " "); tok; tok = strtok(NULL, " "))
            if (history_add(&b, tok, &hn, &hcap)) goto oom;
        if (add_user(&b, fl[c_user], t, start, hn, &ucap)) goto oom;
    }
    fclose(f);
    free(line);
    free(text);
    builder_done(&b);
    *out = d;
    return FR_OK;
oom:
    rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
fail:
    if (f) fclose(f);
    free(line);
    free(text);
    builder_done(&b);
    fr_dataset_free(d);
    return rc;
}

/* ---- WANDS (tab-separated product.csv, query.csv, label.csv) ---- */
static fr_status load_wands(const char *dir, fr_dataset **out, char *err, size_t errcap) {
    builder b;
    fr_dataset *d = new_dataset("wands", FR_DS_SEARCH, &b);
    if (!d) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    d->grade_min = 0;
    d->grade_max = 2;
    fr_catalog *c = NULL;
    judgement *js = NULL;
    size_t jn = 0, jcap = 0;
    char **qtext_by_id = NULL;
    int *qid_map = NULL;
    size_t qcap = 0;
    int nq_ids = 0;
    fr_hindex qids = {0}; /* query_id -> its row in qtext_by_id */
    char path[4096];
    fr_status rc;
    int r;
    snprintf(path, sizeof path, "%s/product.csv", dir);
    if ((rc = fr_catalog_open(path, FR_CAT_TSV, 0, &c, err, errcap))) goto fail;
    while ((r = next_row(c, d, 0, err, errcap)) == 1) {
        size_t l;
        const char *id = fr_catalog_field(c, "product_id", &l), *name = fr_catalog_field(c, "product_name", &l);
        if (!id) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: no product_id column (expected WANDS product.csv, tab-separated)", path);
            goto fail;
        }
        if (!*id) {
            d->bad_rows++;
            continue;
        }
        if (item_of(&b, id, name ? name : "", 1) < 0) goto oom;
    }
    if (r < 0) {
        rc = FR_ERR_IO;
        goto fail;
    }
    fr_catalog_close(c);
    c = NULL;
    snprintf(path, sizeof path, "%s/query.csv", dir);
    if ((rc = fr_catalog_open(path, FR_CAT_TSV, 0, &c, err, errcap))) goto fail;
    if (fr_hindex_init(&qids, 1024, str_key, &qtext_by_id)) goto oom;
    while ((r = next_row(c, d, 0, err, errcap)) == 1) {
        size_t l;
        const char *qid = fr_catalog_field(c, "query_id", &l), *q = fr_catalog_field(c, "query", &l);
        if (!qid || !q) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: needs query_id and query columns (WANDS query.csv)", path);
            goto fail;
        }
        if (!*qid || !*q || sm_find(&qids, qid) >= 0) {
            d->bad_rows++;
            continue;
        }
        if ((size_t)nq_ids >= qcap) {
            size_t nc = qcap ? qcap * 2 : 256;
            char **t = realloc(qtext_by_id, sizeof(char *) * nc);
            int *m = t ? realloc(qid_map, sizeof(int) * nc) : NULL;
            if (t) qtext_by_id = t;
            if (!t || !m) goto oom;
            qid_map = m;
            qcap = nc;
        }
        if (!(qtext_by_id[nq_ids] = strdup(qid))) goto oom;
        int qi = query_of(&b, q);
        if (qi < 0) goto oom;
        qid_map[nq_ids] = qi;
        if (sm_insert(&qids, qtext_by_id[nq_ids], nq_ids)) goto oom;
        nq_ids++;
    }
    if (r < 0) {
        rc = FR_ERR_IO;
        goto fail;
    }
    fr_catalog_close(c);
    c = NULL;
    snprintf(path, sizeof path, "%s/label.csv", dir);
    if ((rc = fr_catalog_open(path, FR_CAT_TSV, 0, &c, err, errcap))) goto fail;
    while ((r = next_row(c, d, 1, err, errcap)) == 1) {
        size_t l;
        const char *qid = fr_catalog_field(c, "query_id", &l), *pid = fr_catalog_field(c, "product_id", &l), *lab = fr_catalog_field(c, "label", &l);
        if (!qid || !pid || !lab) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: needs query_id, product_id and label columns (WANDS label.csv)", path);
            goto fail;
        }
        float g = strcmp(lab, "Exact") == 0 ? 2 : strcmp(lab, "Partial") == 0  ? 1
                                              : strcmp(lab, "Irrelevant") == 0 ? 0
                                                                               : -1;
        if (g < 0) {
            d->bad_rows++;
            continue;
        }
        int qk = sm_find(&qids, qid), item = item_of(&b, pid, NULL, 0);
        if (qk < 0 || item < 0) {
            d->unknown_ids++;
            continue;
        }
        GROW(js, jn, jcap);
        js[jn++] = (judgement){qid_map[qk], item, g};
    }
    if (r < 0) {
        rc = FR_ERR_IO;
        goto fail;
    }
    if ((rc = group_judgements(d, js, (long)jn, err, errcap))) goto fail;
    fr_catalog_close(c);
    free(js);
    for (int i = 0; i < nq_ids; i++) free(qtext_by_id[i]);
    free(qtext_by_id);
    free(qid_map);
    fr_hindex_free(&qids);
    builder_done(&b);
    *out = d;
    return FR_OK;
oom:
    rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
fail:
    fr_catalog_close(c);
    free(js);
    for (int i = 0; i < nq_ids; i++) free(qtext_by_id[i]);
    free(qtext_by_id);
    free(qid_map);
    fr_hindex_free(&qids);
    builder_done(&b);
    fr_dataset_free(d);
    return rc;
}

/* ---- generic JSONL ----
 * search: {"item_id":"a","text":"..."} lines and {"query":"...","judgements":{"a":2,"b":0}} lines
 * feed:   {"item_id":"a","text":"..."} lines and {"user_id":"u","history":["a","b"],"target":"c"} lines */
static fr_status load_jsonl(const char *path, fr_ds_mode mode, fr_dataset **out, char *err, size_t errcap) {
    builder b;
    fr_dataset *d = new_dataset(mode == FR_DS_SEARCH ? "jsonl-search" : "jsonl-feed", mode, &b);
    if (!d) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *line = NULL;
    size_t lcap = 0, jn = 0, jcap = 0, ucap = 0, hn = 0, hcap = 0;
    judgement *js = NULL;
    /* references are resolved after the whole file is read, so lines may come in any order */
    typedef struct {
        long line;
        cJSON *obj;
    } pending;
    pending *pend = NULL;
    size_t pn = 0, pcap = 0;
    fr_status rc = FR_OK;
    d->grade_min = INFINITY;
    d->grade_max = -INFINITY;
    if (!f) {
        free(d);
        builder_done(&b);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    }
    long lineno = 0;
    ssize_t got;
    while ((got = read_line(f, &line, &lcap)) >= 0) {
        lineno++;
        if (got == 0) continue;
        d->rows++;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)got);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "item_id");
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            d->bad_rows++;
            continue;
        }
        if (cJSON_IsString(id) && !cJSON_HasObjectItem(o, "query") && !cJSON_HasObjectItem(o, "user_id")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
            if (!*id->valuestring || !cJSON_IsString(t)) {
                d->bad_rows++;
                cJSON_Delete(o);
                continue;
            }
            if (item_of(&b, id->valuestring, NULL, 0) >= 0) {
                d->duplicate_rows++;
                cJSON_Delete(o);
                continue;
            }
            int r = item_of(&b, id->valuestring, t->valuestring, 1);
            cJSON_Delete(o);
            if (r < 0) goto oom;
            continue;
        }
        if (pn >= pcap) {
            size_t nc = pcap ? pcap * 2 : 256;
            pending *p = realloc(pend, sizeof *p * nc);
            if (!p) {
                cJSON_Delete(o);
                goto oom;
            }
            pend = p;
            pcap = nc;
        }
        pend[pn++] = (pending){lineno, o};
    }
    if (mode == FR_DS_FEED) {
        d->h_off = malloc(sizeof(int));
        if (!d->h_off) goto oom;
        d->h_off[0] = 0;
    }
    for (size_t k = 0; k < pn; k++) {
        cJSON *o = pend[k].obj;
        if (mode == FR_DS_SEARCH) {
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "query"), *jm = cJSON_GetObjectItemCaseSensitive(o, "judgements");
            if (!cJSON_IsString(q) || !*q->valuestring || !cJSON_IsObject(jm)) {
                d->bad_rows++;
                continue;
            }
            int qi = query_of(&b, q->valuestring);
            if (qi < 0) goto oom;
            const cJSON *e;
            cJSON_ArrayForEach(e, jm) {
                int item = item_of(&b, e->string, NULL, 0);
                if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
                    d->bad_rows++;
                    continue;
                }
                if (item < 0) {
                    d->unknown_ids++;
                    continue;
                }
                GROW(js, jn, jcap);
                js[jn++] = (judgement){qi, item, (float)e->valuedouble};
                if (e->valuedouble < d->grade_min) d->grade_min = (float)e->valuedouble;
                if (e->valuedouble > d->grade_max) d->grade_max = (float)e->valuedouble;
            }
        } else {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "user_id"), *h = cJSON_GetObjectItemCaseSensitive(o, "history");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "target");
            if (!cJSON_IsString(u) || !cJSON_IsArray(h) || !cJSON_IsString(t)) {
                d->bad_rows++;
                continue;
            }
            int ti = item_of(&b, t->valuestring, NULL, 0);
            if (ti < 0) {
                d->unknown_ids++;
                d->bad_rows++;
                continue;
            }
            size_t start = hn;
            const cJSON *e;
            cJSON_ArrayForEach(e, h) if (history_add(&b, cJSON_IsString(e) ? e->valuestring : NULL, &hn, &hcap)) goto oom;
            if (add_user(&b, u->valuestring, ti, start, hn, &ucap)) goto oom;
        }
    }
    if (mode == FR_DS_SEARCH) {
        if (jn == 0) {
            d->grade_min = 0;
            d->grade_max = 0;
        }
        if ((rc = group_judgements(d, js, (long)jn, err, errcap))) goto fail;
    }
    for (size_t k = 0; k < pn; k++) cJSON_Delete(pend[k].obj);
    free(pend);
    free(js);
    free(line);
    if (f != stdin) fclose(f);
    builder_done(&b);
    *out = d;
    return FR_OK;
oom:
    rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
fail:
    for (size_t k = 0; k < pn; k++) cJSON_Delete(pend[k].obj);
    free(pend);
    free(js);
    free(line);
    if (f != stdin) fclose(f);
    builder_done(&b);
    fr_dataset_free(d);
    return rc;
}

fr_status fr_dataset_load(const char *name, const char *path, fr_dataset **out, char *err, size_t errcap) {
    *out = NULL;
    fr_status rc;
    if (strcmp(name, "homedepot") == 0) rc = load_homedepot(path, out, err, errcap);
    else if (strcmp(name, "recbole") == 0) rc = load_recbole(path, out, err, errcap);
    else if (strcmp(name, "wands") == 0) rc = load_wands(path, out, err, errcap);
    else if (strcmp(name, "jsonl-search") == 0) rc = load_jsonl(path, FR_DS_SEARCH, out, err, errcap);
    else if (strcmp(name, "jsonl-feed") == 0) rc = load_jsonl(path, FR_DS_FEED, out, err, errcap);
    else return fr_fail(FR_ERR_ARG, err, errcap, "unknown dataset '%s' (homedepot, recbole, wands, jsonl-search, jsonl-feed)", name);
    if (rc) return rc;
    fr_dataset *d = *out;
    if ((d->mode == FR_DS_SEARCH && d->n_queries == 0) || (d->mode == FR_DS_FEED && d->n_users == 0)) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: no usable %s (%ld rows read, %ld malformed)", path, d->mode == FR_DS_SEARCH ? "queries" : "users", d->rows, d->bad_rows);
        fr_dataset_free(d);
        *out = NULL;
    }
    return rc;
}

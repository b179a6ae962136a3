/* bm25.c - Okapi BM25 (inverted statistics per document) over item texts. */
#include "bm25.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* ---------------- BM25 ---------------- */

struct fr_bm25 {
    int n_docs, n_terms;
    double avgdl;
    /* vocabulary: term strings in one arena (each NUL-terminated, in id order), indexed by id */
    char *arena;
    size_t arena_len, arena_cap;
    size_t *term_off; /* [n_terms] offset of each term in the arena */
    int *df;          /* [n_terms] */
    fr_hindex terms;
    /* per document: (term, tf) pairs sorted by term */
    int *doc_off; /* [n_docs + 1] */
    int *doc_terms, *doc_tf;
    int *doc_len;
};

static int is_word(unsigned char c) { return isalnum(c) || c >= 0x80; }

/* Next token of s at *pos: lower-cased into buf (up to cap-1 bytes); returns its length, 0 at end. */
static size_t next_token(const char *s, size_t *pos, char *buf, size_t cap) {
    size_t i = *pos;
    while (s[i] && !is_word((unsigned char)s[i])) i++;
    size_t n = 0;
    while (s[i] && is_word((unsigned char)s[i])) {
        if (n + 1 < cap) buf[n++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    buf[n] = 0;
    *pos = i;
    return n;
}

/* Term `entry`'s bytes: terms are laid out back to back, so its length is the gap to the next. */
static const void *term_key(const void *ctx, uint32_t entry, size_t *len) {
    const fr_bm25 *m = ctx;
    const size_t end = (int)entry + 1 < m->n_terms ? m->term_off[entry + 1] : m->arena_len;
    *len = end - m->term_off[entry] - 1;
    return m->arena + m->term_off[entry];
}

static int term_find(const fr_bm25 *m, const char *t, size_t n) { return (int)fr_hindex_find(&m->terms, t, n); }

static int term_add(fr_bm25 *m, const char *t, size_t n, size_t *term_cap) {
    int id = term_find(m, t, n);
    if (id >= 0) return id;
    if ((size_t)m->n_terms >= *term_cap) {
        size_t nc = *term_cap * 2;
        size_t *o = realloc(m->term_off, sizeof(size_t) * nc);
        int *d = o ? realloc(m->df, sizeof(int) * nc) : NULL;
        if (o) m->term_off = o;
        if (!o || !d) return -1;
        m->df = d;
        *term_cap = nc;
    }
    if (m->arena_len + n + 1 > m->arena_cap) {
        size_t nc = m->arena_cap * 2 + n + 1;
        char *a = realloc(m->arena, nc);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = nc;
    }
    memcpy(m->arena + m->arena_len, t, n);
    m->arena[m->arena_len + n] = 0;
    m->term_off[m->n_terms] = m->arena_len;
    m->df[m->n_terms] = 0;
    m->arena_len += n + 1;
    m->n_terms++; /* first: term_key measures the last term before it by the new one's offset */
    if (fr_hindex_put(&m->terms, t, n, (uint32_t)(m->n_terms - 1)) == -2) {
        m->n_terms--;
        m->arena_len -= n + 1;
        return -1;
    }
    return m->n_terms - 1;
}

void fr_bm25_free(fr_bm25 *m) {
    if (!m) return;
    free(m->arena);
    free(m->term_off);
    free(m->df);
    fr_hindex_free(&m->terms);
    free(m->doc_off);
    free(m->doc_terms);
    free(m->doc_tf);
    free(m->doc_len);
    free(m);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

fr_status fr_bm25_build(const char *const *docs, int n, fr_bm25 **out, char *err, size_t errcap) {
    *out = NULL;
    fr_bm25 *m = calloc(1, sizeof *m);
    size_t term_cap = 1024, pair_cap = 4096, pairs = 0;
    int *tmp = NULL;
    size_t tmp_cap = 0;
    if (!m) return fr_fail(FR_ERR_NOMEM, err, errcap, "bm25: out of memory");
    m->n_docs = n;
    m->arena_cap = 1 << 16;
    const int index_ok = fr_hindex_init(&m->terms, 1024, term_key, m) == 0;
    m->term_off = malloc(sizeof(size_t) * term_cap);
    m->df = malloc(sizeof(int) * term_cap);
    m->arena = malloc(m->arena_cap);
    m->doc_off = malloc(sizeof(int) * ((size_t)n + 1));
    m->doc_len = calloc((size_t)n + 1, sizeof(int));
    m->doc_terms = malloc(sizeof(int) * pair_cap);
    m->doc_tf = malloc(sizeof(int) * pair_cap);
    if (!index_ok || !m->term_off || !m->df || !m->arena || !m->doc_off || !m->doc_len || !m->doc_terms || !m->doc_tf) goto oom;
    long total_len = 0;
    char tok[256];
    m->doc_off[0] = 0;
    for (int d = 0; d < n; d++) {
        size_t pos = 0, len, k = 0;
        while ((len = next_token(docs[d], &pos, tok, sizeof tok))) {
            int id = term_add(m, tok, len, &term_cap);
            if (id < 0) goto oom;
            if (k >= tmp_cap) {
                tmp_cap = tmp_cap ? tmp_cap * 2 : 64;
                int *t = realloc(tmp, sizeof(int) * tmp_cap);
                if (!t) goto oom;
                tmp = t;
            }
            tmp[k++] = id;
        }
        m->doc_len[d] = (int)k;
        total_len += (long)k;
        qsort(tmp, k, sizeof(int), cmp_int);
        for (size_t a = 0; a < k;) {
            size_t b = a;
            while (b < k && tmp[b] == tmp[a]) b++;
            if (pairs >= pair_cap) {
                pair_cap *= 2;
                int *t1 = realloc(m->doc_terms, sizeof(int) * pair_cap), *t2 = t1 ? realloc(m->doc_tf, sizeof(int) * pair_cap) : NULL;
                if (t1) m->doc_terms = t1;
                if (!t1 || !t2) goto oom;
                m->doc_tf = t2;
            }
            m->doc_terms[pairs] = tmp[a];
            m->doc_tf[pairs++] = (int)(b - a);
            m->df[tmp[a]]++;
            a = b;
        }
        m->doc_off[d + 1] = (int)pairs;
    }
    m->avgdl = n ? (double)total_len / n : 1;
    if (m->avgdl <= 0) m->avgdl = 1;
    free(tmp);
    *out = m;
    return FR_OK;
oom:
    free(tmp);
    fr_bm25_free(m);
    return fr_fail(FR_ERR_NOMEM, err, errcap, "bm25: out of memory");
}

int fr_bm25_query(const fr_bm25 *m, const char *text, int *terms, int cap) {
    char tok[256];
    size_t pos = 0, len;
    int k = 0;
    while (k < cap && (len = next_token(text, &pos, tok, sizeof tok))) {
        int id = term_find(m, tok, len);
        if (id >= 0) terms[k++] = id;
    }
    return k;
}

/* One query term's BM25 contribution: tf occurrences in a document whose length gives norm. */
static double term_score(const fr_bm25 *m, int term, double tf, double norm, double k1) {
    double df = m->df[term];
    double idf = log(1 + (m->n_docs - df + 0.5) / (df + 0.5));
    return idf * tf * (k1 + 1) / (tf + norm);
}

double fr_bm25_score(const fr_bm25 *m, const int *terms, int nterms, int doc, double k1, double b) {
    double s = 0, norm = k1 * (1 - b + b * m->doc_len[doc] / m->avgdl);
    const int *dt = m->doc_terms + m->doc_off[doc], nd = m->doc_off[doc + 1] - m->doc_off[doc];
    for (int q = 0; q < nterms; q++) {
        int lo = 0, hi = nd;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (dt[mid] < terms[q]) lo = mid + 1;
            else hi = mid;
        }
        if (lo == nd || dt[lo] != terms[q]) continue;
        s += term_score(m, terms[q], m->doc_tf[m->doc_off[doc] + lo], norm, k1);
    }
    return s;
}

double fr_bm25_score_text(const fr_bm25 *m, const int *terms, int nterms, const char *text, size_t len, double k1, double b) {
    char *t = strndup(text, len);
    double *tf = calloc(nterms > 0 ? (size_t)nterms : 1, sizeof *tf);
    if (!t || !tf) {
        free(t);
        free(tf);
        return -1;
    }
    /* tf of each query term, counted in one pass over the text's tokens */
    int nq = nterms, dl = 0;
    char tok[256];
    size_t pos = 0, tl;
    while ((tl = next_token(t, &pos, tok, sizeof tok))) {
        dl++;
        int id = term_find(m, tok, tl);
        for (int q = 0; id >= 0 && q < nq; q++)
            if (terms[q] == id) tf[q]++;
    }
    free(t);
    double s = 0, norm = k1 * (1 - b + b * dl / m->avgdl);
    for (int q = 0; q < nq; q++)
        if (tf[q] > 0) s += term_score(m, terms[q], tf[q], norm, k1);
    free(tf);
    return s;
}

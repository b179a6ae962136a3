/* store_delta.c - batch records, immutable delta versions (entries shared between versions by
 * reference count, the id table copied per batch: O(delta) per batch, bounded by compaction) and
 * compaction into a new store file. */
#include "store_delta.h"

#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "event_batch.h"
#include "hash.h"
#include "priors.h"
#include "seqmodel_store.h"

enum { OP_UPSERT = 1,
       OP_DELETE = 2,
       REC_VERSION = 1,
       REC_HEAD = 17 };

/* ---------------- batch records ---------------- */

struct fr_delta_batch {
    fr_bytebuf out;
    uint32_t n;
    int dim;
};

fr_status fr_delta_batch_new(uint64_t fingerprint, int dim, fr_delta_batch **out, char *err, size_t errcap) {
    *out = NULL;
    if (dim < 1 || dim > 65536) return fr_fail(FR_ERR_ARG, err, errcap, "delta: dimension %d outside 1..65536", dim);
    fr_delta_batch *b = calloc(1, sizeof *b);
    uint8_t h[REC_HEAD] = {REC_VERSION};
    fr_wr64(h + 1, fingerprint);
    fr_wr32(h + 9, (uint32_t)dim);
    if (!b || fr_bytebuf_put(&b->out, h, sizeof h)) {
        fr_delta_batch_free(b);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    b->dim = dim;
    *out = b;
    return FR_OK;
}

static fr_status check_id(const char *id, size_t len, char *err, size_t errcap) {
    if (len == 0 || len > FR_STORE_MAX_ID) return fr_fail(FR_ERR_ARG, err, errcap, "id must be 1..%d bytes (got %zu)", FR_STORE_MAX_ID, len);
    if (memchr(id, 0, len)) return fr_fail(FR_ERR_ARG, err, errcap, "id contains a NUL byte");
    return FR_OK;
}

fr_status fr_delta_batch_upsert(fr_delta_batch *b, const char *id, size_t id_len, const float *vec, const char *text,
                                size_t text_len, char *err, size_t errcap) {
    fr_status rc = check_id(id, id_len, err, errcap);
    if (rc) return rc;
    if (!text) text_len = 0;
    if (text_len > (1u << 20)) return fr_fail(FR_ERR_ARG, err, errcap, "text of %zu bytes (max 1 MiB)", text_len);
    for (int i = 0; i < b->dim; i++)
        if (!isfinite(vec[i])) return fr_fail(FR_ERR_ARG, err, errcap, "vector[%d] is not finite", i);
    uint8_t h[3] = {OP_UPSERT, (uint8_t)(id_len & 0xFF), (uint8_t)(id_len >> 8)}, tl[4];
    fr_wr32(tl, (uint32_t)text_len);
    fr_bytebuf *o = &b->out;
    if (fr_bytebuf_put(o, h, 3) || fr_bytebuf_put(o, id, id_len) || fr_bytebuf_put(o, tl, 4) || fr_bytebuf_put(o, text, text_len) ||
        fr_bytebuf_put(o, vec, sizeof(float) * (size_t)b->dim))
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    fr_wr32(b->out.p + 13, ++b->n);
    return FR_OK;
}

fr_status fr_delta_batch_delete(fr_delta_batch *b, const char *id, size_t id_len, char *err, size_t errcap) {
    fr_status rc = check_id(id, id_len, err, errcap);
    if (rc) return rc;
    uint8_t h[3] = {OP_DELETE, (uint8_t)(id_len & 0xFF), (uint8_t)(id_len >> 8)};
    if (fr_bytebuf_put(&b->out, h, 3) || fr_bytebuf_put(&b->out, id, id_len)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    fr_wr32(b->out.p + 13, ++b->n);
    return FR_OK;
}

const uint8_t *fr_delta_batch_bytes(const fr_delta_batch *b, size_t *len) {
    *len = b->out.len;
    return b->out.p;
}

void fr_delta_batch_free(fr_delta_batch *b) {
    if (!b) return;
    free(b->out.p);
    free(b);
}

/* Walks a record: calls visit per op (NULL: checks only). */
typedef struct {
    const char *id;
    size_t id_len;
    int deleted;
    const char *text;
    size_t text_len;
    const uint8_t *vec;
} op_view;
typedef int (*op_fn)(void *ctx, const op_view *op);

static fr_status walk(const uint8_t *rec, size_t len, uint64_t fingerprint, int dim, op_fn visit, void *ctx, char *err, size_t errcap) {
    if (len < REC_HEAD) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record of %zu bytes is too short", len);
    if (rec[0] != REC_VERSION) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "update record version %u", rec[0]);
    if (fr_rd64(rec + 1) != fingerprint) return fr_fail(FR_ERR_VERIFY, err, errcap, "update record made for model fingerprint %016llx, the store's is %016llx", (unsigned long long)fr_rd64(rec + 1), (unsigned long long)fingerprint);
    if (fr_rd32(rec + 9) != (uint32_t)dim) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record of dimension %u, the store's is %d", fr_rd32(rec + 9), dim);
    uint32_t n = fr_rd32(rec + 13);
    size_t off = REC_HEAD, vbytes = sizeof(float) * (size_t)dim;
    for (uint32_t i = 0; i < n; i++) {
        op_view op = {0};
        if (len - off < 3) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u is truncated", i);
        uint8_t kind = rec[off];
        size_t il = rec[off + 1] | (size_t)rec[off + 2] << 8;
        off += 3;
        if (kind != OP_UPSERT && kind != OP_DELETE) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u has unknown kind %u", i, kind);
        if (il == 0 || il > FR_STORE_MAX_ID || il > len - off) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u has an invalid id length", i);
        op.id = (const char *)rec + off;
        op.id_len = il;
        if (memchr(op.id, 0, il)) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u id has a NUL byte", i);
        off += il;
        op.deleted = kind == OP_DELETE;
        if (kind == OP_UPSERT) {
            if (len - off < 4) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u is truncated", i);
            size_t tl = fr_rd32(rec + off);
            off += 4;
            if (tl > len - off) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u text runs past the end", i);
            op.text = tl ? (const char *)rec + off : NULL;
            op.text_len = tl;
            off += tl;
            if (vbytes > len - off) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u vector runs past the end", i);
            op.vec = rec + off;
            for (int d = 0; d < dim; d++)
                if (!isfinite(fr_rdf32(op.vec + 4 * (size_t)d))) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: op %u vector[%d] is not finite", i, d);
            off += vbytes;
        }
        if (visit && visit(ctx, &op)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    if (off != len) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record: %zu bytes after the last op", len - off);
    return FR_OK;
}

typedef struct {
    fr_delta_op_fn fn;
    void *ctx;
} ops_ctx;
static int visit_op(void *ctx, const op_view *op) {
    const ops_ctx *o = ctx;
    return o->fn(o->ctx, op->id, op->id_len, op->deleted);
}

fr_status fr_delta_record_ops(const uint8_t *rec, size_t len, fr_delta_op_fn fn, void *ctx, char *err, size_t errcap) {
    if (len < REC_HEAD) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record of %zu bytes is too short", len);
    ops_ctx o = {fn, ctx};
    const uint32_t dim = fr_rd32(rec + 9);
    if (dim == 0 || dim > 65536) return fr_fail(FR_ERR_FORMAT, err, errcap, "update record of dimension %u", dim);
    return walk(rec, len, fr_rd64(rec + 1), (int)dim, visit_op, &o, err, errcap);
}

fr_status fr_delta_check_record(const uint8_t *rec, size_t len, uint64_t fingerprint, int dim, char *err, size_t errcap) {
    if (fr_record_kind(rec, len) == FR_RECORD_EVENTS) return fr_event_batch_check(rec, len, NULL, err, errcap);
    return walk(rec, len, fingerprint, dim, NULL, NULL, err, errcap);
}

/* ---------------- versions ---------------- */

typedef struct entry {
    atomic_long refs;
    uint32_t id_len, text_len;
    int deleted, has_text;
    size_t bytes;
    char *id, *text;
    float *vec;
} entry;

struct fr_delta {
    atomic_long refs;
    uint64_t fp, seq, count, cap, bytes;
    int dim;
    entry **items;   /* count entries, in order of each id's first appearance */
    fr_hindex by_id; /* id -> index into items; read-only once the delta is published */
};

static void entry_unref(entry *e) {
    if (e && atomic_fetch_sub(&e->refs, 1) == 1) free(e);
}

static void delta_free(fr_delta *d) {
    for (uint64_t i = 0; i < d->count; i++) entry_unref(d->items[i]);
    free(d->items);
    fr_hindex_free(&d->by_id);
    free(d);
}

void fr_delta_ref(fr_delta *d) { atomic_fetch_add(&d->refs, 1); }
void fr_delta_unref(fr_delta *d) {
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) delta_free(d);
}

static const void *entry_key(const void *ctx, uint32_t i, size_t *len) {
    const entry *e = ((const fr_delta *)ctx)->items[i];
    *len = e->id_len;
    return e->id;
}

static fr_delta *delta_alloc(uint64_t fp, int dim, uint64_t cap) {
    fr_delta *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    atomic_init(&d->refs, 1);
    d->fp = fp;
    d->dim = dim;
    d->cap = cap ? cap : 1;
    d->items = calloc(d->cap, sizeof *d->items);
    if (!d->items || fr_hindex_init(&d->by_id, d->cap, entry_key, d)) { /* sized for cap: never grows */
        free(d->items);
        free(d);
        return NULL;
    }
    return d;
}

fr_status fr_delta_empty(uint64_t fingerprint, int dim, uint64_t seq, fr_delta **out, char *err, size_t errcap) {
    *out = delta_alloc(fingerprint, dim, 16);
    if (!*out) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    (*out)->seq = seq;
    return FR_OK;
}

/* the index of id in d->items, or -1 */
static int64_t index_of(const fr_delta *d, const char *id, size_t len) { return fr_hindex_find(&d->by_id, id, len); }

/* appends e (an id not in n yet); 0, or -1 when out of memory */
static int append(fr_delta *n, entry *e) {
    if (n->count >= n->cap || fr_hindex_put(&n->by_id, e->id, e->id_len, (uint32_t)n->count) == -2) return -1;
    n->items[n->count++] = e;
    return 0;
}

static int apply_op(void *ctx, const op_view *op) {
    fr_delta *d = ctx;
    size_t vb = op->deleted ? 0 : sizeof(float) * (size_t)d->dim;
    size_t sz = sizeof(entry) + vb + op->id_len + 1 + op->text_len + 1;
    entry *e = malloc(sz);
    if (!e) return -1;
    memset(e, 0, sizeof *e);
    atomic_init(&e->refs, 1);
    e->bytes = sz;
    e->vec = op->deleted ? NULL : (float *)(e + 1);
    e->id = (char *)(e + 1) + vb;
    e->text = e->id + op->id_len + 1;
    if (vb) memcpy(e->vec, op->vec, vb);
    memcpy(e->id, op->id, op->id_len);
    e->id[op->id_len] = 0;
    e->id_len = (uint32_t)op->id_len;
    if (op->text_len) memcpy(e->text, op->text, op->text_len);
    e->text[op->text_len] = 0;
    e->text_len = (uint32_t)op->text_len;
    e->has_text = op->text != NULL;
    e->deleted = op->deleted;
    const int64_t k = index_of(d, op->id, op->id_len);
    if (k >= 0) { /* the same id again: the later op replaces the entry (the index is unchanged) */
        d->bytes -= d->items[k]->bytes;
        entry_unref(d->items[k]);
        d->items[k] = e;
    } else if (append(d, e)) { /* sized by the caller */
        free(e);
        return -1;
    }
    d->bytes += sz;
    return 0;
}

typedef struct {
    uint32_t n;
} count_ctx;
static int count_op(void *ctx, const op_view *op) {
    (void)op;
    ((count_ctx *)ctx)->n++;
    return 0;
}

fr_status fr_delta_apply(const fr_delta *d, const uint8_t *rec, size_t len, uint64_t seq, fr_delta **out, char *err, size_t errcap) {
    *out = NULL;
    count_ctx cc = {0};
    /* an events record changes no item: the new version is d at log position seq */
    const int events = fr_record_kind(rec, len) == FR_RECORD_EVENTS;
    fr_status rc = events ? fr_event_batch_check(rec, len, NULL, err, errcap)
                          : walk(rec, len, d->fp, d->dim, count_op, &cc, err, errcap); /* whole record valid first */
    if (rc) return rc;
    if (d->count + cc.n > 0xFFFFFFF0u) return fr_fail(FR_ERR_ARG, err, errcap, "delta: too many items");
    fr_delta *n = delta_alloc(d->fp, d->dim, d->count + cc.n);
    if (!n) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    for (uint64_t i = 0; i < d->count; i++) {
        entry *e = d->items[i];
        atomic_fetch_add(&e->refs, 1);
        if (append(n, e)) { /* cannot happen: n is sized for them all */
            entry_unref(e);
            delta_free(n);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
    }
    n->bytes = d->bytes;
    n->seq = seq;
    rc = events ? FR_OK : walk(rec, len, d->fp, d->dim, apply_op, n, err, errcap);
    if (rc) {
        delta_free(n);
        return rc;
    }
    *out = n;
    return FR_OK;
}

fr_status fr_delta_without(const fr_delta *cur, const fr_delta *folded, fr_delta **out, char *err, size_t errcap) {
    *out = NULL;
    fr_delta *n = delta_alloc(cur->fp, cur->dim, cur->count);
    if (!n) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    n->seq = cur->seq;
    for (uint64_t i = 0; i < cur->count; i++) {
        entry *e = cur->items[i];
        const int64_t f = index_of(folded, e->id, e->id_len);
        if (f >= 0 && folded->items[f] == e) continue;
        atomic_fetch_add(&e->refs, 1);
        if (append(n, e)) { /* cannot happen: n is sized for cur */
            entry_unref(e);
            delta_free(n);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
        n->bytes += e->bytes;
    }
    *out = n;
    return FR_OK;
}

static void item_of(const entry *e, fr_delta_item *out) {
    out->id = e->id;
    out->id_len = e->id_len;
    out->deleted = e->deleted;
    out->vector = e->vec;
    out->text = e->has_text ? e->text : NULL;
    out->text_len = e->text_len;
}

int fr_delta_find(const fr_delta *d, const char *id, size_t id_len, fr_delta_item *out) {
    if (!d || d->count == 0) return 0;
    const int64_t k = index_of(d, id, id_len);
    if (k < 0) return 0;
    if (out) item_of(d->items[k], out);
    return 1;
}

uint64_t fr_delta_seq(const fr_delta *d) { return d->seq; }
uint64_t fr_delta_count(const fr_delta *d) { return d->count; }
uint64_t fr_delta_bytes(const fr_delta *d) { return d->bytes; }
void fr_delta_item_at(const fr_delta *d, uint64_t i, fr_delta_item *out) { item_of(d->items[i], out); }

uint64_t fr_store_live_seq(const fr_store *s) {
    const uint8_t *p;
    uint64_t n;
    if (!fr_store_section(s, FR_STORE_SECTION_LIVE, &p, &n) || n != 8) return 0;
    return fr_rd64(p);
}

/* ---------------- compaction ---------------- */

/* The row-indexed sections (priors, sequential model) of base, remapped to the store at tmp (just
 * written, old_to_new giving each base row's row there) into out[k] (caller frees). */
/* A live priors builder's state (a priors checkpoint, live_priors.h) remapped like its priors:
 * loaded with the parameters the priors section records, remapped, saved at the same position. */
static fr_status remap_state(const uint8_t *state, size_t state_n, const uint8_t *priors, size_t priors_n, uint64_t n_old,
                             const int64_t *old_to_new, uint64_t n_new, uint8_t **out, size_t *out_n, char *err, size_t errcap) {
    fr_priors view;
    fr_status rc = fr_priors_view(priors, priors_n, n_old, "log priors", &view, err, errcap);
    if (rc) return rc;
    const fr_priors_params p = {view.window, view.half_life, view.capacity};
    fr_priors_builder *b = NULL;
    fr_priors_position pos;
    rc = fr_priors_checkpoint_load(state, state_n, &p, n_old, &b, &pos, err, errcap);
    if (!rc) rc = fr_priors_builder_remap(b, old_to_new, n_new, err, errcap);
    if (!rc) rc = fr_priors_checkpoint_save(b, &pos, out, out_n, err, errcap);
    fr_priors_builder_free(b);
    return rc;
}

/* The row-indexed sections (priors, sequential model, live priors state) remapped to the rows of
 * the store written at tmp. */
static fr_status remap_sections(const char *tmp, const fr_store_info *in, int64_t *old_to_new, uint64_t n_map, const char *const *added,
                                uint64_t n_added, const uint8_t *const sec[3], const uint64_t sec_n[3], const char *out_path, uint8_t *out[3],
                                size_t out_n[3], char *err, size_t errcap) {
    fr_store *ns;
    fr_status rc = fr_store_open(tmp, in->model_fingerprint, 0, &ns, err, errcap);
    if (rc) return rc;
    char e2[512];
    const uint64_t n_new = fr_store_info_of(ns)->count;
    if (n_new != n_map) rc = fr_fail(FR_ERR_VERIFY, err, errcap, "compact: %s holds %llu rows, the row map %llu", tmp, (unsigned long long)n_new, (unsigned long long)n_map);
    /* the live priors' rows past the base's (items added since) go to their rows in the new store */
    for (uint64_t k = 0; k < n_added && !rc; k++) {
        const int64_t row = fr_store_find(ns, added[k], strlen(added[k]));
        old_to_new[in->count + k] = row >= 0 ? row : FR_ROW_DELETED;
    }
    const uint64_t n_priors = in->count + n_added;
    if (!rc && sec[0] && (rc = fr_priors_remap(sec[0], (size_t)sec_n[0], n_priors, old_to_new, n_new, &out[0], &out_n[0], e2, sizeof e2)))
        rc = fr_fail(rc, err, errcap, "compact: log priors: %s", e2);
    if (!rc && sec[1] &&
        (rc = fr_seq_section_remap(sec[1], (size_t)sec_n[1], old_to_new, in->count, ns, out_path, &out[1], &out_n[1], e2, sizeof e2)))
        rc = fr_fail(rc, err, errcap, "compact: sequential model: %s", e2);
    if (!rc && sec[2] &&
        (rc = remap_state(sec[2], (size_t)sec_n[2], sec[0], (size_t)sec_n[0], n_priors, old_to_new, n_new, &out[2], &out_n[2], e2, sizeof e2)))
        rc = fr_fail(rc, err, errcap, "compact: live priors state: %s", e2);
    fr_store_close(ns);
    return rc;
}

/* The row-indexed sections of the written store read back and match it. */
static fr_status check_sections(const fr_store *s, const char *label, char *err, size_t errcap) {
    fr_priors pr;
    char e2[512];
    fr_status rc = fr_priors_of_store(s, &pr, e2, sizeof e2);
    if (rc && rc != FR_ERR_NOT_FOUND) return fr_fail(FR_ERR_VERIFY, err, errcap, "compact: %s: log priors do not read back: %s", label, e2);
    fr_seq_model *m = NULL;
    fr_seq_meta meta;
    rc = fr_seq_of_store(s, label, &m, &meta, e2, sizeof e2);
    fr_seq_free(m);
    if (rc && rc != FR_ERR_NOT_FOUND) return fr_fail(FR_ERR_VERIFY, err, errcap, "compact: sequential model does not read back: %s", e2);
    return FR_OK;
}

void fr_delta_row_map(const fr_store *base, const fr_delta *d, int64_t *old_to_new, uint64_t *n_new) {
    const uint64_t n = fr_store_info_of(base)->count;
    int64_t next = 0;
    for (uint64_t r = 0; r < n; r++) {
        size_t il;
        const char *id = fr_store_id(base, r, &il);
        fr_delta_item it;
        old_to_new[r] = fr_delta_find(d, id, il, &it) && it.deleted ? FR_ROW_DELETED : next++;
    }
    for (uint64_t i = 0; i < d->count; i++) {
        const entry *e = d->items[i];
        if (!e->deleted && fr_store_find(base, e->id, e->id_len) < 0) next++;
    }
    *n_new = (uint64_t)next;
}

fr_status fr_delta_compact(const fr_store *base, const fr_delta *d, const char *out_path, char *err, size_t errcap) {
    return fr_delta_compact_with(base, d, NULL, out_path, err, errcap);
}

fr_status fr_delta_compact_with(const fr_store *base, const fr_delta *d, const fr_compact_sections *x, const char *out_path,
                                char *err, size_t errcap) {
    const fr_store_info *in = fr_store_info_of(base);
    if (d->dim != in->dim || d->fp != in->model_fingerprint) return fr_fail(FR_ERR_ARG, err, errcap, "compact: the delta was made for another model or dimension");
    const uint64_t seq = x && x->seq > d->seq ? x->seq : d->seq;
    int rows_move = 0;
    for (uint64_t i = 0; i < d->count && !rows_move; i++) {
        const entry *e = d->items[i];
        int64_t row = fr_store_find(base, e->id, e->id_len);
        if (row < 0 ? !e->deleted : e->deleted) rows_move = 1; /* a new id, or a stored one deleted */
    }
    /* row-indexed sections: the base's, or the caller's live priors and their builder's state */
    static const uint32_t derived[3] = {FR_STORE_SECTION_PRIORS, FR_STORE_SECTION_SEQMODEL, FR_STORE_SECTION_PRIORS_STATE};
    const uint8_t *sec[3] = {NULL, NULL, NULL};
    uint64_t sec_n[3] = {0, 0, 0};
    int remap = 0;
    for (int k = 0; k < 3; k++) {
        if (x && x->priors && k != 1) {
            sec[k] = k == 0 ? x->priors : x->priors_state;
            sec_n[k] = k == 0 ? x->priors_len : x->priors_state_len;
        } else {
            fr_store_section(base, derived[k], &sec[k], &sec_n[k]);
        }
        if (sec[k]) remap |= rows_move;
    }
    if (sec[2] && !sec[0]) return fr_fail(FR_ERR_ARG, err, errcap, "compact: a live priors state without its priors section");
    const uint64_t n_added = x && x->priors ? x->n_added : 0;
    if (n_added) remap = 1; /* the live priors hold rows past the base's */
    /* the new store is assembled at out_path.compact.tmp, its sections attached, then validated
     * and renamed over out_path, so that out_path never holds a store without its LIVE section */
    size_t pl = strlen(out_path);
    char *tmp = malloc(pl + 16);
    /* base row -> its row in the new store (the row-indexed sections follow it) */
    int64_t *old_to_new = remap ? malloc(sizeof *old_to_new * (in->count + n_added ? in->count + n_added : 1)) : NULL;
    if (!tmp || (remap && !old_to_new)) {
        free(tmp);
        free(old_to_new);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    snprintf(tmp, pl + 16, "%s.compact.tmp", out_path);
    uint64_t n_new = 0;
    if (old_to_new) fr_delta_row_map(base, d, old_to_new, &n_new);
    fr_store_writer *w;
    float *v = NULL;
    fr_status rc = fr_store_writer_open(tmp, in->dim, in->dtype, in->model_name, in->model_fingerprint, in->has_texts, &w, err, errcap);
    if (rc) {
        free(tmp);
        free(old_to_new);
        return rc;
    }
    v = malloc(sizeof(float) * (size_t)in->dim);
    if (!v) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    for (uint64_t r = 0; r < in->count && !rc; r++) {
        size_t il, tl = 0;
        const char *id = fr_store_id(base, r, &il);
        const char *text = fr_store_text(base, r, &tl);
        fr_delta_item it;
        if (fr_delta_find(d, id, il, &it)) {
            if (it.deleted) continue;
            rc = fr_store_writer_add(w, id, il, it.vector, it.text ? it.text : "", it.text_len, err, errcap);
        } else {
            fr_store_vector(base, r, v);
            rc = fr_store_writer_add(w, id, il, v, text, tl, err, errcap);
        }
    }
    for (uint64_t i = 0; i < d->count && !rc; i++) {
        const entry *e = d->items[i];
        if (e->deleted || fr_store_find(base, e->id, e->id_len) >= 0) continue;
        rc = fr_store_writer_add(w, e->id, e->id_len, e->vec, e->text, e->text_len, err, errcap);
    }
    free(v);
    if (rc) fr_store_writer_abort(w);
    else rc = fr_store_writer_finish(w, err, errcap);
    uint8_t seqb[8];
    fr_wr64(seqb, seq);
    if (!rc) rc = fr_store_attach(tmp, FR_STORE_SECTION_LIVE, seqb, 8, err, errcap);
    /* with rows moved, the row-indexed sections are remapped (priors.h, seqmodel_store.h);
     * otherwise kept byte for byte */
    uint8_t *moved[3] = {NULL, NULL, NULL};
    size_t moved_n[3] = {0, 0, 0};
    if (!rc && remap) rc = remap_sections(tmp, in, old_to_new, n_new, x ? x->added : NULL, n_added, sec, sec_n, out_path, moved, moved_n, err, errcap);
    for (int k = 0; k < 3 && !rc; k++)
        if (sec[k])
            rc = remap ? fr_store_attach(tmp, derived[k], moved[k], moved_n[k], err, errcap)
                       : fr_store_attach(tmp, derived[k], sec[k], (size_t)sec_n[k], err, errcap);
    for (int k = 0; k < 3; k++) free(moved[k]);
    free(old_to_new);
    fr_store *check = NULL;
    if (!rc) rc = fr_store_open(tmp, in->model_fingerprint, 0, &check, err, errcap);
    if (!rc && (fr_store_live_seq(check) != seq))
        rc = fr_fail(FR_ERR_VERIFY, err, errcap, "compact: %s does not read back as written", tmp);
    if (!rc) rc = check_sections(check, out_path, err, errcap);
    fr_store_close(check);
    if (!rc && rename(tmp, out_path) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot rename into place", out_path);
    if (!rc) { /* the rename must be on disk before the caller truncates the log */
        char *dir = strdup(out_path);
        int fd = dir ? open(dirname(dir), O_RDONLY | O_DIRECTORY) : -1;
        if (fd < 0 || fsync(fd) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot sync its directory", out_path);
        if (fd >= 0) close(fd);
        free(dir);
    }
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}

fr_status fr_delta_replay_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    fr_delta_replay *r = ctx;
    if (seq <= r->base_seq) return FR_OK;                           /* already folded into the store */
    if (fr_record_kind(rec, len) == FR_RECORD_EVENTS) return FR_OK; /* not the catalogue's (live_priors.h) */
    fr_delta *n;
    char e2[512];
    fr_status rc = fr_delta_apply(r->cur, rec, len, seq, &n, e2, sizeof e2);
    if (rc) return fr_fail(rc, err, errcap, "log record %llu: %s", (unsigned long long)seq, e2);
    fr_delta_unref(r->cur);
    r->cur = n;
    return FR_OK;
}

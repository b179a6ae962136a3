/* seqmodel_store.c - the trained model's bytes (see seqmodel_store.h).
 *
 * The header is fixed-size with every field at a fixed offset (the table below), so a reader
 * never trusts a length from the file to find the next field; the one variable part, the
 * parameters, has its size computed from the validated configuration, not read. */
#include "seqmodel_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hash.h"

#define MAGIC "FRSEQM01"
#define VERSION 1u
#define IDS_SEED 0x5e9d0c5ULL

/* header offsets */
enum {
    O_MAGIC = 0,
    O_VERSION = 8,
    O_HSIZE = 12,
    O_NPARAMS = 16,
    O_CFG = 24,      /* 7 x i32 (n_items, d, max_len, n_layers, n_heads, d_text, d_ff), f32 dropout */
    O_STORE = 56,    /* u64 n_items, u32 dim, u32 0, u64 ids_hash, char name[64] */
    O_HYPER = 144,   /* f32 lr, f32 wd, i32 batch, n_neg, patience, max_epochs, val_percent, val_negatives, u64 seed */
    O_PROV = 184,    /* u64 log_hash, log_bytes, users, events, unknown, train_sequences, val_users */
    O_EPOCHS = 240,  /* i32 epochs_run, best_epoch */
    O_METRICS = 248, /* f64 best_ndcg, best_hr, best_loss */
    O_CREATED = 272, /* u64 */
    O_LOGPATH = 280, /* char[256] */
    O_END = 536      /* [O_END, FR_SEQ_HEADER_SIZE) reserved, zero */
};

void fr_seq_store_key_of(const fr_store *s, const char *label, fr_seq_store_key *k) {
    fr_seq_store_key_prefix(s, fr_store_info_of(s)->count, label, k);
}

void fr_seq_store_key_prefix(const fr_store *s, uint64_t n, const char *label, fr_seq_store_key *k) {
    const fr_store_info *in = fr_store_info_of(s);
    memset(k, 0, sizeof *k);
    if (n > in->count) n = in->count;
    k->n_items = n;
    k->dim = (uint32_t)in->dim;
    uint64_t h = IDS_SEED;
    for (uint64_t r = 0; r < n; r++) {
        size_t len;
        const char *id = fr_store_id(s, r, &len);
        const uint32_t l32 = (uint32_t)len;
        h = fr_hash64(&l32, 4, h); /* the length keeps ("ab","c") apart from ("a","bc") */
        h = fr_hash64(id, len, h);
    }
    k->ids_hash = h;
    const char *base = label ? strrchr(label, '/') : NULL;
    snprintf(k->name, sizeof k->name, "%s", base ? base + 1 : label ? label
                                                                    : "");
}

/* The parameter count of cfg within the loadable limits, or a message why not. */
static fr_status check_config(const fr_seq_config *c, size_t *n_params, const char *label, char *err, size_t errcap) {
    char why[256];
    fr_seq_tensor lay[FR_SEQ_NTENSORS];
    if (fr_seq_layout(c, lay, n_params, why, sizeof why))
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model configuration is invalid (%s)", label, why);
    if (c->max_len > FR_SEQ_LOAD_MAX_LEN || c->n_layers > FR_SEQ_LOAD_MAX_LAYERS || c->n_heads > FR_SEQ_LOAD_MAX_HEADS ||
        c->d > FR_SEQ_LOAD_MAX_WIDTH || c->d_ff > 4 * FR_SEQ_LOAD_MAX_WIDTH || c->d_text > 2 * FR_SEQ_LOAD_MAX_WIDTH)
        return fr_fail(FR_ERR_FORMAT, err, errcap,
                       "%s: model sizes beyond what can be loaded (window %d <= %d, blocks %d <= %d, heads %d <= %d, width %d <= %d)",
                       label, c->max_len, FR_SEQ_LOAD_MAX_LEN, c->n_layers, FR_SEQ_LOAD_MAX_LAYERS, c->n_heads,
                       FR_SEQ_LOAD_MAX_HEADS, c->d, FR_SEQ_LOAD_MAX_WIDTH);
    return FR_OK;
}

fr_status fr_seq_section_build(const fr_seq_meta *meta, const float *params, size_t n_params, uint8_t **data,
                               size_t *size, char *err, size_t errcap) {
    *data = NULL;
    *size = 0;
    size_t want;
    fr_status rc = check_config(&meta->cfg, &want, "seqmodel", err, errcap);
    if (rc) return rc;
    if (want != n_params)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: %zu parameters given, the configuration has %zu", n_params, want);
    if ((uint64_t)meta->cfg.n_items != meta->store.n_items || (uint32_t)meta->cfg.d_text != meta->store.dim)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: configuration (%d items, text dim %d) does not match its store (%llu items, dim %u)",
                       meta->cfg.n_items, meta->cfg.d_text, (unsigned long long)meta->store.n_items, meta->store.dim);
    const size_t total = FR_SEQ_HEADER_SIZE + n_params * sizeof(float) + 8;
    uint8_t *b = calloc(1, total);
    if (!b) return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory for a %zu-byte model", total);
    const fr_seq_config *c = &meta->cfg;
    memcpy(b + O_MAGIC, MAGIC, 8);
    fr_wr32(b + O_VERSION, VERSION);
    fr_wr32(b + O_HSIZE, FR_SEQ_HEADER_SIZE);
    fr_wr64(b + O_NPARAMS, n_params);
    const int32_t dims[7] = {c->n_items, c->d, c->max_len, c->n_layers, c->n_heads, c->d_text, c->d_ff};
    for (int i = 0; i < 7; i++) fr_wr32(b + O_CFG + 4 * i, (uint32_t)dims[i]);
    fr_wrf32(b + O_CFG + 28, c->dropout);
    fr_wr64(b + O_STORE, meta->store.n_items);
    fr_wr32(b + O_STORE + 8, meta->store.dim);
    fr_wr64(b + O_STORE + 16, meta->store.ids_hash);
    memcpy(b + O_STORE + 24, meta->store.name, strnlen(meta->store.name, 63));
    fr_wrf32(b + O_HYPER, meta->lr);
    fr_wrf32(b + O_HYPER + 4, meta->weight_decay);
    const int32_t hp[6] = {meta->batch, meta->n_neg, meta->patience, meta->max_epochs, meta->val_percent, meta->val_negatives};
    for (int i = 0; i < 6; i++) fr_wr32(b + O_HYPER + 8 + 4 * i, (uint32_t)hp[i]);
    fr_wr64(b + O_HYPER + 32, meta->seed);
    const uint64_t pv[7] = {meta->log_hash, meta->log_bytes, meta->users, meta->events, meta->unknown_items,
                            meta->train_sequences, meta->val_users};
    for (int i = 0; i < 7; i++) fr_wr64(b + O_PROV + 8 * i, pv[i]);
    fr_wr32(b + O_EPOCHS, (uint32_t)meta->epochs_run);
    fr_wr32(b + O_EPOCHS + 4, (uint32_t)meta->best_epoch);
    fr_wrf64(b + O_METRICS, meta->best_ndcg);
    fr_wrf64(b + O_METRICS + 8, meta->best_hr);
    fr_wrf64(b + O_METRICS + 16, meta->best_loss);
    fr_wr64(b + O_CREATED, meta->created_unix);
    memcpy(b + O_LOGPATH, meta->log_path, strnlen(meta->log_path, 255));
    memcpy(b + FR_SEQ_HEADER_SIZE, params, n_params * sizeof(float));
    fr_wr64(b + total - 8, fr_hash64(b, total - 8, 0));
    *data = b;
    *size = total;
    return FR_OK;
}

/* A fixed-size text field: NUL-terminated inside its bytes, and 0 after the NUL. */
static int text_ok(const uint8_t *p, size_t cap) {
    const uint8_t *nul = memchr(p, 0, cap);
    if (!nul) return 0;
    for (const uint8_t *q = nul; q < p + cap; q++)
        if (*q) return 0;
    return 1;
}

fr_status fr_seq_section_parse(const uint8_t *data, size_t size, const char *label, fr_seq_meta *meta,
                               const uint8_t **params, char *err, size_t errcap) {
    memset(meta, 0, sizeof *meta);
    *params = NULL;
    if (size < FR_SEQ_HEADER_SIZE + 8)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model section is truncated (%zu bytes, the header alone is %d)", label, size,
                       FR_SEQ_HEADER_SIZE + 8);
    if (memcmp(data + O_MAGIC, MAGIC, 8) != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a feedrank sequential model (bad magic)", label);
    if (fr_rd32(data + O_VERSION) != VERSION)
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: model format version %u (this build reads %u)", label, fr_rd32(data + O_VERSION), VERSION);
    if (fr_rd32(data + O_HSIZE) != FR_SEQ_HEADER_SIZE) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model header size %u is not %d", label, fr_rd32(data + O_HSIZE), FR_SEQ_HEADER_SIZE);
    /* the size first, so that a truncated model is named as such rather than as a bad checksum */
    const uint64_t np = fr_rd64(data + O_NPARAMS);
    if (np > (size - FR_SEQ_HEADER_SIZE - 8) / sizeof(float) || FR_SEQ_HEADER_SIZE + np * sizeof(float) + 8 != size)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model section is truncated or has trailing bytes (%zu bytes; %llu parameters need %llu)", label,
                       size, (unsigned long long)np,
                       np < ((uint64_t)1 << 60) ? (unsigned long long)(FR_SEQ_HEADER_SIZE + np * 4 + 8) : 0ULL);
    if (fr_hash64(data, size - 8, 0) != fr_rd64(data + size - 8))
        return fr_fail(FR_ERR_VERIFY, err, errcap, "%s: model checksum mismatch (corrupt)", label);
    fr_seq_config *c = &meta->cfg;
    c->n_items = fr_rdi32(data + O_CFG);
    c->d = fr_rdi32(data + O_CFG + 4);
    c->max_len = fr_rdi32(data + O_CFG + 8);
    c->n_layers = fr_rdi32(data + O_CFG + 12);
    c->n_heads = fr_rdi32(data + O_CFG + 16);
    c->d_text = fr_rdi32(data + O_CFG + 20);
    c->d_ff = fr_rdi32(data + O_CFG + 24);
    c->dropout = fr_rdf32(data + O_CFG + 28);
    size_t want;
    fr_status rc = check_config(c, &want, label, err, errcap);
    if (rc) return rc;
    if (want != np) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %llu parameters, the configuration has %zu", label, (unsigned long long)np, want);
    meta->store.n_items = fr_rd64(data + O_STORE);
    meta->store.dim = fr_rd32(data + O_STORE + 8);
    meta->store.ids_hash = fr_rd64(data + O_STORE + 16);
    if (fr_rd32(data + O_STORE + 12) || !text_ok(data + O_STORE + 24, 64) || !text_ok(data + O_LOGPATH, 256))
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model header has malformed text or reserved fields", label);
    memcpy(meta->store.name, data + O_STORE + 24, 64);
    memcpy(meta->log_path, data + O_LOGPATH, 256);
    for (size_t i = O_END; i < FR_SEQ_HEADER_SIZE; i++)
        if (data[i]) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model header byte %zu is reserved and not 0", label, i);
    if (meta->store.n_items != (uint64_t)c->n_items || meta->store.dim != (uint32_t)c->d_text)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model has %d items of text dim %d but says its store has %llu of dim %u", label,
                       c->n_items, c->d_text, (unsigned long long)meta->store.n_items, meta->store.dim);
    meta->lr = fr_rdf32(data + O_HYPER);
    meta->weight_decay = fr_rdf32(data + O_HYPER + 4);
    int32_t *hp[6] = {&meta->batch, &meta->n_neg, &meta->patience, &meta->max_epochs, &meta->val_percent, &meta->val_negatives};
    for (int i = 0; i < 6; i++) *hp[i] = fr_rdi32(data + O_HYPER + 8 + 4 * i);
    meta->seed = fr_rd64(data + O_HYPER + 32);
    uint64_t *pv[7] = {&meta->log_hash, &meta->log_bytes, &meta->users, &meta->events, &meta->unknown_items,
                       &meta->train_sequences, &meta->val_users};
    for (int i = 0; i < 7; i++) *pv[i] = fr_rd64(data + O_PROV + 8 * i);
    meta->epochs_run = fr_rdi32(data + O_EPOCHS);
    meta->best_epoch = fr_rdi32(data + O_EPOCHS + 4);
    meta->best_ndcg = fr_rdf64(data + O_METRICS);
    meta->best_hr = fr_rdf64(data + O_METRICS + 8);
    meta->best_loss = fr_rdf64(data + O_METRICS + 16);
    meta->created_unix = fr_rd64(data + O_CREATED);
    if (!(meta->lr >= 0 && meta->lr < 1e30f) || !(meta->weight_decay >= 0 && meta->weight_decay < 1e30f) || meta->batch < 0 ||
        meta->n_neg < 0 || meta->patience < 0 || meta->max_epochs < 0 || meta->val_percent < 0 || meta->val_percent > 100 ||
        meta->val_negatives < 0 || meta->epochs_run < 0 || meta->best_epoch < 0 || meta->best_epoch > meta->epochs_run ||
        !(meta->best_ndcg >= 0 && meta->best_ndcg <= 1) || !(meta->best_hr >= 0 && meta->best_hr <= 1) || !isfinite(meta->best_loss))
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model hyper-parameters or metrics out of range", label);
    const uint8_t *p = data + FR_SEQ_HEADER_SIZE;
    for (uint64_t i = 0; i < np; i++) /* a NaN would silently poison every score it reaches */
        if (!isfinite(fr_rdf32(p + 4 * i))) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: parameter %llu is not finite", label, (unsigned long long)i);
    *params = p;
    return FR_OK;
}

fr_status fr_seq_section_load(const uint8_t *data, size_t size, const char *label, const fr_seq_store_key *want,
                              fr_seq_model **out, fr_seq_meta *meta, char *err, size_t errcap) {
    *out = NULL;
    const uint8_t *params;
    fr_status rc = fr_seq_section_parse(data, size, label, meta, &params, err, errcap);
    if (rc) return rc;
    const fr_seq_store_key *k = &meta->store;
    if (want && (k->n_items != want->n_items || k->dim != want->dim || k->ids_hash != want->ids_hash))
        return fr_fail(FR_ERR_VERIFY, err, errcap,
                       "%s: the model was made for another store: '%s' (%llu items, dim %u, ids %016llx), not '%s' (%llu items, dim %u, ids %016llx); retrain it on this store",
                       label, k->name, (unsigned long long)k->n_items, k->dim, (unsigned long long)k->ids_hash, want->name,
                       (unsigned long long)want->n_items, want->dim, (unsigned long long)want->ids_hash);
    fr_seq_model *m;
    if ((rc = fr_seq_create_forward(&meta->cfg, 1, &m, err, errcap))) return rc;
    memcpy(fr_seq_params(m), params, fr_seq_num_params(m) * sizeof(float));
    *out = m;
    return FR_OK;
}

/* The store's model section parsed (meta, *params) and checked against the store: it must cover
 * the store's first meta->store.n_items rows (all of them, or fewer after a compaction added items). */
static fr_status section_of_store(const fr_store *store, const char *label, fr_seq_meta *meta, const uint8_t **data,
                                  uint64_t *size, const uint8_t **params, char *err, size_t errcap) {
    if (!fr_store_section(store, FR_STORE_SECTION_SEQMODEL, data, size))
        return fr_fail(FR_ERR_NOT_FOUND, err, errcap, "%s: the store has no sequential model (train one with feedrank train)", label);
    fr_status rc = fr_seq_section_parse(*data, (size_t)*size, label, meta, params, err, errcap);
    if (rc) return rc;
    const fr_seq_store_key *m = &meta->store;
    fr_seq_store_key k;
    fr_seq_store_key_prefix(store, m->n_items, label, &k);
    if (m->n_items != k.n_items || m->dim != k.dim || m->ids_hash != k.ids_hash) {
        fr_seq_store_key_of(store, label, &k);
        return fr_fail(FR_ERR_VERIFY, err, errcap,
                       "%s: the model was made for another store: '%s' (%llu items, dim %u, ids %016llx), not '%s' (%llu items, dim %u, ids %016llx); retrain it on this store",
                       label, m->name, (unsigned long long)m->n_items, m->dim, (unsigned long long)m->ids_hash, k.name,
                       (unsigned long long)k.n_items, k.dim, (unsigned long long)k.ids_hash);
    }
    return FR_OK;
}

fr_status fr_seq_of_store(const fr_store *store, const char *label, fr_seq_model **out, fr_seq_meta *meta, char *err,
                          size_t errcap) {
    *out = NULL;
    const uint8_t *data, *params;
    uint64_t size;
    fr_status rc = section_of_store(store, label, meta, &data, &size, &params, err, errcap);
    if (rc) return rc;
    fr_seq_model *m;
    if ((rc = fr_seq_create_forward(&meta->cfg, 1, &m, err, errcap))) return rc;
    memcpy(fr_seq_params(m), params, fr_seq_num_params(m) * sizeof(float));
    *out = m;
    return FR_OK;
}

fr_status fr_seq_section_remap(const uint8_t *data, size_t size, const int64_t *old_to_new, uint64_t n_old,
                               const fr_store *new_store, const char *label, uint8_t **out, size_t *out_size, char *err,
                               size_t errcap) {
    *out = NULL;
    *out_size = 0;
    fr_seq_meta meta;
    const uint8_t *params;
    fr_status rc = fr_seq_section_parse(data, size, "seqmodel remap", &meta, &params, err, errcap);
    if (rc) return rc;
    const uint64_t N = (uint64_t)meta.cfg.n_items, n_new = fr_store_info_of(new_store)->count;
    if (n_old < N) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel remap: the map covers %llu rows, the model knows %llu", (unsigned long long)n_old, (unsigned long long)N);
    if ((uint32_t)fr_store_info_of(new_store)->dim != meta.store.dim)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel remap: the new store's dimension %d is not the model's %u", fr_store_info_of(new_store)->dim, meta.store.dim);
    uint64_t keep = 0;
    for (uint64_t r = 0; r < N; r++) keep += old_to_new[r] != FR_ROW_DELETED;
    if (keep == 0)
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "seqmodel remap: every item the sequential model knows is deleted; retrain it (feedrank train)");
    /* the model's items must stay the new store's first rows, in any order: kept model rows fill
     * 0..keep-1 exactly, and every other row lands after them */
    uint8_t *hit = calloc(keep, 1);
    if (!hit) return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel remap: out of memory");
    for (uint64_t r = 0; r < n_old && !rc; r++) {
        const int64_t to = old_to_new[r];
        if (to == FR_ROW_DELETED) continue;
        if (to < 0 || (uint64_t)to >= n_new)
            rc = fr_fail(FR_ERR_ARG, err, errcap, "seqmodel remap: row %llu maps to %lld, outside the new store's %llu rows", (unsigned long long)r, (long long)to, (unsigned long long)n_new);
        else if (r < N && ((uint64_t)to >= keep || hit[to]++))
            rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "seqmodel remap: the model's items must stay the store's first rows (row %llu maps to %lld)", (unsigned long long)r, (long long)to);
        else if (r >= N && (uint64_t)to < keep)
            rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "seqmodel remap: row %llu, unknown to the model, maps among its items (to %lld)", (unsigned long long)r, (long long)to);
    }
    free(hit);
    if (rc) return rc;
    fr_seq_config cfg = meta.cfg;
    cfg.n_items = (int)keep;
    fr_seq_tensor lo[FR_SEQ_NTENSORS], ln[FR_SEQ_NTENSORS];
    size_t n_lo, n_ln;
    if ((rc = fr_seq_layout(&meta.cfg, lo, &n_lo, err, errcap)) || (rc = fr_seq_layout(&cfg, ln, &n_ln, err, errcap))) return rc;
    float *p = malloc(n_ln * sizeof *p);
    if (!p) return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel remap: out of memory for %zu parameters", n_ln);
    const size_t C = (size_t)cfg.d;
    for (int t = 0; t < FR_SEQ_NTENSORS; t++) {
        if (t == FR_SEQ_E) { /* id vectors move with their rows; a deleted item's goes */
            for (uint64_t r = 0; r < N; r++)
                if (old_to_new[r] != FR_ROW_DELETED)
                    for (size_t c = 0; c < C; c++) p[ln[t].offset + (size_t)old_to_new[r] * C + c] = fr_rdf32(params + 4 * (lo[t].offset + r * C + c));
            continue;
        }
        for (size_t i = 0; i < ln[t].count; i++) p[ln[t].offset + i] = fr_rdf32(params + 4 * (lo[t].offset + i));
    }
    meta.cfg = cfg;
    fr_seq_store_key_prefix(new_store, keep, label, &meta.store);
    rc = fr_seq_section_build(&meta, p, n_ln, out, out_size, err, errcap);
    free(p);
    return rc;
}

/* fr_seq_text_rows over an item store: its fp32 rows, or any store's rows converted one by one */
static void store_text_rows(void *ctx, int64_t first, int count, float *out) {
    const fr_store *s = ctx;
    const int dim = fr_store_info_of(s)->dim;
    const float *f = fr_store_vectors_f32(s);
    if (f) {
        memcpy(out, f + (size_t)first * dim, (size_t)count * dim * sizeof(float));
        return;
    }
    for (int i = 0; i < count; i++) fr_store_vector(s, (uint64_t)(first + i), out + (size_t)i * dim);
}

fr_status fr_seq_server_of_store(const fr_store *store, const char *label, fr_seq_server **out, fr_seq_meta *meta,
                                 char *err, size_t errcap) {
    *out = NULL;
    const uint8_t *data, *params;
    uint64_t size;
    fr_status rc = section_of_store(store, label, meta, &data, &size, &params, err, errcap);
    if (rc) return rc;
    size_t n;
    fr_seq_tensor lay[FR_SEQ_NTENSORS];
    if ((rc = fr_seq_layout(&meta->cfg, lay, &n, err, errcap))) return rc;
    float *p = malloc(n * sizeof(float) + 1); /* the section's bytes are unaligned little-endian */
    if (!p) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for the model's parameters", label);
    for (size_t i = 0; i < n; i++) p[i] = fr_rdf32(params + 4 * i);
    rc = fr_seq_server_create(&meta->cfg, p, store_text_rows, (void *)store, out, err, errcap);
    free(p);
    return rc;
}

fr_status fr_seq_file_hash(const char *path, uint64_t *hash, uint64_t *bytes, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = malloc(1 << 16);
    if (!buf) {
        fclose(f);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
    }
    uint64_t h = 0, n = 0;
    size_t got;
    while ((got = fread(buf, 1, 1 << 16, f)) > 0) {
        h = fr_hash64(buf, got, h);
        n += got;
    }
    fr_status rc = ferror(f) ? fr_fail(FR_ERR_IO, err, errcap, "%s: read error", path) : FR_OK;
    free(buf);
    fclose(f);
    *hash = h;
    *bytes = n;
    return rc;
}

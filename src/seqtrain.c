/* seqtrain.c - histories, split, validation and run checkpoints for `feedrank train` (see seqtrain.h). */
#include "seqtrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hash.h"
#include "hash.h"

#define USER_SEED 0x75e25eedULL
#define CKPT_MAGIC "FRSEQCK1"
#define CKPT_VERSION 1u
#define CKPT_HEADER 48
#define MAX_EPOCHS 100000

/* ---------------------------------------------------------------- histories */

typedef struct {
    uint64_t user;
    double ts;
    uint64_t seq; /* position in the log: ties of timestamps keep the log's order */
    int32_t row;
} event;

typedef struct {
    event *ev;
    size_t n, cap;
} event_list;

static fr_status add_event(void *ctx, const char *user, size_t ul, uint32_t row, double ts, double w, char *err,
                           size_t errcap) {
    (void)w; /* the model learns order, not weights */
    event_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        event *e = realloc(l->ev, cap * sizeof *e);
        if (!e) return fr_fail(FR_ERR_NOMEM, err, errcap, "train: out of memory after %zu events", l->n);
        l->ev = e;
        l->cap = cap;
    }
    l->ev[l->n] = (event){fr_hash64(user, ul, USER_SEED), ts, l->n, (int32_t)row};
    l->n++;
    return FR_OK;
}

static int by_user_time(const void *a, const void *b) {
    const event *x = a, *y = b;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

fr_status fr_seq_histories_read(FILE *f, const char *label, fr_log_format fmt, const fr_store *store, uint64_t max_bad,
                                fr_seq_histories *h, char *err, size_t errcap) {
    memset(h, 0, sizeof *h);
    event_list l = {0};
    fr_status rc = fr_log_read(f, label, fmt, store, max_bad, add_event, &l, &h->stats, err, errcap);
    if (!rc && l.n > (size_t)INT32_MAX) rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: more than 2^31 events", label);
    if (rc) {
        free(l.ev);
        return rc;
    }
    if (l.n) qsort(l.ev, l.n, sizeof *l.ev, by_user_time);
    size_t users = 0;
    for (size_t i = 0; i < l.n; i++) users += i == 0 || l.ev[i].user != l.ev[i - 1].user;
    h->off = malloc((users + 1) * sizeof *h->off);
    h->items = malloc((l.n + 1) * sizeof *h->items);
    h->user = malloc((users + 1) * sizeof *h->user);
    if (!h->off || !h->items || !h->user) {
        free(l.ev);
        fr_seq_histories_free(h);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "train: out of memory for %zu events", l.n);
    }
    int u = -1;
    for (size_t i = 0; i < l.n; i++) {
        if (i == 0 || l.ev[i].user != l.ev[i - 1].user) {
            h->off[++u] = (int64_t)i;
            h->user[u] = l.ev[i].user;
        }
        h->items[i] = l.ev[i].row;
    }
    h->n_users = (int)users;
    h->off[users] = (int64_t)l.n;
    h->stats.users = users;
    free(l.ev);
    return FR_OK;
}

void fr_seq_histories_free(fr_seq_histories *h) {
    free(h->off);
    free(h->items);
    free(h->user);
    memset(h, 0, sizeof *h);
}

/* ---------------------------------------------------------------- split */

fr_status fr_seq_split_make(const fr_seq_histories *h, int val_percent, uint64_t seed, fr_seq_split *s, char *err,
                            size_t errcap) {
    memset(s, 0, sizeof *s);
    if (val_percent < 0 || val_percent > 100) return fr_fail(FR_ERR_ARG, err, errcap, "train: validation percent %d not in 0..100", val_percent);
    const int n = h->n_users;
    s->off = malloc(((size_t)n + 1) * sizeof *s->off);
    s->items = malloc(((size_t)h->off[n] + 1) * sizeof *s->items);
    s->val_seq = malloc(((size_t)n + 1) * sizeof *s->val_seq);
    s->val_target = malloc(((size_t)n + 1) * sizeof *s->val_target);
    if (!s->off || !s->items || !s->val_seq || !s->val_target) {
        fr_seq_split_free(s);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "train: out of memory for %d users", n);
    }
    int64_t at = 0;
    for (int u = 0; u < n; u++) {
        const int64_t a = h->off[u], len = h->off[u + 1] - a;
        const int val = len >= 2 && fr_hash64(&h->user[u], 8, seed) % 100 < (uint64_t)val_percent;
        const int64_t keep = val ? len - 1 : len;
        s->off[u] = at;
        memcpy(s->items + at, h->items + a, (size_t)keep * sizeof *s->items);
        at += keep;
        if (val) {
            s->val_seq[s->n_val] = u;
            s->val_target[s->n_val++] = h->items[a + len - 1];
        }
        s->trainable += keep >= 2;
    }
    s->off[n] = at;
    s->train = (fr_seq_data){.n_seq = n, .off = s->off, .items = s->items};
    return FR_OK;
}

void fr_seq_split_free(fr_seq_split *s) {
    free(s->off);
    free(s->items);
    free(s->val_seq);
    free(s->val_target);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- validation */

fr_status fr_seq_validate(fr_seq_model *m, const fr_seq_split *s, const float *text, int val_negatives, uint64_t seed,
                          float *V, double *ndcg, double *hr, char *err, size_t errcap) {
    const fr_seq_config *c = fr_seq_config_of(m);
    const int N = c->n_items, C = c->d, T = c->max_len, Dt = c->d_text, bmax = fr_seq_max_batch(m);
    *ndcg = *hr = 0.0;
    if (s->n_val == 0) return FR_OK;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) fr_seq_item_vector(m, i, text + (size_t)i * Dt, V + (size_t)i * C);
    int32_t *win = malloc((size_t)bmax * T * sizeof *win);
    if (!win) return fr_fail(FR_ERR_NOMEM, err, errcap, "train: out of memory for validation");
    double sum_ndcg = 0.0, sum_hr = 0.0;
    fr_status rc = FR_OK;
    for (int first = 0; first < s->n_val && !rc; first += bmax) {
        const int nb = s->n_val - first < bmax ? s->n_val - first : bmax;
        for (int k = 0; k < nb; k++) { /* the newest T items of the history, left-padded */
            const int u = s->val_seq[first + k];
            const int64_t a = s->off[u], e = s->off[u + 1], len = e - a < T ? e - a : T;
            int32_t *w = win + (size_t)k * T;
            for (int t = 0; t < T - len; t++) w[t] = FR_SEQ_PAD;
            memcpy(w + T - len, s->items + e - len, (size_t)len * sizeof *w);
        }
        float loss;
        const fr_seq_batch b = {.B = nb, .items = win, .text = text};
        if ((rc = fr_seq_forward(m, &b, &loss, err, errcap))) break;
        const float *st = fr_seq_states(m);
        for (int k = 0; k < nb && !rc; k++) {
            const int i = first + k;
            const float *u = st + ((size_t)k * T + T - 1) * C;
            const int32_t y = s->val_target[i];
            float target = 0.0f;
            for (int q = 0; q < C; q++) target += u[q] * V[(size_t)y * C + q];
            /* a NaN state would compare false with every negative and score a perfect rank */
            if (!isfinite(target)) {
                rc = fr_fail(FR_ERR_ARG, err, errcap, "validation score of user %d is %g (the model diverged)", i, (double)target);
                break;
            }
            int rank = 0;
            for (int j = 0; j < val_negatives; j++) {
                int32_t neg = y;
                for (uint64_t tries = 0; neg == y && tries < 64; tries++)
                    neg = (int32_t)(fr_uniform3(seed, (uint64_t)i, (uint64_t)j * 64 + tries) * N);
                if (neg == y) continue; /* a one-item store has no negative */
                float sc = 0.0f;
                for (int q = 0; q < C; q++) sc += u[q] * V[(size_t)neg * C + q];
                rank += !(sc < target); /* ties (and a NaN) count against the target */
            }
            if (rank < 10) {
                sum_ndcg += 1.0 / log2(rank + 2.0);
                sum_hr += 1.0;
            }
        }
    }
    free(win);
    *ndcg = sum_ndcg / s->n_val;
    *hr = sum_hr / s->n_val;
    return rc;
}

/* ---------------------------------------------------------------- checkpoints */

/* layout: magic | u32 version, 0 | u64 settings | u64 n_params | u32 epochs_done, best_epoch,
 * bad_epochs, AdamW steps | records f64[4 x epochs_done] | params, moment 1, moment 2, best
 * (f32[n] each) | u64 fr_hash64 of everything before */
fr_status fr_seq_run_save(const fr_seq_run *r, fr_seq_model *m, uint8_t **data, size_t *size, char *err, size_t errcap) {
    const size_t n = fr_seq_num_params(m), rec = (size_t)r->epochs_done * sizeof(fr_seq_epoch_record);
    const size_t total = CKPT_HEADER + rec + 4 * n * sizeof(float) + 8;
    uint8_t *b = calloc(1, total);
    if (!b) return fr_fail(FR_ERR_NOMEM, err, errcap, "train: out of memory for a %zu-byte checkpoint", total);
    memcpy(b, CKPT_MAGIC, 8);
    fr_wr32(b + 8, CKPT_VERSION);
    fr_wr64(b + 16, r->settings);
    fr_wr64(b + 24, n);
    fr_wr32(b + 32, (uint32_t)r->epochs_done);
    fr_wr32(b + 36, (uint32_t)r->best_epoch);
    fr_wr32(b + 40, (uint32_t)r->bad_epochs);
    fr_wr32(b + 44, (uint32_t)fr_seq_adam_steps(m));
    uint8_t *p = b + CKPT_HEADER;
    if (rec) memcpy(p, r->record, rec);
    p += rec;
    const float *arrays[4] = {fr_seq_params(m), fr_seq_adam_moments(m, 0), fr_seq_adam_moments(m, 1), r->best};
    for (int a = 0; a < 4; a++, p += n * sizeof(float)) memcpy(p, arrays[a], n * sizeof(float));
    fr_wr64(p, fr_hash64(b, total - 8, 0));
    *data = b;
    *size = total;
    return FR_OK;
}

fr_status fr_seq_run_load(const uint8_t *data, size_t size, const char *label, uint64_t settings, fr_seq_model *m,
                          fr_seq_run *r, char *err, size_t errcap) {
    const size_t n = fr_seq_num_params(m);
    if (size < CKPT_HEADER + 8 || memcmp(data, CKPT_MAGIC, 8) != 0)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a feedrank train checkpoint (or truncated)", label);
    if (fr_rd32(data + 8) != CKPT_VERSION) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: checkpoint version %u", label, fr_rd32(data + 8));
    const uint32_t done = fr_rd32(data + 32), best = fr_rd32(data + 36), bad = fr_rd32(data + 40);
    if (done > MAX_EPOCHS || best > done || bad > done || fr_rd64(data + 24) != n)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: checkpoint header is inconsistent (%u epochs, best %u, %llu parameters; this model has %zu)",
                       label, done, best, (unsigned long long)fr_rd64(data + 24), n);
    const size_t rec = (size_t)done * sizeof(fr_seq_epoch_record), total = CKPT_HEADER + rec + 4 * n * sizeof(float) + 8;
    if (size != total) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: checkpoint is truncated or has trailing bytes (%zu bytes, %zu expected)", label, size, total);
    if (fr_hash64(data, size - 8, 0) != fr_rd64(data + size - 8)) return fr_fail(FR_ERR_VERIFY, err, errcap, "%s: checkpoint checksum mismatch (corrupt)", label);
    if (fr_rd64(data + 16) != settings)
        return fr_fail(FR_ERR_ARG, err, errcap, "%s: the checkpoint is of another run (other settings, log or store)", label);
    float *best_p = malloc(n * sizeof(float) + 1);
    fr_seq_epoch_record *recs = malloc(rec + 1);
    if (!best_p || !recs) {
        free(best_p);
        free(recs);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
    }
    const uint8_t *p = data + CKPT_HEADER;
    memcpy(recs, p, rec);
    p += rec;
    float *arrays[4] = {fr_seq_params(m), fr_seq_adam_moments(m, 0), fr_seq_adam_moments(m, 1), best_p};
    for (int a = 0; a < 4; a++, p += n * sizeof(float)) memcpy(arrays[a], p, n * sizeof(float));
    fr_seq_set_adam_steps(m, (long)fr_rd32(data + 44));
    fr_seq_run_free(r);
    r->settings = settings;
    r->epochs_done = (int)done;
    r->best_epoch = (int)best;
    r->bad_epochs = (int)bad;
    r->record = recs;
    r->best = best_p;
    return FR_OK;
}

void fr_seq_run_free(fr_seq_run *r) {
    free(r->record);
    free(r->best);
    r->record = NULL;
    r->best = NULL;
}

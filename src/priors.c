/* priors.c - popularity and co-visitation from an interaction log (see priors.h). */
#define _GNU_SOURCE /* getline */
#include "priors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "recbole.h"
#include "hash.h"

#define MAGIC "FRPRIOR1"
#define VERSION 1
#define HEADER 96
#define MAX_LINE (1u << 20)

void fr_priors_params_default(fr_priors_params *p) {
    p->window = 10;
    p->half_life = 0;
    p->capacity = 1000; /* measured: 100 lost a fifth of co-visitation's NDCG on Games (bench/RESULTS.md) */
}

/* ---------------------------------------------------------------- decayed values */

/* A sum of decayed terms, expressed at time t: value(T) = v * 0.5^((T - t) / half_life). */
typedef struct {
    double v, t;
} decayed;

static double at_time(decayed d, double T, double hl) { return hl > 0 && d.v != 0 ? d.v * exp2(-(T - d.t) / hl) : d.v; }

/* Orders decayed values as their values at any one common time would be ordered. */
static double decayed_key(decayed d, double hl) { return hl > 0 ? (d.v > 0 ? log2(d.v) + d.t / hl : -INFINITY) : d.v; }

static void decayed_add(decayed *d, double w, double ts, double hl) {
    if (hl <= 0) {
        d->v += w;
        return;
    }
    if (d->v == 0) {
        d->v = w;
        d->t = ts;
        return;
    }
    if (ts >= d->t) {
        d->v = d->v * exp2(-(ts - d->t) / hl) + w;
        d->t = ts;
    } else {
        d->v += w * exp2(-(d->t - ts) / hl);
    }
}

/* ---------------------------------------------------------------- builder */

typedef struct {
    uint32_t row;
    decayed w;
} neighbour;
typedef struct {
    uint32_t n, cap;
    neighbour *e;
} neighbours;

typedef struct {
    uint32_t key_off, key_len;
    uint32_t head, count; /* ring of the last `window` rows */
} user_state;

struct fr_priors_builder {
    fr_priors_params p;
    uint64_t n_items, items_cap; /* rows, and rows the per-item arrays have room for */
    decayed *pop;
    uint32_t *seen;
    neighbours *nb;
    double t_max;
    int have_t;
    uint64_t events, unknown;
    /* users: users[] with their keys in an arena, found by the hash index by_user */
    user_state *users;
    uint32_t *ring; /* users * window rows */
    uint64_t n_users, users_cap;
    fr_hindex by_user;
    char *keys;
    size_t keys_len, keys_cap;
};

static const void *user_key(const void *ctx, uint32_t u, size_t *len) {
    const fr_priors_builder *b = ctx;
    *len = b->users[u].key_len;
    return b->keys + b->users[u].key_off;
}

fr_status fr_priors_builder_create(uint64_t n_items, const fr_priors_params *p, fr_priors_builder **out, char *err,
                                   size_t errcap) {
    *out = NULL;
    fr_priors_params d;
    fr_priors_params_default(&d);
    if (!p) p = &d;
    if (p->window < 1 || p->window > 64) return fr_fail(FR_ERR_ARG, err, errcap, "priors: window %d outside 1..64", p->window);
    if (p->capacity < 1 || p->capacity > 4096) return fr_fail(FR_ERR_ARG, err, errcap, "priors: capacity %d outside 1..4096", p->capacity);
    if (!isfinite(p->half_life)) return fr_fail(FR_ERR_ARG, err, errcap, "priors: half-life is not a number");
    if (n_items > 0xFFFFFFF0u) return fr_fail(FR_ERR_ARG, err, errcap, "priors: %llu items is too many", (unsigned long long)n_items);
    fr_priors_builder *b = calloc(1, sizeof *b);
    if (!b) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory");
    b->p = *p;
    b->n_items = b->items_cap = n_items;
    b->pop = calloc(n_items ? n_items : 1, sizeof *b->pop);
    b->seen = calloc(n_items ? n_items : 1, sizeof *b->seen);
    b->nb = calloc(n_items ? n_items : 1, sizeof *b->nb);
    if (!b->pop || !b->seen || !b->nb || fr_hindex_init(&b->by_user, 512, user_key, b)) {
        fr_priors_builder_free(b);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory for %llu items", (unsigned long long)n_items);
    }
    *out = b;
    return FR_OK;
}

void fr_priors_builder_free(fr_priors_builder *b) {
    if (!b) return;
    if (b->nb)
        for (uint64_t i = 0; i < b->n_items; i++) free(b->nb[i].e);
    free(b->nb);
    free(b->pop);
    free(b->seen);
    free(b->users);
    free(b->ring);
    fr_hindex_free(&b->by_user);
    free(b->keys);
    free(b);
}

static user_state *user_of(fr_priors_builder *b, const char *key, size_t len) {
    const int64_t found = fr_hindex_find(&b->by_user, key, len);
    if (found >= 0) return &b->users[found];
    if (b->n_users >= 0xFFFFFFF0u || b->keys_len + len > 0xFFFFFFF0u) return NULL;
    if (b->n_users == b->users_cap) {
        uint64_t cap = b->users_cap ? b->users_cap * 2 : 1024;
        user_state *u = realloc(b->users, cap * sizeof *u);
        if (!u) return NULL;
        b->users = u;
        uint32_t *r = realloc(b->ring, cap * (size_t)b->p.window * sizeof *r);
        if (!r) return NULL;
        b->ring = r;
        b->users_cap = cap;
    }
    if (b->keys_len + len > b->keys_cap) {
        size_t cap = (b->keys_cap ? b->keys_cap * 2 : 4096) + len;
        char *k = realloc(b->keys, cap);
        if (!k) return NULL;
        b->keys = k;
        b->keys_cap = cap;
    }
    memcpy(b->keys + b->keys_len, key, len);
    user_state *u = &b->users[b->n_users];
    u->key_off = (uint32_t)b->keys_len;
    u->key_len = (uint32_t)len;
    u->head = u->count = 0;
    b->keys_len += len;
    if (fr_hindex_put(&b->by_user, key, len, (uint32_t)b->n_users) != -1) return NULL;
    b->n_users++;
    return u;
}

/* C[a][b] += w at ts, space-saving when a's list is full */
static int covisit(fr_priors_builder *b, uint32_t a, uint32_t nb_row, double w, double ts) {
    neighbours *l = &b->nb[a];
    const double hl = b->p.half_life;
    for (uint32_t k = 0; k < l->n; k++)
        if (l->e[k].row == nb_row) {
            decayed_add(&l->e[k].w, w, ts, hl);
            return 0;
        }
    if (l->n < (uint32_t)b->p.capacity) {
        if (l->n == l->cap) {
            uint32_t cap = l->cap ? l->cap * 2 : 4;
            if (cap > (uint32_t)b->p.capacity) cap = (uint32_t)b->p.capacity;
            neighbour *e = realloc(l->e, cap * sizeof *e);
            if (!e) return -1;
            l->e = e;
            l->cap = cap;
        }
        l->e[l->n].row = nb_row;
        l->e[l->n].w.v = 0;
        l->e[l->n].w.t = ts;
        decayed_add(&l->e[l->n].w, w, ts, hl);
        l->n++;
        return 0;
    }
    /* full: the weakest gives its place and its weight. Decayed values are compared at one common
     * time through log2(v) + t / half_life (never rescaled: with events out of time order, scaling
     * a value back to an earlier event overflows) */
    uint32_t min = 0;
    double mv = decayed_key(l->e[0].w, hl);
    for (uint32_t k = 1; k < l->n; k++) {
        double v = decayed_key(l->e[k].w, hl);
        if (v < mv) {
            mv = v;
            min = k;
        }
    }
    l->e[min].row = nb_row;
    decayed_add(&l->e[min].w, w, ts, hl);
    return 0;
}

fr_status fr_priors_add(fr_priors_builder *b, const char *user, size_t user_len, uint32_t row, double ts, double weight,
                        char *err, size_t errcap) {
    if (row >= b->n_items) return fr_fail(FR_ERR_ARG, err, errcap, "priors: row %u outside the store's %llu items", row, (unsigned long long)b->n_items);
    if (!isfinite(ts)) return fr_fail(FR_ERR_ARG, err, errcap, "priors: timestamp is not a finite number");
    if (!isfinite(weight) || weight <= 0 || weight > 1e6) return fr_fail(FR_ERR_ARG, err, errcap, "priors: weight %g must be a number in (0, 1e6]", weight);
    user_state *u = user_of(b, user, user_len);
    if (!u) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory for users");
    const double hl = b->p.half_life;
    decayed_add(&b->pop[row], weight, ts, hl);
    if (b->seen[row] < 0xFFFFFFFFu) b->seen[row]++;
    if (!b->have_t || ts > b->t_max) {
        b->t_max = ts;
        b->have_t = 1;
    }
    const int W = b->p.window;
    uint32_t *ring = b->ring + (size_t)(u - b->users) * (size_t)W;
    for (uint32_t d = 1; d <= u->count; d++) {
        uint32_t prev = ring[(u->head + (uint32_t)W - d) % (uint32_t)W];
        if (prev == row) continue; /* a repeat is not a co-visit with itself */
        if (covisit(b, row, prev, weight / d, ts) || covisit(b, prev, row, weight / d, ts))
            return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory for neighbours");
    }
    ring[u->head] = row;
    u->head = (u->head + 1) % (uint32_t)W;
    if (u->count < (uint32_t)W) u->count++;
    b->events++;
    return FR_OK;
}

void fr_priors_add_unknown(fr_priors_builder *b) { b->unknown++; }
uint64_t fr_priors_builder_items(const fr_priors_builder *b) { return b->n_items; }
uint32_t fr_priors_builder_seen(const fr_priors_builder *b, uint32_t row) { return row < b->n_items ? b->seen[row] : 0; }

fr_status fr_priors_builder_grow(fr_priors_builder *b, uint64_t n_items, char *err, size_t errcap) {
    if (n_items <= b->n_items) return FR_OK;
    if (n_items > 0xFFFFFFF0u) return fr_fail(FR_ERR_ARG, err, errcap, "priors: %llu items is too many", (unsigned long long)n_items);
    if (n_items > b->items_cap) { /* geometric, so that rows added one by one cost O(1) each */
        uint64_t cap = b->items_cap + b->items_cap / 2 + 16;
        if (cap < n_items) cap = n_items;
        if (cap > 0xFFFFFFF0u) cap = 0xFFFFFFF0u;
        decayed *pop = realloc(b->pop, cap * sizeof *pop);
        if (pop) b->pop = pop;
        uint32_t *seen = pop ? realloc(b->seen, cap * sizeof *seen) : NULL;
        if (seen) b->seen = seen;
        neighbours *nb = seen ? realloc(b->nb, cap * sizeof *nb) : NULL;
        if (!nb) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory for %llu items", (unsigned long long)cap);
        b->nb = nb;
        b->items_cap = cap;
    }
    const uint64_t from = b->n_items, n = n_items - from;
    memset(b->pop + from, 0, n * sizeof *b->pop);
    memset(b->seen + from, 0, n * sizeof *b->seen);
    memset(b->nb + from, 0, n * sizeof *b->nb);
    b->n_items = n_items;
    return FR_OK;
}

/* ---------------------------------------------------------------- checkpoints */

#define CKPT_MAGIC "FRPRCKP1"
#define CKPT_VERSION 1

/* Checkpoints are streamed (never a second copy of the builder in memory), checksummed as a
 * chain of fr_hash64 over 64 KiB blocks. */
#define CKPT_BLOCK 65536
#define CKPT_SEED 0x636b7074u

typedef struct {
    FILE *f;
    uint8_t blk[CKPT_BLOCK];
    size_t n;
    uint64_t h;
    int bad;
} sink;

/* Hashes and writes the buffered block (full, or the last one). */
static void flush_block(sink *o) {
    if (o->bad || !o->n) return;
    o->h = fr_hash64(o->blk, o->n, o->h);
    o->bad = fwrite(o->blk, 1, o->n, o->f) != o->n;
    o->n = 0;
}

static void put(sink *o, const void *x, size_t n) {
    const uint8_t *p = x;
    while (n && !o->bad) {
        size_t k = CKPT_BLOCK - o->n < n ? CKPT_BLOCK - o->n : n;
        memcpy(o->blk + o->n, p, k);
        o->n += k;
        p += k;
        n -= k;
        if (o->n == CKPT_BLOCK) flush_block(o);
    }
}
static void put32(sink *o, uint32_t v) { put(o, &v, 4); }
static void put64(sink *o, uint64_t v) { put(o, &v, 8); }
static void putf(sink *o, double v) { put(o, &v, 8); }

uint64_t fr_priors_checkpoint_sum(const uint8_t *data, size_t n) {
    uint64_t h = CKPT_SEED;
    for (size_t at = 0; at < n; at += CKPT_BLOCK) h = fr_hash64(data + at, n - at < CKPT_BLOCK ? n - at : CKPT_BLOCK, h);
    return h;
}

fr_status fr_priors_checkpoint_write(const fr_priors_builder *b, const fr_priors_position *pos, FILE *f, char *err,
                                     size_t errcap) {
    sink *o = malloc(sizeof *o);
    if (!o) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
    o->f = f;
    o->n = 0;
    o->h = CKPT_SEED;
    o->bad = 0;
    put(o, CKPT_MAGIC, 8);
    put32(o, CKPT_VERSION);
    put32(o, (uint32_t)b->p.window);
    put32(o, (uint32_t)b->p.capacity);
    put32(o, 0);
    putf(o, b->p.half_life);
    put64(o, b->n_items);
    putf(o, b->t_max);
    put64(o, (uint64_t)b->have_t);
    put64(o, b->events);
    put64(o, b->unknown);
    put64(o, b->n_users);
    put64(o, b->keys_len);
    put64(o, pos->offset);
    put64(o, pos->line);
    put64(o, pos->prefix_hash);
    put64(o, pos->stats.events);
    put64(o, pos->stats.unknown_items);
    put64(o, pos->stats.bad_lines);
    put64(o, pos->stats.users);
    for (uint64_t i = 0; i < b->n_items; i++) {
        putf(o, b->pop[i].v);
        putf(o, b->pop[i].t);
    }
    for (uint64_t i = 0; i < b->n_items; i++) put32(o, b->seen[i]);
    for (uint64_t i = 0; i < b->n_items; i++) {
        put32(o, b->nb[i].n);
        for (uint32_t k = 0; k < b->nb[i].n; k++) {
            put32(o, b->nb[i].e[k].row);
            putf(o, b->nb[i].e[k].w.v);
            putf(o, b->nb[i].e[k].w.t);
        }
    }
    const uint32_t W = (uint32_t)b->p.window;
    for (uint64_t u = 0; u < b->n_users; u++) {
        const user_state *us = &b->users[u];
        put32(o, us->key_off);
        put32(o, us->key_len);
        put32(o, us->count);
        const uint32_t *ring = b->ring + u * W;
        for (uint32_t d = us->count; d >= 1; d--) put32(o, ring[(us->head + W - d) % W]); /* oldest first */
    }
    put(o, b->keys ? b->keys : "", b->keys_len);
    flush_block(o);
    if (!o->bad) o->bad = fwrite(&o->h, 8, 1, f) != 1;
    const int bad = o->bad;
    free(o);
    return bad ? fr_fail(FR_ERR_IO, err, errcap, "priors checkpoint: write failed") : FR_OK;
}

fr_status fr_priors_checkpoint_save(const fr_priors_builder *b, const fr_priors_position *pos, uint8_t **data,
                                    size_t *size, char *err, size_t errcap) {
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
    fr_status rc = fr_priors_checkpoint_write(b, pos, f, err, errcap);
    if (fclose(f) != 0 && !rc) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
    if (rc) {
        free(p);
        return rc;
    }
    *data = (uint8_t *)p;
    *size = n;
    return FR_OK;
}

typedef struct {
    const uint8_t *p;
    size_t n, at;
    int short_read;
} cursor;

static void get(cursor *c, void *x, size_t n) {
    if (c->short_read || c->n - c->at < n) {
        c->short_read = 1;
        memset(x, 0, n);
        return;
    }
    memcpy(x, c->p + c->at, n);
    c->at += n;
}
static uint32_t get32(cursor *c) {
    uint32_t v;
    get(c, &v, 4);
    return v;
}
static uint64_t get64(cursor *c) {
    uint64_t v;
    get(c, &v, 8);
    return v;
}
static double getf(cursor *c) {
    double v;
    get(c, &v, 8);
    return v;
}

fr_status fr_priors_checkpoint_load(const uint8_t *data, size_t size, const fr_priors_params *p, uint64_t n_items,
                                    fr_priors_builder **out, fr_priors_position *pos, char *err, size_t errcap) {
    *out = NULL;
    if (size < 8 + 8 || memcmp(data, CKPT_MAGIC, 8) != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "priors checkpoint: not a checkpoint (bad magic)");
    uint64_t sum;
    memcpy(&sum, data + size - 8, 8);
    if (fr_priors_checkpoint_sum(data, size - 8) != sum) return fr_fail(FR_ERR_FORMAT, err, errcap, "priors checkpoint: checksum mismatch (torn or corrupted file)");
    cursor c = {data, size - 8, 8, 0};
    if (get32(&c) != CKPT_VERSION) return fr_fail(FR_ERR_FORMAT, err, errcap, "priors checkpoint: unsupported version");
    uint32_t w = get32(&c), cap = get32(&c);
    get32(&c);
    double hl = getf(&c);
    uint64_t items = get64(&c);
    if (w != (uint32_t)p->window || cap != (uint32_t)p->capacity || memcmp(&hl, &p->half_life, 8) != 0)
        return fr_fail(FR_ERR_ARG, err, errcap, "priors checkpoint: made with other parameters (window %u, neighbours %u, half-life %g)", w, cap, hl);
    if (items != n_items) return fr_fail(FR_ERR_ARG, err, errcap, "priors checkpoint: made for a store of %llu items, this one has %llu", (unsigned long long)items, (unsigned long long)n_items);
    fr_priors_builder *b;
    fr_status rc = fr_priors_builder_create(n_items, p, &b, err, errcap);
    if (rc) return rc;
    b->t_max = getf(&c);
    b->have_t = get64(&c) != 0;
    b->events = get64(&c);
    b->unknown = get64(&c);
    const uint64_t n_users = get64(&c), keys_len = get64(&c);
    pos->offset = get64(&c);
    pos->line = get64(&c);
    pos->prefix_hash = get64(&c);
    pos->stats.events = get64(&c);
    pos->stats.unknown_items = get64(&c);
    pos->stats.bad_lines = get64(&c);
    pos->stats.users = get64(&c);
#define BAD_CKPT(...)                                          \
    do {                                                       \
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, __VA_ARGS__); \
        goto fail;                                             \
    } while (0)
    if (!isfinite(b->t_max)) BAD_CKPT("priors checkpoint: newest time is not finite");
    for (uint64_t i = 0; i < n_items && !c.short_read; i++) {
        b->pop[i].v = getf(&c);
        b->pop[i].t = getf(&c);
        if (!isfinite(b->pop[i].v) || b->pop[i].v < 0 || !isfinite(b->pop[i].t)) BAD_CKPT("priors checkpoint: popularity of row %llu is not a finite value >= 0", (unsigned long long)i);
    }
    for (uint64_t i = 0; i < n_items && !c.short_read; i++) b->seen[i] = get32(&c);
    for (uint64_t i = 0; i < n_items && !c.short_read; i++) {
        uint32_t n = get32(&c);
        if (n > cap) BAD_CKPT("priors checkpoint: row %llu has %u neighbours, more than %u", (unsigned long long)i, n, cap);
        if (n > (c.n - c.at) / 20) BAD_CKPT("priors checkpoint: truncated");
        if (n) {
            b->nb[i].e = malloc(n * sizeof *b->nb[i].e);
            if (!b->nb[i].e) {
                rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
                goto fail;
            }
            b->nb[i].n = b->nb[i].cap = n;
        }
        for (uint32_t k = 0; k < n; k++) {
            neighbour *e = &b->nb[i].e[k];
            e->row = get32(&c);
            e->w.v = getf(&c);
            e->w.t = getf(&c);
            if (e->row >= n_items || !isfinite(e->w.v) || e->w.v < 0 || !isfinite(e->w.t))
                BAD_CKPT("priors checkpoint: neighbour %u of row %llu is invalid", k, (unsigned long long)i);
        }
    }
    if (n_users > 0xFFFFFFF0u || keys_len > 0xFFFFFFF0u || n_users > (c.n - c.at) / 12 || keys_len > c.n - c.at)
        BAD_CKPT("priors checkpoint: %llu users / %llu key bytes do not fit the file", (unsigned long long)n_users, (unsigned long long)keys_len);
    if (n_users) {
        b->users = malloc(n_users * sizeof *b->users);
        b->ring = malloc(n_users * (size_t)w * sizeof *b->ring);
        if (!b->users || !b->ring) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory for %llu users", (unsigned long long)n_users);
            goto fail;
        }
        b->users_cap = n_users;
    }
    fr_hindex_free(&b->by_user);
    if (fr_hindex_init(&b->by_user, n_users, user_key, b)) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
        goto fail;
    }
    for (uint64_t u = 0; u < n_users && !c.short_read; u++) {
        user_state *us = &b->users[u];
        us->key_off = get32(&c);
        us->key_len = get32(&c);
        us->count = get32(&c);
        if ((uint64_t)us->key_off + us->key_len > keys_len || us->count > w) BAD_CKPT("priors checkpoint: user %llu is invalid", (unsigned long long)u);
        for (uint32_t k = 0; k < us->count; k++) {
            uint32_t row = get32(&c);
            if (row >= n_items) BAD_CKPT("priors checkpoint: user %llu's history holds row %u outside the store", (unsigned long long)u, row);
            b->ring[u * w + k] = row;
        }
        us->head = us->count % w;
    }
    if (keys_len) {
        b->keys = malloc(keys_len);
        if (!b->keys) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors checkpoint: out of memory");
            goto fail;
        }
        get(&c, b->keys, keys_len);
        b->keys_cap = b->keys_len = keys_len;
    }
    if (c.short_read || c.at != c.n) BAD_CKPT("priors checkpoint: %s", c.short_read ? "truncated" : "trailing bytes");
    b->n_users = n_users;
    for (uint64_t u = 0; u < n_users; u++) /* the user index, rebuilt (a repeated key: a corrupt checkpoint) */
        if (fr_hindex_put(&b->by_user, b->keys + b->users[u].key_off, b->users[u].key_len, (uint32_t)u) != -1)
            BAD_CKPT("priors checkpoint: user %llu's key repeats or does not fit", (unsigned long long)u);
#undef BAD_CKPT
    *out = b;
    return FR_OK;
fail:
    fr_priors_builder_free(b);
    return rc;
}

/* ---------------------------------------------------------------- serialising */

typedef struct {
    uint32_t row;
    float w;
} out_nb;

static int by_weight_desc(const void *a, const void *b) {
    const out_nb *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* layout: header | popularity f64[n] | seen u32[n] (padded to 8) | nb_off u64[n+1] | rows u32[m] | weights f32[m] */
static size_t layout(uint64_t n, uint64_t m, size_t *o_pop, size_t *o_seen, size_t *o_off, size_t *o_row, size_t *o_w) {
    size_t at = HEADER;
    *o_pop = at;
    at += 8 * n;
    *o_seen = at;
    at += (4 * n + 7) / 8 * 8;
    *o_off = at;
    at += 8 * (n + 1);
    *o_row = at;
    at += 4 * m;
    *o_w = at;
    at += 4 * m;
    return at;
}

typedef struct {
    uint64_t n, events, unknown, users;
    double t_end, half_life;
    int window, capacity;
} header_info;

static fr_status serialise(const header_info *h, const double *pop, const uint32_t *seen, const uint64_t *off,
                           const out_nb *nb, uint8_t **data, size_t *size, char *err, size_t errcap) {
    size_t o_pop, o_seen, o_off, o_row, o_w;
    uint64_t m = off[h->n];
    size_t total = layout(h->n, m, &o_pop, &o_seen, &o_off, &o_row, &o_w);
    uint8_t *buf = calloc(1, total);
    if (!buf) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory (%zu bytes)", total);
    memcpy(buf, MAGIC, 8);
    fr_wr32(buf + 8, VERSION);
    fr_wr32(buf + 12, (uint32_t)h->window);
    fr_wr32(buf + 16, (uint32_t)h->capacity);
    fr_wr64(buf + 24, h->n);
    fr_wrf64(buf + 32, h->t_end);
    fr_wrf64(buf + 40, h->half_life);
    fr_wr64(buf + 48, h->events);
    fr_wr64(buf + 56, h->unknown);
    fr_wr64(buf + 64, h->users);
    fr_wr64(buf + 72, m);
    memcpy(buf + o_pop, pop, 8 * h->n);
    memcpy(buf + o_seen, seen, 4 * h->n);
    memcpy(buf + o_off, off, 8 * (h->n + 1));
    for (uint64_t k = 0; k < m; k++) {
        memcpy(buf + o_row + 4 * k, &nb[k].row, 4);
        memcpy(buf + o_w + 4 * k, &nb[k].w, 4);
    }
    *data = buf;
    *size = total;
    return FR_OK;
}

fr_status fr_priors_finish(fr_priors_builder *b, uint8_t **data, size_t *size, char *err, size_t errcap) {
    const uint64_t n = b->n_items;
    const double T = b->have_t ? b->t_max : 0, hl = b->p.half_life;
    double *pop = malloc(8 * (n ? n : 1));
    uint64_t *off = malloc(8 * (n + 1)), m = 0;
    for (uint64_t i = 0; i < n; i++) m += b->nb[i].n;
    out_nb *nb = malloc(sizeof *nb * (m ? m : 1));
    fr_status rc = FR_OK;
    if (!pop || !off || !nb) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors: out of memory");
    if (!rc) {
        off[0] = 0;
        for (uint64_t i = 0; i < n; i++) {
            pop[i] = at_time(b->pop[i], T, hl);
            out_nb *o = nb + off[i];
            for (uint32_t k = 0; k < b->nb[i].n; k++) {
                o[k].row = b->nb[i].e[k].row;
                o[k].w = (float)at_time(b->nb[i].e[k].w, T, hl);
            }
            qsort(o, b->nb[i].n, sizeof *o, by_weight_desc);
            off[i + 1] = off[i] + b->nb[i].n;
            int overflow = !isfinite(pop[i]);
            for (uint32_t k = 0; k < b->nb[i].n; k++) overflow |= !isfinite(o[k].w);
            if (overflow) {
                rc = fr_fail(FR_ERR_ARG, err, errcap, "priors: the weights of row %llu overflow", (unsigned long long)i);
                break;
            }
        }
        header_info h = {n, b->events, b->unknown, b->n_users, T, hl, b->p.window, b->p.capacity};
        if (!rc) rc = serialise(&h, pop, b->seen, off, nb, data, size, err, errcap);
    }
    free(pop);
    free(off);
    free(nb);
    return rc;
}

/* ---------------------------------------------------------------- reading */

fr_status fr_priors_view(const uint8_t *data, size_t size, uint64_t n_items, const char *label, fr_priors *out, char *err,
                         size_t errcap) {
    memset(out, 0, sizeof *out);
    if (size < HEADER || memcmp(data, MAGIC, 8) != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors section is not FRPRIOR1 data", label);
    if (fr_rd32(data + 8) != VERSION) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: priors version %u, this feedrank reads %d", label, fr_rd32(data + 8), VERSION);
    uint64_t n = fr_rd64(data + 24), m = fr_rd64(data + 72);
    if (n != n_items) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors cover %llu items, the store has %llu", label, (unsigned long long)n, (unsigned long long)n_items);
    if (m > (size_t)-1 / 16 || n > (size_t)-1 / 32) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors sizes overflow", label);
    size_t o_pop, o_seen, o_off, o_row, o_w;
    if (layout(n, m, &o_pop, &o_seen, &o_off, &o_row, &o_w) != size)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors section is %zu bytes, its header implies %zu", label, size, layout(n, m, &o_pop, &o_seen, &o_off, &o_row, &o_w));
    out->n_items = n;
    out->window = (int)fr_rd32(data + 12);
    out->capacity = (int)fr_rd32(data + 16);
    out->t_end = fr_rdf64(data + 32);
    out->half_life = fr_rdf64(data + 40);
    out->events = fr_rd64(data + 48);
    out->unknown_items = fr_rd64(data + 56);
    out->users = fr_rd64(data + 64);
    if (out->window < 1 || out->window > 64 || out->capacity < 1 || out->capacity > 4096 || !isfinite(out->t_end) ||
        !isfinite(out->half_life))
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors header has invalid parameters", label);
    /* sections are 64-byte aligned in the store and every offset here is a multiple of 8 */
    out->popularity = (const double *)(data + o_pop);
    out->seen = (const uint32_t *)(data + o_seen);
    out->nb_off = (const uint64_t *)(data + o_off);
    out->nb_row = (const uint32_t *)(data + o_row);
    out->nb_weight = (const float *)(data + o_w);
    if (out->nb_off[0] != 0 || out->nb_off[n] != m) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors neighbour offsets do not span the list", label);
    for (uint64_t i = 0; i < n; i++) {
        if (!(out->popularity[i] >= 0) || !isfinite(out->popularity[i]))
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors popularity of row %llu is not a finite non-negative number", label, (unsigned long long)i);
        uint64_t a = out->nb_off[i], b = out->nb_off[i + 1];
        if (b < a || b > m || b - a > (uint64_t)out->capacity)
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors neighbour list of row %llu is malformed", label, (unsigned long long)i);
    }
    for (uint64_t k = 0; k < m; k++)
        if (out->nb_row[k] >= n || !(out->nb_weight[k] >= 0) || !isfinite(out->nb_weight[k]))
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: priors neighbour %llu is invalid (row %u)", label, (unsigned long long)k, out->nb_row[k]);
    return FR_OK;
}

fr_status fr_priors_of_store(const fr_store *store, fr_priors *out, char *err, size_t errcap) {
    const uint8_t *data;
    uint64_t size;
    if (!fr_store_section(store, FR_STORE_SECTION_PRIORS, &data, &size))
        return fr_fail(FR_ERR_NOT_FOUND, err, errcap, "the item store has no log priors (feedrank index --interactions)");
    return fr_priors_view(data, (size_t)size, fr_store_info_of(store)->count, "item store", out, err, errcap);
}

/* ---------------------------------------------------------------- scoring */

void fr_priors_scratch_free(fr_priors_scratch *s) {
    free(s->row);
    free(s->pos);
    memset(s, 0, sizeof *s);
}

int fr_priors_covis(const fr_priors *p, const uint32_t *hist, const float *hist_w, int L, double half_life,
                    double norm, const uint32_t *cands, int m, fr_priors_scratch *s, float *out) {
    size_t cap = 16;
    while (cap < (size_t)m * 2) cap <<= 1;
    if (cap > s->cap) {
        uint32_t *a = realloc(s->row, cap * sizeof *a);
        if (a) s->row = a;
        int *b = realloc(s->pos, cap * sizeof *b);
        if (b) s->pos = b;
        if (!a || !b) return -1;
        s->cap = cap;
    }
    /* Candidate rows -> position: kept off fr_hindex on purpose: integer keys probed once per
     * neighbour (up to L x 1,000 per request) by a multiply-and-mask, not a byte hash + callback. */
    memset(s->pos, 0, cap * sizeof *s->pos);
    for (int k = 0; k < m; k++) {
        out[k] = 0;
        size_t h = ((size_t)cands[k] * 0x9E3779B1u) & (cap - 1);
        while (s->pos[h]) h = (h + 1) & (cap - 1);
        s->row[h] = cands[k];
        s->pos[h] = k + 1;
    }
    for (int j = 0; j < L; j++) {
        const uint32_t hr = hist[j];
        if (hr >= p->n_items) continue;
        const double wj = pow(0.5, (L - 1 - j) / half_life) * (hist_w ? hist_w[j] : 1.0);
        const double ph = p->popularity[hr] > 1 ? p->popularity[hr] : 1;
        for (uint64_t e = p->nb_off[hr]; e < p->nb_off[hr + 1]; e++) {
            const uint32_t c = p->nb_row[e];
            size_t h = ((size_t)c * 0x9E3779B1u) & (cap - 1);
            while (s->pos[h] && s->row[h] != c) h = (h + 1) & (cap - 1);
            if (!s->pos[h]) continue;
            const double pc = p->popularity[c] > 1 ? p->popularity[c] : 1;
            const double den = norm == 0 ? 1.0 : norm == 0.5 ? sqrt(ph * pc)
                                                             : pow(ph * pc, norm);
            out[s->pos[h] - 1] += (float)(wj * p->nb_weight[e] / den);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- merging */

typedef struct {
    uint32_t row;
    double w;
} merge_nb;

static int by_row(const void *a, const void *b) {
    const merge_nb *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

fr_status fr_priors_merge(const uint8_t *const *parts, const size_t *sizes, int n, uint8_t **data, size_t *size,
                          char *err, size_t errcap) {
    if (n < 1) return fr_fail(FR_ERR_ARG, err, errcap, "priors merge: nothing to merge");
    fr_priors *v = calloc((size_t)n, sizeof *v);
    if (!v) return fr_fail(FR_ERR_NOMEM, err, errcap, "priors merge: out of memory");
    fr_status rc = FR_OK;
    uint64_t items = sizes[0] >= HEADER ? fr_rd64(parts[0] + 24) : 0;
    char label[32];
    for (int i = 0; i < n && !rc; i++) {
        snprintf(label, sizeof label, "priors part %d", i + 1);
        rc = fr_priors_view(parts[i], sizes[i], items, label, &v[i], err, errcap);
        if (!rc && i && (v[i].half_life != v[0].half_life || v[i].window != v[0].window || v[i].capacity != v[0].capacity))
            rc = fr_fail(FR_ERR_ARG, err, errcap, "priors merge: part %d was built with other parameters (half-life, window, capacity)", i + 1);
    }
    double *pop = NULL;
    uint32_t *seen = NULL;
    uint64_t *off = NULL;
    out_nb *nb = NULL;
    merge_nb *tmp = NULL;
    if (!rc) {
        double T = v[0].t_end, hl = v[0].half_life;
        header_info h = {items, 0, 0, 0, 0, hl, v[0].window, v[0].capacity};
        for (int i = 0; i < n; i++) {
            if (v[i].t_end > T) T = v[i].t_end;
            h.events += v[i].events;
            h.unknown += v[i].unknown_items;
            h.users += v[i].users;
        }
        h.t_end = T;
        uint64_t total = 0;
        for (int i = 0; i < n; i++) total += v[i].nb_off[items];
        pop = calloc(items ? items : 1, 8);
        seen = calloc(items ? items : 1, 4);
        off = malloc(8 * (items + 1));
        nb = malloc(sizeof *nb * (total ? total : 1));
        tmp = malloc(sizeof *tmp * ((size_t)n * (size_t)v[0].capacity + 1));
        if (!pop || !seen || !off || !nb || !tmp) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors merge: out of memory");
        off[0] = 0;
        for (uint64_t r = 0; !rc && r < items; r++) {
            size_t t = 0;
            for (int i = 0; i < n; i++) {
                double scale = hl > 0 ? exp2(-(T - v[i].t_end) / hl) : 1.0;
                pop[r] += v[i].popularity[r] * scale;
                uint64_t s = (uint64_t)seen[r] + v[i].seen[r];
                seen[r] = s > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)s;
                for (uint64_t k = v[i].nb_off[r]; k < v[i].nb_off[r + 1]; k++) {
                    tmp[t].row = v[i].nb_row[k];
                    tmp[t].w = v[i].nb_weight[k] * scale;
                    t++;
                }
            }
            qsort(tmp, t, sizeof *tmp, by_row);
            size_t u = 0;
            for (size_t k = 0; k < t; k++) {
                if (u && tmp[u - 1].row == tmp[k].row) tmp[u - 1].w += tmp[k].w;
                else tmp[u++] = tmp[k];
            }
            out_nb *o = nb + off[r];
            for (size_t k = 0; k < u; k++) {
                o[k].row = tmp[k].row;
                o[k].w = (float)tmp[k].w;
            }
            int overflow = !isfinite(pop[r]);
            for (size_t k = 0; k < u; k++) overflow |= !isfinite(o[k].w);
            if (overflow) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "priors merge: the sums for row %llu overflow", (unsigned long long)r);
                break;
            }
            qsort(o, u, sizeof *o, by_weight_desc);
            if (u > (size_t)h.capacity) u = (size_t)h.capacity;
            off[r + 1] = off[r] + u;
        }
        if (!rc) rc = serialise(&h, pop, seen, off, nb, data, size, err, errcap);
    }
    free(pop);
    free(seen);
    free(off);
    free(nb);
    free(tmp);
    free(v);
    return rc;
}

/* ---------------------------------------------------------------- rows that move */

/* Checks a row map of n_old entries into n_new rows: every entry is a row < n_new or
 * FR_ROW_DELETED, and no two old rows share a new one. */
static fr_status check_row_map(const int64_t *old_to_new, uint64_t n_old, uint64_t n_new, const char *what, char *err,
                               size_t errcap) {
    if (n_new > 0xFFFFFFF0u) return fr_fail(FR_ERR_ARG, err, errcap, "%s: %llu items is too many", what, (unsigned long long)n_new);
    uint8_t *hit = calloc(n_new ? n_new : 1, 1);
    if (!hit) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", what);
    fr_status rc = FR_OK;
    for (uint64_t r = 0; r < n_old && !rc; r++) {
        const int64_t to = old_to_new[r];
        if (to == FR_ROW_DELETED) continue;
        if (to < 0 || (uint64_t)to >= n_new)
            rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: row %llu maps to %lld, outside the new store's %llu rows", what,
                         (unsigned long long)r, (long long)to, (unsigned long long)n_new);
        else if (hit[to]++)
            rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: two rows map to row %lld", what, (long long)to);
    }
    free(hit);
    return rc;
}

fr_status fr_priors_remap(const uint8_t *data, size_t size, uint64_t n_old, const int64_t *old_to_new, uint64_t n_new,
                          uint8_t **out, size_t *out_size, char *err, size_t errcap) {
    *out = NULL;
    *out_size = 0;
    fr_priors v;
    fr_status rc = fr_priors_view(data, size, n_old, "priors remap", &v, err, errcap);
    if (!rc) rc = check_row_map(old_to_new, n_old, n_new, "priors remap", err, errcap);
    if (rc) return rc;
    double *pop = calloc(n_new ? n_new : 1, sizeof *pop);
    uint32_t *seen = calloc(n_new ? n_new : 1, sizeof *seen);
    uint64_t *count = calloc(n_new + 1, sizeof *count), *off = malloc(8 * (n_new + 1));
    out_nb *nb = malloc(sizeof *nb * (v.nb_off[n_old] ? v.nb_off[n_old] : 1));
    if (!pop || !seen || !count || !off || !nb) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "priors remap: out of memory");
    /* a new row's list has as many entries as its old row's surviving neighbours; rows no old row
     * maps to (new items) keep popularity 0, seen 0 and an empty list */
    for (uint64_t r = 0; r < n_old && !rc; r++) {
        const int64_t to = old_to_new[r];
        if (to == FR_ROW_DELETED) continue;
        pop[to] = v.popularity[r];
        seen[to] = v.seen[r];
        for (uint64_t k = v.nb_off[r]; k < v.nb_off[r + 1]; k++) count[to] += old_to_new[v.nb_row[k]] != FR_ROW_DELETED;
    }
    if (!rc) {
        off[0] = 0;
        for (uint64_t r = 0; r < n_new; r++) off[r + 1] = off[r] + count[r];
        for (uint64_t r = 0; r < n_old; r++) {
            const int64_t to = old_to_new[r];
            if (to == FR_ROW_DELETED) continue;
            out_nb *o = nb + off[to];
            uint64_t n = 0;
            for (uint64_t k = v.nb_off[r]; k < v.nb_off[r + 1]; k++) {
                const int64_t nr = old_to_new[v.nb_row[k]];
                if (nr == FR_ROW_DELETED) continue;
                o[n].row = (uint32_t)nr;
                o[n].w = v.nb_weight[k];
                n++;
            }
            /* strongest first as before; re-sorted only so that equal weights stay in row order
             * whatever the map (a map that keeps the row order changes nothing) */
            qsort(o, n, sizeof *o, by_weight_desc);
        }
        header_info h = {n_new, v.events, v.unknown_items, v.users, v.t_end, v.half_life, v.window, v.capacity};
        rc = serialise(&h, pop, seen, off, nb, out, out_size, err, errcap);
    }
    free(pop);
    free(seen);
    free(count);
    free(off);
    free(nb);
    return rc;
}

fr_status fr_priors_builder_remap(fr_priors_builder *b, const int64_t *old_to_new, uint64_t n_new, char *err,
                                  size_t errcap) {
    fr_status rc = check_row_map(old_to_new, b->n_items, n_new, "priors builder remap", err, errcap);
    if (rc) return rc;
    /* everything new is allocated before anything changes, so that a failure leaves b as it was */
    decayed *pop = calloc(n_new ? n_new : 1, sizeof *pop);
    uint32_t *seen = calloc(n_new ? n_new : 1, sizeof *seen);
    neighbours *nb = calloc(n_new ? n_new : 1, sizeof *nb);
    if (!pop || !seen || !nb) {
        free(pop);
        free(seen);
        free(nb);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "priors builder remap: out of memory for %llu items", (unsigned long long)n_new);
    }
    for (uint64_t r = 0; r < b->n_items; r++) {
        const int64_t to = old_to_new[r];
        if (to == FR_ROW_DELETED) continue;
        pop[to] = b->pop[r];
        seen[to] = b->seen[r];
        nb[to] = b->nb[r]; /* the list moves with its row: no allocation */
        b->nb[r].e = NULL;
        neighbours *l = &nb[to];
        uint32_t n = 0;
        for (uint32_t k = 0; k < l->n; k++) {
            const int64_t nr = old_to_new[l->e[k].row];
            if (nr == FR_ROW_DELETED) continue; /* its weight, inherited ones included, goes with it */
            l->e[n] = l->e[k];
            l->e[n].row = (uint32_t)nr;
            n++;
        }
        l->n = n;
    }
    for (uint64_t r = 0; r < b->n_items; r++) free(b->nb[r].e); /* deleted rows' lists */
    free(b->nb);
    free(b->pop);
    free(b->seen);
    b->nb = nb;
    b->pop = pop;
    b->seen = seen;
    b->n_items = b->items_cap = n_new;
    /* each user's window: deleted rows leave it, the others keep their order (oldest first) */
    const uint32_t W = (uint32_t)b->p.window;
    uint32_t tmp[64];
    for (uint64_t u = 0; u < b->n_users; u++) {
        user_state *us = &b->users[u];
        uint32_t *ring = b->ring + u * W, n = 0;
        for (uint32_t d = us->count; d >= 1; d--) {
            const int64_t nr = old_to_new[ring[(us->head + W - d) % W]];
            if (nr != FR_ROW_DELETED) tmp[n++] = (uint32_t)nr;
        }
        memcpy(ring, tmp, n * sizeof *tmp);
        us->count = n;
        us->head = n % W;
    }
    return FR_OK;
}

/* ---------------------------------------------------------------- log reading */

/* A JSON string or integer as an id (into buf); 0 on success. */
static int json_id(const cJSON *x, char *buf, size_t cap, const char **id, size_t *len) {
    if (cJSON_IsString(x) && x->valuestring) {
        *id = x->valuestring;
        *len = strlen(x->valuestring);
        return *len == 0 || *len > FR_STORE_MAX_ID ? -1 : 0;
    }
    if (cJSON_IsNumber(x) && isfinite(x->valuedouble) && x->valuedouble == floor(x->valuedouble) && fabs(x->valuedouble) < 9.007199254740992e15) {
        int n = snprintf(buf, cap, "%.0f", x->valuedouble);
        *id = buf;
        *len = (size_t)n;
        return 0;
    }
    return -1;
}

/* The log's columns from a RecBole header (typed "name:type" or bare names); -1 when absent. */
static void recbole_columns(char **fl, int nf, int *user, int *item, int *ts, int *list) {
    *user = fr_recbole_column(fl, nf, "user_id", 1);
    *item = fr_recbole_column(fl, nf, "item_id", 1);
    *ts = fr_recbole_column(fl, nf, "timestamp", 1);
    *list = fr_recbole_column(fl, nf, "item_id_list", 1);
}

static int in_shard(const char *user, size_t len, int shard_i, int shard_n) {
    return shard_n <= 1 || fr_hash64(user, len, 0x5eed) % (uint64_t)shard_n == (uint64_t)shard_i;
}

/* copies a JSON id (string or integer) into buf[FR_STORE_MAX_ID + 1]; 0 on success */
static int copy_id(const cJSON *x, char *buf, size_t *len) {
    char num[32];
    const char *id;
    if (json_id(x, num, sizeof num, &id, len)) return -1;
    memcpy(buf, id, *len);
    buf[*len] = 0;
    return 0;
}

const char *fr_log_parse_jsonl(const char *line, size_t len, fr_log_event *ev) {
    if (memchr(line, 0, len)) return "NUL byte in the line";
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return "not a JSON object";
    }
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "ts"), *jw = cJSON_GetObjectItemCaseSensitive(j, "weight");
    const char *why = NULL;
    if (copy_id(cJSON_GetObjectItemCaseSensitive(j, "user"), ev->user, &ev->user_len)) why = "\"user\" must be a non-empty string or an integer";
    else if (copy_id(cJSON_GetObjectItemCaseSensitive(j, "item"), ev->item, &ev->item_len)) why = "\"item\" must be an id of 1-128 bytes or an integer";
    else if (!cJSON_IsNumber(jt) || !isfinite(jt->valuedouble)) why = "\"ts\" must be a number";
    else if (jw && (!cJSON_IsNumber(jw) || !(jw->valuedouble > 0) || !(jw->valuedouble <= 1e6))) why = "\"weight\" must be a number in (0, 1e6]";
    if (!why) {
        ev->ts = jt->valuedouble;
        ev->weight = jw ? jw->valuedouble : 1.0;
    }
    cJSON_Delete(j);
    return why;
}

fr_status fr_priors_read_log(fr_priors_builder *b, FILE *f, const char *label, fr_log_format fmt, const fr_store *store,
                             int shard_i, int shard_n, uint64_t max_bad, fr_priors_stats *stats, char *err,
                             size_t errcap) {
    return fr_priors_read_log_from(b, f, label, fmt, store, shard_i, shard_n, max_bad, NULL, stats, err, errcap);
}

/* Where a log's events go: into a priors builder (b), or to a caller's function (fn). */
typedef struct {
    fr_priors_builder *b;
    fr_log_event_fn fn;
    void *ctx;
} log_sink;

static fr_status emit(const log_sink *k, const char *user, size_t ul, uint32_t row, double ts, double w, char *err, size_t errcap) {
    return k->b ? fr_priors_add(k->b, user, ul, row, ts, w, err, errcap) : k->fn(k->ctx, user, ul, row, ts, w, err, errcap);
}

static fr_status read_log(const log_sink *k, FILE *f, const char *label, fr_log_format fmt, const fr_store *store,
                          int shard_i, int shard_n, uint64_t max_bad, const fr_priors_resume *resume,
                          fr_priors_stats *stats, char *err, size_t errcap);

fr_status fr_priors_read_log_from(fr_priors_builder *b, FILE *f, const char *label, fr_log_format fmt,
                                  const fr_store *store, int shard_i, int shard_n, uint64_t max_bad,
                                  const fr_priors_resume *resume, fr_priors_stats *stats, char *err, size_t errcap) {
    const log_sink k = {b, NULL, NULL};
    return read_log(&k, f, label, fmt, store, shard_i, shard_n, max_bad, resume, stats, err, errcap);
}

fr_status fr_log_read(FILE *f, const char *label, fr_log_format fmt, const fr_store *store, uint64_t max_bad,
                      fr_log_event_fn fn, void *ctx, fr_priors_stats *stats, char *err, size_t errcap) {
    const log_sink k = {NULL, fn, ctx};
    return read_log(&k, f, label, fmt, store, 0, 1, max_bad, NULL, stats, err, errcap);
}

static fr_status read_log(const log_sink *k, FILE *f, const char *label, fr_log_format fmt, const fr_store *store,
                          int shard_i, int shard_n, uint64_t max_bad, const fr_priors_resume *resume,
                          fr_priors_stats *stats, char *err, size_t errcap) {
    fr_priors_builder *b = k->b; /* NULL when the events go to k->fn: no builder state to keep */
    fr_priors_stats local = {0};
    if (!stats) stats = &local;
    const fr_priors_position start = resume ? resume->start : (fr_priors_position){0};
    *stats = start.stats;
    uint64_t consumed = 0, hash = 0, last_ckpt = start.line;
    if (shard_n < 1 || shard_i < 0 || shard_i >= shard_n) return fr_fail(FR_ERR_ARG, err, errcap, "priors: shard %d/%d is invalid", shard_i, shard_n);
    if (fmt == FR_LOG_AUTO) {
        size_t l = strlen(label);
        fmt = l > 6 && strcmp(label + l - 6, ".inter") == 0 ? FR_LOG_RECBOLE : FR_LOG_JSONL;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    uint64_t lineno = 0;
    fr_status rc = FR_OK;
    int c_user = -1, c_item = -1, c_ts = -1, c_list = -1;
/* a malformed line: counted and skipped, or the error (not a do-while: it must leave the line loop's body) */
#define BAD(...)                                                   \
    {                                                              \
        stats->bad_lines++;                                        \
        if (stats->bad_lines > max_bad) {                          \
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, __VA_ARGS__); \
            goto done;                                             \
        }                                                          \
        goto next_line;                                            \
    }
    for (;;) {
        if (resume && resume->every_lines && resume->checkpoint && lineno >= start.line && lineno - last_ckpt >= resume->every_lines) {
            fr_priors_position pos = {consumed, lineno, hash, *stats};
            pos.stats.users = b ? b->n_users : 0;
            if (b && (rc = resume->checkpoint(b, &pos, resume->ctx, err, errcap))) goto done;
            last_ckpt = lineno;
        }
        if ((got = getline(&line, &lcap, f)) < 0) break;
        lineno++;
        consumed += (uint64_t)got;
        hash = fr_hash64(line, (size_t)got, hash);
        if (lineno <= start.line) { /* resuming: the prefix was read before; check it is the same */
            if (consumed > start.offset || (lineno == start.line && (consumed != start.offset || hash != start.prefix_hash))) {
                rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: the log changed since the checkpoint (its first %llu lines differ); rerun with --restart",
                             label, (unsigned long long)start.line);
                goto done;
            }
            if (fmt == FR_LOG_RECBOLE && c_user < 0) { /* the header is still needed */
                while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
                if (got == 0) continue;
                char *fl[16];
                recbole_columns(fl, fr_recbole_split(line, fl, 16), &c_user, &c_item, &c_ts, &c_list);
            }
            continue;
        }
        if ((size_t)got > MAX_LINE) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%llu: line longer than %u bytes", label, (unsigned long long)lineno, MAX_LINE);
            goto done;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) continue;
        if (fmt == FR_LOG_RECBOLE) {
            if ((size_t)got != strlen(line)) BAD("%s:%llu: NUL byte in the line", label, (unsigned long long)lineno);
            char *fl[16];
            int nf = fr_recbole_split(line, fl, 16);
            if (c_user < 0) { /* the first non-empty line is the header */
                recbole_columns(fl, nf, &c_user, &c_item, &c_ts, &c_list);
                if (c_user < 0 || (c_item < 0 && c_list < 0)) {
                    rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%llu: RecBole header needs user_id and item_id (+ timestamp) or item_id_list", label, (unsigned long long)lineno);
                    goto done;
                }
                continue;
            }
            if (nf <= c_user || !*fl[c_user]) BAD("%s:%llu: missing user_id", label, (unsigned long long)lineno);
            const char *user = fl[c_user];
            size_t ul = strlen(user);
            if (!in_shard(user, ul, shard_i, shard_n)) continue;
            if (c_list >= 0) { /* sequential format: the history list is the user's events, in order (no times) */
                if (nf <= c_list) BAD("%s:%llu: missing item_id_list", label, (unsigned long long)lineno);
                double pos = 0;
                for (char *tok = strtok(fl[c_list], " "); tok; tok = strtok(NULL, " ")) {
                    int64_t row = fr_store_find(store, tok, strlen(tok));
                    if (row < 0) {
                        stats->unknown_items++;
                        if (b) b->unknown++;
                        continue;
                    }
                    if ((rc = emit(k, user, ul, (uint32_t)row, pos++, 1.0, err, errcap))) goto done;
                    stats->events++;
                }
                continue;
            }
            if (nf <= c_item || !*fl[c_item]) BAD("%s:%llu: missing item_id", label, (unsigned long long)lineno);
            double ts = 0;
            if (c_ts >= 0) {
                char *end;
                if (nf <= c_ts || !*fl[c_ts] || (ts = strtod(fl[c_ts], &end), *end) || !isfinite(ts))
                    BAD("%s:%llu: timestamp is not a number", label, (unsigned long long)lineno);
            }
            int64_t row = fr_store_find(store, fl[c_item], strlen(fl[c_item]));
            if (row < 0) {
                stats->unknown_items++;
                if (b) b->unknown++;
                continue;
            }
            if ((rc = emit(k, user, ul, (uint32_t)row, ts, 1.0, err, errcap))) goto done;
            stats->events++;
            continue;
        }
        fr_log_event ev;
        const char *why = fr_log_parse_jsonl(line, (size_t)got, &ev);
        if (why) BAD("%s:%llu: %s", label, (unsigned long long)lineno, why);
        if (in_shard(ev.user, ev.user_len, shard_i, shard_n)) {
            int64_t row = fr_store_find(store, ev.item, ev.item_len);
            if (row < 0) {
                stats->unknown_items++;
                if (b) b->unknown++;
            } else {
                rc = emit(k, ev.user, ev.user_len, (uint32_t)row, ev.ts, ev.weight, err, errcap);
                if (!rc) stats->events++;
            }
        }
        if (rc) goto done;
    next_line:;
    }
    if (ferror(f)) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: read error", label);
    else if (lineno < start.line) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: the log is shorter than at the checkpoint (%llu lines); rerun with --restart", label, (unsigned long long)start.line);
#undef BAD
done:
    free(line);
    if (b) stats->users = b->n_users;
    return rc;
}

/* live_priors.c - the priors builder continued from logged events (see live_priors.h). */
#include "live_priors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct fr_live_priors {
    fr_priors_builder *b; /* NULL: no state to continue from (why says so) */
    fr_priors_params p;
    int fresh; /* a store without priors: the first logged record's parameters are adopted */
    char why[320];
    int broken; /* the builder failed after it was opened: what the log holds is not all in it */
    fr_event_tail tail;
    uint64_t events, unknown;
    int changed;
    uint64_t n_base; /* the store's rows: the builder's first rows */
    /* items added to the catalogue since the store was built that an event named: builder rows
     * n_base + k, k in order of first use (NUL-terminated copies; ids hold no NUL) */
    char **added;
    uint64_t n_added, added_cap;
    fr_hindex by_added;
};

static const void *added_key(const void *ctx, uint32_t k, size_t *len) {
    const fr_live_priors *lp = ctx;
    *len = strlen(lp->added[k]);
    return lp->added[k];
}

fr_status fr_live_priors_open(const fr_store *store, const fr_priors_params *fresh, fr_live_priors **out, char *err,
                              size_t errcap) {
    *out = NULL;
    fr_live_priors *lp = calloc(1, sizeof *lp);
    if (!lp) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    const uint64_t n_items = fr_store_info_of(store)->count;
    lp->n_base = n_items;
    if (fr_hindex_init(&lp->by_added, 64, added_key, lp)) {
        free(lp);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    fr_priors view;
    char e2[512];
    fr_status rc = fr_priors_of_store(store, &view, e2, sizeof e2);
    const uint8_t *state;
    uint64_t state_len;
    const int has_state = fr_store_section(store, FR_STORE_SECTION_PRIORS_STATE, &state, &state_len);
    if (rc == FR_ERR_NOT_FOUND) {
        fr_priors_params_default(&lp->p);
        if (fresh) lp->p = *fresh;
        lp->fresh = 1;
        rc = has_state ? fr_fail(FR_ERR_FORMAT, err, errcap, "the item store has a live priors state but no priors section")
                       : fr_priors_builder_create(n_items, &lp->p, &lp->b, err, errcap);
    } else if (rc) {
        rc = fr_fail(rc, err, errcap, "%s", e2);
    } else if (!has_state) {
        lp->p = (fr_priors_params){.window = view.window, .half_life = view.half_life, .capacity = view.capacity};
        snprintf(lp->why, sizeof lp->why,
                 "the item store's log priors were built without their builder's state, so live events cannot continue them exactly; "
                 "rebuild them with feedrank index --interactions LOG --store STORE --live-state");
    } else {
        lp->p = (fr_priors_params){.window = view.window, .half_life = view.half_life, .capacity = view.capacity};
        fr_priors_position pos;
        rc = fr_priors_checkpoint_load(state, (size_t)state_len, &lp->p, n_items, &lp->b, &pos, e2, sizeof e2);
        if (rc) rc = fr_fail(rc, err, errcap, "the item store's live priors state: %s", e2);
        lp->tail.present = pos.offset || pos.line || pos.prefix_hash;
        lp->tail.file_id = pos.prefix_hash;
        lp->tail.offset = pos.offset;
        lp->tail.line = pos.line;
    }
    if (rc) {
        fr_live_priors_free(lp);
        return rc;
    }
    *out = lp;
    return FR_OK;
}

void fr_live_priors_free(fr_live_priors *lp) {
    if (!lp) return;
    fr_priors_builder_free(lp->b);
    for (uint64_t k = 0; k < lp->n_added; k++) free(lp->added[k]);
    free(lp->added);
    fr_hindex_free(&lp->by_added);
    free(lp);
}

const char *fr_live_priors_ready(const fr_live_priors *lp) { return lp->b ? NULL : lp->why; }
int fr_live_priors_broken(const fr_live_priors *lp) { return lp->broken; }
fr_priors_params fr_live_priors_params(const fr_live_priors *lp) { return lp->p; }

/* The builder row of an item of the catalogue at this log position (the store, then delta), -1
 * when the catalogue does not hold it, -2 when out of memory. An item added since the store was
 * built gets a row past the store's on its first event (so every replica, whenever it last
 * compacted, counts the same events for the same items). */
static int64_t row_of(fr_live_priors *lp, const fr_store *store, const fr_delta *delta, const char *id, size_t len) {
    fr_delta_item it;
    const int in_delta = delta && fr_delta_find(delta, id, len, &it);
    if (in_delta && it.deleted) return -1; /* withdrawn at this position */
    const int64_t row = fr_store_find(store, id, len);
    if (row >= 0 || !in_delta) return row;
    const int64_t k = fr_hindex_find(&lp->by_added, id, len);
    if (k >= 0) return (int64_t)lp->n_base + k;
    char e2[64];
    if (lp->n_added == lp->added_cap) {
        const uint64_t cap = lp->added_cap ? 2 * lp->added_cap : 16;
        char **a = realloc(lp->added, cap * sizeof *a);
        if (!a) return -2;
        lp->added = a;
        lp->added_cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy || fr_priors_builder_grow(lp->b, lp->n_base + lp->n_added + 1, e2, sizeof e2)) {
        free(copy);
        return -2;
    }
    memcpy(copy, id, len);
    copy[len] = 0;
    lp->added[lp->n_added++] = copy; /* owned by lp from here, whatever happens next */
    if (fr_hindex_put(&lp->by_added, copy, len, (uint32_t)(lp->n_added - 1)) == -2) return -2;
    return (int64_t)(lp->n_base + lp->n_added - 1);
}

typedef struct {
    fr_live_priors *lp;
    const fr_store *store;
    const fr_delta *delta;
    uint32_t unknown;
} apply_ctx;

static fr_status apply_event(void *ctx, const fr_event *ev, char *err, size_t errcap) {
    apply_ctx *a = ctx;
    a->lp->events++;
    const int64_t row = row_of(a->lp, a->store, a->delta, ev->item, ev->item_len);
    if (row == -2) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    if (row < 0) { /* like the offline reader: counted, the user not registered */
        fr_priors_add_unknown(a->lp->b);
        a->lp->unknown++;
        a->unknown++;
        return FR_OK;
    }
    return fr_priors_add(a->lp->b, ev->user, ev->user_len, (uint32_t)row, ev->ts, ev->weight, err, errcap);
}

fr_status fr_live_priors_apply(fr_live_priors *lp, const fr_store *store, const fr_delta *delta, const uint8_t *rec, size_t len,
                               uint32_t *unknown, char *err, size_t errcap) {
    if (unknown) *unknown = 0;
    if (!lp->b) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s", lp->why);
    if (fr_store_info_of(store)->count != lp->n_base)
        return fr_fail(FR_ERR_ARG, err, errcap, "live priors: the store has %llu items, the priors were made for %llu", (unsigned long long)fr_store_info_of(store)->count,
                       (unsigned long long)lp->n_base);
    fr_event_batch_info info;
    fr_status rc = fr_event_batch_check(rec, len, &info, err, errcap);
    if (rc) return rc;
    const fr_priors_params *rp = &info.params;
    if (rp->window != lp->p.window || rp->capacity != lp->p.capacity || !(rp->half_life == lp->p.half_life)) {
        if (!lp->fresh || lp->changed)
            return fr_fail(FR_ERR_ARG, err, errcap, "events logged for priors of window %d, %d neighbours, half-life %g; these priors have window %d, %d neighbours, half-life %g",
                           rp->window, rp->capacity, rp->half_life, lp->p.window, lp->p.capacity, lp->p.half_life);
        /* a store without priors: the log says which parameters its events were recorded with */
        fr_priors_builder *nb;
        if ((rc = fr_priors_builder_create(fr_priors_builder_items(lp->b), rp, &nb, err, errcap))) return rc;
        fr_priors_builder_free(lp->b);
        lp->b = nb;
        lp->p = *rp;
    }
    const fr_event_tail tail = info.tail;
    apply_ctx a = {lp, store, delta, 0};
    rc = fr_event_batch_each(rec, len, apply_event, &a, err, errcap);
    if (rc) { /* part of the record is in the builder: nothing later can be trusted */
        fr_priors_builder_free(lp->b);
        lp->b = NULL;
        lp->broken = 1;
        snprintf(lp->why, sizeof lp->why, "the live priors failed part-way through a record (%s); restart the server to replay the log", err);
        return rc;
    }
    if (tail.present) lp->tail = tail;
    lp->changed = 1;
    if (unknown) *unknown = a.unknown;
    return FR_OK;
}

fr_status fr_live_priors_sections(fr_live_priors *lp, uint8_t **priors, size_t *priors_len, uint8_t **state,
                                  size_t *state_len, char *err, size_t errcap) {
    *priors = NULL;
    if (state) *state = NULL;
    if (!lp->b) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s", lp->why);
    fr_status rc = fr_priors_finish(lp->b, priors, priors_len, err, errcap);
    if (!rc && state) {
        fr_priors_position pos = {lp->tail.offset, lp->tail.line, lp->tail.file_id, {0}};
        rc = fr_priors_checkpoint_save(lp->b, &pos, state, state_len, err, errcap);
    }
    if (rc) {
        free(*priors);
        *priors = NULL;
    }
    return rc;
}

typedef struct {
    fr_live_priors *lp;
    const fr_store *store;
    uint64_t *rows, n;
} drop_ctx;

static int collect_deleted(void *ctx, const char *id, size_t len, int deleted) {
    drop_ctx *c = ctx;
    if (!deleted) return 0;
    int64_t row = fr_store_find(c->store, id, len);
    if (row < 0) {
        const int64_t k = fr_hindex_find(&c->lp->by_added, id, len);
        row = k >= 0 ? (int64_t)c->lp->n_base + k : -1;
    }
    /* a row no event named is in no list or window: nothing to drop */
    if (row < 0 || fr_priors_builder_seen(c->lp->b, (uint32_t)row) == 0) return 0;
    uint64_t *r = realloc(c->rows, (c->n + 1) * sizeof *r);
    if (!r) return 1;
    c->rows = r;
    c->rows[c->n++] = (uint64_t)row;
    return 0;
}

fr_status fr_live_priors_catalogue(fr_live_priors *lp, const fr_store *store, const uint8_t *rec, size_t len, char *err,
                                   size_t errcap) {
    if (!lp->b || fr_record_kind(rec, len) == FR_RECORD_EVENTS) return FR_OK;
    drop_ctx c = {lp, store, NULL, 0};
    fr_status rc = fr_delta_record_ops(rec, len, collect_deleted, &c, err, errcap);
    if (!rc && c.n) { /* the rows stay, emptied: the builder's numbering does not change */
        const uint64_t n = fr_priors_builder_items(lp->b);
        int64_t *map = malloc(n * sizeof *map);
        if (!map) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        for (uint64_t r = 0; map && r < n; r++) map[r] = (int64_t)r;
        for (uint64_t k = 0; map && k < c.n; k++) map[c.rows[k]] = FR_ROW_DELETED;
        if (map) rc = fr_priors_builder_remap(lp->b, map, n, err, errcap);
        free(map);
        lp->changed = 1;
    }
    free(c.rows);
    if (rc) {
        fr_priors_builder_free(lp->b);
        lp->b = NULL;
        lp->broken = 1;
        snprintf(lp->why, sizeof lp->why, "the live priors could not drop a deleted item (%s); restart the server", err);
    }
    return rc;
}

/* revived strings the rebase did not keep (all of them when kept is NULL) */
static void free_revived(char **revived, uint64_t n, const int64_t *map, uint64_t n_new) {
    for (uint64_t r = 0; revived && r < n; r++)
        if (revived[r] && !(map && map[r] >= (int64_t)n_new)) free(revived[r]);
}

fr_status fr_live_priors_revived(const fr_live_priors *lp, const int64_t *base_map, const fr_store *old_store, char ***out,
                                 char *err, size_t errcap) {
    *out = NULL;
    if (!lp->b) return FR_OK;
    char **rv = NULL;
    for (uint64_t r = 0; r < lp->n_base; r++) {
        if (base_map[r] != FR_ROW_DELETED || fr_priors_builder_seen(lp->b, (uint32_t)r) == 0) continue;
        size_t il;
        const char *id = fr_store_id(old_store, r, &il);
        if (!rv && !(rv = calloc(lp->n_base, sizeof *rv))) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        if ((rv[r] = malloc(il + 1))) {
            memcpy(rv[r], id, il);
            rv[r][il] = 0;
        } else {
            free_revived(rv, lp->n_base, NULL, 0);
            free(rv);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
    }
    *out = rv;
    return FR_OK;
}

/* The builder could not follow the store: nothing later can be applied (and compaction refuses). */
static void rebase_failed(fr_live_priors *lp, const char *why) {
    fr_priors_builder_free(lp->b);
    lp->b = NULL;
    lp->broken = 1;
    snprintf(lp->why, sizeof lp->why, "the live priors could not follow a compaction that moved rows (%s); restart the server", why);
}

fr_status fr_live_priors_rebase(fr_live_priors *lp, const int64_t *base_map, char **revived, const fr_store *new_store,
                                char *err, size_t errcap) {
    const uint64_t n_new = fr_store_info_of(new_store)->count;
    if (!lp->b) {
        free_revived(revived, lp->n_base, NULL, 0);
        lp->n_base = n_new;
        return FR_OK;
    }
    const uint64_t n = fr_priors_builder_items(lp->b);
    int64_t *map = malloc((n ? n : 1) * sizeof *map);
    uint64_t n_revived = 0;
    for (uint64_t r = 0; revived && r < lp->n_base; r++) n_revived += revived[r] != NULL;
    char **left = malloc((lp->n_added + n_revived ? lp->n_added + n_revived : 1) * sizeof *left);
    fr_hindex idx;
    if (!map || !left || fr_hindex_init(&idx, lp->n_added + n_revived + 16, added_key, lp)) {
        free(map);
        free(left);
        free_revived(revived, lp->n_base, NULL, 0);
        rebase_failed(lp, "out of memory");
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    memcpy(map, base_map, lp->n_base * sizeof *map);
    uint64_t n_left = 0;
    /* a row the compaction dropped (deleted up to its position) but that events named since (the
     * item came back after that position): kept past the store, under its id */
    for (uint64_t r = 0; revived && r < lp->n_base; r++)
        if (revived[r] && map[r] == FR_ROW_DELETED) map[r] = (int64_t)(n_new + n_left++);
    for (uint64_t k = 0; k < lp->n_added; k++) {
        const int64_t row = fr_store_find(new_store, lp->added[k], strlen(lp->added[k]));
        map[lp->n_base + k] = row >= 0 ? row : (int64_t)(n_new + n_left++); /* in the store now, or still added since */
    }
    fr_status rc = fr_priors_builder_remap(lp->b, map, n_new + n_left, err, errcap);
    if (!rc) {
        uint64_t j = 0;
        for (uint64_t r = 0; revived && r < lp->n_base; r++)
            if (revived[r] && map[r] >= (int64_t)n_new) left[j++] = revived[r]; /* kept: lp owns it now */
        free_revived(revived, lp->n_base, map, n_new);
        for (uint64_t k = 0; k < lp->n_added; k++)
            if (map[lp->n_base + k] >= (int64_t)n_new) left[j++] = lp->added[k];
            else free(lp->added[k]);
        free(lp->added);
        lp->added = left;
        lp->n_added = lp->added_cap = n_left;
        if (!lp->added_cap) lp->added_cap = 1;
        lp->n_base = n_new;
        fr_hindex_free(&lp->by_added);
        lp->by_added = idx;
        for (uint64_t k = 0; k < n_left && !rc; k++)
            if (fr_hindex_put(&lp->by_added, lp->added[k], strlen(lp->added[k]), (uint32_t)k) == -2) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        left = NULL;
    } else {
        fr_hindex_free(&idx);
        free_revived(revived, lp->n_base, NULL, 0);
    }
    free(left);
    free(map);
    if (rc) rebase_failed(lp, err);
    return rc;
}

fr_status fr_live_priors_added(const fr_live_priors *lp, char ***ids, uint64_t *n, char *err, size_t errcap) {
    *ids = NULL;
    *n = 0;
    if (!lp->n_added) return FR_OK;
    char **c = calloc(lp->n_added, sizeof *c);
    if (!c) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    for (uint64_t k = 0; k < lp->n_added; k++)
        if (!(c[k] = strdup(lp->added[k]))) {
            fr_live_priors_added_free(c, k);
            return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        }
    *ids = c;
    *n = lp->n_added;
    return FR_OK;
}

void fr_live_priors_added_free(char **ids, uint64_t n) {
    for (uint64_t k = 0; ids && k < n; k++) free(ids[k]);
    free(ids);
}

fr_event_tail fr_live_priors_tail(const fr_live_priors *lp) { return lp->tail; }
uint64_t fr_live_priors_rows(const fr_live_priors *lp) { return lp->n_base + lp->n_added; }
uint64_t fr_live_priors_events(const fr_live_priors *lp) { return lp->events; }
uint64_t fr_live_priors_unknown(const fr_live_priors *lp) { return lp->unknown; }
int fr_live_priors_changed(const fr_live_priors *lp) { return lp->changed; }

fr_status fr_live_replay_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    fr_live_replay *r = ctx;
    if (seq <= r->delta.base_seq) return FR_OK; /* already folded into the store */
    r->last_seq = seq;
    char e2[512];
    if (fr_record_kind(rec, len) != FR_RECORD_EVENTS) {
        fr_status rc = fr_delta_replay_record(&r->delta, seq, rec, len, err, errcap);
        if (!rc && (rc = fr_live_priors_catalogue(r->priors, r->store, rec, len, e2, sizeof e2)))
            fr_fail(rc, err, errcap, "log record %llu: %s", (unsigned long long)seq, e2);
        return rc;
    }
    fr_status rc = fr_live_priors_apply(r->priors, r->store, r->delta.cur, rec, len, NULL, e2, sizeof e2);
    return rc ? fr_fail(rc, err, errcap, "log record %llu: %s", (unsigned long long)seq, e2) : FR_OK;
}

/* live_priors.c - the priors builder continued from logged events (see live_priors.h). */
#include "live_priors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fr_live_priors {
    fr_priors_builder *b; /* NULL: no state to continue from (why says so) */
    fr_priors_params p;
    int fresh; /* a store without priors: the first logged record's parameters are adopted */
    char why[320];
    fr_event_tail tail;
    uint64_t events, unknown;
    int changed;
};

fr_status fr_live_priors_open(const fr_store *store, const fr_priors_params *fresh, fr_live_priors **out, char *err,
                              size_t errcap) {
    *out = NULL;
    fr_live_priors *lp = calloc(1, sizeof *lp);
    if (!lp) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    const uint64_t n_items = fr_store_info_of(store)->count;
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
    free(lp);
}

const char *fr_live_priors_ready(const fr_live_priors *lp) { return lp->b ? NULL : lp->why; }
fr_priors_params fr_live_priors_params(const fr_live_priors *lp) { return lp->p; }

typedef struct {
    fr_live_priors *lp;
    const fr_store *store;
    uint32_t unknown;
} apply_ctx;

static fr_status apply_event(void *ctx, const fr_event *ev, char *err, size_t errcap) {
    apply_ctx *a = ctx;
    a->lp->events++;
    const int64_t row = fr_store_find(a->store, ev->item, ev->item_len);
    if (row < 0) { /* like the offline reader: counted, the user not registered */
        fr_priors_add_unknown(a->lp->b);
        a->lp->unknown++;
        a->unknown++;
        return FR_OK;
    }
    return fr_priors_add(a->lp->b, ev->user, ev->user_len, (uint32_t)row, ev->ts, ev->weight, err, errcap);
}

fr_status fr_live_priors_apply(fr_live_priors *lp, const fr_store *store, const uint8_t *rec, size_t len,
                               uint32_t *unknown, char *err, size_t errcap) {
    if (unknown) *unknown = 0;
    if (!lp->b) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s", lp->why);
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
    apply_ctx a = {lp, store, 0};
    rc = fr_event_batch_each(rec, len, apply_event, &a, err, errcap);
    if (rc) { /* part of the record is in the builder: nothing later can be trusted */
        fr_priors_builder_free(lp->b);
        lp->b = NULL;
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

fr_status fr_live_priors_remap(fr_live_priors *lp, const int64_t *old_to_new, uint64_t n_new, char *err, size_t errcap) {
    if (!lp->b) return FR_OK;
    fr_status rc = fr_priors_builder_remap(lp->b, old_to_new, n_new, err, errcap);
    if (rc) {
        fr_priors_builder_free(lp->b);
        lp->b = NULL;
        snprintf(lp->why, sizeof lp->why, "the live priors could not follow a compaction that moved rows (%s); restart the server", err);
    }
    return rc;
}

fr_event_tail fr_live_priors_tail(const fr_live_priors *lp) { return lp->tail; }
uint64_t fr_live_priors_events(const fr_live_priors *lp) { return lp->events; }
uint64_t fr_live_priors_unknown(const fr_live_priors *lp) { return lp->unknown; }
int fr_live_priors_changed(const fr_live_priors *lp) { return lp->changed; }

fr_status fr_live_replay_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    fr_live_replay *r = ctx;
    if (seq <= r->delta.base_seq) return FR_OK; /* already folded into the store */
    r->last_seq = seq;
    if (fr_record_kind(rec, len) != FR_RECORD_EVENTS) return fr_delta_replay_record(&r->delta, seq, rec, len, err, errcap);
    char e2[512];
    fr_status rc = fr_live_priors_apply(r->priors, r->store, rec, len, NULL, e2, sizeof e2);
    return rc ? fr_fail(rc, err, errcap, "log record %llu: %s", (unsigned long long)seq, e2) : FR_OK;
}

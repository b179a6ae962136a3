/* live.c - UpsertItems / DeleteItems: each accepted call becomes one write-ahead log record
 * (wal.h), synced per --sync-interval-ms (0, the default: before the answer), then a new delta
 * version (store_delta.h) swapped in for the batches that start after it. A batch takes one
 * reference to the version current when it starts, so it ranks against one log position.
 *
 * Two locks. commit_mu serialises what changes the log: appends, syncs, the rewrite after a
 * compaction, and building the next version from the current one. swap_mu guards only the
 * current-version pointer, so a batch never waits behind an fsync.
 *
 * Compaction runs on the server's main thread (between its signal waits, where it also reloads
 * the store file): the current version is folded into a new store file at --store (atomic rename;
 * the file's LIVE section records the log position it holds), the server reloads it like any
 * changed store, and only then are the folded records dropped from the log and from the delta.
 * A crash at any point leaves a store and a log that replay to the same state: records the store
 * already holds are skipped on start-up. Applying an upsert or delete twice is harmless, so the
 * moment between the reload and the delta's trim (new base + old delta) ranks the same.
 *
 * The log itself is an engine behind oplog.h: the local file (--wal, the default) or a Redis
 * stream shared by replicas (--log). Every record, replayed at start-up, written here, or (shared
 * log) written by another replica, reaches the live state through one function, live_next, in
 * log order; a shared log's own follower thread delivers them, and a write is acknowledged once
 * that follower applied it (read-your-writes).
 *
 * RecordEvents and the events file tail (live_events.c) log events records through the same
 * commit. A record's first byte says its kind (event_batch.h): a catalogue record makes the next
 * delta version; an events record makes a version with the same items at its log position (so
 * the delta's position is always the log's) and goes to the live priors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_batch.h"
#include "live_priors.h"
#include "oplog.h"
#include "rank_batch.h"
#include "server_internal.h"
#include "store_delta.h"
#include "wire_check.h"

#define MAX_ITEMS 1024 /* per call */
#define MAX_TEXT_BYTES 16384
#define APPLY_WAIT_S 10 /* shared log: how long a write waits for this replica to apply it */

struct fr_live {
    fr_oplog *log;
    pthread_mutex_t commit_mu, swap_mu;
    pthread_cond_t applied_cv; /* signalled with commit_mu held whenever cur moves to a later position */
    fr_delta *cur;
    struct fr_events *events; /* the live priors (live_events.c) */
    double next_compact_try;  /* after a failed compaction, wait before trying again */
    atomic_long upserts, deletes, calls_failed, compactions, compactions_failed;
};

/* ---------------- the one apply path ---------------- */

/* The state after record rec (log position pos) over cur, by the replay callback `feedrank store
 * compact` uses too: the only place a record's payload is read. Commits call it to check a record
 * before the log holds it; every record the log holds reaches the state through it (apply_record). */
static fr_status live_next(fr_delta *cur, uint64_t pos, const uint8_t *rec, size_t len, fr_delta **out, char *err, size_t errcap) {
    if (fr_record_kind(rec, len) == FR_RECORD_EVENTS) return fr_delta_apply(cur, rec, len, pos, out, err, errcap); /* same items, at pos */
    fr_delta_ref(cur);
    fr_delta_replay r = {cur, 0};
    fr_status rc = fr_delta_replay_record(&r, pos, rec, len, err, errcap); /* replaces r.cur (and drops its reference) on success */
    if (rc) fr_delta_unref(r.cur);
    else *out = r.cur;
    return rc;
}

/* Makes nv current (commit_mu held). */
static void install(struct fr_live *l, fr_delta *nv) {
    pthread_mutex_lock(&l->swap_mu);
    fr_delta *old = l->cur;
    l->cur = nv;
    pthread_mutex_unlock(&l->swap_mu);
    pthread_cond_broadcast(&l->applied_cv);
    fr_delta_unref(old);
}

/* The live priors follow every record applied (commit_mu held, l->cur just installed): events are
 * counted, deleted items leave them. */
static fr_status live_priors_follow(fr_server *s, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    if (fr_record_kind(rec, len) == FR_RECORD_EVENTS) return fr_events_applied(s, s->live->cur, rec, len, err, errcap);
    return fr_events_catalogue(s, rec, len, err, errcap);
}

/* The log's sink (oplog.h): the replay at start-up, and every record of a shared log, in order. */
static fr_status apply_record(void *ctx, uint64_t pos, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    fr_server *s = ctx;
    struct fr_live *l = s->live;
    fr_delta *nv = NULL;
    pthread_mutex_lock(&l->commit_mu);
    fr_status rc = live_next(l->cur, pos, rec, len, &nv, err, errcap);
    if (!rc) {
        install(l, nv);
        char e2[512];
        /* a live priors failure stops the start-up replay (the server cannot serve the log's
         * priors), and afterwards is logged: the catalogue goes on, events and compaction are
         * refused until a restart (the same on both log engines) */
        if ((rc = live_priors_follow(s, rec, len, e2, sizeof e2))) {
            if (fr_events_failed(s, pos, e2)) rc = FR_OK;
            else fr_fail(rc, err, errcap, "log record %llu (live priors): %s", (unsigned long long)pos, e2);
        }
    }
    pthread_mutex_unlock(&l->commit_mu);
    return rc;
}

/* ---------------- start-up and shutdown ---------------- */

static fr_status open_log(fr_server *s, const fr_oplog_sink *sink, fr_oplog **out, char *err, size_t errcap) {
    const fr_server_config *c = &s->cfg;
    if (!c->log[0]) return fr_oplog_open_local(c->wal, c->sync_interval_ms, c->wal_skip_corrupt, sink, out, err, errcap);
    fr_oplog_redis_config rc;
    memset(&rc, 0, sizeof rc);
    fr_status st = fr_oplog_redis_parse_url("--log", c->log, &rc, err, errcap);
    if (st) return st;
    snprintf(rc.replica, sizeof rc.replica, "%s", c->replica_name);
    snprintf(rc.password, sizeof rc.password, "%s", c->log_password);
    rc.weak_ok = c->log_weak_durability_ok;
    st = fr_oplog_open_redis(&rc, sink, out, err, errcap);
    memset(rc.password, 0, sizeof rc.password);
    return st;
}

fr_status fr_live_open(fr_server *s, char *err, size_t errcap) {
    if (!s->cfg.wal[0] && !s->cfg.log[0])
        return s->cfg.events_tail[0] ? fr_fail(FR_ERR_ARG, err, errcap, "--events-tail needs --wal or --log (events are logged before they count)") : FR_OK;
    struct fr_live *l = calloc(1, sizeof *l);
    if (!l) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    pthread_mutex_init(&l->commit_mu, NULL);
    pthread_mutex_init(&l->swap_mu, NULL);
    pthread_cond_init(&l->applied_cv, NULL);
    s->live = l;
    /* a full disk or a file-size limit must fail the log's write (EFBIG), not kill the process */
    signal(SIGXFSZ, SIG_IGN);
    const uint64_t base = fr_store_live_seq(s->store);
    fr_status rc = fr_events_create(s, &l->events, err, errcap);
    if (!rc) rc = fr_delta_empty(s->model_fp, s->dim, base, &l->cur, err, errcap);
    if (rc) return rc;
    double t0 = fr_now();
    const fr_oplog_sink sink = {base, apply_record, s};
    if ((rc = open_log(s, &sink, &l->log, err, errcap))) return rc;
    fr_log(2, "event=live_opened engine=%s log=%s store_holds=%llu log_position=%llu delta_items=%llu events=%llu ms=%.1f", l->log->name, l->log->where,
           (unsigned long long)base, (unsigned long long)fr_delta_seq(l->cur), (unsigned long long)fr_delta_count(l->cur),
           (unsigned long long)fr_live_priors_events(fr_events_priors(l->events)), 1e3 * (fr_now() - t0));
    return fr_events_start(s, err, errcap);
}

void fr_live_close(fr_server *s) {
    struct fr_live *l = s->live;
    if (!l) return;
    fr_events_stop(s);                    /* first: the events tail commits records */
    if (l->log) l->log->e->close(l->log); /* then the log: a follower thread applies records until then */
    fr_delta_unref(l->cur);
    fr_events_free(l->events);
    s->live_events = NULL;
    pthread_mutex_destroy(&l->commit_mu);
    pthread_mutex_destroy(&l->swap_mu);
    pthread_cond_destroy(&l->applied_cv);
    free(l);
    s->live = NULL;
}

/* ---------------- readers ---------------- */

fr_delta *fr_live_acquire(fr_server *s) {
    struct fr_live *l = s->live;
    if (!l) return NULL;
    pthread_mutex_lock(&l->swap_mu);
    fr_delta *d = l->cur;
    fr_delta_ref(d);
    pthread_mutex_unlock(&l->swap_mu);
    return d;
}

void fr_live_release(fr_delta *d) { fr_delta_unref(d); }

void fr_live_mark(const fr_server *s, const fr_delta *d, fr_candidate *c, int n, char *ver, size_t vercap) {
    snprintf(ver, vercap, "%s.%llu", s->store_version, (unsigned long long)fr_delta_seq(d));
    if (fr_delta_count(d) == 0) return;
    for (int i = 0; i < n; i++) {
        fr_delta_item it;
        if (!fr_delta_find(d, c[i].id, c[i].id_len, &it)) continue;
        c[i].live = 1;
        if (!it.deleted) { /* upserted: its own vector and text (the request's text, if any, is not used) */
            c[i].vector = it.vector;
            c[i].text = it.text;
            c[i].text_len = it.text ? it.text_len : 0;
        } else if (fr_store_find(s->store, c[i].id, c[i].id_len) >= 0) {
            c[i].vector = NULL; /* deleted: unknown (a request's text for it was not embedded: the store knew it) */
        }
    }
}

void fr_live_mark_history(const fr_delta *d, fr_history_item *h, int n) {
    if (fr_delta_count(d) == 0) return;
    for (int i = 0; i < n; i++) {
        fr_delta_item it;
        if (!fr_delta_find(d, h[i].id, h[i].id_len, &it)) continue;
        h[i].live = 1;
        h[i].vector = it.deleted ? NULL : it.vector;
    }
}

/* ---------------- writes ---------------- */

void fr_live_lock(fr_server *s) { pthread_mutex_lock(&s->live->commit_mu); }
void fr_live_unlock(fr_server *s) { pthread_mutex_unlock(&s->live->commit_mu); }

/* Checks rec against the current version, appends it (durable per the engine), and returns once
 * this replica's state includes it (an events record: the live priors too). Returns a grpc status
 * (0 = ok). */
int fr_live_commit(fr_server *s, const uint8_t *rec, size_t len, uint32_t n_items, uint64_t *seq, char *ver, size_t vercap,
                   char *err, size_t errcap) {
    struct fr_live *l = s->live;
    fr_oplog *log = l->log;
    pthread_mutex_lock(&l->commit_mu);
    int code = 0;
    fr_delta *nv = NULL;
    const uint64_t cap = 4ull * (uint64_t)s->cfg.compact_items, at = fr_delta_seq(l->cur);
    const int events = fr_record_kind(rec, len) == FR_RECORD_EVENTS;
    if (events && (code = fr_events_check(s, rec, len, err, errcap))) {
        /* the live priors cannot take it (no state, other parameters): refused before the log */
    } else if (!events && fr_delta_count(l->cur) + n_items > cap) {
        code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        fr_fail(FR_ERR_ARG, err, errcap, "the live delta holds %llu items, the bound is %llu (4 x --compact-items) and compaction has not caught up; retry later",
                (unsigned long long)fr_delta_count(l->cur), (unsigned long long)cap);
    } else if (live_next(l->cur, at + 1, rec, len, &nv, err, errcap)) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
    } else if (log->shared && !log->e->healthy(log)) {
        code = GRPC_STATUS_UNAVAILABLE;
        fr_fail(FR_ERR_IO, err, errcap, "the log engine (%s, %s) is unavailable, or this replica stopped following it (see the server log): writes are refused until it is back, reads go on",
                log->name, log->where);
    } else if (!log->shared && log->e->append(log, rec, len, seq, err, errcap)) {
        code = GRPC_STATUS_UNAVAILABLE;          /* a full disk or a failed sync: reads go on with the current version */
    } else if (!log->shared && *seq != at + 1) { /* the file's position decides (it always follows cur's) */
        fr_delta_unref(nv);
        nv = NULL;
        if (live_next(l->cur, *seq, rec, len, &nv, err, errcap)) code = GRPC_STATUS_INTERNAL;
    }
    if (!code && log->shared) { /* a shared log: the follower applies it, in the log's order */
        fr_delta_unref(nv);
        nv = NULL;
        pthread_mutex_unlock(&l->commit_mu);
        char e2[512];
        if (log->e->append(log, rec, len, seq, e2, sizeof e2)) {
            code = GRPC_STATUS_UNAVAILABLE;
            fr_fail(FR_ERR_IO, err, errcap, "the log engine (%s) refused the write: %s", log->name, e2);
            fr_log(1, "event=log_write_failed engine=%s message=\"%s\"", log->name, e2);
        }
        pthread_mutex_lock(&l->commit_mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += APPLY_WAIT_S;
        while (!code && fr_delta_seq(l->cur) < *seq)
            if (pthread_cond_timedwait(&l->applied_cv, &l->commit_mu, &until) != 0 && fr_delta_seq(l->cur) < *seq) {
                code = GRPC_STATUS_UNAVAILABLE;
                fr_fail(FR_ERR_IO, err, errcap, "the write is in the log at position %llu but this replica has not applied it within %d s (log engine %s: %s)",
                        (unsigned long long)*seq, APPLY_WAIT_S, log->name, log->e->healthy(log) ? "connected" : "unavailable");
            }
    }
    if (code) {
        fr_delta_unref(nv);
        pthread_mutex_unlock(&l->commit_mu);
        atomic_fetch_add(&l->calls_failed, 1);
        return code;
    }
    if (nv) {
        install(l, nv);
        char e2[512];
        if (live_priors_follow(s, rec, len, e2, sizeof e2)) fr_events_failed(s, *seq, e2); /* in the log: a restart replays it */
    }
    pthread_mutex_unlock(&l->commit_mu);
    pthread_rwlock_rdlock(&s->store_lock);
    snprintf(ver, vercap, "%s.%llu", s->store_version, (unsigned long long)*seq);
    pthread_rwlock_unlock(&s->store_lock);
    return 0;
}

void fr_live_answer(call *c, uint64_t seq, const char *ver, uint32_t items) {
    Feedrank__V1__UpdateResponse r;
    feedrank__v1__update_response__init(&r);
    r.has_log_position = r.has_items = 1;
    r.log_position = seq;
    r.items = items;
    r.store_version = (char *)ver;
    grpc_byte_buffer *bb = fr_pack(&r.base);
    fr_call_finish(c, bb, bb ? GRPC_STATUS_OK : GRPC_STATUS_INTERNAL, bb ? NULL : "out of memory");
}

static int commit_and_answer(fr_server *s, call *c, fr_delta_batch *b, uint32_t n_items, char *err, size_t errcap) {
    size_t len;
    const uint8_t *rec = fr_delta_batch_bytes(b, &len);
    uint64_t seq = 0;
    char ver[64];
    int code = fr_live_commit(s, rec, len, n_items, &seq, ver, sizeof ver, err, errcap);
    if (code) {
        fr_call_finish(c, NULL, code, err);
        return code;
    }
    atomic_fetch_add(c->method == M_DELETE ? &s->live->deletes : &s->live->upserts, n_items);
    fr_live_answer(c, seq, ver, n_items);
    return 0;
}

/* Checks an UpsertItems message; *needs_text = 1 when some item has no vector (its text is embedded). */
static int check_upserts(fr_server *s, const Feedrank__V1__UpsertItemsRequest *m, int *needs_text, char *err, size_t errcap) {
    *needs_text = 0;
    if (m->n_items == 0) {
        fr_fail(FR_ERR_ARG, err, errcap, "items is empty");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (m->n_items > MAX_ITEMS) {
        fr_fail(FR_ERR_ARG, err, errcap, "items holds %zu entries; the limit is %d", m->n_items, MAX_ITEMS);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < m->n_items; i++) {
        const Feedrank__V1__ItemUpdate *it = m->items[i];
        size_t il = it->item_id ? strlen(it->item_id) : 0;
        if (il == 0 || il > FR_STORE_MAX_ID) {
            fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].item_id must be 1..%d bytes", i, FR_STORE_MAX_ID);
            return GRPC_STATUS_INVALID_ARGUMENT;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->items[k]->item_id, it->item_id) == 0) {
                fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].item_id '%s' repeats items[%zu]", i, it->item_id, k);
                return GRPC_STATUS_INVALID_ARGUMENT;
            }
        if (it->text && strlen(it->text) > MAX_TEXT_BYTES) {
            fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].text is %zu bytes, the limit is %d", i, strlen(it->text), MAX_TEXT_BYTES);
            return GRPC_STATUS_INVALID_ARGUMENT;
        }
        if (it->n_vector) {
            if (it->n_vector != (size_t)s->dim) {
                fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].vector has %zu values, the store's dimension is %d", i, it->n_vector, s->dim);
                return GRPC_STATUS_INVALID_ARGUMENT;
            }
            if (!it->has_model_fingerprint) {
                fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].model_fingerprint is required with a vector (this server's is %016llx)", i, (unsigned long long)s->model_fp);
                return GRPC_STATUS_INVALID_ARGUMENT;
            }
            if (it->model_fingerprint != s->model_fp) {
                fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].model_fingerprint %016llx is not this server's model (%016llx)", i, (unsigned long long)it->model_fingerprint, (unsigned long long)s->model_fp);
                return GRPC_STATUS_INVALID_ARGUMENT;
            }
            for (size_t d = 0; d < it->n_vector; d++)
                if (!(it->vector[d] == it->vector[d]) || it->vector[d] > 3.4e38f || it->vector[d] < -3.4e38f) {
                    fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].vector[%zu] is not finite", i, d);
                    return GRPC_STATUS_INVALID_ARGUMENT;
                }
        } else if (it->has_model_fingerprint) {
            fr_fail(FR_ERR_ARG, err, errcap, "items[%zu].model_fingerprint is set without a vector", i);
            return GRPC_STATUS_INVALID_ARGUMENT;
        } else if (!it->text || !*it->text) {
            fr_fail(FR_ERR_ARG, err, errcap, "items[%zu] needs a text (embedded by the server) or a vector", i);
            return GRPC_STATUS_INVALID_ARGUMENT;
        } else {
            *needs_text = 1;
        }
    }
    return 0;
}

/* Builds the record of m with vecs[i] for items without their own vector; commits; answers. */
static void upsert(fr_server *s, call *c, const Feedrank__V1__UpsertItemsRequest *m, const float *vecs) {
    char err[512];
    fr_delta_batch *b;
    if (fr_delta_batch_new(s->model_fp, s->dim, &b, err, sizeof err)) {
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, err);
        return;
    }
    for (size_t i = 0; i < m->n_items; i++) {
        const Feedrank__V1__ItemUpdate *it = m->items[i];
        const float *v = it->n_vector ? it->vector : vecs + i * (size_t)s->dim;
        if (fr_delta_batch_upsert(b, it->item_id, strlen(it->item_id), v, it->text, it->text ? strlen(it->text) : 0, err, sizeof err)) {
            char msg[600];
            snprintf(msg, sizeof msg, "items[%zu]: %s", i, err);
            fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, msg);
            fr_delta_batch_free(b);
            return;
        }
    }
    commit_and_answer(s, c, b, (uint32_t)m->n_items, err, sizeof err);
    fr_delta_batch_free(b);
}

void fr_live_handle(fr_server *s, call *c, const uint8_t *buf, size_t len) {
    char err[512];
    if (!s->live) {
        fr_call_finish(c, NULL, GRPC_STATUS_FAILED_PRECONDITION, "live updates are off: start the server with --wal PATH (or --log redis://HOST:PORT/KEY)");
        return;
    }
    if (c->method == M_EVENTS) {
        fr_events_handle(s, c, buf, len);
        return;
    }
    if (c->method == M_DELETE) {
        const fr_wire_cap caps[] = {{"item_ids", MAX_ITEMS}};
        if (fr_wire_check(&feedrank__v1__delete_items_request__descriptor, buf, len, caps, 1, 64, err, sizeof err)) {
            fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
            return;
        }
        Feedrank__V1__DeleteItemsRequest *m = feedrank__v1__delete_items_request__unpack(NULL, len, buf);
        if (!m) {
            fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed DeleteItemsRequest (not valid protobuf)");
            return;
        }
        fr_delta_batch *b = NULL;
        int code = 0;
        if (m->n_item_ids == 0) {
            code = GRPC_STATUS_INVALID_ARGUMENT;
            snprintf(err, sizeof err, "item_ids is empty");
        } else if (fr_delta_batch_new(s->model_fp, s->dim, &b, err, sizeof err)) code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        for (size_t i = 0; i < m->n_item_ids && !code; i++) {
            char e2[400];
            if (fr_delta_batch_delete(b, m->item_ids[i], strlen(m->item_ids[i]), e2, sizeof e2)) {
                code = GRPC_STATUS_INVALID_ARGUMENT;
                snprintf(err, sizeof err, "item_ids[%zu]: %s", i, e2);
            }
        }
        if (code) fr_call_finish(c, NULL, code, err);
        else commit_and_answer(s, c, b, (uint32_t)m->n_item_ids, err, sizeof err);
        fr_delta_batch_free(b);
        feedrank__v1__delete_items_request__free_unpacked(m, NULL);
        return;
    }
    const fr_wire_cap caps[] = {{"items", MAX_ITEMS}};
    if (fr_wire_check(&feedrank__v1__upsert_items_request__descriptor, buf, len, caps, 1, 64, err, sizeof err)) {
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    Feedrank__V1__UpsertItemsRequest *m = feedrank__v1__upsert_items_request__unpack(NULL, len, buf);
    if (!m) {
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed UpsertItemsRequest (not valid protobuf)");
        return;
    }
    int needs_text;
    int code = check_upserts(s, m, &needs_text, err, sizeof err);
    if (code) {
        fr_call_finish(c, NULL, code, err);
        feedrank__v1__upsert_items_request__free_unpacked(m, NULL);
        return;
    }
    if (!needs_text) {
        upsert(s, c, m, NULL);
        feedrank__v1__upsert_items_request__free_unpacked(m, NULL);
        return;
    }
    /* texts: embedded on a compute thread, in the queue with everybody else's requests */
    job *j = calloc(1, sizeof *j);
    if (!j) {
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        feedrank__v1__upsert_items_request__free_unpacked(m, NULL);
        return;
    }
    j->c = c;
    j->method = M_UPSERT;
    j->ur = m;
    for (size_t i = 0; i < m->n_items; i++)
        if (!m->items[i]->n_vector) j->tokens += strlen(m->items[i]->text) / 3 + 2;
    if (fr_queue_push(&s->queue, j)) {
        fr_job_free(j);
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "request queue is full; retry with backoff");
    }
}

void fr_live_run_job(fr_server *s, fr_encoder *enc, job *j) {
    char err[512];
    const Feedrank__V1__UpsertItemsRequest *m = j->ur;
    const size_t D = (size_t)s->dim;
    float *vecs = malloc(sizeof(float) * D * m->n_items);
    const char **texts = malloc(sizeof *texts * m->n_items);
    int *which = malloc(sizeof *which * m->n_items);
    if (!vecs || !texts || !which) {
        fr_call_finish(j->c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        int n = 0;
        for (size_t i = 0; i < m->n_items; i++)
            if (!m->items[i]->n_vector) {
                texts[n] = m->items[i]->text;
                which[n++] = (int)i;
            }
        /* as documents, like `feedrank index` embeds a catalogue */
        float *tmp = malloc(sizeof(float) * D * (size_t)n);
        if (!tmp || fr_encoder_embed(enc, texts, NULL, n, FR_TEXT_DOCUMENT, tmp, NULL, err, sizeof err)) {
            fr_call_finish(j->c, NULL, GRPC_STATUS_INTERNAL, tmp ? err : "out of memory");
        } else {
            for (int k = 0; k < n; k++) memcpy(vecs + (size_t)which[k] * D, tmp + (size_t)k * D, sizeof(float) * D);
            upsert(s, j->c, m, vecs);
        }
        free(tmp);
    }
    free(vecs);
    free(texts);
    free(which);
    fr_job_free(j);
}

/* ---------------- compaction (main thread) ---------------- */

void fr_live_tick(fr_server *s) {
    struct fr_live *l = s->live;
    if (!l || fr_now() < l->next_compact_try) return;
    fr_delta *d = fr_live_acquire(s);
    const int due = fr_delta_count(d) >= (uint64_t)s->cfg.compact_items || fr_events_due(s);
    fr_delta_unref(d);
    if (!due) return;
    char err[1024];
    double t0 = fr_now();
    /* one log position for everything folded: the delta and the live priors as of its last record */
    uint8_t *priors = NULL, *state = NULL;
    size_t priors_len = 0, state_len = 0;
    char **added = NULL;
    uint64_t folded_events = 0, n_added = 0;
    pthread_mutex_lock(&l->commit_mu);
    d = l->cur;
    fr_delta_ref(d);
    fr_status rc = fr_events_fold(s, &priors, &priors_len, &state, &state_len, &added, &n_added, &folded_events, err, sizeof err);
    pthread_mutex_unlock(&l->commit_mu);
    const fr_compact_sections x = {fr_delta_seq(d), priors, state, priors_len, state_len, (const char *const *)added, n_added};
    /* the main thread is the only one that replaces s->store, so it may read it unlocked */
    if (!rc) rc = fr_delta_compact_with(s->store, d, &x, s->cfg.store, err, sizeof err);
    free(priors);
    free(state);
    fr_live_priors_added_free(added, n_added);
    /* the base rows' rows in the compacted store, for the live priors builder (numbered by row) */
    const uint64_t n_old = fr_store_info_of(s->store)->count;
    int64_t *map = rc ? NULL : malloc(sizeof *map * (n_old ? n_old : 1));
    uint64_t n_new = n_old;
    if (!rc && !map) rc = fr_fail(FR_ERR_NOMEM, err, sizeof err, "out of memory");
    int moved = 0;
    if (!rc) {
        fr_delta_row_map(s->store, d, map, &n_new);
        moved = n_new != n_old; /* items added or deleted (the live priors may also hold rows past the store's) */
        for (uint64_t r = 0; r < n_old && !moved; r++) moved = map[r] != (int64_t)r;
    }
    if (!rc) {
        /* reloaded under the commit lock: no events record is applied against the new store's
         * rows before the builder follows them */
        pthread_mutex_lock(&l->commit_mu);
        /* rows this compaction drops that events named since (deleted up to d, upserted again after) */
        char **revived = NULL, e2[512];
        if (moved && fr_events_revived(s, map, &revived, e2, sizeof e2))
            fr_log(0, "event=live_priors_failed message=\"%s\" action=refuse_events_until_restart", e2);
        fr_server_reload_store(s);
        if (fr_store_live_seq(s->store) != fr_delta_seq(d)) {
            rc = fr_fail(FR_ERR_IO, err, sizeof err, "the compacted store did not load (see store_reload_failed)");
            for (uint64_t r = 0; revived && r < n_old; r++) free(revived[r]);
        } else if (fr_events_store_changed(s, moved ? map : NULL, revived, e2, sizeof e2)) {
            fr_log(0, "event=live_priors_failed message=\"%s\" action=refuse_events_and_compaction_until_restart", e2);
        }
        free(revived);
        pthread_mutex_unlock(&l->commit_mu);
    }
    free(map);
    if (rc) {
        atomic_fetch_add(&l->compactions_failed, 1);
        l->next_compact_try = fr_now() + 30;
        fr_log(0, "event=compaction_failed message=\"%s\" action=retry_in_30s", err);
        fr_delta_unref(d);
        return;
    }
    fr_events_compacted(s, folded_events);
    /* the store holds d and the live priors up to its position: drop d's entries from the delta
     * (entries replaced since are newer and stay) and its records from the log */
    char e2[512];
    if (l->log->e->folded(l->log, fr_delta_seq(d), e2, sizeof e2))
        fr_log(0, "event=wal_rewrite_failed engine=%s message=\"%s\" action=keep_records (start-up skips what the store holds)", l->log->name, e2);
    pthread_mutex_lock(&l->commit_mu);
    fr_delta *trimmed = NULL;
    rc = fr_delta_without(l->cur, d, &trimmed, err, sizeof err);
    if (!rc) {
        pthread_mutex_lock(&l->swap_mu);
        fr_delta *old = l->cur;
        l->cur = trimmed;
        pthread_mutex_unlock(&l->swap_mu);
        fr_delta_unref(old);
    }
    uint64_t left = fr_delta_count(l->cur);
    pthread_mutex_unlock(&l->commit_mu);
    atomic_fetch_add(&l->compactions, 1);
    fr_log(2, "event=compacted store=%s log_position=%llu items=%llu delta_items_left=%llu events=%llu rows_moved=%d ms=%.1f%s%s", s->cfg.store,
           (unsigned long long)fr_delta_seq(d), (unsigned long long)fr_store_info_of(s->store)->count, (unsigned long long)left,
           (unsigned long long)folded_events, moved, 1e3 * (fr_now() - t0), rc ? " trim_failed=" : "", rc ? err : "");
    fr_delta_unref(d);
}

void fr_live_metrics(fr_server *s, char *out, size_t cap) {
    struct fr_live *l = s->live;
    out[0] = 0;
    if (!l) return;
    fr_delta *d = fr_live_acquire(s);
    int n = snprintf(out, cap,
                     "# HELP feedrank_live_updates_total Items upserted or deleted through the log.\n# TYPE feedrank_live_updates_total counter\n"
                     "feedrank_live_updates_total{op=\"upsert\"} %ld\nfeedrank_live_updates_total{op=\"delete\"} %ld\n"
                     "# HELP feedrank_live_update_failures_total Update calls refused after validation (full delta, disk full, failed sync).\n"
                     "# TYPE feedrank_live_update_failures_total counter\nfeedrank_live_update_failures_total %ld\n"
                     "# HELP feedrank_live_log_engine The engine of the live update log.\n# TYPE feedrank_live_log_engine gauge\nfeedrank_live_log_engine{engine=\"%s\"} 1\n"
                     "# HELP feedrank_live_delta_items Ids in the in-memory delta.\n# TYPE feedrank_live_delta_items gauge\nfeedrank_live_delta_items %llu\n"
                     "# HELP feedrank_live_delta_bytes Memory of the delta's entries.\n# TYPE feedrank_live_delta_bytes gauge\nfeedrank_live_delta_bytes %llu\n"
                     "# HELP feedrank_live_compactions_total Compactions by outcome.\n# TYPE feedrank_live_compactions_total counter\n"
                     "feedrank_live_compactions_total{result=\"ok\"} %ld\nfeedrank_live_compactions_total{result=\"failed\"} %ld\n",
                     atomic_load(&l->upserts), atomic_load(&l->deletes), atomic_load(&l->calls_failed), l->log->name,
                     (unsigned long long)fr_delta_count(d), (unsigned long long)fr_delta_bytes(d), atomic_load(&l->compactions),
                     atomic_load(&l->compactions_failed));
    fr_delta_unref(d);
    if (n > 0 && (size_t)n < cap) n += (int)l->log->e->metrics(l->log, out + n, cap - (size_t)n);
    if (n > 0 && (size_t)n < cap) fr_events_metrics(s, out + n, cap - (size_t)n);
}

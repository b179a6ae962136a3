/* live_events.c - live interaction signals: RecordEvents and the events file tail (--events-tail)
 * log events records (event_batch.h) through live.c's commit; each logged record is applied to
 * the live priors (live_priors.h: the builder of `feedrank index --interactions`, continued), and
 * rankers read priors through published, reference-counted, immutable views.
 *
 * Publishing. Finishing the builder into a view costs O(items + neighbours), so a view is made at
 * most every --events-refresh-ms by the refresh thread (0: after every logged record). A batch of
 * re-ranks takes one reference to the newest view when it starts (fr_events_acquire) and ranks
 * all its requests with it. Until events arrive the store's own section is used (NULL view).
 *
 * Locks. The builder is changed and read only under live.c's commit_mu (held by fr_live_commit
 * and the compaction's fold), so what it holds is always exactly the logged records, in log
 * order. snap_mu guards only the published pointer.
 *
 * The tail. A thread follows a JSONL file like tail -F: every poll it reads the complete lines
 * after its position (at most 4096 lines or 1 MiB per record), parses each with the reader of
 * `feedrank index --interactions` (fr_log_parse_jsonl), and logs them as one events record that
 * also holds the file position its lines end at (inode, byte offset, line). A restart resumes
 * from the position the log (or the compacted store's state) holds, so no line is counted twice
 * or skipped. A file whose inode changed (rotated) or that shrank below the position (truncated)
 * is logged and read again from its start. A malformed line is logged with its number and
 * skipped, up to --events-tail-max-bad of them; the next one stops the tail (logged, metric). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event_batch.h"
#include "live_priors.h"
#include "server_internal.h"
#include "wire_check.h"

#define MAX_EVENTS_PER_CALL 4096
#define TAIL_MAX_LINES 4096
#define TAIL_MAX_BYTES (1u << 20)
#define TAIL_POLL_MS 100

struct fr_priors_snapshot {
    atomic_long refs;
    uint8_t *data;
    fr_priors view;
    long store_gen; /* the store generation its rows are numbered by (s->store_gen) */
};

struct fr_events {
    fr_live_priors *lp;
    pthread_mutex_t snap_mu, wake_mu;
    pthread_cond_t wake_cv;
    struct fr_priors_snapshot *snap;
    int dirty;              /* records applied since the last view (commit_mu) */
    uint64_t since_compact; /* events applied since the last compaction (commit_mu) */
    int stopping;
    int started;        /* the log is replayed: views are published (before, fr_events_start does once) */
    int failure_logged; /* commit_mu: a live priors failure after start-up was logged */
    pthread_t refresher, tailer;
    int have_refresher, have_tailer;
    atomic_long events, unknown, calls, tail_bad;
    atomic_llong tail_offset, tail_size;
    atomic_int tail_state; /* 0 off, 1 following, 2 stopped */
};

/* ---------------- views ---------------- */

static void snap_unref(struct fr_priors_snapshot *p) {
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
        free(p->data);
        free(p);
    }
}

/* commit_mu held: a new view of the builder, swapped in. */
static void publish(fr_server *s) {
    struct fr_events *ev = s->live_events;
    char err[512];
    size_t len;
    struct fr_priors_snapshot *p = calloc(1, sizeof *p);
    fr_status rc = p ? fr_live_priors_sections(ev->lp, &p->data, &len, NULL, NULL, err, sizeof err) : FR_ERR_NOMEM;
    pthread_rwlock_rdlock(&s->store_lock);
    const uint64_t n_items = fr_live_priors_rows(ev->lp); /* the store's rows, then items added since */
    if (p) p->store_gen = (long)atomic_load(&s->store_gen);
    pthread_rwlock_unlock(&s->store_lock);
    if (!rc) rc = fr_priors_view(p->data, len, n_items, "live priors", &p->view, err, sizeof err);
    if (rc) {
        fr_log(0, "event=priors_publish_failed message=\"%s\" action=keep_previous_view", p ? err : "out of memory");
        if (p) free(p->data);
        free(p);
        return;
    }
    atomic_init(&p->refs, 1);
    pthread_mutex_lock(&ev->snap_mu);
    struct fr_priors_snapshot *old = ev->snap;
    ev->snap = p;
    pthread_mutex_unlock(&ev->snap_mu);
    snap_unref(old);
    ev->dirty = 0;
}

struct fr_priors_snapshot *fr_events_acquire(fr_server *s) {
    struct fr_events *ev = s->live_events;
    if (!ev) return NULL;
    pthread_mutex_lock(&ev->snap_mu);
    struct fr_priors_snapshot *p = ev->snap;
    /* a view made for an earlier store (a compaction moved rows) is not used: the store's own
     * priors stand until the next view (the caller holds store_lock, so store_gen is stable) */
    if (p && p->store_gen != (long)atomic_load(&s->store_gen)) p = NULL;
    if (p) atomic_fetch_add(&p->refs, 1);
    pthread_mutex_unlock(&ev->snap_mu);
    return p;
}

const fr_priors *fr_events_view(const struct fr_priors_snapshot *p) { return p ? &p->view : NULL; }
void fr_events_release(struct fr_priors_snapshot *p) { snap_unref(p); }

/* ---------------- start-up and shutdown ---------------- */

fr_status fr_events_create(fr_server *s, struct fr_events **out, char *err, size_t errcap) {
    *out = NULL;
    fr_priors_params p = {.window = s->cfg.events_window, .half_life = 0, .capacity = s->cfg.events_neighbors};
    char *end;
    p.half_life = strtod(s->cfg.events_half_life, &end);
    if (*end || end == s->cfg.events_half_life || !(p.half_life >= 0) || p.half_life > 1e300)
        return fr_fail(FR_ERR_ARG, err, errcap, "--events-half-life must be a number >= 0, not '%s'", s->cfg.events_half_life);
    struct fr_events *ev = calloc(1, sizeof *ev);
    if (!ev) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    fr_status rc = fr_live_priors_open(s->store, &p, &ev->lp, err, errcap);
    if (rc) {
        free(ev);
        return rc;
    }
    pthread_mutex_init(&ev->snap_mu, NULL);
    pthread_mutex_init(&ev->wake_mu, NULL);
    pthread_cond_init(&ev->wake_cv, NULL);
    s->live_events = ev;
    *out = ev;
    return FR_OK;
}

struct fr_live_priors *fr_events_priors(struct fr_events *ev) {
    return ev->lp;
}

/* waits up to ms or until stopping; 1 when stopping */
static int nap(struct fr_events *ev, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(ms % 1000) * 1000000L;
    until.tv_sec += ms / 1000 + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&ev->wake_mu);
    if (!ev->stopping) pthread_cond_timedwait(&ev->wake_cv, &ev->wake_mu, &until);
    int stop = ev->stopping;
    pthread_mutex_unlock(&ev->wake_mu);
    return stop;
}

static void *refresher_main(void *arg) {
    fr_server *s = arg;
    struct fr_events *ev = s->live_events;
    while (!nap(ev, s->cfg.events_refresh_ms)) {
        fr_live_lock(s);
        if (ev->dirty) publish(s);
        fr_live_unlock(s);
    }
    return NULL;
}

static void *tailer_main(void *arg);

/* The parameters events records are made with now (a store without priors adopts the log's: the
 * first record another replica logged may set them), read under the commit lock. */
static fr_priors_params params_now(fr_server *s) {
    fr_live_lock(s);
    const fr_priors_params p = fr_live_priors_params(s->live_events->lp);
    fr_live_unlock(s);
    return p;
}

fr_status fr_events_start(fr_server *s, char *err, size_t errcap) {
    struct fr_events *ev = s->live_events;
    const char *why = fr_live_priors_ready(ev->lp);
    if (why) fr_log(2, "event=live_events_off message=\"%s\"", why);
    fr_live_lock(s);
    ev->started = 1;
    if (fr_live_priors_changed(ev->lp)) {
        publish(s); /* the replayed events */
        ev->since_compact = fr_live_priors_events(ev->lp);
    }
    atomic_store(&ev->events, (long)fr_live_priors_events(ev->lp));
    atomic_store(&ev->unknown, (long)fr_live_priors_unknown(ev->lp));
    fr_live_unlock(s);
    if (s->cfg.events_refresh_ms > 0) {
        if (pthread_create(&ev->refresher, NULL, refresher_main, s) != 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot start the priors refresh thread");
        ev->have_refresher = 1;
    }
    if (s->cfg.events_tail[0]) {
        if (why) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "--events-tail: %s", why);
        if (pthread_create(&ev->tailer, NULL, tailer_main, s) != 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot start the events tail thread");
        ev->have_tailer = 1;
    }
    return FR_OK;
}

void fr_events_stop(fr_server *s) {
    struct fr_events *ev = s->live_events;
    if (!ev) return;
    pthread_mutex_lock(&ev->wake_mu);
    ev->stopping = 1;
    pthread_cond_broadcast(&ev->wake_cv);
    pthread_mutex_unlock(&ev->wake_mu);
    if (ev->have_refresher) pthread_join(ev->refresher, NULL);
    if (ev->have_tailer) pthread_join(ev->tailer, NULL);
    ev->have_refresher = ev->have_tailer = 0;
}

void fr_events_free(struct fr_events *ev) {
    if (!ev) return;
    fr_live_priors_free(ev->lp);
    snap_unref(ev->snap);
    pthread_mutex_destroy(&ev->snap_mu);
    pthread_mutex_destroy(&ev->wake_mu);
    pthread_cond_destroy(&ev->wake_cv);
    free(ev);
}

/* ---------------- the commit's events side (commit_mu held) ---------------- */

int fr_events_check(fr_server *s, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    const char *why = fr_live_priors_ready(s->live_events->lp);
    if (why) {
        fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s", why);
        return GRPC_STATUS_FAILED_PRECONDITION;
    }
    fr_event_batch_info info;
    if (fr_event_batch_check(rec, len, &info, err, errcap)) return GRPC_STATUS_INVALID_ARGUMENT;
    const fr_priors_params p = fr_live_priors_params(s->live_events->lp);
    if (info.params.window != p.window || info.params.capacity != p.capacity || !(info.params.half_life == p.half_life)) {
        fr_fail(FR_ERR_ARG, err, errcap, "the record was made for other priors parameters (they changed under it); retry");
        return GRPC_STATUS_ABORTED;
    }
    return 0;
}

fr_status fr_events_applied(fr_server *s, const struct fr_delta *delta, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    struct fr_events *ev = s->live_events;
    uint32_t unknown = 0;
    fr_event_batch_info info = {0};
    fr_event_batch_check(rec, len, &info, err, errcap);
    const uint32_t n = info.n_events;
    pthread_rwlock_rdlock(&s->store_lock); /* ids resolve against the store a compaction may swap */
    fr_status rc = fr_live_priors_apply(ev->lp, s->store, delta, rec, len, &unknown, err, errcap);
    pthread_rwlock_unlock(&s->store_lock);
    if (rc) return rc; /* the caller logs it; a restart replays the log */
    atomic_fetch_add(&ev->events, (long)n);
    atomic_fetch_add(&ev->unknown, (long)unknown);
    ev->since_compact += n;
    ev->dirty = 1;
    if (s->cfg.events_refresh_ms == 0 && ev->started) publish(s);
    return FR_OK;
}

fr_status fr_events_catalogue(fr_server *s, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    struct fr_events *ev = s->live_events;
    pthread_rwlock_rdlock(&s->store_lock);
    fr_status rc = fr_live_priors_catalogue(ev->lp, s->store, rec, len, err, errcap);
    pthread_rwlock_unlock(&s->store_lock);
    if (!rc && fr_live_priors_changed(ev->lp)) ev->dirty = 1;
    return rc;
}

int fr_events_failed(fr_server *s, uint64_t pos, const char *msg) {
    struct fr_events *ev = s->live_events;
    if (!ev->started) return 0;
    if (!ev->failure_logged)
        fr_log(0, "event=live_priors_failed log_position=%llu message=\"%s\" action=refuse_events_until_restart%s", (unsigned long long)pos, msg, fr_live_priors_broken(ev->lp) ? " compaction=refused" : "");
    ev->failure_logged = 1;
    return 1;
}

fr_status fr_events_revived(fr_server *s, const int64_t *base_map, char ***revived, char *err, size_t errcap) {
    return fr_live_priors_revived(s->live_events->lp, base_map, s->store, revived, err, errcap);
}

fr_status fr_events_store_changed(fr_server *s, const int64_t *base_map, char **revived, char *err, size_t errcap) {
    struct fr_events *ev = s->live_events;
    fr_status rc = base_map ? fr_live_priors_rebase(ev->lp, base_map, revived, s->store, err, errcap) : FR_OK;
    if (!rc && ev->started && fr_live_priors_changed(ev->lp) && !fr_live_priors_ready(ev->lp)) publish(s);
    return rc;
}

fr_status fr_events_fold(fr_server *s, uint8_t **priors, size_t *priors_len, uint8_t **state, size_t *state_len, char ***added,
                         uint64_t *n_added, uint64_t *events, char *err, size_t errcap) {
    struct fr_events *ev = s->live_events;
    *priors = *state = NULL;
    *added = NULL;
    *n_added = 0;
    *events = ev->since_compact;
    if (fr_live_priors_broken(ev->lp)) /* the log holds events the builder lacks: trimming it would lose them */
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "not compacting: %s", fr_live_priors_ready(ev->lp));
    if (!fr_live_priors_changed(ev->lp) || fr_live_priors_ready(ev->lp)) return FR_OK; /* the store's sections stand */
    fr_status rc = fr_live_priors_sections(ev->lp, priors, priors_len, state, state_len, err, errcap);
    if (!rc && (rc = fr_live_priors_added(ev->lp, added, n_added, err, errcap))) {
        free(*priors);
        free(*state);
        *priors = *state = NULL;
    }
    return rc;
}

void fr_events_compacted(fr_server *s, uint64_t events) {
    struct fr_events *ev = s->live_events;
    fr_live_lock(s);
    ev->since_compact -= events <= ev->since_compact ? events : ev->since_compact;
    fr_live_unlock(s);
}

int fr_events_due(fr_server *s) {
    struct fr_events *ev = s->live_events;
    fr_live_lock(s);
    int due = ev->since_compact >= (uint64_t)s->cfg.compact_events;
    fr_live_unlock(s);
    return due;
}

/* ---------------- RecordEvents ---------------- */

void fr_events_handle(fr_server *s, call *c, const uint8_t *buf, size_t len) {
    char err[512];
    const fr_wire_cap caps[] = {{"events", MAX_EVENTS_PER_CALL}};
    if (fr_wire_check(&feedrank__v1__record_events_request__descriptor, buf, len, caps, 1, 64, err, sizeof err)) {
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    Feedrank__V1__RecordEventsRequest *m = feedrank__v1__record_events_request__unpack(NULL, len, buf);
    if (!m) {
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed RecordEventsRequest (not valid protobuf)");
        return;
    }
    fr_event_batch *b = NULL;
    fr_priors_params params;
    int code = 0;
    if (m->n_events == 0) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, sizeof err, "events is empty");
    } else if (m->n_events > MAX_EVENTS_PER_CALL) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, sizeof err, "events holds %zu entries; the limit is %d", m->n_events, MAX_EVENTS_PER_CALL);
    } else if ((params = params_now(s), fr_event_batch_new(&params, &b, err, sizeof err))) {
        code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i < m->n_events && !code; i++) {
        const Feedrank__V1__Event *e = m->events[i];
        const char *why = NULL;
        if (!e->user || !*e->user) why = "user is required";
        else if (!e->item || !*e->item) why = "item is required";
        else if (!e->has_ts) why = "ts is required";
        if (why) {
            code = GRPC_STATUS_INVALID_ARGUMENT;
            snprintf(err, sizeof err, "events[%zu].%s", i, why);
            break;
        }
        const fr_event one = {e->user, e->item, strlen(e->user), strlen(e->item), e->ts, e->has_weight ? e->weight : 1.0};
        char e2[256];
        if (fr_event_batch_add(b, &one, e2, sizeof e2)) {
            code = GRPC_STATUS_INVALID_ARGUMENT;
            snprintf(err, sizeof err, "events[%zu].%s", i, e2);
        }
    }
    if (!code) {
        size_t rl;
        const uint8_t *rec = fr_event_batch_bytes(b, &rl);
        uint64_t seq = 0;
        char ver[64];
        code = fr_live_commit(s, rec, rl, 0, &seq, ver, sizeof ver, err, sizeof err);
        if (!code) {
            atomic_fetch_add(&s->live_events->calls, 1);
            fr_live_answer(c, seq, ver, fr_event_batch_count(b));
        }
    }
    if (code) fr_call_finish(c, NULL, code, err);
    fr_event_batch_free(b);
    feedrank__v1__record_events_request__free_unpacked(m, NULL);
}

/* ---------------- the events file tail ---------------- */

typedef struct {
    fr_server *s;
    const char *path;
    FILE *f;
    uint64_t ino, offset, line; /* where the next line starts */
    char *buf;
} tail;

/* Opens the file; a new inode, or a size below the position, starts it over. 0 when open. */
static int tail_open(tail *t) {
    FILE *f = fopen(t->path, "rb");
    if (!f) return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return -1;
    }
    if (t->ino && (uint64_t)st.st_ino != t->ino) {
        fr_log(1, "event=events_tail_rotated file=%s old_inode=%llu inode=%llu offset=%llu action=read_from_start", t->path,
               (unsigned long long)t->ino, (unsigned long long)st.st_ino, (unsigned long long)t->offset);
        t->offset = t->line = 0;
    } else if ((uint64_t)st.st_size < t->offset) {
        fr_log(1, "event=events_tail_truncated file=%s size=%llu offset=%llu action=read_from_start", t->path, (unsigned long long)st.st_size,
               (unsigned long long)t->offset);
        t->offset = t->line = 0;
    }
    t->ino = (uint64_t)st.st_ino;
    if (t->f) fclose(t->f);
    t->f = f;
    return 0;
}

/* Reads the complete lines after t->offset (bounded), logs them as one record, advances.
 * 1 when lines were consumed, 0 when none were ready, -1 when the tail must stop. */
static int tail_step(tail *t) {
    fr_server *s = t->s;
    struct fr_events *ev = s->live_events;
    struct stat st;
    if (stat(t->path, &st) != 0 || (uint64_t)st.st_ino != t->ino || (uint64_t)st.st_size < t->offset) {
        if (tail_open(t)) return 0; /* gone for now: wait for it to come back */
        if (fstat(fileno(t->f), &st) != 0) return 0;
    }
    atomic_store(&ev->tail_size, (long long)st.st_size);
    if ((uint64_t)st.st_size == t->offset) return 0;
    size_t want = (uint64_t)st.st_size - t->offset > TAIL_MAX_BYTES ? TAIL_MAX_BYTES : (size_t)((uint64_t)st.st_size - t->offset);
    const ssize_t r = pread(fileno(t->f), t->buf, want, (off_t)t->offset);
    const size_t got = r > 0 ? (size_t)r : 0;
    size_t end = 0; /* after the last newline */
    for (size_t i = got; i > 0; i--)
        if (t->buf[i - 1] == '\n') {
            end = i;
            break;
        }
    if (end == 0) {
        if (got == TAIL_MAX_BYTES) {
            fr_log(0, "event=events_tail_stopped file=%s line=%llu message=\"a line longer than %u bytes\"", t->path, (unsigned long long)t->line + 1, TAIL_MAX_BYTES);
            return -1;
        }
        return 0; /* a line still being written */
    }
    char err[512];
    fr_event_batch *b;
    const fr_priors_params params = params_now(s);
    if (fr_event_batch_new(&params, &b, err, sizeof err)) return 0;
    uint64_t line = t->line, at = 0, lines = 0;
    int rc = 1;
    while (at < end && lines < TAIL_MAX_LINES) {
        const size_t line_start = at;
        const char *p = t->buf + at, *nl = memchr(p, '\n', end - at);
        size_t n = (size_t)(nl - p);
        at += n + 1;
        line++;
        lines++;
        while (n > 0 && (p[n - 1] == '\r')) n--;
        if (n == 0) continue;
        fr_log_event le;
        const char *why = fr_log_parse_jsonl(p, n, &le);
        if (!why) {
            const fr_event one = {le.user, le.item, le.user_len, le.item_len, le.ts, le.weight};
            if (fr_event_batch_add(b, &one, err, sizeof err)) why = err;
        }
        if (why) {
            long bad = atomic_fetch_add(&ev->tail_bad, 1) + 1;
            if (bad > s->cfg.events_tail_max_bad) {
                fr_log(0, "event=events_tail_stopped file=%s line=%llu message=\"%s\" bad_lines=%ld max_bad=%d", t->path, (unsigned long long)line, why,
                       bad, s->cfg.events_tail_max_bad);
                at = line_start; /* the lines before it are still logged */
                line--;
                rc = -1;
                break;
            }
            fr_log(1, "event=events_tail_bad_line file=%s line=%llu message=\"%s\" action=skipped", t->path, (unsigned long long)line, why);
        }
    }
    if (at > 0) {
        const fr_event_tail pos = {1, t->ino, t->offset + at, line};
        fr_event_batch_set_tail(b, &pos);
        size_t rl;
        const uint8_t *rec = fr_event_batch_bytes(b, &rl);
        uint64_t seq;
        char ver[64];
        int code = fr_live_commit(s, rec, rl, 0, &seq, ver, sizeof ver, err, sizeof err);
        if (code) {
            fr_log(0, "event=events_tail_commit_failed file=%s message=\"%s\" action=retry", t->path, err);
            rc = rc < 0 ? -1 : 0;
        } else {
            t->offset += at;
            t->line = line;
            atomic_store(&ev->tail_offset, (long long)t->offset);
        }
    }
    fr_event_batch_free(b);
    return rc;
}

static void *tailer_main(void *arg) {
    fr_server *s = arg;
    struct fr_events *ev = s->live_events;
    fr_live_lock(s);
    const fr_event_tail start = fr_live_priors_tail(ev->lp);
    fr_live_unlock(s);
    tail t = {s, s->cfg.events_tail, NULL, start.present ? start.file_id : 0, start.offset, start.line, malloc(TAIL_MAX_BYTES)};
    if (!t.buf) {
        fr_log(0, "event=events_tail_stopped file=%s message=\"out of memory\"", t.path);
        atomic_store(&ev->tail_state, 2);
        return NULL;
    }
    atomic_store(&ev->tail_offset, (long long)t.offset);
    atomic_store(&ev->tail_state, 1);
    if (tail_open(&t) == 0)
        fr_log(2, "event=events_tail_started file=%s offset=%llu line=%llu", t.path, (unsigned long long)t.offset, (unsigned long long)t.line);
    else
        fr_log(1, "event=events_tail_waiting file=%s message=\"%s\"", t.path, strerror(errno));
    for (;;) {
        int r = t.f ? tail_step(&t) : (tail_open(&t), 0);
        if (r < 0) {
            atomic_store(&ev->tail_state, 2);
            break;
        }
        if (r == 0 && nap(ev, TAIL_POLL_MS)) break;
        if (r > 0) {
            pthread_mutex_lock(&ev->wake_mu);
            int stop = ev->stopping;
            pthread_mutex_unlock(&ev->wake_mu);
            if (stop) break;
        }
    }
    if (t.f) fclose(t.f);
    free(t.buf);
    return NULL;
}

/* ---------------- metrics ---------------- */

void fr_events_metrics(fr_server *s, char *out, size_t cap) {
    struct fr_events *ev = s->live_events;
    if (!ev || cap == 0) return;
    int n = snprintf(out, cap,
                     "# HELP feedrank_live_events_total Interaction events logged into the live priors (RecordEvents and the events tail).\n"
                     "# TYPE feedrank_live_events_total counter\nfeedrank_live_events_total %ld\n"
                     "# HELP feedrank_live_events_unknown_items_total Of those, events whose item the store does not hold (counted, as offline).\n"
                     "# TYPE feedrank_live_events_unknown_items_total counter\nfeedrank_live_events_unknown_items_total %ld\n",
                     atomic_load(&ev->events), atomic_load(&ev->unknown));
    if (n < 0 || (size_t)n >= cap || !s->cfg.events_tail[0]) return;
    long long size = atomic_load(&ev->tail_size), off = atomic_load(&ev->tail_offset);
    snprintf(out + n, cap - (size_t)n,
             "# HELP feedrank_live_events_tail_offset_bytes Bytes of the events file logged so far.\n"
             "# TYPE feedrank_live_events_tail_offset_bytes gauge\nfeedrank_live_events_tail_offset_bytes %lld\n"
             "# HELP feedrank_live_events_tail_lag_bytes Bytes of the events file not yet logged.\n"
             "# TYPE feedrank_live_events_tail_lag_bytes gauge\nfeedrank_live_events_tail_lag_bytes %lld\n"
             "# HELP feedrank_live_events_tail_bad_lines_total Malformed lines in the events file.\n"
             "# TYPE feedrank_live_events_tail_bad_lines_total counter\nfeedrank_live_events_tail_bad_lines_total %ld\n"
             "# HELP feedrank_live_events_tail_up 1 while the tail follows its file, 0 once it stopped.\n"
             "# TYPE feedrank_live_events_tail_up gauge\nfeedrank_live_events_tail_up %d\n",
             off, size > off ? size - off : 0, atomic_load(&ev->tail_bad), atomic_load(&ev->tail_state) == 1);
}

/* oplog_local.c - the default log engine (oplog.h): the write-ahead log file of wal.h, on this
 * machine, with its sync policy. Appends are synced before they return (--sync-interval-ms 0) or
 * by a thread every N ms; a compaction rewrites the file without the folded records. One writer:
 * the caller applies its own appends (shared = 0). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oplog.h"
#include "server_internal.h"
#include "wal.h"

typedef struct {
    fr_oplog base;
    fr_wal *wal;
    pthread_mutex_t mu; /* serialises appends, syncs and rewrites (fr_wal is not thread-safe) */
    pthread_cond_t cv;
    int sync_ms, dirty, stopping, have_syncer;
    pthread_t syncer;
} local_log;

static void *syncer_main(void *arg) {
    local_log *l = arg;
    char err[512];
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)(l->sync_ms % 1000) * 1000000L;
        until.tv_sec += l->sync_ms / 1000 + ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&l->cv, &l->mu, &until);
        if (l->dirty && !fr_wal_broken(l->wal)) {
            if (fr_wal_sync(l->wal, err, sizeof err)) fr_log(0, "event=wal_sync_failed message=\"%s\" action=refuse_writes", err);
            l->dirty = 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static fr_status local_append(fr_oplog *o, const void *rec, size_t len, uint64_t *pos, char *err, size_t errcap) {
    local_log *l = (local_log *)o;
    pthread_mutex_lock(&l->mu);
    fr_status rc = fr_wal_append(l->wal, rec, len, pos, err, errcap);
    if (!rc && l->sync_ms == 0) rc = fr_wal_sync(l->wal, err, errcap);
    if (rc) fr_log(0, "event=wal_write_failed message=\"%s\" broken=%d", err, fr_wal_broken(l->wal));
    else l->dirty = l->sync_ms > 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static fr_status local_folded(fr_oplog *o, uint64_t pos, char *err, size_t errcap) {
    local_log *l = (local_log *)o;
    pthread_mutex_lock(&l->mu);
    fr_status rc = fr_wal_rewrite(l->wal, pos + 1, err, errcap);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static size_t local_metrics(fr_oplog *o, char *out, size_t cap) {
    local_log *l = (local_log *)o;
    pthread_mutex_lock(&l->mu);
    unsigned long long bytes = fr_wal_bytes(l->wal), pos = fr_wal_next_seq(l->wal) - 1;
    pthread_mutex_unlock(&l->mu);
    int n = snprintf(out, cap,
                     "# HELP feedrank_live_log_bytes Size of the write-ahead log.\n# TYPE feedrank_live_log_bytes gauge\nfeedrank_live_log_bytes %llu\n"
                     "# HELP feedrank_live_log_position Last record in the log.\n# TYPE feedrank_live_log_position gauge\nfeedrank_live_log_position %llu\n",
                     bytes, pos);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1
                                        : (size_t)n;
}

static int local_healthy(fr_oplog *o) {
    local_log *l = (local_log *)o;
    pthread_mutex_lock(&l->mu);
    int ok = !fr_wal_broken(l->wal);
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static void local_close(fr_oplog *o) {
    local_log *l = (local_log *)o;
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->have_syncer) pthread_join(l->syncer, NULL);
    char err[512];
    if (l->wal && l->dirty && fr_wal_sync(l->wal, err, sizeof err)) fr_log(0, "event=wal_sync_failed message=\"%s\"", err);
    fr_wal_close(l->wal);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

static const fr_oplog_engine LOCAL = {local_append, local_folded, local_metrics, local_healthy, local_close};

/* fr_wal_open's callback: the records the store does not hold yet, to the sink */
static fr_status replay_one(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    const fr_oplog_sink *sink = ctx;
    if (seq <= sink->base_pos) return FR_OK; /* already folded into the store */
    return sink->apply(sink->ctx, seq, rec, len, err, errcap);
}

fr_status fr_oplog_open_local(const char *path, int sync_interval_ms, int skip_corrupt, const fr_oplog_sink *sink,
                              fr_oplog **out, char *err, size_t errcap) {
    *out = NULL;
    local_log *l = calloc(1, sizeof *l);
    if (!l) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    l->base.e = &LOCAL;
    l->base.name = "local";
    snprintf(l->base.where, sizeof l->base.where, "%s", path);
    l->sync_ms = sync_interval_ms;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    fr_wal_open_info info;
    fr_status rc = fr_wal_open(path, sink->base_pos + 1, skip_corrupt, replay_one, (void *)sink, &l->wal, &info, err, errcap);
    if (!rc && info.first_seq > sink->base_pos + 1)
        rc = fr_fail(FR_ERR_VERIFY, err, errcap, "%s starts at log position %llu but the store holds updates only up to %llu: records are missing "
                                                 "(was the store replaced by an older one?)",
                     path, (unsigned long long)info.first_seq, (unsigned long long)sink->base_pos);
    if (rc) {
        local_close(&l->base);
        return rc;
    }
    if (info.torn_bytes)
        fr_log(1, "event=wal_torn_tail wal=%s offset=%llu bytes=%llu action=dropped message=\"a final record was cut short (a crash while it was written); it was never acknowledged\"",
               path, (unsigned long long)info.torn_offset, (unsigned long long)info.torn_bytes);
    if (info.skipped_bytes)
        fr_log(0, "event=wal_corrupt_skipped wal=%s offset=%llu bytes=%llu message=\"--wal-skip-corrupt: corrupt records dropped\"", path,
               (unsigned long long)info.skipped_offset, (unsigned long long)info.skipped_bytes);
    fr_log(2, "event=wal_replayed wal=%s records=%llu store_holds=%llu sync=%s", path, (unsigned long long)info.records,
           (unsigned long long)sink->base_pos, sync_interval_ms ? "interval" : "always");
    if (sync_interval_ms > 0) {
        if (pthread_create(&l->syncer, NULL, syncer_main, l) != 0) {
            local_close(&l->base);
            return fr_fail(FR_ERR_IO, err, errcap, "cannot start the log's sync thread");
        }
        l->have_syncer = 1;
    }
    *out = &l->base;
    return FR_OK;
}

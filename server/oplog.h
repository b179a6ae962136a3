/* oplog.h - the ordered log live updates go through: one small interface, two engines.
 *
 *   local (the default, --wal PATH): the write-ahead log file of wal.h on this machine. One writer;
 *       the caller applies its own appends (shared = 0).
 *   redis (--log redis://HOST:PORT/KEY): a Redis stream that every replica appends to and follows.
 *       Redis orders the records and assigns their positions (1, 2, 3, ... with no gaps, the same on
 *       every replica); a follower thread hands each record, this replica's own included, to the
 *       sink in log order (shared = 1), so every replica applies the same records in the same order.
 *       Durability is Redis' AOF with appendfsync always (checked at open).
 *
 * Both engines replay at open every record after sink->base_pos (what the store file already
 * holds) through sink->apply, in order, and refuse to open when records the store needs are gone.
 * A record's payload is opaque here: it is handed to sink->apply unchanged. */
#ifndef FR_OPLOG_H
#define FR_OPLOG_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Called once per record, in log order (pos = its log position). A non-zero status during the
 * replay fails the open with its message; on a follower it stops the following (logged). */
typedef fr_status (*fr_oplog_apply_fn)(void *ctx, uint64_t pos, const uint8_t *rec, size_t len, char *err, size_t errcap);

typedef struct {
    uint64_t base_pos; /* the log position the store already holds (fr_store_live_seq) */
    fr_oplog_apply_fn apply;
    void *ctx;
} fr_oplog_sink;

typedef struct fr_oplog fr_oplog;

/* An engine: one table of functions (every entry required). */
typedef struct {
    /* Appends one record and returns once it is durable (per the engine's contract); *pos is its
     * log position. A failure leaves nothing applied; for a shared log it may or may not have
     * landed (the caller answers UNAVAILABLE; applying an update twice is harmless). */
    fr_status (*append)(fr_oplog *o, const void *rec, size_t len, uint64_t *pos, char *err, size_t errcap);
    /* Records up to pos are folded into this replica's store: the log may drop them (local: the
     * file is rewritten; redis: this replica's folded position is recorded, and the stream is
     * trimmed to the lowest position any registered replica has folded). */
    fr_status (*folded)(fr_oplog *o, uint64_t pos, char *err, size_t errcap);
    /* Prometheus lines (HELP/TYPE included); returns the bytes written (< cap). */
    size_t (*metrics)(fr_oplog *o, char *out, size_t cap);
    /* 1 while appends can succeed (local: the file is not broken; redis: connected, following). */
    int (*healthy)(fr_oplog *o);
    void (*close)(fr_oplog *o); /* stops the engine's threads first: no apply call after it returns */
} fr_oplog_engine;

struct fr_oplog {
    const fr_oplog_engine *e;
    const char *name; /* "local" or "redis": named in logs and refusals */
    int shared;       /* 1: appends come back through sink->apply on the follower thread */
    char where[400];  /* the path or redis://host:port/key, for messages */
};

/* ---- local (wal.h) ---- */
/* sync_interval_ms 0: every append is fdatasync'ed before it returns; N: a thread syncs every N
 * ms. skip_corrupt: see wal.h. */
fr_status fr_oplog_open_local(const char *path, int sync_interval_ms, int skip_corrupt, const fr_oplog_sink *sink,
                              fr_oplog **out, char *err, size_t errcap);

/* ---- redis (oplog_redis.c) ---- */
typedef struct {
    char host[256];
    int port;
    char key[128];      /* the stream; KEY:pos holds the last position, KEY:folded each replica's folded one */
    char replica[65];   /* this replica's name in KEY:folded ([A-Za-z0-9._-], 1..64) */
    char password[256]; /* AUTH when non-empty */
    int weak_ok;        /* 1: start even when Redis is not appendonly yes + appendfsync always (warned) */
} fr_oplog_redis_config;

/* Parses redis://HOST:PORT/KEY (HOST a name or an IPv4 address, or [IPv6]; KEY 1..127 bytes of
 * [A-Za-z0-9._:-]) into c's host, port and key. flag names the setting in the message. */
fr_status fr_oplog_redis_parse_url(const char *flag, const char *url, fr_oplog_redis_config *c, char *err, size_t errcap);
fr_status fr_oplog_open_redis(const fr_oplog_redis_config *c, const fr_oplog_sink *sink, fr_oplog **out, char *err,
                              size_t errcap);

/* Walks a Redis reply the way the follower does (the fuzz target's entry): resp is RESP bytes
 * (what Redis sends) of an XRANGE/XREAD reply; every entry found is checked (id "POS-0",
 * fields with a record) and handed to fn in order. xread: the XREAD shape ([[key, entries]]). */
fr_status fr_oplog_redis_parse_reply(const uint8_t *resp, size_t len, int xread, fr_oplog_apply_fn fn, void *ctx, char *err,
                                     size_t errcap);

#endif

/* oplog_redis.c - the shared log engine (oplog.h): a Redis stream that every replica appends to
 * and follows. Redis is the only thing that orders writes; there is no protocol of ours between
 * replicas.
 *
 * Keys: KEY (the stream), KEY:pos (the last position given out), KEY:folded (a hash: replica name
 * -> the position its store file holds). An entry's id is "POS-0" and its fields are r (the record,
 * opaque bytes) and t (Redis' clock when it was added, ms), so positions are consecutive, the same
 * on every replica, and XTRIM MINID can cut at a position.
 *
 * Append: one Lua script (atomic in Redis, and one AOF entry) reads KEY:pos, XADDs POS+1 and only
 * then stores POS+1: a failing XADD (say, KEY:pos lost while the stream was kept) changes nothing,
 * so a position is never given out without its entry. Redis answers after the AOF is fsynced
 * (appendfsync always), which is the durability contract; the replica then waits until its own
 * follower has applied the entry before it acknowledges (read-your-writes, live.c).
 *
 * Follow: a thread with its own connection runs XREAD BLOCK from the last applied position and
 * hands each entry to the sink in order; a missing position stops it (never skipped). When Redis
 * is unreachable it reconnects with backoff (0.1 s doubling to 2 s), logging the outage once and
 * the recovery once; reads go on from the last applied version meanwhile.
 *
 * Trim: after a compaction a replica records its folded position in KEY:folded and, in the same
 * script, trims the stream to the lowest position of every registered replica. A replica registers
 * at open, in a script that first checks that the entries after its store's position are all still
 * there (else it refuses to start, saying so). */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "oplog.h"
#include "server.h"
#include "server_internal.h"

#define BATCH 512           /* entries per XRANGE / XREAD */
#define BLOCK_MS 500        /* XREAD BLOCK: how soon the follower notices it must stop */
#define CONNECT_MS 1000     /* connect timeout: a down Redis answers a write within about this */
#define COMMAND_MS 3000     /* command timeout (more than BLOCK_MS) */
#define MAX_BACKOFF_MS 2000 /* between reconnection attempts */
#define MAX_ARRAY 65536     /* elements of any array in a reply we read (our largest: BATCH entries) */

static const char APPEND_LUA[] =
    "local p = tonumber(redis.call('GET', KEYS[2]) or '0') + 1\n"
    "local t = redis.call('TIME')\n"
    "redis.call('XADD', KEYS[1], string.format('%d-0', p), 'r', ARGV[1], 't', string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000)))\n"
    "redis.call('SET', KEYS[2], string.format('%d', p))\n"
    "return p\n";
/* returns {last position given out, position of the stream's first entry (last + 1 when empty)};
 * registers the replica only when nothing it needs is missing */
static const char REGISTER_LUA[] =
    "local head = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "local base = tonumber(ARGV[2])\n"
    "local first = head + 1\n"
    "local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)\n"
    "if e[1] then first = tonumber(string.match(e[1][1], '^(%d+)-')) end\n"
    "if head >= base and (head == base or first <= base + 1) then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end\n"
    "return {head, first}\n";
/* returns {the lowest folded position, entries trimmed} */
static const char FOLDED_LUA[] =
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "local m = nil\n"
    "for _, x in ipairs(redis.call('HVALS', KEYS[2])) do\n"
    "  local n = tonumber(x) or 0\n"
    "  if m == nil or n < m then m = n end\n"
    "end\n"
    "return {m, redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-0', m + 1))}\n";

typedef struct {
    fr_oplog base;
    fr_oplog_redis_config cfg;
    char k_pos[160], k_folded[160];
    const fr_oplog_sink *sink;
    fr_oplog_sink sink_copy;
    pthread_mutex_t mu; /* the writer connection */
    redisContext *wc;
    int wc_gen;          /* conn_gen when wc was checked */
    atomic_int conn_gen; /* +1 each time the follower reconnects after an outage */
    redisContext *fc;    /* the follower's connection (its thread only) */
    pthread_t follower;
    int have_follower;
    atomic_int stopping, connected, broken;
    atomic_ullong applied, head, last_t_ms; /* last position handed to the sink, the stream's last, its time */
    atomic_long errors;
} redis_log;

/* ---------------- replies (the parser: every type and length checked) ---------------- */

/* hiredis' reader allocates an array's element table as soon as it reads the header ("*N"), before
 * any element arrives: a reply announcing 2^31 elements would ask for 16 GiB. Every reader we use
 * (the connections' and the fuzz entry's) takes hiredis' own reply functions with a bounded
 * createArray in front; a refused array is the reader's "out of memory" error, a failed reply. */
static redisReplyObjectFunctions bounded_fns;
static void *(*default_create_array)(const redisReadTask *, int);
static pthread_once_t bounded_once = PTHREAD_ONCE_INIT;

static void *bounded_create_array(const redisReadTask *task, int elements) {
    if (elements > MAX_ARRAY) return NULL;
    return default_create_array(task, elements);
}

static void bounded_init(void) {
    redisReader *rd = redisReaderCreate();
    if (!rd) return;
    bounded_fns = *rd->fn;
    default_create_array = bounded_fns.createArray;
    bounded_fns.createArray = bounded_create_array;
    redisReaderFree(rd);
}

/* 0 when the bounded functions could not be set up (out of memory at the first use) */
static int bound_reader(redisReader *rd) {
    pthread_once(&bounded_once, bounded_init);
    if (!default_create_array || !rd) return 0;
    rd->fn = &bounded_fns;
    return 1;
}

typedef struct {
    uint64_t pos, t_ms;
    const uint8_t *rec;
    size_t len;
} entry;

typedef fr_status (*entry_fn)(void *ctx, const entry *e, char *err, size_t errcap);

/* "POS-0": POS 1..2^63 in decimal, no sign, no leading zero */
static fr_status parse_id(const redisReply *r, uint64_t *pos, char *err, size_t errcap) {
    if (r->type != REDIS_REPLY_STRING || !r->str || r->len < 3 || r->len > 22)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry id is not a string of 3..22 bytes");
    size_t i = 0;
    uint64_t v = 0;
    for (; i < r->len && r->str[i] >= '0' && r->str[i] <= '9'; i++) {
        if (v > (UINT64_MAX / 2 - 9) / 10) return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry id %.22s: position too large", r->str);
        v = v * 10 + (uint64_t)(r->str[i] - '0');
    }
    if (i == 0 || v == 0 || r->str[0] == '0' || i + 2 != r->len || r->str[i] != '-' || r->str[i + 1] != '0')
        return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry id '%.*s' is not POSITION-0 (not written by feedrank?)", (int)r->len, r->str);
    *pos = v;
    return FR_OK;
}

/* entries: [[id, [field, value, ...]], ...] */
static fr_status walk_entries(const redisReply *r, entry_fn fn, void *ctx, char *err, size_t errcap) {
    if (r->type != REDIS_REPLY_ARRAY) return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entries: expected an array (reply type %d)", r->type);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !e->element[0] || !e->element[1])
            return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %zu: expected [id, fields]", i);
        entry x = {0, 0, NULL, 0};
        fr_status rc = parse_id(e->element[0], &x.pos, err, errcap);
        if (rc) return rc;
        const redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY || f->elements % 2)
            return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %llu: fields are not field/value pairs", (unsigned long long)x.pos);
        int have_rec = 0;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const redisReply *name = f->element[k], *val = f->element[k + 1];
            if (!name || !val || name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || !name->str || !val->str)
                return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %llu: field %zu is not a string pair", (unsigned long long)x.pos, k / 2);
            if (name->len == 1 && name->str[0] == 'r') {
                if (val->len == 0 || val->len > (64u << 20))
                    return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %llu: record of %zu bytes (1..64 MiB)", (unsigned long long)x.pos, val->len);
                x.rec = (const uint8_t *)val->str;
                x.len = val->len;
                have_rec = 1;
            } else if (name->len == 1 && name->str[0] == 't') {
                uint64_t t = 0;
                size_t d = 0;
                for (; d < val->len && d < 15 && val->str[d] >= '0' && val->str[d] <= '9'; d++) t = t * 10 + (uint64_t)(val->str[d] - '0');
                if (d == 0 || d != val->len)
                    return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %llu: field t is not a time in ms", (unsigned long long)x.pos);
                x.t_ms = t;
            }
        }
        if (!have_rec) return fr_fail(FR_ERR_FORMAT, err, errcap, "stream entry %llu has no record (field r)", (unsigned long long)x.pos);
        if ((rc = fn(ctx, &x, err, errcap))) return rc;
    }
    return FR_OK;
}

/* XREAD: nil (timeout) or [[key, entries]] */
static fr_status walk_xread(const redisReply *r, entry_fn fn, void *ctx, char *err, size_t errcap) {
    if (r->type == REDIS_REPLY_NIL) return FR_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || !r->element[0] || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2 || !r->element[0]->element[1])
        return fr_fail(FR_ERR_FORMAT, err, errcap, "XREAD reply: expected [[stream, entries]] (reply type %d)", r->type);
    return walk_entries(r->element[0]->element[1], fn, ctx, err, errcap);
}

/* an array of exactly n integers (the scripts' answers) */
static fr_status ints(const redisReply *r, size_t n, long long *out, const char *what, char *err, size_t errcap) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: expected %zu integers", what, n);
    for (size_t i = 0; i < n; i++) {
        if (!r->element[i] || r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: element %zu is not a non-negative integer", what, i);
        out[i] = r->element[i]->integer;
    }
    return FR_OK;
}

typedef struct {
    fr_oplog_apply_fn fn;
    void *ctx;
} apply_ctx;

static fr_status to_apply(void *ctx, const entry *e, char *err, size_t errcap) {
    const apply_ctx *a = ctx;
    return a->fn(a->ctx, e->pos, e->rec, e->len, err, errcap);
}

fr_status fr_oplog_redis_parse_reply(const uint8_t *resp, size_t len, int xread, fr_oplog_apply_fn fn, void *ctx, char *err,
                                     size_t errcap) {
    redisReader *rd = redisReaderCreate();
    if (!bound_reader(rd)) {
        if (rd) redisReaderFree(rd);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    void *reply = NULL;
    fr_status rc = FR_OK;
    if (redisReaderFeed(rd, (const char *)resp, len) != REDIS_OK || redisReaderGetReply(rd, &reply) != REDIS_OK)
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "not a Redis reply: %s", rd->errstr[0] ? rd->errstr : "unreadable");
    else if (!reply) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "an incomplete Redis reply");
    else {
        apply_ctx a = {fn, ctx};
        rc = xread ? walk_xread(reply, to_apply, &a, err, errcap) : walk_entries(reply, to_apply, &a, err, errcap);
    }
    if (reply) freeReplyObject(reply);
    redisReaderFree(rd);
    return rc;
}

/* ---------------- the URL ---------------- */

fr_status fr_oplog_redis_parse_url(const char *flag, const char *url, fr_oplog_redis_config *c, char *err, size_t errcap) {
    static const char P[] = "redis://";
    if (strncmp(url, P, sizeof P - 1) != 0)
        return fr_fail(FR_ERR_ARG, err, errcap, "%s '%.200s': expected redis://HOST:PORT/STREAM-KEY", flag, url);
    const char *hp = url + sizeof P - 1, *slash = strchr(hp, '/');
    if (hp[0] == '[') { /* [v6]:port/...: the slash is after the bracket */
        const char *close = strchr(hp, ']');
        slash = close ? strchr(close, '/') : NULL;
    }
    if (!slash || (size_t)(slash - hp) >= 300) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%.200s': expected redis://HOST:PORT/STREAM-KEY", flag, url);
    char hostport[300];
    memcpy(hostport, hp, (size_t)(slash - hp));
    hostport[slash - hp] = 0;
    char e2[400];
    if (fr_server_split_hostport(flag, hostport, c->host, sizeof c->host, &c->port, e2, sizeof e2))
        return fr_fail(FR_ERR_ARG, err, errcap, "%s (in '%.200s')", e2, url);
    if (c->port == 0) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%.200s': the port must be 1..65535", flag, url);
    const char *key = slash + 1;
    size_t kl = strlen(key);
    if (kl == 0 || kl >= sizeof c->key) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%.200s': the stream key must be 1..%zu bytes", flag, url, sizeof c->key - 1);
    for (size_t i = 0; i < kl; i++) {
        char ch = key[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return fr_fail(FR_ERR_ARG, err, errcap, "%s '%.200s': the stream key may hold only A-Z a-z 0-9 . _ : - (byte %zu)", flag, url, i);
    }
    memcpy(c->key, key, kl + 1);
    return FR_OK;
}

/* ---------------- connections ---------------- */

static void note_error(redis_log *l, const char *what, const char *msg) {
    atomic_fetch_add(&l->errors, 1);
    fr_log(3, "event=log_engine_error engine=redis what=%s message=\"%s\"", what, msg);
}

static redisContext *connect_one(redis_log *l, char *err, size_t errcap) {
    struct timeval ct = {CONNECT_MS / 1000, (CONNECT_MS % 1000) * 1000}, tt = {COMMAND_MS / 1000, (COMMAND_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(l->cfg.host, l->cfg.port, ct);
    if (!c || c->err) {
        fr_fail(FR_ERR_IO, err, errcap, "cannot connect to redis at %s:%d: %s", l->cfg.host, l->cfg.port, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    if (!bound_reader(c->reader)) {
        fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tt);
    if (l->cfg.password[0]) {
        const char *argv[] = {"AUTH", l->cfg.password};
        redisReply *r = redisCommandArgv(c, 2, argv, NULL);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (!ok)
            fr_fail(FR_ERR_ARG, err, errcap, "redis at %s:%d refused the password: %s", l->cfg.host, l->cfg.port,
                    r && r->type == REDIS_REPLY_ERROR && r->str ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* One command on *cp (connecting first when it is NULL). NULL with err filled on any failure; a
 * broken connection is dropped (the next call reconnects), an error reply keeps it. */
static redisReply *command(redis_log *l, redisContext **cp, int argc, const char **argv, const size_t *lens, char *err, size_t errcap) {
    if (!*cp && !(*cp = connect_one(l, err, errcap))) {
        note_error(l, argv[0], err);
        return NULL;
    }
    redisReply *r = redisCommandArgv(*cp, argc, argv, lens);
    if (!r) {
        fr_fail(FR_ERR_IO, err, errcap, "redis at %s:%d: %s", l->cfg.host, l->cfg.port, (*cp)->errstr[0] ? (*cp)->errstr : "connection lost");
        redisFree(*cp);
        *cp = NULL;
        note_error(l, argv[0], err);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fr_fail(FR_ERR_IO, err, errcap, "redis at %s:%d answered %s: %.300s", l->cfg.host, l->cfg.port, argv[0], r->str ? r->str : "an error");
        freeReplyObject(r);
        note_error(l, argv[0], err);
        return NULL;
    }
    return r;
}

/* ---------------- the follower ---------------- */

typedef struct {
    redis_log *l;
    int gap; /* 1 when an entry was missing */
} follow_ctx;

static fr_status deliver(void *ctx, const entry *e, char *err, size_t errcap) {
    follow_ctx *f = ctx;
    redis_log *l = f->l;
    uint64_t want = atomic_load(&l->applied) + 1;
    if (e->pos < want) return FR_OK; /* already applied (a replay overlapping the follower's first read) */
    if (e->pos > want) {
        f->gap = 1;
        return fr_fail(FR_ERR_VERIFY, err, errcap, "the stream %s jumps from position %llu to %llu: entries are missing (trimmed past this replica?)", l->cfg.key,
                       (unsigned long long)want - 1, (unsigned long long)e->pos);
    }
    fr_status rc = l->sink->apply(l->sink->ctx, e->pos, e->rec, e->len, err, errcap);
    if (rc) return rc;
    atomic_store(&l->applied, e->pos);
    if (e->t_ms) atomic_store(&l->last_t_ms, e->t_ms);
    if (e->pos > atomic_load(&l->head)) atomic_store(&l->head, e->pos);
    return FR_OK;
}

/* sleeps in 50 ms steps, so that close never waits long */
static void sleep_ms(redis_log *l, int ms) {
    for (int done = 0; done < ms && !atomic_load(&l->stopping); done += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* After an outage the follower saw, the writer's connection is to a Redis that is gone: drop it
 * before it is used, so the first write after Redis is back does not fail on it. mu held. */
static void fresh_writer(redis_log *l) {
    int g = atomic_load(&l->conn_gen);
    if (l->wc && l->wc_gen != g) {
        redisFree(l->wc);
        l->wc = NULL;
    }
    l->wc_gen = g;
}

static void refresh_head(redis_log *l) {
    char err[512];
    const char *argv[] = {"GET", l->k_pos};
    redisReply *r = command(l, &l->fc, 2, argv, NULL, err, sizeof err);
    if (!r) return;
    if (r->type == REDIS_REPLY_STRING && r->str && r->len > 0 && r->len < 20) {
        char *end;
        unsigned long long v = strtoull(r->str, &end, 10);
        if (end == r->str + r->len) atomic_store(&l->head, v);
    }
    freeReplyObject(r);
}

static void *follower_main(void *arg) {
    redis_log *l = arg;
    char err[1024], since[32];
    int backoff = 100, down = 0;
    while (!atomic_load(&l->stopping)) {
        if (atomic_load(&l->broken)) {
            sleep_ms(l, BLOCK_MS);
            continue;
        }
        snprintf(since, sizeof since, "%llu-0", (unsigned long long)atomic_load(&l->applied));
        char count[16], block[16];
        snprintf(count, sizeof count, "%d", BATCH);
        snprintf(block, sizeof block, "%d", BLOCK_MS);
        const char *argv[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", l->cfg.key, since};
        redisReply *r = command(l, &l->fc, 8, argv, NULL, err, sizeof err);
        if (!r) {
            atomic_store(&l->connected, 0);
            if (!down) fr_log(1, "event=log_engine_down engine=redis where=%s message=\"%s\" action=reconnect_with_backoff (reads go on; writes are refused)", l->base.where, err);
            down = 1;
            sleep_ms(l, backoff);
            backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
            continue;
        }
        if (down) atomic_fetch_add(&l->conn_gen, 1);
        if (down) fr_log(1, "event=log_engine_up engine=redis where=%s applied=%llu", l->base.where, (unsigned long long)atomic_load(&l->applied));
        down = 0;
        backoff = 100;
        atomic_store(&l->connected, 1);
        follow_ctx f = {l, 0};
        fr_status rc = walk_xread(r, deliver, &f, err, sizeof err);
        freeReplyObject(r);
        if (rc) {
            /* a record this replica cannot apply, or a missing position: never skipped */
            atomic_store(&l->broken, 1);
            atomic_fetch_add(&l->errors, 1);
            fr_log(0, "event=replica_stopped engine=redis where=%s applied=%llu message=\"%s\" action=reads_only (restart after fixing the log or the store)",
                   l->base.where, (unsigned long long)atomic_load(&l->applied), err);
            continue;
        }
        refresh_head(l);
    }
    return NULL;
}

/* ---------------- the engine ---------------- */

static fr_status redis_append(fr_oplog *o, const void *rec, size_t len, uint64_t *pos, char *err, size_t errcap) {
    redis_log *l = (redis_log *)o;
    if (atomic_load(&l->broken))
        return fr_fail(FR_ERR_IO, err, errcap, "this replica stopped following the log (see event=replica_stopped); writes are refused");
    const char *argv[] = {"EVAL", APPEND_LUA, "2", l->cfg.key, l->k_pos, rec};
    const size_t lens[] = {4, sizeof APPEND_LUA - 1, 1, strlen(l->cfg.key), strlen(l->k_pos), len};
    pthread_mutex_lock(&l->mu);
    fresh_writer(l);
    redisReply *r = command(l, &l->wc, 6, argv, lens, err, errcap);
    pthread_mutex_unlock(&l->mu);
    if (!r) return FR_ERR_IO;
    fr_status rc = FR_OK;
    if (r->type != REDIS_REPLY_INTEGER || r->integer <= 0) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "redis: the append script did not answer a position");
    else *pos = (uint64_t)r->integer;
    freeReplyObject(r);
    return rc;
}

static fr_status redis_folded(fr_oplog *o, uint64_t pos, char *err, size_t errcap) {
    redis_log *l = (redis_log *)o;
    char p[32];
    snprintf(p, sizeof p, "%llu", (unsigned long long)pos);
    const char *argv[] = {"EVAL", FOLDED_LUA, "2", l->cfg.key, l->k_folded, l->cfg.replica, p};
    pthread_mutex_lock(&l->mu);
    fresh_writer(l);
    redisReply *r = command(l, &l->wc, 7, argv, NULL, err, errcap);
    pthread_mutex_unlock(&l->mu);
    if (!r) return FR_ERR_IO;
    long long v[2] = {0, 0};
    fr_status rc = ints(r, 2, v, "the trim script", err, errcap);
    freeReplyObject(r);
    if (!rc)
        fr_log(2, "event=log_trimmed engine=redis where=%s replica=%s folded=%llu lowest_folded=%lld entries_trimmed=%lld", l->base.where, l->cfg.replica,
               (unsigned long long)pos, v[0], v[1]);
    return rc;
}

static size_t redis_metrics(fr_oplog *o, char *out, size_t cap) {
    redis_log *l = (redis_log *)o;
    unsigned long long applied = atomic_load(&l->applied), head = atomic_load(&l->head), t = atomic_load(&l->last_t_ms);
    unsigned long long behind = head > applied ? head - applied : 0;
    struct timeval now;
    gettimeofday(&now, NULL);
    double now_ms = (double)now.tv_sec * 1e3 + (double)now.tv_usec / 1e3;
    double lag_s = behind && t && now_ms > (double)t ? (now_ms - (double)t) / 1e3 : 0;
    int n = snprintf(out, cap,
                     "# HELP feedrank_live_log_position Last record in the shared log (the stream's head).\n# TYPE feedrank_live_log_position gauge\nfeedrank_live_log_position %llu\n"
                     "# HELP feedrank_replica_applied_position Last log record this replica applied.\n# TYPE feedrank_replica_applied_position gauge\nfeedrank_replica_applied_position %llu\n"
                     "# HELP feedrank_replica_lag_entries Records in the shared log this replica has not applied yet.\n# TYPE feedrank_replica_lag_entries gauge\nfeedrank_replica_lag_entries %llu\n"
                     "# HELP feedrank_replica_lag_seconds Age of the last applied record while records are waiting (0 when caught up).\n# TYPE feedrank_replica_lag_seconds gauge\nfeedrank_replica_lag_seconds %.3f\n"
                     "# HELP feedrank_replica_log_connected 1 while the follower is connected to the log engine.\n# TYPE feedrank_replica_log_connected gauge\nfeedrank_replica_log_connected %d\n"
                     "# HELP feedrank_replica_following 0 once the follower stopped on a record it could not apply or a missing one.\n# TYPE feedrank_replica_following gauge\nfeedrank_replica_following %d\n"
                     "# HELP feedrank_replica_log_errors_total Failed log engine commands (connections, timeouts, error replies).\n# TYPE feedrank_replica_log_errors_total counter\nfeedrank_replica_log_errors_total %ld\n",
                     head > applied ? head : applied, applied, behind, lag_s, atomic_load(&l->connected), !atomic_load(&l->broken), atomic_load(&l->errors));
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1
                                        : (size_t)n;
}

static int redis_healthy(fr_oplog *o) {
    redis_log *l = (redis_log *)o;
    return atomic_load(&l->connected) && !atomic_load(&l->broken);
}

static void redis_close(fr_oplog *o) {
    redis_log *l = (redis_log *)o;
    if (!l) return;
    atomic_store(&l->stopping, 1);
    if (l->have_follower) pthread_join(l->follower, NULL);
    if (l->wc) redisFree(l->wc);
    if (l->fc) redisFree(l->fc);
    pthread_mutex_destroy(&l->mu);
    memset(l->cfg.password, 0, sizeof l->cfg.password);
    free(l);
}

static const fr_oplog_engine REDIS = {redis_append, redis_folded, redis_metrics, redis_healthy, redis_close};

/* CONFIG GET name -> value in out ("" when Redis refuses CONFIG, as managed services often do) */
static fr_status config_get(redis_log *l, const char *name, char *out, size_t cap, char *err, size_t errcap) {
    out[0] = 0;
    const char *argv[] = {"CONFIG", "GET", name};
    redisReply *r = redisCommandArgv(l->wc, 3, argv, NULL);
    if (!r) return fr_fail(FR_ERR_IO, err, errcap, "redis at %s:%d: %s", l->cfg.host, l->cfg.port, l->wc->errstr);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1] && r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->str &&
        r->element[1]->len < cap)
        snprintf(out, cap, "%.*s", (int)r->element[1]->len, r->element[1]->str);
    freeReplyObject(r);
    return FR_OK;
}

/* the durability rule: AOF on with appendfsync always, or --log-weak-durability-ok 1 (warned);
 * a Redis that hides CONFIG (managed services) is trusted with a warning */
static fr_status check_durability(redis_log *l, char *err, size_t errcap) {
    char aof[16], fsync[16];
    fr_status rc;
    if ((rc = config_get(l, "appendonly", aof, sizeof aof, err, errcap)) || (rc = config_get(l, "appendfsync", fsync, sizeof fsync, err, errcap))) return rc;
    if (!aof[0] || !fsync[0]) {
        fr_log(1, "event=log_engine_durability_unknown engine=redis where=%s message=\"CONFIG GET is not allowed: make sure the service runs appendonly yes, appendfsync always\"",
               l->base.where);
        return FR_OK;
    }
    if (strcmp(aof, "yes") == 0 && strcmp(fsync, "always") == 0) return FR_OK;
    if (l->cfg.weak_ok) {
        fr_log(1, "event=log_engine_weak_durability engine=redis where=%s appendonly=%s appendfsync=%s message=\"acknowledged updates can be lost in a Redis crash\"",
               l->base.where, aof, fsync);
        return FR_OK;
    }
    return fr_fail(FR_ERR_ARG, err, errcap, "redis at %s:%d runs appendonly %s, appendfsync %s: an acknowledged update could be lost in a crash; "
                                            "configure appendonly yes and appendfsync always (or start with --log-weak-durability-ok 1)",
                   l->cfg.host, l->cfg.port, aof, fsync);
}

static fr_status replay(redis_log *l, char *err, size_t errcap) {
    for (;;) {
        char start[32], count[16];
        snprintf(start, sizeof start, "%llu-0", (unsigned long long)atomic_load(&l->applied) + 1);
        snprintf(count, sizeof count, "%d", BATCH);
        const char *argv[] = {"XRANGE", l->cfg.key, start, "+", "COUNT", count};
        redisReply *r = command(l, &l->wc, 6, argv, NULL, err, errcap);
        if (!r) return FR_ERR_IO;
        follow_ctx f = {l, 0};
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        fr_status rc = walk_entries(r, deliver, &f, err, errcap);
        freeReplyObject(r);
        if (rc) return rc;
        if (n < BATCH) return FR_OK;
    }
}

fr_status fr_oplog_open_redis(const fr_oplog_redis_config *c, const fr_oplog_sink *sink, fr_oplog **out, char *err, size_t errcap) {
    *out = NULL;
    redis_log *l = calloc(1, sizeof *l);
    if (!l) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    l->base.e = &REDIS;
    l->base.name = "redis";
    l->base.shared = 1;
    l->cfg = *c;
    l->sink_copy = *sink;
    l->sink = &l->sink_copy;
    snprintf(l->base.where, sizeof l->base.where, "redis://%s:%d/%s", c->host, c->port, c->key);
    snprintf(l->k_pos, sizeof l->k_pos, "%s:pos", c->key);
    snprintf(l->k_folded, sizeof l->k_folded, "%s:folded", c->key);
    pthread_mutex_init(&l->mu, NULL);
    atomic_store(&l->applied, sink->base_pos);
    fr_status rc = FR_OK;
    char e2[1024];
    if (!(l->wc = connect_one(l, e2, sizeof e2))) rc = fr_fail(FR_ERR_IO, err, errcap, "--log: %s", e2);
    if (!rc) rc = check_durability(l, err, errcap);
    if (!rc) {
        char base[32];
        snprintf(base, sizeof base, "%llu", (unsigned long long)sink->base_pos);
        const char *argv[] = {"EVAL", REGISTER_LUA, "3", c->key, l->k_pos, l->k_folded, c->replica, base};
        redisReply *r = command(l, &l->wc, 8, argv, NULL, err, errcap);
        long long v[2] = {0, 0};
        if (!r) rc = FR_ERR_IO;
        else if (!(rc = ints(r, 2, v, "the register script", err, errcap))) {
            if ((uint64_t)v[0] < sink->base_pos)
                rc = fr_fail(FR_ERR_VERIFY, err, errcap, "the store holds log position %llu but %s ends at %lld: this is not the log the store was built from (a new or flushed Redis?)",
                             (unsigned long long)sink->base_pos, l->base.where, v[0]);
            else if ((uint64_t)v[0] > sink->base_pos && (uint64_t)v[1] > sink->base_pos + 1)
                rc = fr_fail(FR_ERR_VERIFY, err, errcap, "the store holds log position %llu but %s starts at %lld: records %llu..%lld are missing (trimmed); "
                                                         "start this replica from a store compacted at %lld or later (copy one from another replica)",
                             (unsigned long long)sink->base_pos, l->base.where, v[1], (unsigned long long)sink->base_pos + 1, v[1] - 1, v[1] - 1);
            else atomic_store(&l->head, (uint64_t)v[0]);
        }
        if (r) freeReplyObject(r);
    }
    if (!rc && (rc = replay(l, e2, sizeof e2))) rc = fr_fail(rc, err, errcap, "replaying %s: %s", l->base.where, e2);
    if (!rc && pthread_create(&l->follower, NULL, follower_main, l) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "cannot start the log follower thread");
    if (rc) {
        redis_close(&l->base);
        return rc;
    }
    l->have_follower = 1;
    atomic_store(&l->connected, 1);
    fr_log(2, "event=log_opened engine=redis where=%s replica=%s store_holds=%llu applied=%llu head=%llu", l->base.where, c->replica,
           (unsigned long long)sink->base_pos, (unsigned long long)atomic_load(&l->applied), (unsigned long long)atomic_load(&l->head));
    *out = &l->base;
    return FR_OK;
}

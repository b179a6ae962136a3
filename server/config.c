/* config.c - server settings: defaults, a JSON config file, command-line flags (applied last). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_config.h"
#include "oplog.h"
#include "ops.h"
#include "profile.h"
#include "request_json.h"
#include "server.h"

void fr_server_config_default(fr_server_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->device, sizeof c->device, "cpu");
    snprintf(c->precision, sizeof c->precision, "default");
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:50051");
    c->metrics_port = 0;
    c->cq_threads = 2;
    c->compute_threads = 2; /* one stays free for light requests while the other runs a heavy one */
    c->max_batch = 32;
    c->max_wait_us = 0;
    c->omp_threads = 1;
    c->max_batch_tokens = 8192;
    c->max_queue = 1024;
    c->max_message_bytes = 8 << 20;
    c->max_embed_texts = 256;
    fr_rank_limits_default(&c->limits);
    c->limits.max_candidates = 10000;
    c->log_level = 2;
    snprintf(c->log_format, sizeof c->log_format, "text");
    c->store_check_ms = 1000;
    c->compact_items = 10000;
    c->compact_events = 1000000;
    c->events_refresh_ms = 1000;
    c->events_window = 10;
    c->events_neighbors = 1000;
    snprintf(c->events_half_life, sizeof c->events_half_life, "0");
    c->parse_threads = 2;
    c->http_max_connections = 256;
    c->http_timeout_s = 30;
    c->stream_window = 8;
    c->max_metadata_bytes = 8 << 10;
    c->max_concurrent_streams = 256;
    c->max_connection_idle_ms = 300000;
    c->max_connection_age_ms = 0;
    c->max_connection_age_grace_ms = 30000;
    c->keepalive_time_ms = 120000;
    c->keepalive_timeout_ms = 20000;
}

typedef enum { K_STR,
               K_INT,
               K_SYNC } kind; /* K_SYNC: "always" | "interval-ms:N", stored as the int N (0 = always) */
typedef struct {
    const char *name;
    kind k;
    size_t off, size;
    long lo, hi;
    const char *help;
} option;

#define S(f, h) \
    { #f, K_STR, offsetof(fr_server_config, f), sizeof(((fr_server_config *)0)->f), 0, 0, h }
#define I(f, lo, hi, h) \
    { #f, K_INT, offsetof(fr_server_config, f), sizeof(int), lo, hi, h }
static const option OPTS[] = {
    S(model, "model folder (default: $FEEDRANK_MODEL, else ./models/all-MiniLM-L6-v2)"),
    S(store, "item store from 'feedrank index' (required)"),
    S(device, "cpu | cuda | auto"),
    S(precision, "matrix-product operands: default (fp32, exact, on the CPU; fp16 on CUDA), auto (fp16 on CUDA and on CPUs with AVX-512 FP16, bf16 with AVX-512 BF16, else fp32), fp16, bf16, fp32 (exact)"),
    S(profile, "ranking profile (feedrank tune): the default options of every request"),
    S(listen, "gRPC address host:port (default 127.0.0.1:50051; port 0 = any free port, printed)"),
    I(metrics_port, 0, 65535, "Prometheus /metrics HTTP port, 0 = off"),
    S(metrics_listen, "host the metrics port binds (default: the --listen host; 0.0.0.0 = every address)"),
    S(metrics_token_file, "file with a bearer token that /metrics requires (default: none)"),
    S(http_listen, "HTTP/JSON listener host:port: POST /v1/rerank, POST /v1/embeddings (OpenAI-compatible), GET /health, /ready (default: off)"),
    I(http_max_connections, 1, 65536, "HTTP connections at once (default 256)"),
    I(http_timeout_s, 1, 3600, "close an HTTP connection idle this many seconds (default 30)"),
    I(cq_threads, 1, 64, "completion-queue threads (default 2; health checks have their own)"),
    I(parse_threads, 1, 64, "threads unpacking request messages (default 2)"),
    I(stream_window, 1, 4096, "RerankStream: requests in flight + responses unsent per stream (default 8)"),
    I(compute_threads, 1, 64, "encoder threads, each with its own encoder (default 2: heavy requests never take the last one, so small ones keep their latency)"),
    I(max_batch, 1, 4096, "requests per encoder pass (default 32)"),
    I(omp_threads, 0, 1024, "CPU threads per encoder pass (default 1; 0 = all cores)"),
    I(max_wait_us, 0, 1000000, "how long a batch waits to fill, in microseconds (default 0)"),
    I(max_batch_tokens, 16, 1 << 20, "token budget of one encoder pass (default 8192)"),
    I(max_queue, 1, 1 << 20, "waiting requests before RESOURCE_EXHAUSTED (default 1024)"),
    I(max_message_bytes, 1024, 1 << 30, "largest request message (default 8 MiB)"),
    I(max_embed_texts, 1, 1 << 20, "texts per Embed call (default 256)"),
    S(wal, "write-ahead log of live updates (UpsertItems/DeleteItems/RecordEvents; created when missing); default: off"),
    {"sync", K_SYNC, offsetof(fr_server_config, sync_interval_ms), sizeof(int), 1, 60000,
     "always (default) = every update is synced to disk before it is acknowledged; interval-ms:N = sync every N ms, 1..60000 (a machine crash can lose the last N ms of acknowledged updates)"},
    I(sync_interval_ms, 0, 60000, "the same as --sync, as a number: 0 = always, N = interval-ms:N"),
    I(wal_skip_corrupt, 0, 1, "start past a corrupt record in the middle of the log, dropping it (default 0: refuse to start, naming its offset)"),
    S(log, "redis://HOST:PORT/STREAM-KEY: live updates through a Redis stream shared by replicas instead of --wal (Redis with appendonly yes, appendfsync always); default: off"),
    S(replica_name, "this replica's name in the shared log (--log): 1..64 of A-Z a-z 0-9 . _ -, stable across restarts (e.g. the pod name)"),
    S(log_password_file, "file holding the Redis password for --log (or set FEEDRANK_LOG_PASSWORD); there is no password flag"),
    I(log_weak_durability_ok, 0, 1, "start with --log although Redis does not run appendonly yes + appendfsync always (default 0: refuse)"),
    I(compact_items, 1, 1 << 24, "fold live updates into the store file once this many ids changed (default 10000; writes are refused at 4x while compaction cannot run)"),
    I(compact_events, 1, 1 << 30, "... or once this many interaction events were logged since the last one (default 1000000)"),
    I(events_refresh_ms, 0, 600000, "live priors (RecordEvents, --events-tail): publish a new view for ranking at most every N ms (default 1000; 0 = after every call)"),
    S(events_tail, "follow this JSONL events file (the lines of feedrank index --interactions) into the live priors; needs --wal"),
    I(events_tail_max_bad, 0, 1 << 30, "malformed lines the events tail logs and skips before it stops (default 0: it stops at the first)"),
    I(events_window, 1, 64, "live priors over a store without priors: co-visitation window (default 10, as feedrank index --interactions)"),
    I(events_neighbors, 1, 4096, "... neighbours kept per item (default 1000)"),
    S(events_half_life, "... time decay half-life in the events' time unit (default 0 = none)"),
    I(store_check_ms, 0, 3600000, "check the store file for changes every N ms and reload it, validated (default 1000; 0 = only on SIGHUP)"),
    I(max_metadata_bytes, 1024, 1 << 20, "request metadata per call; more fails that call only (default 8192)"),
    I(max_concurrent_streams, 1, 1 << 20, "calls at once on one connection (default 256)"),
    I(max_connection_idle_ms, 0, 1 << 30, "close a connection without calls after this long (default 300000; 0 = never)"),
    I(max_connection_age_ms, 0, 1 << 30, "close connections this old, e.g. to rebalance (default 0 = never)"),
    I(max_connection_age_grace_ms, 0, 1 << 30, "time calls get to finish at max age (default 30000)"),
    I(keepalive_time_ms, 1000, 1 << 30, "ping a quiet connection this often (default 120000)"),
    I(keepalive_timeout_ms, 1000, 1 << 30, "close it if the ping is unanswered this long (default 20000)"),
    S(token_file, "file holding the bearer token clients must send (authorization: Bearer TOKEN)"),
    S(token, "the token itself: visible to every local user in ps and /proc; prefer --token-file or FEEDRANK_TOKEN"),
    S(tls_cert, "TLS certificate chain (PEM)"),
    S(tls_key, "TLS private key (PEM)"),
    S(tls_client_ca, "CA (PEM) for client certificates: enables mutual TLS"),
    I(log_level, 0, 3, "0 error, 1 warn, 2 info (default), 3 debug (also a line per successful request)"),
    S(log_format, "log lines: text (key=value, default) or json (one JSON object per line)"),
    I(force_store, 0, 1, "accept a store built by another model"),
};
#undef S
#undef I

static int set_limit(fr_server_config *c, const char *name, long v) {
    if (strcmp(name, "max_candidates") == 0) c->limits.max_candidates = (int)v;
    else if (strcmp(name, "max_history") == 0) c->limits.max_history = (int)v;
    else if (strcmp(name, "max_query_bytes") == 0) c->limits.max_query_bytes = (size_t)v;
    else if (strcmp(name, "max_mmr_depth") == 0) c->limits.max_mmr_depth = (int)v;
    else if (strcmp(name, "max_mmr_work") == 0) c->limits.max_mmr_work = v;
    else return 0;
    return 1;
}

static int set_option(fr_server_config *c, const char *name, const char *value, char *err, size_t errcap) {
    for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++) {
        const option *o = &OPTS[i];
        if (strcmp(o->name, name) != 0) continue;
        char *dst = (char *)c + o->off;
        if (o->k == K_STR) {
            if (strlen(value) >= o->size) {
                fr_fail(FR_ERR_ARG, err, errcap, "%s: value longer than %zu bytes", name, o->size - 1);
                return -1;
            }
            if (strcmp(name, "precision") == 0) { /* checked here, so that its source (flag, variable, file) is named */
                fr_precision p;
                char e2[160];
                if (fr_precision_parse(value, &p, e2, sizeof e2)) {
                    fr_fail(FR_ERR_ARG, err, errcap, "%s: %s", name, e2);
                    return -1;
                }
            }
            snprintf(dst, o->size, "%s", value);
            /* the token and its file replace each other, so the later source (flags over the
             * environment over the config file) decides, whichever form each one used */
            if (strcmp(name, "token") == 0) c->token_file[0] = 0;
            if (strcmp(name, "token_file") == 0) c->token[0] = 0;
            return 1;
        }
        const char *num = value;
        if (o->k == K_SYNC) {
            if (strcmp(value, "always") == 0) {
                memcpy(dst, &(int){0}, sizeof(int));
                return 1;
            }
            num = strncmp(value, "interval-ms:", 12) == 0 ? value + 12 : "";
        }
        char *end;
        errno = 0;
        long v = strtol(num, &end, 10);
        if (errno || end == num || *end || v < o->lo || v > o->hi || (o->k == K_SYNC && (*num < '0' || *num > '9'))) {
            if (o->k == K_SYNC) fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': expected always or interval-ms:N, N in %ld..%ld", name, value, o->lo, o->hi);
            else fr_fail(FR_ERR_ARG, err, errcap, "%s: '%s' is not an integer in %ld..%ld", name, value, o->lo, o->hi);
            return -1;
        }
        memcpy(dst, &(int){(int)v}, sizeof(int));
        return 1;
    }
    struct {
        const char *n;
        long lo, hi;
    } lims[] = {{"max_candidates", 1, 10000000}, {"max_history", 0, 1000000}, {"max_query_bytes", 1, 1 << 24}, {"max_mmr_depth", 0, 1000000}, {"max_mmr_work", 0, 1000000000000L}};
    for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++)
        if (strcmp(name, lims[i].n) == 0) {
            char *end;
            long v = strtol(value, &end, 10);
            if (end == value || *end || v < lims[i].lo || v > lims[i].hi) {
                fr_fail(FR_ERR_ARG, err, errcap, "%s: '%s' is not an integer in %ld..%ld", name, value, lims[i].lo, lims[i].hi);
                return -1;
            }
            return set_limit(c, name, v);
        }
    return 0;
}

fr_status fr_server_config_file(const char *path, fr_server_config *c, char *err, size_t errcap) {
    char *buf;
    size_t len;
    fr_status rc = fr_read_small_file(path, 1u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fr_fail(FR_ERR_ARG, err, errcap, "%s: not a JSON object", path);
    }
    const cJSON *it;
    char e2[512];
    cJSON_ArrayForEach(it, root) {
        if (strcmp(it->string, "arms") == 0) {
            if ((rc = fr_arms_from_json(it, c->arms, &c->n_arms, e2, sizeof e2))) {
                cJSON_Delete(root);
                return fr_fail(rc, err, errcap, "%s: %s", path, e2);
            }
            continue;
        }
        char value[1100];
        if (cJSON_IsString(it)) snprintf(value, sizeof value, "%s", it->valuestring);
        else if (cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble)) snprintf(value, sizeof value, "%.0f", it->valuedouble);
        else if (cJSON_IsBool(it)) snprintf(value, sizeof value, "%d", cJSON_IsTrue(it));
        else {
            cJSON_Delete(root);
            return fr_fail(FR_ERR_ARG, err, errcap, "%s: \"%s\" must be a string, integer or boolean", path, it->string);
        }
        int r = set_option(c, it->string, value, e2, sizeof e2);
        if (r <= 0) {
            /* the message is formatted before cJSON_Delete: the key name lives in the tree */
            if (r == 0) fr_fail(FR_ERR_ARG, err, errcap, "%s: unknown key \"%s\"", path, it->string);
            else fr_fail(FR_ERR_ARG, err, errcap, "%s: %s", path, e2);
            cJSON_Delete(root);
            return FR_ERR_ARG;
        }
    }
    cJSON_Delete(root);
    return FR_OK;
}

static void usage(FILE *f) {
    fprintf(f, "usage: feedrank serve --store STORE [--config FILE] [--KEY VALUE ...]\n"
               "Every key can be given as --key-with-dashes VALUE (or =VALUE), in the environment as FEEDRANK_KEY_WITH_UNDERSCORES\n"
               "(FEEDRANK_LISTEN, FEEDRANK_TOKEN, FEEDRANK_MODEL, ...) or in the JSON config file as \"key_with_underscores\";\n"
               "flags win over the environment, the environment over the file.\n"
               "The config file may also define A/B arms: \"arms\": [{\"name\": \"control\", \"weight\": 1,\n"
               "\"options\": {...request options...}}, ...]; flags override the file.\n\n");
    for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", OPTS[i].name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        fprintf(f, "  %-30s %s\n", flag, OPTS[i].help);
    }
    fprintf(f, "  %-30s %s\n", "--config FILE", "JSON config file: every key below, and \"arms\"");
    fprintf(f, "  %-30s %s\n  %-30s %s\n  %-30s %s\n", "--max-candidates", "candidates per request (default 10000)", "--max-history",
            "history items per request (default 1000)", "--max-query-bytes", "query bytes (default 16384)");
    fprintf(f, "  %-30s %s\n  %-30s %s\n", "--max-mmr-depth", "largest options.mmr_depth (default 1000)", "--max-mmr-work",
            "MMR depth x candidates per request (default 1000000)");
}

int fr_server_config_flags(int argc, char **argv, fr_server_config *c, char *err, size_t errcap) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        /* --key VALUE or --key=VALUE */
        const char *eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        } /* read before the flags */
        if (strncmp(argv[i], "--config=", 9) == 0) continue;
        if (strncmp(argv[i], "--", 2) != 0 || (!eq && i + 1 >= argc)) {
            fr_fail(FR_ERR_ARG, err, errcap, "unexpected argument '%s' (see --help)", argv[i]);
            return -1;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - argv[i] - 2) : (int)strlen(argv[i] + 2), argv[i] + 2);
        for (char *p = name; *p; p++)
            if (*p == '-') *p = '_';
        int r = set_option(c, name, eq ? eq + 1 : argv[i + 1], err, errcap);
        if (r < 0) return -1;
        if (r == 0) {
            fr_fail(FR_ERR_ARG, err, errcap, "unknown option '%.*s' (see --help)", eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]), argv[i]);
            return -1;
        }
        if (!eq) i++;
    }
    return 0;
}

/* the limits that are settings without an OPTS entry (set_option knows them) */
static const char *const LIMIT_NAMES[] = {"max_candidates", "max_history", "max_query_bytes", "max_mmr_depth", "max_mmr_work"};

/* FEEDRANK_ + name in upper case: "max_batch" -> FEEDRANK_MAX_BATCH */
static void env_name(const char *name, char *out, size_t cap) {
    int n = snprintf(out, cap, "FEEDRANK_%s", name);
    for (int k = 9; k < n && (size_t)k < cap; k++) out[k] = (char)(out[k] >= 'a' && out[k] <= 'z' ? out[k] - 32 : out[k]);
}

static fr_status env_one(fr_server_config *c, const char *name, char *err, size_t errcap) {
    char var[96], e2[256];
    env_name(name, var, sizeof var);
    const char *v = getenv(var);
    if (!v || !*v) return FR_OK;
    if (set_option(c, name, v, e2, sizeof e2) != 1) return fr_fail(FR_ERR_ARG, err, errcap, "environment %s: %s", var, e2);
    return FR_OK;
}

fr_status fr_server_config_env(fr_server_config *c, char *err, size_t errcap) {
    fr_status rc;
    for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++) {
        /* the token after its file, so that FEEDRANK_TOKEN wins when both are set */
        if (strcmp(OPTS[i].name, "token") != 0 && (rc = env_one(c, OPTS[i].name, err, errcap))) return rc;
    }
    if ((rc = env_one(c, "token", err, errcap))) return rc;
    for (size_t i = 0; i < sizeof LIMIT_NAMES / sizeof LIMIT_NAMES[0]; i++)
        if ((rc = env_one(c, LIMIT_NAMES[i], err, errcap))) return rc;
    return FR_OK;
}

fr_status fr_server_split_hostport(const char *flag, const char *addr, char *host, size_t hostcap, int *port, char *err,
                                   size_t errcap) {
    const char *colon, *h = addr;
    size_t hl;
    if (addr[0] == '[') { /* [v6]:port */
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') return fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': expected [IPv6]:PORT", flag, addr);
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': expected HOST:PORT", flag, addr);
        hl = (size_t)(colon - addr);
        if (memchr(addr, ':', hl)) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': an IPv6 host goes in brackets, [::1]:PORT", flag, addr);
    }
    if (hl == 0 || hl >= hostcap) return fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': the host is empty or too long", flag, addr);
    /* strtol would take "+5", " 5" or "0x10"; a port is plain digits, and gRPC itself would wrap
     * 99999 modulo 65536 and listen somewhere nobody asked for */
    const char *p = colon + 1;
    long v = 0;
    size_t nd = 0;
    for (; p[nd] >= '0' && p[nd] <= '9' && nd < 6; nd++) v = v * 10 + (p[nd] - '0');
    if (nd == 0 || p[nd] || v > 65535)
        return fr_fail(FR_ERR_ARG, err, errcap, "%s '%s': the port must be a number in 1..65535 (or 0 for any free port)", flag, addr);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)v;
    return FR_OK;
}

fr_status fr_read_token_file(const char *flag, const char *path, char *out, size_t cap, char *err, size_t errcap) {
    char *buf, e2[512];
    size_t len;
    if (fr_read_small_file(path, 4096, &buf, &len, e2, sizeof e2)) return fr_fail(FR_ERR_ARG, err, errcap, "%s: %s", flag, e2);
    size_t a = 0, b = len;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r' || buf[a] == '\n')) a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r' || buf[b - 1] == '\n')) b--;
    fr_status rc = FR_OK;
    if (b == a) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s %s: the file is empty", flag, path);
    else if (b - a >= cap) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s %s: the token is longer than %zu bytes", flag, path, cap - 1);
    else if (memchr(buf + a, '\n', b - a)) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s %s: the token must be one line", flag, path);
    else {
        memcpy(out, buf + a, b - a);
        out[b - a] = 0;
    }
    free(buf);
    return rc;
}

/* --log and its companions; the password comes from a file or FEEDRANK_LOG_PASSWORD, never a flag */
static fr_status check_log(fr_server_config *c, char *err, size_t errcap) {
    if (!c->log[0]) {
        if (c->replica_name[0] || c->log_password_file[0] || c->log_weak_durability_ok)
            return fr_fail(FR_ERR_ARG, err, errcap, "--%s needs --log redis://HOST:PORT/KEY",
                           c->replica_name[0] ? "replica-name" : c->log_password_file[0] ? "log-password-file"
                                                                                         : "log-weak-durability-ok");
        return FR_OK;
    }
    if (c->wal[0]) return fr_fail(FR_ERR_ARG, err, errcap, "--log and --wal exclude each other: a replica's log is the shared stream (--log) or a local file (--wal)");
    if (c->sync_interval_ms) return fr_fail(FR_ERR_ARG, err, errcap, "--sync interval-ms:N (--sync-interval-ms) applies to --wal; with --log, Redis' appendfsync decides");
    fr_oplog_redis_config rc;
    fr_status st = fr_oplog_redis_parse_url("--log", c->log, &rc, err, errcap);
    if (st) return st;
    size_t n = strlen(c->replica_name);
    if (n == 0) return fr_fail(FR_ERR_ARG, err, errcap, "--log needs --replica-name NAME (stable across restarts, unique per replica, e.g. the pod name)");
    if (n > 64) return fr_fail(FR_ERR_ARG, err, errcap, "--replica-name: 1..64 bytes");
    for (size_t i = 0; i < n; i++) {
        char ch = c->replica_name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return fr_fail(FR_ERR_ARG, err, errcap, "--replica-name '%s': only A-Z a-z 0-9 . _ - (byte %zu)", c->replica_name, i);
    }
    const char *env = getenv("FEEDRANK_LOG_PASSWORD");
    if (c->log_password_file[0]) return fr_read_token_file("--log-password-file", c->log_password_file, c->log_password, sizeof c->log_password, err, errcap);
    if (env && *env) {
        if (strlen(env) >= sizeof c->log_password) return fr_fail(FR_ERR_ARG, err, errcap, "FEEDRANK_LOG_PASSWORD: longer than %zu bytes", sizeof c->log_password - 1);
        snprintf(c->log_password, sizeof c->log_password, "%s", env);
    }
    return FR_OK;
}

fr_status fr_server_config_finish(fr_server_config *c, char *err, size_t errcap) {
    char host[256];
    int port;
    fr_status rc;
    if ((rc = fr_server_split_hostport("--listen", c->listen, host, sizeof host, &port, err, errcap))) return rc;
    if (!c->metrics_listen[0]) snprintf(c->metrics_listen, sizeof c->metrics_listen, "%s", host);
    else if (strchr(c->metrics_listen, ':') && c->metrics_listen[0] != '[' && !strchr(strchr(c->metrics_listen, ':') + 1, ':'))
        return fr_fail(FR_ERR_ARG, err, errcap, "--metrics-listen '%s': a host only; the port is --metrics-port", c->metrics_listen);
    if (c->token_file[0] && (rc = fr_read_token_file("--token-file", c->token_file, c->token, sizeof c->token, err, errcap))) return rc;
    if (c->metrics_token_file[0] &&
        (rc = fr_read_token_file("--metrics-token-file", c->metrics_token_file, c->metrics_token, sizeof c->metrics_token, err, errcap)))
        return rc;
    if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0)
        return fr_fail(FR_ERR_ARG, err, errcap, "--log-format '%s': expected text or json", c->log_format);
    if (c->metrics_token_file[0] && !c->metrics_port)
        return fr_fail(FR_ERR_ARG, err, errcap, "--metrics-token-file needs --metrics-port");
    if ((rc = check_log(c, err, errcap))) return rc;
    if (c->http_listen[0]) {
        if ((rc = fr_server_split_hostport("--http-listen", c->http_listen, host, sizeof host, &port, err, errcap))) return rc;
        if (c->tls_client_ca[0])
            return fr_fail(FR_ERR_ARG, err, errcap, "--http-listen does not support mutual TLS (--tls-client-ca): the HTTP listener would not check client certificates");
    }
    return FR_OK;
}

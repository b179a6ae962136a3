/* server.h - `feedrank serve`: the gRPC re-ranking service (feedrank.v1.Reranker + grpc.health.v1.Health)
 * on gRPC C core, messages in protobuf-c, Prometheus metrics over HTTP. */
#ifndef FR_SERVER_H
#define FR_SERVER_H

#include <stddef.h>

#include "ranker.h"
#include "status.h"

#include "arms.h" /* fr_arm, FR_MAX_ARMS */

typedef struct {
    char model[1024], store[1024], device[16];
    char precision[16];              /* auto | fp32 | fp16 | bf16 | default: matrix-product operands */
    char profile[1024];              /* ranking profile: default options of requests without an arm */
    fr_rank_options base_options;    /* from profile, else the built-in defaults */
    char listen[256];                /* host:port for gRPC (port 0: any free port, the real one is printed) */
    int metrics_port;                /* 0 = no metrics endpoint */
    char metrics_listen[256];        /* host the metrics endpoint binds; empty = the gRPC listen host */
    char metrics_token_file[1024];   /* file holding the bearer token /metrics requires (empty = none) */
    char metrics_token[256];         /* read from metrics_token_file at start-up */
    char http_listen[256];           /* HTTP/JSON listener host:port (empty = off): /v1/rerank, /v1/embeddings, /health, /ready */
    int http_max_connections;        /* HTTP connections at once (default 256) */
    int http_timeout_s;              /* an HTTP connection idle (or a request body stalled) this long is closed (default 30) */
    int parse_threads;               /* threads unpacking request messages, off the completion-queue threads (default 2) */
    int stream_window;               /* RerankStream: requests queued/computing + responses not yet sent, per stream (default 8) */
    int max_metadata_bytes;          /* request metadata larger than this fails that call alone (default 8 KiB) */
    int max_concurrent_streams;      /* calls at once on one HTTP/2 connection (default 256) */
    int max_connection_idle_ms;      /* GOAWAY a connection with no calls for this long (default 300000; 0 = never) */
    int max_connection_age_ms;       /* GOAWAY a connection this old (default 0 = never) */
    int max_connection_age_grace_ms; /* calls still running at max age get this long (default 30000) */
    int keepalive_time_ms;           /* server pings an idle connection this often (default 120000) */
    int keepalive_timeout_ms;        /* and closes it when a ping is not answered in time (default 20000) */
    int cq_threads;                  /* completion-queue threads (default 2) */
    int compute_threads;             /* encoders running batches (default 2; heavy requests never take the last one) */
    int omp_threads;                 /* CPU threads per encoder pass (default 1, so the gRPC threads keep a core on
                               small machines; 0 = all cores, for throughput over latency) */
    int max_batch;                   /* requests per encoder pass (default 32) */
    int max_wait_us;                 /* how long the first request of a batch waits for company (default 0: a batch is
                               whatever queued while the previous one ran) */
    int max_batch_tokens;            /* token budget of one encoder pass (default 8192) */
    int max_queue;                   /* requests waiting for compute before RESOURCE_EXHAUSTED (default 1024) */
    int max_message_bytes;           /* largest request accepted (default 8 MiB) */
    int max_embed_texts;             /* texts per Embed call (default 256) */
    fr_rank_limits limits;
    char token[256];                                         /* bearer token required when non-empty */
    char token_file[1024];                                   /* file holding the token (read at start-up; keeps it off the command line) */
    char tls_cert[1024], tls_key[1024], tls_client_ca[1024]; /* TLS when cert+key; mTLS when client CA too */
    int log_level;                                           /* 0 error, 1 warn, 2 info, 3 debug */
    char log_format[8];                                      /* "text" (key=value, default) or "json" (one JSON object per line) */
    int force_store;
    char wal[1024];               /* write-ahead log of live updates (UpsertItems/DeleteItems); empty = off */
    int sync_interval_ms;         /* 0 (default): every update is on disk before it is acknowledged; N: synced every N ms */
    int wal_skip_corrupt;         /* start past a corrupt record in the middle of the log (default 0: refuse to start) */
    int compact_items;            /* fold the live delta into the store file once it holds this many ids (default 10000) */
    char log[1024];               /* redis://HOST:PORT/KEY: a Redis stream shared by replicas instead of --wal (oplog.h) */
    char replica_name[65];        /* this replica's name in the shared log (required with --log) */
    char log_password_file[1024]; /* file holding the Redis password (or FEEDRANK_LOG_PASSWORD); never a flag */
    char log_password[256];       /* read at start-up from the file or the environment */
    int log_weak_durability_ok;   /* 1: start although Redis is not appendonly yes + appendfsync always */
    int compact_events;           /* ... or once this many events were logged since the last compaction (default 1000000) */
    int events_refresh_ms;        /* live priors: a new view for ranking at most this often (default 1000; 0 = after every call) */
    char events_tail[1024];       /* a JSONL events file followed like tail -F (default: none) */
    int events_tail_max_bad;      /* malformed lines the tail skips (logged) before it stops (default 0) */
    int events_window;            /* a store without priors: the builder's window, neighbours, half-life */
    int events_neighbors;         /* (defaults those of feedrank index --interactions: 10, 1000, 0) */
    char events_half_life[32];
    int store_check_ms; /* how often the store file is checked for changes, then reloaded (default 1000; 0 = only on SIGHUP) */
    fr_arm arms[FR_MAX_ARMS];
    int n_arms; /* 0: one implicit arm "default" with default options */
} fr_server_config;

void fr_server_config_default(fr_server_config *c);
/* Applies a JSON config file (same keys as the long flags, plus "arms"). Unknown keys are errors. */
fr_status fr_server_config_file(const char *path, fr_server_config *c, char *err, size_t errcap);
/* Applies command-line flags (after the config file). Returns 0, 1 for --help, -1 on error. */
int fr_server_config_flags(int argc, char **argv, fr_server_config *c, char *err, size_t errcap);
/* Applies the environment: every setting KEY (a flag --key-name, a config key "key_name") can be
 * given as FEEDRANK_KEY_NAME (upper case, underscores: FEEDRANK_LISTEN, FEEDRANK_TOKEN,
 * FEEDRANK_MAX_BATCH, FEEDRANK_MODEL). Call between the config file and the flags, so that flags
 * win over the environment and the environment over the file. An empty variable is ignored; a bad
 * value is an error naming the variable. */
fr_status fr_server_config_env(fr_server_config *c, char *err, size_t errcap);
/* After all sources: reads the token files and checks what no single option can (host:port shapes,
 * option pairs). The message names the flag at fault. */
fr_status fr_server_config_finish(fr_server_config *c, char *err, size_t errcap);
/* Splits "host:port" / "[v6]:port" into host (brackets removed) and port 0..65535. */
fr_status fr_server_split_hostport(const char *flag, const char *addr, char *host, size_t hostcap, int *port, char *err,
                                   size_t errcap);

/* The name of a gRPC status code ("UNAUTHENTICATED" for 16), as logs, metrics and the client print
 * it; "UNKNOWN_STATUS" outside 0..16. */
const char *fr_grpc_status_name(int code);

/* Reads a token file (server and client): one line; surrounding whitespace (the trailing newline
 * of `echo`) is not part of it. Errors name flag and path. */
fr_status fr_read_token_file(const char *flag, const char *path, char *out, size_t cap, char *err, size_t errcap);

/* Runs until SIGTERM/SIGINT, then drains: returns the process exit status. */
int fr_server_run(const fr_server_config *c);

#endif

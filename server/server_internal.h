/* server_internal.h - what the server's files share (not a public interface). */
#ifndef FR_SERVER_INTERNAL_H
#define FR_SERVER_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "encoder.h"
#include "feedrank/v1/reranker.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "descset.h"
#include "item_store.h"
#include "ranker.h"
#include "server.h"

enum { M_RERANK,
       M_EMBED,
       M_STREAM,
       M_HEALTH_CHECK,
       M_HEALTH_WATCH,
       M_REFLECT,
       M_REFLECT_ALPHA,
       M_UPSERT,
       M_DELETE,
       M_EVENTS,
       M_UNKNOWN,
       M_COUNT };
extern const char *const fr_method_names[M_COUNT];

/* ---- logging ---- */
void fr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fr_log_set_level(int level);
void fr_log_set_json(int json); /* 1: every line one JSON object (--log-format json) */
/* The line of one finished request (a unary call, one RerankStream message, a stream's end):
 * request id, arm (NULL: none), method, gRPC status by name, duration; errors say why. OK lines
 * are debug (level 3), INTERNAL errors level 0, other errors level 2. */
void fr_log_request(int method, const char *request_id, const char *arm, int code, const char *details, double seconds);
/* The request's own id (given, at most 64 bytes kept) or, when it has none, a server-made one
 * ("fr-PID-N"), so that every request line can be found. */
void fr_request_id(const char *given, char *out, size_t cap);
/* "OK", "NOT_FOUND", ... for a gRPC status code ("UNKNOWN" outside 0..16). */
const char *fr_grpc_status_name(int code);

/* ---- metrics (metrics.c) ---- */
#define LAT_BUCKETS 14
#define BATCH_BUCKETS 8
typedef struct {
    atomic_long requests[M_COUNT][17]; /* by grpc status code */
    atomic_long lat_bucket[M_COUNT][LAT_BUCKETS + 1];
    atomic_long lat_count[M_COUNT];
    atomic_llong lat_sum_us[M_COUNT];
    atomic_long batch_bucket[BATCH_BUCKETS + 1];
    atomic_long batches, batch_requests;
    atomic_long queue_depth;
    atomic_long arm_requests[FR_MAX_ARMS];
    atomic_llong arm_seconds_us[FR_MAX_ARMS]; /* latency of the requests each arm ranked */
    atomic_long arm_lat_bucket[FR_MAX_ARMS][LAT_BUCKETS + 1];
    atomic_long dropped_expired, dropped_cancelled;
} fr_metrics;

void fr_metrics_request(fr_metrics *m, int method, int code, double seconds);
void fr_metrics_batch(fr_metrics *m, int n);
/* A re-rank request ranked by arm `arm`, seconds after it arrived. */
void fr_metrics_arm(fr_metrics *m, int arm, double seconds);
struct MHD_Daemon;
typedef struct fr_server fr_server;
/* Binds host:port (a numeric address or a name; the first address it resolves to). */
struct MHD_Daemon *fr_metrics_start(fr_server *s, const char *host, int port, char *err, size_t errcap);
void fr_metrics_stop(struct MHD_Daemon *d);

/* ---- calls ---- */
typedef enum { T_NEW,
               T_CLOSE,
               T_DONE,
               T_RECV,
               T_SEND,
               T_SHUTDOWN } tag_type;
typedef struct call call;
typedef struct {
    tag_type type;
    call *c;
} tag;

struct call {
    fr_server *srv;
    int method;
    int cq_index;
    tag t_new, t_close, t_done, t_recv, t_send;
    grpc_call *call;
    uint64_t caller;           /* hash of the peer address: the compute queue's fairness key */
    grpc_call_details details; /* generic (unknown-method) calls only */
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload; /* request (unary) or received message (stream) */
    int close_cancelled;       /* filled by RECV_CLOSE_ON_SERVER */
    atomic_int cancelled;
    atomic_int refs; /* the call is freed when this drops to 0 */
    grpc_byte_buffer *response;
    grpc_slice status_details;
    double start;        /* monotonic seconds */
    char request_id[72]; /* for log lines: RerankRequest.request_id, else fr_request_id's */
    const char *arm;     /* unary Rerank: the arm's name (config-owned), else NULL */
    int status;          /* grpc status sent */
    /* streams (RerankStream, Health/Watch) */
    pthread_mutex_t mu;
    int recv_pending, send_pending, half_closed, finished, watch_last;
    struct outmsg *out_head; /* stream responses waiting to be sent, by seq */
    int in_flight;           /* stream requests being parsed, queued or computing */
    int n_out;               /* stream responses in out_head (ready, not yet handed to gRPC) */
    int dead;                /* stream cancelled or a send failed: drop responses, finish */
    long next_seq, send_seq;
    struct fr_http_exchange *http; /* an HTTP/JSON request (http.c): no grpc_call; answered there */
};

typedef struct outmsg {
    long seq;
    grpc_byte_buffer *bb;
    struct outmsg *next;
} outmsg;

/* ---- jobs and the batcher (batcher.c) ---- */
typedef struct job {
    call *c;
    int method; /* M_RERANK / M_EMBED / M_STREAM */
    Feedrank__V1__RerankRequest *rr;
    Feedrank__V1__EmbedRequest *er;
    Feedrank__V1__UpsertItemsRequest *ur; /* UpsertItems with texts to embed (live.c) */
    fr_rank_request req;
    fr_history_item *hist;
    fr_candidate *cands;
    int arm;
    size_t tokens;       /* token-budget estimate */
    long seq;            /* stream: response order */
    double start;        /* stream: when this message arrived (monotonic seconds) */
    char request_id[72]; /* fr_request_id of the message's request_id */
    int heavy;           /* set by fr_queue_push: runs alone, never on the reserved thread */
    /* Embed: done in slices, the job going back to its caller's lane between them */
    size_t next_text;
    float *out;
    fr_embed_info *out_info;
    struct job *next;
} job;

/* One caller's (one peer's) waiting jobs. */
typedef struct lane {
    uint64_t caller;
    job *head, *tail;
    struct lane *next; /* ring of non-empty lanes */
} lane;

/* The compute queue: a lane per caller, served round-robin, so one caller's burst (or one long
 * Embed, which comes back in slices) waits its turn behind everybody else's next request. Heavy
 * jobs may occupy at most heavy_limit compute threads, so with two or more threads one is always
 * free for light requests. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lane *cursor; /* the next lane to serve; NULL when empty */
    int depth, max_depth, stopping;
    int heavy_running, heavy_limit;
} job_queue;

void fr_queue_init(job_queue *q, int max_depth, int compute_threads);
void fr_queue_stop(job_queue *q); /* wakes every compute thread; later pushes fail */
void fr_queue_destroy(job_queue *q);
int fr_queue_push(job_queue *q, job *j); /* -1 when full or stopping */
void fr_job_free(job *j);

/* A message waiting for the parse pool: the unary request of c, or stream message seq of c. */
typedef struct parse_task {
    call *c;
    grpc_byte_buffer *bb;
    long seq;
    double t;
    struct parse_task *next;
} parse_task;

/* ---- the server ---- */
struct fr_server {
    fr_server_config cfg;
    grpc_server *server;
    grpc_completion_queue **cqs; /* cq_threads for the Reranker calls, then one for health */
    int health_cq;               /* index of the health checks' own queue in cqs */
    grpc_completion_queue *shutdown_cq;
    /* the parse pool: request messages are unpacked here, never on a completion-queue thread */
    pthread_mutex_t parse_mu;
    pthread_cond_t parse_cv;
    parse_task *parse_head, *parse_tail;
    int parse_depth, parse_stopping;
    pthread_t *parse_threads;
    void *method_handles[M_COUNT];
    pthread_t *cq_threads, *compute_threads;
    job_queue queue;
    fr_metrics metrics;
    atomic_int shutting_down;
    atomic_int serving; /* health: 1 SERVING, 0 NOT_SERVING */
    fr_store *store;
    struct fr_live *live;          /* live updates (live.c); NULL without --wal */
    struct fr_events *live_events; /* live priors (live_events.c); NULL without --wal */
    pthread_rwlock_t store_lock;   /* compute threads read-lock a batch; a reload write-locks the swap */
    atomic_int store_gen;          /* bumped by every successful reload */
    atomic_long reloads_ok, reloads_failed;
    fr_file_id store_attempted; /* the store file as the last reload found it (main thread only) */
    int store_attempted_set;
    char model_name[128], store_version[32], backend[16];
    uint64_t model_fp;
    int dim;
    /* health watchers */
    pthread_mutex_t watch_mu;
    call *watchers[256];
    int n_watchers;
    fr_descset *descset;     /* reflection: the compiled-in descriptor set, read at start-up */
    pthread_mutex_t refl_mu; /* reflection streams open now: ended at shutdown */
    call *refl_calls[256];
    int n_refl;
};

/* 1 when an `authorization` value is "Bearer TOKEN" (scheme case-insensitive, RFC 7235), in time
 * independent of where a wrong token differs. */
int fr_bearer_matches(const char *token, const uint8_t *value, size_t len);

void fr_request_next_call(fr_server *s, int method, int cq_index);
call *fr_call_new(fr_server *s, int method, int cq_index);
/* Shared by every transport: a ranker request checked against the server's limits, with its token
 * estimate (fr_rank_validate); an EmbedRequest message into a job (0, or a grpc status with err); the
 * message of a refused push. */
fr_status fr_rerank_job_admit(fr_server *s, job *j, char *err, size_t errcap);
int fr_embed_job(fr_server *s, call *c, const uint8_t *buf, size_t len, job **out, char *err, size_t errcap);
const char *fr_queue_refusal(fr_server *s);
/* Re-opens the item store path (SIGHUP): the new store is validated completely before it replaces
 * the old one, so no request sees a half-loaded store; on failure the old store keeps serving. */
void fr_server_reload_store(fr_server *s);
void fr_call_unref(call *c);
/* Sends a unary response (msg may be NULL for an error status) and releases the handler's ref. */
void fr_call_finish(call *c, grpc_byte_buffer *msg, int code, const char *details);
/* Streaming calls (RerankStream, reflection), with c->mu held: one receive (its completion holds a
 * ref); the final status, once, with the initial metadata when nothing was sent yet (details NULL =
 * none; its completion releases the handler's ref). */
void fr_stream_recv(call *c);
void fr_stream_finish(call *c, int code, const char *details);
/* Stream: queues response seq (NULL msg + code != 0 ends the stream with that status). */
void fr_stream_respond(call *c, long seq, grpc_byte_buffer *msg, int code, const char *details);
void *fr_compute_main(void *arg);
void fr_health_set(fr_server *s, int serving);
void fr_health_watch_add(fr_server *s, call *c);
void fr_health_watch_remove(fr_server *s, call *c);
void fr_health_watch_sent(fr_server *s, call *c, int ok);
/* Serialises a protobuf-c message into a grpc byte buffer. */
grpc_byte_buffer *fr_pack(const ProtobufCMessage *m);
/* Reads a grpc byte buffer (at most max bytes) into malloc'd memory. */
uint8_t *fr_unpack_bytes(grpc_byte_buffer *bb, size_t max, size_t *len);
double fr_now(void);

/* ---- reflection (reflection.c) ---- */
/* The FileDescriptorSet of every served .proto, written by protoc at build time (CMake). */
extern const uint8_t fr_descriptor_set[];
extern const size_t fr_descriptor_set_size;
#define FR_REFLECTION_MAX_REQUEST 65536
/* One reflection request (serialized ServerReflectionRequest, v1 or v1alpha: the same bytes) to
 * its serialized response (malloc'd). Unknown names are answered in-band (error_response
 * NOT_FOUND); FR_ERR_ARG only for a request that is not a valid message or too large. */
fr_status fr_reflection_answer(const fr_descset *d, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len, char *err,
                               size_t errcap);
void fr_reflection_start(fr_server *s, call *c);           /* a new ServerReflectionInfo call, authorised */
void fr_reflection_on_recv(fr_server *s, call *c, int ok); /* T_RECV */
void fr_reflection_on_sent(fr_server *s, call *c, int ok); /* T_SEND */
void fr_reflection_closed(fr_server *s, call *c);          /* T_CLOSE: the stream is over */
/* Shutdown: ends every open reflection stream (UNAVAILABLE), so an idle one (a browsing client
 * keeps it open) does not hold the drain for its 30 s. */
void fr_reflection_shutdown(fr_server *s);

/* ---- live updates (live.c): UpsertItems / DeleteItems through a write-ahead log ---- */
struct fr_delta;
/* After the store is loaded: opens and replays --wal (nothing when it is unset). */
fr_status fr_live_open(fr_server *s, char *err, size_t errcap);
void fr_live_close(fr_server *s);
/* Parse pool: an UpsertItems / DeleteItems message. Answers the call, or queues a job (texts). */
void fr_live_handle(fr_server *s, call *c, const uint8_t *buf, size_t len);
/* Compute thread: embeds an UpsertItems job's texts, commits it and answers (frees j). */
void fr_live_run_job(fr_server *s, fr_encoder *enc, job *j);
/* A batch's view of the live delta (NULL without --wal); call with store_lock read-held. */
struct fr_delta *fr_live_acquire(fr_server *s);
void fr_live_release(struct fr_delta *d);
/* Marks the candidates the delta holds (after fr_batch_embed_run) and writes the snapshot's
 * store_version ("BASEHASH.SEQ") into ver. */
void fr_live_mark(const fr_server *s, const struct fr_delta *d, fr_candidate *c, int n, char *ver, size_t vercap);
/* The same for a request's history items. */
void fr_live_mark_history(const struct fr_delta *d, fr_history_item *h, int n);
/* Main thread, between signals: compaction when the delta is over its threshold. */
void fr_live_tick(fr_server *s);
/* Prometheus lines for the live state (empty without --wal). */
void fr_live_metrics(fr_server *s, char *out, size_t cap);
/* One record through the log (RecordEvents, the events file tail): checked, appended, synced
 * per policy, then applied (dispatching on its kind). Returns a gRPC status (0 = ok) with the
 * message in err; *seq and ver (store_version) name where it landed. */
/* An UpdateResponse (log position, store_version, items) as the call's answer. */
void fr_live_answer(call *c, uint64_t seq, const char *ver, uint32_t items);
/* live.c's commit lock: held around every change to the log and the live priors. */
void fr_live_lock(fr_server *s);
void fr_live_unlock(fr_server *s);
int fr_live_commit(fr_server *s, const uint8_t *rec, size_t len, uint32_t n_items, uint64_t *seq, char *ver, size_t vercap,
                   char *err, size_t errcap);

/* ---- live events (live_events.c): RecordEvents, the events file tail, published priors ---- */
struct fr_events;
struct fr_priors_snapshot;
struct fr_live_priors;
/* Before the log is replayed: the live priors over s->store (live_priors.h). */
fr_status fr_events_create(fr_server *s, struct fr_events **out, char *err, size_t errcap);
struct fr_live_priors *fr_events_priors(struct fr_events *ev);
/* After the replay: the first published view, the refresh thread, the file tail (--events-tail). */
fr_status fr_events_start(fr_server *s, char *err, size_t errcap);
/* Stops the threads (before the log closes); frees at the end. */
void fr_events_stop(fr_server *s);
void fr_events_free(struct fr_events *ev);
/* commit_mu held: can an events record be logged now (a grpc status, 0 = yes)? */
int fr_events_check(fr_server *s, const uint8_t *rec, size_t len, char *err, size_t errcap);
/* commit_mu held, after the record is in the log (or replayed from it, or delivered by a shared
 * log's follower): applies it to the live priors. A failure (a store whose priors have no state,
 * out of memory part-way) leaves the live priors refusing later records until a restart. */
fr_status fr_events_applied(fr_server *s, const struct fr_delta *delta, const uint8_t *rec, size_t len, char *err, size_t errcap);
/* commit_mu held, after a catalogue record was applied: deleted items leave the live priors. */
fr_status fr_events_catalogue(fr_server *s, const uint8_t *rec, size_t len, char *err, size_t errcap);
/* commit_mu held, right after a compacted store was loaded: base_map (store_delta.h:
 * fr_delta_row_map, the old store's rows in the new one) renumbers the live builder for it (live_priors.h:
 * fr_live_priors_rebase); then a view for the new store is published. */
fr_status fr_events_store_changed(fr_server *s, const int64_t *base_map, char **revived, char *err, size_t errcap);
/* commit_mu held, before the compacted store is loaded: the ids of old rows base_map drops that
 * events named since (fr_live_priors_revived; for fr_events_store_changed). */
/* commit_mu held: a live priors failure at log position pos. Before start-up ends: 0 (the caller
 * fails the replay). After: logged (once) and 1 - the catalogue goes on; events and compaction
 * are refused until a restart replays the log. */
int fr_events_failed(fr_server *s, uint64_t pos, const char *msg);
fr_status fr_events_revived(fr_server *s, const int64_t *base_map, char ***revived, char *err, size_t errcap);
/* commit_mu held: sections to fold into a compacted store (NULL when nothing changed; caller
 * frees), and how many events they hold since the last compaction (for fr_events_compacted). A
 * failure means no compaction now: without them, trimming the log would drop events. */
fr_status fr_events_fold(fr_server *s, uint8_t **priors, size_t *priors_len, uint8_t **state, size_t *state_len, char ***added,
                         uint64_t *n_added, uint64_t *events, char *err, size_t errcap);
void fr_events_compacted(fr_server *s, uint64_t events);
/* 1 when --compact-events events wait to be folded. */
int fr_events_due(fr_server *s);
/* Parse pool: a RecordEvents message; answers the call. */
void fr_events_handle(fr_server *s, call *c, const uint8_t *buf, size_t len);
/* A batch's priors: the latest published view (NULL: the store's own); release after the batch. */
struct fr_priors_snapshot *fr_events_acquire(fr_server *s);
const fr_priors *fr_events_view(const struct fr_priors_snapshot *p);
void fr_events_release(struct fr_priors_snapshot *p);
/* Prometheus lines (appended to out[0..cap)). */
void fr_events_metrics(fr_server *s, char *out, size_t cap);

/* ---- codec (codec.c) ---- */
/* Before unpacking: repeated-field counts within the limits, no NUL byte in any string field
 * (wire_check.h). The message names the field. */
fr_status fr_codec_check_rerank_wire(const uint8_t *buf, size_t len, const fr_rank_limits *lim, char *err, size_t errcap);
fr_status fr_codec_check_embed_wire(const uint8_t *buf, size_t len, int max_texts, char *err, size_t errcap);
/* Converts a protobuf request into a ranker request (pointers into the message). */
/* The options a RerankOptions message sets, on top of *d (rank_options.def, field by field). */
fr_status fr_codec_options(const Feedrank__V1__RerankOptions *o, fr_rank_options *d, char *err, size_t errcap);
fr_status fr_codec_request(const Feedrank__V1__RerankRequest *m, const fr_rank_options *arm_defaults, job *j,
                           char *err, size_t errcap);
Feedrank__V1__RerankResponse *fr_codec_response(const job *j, const fr_rank_result *res, const char *model,
                                                const char *store_version, const char *arm);
void fr_codec_response_free(Feedrank__V1__RerankResponse *r);

/* ---- HTTP/JSON (http.c) ---- */
/* Listens on cfg.http_listen (TLS with the gRPC certificate when configured). NULL with err on failure. */
struct MHD_Daemon *fr_http_start(fr_server *s, int *port, char *err, size_t errcap);
void fr_http_quiesce(struct MHD_Daemon *d); /* stops accepting; requests in flight go on */
void fr_http_stop(struct MHD_Daemon *d);    /* waits for the requests in flight */
/* fr_call_finish of an HTTP request: hands the response (or error) to the waiting connection. */
void fr_http_finish(call *c, grpc_byte_buffer *msg, int code, const char *details);

#endif

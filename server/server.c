/* server.c - the gRPC C core event loop: one completion queue per thread, registered methods for
 * the known RPCs and a generic catch-all answering UNIMPLEMENTED; a call is requested again before
 * its handler runs, so the server is never deaf. Every call gets RECV_CLOSE_ON_SERVER, which is how
 * cancellations and disconnects are seen. Compute runs on the batcher's threads (batcher.c), which
 * send responses themselves; completions come back here.
 *
 * Threads and why:
 * - cq threads only move events: nothing slow runs on them, because a thread inside
 *   grpc_completion_queue_next also does the transport's reading and writing.
 * - grpc.health.v1 has a completion queue and thread of its own (its calls are requested on that
 *   queue only), so a probe is answered even while every other thread is busy.
 * - the parse pool unpacks request messages (an 8 MiB message of millions of empty candidates
 *   takes seconds). A pool rather than the compute threads: an encoder pass must not wait behind
 *   a parse, and batcher.c stays a consumer of ready jobs.
 * - RerankStream reads its next message only while the stream has fewer than stream_window
 *   requests in flight plus responses unsent, so a fast client slows down (HTTP/2 flow control
 *   pushes back to it) instead of filling the shared queue or the server's memory. */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <strings.h>
#include <sys/socket.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "model_config.h"
#include "profile.h"
#include "server_internal.h"

const char *const fr_method_names[M_COUNT] = {"Rerank", "Embed", "RerankStream", "HealthCheck", "HealthWatch",
                                              "ReflectionV1", "ReflectionV1alpha", "UpsertItems", "DeleteItems", "RecordEvents", "unknown"};
static const char *const method_paths[M_COUNT] = {"/feedrank.v1.Reranker/Rerank", "/feedrank.v1.Reranker/Embed",
                                                  "/feedrank.v1.Reranker/RerankStream", "/grpc.health.v1.Health/Check",
                                                  "/grpc.health.v1.Health/Watch",
                                                  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                                  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                                  "/feedrank.v1.Reranker/UpsertItems", "/feedrank.v1.Reranker/DeleteItems",
                                                  "/feedrank.v1.Reranker/RecordEvents", NULL};
/* Client-streaming methods: their messages are read with RECV_MESSAGE, not with the call. */
static int streaming(int m) { return m == M_STREAM || m == M_REFLECT || m == M_REFLECT_ALPHA; }

static int g_log_level = 2; /* process-wide server config: set once before threads start */
static int g_log_json;
void fr_log_set_level(int level) { g_log_level = level; }
void fr_log_set_json(int json) { g_log_json = json; }

typedef struct {
    char *p;
    size_t n, cap;
} logbuf; /* appends, truncating at cap - 1 */

static void lb_putc(logbuf *b, char c) {
    if (b->n + 1 < b->cap) b->p[b->n++] = c;
    b->p[b->n] = 0;
}

static void lb_puts(logbuf *b, const char *s) {
    while (*s) lb_putc(b, *s++);
}

static void lb_printf(logbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lb_printf(logbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k > 0) b->n += (size_t)k < b->cap - b->n ? (size_t)k : b->cap - b->n - 1;
}

/* s[0..len) as a JSON string (quotes included), or as a logfmt value (quoted and escaped when it
 * holds anything but plain characters): client-sent text can never break a line or fake a field. */
static void lb_value(logbuf *b, const char *s, size_t len, int json) {
    int quote = json || len == 0;
    for (size_t i = 0; i < len && !quote; i++) quote = (unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\' || s[i] == 0x7f;
    if (quote) lb_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            lb_putc(b, '\\');
            lb_putc(b, (char)c);
        } else if (c == '\n') lb_puts(b, "\\n");
        else if (c == '\t') lb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) lb_printf(b, "\\u%04x", c);
        else lb_putc(b, (char)c);
    }
    if (quote) lb_putc(b, '"');
}

/* Client text for a logfmt line (quoted and escaped when needed). */
static void logfmt_value(const char *in, char *out, size_t cap) {
    logbuf b = {out, 0, cap};
    out[0] = 0;
    lb_value(&b, in, strlen(in), 0);
}

/* The line's head: time and level. */
static void lb_head(logbuf *b, int level) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    const char *lv = names[level < 0 ? 0 : level > 3 ? 3
                                                     : level];
    lb_printf(b, g_log_json ? "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"" : "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, lv);
}

/* One field: ` key=value` or `,"key":"value"`. */
static void lb_field(logbuf *b, const char *key, const char *value) {
    lb_puts(b, g_log_json ? ",\"" : " ");
    lb_puts(b, key);
    lb_puts(b, g_log_json ? "\":" : "=");
    lb_value(b, value, strlen(value), g_log_json);
}

/* The server's own lines are written as logfmt (`event=x key=value key="quoted value"`); in JSON
 * mode each pair becomes a field. A quoted value ends at a quote followed by a space or the end,
 * so a message quoting something still comes through whole. */
static void logfmt_to_json(logbuf *b, const char *s) {
    while (*s) {
        while (*s == ' ') s++;
        const char *eq = s;
        while (*eq && *eq != '=' && *eq != ' ') eq++;
        if (*eq != '=' || eq == s) {
            lb_puts(b, ",\"text\":");
            lb_value(b, s, strlen(s), 1);
            return;
        }
        const char *v = eq + 1, *end;
        size_t vlen;
        if (*v == '"') {
            end = v + 1;
            while (*end && !(*end == '"' && (end[1] == ' ' || end[1] == 0))) end++;
            vlen = (size_t)(end - v - 1);
            v++;
            if (*end) end++;
        } else {
            end = v;
            while (*end && *end != ' ') end++;
            vlen = (size_t)(end - v);
        }
        lb_puts(b, ",");
        lb_value(b, s, (size_t)(eq - s), 1);
        lb_puts(b, ":");
        lb_value(b, v, vlen, 1);
        s = end;
    }
}

void fr_log(int level, const char *fmt, ...) {
    if (level > g_log_level) return;
    char line[4096], text[2048];
    logbuf b = {line, 0, sizeof line};
    line[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    lb_head(&b, level);
    if (g_log_json) {
        logfmt_to_json(&b, text);
        lb_putc(&b, '}');
    } else {
        lb_putc(&b, ' ');
        lb_puts(&b, text);
    }
    fprintf(stderr, "%s\n", line);
}

void fr_log_request(int method, const char *request_id, const char *arm, int code, const char *details, double seconds) {
    int level = code == GRPC_STATUS_OK ? 3 : code == GRPC_STATUS_INTERNAL ? 0
                                                                          : 2;
    if (level > g_log_level) return;
    char line[4096], dur[32];
    logbuf b = {line, 0, sizeof line};
    line[0] = 0;
    lb_head(&b, level);
    lb_field(&b, "event", "request");
    lb_field(&b, "request_id", request_id && *request_id ? request_id : "-");
    lb_field(&b, "arm", arm ? arm : "-");
    lb_field(&b, "method", fr_method_names[method]);
    lb_field(&b, "status", fr_grpc_status_name(code));
    snprintf(dur, sizeof dur, "%.6f", seconds);
    if (g_log_json) lb_printf(&b, ",\"duration\":%s", dur);
    else lb_field(&b, "duration", dur);
    if (details && *details) lb_field(&b, "message", details);
    if (g_log_json) lb_putc(&b, '}');
    fprintf(stderr, "%s\n", line);
}

void fr_request_id(const char *given, char *out, size_t cap) {
    static atomic_ulong next;
    if (given && *given) snprintf(out, cap, "%.64s", given);
    else snprintf(out, cap, "fr-%x-%lu", (unsigned)getpid(), (unsigned long)atomic_fetch_add(&next, 1) + 1);
}

double fr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

grpc_byte_buffer *fr_pack(const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return NULL;
    protobuf_c_message_pack(m, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
    free(buf);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

uint8_t *fr_unpack_bytes(grpc_byte_buffer *bb, size_t max, size_t *len) {
    if (!bb) return NULL;
    size_t n = grpc_byte_buffer_length(bb);
    if (n > max) return NULL;
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    uint8_t *out = malloc(GRPC_SLICE_LENGTH(s) + 1);
    if (out) {
        memcpy(out, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
        *len = GRPC_SLICE_LENGTH(s);
    }
    grpc_slice_unref(s);
    return out;
}

/* ---------------- call lifetime ---------------- */

call *fr_call_new(fr_server *s, int method, int cq_index) {
    call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = s;
    c->method = method;
    c->cq_index = cq_index;
    c->t_new = (tag){T_NEW, c};
    c->t_close = (tag){T_CLOSE, c};
    c->t_done = (tag){T_DONE, c};
    c->t_recv = (tag){T_RECV, c};
    c->t_send = (tag){T_SEND, c};
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    pthread_mutex_init(&c->mu, NULL);
    c->status_details = grpc_empty_slice();
    return c;
}

static void call_free(call *c) {
    if (c->call) grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->payload) grpc_byte_buffer_destroy(c->payload);
    if (c->response) grpc_byte_buffer_destroy(c->response);
    grpc_slice_unref(c->status_details);
    outmsg *o = c->out_head;
    while (o) {
        outmsg *n = o->next;
        if (o->bb) grpc_byte_buffer_destroy(o->bb);
        free(o);
        o = n;
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void fr_call_unref(call *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) call_free(c);
}

void fr_request_next_call(fr_server *s, int method, int cq_index) {
    if (atomic_load(&s->shutting_down)) return;
    call *c = fr_call_new(s, method, cq_index);
    if (!c) {
        fr_log(0, "event=oom what=call");
        return;
    }
    grpc_completion_queue *cq = s->cqs[cq_index];
    grpc_call_error e;
    if (method == M_UNKNOWN) {
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, cq, cq, &c->t_new);
    } else {
        int read_payload = !streaming(method);
        e = grpc_server_request_registered_call(s->server, s->method_handles[method], &c->call, &c->deadline, &c->md,
                                                read_payload ? &c->payload : NULL, cq, cq, &c->t_new);
    }
    if (e != GRPC_CALL_OK) {
        fr_log(1, "event=request_call_failed method=%s error=%d", fr_method_names[method], (int)e);
        call_free(c);
    }
}

/* Status + (optional) message + initial metadata in one batch; completion drops the handler's ref. */
void fr_call_finish(call *c, grpc_byte_buffer *msg, int code, const char *details) {
    if (c->http) {
        fr_http_finish(c, msg, code, details);
        return;
    }
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    int n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
    if (msg) {
        c->response = msg;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = msg;
        n++;
    }
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(details ? details : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n].data.send_status_from_server.status_details = &c->status_details;
    n++;
    c->status = code;
    fr_metrics_request(&c->srv->metrics, c->method, code, fr_now() - c->start);
    fr_log_request(c->method, c->request_id, c->arm, code, details, fr_now() - c->start);
    if (grpc_call_start_batch(c->call, ops, (size_t)n, &c->t_done, NULL) != GRPC_CALL_OK) {
        char rid[160];
        logfmt_value(c->request_id, rid, sizeof rid);
        fr_log(0, "event=send_failed request_id=%s method=%s", rid, fr_method_names[c->method]);
        fr_call_unref(c);
    }
}

/* ---------------- auth ---------------- */

int fr_bearer_matches(const char *token, const uint8_t *v, size_t vl) {
    /* credentials = auth-scheme 1*SP token68, and the scheme is case-insensitive (RFC 7235 2.1):
     * "bearer T" and "BEARER T" are the same credentials as "Bearer T" */
    if (vl < 7 || strncasecmp((const char *)v, "bearer", 6) != 0 || v[6] != ' ') return 0;
    size_t k = 6;
    while (k < vl && v[k] == ' ') k++;
    v += k;
    vl -= k;
    size_t tl = strlen(token);
    /* constant time in the token's length */
    unsigned diff = vl != tl;
    for (size_t i = 0; i < tl; i++) diff |= (unsigned)(i < vl ? v[i] : 0) ^ (unsigned char)token[i];
    return diff == 0;
}

static int authorized(const fr_server *s, const call *c) {
    if (!s->cfg.token[0]) return 1;
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *m = &c->md.metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) == 13 && memcmp(GRPC_SLICE_START_PTR(m->key), "authorization", 13) == 0)
            return fr_bearer_matches(s->cfg.token, GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
    }
    return 0;
}

/* Request metadata as HTTP/2 counts it (RFC 7541: name + value + 32 per entry). */
static size_t metadata_bytes(const grpc_metadata_array *md) {
    size_t n = 0;
    for (size_t i = 0; i < md->count; i++) n += GRPC_SLICE_LENGTH(md->metadata[i].key) + GRPC_SLICE_LENGTH(md->metadata[i].value) + 32;
    return n;
}

/* ---------------- handlers ---------------- */

static int pick_arm(fr_server *s, const Feedrank__V1__RerankRequest *m, char *err, size_t errcap) {
    return fr_arm_pick(s->cfg.arms, s->cfg.n_arms, m->arm, m->user_id, err, errcap);
}

/* Parses a RerankRequest into a job (rr owned by the job). Returns 0, or a grpc status with err. */
static int make_rerank_job(fr_server *s, call *c, const uint8_t *buf, size_t len, job **out, char *rid, size_t ridcap,
                           char *err, size_t errcap) {
    *out = NULL;
    if (rid && ridcap) rid[0] = 0;
    if (fr_codec_check_rerank_wire(buf, len, &s->cfg.limits, err, errcap)) return GRPC_STATUS_INVALID_ARGUMENT;
    Feedrank__V1__RerankRequest *m = feedrank__v1__rerank_request__unpack(NULL, len, buf);
    if (!m) {
        fr_fail(FR_ERR_ARG, err, errcap, "malformed RerankRequest (not valid protobuf)");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (rid && ridcap && m->request_id) snprintf(rid, ridcap, "%s", m->request_id);
    if (c->method == M_RERANK) { /* under mu: a cancellation's log line may read it meanwhile */
        pthread_mutex_lock(&c->mu);
        fr_request_id(m->request_id, c->request_id, sizeof c->request_id);
        pthread_mutex_unlock(&c->mu);
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        feedrank__v1__rerank_request__free_unpacked(m, NULL);
        fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    j->c = c;
    j->rr = m;
    j->method = c->method;
    j->start = c->start;
    fr_request_id(m->request_id, j->request_id, sizeof j->request_id);
    int arm = pick_arm(s, m, err, errcap);
    if (arm < 0) {
        fr_job_free(j);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    j->arm = arm;
    if (c->method == M_RERANK) c->arm = s->cfg.n_arms ? s->cfg.arms[arm].name : "default";
    fr_rank_options defaults;
    if (s->cfg.n_arms) defaults = s->cfg.arms[arm].options;
    else defaults = s->cfg.base_options;
    if (fr_codec_request(m, &defaults, j, err, errcap) || fr_rerank_job_admit(s, j, err, errcap)) {
        fr_job_free(j);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    *out = j;
    return 0;
}

fr_status fr_rerank_job_admit(fr_server *s, job *j, char *err, size_t errcap) {
    fr_status rc = fr_rank_validate(&j->req, &s->cfg.limits, err, errcap);
    if (rc) return rc;
    j->tokens = j->req.query ? j->req.query_len / 3 + 2 : 0;
    for (int i = 0; i < j->req.n_candidates; i++) /* an upper bound: only texts of unknown ids are embedded */
        if (j->req.candidates[i].text) j->tokens += j->req.candidates[i].text_len / 3 + 2;
    return FR_OK;
}

int fr_embed_job(fr_server *s, call *c, const uint8_t *buf, size_t len, job **out, char *err, size_t errcap) {
    Feedrank__V1__EmbedRequest *m = NULL;
    job *j = NULL;
    int code = 0;
    *out = NULL;
    if (fr_codec_check_embed_wire(buf, len, s->cfg.max_embed_texts, err, errcap)) code = GRPC_STATUS_INVALID_ARGUMENT;
    else if (!(m = feedrank__v1__embed_request__unpack(NULL, len, buf))) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, errcap, "malformed EmbedRequest (not valid protobuf)");
    } else if (m->n_texts == 0) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, errcap, "texts is empty");
    } else if (m->n_texts > (size_t)s->cfg.max_embed_texts) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, errcap, "%zu texts, the limit is %d", m->n_texts, s->cfg.max_embed_texts);
    } else if (m->has_kind && (m->kind < 0 || m->kind > 2)) {
        code = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, errcap, "kind %d is not PLAIN, QUERY or DOCUMENT", (int)m->kind);
    } else {
        size_t tok = 0;
        for (size_t i = 0; i < m->n_texts && !code; i++) {
            size_t l = strlen(m->texts[i]);
            if (l > s->cfg.limits.max_query_bytes) {
                code = GRPC_STATUS_INVALID_ARGUMENT;
                snprintf(err, errcap, "texts[%zu] is %zu bytes, the limit is %zu", i, l, s->cfg.limits.max_query_bytes);
            }
            tok += l / 3 + 2;
        }
        if (!code && !(j = calloc(1, sizeof *j))) {
            code = GRPC_STATUS_RESOURCE_EXHAUSTED;
            snprintf(err, errcap, "out of memory");
        }
        if (!code) {
            j->c = c;
            j->method = M_EMBED;
            j->er = m;
            m = NULL;
            j->tokens = tok;
        }
    }
    if (m) feedrank__v1__embed_request__free_unpacked(m, NULL);
    *out = j;
    return code;
}

const char *fr_queue_refusal(fr_server *s) {
    return atomic_load(&s->shutting_down) ? "server is shutting down" : "request queue is full; retry with backoff";
}

/* Parse pool: the unary request in c->payload into a job for the compute queue, or an error status. */
static void handle_unary(fr_server *s, call *c) {
    char err[512];
    size_t len = 0;
    uint8_t *buf = NULL;
    if (!c->payload) {
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
        return;
    }
    buf = fr_unpack_bytes(c->payload, (size_t)s->cfg.max_message_bytes, &len);
    if (!buf) {
        snprintf(err, sizeof err, "request message is larger than the %d-byte limit", s->cfg.max_message_bytes);
        fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    job *j = NULL;
    int code = 0;
    if (c->method == M_UPSERT || c->method == M_DELETE || c->method == M_EVENTS) { /* answered or queued by live.c */
        fr_live_handle(s, c, buf, len);
        free(buf);
        return;
    }
    if (c->method == M_RERANK) {
        code = make_rerank_job(s, c, buf, len, &j, NULL, 0, err, sizeof err);
    } else { /* M_EMBED */
        code = fr_embed_job(s, c, buf, len, &j, err, sizeof err);
    }
    free(buf);
    if (code) {
        fr_call_finish(c, NULL, code, err);
        return;
    }
    if (fr_queue_push(&s->queue, j)) {
        fr_job_free(j);
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, fr_queue_refusal(s));
    }
}

/* ---------------- the parse pool ---------------- */

/* Hands a message to the parse pool (bb NULL: the unary request in c->payload). -1 when the pool's
 * queue (bounded like the compute queue, by max_queue) is full or stopping. */
static int parse_submit(fr_server *s, call *c, grpc_byte_buffer *bb, long seq) {
    parse_task *t = malloc(sizeof *t);
    if (!t) return -1;
    *t = (parse_task){c, bb, seq, fr_now(), NULL};
    pthread_mutex_lock(&s->parse_mu);
    if (s->parse_stopping || s->parse_depth >= s->cfg.max_queue) {
        pthread_mutex_unlock(&s->parse_mu);
        free(t);
        return -1;
    }
    if (s->parse_tail) s->parse_tail->next = t;
    else s->parse_head = t;
    s->parse_tail = t;
    s->parse_depth++;
    pthread_cond_signal(&s->parse_cv);
    pthread_mutex_unlock(&s->parse_mu);
    return 0;
}

/* ---- RerankStream: at most one outstanding receive, responses sent in order, one send at a time ---- */
void fr_stream_recv(call *c) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    atomic_fetch_add(&c->refs, 1);
    c->recv_pending = 1;
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL) != GRPC_CALL_OK) {
        c->recv_pending = 0;
        fr_call_unref(c);
    }
}

void fr_stream_finish(call *c, int code, const char *details) {
    if (c->finished) return;
    c->finished = 1;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    int n = 0;
    if (c->send_seq == 0) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(details ? details : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    c->status = code;
    fr_metrics_request(&c->srv->metrics, c->method, code, fr_now() - c->start);
    fr_log_request(c->method, c->request_id, NULL, code, details, fr_now() - c->start);
    if (grpc_call_start_batch(c->call, ops, (size_t)n, &c->t_done, NULL) != GRPC_CALL_OK) fr_call_unref(c);
}

/* With c->mu held: starts the next receive when the stream has room. What counts is everything
 * the stream holds in the server (requests parsing, queued or computing, responses waiting or
 * being sent): a client that sends faster than it is served, or does not read, stops being read,
 * and HTTP/2 flow control then stops it, instead of its requests failing on a full queue or its
 * unread responses growing without bound. */
static void stream_maybe_recv(call *c) {
    if (c->recv_pending || c->half_closed || c->finished || c->dead || atomic_load(&c->cancelled)) return;
    if (c->in_flight + c->n_out + c->send_pending >= c->srv->cfg.stream_window) return;
    fr_stream_recv(c);
}

/* With c->mu held: sends the next in-order response, or the final status once all are out. */
static void stream_pump(call *c) {
    if (c->send_pending || c->finished) return;
    if (c->dead) { /* nobody will read them: drop, and end once the last request comes back */
        while (c->out_head) {
            outmsg *o = c->out_head;
            c->out_head = o->next;
            if (o->bb) grpc_byte_buffer_destroy(o->bb);
            free(o);
        }
        c->n_out = 0;
        if (c->in_flight == 0) fr_stream_finish(c, GRPC_STATUS_CANCELLED, "stream cancelled");
        return;
    }
    outmsg *o = c->out_head;
    if (o && o->seq == c->send_seq) {
        c->out_head = o->next;
        c->n_out--;
        grpc_op ops[2];
        memset(ops, 0, sizeof ops);
        int n = 0;
        if (c->send_seq == 0) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (c->response) grpc_byte_buffer_destroy(c->response);
        c->response = o->bb;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = o->bb;
        free(o);
        c->send_seq++;
        c->send_pending = 1;
        atomic_fetch_add(&c->refs, 1);
        if (grpc_call_start_batch(c->call, ops, (size_t)n, &c->t_send, NULL) != GRPC_CALL_OK) {
            c->send_pending = 0;
            fr_call_unref(c);
        }
        return;
    }
    if (c->half_closed && c->in_flight == 0 && !c->out_head) fr_stream_finish(c, GRPC_STATUS_OK, NULL);
}

void fr_stream_respond(call *c, long seq, grpc_byte_buffer *msg, int code, const char *details) {
    (void)code;
    (void)details;
    pthread_mutex_lock(&c->mu);
    outmsg *o = c->dead ? NULL : calloc(1, sizeof *o);
    if (o) {
        c->n_out++;
        o->seq = seq;
        o->bb = msg;
        /* insert sorted by seq (responses can finish out of order across batches) */
        outmsg **pp = &c->out_head;
        while (*pp && (*pp)->seq < seq) pp = &(*pp)->next;
        o->next = *pp;
        *pp = o;
    } else if (msg) {
        grpc_byte_buffer_destroy(msg);
    }
    c->in_flight--;
    stream_pump(c);
    stream_maybe_recv(c);
    pthread_mutex_unlock(&c->mu);
    fr_call_unref(c); /* the request's ref, taken when it was received */
}

/* Answers stream request seq with an error response (logged with the status a unary call would
 * have got); consumes the request's ref and in-flight count. */
static void stream_error_response(call *c, long seq, const char *request_id, int code, double t0, const char *msg) {
    char rid[72];
    fr_request_id(request_id, rid, sizeof rid);
    fr_log_request(M_STREAM, rid, NULL, code, msg, fr_now() - t0);
    Feedrank__V1__RerankResponse r;
    feedrank__v1__rerank_response__init(&r);
    r.request_id = (char *)(request_id ? request_id : "");
    r.error = (char *)msg;
    r.model = c->srv->model_name;
    fr_stream_respond(c, seq, fr_pack(&r.base), 0, NULL);
}

/* cq thread: takes the received message, hands it to the parse pool, reads on if there is room. */
static void on_stream_message(fr_server *s, call *c, int ok) {
    pthread_mutex_lock(&c->mu);
    c->recv_pending = 0;
    grpc_byte_buffer *bb = c->payload;
    c->payload = NULL;
    if (!ok || !bb || c->dead) { /* the client half-closed (or the call died) */
        if (!ok || !bb) c->half_closed = 1;
        stream_pump(c);
        pthread_mutex_unlock(&c->mu);
        if (bb) grpc_byte_buffer_destroy(bb);
        return;
    }
    long seq = c->next_seq++;
    c->in_flight++;
    atomic_fetch_add(&c->refs, 1); /* the request's ref: released by fr_stream_respond */
    pthread_mutex_unlock(&c->mu);
    if (parse_submit(s, c, bb, seq)) {
        grpc_byte_buffer_destroy(bb);
        stream_error_response(c, seq, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, fr_now(),
                              atomic_load(&s->shutting_down) ? "server is shutting down" : "request queue is full; retry with backoff");
    }
    pthread_mutex_lock(&c->mu);
    stream_maybe_recv(c);
    pthread_mutex_unlock(&c->mu);
}

/* Parse pool: stream message seq of c into a job (the request's ref and in-flight count go with it). */
static void parse_stream_message(fr_server *s, call *c, grpc_byte_buffer *bb, long seq, double t0) {
    char err[512];
    size_t len;
    uint8_t *buf = fr_unpack_bytes(bb, (size_t)s->cfg.max_message_bytes, &len);
    grpc_byte_buffer_destroy(bb);
    job *j = NULL;
    char rid[256];
    int code;
    if (!buf) {
        snprintf(err, sizeof err, "request %ld is larger than the %d-byte limit", seq, s->cfg.max_message_bytes);
        stream_error_response(c, seq, NULL, GRPC_STATUS_INVALID_ARGUMENT, t0, err);
    } else if ((code = make_rerank_job(s, c, buf, len, &j, rid, sizeof rid, err, sizeof err))) {
        stream_error_response(c, seq, rid, code, t0, err);
    } else {
        j->seq = seq;
        j->start = t0;
        if (fr_queue_push(&s->queue, j)) {
            Feedrank__V1__RerankRequest *m = j->rr;
            j->rr = NULL;
            fr_job_free(j);
            stream_error_response(c, seq, m->request_id, GRPC_STATUS_RESOURCE_EXHAUSTED, t0,
                                  atomic_load(&s->shutting_down) ? "server is shutting down" : "request queue is full; retry with backoff");
            feedrank__v1__rerank_request__free_unpacked(m, NULL);
        }
    }
    free(buf);
}

static void *parse_main(void *arg) {
    fr_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->parse_mu);
        while (!s->parse_head && !s->parse_stopping) pthread_cond_wait(&s->parse_cv, &s->parse_mu);
        parse_task *t = s->parse_head;
        if (!t) {
            pthread_mutex_unlock(&s->parse_mu);
            break;
        } /* stopping, and drained */
        s->parse_head = t->next;
        if (!s->parse_head) s->parse_tail = NULL;
        s->parse_depth--;
        pthread_mutex_unlock(&s->parse_mu);
        if (t->c->method == M_STREAM) parse_stream_message(s, t->c, t->bb, t->seq, t->t);
        else handle_unary(s, t->c);
        free(t);
    }
    return NULL;
}

static void on_new_call(fr_server *s, call *c, int ok) {
    if (!ok) {
        call_free(c);
        return;
    } /* the server is shutting down */
    fr_request_next_call(s, c->method, c->cq_index);
    c->start = fr_now();
    fr_request_id(NULL, c->request_id, sizeof c->request_id);
    char *peer = grpc_call_get_peer(c->call);
    c->caller = peer ? fr_hash64(peer, strlen(peer), 0x5EED) : 0;
    gpr_free(peer);
    /* one ref for RECV_CLOSE, one for the handler's final send */
    atomic_store(&c->refs, 2);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK) atomic_fetch_sub(&c->refs, 1);
    if (c->method == M_UNKNOWN) {
        char msg[600];
        char *m = grpc_slice_to_c_string(c->details.method);
        snprintf(msg, sizeof msg, "method %.500s is not implemented by feedrank", m);
        gpr_free(m);
        fr_call_finish(c, NULL, GRPC_STATUS_UNIMPLEMENTED, msg);
        return;
    }
    /* gRPC's own limit is set far above this one (see fr_server_run): there, 1.51 drops the whole
     * connection with every call on it; here only this call fails */
    size_t mdb = metadata_bytes(&c->md);
    if (mdb > (size_t)s->cfg.max_metadata_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "request metadata is %zu bytes, the limit is %d", mdb, s->cfg.max_metadata_bytes);
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
        return;
    }
    int health = c->method == M_HEALTH_CHECK || c->method == M_HEALTH_WATCH;
    if (!health && !authorized(s, c)) {
        fr_call_finish(c, NULL, GRPC_STATUS_UNAUTHENTICATED, "missing or wrong bearer token (metadata 'authorization: Bearer ...')");
        return;
    }
    switch (c->method) {
    case M_RERANK:
    case M_EMBED:
    case M_UPSERT:
    case M_DELETE:
    case M_EVENTS:
        if (parse_submit(s, c, NULL, -1))
            fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, atomic_load(&s->shutting_down) ? "server is shutting down" : "request queue is full; retry with backoff");
        break;
    case M_STREAM:
        pthread_mutex_lock(&c->mu);
        stream_maybe_recv(c);
        pthread_mutex_unlock(&c->mu);
        /* the handler's ref is released when the final status completes (T_DONE) */
        break;
    case M_REFLECT:
    case M_REFLECT_ALPHA: fr_reflection_start(s, c); break;
    case M_HEALTH_CHECK:
    case M_HEALTH_WATCH: {
        size_t len = 0;
        uint8_t *buf = c->payload ? fr_unpack_bytes(c->payload, 4096, &len) : NULL;
        Grpc__Health__V1__HealthCheckRequest *m = buf ? grpc__health__v1__health_check_request__unpack(NULL, len, buf) : NULL;
        free(buf);
        if (!m) {
            fr_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
            break;
        }
        int known = !m->service || !*m->service || strcmp(m->service, "feedrank.v1.Reranker") == 0 || strcmp(m->service, "grpc.health.v1.Health") == 0;
        grpc__health__v1__health_check_request__free_unpacked(m, NULL);
        if (c->method == M_HEALTH_CHECK) {
            if (!known) {
                fr_call_finish(c, NULL, GRPC_STATUS_NOT_FOUND, "unknown service");
                break;
            }
            Grpc__Health__V1__HealthCheckResponse r;
            grpc__health__v1__health_check_response__init(&r);
            r.status = atomic_load(&s->serving) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                                : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
            fr_call_finish(c, fr_pack(&r.base), GRPC_STATUS_OK, NULL);
        } else {
            c->watch_last = known ? -1 : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
            fr_health_watch_add(s, c);
        }
        break;
    }
    default: break;
    }
}

static void *cq_main(void *arg) {
    fr_server *s = ((void **)arg)[0];
    int idx = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    grpc_completion_queue *cq = s->cqs[idx];
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        tag *t = ev.tag;
        call *c = t->c;
        switch (t->type) {
        case T_NEW: on_new_call(s, c, ev.success); break;
        case T_CLOSE:
            if (c->close_cancelled) {
                atomic_store(&c->cancelled, 1);
                char rid[160];
                pthread_mutex_lock(&c->mu);
                logfmt_value(c->request_id, rid, sizeof rid);
                pthread_mutex_unlock(&c->mu);
                fr_log(3, "event=cancelled request_id=%s method=%s", rid, fr_method_names[c->method]);
            }
            if (c->method == M_HEALTH_WATCH) fr_health_watch_remove(s, c);
            if (c->method == M_REFLECT || c->method == M_REFLECT_ALPHA) fr_reflection_closed(s, c);
            if (c->method == M_STREAM && c->close_cancelled) { /* stop reading and sending; end once the work is back */
                pthread_mutex_lock(&c->mu);
                c->dead = 1;
                stream_pump(c);
                pthread_mutex_unlock(&c->mu);
            }
            fr_call_unref(c);
            break;
        case T_DONE: fr_call_unref(c); break;
        case T_RECV:
            if (c->method == M_REFLECT || c->method == M_REFLECT_ALPHA) fr_reflection_on_recv(s, c, ev.success);
            else on_stream_message(s, c, ev.success);
            fr_call_unref(c);
            break;
        case T_SEND:
            if (c->method == M_REFLECT || c->method == M_REFLECT_ALPHA) {
                fr_reflection_on_sent(s, c, ev.success);
                fr_call_unref(c);
                break;
            }
            pthread_mutex_lock(&c->mu);
            c->send_pending = 0;
            if (c->method == M_HEALTH_WATCH) {
                pthread_mutex_unlock(&c->mu);
                fr_health_watch_sent(s, c, ev.success);
            } else {
                if (!ev.success) c->dead = 1; /* the client is gone: what is still queued has no reader */
                stream_pump(c);
                stream_maybe_recv(c);
                pthread_mutex_unlock(&c->mu);
            }
            fr_call_unref(c);
            break;
        default: break;
        }
    }
    return NULL;
}

void fr_server_reload_store(fr_server *s) {
    char err[1024];
    fr_store *fresh = NULL;
    double t0 = fr_now();
    /* remembered before reading: a failed attempt is not retried until the file changes again */
    if (fr_file_id_get(s->cfg.store, &s->store_attempted, err, sizeof err) == FR_OK) s->store_attempted_set = 1;
    if (fr_store_load(s->cfg.store, s->model_fp, s->cfg.force_store, &fresh, err, sizeof err)) {
        atomic_fetch_add(&s->reloads_failed, 1);
        fr_log(0, "event=store_reload_failed store=%s message=\"%s\" action=keep_serving_old_store", s->cfg.store, err);
        return;
    }
    if (fr_store_info_of(fresh)->dim != s->dim) {
        atomic_fetch_add(&s->reloads_failed, 1);
        fr_log(0, "event=store_reload_failed store=%s message=\"dimension %d, the model's is %d\" action=keep_serving_old_store", s->cfg.store, fr_store_info_of(fresh)->dim, s->dim);
        fr_store_close(fresh);
        return;
    }
    pthread_rwlock_wrlock(&s->store_lock);
    fr_store *old = s->store;
    s->store = fresh;
    snprintf(s->store_version, sizeof s->store_version, "%016llx", (unsigned long long)fr_store_info_of(fresh)->content_hash);
    atomic_fetch_add(&s->store_gen, 1);
    pthread_rwlock_unlock(&s->store_lock);
    fr_store_close(old); /* no batch holds it: batches read-lock, and rankers are rebuilt before use */
    atomic_fetch_add(&s->reloads_ok, 1);
    fr_log(2, "event=store_reloaded store=%s items=%llu store_version=%s ms=%.1f", s->cfg.store,
           (unsigned long long)fr_store_info_of(fresh)->count, s->store_version, 1e3 * (fr_now() - t0));
}

/* Called every store_check_ms: the served store is a private copy (fr_store_load), so a file
 * truncated or copied over in place cannot hurt requests; a file that changed is reloaded through
 * the validated path, and one that fails validation (say, half copied) is tried again only once
 * it changes again, so the old store keeps serving meanwhile. */
static void check_store_file(fr_server *s) {
    fr_file_id now;
    char err[512];
    if (fr_file_id_get(s->cfg.store, &now, err, sizeof err)) return; /* moved away for now: keep serving */
    if (fr_file_id_equal(&now, fr_store_file_id(s->store))) return;
    if (s->store_attempted_set && fr_file_id_equal(&now, &s->store_attempted)) return;
    if (s->live) { /* compaction writes this file and reloads it itself; anything else would desync the live state */
        fr_log(0, "event=store_reload_refused store=%s message=\"the store file changed under live updates (--wal/--log); stop the server to replace it\"", s->cfg.store);
        s->store_attempted = now;
        s->store_attempted_set = 1;
        return;
    }
    fr_log(2, "event=store_file_changed store=%s action=reload", s->cfg.store);
    fr_server_reload_store(s);
}

/* ---------------- run ---------------- */

static char *read_pem(const char *flag, const char *path) {
    char *buf;
    size_t len;
    char err[256];
    if (fr_read_small_file(path, 1u << 20, &buf, &len, err, sizeof err)) {
        fr_log(0, "event=startup_failed what=tls message=\"%s: %s\"", flag, err);
        return NULL;
    }
    return buf;
}

/* An encrypted key would otherwise make OpenSSL prompt on the terminal: a server has none. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* gRPC 1.51 accepts any bytes as a certificate or key and only fails when the port is added, with
 * no reason given; OpenSSL (which gRPC itself uses here) says what is wrong before that. */
static fr_status check_tls_pair(const fr_server_config *cfg, const char *cert, const char *key, char *err, size_t errcap) {
    BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL) : NULL;
    fr_status rc = FR_OK;
    if (!x) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "--tls-cert %s: no PEM certificate in the file", cfg->tls_cert);
    else if (!k) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "--tls-key %s: no PEM private key in the file (or it is encrypted)", cfg->tls_key);
    else if (X509_check_private_key(x, k) != 1)
        rc = fr_fail(FR_ERR_ARG, err, errcap, "--tls-key %s is not the key of the certificate in --tls-cert %s", cfg->tls_key, cfg->tls_cert);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return rc;
}

/* Why grpc_server_add_http2_port failed (it says only that it did): binds the address the way
 * gRPC does (SO_REUSEADDR, no SO_REUSEPORT) and reports the first error. */
static void listen_failure(const char *addr, char *msg, size_t cap) {
    char host[256], e2[256];
    int port;
    if (fr_server_split_hostport("--listen", addr, host, sizeof host, &port, e2, sizeof e2)) {
        snprintf(msg, cap, "%s", e2);
        return;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g) {
        snprintf(msg, cap, "cannot resolve %s: %s", host, gai_strerror(g));
        return;
    }
    snprintf(msg, cap, "gRPC could not listen on %s", addr);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int b = bind(fd, a->ai_addr, a->ai_addrlen);
        int e = errno;
        close(fd);
        if (b == 0) continue;
        if (e == EADDRINUSE) snprintf(msg, cap, "address %s is already in use", addr);
        else snprintf(msg, cap, "cannot listen on %s: %s", addr, strerror(e));
        break;
    }
    freeaddrinfo(res);
}

static grpc_arg int_arg(const char *key, int value) {
    grpc_arg a;
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)key;
    a.value.integer = value;
    return a;
}

int fr_server_run(const fr_server_config *cfg) {
    fr_server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->cfg = *cfg;
    fr_log_set_level(cfg->log_level);
    fr_log_set_json(strcmp(cfg->log_format, "json") == 0);
    char err[1024];
    int rc = 1;
    fr_encoder **encs = calloc((size_t)cfg->compute_threads, sizeof *encs);
    fr_queue_init(&s->queue, cfg->max_queue, cfg->compute_threads);
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_mutex_init(&s->refl_mu, NULL);
    pthread_rwlock_init(&s->store_lock, NULL);
    pthread_mutex_init(&s->parse_mu, NULL);
    pthread_cond_init(&s->parse_cv, NULL);
    fr_rank_options_default(&s->cfg.base_options);
    if (cfg->profile[0]) {
        char pname[64];
        if (fr_profile_load(cfg->profile, &s->cfg.base_options, pname, sizeof pname, err, sizeof err)) {
            fr_log(0, "event=startup_failed what=profile message=\"%s\"", err);
            goto out;
        }
        fr_log(2, "event=profile name=%s path=%s", pname, cfg->profile);
    }
    /* load: one encoder per compute thread, one shared store */
    for (int i = 0; i < cfg->compute_threads; i++) {
        fr_encoder_options opt = {.backend = cfg->device, .precision = cfg->precision, .max_batch_tokens = cfg->max_batch_tokens};
        if (fr_encoder_load(cfg->model, &opt, &encs[i], err, sizeof err)) {
            fr_log(0, "event=startup_failed what=model message=\"%s\"", err);
            goto out;
        }
    }
    snprintf(s->model_name, sizeof s->model_name, "%s", fr_encoder_name(encs[0]));
    snprintf(s->backend, sizeof s->backend, "%s", fr_encoder_backend(encs[0])->name);
    s->model_fp = fr_encoder_fingerprint(encs[0]);
    s->dim = fr_encoder_dim(encs[0]);
    if (fr_store_load(cfg->store, s->model_fp, cfg->force_store, &s->store, err, sizeof err)) {
        fr_log(0, "event=startup_failed what=store message=\"%s\"", err);
        goto out;
    }
    if (fr_descset_parse(fr_descriptor_set, fr_descriptor_set_size, &s->descset, err, sizeof err)) {
        fr_log(0, "event=startup_failed what=reflection message=\"%s\"", err);
        goto out;
    }
    snprintf(s->store_version, sizeof s->store_version, "%016llx", (unsigned long long)fr_store_info_of(s->store)->content_hash);
    /* signals: blocked in every thread, taken by sigwait in the loop below. Blocked here, before
     * the first thread starts (the log's, the metrics and HTTP listeners'): a thread that left them
     * unblocked would take a SIGTERM with its default action (the process dies, exit -15). Until
     * here (the model and store loads) Ctrl-C still stops a start-up. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (fr_live_open(s, err, sizeof err)) {
        fr_log(0, "event=startup_failed what=wal message=\"%s\"", err);
        goto out;
    }

    if (cfg->tls_cert[0] || cfg->tls_key[0]) { /* a bad certificate or key is reported before anything listens */
        char *cert = read_pem("--tls-cert", cfg->tls_cert), *key = cert ? read_pem("--tls-key", cfg->tls_key) : NULL;
        fr_status trc = cert && key ? check_tls_pair(cfg, cert, key, err, sizeof err) : FR_ERR_IO;
        if (cert && key && trc) fr_log(0, "event=startup_failed what=tls message=\"%s\"", err);
        free(cert);
        free(key);
        if (trc) goto out;
    }

    grpc_init();
    /* The transport's limits, set on purpose rather than left to gRPC 1.51's defaults:
     * - metadata: 1.51 has one limit (GRPC_ARG_MAX_METADATA_SIZE; the soft/absolute pair,
     *   GRPC_ARG_ABSOLUTE_MAX_METADATA_SIZE, came later), and a header block over it aborts the
     *   HPACK parse mid-block, which loses the connection's header table and so the connection,
     *   with every other call on it (measured with an 8 KiB default and a 16 KiB header). So the
     *   transport's limit is 16 times ours and on_new_call refuses a call over ours by itself.
     * - no SO_REUSEPORT: a second server on a taken port must fail, not share it silently.
     * - idle connections are closed (GOAWAY), quiet ones pinged so dead peers are found, and the
     *   calls of one connection are capped. gRPC 1.51 has no server-wide connection cap (no
     *   grpc.max_allowed_incoming_connections in this version); a connection costs memory only
     *   once it carries calls, which the stream cap and these limits bound. */
    int hard_md = cfg->max_metadata_bytes > (1 << 20) / 16 ? 1 << 20 : cfg->max_metadata_bytes * 16;
    grpc_arg args[] = {
        int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, cfg->max_message_bytes),
        int_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, 64 << 20),
        int_arg(GRPC_ARG_MAX_METADATA_SIZE, hard_md),
        int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0),
        int_arg(GRPC_ARG_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams),
        int_arg(GRPC_ARG_MAX_CONNECTION_IDLE_MS, cfg->max_connection_idle_ms ? cfg->max_connection_idle_ms : INT_MAX),
        int_arg(GRPC_ARG_MAX_CONNECTION_AGE_MS, cfg->max_connection_age_ms ? cfg->max_connection_age_ms : INT_MAX),
        int_arg(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, cfg->max_connection_age_grace_ms),
        int_arg(GRPC_ARG_KEEPALIVE_TIME_MS, cfg->keepalive_time_ms),
        int_arg(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, cfg->keepalive_timeout_ms),
    };
    grpc_channel_args chargs = {sizeof args / sizeof args[0], args};
    s->server = grpc_server_create(&chargs, NULL);
    for (int m = 0; m < M_UNKNOWN; m++)
        s->method_handles[m] = grpc_server_register_method(s->server, method_paths[m], NULL,
                                                           streaming(m) ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
                                                           0);
    const int ncq = cfg->cq_threads + 1; /* the last one is health's */
    s->health_cq = cfg->cq_threads;
    s->cqs = calloc((size_t)ncq, sizeof *s->cqs);
    for (int i = 0; i < ncq; i++) {
        s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->cqs[i], NULL);
    }
    s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_register_completion_queue(s->server, s->shutdown_cq, NULL);
    grpc_server_credentials *creds;
    char *cert = NULL, *key = NULL, *ca = NULL;
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        cert = read_pem("--tls-cert", cfg->tls_cert);
        key = read_pem("--tls-key", cfg->tls_key);
        ca = cfg->tls_client_ca[0] ? read_pem("--tls-client-ca", cfg->tls_client_ca) : NULL;
        if (!cert || !key || (cfg->tls_client_ca[0] && !ca)) {
            free(cert);
            free(key);
            free(ca);
            fr_log(0, "event=startup_failed what=tls");
            goto out_grpc;
        }
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_server_credentials_create_ex(ca, &pair, 1, ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    int port = grpc_server_add_http2_port(s->server, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    free(cert);
    free(key);
    free(ca);
    if (port == 0) {
        listen_failure(cfg->listen, err, sizeof err);
        fr_log(0, "event=startup_failed what=listen address=%s message=\"%s\"", cfg->listen, err);
        goto out_grpc;
    }
    struct MHD_Daemon *mhd = NULL;
    if (cfg->metrics_port) {
        mhd = fr_metrics_start(s, cfg->metrics_listen, cfg->metrics_port, err, sizeof err);
        if (!mhd) {
            fr_log(0, "event=startup_failed what=metrics message=\"%s\"", err);
            goto out_grpc;
        }
    }
    struct MHD_Daemon *http = NULL;
    int http_port = 0;
    if (cfg->http_listen[0] && !(http = fr_http_start(s, &http_port, err, sizeof err))) {
        fr_log(0, "event=startup_failed what=http message=\"%s\"", err);
        if (mhd) fr_metrics_stop(mhd);
        goto out_grpc;
    }
    grpc_server_start(s->server);
    atomic_store(&s->serving, 1);
    s->compute_threads = calloc((size_t)cfg->compute_threads, sizeof *s->compute_threads);
    for (int i = 0; i < cfg->compute_threads; i++) {
        void **a = malloc(2 * sizeof *a);
        a[0] = s;
        a[1] = encs[i];
        pthread_create(&s->compute_threads[i], NULL, fr_compute_main, a);
    }
    s->parse_threads = calloc((size_t)cfg->parse_threads, sizeof *s->parse_threads);
    for (int i = 0; i < cfg->parse_threads; i++) pthread_create(&s->parse_threads[i], NULL, parse_main, s);
    s->cq_threads = calloc((size_t)ncq, sizeof *s->cq_threads);
    for (int i = 0; i < ncq; i++) {
        for (int m = 0; m < M_COUNT; m++) {
            /* health calls are requested on health's queue only, everything else never there */
            if ((m == M_HEALTH_CHECK || m == M_HEALTH_WATCH) != (i == s->health_cq)) continue;
            for (int k = 0; k < 4; k++) fr_request_next_call(s, m, i);
        }
        void **a = malloc(2 * sizeof *a);
        a[0] = s;
        a[1] = (void *)(intptr_t)i;
        pthread_create(&s->cq_threads[i], NULL, cq_main, a);
    }
    fr_log(2, "event=serving address=%s port=%d tls=%s mtls=%s token=%s model=%s backend=%s store=%s items=%llu store_version=%s arms=%d metrics=%s:%d metrics_token=%s http=%s",
           cfg->listen, port, cfg->tls_cert[0] ? "on" : "off", cfg->tls_client_ca[0] ? "on" : "off", cfg->token[0] ? "required" : "off",
           s->model_name, s->backend, cfg->store, (unsigned long long)fr_store_info_of(s->store)->count, s->store_version,
           cfg->n_arms, cfg->metrics_listen, cfg->metrics_port, cfg->metrics_token[0] ? "required" : "off", cfg->http_listen[0] ? cfg->http_listen : "off");
    printf("feedrank serve: listening on %s (port %d)\n", cfg->listen, port);
    if (http) printf("feedrank serve: HTTP on %s (port %d)\n", cfg->http_listen, http_port);
    fflush(stdout);
    int sig = 0;
    for (;;) {
        if (cfg->store_check_ms > 0 || s->live) { /* live updates: compaction is checked here too */
            int ms = cfg->store_check_ms > 0 ? cfg->store_check_ms : 1000;
            struct timespec wait = {ms / 1000, (long)(ms % 1000) * 1000000L};
            sig = sigtimedwait(&sigs, NULL, &wait);
            if (sig < 0) {
                if (cfg->store_check_ms > 0) check_store_file(s);
                fr_live_tick(s);
                continue;
            } /* timeout (or EINTR) */
        } else if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP) break;
        if (s->live) {
            fr_log(0, "event=store_reload_refused signal=SIGHUP message=\"live updates (--wal/--log) own the store file: compaction reloads it; stop the server to replace it\"");
            continue;
        }
        fr_log(2, "event=store_reload_requested signal=SIGHUP");
        fr_server_reload_store(s);
    }
    fr_log(2, "event=shutdown_started signal=%d", sig);
    /* 1. report NOT_SERVING, stop accepting; in-flight calls finish */
    atomic_store(&s->shutting_down, 1);
    fr_health_set(s, 0);
    fr_http_quiesce(http);
    int stag = 0;
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &stag);
    fr_reflection_shutdown(s);
    grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, &stag, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(30, GPR_TIMESPAN)), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        fr_log(1, "event=shutdown_timeout action=cancel_all_calls");
        grpc_server_cancel_all_calls(s->server);
        grpc_completion_queue_pluck(s->shutdown_cq, &stag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    fr_http_stop(http); /* its requests in flight are answered: compute still runs */
    /* 2. parse what was received (the pool drains before it stops), stop compute, then the queues */
    pthread_mutex_lock(&s->parse_mu);
    s->parse_stopping = 1;
    pthread_cond_broadcast(&s->parse_cv);
    pthread_mutex_unlock(&s->parse_mu);
    for (int i = 0; i < cfg->parse_threads; i++) pthread_join(s->parse_threads[i], NULL);
    fr_queue_stop(&s->queue);
    for (int i = 0; i < cfg->compute_threads; i++) pthread_join(s->compute_threads[i], NULL);
    for (int i = 0; i < ncq; i++) grpc_completion_queue_shutdown(s->cqs[i]);
    for (int i = 0; i < ncq; i++) pthread_join(s->cq_threads[i], NULL);
    grpc_completion_queue_shutdown(s->shutdown_cq);
    while (grpc_completion_queue_pluck(s->shutdown_cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    if (mhd) fr_metrics_stop(mhd);
    fr_log(2, "event=shutdown_complete");
    rc = 0;
    for (int i = 0; i < ncq; i++) grpc_completion_queue_destroy(s->cqs[i]);
    grpc_completion_queue_destroy(s->shutdown_cq);
    grpc_server_destroy(s->server);
    grpc_shutdown();
    goto out;
out_grpc:
    if (s->server) {
        grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &rc);
        grpc_completion_queue_pluck(s->shutdown_cq, &rc, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        for (int i = 0; i < cfg->cq_threads + 1; i++) {
            grpc_completion_queue_shutdown(s->cqs[i]);
            while (grpc_completion_queue_next(s->cqs[i], gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
            grpc_completion_queue_destroy(s->cqs[i]);
        }
        grpc_completion_queue_shutdown(s->shutdown_cq);
        while (grpc_completion_queue_pluck(s->shutdown_cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
        grpc_completion_queue_destroy(s->shutdown_cq);
        grpc_server_destroy(s->server);
    }
    grpc_shutdown();
out:
    for (int i = 0; i < cfg->compute_threads; i++) fr_encoder_free(encs[i]);
    free(encs);
    fr_live_close(s);
    fr_store_close(s->store);
    fr_descset_free(s->descset);
    free(s->cqs);
    free(s->cq_threads);
    free(s->compute_threads);
    free(s->parse_threads);
    fr_queue_destroy(&s->queue);
    free(s);
    return rc;
}

/* http.c - HTTP/JSON beside gRPC, in the same process and on the same path (libmicrohttpd):
 *   POST /v1/rerank      a RerankRequest as JSON (request_json.h) -> RerankResponse, canonical JSON
 *   POST /v1/embeddings  OpenAI's embeddings API (openai_json.h) over the Embed RPC's path
 *   GET  /v1/models      the served model, OpenAI-style
 *   GET  /health         200 while the process runs (liveness)
 *   GET  /ready          200 SERVING, or 503 NOT_SERVING while loading or draining (as grpc.health)
 * A request becomes a job on the gRPC calls' compute queue, checked by the same functions
 * (fr_request_parse_arms, fr_rerank_job_admit: fr_rank_validate with the server's limits; an Embed
 * request is packed and goes through fr_embed_job, the Embed RPC's own checks), ranked by the same
 * batcher, and answered with the message the RPC would send (fr_call_finish hands it here).
 *
 * Threads: one per connection (MHD), at most http_max_connections. The connection's thread waits
 * for its job; while it waits it watches the socket, and a client that hangs up marks the job
 * cancelled, so the batcher drops it as it drops a cancelled gRPC call. Bodies larger than
 * max_message_bytes are refused (413) before they are read; a connection idle for http_timeout_s
 * is closed. Errors are OpenAI's error object on every route, with the gRPC status name as code. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "openai_json.h"
#include "pb_json.h"
#include "request_json.h"
#include "server_internal.h"

/* What the compute thread hands back to the waiting connection thread. */
struct fr_http_exchange {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, code;
    char details[512];
    uint8_t *resp;
    size_t resp_len;
};

static const char *const CODE_NAMES[17] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                           "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                           "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                           "UNAUTHENTICATED"};

/* The listener's state (one per process: fr_server_run runs once). */
static struct {
    fr_server *s;
    char *cert, *key;
    atomic_int in_flight; /* requests between their headers and their response's last byte */
} g_http;

void fr_http_finish(call *c, grpc_byte_buffer *msg, int code, const char *details) {
    struct fr_http_exchange *x = c->http;
    size_t len = 0;
    uint8_t *bytes = msg ? fr_unpack_bytes(msg, (size_t)1 << 30, &len) : NULL;
    if (msg) grpc_byte_buffer_destroy(msg);
    pthread_mutex_lock(&x->mu);
    x->code = msg && !bytes ? GRPC_STATUS_INTERNAL : code;
    snprintf(x->details, sizeof x->details, "%s", msg && !bytes ? "out of memory" : details ? details
                                                                                            : "");
    x->resp = bytes;
    x->resp_len = len;
    x->done = 1;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu); /* c and x belong to the connection thread from here on */
}

/* ---------------- responses ---------------- */

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, char *body, const char *ctype) {
    if (!body) return MHD_NO; /* out of memory: MHD closes the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static unsigned http_status_of(fr_server *s, int code) {
    switch (code) {
    case GRPC_STATUS_OK: return MHD_HTTP_OK;
    case GRPC_STATUS_INVALID_ARGUMENT: return MHD_HTTP_BAD_REQUEST;
    case GRPC_STATUS_UNAUTHENTICATED: return MHD_HTTP_UNAUTHORIZED;
    case GRPC_STATUS_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return atomic_load(&s->shutting_down) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_TOO_MANY_REQUESTS;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return MHD_HTTP_GATEWAY_TIMEOUT;
    case GRPC_STATUS_CANCELLED: return 499; /* client closed the request (nobody reads it) */
    case GRPC_STATUS_UNAVAILABLE: return MHD_HTTP_SERVICE_UNAVAILABLE;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* An error in OpenAI's shape; status is the HTTP status, code the gRPC one (its name is the
 * error's code). */
static __thread char t_error[256]; /* the last error this connection thread sent, for the log line */

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, int code, const char *param, const char *msg) {
    snprintf(t_error, sizeof t_error, "%s", msg);
    const char *type = status == 429 ? "rate_limit_error" : status >= 500 ? "server_error"
                                                                          : "invalid_request_error";
    return send_body(conn, status, fr_openai_error(msg, type, param, CODE_NAMES[code >= 0 && code <= 16 ? code : 2]), "application/json");
}

/* ---------------- one request through the compute queue ---------------- */

static uint64_t caller_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return 0;
    const struct sockaddr *a = ci->client_addr;
    size_t n = a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return fr_hash64(a, n, 0x5EED) ^ 0x4854; /* address and port: a lane per connection, as gRPC's peer */
}

/* 1 when the client hung up (or reset) while its request waits. */
static int client_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd pf = {ci->connect_fd, POLLRDHUP, 0};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Queues job j (of call c) and waits for its answer. Returns the gRPC status; the response bytes
 * (OK) are in x. */
static int run_job(fr_server *s, struct MHD_Connection *conn, call *c, struct fr_http_exchange *x, job *j) {
    if (fr_queue_push(&s->queue, j)) {
        fr_job_free(j);
        snprintf(x->details, sizeof x->details, "%s", fr_queue_refusal(s));
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    pthread_mutex_lock(&x->mu);
    while (!x->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&x->cv, &x->mu, &until) == ETIMEDOUT && !atomic_load(&c->cancelled) && client_gone(conn)) {
            atomic_store(&c->cancelled, 1);
            fr_log(3, "event=cancelled transport=http method=%s", fr_method_names[c->method]);
        }
    }
    pthread_mutex_unlock(&x->mu);
    return x->code;
}

static call *http_call(fr_server *s, struct MHD_Connection *conn, int method, struct fr_http_exchange *x) {
    call *c = fr_call_new(s, method, 0);
    if (!c) return NULL;
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    c->http = x;
    c->start = fr_now();
    c->caller = caller_of(conn);
    atomic_store(&c->refs, 1); /* the connection thread's */
    return c;
}

static void http_call_done(call *c, struct fr_http_exchange *x) {
    free(x->resp);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    fr_call_unref(c);
}

/* ---------------- routes ---------------- */

static enum MHD_Result route_rerank(fr_server *s, struct MHD_Connection *conn, const char *body, size_t len, int *code) {
    char err[512];
    fr_parsed_request p; /* the arm (its "arm", else its user_id's hash) picked as the gRPC path picks it */
    if (fr_request_parse_arms(body, len, &s->cfg.base_options, s->cfg.arms, s->cfg.n_arms, &p, err, sizeof err)) {
        *code = GRPC_STATUS_INVALID_ARGUMENT;
        return send_error(conn, 400, *code, NULL, err);
    }
    int arm = p.arm_index;
    struct fr_http_exchange x;
    call *c = http_call(s, conn, M_RERANK, &x);
    job *j = c ? calloc(1, sizeof *j) : NULL;
    Feedrank__V1__RerankRequest *rr = j ? malloc(sizeof *rr) : NULL;
    if (rr) feedrank__v1__rerank_request__init(rr);
    /* what the response codec reads of the request message: its id and return_scores. Built
     * from malloc'd parts, so fr_job_free frees it like an unpacked one. */
    if (rr && !(rr->request_id = strdup(p.request_id))) {
        free(rr);
        rr = NULL;
    }
    if (rr && !p.return_scores) {
        rr->options = malloc(sizeof *rr->options);
        if (rr->options) {
            feedrank__v1__rerank_options__init(rr->options);
            rr->options->has_return_scores = 1;
            rr->options->return_scores = 0;
        } else {
            feedrank__v1__rerank_request__free_unpacked(rr, NULL);
            rr = NULL;
        }
    }
    if (!rr) {
        free(j);
        if (c) http_call_done(c, &x);
        fr_parsed_request_free(&p);
        *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        return send_error(conn, 503, *code, NULL, "out of memory");
    }
    j->c = c;
    j->method = M_RERANK;
    j->rr = rr;
    j->arm = arm;
    j->req = p.req; /* ids and texts point into p's JSON, which outlives the job's answer */
    j->hist = p.history;
    j->cands = p.candidates;
    p.history = NULL;
    p.candidates = NULL;
    enum MHD_Result ret;
    if (fr_rerank_job_admit(s, j, err, sizeof err)) {
        fr_job_free(j);
        *code = GRPC_STATUS_INVALID_ARGUMENT;
        ret = send_error(conn, 400, *code, NULL, err);
    } else if ((*code = run_job(s, conn, c, &x, j)) != GRPC_STATUS_OK) {
        ret = send_error(conn, http_status_of(s, *code), *code, NULL, x.details);
    } else {
        Feedrank__V1__RerankResponse *r = feedrank__v1__rerank_response__unpack(NULL, x.resp_len, x.resp);
        char *json = r ? fr_pb_to_json(&r->base) : NULL;
        if (r) feedrank__v1__rerank_response__free_unpacked(r, NULL);
        ret = send_body(conn, MHD_HTTP_OK, json, "application/json");
    }
    http_call_done(c, &x);
    fr_parsed_request_free(&p);
    return ret;
}

static enum MHD_Result route_embeddings(fr_server *s, struct MHD_Connection *conn, const char *body, size_t len, int *code) {
    char err[512], param[64];
    fr_openai_embed_request q;
    *code = GRPC_STATUS_INVALID_ARGUMENT;
    if (fr_openai_embed_parse(body, len, &q, param, sizeof param, err, sizeof err)) return send_error(conn, 400, *code, param, err);
    enum MHD_Result ret;
    if (!fr_openai_model_matches(q.model, s->model_name)) {
        snprintf(err, sizeof err, "The model '%.200s' does not exist: this server serves '%.200s'", q.model, s->model_name);
        *code = GRPC_STATUS_NOT_FOUND;
        ret = send_error(conn, 404, *code, "model", err);
    } else if (q.dimensions && q.dimensions != s->dim) {
        snprintf(err, sizeof err, "dimensions %d: this model's embeddings have %d dimensions and are not shortened", q.dimensions, s->dim);
        ret = send_error(conn, 400, *code, "dimensions", err);
    } else {
        /* the Embed RPC's own message and checks (fr_embed_job) */
        Feedrank__V1__EmbedRequest m;
        feedrank__v1__embed_request__init(&m);
        m.texts = q.texts;
        m.n_texts = q.n_texts;
        m.has_kind = 1;
        m.kind = (Feedrank__V1__TextKind)q.kind;
        size_t n = protobuf_c_message_get_packed_size(&m.base);
        uint8_t *buf = malloc(n ? n : 1);
        struct fr_http_exchange x;
        call *c = buf ? http_call(s, conn, M_EMBED, &x) : NULL;
        job *j = NULL;
        if (!c) {
            *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
            ret = send_error(conn, 503, *code, NULL, "out of memory");
        } else {
            protobuf_c_message_pack(&m.base, buf);
            if ((*code = fr_embed_job(s, c, buf, n, &j, err, sizeof err)) != GRPC_STATUS_OK) {
                ret = send_error(conn, http_status_of(s, *code), *code, "input", err);
            } else if ((*code = run_job(s, conn, c, &x, j)) != GRPC_STATUS_OK) {
                ret = send_error(conn, http_status_of(s, *code), *code, NULL, x.details);
            } else {
                Feedrank__V1__EmbedResponse *r = feedrank__v1__embed_response__unpack(NULL, x.resp_len, x.resp);
                char *json = r ? fr_openai_embed_response(r, q.base64) : NULL;
                if (r) feedrank__v1__embed_response__free_unpacked(r, NULL);
                ret = send_body(conn, MHD_HTTP_OK, json, "application/json");
            }
            http_call_done(c, &x);
        }
        free(buf);
    }
    fr_openai_embed_request_free(&q);
    return ret;
}

static enum MHD_Result route_get(fr_server *s, struct MHD_Connection *conn, const char *url) {
    char body[512];
    if (strcmp(url, "/health") == 0) return send_body(conn, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}"), "application/json");
    if (strcmp(url, "/ready") == 0) {
        int up = atomic_load(&s->serving) && !atomic_load(&s->shutting_down);
        return send_body(conn, up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, strdup(up ? "{\"status\":\"SERVING\"}" : "{\"status\":\"NOT_SERVING\"}"),
                         "application/json");
    }
    /* /v1/models */
    snprintf(body, sizeof body, "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\",\"created\":0,\"owned_by\":\"feedrank\"}]}", s->model_name);
    return send_body(conn, MHD_HTTP_OK, strdup(body), "application/json");
}

/* ---------------- the connection handler ---------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int too_big;
} upload;

enum { R_NONE,
       R_RERANK,
       R_EMBED,
       R_HEALTH,
       R_READY,
       R_MODELS };

static int route_of(const char *url) {
    if (strcmp(url, "/v1/rerank") == 0) return R_RERANK;
    if (strcmp(url, "/v1/embeddings") == 0) return R_EMBED;
    if (strcmp(url, "/health") == 0) return R_HEALTH;
    if (strcmp(url, "/ready") == 0) return R_READY;
    if (strcmp(url, "/v1/models") == 0) return R_MODELS;
    return R_NONE;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
                               const char *data, size_t *data_size, void **con_cls) {
    (void)version;
    fr_server *s = cls;
    const int route = route_of(url);
    const int post = strcmp(method, "POST") == 0;
    if (!*con_cls) { /* headers are in: answer what needs no body now */
        if (route == R_NONE) return send_error(conn, 404, GRPC_STATUS_NOT_FOUND, NULL, "no such route (POST /v1/rerank, POST /v1/embeddings, GET /v1/models, /health, /ready)");
        if (route == R_HEALTH || route == R_READY) {
            if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return send_error(conn, 405, GRPC_STATUS_UNIMPLEMENTED, NULL, "use GET");
            return route_get(s, conn, url);
        }
        if (s->cfg.token[0]) {
            const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
            if (!auth || !fr_bearer_matches(s->cfg.token, (const uint8_t *)auth, strlen(auth))) {
                fr_metrics_request(&s->metrics, route == R_EMBED ? M_EMBED : M_RERANK, GRPC_STATUS_UNAUTHENTICATED, 0);
                return send_error(conn, 401, GRPC_STATUS_UNAUTHENTICATED, NULL, "missing or wrong bearer token (header 'Authorization: Bearer ...')");
            }
        }
        if (route == R_MODELS) {
            if (strcmp(method, "GET") != 0) return send_error(conn, 405, GRPC_STATUS_UNIMPLEMENTED, NULL, "use GET");
            return route_get(s, conn, url);
        }
        if (!post) return send_error(conn, 405, GRPC_STATUS_UNIMPLEMENTED, NULL, "use POST with a JSON body");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->cfg.max_message_bytes) {
            char msg[160];
            snprintf(msg, sizeof msg, "the request body is %s bytes, the limit is %d (--max-message-bytes)", cl, s->cfg.max_message_bytes);
            return send_error(conn, 413, GRPC_STATUS_INVALID_ARGUMENT, NULL, msg);
        }
        upload *u = calloc(1, sizeof *u);
        if (!u) return MHD_NO;
        *con_cls = u;
        atomic_fetch_add(&g_http.in_flight, 1); /* until completed() */
        return MHD_YES;
    }
    upload *u = *con_cls;
    if (*data_size) { /* a piece of the body */
        if (!u->too_big && u->n + *data_size > (size_t)s->cfg.max_message_bytes) {
            u->too_big = 1;
            free(u->p);
            u->p = NULL;
            u->n = u->cap = 0;
        }
        if (!u->too_big) {
            if (u->n + *data_size + 1 > u->cap) {
                size_t nc = u->cap ? u->cap : 4096;
                while (nc < u->n + *data_size + 1) nc *= 2;
                char *p = realloc(u->p, nc);
                if (!p) return MHD_NO;
                u->p = p;
                u->cap = nc;
            }
            memcpy(u->p + u->n, data, *data_size);
            u->n += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    /* the whole body is in */
    const int m = route == R_EMBED ? M_EMBED : M_RERANK;
    double t0 = fr_now();
    int code = GRPC_STATUS_INVALID_ARGUMENT;
    enum MHD_Result ret;
    char msg[160];
    if (u->too_big) {
        snprintf(msg, sizeof msg, "the request body is larger than the %d-byte limit (--max-message-bytes)", s->cfg.max_message_bytes);
        ret = send_error(conn, 413, code, NULL, msg);
    } else if (atomic_load(&s->shutting_down)) {
        code = GRPC_STATUS_UNAVAILABLE;
        ret = send_error(conn, 503, code, NULL, "server is shutting down");
    } else if (u->n == 0) {
        ret = send_error(conn, 400, code, NULL, "the request body is empty: send a JSON object");
    } else if (route == R_RERANK) {
        ret = route_rerank(s, conn, u->p, u->n, &code);
    } else {
        ret = route_embeddings(s, conn, u->p, u->n, &code);
    }
    fr_metrics_request(&s->metrics, m, code, fr_now() - t0);
    if (code != GRPC_STATUS_OK) fr_log(code == GRPC_STATUS_INTERNAL ? 0 : 2, "event=request transport=http method=%s status=%s message=\"%s\"", fr_method_names[m],
                                       CODE_NAMES[code >= 0 && code <= 16 ? code : 2], t_error);
    else fr_log(3, "event=request transport=http method=%s status=OK ms=%.3f", fr_method_names[m], 1e3 * (fr_now() - t0));
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    upload *u = *con_cls;
    if (u) {
        free(u->p);
        free(u);
        atomic_fetch_sub(&g_http.in_flight, 1);
    }
    *con_cls = NULL;
}

static char *read_pem(const char *flag, const char *path, char *err, size_t errcap) {
    char *buf, e2[256];
    size_t len;
    if (fr_read_small_file(path, 1u << 20, &buf, &len, e2, sizeof e2)) {
        fr_fail(FR_ERR_IO, err, errcap, "%s: %s", flag, e2);
        return NULL;
    }
    return buf;
}

struct MHD_Daemon *fr_http_start(fr_server *s, int *port_out, char *err, size_t errcap) {
    const fr_server_config *cfg = &s->cfg;
    char host[256], ps[8];
    int port;
    if (fr_server_split_hostport("--http-listen", cfg->http_listen, host, sizeof host, &port, err, errcap)) return NULL;
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g) {
        fr_fail(FR_ERR_ARG, err, errcap, "--http-listen %s: %s", cfg->http_listen, gai_strerror(g));
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    g_http.s = s;
    if (cfg->tls_cert[0]) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            freeaddrinfo(res);
            fr_fail(FR_ERR_ARG, err, errcap, "--http-listen with --tls-cert: this libmicrohttpd was built without TLS");
            return NULL;
        }
        if (!(g_http.cert = read_pem("--tls-cert", cfg->tls_cert, err, errcap)) || !(g_http.key = read_pem("--tls-key", cfg->tls_key, err, errcap))) {
            freeaddrinfo(res);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls[] = {
        {g_http.cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, g_http.cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, g_http.key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, res->ai_addr,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout_s,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!d) {
        fr_fail(FR_ERR_IO, err, errcap, "cannot listen for HTTP on %s (in use, or not an address of this machine)", cfg->http_listen);
        free(g_http.cert);
        free(g_http.key);
        g_http.cert = g_http.key = NULL;
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : port;
    return d;
}

void fr_http_quiesce(struct MHD_Daemon *d) {
    if (!d) return;
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET) close(fd); /* new connections are refused, not left in the backlog */
}

void fr_http_stop(struct MHD_Daemon *d) {
    if (!d) return;
    /* MHD_stop_daemon shuts every connection down: first let the requests in flight be answered
     * (compute still runs), as gRPC's shutdown does, for at most 30 s */
    for (int i = 0; i < 3000 && atomic_load(&g_http.in_flight) > 0; i++) nanosleep(&(struct timespec){0, 10000000L}, NULL);
    if (atomic_load(&g_http.in_flight) > 0) fr_log(1, "event=shutdown_timeout transport=http requests=%d", atomic_load(&g_http.in_flight));
    MHD_stop_daemon(d);
    free(g_http.cert);
    free(g_http.key);
    g_http.cert = g_http.key = NULL;
}

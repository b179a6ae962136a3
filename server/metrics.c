/* metrics.c - Prometheus text exposition on GET /metrics (libmicrohttpd), from atomic counters
 * the server updates: requests by method and status, latency histograms, batch sizes, queue
 * depth, dropped requests, A/B arm traffic and latency, an info series with backend, model and
 * store, a build-info series (version, git revision, compiled-in backends), and the standard
 * process_* series read from /proc at each scrape. Every family is a valid counter, gauge or
 * histogram as `promtool check metrics` reads them.
 * The endpoint binds the gRPC listen host unless told otherwise (metrics reveal traffic, models
 * and arms, so they are not published on every interface by default) and can require a bearer
 * token. */
#include <dirent.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revision.h"
#include "server_internal.h"

static const double LAT_BOUNDS[LAT_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
static const int BATCH_BOUNDS[BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128};

static int lat_bucket(double seconds) {
    int b = 0;
    while (b < LAT_BUCKETS && seconds > LAT_BOUNDS[b]) b++;
    return b;
}

void fr_metrics_request(fr_metrics *m, int method, int code, double seconds) {
    if (code < 0 || code > 16) code = 2;
    atomic_fetch_add(&m->requests[method][code], 1);
    atomic_fetch_add(&m->lat_bucket[method][lat_bucket(seconds)], 1);
    atomic_fetch_add(&m->lat_count[method], 1);
    atomic_fetch_add(&m->lat_sum_us[method], (long long)(seconds * 1e6));
}

void fr_metrics_arm(fr_metrics *m, int arm, double seconds) {
    atomic_fetch_add(&m->arm_requests[arm], 1);
    atomic_fetch_add(&m->arm_seconds_us[arm], (long long)(seconds * 1e6));
    atomic_fetch_add(&m->arm_lat_bucket[arm][lat_bucket(seconds)], 1);
}

void fr_metrics_batch(fr_metrics *m, int n) {
    int b = 0;
    while (b < BATCH_BUCKETS && n > BATCH_BOUNDS[b]) b++;
    atomic_fetch_add(&m->batch_bucket[b], 1);
    atomic_fetch_add(&m->batches, 1);
    atomic_fetch_add(&m->batch_requests, n);
}

static const char *const CODES[17] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                      "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

const char *fr_grpc_status_name(int code) { return code >= 0 && code < 17 ? CODES[code] : "UNKNOWN_STATUS"; }

typedef struct {
    char *p;
    size_t n, cap;
} buf;
static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap * 2 + (size_t)(k > 0 ? k : 0);
        char *p = realloc(b->p, nc);
        if (!p) return;
        b->p = p;
        b->cap = nc;
    }
}

/* The process_* series every Prometheus client library exports, from /proc/self (Linux). A value
 * that cannot be read is left out rather than reported as 0. */
static void process_metrics(buf *b) {
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f) fclose(f);
    line[n] = 0;
    /* fields after the command name (which may hold spaces and parentheses): from the last ')' */
    char *p = strrchr(line, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (p && tick > 0 &&
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld", &utime, &stime,
               &start, &vsize, &rss) == 5) {
        put(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n"
               "process_cpu_seconds_total %.2f\n",
            (double)(utime + stime) / (double)tick);
        put(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\n"
               "process_virtual_memory_bytes %llu\n",
            vsize);
        put(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
               "process_resident_memory_bytes %lld\n",
            rss * (long long)page);
        /* start time: the boot time (/proc/stat btime) plus the start in clock ticks since boot */
        unsigned long long btime = 0;
        FILE *st = fopen("/proc/stat", "r");
        while (st && fgets(line, sizeof line, st))
            if (sscanf(line, "btime %llu", &btime) == 1) break;
        if (st) fclose(st);
        if (btime)
            put(b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
                (double)btime + (double)start / (double)tick);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = 0;
        struct dirent *e;
        while ((e = readdir(d))) fds += e->d_name[0] != '.';
        closedir(d);
        /* less the descriptor opendir itself holds */
        put(b, "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", fds - 1);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        put(b, "# HELP process_max_fds Maximum number of open file descriptors.\n# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
            (unsigned long long)rl.rlim_cur);
}

static char *render(fr_server *s, size_t *len) {
    fr_metrics *m = &s->metrics;
    buf b = {malloc(16384), 0, 16384};
    if (!b.p) return NULL;
    put(&b, "# HELP feedrank_info Model, store and backend in use.\n# TYPE feedrank_info gauge\n");
    char version[32];
    pthread_rwlock_rdlock(&s->store_lock);
    snprintf(version, sizeof version, "%s", s->store_version);
    pthread_rwlock_unlock(&s->store_lock);
    put(&b, "feedrank_info{model=\"%s\",store_version=\"%s\",backend=\"%s\",dim=\"%d\"} 1\n", s->model_name, version, s->backend, s->dim);
    put(&b, "# HELP feedrank_build_info Version, git revision and compiled-in backends of this binary.\n# TYPE feedrank_build_info gauge\n"
            "feedrank_build_info{version=\"%s\",revision=\"%s\",backend=\"%s\"} 1\n",
        FEEDRANK_VERSION, FEEDRANK_REVISION, FEEDRANK_BACKENDS);
    put(&b, "# HELP feedrank_store_reloads_total Item store reloads (SIGHUP) by outcome.\n# TYPE feedrank_store_reloads_total counter\n");
    put(&b, "feedrank_store_reloads_total{result=\"ok\"} %ld\nfeedrank_store_reloads_total{result=\"failed\"} %ld\n", atomic_load(&s->reloads_ok), atomic_load(&s->reloads_failed));
    {
        char live[16384];
        fr_live_metrics(s, live, sizeof live);
        if (live[0]) put(&b, "%s", live);
    }
    put(&b, "# HELP feedrank_up 1 while serving, 0 while draining.\n# TYPE feedrank_up gauge\nfeedrank_up %d\n", atomic_load(&s->serving));
    put(&b, "# HELP feedrank_requests_total Finished RPCs by method and gRPC status.\n# TYPE feedrank_requests_total counter\n");
    for (int i = 0; i < M_COUNT; i++)
        for (int c = 0; c < 17; c++) {
            long v = atomic_load(&m->requests[i][c]);
            if (v) put(&b, "feedrank_requests_total{method=\"%s\",code=\"%s\"} %ld\n", fr_method_names[i], fr_grpc_status_name(c), v);
        }
    put(&b, "# HELP feedrank_request_seconds RPC latency from arrival to response.\n# TYPE feedrank_request_seconds histogram\n");
    for (int i = 0; i < M_COUNT; i++) {
        long cum = 0, cnt = atomic_load(&m->lat_count[i]);
        if (!cnt) continue;
        for (int k = 0; k < LAT_BUCKETS; k++) {
            cum += atomic_load(&m->lat_bucket[i][k]);
            put(&b, "feedrank_request_seconds_bucket{method=\"%s\",le=\"%g\"} %ld\n", fr_method_names[i], LAT_BOUNDS[k], cum);
        }
        put(&b, "feedrank_request_seconds_bucket{method=\"%s\",le=\"+Inf\"} %ld\n", fr_method_names[i], cnt);
        put(&b, "feedrank_request_seconds_sum{method=\"%s\"} %.6f\nfeedrank_request_seconds_count{method=\"%s\"} %ld\n", fr_method_names[i],
            atomic_load(&m->lat_sum_us[i]) / 1e6, fr_method_names[i], cnt);
    }
    put(&b, "# HELP feedrank_batch_size Requests per encoder pass.\n# TYPE feedrank_batch_size histogram\n");
    long cum = 0;
    for (int k = 0; k < BATCH_BUCKETS; k++) {
        cum += atomic_load(&m->batch_bucket[k]);
        put(&b, "feedrank_batch_size_bucket{le=\"%d\"} %ld\n", BATCH_BOUNDS[k], cum);
    }
    put(&b, "feedrank_batch_size_bucket{le=\"+Inf\"} %ld\nfeedrank_batch_size_sum %ld\nfeedrank_batch_size_count %ld\n", atomic_load(&m->batches),
        atomic_load(&m->batch_requests), atomic_load(&m->batches));
    put(&b, "# HELP feedrank_queue_depth Requests waiting for compute.\n# TYPE feedrank_queue_depth gauge\nfeedrank_queue_depth %ld\n", atomic_load(&m->queue_depth));
    put(&b, "# HELP feedrank_dropped_total Requests dropped before compute.\n# TYPE feedrank_dropped_total counter\n");
    put(&b, "feedrank_dropped_total{reason=\"deadline\"} %ld\nfeedrank_dropped_total{reason=\"cancelled\"} %ld\n", atomic_load(&m->dropped_expired), atomic_load(&m->dropped_cancelled));
    if (s->cfg.n_arms) {
        put(&b, "# HELP feedrank_arm_requests_total Re-rank requests ranked by each A/B arm.\n# TYPE feedrank_arm_requests_total counter\n");
        for (int a = 0; a < s->cfg.n_arms; a++) put(&b, "feedrank_arm_requests_total{arm=\"%s\"} %ld\n", s->cfg.arms[a].name, atomic_load(&m->arm_requests[a]));
        put(&b, "# HELP feedrank_arm_request_seconds Time from arrival to ranked response, per A/B arm.\n# TYPE feedrank_arm_request_seconds histogram\n");
        for (int a = 0; a < s->cfg.n_arms; a++) {
            const char *name = s->cfg.arms[a].name;
            long acc = 0;
            for (int k = 0; k < LAT_BUCKETS; k++) {
                acc += atomic_load(&m->arm_lat_bucket[a][k]);
                put(&b, "feedrank_arm_request_seconds_bucket{arm=\"%s\",le=\"%g\"} %ld\n", name, LAT_BOUNDS[k], acc);
            }
            acc += atomic_load(&m->arm_lat_bucket[a][LAT_BUCKETS]);
            put(&b, "feedrank_arm_request_seconds_bucket{arm=\"%s\",le=\"+Inf\"} %ld\n", name, acc);
            put(&b, "feedrank_arm_request_seconds_sum{arm=\"%s\"} %.6f\nfeedrank_arm_request_seconds_count{arm=\"%s\"} %ld\n", name,
                atomic_load(&m->arm_seconds_us[a]) / 1e6, name, acc);
        }
    }
    process_metrics(&b);
    *len = b.n;
    return b.p;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    fr_server *s = cls;
    struct MHD_Response *r;
    int code = MHD_HTTP_OK;
    const char *auth = s->cfg.metrics_token[0] ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION) : NULL;
    if (s->cfg.metrics_token[0] && !(auth && fr_bearer_matches(s->cfg.metrics_token, (const uint8_t *)auth, strlen(auth)))) {
        r = MHD_create_response_from_buffer(13, (void *)"unauthorized\n", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        code = MHD_HTTP_UNAUTHORIZED;
    } else if (strcmp(method, "GET") != 0) {
        r = MHD_create_response_from_buffer(19, (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = render(s, &len);
        if (!text) return MHD_NO;
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    } else {
        r = MHD_create_response_from_buffer(10, (void *)"not found\n", MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

struct MHD_Daemon *fr_metrics_start(fr_server *s, const char *host, int port, char *err, size_t errcap) {
    char h[256], ps[8];
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') snprintf(h, sizeof h, "%.*s", (int)(hl - 2), host + 1);
    else snprintf(h, sizeof h, "%s", host);
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(h, ps, &hints, &res);
    if (g) {
        fr_fail(FR_ERR_ARG, err, errcap, "--metrics-listen %s: %s", host, gai_strerror(g));
        return NULL;
    }
    /* Limits, chosen: a scraper needs one or two connections, so 256 leaves room for many idle or
     * slow clients before a scrape is refused, and a connection silent for 5 s is closed, so
     * idle sockets cannot hold the slots (64 idle connections used to lock scrapes out).
     * MHD_USE_AUTO picks epoll/poll: select() would cap descriptors at FD_SETSIZE. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, res->ai_addr,
                                            MHD_OPTION_CONNECTION_LIMIT, 256, MHD_OPTION_CONNECTION_TIMEOUT, 5, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!d) fr_fail(FR_ERR_IO, err, errcap, "cannot listen for metrics on %s port %d", host, port);
    return d;
}

void fr_metrics_stop(struct MHD_Daemon *d) { MHD_stop_daemon(d); }

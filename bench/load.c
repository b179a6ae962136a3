/* load.c - a closed-loop gRPC load generator for `feedrank serve` (loopback only).
 *
 *   load --addr HOST:PORT --requests FILE [--concurrency N] [--duration S | --count N]
 *        [--rate QPS] [--warmup S] [--token T] [--timeout S]
 *
 * N workers each send one Rerank request at a time (requests taken round-robin from FILE, JSON
 * lines as for `feedrank rerank`), optionally paced so that all together send --rate per second.
 * Bounded by --duration (default 10 s) or --count. Prints QPS, latency p50/p90/p99/max of
 * successful calls after the warm-up, and calls by status, as one JSON line. */
#define _GNU_SOURCE
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "client.h"

typedef struct {
    uint8_t **reqs;
    size_t *lens;
    int n_reqs;
    const char *addr, *token;
    double start, warm_until, end, rate_per_worker, timeout;
    long count;
    atomic_long issued;
    atomic_long codes[17];
    pthread_mutex_t mu;
    double *lat;
    long n_lat, cap_lat;
} load;

static void *worker(void *arg) {
    load *L = arg;
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(L->addr, cr, NULL);
    grpc_channel_credentials_release(cr);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    double next = fr_bench_now();
    for (;;) {
        long k = atomic_fetch_add(&L->issued, 1);
        if ((L->count && k >= L->count) || (!L->count && fr_bench_now() >= L->end)) break;
        if (L->rate_per_worker > 0) {
            double t = fr_bench_now();
            if (next > t) {
                struct timespec d = {(time_t)(next - t), (long)((next - t - (time_t)(next - t)) * 1e9)};
                nanosleep(&d, NULL);
            }
            next += 1.0 / L->rate_per_worker;
        }
        int i = (int)(k % L->n_reqs);
        uint8_t *resp;
        size_t rl;
        char details[256];
        double t0 = fr_bench_now();
        int st = fr_client_unary(ch, cq, L->token, L->timeout, "/feedrank.v1.Reranker/Rerank", L->reqs[i], L->lens[i], &resp, &rl, details, sizeof details);
        double dt = fr_bench_now() - t0;
        free(resp);
        atomic_fetch_add(&L->codes[st >= 0 && st <= 16 ? st : 2], 1);
        if (st == 0 && t0 >= L->warm_until) {
            pthread_mutex_lock(&L->mu);
            if (L->n_lat == L->cap_lat) {
                L->cap_lat = L->cap_lat ? L->cap_lat * 2 : 4096;
                L->lat = realloc(L->lat, sizeof(double) * (size_t)L->cap_lat);
            }
            if (L->lat) L->lat[L->n_lat++] = dt;
            pthread_mutex_unlock(&L->mu);
        }
    }
    grpc_channel_destroy(ch);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    grpc_completion_queue_destroy(cq);
    return NULL;
}

int main(int argc, char **argv) {
    load L = {0};
    const char *file = NULL;
    int conc = 1;
    double duration = 10, warmup = 1, rate = 0;
    L.addr = "127.0.0.1:50051";
    L.timeout = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--addr")) L.addr = argv[i + 1];
        else if (!strcmp(argv[i], "--requests")) file = argv[i + 1];
        else if (!strcmp(argv[i], "--concurrency")) conc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--count")) L.count = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--token")) L.token = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout")) L.timeout = atof(argv[i + 1]);
        else {
            fprintf(stderr, "load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!file || conc < 1 || conc > 1024 || duration <= 0 || duration > 3600) {
        fprintf(stderr, "load: --requests FILE needed; concurrency 1..1024; duration (0, 3600]\n");
        return 2;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        size_t n;
        uint8_t *b = fr_client_pack_rerank(line, &n);
        if (!b) continue;
        L.reqs = realloc(L.reqs, sizeof *L.reqs * (size_t)(L.n_reqs + 1));
        L.lens = realloc(L.lens, sizeof *L.lens * (size_t)(L.n_reqs + 1));
        L.reqs[L.n_reqs] = b;
        L.lens[L.n_reqs++] = n;
    }
    free(line);
    fclose(f);
    if (!L.n_reqs) {
        fprintf(stderr, "load: no requests in %s\n", file);
        return 1;
    }
    grpc_init();
    pthread_mutex_init(&L.mu, NULL);
    L.start = fr_bench_now();
    L.warm_until = L.start + warmup;
    L.end = L.start + warmup + duration;
    L.rate_per_worker = rate > 0 ? rate / conc : 0;
    pthread_t *t = calloc((size_t)conc, sizeof *t);
    for (int i = 0; i < conc; i++) pthread_create(&t[i], NULL, worker, &L);
    for (int i = 0; i < conc; i++) pthread_join(t[i], NULL);
    double elapsed = fr_bench_now() - L.warm_until;
    qsort(L.lat, (size_t)L.n_lat, sizeof *L.lat, fr_bench_cmp_double);
#define P(q) (L.n_lat ? L.lat[(long)((q) * (L.n_lat - 1))] * 1e3 : 0)
    printf("{\"bench\":\"load\",\"concurrency\":%d,\"rate\":%.0f,\"requests\":%ld,\"qps\":%.1f,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"codes\":{",
           conc, rate, L.n_lat, elapsed > 0 ? L.n_lat / elapsed : 0, P(0.5), P(0.9), P(0.99), L.n_lat ? L.lat[L.n_lat - 1] * 1e3 : 0);
    int first = 1;
    for (int c = 0; c < 17; c++)
        if (atomic_load(&L.codes[c])) {
            printf("%s\"%d\":%ld", first ? "" : ",", c, atomic_load(&L.codes[c]));
            first = 0;
        }
    printf("}}\n");
    for (int i = 0; i < L.n_reqs; i++) free(L.reqs[i]);
    free(L.reqs);
    free(L.lens);
    free(L.lat);
    free(t);
    grpc_shutdown();
    return 0;
}

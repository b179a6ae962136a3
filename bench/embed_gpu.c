/* embed_gpu.c - the CUDA backend's speed, with the floors it is judged against.
 *
 *   embed_gpu --model DIR [--precision fp16|bf16|fp32] [--lens 16,32,128,512]
 *             [--batches 1,8,64,256,1024] [--min-seconds S] [--label NAME] [--skip-score]
 *             [--candidates 1000,100000,1000000]
 *
 * Prints one JSON object per line:
 *   {"kind":"device", ...}             the GPU, and the two ceilings measured here: a large
 *                                      fp16 / bf16 / fp32 cuBLAS product (FLOP/s) and a
 *                                      device-to-device copy (bytes read + written per second)
 *   {"kind":"embed", ...}              per (sequence length, batch): median seconds of one
 *                                      forward on pre-tokenized ids (upload, model, pooled
 *                                      download), sequences/s, tokens/s, the FLOP count and the
 *                                      floor it gives at the measured product rate
 *   {"kind":"query_latency", ...}      one 16-token text end to end (tokenize, upload, model,
 *                                      download): median and p99 seconds
 *   {"kind":"score", ...}              one query against N = 1e3 / 1e5 / 1e6 candidates of the
 *                                      model's dimension (device-resident, fp32): the score op,
 *                                      and score + top-100, median seconds, and the memory floor
 * Medians over at least 5 runs and --min-seconds (after 3 warm-up runs). */
#define _GNU_SOURCE
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "encoder.h"

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (s && *s && n < cap) {
        out[n++] = atoi(s);
        s = strchr(s, ',');
        if (s) s++;
    }
    return n;
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, fr_bench_cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define MAX_RUNS 2000

/* Runs fn until min_s and >= 5 runs (3 warm-ups first); returns the median seconds. */
typedef int (*run_fn)(void *ctx);
static double time_median(run_fn fn, void *ctx, double min_s, double *p99) {
    static double t[MAX_RUNS];
    for (int i = 0; i < 3; i++)
        if (fn(ctx)) return -1;
    int n = 0;
    double start = fr_bench_now();
    while (n < MAX_RUNS && (n < 5 || fr_bench_now() - start < min_s)) {
        double a = fr_bench_now();
        if (fn(ctx)) return -1;
        t[n++] = fr_bench_now() - a;
    }
    double m = median(t, n); /* sorts t */
    if (p99) *p99 = t[(int)(0.99 * (n - 1))];
    return m;
}

/* ---- ceilings ---- */

static double gemm_rate(cudaDataType t, cublasComputeType_t ct) {
    const int n = 8192;
    size_t es = t == CUDA_R_32F ? 4 : 2;
    void *a, *b, *c;
    if (cudaMalloc(&a, es * n * n) || cudaMalloc(&b, es * n * n) || cudaMalloc(&c, 4 * (size_t)n * n)) return -1;
    /* random-looking operands (not zeros): fill from a host pattern of bytes */
    unsigned char *h = malloc(es * n * n);
    unsigned x = 12345;
    for (size_t i = 0; i < es * n * n; i++) {
        x = x * 1103515245u + 12345u;
        h[i] = (unsigned char)(x >> 24);
    }
    if (es == 2)
        for (size_t i = 1; i < es * n * n; i += 2) h[i] = (unsigned char)(0x38 + (h[i] & 0x3)); /* |v| ~ 0.5..4 */
    else
        for (size_t i = 3; i < es * n * n; i += 4) h[i] = (unsigned char)(0x3e + (h[i] & 0x1));
    cudaMemcpy(a, h, es * n * n, cudaMemcpyHostToDevice);
    cudaMemcpy(b, h, es * n * n, cudaMemcpyHostToDevice);
    free(h);
    cublasHandle_t hb;
    cublasCreate(&hb);
    float one = 1, zero = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double best = 0;
    for (int r = 0; r < 8; r++) {
        cudaEventRecord(e0, 0);
        cublasGemmEx(hb, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, t, n, b, t, n, &zero, c, CUDA_R_32F, n, ct,
                     CUBLAS_GEMM_DEFAULT);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        double rate = 2.0 * n * (double)n * n / (ms * 1e-3);
        if (r >= 2 && rate > best) best = rate;
    }
    cublasDestroy(hb);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return best;
}

static double copy_rate(void) {
    size_t bytes = (size_t)2 << 30;
    void *a, *b;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes)) return -1;
    cudaMemset(a, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double best = 0;
    for (int r = 0; r < 6; r++) {
        cudaEventRecord(e0, 0);
        cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        double rate = 2.0 * bytes / (ms * 1e-3);
        if (r >= 1 && rate > best) best = rate;
    }
    cudaFree(a);
    cudaFree(b);
    return best;
}

/* ---- embedding ---- */

typedef struct {
    fr_encoder *enc;
    int32_t *ids, *off;
    int n;
    float *out;
    char err[512];
} embed_ctx;

static int run_embed(void *p) {
    embed_ctx *c = p;
    return fr_encoder_embed_tokens(c->enc, c->ids, c->off, c->n, c->out, c->err, sizeof c->err) != FR_OK;
}

typedef struct {
    fr_encoder *enc;
    const char *text;
    float *out;
    char err[512];
} query_ctx;

static int run_query(void *p) {
    query_ctx *c = p;
    return fr_encoder_embed(c->enc, &c->text, NULL, 1, FR_TEXT_QUERY, c->out, NULL, c->err, sizeof c->err) != FR_OK;
}

/* ---- scoring ---- */

typedef struct {
    fr_backend *be;
    float *q, *items, *scores, *vals;
    int32_t *idx;
    int N, D, topk;
    char err[512];
} score_ctx;

static int run_score(void *p) {
    score_ctx *c = p;
    if (c->be->score(c->be, c->q, 1, c->items, NULL, c->N, c->D, c->scores, c->err, sizeof c->err)) return 1;
    if (c->topk && c->be->topk(c->be, c->scores, c->N, c->topk, c->idx, c->vals, c->err, sizeof c->err)) return 1;
    return c->be->synchronize(c->be, c->err, sizeof c->err) != FR_OK;
}

int main(int argc, char **argv) {
    const char *model = NULL, *prec = "fp16", *lens_s = "16,32,128,512", *batches_s = "1,8,64,256,1024", *label = NULL;
    double min_s = 0.5;
    int skip_score = 0;
    const char *cands_s = "1000,100000,1000000";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) prec = argv[++i];
        else if (!strcmp(argv[i], "--lens") && i + 1 < argc) lens_s = argv[++i];
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches_s = argv[++i];
        else if (!strcmp(argv[i], "--min-seconds") && i + 1 < argc) min_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
        else if (!strcmp(argv[i], "--skip-score")) skip_score = 1;
        else if (!strcmp(argv[i], "--candidates") && i + 1 < argc) cands_s = argv[++i];
        else {
            fprintf(stderr, "embed_gpu: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "embed_gpu: --model DIR is required\n");
        return 2;
    }
    int lens[16], batches[16];
    int nl = parse_list(lens_s, lens, 16), nb = parse_list(batches_s, batches, 16);
    int max_tokens = 0;
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < nb; b++)
            if (lens[a] * batches[b] > max_tokens) max_tokens = lens[a] * batches[b];
    char err[1024];
    fr_encoder_options o = {.backend = "cuda", .precision = prec, .max_batch_tokens = max_tokens};
    fr_encoder *enc;
    if (fr_encoder_load(model, &o, &enc, err, sizeof err)) {
        fprintf(stderr, "embed_gpu: %s\n", err);
        return 1;
    }
    const fr_model_config *cfg = fr_encoder_config(enc);
    if (!label) label = fr_encoder_name(enc);
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    cudaDataType gt = !strcmp(prec, "fp32") ? CUDA_R_32F : !strcmp(prec, "bf16") ? CUDA_R_16BF
                                                                                 : CUDA_R_16F;
    double rate = gemm_rate(gt, CUBLAS_COMPUTE_32F), bw = copy_rate();
    printf("{\"kind\":\"device\",\"gpu\":\"%s\",\"sms\":%d,\"precision\":\"%s\",\"gemm_8192_flops\":%.4g,\"copy_bytes_per_s\":%.4g}\n",
           prop.name, prop.multiProcessorCount, prec, rate, bw);
    fflush(stdout);
    const int H = cfg->hidden, I = cfg->intermediate, Lyr = cfg->layers;
    for (int a = 0; a < nl; a++) {
        int L = lens[a];
        if (L > cfg->max_seq_length) {
            fprintf(stderr, "embed_gpu: length %d > max_seq_length %d, skipped\n", L, cfg->max_seq_length);
            continue;
        }
        for (int b = 0; b < nb; b++) {
            int B = batches[b];
            embed_ctx c = {.enc = enc, .n = B};
            c.ids = malloc(sizeof(int32_t) * (size_t)B * L);
            c.off = malloc(sizeof(int32_t) * (B + 1));
            c.out = malloc(sizeof(float) * (size_t)B * H);
            unsigned x = 777u + (unsigned)(L * 131 + B);
            for (int s = 0; s <= B; s++) c.off[s] = s * L;
            for (int s = 0; s < B; s++)
                for (int t = 0; t < L; t++) {
                    x = x * 1103515245u + 12345u;
                    c.ids[s * L + t] = t == 0 ? 101 : t == L - 1 ? 102
                                                                 : 1996 + (int)((x >> 8) % 27000);
                }
            double m = time_median(run_embed, &c, min_s, NULL);
            if (m < 0) {
                fprintf(stderr, "embed_gpu: %s\n", c.err);
                return 1;
            }
            double T = (double)B * L;
            double flops = Lyr * (2.0 * T * (4.0 * H * H + 2.0 * H * I) + 4.0 * B * (double)L * L * H);
            double floor_s = flops / rate;
            printf("{\"kind\":\"embed\",\"model\":\"%s\",\"precision\":\"%s\",\"seq\":%d,\"batch\":%d,\"median_s\":%.6g,"
                   "\"seqs_per_s\":%.6g,\"tokens_per_s\":%.6g,\"flops\":%.6g,\"floor_s\":%.6g,\"x_floor\":%.3f}\n",
                   label, prec, L, B, m, B / m, T / m, flops, floor_s, m / floor_s);
            fflush(stdout);
            free(c.ids);
            free(c.off);
            free(c.out);
        }
    }
    /* one 16-token query, end to end */
    {
        query_ctx q = {.enc = enc, .text = "cordless drill with two batteries and a charger for home garden work"};
        q.out = malloc(sizeof(float) * H);
        fr_embed_info info;
        fr_encoder_embed(enc, &q.text, NULL, 1, FR_TEXT_PLAIN, q.out, &info, err, sizeof err);
        double p99 = 0, m = time_median(run_query, &q, min_s, &p99);
        printf("{\"kind\":\"query_latency\",\"model\":\"%s\",\"precision\":\"%s\",\"tokens\":%d,\"median_s\":%.6g,\"p99_s\":%.6g}\n",
               label, prec, info.tokens, m, p99);
        fflush(stdout);
        free(q.out);
    }
    if (!skip_score) {
        fr_backend *be = fr_encoder_backend(enc);
        int Ns[8];
        const int D = H, nN = parse_list(cands_s, Ns, 8);
        int maxN = 0;
        for (int k = 0; k < nN; k++)
            if (Ns[k] > maxN) maxN = Ns[k];
        fr_workload w = {.max_candidates = maxN};
        if (be->reserve && be->reserve(be, &w, err, sizeof err)) {
            fprintf(stderr, "embed_gpu: %s\n", err);
            return 1;
        }
        for (int k = 0; k < nN; k++) {
            int N = Ns[k];
            score_ctx s = {.be = be, .N = N, .D = D};
            float *h = malloc(sizeof(float) * (size_t)N * D);
            unsigned x = 99;
            for (size_t i = 0; i < (size_t)N * D; i++) {
                x = x * 1103515245u + 12345u;
                h[i] = ((x >> 9) / 4194304.0f - 1.0f) * 0.1f;
            }
            if (be->alloc(be, sizeof(float) * (size_t)N * D, (void **)&s.items, err, sizeof err) ||
                be->alloc(be, sizeof(float) * D, (void **)&s.q, err, sizeof err) ||
                be->alloc(be, sizeof(float) * N, (void **)&s.scores, err, sizeof err) ||
                be->alloc(be, sizeof(float) * 100, (void **)&s.vals, err, sizeof err) ||
                be->alloc(be, sizeof(int32_t) * 100, (void **)&s.idx, err, sizeof err) ||
                be->upload(be, s.items, h, sizeof(float) * (size_t)N * D, err, sizeof err) ||
                be->upload(be, s.q, h, sizeof(float) * D, err, sizeof err)) {
                fprintf(stderr, "embed_gpu: %s\n", err);
                return 1;
            }
            free(h);
            double m_score = time_median(run_score, &s, min_s, NULL);
            s.topk = N < 100 ? N : 100;
            double m_topk = time_median(run_score, &s, min_s, NULL);
            if (m_score < 0 || m_topk < 0) {
                fprintf(stderr, "embed_gpu: %s\n", s.err);
                return 1;
            }
            double floor_s = (double)N * D * 4 / bw; /* reading N*D floats once at the copy's (read + write) rate */
            printf("{\"kind\":\"score\",\"candidates\":%d,\"dim\":%d,\"score_median_s\":%.6g,\"score_top100_median_s\":%.6g,"
                   "\"candidates_per_s\":%.6g,\"memory_floor_s\":%.6g}\n",
                   N, D, m_score, m_topk, N / m_score, floor_s);
            fflush(stdout);
            be->free(be, s.items);
            be->free(be, s.q);
            be->free(be, s.scores);
            be->free(be, s.vals);
            be->free(be, s.idx);
        }
    }
    fr_encoder_free(enc);
    return 0;
}

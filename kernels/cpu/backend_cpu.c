/* backend_cpu.c - the CPU backend table: host memory, optimized kernels, OpenMP threads.
 * In bf16 / fp16 mode the weights are packed as bf16 (gemm_bf16.c) / fp16 (gemm_fp16.c) and the
 * products round x into a scratch buffer the backend owns (sized by reserve(), grown on demand
 * otherwise); everything else is the fp32 code. */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_kernels.h"

typedef struct {
    uint16_t *xb;  /* bf16 / fp16 copy of a product's x (bf16 / fp16 mode) */
    size_t xb_cap; /* values */
} cpu_ctx;

/* Makes ctx->xb hold at least n values. */
static fr_status xb_reserve(cpu_ctx *c, size_t n, char *err, size_t errcap) {
    if (n <= c->xb_cap) return FR_OK;
    size_t bytes = (n * sizeof(uint16_t) + 63) & ~(size_t)63;
    uint16_t *p = aligned_alloc(64, bytes);
    if (!p) return fr_fail(FR_ERR_NOMEM, err, errcap, "cpu: cannot allocate %zu bytes of bf16 scratch", bytes);
    free(c->xb);
    c->xb = p;
    c->xb_cap = n;
    return FR_OK;
}

static fr_status cpu_alloc(fr_backend *be, size_t bytes, void **out, char *err, size_t errcap) {
    (void)be;
    /* 64-byte alignment for vector loads; round up as aligned_alloc requires */
    size_t n = (bytes + 63) & ~(size_t)63;
    *out = aligned_alloc(64, n ? n : 64);
    if (!*out) return fr_fail(FR_ERR_NOMEM, err, errcap, "cpu: cannot allocate %zu bytes", bytes);
    return FR_OK;
}

static void cpu_free(fr_backend *be, void *p) {
    (void)be;
    free(p);
}

static fr_status cpu_copy(fr_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    if (bytes) memmove(dst, src, bytes);
    return FR_OK;
}

static fr_status cpu_sync(fr_backend *be, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    return FR_OK;
}

static fr_status cpu_embed(fr_backend *be, const int32_t *ids, const int32_t *positions, int T, int H,
                           const float *word, const float *pos, const float *type0, const float *gamma,
                           const float *beta, float eps, float *out, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    fr_cpu_embed(ids, positions, T, H, word, pos, type0, gamma, beta, eps, out);
    return FR_OK;
}

static fr_status cpu_weight_create(fr_backend *be, const float *W, int N, int K, fr_weight **out, char *err,
                                   size_t errcap) {
    if (be->precision == FR_PREC_BF16) *out = (fr_weight *)fr_cpu_weight_bf16_pack(W, N, K);
    else if (be->precision == FR_PREC_FP16) *out = (fr_weight *)fr_cpu_weight_fp16_pack(W, N, K);
    else *out = (fr_weight *)fr_cpu_weight_pack(W, N, K);
    return *out ? FR_OK : fr_fail(FR_ERR_NOMEM, err, errcap, "cpu: out of memory packing a %dx%d weight", N, K);
}

static void cpu_weight_free(fr_backend *be, fr_weight *w) {
    if (be->precision == FR_PREC_BF16) fr_cpu_weight_bf16_free((fr_cpu_weight_bf16 *)w);
    else if (be->precision == FR_PREC_FP16) fr_cpu_weight_fp16_free((fr_cpu_weight_fp16 *)w);
    else fr_cpu_weight_free((fr_cpu_weight *)w);
}

static fr_status cpu_linear(fr_backend *be, const float *x, const fr_weight *W, const float *bias, int M,
                            int N, int K, fr_activation act, float *y, char *err, size_t errcap) {
    (void)N;
    if (be->precision == FR_PREC_BF16 || be->precision == FR_PREC_FP16) {
        cpu_ctx *c = be->ctx;
        fr_status rc = xb_reserve(c, (size_t)(M > 0 ? M : 0) * fr_cpu_bf16_row_stride(K), err, errcap);
        if (rc) return rc;
        if (be->precision == FR_PREC_BF16) fr_cpu_linear_bf16(x, (const fr_cpu_weight_bf16 *)W, bias, M, act, y, c->xb);
        else fr_cpu_linear_fp16(x, (const fr_cpu_weight_fp16 *)W, bias, M, act, y, c->xb);
        return FR_OK;
    }
    fr_cpu_linear_packed(x, (const fr_cpu_weight *)W, bias, M, act, y);
    return FR_OK;
}

static fr_status cpu_add_layernorm(fr_backend *be, float *x, const float *add, const float *gamma,
                                   const float *beta, int T, int H, float eps, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    fr_cpu_add_layernorm(x, add, gamma, beta, T, H, eps);
    return FR_OK;
}

static fr_status cpu_attention(fr_backend *be, const float *qkv, const int32_t *off, int B, int max_len,
                               int H, int NH, float *out, char *err, size_t errcap) {
    (void)be;
    if (H % NH) return fr_fail(FR_ERR_ARG, err, errcap, "attention: hidden %d not divisible by %d heads", H, NH);
    if (fr_cpu_attention(qkv, off, B, max_len, H, NH, out))
        return fr_fail(FR_ERR_NOMEM, err, errcap, "attention: out of memory for scratch (max_len %d)", max_len);
    return FR_OK;
}

static fr_status cpu_pool(fr_backend *be, const float *x, const int32_t *off, int B, int H,
                          fr_pooling mode, int normalize, float *out, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    fr_cpu_pool(x, off, B, H, mode, normalize, out);
    return FR_OK;
}

static fr_status cpu_score(fr_backend *be, const float *q, int Q, const float *items, const int32_t *rows,
                           int N, int D, float *scores, char *err, size_t errcap) {
    (void)be;
    (void)err;
    (void)errcap;
    fr_cpu_score(q, Q, items, rows, N, D, scores);
    return FR_OK;
}

/* score descending, then index ascending */
static int by_score_desc(const void *a, const void *b, void *ctx) {
    const float *s = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (s[i] != s[j]) return s[i] > s[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static fr_status cpu_topk(fr_backend *be, const float *scores, int N, int k, int32_t *idx, float *vals, char *err,
                          size_t errcap) {
    (void)be;
    if (N < 0 || k < 0 || k > N) return fr_fail(FR_ERR_ARG, err, errcap, "topk: k %d out of range for %d scores", k, N);
    if (k == 0) return FR_OK;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)N);
    if (!all) return fr_fail(FR_ERR_NOMEM, err, errcap, "topk: out of memory for %d indices", N);
    for (int i = 0; i < N; i++) all[i] = i;
    qsort_r(all, (size_t)N, sizeof *all, by_score_desc, (void *)scores);
    for (int i = 0; i < k; i++) {
        idx[i] = all[i];
        vals[i] = scores[all[i]];
    }
    free(all);
    return FR_OK;
}

/* Sizes the bf16 scratch for the largest product (K up to max(hidden, intermediate)). */
static fr_status cpu_reserve(fr_backend *be, const fr_workload *w, char *err, size_t errcap) {
    if (be->precision == FR_PREC_FP32) return FR_OK;
    int K = w->hidden > w->intermediate ? w->hidden : w->intermediate;
    return xb_reserve(be->ctx, (size_t)(w->max_tokens > 0 ? w->max_tokens : 0) * fr_cpu_bf16_row_stride(K), err, errcap);
}

static void cpu_destroy(fr_backend *be) {
    cpu_ctx *c = be->ctx;
    if (c) free(c->xb);
    free(c);
    free(be);
}

fr_status fr_backend_cpu_create(int threads, fr_backend **out, char *err, size_t errcap) {
    return fr_backend_cpu_open(threads, FR_PREC_FP32, out, err, errcap);
}

fr_status fr_backend_cpu_open(int threads, fr_precision precision, fr_backend **out, char *err, size_t errcap) {
    *out = NULL;
    /* auto: fp16 runs at twice fp32's rate where the CPU has AVX-512 FP16; bf16 (AVX-512 BF16)
     * is next (on the Xeon measured it is slower than fp32, but such CPUs also have fp16) */
    fr_precision p = precision == FR_PREC_DEFAULT ? FR_PREC_FP32
                     : precision == FR_PREC_AUTO  ? (fr_cpu_fp16_available()   ? FR_PREC_FP16
                                                     : fr_cpu_bf16_available() ? FR_PREC_BF16
                                                                               : FR_PREC_FP32)
                                                  : precision;
    if (p == FR_PREC_BF16 && !fr_cpu_bf16_available())
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "bf16 on the CPU needs AVX-512 BF16, which this CPU or build lacks (use fp32, or auto for the fastest available)");
    if (p == FR_PREC_FP16 && !fr_cpu_fp16_available())
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "fp16 on the CPU needs AVX-512 FP16, which this CPU or build lacks (use fp32, or auto for the fastest available)");
    if (p != FR_PREC_FP32 && p != FR_PREC_BF16 && p != FR_PREC_FP16)
        return fr_fail(FR_ERR_ARG, err, errcap, "cpu backend: unknown precision %d", (int)precision);
    fr_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "cpu backend: out of memory");
    }
    be->ctx = c;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    be->name = "cpu";
    be->precision = p;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->synchronize = cpu_sync;
    be->weight_create = cpu_weight_create;
    be->weight_free = cpu_weight_free;
    be->embed = cpu_embed;
    be->linear = cpu_linear;
    be->add_layernorm = cpu_add_layernorm;
    be->attention = cpu_attention;
    be->pool = cpu_pool;
    be->score = cpu_score;
    be->topk = cpu_topk;
    be->reserve = cpu_reserve;
    be->destroy = cpu_destroy;
    *out = be;
    return FR_OK;
}

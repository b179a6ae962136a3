/* backend_cuda.cu - the CUDA backend table (kernels/ops.h): device memory, one stream and one
 * cuBLAS / cuBLASLt handle pair per backend (one backend per worker), scratch reserved once from
 * the largest workload, matrix products through cuBLASLt (bias fused in the epilogue) in fp32
 * (exact) or fp16 / bf16 operands with fp32 accumulation, CUDA graphs replayed per bucket, and
 * every CUDA / cuBLAS status turned into an fr_status with a message. */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_kernels.cuh"

extern "C" {
#include "../ops.h"
}

#define FR_LT_WORKSPACE (32u << 20)
#define FR_MAX_PLANS 96
#define FR_MAX_GRAPHS 64
#define FR_SLOTS 3 /* two for producers' shadows (alternating), one for conversions */

struct fr_weight {
    int N, K;
    void *data; /* [N, K] in the backend's operand type */
};

typedef struct {
    int M, N, K, bias;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    int ok; /* 0: no Lt algorithm for this shape; use cublasGemmEx */
} lt_plan;

typedef struct {
    uint64_t key, used;
    cudaGraphExec_t exec;
} graph_entry;

typedef struct {
    int device;
    fr_precision prec;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *lt_ws, *blas_ws;
    /* shadows: slot[i] holds a rounded copy of the fp32 buffer src[i] (n elements) */
    void *slot[FR_SLOTS];
    const float *src[FR_SLOTS];
    size_t n[FR_SLOTS], slot_cap;
    int next_producer;
    /* top-k scratch */
    void *sort_buf;
    size_t sort_bytes;
    lt_plan plans[FR_MAX_PLANS];
    int nplans;
    graph_entry graphs[FR_MAX_GRAPHS];
    int ngraphs;
    uint64_t tick;
    int capturing;
    int attention_variant; /* fr_attention_variant, from FEEDRANK_CUDA_ATTENTION at creation */
} cuda_ctx;

static cuda_ctx *CTX(fr_backend *be) { return (cuda_ctx *)be->ctx; }

#define CU(call, what)                                                                                \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess)                                                                        \
            return fr_fail(FR_ERR_DEVICE, err, errcap, "cuda: %s: %s", what, cudaGetErrorString(e_)); \
    } while (0)

#define CB(call, what)                                                                                     \
    do {                                                                                                   \
        cublasStatus_t s_ = (call);                                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                                   \
            return fr_fail(FR_ERR_DEVICE, err, errcap, "cublas: %s: %s", what, cublasGetStatusString(s_)); \
    } while (0)

static int shadow_type(const cuda_ctx *c) {
    return c->prec == FR_PREC_FP16 ? FR_SHADOW_FP16 : c->prec == FR_PREC_BF16 ? FR_SHADOW_BF16
                                                                              : FR_SHADOW_NONE;
}

static cudaDataType operand_type(const cuda_ctx *c) {
    return c->prec == FR_PREC_FP16 ? CUDA_R_16F : c->prec == FR_PREC_BF16 ? CUDA_R_16BF
                                                                          : CUDA_R_32F;
}

static size_t operand_size(const cuda_ctx *c) { return c->prec == FR_PREC_FP32 ? 4 : 2; }

/* ---------------------------------------------------------------- shadows */

/* Forgets every shadow that overlaps [p, p + bytes). */
static void invalidate(cuda_ctx *c, const void *p, size_t bytes) {
    const char *a = (const char *)p, *b = a + bytes;
    for (int i = 0; i < FR_SLOTS; i++) {
        if (!c->src[i]) continue;
        const char *s = (const char *)c->src[i], *e = s + c->n[i] * sizeof(float);
        if (s < b && a < e) c->src[i] = NULL;
    }
}

static void forget_shadows(cuda_ctx *c) {
    for (int i = 0; i < FR_SLOTS; i++) c->src[i] = NULL;
}

/* A slot for the shadow of out[n] written by the next producer, or NULL when it does not fit. */
static void *producer_slot(cuda_ctx *c, const float *out, size_t n) {
    invalidate(c, out, (n ? n : 1) * sizeof(float));
    if (c->prec == FR_PREC_FP32 || n > c->slot_cap || !c->slot[0]) return NULL;
    int s = c->next_producer;
    c->next_producer = 1 - s;
    c->src[s] = out;
    c->n[s] = n;
    return c->slot[s];
}

/* The shadow of x[n], converting into the conversion slot when no producer left one. */
static fr_status operand_of(cuda_ctx *c, const float *x, size_t n, const void **out, char *err, size_t errcap) {
    for (int i = 0; i < FR_SLOTS; i++)
        if (c->src[i] == x && c->n[i] >= n) {
            *out = c->slot[i];
            return FR_OK;
        }
    if (n > c->slot_cap) {
        if (c->capturing)
            return fr_fail(FR_ERR_ARG, err, errcap, "cuda: a %zu-element operand exceeds the reserved scratch (%zu)", n, c->slot_cap);
        for (int i = 0; i < FR_SLOTS; i++)
            if (c->slot[i]) cudaFree(c->slot[i]);
        memset(c->slot, 0, sizeof c->slot);
        forget_shadows(c);
        c->slot_cap = 0;
        for (int i = 0; i < FR_SLOTS; i++)
            CU(cudaMalloc(&c->slot[i], n * operand_size(c)), "allocating operand scratch");
        c->slot_cap = n;
    }
    const int conv = FR_SLOTS - 1;
    CU(fr_cuda_convert(c->stream, x, n, c->slot[conv], shadow_type(c)), "converting an operand");
    c->src[conv] = x;
    c->n[conv] = n;
    *out = c->slot[conv];
    return FR_OK;
}

/* ---------------------------------------------------------------- memory */

static fr_status cu_alloc(fr_backend *be, size_t bytes, void **out, char *err, size_t errcap) {
    (void)be;
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        size_t free_b = 0, total = 0;
        cudaMemGetInfo(&free_b, &total);
        *out = NULL;
        return fr_fail(FR_ERR_NOMEM, err, errcap, "cuda: cannot allocate %zu bytes (%zu of %zu free): %s", bytes, free_b,
                       total, cudaGetErrorString(e));
    }
    return FR_OK;
}

static void cu_free(fr_backend *be, void *p) {
    if (!p) return;
    cuda_ctx *c = CTX(be);
    for (int i = 0; i < FR_SLOTS; i++)
        if (c->src[i] == p) c->src[i] = NULL;
    cudaFree(p);
}

static fr_status cu_upload(fr_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (!bytes) return FR_OK;
    invalidate(c, dst, bytes);
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "upload");
    return FR_OK;
}

static fr_status cu_download(fr_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (bytes) CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "download");
    CU(cudaStreamSynchronize(c->stream), "download (a kernel before it failed)");
    return FR_OK;
}

static fr_status cu_sync(fr_backend *be, char *err, size_t errcap) {
    CU(cudaStreamSynchronize(CTX(be)->stream), "synchronize");
    return FR_OK;
}

static fr_status cu_weight_create(fr_backend *be, const float *W, int N, int K, fr_weight **out, char *err,
                                  size_t errcap) {
    cuda_ctx *c = CTX(be);
    *out = NULL;
    size_t n = (size_t)N * K, es = operand_size(c);
    void *host = (void *)W;
    if (c->prec != FR_PREC_FP32) {
        host = malloc(n * es);
        if (!host) return fr_fail(FR_ERR_NOMEM, err, errcap, "cuda: out of host memory converting a %dx%d weight", N, K);
        for (size_t i = 0; i < n; i++) {
            if (c->prec == FR_PREC_FP16) ((__half *)host)[i] = __float2half_rn(W[i]);
            else ((__nv_bfloat16 *)host)[i] = __float2bfloat16_rn(W[i]);
        }
    }
    fr_weight *w = (fr_weight *)calloc(1, sizeof *w);
    fr_status rc = w ? FR_OK : fr_fail(FR_ERR_NOMEM, err, errcap, "cuda: out of memory");
    if (!rc) rc = cu_alloc(be, n * es, &w->data, err, errcap);
    if (!rc) {
        cudaError_t e = cudaMemcpy(w->data, host, n * es, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = fr_fail(FR_ERR_DEVICE, err, errcap, "cuda: uploading a weight: %s", cudaGetErrorString(e));
    }
    if (host != (void *)W) free(host);
    if (rc) {
        if (w && w->data) cudaFree(w->data);
        free(w);
        return rc;
    }
    w->N = N;
    w->K = K;
    *out = w;
    return FR_OK;
}

static void cu_weight_free(fr_backend *be, fr_weight *w) {
    (void)be;
    if (!w) return;
    cudaFree(w->data);
    free(w);
}

/* ---------------------------------------------------------------- ops */

static fr_status cu_embed(fr_backend *be, const int32_t *ids, const int32_t *positions, int T, int H, const float *word,
                          const float *pos, const float *type0, const float *gamma, const float *beta, float eps,
                          float *out, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    void *sh = producer_slot(c, out, (size_t)T * H);
    CU(fr_cuda_embed(c->stream, ids, positions, T, H, word, pos, type0, gamma, beta, eps, out, sh, sh ? shadow_type(c) : 0),
       "embed");
    return FR_OK;
}

static fr_status cu_add_layernorm(fr_backend *be, float *x, const float *add, const float *gamma, const float *beta,
                                  int T, int H, float eps, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    void *sh = producer_slot(c, x, (size_t)T * H);
    CU(fr_cuda_add_layernorm(c->stream, x, add, gamma, beta, T, H, eps, sh, sh ? shadow_type(c) : 0), "add_layernorm");
    return FR_OK;
}

static lt_plan *find_plan(cuda_ctx *c, int M, int N, int K, int bias, char *err, size_t errcap, fr_status *rc) {
    *rc = FR_OK;
    for (int i = 0; i < c->nplans; i++) {
        lt_plan *p = &c->plans[i];
        if (p->M == M && p->N == N && p->K == K && p->bias == bias) return p;
    }
    if (c->nplans == FR_MAX_PLANS) { /* full: drop the oldest */
        lt_plan *p = &c->plans[0];
        cublasLtMatmulDescDestroy(p->desc);
        cublasLtMatrixLayoutDestroy(p->a);
        cublasLtMatrixLayoutDestroy(p->b);
        cublasLtMatrixLayoutDestroy(p->c);
        memmove(c->plans, c->plans + 1, sizeof(lt_plan) * (FR_MAX_PLANS - 1));
        c->nplans--;
    }
    lt_plan *p = &c->plans[c->nplans];
    memset(p, 0, sizeof *p);
    p->M = M;
    p->N = N;
    p->K = K;
    p->bias = bias;
    const cudaDataType t = operand_type(c);
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const cudaDataType bias_t = CUDA_R_32F;
    const uint64_t ws = FR_LT_WORKSPACE;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    /* y^T [N, M] (column-major) = W [N, K] . x^T [K, M]: A = W stored K x N (transposed), B = x */
#define LT(call, what)                                                                                      \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                  \
            *rc = fr_fail(FR_ERR_DEVICE, err, errcap, "cublasLt: %s: %s", what, cublasGetStatusString(s_)); \
            goto fail;                                                                                      \
        }                                                                                                   \
    } while (0)
    LT(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul descriptor");
    LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT), "transa");
    LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN), "transb");
    LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
    if (bias) LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_t, sizeof bias_t), "bias type");
    LT(cublasLtMatrixLayoutCreate(&p->a, t, K, N, K), "layout A");
    LT(cublasLtMatrixLayoutCreate(&p->b, t, K, M, K), "layout B");
    LT(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, N, M, N), "layout C");
    LT(cublasLtMatmulPreferenceCreate(&pref), "preference");
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace");
    if (cublasLtMatmulAlgoGetHeuristic(c->lt, p->desc, p->a, p->b, p->c, p->c, pref, 1, &heur, &found) ==
            CUBLAS_STATUS_SUCCESS &&
        found > 0) {
        p->algo = heur.algo;
        p->ok = 1;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    c->nplans++;
    return p;
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (p->desc) cublasLtMatmulDescDestroy(p->desc);
    if (p->a) cublasLtMatrixLayoutDestroy(p->a);
    if (p->b) cublasLtMatrixLayoutDestroy(p->b);
    if (p->c) cublasLtMatrixLayoutDestroy(p->c);
    return NULL;
#undef LT
}

static fr_status cu_linear(fr_backend *be, const float *x, const fr_weight *W, const float *bias, int M, int N, int K,
                           fr_activation act, float *y, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (M <= 0 || N <= 0) return FR_OK;
    if (W->N != N || W->K != K) return fr_fail(FR_ERR_ARG, err, errcap, "linear: weight is %dx%d, asked for %dx%d", W->N, W->K, N, K);
    const void *xin = x;
    fr_status rc;
    if (c->prec != FR_PREC_FP32 && (rc = operand_of(c, x, (size_t)M * K, &xin, err, errcap))) return rc;
    invalidate(c, y, (size_t)M * N * sizeof(float));
    lt_plan *p = find_plan(c, M, N, K, bias != NULL, err, errcap, &rc);
    if (!p) return rc;
    const float one = 1.0f, zero = 0.0f;
    int bias_done = 0;
    if (p->ok) {
        if (bias) CB(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias pointer");
        CB(cublasLtMatmul(c->lt, p->desc, &one, W->data, p->a, xin, p->b, &zero, y, p->c, y, p->c, &p->algo, c->lt_ws,
                          FR_LT_WORKSPACE, c->stream),
           "matmul");
        bias_done = 1;
    } else {
        CB(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, W->data, operand_type(c), K, xin,
                        operand_type(c), K, &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
           "gemm");
    }
    const int gelu = act == FR_ACT_GELU;
    if (gelu || (bias && !bias_done)) {
        void *sh = gelu ? producer_slot(c, y, (size_t)M * N) : NULL;
        CU(fr_cuda_bias_gelu(c->stream, y, bias_done ? NULL : bias, M, N, gelu, sh, sh ? shadow_type(c) : 0), "bias/gelu");
    }
    CU(cudaGetLastError(), "linear");
    return FR_OK;
}

static fr_status cu_attention(fr_backend *be, const float *qkv, const int32_t *off, int B, int max_len, int H, int NH,
                              float *out, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (NH <= 0 || H % NH) return fr_fail(FR_ERR_ARG, err, errcap, "attention: hidden %d not divisible by %d heads", H, NH);
    if (H / NH > 128 && !(c->prec != FR_PREC_FP32 && fr_cuda_attention_tensor_ok(H / NH)))
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "attention: head size %d > 128 is not supported on CUDA", H / NH);
    /* the op is not told the token count (the sequences' rows are on the device), so the shadow
     * claims the whole slot and the kernel bounds its shadow writes by the slot's size */
    void *sh = producer_slot(c, out, c->slot_cap);
    CU(fr_cuda_attention(c->stream, qkv, off, B, max_len, H, NH, (int)c->prec, c->attention_variant, out, sh,
                         sh ? c->slot_cap : 0),
       "attention");
    return FR_OK;
}

static fr_status cu_pool(fr_backend *be, const float *x, const int32_t *off, int B, int H, fr_pooling mode,
                         int normalize, float *out, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    invalidate(c, out, (size_t)B * H * sizeof(float));
    CU(fr_cuda_pool(c->stream, x, off, B, H, mode == FR_POOL_CLS, normalize, out), "pool");
    return FR_OK;
}

static fr_status cu_score(fr_backend *be, const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                          float *scores, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (Q <= 0 || N <= 0) return FR_OK;
    invalidate(c, scores, (size_t)Q * N * sizeof(float));
    if (rows) {
        CU(fr_cuda_score_gather(c->stream, q, Q, items, rows, N, D, scores), "score (gather)");
        return FR_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    CB(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, Q, D, &one, items, D, q, D, &zero, scores, N), "score");
    return FR_OK;
}

static fr_status sort_scratch(cuda_ctx *c, int n, char *err, size_t errcap) {
    size_t cub_bytes = 0;
    CU(fr_cuda_sort_scratch(n, &cub_bytes), "sizing the sort");
    cub_bytes = (cub_bytes + 255) & ~(size_t)255; /* keep the key / index arrays after it aligned */
    /* [iota n][cub temp][keys n][idx n] */
    size_t lane = ((size_t)n * 4 + 255) & ~(size_t)255;
    size_t need = lane + cub_bytes + 2 * lane;
    if (need <= c->sort_bytes) return FR_OK;
    if (c->capturing) return fr_fail(FR_ERR_ARG, err, errcap, "topk: %d scores exceed the reserved scratch", n);
    if (c->sort_buf) cudaFree(c->sort_buf);
    c->sort_buf = NULL;
    c->sort_bytes = 0;
    CU(cudaMalloc(&c->sort_buf, need), "allocating sort scratch");
    c->sort_bytes = need;
    return FR_OK;
}

static fr_status cu_topk(fr_backend *be, const float *scores, int N, int k, int32_t *idx, float *vals, char *err,
                         size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (N < 0 || k < 0 || k > N) return fr_fail(FR_ERR_ARG, err, errcap, "topk: k %d out of range for %d scores", k, N);
    if (k == 0) return FR_OK;
    fr_status rc = sort_scratch(c, N, err, errcap);
    if (rc) return rc;
    size_t lane = ((size_t)N * 4 + 255) & ~(size_t)255;
    char *base = (char *)c->sort_buf;
    size_t sort_part = c->sort_bytes - 2 * lane;
    float *keys = (float *)(base + sort_part);
    int32_t *order = (int32_t *)(base + sort_part + lane);
    CU(fr_cuda_sort_desc(c->stream, scores, N, base, sort_part, keys, order), "topk sort");
    invalidate(c, vals, (size_t)k * sizeof(float));
    CU(cudaMemcpyAsync(idx, order, (size_t)k * 4, cudaMemcpyDeviceToDevice, c->stream), "topk copy");
    CU(cudaMemcpyAsync(vals, keys, (size_t)k * 4, cudaMemcpyDeviceToDevice, c->stream), "topk copy");
    return FR_OK;
}

/* ---------------------------------------------------------------- reserve, graphs */

static fr_status cu_reserve(fr_backend *be, const fr_workload *w, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    if (c->capturing) return fr_fail(FR_ERR_ARG, err, errcap, "reserve during graph capture");
    if (c->prec != FR_PREC_FP32) {
        size_t widest = (size_t)(w->intermediate > w->hidden ? w->intermediate : w->hidden);
        size_t n = (size_t)w->max_tokens * widest;
        if (n > c->slot_cap) {
            for (int i = 0; i < FR_SLOTS; i++)
                if (c->slot[i]) cudaFree(c->slot[i]);
            memset(c->slot, 0, sizeof c->slot);
            forget_shadows(c);
            c->slot_cap = 0;
            for (int i = 0; i < FR_SLOTS; i++) {
                fr_status rc = cu_alloc(be, n * operand_size(c), &c->slot[i], err, errcap);
                if (rc) return rc;
            }
            c->slot_cap = n;
        }
    }
    if (w->max_candidates > 0) return sort_scratch(c, w->max_candidates, err, errcap);
    return FR_OK;
}

static fr_status cu_graph_run(fr_backend *be, uint64_t key, fr_record_fn record, void *ctx, char *err, size_t errcap) {
    cuda_ctx *c = CTX(be);
    c->tick++;
    forget_shadows(c);
    for (int i = 0; i < c->ngraphs; i++)
        if (c->graphs[i].key == key) {
            c->graphs[i].used = c->tick;
            CU(cudaGraphLaunch(c->graphs[i].exec, c->stream), "graph launch");
            return FR_OK;
        }
    if (c->ngraphs == FR_MAX_GRAPHS) { /* evict the least recently used */
        int lru = 0;
        for (int i = 1; i < c->ngraphs; i++)
            if (c->graphs[i].used < c->graphs[lru].used) lru = i;
        cudaGraphExecDestroy(c->graphs[lru].exec);
        c->graphs[lru] = c->graphs[--c->ngraphs];
    }
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), "begin graph capture");
    c->capturing = 1;
    fr_status rc = record(ctx, err, errcap);
    c->capturing = 0;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    forget_shadows(c);
    if (rc) {
        if (g) cudaGraphDestroy(g);
        return rc;
    }
    if (e != cudaSuccess) {
        if (g) cudaGraphDestroy(g);
        return fr_fail(FR_ERR_DEVICE, err, errcap, "cuda: end graph capture: %s", cudaGetErrorString(e));
    }
    cudaGraphExec_t exec;
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    CU(e, "graph instantiate");
    c->graphs[c->ngraphs].key = key;
    c->graphs[c->ngraphs].used = c->tick;
    c->graphs[c->ngraphs].exec = exec;
    c->ngraphs++;
    CU(cudaGraphLaunch(exec, c->stream), "graph launch");
    return FR_OK;
}

/* ---------------------------------------------------------------- life cycle */

static void cu_destroy(fr_backend *be) {
    if (!be) return;
    cuda_ctx *c = CTX(be);
    if (c) {
        if (c->stream) cudaStreamSynchronize(c->stream);
        for (int i = 0; i < c->ngraphs; i++) cudaGraphExecDestroy(c->graphs[i].exec);
        for (int i = 0; i < c->nplans; i++) {
            cublasLtMatmulDescDestroy(c->plans[i].desc);
            cublasLtMatrixLayoutDestroy(c->plans[i].a);
            cublasLtMatrixLayoutDestroy(c->plans[i].b);
            cublasLtMatrixLayoutDestroy(c->plans[i].c);
        }
        for (int i = 0; i < FR_SLOTS; i++)
            if (c->slot[i]) cudaFree(c->slot[i]);
        if (c->sort_buf) cudaFree(c->sort_buf);
        if (c->lt_ws) cudaFree(c->lt_ws);
        if (c->blas_ws) cudaFree(c->blas_ws);
        if (c->lt) cublasLtDestroy(c->lt);
        if (c->blas) cublasDestroy(c->blas);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

extern "C" fr_status fr_backend_cuda_create(int device, fr_precision precision, fr_backend **out, char *err,
                                            size_t errcap) {
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return fr_fail(FR_ERR_DEVICE, err, errcap, "no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    if (device < 0 || device >= count)
        return fr_fail(FR_ERR_ARG, err, errcap, "CUDA device %d does not exist (%d present)", device, count);
    CU(cudaSetDevice(device), "set device");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, device), "device properties");
    if (prop.major < 9)
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "CUDA device %d (%s) is sm_%d%d; this build targets sm_90 (set FEEDRANK_CUDA_ARCH)",
                       device, prop.name, prop.major, prop.minor);
    e = fr_cuda_attention_setup();
    if (e != cudaSuccess)
        return fr_fail(FR_ERR_DEVICE, err, errcap, "cuda: loading kernels on %s: %s (was this build made for its architecture?)",
                       prop.name, cudaGetErrorString(e));
    fr_backend *be = (fr_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "cuda backend: out of memory");
    }
    be->ctx = c;
    c->device = device;
    c->prec = precision == FR_PREC_DEFAULT || precision == FR_PREC_AUTO ? FR_PREC_FP16 : precision;
    const char *variant = getenv("FEEDRANK_CUDA_ATTENTION");
    c->attention_variant = variant && strcmp(variant, "wmma") == 0 ? FR_ATTN_WMMA : FR_ATTN_MMA;
    fr_status rc = FR_OK;
#define TRY(call, what)                                                                                                    \
    do {                                                                                                                   \
        if (rc == FR_OK) {                                                                                                 \
            cudaError_t e_ = (call);                                                                                       \
            if (e_ != cudaSuccess) rc = fr_fail(FR_ERR_DEVICE, err, errcap, "cuda: %s: %s", what, cudaGetErrorString(e_)); \
        }                                                                                                                  \
    } while (0)
#define TRYB(call, what)                                                                                                                  \
    do {                                                                                                                                  \
        if (rc == FR_OK) {                                                                                                                \
            cublasStatus_t s_ = (call);                                                                                                   \
            if (s_ != CUBLAS_STATUS_SUCCESS) rc = fr_fail(FR_ERR_DEVICE, err, errcap, "cublas: %s: %s", what, cublasGetStatusString(s_)); \
        }                                                                                                                                 \
    } while (0)
    TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "stream");
    TRYB(cublasCreate(&c->blas), "create");
    TRYB(cublasSetStream(c->blas, c->stream), "set stream");
    TRY(cudaMalloc(&c->blas_ws, FR_LT_WORKSPACE), "cuBLAS workspace");
    TRYB(cublasSetWorkspace(c->blas, c->blas_ws, FR_LT_WORKSPACE), "set workspace");
    TRYB(cublasLtCreate(&c->lt), "Lt create");
    TRY(cudaMalloc(&c->lt_ws, FR_LT_WORKSPACE), "cuBLASLt workspace");
#undef TRY
#undef TRYB
    if (rc) {
        cu_destroy(be);
        return rc;
    }
    be->name = "cuda";
    be->precision = c->prec;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->synchronize = cu_sync;
    be->weight_create = cu_weight_create;
    be->weight_free = cu_weight_free;
    be->embed = cu_embed;
    be->linear = cu_linear;
    be->add_layernorm = cu_add_layernorm;
    be->attention = cu_attention;
    be->pool = cu_pool;
    be->score = cu_score;
    be->topk = cu_topk;
    be->reserve = cu_reserve;
    be->graph_run = cu_graph_run;
    be->destroy = cu_destroy;
    *out = be;
    return FR_OK;
}

/* ops.h - the backend boundary: every compute op the encoder and ranker use, as one table of
 * function pointers per backend (CPU in kernels/cpu/, CUDA in kernels/cuda/).
 *
 * All tensor arguments are backend memory (host memory for the CPU backend, device memory for
 * CUDA) obtained from the backend's own alloc/upload. Shapes use these letters:
 *   T  tokens in a packed batch (sequences laid end to end, no padding)
 *   B  sequences in the batch; off[B+1] gives sequence b's tokens as rows off[b] .. off[b+1]-1
 *   H  hidden size, I intermediate size, NH heads, DH = H / NH head size, V vocabulary size
 * A NULL op pointer means "this backend does not provide the op": fr_backend_supports() says so
 * and the caller must not call it. Ops return FR_OK or an error with a message in err. */
#ifndef FR_OPS_H
#define FR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum { FR_ACT_NONE = 0,
               FR_ACT_GELU = 1 } fr_activation;
typedef enum { FR_POOL_MEAN = 0,
               FR_POOL_CLS = 1 } fr_pooling;

typedef enum {
    FR_OP_EMBED,
    FR_OP_LINEAR,
    FR_OP_ADD_LAYERNORM,
    FR_OP_ATTENTION,
    FR_OP_POOL,
    FR_OP_SCORE,
    FR_OP_TOPK,
    FR_OP_COUNT
} fr_op;

/* Operand precision of the matrix products (linear, attention). FP32 is the exact mode; FP16 and
 * BF16 round the operands of linear (and on CUDA attention) and accumulate in fp32: tensor cores
 * on CUDA; on the CPU, AVX-512 BF16 dot products (fp32 accumulation) or AVX-512 FP16 FMAs (fp16
 * partial sums over 32 k values, added in fp32). Every op's inputs and outputs stay fp32 at this
 * interface whatever the precision; LayerNorm statistics, softmax, GELU, pooling and scoring are
 * fp32 in every mode.
 *   DEFAULT  the backend's default: FP16 on CUDA, FP32 (exact) on the CPU.
 *   AUTO     the fastest precision that keeps vectors >= 0.999 cosine to fp32: FP16 on CUDA; on
 *            the CPU (checked at run time) FP16 with AVX-512 FP16, else BF16 with AVX-512 BF16,
 *            else FP32.
 * A backend refuses a precision its hardware lacks (FR_ERR_UNSUPPORTED naming the reason) and
 * reports the one it runs in fr_backend.precision, never DEFAULT or AUTO. */
typedef enum {
    FR_PREC_AUTO = -2,
    FR_PREC_DEFAULT = -1,
    FR_PREC_FP32 = 0,
    FR_PREC_FP16 = 1,
    FR_PREC_BF16 = 2
} fr_precision;

/* "fp32", "fp16", "bf16", "auto" or "default". */
const char *fr_precision_name(fr_precision p);
/* Parses "fp32" | "fp16" | "bf16" | "auto" | "default" (NULL = default). */
fr_status fr_precision_parse(const char *s, fr_precision *out, char *err, size_t errcap);

/* The largest work an encoder will hand the backend: reserve() sizes scratch memory once from it
 * so that no allocation happens while serving. */
typedef struct {
    int max_tokens, max_seqs, max_len; /* per forward pass */
    int hidden, heads, intermediate;
    int max_candidates; /* largest N for topk (0 = none) */
} fr_workload;

/* A recorded sequence of ops: graph_run replays it (CUDA graphs). */
typedef fr_status (*fr_record_fn)(void *ctx, char *err, size_t errcap);

typedef struct fr_backend fr_backend;

/* A weight matrix W[N,K] (nn.Linear layout) held in the backend's preferred form: packed panels
 * on the CPU, device memory on CUDA. Made once at model load by weight_create. */
typedef struct fr_weight fr_weight;

struct fr_backend {
    const char *name; /* "cpu", "cuda" */
    fr_precision precision;
    void *ctx;

    /* memory */
    fr_status (*alloc)(fr_backend *be, size_t bytes, void **out, char *err, size_t errcap);
    void (*free)(fr_backend *be, void *p);
    fr_status (*upload)(fr_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errcap);
    fr_status (*download)(fr_backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errcap);
    fr_status (*synchronize)(fr_backend *be, char *err, size_t errcap);
    fr_status (*weight_create)(fr_backend *be, const float *W_host, int N, int K, fr_weight **out,
                               char *err, size_t errcap);
    void (*weight_free)(fr_backend *be, fr_weight *w);

    /* out[T,H] = LayerNorm(word[ids[t]] + pos[positions[t]] + type0) * gamma + beta.
     * word[V,H], pos[P,H], type0[H] (token type 0 row); ids/positions are int32[T]. */
    fr_status (*embed)(fr_backend *be, const int32_t *ids, const int32_t *positions, int T, int H,
                       const float *word, const float *pos, const float *type0, const float *gamma,
                       const float *beta, float eps, float *out, char *err, size_t errcap);

    /* y[M,N] = act(x[M,K] . W[N,K]^T + bias[N]); W made by weight_create with these N, K. */
    fr_status (*linear)(fr_backend *be, const float *x, const fr_weight *W, const float *bias, int M,
                        int N, int K, fr_activation act, float *y, char *err, size_t errcap);

    /* x[T,H] = LayerNorm(x + add) * gamma + beta, in place. */
    fr_status (*add_layernorm)(fr_backend *be, float *x, const float *add, const float *gamma,
                               const float *beta, int T, int H, float eps, char *err, size_t errcap);

    /* Self-attention of each sequence over its own tokens only (packed, so no padding mask
     * is needed). qkv[T,3H] holds Q | K | V per token; out[T,H] the heads' outputs, concatenated.
     * off is int32[B+1] in backend memory; max_len bounds off[b+1]-off[b]. */
    fr_status (*attention)(fr_backend *be, const float *qkv, const int32_t *off, int B, int max_len,
                           int H, int NH, float *out, char *err, size_t errcap);

    /* out[B,H] = mean over each sequence's tokens (or its first token, CLS), then divided by
     * max(||v||, 1e-12) when normalize. */
    fr_status (*pool)(fr_backend *be, const float *x, const int32_t *off, int B, int H,
                      fr_pooling mode, int normalize, float *out, char *err, size_t errcap);

    /* scores[Q,N] = q[Q,D] . items[N,D]^T, or, when rows != NULL, against items[rows[n]] only
     * (rows is int32[N] in backend memory). */
    fr_status (*score)(fr_backend *be, const float *q, int Q, const float *items, const int32_t *rows,
                       int N, int D, float *scores, char *err, size_t errcap);

    /* idx[k], vals[k] = the k largest of scores[N], best first, ties by lower index (a full
     * sort when k == N). scores must hold no NaN. All three in backend memory. */
    fr_status (*topk)(fr_backend *be, const float *scores, int N, int k, int32_t *idx, float *vals,
                      char *err, size_t errcap);

    /* Optional (NULL = not needed). reserve: size scratch for the largest work (call once, before
     * serving). graph_run: run record(ctx) as a replayable graph under key: the first call records
     * it, later calls with the same key replay it; record must issue the same ops with the same
     * arguments for the same key. */
    fr_status (*reserve)(fr_backend *be, const fr_workload *w, char *err, size_t errcap);
    fr_status (*graph_run)(fr_backend *be, uint64_t key, fr_record_fn record, void *ctx, char *err,
                           size_t errcap);

    void (*destroy)(fr_backend *be);
};

/* 1 when be provides op. */
int fr_backend_supports(const fr_backend *be, fr_op op);
const char *fr_op_name(fr_op op);

/* CPU backend: packed AVX-512 / BLAS products, OpenMP across `threads` cores (0 = all); fp32. */
fr_status fr_backend_cpu_create(int threads, fr_backend **out, char *err, size_t errcap);
/* The same in a chosen precision: FP32, BF16 / FP16 (weights packed as bf16 / fp16 once at
 * load; FR_ERR_UNSUPPORTED naming the reason when this CPU or build lacks AVX-512 BF16 / FP16),
 * AUTO or DEFAULT (see fr_precision). */
fr_status fr_backend_cpu_open(int threads, fr_precision precision, fr_backend **out, char *err, size_t errcap);
/* 1 when this build has the CPU bf16 (fp16) kernels and this CPU runs them: AVX-512 BF16 (FP16). */
int fr_cpu_bf16_available(void);
int fr_cpu_fp16_available(void);

/* CUDA backend (only in builds with FEEDRANK_CUDA): one stream, cuBLAS handles and scratch arena
 * per backend (so one per worker). FR_ERR_UNSUPPORTED when this build has no CUDA, FR_ERR_DEVICE
 * when no usable device is present. */
fr_status fr_backend_cuda_create(int device, fr_precision precision, fr_backend **out, char *err,
                                 size_t errcap);

/* "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU); (*out)->name says which.
 * Asking for "cuda" never falls back to the CPU: it fails with the reason. The precision goes to
 * the backend opened (fr_backend_cpu_open, fr_backend_cuda_create); AUTO on CUDA is FP16. */
fr_status fr_backend_open(const char *which, fr_precision precision, fr_backend **out, char *err,
                          size_t errcap);

void fr_backend_destroy(fr_backend *be);

#endif

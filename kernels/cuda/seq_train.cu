/* seq_train.cu - the sequential model's training step on one GPU (kernels/seq_train_cuda.h).
 *
 * The plain-C reference of every op here is the function of the same name in src/seqmodel.c
 * (item_vectors_*, embed_*, dropout_apply, layernorm_*, matmul_*, attention_*, gelu_*,
 * loss_*, AdamW); tests/test_seqmodel_cuda.c compares them. Differences in structure:
 *  - Rows: kernels run over all B*T rows; a padded row gets 0 from the embedding, the attention
 *    and every LayerNorm (rstd 0), so its gradients are exact zeros and the parameter sums over
 *    rows equal the reference's sums over valid rows.
 *  - Products: cuBLAS SGEMM on row-major data (see the mm_* helpers for the transposes), fp32
 *    (no TF32: the reference check is to fp32 rounding).
 *  - The sampled softmax holds the whole (loss positions x candidates) logit matrix (fits easily
 *    on a GPU: 6,400 x 7,424 floats at the default size) instead of the reference's chunks.
 *  - Scatters of gradients into shared rows (embedding, candidates) use atomicAdd.
 * The batch's bookkeeping (valid rows, loss rows, distinct items, candidate slots) is built on
 * the host exactly as fr_seq_forward builds it and uploaded with the ids. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "seq_train_cuda.h"
}

/* ------------------------------------------------------------------------------------------------
 * Errors: every CUDA / cuBLAS call is checked and reported with file and line (nothing exits) */

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return fr_fail(FR_ERR_DEVICE, err, errcap, "seq_train.cu:%d: %s: %s", __LINE__, #call, \
                           cudaGetErrorString(e_));                                                \
    } while (0)
#define CB(call)                                                                                          \
    do {                                                                                                  \
        cublasStatus_t s_ = (call);                                                                       \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                                  \
            return fr_fail(FR_ERR_DEVICE, err, errcap, "seq_train.cu:%d: %s: cuBLAS status %d", __LINE__, \
                           #call, (int)s_);                                                               \
    } while (0)
#define CL() CK(cudaGetLastError())

/* ------------------------------------------------------------------------------------------------
 * The trainer */

struct fr_seq_cuda {
    fr_seq_config cfg;
    fr_seq_tensor lay[FR_SEQ_NTENSORS];
    size_t nparams, max_uniq;
    int max_batch, max_neg;
    cudaStream_t st;
    cublasHandle_t cb;
    float *P, *G, *M, *Vv; /* parameters, gradients, AdamW moments (device) */
    long adam_t;
    float *text; /* (N, Dt) */
    /* per step, device */
    int32_t *items, *row_slot, *loss_rows, *cand_item, *cand_slot, *uniq; /* (BT), (BT), (BT), (BT+K) x2, (U) */
    float *Tg, *V, *dV;                                                   /* (U, Dt), (U, C), (U, C) */
    float *resid, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *h, *ln2, *ln2_mean, *ln2_rstd, *fch, *fcg;
    float *lnf, *lnf_mean, *lnf_rstd, *branch;
    float *Ul, *dUl, *Vc, *dVc, *logits, *rowloss, *lse; /* (BT, C) x2, (BT+K, C) x2, (BT, BT+K), (BT), (BT) */
    float *dstream, *dbranch, *dln, *datty, *dqkv, *dfch, *dS;
    double *sumsq;
    float *act; /* the one allocation behind every activation buffer above */
    /* per step, host */
    int32_t *h_items, *h_targets, *h_row_slot, *h_loss_rows, *h_cand_item, *h_cand_slot, *h_uniq, *h_item_slot;
    float *h_rowloss;
    int B, nloss, ncand, nuniq, have_step, train;
    uint64_t seed;
};

/* ------------------------------------------------------------------------------------------------
 * Kernels (shapes as in seqmodel.c; BT = B*T rows) */

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
/* seqmodel.c's hash3, so that the dropout masks are the CPU's */
__device__ __forceinline__ uint64_t hash3(uint64_t seed, uint64_t stream, uint64_t i) {
    return mix64(seed ^ mix64(stream * 0x9e3779b97f4a7c15ULL ^ mix64(i + 0x632be59bd9b4e019ULL)));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* sum over a block of up to 1024 threads (blockDim a multiple of 32); every thread gets it */
__device__ float block_sum(float v) {
    __shared__ float part[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) part[w] = v;
    __syncthreads();
    float t = lane < nw ? part[lane] : 0.0f;
    return warp_sum(t);
}
__device__ float block_max(float v) {
    __shared__ float part[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) part[w] = v;
    __syncthreads();
    float t = lane < nw ? part[lane] : -INFINITY;
    return warp_max(t);
}

/* dst (n, w) = src[idx[i]] rows */
__global__ void k_gather_rows(float *dst, const float *src, const int32_t *idx, int n, int w) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)n * w) return;
    const size_t i = e / w, c = e % w;
    dst[e] = src[(size_t)idx[i] * w + c];
}
/* dst[idx[i]] += src (n, w) rows (several i may share a row) */
__global__ void k_scatter_add_rows(float *dst, const float *src, const int32_t *idx, int n, int w) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)n * w) return;
    const size_t i = e / w, c = e % w;
    atomicAdd(dst + (size_t)idx[i] * w + c, src[e]);
}
/* V (U, C) += E[uniq] + bp */
__global__ void k_item_vectors_finish(float *V, const float *E, const float *bp, const int32_t *uniq, int U, int C) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)U * C) return;
    const size_t u = e / C, c = e % C;
    V[e] += E[(size_t)uniq[u] * C + c] + bp[c];
}
/* x (BT, C) = V[row_slot] + pos[r % T], 0 on padded rows */
__global__ void k_embed(float *x, const float *V, const float *pos, const int32_t *items, const int32_t *row_slot, int BT,
                        int T, int C) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)BT * C) return;
    const size_t r = e / C, c = e % C;
    x[e] = items[r] < 0 ? 0.0f : V[(size_t)row_slot[r] * C + c] + pos[(r % T) * C + c];
}
/* dV[row_slot] += dx, dpos[r % T] += dx on valid rows */
__global__ void k_embed_backward(float *dV, float *dpos, const float *dx, const int32_t *items, const int32_t *row_slot,
                                 int BT, int T, int C) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)BT * C) return;
    const size_t r = e / C, c = e % C;
    if (items[r] < 0) return;
    atomicAdd(dV + (size_t)row_slot[r] * C + c, dx[e]);
    atomicAdd(dpos + (r % T) * C + c, dx[e]);
}
/* inverted dropout in place on x (BT, C), element e = r*C + c (seqmodel.c's dropout_apply) */
__global__ void k_dropout(float *x, size_t n, float p, uint64_t seed, int site) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= n) return;
    const uint64_t thresh = (uint64_t)((double)p * 16777216.0);
    const uint64_t hv = hash3(seed, (uint64_t)site, (uint64_t)e) >> 40;
    x[e] = hv < thresh ? 0.0f : x[e] * (1.0f / (1.0f - p));
}
__global__ void k_add(float *out, const float *a, const float *b, size_t n) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e < n) out[e] = a[e] + b[e];
}
/* y (M, N) += bias (N) */
__global__ void k_bias(float *y, const float *bias, int M, int N) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e < (size_t)M * N) y[e] += bias[e % N];
}
__global__ void k_gelu(float *out, const float *x, size_t n) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e < n) out[e] = 0.5f * x[e] * (1.0f + erff(x[e] * 0.70710678118654752f));
}
/* d (in place allowed) = g * (Phi(x) + x phi(x)) */
__global__ void k_gelu_backward(float *d, const float *g, const float *x, size_t n) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= n) return;
    const float cdf = 0.5f * (1.0f + erff(x[e] * 0.70710678118654752f));
    const float pdf = 0.3989422804014327f * expf(-0.5f * x[e] * x[e]);
    d[e] = g[e] * (cdf + x[e] * pdf);
}
/* LayerNorm, one warp per row; padded rows: out 0, mean 0, rstd 0 (so the backward gives 0) */
__global__ void k_layernorm(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                            const int32_t *items, int BT, int C) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= BT) return;
    const float *x = inp + (size_t)r * C;
    float *o = out + (size_t)r * C;
    if (items[r] < 0) {
        for (int c = lane; c < C; c += 32) o[c] = 0.0f;
        if (lane == 0) mean[r] = rstd[r] = 0.0f;
        return;
    }
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c];
    const float mu = warp_sum(s) / C;
    float v = 0.0f;
    for (int c = lane; c < C; c += 32) v += (x[c] - mu) * (x[c] - mu);
    const float rs = rsqrtf(warp_sum(v) / C + FR_SEQ_LN_EPS);
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - mu) * rs * w[c] + b[c];
    if (lane == 0) {
        mean[r] = mu;
        rstd[r] = rs;
    }
}
/* dinp (BT, C) += LayerNorm input gradient, one warp per row (rstd 0 on padded rows: adds 0) */
__global__ void k_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                                     const float *rstd, int BT, int C) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= BT) return;
    const float *g = dout + (size_t)r * C, *x = inp + (size_t)r * C;
    const float m = mean[r], rs = rstd[r];
    if (rs == 0.0f) return;
    float sg = 0.0f, sgx = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float xh = (x[c] - m) * rs;
        sg += g[c] * w[c];
        sgx += g[c] * w[c] * xh;
    }
    const float mg = warp_sum(sg) / C, mgx = warp_sum(sgx) / C;
    float *di = dinp + (size_t)r * C;
    for (int c = lane; c < C; c += 32) {
        const float xh = (x[c] - m) * rs;
        di[c] += rs * (g[c] * w[c] - mg - xh * mgx);
    }
}
/* dw[c] += sum_r dout[r][c] xhat[r][c], db[c] += sum_r dout[r][c]: one block per column */
__global__ void k_layernorm_params(float *dw, float *db, const float *dout, const float *inp, const float *mean,
                                   const float *rstd, int BT, int C) {
    const int c = blockIdx.x;
    float sw = 0.0f, sb = 0.0f;
    for (int r = threadIdx.x; r < BT; r += blockDim.x) {
        const float g = dout[(size_t)r * C + c];
        sw += g * ((inp[(size_t)r * C + c] - mean[r]) * rstd[r]);
        sb += g;
    }
    sw = block_sum(sw);
    sb = block_sum(sb);
    if (threadIdx.x == 0) {
        dw[c] += sw;
        db[c] += sb;
    }
}
/* dbias[j] += sum_r dout[r][j], dout (M, N): one block per column */
__global__ void k_colsum(float *dbias, const float *dout, int M, int N) {
    const int j = blockIdx.x;
    float s = 0.0f;
    for (int r = threadIdx.x; r < M; r += blockDim.x) s += dout[(size_t)r * N + j];
    s = block_sum(s);
    if (threadIdx.x == 0) dbias[j] += s;
}
/* Causal attention forward, one warp per (sequence, head, query): att (B, NH, T, T) gets the
 * probabilities (0 where masked), out (BT, C) the weighted values (0 on padded queries). */
__global__ void k_attention(float *out, float *att, const float *qkv, const int32_t *items, int B, int T, int C, int NH) {
    const int q = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (q >= B * NH * T) return;
    const int t = q % T, h = (q / T) % NH, b = q / (T * NH), hs = C / NH;
    const size_t rq = (size_t)b * T + t;
    float *a = att + (((size_t)b * NH + h) * T + t) * T;
    float *o = out + rq * C + (size_t)h * hs;
    if (items[rq] < 0) {
        for (int s = lane; s < T; s += 32) a[s] = 0.0f;
        for (int i = lane; i < hs; i += 32) o[i] = 0.0f;
        return;
    }
    const float scale = rsqrtf((float)hs);
    const float *qq = qkv + rq * 3 * C + (size_t)h * hs;
    float mx = -INFINITY;
    for (int s = 0; s < T; s++) {
        const size_t rk = (size_t)b * T + s;
        float d = 0.0f;
        if (s <= t && items[rk] >= 0) {
            const float *k = qkv + rk * 3 * C + C + (size_t)h * hs;
            for (int i = lane; i < hs; i += 32) d += qq[i] * k[i];
            d = warp_sum(d) * scale;
            mx = fmaxf(mx, d);
        } else {
            d = -INFINITY;
        }
        if (lane == 0) a[s] = d;
    }
    __syncwarp();
    float z = 0.0f;
    for (int s = lane; s < T; s += 32) {
        const float e = a[s] == -INFINITY ? 0.0f : expf(a[s] - mx);
        a[s] = e;
        z += e;
    }
    z = warp_sum(z);
    __syncwarp();
    for (int s = lane; s < T; s += 32) a[s] /= z;
    __syncwarp();
    for (int i = lane; i < hs; i += 32) {
        float acc = 0.0f;
        for (int s = 0; s <= t; s++) acc += a[s] * qkv[((size_t)b * T + s) * 3 * C + 2 * C + (size_t)h * hs + i];
        o[i] = acc;
    }
}
/* Attention backward, step 1, one warp per query: dS[t][s] = a_ts (g_t . v_s - sum_s' a_ts' g_t . v_s') * scale */
__global__ void k_attention_dscores(float *dS, const float *dout, const float *qkv, const float *att,
                                    const int32_t *items, int B, int T, int C, int NH) {
    const int q = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (q >= B * NH * T) return;
    const int t = q % T, h = (q / T) % NH, b = q / (T * NH), hs = C / NH;
    const size_t rq = (size_t)b * T + t, base = (((size_t)b * NH + h) * T + t) * T;
    const float *a = att + base;
    float *ds = dS + base;
    if (items[rq] < 0) {
        for (int s = lane; s < T; s += 32) ds[s] = 0.0f;
        return;
    }
    const float *g = dout + rq * C + (size_t)h * hs;
    float shift = 0.0f;
    for (int s = 0; s < T; s++) {
        float d = 0.0f;
        if (s <= t && a[s] != 0.0f) {
            const float *v = qkv + ((size_t)b * T + s) * 3 * C + 2 * C + (size_t)h * hs;
            for (int i = lane; i < hs; i += 32) d += g[i] * v[i];
            d = warp_sum(d);
        }
        if (lane == 0) ds[s] = d;
        shift += a[s] * d;
    }
    __syncwarp();
    const float scale = rsqrtf((float)hs);
    for (int s = lane; s < T; s += 32) ds[s] = a[s] == 0.0f ? 0.0f : a[s] * (ds[s] - shift) * scale;
}
/* Attention backward, step 2, one block of hs threads per (sequence, head, position p):
 * dq_p = sum_s dS[p][s] k_s, dk_p = sum_t dS[t][p] q_t, dv_p = sum_t a[t][p] g_t; each element
 * owned by one thread (no atomics); written into dqkv (BT, 3C). */
__global__ void k_attention_dqkv(float *dqkv, const float *dS, const float *att, const float *dout, const float *qkv,
                                 int B, int T, int C, int NH) {
    const int q = blockIdx.x, i = threadIdx.x;
    const int p = q % T, h = (q / T) % NH, b = q / (T * NH), hs = C / NH;
    if (i >= hs) return;
    const size_t rp = (size_t)b * T + p, hb = ((size_t)b * NH + h) * T * T;
    float dq = 0.0f, dk = 0.0f, dv = 0.0f;
    for (int s = 0; s <= p; s++) dq += dS[hb + (size_t)p * T + s] * qkv[((size_t)b * T + s) * 3 * C + C + (size_t)h * hs + i];
    for (int t = p; t < T; t++) {
        const size_t rt = (size_t)b * T + t;
        dk += dS[hb + (size_t)t * T + p] * qkv[rt * 3 * C + (size_t)h * hs + i];
        dv += att[hb + (size_t)t * T + p] * dout[rt * C + (size_t)h * hs + i];
    }
    float *d = dqkv + rp * 3 * C + (size_t)h * hs + i;
    d[0] = dq;
    d[C] = dk;
    d[2 * C] = dv;
}
/* Sampled softmax, one block per loss position i over logits row L[i] (ncand): masks the other
 * copies of its target, keeps lse, the cross-entropy in rowloss[i], and turns the row into
 * d loss / d logits = (softmax - onehot(i)) / n in place. */
__global__ void k_softmax_loss(float *L, float *lse, float *rowloss, const int32_t *cand_item, int n, int ncand) {
    const int i = blockIdx.x;
    float *l = L + (size_t)i * ncand;
    const int32_t y = cand_item[i];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < ncand; j += blockDim.x) {
        if (cand_item[j] == y && j != i) l[j] = -INFINITY;
        mx = fmaxf(mx, l[j]);
    }
    mx = block_max(mx);
    float z = 0.0f;
    for (int j = threadIdx.x; j < ncand; j += blockDim.x) z += expf(l[j] - mx);
    z = block_sum(z);
    const float lz = mx + logf(z);
    const float positive = l[i]; /* read before any thread rewrites the row */
    __syncthreads();
    const float inv_n = 1.0f / (float)n;
    for (int j = threadIdx.x; j < ncand; j += blockDim.x) l[j] = expf(l[j] - lz) * inv_n - (j == i ? inv_n : 0.0f);
    if (threadIdx.x == 0) {
        lse[i] = lz;
        rowloss[i] = lz - positive;
    }
}
/* dst rows idx[i] = src (n, w) rows (idx distinct) */
__global__ void k_scatter_rows(float *dst, const float *src, const int32_t *idx, int n, int w) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)n * w) return;
    dst[(size_t)idx[e / w] * w + e % w] = src[e];
}
/* dE[uniq[u]] += dV[u] (uniq distinct) */
__global__ void k_add_rows(float *dE, const float *dV, const int32_t *uniq, int U, int C) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= (size_t)U * C) return;
    dE[(size_t)uniq[e / C] * C + e % C] += dV[e];
}
__global__ void k_sumsq(double *out, const float *g, size_t n) {
    float s = 0.0f;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        s += g[e] * g[e];
    s = block_sum(s);
    if (threadIdx.x == 0) atomicAdd(out, (double)s);
}
__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2, float eps,
                        float decay, float bc1, float bc2, float clip) {
    const size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e >= n) return;
    const float gi = g[e] * clip;
    m[e] = b1 * m[e] + (1.0f - b1) * gi;
    v[e] = b2 * v[e] + (1.0f - b2) * gi * gi;
    p[e] = p[e] * decay - lr * (m[e] / bc1) / (sqrtf(v[e] / bc2) + eps);
}

/* ------------------------------------------------------------------------------------------------
 * Row-major products through column-major cuBLAS. W (OC, IC) row-major, as torch.nn.Linear. */

static unsigned blocks_for(size_t n, unsigned t) { return (unsigned)((n + t - 1) / t); }

/* Y (M, OC) = X (M, IC) W^T + beta Y */
static cublasStatus_t mm_fwd(cublasHandle_t h, const float *X, const float *W, float *Y, int M, int IC, int OC, float beta) {
    const float one = 1.0f;
    return cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, OC, M, IC, &one, W, IC, X, IC, &beta, Y, OC);
}
/* dX (M, IC) = dY (M, OC) W */
static cublasStatus_t mm_dx(cublasHandle_t h, const float *dY, const float *W, float *dX, int M, int IC, int OC) {
    const float one = 1.0f, zero = 0.0f;
    return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, IC, M, OC, &one, W, IC, dY, OC, &zero, dX, IC);
}
/* dW (OC, IC) = dY^T X + beta dW */
static cublasStatus_t mm_dw(cublasHandle_t h, const float *X, const float *dY, float *dW, int M, int IC, int OC, float beta) {
    const float one = 1.0f;
    return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, IC, OC, M, &one, X, IC, dY, OC, &beta, dW, IC);
}

/* ------------------------------------------------------------------------------------------------
 * Creation */

extern "C" void fr_seq_cuda_free(fr_seq_cuda *g) {
    if (!g) return;
    void *dev[] = {g->P, g->text, g->items, g->act, g->sumsq};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) cudaFree(dev[i]);
    if (g->cb) cublasDestroy(g->cb);
    if (g->st) cudaStreamDestroy(g->st);
    free(g->h_items);
    free(g);
}

extern "C" fr_status fr_seq_cuda_create(const fr_seq_config *cfg, int max_batch, int max_neg, const float *text,
                                        fr_seq_cuda **out, char *err, size_t errcap) {
    *out = NULL;
    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || count == 0)
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "no usable CUDA device (%s)",
                       ce != cudaSuccess ? cudaGetErrorString(ce) : "none found");
    fr_seq_tensor lay[FR_SEQ_NTENSORS];
    size_t total;
    fr_status rc = fr_seq_layout(cfg, lay, &total, err, errcap);
    if (rc) return rc;
    if (max_batch < 1 || max_neg < 0 || max_batch > (1 << 16) || max_neg > (1 << 24))
        return fr_fail(FR_ERR_ARG, err, errcap, "seq cuda: max_batch %d / max_neg %d out of range", max_batch, max_neg);
    if (cfg->d / cfg->n_heads > 1024)
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "seq cuda: head size %d above 1024", cfg->d / cfg->n_heads);
    fr_seq_cuda *g = (fr_seq_cuda *)calloc(1, sizeof *g);
    if (!g) return fr_fail(FR_ERR_NOMEM, err, errcap, "seq cuda: out of memory");
    g->cfg = *cfg;
    memcpy(g->lay, lay, sizeof lay);
    g->nparams = total;
    g->max_batch = max_batch;
    g->max_neg = max_neg;
    const size_t N = cfg->n_items, C = cfg->d, T = cfg->max_len, L = cfg->n_layers, F = cfg->d_ff, NH = cfg->n_heads,
                 Dt = cfg->d_text, B = max_batch, K = max_neg, BT = B * T, BTK = BT + K;
    g->max_uniq = 2 * BT + K < N ? 2 * BT + K : N;
    const size_t U = g->max_uniq;
    /* host bookkeeping: one block of int32 */
    const size_t hn = 2 * BT + BT + BT + 2 * BTK + U + N;
    g->h_items = (int32_t *)malloc(hn * sizeof(int32_t) + BT * sizeof(float));
    if (!g->h_items) {
        free(g);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "seq cuda: out of memory");
    }
    g->h_targets = g->h_items + BT;
    g->h_row_slot = g->h_targets + BT;
    g->h_loss_rows = g->h_row_slot + BT;
    g->h_cand_item = g->h_loss_rows + BT;
    g->h_cand_slot = g->h_cand_item + BTK;
    g->h_uniq = g->h_cand_slot + BTK;
    g->h_item_slot = g->h_uniq + U;
    g->h_rowloss = (float *)(g->h_item_slot + N);
    for (size_t i = 0; i < N; i++) g->h_item_slot[i] = -1;
    *out = g; /* freed by fr_seq_cuda_free from here on */
#define FAIL_CK(call)                                                                                     \
    do {                                                                                                  \
        cudaError_t e_ = (call);                                                                          \
        if (e_ != cudaSuccess) {                                                                          \
            fr_seq_cuda_free(g);                                                                          \
            *out = NULL;                                                                                  \
            return fr_fail(FR_ERR_NOMEM, err, errcap, "seq cuda: %s: %s", #call, cudaGetErrorString(e_)); \
        }                                                                                                 \
    } while (0)
    FAIL_CK(cudaStreamCreate(&g->st));
    if (cublasCreate(&g->cb) != CUBLAS_STATUS_SUCCESS) {
        fr_seq_cuda_free(g);
        *out = NULL;
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "seq cuda: cuBLAS could not start");
    }
    cublasSetStream(g->cb, g->st);
    cublasSetMathMode(g->cb, CUBLAS_PEDANTIC_MATH); /* fp32 products, no TF32 */
    /* parameters, gradients, moments: one allocation */
    FAIL_CK(cudaMalloc((void **)&g->P, 4 * total * sizeof(float)));
    g->G = g->P + total;
    g->M = g->G + total;
    g->Vv = g->M + total;
    FAIL_CK(cudaMemset(g->P, 0, 4 * total * sizeof(float)));
    FAIL_CK(cudaMalloc((void **)&g->text, N * Dt * sizeof(float)));
    FAIL_CK(cudaMemcpy(g->text, text, N * Dt * sizeof(float), cudaMemcpyHostToDevice));
    FAIL_CK(cudaMalloc((void **)&g->items, hn * sizeof(int32_t)));
    g->row_slot = g->items + BT; /* the device copies mirror the host block's order (targets unused) */
    g->loss_rows = g->row_slot + BT + BT;
    g->cand_item = g->loss_rows + BT;
    g->cand_slot = g->cand_item + BTK;
    g->uniq = g->cand_slot + BTK;
    FAIL_CK(cudaMalloc((void **)&g->sumsq, sizeof(double)));
    /* activations: one allocation, carved */
    const size_t sizes[] = {
        U * Dt, U * C, U * C,                                                /* Tg, V, dV */
        (L + 1) * BT * C, L * BT * C, L * BT, L * BT,                        /* resid, ln1, mean, rstd */
        L * BT * 3 * C, L * B * NH * T * T, L * BT * C,                      /* qkv, att, atty */
        L * BT * C, L * BT * C, L * BT, L * BT,                              /* h, ln2, mean, rstd */
        L * BT * F, L * BT * F,                                              /* fch, fcg */
        BT * C, BT, BT, BT * C,                                              /* lnf, mean, rstd, branch */
        BT * C, BT * C, BTK * C, BTK * C, BT * BTK, BT, BT,                  /* Ul, dUl, Vc, dVc, logits, rowloss, lse */
        BT * C, BT * C, BT * C, BT * C, BT * 3 * C, BT * F, B * NH * T * T}; /* dstream .. dS */
    float **ptrs[] = {&g->Tg, &g->V, &g->dV, &g->resid, &g->ln1, &g->ln1_mean, &g->ln1_rstd, &g->qkv, &g->att,
                      &g->atty, &g->h, &g->ln2, &g->ln2_mean, &g->ln2_rstd, &g->fch, &g->fcg, &g->lnf, &g->lnf_mean,
                      &g->lnf_rstd, &g->branch, &g->Ul, &g->dUl, &g->Vc, &g->dVc, &g->logits, &g->rowloss, &g->lse,
                      &g->dstream, &g->dbranch, &g->dln, &g->datty, &g->dqkv, &g->dfch, &g->dS};
    const size_t nbuf = sizeof sizes / sizeof *sizes;
    size_t floats = 0;
    for (size_t i = 0; i < nbuf; i++) floats += (sizes[i] + 63) & ~(size_t)63;
    FAIL_CK(cudaMalloc((void **)&g->act, floats * sizeof(float)));
    FAIL_CK(cudaMemset(g->act, 0, floats * sizeof(float)));
    for (size_t i = 0, at = 0; i < nbuf; i++) {
        *ptrs[i] = g->act + at;
        at += (sizes[i] + 63) & ~(size_t)63;
    }
#undef FAIL_CK
    return FR_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Parameters in and out */

extern "C" fr_status fr_seq_cuda_upload(fr_seq_cuda *g, const float *params, const float *am, const float *av,
                                        long steps, char *err, size_t errcap) {
    const size_t n = g->nparams * sizeof(float);
    CK(cudaMemcpy(g->P, params, n, cudaMemcpyHostToDevice));
    if (am) CK(cudaMemcpy(g->M, am, n, cudaMemcpyHostToDevice));
    else CK(cudaMemset(g->M, 0, n));
    if (av) CK(cudaMemcpy(g->Vv, av, n, cudaMemcpyHostToDevice));
    else CK(cudaMemset(g->Vv, 0, n));
    g->adam_t = steps;
    return FR_OK;
}

extern "C" fr_status fr_seq_cuda_download(fr_seq_cuda *g, float *params, float *am, float *av, long *steps, char *err,
                                          size_t errcap) {
    const size_t n = g->nparams * sizeof(float);
    CK(cudaStreamSynchronize(g->st));
    if (params) CK(cudaMemcpy(params, g->P, n, cudaMemcpyDeviceToHost));
    if (am) CK(cudaMemcpy(am, g->M, n, cudaMemcpyDeviceToHost));
    if (av) CK(cudaMemcpy(av, g->Vv, n, cudaMemcpyDeviceToHost));
    if (steps) *steps = g->adam_t;
    return FR_OK;
}

extern "C" fr_status fr_seq_cuda_grads(fr_seq_cuda *g, float *out, char *err, size_t errcap) {
    CK(cudaStreamSynchronize(g->st));
    CK(cudaMemcpy(out, g->G, g->nparams * sizeof(float), cudaMemcpyDeviceToHost));
    return FR_OK;
}

extern "C" fr_status fr_seq_cuda_states(fr_seq_cuda *g, float *out, char *err, size_t errcap) {
    CK(cudaStreamSynchronize(g->st));
    CK(cudaMemcpy(out, g->lnf, (size_t)g->B * g->cfg.max_len * g->cfg.d * sizeof(float), cudaMemcpyDeviceToHost));
    return FR_OK;
}

extern "C" fr_status fr_seq_cuda_zero_grad(fr_seq_cuda *g, char *err, size_t errcap) {
    CK(cudaMemsetAsync(g->G, 0, g->nparams * sizeof(float), g->st));
    return FR_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Forward */

typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} blockp;

static blockp block_of(const fr_seq_cuda *g, float *base, int l) {
    const size_t C = g->cfg.d, F = g->cfg.d_ff;
    const fr_seq_tensor *t = g->lay;
    blockp k = {base + t[FR_SEQ_LN1W].offset + l * C, base + t[FR_SEQ_LN1B].offset + l * C,
                base + t[FR_SEQ_QKVW].offset + l * 3 * C * C, base + t[FR_SEQ_QKVB].offset + l * 3 * C,
                base + t[FR_SEQ_ATTPROJW].offset + l * C * C, base + t[FR_SEQ_ATTPROJB].offset + l * C,
                base + t[FR_SEQ_LN2W].offset + l * C, base + t[FR_SEQ_LN2B].offset + l * C,
                base + t[FR_SEQ_FCW].offset + l * F * C, base + t[FR_SEQ_FCB].offset + l * F,
                base + t[FR_SEQ_FCPROJW].offset + l * C * F, base + t[FR_SEQ_FCPROJB].offset + l * C};
    return k;
}

static int32_t slot_of(fr_seq_cuda *g, int *nuniq, int32_t item) {
    if (g->h_item_slot[item] < 0) {
        g->h_item_slot[item] = *nuniq;
        g->h_uniq[(*nuniq)++] = item;
    }
    return g->h_item_slot[item];
}

#define TPB 256
#define ROWS_PER_BLOCK 8 /* warps per block in the one-warp-per-row kernels */

extern "C" fr_status fr_seq_cuda_forward(fr_seq_cuda *g, const fr_seq_batch *b, float *loss, char *err, size_t errcap) {
    const fr_seq_config *cf = &g->cfg;
    const int T = cf->max_len, C = cf->d, L = cf->n_layers, NH = cf->n_heads, F = cf->d_ff, N = cf->n_items,
              Dt = cf->d_text;
    g->have_step = 0;
    *loss = 0.0f;
    /* the reference's checks, in its order and words */
    if (!b || !b->items) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: batch without items");
    if (b->B < 1 || b->B > g->max_batch)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: batch of %d sequences (1..%d)", b->B, g->max_batch);
    const int n_neg = b->targets ? b->n_neg : 0;
    if (n_neg < 0 || n_neg > g->max_neg || (n_neg && !b->negatives))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: %d negatives (0..%d)", b->n_neg, g->max_neg);
    const int BT = b->B * T;
    for (int r = 0; r < BT; r++) {
        const int32_t it = b->items[r], y = b->targets ? b->targets[r] : -1;
        if (it < FR_SEQ_PAD || it >= N)
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: item %d at sequence %d position %d is not in 0..%d or %d",
                           (int)it, r / T, r % T, N - 1, FR_SEQ_PAD);
        if (y < -1 || y >= N || (y >= 0 && it < 0))
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: target %d at sequence %d position %d is %s", (int)y, r / T,
                           r % T, y >= 0 && it < 0 ? "on a padded position" : "out of range");
    }
    for (int j = 0; j < n_neg; j++)
        if (b->negatives[j] < 0 || b->negatives[j] >= N)
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: negative %d is item %d, not in 0..%d", j,
                           (int)b->negatives[j], N - 1);
    /* bookkeeping, as fr_seq_forward: distinct items in first-seen order */
    memcpy(g->h_items, b->items, (size_t)BT * sizeof(int32_t));
    int nloss = 0, nuniq = 0;
    for (int r = 0; r < BT; r++) g->h_row_slot[r] = g->h_items[r] >= 0 ? slot_of(g, &nuniq, g->h_items[r]) : 0;
    for (int r = 0; r < BT; r++)
        if (b->targets && b->targets[r] >= 0) {
            g->h_cand_item[nloss] = b->targets[r];
            g->h_cand_slot[nloss] = slot_of(g, &nuniq, b->targets[r]);
            g->h_loss_rows[nloss++] = r;
        }
    for (int j = 0; j < n_neg; j++) {
        g->h_cand_item[nloss + j] = b->negatives[j];
        g->h_cand_slot[nloss + j] = slot_of(g, &nuniq, b->negatives[j]);
    }
    for (int u = 0; u < nuniq; u++) g->h_item_slot[g->h_uniq[u]] = -1;
    const int ncand = nloss + n_neg;
    g->B = b->B;
    g->nloss = nloss;
    g->ncand = ncand;
    g->nuniq = nuniq;
    g->train = b->train && cf->dropout > 0.0f;
    g->seed = b->dropout_seed;
    const float p = g->train ? cf->dropout : 0.0f;
    /* upload the step's ids (the device block mirrors the host block) */
    const size_t MB = (size_t)g->max_batch * T, BTK = MB + g->max_neg;
    CK(cudaMemcpyAsync(g->items, g->h_items, (size_t)BT * 4, cudaMemcpyHostToDevice, g->st));
    CK(cudaMemcpyAsync(g->row_slot, g->h_row_slot, (size_t)BT * 4, cudaMemcpyHostToDevice, g->st));
    if (nloss) CK(cudaMemcpyAsync(g->loss_rows, g->h_loss_rows, (size_t)nloss * 4, cudaMemcpyHostToDevice, g->st));
    if (ncand) {
        CK(cudaMemcpyAsync(g->cand_item, g->h_cand_item, (size_t)ncand * 4, cudaMemcpyHostToDevice, g->st));
        CK(cudaMemcpyAsync(g->cand_slot, g->h_cand_slot, (size_t)ncand * 4, cudaMemcpyHostToDevice, g->st));
    }
    CK(cudaMemcpyAsync(g->uniq, g->h_uniq, (size_t)nuniq * 4, cudaMemcpyHostToDevice, g->st));
    (void)BTK;
    const fr_seq_tensor *lay = g->lay;
    float *P = g->P;
    const size_t BTC = (size_t)BT * C, MBC = MB * C;
    cudaStream_t s = g->st;
    /* item vectors: V = text[uniq] Wp^T + E[uniq] + bp */
    k_gather_rows<<<blocks_for((size_t)nuniq * Dt, TPB), TPB, 0, s>>>(g->Tg, g->text, g->uniq, nuniq, Dt);
    CL();
    CB(mm_fwd(g->cb, g->Tg, P + lay[FR_SEQ_WP].offset, g->V, nuniq, Dt, C, 0.0f));
    k_item_vectors_finish<<<blocks_for((size_t)nuniq * C, TPB), TPB, 0, s>>>(g->V, P + lay[FR_SEQ_E].offset,
                                                                             P + lay[FR_SEQ_BP].offset, g->uniq, nuniq, C);
    k_embed<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->resid, g->V, P + lay[FR_SEQ_POS].offset, g->items, g->row_slot, BT, T, C);
    if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->resid, BTC, p, g->seed, 0);
    CL();
    const unsigned rows_grid = blocks_for((size_t)BT, ROWS_PER_BLOCK), att_grid = blocks_for((size_t)BT * NH, ROWS_PER_BLOCK);
    for (int l = 0; l < L; l++) {
        const blockp w = block_of(g, P, l);
        const float *x = g->resid + (size_t)l * MBC;
        float *ln1 = g->ln1 + (size_t)l * MBC, *qkv = g->qkv + (size_t)l * MBC * 3, *atty = g->atty + (size_t)l * MBC;
        float *h = g->h + (size_t)l * MBC, *ln2 = g->ln2 + (size_t)l * MBC;
        float *fch = g->fch + (size_t)l * MB * F, *fcg = g->fcg + (size_t)l * MB * F;
        float *att = g->att + (size_t)l * g->max_batch * NH * T * T;
        k_layernorm<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(ln1, g->ln1_mean + (size_t)l * MB, g->ln1_rstd + (size_t)l * MB,
                                                              x, w.ln1w, w.ln1b, g->items, BT, C);
        CB(mm_fwd(g->cb, ln1, w.qkvw, qkv, BT, C, 3 * C, 0.0f));
        k_bias<<<blocks_for(BTC * 3, TPB), TPB, 0, s>>>(qkv, w.qkvb, BT, 3 * C);
        k_attention<<<att_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(atty, att, qkv, g->items, b->B, T, C, NH);
        CB(mm_fwd(g->cb, atty, w.attprojw, g->branch, BT, C, C, 0.0f));
        k_bias<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->branch, w.attprojb, BT, C);
        if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->branch, BTC, p, g->seed, 1 + 2 * l);
        k_add<<<blocks_for(BTC, TPB), TPB, 0, s>>>(h, x, g->branch, BTC);
        k_layernorm<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(ln2, g->ln2_mean + (size_t)l * MB, g->ln2_rstd + (size_t)l * MB,
                                                              h, w.ln2w, w.ln2b, g->items, BT, C);
        CB(mm_fwd(g->cb, ln2, w.fcw, fch, BT, C, F, 0.0f));
        k_bias<<<blocks_for((size_t)BT * F, TPB), TPB, 0, s>>>(fch, w.fcb, BT, F);
        k_gelu<<<blocks_for((size_t)BT * F, TPB), TPB, 0, s>>>(fcg, fch, (size_t)BT * F);
        CB(mm_fwd(g->cb, fcg, w.fcprojw, g->branch, BT, F, C, 0.0f));
        k_bias<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->branch, w.fcprojb, BT, C);
        if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->branch, BTC, p, g->seed, 2 + 2 * l);
        k_add<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->resid + (size_t)(l + 1) * MBC, h, g->branch, BTC);
        CL();
    }
    k_layernorm<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(g->lnf, g->lnf_mean, g->lnf_rstd, g->resid + (size_t)L * MBC,
                                                          P + lay[FR_SEQ_LNFW].offset, P + lay[FR_SEQ_LNFB].offset, g->items,
                                                          BT, C);
    CL();
    if (!b->targets) {
        CK(cudaStreamSynchronize(s));
        return FR_OK;
    }
    if (nloss) {
        /* logits (nloss, ncand) = states of the loss rows . candidate vectors */
        k_gather_rows<<<blocks_for((size_t)nloss * C, TPB), TPB, 0, s>>>(g->Ul, g->lnf, g->loss_rows, nloss, C);
        k_gather_rows<<<blocks_for((size_t)ncand * C, TPB), TPB, 0, s>>>(g->Vc, g->V, g->cand_slot, ncand, C);
        CL();
        CB(mm_fwd(g->cb, g->Ul, g->Vc, g->logits, nloss, C, ncand, 0.0f));
        k_softmax_loss<<<nloss, TPB, 0, s>>>(g->logits, g->lse, g->rowloss, g->cand_item, nloss, ncand);
        CL();
        CK(cudaMemcpyAsync(g->h_rowloss, g->rowloss, (size_t)nloss * sizeof(float), cudaMemcpyDeviceToHost, s));
    }
    CK(cudaStreamSynchronize(s));
    double total = 0.0;
    for (int i = 0; i < nloss; i++) total += g->h_rowloss[i];
    *loss = nloss ? (float)(total / nloss) : 0.0f;
    g->have_step = 1;
    return FR_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Backward */

extern "C" fr_status fr_seq_cuda_backward(fr_seq_cuda *g, char *err, size_t errcap) {
    if (!g->have_step) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: backward without a forward with targets");
    if (g->nloss == 0) return FR_OK;
    const fr_seq_config *cf = &g->cfg;
    const int T = cf->max_len, C = cf->d, L = cf->n_layers, NH = cf->n_heads, F = cf->d_ff, B = g->B, Dt = cf->d_text;
    const int BT = B * T, nloss = g->nloss, ncand = g->ncand, nuniq = g->nuniq;
    const size_t MB = (size_t)g->max_batch * T, BTC = (size_t)BT * C, MBC = MB * C;
    const fr_seq_tensor *lay = g->lay;
    float *P = g->P, *G = g->G;
    const float p = g->train ? cf->dropout : 0.0f;
    cudaStream_t s = g->st;
    const unsigned rows_grid = blocks_for((size_t)BT, ROWS_PER_BLOCK), att_grid = blocks_for((size_t)BT * NH, ROWS_PER_BLOCK);
    /* the loss: logits already hold d loss / d logits */
    CB(mm_dx(g->cb, g->logits, g->Vc, g->dUl, nloss, C, ncand));
    CB(mm_dw(g->cb, g->Ul, g->logits, g->dVc, nloss, C, ncand, 0.0f));
    CK(cudaMemsetAsync(g->dV, 0, (size_t)nuniq * C * sizeof(float), s));
    k_scatter_add_rows<<<blocks_for((size_t)ncand * C, TPB), TPB, 0, s>>>(g->dV, g->dVc, g->cand_slot, ncand, C);
    CK(cudaMemsetAsync(g->dln, 0, BTC * sizeof(float), s));
    k_scatter_rows<<<blocks_for((size_t)nloss * C, TPB), TPB, 0, s>>>(g->dln, g->dUl, g->loss_rows, nloss, C);
    CK(cudaMemsetAsync(g->dstream, 0, BTC * sizeof(float), s));
    const float *xL = g->resid + (size_t)L * MBC;
    k_layernorm_backward<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(g->dstream, g->dln, xL, P + lay[FR_SEQ_LNFW].offset,
                                                                   g->lnf_mean, g->lnf_rstd, BT, C);
    k_layernorm_params<<<C, TPB, 0, s>>>(G + lay[FR_SEQ_LNFW].offset, G + lay[FR_SEQ_LNFB].offset, g->dln, xL, g->lnf_mean,
                                         g->lnf_rstd, BT, C);
    CL();
    for (int l = L - 1; l >= 0; l--) {
        const blockp w = block_of(g, P, l), gw = block_of(g, G, l);
        const float *x = g->resid + (size_t)l * MBC;
        const float *ln1 = g->ln1 + (size_t)l * MBC, *qkv = g->qkv + (size_t)l * MBC * 3;
        const float *atty = g->atty + (size_t)l * MBC, *h = g->h + (size_t)l * MBC, *ln2 = g->ln2 + (size_t)l * MBC;
        const float *fch = g->fch + (size_t)l * MB * F, *fcg = g->fcg + (size_t)l * MB * F;
        const float *att = g->att + (size_t)l * g->max_batch * NH * T * T;
        const float *m2 = g->ln2_mean + (size_t)l * MB, *r2 = g->ln2_rstd + (size_t)l * MB;
        const float *m1 = g->ln1_mean + (size_t)l * MB, *r1 = g->ln1_rstd + (size_t)l * MB;
        /* x' = h + drop(W2 GELU(W1 LN2(h) + b1) + b2) */
        CK(cudaMemcpyAsync(g->dbranch, g->dstream, BTC * sizeof(float), cudaMemcpyDeviceToDevice, s));
        if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->dbranch, BTC, p, g->seed, 2 + 2 * l);
        CB(mm_dx(g->cb, g->dbranch, w.fcprojw, g->dfch, BT, F, C));
        CB(mm_dw(g->cb, fcg, g->dbranch, gw.fcprojw, BT, F, C, 1.0f));
        k_colsum<<<C, TPB, 0, s>>>(gw.fcprojb, g->dbranch, BT, C);
        k_gelu_backward<<<blocks_for((size_t)BT * F, TPB), TPB, 0, s>>>(g->dfch, g->dfch, fch, (size_t)BT * F);
        CB(mm_dx(g->cb, g->dfch, w.fcw, g->dln, BT, C, F));
        CB(mm_dw(g->cb, ln2, g->dfch, gw.fcw, BT, C, F, 1.0f));
        k_colsum<<<F, TPB, 0, s>>>(gw.fcb, g->dfch, BT, F);
        k_layernorm_backward<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(g->dstream, g->dln, h, w.ln2w, m2, r2, BT, C);
        k_layernorm_params<<<C, TPB, 0, s>>>(gw.ln2w, gw.ln2b, g->dln, h, m2, r2, BT, C);
        CL();
        /* h = x + drop(Wo Attn(LN1(x)) + bo) */
        CK(cudaMemcpyAsync(g->dbranch, g->dstream, BTC * sizeof(float), cudaMemcpyDeviceToDevice, s));
        if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->dbranch, BTC, p, g->seed, 1 + 2 * l);
        CB(mm_dx(g->cb, g->dbranch, w.attprojw, g->datty, BT, C, C));
        CB(mm_dw(g->cb, atty, g->dbranch, gw.attprojw, BT, C, C, 1.0f));
        k_colsum<<<C, TPB, 0, s>>>(gw.attprojb, g->dbranch, BT, C);
        k_attention_dscores<<<att_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(g->dS, g->datty, qkv, att, g->items, B, T, C, NH);
        k_attention_dqkv<<<B * NH * T, C / NH, 0, s>>>(g->dqkv, g->dS, att, g->datty, qkv, B, T, C, NH);
        CB(mm_dx(g->cb, g->dqkv, w.qkvw, g->dln, BT, C, 3 * C));
        CB(mm_dw(g->cb, ln1, g->dqkv, gw.qkvw, BT, C, 3 * C, 1.0f));
        k_colsum<<<3 * C, TPB, 0, s>>>(gw.qkvb, g->dqkv, BT, 3 * C);
        k_layernorm_backward<<<rows_grid, 32 * ROWS_PER_BLOCK, 0, s>>>(g->dstream, g->dln, x, w.ln1w, m1, r1, BT, C);
        k_layernorm_params<<<C, TPB, 0, s>>>(gw.ln1w, gw.ln1b, g->dln, x, m1, r1, BT, C);
        CL();
    }
    if (p > 0) k_dropout<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->dstream, BTC, p, g->seed, 0);
    k_embed_backward<<<blocks_for(BTC, TPB), TPB, 0, s>>>(g->dV, G + lay[FR_SEQ_POS].offset, g->dstream, g->items,
                                                          g->row_slot, BT, T, C);
    /* item vectors: dE[uniq] += dV, dWp += dV^T text[uniq], dbp += column sums of dV */
    k_add_rows<<<blocks_for((size_t)nuniq * C, TPB), TPB, 0, s>>>(G + lay[FR_SEQ_E].offset, g->dV, g->uniq, nuniq, C);
    CB(mm_dw(g->cb, g->Tg, g->dV, G + lay[FR_SEQ_WP].offset, nuniq, Dt, C, 1.0f));
    k_colsum<<<C, TPB, 0, s>>>(G + lay[FR_SEQ_BP].offset, g->dV, nuniq, C);
    CL();
    return FR_OK;
}

/* ------------------------------------------------------------------------------------------------
 * AdamW (seqmodel.c's fr_seq_adamw_step: global-norm clipping, bias correction, decoupled decay) */

extern "C" fr_status fr_seq_cuda_adamw_step(fr_seq_cuda *g, const fr_seq_adamw *o, float *grad_norm, char *err,
                                            size_t errcap) {
    if (!(o->lr >= 0.0f) || !(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f) ||
        !(o->eps > 0.0f) || !(o->weight_decay >= 0.0f) || !(o->max_grad_norm >= 0.0f))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: AdamW settings out of range");
    const size_t n = g->nparams;
    CK(cudaMemsetAsync(g->sumsq, 0, sizeof(double), g->st));
    k_sumsq<<<256, TPB, 0, g->st>>>(g->sumsq, g->G, n);
    CL();
    double ss = 0.0;
    CK(cudaMemcpyAsync(&ss, g->sumsq, sizeof ss, cudaMemcpyDeviceToHost, g->st));
    CK(cudaStreamSynchronize(g->st));
    const double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: gradient norm is %g at AdamW step %ld; parameters unchanged",
                       norm, g->adam_t + 1);
    float clip = 1.0f;
    if (o->max_grad_norm > 0.0f) {
        const double c = o->max_grad_norm / (norm + 1e-6);
        if (c < 1.0) clip = (float)c;
    }
    g->adam_t++;
    const float bc1 = 1.0f - (float)pow(o->beta1, (double)g->adam_t);
    const float bc2 = 1.0f - (float)pow(o->beta2, (double)g->adam_t);
    k_adamw<<<blocks_for(n, TPB), TPB, 0, g->st>>>(g->P, g->G, g->M, g->Vv, n, o->lr, o->beta1, o->beta2, o->eps,
                                                   1.0f - o->lr * o->weight_decay, bc1, bc2, clip);
    CL();
    return FR_OK;
}

extern "C" fr_status fr_seq_cuda_step(void *ctx, const fr_seq_batch *b, const fr_seq_adamw *o, float *loss, char *err,
                                      size_t errcap) {
    fr_seq_cuda *g = (fr_seq_cuda *)ctx;
    fr_status rc = fr_seq_cuda_zero_grad(g, err, errcap);
    if (!rc) rc = fr_seq_cuda_forward(g, b, loss, err, errcap);
    if (!rc) rc = fr_seq_cuda_backward(g, err, errcap);
    if (!rc) rc = fr_seq_cuda_adamw_step(g, o, NULL, err, errcap);
    return rc;
}

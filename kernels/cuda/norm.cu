/* norm.cu - embedding gather + LayerNorm, and residual add + LayerNorm: one warp per token row.
 * Three passes over the row (sum; squared deviations; normalise), all from L1 after the first:
 * the same two-pass statistics as the reference (kernels/cpu/reference.c), in fp32. */
#include "cuda_kernels.cuh"

#define ROWS_PER_BLOCK 8

template <typename S>
__device__ __forceinline__ void layernorm_row(float *row, int H, float eps, const float *gamma, const float *beta,
                                              S *shadow, size_t shadow_at) {
    const int lane = threadIdx.x & 31;
    float s = 0.f;
    for (int i = lane; i < H; i += 32) s += row[i];
    const float mean = fr_warp_sum(s) / (float)H;
    float v = 0.f;
    for (int i = lane; i < H; i += 32) {
        float d = row[i] - mean;
        v += d * d;
    }
    const float inv = rsqrtf(fr_warp_sum(v) / (float)H + eps);
    for (int i = lane; i < H; i += 32) {
        float y = (row[i] - mean) * inv * gamma[i] + beta[i];
        row[i] = y;
        if (shadow) fr_shadow_store(shadow, shadow_at + i, y);
    }
}

template <typename S>
__global__ void __launch_bounds__(ROWS_PER_BLOCK * 32)
    embed_kernel(const int32_t *ids, const int32_t *positions, int T, int H, const float *word, const float *pos,
                 const float *type0, const float *gamma, const float *beta, float eps, float *out, S *shadow) {
    const int t = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    const float *w = word + (size_t)ids[t] * H, *p = pos + (size_t)positions[t] * H;
    float *row = out + (size_t)t * H;
    for (int i = lane; i < H; i += 32) row[i] = w[i] + p[i] + type0[i];
    layernorm_row(row, H, eps, gamma, beta, shadow, (size_t)t * H);
}

template <typename S>
__global__ void __launch_bounds__(ROWS_PER_BLOCK * 32)
    add_layernorm_kernel(float *x, const float *add, const float *gamma, const float *beta, int T, int H, float eps,
                         S *shadow) {
    const int t = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (t >= T) return;
    float *row = x + (size_t)t * H;
    const float *a = add + (size_t)t * H;
    for (int i = lane; i < H; i += 32) row[i] += a[i];
    layernorm_row(row, H, eps, gamma, beta, shadow, (size_t)t * H);
}

cudaError_t fr_cuda_embed(cudaStream_t s, const int32_t *ids, const int32_t *positions, int T, int H,
                          const float *word, const float *pos, const float *type0, const float *gamma,
                          const float *beta, float eps, float *out, void *shadow, int shadow_type) {
    if (T <= 0) return cudaSuccess;
    const int blocks = (T + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    FR_WITH_SHADOW(shadow_type, embed_kernel<S><<<blocks, ROWS_PER_BLOCK * 32, 0, s>>>(
                                    ids, positions, T, H, word, pos, type0, gamma, beta, eps, out, (S *)shadow));
    return cudaGetLastError();
}

cudaError_t fr_cuda_add_layernorm(cudaStream_t s, float *x, const float *add, const float *gamma,
                                  const float *beta, int T, int H, float eps, void *shadow, int shadow_type) {
    if (T <= 0) return cudaSuccess;
    const int blocks = (T + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    FR_WITH_SHADOW(shadow_type, add_layernorm_kernel<S><<<blocks, ROWS_PER_BLOCK * 32, 0, s>>>(
                                    x, add, gamma, beta, T, H, eps, (S *)shadow));
    return cudaGetLastError();
}

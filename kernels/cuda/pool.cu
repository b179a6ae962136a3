/* pool.cu - mean or CLS pooling per sequence, then L2 normalisation: one block per sequence. */
#include "cuda_kernels.cuh"

#define POOL_THREADS 128

__global__ void __launch_bounds__(POOL_THREADS)
    pool_kernel(const float *x, const int32_t *off, int H, int cls, int normalize, float *out) {
    extern __shared__ float vec[]; /* [H] */
    __shared__ float partial[POOL_THREADS / 32];
    const int b = blockIdx.x, s0 = off[b], L = off[b + 1] - off[b];
    float sq = 0.f;
    for (int i = threadIdx.x; i < H; i += POOL_THREADS) {
        float acc = 0.f;
        if (L > 0) {
            if (cls) acc = x[(size_t)s0 * H + i];
            else {
                for (int t = 0; t < L; t++) acc += x[(size_t)(s0 + t) * H + i];
                acc /= (float)L;
            }
        }
        vec[i] = acc;
        sq += acc * acc;
    }
    sq = fr_warp_sum(sq);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sq;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < POOL_THREADS / 32; w++) total += partial[w];
    const float scale = normalize ? 1.0f / fmaxf(sqrtf(total), 1e-12f) : 1.0f;
    for (int i = threadIdx.x; i < H; i += POOL_THREADS) out[(size_t)b * H + i] = vec[i] * scale;
}

cudaError_t fr_cuda_pool(cudaStream_t s, const float *x, const int32_t *off, int B, int H, int cls,
                         int normalize, float *out) {
    if (B <= 0) return cudaSuccess;
    pool_kernel<<<B, POOL_THREADS, sizeof(float) * (size_t)H, s>>>(x, off, H, cls, normalize, out);
    return cudaGetLastError();
}

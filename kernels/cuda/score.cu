/* score.cu - similarity of query vectors to candidates gathered by row from a device-resident
 * item table (one warp per candidate), and a stable descending sort for top-k (CUB radix sort).
 * Scoring against a whole contiguous table goes through cuBLAS instead (backend_cuda.cu). */
#include <cub/device/device_radix_sort.cuh>

#include "cuda_kernels.cuh"

#define SCORE_WARPS 8

__global__ void __launch_bounds__(SCORE_WARPS * 32)
    score_gather_kernel(const float *q, int Q, const float *items, const int32_t *rows, int N, int D, float *scores) {
    const int n = blockIdx.x * SCORE_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *it = items + (size_t)rows[n] * D;
    for (int a = 0; a < Q; a++) {
        const float *qa = q + (size_t)a * D;
        float acc = 0.f;
        for (int d = lane; d < D; d += 32) acc += qa[d] * it[d];
        acc = fr_warp_sum(acc);
        if (lane == 0) scores[(size_t)a * N + n] = acc;
    }
}

cudaError_t fr_cuda_score_gather(cudaStream_t s, const float *q, int Q, const float *items, const int32_t *rows,
                                 int N, int D, float *scores) {
    if (N <= 0 || Q <= 0) return cudaSuccess;
    score_gather_kernel<<<(N + SCORE_WARPS - 1) / SCORE_WARPS, SCORE_WARPS * 32, 0, s>>>(q, Q, items, rows, N, D, scores);
    return cudaGetLastError();
}

cudaError_t fr_cuda_sort_scratch(int n, size_t *bytes) {
    *bytes = 0;
    return cub::DeviceRadixSort::SortPairsDescending(nullptr, *bytes, (const float *)nullptr, (float *)nullptr,
                                                     (const int32_t *)nullptr, (int32_t *)nullptr, n);
}

/* scratch layout: [iota n int32][cub temp] */
cudaError_t fr_cuda_sort_desc(cudaStream_t s, const float *scores, int n, void *scratch, size_t scratch_bytes,
                              float *keys_out, int32_t *idx_out) {
    if (n <= 0) return cudaSuccess;
    int32_t *iota = (int32_t *)scratch;
    size_t head = ((size_t)n * sizeof(int32_t) + 255) & ~(size_t)255;
    if (scratch_bytes < head) return cudaErrorInvalidValue;
    cudaError_t e = fr_cuda_iota(s, iota, n);
    if (e != cudaSuccess) return e;
    size_t temp = scratch_bytes - head;
    e = cub::DeviceRadixSort::SortPairsDescending((char *)scratch + head, temp, scores, keys_out, iota, idx_out, n, 0,
                                                  (int)(sizeof(float) * 8), s);
    if (e != cudaSuccess) return e;
    return cudaGetLastError();
}

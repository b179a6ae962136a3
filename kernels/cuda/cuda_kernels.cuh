/* cuda_kernels.cuh - launchers of the feedrank CUDA kernels (one .cu file per idea), used by the
 * backend table in backend_cuda.cu. Each launcher enqueues on `stream` and returns the launch
 * status (cudaGetLastError). Shapes and meanings follow kernels/ops.h; kernels/cpu/reference.c
 * holds the plain-loop version of each, and tests/test_ops.c compares the two.
 *
 * "Shadow" outputs: in the fp16/bf16 modes a kernel that produces the input of the next matrix
 * product also writes a rounded copy of its output (shadow, of type shadow_type), so the product
 * reads 2-byte operands without a separate conversion pass. shadow == NULL writes none. */
#ifndef FR_CUDA_KERNELS_CUH
#define FR_CUDA_KERNELS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

enum fr_shadow_type { FR_SHADOW_NONE = 0,
                      FR_SHADOW_FP16 = 1,
                      FR_SHADOW_BF16 = 2 };

/* norm.cu */
cudaError_t fr_cuda_embed(cudaStream_t s, const int32_t *ids, const int32_t *positions, int T, int H,
                          const float *word, const float *pos, const float *type0, const float *gamma,
                          const float *beta, float eps, float *out, void *shadow, int shadow_type);
cudaError_t fr_cuda_add_layernorm(cudaStream_t s, float *x, const float *add, const float *gamma,
                                  const float *beta, int T, int H, float eps, void *shadow, int shadow_type);

/* elementwise.cu */
cudaError_t fr_cuda_bias_gelu(cudaStream_t s, float *y, const float *bias, int M, int N, int gelu,
                              void *shadow, int shadow_type);
cudaError_t fr_cuda_convert(cudaStream_t s, const float *x, size_t n, void *out, int out_type);
cudaError_t fr_cuda_iota(cudaStream_t s, int32_t *x, int n);

/* attention.cu: tensor-core (wmma) flash attention for fp16/bf16 and head sizes 16/32/64/128;
 * an fp32 online-softmax kernel for the exact mode and other head sizes (<= 128). */
enum fr_attention_variant { FR_ATTN_MMA = 0,
                            FR_ATTN_WMMA = 1 };
int fr_cuda_attention_tensor_ok(int head_dim);
cudaError_t fr_cuda_attention_setup(void); /* raises the kernels' dynamic shared memory limits */
cudaError_t fr_cuda_attention(cudaStream_t s, const float *qkv, const int32_t *off, int B, int max_len, int H,
                              int NH, int precision /* 0 fp32, 1 fp16, 2 bf16 */, int variant, float *out, void *shadow,
                              size_t shadow_cap /* elements; writes beyond it are skipped */);

/* pool.cu */
cudaError_t fr_cuda_pool(cudaStream_t s, const float *x, const int32_t *off, int B, int H, int cls,
                         int normalize, float *out);

/* score.cu */
cudaError_t fr_cuda_score_gather(cudaStream_t s, const float *q, int Q, const float *items, const int32_t *rows,
                                 int N, int D, float *scores);
/* Bytes of scratch fr_cuda_sort_desc needs for n keys. */
cudaError_t fr_cuda_sort_scratch(int n, size_t *bytes);
/* Sorts scores[n] descending (stable: ties keep index order) into keys_out[n] / idx_out[n];
 * scratch holds fr_cuda_sort_scratch(n) bytes. */
cudaError_t fr_cuda_sort_desc(cudaStream_t s, const float *scores, int n, void *scratch, size_t scratch_bytes,
                              float *keys_out, int32_t *idx_out);

/* device helpers shared by the .cu files */
#ifdef __CUDACC__
#include <type_traits>

__device__ __forceinline__ float fr_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float fr_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* p[i] = v rounded to S; S = float means "no shadow" and stores nothing. */
template <typename S>
__device__ __forceinline__ void fr_shadow_store(S *p, size_t i, float v) {
    if constexpr (std::is_same<S, __half>::value) p[i] = __float2half_rn(v);
    else if constexpr (std::is_same<S, __nv_bfloat16>::value) p[i] = __float2bfloat16_rn(v);
}

template <typename T>
__device__ __forceinline__ T fr_from_float(float v) {
    if constexpr (std::is_same<T, __half>::value) return __float2half_rn(v);
    else return __float2bfloat16_rn(v);
}

/* Runs body with S bound to the shadow's element type. */
#define FR_WITH_SHADOW(type, ...)              \
    do {                                       \
        if ((type) == FR_SHADOW_FP16) {        \
            using S = __half;                  \
            __VA_ARGS__;                       \
        } else if ((type) == FR_SHADOW_BF16) { \
            using S = __nv_bfloat16;           \
            __VA_ARGS__;                       \
        } else {                               \
            using S = float;                   \
            __VA_ARGS__;                       \
        }                                      \
    } while (0)
#endif

#endif

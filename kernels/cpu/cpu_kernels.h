/* cpu_kernels.h - the optimized CPU kernels behind the CPU backend table (backend_cpu.c).
 * Same contracts as kernels/ops.h; host memory; OpenMP-parallel over rows/sequences. */
#ifndef FR_CPU_KERNELS_H
#define FR_CPU_KERNELS_H

#include "../ops.h"

void fr_cpu_embed(const int32_t *ids, const int32_t *positions, int T, int H, const float *word,
                  const float *pos, const float *type0, const float *gamma, const float *beta,
                  float eps, float *out);
/* Row-major C[M,N] = alpha * A[M,K] . op(B) + beta * C, op(B) = B[N,K]^T when trans_b else
 * B[K,N]; leading dimensions as in BLAS. OpenBLAS when the build has it, else portable loops. */
void fr_cpu_sgemm(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);
void fr_cpu_linear(const float *x, const float *W, const float *bias, int M, int N, int K,
                   fr_activation act, float *y);
/* A weight matrix W[N,K] packed for fr_cpu_linear_packed (see gemm_packed.c). */
typedef struct fr_cpu_weight fr_cpu_weight;
fr_cpu_weight *fr_cpu_weight_pack(const float *W, int N, int K);
void fr_cpu_weight_free(fr_cpu_weight *w);
/* y[M,N] = act(x[M,K] . W^T + bias[N]) with a packed W. */
void fr_cpu_linear_packed(const float *x, const fr_cpu_weight *w, const float *bias, int M,
                          fr_activation act, float *y);
/* bf16 operands, fp32 accumulation (gemm_bf16.c); only where fr_cpu_bf16_available(). */
typedef struct fr_cpu_weight_bf16 fr_cpu_weight_bf16;
fr_cpu_weight_bf16 *fr_cpu_weight_bf16_pack(const float *W, int N, int K);
void fr_cpu_weight_bf16_free(fr_cpu_weight_bf16 *w);
/* Values per row of the bf16 copy of x that fr_cpu_linear_bf16 makes: scratch holds M of them. */
size_t fr_cpu_bf16_row_stride(int K);
/* y[M,N] = act(x[M,K] . W^T + bias[N]); scratch: M * fr_cpu_bf16_row_stride(K) values, 64-byte
 * aligned. */
void fr_cpu_linear_bf16(const float *x, const fr_cpu_weight_bf16 *w, const float *bias, int M, fr_activation act,
                        float *y, uint16_t *scratch);
/* fp16 operands, fp16 partial sums over 32 k, fp32 totals (gemm_fp16.c); only where
 * fr_cpu_fp16_available(). scratch as for bf16 (fr_cpu_bf16_row_stride values per row). */
typedef struct fr_cpu_weight_fp16 fr_cpu_weight_fp16;
fr_cpu_weight_fp16 *fr_cpu_weight_fp16_pack(const float *W, int N, int K);
void fr_cpu_weight_fp16_free(fr_cpu_weight_fp16 *w);
void fr_cpu_linear_fp16(const float *x, const fr_cpu_weight_fp16 *w, const float *bias, int M, fr_activation act,
                        float *y, uint16_t *scratch);
void fr_cpu_add_layernorm(float *x, const float *add, const float *gamma, const float *beta, int T,
                          int H, float eps);
/* Returns -1 when out of memory for its per-thread scratch. */
int fr_cpu_attention(const float *qkv, const int32_t *off, int B, int max_len, int H, int NH, float *out);
void fr_cpu_pool(const float *x, const int32_t *off, int B, int H, fr_pooling mode, int normalize,
                 float *out);
void fr_cpu_score(const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                  float *scores);

#endif

/* reference.h - the plain-loop specification of every op in kernels/ops.h.
 *
 * No BLAS, no threads, no tricks: each function is the definition the backends are tested
 * against (tests/test_ops.c). Shapes as in ops.h; all pointers are host memory. */
#ifndef FR_REFERENCE_H
#define FR_REFERENCE_H

#include "../ops.h"

void fr_ref_embed(const int32_t *ids, const int32_t *positions, int T, int H, const float *word,
                  const float *pos, const float *type0, const float *gamma, const float *beta,
                  float eps, float *out);
void fr_ref_linear(const float *x, const float *W, const float *bias, int M, int N, int K,
                   fr_activation act, float *y);
void fr_ref_add_layernorm(float *x, const float *add, const float *gamma, const float *beta, int T,
                          int H, float eps);
void fr_ref_attention(const float *qkv, const int32_t *off, int B, int H, int NH, float *out);
void fr_ref_pool(const float *x, const int32_t *off, int B, int H, fr_pooling mode, int normalize,
                 float *out);
void fr_ref_score(const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                  float *scores);

/* Shared scalar helpers (exact erf GELU as in transformers' "gelu"). */
float fr_gelu(float x);

#endif

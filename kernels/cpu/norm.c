/* norm.c - embedding gather + LayerNorm, and residual add + LayerNorm, on the CPU. */
#include <math.h>

#include "cpu_kernels.h"

/* Two-pass LayerNorm of one row in place, vectorized (float sums over one row of a few hundred
 * values stay within a few ulp of PyTorch's). */
static void layernorm_inplace(float *restrict r, const float *restrict gamma, const float *restrict beta, int H, float eps) {
    float sum = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ \
                           : sum)
    for (int i = 0; i < H; i++) sum += r[i];
    const float mean = sum / (float)H;
#pragma omp simd reduction(+ \
                           : var)
    for (int i = 0; i < H; i++) {
        float d = r[i] - mean;
        var += d * d;
    }
    const float inv = 1.0f / sqrtf(var / (float)H + eps);
#pragma omp simd
    for (int i = 0; i < H; i++) r[i] = (r[i] - mean) * inv * gamma[i] + beta[i];
}

void fr_cpu_embed(const int32_t *ids, const int32_t *positions, int T, int H, const float *word,
                  const float *pos, const float *type0, const float *gamma, const float *beta,
                  float eps, float *out) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * H;
        const float *w = word + (size_t)ids[t] * H, *p = pos + (size_t)positions[t] * H;
        for (int i = 0; i < H; i++) o[i] = w[i] + p[i] + type0[i];
        layernorm_inplace(o, gamma, beta, H, eps);
    }
}

void fr_cpu_add_layernorm(float *x, const float *add, const float *gamma, const float *beta, int T,
                          int H, float eps) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * H;
        const float *a = add + (size_t)t * H;
        for (int i = 0; i < H; i++) r[i] += a[i];
        layernorm_inplace(r, gamma, beta, H, eps);
    }
}

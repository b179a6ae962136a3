/* norm.c - embedding gather + LayerNorm, and residual add + LayerNorm, on the CPU. */
#include <math.h>

#include "cpu_kernels.h"

/* Two-pass LayerNorm of one row in place (double statistics: the rows are short and this keeps
 * the CPU path within rounding of PyTorch's). */
static void layernorm_inplace(float *r, const float *gamma, const float *beta, int H, float eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < H; i++) mean += r[i];
    mean /= H;
    for (int i = 0; i < H; i++) { double d = r[i] - mean; var += d * d; }
    var /= H;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
    for (int i = 0; i < H; i++) r[i] = (r[i] - m) * inv * gamma[i] + beta[i];
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

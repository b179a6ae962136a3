#include "reference.h"

#include <math.h>
#include <stdlib.h>

float fr_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

/* LayerNorm of one row v[H] into out (may alias v); statistics in double. */
static void layernorm_row(const float *v, const float *gamma, const float *beta, int H, float eps, float *out) {
    double mean = 0, var = 0;
    for (int i = 0; i < H; i++) mean += v[i];
    mean /= H;
    for (int i = 0; i < H; i++) {
        double d = v[i] - mean;
        var += d * d;
    }
    var /= H;
    float inv = (float)(1.0 / sqrt(var + eps));
    for (int i = 0; i < H; i++) out[i] = ((float)(v[i] - mean)) * inv * gamma[i] + beta[i];
}

void fr_ref_embed(const int32_t *ids, const int32_t *positions, int T, int H, const float *word,
                  const float *pos, const float *type0, const float *gamma, const float *beta,
                  float eps, float *out) {
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * H;
        for (int i = 0; i < H; i++)
            o[i] = word[(size_t)ids[t] * H + i] + pos[(size_t)positions[t] * H + i] + type0[i];
        layernorm_row(o, gamma, beta, H, eps, o);
    }
}

void fr_ref_linear(const float *x, const float *W, const float *bias, int M, int N, int K,
                   fr_activation act, float *y) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; k++) acc += (double)x[(size_t)m * K + k] * W[(size_t)n * K + k];
            float v = (float)acc;
            y[(size_t)m * N + n] = act == FR_ACT_GELU ? fr_gelu(v) : v;
        }
}

void fr_ref_add_layernorm(float *x, const float *add, const float *gamma, const float *beta, int T,
                          int H, float eps) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * H;
        for (int i = 0; i < H; i++) r[i] += add[(size_t)t * H + i];
        layernorm_row(r, gamma, beta, H, eps, r);
    }
}

void fr_ref_attention(const float *qkv, const int32_t *off, int B, int H, int NH, float *out) {
    int DH = H / NH;
    float scale = 1.0f / sqrtf((float)DH);
    for (int b = 0; b < B; b++) {
        int s0 = off[b], L = off[b + 1] - off[b];
        double *p = malloc(sizeof(double) * (L ? L : 1));
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < L; i++) {
                const float *q = qkv + (size_t)(s0 + i) * 3 * H + h * DH;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < L; j++) {
                    const float *k = qkv + (size_t)(s0 + j) * 3 * H + H + h * DH;
                    double d = 0;
                    for (int c = 0; c < DH; c++) d += (double)q[c] * k[c];
                    p[j] = d * scale;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < L; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                float *o = out + (size_t)(s0 + i) * H + h * DH;
                for (int c = 0; c < DH; c++) {
                    double acc = 0;
                    for (int j = 0; j < L; j++) acc += p[j] * qkv[(size_t)(s0 + j) * 3 * H + 2 * H + h * DH + c];
                    o[c] = (float)(acc / sum);
                }
            }
        free(p);
    }
}

void fr_ref_pool(const float *x, const int32_t *off, int B, int H, fr_pooling mode, int normalize,
                 float *out) {
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * H;
        int L = off[b + 1] - off[b];
        for (int i = 0; i < H; i++) {
            double acc = 0;
            if (mode == FR_POOL_CLS) acc = L > 0 ? x[(size_t)off[b] * H + i] : 0;
            else {
                for (int t = off[b]; t < off[b + 1]; t++) acc += x[(size_t)t * H + i];
                acc /= (L > 0 ? L : 1);
            }
            o[i] = (float)acc;
        }
        if (normalize) {
            double n2 = 0;
            for (int i = 0; i < H; i++) n2 += (double)o[i] * o[i];
            double n = sqrt(n2);
            if (n < 1e-12) n = 1e-12;
            for (int i = 0; i < H; i++) o[i] = (float)(o[i] / n);
        }
    }
}

void fr_ref_score(const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                  float *scores) {
    for (int a = 0; a < Q; a++)
        for (int n = 0; n < N; n++) {
            const float *it = items + (size_t)(rows ? rows[n] : n) * D;
            double acc = 0;
            for (int d = 0; d < D; d++) acc += (double)q[(size_t)a * D + d] * it[d];
            scores[(size_t)a * N + n] = (float)acc;
        }
}

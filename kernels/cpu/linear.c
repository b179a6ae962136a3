/* linear.c - matrix products on the CPU: nn.Linear (+ bias, + GELU) and similarity scoring,
 * through CBLAS sgemm. */
#include <cblas.h>
#include <string.h>

#include "cpu_kernels.h"
#include "reference.h"

/* y[M,N] = act(x[M,K] . W[N,K]^T + bias): bias is broadcast into y first so that sgemm
 * accumulates onto it (beta = 1), then the activation runs as one parallel pass. */
void fr_cpu_linear(const float *x, const float *W, const float *bias, int M, int N, int K,
                   fr_activation act, float *y) {
    if (M <= 0 || N <= 0) return;
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * N, bias, sizeof(float) * (size_t)N);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, beta, y, N);
    if (act == FR_ACT_GELU) {
        size_t total = (size_t)M * N;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < total; i++) y[i] = fr_gelu(y[i]);
    }
}

void fr_cpu_score(const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                  float *scores) {
    if (Q <= 0 || N <= 0) return;
    if (!rows) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Q, N, D, 1.0f, q, D, items, D, 0.0f, scores, N);
        return;
    }
#pragma omp parallel for schedule(static) if (N >= 2048)
    for (int n = 0; n < N; n++) {
        const float *it = items + (size_t)rows[n] * D;
        for (int a = 0; a < Q; a++) {
            const float *qa = q + (size_t)a * D;
            float acc = 0;
            for (int d = 0; d < D; d++) acc += qa[d] * it[d];
            scores[(size_t)a * N + n] = acc;
        }
    }
}

/* linear.c - matrix products on the CPU: nn.Linear (+ bias, + GELU) and similarity scoring,
 * through CBLAS sgemm (or, in builds without BLAS, a portable loop that the compiler vectorises). */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_kernels.h"
#include "vmath.h"

#ifdef FEEDRANK_HAVE_BLAS
#include <cblas.h>
void fr_cpu_sgemm(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}
#else
/* Portable fallback (builds configured with -DFEEDRANK_BLAS=OFF): loops the compiler vectorises. */
void fr_cpu_sgemm(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    if (trans_b) {
#pragma omp parallel for schedule(static) if ((long)M * N * K >= 1L << 20)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                const float *a = A + (size_t)m * lda, *b = B + (size_t)n * ldb;
                float acc = 0;
#pragma omp simd reduction(+ \
                           : acc)
                for (int k = 0; k < K; k++) acc += a[k] * b[k];
                float *o = C + (size_t)m * ldc + n;
                *o = beta != 0.0f ? beta * *o + alpha * acc : alpha * acc;
            }
        return;
    }
#pragma omp parallel for schedule(static) if ((long)M * N * K >= 1L << 20)
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc;
        for (int n = 0; n < N; n++) c[n] = beta != 0.0f ? beta * c[n] : 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = alpha * A[(size_t)m * lda + k], *b = B + (size_t)k * ldb;
#pragma omp simd
            for (int n = 0; n < N; n++) c[n] += a * b[n];
        }
    }
}
#endif

/* y[M,N] (row stride ldy) = x[M,K] . W[N,K]^T + beta * y */
static void sgemm_nt(int M, int N, int K, const float *x, const float *W, float beta, float *y, int ldy) {
    fr_cpu_sgemm(1, M, N, K, 1.0f, x, K, W, K, beta, y, ldy);
}

/* Below this many rows OpenBLAS runs a product on one thread; we split N across threads. */
#define FR_SMALL_M 96
/* For very few rows, OpenBLAS packing the whole weight matrix on every call is what makes small
 * batches slow (35% of a batch-1 forward). Narrow column chunks take its no-packing small-matrix
 * kernel instead; measured single-core (0.3.21, SkylakeX), M=16 K=384: 57 GFLOP/s whole,
 * 90 in chunks of 16..64 columns; M=32: 84 whole, 87 in chunks of 16; M>=48: whole is faster.
 * So: chunks of 32 columns up to 16 rows, of 16 columns up to 32 rows (when M*chunk*K stays
 * under 800k, the kernel's size limit), the ordinary paths above that. */
#define FR_NOPACK_MNK 800000L

/* Columns [n0, n1) of y = act(x W^T + bias). */
static void linear_cols(const float *x, const float *W, const float *bias, int M, int N, int K, fr_activation act,
                        float *y, int n0, int n1) {
    if (bias)
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * N + n0, bias + n0, sizeof(float) * (size_t)(n1 - n0));
    sgemm_nt(M, n1 - n0, K, x, W + (size_t)n0 * K, bias ? 1.0f : 0.0f, y + n0, N);
    if (act == FR_ACT_GELU)
        for (int m = 0; m < M; m++) {
            float *r = y + (size_t)m * N;
#pragma omp simd
            for (int n = n0; n < n1; n++) r[n] = fr_vgelu(r[n]);
        }
}

/* y[M,N] = act(x[M,K] . W[N,K]^T + bias[N]). */
void fr_cpu_linear(const float *x, const float *W, const float *bias, int M, int N, int K,
                   fr_activation act, float *y) {
    if (M <= 0 || N <= 0) return;
    const float beta = bias ? 1.0f : 0.0f;
    int chunk = M <= 16 ? 32 : M <= 32 ? 16
                                       : 0;
    if (chunk && (long)M * chunk * K <= FR_NOPACK_MNK) {
        int nchunks = (N + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
        for (int c = 0; c < nchunks; c++)
            linear_cols(x, W, bias, M, N, K, act, y, c * chunk, (c + 1) * chunk < N ? (c + 1) * chunk : N);
        return;
    }
    if (M < FR_SMALL_M) {
        /* few rows: each thread takes a block of output columns */
#pragma omp parallel
        {
#ifdef _OPENMP
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
            int nt = 1, t = 0;
#endif
            int per = ((N + nt - 1) / nt + 15) / 16 * 16;
            int n0 = t * per, n1 = n0 + per < N ? n0 + per : N;
            if (n0 < n1) linear_cols(x, W, bias, M, N, K, act, y, n0, n1);
        }
        return;
    }
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * N, bias, sizeof(float) * (size_t)N);
    }
    sgemm_nt(M, N, K, x, W, beta, y, N);
    if (act == FR_ACT_GELU) {
        size_t total = (size_t)M * N;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < total; i++) y[i] = fr_vgelu(y[i]);
    }
}

void fr_cpu_score(const float *q, int Q, const float *items, const int32_t *rows, int N, int D,
                  float *scores) {
    if (Q <= 0 || N <= 0) return;
    if (!rows) {
        sgemm_nt(Q, N, D, q, items, 0.0f, scores, N);
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

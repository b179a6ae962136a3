/* attention.c - packed multi-head self-attention on the CPU.
 *
 * One task per (sequence, head), spread over the OpenMP threads. Within a task both products
 * are sgemm calls (fr_cpu_sgemm) on strided views of the packed qkv matrix (no copies):
 *   S = scale * Q_h K_h^T   [L, L]     softmax per row     O_h = P V_h   [L, DH]
 * OpenBLAS's OpenMP build runs a call made inside a parallel region on the calling thread, so
 * tasks do not oversubscribe the cores. */
#include <math.h>
#include <stdlib.h>

#include "cpu_kernels.h"
#include "vmath.h"

/* In-place softmax of s[0..n). */
static inline void softmax(float *restrict s, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ \
                           : sum)
    for (int j = 0; j < n; j++) {
        s[j] = fr_vexpf(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] *= inv;
}

int fr_cpu_attention(const float *qkv, const int32_t *off, int B, int max_len, int H, int NH, float *out) {
    const int DH = H / NH;
    const float scale = 1.0f / sqrtf((float)DH);
    const int ld = 3 * H;
    int failed = 0;
#pragma omp parallel
    {
        float *S = malloc(sizeof(float) * ((size_t)max_len * max_len + 16));
        if (!S) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < B * NH; task++) {
            int b = task / NH, h = task % NH;
            int s0 = off[b], L = off[b + 1] - off[b];
            if (!S || L <= 0) continue;
            const float *Q = qkv + (size_t)s0 * ld + (size_t)h * DH;
            fr_cpu_sgemm(1, L, L, DH, scale, Q, ld, Q + H, ld, 0.0f, S, L);
            for (int i = 0; i < L; i++) softmax(S + (size_t)i * L, L);
            fr_cpu_sgemm(0, L, DH, L, 1.0f, S, L, Q + 2 * H, ld, 0.0f, out + (size_t)s0 * H + (size_t)h * DH, H);
        }
        free(S);
    }
    return failed ? -1 : 0;
}

/* attention.c - packed multi-head self-attention on the CPU.
 *
 * One task per (sequence, head). K is transposed into scratch so that both products run with
 * contiguous inner loops the compiler vectorizes without reassociating a float reduction:
 *   S[i,:] = sum_c q[i,c] * Kt[c,:]    then a softmax per row,
 *   O[i,:] = sum_j P[i,j] * V[j,:]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

int fr_cpu_attention(const float *qkv, const int32_t *off, int B, int max_len, int H, int NH, float *out) {
    const int DH = H / NH;
    const float scale = 1.0f / sqrtf((float)DH);
    const size_t ld = (size_t)3 * H;
    int failed = 0;
#pragma omp parallel
    {
        /* scratch: Kt[DH, max_len] + one score row [max_len] */
        float *kt = malloc(sizeof(float) * ((size_t)DH * max_len + max_len + 16));
        if (!kt) {
#pragma omp atomic write
            failed = 1;
        }
        float *srow = kt ? kt + (size_t)DH * max_len : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < B * NH; task++) {
            if (!kt) continue;
            int b = task / NH, h = task % NH;
            int s0 = off[b], L = off[b + 1] - off[b];
            const float *Q = qkv + (size_t)s0 * ld + (size_t)h * DH;
            const float *K = Q + H, *V = Q + 2 * H;
            for (int j = 0; j < L; j++)
                for (int c = 0; c < DH; c++) kt[(size_t)c * L + j] = K[(size_t)j * ld + c];
            for (int i = 0; i < L; i++) {
                const float *q = Q + (size_t)i * ld;
                for (int j = 0; j < L; j++) srow[j] = 0.0f;
                for (int c = 0; c < DH; c++) {
                    const float qc = q[c] * scale;
                    const float *kc = kt + (size_t)c * L;
                    for (int j = 0; j < L; j++) srow[j] += qc * kc[j];
                }
                float mx = -INFINITY;
                for (int j = 0; j < L; j++) mx = srow[j] > mx ? srow[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j < L; j++) { srow[j] = expf(srow[j] - mx); sum += srow[j]; }
                const float inv = 1.0f / sum;
                float *o = out + (size_t)(s0 + i) * H + (size_t)h * DH;
                for (int c = 0; c < DH; c++) o[c] = 0.0f;
                for (int j = 0; j < L; j++) {
                    const float pj = srow[j] * inv;
                    const float *v = V + (size_t)j * ld;
                    for (int c = 0; c < DH; c++) o[c] += pj * v[c];
                }
            }
        }
        free(kt);
    }
    return failed ? -1 : 0;
}

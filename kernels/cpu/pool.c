/* pool.c - sentence pooling (mean over tokens or the CLS token) + L2 normalisation, on the CPU.
 * Matches sentence-transformers: mean over attended tokens, then x / max(||x||, 1e-12). */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

void fr_cpu_pool(const float *x, const int32_t *off, int B, int H, fr_pooling mode, int normalize,
                 float *out) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * H;
        int L = off[b + 1] - off[b];
        if (L <= 0) {
            memset(o, 0, sizeof(float) * (size_t)H);
            continue;
        }
        if (mode == FR_POOL_CLS) {
            memcpy(o, x + (size_t)off[b] * H, sizeof(float) * (size_t)H);
        } else {
            memset(o, 0, sizeof(float) * (size_t)H);
            for (int t = off[b]; t < off[b + 1]; t++) {
                const float *r = x + (size_t)t * H;
                for (int i = 0; i < H; i++) o[i] += r[i];
            }
            const float inv = 1.0f / (float)L;
            for (int i = 0; i < H; i++) o[i] *= inv;
        }
        if (normalize) {
            double n2 = 0;
            for (int i = 0; i < H; i++) n2 += (double)o[i] * o[i];
            double n = sqrt(n2);
            const float inv = (float)(1.0 / (n > 1e-12 ? n : 1e-12));
            for (int i = 0; i < H; i++) o[i] *= inv;
        }
    }
}

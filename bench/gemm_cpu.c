/* gemm_cpu.c - the CPU products of the encoder's shapes in each precision this CPU runs:
 * y = x W^T + b with packed weights (fp32: gemm_packed.c, bf16: gemm_bf16.c, fp16: gemm_fp16.c).
 *
 *   gemm_cpu [--reps N]     (threads: OMP_NUM_THREADS)
 *
 * Per shape (M rows x N outputs x K) and precision: the best of N repetitions (default 200) as
 * GFLOP/s, and the relative L2 error against the fp32 kernel. One JSON object per line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cpu/cpu_kernels.h"

int main(int argc, char **argv) {
    int reps = 200;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "gemm_cpu: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    /* MiniLM / bge-small: qkv, attention out, FFN up, FFN down at 16, 128 and 1024 rows */
    const int shapes[][3] = {{16, 1152, 384}, {16, 384, 384}, {16, 1536, 384}, {16, 384, 1536}, {128, 1152, 384}, {128, 384, 384}, {128, 1536, 384}, {128, 384, 1536}, {1024, 1152, 384}, {1024, 1536, 384}, {1024, 384, 1536}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = aligned_alloc(64, sizeof(float) * ((size_t)M * K + 16)), *W = malloc(sizeof(float) * N * K);
        float *b = malloc(sizeof(float) * N), *ref = malloc(sizeof(float) * M * N), *y = malloc(sizeof(float) * M * N);
        uint16_t *scratch = aligned_alloc(64, sizeof(uint16_t) * M * fr_cpu_bf16_row_stride(K) + 64);
        uint64_t st = 12345;
        for (size_t i = 0; i < (size_t)M * K; i++) {
            st = st * 6364136223846793005ULL + 1;
            x[i] = (float)((st >> 40) % 2001) / 1000.0f - 1.0f;
        }
        for (size_t i = 0; i < (size_t)N * K; i++) {
            st = st * 6364136223846793005ULL + 1;
            W[i] = ((float)((st >> 40) % 2001) / 1000.0f - 1.0f) * 0.1f;
        }
        for (int i = 0; i < N; i++) b[i] = 0.01f * (float)(i % 7);
        fr_cpu_weight *wf = fr_cpu_weight_pack(W, N, K);
        fr_cpu_weight_bf16 *wb = fr_cpu_bf16_available() ? fr_cpu_weight_bf16_pack(W, N, K) : NULL;
        fr_cpu_weight_fp16 *wh = fr_cpu_fp16_available() ? fr_cpu_weight_fp16_pack(W, N, K) : NULL;
        fr_cpu_linear_packed(x, wf, b, M, FR_ACT_NONE, ref);
        for (int p = 0; p < 3; p++) {
            if ((p == 1 && !wb) || (p == 2 && !wh)) continue;
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = fr_bench_now();
                if (p == 0) fr_cpu_linear_packed(x, wf, b, M, FR_ACT_NONE, y);
                else if (p == 1) fr_cpu_linear_bf16(x, wb, b, M, FR_ACT_NONE, y, scratch);
                else fr_cpu_linear_fp16(x, wh, b, M, FR_ACT_NONE, y, scratch);
                double t = fr_bench_now() - t0;
                if (t < best) best = t;
            }
            double d = 0, n = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) {
                d += (double)(y[i] - ref[i]) * (y[i] - ref[i]);
                n += (double)ref[i] * ref[i];
            }
            printf("{\"bench\":\"gemm\",\"precision\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"best_ms\":%.4f,\"gflops\":%.1f,\"rel_err\":%.2e}\n",
                   p == 0 ? "fp32" : p == 1 ? "bf16"
                                            : "fp16",
                   M, N, K, best * 1e3, 2.0 * M * N * K / best / 1e9, sqrt(d / (n > 0 ? n : 1)));
            fflush(stdout);
        }
        fr_cpu_weight_free(wf);
        fr_cpu_weight_bf16_free(wb);
        fr_cpu_weight_fp16_free(wh);
        free(x);
        free(W);
        free(b);
        free(ref);
        free(y);
        free(scratch);
    }
    return 0;
}

/* gemm_fp16.c - y = act(x W^T + bias) with fp16 operands (AVX-512 FP16), fp32 totals.
 *
 * Why: on the CPUs this was measured on (Xeon with AVX-512 BF16 and FP16, bench/RESULTS.md),
 * vfmadd231ph issues as fast as fp32 FMA with twice the lanes (32), so twice fp32's rate, while
 * vdpbf16ps runs at half of fp32's (gemm_bf16.c). fp16 keeps 11 significant bits (bf16: 8), but
 * vfmadd231ph also rounds its sum to fp16, so partial sums run over FR_KC = 32 k values only and
 * are then added into fp32 accumulators. The encoder's vectors stay >= 0.999 cosine to fp32
 * (tests/test_encoder.c checks it on the golden texts).
 *
 * Layout: W[N,K] is rounded to fp16 once, at load, into panels of 64 output columns, k-major
 * (panel[k][j] = W[n0 + j][k], zero past N), two 64-byte vectors per k. x is rounded to fp16 per
 * call into caller scratch (rows padded with zeros to a multiple of 32). Values beyond fp16's
 * range (|v| > 65504) are not expected in encoder activations; they would become infinities.
 *
 * Micro-kernel: a 4-row x 64-column tile: 8 fp16 accumulators (32 lanes each) and 16 fp32
 * accumulators in registers; per k it loads the two panel vectors, broadcasts each row's x[k]
 * and issues 8 vfmadd231ph; every FR_KC k the fp16 sums are widened and added to fp32. Tasks
 * (row block, panel) over OpenMP threads as in gemm_packed.c; bias, GELU and the store are fp32.
 * Compiled with target attributes (GCC >= 12, clang >= 18; older compilers build without it); runs
 * only where fr_cpu_fp16_available() (checked at run time). */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "vmath.h"

#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 18 : (defined(__GNUC__) && __GNUC__ >= 12))
#define FR_FP16_KERNEL 1
#include <immintrin.h>
#define FR_FP16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16,fma,f16c")))
#endif

#define FR_H_PANEL 64
#define FR_H_MR 4
#define FR_KC 32
#define FR_H_ROW_BLOCK 128

struct fr_cpu_weight_fp16 {
    int N, K;
    uint16_t *data; /* panels, see above */
};

/* IEEE half, round to nearest even (overflow -> infinity, NaN stays NaN). */
static uint16_t to_fp16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: infinity */
    if (a < 0x38800000u) {                                   /* subnormal half (or zero) */
        if (a < 0x33000000u) return (uint16_t)sign;          /* below half the smallest subnormal */
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14 .. 24 */
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((a - 0x38000000u) >> 13), rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

int fr_cpu_fp16_available(void) {
#ifdef FR_FP16_KERNEL
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512fp16");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
#else
    return 0;
#endif
}

fr_cpu_weight_fp16 *fr_cpu_weight_fp16_pack(const float *W, int N, int K) {
    fr_cpu_weight_fp16 *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->N = N;
    w->K = K;
    const size_t panels = ((size_t)N + FR_H_PANEL - 1) / FR_H_PANEL;
    size_t bytes = (panels * (size_t)K * FR_H_PANEL * sizeof(uint16_t) + 63) & ~(size_t)63;
    w->data = aligned_alloc(64, bytes ? bytes : 64);
    if (!w->data) {
        free(w);
        return NULL;
    }
    for (size_t p = 0; p < panels; p++) {
        uint16_t *panel = w->data + p * (size_t)K * FR_H_PANEL;
        for (size_t k = 0; k < (size_t)K; k++)
            for (size_t j = 0; j < FR_H_PANEL; j++) {
                size_t n = p * FR_H_PANEL + j;
                panel[k * FR_H_PANEL + j] = n < (size_t)N ? to_fp16(W[n * (size_t)K + k]) : 0;
            }
    }
    return w;
}

void fr_cpu_weight_fp16_free(fr_cpu_weight_fp16 *w) {
    if (!w) return;
    free(w->data);
    free(w);
}

#ifdef FR_FP16_KERNEL
FR_FP16_TARGET static void round_row(const float *x, int K, uint16_t *xh, size_t stride) {
    for (size_t k = 0; k < stride; k += 16) {
        int left = K - (int)k;
        __mmask16 m = left >= 16 ? 0xFFFF : left <= 0 ? 0
                                                      : (__mmask16)((1u << left) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        _mm256_store_si256((__m256i *)(void *)(xh + k), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

/* fp32 acc[2v], acc[2v+1] += the 32 fp16 lanes of h */
FR_FP16_TARGET static inline __attribute__((always_inline)) void widen_add(__m512 *lo, __m512 *hi, __m512h h) {
    __m512i bits = _mm512_castph_si512(h);
    *lo = _mm512_add_ps(*lo, _mm512_cvtph_ps(_mm512_castsi512_si256(bits)));
    *hi = _mm512_add_ps(*hi, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(bits, 1)));
}

/* One R x 64 tile; xh holds R rows of fp16 (stride values). */
FR_FP16_TARGET static inline __attribute__((always_inline)) void tile(int R, const uint16_t *xh, size_t stride, int K,
                                                                      const uint16_t *panel, const float *bias, int cols,
                                                                      fr_activation act, float *y, int ldy) {
    __m512 acc[FR_H_MR][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++) acc[r][v] = _mm512_setzero_ps();
    for (int k0 = 0; k0 < K; k0 += FR_KC) {
        const int k1 = k0 + FR_KC < K ? k0 + FR_KC : K;
        __m512h h[FR_H_MR][2];
        for (int r = 0; r < R; r++) h[r][0] = h[r][1] = _mm512_setzero_ph();
        for (int k = k0; k < k1; k++) {
            __m512h b0 = _mm512_castsi512_ph(_mm512_load_si512((const void *)(panel + (size_t)k * FR_H_PANEL)));
            __m512h b1 = _mm512_castsi512_ph(_mm512_load_si512((const void *)(panel + (size_t)k * FR_H_PANEL + 32)));
            for (int r = 0; r < R; r++) {
                __m512h a = _mm512_castsi512_ph(_mm512_set1_epi16((short)xh[(size_t)r * stride + k]));
                h[r][0] = _mm512_fmadd_ph(a, b0, h[r][0]);
                h[r][1] = _mm512_fmadd_ph(a, b1, h[r][1]);
            }
        }
        for (int r = 0; r < R; r++) {
            widen_add(&acc[r][0], &acc[r][1], h[r][0]);
            widen_add(&acc[r][2], &acc[r][3], h[r][1]);
        }
    }
    __mmask16 mask[4];
    __m512 bv[4];
    for (int v = 0; v < 4; v++) {
        int c = cols - 16 * v;
        mask[v] = c >= 16 ? 0xFFFF : c <= 0 ? 0
                                            : (__mmask16)((1u << c) - 1);
        bv[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
    }
    for (int r = 0; r < R; r++) {
        float out[FR_H_PANEL] __attribute__((aligned(64)));
        for (int v = 0; v < 4; v++) _mm512_store_ps(out + 16 * v, _mm512_add_ps(acc[r][v], bv[v]));
        if (act == FR_ACT_GELU) {
#pragma omp simd
            for (int j = 0; j < FR_H_PANEL; j++) out[j] = fr_vgelu(out[j]);
        }
        float *dst = y + (size_t)r * ldy;
        for (int v = 0; v < 4; v++) _mm512_mask_storeu_ps(dst + 16 * v, mask[v], _mm512_load_ps(out + 16 * v));
    }
}

FR_FP16_TARGET static void rows_panel(const uint16_t *xh, size_t stride, int m0, int m1, int K, const uint16_t *panel,
                                      const float *bias, int cols, fr_activation act, float *y, int ldy) {
    for (int m = m0; m < m1; m += FR_H_MR) {
        const uint16_t *xr = xh + (size_t)m * stride;
        float *yr = y + (size_t)m * ldy;
        switch (m1 - m < FR_H_MR ? m1 - m : FR_H_MR) {
        case 4: tile(4, xr, stride, K, panel, bias, cols, act, yr, ldy); break;
        case 3: tile(3, xr, stride, K, panel, bias, cols, act, yr, ldy); break;
        case 2: tile(2, xr, stride, K, panel, bias, cols, act, yr, ldy); break;
        default: tile(1, xr, stride, K, panel, bias, cols, act, yr, ldy); break;
        }
    }
}
#endif

void fr_cpu_linear_fp16(const float *x, const fr_cpu_weight_fp16 *w, const float *bias, int M, fr_activation act,
                        float *y, uint16_t *scratch) {
    const int N = w->N, K = w->K;
    if (M <= 0 || N <= 0) return;
#ifdef FR_FP16_KERNEL
    const size_t stride = fr_cpu_bf16_row_stride(K);
    const int panels = (N + FR_H_PANEL - 1) / FR_H_PANEL;
    const int row_blocks = (M + FR_H_ROW_BLOCK - 1) / FR_H_ROW_BLOCK;
    const int tasks = row_blocks * panels;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int m = 0; m < M; m++) round_row(x + (size_t)m * K, K, scratch + (size_t)m * stride, stride);
#pragma omp for schedule(static)
        for (int t = 0; t < tasks; t++) {
            int rb = t / panels, p = t % panels;
            int m0 = rb * FR_H_ROW_BLOCK, m1 = m0 + FR_H_ROW_BLOCK < M ? m0 + FR_H_ROW_BLOCK : M;
            int n0 = p * FR_H_PANEL, cols = N - n0 < FR_H_PANEL ? N - n0 : FR_H_PANEL;
            rows_panel(scratch, stride, m0, m1, K, w->data + (size_t)p * K * FR_H_PANEL, bias ? bias + n0 : NULL, cols, act,
                       y + n0, N);
        }
    }
#else
    /* not reached: the backend refuses fp16 when fr_cpu_fp16_available() is 0 */
    (void)x;
    (void)K;
    (void)bias;
    (void)act;
    (void)y;
    (void)scratch;
#endif
}

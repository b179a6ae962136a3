/* gemm_bf16.c - y = act(x W^T + bias) with bf16 operands and fp32 accumulation (AVX-512 BF16).
 *
 * Why: vdpbf16ps does two multiply-adds per fp32 lane (32 per instruction), twice the rate of
 * fp32 FMA, and halves the bytes of weight streamed per product. The encoder's vectors stay
 * >= 0.999 cosine to fp32 (tests/test_encoder.c checks it on the golden texts).
 *
 * Layout: W[N,K] is rounded to bf16 (round to nearest even) once, at load, into panels of 32
 * output columns; a panel holds ceil(K/2) rows of 32 column pairs:
 *   panel[kp][j][e] = W[n0 + j][2 kp + e]     (zero past N and K)
 * so one 64-byte vector holds 16 columns x 2 k values, the operand layout of vdpbf16ps.
 * x is rounded to bf16 per call into caller scratch (rows padded to a multiple of 32 values with
 * zeros), all rows at once and in parallel, before the products start.
 *
 * Micro-kernel: an 8-row x 32-column tile of y in 16 zmm accumulators; per k pair it loads the
 * two panel vectors, broadcasts each row's (x[k], x[k+1]) pair as one 32-bit value and issues
 * 16 vdpbf16ps. Tasks (row block of 128, panel) are spread over OpenMP threads as in
 * gemm_packed.c. Bias, GELU and the store are fp32.
 *
 * The kernel is compiled with target attributes, so the build works with any -march; it runs
 * only where fr_cpu_bf16_available() says the CPU has AVX-512 BF16 (checked once at run time). */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "vmath.h"

#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 9 : (defined(__GNUC__) && __GNUC__ >= 10))
#define FR_BF16_KERNEL 1
#include <immintrin.h>
#define FR_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#endif

#ifndef FR_PANEL
#define FR_PANEL 32 /* output columns per panel: FR_PANEL / 16 vectors per row */
#endif
#ifndef FR_MR
#define FR_MR 8
#endif
#define FR_NV (FR_PANEL / 16)
#define FR_ROW_BLOCK 128

struct fr_cpu_weight_bf16 {
    int N, K;
    uint16_t *data; /* panels, see above */
};

/* Round to nearest even; NaN stays NaN (quiet). */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

int fr_cpu_bf16_available(void) {
#ifdef FR_BF16_KERNEL
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bf16");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
#else
    return 0;
#endif
}

size_t fr_cpu_bf16_row_stride(int K) { return ((size_t)K + 31) & ~(size_t)31; }

fr_cpu_weight_bf16 *fr_cpu_weight_bf16_pack(const float *W, int N, int K) {
    fr_cpu_weight_bf16 *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->N = N;
    w->K = K;
    const size_t panels = ((size_t)N + FR_PANEL - 1) / FR_PANEL, pairs = ((size_t)K + 1) / 2;
    const size_t elems = panels * pairs * FR_PANEL * 2;
    size_t bytes = (elems * sizeof(uint16_t) + 63) & ~(size_t)63;
    w->data = aligned_alloc(64, bytes ? bytes : 64);
    if (!w->data) {
        free(w);
        return NULL;
    }
    for (size_t p = 0; p < panels; p++) {
        uint16_t *panel = w->data + p * pairs * FR_PANEL * 2;
        for (size_t kp = 0; kp < pairs; kp++)
            for (size_t j = 0; j < FR_PANEL; j++)
                for (size_t e = 0; e < 2; e++) {
                    size_t n = p * FR_PANEL + j, k = 2 * kp + e;
                    panel[(kp * FR_PANEL + j) * 2 + e] = n < (size_t)N && k < (size_t)K ? to_bf16(W[n * (size_t)K + k]) : 0;
                }
    }
    return w;
}

void fr_cpu_weight_bf16_free(fr_cpu_weight_bf16 *w) {
    if (!w) return;
    free(w->data);
    free(w);
}

#ifdef FR_BF16_KERNEL
/* Row m of x (K floats) -> bf16 at xb (stride values, zero padded). */
FR_BF16_TARGET static void round_row(const float *x, int K, uint16_t *xb, size_t stride) {
    for (size_t k = 0; k < stride; k += 32) {
        int left = K - (int)k;
        __mmask16 m0 = left >= 16 ? 0xFFFF : left <= 0 ? 0
                                                       : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = left >= 32 ? 0xFFFF : left <= 16 ? 0
                                                        : (__mmask16)((1u << (left - 16)) - 1);
        __m512 lo = _mm512_maskz_loadu_ps(m0, x + k), hi = _mm512_maskz_loadu_ps(m1, x + k + 16);
        _mm512_store_si512((void *)(xb + k), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* One R x 32 tile: y[r, n0 + j] for r < R, j < cols; xb holds R rows of bf16 pairs (stride
 * pstride pairs). R is a compile-time constant after inlining. */
FR_BF16_TARGET static inline __attribute__((always_inline)) void tile(int R, const uint32_t *xb, size_t pstride, int pairs,
                                                                      const uint16_t *panel, const float *bias, int cols,
                                                                      fr_activation act, float *y, int ldy) {
    __m512 acc[FR_MR][FR_NV];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < FR_NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int kp = 0; kp < pairs; kp++) {
        __m512bh b[FR_NV];
        for (int v = 0; v < FR_NV; v++)
            b[v] = (__m512bh)_mm512_load_si512((const void *)(panel + (size_t)kp * 2 * FR_PANEL + 32 * v));
        for (int r = 0; r < R; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)xb[(size_t)r * pstride + kp]);
            for (int v = 0; v < FR_NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, b[v]);
        }
    }
    __mmask16 mask[FR_NV];
    __m512 bv[FR_NV];
    for (int v = 0; v < FR_NV; v++) {
        int c = cols - 16 * v;
        mask[v] = c >= 16 ? 0xFFFF : c <= 0 ? 0
                                            : (__mmask16)((1u << c) - 1);
        bv[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
    }
    for (int r = 0; r < R; r++) {
        float out[FR_PANEL] __attribute__((aligned(64)));
        for (int v = 0; v < FR_NV; v++) _mm512_store_ps(out + 16 * v, _mm512_add_ps(acc[r][v], bv[v]));
        if (act == FR_ACT_GELU) {
#pragma omp simd
            for (int j = 0; j < FR_PANEL; j++) out[j] = fr_vgelu(out[j]);
        }
        float *dst = y + (size_t)r * ldy;
        for (int v = 0; v < FR_NV; v++) _mm512_mask_storeu_ps(dst + 16 * v, mask[v], _mm512_load_ps(out + 16 * v));
    }
}

/* Rows [m0, m1) of y against one panel. */
FR_BF16_TARGET static void rows_panel(const uint16_t *xb, size_t stride, int m0, int m1, int pairs, const uint16_t *panel,
                                      const float *bias, int cols, fr_activation act, float *y, int ldy) {
    const size_t ps = stride / 2;
    const uint32_t *x32 = (const uint32_t *)(const void *)xb;
    for (int m = m0; m < m1; m += FR_MR) {
        const uint32_t *xr = x32 + (size_t)m * ps;
        float *yr = y + (size_t)m * ldy;
        switch (m1 - m < FR_MR ? m1 - m : FR_MR) {
#if FR_MR >= 8
        case 8: tile(8, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
#endif
#if FR_MR >= 7
        case 7: tile(7, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
#endif
        case 6: tile(6, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        case 5: tile(5, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        case 4: tile(4, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        case 3: tile(3, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        case 2: tile(2, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        default: tile(1, xr, ps, pairs, panel, bias, cols, act, yr, ldy); break;
        }
    }
}
#endif

void fr_cpu_linear_bf16(const float *x, const fr_cpu_weight_bf16 *w, const float *bias, int M, fr_activation act,
                        float *y, uint16_t *scratch) {
    const int N = w->N, K = w->K;
    if (M <= 0 || N <= 0) return;
#ifdef FR_BF16_KERNEL
    const size_t stride = fr_cpu_bf16_row_stride(K);
    const int pairs = (K + 1) / 2;
    const int panels = (N + FR_PANEL - 1) / FR_PANEL;
    const int row_blocks = (M + FR_ROW_BLOCK - 1) / FR_ROW_BLOCK;
    const int tasks = row_blocks * panels;
    const size_t panel_elems = (size_t)pairs * FR_PANEL * 2;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int m = 0; m < M; m++) round_row(x + (size_t)m * K, K, scratch + (size_t)m * stride, stride);
#pragma omp for schedule(static)
        for (int t = 0; t < tasks; t++) {
            int rb = t / panels, p = t % panels;
            int m0 = rb * FR_ROW_BLOCK, m1 = m0 + FR_ROW_BLOCK < M ? m0 + FR_ROW_BLOCK : M;
            int n0 = p * FR_PANEL, cols = N - n0 < FR_PANEL ? N - n0 : FR_PANEL;
            rows_panel(scratch, stride, m0, m1, pairs, w->data + (size_t)p * panel_elems, bias ? bias + n0 : NULL, cols, act,
                       y + n0, N);
        }
    }
#else
    /* not reached: the backend refuses bf16 when fr_cpu_bf16_available() is 0 */
    (void)x;
    (void)K;
    (void)bias;
    (void)act;
    (void)y;
    (void)scratch;
#endif
}

/* attention.cu - multi-head self-attention over packed sequences (no padding): each sequence
 * attends to its own tokens only, rows off[b] .. off[b+1]-1 of qkv[T, 3H] (Q | K | V per token).
 *
 * Three kernels, all "flash" style (online softmax, the L x L score matrix never leaves the chip):
 *  - attention_mma<T, DH>: fp16/bf16, mma.sync with scores, probabilities and outputs in
 *    registers (the default; see its comment below).
 *  - attention_wmma<T, DH>: the first tensor-core version (FEEDRANK_CUDA_ATTENTION=wmma): fp16/bf16 operands (wmma 16x16x16, fp32 accumulate).
 *    A block of 4 warps takes 64 queries of one (sequence, head); each warp owns 16 query rows.
 *    Per 64-key tile: S = Q K^T (wmma) -> shared memory; each row's running max / sum updated by
 *    2 lanes; P = exp(S - max) rounded to T; O = O * alpha + P V (wmma, O kept in shared memory).
 *  - attention_fp32<DH_MAX>: the exact mode (and head sizes wmma does not cover). A block of 4
 *    warps takes 16 queries; a warp walks its queries over 32-key tiles, one key per lane, and
 *    each lane owns DH/32 output columns.
 * Grid: x = sequence (B may exceed 65535), y = head, z = query tile. */
#include <mma.h>

#include "cuda_kernels.cuh"

using namespace nvcuda;

/* ---------------------------------------------------------------- tensor cores (fp16 / bf16) */

#define WM_Q 64 /* queries per block */
#define WM_K 64 /* keys per tile */
#define WM_WARPS 4

template <int DH>
struct wmma_layout {
    static constexpr int LDH = DH + 8;   /* Q/K/V rows (elements of T); +8 keeps 32-byte alignment */
    static constexpr int LDS = WM_K + 4; /* score rows (float) */
    static constexpr int LDP = WM_K + 8; /* probability rows (T) */
    static constexpr int LDO = DH + 4;   /* output accumulator rows (float) */
    static constexpr size_t q_bytes = (size_t)WM_Q * LDH * 2;
    static constexpr size_t kv_bytes = (size_t)WM_K * LDH * 2;
    static constexpr size_t s_bytes = (size_t)WM_WARPS * 16 * LDS * 4;
    static constexpr size_t p_bytes = (size_t)WM_WARPS * 16 * LDP * 2;
    static constexpr size_t o_bytes = (size_t)WM_WARPS * 16 * LDO * 4;
    static constexpr size_t total = q_bytes + 2 * kv_bytes + s_bytes + p_bytes + o_bytes;
};

template <typename T, int DH>
__global__ void __launch_bounds__(WM_WARPS * 32)
    attention_wmma(const float *qkv, const int32_t *off, int H, float scale, float *out, T *shadow, size_t cap) {
    using Lay = wmma_layout<DH>;
    const int b = blockIdx.x, h = blockIdx.y, q0 = blockIdx.z * WM_Q;
    const int s0 = off[b], len = off[b + 1] - s0;
    if (q0 >= len) return; /* whole block leaves together: no barrier is skipped */
    extern __shared__ __align__(128) unsigned char smem[];
    T *Qs = (T *)smem;
    T *Ks = (T *)(smem + Lay::q_bytes);
    T *Vs = (T *)(smem + Lay::q_bytes + Lay::kv_bytes);
    float *Sall = (float *)(smem + Lay::q_bytes + 2 * Lay::kv_bytes);
    T *Pall = (T *)(smem + Lay::q_bytes + 2 * Lay::kv_bytes + Lay::s_bytes);
    float *Oall = (float *)(smem + Lay::q_bytes + 2 * Lay::kv_bytes + Lay::s_bytes + Lay::p_bytes);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    float *Sw = Sall + warp * 16 * Lay::LDS;
    T *Pw = Pall + warp * 16 * Lay::LDP;
    float *Ow = Oall + warp * 16 * Lay::LDO;
    const size_t ld = 3 * (size_t)H;
    const float *base = qkv + (size_t)s0 * ld + (size_t)h * DH;

    /* Q tile, pre-scaled by 1/sqrt(DH); rows past the sequence are zero */
    for (int i = tid; i < WM_Q * DH; i += WM_WARPS * 32) {
        int r = i / DH, c = i % DH;
        float v = q0 + r < len ? base[(size_t)(q0 + r) * ld + c] * scale : 0.f;
        Qs[r * Lay::LDH + c] = fr_from_float<T>(v);
    }
    for (int i = lane; i < 16 * DH; i += 32) Ow[(i / DH) * Lay::LDO + i % DH] = 0.f;
    const int r = lane >> 1, half = lane & 1; /* this lane's row of the warp's 16, and its half of the keys */
    float m_r = -INFINITY, l_r = 0.f;

    for (int k0 = 0; k0 < len; k0 += WM_K) {
        __syncthreads(); /* the previous tile's K/V are no longer read (and Q is complete) */
        for (int i = tid; i < WM_K * DH; i += WM_WARPS * 32) {
            int kr = i / DH, c = i % DH;
            bool ok = k0 + kr < len;
            const float *src = base + (size_t)(k0 + kr) * ld + c;
            Ks[kr * Lay::LDH + c] = fr_from_float<T>(ok ? src[H] : 0.f);
            Vs[kr * Lay::LDH + c] = fr_from_float<T>(ok ? src[2 * H] : 0.f);
        }
        __syncthreads();
        /* S[16, 64] = Q_w K^T */
#pragma unroll
        for (int n = 0; n < WM_K / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.f);
#pragma unroll
            for (int kk = 0; kk < DH / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bk;
                wmma::load_matrix_sync(a, Qs + (warp * 16) * Lay::LDH + kk * 16, Lay::LDH);
                wmma::load_matrix_sync(bk, Ks + (n * 16) * Lay::LDH + kk * 16, Lay::LDH);
                wmma::mma_sync(acc, a, bk, acc);
            }
            wmma::store_matrix_sync(Sw + n * 16, acc, Lay::LDS, wmma::mem_row_major);
        }
        __syncwarp();
        /* online softmax: 2 lanes per row, 32 keys each */
        const int kv = len - k0 < WM_K ? len - k0 : WM_K;
        const float *srow = Sw + r * Lay::LDS + half * 32;
        float mx = -INFINITY;
#pragma unroll 8
        for (int c = 0; c < 32; c++)
            if (half * 32 + c < kv) mx = fmaxf(mx, srow[c]);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        const float m_new = fmaxf(m_r, mx); /* finite: key 0 of the first tile is always valid */
        const float alpha = __expf(m_r - m_new);
        float sum = 0.f;
        T *prow = Pw + r * Lay::LDP + half * 32;
#pragma unroll 8
        for (int c = 0; c < 32; c++) {
            float p = half * 32 + c < kv ? __expf(srow[c] - m_new) : 0.f;
            prow[c] = fr_from_float<T>(p);
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l_r = l_r * alpha + sum;
        m_r = m_new;
        float *orow = Ow + r * Lay::LDO;
        for (int c = half; c < DH; c += 2) orow[c] *= alpha;
        __syncwarp();
        /* O[16, DH] += P[16, 64] V[64, DH] */
#pragma unroll
        for (int d = 0; d < DH / 16; d++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
            wmma::load_matrix_sync(o, Ow + d * 16, Lay::LDO, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < WM_K / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;
                wmma::load_matrix_sync(a, Pw + kk * 16, Lay::LDP);
                wmma::load_matrix_sync(bv, Vs + (kk * 16) * Lay::LDH + d * 16, Lay::LDH);
                wmma::mma_sync(o, a, bv, o);
            }
            wmma::store_matrix_sync(Ow + d * 16, o, Lay::LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }
    const int q = q0 + warp * 16 + r;
    if (q < len) {
        const float inv = 1.0f / l_r;
        const size_t at = (size_t)(s0 + q) * H + (size_t)h * DH;
        for (int c = half; c < DH; c += 2) {
            float v = Ow[r * Lay::LDO + c] * inv;
            out[at + c] = v;
            if (shadow && at + c < cap) fr_shadow_store(shadow, at + c, v);
        }
    }
}

/* ---------------------------------------------------------------- tensor cores, registers (mma.sync) */

/* FlashAttention-2 style: the scores, probabilities and output accumulators of a warp's 16 query
 * rows stay in registers (mma.sync m16n8k16 fragments); shared memory holds only the Q, K and
 * V^T tiles. The score accumulators of two adjacent 8-key tiles are, element for element, the
 * A operand of the P.V product, so probabilities never leave the registers.
 * Fragment layout (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
 *   A (16x16): r0 = (g, 2t..2t+1), r1 = (g+8, 2t..), r2 = (g, 2t+8..), r3 = (g+8, 2t+8..)
 *   B (16x8):  r0 = (k 2t..2t+1, n g), r1 = (k 2t+8.., n g)
 *   C (16x8):  c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1) */
#define MM_K 64

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    if constexpr (std::is_same<T, __half>::value) {
        __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    } else {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
}

template <typename T>
__device__ __forceinline__ void mma16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same<T, __half>::value)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 4 floats from global (16-byte aligned) into 4 consecutive elements of a shared row */
template <typename T>
__device__ __forceinline__ void put4(T *dst, float4 v) {
    uint2 u;
    u.x = pack2<T>(v.x, v.y);
    u.y = pack2<T>(v.z, v.w);
    *reinterpret_cast<uint2 *>(dst) = u;
}

/* NW warps per block, 16 query rows each: 8 warps (128 queries) for long sequences, so that each
 * K/V tile read from memory serves twice the queries; 4 warps when sequences are short. */
template <int DH, int NW>
struct mma_layout {
    static constexpr int LDH = DH + 8;   /* Q / K rows (elements): conflict-free fragment loads */
    static constexpr int LDV = MM_K + 8; /* V^T rows */
    static constexpr size_t bytes = ((size_t)16 * NW * LDH + (size_t)MM_K * LDH + (size_t)DH * LDV) * 2;
};

template <typename T, int DH, int NW>
__global__ void __launch_bounds__(NW * 32)
    attention_mma(const float *qkv, const int32_t *off, int H, float scale_log2, float *out, T *shadow, size_t cap) {
    using Lay = mma_layout<DH, NW>;
    constexpr int MM_Q = 16 * NW, MM_WARPS = NW;
    constexpr int KK = DH / 16, DT = DH / 8, C4 = DH / 4;
    const int b = blockIdx.x, h = blockIdx.y, q0 = blockIdx.z * MM_Q;
    const int s0 = off[b], len = off[b + 1] - s0;
    if (q0 >= len) return;
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = (T *)smem, *Ks = Qs + MM_Q * Lay::LDH, *Vt = Ks + MM_K * Lay::LDH;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const size_t ld = 3 * (size_t)H;
    const float *base = qkv + (size_t)s0 * ld + (size_t)h * DH;
    /* Q tile, scaled by log2(e)/sqrt(DH) so that exp2 gives the softmax */
    for (int i = tid; i < MM_Q * C4; i += MM_WARPS * 32) {
        int r = i / C4, c = (i % C4) * 4;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (q0 + r < len) {
            v = *reinterpret_cast<const float4 *>(base + (size_t)(q0 + r) * ld + c);
            v.x *= scale_log2;
            v.y *= scale_log2;
            v.z *= scale_log2;
            v.w *= scale_log2;
        }
        put4<T>(Qs + r * Lay::LDH + c, v);
    }
    __syncthreads();
    uint32_t qa[KK][4];
    const T *qw = Qs + (warp * 16) * Lay::LDH;
#pragma unroll
    for (int kk = 0; kk < KK; kk++) {
        qa[kk][0] = *reinterpret_cast<const uint32_t *>(qw + g * Lay::LDH + kk * 16 + 2 * t);
        qa[kk][1] = *reinterpret_cast<const uint32_t *>(qw + (g + 8) * Lay::LDH + kk * 16 + 2 * t);
        qa[kk][2] = *reinterpret_cast<const uint32_t *>(qw + g * Lay::LDH + kk * 16 + 8 + 2 * t);
        qa[kk][3] = *reinterpret_cast<const uint32_t *>(qw + (g + 8) * Lay::LDH + kk * 16 + 8 + 2 * t);
    }
    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f; /* rows g and g+8; l is this thread's part */

    for (int k0 = 0; k0 < len; k0 += MM_K) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int i = tid; i < MM_K * C4; i += MM_WARPS * 32) {
            int kr = i / C4, c = (i % C4) * 4;
            float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
            if (k0 + kr < len) {
                const float *src = base + (size_t)(k0 + kr) * ld + c;
                kv = *reinterpret_cast<const float4 *>(src + H);
                vv = *reinterpret_cast<const float4 *>(src + 2 * H);
            }
            put4<T>(Ks + kr * Lay::LDH + c, kv);
            Vt[(c + 0) * Lay::LDV + kr] = fr_from_float<T>(vv.x);
            Vt[(c + 1) * Lay::LDV + kr] = fr_from_float<T>(vv.y);
            Vt[(c + 2) * Lay::LDV + kr] = fr_from_float<T>(vv.z);
            Vt[(c + 3) * Lay::LDV + kr] = fr_from_float<T>(vv.w);
        }
        __syncthreads();
        float sc[MM_K / 8][4];
#pragma unroll
        for (int n = 0; n < MM_K / 8; n++) {
            sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.f;
            const T *krow = Ks + (n * 8 + g) * Lay::LDH;
#pragma unroll
            for (int kk = 0; kk < KK; kk++) {
                uint32_t b0 = *reinterpret_cast<const uint32_t *>(krow + kk * 16 + 2 * t);
                uint32_t b1 = *reinterpret_cast<const uint32_t *>(krow + kk * 16 + 8 + 2 * t);
                mma16816<T>(sc[n], qa[kk], b0, b1);
            }
        }
        /* mask keys past the sequence; running max per row over this tile */
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int n = 0; n < MM_K / 8; n++) {
            const int key = k0 + n * 8 + 2 * t;
            if (key >= len) { sc[n][0] = sc[n][2] = -INFINITY; }
            if (key + 1 >= len) { sc[n][1] = sc[n][3] = -INFINITY; }
            mx0 = fmaxf(mx0, fmaxf(sc[n][0], sc[n][1]));
            mx1 = fmaxf(mx1, fmaxf(sc[n][2], sc[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1); /* finite: key 0 is in the first tile */
        const float a0 = exp2f(m0 - n0), a1 = exp2f(m1 - n1);
        m0 = n0;
        m1 = n1;
        l0 *= a0;
        l1 *= a1;
#pragma unroll
        for (int d = 0; d < DT; d++) {
            o[d][0] *= a0;
            o[d][1] *= a0;
            o[d][2] *= a1;
            o[d][3] *= a1;
        }
        uint32_t pa[MM_K / 16][4];
#pragma unroll
        for (int n = 0; n < MM_K / 8; n++) {
            float p0 = exp2f(sc[n][0] - n0), p1 = exp2f(sc[n][1] - n0);
            float p2 = exp2f(sc[n][2] - n1), p3 = exp2f(sc[n][3] - n1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pa[n / 2][(n & 1) * 2 + 0] = pack2<T>(p0, p1); /* row g */
            pa[n / 2][(n & 1) * 2 + 1] = pack2<T>(p2, p3); /* row g+8 */
        }
#pragma unroll
        for (int d = 0; d < DT; d++) {
            const T *vrow = Vt + (d * 8 + g) * Lay::LDV;
#pragma unroll
            for (int kt = 0; kt < MM_K / 16; kt++) {
                uint32_t b0 = *reinterpret_cast<const uint32_t *>(vrow + kt * 16 + 2 * t);
                uint32_t b1 = *reinterpret_cast<const uint32_t *>(vrow + kt * 16 + 8 + 2 * t);
                mma16816<T>(o[d], pa[kt], b0, b1);
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = 1.0f / l0, i1 = 1.0f / l1;
    const int qa_row = q0 + warp * 16 + g, qb_row = qa_row + 8;
#pragma unroll
    for (int d = 0; d < DT; d++) {
        const int col = d * 8 + 2 * t;
        if (qa_row < len) {
            const size_t at = (size_t)(s0 + qa_row) * H + (size_t)h * DH + col;
            float v0 = o[d][0] * i0, v1 = o[d][1] * i0;
            out[at] = v0;
            out[at + 1] = v1;
            if (shadow && at + 1 < cap) {
                fr_shadow_store(shadow, at, v0);
                fr_shadow_store(shadow, at + 1, v1);
            }
        }
        if (qb_row < len) {
            const size_t at = (size_t)(s0 + qb_row) * H + (size_t)h * DH + col;
            float v0 = o[d][2] * i1, v1 = o[d][3] * i1;
            out[at] = v0;
            out[at + 1] = v1;
            if (shadow && at + 1 < cap) {
                fr_shadow_store(shadow, at, v0);
                fr_shadow_store(shadow, at + 1, v1);
            }
        }
    }
}

/* ---------------------------------------------------------------- exact fp32 */

#define F32_Q 16 /* queries per block */
#define F32_K 32 /* keys per tile (one per lane) */
#define F32_WARPS 4

template <int DH_MAX, typename S>
__global__ void __launch_bounds__(F32_WARPS * 32)
    attention_fp32(const float *qkv, const int32_t *off, int H, int DH, float scale, float *out, S *shadow, size_t cap) {
    constexpr int PER_LANE = (DH_MAX + 31) / 32;
    const int b = blockIdx.x, h = blockIdx.y, q0 = blockIdx.z * F32_Q;
    const int s0 = off[b], len = off[b + 1] - s0;
    if (q0 >= len) return;
    __shared__ float Qs[F32_Q][DH_MAX];
    __shared__ float Ks[F32_K][DH_MAX + 1];
    __shared__ float Vs[F32_K][DH_MAX];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const size_t ld = 3 * (size_t)H;
    const float *base = qkv + (size_t)s0 * ld + (size_t)h * DH;
    for (int i = tid; i < F32_Q * DH; i += F32_WARPS * 32) {
        int r = i / DH, c = i % DH;
        Qs[r][c] = q0 + r < len ? base[(size_t)(q0 + r) * ld + c] : 0.f;
    }
    constexpr int QPW = F32_Q / F32_WARPS; /* queries per warp */
    float m[QPW], l[QPW], o[QPW][PER_LANE];
#pragma unroll
    for (int j = 0; j < QPW; j++) {
        m[j] = -INFINITY;
        l[j] = 0.f;
#pragma unroll
        for (int c = 0; c < PER_LANE; c++) o[j][c] = 0.f;
    }
    for (int k0 = 0; k0 < len; k0 += F32_K) {
        __syncthreads();
        for (int i = tid; i < F32_K * DH; i += F32_WARPS * 32) {
            int kr = i / DH, c = i % DH;
            bool ok = k0 + kr < len;
            const float *src = base + (size_t)(k0 + kr) * ld + c;
            Ks[kr][c] = ok ? src[H] : 0.f;
            Vs[kr][c] = ok ? src[2 * H] : 0.f;
        }
        __syncthreads();
        const bool valid = k0 + lane < len;
#pragma unroll
        for (int j = 0; j < QPW; j++) {
            const int qr = warp * QPW + j;
            float s = 0.f;
            for (int c = 0; c < DH; c++) s += Qs[qr][c] * Ks[lane][c];
            s = valid ? s * scale : -INFINITY;
            const float m_new = fmaxf(m[j], fr_warp_max(s));
            const float alpha = expf(m[j] - m_new);
            const float p = valid ? expf(s - m_new) : 0.f;
            l[j] = l[j] * alpha + fr_warp_sum(p);
            m[j] = m_new;
#pragma unroll
            for (int c = 0; c < PER_LANE; c++) o[j][c] *= alpha;
            for (int kk = 0; kk < F32_K; kk++) {
                const float pk = __shfl_sync(0xffffffffu, p, kk);
#pragma unroll
                for (int c = 0; c < PER_LANE; c++) {
                    const int d = lane + 32 * c;
                    if (d < DH) o[j][c] += pk * Vs[kk][d];
                }
            }
        }
    }
#pragma unroll
    for (int j = 0; j < QPW; j++) {
        const int q = q0 + warp * QPW + j;
        if (q >= len) continue;
        const size_t at = (size_t)(s0 + q) * H + (size_t)h * DH;
#pragma unroll
        for (int c = 0; c < PER_LANE; c++) {
            const int d = lane + 32 * c;
            if (d < DH) {
                float v = o[j][c] / l[j];
                out[at + d] = v;
                if (shadow && at + d < cap) fr_shadow_store(shadow, at + d, v);
            }
        }
    }
}

/* ---------------------------------------------------------------- launch */

int fr_cuda_attention_tensor_ok(int dh) { return dh == 16 || dh == 32 || dh == 64 || dh == 128; }

template <typename T, int DH>
static cudaError_t raise_smem(void) {
    cudaError_t e = cudaFuncSetAttribute(attention_wmma<T, DH>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)wmma_layout<DH>::total);
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(attention_mma<T, DH, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)mma_layout<DH, 4>::bytes);
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(attention_mma<T, DH, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)mma_layout<DH, 8>::bytes);
    return e;
}

cudaError_t fr_cuda_attention_setup(void) {
    cudaError_t e;
    if ((e = raise_smem<__half, 16>()) || (e = raise_smem<__half, 32>()) || (e = raise_smem<__half, 64>()) ||
        (e = raise_smem<__half, 128>()) || (e = raise_smem<__nv_bfloat16, 16>()) ||
        (e = raise_smem<__nv_bfloat16, 32>()) || (e = raise_smem<__nv_bfloat16, 64>()) ||
        (e = raise_smem<__nv_bfloat16, 128>()))
        return e;
    return cudaSuccess;
}

template <typename T, int NW>
static cudaError_t launch_mma_nw(cudaStream_t s, const float *qkv, const int32_t *off, int B, int max_len, int H,
                                 int NH, float *out, T *shadow, size_t cap) {
    const int DH = H / NH;
    const float scale_log2 = 1.4426950408889634f / sqrtf((float)DH);
    dim3 grid(B, NH, (max_len + 16 * NW - 1) / (16 * NW));
    switch (DH) {
    case 16: attention_mma<T, 16, NW><<<grid, NW * 32, mma_layout<16, NW>::bytes, s>>>(qkv, off, H, scale_log2, out, shadow, cap); break;
    case 32: attention_mma<T, 32, NW><<<grid, NW * 32, mma_layout<32, NW>::bytes, s>>>(qkv, off, H, scale_log2, out, shadow, cap); break;
    case 64: attention_mma<T, 64, NW><<<grid, NW * 32, mma_layout<64, NW>::bytes, s>>>(qkv, off, H, scale_log2, out, shadow, cap); break;
    default: attention_mma<T, 128, NW><<<grid, NW * 32, mma_layout<128, NW>::bytes, s>>>(qkv, off, H, scale_log2, out, shadow, cap); break;
    }
    return cudaGetLastError();
}

template <typename T>
static cudaError_t launch_mma(cudaStream_t s, const float *qkv, const int32_t *off, int B, int max_len, int H,
                              int NH, float *out, T *shadow, size_t cap) {
    if (max_len > 64) return launch_mma_nw<T, 8>(s, qkv, off, B, max_len, H, NH, out, shadow, cap);
    return launch_mma_nw<T, 4>(s, qkv, off, B, max_len, H, NH, out, shadow, cap);
}

template <typename T>
static cudaError_t launch_wmma(cudaStream_t s, const float *qkv, const int32_t *off, int B, int max_len, int H,
                               int NH, float *out, T *shadow, size_t cap) {
    const int DH = H / NH;
    const float scale = 1.0f / sqrtf((float)DH);
    dim3 grid(B, NH, (max_len + WM_Q - 1) / WM_Q);
    switch (DH) {
    case 16: attention_wmma<T, 16><<<grid, WM_WARPS * 32, wmma_layout<16>::total, s>>>(qkv, off, H, scale, out, shadow, cap); break;
    case 32: attention_wmma<T, 32><<<grid, WM_WARPS * 32, wmma_layout<32>::total, s>>>(qkv, off, H, scale, out, shadow, cap); break;
    case 64: attention_wmma<T, 64><<<grid, WM_WARPS * 32, wmma_layout<64>::total, s>>>(qkv, off, H, scale, out, shadow, cap); break;
    default: attention_wmma<T, 128><<<grid, WM_WARPS * 32, wmma_layout<128>::total, s>>>(qkv, off, H, scale, out, shadow, cap); break;
    }
    return cudaGetLastError();
}

cudaError_t fr_cuda_attention(cudaStream_t s, const float *qkv, const int32_t *off, int B, int max_len, int H,
                              int NH, int precision, int variant, float *out, void *shadow, size_t cap) {
    if (B <= 0 || max_len <= 0) return cudaSuccess;
    const int DH = H / NH;
    if (precision != 0 && fr_cuda_attention_tensor_ok(DH) && variant == FR_ATTN_MMA && H % 4 == 0) {
        if (precision == 1) return launch_mma<__half>(s, qkv, off, B, max_len, H, NH, out, (__half *)shadow, cap);
        return launch_mma<__nv_bfloat16>(s, qkv, off, B, max_len, H, NH, out, (__nv_bfloat16 *)shadow, cap);
    }
    if (precision != 0 && fr_cuda_attention_tensor_ok(DH)) {
        if (precision == 1) return launch_wmma<__half>(s, qkv, off, B, max_len, H, NH, out, (__half *)shadow, cap);
        return launch_wmma<__nv_bfloat16>(s, qkv, off, B, max_len, H, NH, out, (__nv_bfloat16 *)shadow, cap);
    }
    if (DH > 128) return cudaErrorInvalidValue;
    const float scale = 1.0f / sqrtf((float)DH);
    dim3 grid(B, NH, (max_len + F32_Q - 1) / F32_Q);
    int shadow_type = shadow ? precision : FR_SHADOW_NONE;
    if (DH <= 32)
        FR_WITH_SHADOW(shadow_type, attention_fp32<32, S><<<grid, F32_WARPS * 32, 0, s>>>(qkv, off, H, DH, scale, out, (S *)shadow, cap));
    else if (DH <= 64)
        FR_WITH_SHADOW(shadow_type, attention_fp32<64, S><<<grid, F32_WARPS * 32, 0, s>>>(qkv, off, H, DH, scale, out, (S *)shadow, cap));
    else
        FR_WITH_SHADOW(shadow_type, attention_fp32<128, S><<<grid, F32_WARPS * 32, 0, s>>>(qkv, off, H, DH, scale, out, (S *)shadow, cap));
    return cudaGetLastError();
}

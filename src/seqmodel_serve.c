/* seqmodel_serve.c - the serving forward of the sequential model (see seqmodel_serve.h).
 *
 * Design. A request is one short sequence (<= max_len rows, 50 by default), so what costs is not
 * arithmetic volume but per-product overhead, reductions and memory: the products go through the
 * packed AVX-512 kernel with weights packed once here (and the FFN's GELU fused into it), the
 * LayerNorms, attention and candidate dot products are AVX-512 loops that reduce each sum once
 * (portable loops when the width or head size is not a multiple of 16), softmax exponentials
 * are vector loops, and the rows are the valid positions only, packed
 * together (position t of n valid ones uses the position embedding of window column T-n+t,
 * exactly as the left-padded window of the reference). The last block computes everything but
 * its keys and values for the newest row only; the user state is that row after LNf. */
#include "seqmodel_serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/cpu_kernels.h"
#include "cpu/vmath.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

typedef struct {
    fr_cpu_weight *wq, *wkv, *wo, *w1, *w2; /* packed (C,C), (2C,C), (C,C), (F,C), (C,F) */
    const float *ln1w, *ln1b, *qb, *kvb, *ob, *ln2w, *ln2b, *b1, *b2;
} serve_block;

struct fr_seq_server {
    fr_seq_config cfg;
    float *V;    /* (N, C) item vectors */
    float *rest; /* every parameter after E, in seqmodel.h's layout (E's rows live in V) */
    const float *Wp, *bp, *pos, *lnfw, *lnfb;
    serve_block *blk; /* (L) */
};

struct fr_seq_scratch {
    int T, C, F;
    int32_t *rows;          /* (T) the history's known rows, oldest first */
    float *x, *ln, *q, *kv; /* (T, C), (T, C), (T, C), (T, 2C) */
    float *y, *h, *ff, *p;  /* (T, C), (T, C), (T, F), (T) */
    void *block;
};

const fr_seq_config *fr_seq_server_config(const fr_seq_server *s) { return &s->cfg; }

void fr_seq_server_free(fr_seq_server *s) {
    if (!s) return;
    if (s->blk)
        for (int l = 0; l < s->cfg.n_layers; l++) {
            fr_cpu_weight_free(s->blk[l].wq);
            fr_cpu_weight_free(s->blk[l].wkv);
            fr_cpu_weight_free(s->blk[l].wo);
            fr_cpu_weight_free(s->blk[l].w1);
            fr_cpu_weight_free(s->blk[l].w2);
        }
    free(s->blk);
    free(s->V);
    free(s->rest);
    free(s);
}

/* The item table is read at scattered rows (a request's history and candidates): with 4 KiB
 * pages nearly every row is also a TLB miss and a page walk. A table of several MiB is therefore
 * aligned to 2 MiB and offered to the kernel as huge pages (a hint: where transparent huge pages
 * are off it stays 4 KiB pages and only the alignment's slack is spent). Measured in rerank_cpu
 * at 500 candidates from 100,000 items: the candidates' loop went from 0.053-0.066 to 0.043 ms. */
#define HUGE_PAGE ((size_t)2 << 20)
static float *alloc_item_table(size_t bytes) {
    if (bytes < 2 * HUGE_PAGE) return malloc(bytes ? bytes : 1);
    const size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    float *p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

/* rows of text vectors projected per packed product at load */
#define LOAD_CHUNK 4096

fr_status fr_seq_server_create(const fr_seq_config *cfg, const float *params, fr_seq_text_rows text_rows, void *text_ctx,
                               fr_seq_server **out, char *err, size_t errcap) {
    *out = NULL;
    fr_seq_tensor lay[FR_SEQ_NTENSORS];
    size_t total;
    fr_status rc = fr_seq_layout(cfg, lay, &total, err, errcap);
    if (rc) return rc;
    const int N = cfg->n_items, C = cfg->d, Dt = cfg->d_text, F = cfg->d_ff, L = cfg->n_layers;
    fr_seq_server *s = calloc(1, sizeof *s);
    if (!s) return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory");
    s->cfg = *cfg;
    const size_t first = lay[FR_SEQ_WP].offset; /* E is tensor 0; everything from Wp on is kept */
    s->rest = malloc((total - first) * sizeof(float));
    s->V = alloc_item_table((size_t)N * C * sizeof(float));
    s->blk = calloc((size_t)L, sizeof *s->blk);
    float *chunk = malloc((size_t)LOAD_CHUNK * Dt * sizeof(float));
    fr_cpu_weight *wp = NULL;
    if (!s->rest || !s->V || !s->blk || !chunk) goto nomem;
    memcpy(s->rest, params + first, (total - first) * sizeof(float));
#define AT(t) (s->rest + (lay[t].offset - first))
    s->Wp = AT(FR_SEQ_WP);
    s->bp = AT(FR_SEQ_BP);
    s->pos = AT(FR_SEQ_POS);
    s->lnfw = AT(FR_SEQ_LNFW);
    s->lnfb = AT(FR_SEQ_LNFB);
    for (int l = 0; l < L; l++) {
        serve_block *b = &s->blk[l];
        const float *qkvw = AT(FR_SEQ_QKVW) + (size_t)l * 3 * C * C;
        b->wq = fr_cpu_weight_pack(qkvw, C, C);
        b->wkv = fr_cpu_weight_pack(qkvw + (size_t)C * C, 2 * C, C);
        b->wo = fr_cpu_weight_pack(AT(FR_SEQ_ATTPROJW) + (size_t)l * C * C, C, C);
        b->w1 = fr_cpu_weight_pack(AT(FR_SEQ_FCW) + (size_t)l * F * C, F, C);
        b->w2 = fr_cpu_weight_pack(AT(FR_SEQ_FCPROJW) + (size_t)l * C * F, C, F);
        if (!b->wq || !b->wkv || !b->wo || !b->w1 || !b->w2) goto nomem;
        b->ln1w = AT(FR_SEQ_LN1W) + (size_t)l * C;
        b->ln1b = AT(FR_SEQ_LN1B) + (size_t)l * C;
        b->qb = AT(FR_SEQ_QKVB) + (size_t)l * 3 * C;
        b->kvb = b->qb + C;
        b->ob = AT(FR_SEQ_ATTPROJB) + (size_t)l * C;
        b->ln2w = AT(FR_SEQ_LN2W) + (size_t)l * C;
        b->ln2b = AT(FR_SEQ_LN2B) + (size_t)l * C;
        b->b1 = AT(FR_SEQ_FCB) + (size_t)l * F;
        b->b2 = AT(FR_SEQ_FCPROJB) + (size_t)l * C;
    }
#undef AT
    /* V = text Wp^T + bp + E, a chunk of items per product */
    if (!(wp = fr_cpu_weight_pack(s->Wp, C, Dt))) goto nomem;
    const float *E = params + lay[FR_SEQ_E].offset;
    for (int i0 = 0; i0 < N; i0 += LOAD_CHUNK) {
        const int n = N - i0 < LOAD_CHUNK ? N - i0 : LOAD_CHUNK;
        text_rows(text_ctx, i0, n, chunk);
        float *v = s->V + (size_t)i0 * C;
        fr_cpu_linear_packed(chunk, wp, s->bp, n, FR_ACT_NONE, v);
        const float *e = E + (size_t)i0 * C;
        for (size_t k = 0; k < (size_t)n * C; k++) v[k] += e[k];
    }
    fr_cpu_weight_free(wp);
    free(chunk);
    *out = s;
    return FR_OK;
nomem:
    fr_cpu_weight_free(wp);
    free(chunk);
    fr_seq_server_free(s);
    return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory for a serving model of %d items", N);
}

const float *fr_seq_server_item(const fr_seq_server *s, int64_t row) {
    return row >= 0 && row < s->cfg.n_items ? s->V + (size_t)row * s->cfg.d : NULL;
}

void fr_seq_server_prefetch_item(const fr_seq_server *s, int64_t row) {
    if (row < 0 || row >= s->cfg.n_items) return;
    const char *v = (const char *)(s->V + (size_t)row * s->cfg.d), *end = (const char *)(v + s->cfg.d * sizeof(float));
    for (const char *l = v; l < end; l += 64) __builtin_prefetch(l, 0, 2);
    __builtin_prefetch(end - 1, 0, 2); /* the last line, when the row is not 64-byte aligned */
}

int fr_seq_server_score_rows(const fr_seq_server *s, const float *u, const int64_t *rows, int n, float *scores) {
    const int C = s->cfg.d;
    const int64_t N = s->cfg.n_items;
    int outside = 0;
    for (int j = 0; j < n; j++) {
        /* the rows are scattered over the (N, C) table: ask for one a few candidates ahead */
        if (j + 8 < n) fr_seq_server_prefetch_item(s, rows[j + 8]);
        if (rows[j] < 0 || rows[j] >= N) {
            outside++;
            continue;
        }
        const float *v = s->V + (size_t)rows[j] * C;
#ifdef __AVX512F__
        if (C % 16 == 0) { /* one register, reduced once: candidates overlap in the pipeline */
            __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(u), _mm512_loadu_ps(v));
            for (int c = 16; c < C; c += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(u + c), _mm512_loadu_ps(v + c), acc);
            scores[j] = _mm512_reduce_add_ps(acc);
            continue;
        }
#endif
        float d = 0.0f;
        for (int c = 0; c < C; c++) d += u[c] * v[c];
        scores[j] = d;
    }
    return outside;
}

void fr_seq_server_text_scorer(const fr_seq_server *s, const float *u, float *wt, float *ub) {
    const int C = s->cfg.d, Dt = s->cfg.d_text;
    for (int t = 0; t < Dt; t++) wt[t] = 0.0f;
    float b = 0.0f;
    for (int c = 0; c < C; c++) { /* rows of Wp (C, Dt): the inner loop stays contiguous */
        const float *row = s->Wp + (size_t)c * Dt, uc = u[c];
#pragma omp simd
        for (int t = 0; t < Dt; t++) wt[t] += uc * row[t];
        b += uc * s->bp[c];
    }
    *ub = b;
}

fr_status fr_seq_scratch_create(const fr_seq_server *s, fr_seq_scratch **out, char *err, size_t errcap) {
    *out = NULL;
    const size_t T = (size_t)s->cfg.max_len, C = (size_t)s->cfg.d, F = (size_t)s->cfg.d_ff;
    fr_seq_scratch *w = calloc(1, sizeof *w);
    const size_t sizes[9] = {T, T * C, T * C, T * C, 2 * T * C, T * C, T * C, T * F, T}; /* rows as floats' size */
    size_t bytes = 0;
    for (int i = 0; i < 9; i++) bytes += (sizes[i] * 4 + 63) & ~(size_t)63;
    if (!w || !(w->block = aligned_alloc(64, bytes))) {
        free(w);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory for serving scratch");
    }
    char *p = w->block;
    void **ptrs[9] = {(void **)&w->rows, (void **)&w->x, (void **)&w->ln, (void **)&w->q, (void **)&w->kv,
                      (void **)&w->y, (void **)&w->h, (void **)&w->ff, (void **)&w->p};
    for (int i = 0; i < 9; i++) {
        *ptrs[i] = p;
        p += (sizes[i] * 4 + 63) & ~(size_t)63;
    }
    w->T = (int)T;
    w->C = (int)C;
    w->F = (int)F;
    *out = w;
    return FR_OK;
}

void fr_seq_scratch_free(fr_seq_scratch *w) {
    if (!w) return;
    free(w->block);
    free(w);
}

/* out (n, C) = LayerNorm of inp (n, C) rows; w, b (C). With AVX-512 and C a multiple of 16 the
 * two sums are kept in registers and reduced once per row: GCC's `omp simd reduction` ended each
 * one with 16 dependent scalar adds through the stack, the larger part of a row's time. */
static void layernorm_rows(float *out, const float *inp, const float *w, const float *b, int n, int C) {
#ifdef __AVX512F__
    if (C % 16 == 0) {
        const __m512 invc = _mm512_set1_ps(1.0f / (float)C);
        for (int r = 0; r < n; r++) {
            const float *x = inp + (size_t)r * C;
            float *o = out + (size_t)r * C;
            __m512 acc = _mm512_loadu_ps(x);
            for (int c = 16; c < C; c += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + c));
            const __m512 mu = _mm512_mul_ps(_mm512_set1_ps(_mm512_reduce_add_ps(acc)), invc);
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x), mu), v = _mm512_mul_ps(d, d);
            for (int c = 16; c < C; c += 16) {
                d = _mm512_sub_ps(_mm512_loadu_ps(x + c), mu);
                v = _mm512_fmadd_ps(d, d, v);
            }
            const __m512 rs = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(v) / (float)C + FR_SEQ_LN_EPS));
            for (int c = 0; c < C; c += 16) {
                const __m512 xn = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + c), mu), rs);
                _mm512_storeu_ps(o + c, _mm512_fmadd_ps(xn, _mm512_loadu_ps(w + c), _mm512_loadu_ps(b + c)));
            }
        }
        return;
    }
#endif
    for (int r = 0; r < n; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float s = 0.0f, v = 0.0f;
#pragma omp simd reduction(+ \
                           : s)
        for (int c = 0; c < C; c++) s += x[c];
        const float mu = s / (float)C;
#pragma omp simd reduction(+ \
                           : v)
        for (int c = 0; c < C; c++) v += (x[c] - mu) * (x[c] - mu);
        const float rs = 1.0f / sqrtf(v / (float)C + FR_SEQ_LN_EPS);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (x[c] - mu) * rs * w[c] + b[c];
    }
}

/* p[s] = exp(p[s] - mx) for s < n, and their sum (softmax weights before normalising). */
static float exp_sum(float *p, int n, float mx) {
    float z = 0.0f;
#pragma omp simd reduction(+ \
                           : z)
    for (int s = 0; s < n; s++) {
        p[s] = fr_vexpf(p[s] - mx);
        z += p[s];
    }
    return z;
}

#ifdef __AVX512F__
/* One query's head: scores p[s] = scale * q . k_s over keys s = 0..t, softmax, o = sum_s p[s] v_s.
 * q, o (hs); key s at k + s*ld, value s at v + s*ld; hs a multiple of 16; p (t+1) scratch.
 * Each dot product is accumulated in one register and reduced once (the portable loop below
 * left GCC reducing 16 lanes in scalar adds through the stack), and the output's columns stay in
 * registers over the keys, 64 at a time (the portable loop stored o[c] after every key). */
static void attend_one(float *o, const float *q, const float *k, const float *v, int ld, int t, int hs, float scale,
                       float *p) {
    const int nv = hs / 16;
    float mx = -INFINITY;
    for (int s = 0; s <= t; s++) {
        const float *ks = k + (size_t)s * ld;
        __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(ks));
        for (int j = 1; j < nv; j++) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * j), _mm512_loadu_ps(ks + 16 * j), acc);
        p[s] = _mm512_reduce_add_ps(acc) * scale;
        mx = p[s] > mx ? p[s] : mx;
    }
    const __m512 iz = _mm512_set1_ps(1.0f / exp_sum(p, t + 1, mx));
    int c0 = 0;
    for (; c0 + 64 <= hs; c0 += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int s = 0; s <= t; s++) {
            const float *vs = v + (size_t)s * ld + c0;
            const __m512 w = _mm512_set1_ps(p[s]);
            a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vs), a0);
            a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vs + 16), a1);
            a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vs + 32), a2);
            a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vs + 48), a3);
        }
        _mm512_storeu_ps(o + c0, _mm512_mul_ps(a0, iz));
        _mm512_storeu_ps(o + c0 + 16, _mm512_mul_ps(a1, iz));
        _mm512_storeu_ps(o + c0 + 32, _mm512_mul_ps(a2, iz));
        _mm512_storeu_ps(o + c0 + 48, _mm512_mul_ps(a3, iz));
    }
    for (; c0 < hs; c0 += 16) {
        __m512 a0 = _mm512_setzero_ps();
        for (int s = 0; s <= t; s++) a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[s]), _mm512_loadu_ps(v + (size_t)s * ld + c0), a0);
        _mm512_storeu_ps(o + c0, _mm512_mul_ps(a0, iz));
    }
}
#endif

/* Causal attention of queries q (nq rows, the last nq of n positions: query i is position
 * n-nq+i) over keys/values kv (n, 2C) = K | V; y (nq, C); p (n) scratch. */
static void attention_rows(float *y, const float *q, const float *kv, int n, int nq, int C, int NH, float *p) {
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
#ifdef __AVX512F__
    if (hs % 16 == 0) {
        for (int i = 0; i < nq; i++)
            for (int h = 0; h < NH; h++)
                attend_one(y + (size_t)i * C + (size_t)h * hs, q + (size_t)i * C + (size_t)h * hs, kv + (size_t)h * hs,
                           kv + C + (size_t)h * hs, 2 * C, n - nq + i, hs, scale, p);
        return;
    }
#endif
    for (int i = 0; i < nq; i++) {
        const int t = n - nq + i;
        for (int h = 0; h < NH; h++) {
            const float *qq = q + (size_t)i * C + (size_t)h * hs;
            float mx = -INFINITY;
            for (int s = 0; s <= t; s++) {
                const float *k = kv + (size_t)s * 2 * C + (size_t)h * hs;
                float d = 0.0f;
#pragma omp simd reduction(+ \
                           : d)
                for (int c = 0; c < hs; c++) d += qq[c] * k[c];
                p[s] = d * scale;
                mx = p[s] > mx ? p[s] : mx;
            }
            const float iz = 1.0f / exp_sum(p, t + 1, mx);
            float *o = y + (size_t)i * C + (size_t)h * hs;
            for (int c = 0; c < hs; c++) o[c] = 0.0f;
            for (int s = 0; s <= t; s++) {
                const float a = p[s] * iz, *v = kv + (size_t)s * 2 * C + C + (size_t)h * hs;
#pragma omp simd
                for (int c = 0; c < hs; c++) o[c] += a * v[c];
            }
        }
    }
}

fr_status fr_seq_server_state(const fr_seq_server *s, fr_seq_scratch *w, const int32_t *hist, int n_hist, float *out,
                              char *err, size_t errcap) {
    const fr_seq_config *cf = &s->cfg;
    const int T = cf->max_len, C = cf->d, N = cf->n_items, L = cf->n_layers, NH = cf->n_heads;
    if (w->T != T || w->C != C || w->F != cf->d_ff)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: scratch made for another model");
    int k = T;
    for (int i = n_hist - 1; i >= 0 && k > 0; i--) /* newest first, into the right end */
        if (hist[i] >= 0 && hist[i] < N) w->rows[--k] = hist[i];
    if (k == T) return fr_fail(FR_ERR_NOT_FOUND, err, errcap, "seqmodel: no history item is known to the model");
    const int n = T - k;
    const int32_t *rows = w->rows + k;
    for (int t = 0; t < n; t++) {
        const float *v = s->V + (size_t)rows[t] * C, *p = s->pos + (size_t)(k + t) * C;
        float *x = w->x + (size_t)t * C;
#pragma omp simd
        for (int c = 0; c < C; c++) x[c] = v[c] + p[c];
    }
    for (int l = 0; l < L; l++) {
        const serve_block *b = &s->blk[l];
        /* the last block needs its query, and everything after attention, at the newest row only */
        const int nq = l == L - 1 ? 1 : n, q0 = n - nq;
        layernorm_rows(w->ln, w->x, b->ln1w, b->ln1b, n, C);
        fr_cpu_linear_packed(w->ln, b->wkv, b->kvb, n, FR_ACT_NONE, w->kv);
        fr_cpu_linear_packed(w->ln + (size_t)q0 * C, b->wq, b->qb, nq, FR_ACT_NONE, w->q);
        attention_rows(w->y, w->q, w->kv, n, nq, C, NH, w->p);
        fr_cpu_linear_packed(w->y, b->wo, b->ob, nq, FR_ACT_NONE, w->h);
        float *x = w->x + (size_t)q0 * C; /* the rows that continue: h = x + attention branch */
        for (size_t e = 0; e < (size_t)nq * C; e++) w->h[e] += x[e];
        layernorm_rows(w->ln, w->h, b->ln2w, b->ln2b, nq, C);
        fr_cpu_linear_packed(w->ln, b->w1, b->b1, nq, FR_ACT_GELU, w->ff);
        fr_cpu_linear_packed(w->ff, b->w2, b->b2, nq, FR_ACT_NONE, w->y);
        for (size_t e = 0; e < (size_t)nq * C; e++) w->x[e] = w->h[e] + w->y[e]; /* the stream, rows 0..nq-1 */
    }
    layernorm_rows(out, w->x, s->lnfw, s->lnfb, 1, C);
    return FR_OK;
}

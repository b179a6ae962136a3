/* test_ops.c - every op of a backend against the plain-loop reference (kernels/cpu/reference.c),
 * at several shapes (odd sizes, one token, one sequence, 512 tokens, empty sequences), with a
 * per-op bound on the relative L2 error. Outputs are poisoned with NaN before each op, so an
 * element the op fails to write fails the test.
 *   test_ops           the CPU backend in fp32 (bound 1e-5; and its BLAS / portable product
 *                      path) and, where the CPU has AVX-512 BF16 / FP16, in bf16 / fp16:
 *                      products within 1e-2 (bf16) / 3e-3 (fp16) of the fp32 reference and (bf16) within 2e-5 of the
 *                      reference on bf16-rounded operands (so a layout or tail error cannot hide
 *                      in the rounding), every other op at 1e-5; elsewhere, that the precision
 *                      is refused with a clear error
 *   test_ops cuda      the CUDA backend in fp32 (bound 1e-4), fp16 and bf16 (2e-2 for the
 *                      products, 1e-4 for the fp32 ops), plus chains that pass fp16/bf16 operands
 *                      from op to op; `test_ops cuda fp16` runs one precision. Exits 77 (ctest: "Skipped") when no CUDA device is usable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_kernels.h"
#include "cpu/reference.h"
#include "ops.h"
#include "test_util.h"

/* relative L2 error ||a - b|| / max(||b||, 1e-20) */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        d += e * e;
        r += (double)b[i] * b[i];
        if (isnan(a[i]) != isnan(b[i])) return INFINITY;
    }
    return sqrt(d) / (sqrt(r) > 1e-20 ? sqrt(r) : 1e-20);
}

typedef struct {
    fr_backend *be;
    double bound[FR_OP_COUNT];
} target;

/* backend buffer helpers */
static void *up(fr_backend *be, const void *host, size_t bytes);

/* a backend buffer of n floats filled with NaN (an output to be written) */
static float *poisoned(fr_backend *be, size_t n) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    float *d = up(be, h, sizeof(float) * n);
    free(h);
    return d;
}

static void *up(fr_backend *be, const void *host, size_t bytes) {
    void *d = NULL;
    char err[256];
    if (be->alloc(be, bytes ? bytes : 4, &d, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    if (bytes && be->upload(be, d, host, bytes, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return d;
}

static void down(fr_backend *be, void *host, const void *dev, size_t bytes) {
    char err[256];
    if (bytes && be->download(be, host, dev, bytes, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
}

static float *rnd(size_t n, uint64_t *seed, float scale) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    fr_test_fill(x, n, seed, scale);
    return x;
}

static void report(const target *t, fr_op op, const char *shape, double e) {
    int ok = e <= t->bound[op];
    printf("  %-5s %-14s %-26s rel err %.2e %s\n", t->be->name, fr_op_name(op), shape, e, ok ? "ok" : "FAIL");
    CHECK(ok, "%s %s %s: rel err %.3e > %.1e", t->be->name, fr_op_name(op), shape, e, t->bound[op]);
}

static void test_linear(const target *t, uint64_t *seed) {
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 384, 384}, {33, 1536, 384}, {64, 384, 1536}, {2, 1152, 384}, {200, 50, 33}, {129, 1152, 384}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int act = 0; act < 2; act++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                float *x = rnd((size_t)M * K, seed, 1), *W = rnd((size_t)N * K, seed, 0.1f), *b = rnd(N, seed, 1);
                float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
                fr_ref_linear(x, W, with_bias ? b : NULL, M, N, K, (fr_activation)act, want);
                char err[256];
                fr_weight *dW = NULL;
                CHECK(t->be->weight_create(t->be, W, N, K, &dW, err, sizeof err) == FR_OK, "weight_create: %s", err);
                float *dx = up(t->be, x, sizeof(float) * M * K), *db = up(t->be, b, sizeof(float) * N);
                float *dy = poisoned(t->be, (size_t)M * N);
                fr_status rc = t->be->linear(t->be, dx, dW, with_bias ? db : NULL, M, N, K, (fr_activation)act, dy, err, sizeof err);
                CHECK(rc == FR_OK, "linear: %s", err);
                memset(got, 0, sizeof(float) * M * N);
                down(t->be, got, dy, sizeof(float) * M * N);
                char shape[64];
                snprintf(shape, sizeof shape, "%dx%dx%d%s%s", M, N, K, act ? " gelu" : "", with_bias ? " +b" : "");
                report(t, FR_OP_LINEAR, shape, rel_err(got, want, (size_t)M * N));
                void *all[] = {dx, db, dy};
                for (int i = 0; i < 3; i++) t->be->free(t->be, all[i]);
                t->be->weight_free(t->be, dW);
                free(x);
                free(W);
                free(b);
                free(want);
                free(got);
            }
}

static void test_norms(const target *t, uint64_t *seed) {
    int shapes[][2] = {{1, 8}, {9, 384}, {130, 768}};
    for (size_t s = 0; s < 3; s++) {
        int T = shapes[s][0], H = shapes[s][1], V = 50, P = 512;
        float *word = rnd((size_t)V * H, seed, 1), *pos = rnd((size_t)P * H, seed, 1), *type0 = rnd(H, seed, 1);
        float *g = rnd(H, seed, 1), *b = rnd(H, seed, 1), *x = rnd((size_t)T * H, seed, 3), *add = rnd((size_t)T * H, seed, 3);
        int32_t *ids = malloc(4 * T), *positions = malloc(4 * T);
        for (int i = 0; i < T; i++) {
            ids[i] = (i * 7 + 3) % V;
            positions[i] = (i * 5) % P;
        }
        float *want = malloc(sizeof(float) * T * H), *got = malloc(sizeof(float) * T * H);
        char err[256], shape[64];
        snprintf(shape, sizeof shape, "T%d H%d", T, H);
        /* embed */
        fr_ref_embed(ids, positions, T, H, word, pos, type0, g, b, 1e-12f, want);
        void *d[] = {up(t->be, ids, 4 * T), up(t->be, positions, 4 * T), up(t->be, word, sizeof(float) * V * H),
                     up(t->be, pos, sizeof(float) * P * H), up(t->be, type0, sizeof(float) * H), up(t->be, g, sizeof(float) * H),
                     up(t->be, b, sizeof(float) * H), poisoned(t->be, (size_t)T * H), up(t->be, add, sizeof(float) * T * H)};
        CHECK(t->be->embed(t->be, d[0], d[1], T, H, d[2], d[3], d[4], d[5], d[6], 1e-12f, d[7], err, sizeof err) == FR_OK, "embed: %s", err);
        down(t->be, got, d[7], sizeof(float) * T * H);
        report(t, FR_OP_EMBED, shape, rel_err(got, want, (size_t)T * H));
        /* add + layernorm, in place on x */
        memcpy(want, x, sizeof(float) * T * H);
        fr_ref_add_layernorm(want, add, g, b, T, H, 1e-5f);
        t->be->upload(t->be, d[7], x, sizeof(float) * T * H, err, sizeof err);
        CHECK(t->be->add_layernorm(t->be, d[7], d[8], d[5], d[6], T, H, 1e-5f, err, sizeof err) == FR_OK, "add_layernorm: %s", err);
        down(t->be, got, d[7], sizeof(float) * T * H);
        report(t, FR_OP_ADD_LAYERNORM, shape, rel_err(got, want, (size_t)T * H));
        for (int i = 0; i < 9; i++) t->be->free(t->be, d[i]);
        free(word);
        free(pos);
        free(type0);
        free(g);
        free(b);
        free(x);
        free(add);
        free(ids);
        free(positions);
        free(want);
        free(got);
    }
}

static void test_attention_and_pool(const target *t, uint64_t *seed) {
    struct {
        int H, NH, B;
        int lens[4];
    } cases[] = {
        {384, 12, 1, {1}}, {384, 12, 3, {1, 2, 3}}, {384, 12, 3, {16, 5, 64}}, {32, 4, 2, {300, 2}}, {768, 12, 1, {512}}, {64, 8, 3, {7, 0, 9}}, /* an empty sequence in the middle */
        {384, 12, 3, {130, 65, 1}},
        {1024, 8, 2, {200, 129}}, /* longer than one 64/128-query tile; head size 128 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int H = cases[c].H, NH = cases[c].NH, B = cases[c].B, max_len = 0;
        int32_t off[5] = {0};
        for (int b = 0; b < B; b++) {
            off[b + 1] = off[b] + cases[c].lens[b];
            if (cases[c].lens[b] > max_len) max_len = cases[c].lens[b];
        }
        int T = off[B];
        float *qkv = rnd((size_t)T * 3 * H, seed, 2);
        float *want = calloc((size_t)T * H + 1, sizeof(float)), *got = calloc((size_t)T * H + 1, sizeof(float));
        char err[256], shape[64];
        snprintf(shape, sizeof shape, "H%d NH%d lens", H, NH);
        for (int b = 0; b < B; b++) snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", b ? "," : " ", cases[c].lens[b]);
        fr_ref_attention(qkv, off, B, H, NH, want);
        float *dqkv = up(t->be, qkv, sizeof(float) * T * 3 * H), *dout = poisoned(t->be, (size_t)T * H + 1);
        int32_t *doff = up(t->be, off, sizeof(int32_t) * (B + 1));
        CHECK(t->be->attention(t->be, dqkv, doff, B, max_len, H, NH, dout, err, sizeof err) == FR_OK, "attention: %s", err);
        down(t->be, got, dout, sizeof(float) * T * H);
        report(t, FR_OP_ATTENTION, shape, rel_err(got, want, (size_t)T * H));
        /* pooling over the same batch: the reference attention output as input on both sides, so
         * the bound measures the pool alone (fp32 in every precision mode) */
        float *dref = up(t->be, want, sizeof(float) * (T * H + 1));
        for (int mode = 0; mode < 2; mode++)
            for (int norm = 0; norm < 2; norm++) {
                float *pw = malloc(sizeof(float) * B * H), *pg = malloc(sizeof(float) * B * H);
                fr_ref_pool(want, off, B, H, (fr_pooling)mode, norm, pw);
                float *dp = poisoned(t->be, (size_t)B * H);
                CHECK(t->be->pool(t->be, dref, doff, B, H, (fr_pooling)mode, norm, dp, err, sizeof err) == FR_OK, "pool: %s", err);
                down(t->be, pg, dp, sizeof(float) * B * H);
                char ps[96];
                snprintf(ps, sizeof ps, "%s %s%s", shape + 0, mode ? "cls" : "mean", norm ? " l2" : "");
                report(t, FR_OP_POOL, ps, rel_err(pg, pw, (size_t)B * H));
                t->be->free(t->be, dp);
                free(pw);
                free(pg);
            }
        t->be->free(t->be, dqkv);
        t->be->free(t->be, dout);
        t->be->free(t->be, doff);
        t->be->free(t->be, dref);
        free(qkv);
        free(want);
        free(got);
    }
}

static void test_score(const target *t, uint64_t *seed) {
    int shapes[][3] = {{1, 1, 384}, {1, 1000, 384}, {3, 517, 7}, {2, 20000, 384}};
    for (size_t s = 0; s < 4; s++)
        for (int gather = 0; gather < 2; gather++) {
            int Q = shapes[s][0], N = shapes[s][1], D = shapes[s][2], rowsN = N + 13;
            float *q = rnd((size_t)Q * D, seed, 1), *items = rnd((size_t)rowsN * D, seed, 1);
            int32_t *rows = malloc(4 * N);
            for (int i = 0; i < N; i++) rows[i] = (int32_t)((i * 7919L + 11) % rowsN);
            float *want = malloc(sizeof(float) * Q * N), *got = malloc(sizeof(float) * Q * N);
            fr_ref_score(q, Q, items, gather ? rows : NULL, N, D, want);
            float *dq = up(t->be, q, sizeof(float) * Q * D), *di = up(t->be, items, sizeof(float) * rowsN * D);
            int32_t *dr = up(t->be, rows, 4 * N);
            float *ds = poisoned(t->be, (size_t)Q * N);
            char err[256], shape[64];
            CHECK(t->be->score(t->be, dq, Q, di, gather ? dr : NULL, N, D, ds, err, sizeof err) == FR_OK, "score: %s", err);
            down(t->be, got, ds, sizeof(float) * Q * N);
            snprintf(shape, sizeof shape, "Q%d N%d D%d%s", Q, N, D, gather ? " gather" : "");
            report(t, FR_OP_SCORE, shape, rel_err(got, want, (size_t)Q * N));
            t->be->free(t->be, dq);
            t->be->free(t->be, di);
            t->be->free(t->be, dr);
            t->be->free(t->be, ds);
            free(q);
            free(items);
            free(rows);
            free(want);
            free(got);
        }
}

/* The OpenBLAS path (fr_cpu_linear) serves CPUs without AVX-512; test it here too, since on an
 * AVX-512 machine the backend never takes it. */
static void test_blas_fallback(uint64_t *seed) {
    int shapes[][3] = {{1, 7, 5}, {16, 1152, 384}, {32, 384, 1536}, {64, 1536, 384}, {300, 384, 384}};
    for (size_t s = 0; s < 5; s++)
        for (int act = 0; act < 2; act++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *x = rnd((size_t)M * K, seed, 1), *W = rnd((size_t)N * K, seed, 0.1f), *b = rnd(N, seed, 1);
            float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
            fr_ref_linear(x, W, b, M, N, K, (fr_activation)act, want);
            fr_cpu_linear(x, W, b, M, N, K, (fr_activation)act, got);
            double e = rel_err(got, want, (size_t)M * N);
            printf("  blas  linear         %dx%dx%d%s rel err %.2e %s\n", M, N, K, act ? " gelu" : "", e, e <= 1e-5 ? "ok" : "FAIL");
            CHECK(e <= 1e-5, "blas fallback linear %dx%dx%d: %.3e", M, N, K, e);
            free(x);
            free(W);
            free(b);
            free(want);
            free(got);
        }
}

/* top-k and full sort: best first, ties by lower index */
static void test_topk(const target *t, uint64_t *seed) {
    int shapes[][2] = {{1, 1}, {7, 3}, {1000, 10}, {1000, 1000}, {100003, 100}};
    for (size_t s = 0; s < 5; s++) {
        int N = shapes[s][0], k = shapes[s][1];
        float *x = rnd((size_t)N, seed, 1);
        for (int i = 0; i < N; i += 7) x[i] = 0.25f; /* ties */
        int32_t *want = malloc(4 * (size_t)k), *got = malloc(4 * (size_t)k);
        float *wv = malloc(4 * (size_t)k), *gv = malloc(4 * (size_t)k);
        /* reference: selection by repeated scan */
        char *taken = calloc((size_t)N, 1);
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < N; i++)
                if (!taken[i] && (best < 0 || x[i] > x[best])) best = i;
            taken[best] = 1;
            want[j] = best;
            wv[j] = x[best];
        }
        float *dx = up(t->be, x, 4 * (size_t)N), *dv = poisoned(t->be, (size_t)k);
        int32_t *di = (int32_t *)poisoned(t->be, (size_t)k);
        char err[256];
        CHECK(t->be->topk(t->be, dx, N, k, di, dv, err, sizeof err) == FR_OK, "topk: %s", err);
        down(t->be, got, di, 4 * (size_t)k);
        down(t->be, gv, dv, 4 * (size_t)k);
        int same = memcmp(got, want, 4 * (size_t)k) == 0 && memcmp(gv, wv, 4 * (size_t)k) == 0;
        printf("  %-5s %-14s N%d k%d %s\n", t->be->name, "topk", N, k, same ? "ok" : "FAIL");
        CHECK(same, "%s topk N%d k%d differs from the reference order", t->be->name, N, k);
        CHECK(t->be->topk(t->be, dx, N, N + 1, di, dv, err, sizeof err) == FR_ERR_ARG, "topk k > N accepted");
        t->be->free(t->be, dx);
        t->be->free(t->be, dv);
        t->be->free(t->be, di);
        free(x);
        free(want);
        free(got);
        free(wv);
        free(gv);
        free(taken);
    }
}

/* Ops chained as the encoder chains them, after reserve(): on CUDA in fp16/bf16 the product reads
 * the rounded copy the previous op left (no conversion pass); the result must still match. */
static void test_chains(const target *t, uint64_t *seed) {
    if (!t->be->reserve) return;
    const int H = 384, NH = 12, I = 1536, V = 64, P = 512;
    int32_t off[4] = {0, 5, 5, 133};
    const int B = 3, T = off[B], max_len = 128;
    fr_workload w = {.max_tokens = 256, .max_seqs = 8, .max_len = 512, .hidden = H, .heads = NH, .intermediate = I, .max_candidates = 1000};
    char err[256];
    CHECK(t->be->reserve(t->be, &w, err, sizeof err) == FR_OK, "reserve: %s", err);
    float *word = rnd((size_t)V * H, seed, 1), *pos = rnd((size_t)P * H, seed, 1), *type0 = rnd(H, seed, 1);
    float *g = rnd(H, seed, 1), *b = rnd(H, seed, 1), *W = rnd((size_t)I * H, seed, 0.1f), *bias = rnd(I, seed, 1);
    float *W2 = rnd((size_t)H * I, seed, 0.05f), *qkv = rnd((size_t)T * 3 * H, seed, 2);
    int32_t ids[133], positions[133];
    for (int i = 0; i < T; i++) {
        ids[i] = (i * 11 + 1) % V;
        positions[i] = i % 128;
    }
    /* reference chain: x = embed; h = gelu(x W^T + bias); y = h W2^T; a = attention(qkv); z = a W2'^T */
    float *x = malloc(sizeof(float) * T * H), *h = malloc(sizeof(float) * T * I), *y = malloc(sizeof(float) * T * H);
    float *a = malloc(sizeof(float) * T * H), *z = malloc(sizeof(float) * T * I), *got = malloc(sizeof(float) * T * I);
    fr_ref_embed(ids, positions, T, H, word, pos, type0, g, b, 1e-12f, x);
    fr_ref_linear(x, W, bias, T, I, H, FR_ACT_GELU, h);
    fr_ref_linear(h, W2, NULL, T, H, I, FR_ACT_NONE, y);
    fr_ref_attention(qkv, off, B, H, NH, a);
    fr_ref_linear(a, W, NULL, T, I, H, FR_ACT_NONE, z);
    fr_weight *dW, *dW2;
    CHECK(t->be->weight_create(t->be, W, I, H, &dW, err, sizeof err) == FR_OK, "weight: %s", err);
    CHECK(t->be->weight_create(t->be, W2, H, I, &dW2, err, sizeof err) == FR_OK, "weight: %s", err);
    void *d_ids = up(t->be, ids, 4 * T), *d_pos = up(t->be, positions, 4 * T), *d_off = up(t->be, off, 4 * (B + 1));
    float *d_word = up(t->be, word, 4 * V * H), *d_posw = up(t->be, pos, 4 * P * H), *d_t0 = up(t->be, type0, 4 * H);
    float *d_g = up(t->be, g, 4 * H), *d_b = up(t->be, b, 4 * H), *d_bias = up(t->be, bias, 4 * I);
    float *d_qkv = up(t->be, qkv, 4 * T * 3 * H);
    float *d_x = poisoned(t->be, (size_t)T * H), *d_h = poisoned(t->be, (size_t)T * I), *d_y = poisoned(t->be, (size_t)T * H);
    float *d_a = poisoned(t->be, (size_t)T * H), *d_z = poisoned(t->be, (size_t)T * I);
    CHECK(t->be->embed(t->be, d_ids, d_pos, T, H, d_word, d_posw, d_t0, d_g, d_b, 1e-12f, d_x, err, sizeof err) == FR_OK, "%s", err);
    CHECK(t->be->linear(t->be, d_x, dW, d_bias, T, I, H, FR_ACT_GELU, d_h, err, sizeof err) == FR_OK, "%s", err);
    CHECK(t->be->linear(t->be, d_h, dW2, NULL, T, H, I, FR_ACT_NONE, d_y, err, sizeof err) == FR_OK, "%s", err);
    CHECK(t->be->attention(t->be, d_qkv, d_off, B, max_len, H, NH, d_a, err, sizeof err) == FR_OK, "%s", err);
    CHECK(t->be->linear(t->be, d_a, dW, NULL, T, I, H, FR_ACT_NONE, d_z, err, sizeof err) == FR_OK, "%s", err);
    down(t->be, got, d_h, sizeof(float) * T * I);
    report(t, FR_OP_LINEAR, "chain embed>gelu", rel_err(got, h, (size_t)T * I));
    down(t->be, got, d_y, sizeof(float) * T * H);
    report(t, FR_OP_LINEAR, "chain gelu>linear", rel_err(got, y, (size_t)T * H));
    down(t->be, got, d_z, sizeof(float) * T * I);
    report(t, FR_OP_LINEAR, "chain attn>linear", rel_err(got, z, (size_t)T * I));
    void *all[] = {d_ids, d_pos, d_off, d_word, d_posw, d_t0, d_g, d_b, d_bias, d_qkv, d_x, d_h, d_y, d_a, d_z};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) t->be->free(t->be, all[i]);
    t->be->weight_free(t->be, dW);
    t->be->weight_free(t->be, dW2);
    free(word);
    free(pos);
    free(type0);
    free(g);
    free(b);
    free(W);
    free(bias);
    free(W2);
    free(qkv);
    free(x);
    free(h);
    free(y);
    free(a);
    free(z);
    free(got);
}

/* x rounded to bf16 (nearest even), as the bf16 products round their operands */
static float bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* The bf16 products against the reference on bf16-rounded x and W: only the fp32 summation
 * order differs, so any misplaced element (pair layout, padding of odd K, the last partial
 * panel of N, row tails) shows far above the bound. Odd shapes and every tail. */
static void test_linear_bf16_exactness(fr_backend *be, uint64_t *seed) {
    int shapes[][3] = {{1, 1, 1}, {1, 33, 3}, {7, 31, 17}, {9, 65, 383}, {16, 384, 384}, {33, 1536, 384}, {130, 384, 1536}, {257, 47, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int act = 0; act < 2; act++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *x = rnd((size_t)M * K, seed, 1), *W = rnd((size_t)N * K, seed, 0.1f), *b = rnd(N, seed, 1);
            float *xr = malloc(sizeof(float) * M * K), *Wr = malloc(sizeof(float) * N * K);
            for (int i = 0; i < M * K; i++) xr[i] = bf16_round(x[i]);
            for (int i = 0; i < N * K; i++) Wr[i] = bf16_round(W[i]);
            float *want = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
            fr_ref_linear(xr, Wr, b, M, N, K, (fr_activation)act, want);
            char err[256];
            fr_weight *dW = NULL;
            CHECK(be->weight_create(be, W, N, K, &dW, err, sizeof err) == FR_OK, "weight_create: %s", err);
            float *dy = poisoned(be, (size_t)M * N);
            CHECK(be->linear(be, x, dW, b, M, N, K, (fr_activation)act, dy, err, sizeof err) == FR_OK, "linear: %s", err);
            down(be, got, dy, sizeof(float) * M * N);
            double e = rel_err(got, want, (size_t)M * N);
            printf("  cpu   linear bf16 vs rounded-operand ref %dx%dx%d%s rel err %.2e %s\n", M, N, K, act ? " gelu" : "", e,
                   e <= 2e-5 ? "ok" : "FAIL");
            CHECK(e <= 2e-5, "bf16 linear %dx%dx%d%s vs the reference on rounded operands: %.3e", M, N, K, act ? " gelu" : "", e);
            be->free(be, dy);
            be->weight_free(be, dW);
            free(x);
            free(W);
            free(b);
            free(xr);
            free(Wr);
            free(want);
            free(got);
        }
}

static void run_backend(target *t) {
    for (int op = 0; op < FR_OP_COUNT; op++)
        CHECK(fr_backend_supports(t->be, (fr_op)op), "%s lacks op %s", t->be->name, fr_op_name((fr_op)op));
    printf("%s (%s):\n", t->be->name, fr_precision_name(t->be->precision));
    uint64_t seed = 42;
    test_linear(t, &seed);
    test_norms(t, &seed);
    test_attention_and_pool(t, &seed);
    test_score(t, &seed);
    test_topk(t, &seed);
    test_chains(t, &seed);
}

int main(int argc, char **argv) {
    char err[512];
    if (argc > 1 && strcmp(argv[1], "cuda") == 0) {
        const fr_precision precs[3] = {FR_PREC_FP32, FR_PREC_FP16, FR_PREC_BF16};
        for (int p = 0; p < 3; p++) {
            if (argc > 2 && strcmp(argv[2], fr_precision_name(precs[p])) != 0) continue; /* test_ops cuda fp16 */
            fr_backend *cuda = NULL;
            fr_status rc = fr_backend_cuda_create(0, precs[p], &cuda, err, sizeof err);
            if (rc != FR_OK) {
                printf("test_ops cuda: skipped: %s: %s\n", rc == FR_ERR_UNSUPPORTED ? "not built or unsupported device" : "no CUDA device", err);
                return 77;
            }
            target tg = {cuda, {0}};
            for (int op = 0; op < FR_OP_COUNT; op++) tg.bound[op] = 1e-4;
            if (precs[p] != FR_PREC_FP32) tg.bound[FR_OP_LINEAR] = tg.bound[FR_OP_ATTENTION] = 2e-2;
            run_backend(&tg);
            fr_backend_destroy(cuda);
        }
        return fr_test_finish("test_ops cuda");
    }
    fr_backend *cpu;
    CHECK(fr_backend_cpu_create(0, &cpu, err, sizeof err) == FR_OK, "cpu backend: %s", err);
    uint64_t fseed = 7;
    test_blas_fallback(&fseed);
    target tc = {cpu, {0}};
    for (int op = 0; op < FR_OP_COUNT; op++) tc.bound[op] = 1e-5;
    run_backend(&tc);
    fr_backend_destroy(cpu);

    /* precision selection on the CPU */
    fr_backend *x = NULL;
    CHECK(fr_backend_open("cpu", FR_PREC_DEFAULT, &x, err, sizeof err) == FR_OK && x->precision == FR_PREC_FP32,
          "cpu default is not fp32 (the exact mode)");
    fr_backend_destroy(x);
    fr_precision want_auto = fr_cpu_fp16_available() ? FR_PREC_FP16 : fr_cpu_bf16_available() ? FR_PREC_BF16
                                                                                              : FR_PREC_FP32;
    x = NULL;
    fr_status arc = fr_backend_open("cpu", FR_PREC_AUTO, &x, err, sizeof err); /* before CHECK's arguments read x */
    CHECK(arc == FR_OK && x->precision == want_auto, "cpu auto chose %s, expected %s", x ? fr_precision_name(x->precision) : err,
          fr_precision_name(want_auto));
    fr_backend_destroy(x);
    fr_precision parsed;
    CHECK(fr_precision_parse("auto", &parsed, err, sizeof err) == FR_OK && parsed == FR_PREC_AUTO, "parse auto");
    CHECK(fr_precision_parse("fp8", &parsed, err, sizeof err) == FR_ERR_ARG && strstr(err, "fp8"), "parse fp8: %s", err);
    CHECK(fr_backend_open("gpu", FR_PREC_DEFAULT, &x, err, sizeof err) == FR_ERR_ARG, "unknown device accepted");

    for (int hp = 0; hp < 2; hp++) {
        fr_precision prec = hp ? FR_PREC_FP16 : FR_PREC_BF16;
        int have = hp ? fr_cpu_fp16_available() : fr_cpu_bf16_available();
        const char *feature = hp ? "AVX-512 FP16" : "AVX-512 BF16";
        fr_status rc = fr_backend_cpu_open(0, prec, &x, err, sizeof err);
        if (!have) {
            CHECK(rc == FR_ERR_UNSUPPORTED && strstr(err, feature) && !x, "%s without %s: %s", fr_precision_name(prec), feature, err);
            printf("cpu (%s): this CPU has no %s; refused as expected: %s\n", fr_precision_name(prec), feature, err);
            continue;
        }
        CHECK(rc == FR_OK && x->precision == prec, "cpu %s: %s", fr_precision_name(prec), err);
        if (rc != FR_OK) continue;
        target tb = {x, {0}};
        for (int op = 0; op < FR_OP_COUNT; op++) tb.bound[op] = 1e-5;
        tb.bound[FR_OP_LINEAR] = prec == FR_PREC_FP16 ? 3e-3 : 1e-2; /* measured: ~1e-3 / ~2.5e-3 */
        run_backend(&tb);
        if (prec == FR_PREC_BF16) {
            uint64_t bseed = 11;
            test_linear_bf16_exactness(x, &bseed);
        }
        fr_backend_destroy(x);
    }
    return fr_test_finish("test_ops");
}

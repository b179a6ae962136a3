/* test_seqmodel_cuda.c - the CUDA trainer (kernels/seq_train_cuda.h, kernels/cuda/seq_train.cu) against
 * the plain-C reference (src/seqmodel.c) on the same parameters and batches:
 *  - forward: the loss (relative error <= 1e-4) and every position's user state (<= 1e-4 of the
 *    largest state value), without and with dropout (the masks are the same hash on both);
 *  - backward, op by op through the gradient tensors each op produces: E, Wp, bp (item vectors
 *    and the candidates' scatter), pos (embedding), ln*_w/b (LayerNorm backward), qkv_w/b
 *    (attention backward and its product), attproj_*, fc_* (GELU backward), fcproj_*, lnf_* (the
 *    sampled-softmax backward into the states): each tensor's max |cuda - cpu| <= 1e-3 of its
 *    largest |cpu| value (a normalised error, as ggml's test-backend-ops uses);
 *  - 6 full training steps (forward, backward, clipping, AdamW with weight decay): the loss and
 *    gradient norm of every step within 1e-3 relative, and at most 0.1% of the final parameters
 *    more than 1e-4 apart (AdamW normalises each element, so a gradient that is ~0 by cancellation
 *    becomes a step of +-lr whose sign is rounding; such elements are allowed, a wrong op is not).
 * Exits 77 (ctest: Skipped) when no CUDA device is usable; a CUDA machine must pass. Not run on
 * the development VM (no GPU): first run with bench/run_seq_gpu.sh on a lent H200. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqmodel.h"
#include "seq_train_cuda.h"
#include "test_util.h"

enum { N = 211,
       C = 32,
       T = 12,
       L = 2,
       NH = 2,
       DT = 24,
       FF = 64,
       B = 6,
       K = 40 };

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}
static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* a batch with left padding, a full row, positions without targets, repeated items and
 * negatives that repeat each other and a target */
static void make_batch(int32_t *items, int32_t *targets, int32_t *negs, uint64_t *seed) {
    for (int b = 0; b < B; b++) {
        const int len = b == 0 ? T : 1 + (b * 5) % T;
        for (int t = 0; t < T; t++) {
            const int r = b * T + t;
            if (t < T - len) {
                items[r] = targets[r] = FR_SEQ_PAD;
                continue;
            }
            *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
            items[r] = (int32_t)((*seed >> 33) % 60); /* few distinct items: repeats in and across rows */
            targets[r] = (int32_t)((*seed >> 13) % N);
            if ((*seed >> 7) % 7 == 0) targets[r] = -1;
        }
    }
    for (int j = 0; j < K; j++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        negs[j] = (int32_t)((*seed >> 33) % N);
    }
    negs[3] = negs[5];
    negs[7] = targets[T - 1];
}

static void compare_step(fr_seq_model *m, fr_seq_cuda *g, const fr_seq_batch *b, const char *what) {
    char err[512];
    float lc = 0, lg = 0;
    fr_seq_zero_grad(m);
    CHECK(fr_seq_forward(m, b, &lc, err, sizeof err) == FR_OK, "cpu forward: %s", err);
    CHECK(fr_seq_backward(m, err, sizeof err) == FR_OK, "cpu backward: %s", err);
    CHECK(fr_seq_cuda_zero_grad(g, err, sizeof err) == FR_OK && fr_seq_cuda_forward(g, b, &lg, err, sizeof err) == FR_OK,
          "cuda forward: %s", err);
    CHECK(fabs((double)lg - lc) <= 1e-4 * fabs((double)lc), "%s: loss cuda %.7g cpu %.7g", what, lg, lc);
    const size_t ns = (size_t)B * T * C;
    float *st = malloc(ns * sizeof *st);
    CHECK(fr_seq_cuda_states(g, st, err, sizeof err) == FR_OK, "%s", err);
    const double sd = max_diff(st, fr_seq_states(m), ns), sm = max_abs(fr_seq_states(m), ns);
    CHECK(sd <= 1e-4 * sm, "%s: states max diff %.3g of %.3g", what, sd, sm);
    free(st);
    CHECK(fr_seq_cuda_backward(g, err, sizeof err) == FR_OK, "cuda backward: %s", err);
    const size_t np = fr_seq_num_params(m);
    float *gg = malloc(np * sizeof *gg);
    CHECK(fr_seq_cuda_grads(g, gg, err, sizeof err) == FR_OK, "%s", err);
    const fr_seq_tensor *lay = fr_seq_layout_of(m);
    const float *gc = fr_seq_grads(m);
    for (int t = 0; t < FR_SEQ_NTENSORS; t++) {
        const double d = max_diff(gg + lay[t].offset, gc + lay[t].offset, lay[t].count);
        const double mx = max_abs(gc + lay[t].offset, lay[t].count);
        CHECK(d <= 1e-3 * mx + 1e-7, "%s: d loss / d %s: max diff %.3g of %.3g (normalised %.2g)", what, lay[t].name, d, mx,
              mx > 0 ? d / mx : d);
    }
    free(gg);
}

int main(void) {
    char err[512];
    fr_seq_config cfg = {.n_items = N, .d = C, .max_len = T, .n_layers = L, .n_heads = NH, .d_text = DT, .d_ff = FF, .dropout = 0.2f};
    uint64_t seed = 12345;
    float *text = malloc((size_t)N * DT * sizeof *text);
    fr_test_fill(text, (size_t)N * DT, &seed, 1.0f);
    fr_seq_cuda *g = NULL;
    fr_status rc = fr_seq_cuda_create(&cfg, B, K, text, &g, err, sizeof err);
    if (rc == FR_ERR_UNSUPPORTED) {
        printf("test_seqmodel_cuda: skipped: %s\n", err);
        free(text);
        return 77;
    }
    CHECK(rc == FR_OK, "create: %s", err);
    fr_seq_model *m = NULL;
    CHECK(fr_seq_create(&cfg, B, K, &m, err, sizeof err) == FR_OK, "%s", err);
    if (!g || !m) {
        fr_seq_cuda_free(g);
        fr_seq_free(m);
        free(text);
        return fr_test_finish("test_seqmodel_cuda");
    }
    fr_seq_init_params(m, 9);
    /* a larger spread than N(0, 0.02) and LayerNorm gains away from 1, so every path carries a
     * visible gradient */
    float *P = fr_seq_params(m);
    for (size_t i = 0; i < fr_seq_num_params(m); i++) P[i] = P[i] == 1.0f ? 1.0f + 0.1f * (float)(i % 7) : P[i] * 10.0f;
    CHECK(fr_seq_cuda_upload(g, P, NULL, NULL, 0, err, sizeof err) == FR_OK, "%s", err);

    int32_t items[B * T], targets[B * T], negs[K];
    make_batch(items, targets, negs, &seed);
    fr_seq_batch b = {.B = B, .items = items, .targets = targets, .negatives = negs, .n_neg = K, .text = text, .train = 0, .dropout_seed = 77};
    compare_step(m, g, &b, "no dropout");
    b.train = 1;
    compare_step(m, g, &b, "dropout 0.2");
    /* a smaller batch than the buffers (B = 2), forward only */
    {
        fr_seq_batch f = {.B = 2, .items = items, .text = text};
        float lc, lg;
        CHECK(fr_seq_forward(m, &f, &lc, err, sizeof err) == FR_OK && fr_seq_cuda_forward(g, &f, &lg, err, sizeof err) == FR_OK,
              "forward only: %s", err);
        float st[2 * T * C];
        CHECK(fr_seq_cuda_states(g, st, err, sizeof err) == FR_OK, "%s", err);
        CHECK(max_diff(st, fr_seq_states(m), 2 * T * C) <= 1e-4 * max_abs(fr_seq_states(m), 2 * T * C),
              "forward only, 2 sequences: states agree");
    }
    /* bad input is refused before anything runs */
    items[5] = N;
    float lg;
    CHECK(fr_seq_cuda_forward(g, &b, &lg, err, sizeof err) == FR_ERR_ARG && strstr(err, "not in 0.."), "bad item: %s", err);
    items[5] = FR_SEQ_PAD;
    targets[5] = FR_SEQ_PAD;

    /* full training steps from the same start */
    fr_seq_init_params(m, 9);
    for (size_t i = 0; i < fr_seq_num_params(m); i++) P[i] = P[i] * 10.0f;
    CHECK(fr_seq_cuda_upload(g, P, NULL, NULL, 0, err, sizeof err) == FR_OK, "%s", err);
    fr_seq_adamw o = fr_seq_default_adamw(1e-2f);
    o.weight_decay = 0.01f;
    o.max_grad_norm = 1.0f;
    for (int step = 0; step < 6; step++) {
        b.dropout_seed = 1000 + (uint64_t)step;
        float lc = 0, lgs = 0, nc = 0, ng = 0;
        fr_seq_zero_grad(m);
        CHECK(fr_seq_forward(m, &b, &lc, err, sizeof err) == FR_OK && fr_seq_backward(m, err, sizeof err) == FR_OK &&
                  fr_seq_adamw_step(m, &o, &nc, err, sizeof err) == FR_OK,
              "cpu step: %s", err);
        CHECK(fr_seq_cuda_zero_grad(g, err, sizeof err) == FR_OK && fr_seq_cuda_forward(g, &b, &lgs, err, sizeof err) == FR_OK &&
                  fr_seq_cuda_backward(g, err, sizeof err) == FR_OK && fr_seq_cuda_adamw_step(g, &o, &ng, err, sizeof err) == FR_OK,
              "cuda step: %s", err);
        CHECK(fabs((double)lgs - lc) <= 1e-3 * fabs((double)lc) && fabs((double)ng - nc) <= 1e-3 * nc,
              "step %d: loss cuda %.6g cpu %.6g, grad norm cuda %.6g cpu %.6g", step + 1, lgs, lc, ng, nc);
    }
    float *pg = malloc(fr_seq_num_params(m) * sizeof *pg);
    long tg = 0;
    CHECK(fr_seq_cuda_download(g, pg, NULL, NULL, &tg, err, sizeof err) == FR_OK && tg == fr_seq_adam_steps(m), "%s", err);
    size_t off = 0;
    for (size_t i = 0; i < fr_seq_num_params(m); i++) off += fabs((double)pg[i] - P[i]) > 1e-4;
    CHECK(off <= fr_seq_num_params(m) / 1000, "parameters after 6 AdamW steps: %zu of %zu more than 1e-4 apart (max diff %.3g)",
          off, fr_seq_num_params(m), max_diff(pg, P, fr_seq_num_params(m)));
    free(pg);
    fr_seq_cuda_free(g);
    fr_seq_free(m);
    free(text);
    return fr_test_finish("test_seqmodel_cuda");
}

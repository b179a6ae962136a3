/* test_encoder_cuda.c - end-to-end sentence vectors on the CUDA backend, in fp32 (exact mode) and
 * with fp16 / bf16 matrix-product operands:
 *   - all-MiniLM-L6-v2 against upstream sentence-transformers' vectors: cosine >= 0.9999 in fp32,
 *     >= 0.999 in fp16/bf16 (model and golden from FEEDRANK_CUDA_MODEL / FEEDRANK_CUDA_GOLDEN when
 *     set - the device run carries an fp16 copy of the weights and makes its golden upstream -
 *     else the test model and tests/fixtures/minilm_golden)
 *   - the bge-shaped 12-layer CLS model (tests/fixtures/tiny-bge, F16 and BF16 weight files)
 *   - CUDA against the CPU backend on the same weights, batch invariance across graph buckets,
 *     pre-tokenized input, the longest sequence, and errors instead of a silent CPU fallback.
 * Exits 77 (ctest: "Skipped", listed in the summary) when no CUDA device is usable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "test_util.h"

static const char *precs[3] = {"fp32", "fp16", "bf16"};

static double bound_for(int p) { return p == 0 ? 0.9999 : 0.999; }

static fr_encoder *load(const char *dir, const char *weights, const char *prec) {
    char err[512];
    fr_encoder_options o = {.backend = "cuda", .precision = prec, .weights = weights, .max_batch_tokens = 8192};
    fr_encoder *e = NULL;
    fr_status rc = fr_encoder_load(dir, &o, &e, err, sizeof err);
    CHECK(rc == FR_OK, "load %s on cuda %s: %s", dir, prec, err);
    return rc ? NULL : e;
}

static double min_cosine(const float *a, const float *b, int n, int dim) {
    double worst = 1.0;
    for (int i = 0; i < n; i++) {
        double c = fr_test_cosine(a + (size_t)i * dim, b + (size_t)i * dim, dim);
        if (!(c >= worst)) worst = c; /* NaN lands here too */
    }
    return worst;
}

static void against_golden(fr_encoder *e, const char *golden_prefix, fr_text_kind kind, double bound, const char *what) {
    int dim = fr_encoder_dim(e);
    fr_golden g;
    CHECK(fr_test_load_golden(golden_prefix, dim, &g) == 0, "golden %s", golden_prefix);
    float *got = malloc(sizeof(float) * (size_t)g.n * dim);
    char err[512];
    fr_status rc = fr_encoder_embed(e, (const char *const *)g.texts, g.lens, g.n, kind, got, NULL, err, sizeof err);
    CHECK(rc == FR_OK, "%s: %s", what, err);
    double c = rc ? 0 : min_cosine(got, g.want, g.n, dim);
    printf("  %-44s %4d texts  min cosine %.7f (bound %.4f) %s\n", what, g.n, c, bound, c >= bound ? "ok" : "FAIL");
    CHECK(c >= bound, "%s: min cosine %.7f < %.4f", what, c, bound);
    free(got);
    fr_test_free_golden(&g);
}

/* CUDA vs CPU on the same weights, batch invariance, pre-tokenized input, longest sequence. */
static void consistency(const char *dir, const char *weights, const char *golden_prefix, int p) {
    fr_encoder *gpu = load(dir, weights, precs[p]);
    char err[512];
    fr_encoder_options co = {.backend = "cpu", .weights = weights};
    fr_encoder *cpu = NULL;
    CHECK(fr_encoder_load(dir, &co, &cpu, err, sizeof err) == FR_OK, "cpu load: %s", err);
    if (!gpu || !cpu) {
        fr_encoder_free(gpu);
        fr_encoder_free(cpu);
        return;
    }
    const int dim = fr_encoder_dim(gpu), maxlen = fr_encoder_config(gpu)->max_seq_length;
    fr_golden g;
    CHECK(fr_test_load_golden(golden_prefix, dim, &g) == 0, "golden %s", golden_prefix);
    /* add the longest sequence: a text far over max_seq_length */
    size_t ln = 20000;
    char *longtext = malloc(ln + 1);
    for (size_t i = 0; i < ln; i++) longtext[i] = i % 6 == 5 ? ' ' : (char)('a' + (i * 7) % 26);
    longtext[ln] = 0;
    int n = g.n + 1;
    const char **texts = malloc(sizeof(char *) * n);
    size_t *lens = malloc(sizeof(size_t) * n);
    for (int i = 0; i < g.n; i++) {
        texts[i] = g.texts[i];
        lens[i] = g.lens[i];
    }
    texts[g.n] = longtext;
    lens[g.n] = ln;
    float *a = malloc(sizeof(float) * (size_t)n * dim), *b = malloc(sizeof(float) * (size_t)n * dim);
    fr_embed_info *info = malloc(sizeof *info * n);
    CHECK(fr_encoder_embed(gpu, texts, lens, n, FR_TEXT_PLAIN, a, info, err, sizeof err) == FR_OK, "gpu embed: %s", err);
    CHECK(info[g.n].tokens == maxlen && info[g.n].truncated, "longest text: %d tokens", info[g.n].tokens);
    CHECK(fr_encoder_embed(cpu, texts, lens, n, FR_TEXT_PLAIN, b, NULL, err, sizeof err) == FR_OK, "cpu embed: %s", err);
    double c = min_cosine(a, b, n, dim);
    char what[160];
    snprintf(what, sizeof what, "%s: cuda %s vs cpu (incl. %d tokens)", fr_encoder_name(gpu), precs[p], maxlen);
    printf("  %-58s min cosine %.7f %s\n", what, c, c >= bound_for(p) ? "ok" : "FAIL");
    CHECK(c >= bound_for(p), "%s: %.7f", what, c);
    /* one at a time and in batches of 3 (other graph buckets) give the same vectors */
    float *one = malloc(sizeof(float) * dim * 3);
    double worst = 1.0;
    for (int i = 0; i + 3 <= n && i < 60; i += 3) {
        CHECK(fr_encoder_embed(gpu, texts + i, lens + i, 3, FR_TEXT_PLAIN, one, NULL, err, sizeof err) == FR_OK, "%s", err);
        double w = min_cosine(one, a + (size_t)i * dim, 3, dim);
        if (w < worst) worst = w;
        CHECK(fr_encoder_embed(gpu, texts + i, lens + i, 1, FR_TEXT_PLAIN, one, NULL, err, sizeof err) == FR_OK, "%s", err);
        w = min_cosine(one, a + (size_t)i * dim, 1, dim);
        if (w < worst) worst = w;
    }
    double inv_bound = p == 0 ? 0.99999 : 0.9995;
    printf("  %-58s min cosine %.7f %s\n", "  batch invariance (1, 3, all)", worst, worst >= inv_bound ? "ok" : "FAIL");
    CHECK(worst >= inv_bound, "batch invariance %.7f", worst);
    /* pre-tokenized input gives the tokenizer path's vectors */
    const fr_tokenizer *tok = fr_encoder_tokenizer(gpu);
    int m = g.n < 50 ? g.n : 50;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)m * maxlen), *off = malloc(sizeof(int32_t) * (m + 1));
    off[0] = 0;
    for (int i = 0; i < m; i++) {
        int trunc = 0;
        int k = fr_tok_encode((fr_tokenizer *)tok, texts[i], lens[i], ids + off[i], maxlen, &trunc);
        off[i + 1] = off[i] + (k > 0 ? k : 0);
    }
    float *t = malloc(sizeof(float) * (size_t)m * dim);
    CHECK(fr_encoder_embed_tokens(gpu, ids, off, m, t, err, sizeof err) == FR_OK, "embed_tokens: %s", err);
    c = min_cosine(t, a, m, dim);
    CHECK(c >= inv_bound, "embed_tokens vs embed: %.7f", c);
    ids[0] = 1 << 30;
    CHECK(fr_encoder_embed_tokens(gpu, ids, off, m, t, err, sizeof err) == FR_ERR_ARG && strstr(err, "vocabulary"), "bad id: %s", err);
    free(t);
    free(ids);
    free(off);
    free(one);
    free(a);
    free(b);
    free(info);
    free(texts);
    free(lens);
    free(longtext);
    fr_test_free_golden(&g);
    fr_encoder_free(gpu);
    fr_encoder_free(cpu);
}

int main(void) {
    char err[512];
    fr_backend *probe = NULL;
    fr_status rc = fr_backend_open("cuda", FR_PREC_FP32, &probe, err, sizeof err);
    if (rc != FR_OK) {
        printf("test_encoder_cuda: skipped: no usable CUDA device: %s\n", err);
        return 77;
    }
    fr_backend_destroy(probe);
    const char *model = getenv("FEEDRANK_CUDA_MODEL") ? getenv("FEEDRANK_CUDA_MODEL") : FEEDRANK_TEST_MODEL;
    const char *golden = getenv("FEEDRANK_CUDA_GOLDEN") ? getenv("FEEDRANK_CUDA_GOLDEN") : FEEDRANK_SOURCE_DIR "/tests/fixtures/minilm_golden";
    const char *tiny = FEEDRANK_SOURCE_DIR "/tests/fixtures/tiny-bge";
    for (int p = 0; p < 3; p++) {
        printf("precision %s:\n", precs[p]);
        fr_encoder *e = load(model, NULL, precs[p]);
        if (e) {
            char what[128];
            snprintf(what, sizeof what, "%s (%s)", fr_encoder_name(e), precs[p]);
            against_golden(e, golden, FR_TEXT_PLAIN, bound_for(p), what);
            fr_encoder_free(e);
        }
        const char *wfiles[2] = {"model.safetensors", "model.bf16.safetensors"}, *tags[2] = {"f16", "bf16"};
        for (int w = 0; w < 2; w++) {
            char path[1024], gp[1024], what[128];
            snprintf(path, sizeof path, "%s/%s", tiny, wfiles[w]);
            fr_encoder *t = load(tiny, path, precs[p]);
            if (!t) continue;
            const char *kinds[2] = {"plain", "query"};
            for (int k = 0; k < 2; k++) {
                snprintf(gp, sizeof gp, "%s/golden_%s_%s", tiny, tags[w], kinds[k]);
                snprintf(what, sizeof what, "bge-shaped 12-layer CLS %s %s (%s)", tags[w], kinds[k], precs[p]);
                against_golden(t, gp, k ? FR_TEXT_QUERY : FR_TEXT_PLAIN, bound_for(p), what);
            }
            fr_encoder_free(t);
        }
        consistency(model, NULL, golden, p);
        char tw[1024];
        snprintf(tw, sizeof tw, "%s/model.safetensors", tiny);
        char tg[1024];
        snprintf(tg, sizeof tg, "%s/golden_f16_plain", tiny);
        consistency(tiny, tw, tg, p);
    }
    /* asking for CUDA with a bad precision fails; it never falls back to the CPU */
    fr_encoder_options o = {.backend = "cuda", .precision = "fp8"};
    fr_encoder *e = NULL;
    CHECK(fr_encoder_load(model, &o, &e, err, sizeof err) == FR_ERR_ARG && strstr(err, "fp8"), "fp8 accepted: %s", err);
    return fr_test_finish("test_encoder_cuda");
}

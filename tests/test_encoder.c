/* test_encoder.c - end-to-end sentence vectors against upstream sentence-transformers.
 *   - all-MiniLM-L6-v2, real weights: every vector's cosine to the reference >= 0.9999
 *   - a 12-layer, CLS-pooled model with bge-small-en-v1.5's structure and query instruction
 *     (random weights, made by upstream transformers), from F16 and BF16 weight files
 *   - the CPU's bf16 / fp16 modes (where the CPU has AVX-512 BF16 / FP16): every vector >= 0.999
 *     cosine to the same references, for both models
 *   - batch invariance, truncation reporting and loader errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "test_util.h"

/* Embeds the golden texts and checks every cosine to the reference against bound
 * (0.9999 in fp32, 0.999 in bf16); returns the smallest. */
static double compare_at(fr_encoder *enc, const fr_golden *g, fr_text_kind kind, const char *what, double bound) {
    int dim = fr_encoder_dim(enc);
    float *got = malloc(sizeof(float) * (size_t)g->n * dim);
    char err[512];
    fr_status rc = fr_encoder_embed(enc, (const char *const *)g->texts, g->lens, g->n, kind, got, NULL, err, sizeof err);
    CHECK(rc == FR_OK, "%s: embed failed: %s", what, err);
    double worst = 1.0;
    int below = 0;
    for (int i = 0; rc == FR_OK && i < g->n; i++) {
        double c = fr_test_cosine(got + (size_t)i * dim, g->want + (size_t)i * dim, dim);
        if (c < worst) worst = c;
        if (!(c >= bound)) {
            below++;
            if (below <= 5) fprintf(stderr, "%s: text %d cosine %.6f\n", what, i, c);
        }
    }
    printf("%s: %d texts, min cosine %.7f\n", what, g->n, worst);
    CHECK(rc == FR_OK && below == 0, "%s: %d of %d vectors below cosine %g", what, below, g->n, bound);
    free(got);
    return worst;
}

static double compare(fr_encoder *enc, const fr_golden *g, fr_text_kind kind, const char *what) {
    return compare_at(enc, g, kind, what, 0.9999);
}

static int graph_calls;
static fr_status replay_directly(fr_backend *be, uint64_t key, fr_record_fn record, void *ctx, char *err, size_t errcap) {
    (void)be;
    (void)key;
    graph_calls++;
    return record(ctx, err, errcap);
}

static void test_minilm(void) {
    char err[512];
    fr_encoder *enc;
    fr_status rc = fr_encoder_load(FEEDRANK_TEST_MODEL, NULL, &enc, err, sizeof err);
    CHECK(rc == FR_OK, "load MiniLM: %s (run scripts/fetch-model.sh all-MiniLM-L6-v2)", err);
    if (rc) return;
    const fr_model_config *c = fr_encoder_config(enc);
    CHECK(c->hidden == 384 && c->layers == 6 && c->heads == 12 && c->pooling == FR_POOL_MEAN && c->normalize &&
              c->max_seq_length == 256 && c->query_prefix[0] == 0,
          "MiniLM config read wrongly");
    fr_golden g;
    CHECK(fr_test_load_golden(FEEDRANK_SOURCE_DIR "/tests/fixtures/minilm_golden", 384, &g) == 0, "MiniLM golden fixture");
    CHECK(g.n >= 200, "need >= 200 golden texts, have %d", g.n);
    compare(enc, &g, FR_TEXT_PLAIN, "all-MiniLM-L6-v2 (F32)");

    /* the same texts one at a time give the same vectors as in a batch (packing is exact) */
    float one[384], *all = malloc(sizeof(float) * 384 * 10);
    fr_encoder_embed(enc, (const char *const *)g.texts, g.lens, 10, FR_TEXT_PLAIN, all, NULL, err, sizeof err);
    for (int i = 0; i < 10; i++) {
        fr_encoder_embed(enc, (const char *const *)&g.texts[i], &g.lens[i], 1, FR_TEXT_PLAIN, one, NULL, err, sizeof err);
        CHECK(fr_test_cosine(one, all + i * 384, 384) > 0.99999, "batch invariance, text %d", i);
    }
    /* a small workspace (the minimum, 256 tokens) splits 60 texts into many passes, through both
     * entry points (texts and pre-tokenized ids): the vectors do not change */
    {
        enum { N = 60 };
        fr_encoder_options small = {.max_batch_tokens = 256};
        fr_encoder *se;
        CHECK(fr_encoder_load(FEEDRANK_TEST_MODEL, &small, &se, err, sizeof err) == FR_OK, "small workspace: %s", err);
        int32_t *ids = malloc(sizeof(int32_t) * N * 256), off[N + 1] = {0};
        float *ref = malloc(sizeof(float) * 384 * N), *many = malloc(sizeof(float) * 384 * N), *tok = malloc(sizeof(float) * 384 * N);
        for (int i = 0; i < N; i++) {
            int trunc = 0, k = fr_tok_encode((fr_tokenizer *)fr_encoder_tokenizer(enc), g.texts[i], g.lens[i], ids + off[i], 256, &trunc);
            off[i + 1] = off[i] + (k > 0 ? k : 0);
        }
        CHECK(fr_encoder_embed(enc, (const char *const *)g.texts, g.lens, N, FR_TEXT_PLAIN, ref, NULL, err, sizeof err) == FR_OK, "%s", err);
        fr_backend *sb = se ? fr_encoder_backend(se) : NULL;
        if (sb) sb->graph_run = replay_directly; /* counts the passes */
        graph_calls = 0;
        CHECK(se && fr_encoder_embed(se, (const char *const *)g.texts, g.lens, N, FR_TEXT_PLAIN, many, NULL, err, sizeof err) == FR_OK, "%s", err);
        const int text_passes = graph_calls;
        CHECK(se && fr_encoder_embed_tokens(se, ids, off, N, tok, err, sizeof err) == FR_OK, "small workspace embed_tokens: %s", err);
        CHECK(text_passes >= 3 && graph_calls - text_passes >= 3, "passes: %d for texts, %d for ids (%d tokens)", text_passes,
              graph_calls - text_passes, off[N]);
        if (sb) sb->graph_run = NULL;
        for (int i = 0; i < N; i++)
            CHECK(fr_test_cosine(many + i * 384, ref + i * 384, 384) > 0.99999 && fr_test_cosine(tok + i * 384, ref + i * 384, 384) > 0.99999,
                  "many passes changed text %d", i);
        free(ids);
        free(ref);
        free(many);
        free(tok);
        fr_encoder_free(se);
    }
    /* Graph buckets: a backend with graph_run gets each pass padded to a bucket (padding tokens in
     * no sequence, empty padding sequences). A stand-in graph_run on the CPU backend that just runs
     * the recording checks that the padding changes no vector (the CUDA test repeats this on a GPU). */
    fr_backend *be = fr_encoder_backend(enc);
    be->graph_run = replay_directly;
    float *padded = malloc(sizeof(float) * 384 * 10);
    graph_calls = 0;
    CHECK(fr_encoder_embed(enc, (const char *const *)g.texts, g.lens, 10, FR_TEXT_PLAIN, padded, NULL, err, sizeof err) == FR_OK, "%s", err);
    for (int i = 0; i < 10; i++)
        CHECK(fr_test_cosine(padded + i * 384, all + i * 384, 384) > 0.99999, "bucket padding changed text %d", i);
    CHECK(graph_calls == 1, "one graph pass expected, %d", graph_calls);
    be->graph_run = NULL;
    free(padded);
    free(all);

    /* truncation is reported per text */
    size_t n = 5000;
    char *longtext = malloc(n + 1);
    for (size_t i = 0; i < n; i++) longtext[i] = i % 5 == 4 ? ' ' : 'a' + (char)(i % 3);
    longtext[n] = 0;
    const char *texts[2] = {"short text", longtext};
    fr_embed_info info[2];
    float v[2 * 384];
    rc = fr_encoder_embed(enc, texts, NULL, 2, FR_TEXT_QUERY, v, info, err, sizeof err);
    CHECK(rc == FR_OK && info[0].truncated == 0 && info[0].tokens == 4 && info[1].truncated == 1 && info[1].tokens == 256,
          "truncation info: %d/%d %d/%d", info[0].truncated, info[0].tokens, info[1].truncated, info[1].tokens);
    double norm = 0;
    for (int i = 0; i < 384; i++) norm += v[384 + i] * v[384 + i];
    CHECK(fabs(norm - 1.0) < 1e-5, "normalised output, |v|^2 = %f", norm);
    free(longtext);
    /* empty input is a valid (empty) batch */
    CHECK(fr_encoder_embed(enc, NULL, NULL, 0, FR_TEXT_PLAIN, v, NULL, err, sizeof err) == FR_OK, "zero texts");
    fr_test_free_golden(&g);
    fr_encoder_free(enc);
}

static void test_tiny_bge(const char *weights, const char *tag, const char *precision) {
    char err[512], path[1024], what[160];
    snprintf(path, sizeof path, "%s/tests/fixtures/tiny-bge/%s", FEEDRANK_SOURCE_DIR, weights);
    fr_encoder_options opt = {.weights = path, .precision = precision};
    fr_encoder *enc;
    fr_status rc = fr_encoder_load(FEEDRANK_SOURCE_DIR "/tests/fixtures/tiny-bge", &opt, &enc, err, sizeof err);
    CHECK(rc == FR_OK, "load tiny-bge %s: %s", tag, err);
    if (rc) return;
    const fr_model_config *c = fr_encoder_config(enc);
    CHECK(c->layers == 12 && c->pooling == FR_POOL_CLS && c->normalize && c->max_seq_length == 512 &&
              strcmp(c->query_prefix, "Represent this sentence for searching relevant passages: ") == 0,
          "tiny-bge config read wrongly");
    const char *kinds[2] = {"plain", "query"};
    for (int k = 0; k < 2; k++) {
        fr_golden g;
        snprintf(path, sizeof path, "%s/tests/fixtures/tiny-bge/golden_%s_%s", FEEDRANK_SOURCE_DIR, tag, kinds[k]);
        CHECK(fr_test_load_golden(path, 32, &g) == 0, "golden %s", path);
        snprintf(what, sizeof what, "bge-shaped 12-layer CLS (%s, %s)%s%s", tag, kinds[k], precision ? ", compute " : "",
                 precision ? precision : "");
        compare_at(enc, &g, k ? FR_TEXT_QUERY : FR_TEXT_PLAIN, what, precision ? 0.999 : 0.9999);
        fr_test_free_golden(&g);
    }
    fr_encoder_free(enc);
}

static void test_load_errors(void) {
    char err[512];
    fr_encoder *enc;
    CHECK(fr_encoder_load("/nonexistent-model", NULL, &enc, err, sizeof err) == FR_ERR_IO && strstr(err, "config.json"), "missing model: %s", err);
    /* the MiniLM config with tiny-bge weights: shapes disagree, the tensor is named */
    fr_encoder_options opt = {.weights = FEEDRANK_SOURCE_DIR "/tests/fixtures/tiny-bge/model.safetensors"};
    fr_status rc = fr_encoder_load(FEEDRANK_TEST_MODEL, &opt, &enc, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT && strstr(err, "embeddings.word_embeddings.weight") && strstr(err, "shape"), "shape mismatch: %s", err);
    opt.weights = FEEDRANK_SOURCE_DIR "/tests/fixtures/tiny-bge/config.json";
    rc = fr_encoder_load(FEEDRANK_TEST_MODEL, &opt, &enc, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT && strstr(err, "config.json"), "a JSON file as weights: %s", err);
    opt.backend = "tpu";
    opt.weights = NULL;
    rc = fr_encoder_load(FEEDRANK_TEST_MODEL, &opt, &enc, err, sizeof err);
    CHECK(rc == FR_ERR_ARG && strstr(err, "tpu"), "unknown backend: %s", err);
    fr_model_config cfg;
    const char *bad[] = {"{\"model_type\":\"gpt2\"}",
                         "{\"model_type\":\"bert\",\"hidden_size\":30,\"num_hidden_layers\":1,\"num_attention_heads\":4,\"intermediate_size\":8,\"max_position_embeddings\":8,\"vocab_size\":8}",
                         "{\"model_type\":\"bert\",\"hidden_size\":-4}",
                         "{\"model_type\":\"bert\",\"hidden_act\":\"relu\"}"};
    for (size_t i = 0; i < 4; i++) {
        err[0] = 0;
        CHECK(fr_model_config_parse_arch(bad[i], strlen(bad[i]), "config.json", &cfg, err, sizeof err) != FR_OK && strstr(err, "config.json"), "bad config %zu accepted", i);
    }
}

/* The CPU's reduced-precision modes (bf16: AVX-512 BF16 dot products, fp16: AVX-512 FP16 FMAs;
 * fp32 totals, LayerNorm, softmax): >= 0.999 cosine to upstream on the golden texts, batch
 * invariant; auto picks the fastest the CPU has. Without the CPU feature the mode is refused. */
static void test_cpu_reduced(const char *precision, int available, const char *feature) {
    char err[512], what[128];
    fr_encoder *enc = NULL;
    fr_encoder_options opt = {.precision = precision};
    fr_status rc = fr_encoder_load(FEEDRANK_TEST_MODEL, &opt, &enc, err, sizeof err);
    if (!available) {
        CHECK(rc == FR_ERR_UNSUPPORTED && strstr(err, feature), "%s without %s: %s", precision, feature, err);
        printf("%s: this CPU has no %s (refused: %s)\n", precision, feature, err);
        return;
    }
    CHECK(rc == FR_OK && strcmp(fr_precision_name(fr_encoder_backend(enc)->precision), precision) == 0, "load MiniLM in %s: %s",
          precision, err);
    if (rc) return;
    fr_golden g;
    CHECK(fr_test_load_golden(FEEDRANK_SOURCE_DIR "/tests/fixtures/minilm_golden", 384, &g) == 0, "MiniLM golden fixture");
    snprintf(what, sizeof what, "all-MiniLM-L6-v2 (F32), compute %s", precision);
    compare_at(enc, &g, FR_TEXT_PLAIN, what, 0.999);
    /* batch invariance holds here too: each row's products do not depend on the other rows */
    float one[384], *all = malloc(sizeof(float) * 384 * 10);
    CHECK(fr_encoder_embed(enc, (const char *const *)g.texts, g.lens, 10, FR_TEXT_PLAIN, all, NULL, err, sizeof err) == FR_OK, "%s", err);
    for (int i = 0; i < 10; i++) {
        CHECK(fr_encoder_embed(enc, (const char *const *)&g.texts[i], &g.lens[i], 1, FR_TEXT_PLAIN, one, NULL, err, sizeof err) == FR_OK, "%s", err);
        CHECK(memcmp(one, all + i * 384, sizeof one) == 0, "%s batch invariance, text %d", precision, i);
    }
    free(all);
    fr_test_free_golden(&g);
    fr_encoder_free(enc);
    test_tiny_bge("model.safetensors", "f16", precision);
}

static void test_cpu_auto(void) {
    char err[512];
    fr_encoder *enc = NULL;
    fr_encoder_options opt = {.precision = "auto"};
    fr_precision want = fr_cpu_fp16_available() ? FR_PREC_FP16 : fr_cpu_bf16_available() ? FR_PREC_BF16
                                                                                         : FR_PREC_FP32;
    fr_status rc = fr_encoder_load(FEEDRANK_TEST_MODEL, &opt, &enc, err, sizeof err); /* before CHECK's arguments read enc */
    CHECK(rc == FR_OK && fr_encoder_backend(enc)->precision == want, "auto: %s", enc ? fr_precision_name(fr_encoder_backend(enc)->precision) : err);
    fr_encoder_free(enc);
}

int main(void) {
    test_minilm();
    test_tiny_bge("model.safetensors", "f16", NULL);
    test_tiny_bge("model.bf16.safetensors", "bf16", NULL);
    test_cpu_reduced("bf16", fr_cpu_bf16_available(), "AVX-512 BF16");
    test_cpu_reduced("fp16", fr_cpu_fp16_available(), "AVX-512 FP16");
    test_cpu_auto();
    test_load_errors();
    return fr_test_finish("test_encoder");
}

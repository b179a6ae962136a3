/* test_encoder.c - end-to-end sentence vectors against upstream sentence-transformers.
 *   - all-MiniLM-L6-v2, real weights: every vector's cosine to the reference >= 0.9999
 *   - a 12-layer, CLS-pooled model with bge-small-en-v1.5's structure and query instruction
 *     (random weights, made by upstream transformers), from F16 and BF16 weight files
 *   - batch invariance, truncation reporting and loader errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "test_util.h"

typedef struct { char **texts; size_t *lens; int n; float *want; } golden;

static int load_golden(const char *prefix, int dim, golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s.txt", prefix);
    size_t len;
    char *data = fr_test_read_file(path, &len);
    if (!data) return -1;
    g->n = 0;
    for (size_t i = 0; i < len; i++) g->n += data[i] == '\n';
    g->texts = calloc((size_t)g->n, sizeof *g->texts);
    g->lens = calloc((size_t)g->n, sizeof *g->lens);
    char *line = data;
    for (int i = 0; i < g->n; i++) {
        char *nl = strchr(line, '\n');
        g->texts[i] = malloc((size_t)(nl - line) / 2 + 1);
        g->lens[i] = (size_t)fr_test_unhex(line, (size_t)(nl - line), (uint8_t *)g->texts[i]);
        line = nl + 1;
    }
    free(data);
    snprintf(path, sizeof path, "%s.f32", prefix);
    size_t vlen;
    g->want = (float *)fr_test_read_file(path, &vlen);
    if (!g->want || vlen != (size_t)g->n * dim * 4) return -1;
    return 0;
}

static void free_golden(golden *g) {
    for (int i = 0; i < g->n; i++) free(g->texts[i]);
    free(g->texts);
    free(g->lens);
    free(g->want);
}

/* Embeds the golden texts and returns the smallest cosine to the reference. */
static double compare(fr_encoder *enc, const golden *g, fr_text_kind kind, const char *what) {
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
        if (!(c >= 0.9999)) {
            below++;
            if (below <= 5) fprintf(stderr, "%s: text %d cosine %.6f\n", what, i, c);
        }
    }
    printf("%s: %d texts, min cosine %.7f\n", what, g->n, worst);
    CHECK(rc == FR_OK && below == 0, "%s: %d of %d vectors below cosine 0.9999", what, below, g->n);
    free(got);
    return worst;
}

static void test_minilm(void) {
    char err[512];
    fr_encoder *enc;
    fr_status rc = fr_encoder_load(FEEDRANK_TEST_MODEL, NULL, &enc, err, sizeof err);
    CHECK(rc == FR_OK, "load MiniLM: %s (run scripts/fetch-model.sh all-MiniLM-L6-v2)", err);
    if (rc) return;
    const fr_model_config *c = fr_encoder_config(enc);
    CHECK(c->hidden == 384 && c->layers == 6 && c->heads == 12 && c->pooling == FR_POOL_MEAN && c->normalize &&
          c->max_seq_length == 256 && c->query_prefix[0] == 0, "MiniLM config read wrongly");
    golden g;
    CHECK(load_golden(FEEDRANK_SOURCE_DIR "/tests/fixtures/minilm_golden", 384, &g) == 0, "MiniLM golden fixture");
    CHECK(g.n >= 200, "need >= 200 golden texts, have %d", g.n);
    compare(enc, &g, FR_TEXT_PLAIN, "all-MiniLM-L6-v2 (F32)");

    /* the same texts one at a time give the same vectors as in a batch (packing is exact) */
    float one[384], *all = malloc(sizeof(float) * 384 * 10);
    fr_encoder_embed(enc, (const char *const *)g.texts, g.lens, 10, FR_TEXT_PLAIN, all, NULL, err, sizeof err);
    for (int i = 0; i < 10; i++) {
        fr_encoder_embed(enc, (const char *const *)&g.texts[i], &g.lens[i], 1, FR_TEXT_PLAIN, one, NULL, err, sizeof err);
        CHECK(fr_test_cosine(one, all + i * 384, 384) > 0.99999, "batch invariance, text %d", i);
    }
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
    free_golden(&g);
    fr_encoder_free(enc);
}

static void test_tiny_bge(const char *weights, const char *tag) {
    char err[512], path[1024], what[128];
    snprintf(path, sizeof path, "%s/tests/fixtures/tiny-bge/%s", FEEDRANK_SOURCE_DIR, weights);
    fr_encoder_options opt = {.weights = path};
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
        golden g;
        snprintf(path, sizeof path, "%s/tests/fixtures/tiny-bge/golden_%s_%s", FEEDRANK_SOURCE_DIR, tag, kinds[k]);
        CHECK(load_golden(path, 32, &g) == 0, "golden %s", path);
        snprintf(what, sizeof what, "bge-shaped 12-layer CLS (%s, %s)", tag, kinds[k]);
        compare(enc, &g, k ? FR_TEXT_QUERY : FR_TEXT_PLAIN, what);
        free_golden(&g);
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

int main(void) {
    test_minilm();
    test_tiny_bge("model.safetensors", "f16");
    test_tiny_bge("model.bf16.safetensors", "bf16");
    test_load_errors();
    return fr_test_finish("test_encoder");
}

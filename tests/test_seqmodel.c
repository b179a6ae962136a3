/* test_seqmodel.c - the sequential model's C reference against PyTorch (llm.c's test_gpt2.c
 * pattern): the loss and every parameter gradient of a tiny model, then AdamW steps compared loss
 * by loss, from tests/fixtures/seqmodel_golden.bin (scripts/golden/make_seqmodel_golden.py).
 * Then checks that need no PyTorch: central finite differences on the largest and a random
 * gradient element of every tensor (dropout on), bit-identical runs from one seed (on 1 and on
 * several threads), a fully padded
 * sequence that changes nothing, refused bad inputs and fixtures, and a NaN that stops AdamW. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqmodel.h"
#include "test_util.h"

#define FIXTURE FEEDRANK_SOURCE_DIR "/tests/fixtures/seqmodel_golden.bin"

/* ---- the fixture (layout: see the script's docstring) ---- */
typedef struct {
    fr_seq_config cfg;
    int B, K, steps;
    int n_params;
    fr_seq_adamw opt;
    float *text, *params, *grads, *losses;
    int32_t *items, *targets, *negatives;
    void *data; /* owns every array above */
} golden;

static void golden_free(golden *g) {
    free(g->data);
    memset(g, 0, sizeof *g);
}

/* Reads a fixture from memory: every count is bounded and the exact size checked before any
 * array is read, every id range-checked, so a damaged file gets a message instead of a crash. */
static int golden_parse(const uint8_t *buf, size_t len, golden *g, char *err, size_t errcap) {
    memset(g, 0, sizeof *g);
    const size_t head = 8 + 11 * 4 + 6 * 4;
    if (len < head || memcmp(buf, "FRSEQGD1", 8)) {
        snprintf(err, errcap, "not a seqmodel fixture (%zu bytes, magic %s)", len,
                 len >= 8 && !memcmp(buf, "FRSEQGD1", 8) ? "ok" : "wrong");
        return -1;
    }
    int32_t h[11];
    float o[6];
    memcpy(h, buf + 8, sizeof h); /* the test machines are little-endian, as the file */
    memcpy(o, buf + 8 + sizeof h, sizeof o);
    for (int i = 0; i < 11; i++)
        if (h[i] < 1 || h[i] > (i == 10 ? 1 << 22 : 4096)) {
            snprintf(err, errcap, "fixture header field %d = %d out of range", i, (int)h[i]);
            return -1;
        }
    g->cfg = (fr_seq_config){.n_items = h[0], .d = h[1], .max_len = h[2], .n_layers = h[3], .n_heads = h[4], .d_text = h[5], .d_ff = h[6], .dropout = 0.0f};
    g->B = h[7];
    g->K = h[8];
    g->steps = h[9];
    g->n_params = h[10];
    g->opt = (fr_seq_adamw){.lr = o[0], .beta1 = o[1], .beta2 = o[2], .eps = o[3], .weight_decay = o[4], .max_grad_norm = o[5]};
    const size_t N = (size_t)h[0], Dt = (size_t)h[5], BT = (size_t)h[7] * (size_t)h[2], K = (size_t)h[8],
                 P = (size_t)h[10], S = (size_t)h[9] + 1;
    const size_t want = head + 4 * (N * Dt + 2 * BT + K + 2 * P + S);
    if (len != want) {
        snprintf(err, errcap, "fixture is %zu bytes, its header implies %zu", len, want);
        return -1;
    }
    g->data = malloc(want - head);
    if (!g->data) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    memcpy(g->data, buf + head, want - head);
    float *f = g->data;
    g->text = f;
    g->items = (int32_t *)(f + N * Dt);
    g->targets = g->items + BT;
    g->negatives = g->targets + BT;
    g->params = (float *)(g->negatives + K);
    g->grads = g->params + P;
    g->losses = g->grads + P;
    for (size_t i = 0; i < BT; i++)
        if (g->items[i] < -1 || g->items[i] >= (int32_t)N || g->targets[i] < -1 || g->targets[i] >= (int32_t)N) {
            snprintf(err, errcap, "fixture id out of range at position %zu", i);
            golden_free(g);
            return -1;
        }
    for (size_t j = 0; j < K; j++)
        if (g->negatives[j] < 0 || g->negatives[j] >= (int32_t)N) {
            snprintf(err, errcap, "fixture negative %zu out of range", j);
            golden_free(g);
            return -1;
        }
    return 0;
}

static int golden_load(const char *path, golden *g, char *err, size_t errcap) {
    size_t len = 0;
    char *buf = fr_test_read_file(path, &len);
    if (!buf) {
        snprintf(err, errcap, "cannot read %s", path);
        return -1;
    }
    int rc = golden_parse((const uint8_t *)buf, len, g, err, errcap);
    free(buf);
    return rc;
}

static fr_seq_batch batch_of(const golden *g) {
    return (fr_seq_batch){.B = g->B, .items = g->items, .targets = g->targets, .negatives = g->negatives, .n_neg = g->K, .text = g->text};
}

/* a model holding the fixture's parameters, for up to max_batch sequences */
static fr_seq_model *model_of(const golden *g, float dropout, int max_batch) {
    char err[256];
    fr_seq_config c = g->cfg;
    c.dropout = dropout;
    fr_seq_model *m = NULL;
    if (fr_seq_create(&c, max_batch, g->K, &m, err, sizeof err) != FR_OK) {
        CHECK(0, "create: %s", err);
        return NULL;
    }
    memcpy(fr_seq_params(m), g->params, fr_seq_num_params(m) * sizeof(float));
    return m;
}

static float step_loss(fr_seq_model *m, const fr_seq_batch *b) {
    char err[256];
    float loss = NAN;
    fr_seq_zero_grad(m);
    CHECK(fr_seq_forward(m, b, &loss, err, sizeof err) == FR_OK, "forward: %s", err);
    CHECK(fr_seq_backward(m, err, sizeof err) == FR_OK, "backward: %s", err);
    return loss;
}

/* ---- loss and every gradient against PyTorch ---- */
static void test_vs_pytorch(const golden *g) {
    fr_seq_model *m = model_of(g, 0.0f, g->B);
    if (!m) return;
    CHECK(fr_seq_num_params(m) == (size_t)g->n_params, "parameter count %zu, fixture %d", fr_seq_num_params(m),
          g->n_params);
    if (fr_seq_num_params(m) != (size_t)g->n_params) {
        fr_seq_free(m);
        return;
    }
    const fr_seq_batch b = batch_of(g);
    const float loss = step_loss(m, &b);
    printf("loss: C %.7f  PyTorch %.7f  |diff| %.2e\n", loss, g->losses[0], fabsf(loss - g->losses[0]));
    CHECK(fabsf(loss - g->losses[0]) <= 1e-5f * fabsf(g->losses[0]), "loss %.7f vs %.7f", loss, g->losses[0]);
    /* per tensor: max |C - torch| against the tensor's largest |torch| (relative), with an absolute
     * floor of 1e-6 for tensors whose true gradient is 0 (the key bias: softmax ignores a shift) */
    const fr_seq_tensor *lay = fr_seq_layout_of(m);
    const float *gc = fr_seq_grads(m);
    printf("%-10s %7s %12s %12s %12s\n", "tensor", "count", "max|torch|", "max abs err", "rel err");
    for (int t = 0; t < FR_SEQ_NTENSORS; t++) {
        double mx = 0.0, err = 0.0;
        for (size_t i = lay[t].offset; i < lay[t].offset + lay[t].count; i++) {
            mx = fmax(mx, fabs(g->grads[i]));
            err = fmax(err, fabs((double)gc[i] - g->grads[i]));
        }
        const double rel = mx > 0 ? err / mx : err;
        printf("%-10s %7zu %12.4e %12.3e %12.3e\n", lay[t].name, lay[t].count, mx, err, rel);
        CHECK(err <= 1e-4 * mx + 1e-6, "gradient %s: max abs err %.3e, max |torch| %.3e", lay[t].name, err, mx);
    }
    fr_seq_free(m);
}

/* ---- AdamW steps (with weight decay and an active clip) loss by loss ---- */
static void test_adamw_steps(const golden *g) {
    fr_seq_model *m = model_of(g, 0.0f, g->B);
    if (!m) return;
    const fr_seq_batch b = batch_of(g);
    char err[256];
    for (int s = 0; s <= g->steps; s++) {
        float loss = NAN, norm = 0.0f;
        fr_seq_zero_grad(m);
        CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_OK, "forward: %s", err);
        const double d = fabs((double)loss - g->losses[s]);
        printf("AdamW step %d: loss C %.7f  PyTorch %.7f  |diff| %.2e", s, loss, g->losses[s], d);
        CHECK(d <= 1e-4 * fabs(g->losses[s]), "loss after %d AdamW steps: %.7f vs %.7f", s, loss, g->losses[s]);
        if (s == g->steps) {
            printf("\n");
            break;
        }
        CHECK(fr_seq_backward(m, err, sizeof err) == FR_OK, "backward: %s", err);
        CHECK(fr_seq_adamw_step(m, &g->opt, &norm, err, sizeof err) == FR_OK, "adamw: %s", err);
        printf("  grad norm %.5f%s\n", norm, norm > g->opt.max_grad_norm ? " (clipped)" : "");
        if (s == 0) CHECK(norm > g->opt.max_grad_norm, "the fixture's clip should act on the first step");
    }
    fr_seq_free(m);
}

/* ---- central differences, independent of PyTorch, with dropout on ---- */
static void test_finite_differences(const golden *g) {
    fr_seq_model *m = model_of(g, 0.1f, g->B);
    if (!m) return;
    fr_seq_batch b = batch_of(g);
    b.train = 1;
    b.dropout_seed = 77;
    step_loss(m, &b);
    const size_t n = fr_seq_num_params(m);
    float *grad = malloc(n * sizeof(float));
    memcpy(grad, fr_seq_grads(m), n * sizeof(float));
    float *p = fr_seq_params(m);
    const fr_seq_tensor *lay = fr_seq_layout_of(m);
    char err[256];
    uint64_t seed = 12345;
    int checked = 0, worst_t = -1;
    double worst = 0.0;
    for (int t = 0; t < FR_SEQ_NTENSORS; t++) {
        /* the tensor's largest gradient element, and a random one among those with a gradient that
         * float differences can resolve */
        size_t pick[2] = {lay[t].offset, 0};
        double gmax = 0.0;
        for (size_t i = lay[t].offset; i < lay[t].offset + lay[t].count; i++)
            if (fabs(grad[i]) > gmax) {
                gmax = fabs(grad[i]);
                pick[0] = i;
            }
        if (gmax < 1e-3) continue; /* e.g. item rows the batch never uses */
        for (int tries = 0; tries < 1000; tries++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            const size_t i = lay[t].offset + (size_t)((seed >> 33) % lay[t].count);
            if (fabs(grad[i]) >= 0.1 * gmax) {
                pick[1] = i;
                break;
            }
        }
        if (!pick[1]) pick[1] = pick[0];
        for (int k = 0; k < 2; k++) {
            const size_t i = pick[k];
            const float keep = p[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
            float lp = 0, lm = 0;
            p[i] = keep + h;
            fr_seq_forward(m, &b, &lp, err, sizeof err);
            p[i] = keep - h;
            fr_seq_forward(m, &b, &lm, err, sizeof err);
            p[i] = keep;
            const double fd = ((double)lp - lm) / (2.0 * ((double)(keep + h) - keep));
            const double e = fabs(fd - grad[i]) / (fabs(grad[i]) + 1e-3);
            if (e > worst) {
                worst = e;
                worst_t = t;
            }
            CHECK(e < 2e-2, "finite difference %s[%zu]: %.6f, backward %.6f", lay[t].name, i - lay[t].offset, fd,
                  grad[i]);
            checked++;
        }
    }
    printf("finite differences: %d elements over every tensor with a gradient, worst relative error %.2e (%s)\n",
           checked, worst, worst_t >= 0 ? lay[worst_t].name : "-");
    CHECK(checked >= 2 * (FR_SEQ_NTENSORS - 1), "only %d elements checked", checked);
    free(grad);
    fr_seq_free(m);
}

/* ---- the same seed gives the same bits; dropout is on and does something ---- */
/* A batch large enough (48 sequences, 64 negatives) that the layers' loops run in parallel. */
#define DET_B 48
#define DET_K 64
static void run_steps(const golden *g, uint64_t seed, int steps, float *params_out, float *loss_out) {
    char err[256];
    const int T = g->cfg.max_len, N = g->cfg.n_items;
    int32_t items[DET_B * 16], targets[DET_B * 16], negs[DET_K];
    if (T > 16) {
        CHECK(0, "fixture window above 16");
        return;
    }
    uint64_t x = 99;
    for (int s = 0; s < DET_B; s++)
        for (int t = 0; t < T; t++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const int pad = t < s % T; /* left padding of 0..T-1 positions */
            items[s * T + t] = pad ? FR_SEQ_PAD : (int32_t)((x >> 33) % (uint64_t)N);
            targets[s * T + t] = pad ? -1 : (int32_t)((x >> 13) % (uint64_t)N);
        }
    for (int j = 0; j < DET_K; j++) negs[j] = (j * 5) % N;
    fr_seq_config c = g->cfg;
    c.dropout = 0.2f;
    fr_seq_model *m = NULL;
    if (fr_seq_create(&c, DET_B, DET_K, &m, err, sizeof err) != FR_OK) {
        CHECK(0, "%s", err);
        return;
    }
    fr_seq_init_params(m, seed);
    fr_seq_batch b = {.B = DET_B, .items = items, .targets = targets, .negatives = negs, .n_neg = DET_K, .text = g->text, .train = 1};
    fr_seq_adamw o = fr_seq_default_adamw(1e-2f);
    o.max_grad_norm = 1.0f;
    for (int s = 0; s < steps; s++) {
        b.dropout_seed = seed * 1000 + (uint64_t)s;
        loss_out[s] = step_loss(m, &b);
        CHECK(fr_seq_adamw_step(m, &o, NULL, err, sizeof err) == FR_OK, "%s", err);
    }
    memcpy(params_out, fr_seq_params(m), fr_seq_num_params(m) * sizeof(float));
    fr_seq_free(m);
}

static void test_determinism(const golden *g) {
    const size_t n = (size_t)g->n_params;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    float la[4], lb[4], lc[4];
    /* one thread, then two: the work split must not change a bit */
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run_steps(g, 5, 4, a, la);
    omp_set_num_threads(threads > 1 ? threads : 2);
    run_steps(g, 5, 4, b, lb);
    omp_set_num_threads(threads);
    run_steps(g, 6, 4, c, lc);
    CHECK(!memcmp(a, b, n * sizeof(float)) && !memcmp(la, lb, sizeof la), "two runs from seed 5 (1 and %d threads) differ",
          threads > 1 ? threads : 2);
    CHECK(memcmp(a, c, n * sizeof(float)) != 0, "seeds 5 and 6 gave the same parameters");
    /* with the same parameters, dropout on and off (and two dropout seeds) give different losses */
    fr_seq_model *m = model_of(g, 0.2f, g->B);
    if (m) {
        char err[256];
        fr_seq_batch bt = batch_of(g);
        float off, on1, on2;
        fr_seq_forward(m, &bt, &off, err, sizeof err);
        bt.train = 1;
        bt.dropout_seed = 1;
        fr_seq_forward(m, &bt, &on1, err, sizeof err);
        bt.dropout_seed = 2;
        fr_seq_forward(m, &bt, &on2, err, sizeof err);
        CHECK(off != on1 && on1 != on2, "dropout has no effect: %g %g %g", off, on1, on2);
        CHECK(fabsf(off - g->losses[0]) <= 1e-5f * g->losses[0], "train=0 must switch dropout off");
        fr_seq_free(m);
    }
    free(a);
    free(b);
    free(c);
}

/* ---- a fully padded sequence changes nothing: same loss and gradients, bit for bit ---- */
static void test_padding(const golden *g) {
    const int T = g->cfg.max_len, B = g->B;
    fr_seq_model *m = model_of(g, 0.0f, B + 1);
    if (!m) return;
    const size_t n = fr_seq_num_params(m);
    const fr_seq_batch b = batch_of(g);
    const float base = step_loss(m, &b);
    float *grad = malloc(n * sizeof(float));
    memcpy(grad, fr_seq_grads(m), n * sizeof(float));
    float *states = malloc((size_t)B * T * g->cfg.d * sizeof(float));
    memcpy(states, fr_seq_states(m), (size_t)B * T * g->cfg.d * sizeof(float));
    /* the same batch with an all-padding sequence inserted as sequence 1 */
    int32_t *items = malloc((size_t)(B + 1) * T * sizeof(int32_t)), *targets = malloc((size_t)(B + 1) * T * sizeof(int32_t));
    for (int s = 0, src = 0; s < B + 1; s++) {
        for (int t = 0; t < T; t++) {
            items[s * T + t] = s == 1 ? FR_SEQ_PAD : g->items[src * T + t];
            targets[s * T + t] = s == 1 ? -1 : g->targets[src * T + t];
        }
        if (s != 1) src++;
    }
    fr_seq_batch bp = b;
    bp.B = B + 1;
    bp.items = items;
    bp.targets = targets;
    const float padded = step_loss(m, &bp);
    CHECK(padded == base, "a padded sequence changed the loss: %.9g vs %.9g", padded, base);
    CHECK(!memcmp(grad, fr_seq_grads(m), n * sizeof(float)), "a padded sequence changed the gradients");
    const float *u = fr_seq_states(m);
    const size_t row = (size_t)T * g->cfg.d;
    int zero = 1;
    for (size_t i = 0; i < row; i++) zero &= u[row + i] == 0.0f;
    CHECK(zero, "a padded sequence's states are not 0");
    CHECK(!memcmp(u, states, row * sizeof(float)) && !memcmp(u + 2 * row, states + row, 2 * row * sizeof(float)),
          "a padded sequence changed the other sequences' states");
    /* forward only (serving): the same states, no loss */
    char err[256];
    float l = 1.0f;
    fr_seq_batch bs = b;
    bs.targets = NULL;
    CHECK(fr_seq_forward(m, &bs, &l, err, sizeof err) == FR_OK && l == 0.0f, "forward-only: %s", err);
    CHECK(!memcmp(fr_seq_states(m), states, (size_t)B * row * sizeof(float)), "forward-only states differ");
    CHECK(fr_seq_backward(m, err, sizeof err) == FR_ERR_ARG, "backward after a forward-only call must fail");
    /* a batch whose every position is padding: loss 0, no gradient */
    for (int i = 0; i < B * T; i++) items[i] = FR_SEQ_PAD, targets[i] = -1;
    bp.B = B;
    CHECK(step_loss(m, &bp) == 0.0f, "an all-padding batch must have loss 0");
    int gz = 1;
    for (size_t i = 0; i < n; i++) gz &= fr_seq_grads(m)[i] == 0.0f;
    CHECK(gz, "an all-padding batch must have no gradient");
    free(items);
    free(targets);
    free(grad);
    free(states);
    fr_seq_free(m);
}

/* ---- the epoch loop: learns a pattern, reproducible, refuses what it cannot do ---- */
static void test_train_epoch(const golden *g) {
    char err[256];
    const int N = g->cfg.n_items, n_seq = 40;
    int64_t off[41];
    int32_t items[40 * 12];
    size_t k = 0;
    for (int s = 0; s < n_seq; s++) { /* item i is always followed by i + 1 (mod N); lengths 1..12 */
        off[s] = (int64_t)k;
        const int len = 1 + s % 12;
        for (int t = 0; t < len; t++) items[k++] = (s * 7 + t) % N;
    }
    off[n_seq] = (int64_t)k;
    const fr_seq_data d = {.n_seq = n_seq, .off = off, .items = items};
    fr_seq_train_opts o = {.batch = 8, .n_neg = 4, .seed = 3, .opt = fr_seq_default_adamw(1e-2f)};
    float first[2] = {0}, last[2] = {0};
    float *params[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        fr_seq_config c = g->cfg;
        c.dropout = 0.1f;
        fr_seq_model *m = NULL;
        if (fr_seq_create(&c, 8, 4, &m, err, sizeof err) != FR_OK) {
            CHECK(0, "%s", err);
            return;
        }
        fr_seq_init_params(m, 11);
        for (int e = 0; e < 30; e++) {
            fr_seq_epoch_stats st;
            CHECK(fr_seq_train_epoch(m, &d, g->text, &o, e, &st, err, sizeof err) == FR_OK, "epoch %d: %s", e, err);
            if (e == 0) {
                first[run] = (float)st.mean_loss;
                int trainable = 0;
                for (int s = 0; s < n_seq; s++) trainable += off[s + 1] - off[s] >= 2;
                CHECK(st.sequences == trainable, "an epoch trains the %d sequences of length >= 2, not %ld", trainable,
                      st.sequences);
            }
            last[run] = (float)st.mean_loss;
        }
        params[run] = malloc(fr_seq_num_params(m) * sizeof(float));
        memcpy(params[run], fr_seq_params(m), fr_seq_num_params(m) * sizeof(float));
        if (run == 1) {
            CHECK(!memcmp(params[0], params[1], fr_seq_num_params(m) * sizeof(float)), "two trainings from one seed differ");
            o.batch = 9;
            fr_seq_epoch_stats st;
            CHECK(fr_seq_train_epoch(m, &d, g->text, &o, 0, &st, err, sizeof err) == FR_ERR_ARG, "batch above max_batch");
        }
        fr_seq_free(m);
    }
    printf("train epochs: mean loss %.4f (epoch 0) -> %.4f (epoch 29)\n", first[0], last[0]);
    CHECK(last[0] < 0.5f * first[0], "training did not learn the pattern: %.4f -> %.4f", first[0], last[0]);
    free(params[0]);
    free(params[1]);
}

/* ---- refused inputs, fixtures, configs, and a NaN that AdamW will not apply ---- */
static void test_refusals(const golden *g) {
    char err[256];
    fr_seq_model *m = model_of(g, 0.0f, g->B);
    if (!m) return;
    const int BT = g->B * g->cfg.max_len;
    int32_t *items = malloc((size_t)BT * sizeof(int32_t)), *targets = malloc((size_t)BT * sizeof(int32_t));
    memcpy(items, g->items, (size_t)BT * sizeof(int32_t));
    memcpy(targets, g->targets, (size_t)BT * sizeof(int32_t));
    fr_seq_batch b = batch_of(g);
    b.items = items;
    b.targets = targets;
    float loss;
    items[3] = g->cfg.n_items;
    CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_ERR_ARG && strstr(err, "item"), "item out of range: %s", err);
    items[3] = g->items[3];
    targets[0 * g->cfg.max_len + 0] = g->targets[0];
    targets[2 * g->cfg.max_len + 0] = 3; /* sequence 2 starts with padding */
    CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_ERR_ARG && strstr(err, "padded"), "target on padding: %s", err);
    CHECK(fr_seq_backward(m, err, sizeof err) == FR_ERR_ARG, "backward after a refused forward must fail");
    targets[2 * g->cfg.max_len + 0] = -1;
    b.B = g->B + 1;
    CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_ERR_ARG, "batch larger than max_batch");
    b.B = g->B;
    int32_t neg = -1;
    b.negatives = &neg;
    b.n_neg = 1;
    CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_ERR_ARG, "negative out of range");
    b = batch_of(g);
    /* a NaN parameter: AdamW names the step and leaves the parameters alone */
    fr_seq_params(m)[fr_seq_layout_of(m)[FR_SEQ_FCW].offset] = NAN;
    step_loss(m, &b);
    float before = fr_seq_params(m)[0];
    fr_seq_adamw o = fr_seq_default_adamw(1e-2f);
    CHECK(fr_seq_adamw_step(m, &o, NULL, err, sizeof err) == FR_ERR_ARG && strstr(err, "step 1"), "NaN: %s", err);
    CHECK(fr_seq_params(m)[0] == before, "a refused step changed the parameters");
    fr_seq_free(m);
    free(items);
    free(targets);

    fr_seq_config c = g->cfg;
    fr_seq_model *x = NULL;
    c.n_heads = 3;
    CHECK(fr_seq_create(&c, 2, 2, &x, err, sizeof err) == FR_ERR_ARG && !x && strstr(err, "n_heads"), "heads: %s", err);
    c = g->cfg;
    c.dropout = 1.0f;
    CHECK(fr_seq_create(&c, 2, 2, &x, err, sizeof err) == FR_ERR_ARG && !x, "dropout 1 must be refused");

    /* damaged fixtures: truncated, a header that lies, a bad id, a wrong magic */
    size_t len;
    uint8_t *buf = (uint8_t *)fr_test_read_file(FIXTURE, &len);
    if (!buf) return;
    golden bad;
    CHECK(golden_parse(buf, len - 4, &bad, err, sizeof err) == -1 && strstr(err, "bytes"), "truncated: %s", err);
    CHECK(golden_parse(buf, 20, &bad, err, sizeof err) == -1, "header only");
    int32_t big = 1 << 30;
    memcpy(buf + 8, &big, 4);
    CHECK(golden_parse(buf, len, &bad, err, sizeof err) == -1 && strstr(err, "range"), "huge N: %s", err);
    memcpy(buf + 8, &g->cfg.n_items, 4);
    const size_t items_at = 8 + 44 + 24 + 4 * (size_t)g->cfg.n_items * g->cfg.d_text;
    int32_t wild = 999;
    memcpy(buf + items_at, &wild, 4);
    CHECK(golden_parse(buf, len, &bad, err, sizeof err) == -1 && strstr(err, "id"), "bad id: %s", err);
    buf[0] = 'X';
    CHECK(golden_parse(buf, len, &bad, err, sizeof err) == -1 && strstr(err, "magic"), "magic: %s", err);
    free(buf);
}

int main(void) {
    char err[256];
    golden g;
    if (golden_load(FIXTURE, &g, err, sizeof err)) {
        fprintf(stderr, "test_seqmodel: %s\n", err);
        return 1;
    }
    printf("fixture: N=%d d=%d T=%d L=%d H=%d Dt=%d F=%d B=%d K=%d, %d parameters\n", g.cfg.n_items, g.cfg.d,
           g.cfg.max_len, g.cfg.n_layers, g.cfg.n_heads, g.cfg.d_text, g.cfg.d_ff, g.B, g.K, g.n_params);
    test_vs_pytorch(&g);
    test_adamw_steps(&g);
    test_finite_differences(&g);
    test_determinism(&g);
    test_padding(&g);
    test_train_epoch(&g);
    test_refusals(&g);
    golden_free(&g);
    return fr_test_finish("test_seqmodel");
}

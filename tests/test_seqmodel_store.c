/* test_seqmodel_store.c - the trained model as a store section (src/seqmodel_store.h): a round
 * trip through a store file keeps every parameter and field; served item vectors and user states
 * agree with the training forward; truncated, bit-flipped, trailing-byte and other-store models are
 * refused with a message naming why, and a store with rows after the model's (a compaction added
 * items) loads it. The serving path (seqmodel_serve.h) agrees with the reference
 * forward at the default size, and a forward-only model holds no gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "item_store.h"
#include "seqmodel_store.h"
#include "test_util.h"

#define NI 12
#define DT 8

/* a store with items PREFIX0..PREFIX{n-1}, dimension DT */
static fr_store *make_store(const char *path, const char *prefix, int n) {
    char err[256];
    fr_store_writer *w;
    CHECK(fr_store_writer_open(path, DT, FR_STORE_F32, "m", 1, 0, &w, err, sizeof err) == FR_OK, "%s", err);
    uint64_t seed = 5;
    for (int i = 0; i < n; i++) {
        char id[16];
        float v[DT];
        fr_test_fill(v, DT, &seed, 1.0f);
        snprintf(id, sizeof id, "%s%d", prefix, i);
        fr_store_writer_add(w, id, strlen(id), v, NULL, 0, err, sizeof err);
    }
    CHECK(fr_store_writer_finish(w, err, sizeof err) == FR_OK, "%s", err);
    fr_store *s = NULL;
    CHECK(fr_store_open(path, 0, 1, &s, err, sizeof err) == FR_OK, "%s", err);
    return s;
}

/* text rows of a plain (N, SV_DT) array, for fr_seq_server_create */
#define SV_DT 48
static void array_rows(void *ctx, int64_t first, int count, float *out) {
    memcpy(out, (const float *)ctx + (size_t)first * SV_DT, (size_t)count * SV_DT * sizeof(float));
}

/* The served state and item vectors against the reference forward (fr_seq_user_state,
 * fr_seq_item_vector) at the default window and depth, width 64 with 1 and 4 heads (the AVX-512
 * LayerNorm, attention and candidate scoring: widths and head sizes that are multiples of 16) and
 * width 40 with 2 heads (the portable loops), short, full and over-long histories with ids the
 * model does not know; tolerance 1e-4 relative to the largest value. Parameters are scaled up
 * from N(0, 0.02) so that every layer changes the state. Candidates scored by row
 * (fr_seq_server_score_rows) equal u . v within 1e-5, rows outside the model left alone. */
static void test_serving(int heads, int width) {
    char err[256];
    const int N = 300, D = width;
    fr_seq_config cfg = fr_seq_default_config(N, SV_DT);
    cfg.n_heads = heads;
    cfg.d = D;
    fr_seq_model *m = NULL;
    CHECK(fr_seq_create_forward(&cfg, 1, &m, err, sizeof err) == FR_OK, "%s", err);
    if (!m) return;
    CHECK(fr_seq_grads(m) == NULL && fr_seq_adam_moments(m, 0) == NULL, "forward-only model: no gradients, no AdamW state");
    CHECK(fr_seq_backward(m, err, sizeof err) == FR_ERR_ARG && strstr(err, "forward-only"), "backward refused: %s", err);
    fr_seq_init_params(m, 3);
    float *P = fr_seq_params(m);
    for (size_t i = 0; i < fr_seq_num_params(m); i++) P[i] *= 15.0f;
    float *text = malloc((size_t)N * SV_DT * sizeof *text);
    uint64_t seed = 17;
    fr_test_fill(text, (size_t)N * SV_DT, &seed, 1.0f);
    fr_seq_server *sv = NULL;
    fr_seq_scratch *w = NULL;
    CHECK(fr_seq_server_create(&cfg, P, array_rows, text, &sv, err, sizeof err) == FR_OK, "%s", err);
    CHECK(sv && fr_seq_scratch_create(sv, &w, err, sizeof err) == FR_OK, "%s", err);
    if (!sv || !w) {
        fr_seq_server_free(sv);
        fr_seq_free(m);
        free(text);
        return;
    }
    int32_t hist[80];
    for (int i = 0; i < 80; i++) hist[i] = i % 9 == 4 ? N + i : (i * 37 + 11) % N; /* some unknown to the model */
    const int lens[] = {1, 2, 7, 50, 56, 80};
    for (int k = 0; k < 6; k++) {
        float u[64], want[64];
        CHECK(fr_seq_user_state(m, hist + 80 - lens[k], lens[k], text, want, err, sizeof err) == FR_OK, "%s", err);
        CHECK(fr_seq_server_state(sv, w, hist + 80 - lens[k], lens[k], u, err, sizeof err) == FR_OK, "%s", err);
        double md = 0, mx = 0;
        for (int c = 0; c < D; c++) {
            md = fmax(md, fabs((double)u[c] - want[c]));
            mx = fmax(mx, fabs((double)want[c]));
        }
        CHECK(md <= 1e-4 * mx && mx > 0.1, "width %d, %d heads, history %d: served state within 1e-4 of the reference (diff %.3g of %.3g)",
              D, heads, lens[k], md, mx);
    }
    int32_t none[2] = {-1, N};
    float u[64];
    CHECK(fr_seq_server_state(sv, w, none, 2, u, err, sizeof err) == FR_ERR_NOT_FOUND, "no known item: %s", err);
    /* item vectors, and the text scorer for items without an id */
    double md = 0, mx = 0;
    for (int i = 0; i < N; i += 7) {
        float v[64];
        fr_seq_item_vector(m, i, text + (size_t)i * SV_DT, v);
        const float *sv_v = fr_seq_server_item(sv, i);
        for (int c = 0; c < D; c++) {
            md = fmax(md, fabs((double)sv_v[c] - v[c]));
            mx = fmax(mx, fabs((double)v[c]));
        }
    }
    CHECK(md <= 1e-5 * mx && fr_seq_server_item(sv, N) == NULL && fr_seq_server_item(sv, -1) == NULL,
          "item vectors within 1e-5 (diff %.3g of %.3g); none outside 0..N-1", md, mx);
    /* candidates by row: known rows scored, the others (an id past the model, a text key) untouched */
    const int64_t crow[6] = {0, 17, N, -5, 299, 150};
    float sc[6] = {-7, -7, -7, -7, -7, -7};
    fr_test_fill(u, D, &seed, 1.0f);
    const int outside = fr_seq_server_score_rows(sv, u, crow, 6, sc);
    int rows_ok = outside == 2 && sc[2] == -7 && sc[3] == -7;
    for (int j = 0; j < 6; j++) {
        const float *iv = fr_seq_server_item(sv, crow[j]);
        if (!iv) continue;
        double want_s = 0;
        for (int c = 0; c < D; c++) want_s += (double)u[c] * iv[c];
        rows_ok &= fabs(sc[j] - want_s) <= 1e-5 * (1 + fabs(want_s));
    }
    CHECK(rows_ok, "width %d: candidates scored by row (%d outside)", D, outside);
    float wt[SV_DT], ub, v[64];
    fr_test_fill(u, D, &seed, 1.0f);
    fr_seq_server_text_scorer(sv, u, wt, &ub);
    fr_seq_item_vector(m, -1, text, v);
    double a = ub, b = 0;
    for (int t = 0; t < SV_DT; t++) a += (double)wt[t] * text[t];
    for (int c = 0; c < D; c++) b += (double)u[c] * v[c];
    CHECK(fabs(a - b) <= 1e-4 * (1 + fabs(b)), "text scorer: %.6g, u . (Wp t + bp) = %.6g", a, b);
    fr_seq_scratch_free(w);
    fr_seq_server_free(sv);
    fr_seq_free(m);
    free(text);
}

int main(void) {
    test_serving(1, 64);
    test_serving(4, 64);
    test_serving(2, 40);
    char err[512], path[256], other[256];
    snprintf(path, sizeof path, "/tmp/test_seqstore_%d.store", (int)getpid());
    snprintf(other, sizeof other, "/tmp/test_seqstore_other_%d.store", (int)getpid());
    fr_store *s = make_store(path, "i", NI);
    fr_seq_config cfg = fr_seq_default_config(NI, DT);
    cfg.d = 8;
    cfg.d_ff = 16;
    cfg.max_len = 5;
    cfg.n_heads = 2;
    fr_seq_model *m = NULL;
    CHECK(fr_seq_create(&cfg, 2, 4, &m, err, sizeof err) == FR_OK, "%s", err);
    fr_seq_init_params(m, 11);
    fr_seq_meta meta = {.cfg = cfg, .lr = 1e-3f, .batch = 2, .n_neg = 4, .patience = 3, .max_epochs = 10, .val_percent = 10, .val_negatives = 100, .seed = 42, .log_hash = 0xabcdef, .log_bytes = 1234, .users = 5, .events = 30, .train_sequences = 5, .val_users = 1, .epochs_run = 4, .best_epoch = 2, .best_ndcg = 0.5, .best_hr = 0.75, .best_loss = 3.25, .created_unix = 1700000000};
    snprintf(meta.log_path, sizeof meta.log_path, "/data/log.inter");
    fr_seq_store_key_of(s, path, &meta.store);
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK(fr_seq_section_build(&meta, fr_seq_params(m), fr_seq_num_params(m), &data, &size, err, sizeof err) == FR_OK, "%s", err);
    CHECK(size == FR_SEQ_HEADER_SIZE + fr_seq_num_params(m) * 4 + 8, "size %zu", size);

    /* round trip through the store file */
    fr_store_close(s);
    CHECK(fr_store_attach(path, FR_STORE_SECTION_SEQMODEL, data, size, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_store_open(path, 0, 1, &s, err, sizeof err) == FR_OK, "%s", err);
    fr_seq_model *g = NULL;
    fr_seq_meta got;
    CHECK(fr_seq_of_store(s, path, &g, &got, err, sizeof err) == FR_OK, "load: %s", err);
    if (g) {
        CHECK(memcmp(fr_seq_params(g), fr_seq_params(m), fr_seq_num_params(m) * 4) == 0, "parameters round trip");
        CHECK(memcmp(&got.cfg, &cfg, sizeof cfg) == 0, "config round trip");
        CHECK(got.seed == 42 && got.best_epoch == 2 && got.best_ndcg == 0.5 && got.best_hr == 0.75 && got.epochs_run == 4 &&
                  got.log_hash == 0xabcdef && got.val_negatives == 100 && got.lr == 1e-3f && strcmp(got.log_path, "/data/log.inter") == 0 &&
                  strcmp(got.store.name, meta.store.name) == 0 && got.created_unix == 1700000000,
              "meta round trip");
        /* serving agrees with the training forward: the state at the newest position and v_i */
        const float *text = fr_store_vectors_f32(s);
        int32_t hist[3] = {3, 7, 1};
        float u[8], v[8], want[8];
        CHECK(fr_seq_user_state(g, hist, 3, text, u, err, sizeof err) == FR_OK, "%s", err);
        int32_t items[5] = {FR_SEQ_PAD, FR_SEQ_PAD, 3, 7, 1};
        fr_seq_batch b = {.B = 1, .items = items, .text = text};
        float loss;
        CHECK(fr_seq_forward(m, &b, &loss, err, sizeof err) == FR_OK, "%s", err);
        CHECK(memcmp(u, fr_seq_states(m) + 4 * 8, sizeof u) == 0, "user state = the training forward's newest state");
        int32_t bad[2] = {-5, 99};
        CHECK(fr_seq_user_state(g, bad, 2, text, u, err, sizeof err) == FR_ERR_NOT_FOUND, "no known history item");
        fr_seq_item_vector(g, 4, text + 4 * DT, v);
        const float *P = fr_seq_params(g);
        const fr_seq_tensor *L = fr_seq_layout_of(g);
        double maxd = 0;
        for (int c = 0; c < 8; c++) {
            double w = P[L[FR_SEQ_E].offset + 4 * 8 + c] + P[L[FR_SEQ_BP].offset + c];
            for (int k = 0; k < DT; k++) w += (double)P[L[FR_SEQ_WP].offset + c * DT + k] * text[4 * DT + k];
            want[c] = (float)w;
            maxd = fmax(maxd, fabs(want[c] - v[c]));
        }
        CHECK(maxd < 1e-5, "item vector = E + Wp t + bp (diff %g)", maxd);
        float v2[8];
        fr_seq_item_vector(g, -1, text + 4 * DT, v2);
        CHECK(fabsf(v[0] - v2[0] - P[L[FR_SEQ_E].offset + 32]) < 1e-5f, "an unknown row gets the text projection alone");
    }
    fr_seq_free(g);
    g = NULL;

    /* truncated, bit-flipped, trailing bytes: each refused by name */
    fr_seq_meta tmp;
    CHECK(fr_seq_section_load(data, size - 100, "t", NULL, &g, &tmp, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "truncated"), "truncated: %s", err);
    CHECK(fr_seq_section_load(data, 500, "t", NULL, &g, &tmp, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "truncated"), "header cut: %s", err);
    for (size_t at = 0; at < size; at += size / 37 + 1) {
        data[at] ^= 0x10;
        fr_status rc = fr_seq_section_load(data, size, "t", NULL, &g, &tmp, err, sizeof err);
        CHECK(rc != FR_OK && g == NULL, "bit flip at %zu refused", at);
        data[at] ^= 0x10;
    }
    data[FR_SEQ_HEADER_SIZE + 40] ^= 1;
    CHECK(fr_seq_section_load(data, size, "t", NULL, &g, &tmp, err, sizeof err) == FR_ERR_VERIFY && strstr(err, "checksum"), "flip: %s", err);
    data[FR_SEQ_HEADER_SIZE + 40] ^= 1;
    uint8_t *longer = calloc(1, size + 4);
    memcpy(longer, data, size);
    CHECK(fr_seq_section_load(longer, size + 4, "t", NULL, &g, &tmp, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "trailing"), "trailing: %s", err);
    free(longer);

    /* a model made for another store (same count and dim, other ids) is refused, naming both */
    fr_store *o = make_store(other, "x", NI);
    fr_seq_store_key ok;
    fr_seq_store_key_of(o, other, &ok);
    CHECK(fr_seq_section_load(data, size, "t", &ok, &g, &tmp, err, sizeof err) == FR_ERR_VERIFY && strstr(err, "another store") &&
              strstr(err, meta.store.name) && strstr(err, ok.name),
          "other store: %s", err);
    fr_store_close(o);
    o = make_store(other, "i", NI - 1);
    fr_seq_store_key_of(o, other, &ok);
    CHECK(fr_seq_section_load(data, size, "t", &ok, &g, &tmp, err, sizeof err) == FR_ERR_VERIFY, "fewer items: %s", err);
    fr_store_close(o);
    unlink(other);
    /* a store whose first rows are the model's items, with rows added after them (a compaction):
     * the model loads and knows only its own rows */
    fr_store_close(make_store(other, "i", NI + 2));
    CHECK(fr_store_attach(other, FR_STORE_SECTION_SEQMODEL, data, size, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_store_open(other, 0, 1, &o, err, sizeof err) == FR_OK, "%s", err);
    {
        fr_seq_server *sv = NULL;
        CHECK(o && fr_seq_server_of_store(o, other, &sv, &tmp, err, sizeof err) == FR_OK && fr_seq_server_item(sv, NI - 1) &&
                  !fr_seq_server_item(sv, NI) && tmp.cfg.n_items == NI,
              "rows after the model's: items it has never seen: %s", err);
        fr_seq_server_free(sv);
    }
    fr_store_close(o);
    unlink(other);
    /* a store without a model says so */
    o = make_store(other, "i", NI);
    CHECK(fr_seq_of_store(o, other, &g, &tmp, err, sizeof err) == FR_ERR_NOT_FOUND, "no model: %s", err);
    fr_store_close(o);
    unlink(other);

    /* a non-finite gradient stops training with a message naming the epoch and step */
    {
        float *hot = malloc((size_t)NI * DT * sizeof *hot);
        for (int i = 0; i < NI * DT; i++) hot[i] = 3e38f;
        int64_t off[3] = {0, 4, 8};
        int32_t seqs[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        const fr_seq_data d = {.n_seq = 2, .off = off, .items = seqs};
        const fr_seq_train_opts o = {.batch = 2, .n_neg = 4, .seed = 1, .opt = fr_seq_default_adamw(1e-3f)};
        fr_seq_epoch_stats st;
        fr_status rc = fr_seq_train_epoch(m, &d, hot, &o, 4, &st, err, sizeof err);
        CHECK(rc != FR_OK && strstr(err, "epoch 5 step 1") && strstr(err, "gradient norm"), "non-finite step named: %s", err);
        free(hot);
    }

    /* write the fuzz seed corpus when asked (the first byte is the target's mode) */
    const char *corpus = getenv("FR_WRITE_SEQ_CORPUS");
    if (corpus) {
        char fp[512];
        for (int mode = 0; mode < 2; mode++) {
            snprintf(fp, sizeof fp, "%s/valid_%d", corpus, mode);
            FILE *f = fopen(fp, "wb");
            if (f) {
                fputc(mode, f);
                fwrite(data, 1, size, f);
                fclose(f);
            }
        }
        snprintf(fp, sizeof fp, "%s/truncated", corpus);
        FILE *f = fopen(fp, "wb");
        if (f) {
            fputc(0, f);
            fwrite(data, 1, size / 2, f);
            fclose(f);
        }
    }
    free(data);
    fr_seq_free(m);
    fr_store_close(s);
    unlink(path);
    return fr_test_finish("test_seqmodel_store");
}

/* test_store_delta.c - live updates over a store: batch records round trip, versions never change
 * once built (a reader's version keeps its answers while newer ones are applied), records for
 * another model or dimension and every truncation of a record are refused whole, the trim after a
 * compaction, and compaction into a store file (updated rows in place, deleted ones gone, new ids
 * appended, the LIVE section), and compaction of a store with log priors and a sequential model:
 * kept byte for byte for updates only, remapped when items are deleted and added (priors row for
 * row by id, the model's id vectors by id, and ranking signals through the compacted store equal
 * to those through the base store and its delta). Events records
 * (event_batch.h): round trip, every malformed field refused whole, skipped by the catalogue's
 * replay, and the live priors over them equal to the builder fed the same events directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priors.h"
#include "ranker.h"
#include "seqmodel_store.h"
#include "event_batch.h"
#include "live_priors.h"
#include "store_delta.h"
#include "test_util.h"

#define DIM 4
#define FP 0xABCDULL

static char tmpdir[] = "/tmp/fr_delta_XXXXXX";

static fr_delta *apply(fr_delta *d, fr_delta_batch *b, uint64_t seq) {
    char err[512];
    size_t len;
    const uint8_t *rec = fr_delta_batch_bytes(b, &len);
    fr_delta *n = NULL;
    CHECK(fr_delta_apply(d, rec, len, seq, &n, err, sizeof err) == FR_OK, "apply: %s", err);
    fr_delta_batch_free(b);
    return n;
}

static void test_versions(void) {
    char err[512];
    fr_delta *d0, *d1, *d2;
    CHECK(fr_delta_empty(FP, DIM, 0, &d0, err, sizeof err) == FR_OK, "empty");
    fr_delta_batch *b;
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    float va[DIM] = {1, 0, 0, 0}, vb[DIM] = {0, 1, 0, 0}, va2[DIM] = {0, 0, 1, 0};
    CHECK(fr_delta_batch_upsert(b, "a", 1, va, NULL, 0, err, sizeof err) == FR_OK, "upsert a");
    CHECK(fr_delta_batch_upsert(b, "b", 1, vb, "bee", 3, err, sizeof err) == FR_OK, "upsert b");
    CHECK(fr_delta_batch_delete(b, "c", 1, err, sizeof err) == FR_OK, "delete c");
    float nan[DIM] = {0, NAN, 0, 0};
    CHECK(fr_delta_batch_upsert(b, "n", 1, nan, NULL, 0, err, sizeof err) == FR_ERR_ARG && strstr(err, "vector[1]"), "a NaN is refused: %s", err);
    CHECK(fr_delta_batch_delete(b, "", 0, err, sizeof err) == FR_ERR_ARG, "an empty id is refused");
    size_t len;
    const uint8_t *rec = fr_delta_batch_bytes(b, &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, rec, len);
    size_t copy_len = len;
    d1 = apply(d0, b, 1);
    fr_delta_item it;
    CHECK(fr_delta_count(d0) == 0 && !fr_delta_find(d0, "a", 1, &it), "the empty version stays empty");
    CHECK(fr_delta_count(d1) == 3 && fr_delta_seq(d1) == 1, "3 ids at position 1");
    CHECK(fr_delta_find(d1, "a", 1, &it) && !it.deleted && it.vector[0] == 1 && !it.text, "a: vector, no text");
    CHECK(fr_delta_find(d1, "b", 1, &it) && it.text && it.text_len == 3 && memcmp(it.text, "bee", 3) == 0, "b: text");
    CHECK(fr_delta_find(d1, "c", 1, &it) && it.deleted && !it.vector, "c: deleted");
    CHECK(!fr_delta_find(d1, "d", 1, &it), "d: not in the delta");
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    fr_delta_batch_upsert(b, "a", 1, va2, "new a", 5, err, sizeof err);
    d2 = apply(d1, b, 2);
    CHECK(fr_delta_find(d1, "a", 1, &it) && it.vector[0] == 1, "the older version keeps the old a");
    CHECK(fr_delta_find(d2, "a", 1, &it) && it.vector[2] == 1 && it.text_len == 5 && fr_delta_count(d2) == 3, "the newer one has the new a");
    fr_delta *t;
    CHECK(fr_delta_without(d2, d1, &t, err, sizeof err) == FR_OK && fr_delta_count(t) == 1 && fr_delta_find(t, "a", 1, &it) && it.vector[2] == 1 &&
              fr_delta_seq(t) == 2,
          "trim after compacting d1: only the newer a is left");
    fr_delta_unref(t);
    /* a version outlives the one it came from */
    fr_delta_unref(d1);
    CHECK(fr_delta_find(d2, "b", 1, &it) && it.text_len == 3, "entries shared with a freed version live on");
    /* records for another model or dimension; every truncation */
    char e2[512];
    fr_delta *x = NULL;
    CHECK(fr_delta_apply(d2, copy, copy_len, 3, &x, e2, sizeof e2) == FR_OK, "the first record again");
    fr_delta_unref(x);
    fr_delta *other;
    fr_delta_empty(FP + 1, DIM, 0, &other, err, sizeof err);
    CHECK(fr_delta_apply(other, copy, copy_len, 1, &x, e2, sizeof e2) == FR_ERR_VERIFY && strstr(e2, "fingerprint"), "another model's record: %s", e2);
    fr_delta_unref(other);
    fr_delta_empty(FP, DIM + 1, 0, &other, err, sizeof err);
    CHECK(fr_delta_apply(other, copy, copy_len, 1, &x, e2, sizeof e2) == FR_ERR_FORMAT && strstr(e2, "dimension"), "another dimension's record: %s", e2);
    fr_delta_unref(other);
    int bad = 0;
    for (size_t cut = 0; cut < copy_len; cut++)
        if (fr_delta_apply(d2, copy, cut, 3, &x, e2, sizeof e2) == FR_OK) {
            bad++;
            fr_delta_unref(x);
        }
    CHECK(bad == 0, "every truncation of a record is refused (%d accepted)", bad);
    free(copy);
    fr_delta_unref(d2);
    fr_delta_unref(d0);
}

static void write_base(const char *path) {
    char err[512];
    fr_store_writer *w;
    fr_store_writer_open(path, DIM, FR_STORE_F32, "m", FP, 1, &w, err, sizeof err);
    for (int i = 0; i < 3; i++) {
        char id[8], text[16];
        float v[DIM] = {(float)i, 1, 0, 0};
        snprintf(id, sizeof id, "x%d", i);
        snprintf(text, sizeof text, "text %d", i);
        CHECK(fr_store_writer_add(w, id, strlen(id), v, text, strlen(text), err, sizeof err) == FR_OK, "base add");
    }
    CHECK(fr_store_writer_finish(w, err, sizeof err) == FR_OK, "base: %s", err);
}

static void test_compact(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/base.store", tmpdir);
    write_base(path);
    fr_store *base;
    CHECK(fr_store_open(path, FP, 0, &base, err, sizeof err) == FR_OK, "open base");
    fr_delta *d0, *d1;
    fr_delta_empty(FP, DIM, 0, &d0, err, sizeof err);
    fr_delta_batch *b;
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    float v1[DIM] = {9, 9, 9, 9}, vy[DIM] = {5, 0, 0, 0};
    fr_delta_batch_upsert(b, "x1", 2, v1, "new text 1", 10, err, sizeof err);
    fr_delta_batch_delete(b, "x2", 2, err, sizeof err);
    fr_delta_batch_upsert(b, "y", 1, vy, "why", 3, err, sizeof err);
    d1 = apply(d0, b, 7);
    char out[512];
    snprintf(out, sizeof out, "%s/compacted.store", tmpdir);
    CHECK(fr_delta_compact(base, d1, out, err, sizeof err) == FR_OK, "compact: %s", err);
    fr_store *c;
    CHECK(fr_store_open(out, FP, 0, &c, err, sizeof err) == FR_OK, "the compacted store validates: %s", err);
    if (c) {
        CHECK(fr_store_info_of(c)->count == 3 && fr_store_live_seq(c) == 7, "3 items, LIVE section at 7");
        float v[DIM];
        size_t tl;
        int64_t r1 = fr_store_find(c, "x1", 2), ry = fr_store_find(c, "y", 1);
        CHECK(r1 == 1 && fr_store_find(c, "x2", 2) < 0 && ry == 2 && fr_store_find(c, "x0", 2) == 0, "x0, x1 in place, x2 gone, y appended");
        fr_store_vector(c, 1, v);
        const char *t = fr_store_text(c, 1, &tl);
        CHECK(v[0] == 9 && tl == 10 && memcmp(t, "new text 1", 10) == 0, "x1 updated: vector and text");
        fr_store_close(c);
    }
    fr_store_close(base);
    fr_delta_unref(d1);
    fr_delta_unref(d0);
}

/* ---- compaction of a store with log priors and a sequential model, rows moving ---- */
#define NB 10 /* base items p0..p9 */

static fr_store *open_store(const char *path) {
    char err[512];
    fr_store *s = NULL;
    CHECK(fr_store_open(path, FP, 0, &s, err, sizeof err) == FR_OK, "open %s: %s", path, err);
    return s;
}

/* the base store: p0..p9 with texts, priors from a small log (windows of 3, room for 4 neighbours,
 * so that some lists are full) and a small sequential model with a wide spread of parameters */
static void write_derived_base(const char *path) {
    char err[512];
    fr_store_writer *w;
    fr_store_writer_open(path, DIM, FR_STORE_F32, "m", FP, 1, &w, err, sizeof err);
    uint64_t seed = 3;
    for (int i = 0; i < NB; i++) {
        char id[8];
        float v[DIM];
        fr_test_fill(v, DIM, &seed, 1.0f);
        snprintf(id, sizeof id, "p%d", i);
        fr_store_writer_add(w, id, strlen(id), v, id, strlen(id), err, sizeof err);
    }
    CHECK(fr_store_writer_finish(w, err, sizeof err) == FR_OK, "base: %s", err);
    fr_priors_params pp = {.window = 3, .half_life = 50, .capacity = 4};
    fr_priors_builder *b;
    CHECK(fr_priors_builder_create(NB, &pp, &b, err, sizeof err) == FR_OK, "%s", err);
    for (int u = 0; u < 6; u++)
        for (int k = 0; k < 8; k++) {
            char user[8];
            snprintf(user, sizeof user, "u%d", u);
            fr_priors_add(b, user, strlen(user), (uint32_t)((u * 7 + k * 3 + k * k) % NB), u + 10.0 * k, 1.0 + u % 3, err, sizeof err);
        }
    uint8_t *sec = NULL;
    size_t n = 0;
    CHECK(fr_priors_finish(b, &sec, &n, err, sizeof err) == FR_OK && fr_store_attach(path, FR_STORE_SECTION_PRIORS, sec, n, err, sizeof err) == FR_OK, "priors: %s", err);
    fr_priors_builder_free(b);
    free(sec);
    fr_seq_config cfg = fr_seq_default_config(NB, DIM);
    cfg.d = 8;
    cfg.d_ff = 16;
    cfg.max_len = 4;
    cfg.n_heads = 2;
    fr_seq_model *m = NULL;
    CHECK(fr_seq_create_forward(&cfg, 1, &m, err, sizeof err) == FR_OK, "%s", err);
    if (!m) return;
    fr_seq_init_params(m, 7);
    for (size_t i = 0; i < fr_seq_num_params(m); i++) fr_seq_params(m)[i] *= 20.0f;
    fr_seq_meta meta = {.cfg = cfg, .lr = 1e-3f, .batch = 1, .n_neg = 1, .patience = 1, .max_epochs = 1, .val_percent = 10, .val_negatives = 10, .seed = 1, .epochs_run = 1, .best_epoch = 1};
    fr_store *s = open_store(path);
    if (s) fr_seq_store_key_of(s, path, &meta.store);
    fr_store_close(s);
    CHECK(fr_seq_section_build(&meta, fr_seq_params(m), fr_seq_num_params(m), &sec, &n, err, sizeof err) == FR_OK &&
              fr_store_attach(path, FR_STORE_SECTION_SEQMODEL, sec, n, err, sizeof err) == FR_OK,
          "model: %s", err);
    free(sec);
    fr_seq_free(m);
}

static int is_deleted(const char *id, size_t len) { return (len == 2 && (memcmp(id, "p2", 2) == 0 || memcmp(id, "p5", 2) == 0)); }

/* The priors of c are those of base, row for row by id: deleted items gone from every list (the
 * lists otherwise the same, strongest first), new items empty. */
static void check_priors(const fr_store *base, const fr_store *c, const char *const *added, int n_added) {
    char err[512];
    fr_priors a, b;
    int ok = fr_priors_of_store(base, &a, err, sizeof err) == FR_OK && fr_priors_of_store(c, &b, err, sizeof err) == FR_OK;
    CHECK(ok, "priors: %s", err);
    if (!ok) return;
    int same = 1, dropped = 0;
    for (uint64_t r = 0; r < a.n_items; r++) {
        size_t il;
        const char *id = fr_store_id(base, r, &il);
        int64_t nr = fr_store_find(c, id, il);
        if (is_deleted(id, il)) {
            same &= nr < 0;
            continue;
        }
        if (nr < 0 || a.popularity[r] != b.popularity[nr] || a.seen[r] != b.seen[nr]) {
            same = 0;
            continue;
        }
        uint64_t k2 = b.nb_off[nr];
        for (uint64_t k = a.nb_off[r]; k < a.nb_off[r + 1]; k++) {
            size_t nl;
            const char *nid = fr_store_id(base, a.nb_row[k], &nl);
            if (is_deleted(nid, nl)) {
                dropped++;
                continue;
            }
            size_t ml;
            const char *mid = k2 < b.nb_off[nr + 1] ? fr_store_id(c, b.nb_row[k2], &ml) : NULL;
            if (!mid || ml != nl || memcmp(mid, nid, nl) != 0 || b.nb_weight[k2] != a.nb_weight[k]) same = 0;
            k2++;
        }
        if (k2 != b.nb_off[nr + 1]) same = 0;
    }
    CHECK(same && dropped > 0, "priors row for row by id: kept items' popularity, events and neighbours the same, %d entries of deleted items dropped", dropped);
    int empty = 1;
    for (int i = 0; i < n_added; i++) {
        int64_t r = fr_store_find(c, added[i], strlen(added[i]));
        empty &= r >= 0 && b.popularity[r] == 0 && b.seen[r] == 0 && b.nb_off[r] == b.nb_off[r + 1];
    }
    CHECK(empty && b.events == a.events && b.n_items == a.n_items - 2 + (uint64_t)n_added, "new items: no popularity, events or neighbours");
}

/* One request's raw signals, by candidate index (NAN: the candidate was not kept). */
static void signals(const fr_store *s, const fr_rank_request *q, float out[][FR_SIG_COUNT], int n) {
    char err[512];
    fr_ranker *rk = NULL;
    fr_rank_result res;
    fr_rank_signals sg;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < FR_SIG_COUNT; k++) out[i][k] = NAN;
    int ok = fr_ranker_create(NULL, s, &rk, err, sizeof err) == FR_OK && fr_rank_signals_of(rk, q, &res, &sg, err, sizeof err) == FR_OK;
    CHECK(ok, "signals: %s", err);
    if (!ok) {
        fr_ranker_free(rk);
        return;
    }
    for (int j = 0; j < sg.n; j++)
        for (int k = 0; k < FR_SIG_COUNT; k++) out[sg.candidate[j]][k] = sg.sig[k] ? sg.sig[k][j] : NAN;
    fr_ranker_free(rk);
}

static void test_compact_derived(void) {
    char path[512], out[512], out2[512], err[512];
    snprintf(path, sizeof path, "%s/derived.store", tmpdir);
    snprintf(out, sizeof out, "%s/derived.compacted", tmpdir);
    snprintf(out2, sizeof out2, "%s/derived.compacted2", tmpdir);
    write_derived_base(path);
    fr_store *base = open_store(path);
    if (!base) return;
    /* updates only: both sections kept byte for byte */
    fr_delta *d0, *d1, *d2;
    fr_delta_empty(FP, DIM, 0, &d0, err, sizeof err);
    fr_delta_batch *b;
    float v1[DIM] = {9, 9, 9, 9}, vn[3][DIM] = {{1, 2, 3, 4}, {-1, 0.5f, 2, 0}, {0, 0, -3, 1}};
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    fr_delta_batch_upsert(b, "p0", 2, v1, NULL, 0, err, sizeof err);
    d1 = apply(d0, b, 4);
    CHECK(fr_delta_compact(base, d1, out, err, sizeof err) == FR_OK, "updates only: %s", err);
    fr_store *c = open_store(out);
    for (uint32_t k = FR_STORE_SECTION_PRIORS; c && k <= FR_STORE_SECTION_SEQMODEL; k++) {
        const uint8_t *x, *y;
        uint64_t nx, ny;
        CHECK(fr_store_section(base, k, &x, &nx) && fr_store_section(c, k, &y, &ny) && nx == ny && memcmp(x, y, nx) == 0, "section %u kept as it was", k);
    }
    fr_store_close(c);
    fr_delta_unref(d1);
    /* 2 deleted, 3 added: both sections remapped */
    const char *added[3] = {"n0", "n1", "n2"};
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    fr_delta_batch_delete(b, "p2", 2, err, sizeof err);
    fr_delta_batch_delete(b, "p5", 2, err, sizeof err);
    for (int i = 0; i < 3; i++) fr_delta_batch_upsert(b, added[i], 2, vn[i], added[i], 2, err, sizeof err);
    d1 = apply(d0, b, 5);
    CHECK(fr_delta_compact(base, d1, out, err, sizeof err) == FR_OK, "rows move under priors and a model: %s", err);
    c = open_store(out);
    if (!c) {
        fr_store_close(base);
        fr_delta_unref(d1);
        fr_delta_unref(d0);
        return;
    }
    CHECK(fr_store_info_of(c)->count == NB + 1 && fr_store_find(c, "n0", 2) == NB - 2, "11 items, the new ones after the kept ones");
    {
        int64_t map[NB];
        uint64_t n_new = 0;
        int same = 1;
        fr_delta_row_map(base, d1, map, &n_new);
        for (int r = 0; r < NB; r++) {
            size_t il;
            const char *id = fr_store_id(base, (uint64_t)r, &il);
            same &= map[r] == (is_deleted(id, il) ? FR_ROW_DELETED : fr_store_find(c, id, il));
        }
        CHECK(same && n_new == NB + 1, "fr_delta_row_map gives the compacted store's rows");
    }
    check_priors(base, c, added, 3);
    /* the model: kept items' id vectors by id, every other parameter as it was; it knows 8 items */
    fr_seq_model *ma = NULL, *mc = NULL;
    fr_seq_meta meta_a, meta_c;
    CHECK(fr_seq_of_store(base, path, &ma, &meta_a, err, sizeof err) == FR_OK && fr_seq_of_store(c, out, &mc, &meta_c, err, sizeof err) == FR_OK,
          "the models load: %s", err);
    if (ma && mc) {
        const fr_seq_tensor *la = fr_seq_layout_of(ma), *lc = fr_seq_layout_of(mc);
        const float *pa = fr_seq_params(ma), *pc = fr_seq_params(mc);
        int same = meta_c.cfg.n_items == NB - 2 && meta_c.seed == meta_a.seed && meta_c.store.n_items == NB - 2;
        for (int t = 0; t < FR_SEQ_NTENSORS; t++)
            if (t != FR_SEQ_E) same &= la[t].count == lc[t].count && memcmp(pa + la[t].offset, pc + lc[t].offset, 4 * la[t].count) == 0;
        for (int r = 0; r < NB; r++) {
            size_t il;
            const char *id = fr_store_id(base, (uint64_t)r, &il);
            int64_t nr = fr_store_find(c, id, il);
            if (!is_deleted(id, il)) same &= nr >= 0 && memcmp(pa + la[FR_SEQ_E].offset + 8 * r, pc + lc[FR_SEQ_E].offset + 8 * nr, 32) == 0;
        }
        CHECK(same, "model: E rows moved with their items, the deleted ones gone, the rest unchanged");
    }
    fr_seq_free(ma);
    fr_seq_free(mc);
    /* ranking: the compacted store gives the very signals the base store gave through the delta
     * (deleted items unknown, new ones ranked by their vectors: no log signals, the model's text
     * projection) */
    enum { NH = 5,
           NCAND = NB + 3 };
    fr_history_item hb[NH] = {{"p1", 2, 1, 0, 0, 0, 0, NULL}, {"p2", 2, 1, 0, 0, 0, 1, NULL}, {"p7", 2, 1, 0, 0, 0, 0, NULL}, {"n1", 2, 1, 0, 0, 0, 1, vn[1]}, {"p4", 2, 1, 0, 0, 0, 0, NULL}},
                    hc[NH];
    fr_candidate cb[NCAND], cc[NCAND];
    char cid[NCAND][4];
    for (int i = 0; i < NCAND; i++) {
        snprintf(cid[i], sizeof cid[i], i < NB ? "p%d" : "n%d", i < NB ? i : i - NB);
        cb[i] = (fr_candidate){.id = cid[i], .id_len = 2};
        cc[i] = cb[i];
        if (i >= NB) {
            cb[i].vector = vn[i - NB];
            cb[i].live = 1;
        }
        if (is_deleted(cid[i], 2)) cb[i].live = 1;
    }
    for (int i = 0; i < NH; i++) hc[i] = (fr_history_item){.id = hb[i].id, .id_len = 2, .weight = 1};
    fr_rank_request q = {.history = hb, .n_history = NH, .candidates = cb, .n_candidates = NCAND};
    fr_rank_options_default(&q.options);
    q.options.popularity_weight = q.options.covisitation_weight = q.options.sequential_weight = 1;
    float sb[NCAND][FR_SIG_COUNT], sc[NCAND][FR_SIG_COUNT];
    signals(base, &q, sb, NCAND);
    q.history = hc;
    q.candidates = cc;
    signals(c, &q, sc, NCAND);
    int same = 1, kept = 0, covis = 0;
    static const fr_signal sig[4] = {FR_SIG_SEMANTIC, FR_SIG_POPULARITY, FR_SIG_COVISITATION, FR_SIG_SEQUENTIAL};
    for (int i = 0; i < NCAND; i++) {
        int deleted = is_deleted(cid[i], 2);
        if (deleted) {
            same &= isnan(sb[i][FR_SIG_SEMANTIC]) && isnan(sc[i][FR_SIG_SEMANTIC]);
            continue;
        }
        kept++;
        covis += sc[i][FR_SIG_COVISITATION] != 0;
        for (int k = 0; k < 4; k++)
            if (!(sb[i][sig[k]] == sc[i][sig[k]])) {
                same = 0;
                fprintf(stderr, "  %s %s: %.9g before, %.9g after\n", cid[i], fr_signal_name(sig[k]), sb[i][sig[k]], sc[i][sig[k]]);
            }
        if (i >= NB) same &= sc[i][FR_SIG_POPULARITY] == 0 && sc[i][FR_SIG_COVISITATION] == 0 && sc[i][FR_SIG_SEQUENTIAL] != 0;
    }
    CHECK(same && kept == NB + 1 && covis > 2, "signals through the compacted store = through the base and its delta, exactly (%d candidates, %d with co-visitation)", kept, covis);
    /* a second compaction deletes a model item and adds one: the model's items stay first */
    fr_store_close(base);
    base = c;
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    fr_delta_batch_delete(b, "p0", 2, err, sizeof err);
    fr_delta_batch_upsert(b, "n3", 2, v1, NULL, 0, err, sizeof err);
    d2 = apply(d0, b, 6);
    CHECK(fr_delta_compact(base, d2, out2, err, sizeof err) == FR_OK, "second compaction: %s", err);
    c = open_store(out2);
    fr_seq_server *sv = NULL;
    CHECK(c && fr_seq_server_of_store(c, out2, &sv, &meta_c, err, sizeof err) == FR_OK && meta_c.cfg.n_items == NB - 3 &&
              fr_store_info_of(c)->count == NB + 1 && fr_store_find(c, "n3", 2) == NB,
          "second compaction: the model knows 7 items of 11: %s", err);
    fr_seq_server_free(sv);
    /* rows the model knows must stay first; deleting all of them is refused */
    const uint8_t *sec;
    uint64_t sn;
    uint8_t *o = NULL;
    size_t on = 0;
    int64_t swap[NB + 1], none[NB + 1];
    for (int r = 0; r <= NB; r++) {
        swap[r] = r;
        none[r] = r < NB - 2 ? FR_ROW_DELETED : r - (NB - 2);
    }
    swap[0] = NB;
    swap[NB] = 0;
    CHECK(fr_store_section(base, FR_STORE_SECTION_SEQMODEL, &sec, &sn) &&
              fr_seq_section_remap(sec, sn, swap, NB + 1, base, "x", &o, &on, err, sizeof err) == FR_ERR_UNSUPPORTED && strstr(err, "first rows") && !o,
          "a map that moves a model item after the unknown ones: %s", err);
    CHECK(fr_seq_section_remap(sec, sn, none, NB + 1, base, "x", &o, &on, err, sizeof err) == FR_ERR_UNSUPPORTED && strstr(err, "retrain") && !o,
          "every model item deleted: %s", err);
    fr_store_close(c);
    fr_store_close(base);
    fr_delta_unref(d2);
    fr_delta_unref(d1);
    fr_delta_unref(d0);
}

static const fr_priors_params PP = {.window = 2, .half_life = 100, .capacity = 1};

static fr_event_batch *events_batch(int with_tail) {
    char err[512];
    fr_event_batch *b;
    CHECK(fr_event_batch_new(&PP, &b, err, sizeof err) == FR_OK, "events batch: %s", err);
    const fr_event evs[4] = {{"u1", "x0", 2, 2, 10, 1}, {"u2", "x1", 2, 2, 5, 2.5}, {"u1", "x2", 2, 2, 30, 1}, {"u1", "nope", 2, 4, 31, 3}};
    for (int i = 0; i < 4; i++) CHECK(fr_event_batch_add(b, &evs[i], err, sizeof err) == FR_OK, "add event %d: %s", i, err);
    if (with_tail) fr_event_batch_set_tail(b, &(fr_event_tail){1, 77, 4000, 40});
    return b;
}

typedef struct {
    int n;
    char users[8][8];
    double ts[8], w[8];
} seen_events;

static fr_status collect(void *ctx, const fr_event *ev, char *err, size_t errcap) {
    (void)err;
    (void)errcap;
    seen_events *s = ctx;
    snprintf(s->users[s->n], sizeof s->users[0], "%.*s", (int)ev->user_len, ev->user);
    s->ts[s->n] = ev->ts;
    s->w[s->n++] = ev->weight;
    return FR_OK;
}

static void test_events_record(void) {
    char err[512];
    fr_event_batch *b = events_batch(1);
    size_t len;
    const uint8_t *rec = fr_event_batch_bytes(b, &len);
    uint8_t buf[512];
    CHECK(len <= sizeof buf && len == 48 + 4 * (1 + 2 + 1 + 2 + 16) + 2, "record size %zu", len);
    memcpy(buf, rec, len);
    fr_event_batch_info info;
    CHECK(fr_event_batch_check(buf, len, &info, err, sizeof err) == FR_OK, "check: %s", err);
    CHECK(info.n_events == 4 && info.tail.present && info.tail.file_id == 77 && info.tail.offset == 4000 && info.tail.line == 40 &&
              info.params.window == 2 && info.params.capacity == 1 && info.params.half_life == 100,
          "round trip of the header and tail position");
    seen_events se = {0};
    CHECK(fr_event_batch_each(buf, len, collect, &se, err, sizeof err) == FR_OK && se.n == 4 && strcmp(se.users[1], "u2") == 0 &&
              se.ts[1] == 5 && se.w[1] == 2.5 && se.w[3] == 3,
          "round trip of the events");
    fr_event_batch_free(b);
    b = events_batch(0);
    size_t len0;
    rec = fr_event_batch_bytes(b, &len0);
    CHECK(len0 == len - 24 && fr_event_batch_check(rec, len0, &info, err, sizeof err) == FR_OK && !info.tail.present && info.n_events == 4,
          "without a tail position: 24 bytes shorter, checks");
    fr_event_batch_free(b);
    /* a bad event is refused when it is added, naming the field */
    fr_event_batch_new(&PP, &b, err, sizeof err);
    const fr_event bad[] = {{"", "x", 0, 1, 1, 1}, {"u", "x", 1, 1, INFINITY, 1}, {"u", "x", 1, 1, 1, 0}, {"u", "x\0y", 1, 3, 1, 1}};
    const char *field[] = {"user", "ts is not finite", "weight", "item contains a NUL"};
    for (int i = 0; i < 4; i++) {
        err[0] = 0;
        CHECK(fr_event_batch_add(b, &bad[i], err, sizeof err) != FR_OK && strstr(err, field[i]), "bad event %d refused: %s", i, err);
    }
    fr_event_batch_free(b);
    /* every malformed field of a record is refused. Layout: header 0..23 (kind, flags, reserved,
     * count, window, capacity, half-life), tail 24..47 (file, offset, line), then event 0: user
     * length 48, user 49..50, item length 51, item 52..53, ts 54..61, weight 62..69 */
    const struct {
        size_t at, n;
        uint8_t v[8];
        const char *what;
    } mut[] = {{0, 1, {1}, "kind"},
               {1, 1, {3}, "flags"},
               {2, 1, {1}, "reserved"},
               {7, 1, {1}, "count over the limit"},
               {4, 1, {5}, "count beyond the record"},
               {8, 1, {0}, "window 0"},
               {8, 1, {65}, "window 65"},
               {12, 1, {0}, "capacity 0"},
               {13, 1, {0x20}, "capacity 8193"},
               {22, 2, {0xF8, 0x7F}, "half-life NaN"},
               {23, 1, {0xC0}, "half-life < 0"},
               {47, 1, {1}, "tail line > offset"},
               {48, 1, {0}, "user length 0"},
               {48, 1, {200}, "user length"},
               {49, 1, {0}, "user NUL"},
               {51, 1, {0}, "item length 0"},
               {52, 1, {0}, "item NUL"},
               {60, 2, {0xF8, 0x7F}, "ts NaN"},
               {54, 8, {0, 0, 0, 0, 0, 0, 0xF0, 0x7F}, "ts inf"},
               {62, 8, {0}, "weight 0"},
               {68, 2, {0xF8, 0x7F}, "weight NaN"},
               {69, 1, {0xBF}, "weight < 0"},
               {69, 1, {0x41}, "weight > 1e6"}};
    for (size_t i = 0; i < sizeof mut / sizeof mut[0]; i++) {
        uint8_t m[512];
        memcpy(m, buf, len);
        memcpy(m + mut[i].at, mut[i].v, mut[i].n);
        CHECK(fr_event_batch_check(m, len, NULL, err, sizeof err) != FR_OK, "malformed %s refused", mut[i].what);
    }
    CHECK(fr_event_batch_check(buf, len - 1, NULL, err, sizeof err) != FR_OK, "a truncated record is refused");
    uint8_t longer[513];
    memcpy(longer, buf, len);
    longer[len] = 0;
    CHECK(fr_event_batch_check(longer, len + 1, NULL, err, sizeof err) != FR_OK && strstr(err, "after the last event"), "a trailing byte is refused");
    int truncations_ok = 1;
    for (size_t n = 0; n < len; n++) truncations_ok &= fr_event_batch_check(buf, n, NULL, err, sizeof err) != FR_OK;
    CHECK(truncations_ok, "every truncation is refused");
    /* the catalogue side: accepted by the check, a version at the new position, skipped by replay */
    fr_delta *d0, *d1 = NULL;
    fr_delta_empty(FP, DIM, 3, &d0, err, sizeof err);
    CHECK(fr_delta_check_record(buf, len, FP, DIM, err, sizeof err) == FR_OK, "fr_delta_check_record accepts an events record");
    CHECK(fr_delta_apply(d0, buf, len, 4, &d1, err, sizeof err) == FR_OK && fr_delta_seq(d1) == 4 && fr_delta_count(d1) == 0,
          "an events record changes no item");
    fr_delta_replay r = {d0, 0};
    CHECK(fr_delta_replay_record(&r, 5, buf, len, err, sizeof err) == FR_OK && r.cur == d0 && fr_delta_seq(d0) == 3, "the catalogue replay skips it");
    fr_delta_unref(d1);
    fr_delta_unref(d0);
}

/* The live priors over a store: the same events applied from records equal the builder fed
 * directly (ids resolved against the store; unknown ones counted), finished section bit for bit. */
static void test_live_priors(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/lp.store", tmpdir);
    write_base(path);
    fr_store *st;
    CHECK(fr_store_open(path, FP, 0, &st, err, sizeof err) == FR_OK, "open: %s", err);
    if (!st) return;
    fr_live_priors *lp;
    fr_priors_params other = {.window = 10, .half_life = 0, .capacity = 1000};
    CHECK(fr_live_priors_open(st, &other, &lp, err, sizeof err) == FR_OK && !fr_live_priors_ready(lp), "a store without priors: ready");
    fr_event_batch *b = events_batch(1);
    size_t len;
    const uint8_t *rec = fr_event_batch_bytes(b, &len);
    uint32_t unknown;
    CHECK(fr_live_priors_apply(lp, st, NULL, rec, len, &unknown, err, sizeof err) == FR_OK && unknown == 1, "apply: %s", err);
    CHECK(fr_live_priors_params(lp).window == 2 && fr_live_priors_tail(lp).offset == 4000, "the log's parameters adopted, the tail position kept");
    fr_priors_builder *direct;
    fr_priors_builder_create(3, &PP, &direct, err, sizeof err);
    fr_priors_add(direct, "u1", 2, 0, 10, 1, err, sizeof err);
    fr_priors_add(direct, "u2", 2, 1, 5, 2.5, err, sizeof err);
    fr_priors_add(direct, "u1", 2, 2, 30, 1, err, sizeof err);
    fr_priors_add_unknown(direct);
    uint8_t *a = NULL, *c = NULL, *state = NULL;
    size_t an = 0, cn = 0, sn = 0;
    fr_priors_finish(direct, &a, &an, err, sizeof err);
    CHECK(fr_live_priors_sections(lp, &c, &cn, &state, &sn, err, sizeof err) == FR_OK && an == cn && memcmp(a, c, an) == 0,
          "live priors == the builder fed directly, bit for bit");
    fr_priors_builder *back;
    fr_priors_position pos;
    CHECK(state && fr_priors_checkpoint_load(state, sn, &PP, 3, &back, &pos, err, sizeof err) == FR_OK && pos.offset == 4000 && pos.prefix_hash == 77,
          "the state section is a checkpoint holding the tail position");
    if (state && back) fr_priors_builder_free(back);
    fr_event_batch_free(b);
    fr_priors_params p2 = {.window = 3, .half_life = 100, .capacity = 1};
    fr_event_batch_new(&p2, &b, err, sizeof err);
    fr_event_batch_add(b, &(fr_event){"u", "x0", 1, 2, 1, 1}, err, sizeof err);
    rec = fr_event_batch_bytes(b, &len);
    CHECK(fr_live_priors_apply(lp, st, NULL, rec, len, NULL, err, sizeof err) != FR_OK && strstr(err, "window 3"), "a record for other parameters is refused: %s", err);
    fr_event_batch_free(b);
    free(a);
    free(c);
    free(state);
    fr_priors_builder_free(direct);
    fr_live_priors_free(lp);
    fr_store_close(st);
}

/* ---- two replicas, one of which compacts while records keep coming: the same priors per item id ---- */

static uint8_t *rec_copy(const uint8_t *r, size_t n) {
    uint8_t *c = malloc(n);
    memcpy(c, r, n);
    return c;
}

/* events (user, item, ts) as one record; *len its size (caller frees) */
static uint8_t *ev_rec(const char *user, const char *const *items, int n, double ts0, size_t *len) {
    char err[256];
    fr_event_batch *b;
    fr_event_batch_new(&PP, &b, err, sizeof err);
    for (int i = 0; i < n; i++) fr_event_batch_add(b, &(fr_event){user, items[i], strlen(user), strlen(items[i]), ts0 + i, 1}, err, sizeof err);
    const uint8_t *bytes = fr_event_batch_bytes(b, len);
    uint8_t *c = rec_copy(bytes, *len);
    fr_event_batch_free(b);
    return c;
}

static uint8_t *cat_rec(const char *del, const char *const *ups, int n, size_t *len) {
    char err[256];
    fr_delta_batch *b;
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    if (del) fr_delta_batch_delete(b, del, strlen(del), err, sizeof err);
    float v[DIM] = {0, 0, 1, 0};
    for (int i = 0; i < n; i++) fr_delta_batch_upsert(b, ups[i], strlen(ups[i]), v, NULL, 0, err, sizeof err);
    const uint8_t *bytes = fr_delta_batch_bytes(b, len);
    uint8_t *c = rec_copy(bytes, *len);
    fr_delta_batch_free(b);
    return c;
}

/* applies record k to (lp, d) over store the way the server does */
static void replica_apply(fr_live_priors *lp, const fr_store *st, fr_delta **d, const uint8_t *rec, size_t len, uint64_t pos) {
    char err[512];
    fr_delta *n;
    CHECK(fr_delta_apply(*d, rec, len, pos, &n, err, sizeof err) == FR_OK, "apply %llu: %s", (unsigned long long)pos, err);
    fr_delta_unref(*d);
    *d = n;
    fr_status rc = fr_record_kind(rec, len) == FR_RECORD_EVENTS ? fr_live_priors_apply(lp, st, *d, rec, len, NULL, err, sizeof err)
                                                                : fr_live_priors_catalogue(lp, st, rec, len, err, sizeof err);
    CHECK(rc == FR_OK, "live priors at %llu: %s", (unsigned long long)pos, err);
}

/* popularity and event count of item id in lp (whose first rows are st's), -1 when it has no row */
static double pop_of(fr_live_priors *lp, const fr_store *st, const char *id, uint32_t *seen) {
    char err[512];
    uint8_t *sec = NULL;
    size_t n = 0;
    char **added = NULL;
    uint64_t n_added = 0;
    double out = -1;
    *seen = 0;
    if (fr_live_priors_sections(lp, &sec, &n, NULL, NULL, err, sizeof err) || fr_live_priors_added(lp, &added, &n_added, err, sizeof err)) return -2;
    fr_priors v;
    const uint64_t ns = fr_store_info_of(st)->count;
    if (fr_priors_view(sec, n, ns + n_added, "t", &v, err, sizeof err) == FR_OK) {
        int64_t row = fr_store_find(st, id, strlen(id));
        for (uint64_t k = 0; row < 0 && k < n_added; k++)
            if (strcmp(added[k], id) == 0) row = (int64_t)(ns + k);
        if (row >= 0) {
            out = v.popularity[row];
            *seen = v.seen[row];
        }
    }
    fr_live_priors_added_free(added, n_added);
    free(sec);
    return out;
}

static void test_live_priors_replicas(void) {
    char path[512], cpath[512], err[512];
    snprintf(path, sizeof path, "%s/rep.store", tmpdir);
    snprintf(cpath, sizeof cpath, "%s/rep-compacted.store", tmpdir);
    write_base(path); /* x0 x1 x2 */
    fr_store *base = open_store(path);
    if (!base) return;
    const char *e1[] = {"x0", "x1"}, *up[] = {"x1", "y"}, *e4[] = {"x1", "y", "x2"}, *e5[] = {"y", "x1"};
    size_t len[5];
    uint8_t *rec[5] = {ev_rec("u1", e1, 2, 1, &len[0]), cat_rec("x1", NULL, 0, &len[1]), cat_rec(NULL, up, 2, &len[2]),
                       ev_rec("u2", e4, 3, 3, &len[3]), ev_rec("u1", e5, 2, 6, &len[4])};
    fr_live_priors *a, *b;
    fr_delta *da, *db;
    CHECK(fr_live_priors_open(base, &PP, &a, err, sizeof err) == FR_OK && fr_live_priors_open(base, &PP, &b, err, sizeof err) == FR_OK, "open: %s", err);
    fr_delta_empty(FP, DIM, 0, &da, err, sizeof err);
    fr_delta_empty(FP, DIM, 0, &db, err, sizeof err);
    for (int k = 0; k < 5; k++) replica_apply(b, base, &db, rec[k], len[k], (uint64_t)k + 1); /* B never compacts */
    /* A folds at position 2 (x1 deleted), takes records 3 and 4 (x1 back, events for it) while the
     * compaction runs, then loads the compacted store and takes record 5 over it */
    for (int k = 0; k < 2; k++) replica_apply(a, base, &da, rec[k], len[k], (uint64_t)k + 1);
    fr_delta *folded = da;
    fr_delta_ref(folded);
    uint8_t *pr = NULL, *stt = NULL;
    size_t prn = 0, sttn = 0;
    char **added = NULL;
    uint64_t n_added = 0;
    CHECK(fr_live_priors_sections(a, &pr, &prn, &stt, &sttn, err, sizeof err) == FR_OK && fr_live_priors_added(a, &added, &n_added, err, sizeof err) == FR_OK, "fold: %s", err);
    const fr_compact_sections x = {2, pr, stt, prn, sttn, (const char *const *)added, n_added};
    CHECK(fr_delta_compact_with(base, folded, &x, cpath, err, sizeof err) == FR_OK, "compact with live priors: %s", err);
    for (int k = 2; k < 4; k++) replica_apply(a, base, &da, rec[k], len[k], (uint64_t)k + 1);
    int64_t map[3];
    uint64_t n_new;
    fr_delta_row_map(base, folded, map, &n_new);
    char **revived = NULL;
    CHECK(fr_live_priors_revived(a, map, base, &revived, err, sizeof err) == FR_OK && revived && revived[1] && strcmp(revived[1], "x1") == 0,
          "x1, dropped by the compaction and named by events since, is revived");
    fr_store *ns = open_store(cpath);
    CHECK(ns && fr_live_priors_rebase(a, map, revived, ns, err, sizeof err) == FR_OK, "rebase: %s", err);
    free(revived);
    fr_delta *rest;
    CHECK(fr_delta_without(da, folded, &rest, err, sizeof err) == FR_OK, "trim: %s", err);
    fr_delta_unref(da);
    da = rest;
    if (ns) replica_apply(a, ns, &da, rec[4], len[4], 5);
    static const char *ids[] = {"x0", "x1", "x2", "y"};
    for (int i = 0; ns && i < 4; i++) {
        uint32_t sa, sb;
        const double pa = pop_of(a, ns, ids[i], &sa), pb = pop_of(b, base, ids[i], &sb);
        CHECK(pa == pb && sa == sb, "%s: the replica that compacted mid-stream has popularity %g (%u events), the other %g (%u)", ids[i], pa, sa, pb, sb);
    }
    fr_live_priors_added_free(added, n_added);
    free(pr);
    free(stt);
    for (int k = 0; k < 5; k++) free(rec[k]);
    fr_delta_unref(folded);
    fr_delta_unref(da);
    fr_delta_unref(db);
    fr_live_priors_free(a);
    fr_live_priors_free(b);
    fr_store_close(ns);
    fr_store_close(base);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_versions();
    test_compact();
    test_compact_derived();
    test_events_record();
    test_live_priors();
    test_live_priors_replicas();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
    return fr_test_finish("store_delta");
}

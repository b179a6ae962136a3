/* test_store_delta.c - live updates over a store: batch records round trip, versions never change
 * once built (a reader's version keeps its answers while newer ones are applied), records for
 * another model or dimension and every truncation of a record are refused whole, the trim after a
 * compaction, and compaction into a store file (updated rows in place, deleted ones gone, new ids
 * appended, the LIVE section, derived sections kept only when no row moves). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    /* a store with log priors (indexed by row): refused when rows move, kept for updates only */
    uint8_t fake[16] = {1, 2, 3};
    CHECK(fr_store_attach(path, FR_STORE_SECTION_PRIORS, fake, sizeof fake, err, sizeof err) == FR_OK, "attach a section");
    fr_store_close(base);
    fr_store_open(path, FP, 0, &base, err, sizeof err);
    CHECK(fr_delta_compact(base, d1, out, err, sizeof err) == FR_ERR_UNSUPPORTED && strstr(err, "log priors"), "rows move under priors: refused: %s", err);
    fr_delta_batch_new(FP, DIM, &b, err, sizeof err);
    fr_delta_batch_upsert(b, "x0", 2, v1, NULL, 0, err, sizeof err);
    fr_delta *d2 = apply(d0, b, 8);
    CHECK(fr_delta_compact(base, d2, out, err, sizeof err) == FR_OK, "updates only under priors: %s", err);
    fr_store_open(out, FP, 0, &c, err, sizeof err);
    const uint8_t *sec;
    uint64_t n;
    CHECK(c && fr_store_section(c, FR_STORE_SECTION_PRIORS, &sec, &n) && n == 16 && sec[2] == 3 && fr_store_live_seq(c) == 8, "the priors section was kept");
    fr_store_close(c);
    fr_store_close(base);
    fr_delta_unref(d2);
    fr_delta_unref(d1);
    fr_delta_unref(d0);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_versions();
    test_compact();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
    return fr_test_finish("store_delta");
}

#define _GNU_SOURCE /* memmem */
/* test_item_store.c - item store round trips (f32/f16, with and without texts, empty, 10,000
 * items), writer errors, every kind of corrupt file (truncations, bit flips, a crafted store
 * with duplicate ids), the model check, and merging shards. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "item_store.h"
#include "test_util.h"

static char tmpdir[] = "/tmp/fr_store_XXXXXX";

static const char *path_of(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Writes n items "item-<i>" with vector v[d] = sin(i * (d + 1)). */
static fr_status write_store(const char *path, int n, int dim, fr_store_dtype dt, uint64_t fp, int texts, int id_offset) {
    char err[512];
    fr_store_writer *w;
    fr_status rc = fr_store_writer_open(path, dim, dt, "test-model", fp, texts, &w, err, sizeof err);
    if (rc) return rc;
    float *v = malloc(sizeof(float) * dim);
    for (int i = 0; i < n && !rc; i++) {
        char id[32], text[64];
        int il = snprintf(id, sizeof id, "item-%d", i + id_offset);
        int tl = snprintf(text, sizeof text, "text of item %d", i + id_offset);
        for (int d = 0; d < dim; d++) v[d] = sinf((float)(i + id_offset) * (d + 1));
        rc = fr_store_writer_add(w, id, (size_t)il, v, text, (size_t)tl, err, sizeof err);
    }
    free(v);
    if (rc) {
        fr_store_writer_abort(w);
        return rc;
    }
    return fr_store_writer_finish(w, err, sizeof err);
}

static void test_round_trip(fr_store_dtype dt, int texts, int n) {
    const char *p = path_of("rt.store");
    char err[512];
    CHECK(write_store(p, n, 24, dt, 42, texts, 0) == FR_OK, "write %d items", n);
    fr_store *s;
    fr_status rc = fr_store_open(p, 42, 0, &s, err, sizeof err);
    CHECK(rc == FR_OK, "open: %s", err);
    if (rc) return;
    const fr_store_info *in = fr_store_info_of(s);
    CHECK(in->count == (uint64_t)n && in->dim == 24 && in->dtype == dt && in->has_texts == texts && strcmp(in->model_name, "test-model") == 0, "info");
    float v[24];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char id[32];
        int il = snprintf(id, sizeof id, "item-%d", i);
        int64_t row = fr_store_find(s, id, (size_t)il);
        if (row != i) {
            bad++;
            continue;
        }
        fr_store_vector(s, (uint64_t)row, v);
        for (int d = 0; d < 24; d++) {
            float want = sinf((float)i * (d + 1));
            if (fabsf(v[d] - want) > (dt == FR_STORE_F16 ? 1e-3f : 0.0f)) {
                bad++;
                break;
            }
        }
        size_t tl;
        const char *t = fr_store_text(s, (uint64_t)row, &tl);
        if (texts && (!t || strncmp(t, "text of item", 12) != 0)) bad++;
        if (!texts && t) bad++;
    }
    CHECK(bad == 0, "%d of %d items read back wrongly (dtype %d, texts %d)", bad, n, dt, texts);
    CHECK(fr_store_find(s, "item-x", 6) == -1 && fr_store_find(s, "", 0) == -1, "missing ids are not found");
    CHECK((dt == FR_STORE_F32) == (fr_store_vectors_f32(s) != NULL), "f32 view");
    fr_store_close(s);
}

static void test_writer_errors(void) {
    char err[512];
    fr_store_writer *w;
    CHECK(fr_store_writer_open(path_of("w.store"), 4, FR_STORE_F32, "m", 1, 0, &w, err, sizeof err) == FR_OK, "open writer");
    float v[4] = {1, 2, 3, 4}, nan[4] = {1, NAN, 3, 4};
    CHECK(fr_store_writer_add(w, "a", 1, v, NULL, 0, err, sizeof err) == FR_OK, "add a");
    CHECK(fr_store_writer_add(w, "a", 1, v, NULL, 0, err, sizeof err) == FR_ERR_ARG && strstr(err, "duplicate id 'a'"), "duplicate: %s", err);
    CHECK(fr_store_writer_add(w, "", 0, v, NULL, 0, err, sizeof err) == FR_ERR_ARG, "empty id");
    char longid[200];
    memset(longid, 'x', sizeof longid);
    CHECK(fr_store_writer_add(w, longid, 129, v, NULL, 0, err, sizeof err) == FR_ERR_ARG && strstr(err, "1..128"), "long id: %s", err);
    CHECK(fr_store_writer_add(w, "b", 1, nan, NULL, 0, err, sizeof err) == FR_ERR_ARG && strstr(err, "non-finite"), "NaN vector: %s", err);
    fr_store_writer_abort(w);
    CHECK(access(path_of("w.store"), F_OK) != 0 && access(path_of("w.store.tmp"), F_OK) != 0, "abort leaves no file");
    CHECK(fr_store_writer_open(path_of("nodir/x.store"), 4, FR_STORE_F32, "m", 1, 0, &w, err, sizeof err) == FR_ERR_IO, "unwritable path: %s", err);
}

static uint8_t *slurp(const char *p, size_t *len) { return (uint8_t *)fr_test_read_file(p, len); }

/* Recomputes the section, table and header checksums of an in-memory store image after a
 * deliberate edit, so that only the semantic check under test can catch it. */
static void reseal(uint8_t *b) {
    uint32_t nsec;
    memcpy(&nsec, b + 20, 4);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = b + 256 + 32 * i;
        uint64_t off, size;
        memcpy(&off, e + 8, 8);
        memcpy(&size, e + 16, 8);
        uint64_t h = fr_hash64(b + off, size, 0);
        memcpy(e + 24, &h, 8);
    }
    uint64_t t = fr_hash64(b + 256, 32 * nsec, 0);
    memcpy(b + 176, &t, 8);
    uint64_t h = fr_hash64(b, 184, 0);
    memcpy(b + 184, &h, 8);
}

static void test_corruption(void) {
    const char *p = path_of("c.store");
    CHECK(write_store(p, 50, 8, FR_STORE_F32, 7, 1, 0) == FR_OK, "write");
    size_t len;
    uint8_t *img = slurp(p, &len);
    char err[512];
    fr_store *s;
    CHECK(fr_store_parse(img, len, "img", &s, err, sizeof err) == FR_OK, "pristine image: %s", err);
    fr_store_close(s);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut += 13)
        if (fr_store_parse(img, cut, "img", &s, err, sizeof err) == FR_OK) {
            accepted++;
            fr_store_close(s);
        }
    CHECK(accepted == 0, "%d truncated images accepted", accepted);
    accepted = 0;
    for (size_t pos = 0; pos < len; pos += 7) {
        img[pos] ^= 0x10;
        if (fr_store_parse(img, len, "img", &s, err, sizeof err) == FR_OK) {
            accepted++;
            fr_store_close(s);
        }
        img[pos] ^= 0x10;
    }
    CHECK(accepted == 0, "%d bit-flipped images accepted", accepted);
    /* version and magic give their own messages */
    img[8] = 9;
    CHECK(fr_store_parse(img, len, "img", &s, err, sizeof err) == FR_ERR_UNSUPPORTED && strstr(err, "version 9"), "version: %s", err);
    img[8] = 1;
    img[0] = 'X';
    CHECK(fr_store_parse(img, len, "img", &s, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "magic"), "magic: %s", err);
    img[0] = 'F';
    /* a well-sealed file whose ids repeat: "item-1" rewritten as "item-2" */
    uint64_t ids_off;
    memcpy(&ids_off, img + 256 + 8, 8);
    uint8_t *bytes = img + ids_off + 51 * 8;
    char *hit = memmem(bytes, 200, "item-1", 6);
    CHECK(hit != NULL, "find item-1");
    if (hit) {
        hit[5] = '2';
        reseal(img);
        fr_status rc = fr_store_parse(img, len, "img", &s, err, sizeof err);
        CHECK(rc == FR_ERR_FORMAT && strstr(err, "duplicate id 'item-2'"), "duplicate ids in file: %s", err);
    }
    free(img);
    /* a file that is not a store at all, and one that does not exist */
    CHECK(fr_store_open(FEEDRANK_SOURCE_DIR "/README.md", 0, 0, &s, err, sizeof err) == FR_ERR_FORMAT, "README as store: %s", err);
    CHECK(fr_store_open(path_of("none.store"), 0, 0, &s, err, sizeof err) == FR_ERR_IO && strstr(err, "none.store"), "missing: %s", err);
}

static void test_model_check(void) {
    const char *p = path_of("m.store");
    CHECK(write_store(p, 3, 8, FR_STORE_F32, 1111, 0, 0) == FR_OK, "write");
    char err[512];
    fr_store *s;
    CHECK(fr_store_open(p, 2222, 0, &s, err, sizeof err) == FR_ERR_VERIFY && strstr(err, "test-model") && strstr(err, "force"), "other model refused: %s", err);
    CHECK(fr_store_open(p, 2222, 1, &s, err, sizeof err) == FR_OK, "forced");
    fr_store_close(s);
    CHECK(fr_store_open(p, 1111, 0, &s, err, sizeof err) == FR_OK, "same model");
    fr_store_close(s);
}

static void test_merge(void) {
    char err[512];
    CHECK(write_store(path_of("s0.store"), 100, 8, FR_STORE_F16, 5, 1, 0) == FR_OK, "s0");
    CHECK(write_store(path_of("s1.store"), 60, 8, FR_STORE_F16, 5, 1, 100) == FR_OK, "s1");
    CHECK(write_store(path_of("s2.store"), 10, 8, FR_STORE_F16, 5, 1, 150) == FR_OK, "s2 overlaps s1");
    CHECK(write_store(path_of("s3.store"), 10, 8, FR_STORE_F16, 6, 1, 500) == FR_OK, "s3 other model");
    const char *in[] = {path_of("s0.store"), path_of("s1.store")};
    fr_status rc = fr_store_merge(in, 2, path_of("merged.store"), err, sizeof err);
    CHECK(rc == FR_OK, "merge: %s", err);
    fr_store *s;
    if (fr_store_open(path_of("merged.store"), 5, 0, &s, err, sizeof err) == FR_OK) {
        CHECK(fr_store_info_of(s)->count == 160 && fr_store_find(s, "item-159", 8) == 159 && fr_store_find(s, "item-0", 6) == 0, "merged content");
        fr_store_close(s);
    } else CHECK(0, "open merged: %s", err);
    const char *dup[] = {path_of("s1.store"), path_of("s2.store")};
    CHECK(fr_store_merge(dup, 2, path_of("bad.store"), err, sizeof err) == FR_ERR_ARG && strstr(err, "duplicate id 'item-150'") && strstr(err, "s2.store"), "overlapping shards: %s", err);
    CHECK(access(path_of("bad.store"), F_OK) != 0, "failed merge leaves no store");
    const char *mix[] = {path_of("s0.store"), path_of("s3.store")};
    CHECK(fr_store_merge(mix, 2, path_of("bad.store"), err, sizeof err) == FR_ERR_ARG && strstr(err, "differ"), "mixed models: %s", err);
}

int main(void) {
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    test_round_trip(FR_STORE_F32, 1, 100);
    test_round_trip(FR_STORE_F16, 0, 100);
    test_round_trip(FR_STORE_F32, 0, 0);
    test_round_trip(FR_STORE_F16, 1, 10000);
    test_writer_errors();
    test_corruption();
    test_model_check();
    test_merge();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK(system(cmd) == 0, "cleanup");
    return fr_test_finish("test_item_store");
}

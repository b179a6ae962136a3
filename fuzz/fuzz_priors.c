/* Log priors: the first byte picks the input's role - an interaction log (JSONL or RecBole,
 * read against a small store of ids i0..i9 with a random window/capacity/half-life), or a
 * serialised priors section (FRPRIOR1) checked by fr_priors_view, merged with itself and remapped
 * (rows deleted and added, fr_priors_remap): each result must validate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "priors.h"

static fr_store *store;

static void make_store(void) {
    char path[64], err[256];
    snprintf(path, sizeof path, "/tmp/fuzz_priors_%d.store", (int)getpid());
    fr_store_writer *w;
    if (fr_store_writer_open(path, 1, FR_STORE_F32, "m", 1, 0, &w, err, sizeof err)) abort();
    for (int i = 0; i < 10; i++) {
        char id[8];
        float v = (float)i;
        snprintf(id, sizeof id, "i%d", i);
        fr_store_writer_add(w, id, strlen(id), &v, NULL, 0, err, sizeof err);
    }
    if (fr_store_writer_finish(w, err, sizeof err) || fr_store_open(path, 0, 1, &store, err, sizeof err)) abort();
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!store) make_store();
    if (size < 2) return 0;
    char err[256];
    const uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        fr_priors v;
        uint8_t *copy = malloc(size), *merged = NULL;
        memcpy(copy, data, size); /* aligned copy, as the store's 64-byte aligned sections are */
        if (fr_priors_view(copy, size, 10, "fuzz", &v, err, sizeof err) == FR_OK) {
            const uint8_t *parts[2] = {copy, copy};
            size_t sizes[2] = {size, size}, msize;
            if (fr_priors_merge(parts, sizes, 2, &merged, &msize, err, sizeof err) == FR_OK &&
                fr_priors_view(merged, msize, 10, "merged", &v, err, sizeof err) != FR_OK)
                abort(); /* a merge of valid parts must be valid */
            /* rows moved as a compaction moves them: 3 and 7 deleted, 2 added at the end */
            static const int64_t map[10] = {0, 1, 2, FR_ROW_DELETED, 3, 4, 5, FR_ROW_DELETED, 6, 7};
            uint8_t *moved = NULL;
            size_t nsize;
            if (fr_priors_remap(copy, size, 10, map, 10, &moved, &nsize, err, sizeof err) != FR_OK ||
                fr_priors_view(moved, nsize, 10, "remapped", &v, err, sizeof err) != FR_OK)
                abort(); /* a remap of a valid section must be valid */
            free(moved);
        }
        free(merged);
        free(copy);
        return 0;
    }
    fr_priors_params p = {.window = 1 + (mode >> 1) % 8, .half_life = (mode & 0x10) ? 5.0 : 0.0, .capacity = 1 + (mode >> 5)};
    fr_priors_builder *b;
    if (fr_priors_builder_create(10, &p, &b, err, sizeof err)) return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (f) {
        uint8_t *out = NULL;
        size_t osize;
        fr_priors v;
        if (fr_priors_read_log(b, f, (mode & 0x40) ? "fuzz.inter" : "fuzz.jsonl", FR_LOG_AUTO, store, 0, 1, mode & 0x80 ? 3 : 0,
                               NULL, err, sizeof err) == FR_OK &&
            fr_priors_finish(b, &out, &osize, err, sizeof err) == FR_OK &&
            fr_priors_view(out, osize, 10, "built", &v, err, sizeof err) != FR_OK)
            abort(); /* what the builder writes must validate */
        free(out);
        fclose(f);
    }
    fr_priors_builder_free(b);
    return 0;
}

/* The trained model's loader (src/seqmodel_store.h): the first byte picks the check - 0: load
 * against the key of a small store of ids i0..i11 (dimension 8); 1: load with no store check.
 * Whatever loads must serve: an item vector and a user state are computed (bounded sizes only),
 * and the serving path (seqmodel_serve.h) is prepared from the same parameters and run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "seqmodel_store.h"

static void zero_rows(void *ctx, int64_t first, int count, float *out) {
    const fr_seq_config *c = ctx;
    (void)first;
    memset(out, 0, (size_t)count * c->d_text * sizeof(float));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char err[512];
    const uint8_t mode = data[0];
    fr_seq_store_key key = {.n_items = 12, .dim = 8, .ids_hash = 0, .name = "fuzz.store"};
    uint8_t *copy = malloc(size); /* its own allocation, so reads past the end are caught */
    if (!copy) return 0;
    memcpy(copy, data + 1, size - 1);
    fr_seq_model *m = NULL;
    fr_seq_meta meta;
    /* mode 0's key is another store's: only a matching hash would pass, so mostly exercises refusal */
    if (fr_seq_section_load(copy, size - 1, "fuzz", (mode & 1) ? NULL : &key, &m, &meta, err, sizeof err) == FR_OK) {
        const fr_seq_config *c = fr_seq_config_of(m);
        const size_t n_text = (size_t)c->n_items * c->d_text;
        if (n_text <= (1u << 20) && c->d <= 4096) {
            float *text = calloc(n_text, sizeof(float)), *out = malloc((size_t)c->d * sizeof(float));
            if (text && out) {
                int32_t hist[3] = {0, c->n_items - 1, -1};
                fr_seq_item_vector(m, c->n_items - 1, text, out);
                fr_seq_user_state(m, hist, 3, text, out, err, sizeof err);
                fr_seq_server *sv = NULL;
                fr_seq_scratch *w = NULL;
                if (fr_seq_server_create(c, fr_seq_params(m), zero_rows, (void *)c, &sv, err, sizeof err) == FR_OK &&
                    fr_seq_scratch_create(sv, &w, err, sizeof err) == FR_OK)
                    fr_seq_server_state(sv, w, hist, 3, out, err, sizeof err);
                fr_seq_scratch_free(w);
                fr_seq_server_free(sv);
            }
            free(text);
            free(out);
        }
    }
    fr_seq_free(m);
    free(copy);
    return 0;
}

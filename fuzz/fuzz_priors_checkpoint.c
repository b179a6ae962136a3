/* Priors checkpoints (resumable `index --interactions` builds): the input is a checkpoint file.
 * Its own header gives the parameters and item count it is loaded with, and the first byte says
 * whether its checksum is recomputed first (odd: yes), so the fuzzer reaches the body's validation
 * instead of stopping at the checksum; a checkpoint that loads must take more events, save, reload
 * and finish into a section that validates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "priors.h"

static int fuzz_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size) {
    if (in_size < 49) return 0;
    const int fix_checksum = in[0] & 1;
    size_t size = in_size - 1;
    uint8_t *data = malloc(size);
    if (!data) return 0;
    memcpy(data, in + 1, size);
    if (fix_checksum) {
        const uint64_t h = fr_priors_checkpoint_sum(data, size - 8);
        memcpy(data + size - 8, &h, 8);
    }
    int rc = fuzz_one(data, size);
    free(data);
    return rc;
}

static int fuzz_one(const uint8_t *data, size_t size) {
    fr_priors_params p;
    uint32_t w, cap;
    uint64_t n_items;
    memcpy(&w, data + 12, 4);
    memcpy(&cap, data + 16, 4);
    memcpy(&p.half_life, data + 24, 8);
    memcpy(&n_items, data + 32, 8);
    if (w < 1 || w > 64 || cap < 1 || cap > 4096 || n_items < 1 || n_items > 4096) return 0;
    p.window = (int)w;
    p.capacity = (int)cap;
    char err[256];
    fr_priors_builder *b = NULL;
    fr_priors_position pos;
    if (fr_priors_checkpoint_load(data, size, &p, n_items, &b, &pos, err, sizeof err) != FR_OK) return 0;
    /* the restored builder must be usable: more events, a new checkpoint, a finished section */
    static const char *users[3] = {"u1", "new-user", "u2"};
    for (uint32_t k = 0; k < 6; k++)
        if (fr_priors_add(b, users[k % 3], strlen(users[k % 3]), k % (uint32_t)n_items, 1e9 + k, 1.0, err, sizeof err) != FR_OK) {
            fprintf(stderr, "add: %s\n", err);
            abort();
        }
    uint8_t *saved = NULL, *section = NULL;
    size_t saved_n, section_n;
    fr_priors_builder *again = NULL;
    fr_priors v;
    if (fr_priors_checkpoint_save(b, &pos, &saved, &saved_n, err, sizeof err) != FR_OK ||
        fr_priors_checkpoint_load(saved, saved_n, &p, n_items, &again, &pos, err, sizeof err) != FR_OK) {
        fprintf(stderr, "reload: %s\n", err);
        abort();
    } /* what the builder saves must load */
    if (fr_priors_finish(again, &section, &section_n, err, sizeof err) == FR_OK &&
        fr_priors_view(section, section_n, n_items, "fuzz", &v, err, sizeof err) != FR_OK)
        abort(); /* and finish into a valid section */
    free(section);
    free(saved);
    fr_priors_builder_free(again);
    fr_priors_builder_free(b);
    return 0;
}

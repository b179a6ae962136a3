/* Item store images: header, section table, sections; every row of a valid store is read. */
#include <stdlib.h>

#include "fuzz.h"
#include "item_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the loader reads u64 fields at 8-byte offsets: give it an aligned copy, as mmap would */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    for (size_t i = 0; i < size; i++) buf[i] = data[i];
    fr_store *s;
    char err[256];
    if (fr_store_parse(buf, size, "fuzz", &s, err, sizeof err) == FR_OK) {
        const fr_store_info *in = fr_store_info_of(s);
        float *v = malloc(sizeof(float) * (size_t)in->dim);
        for (uint64_t r = 0; v && r < in->count && r < 4096; r++) {
            size_t l;
            const char *id = fr_store_id(s, r, &l);
            if (fr_store_find(s, id, l) != (int64_t)r) abort();
            fr_store_vector(s, r, v);
            fr_store_text(s, r, &l);
        }
        free(v);
        fr_store_close(s);
    }
    free(buf);
    return 0;
}

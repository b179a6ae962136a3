/* Catalogue rows: the first byte picks CSV / TSV / JSONL and latin-1; the rest is the file. */
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    FILE *f = fmemopen((void *)(data + 1), size - 1 ? size - 1 : 1, "rb");
    if (!f) return 0;
    if (size == 1) {
        fclose(f);
        return 0;
    }
    fr_catalog *c;
    char err[256];
    if (fr_catalog_open_stream(f, "fuzz", (fr_catalog_format)(data[0] % 3), data[0] >> 7, &c, err, sizeof err) == FR_OK) {
        fr_template *t = NULL;
        fr_template_compile("{id}. {title} {{x}}", &t, err, sizeof err);
        char *buf = NULL;
        size_t cap = 0;
        for (int rows = 0; rows < 10000; rows++) {
            int r = fr_catalog_next(c, err, sizeof err);
            if (r == 0 || r == -2) break;
            if (r == 1) {
                int missing;
                fr_template_render(t, c, &buf, &cap, &missing);
            }
        }
        free(buf);
        fr_template_free(t);
        fr_catalog_close(c);
    }
    fclose(f);
    return 0;
}

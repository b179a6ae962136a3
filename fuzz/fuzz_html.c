/* HTML character references (item titles) through the html.unescape reimplementation. */
#include <stdlib.h>

#include "fuzz.h"
#include "html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t cap = size * 2 + 16;
    char *out = malloc(cap);
    if (!out) return 0;
    if (fr_html_unescape((const char *)data, size, out, cap) < 0) abort(); /* 2n + 16 always suffices */
    free(out);
    return 0;
}

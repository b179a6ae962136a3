/* test_html.c - fr_html_unescape against Python's html.unescape on 447 strings
 * (tests/fixtures/html_unescape_golden.tsv, made by scripts/golden/make_html_entities.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "test_util.h"

int main(void) {
    size_t len;
    char *data = fr_test_read_file(FEEDRANK_SOURCE_DIR "/tests/fixtures/html_unescape_golden.tsv", &len);
    CHECK(data != NULL, "fixture");
    int lines = 0, exact = 0;
    for (char *line = data; data && *line;) {
        char *nl = strchr(line, '\n'), *tab = strchr(line, '\t');
        if (!nl || !tab || tab > nl) break;
        uint8_t in[4096], want[8192];
        char got[8192];
        long il = fr_test_unhex(line, (size_t)(tab - line), in);
        long wl = fr_test_unhex(tab + 1, (size_t)(nl - tab - 1), want);
        long gl = fr_html_unescape((const char *)in, (size_t)il, got, sizeof got);
        lines++;
        if (gl == wl && memcmp(got, want, (size_t)wl) == 0) exact++;
        else fprintf(stderr, "line %d: '%.*s' -> '%.*s', want '%.*s'\n", lines, (int)il, in, (int)(gl > 0 ? gl : 0), got, (int)wl, want);
        line = nl + 1;
    }
    printf("html golden: %d / %d exact\n", exact, lines);
    CHECK(lines >= 400 && exact == lines, "%d of %d lines differ", lines - exact, lines);
    char small[4];
    CHECK(fr_html_unescape("abcdef", 6, small, sizeof small) == -1, "too small a buffer is an error");
    free(data);
    return fr_test_finish("test_html");
}

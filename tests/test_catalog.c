/* test_catalog.c - CSV (RFC 4180 edge cases, latin-1, BOM, CRLF, bad rows with line numbers),
 * TSV, JSONL, and text templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "test_util.h"

static fr_catalog *open_mem(const char *data, size_t len, fr_catalog_format fmt, int latin1, FILE **f) {
    *f = fmemopen((void *)data, len, "rb");
    fr_catalog *c = NULL;
    char err[256];
    if (fr_catalog_open_stream(*f, "mem.csv", fmt, latin1, &c, err, sizeof err)) {
        fclose(*f);
        *f = NULL;
        return NULL;
    }
    return c;
}

static const char *field(fr_catalog *c, const char *name) {
    static char buf[256];
    size_t l;
    const char *v = fr_catalog_field(c, name, &l);
    if (!v) return "(none)";
    snprintf(buf, sizeof buf, "%.*s", (int)l, v);
    return buf;
}

static void test_csv(void) {
    const char data[] = "\xEF\xBB\xBFid,title,price\r\n"
                        "1,\"Drill, cordless\",9.99\r\n"
                        "2,\"He said \"\"hi\"\"\",1\n"
                        "\n"
                        "3,\"two\nlines\",2\n"
                        "4,too,many,fields\n"
                        "5,\"bad\"x,3\n"
                        "6,last,\n"
                        "7,\"no end";
    FILE *f;
    fr_catalog *c = open_mem(data, sizeof data - 1, FR_CAT_CSV, 0, &f);
    CHECK(c != NULL, "open csv");
    if (!c) return;
    const char *const *cols = NULL;
    int ncols = fr_catalog_columns(c, &cols);
    CHECK(ncols == 3 && strcmp(cols[0], "id") == 0, "header (BOM stripped): '%s'", cols[0]);
    char err[256];
    CHECK(fr_catalog_next(c, err, sizeof err) == 1 && strcmp(field(c, "title"), "Drill, cordless") == 0 && fr_catalog_line(c) == 2, "row 1");
    CHECK(fr_catalog_next(c, err, sizeof err) == 1 && strcmp(field(c, "title"), "He said \"hi\"") == 0, "escaped quotes: %s", field(c, "title"));
    CHECK(fr_catalog_next(c, err, sizeof err) == 1 && strcmp(field(c, "title"), "two\nlines") == 0 && fr_catalog_line(c) == 5, "embedded newline, line %ld", fr_catalog_line(c));
    CHECK(fr_catalog_next(c, err, sizeof err) == -1 && strstr(err, "mem.csv:7: 4 fields, the header has 3"), "field count: %s", err);
    CHECK(fr_catalog_next(c, err, sizeof err) == -1 && strstr(err, "mem.csv:8: text after a closing quote"), "bad quote: %s", err);
    CHECK(fr_catalog_next(c, err, sizeof err) == 1 && strcmp(field(c, "id"), "6") == 0 && strcmp(field(c, "price"), "") == 0, "recovers after bad rows");
    CHECK(fr_catalog_next(c, err, sizeof err) == -1 && strstr(err, "unterminated"), "unterminated: %s", err);
    CHECK(fr_catalog_next(c, err, sizeof err) == 0, "eof");
    CHECK(strcmp(field(c, "nope"), "(none)") == 0, "unknown field");
    fr_catalog_close(c);
    fclose(f);
}

static void test_latin1_tsv(void) {
    const char data[] = "id\ttitle\nx1\tCaf\xE9 cr\xE8me \xBD gal.\n";
    FILE *f;
    fr_catalog *c = open_mem(data, sizeof data - 1, FR_CAT_TSV, 1, &f);
    char err[256];
    CHECK(c && fr_catalog_next(c, err, sizeof err) == 1, "tsv row");
    if (c) CHECK(strcmp(field(c, "title"), "Café crème ½ gal.") == 0, "latin-1 to UTF-8: %s", field(c, "title"));
    fr_catalog_close(c);
    if (f) fclose(f);
    fr_catalog *e = open_mem("", 0, FR_CAT_CSV, 0, &f);
    CHECK(e == NULL, "empty csv has no header");
}

static void test_jsonl(void) {
    const char data[] = "{\"id\":\"a\",\"title\":\"Lamp\",\"price\":12.5,\"n\":3,\"ok\":true}\n\n[1,2]\n{\"id\":7}\n";
    FILE *f;
    fr_catalog *c = open_mem(data, sizeof data - 1, FR_CAT_JSONL, 0, &f);
    char err[256];
    CHECK(c && fr_catalog_next(c, err, sizeof err) == 1, "jsonl row");
    if (!c) return;
    CHECK(strcmp(field(c, "title"), "Lamp") == 0 && strcmp(field(c, "price"), "12.5") == 0 && strcmp(field(c, "n"), "3") == 0 &&
              strcmp(field(c, "ok"), "true") == 0,
          "jsonl values");
    CHECK(fr_catalog_next(c, err, sizeof err) == -1 && strstr(err, "mem.csv:3: not a JSON object"), "non-object: %s", err);
    CHECK(fr_catalog_next(c, err, sizeof err) == 1 && strcmp(field(c, "id"), "7") == 0 && strcmp(field(c, "title"), "(none)") == 0, "missing key");
    CHECK(fr_catalog_next(c, err, sizeof err) == 0, "eof");
    fr_catalog_close(c);
    fclose(f);
}

static void test_template(void) {
    char err[256];
    fr_template *t;
    CHECK(fr_template_compile("{title}. {{brand}}: {brand}", &t, err, sizeof err) == FR_OK, "compile: %s", err);
    const char data[] = "title,brand\nDrill,Acme\n";
    FILE *f;
    fr_catalog *c = open_mem(data, sizeof data - 1, FR_CAT_CSV, 0, &f);
    CHECK(c && fr_template_check(t, c, err, sizeof err) == FR_OK, "check");
    if (c && fr_catalog_next(c, err, sizeof err) == 1) {
        char *buf = NULL;
        size_t cap = 0;
        int missing;
        long n = fr_template_render(t, c, &buf, &cap, &missing);
        CHECK(n > 0 && strcmp(buf, "Drill. {brand}: Acme") == 0 && missing == 0, "render: %s", buf);
        free(buf);
    }
    fr_template_free(t);
    CHECK(fr_template_compile("{nope}", &t, err, sizeof err) == FR_OK, "compile nope");
    CHECK(fr_template_check(t, c, err, sizeof err) == FR_ERR_ARG && strstr(err, "no column 'nope'") && strstr(err, "title, brand"), "unknown column: %s", err);
    fr_template_free(t);
    fr_catalog_close(c);
    fclose(f);
    const char *bad[] = {"plain text", "{unclosed", "a } b", "{}"};
    for (int i = 0; i < 4; i++) CHECK(fr_template_compile(bad[i], &t, err, sizeof err) == FR_ERR_ARG, "bad template '%s' accepted", bad[i]);
}

int main(void) {
    test_csv();
    test_latin1_tsv();
    test_jsonl();
    test_template();
    return fr_test_finish("test_catalog");
}

#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fr_test_passed, fr_test_failed;

void fr_test_check(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        fr_test_passed++;
        return;
    }
    fr_test_failed++;
    if (fr_test_failed > 50) return; /* enough to diagnose */
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int fr_test_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, fr_test_passed, fr_test_failed);
    return fr_test_failed ? 1 : 0;
}

char *fr_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len) *len = (size_t)n;
    }
    return b;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long fr_test_unhex(const char *hex, size_t n, uint8_t *out) {
    if (n % 2) return -1;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(hex[i]), b = hexval(hex[i + 1]);
        if (a < 0 || b < 0) return -1;
        out[i / 2] = (uint8_t)(a * 16 + b);
    }
    return (long)(n / 2);
}

void fr_test_fill(float *x, size_t n, uint64_t *seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = ((float)((*seed >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
}

double fr_test_cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb) + 1e-30);
}

int fr_test_load_golden(const char *prefix, int dim, fr_golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s.txt", prefix);
    size_t len;
    char *data = fr_test_read_file(path, &len);
    if (!data) return -1;
    g->n = 0;
    for (size_t i = 0; i < len; i++) g->n += data[i] == '\n';
    g->texts = calloc((size_t)g->n, sizeof *g->texts);
    g->lens = calloc((size_t)g->n, sizeof *g->lens);
    char *line = data;
    for (int i = 0; i < g->n; i++) {
        char *nl = strchr(line, '\n');
        g->texts[i] = malloc((size_t)(nl - line) / 2 + 1);
        g->lens[i] = (size_t)fr_test_unhex(line, (size_t)(nl - line), (uint8_t *)g->texts[i]);
        line = nl + 1;
    }
    free(data);
    snprintf(path, sizeof path, "%s.f32", prefix);
    size_t vlen;
    g->want = (float *)fr_test_read_file(path, &vlen);
    if (!g->want || vlen != (size_t)g->n * dim * 4) return -1;
    return 0;
}

void fr_test_free_golden(fr_golden *g) {
    for (int i = 0; i < g->n; i++) free(g->texts[i]);
    free(g->texts);
    free(g->lens);
    free(g->want);
}

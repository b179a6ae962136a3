/* test_util.h - a minimal test harness: CHECK records a failure with file:line and goes on;
 * fr_test_finish prints "N passed, N failed" and returns the exit status. */
#ifndef FR_TEST_UTIL_H
#define FR_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

extern int fr_test_passed, fr_test_failed;

void fr_test_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond, ...) fr_test_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

int fr_test_finish(const char *suite);

/* Reads a whole file (NULL on failure; *len set). */
char *fr_test_read_file(const char *path, size_t *len);

/* Decodes a hex string of n chars into out (n/2 bytes); returns bytes or -1. */
long fr_test_unhex(const char *hex, size_t n, uint8_t *out);

/* Deterministic uniform floats in [-scale, scale). */
void fr_test_fill(float *x, size_t n, uint64_t *seed, float scale);

/* Cosine similarity of two vectors. */
double fr_test_cosine(const float *a, const float *b, int n);

/* Golden sentence vectors: PREFIX.txt (one hex-encoded text per line) and PREFIX.f32 (n x dim). */
typedef struct {
    char **texts;
    size_t *lens;
    int n;
    float *want;
} fr_golden;
int fr_test_load_golden(const char *prefix, int dim, fr_golden *g); /* 0 or -1 */
void fr_test_free_golden(fr_golden *g);

#endif

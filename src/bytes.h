/* bytes.h - reading and writing fixed-size little-endian fields of the on-disk formats (item store,
 * priors, model section, checkpoints) at any alignment. The formats are little-endian and so are
 * the machines feedrank builds for (x86-64, arm64), so a memcpy is the conversion. */
#ifndef FR_BYTES_H
#define FR_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t fr_rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline int32_t fr_rdi32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t fr_rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline float fr_rdf32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline double fr_rdf64(const uint8_t *p) {
    double v;
    memcpy(&v, p, 8);
    return v;
}
static inline void fr_wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void fr_wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void fr_wrf32(uint8_t *p, float v) { memcpy(p, &v, 4); }
static inline void fr_wrf64(uint8_t *p, double v) { memcpy(p, &v, 8); }

/* A growing byte buffer, for records built field by field (the log's catalogue and events
 * records): fr_bytebuf_put appends n bytes, 0, or -1 when out of memory (the buffer unchanged).
 * Zero-initialise; free b->p. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} fr_bytebuf;
static inline int fr_bytebuf_put(fr_bytebuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + n) nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) return -1;
        b->p = q;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

#endif

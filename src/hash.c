/* hash.c - four independent multiply-rotate lanes over 32-byte blocks (so the loop pipelines at
 * several GB/s), merged and finished with a murmur-style avalanche. */
#include "hash.h"

#include <stdlib.h>
#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }
static inline uint64_t read64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t fr_hash64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h;
    size_t left = n;
    if (n >= 32) {
        uint64_t a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;
        while (left >= 32) {
            a = lane(a, read64(p));
            b = lane(b, read64(p + 8));
            c = lane(c, read64(p + 16));
            d = lane(d, read64(p + 24));
            p += 32;
            left -= 32;
        }
        h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
        h = (h ^ lane(0, a)) * P1 + P3;
        h = (h ^ lane(0, b)) * P1 + P3;
        h = (h ^ lane(0, c)) * P1 + P3;
        h = (h ^ lane(0, d)) * P1 + P3;
    } else {
        h = seed + P3;
    }
    h += (uint64_t)n;
    while (left >= 8) {
        h = rotl(h ^ lane(0, read64(p)), 27) * P1 + P3;
        p += 8;
        left -= 8;
    }
    while (left--) h = rotl(h ^ (*p++ * P3), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/*---------------------------------------------------------------------------------------------
 * The hash index: entries live with the caller; the table holds entry + 1 per slot.
 *-------------------------------------------------------------------------------------------*/

static uint64_t capacity_for(uint64_t n) {
    uint64_t cap = 16;
    while (cap < n * 2 + 2) cap <<= 1;
    return cap;
}

int fr_hindex_init(fr_hindex *h, uint64_t expected, fr_hindex_key key, const void *ctx) {
    const uint64_t cap = capacity_for(expected);
    *h = (fr_hindex){calloc(cap, sizeof(uint32_t)), cap - 1, 0, key, ctx};
    return h->slots ? 0 : -1;
}

void fr_hindex_free(fr_hindex *h) {
    free(h->slots);
    h->slots = NULL;
    h->count = 0;
}

/* the slot holding key, or the empty slot where it would go */
static uint64_t probe(const fr_hindex *h, const void *key, size_t len) {
    uint64_t i = fr_hash64(key, len, 0) & h->mask;
    for (uint32_t v; (v = h->slots[i]) != 0; i = (i + 1) & h->mask) {
        size_t l;
        const void *k = h->key(h->ctx, v - 1, &l);
        if (l == len && memcmp(k, key, len) == 0) break;
    }
    return i;
}

int64_t fr_hindex_find(const fr_hindex *h, const void *key, size_t len) {
    if (!h->slots) return -1;
    const uint32_t v = h->slots[probe(h, key, len)];
    return v ? (int64_t)v - 1 : -1;
}

static int grow(fr_hindex *h) {
    const uint64_t cap = (h->mask + 1) * 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (uint64_t i = 0; i <= h->mask; i++) {
        const uint32_t v = h->slots[i];
        if (!v) continue;
        size_t l;
        const void *k = h->key(h->ctx, v - 1, &l);
        uint64_t j = fr_hash64(k, l, 0) & (cap - 1);
        while (s[j]) j = (j + 1) & (cap - 1);
        s[j] = v;
    }
    free(h->slots);
    h->slots = s;
    h->mask = cap - 1;
    return 0;
}

int64_t fr_hindex_put(fr_hindex *h, const void *key, size_t len, uint32_t entry) {
    if (!h->slots || entry == UINT32_MAX) return -2;
    uint64_t i = probe(h, key, len);
    if (h->slots[i]) {
        const int64_t old = (int64_t)h->slots[i] - 1;
        h->slots[i] = entry + 1;
        return old;
    }
    if ((h->count + 1) * 2 > h->mask + 1) {
        if (grow(h)) return -2;
        i = probe(h, key, len);
    }
    h->slots[i] = entry + 1;
    h->count++;
    return -1;
}

uint64_t fr_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

double fr_uniform3(uint64_t seed, uint64_t a, uint64_t b) {
    return (double)(fr_mix64(fr_mix64(seed ^ 0x9E3779B97F4A7C15ULL) + fr_mix64(a + 0x632BE59BD9B4E019ULL) * 31 + b) >> 11) / 9007199254740992.0;
}

/* hash.c - four independent multiply-rotate lanes over 32-byte blocks (so the loop pipelines at
 * several GB/s), merged and finished with a murmur-style avalanche. */
#include "hash.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }
static inline uint64_t read64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

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
    while (left >= 8) { h = rotl(h ^ lane(0, read64(p)), 27) * P1 + P3; p += 8; left -= 8; }
    while (left--) h = rotl(h ^ (*p++ * P3), 11) * P1;
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

static uint64_t uniform_mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

double fr_uniform3(uint64_t seed, uint64_t a, uint64_t b) {
    return (double)(uniform_mix(uniform_mix(seed ^ 0x9E3779B97F4A7C15ULL) + uniform_mix(a + 0x632BE59BD9B4E019ULL) * 31 + b) >> 11) / 9007199254740992.0;
}


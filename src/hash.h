/* hash.h - a fast 64-bit non-cryptographic hash, for corruption checks (item store checksums)
 * and fingerprints (which model built a store). Not for security. */
#ifndef FR_HASH_H
#define FR_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of n bytes, continuing from `seed` (pass a previous result to hash in pieces: the result
 * then depends on how the input was split, so always split the same way). */
uint64_t fr_hash64(const void *data, size_t n, uint64_t seed);

/* A deterministic uniform double in [0, 1) from (seed, a, b) (negative sampling, seeded shuffles). */
double fr_uniform3(uint64_t seed, uint64_t a, uint64_t b);

#endif

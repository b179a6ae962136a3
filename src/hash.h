/* hash.h - a fast 64-bit non-cryptographic hash, for corruption checks (item store checksums)
 * and fingerprints (which model built a store), and the one in-memory hash index built on it (item
 * ids of a store and of a live delta, the tokenizer's and BM25's vocabularies, the log priors'
 * users, the evaluation loaders' ids). Not for security. */
#ifndef FR_HASH_H
#define FR_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of n bytes, continuing from `seed` (pass a previous result to hash in pieces: the result
 * then depends on how the input was split, so always split the same way). */
uint64_t fr_hash64(const void *data, size_t n, uint64_t seed);

/* An open-addressing hash index over entries the caller keeps (rows of a store, token ids, users):
 * it stores entry numbers only, and asks key(ctx, entry, &len) for an entry's key bytes when it
 * compares or rehashes. Linear probing, a power-of-two capacity, at most half full.
 *
 *   fr_hindex h;
 *   fr_hindex_init(&h, expected, key_of, ctx)       0, or -1 when out of memory
 *   fr_hindex_find(&h, key, len)                    the entry with that key, or -1
 *   fr_hindex_put(&h, key, len, entry)              adds entry under key (its key need not be
 *                                                   readable through key_of yet); if the key was
 *                                                   there, entry replaces it and the old entry is
 *                                                   returned; -1 when added, -2 when out of memory
 *   fr_hindex_free(&h)
 */
typedef const void *(*fr_hindex_key)(const void *ctx, uint32_t entry, size_t *len);
typedef struct {
    uint32_t *slots; /* entry + 1; 0 = empty */
    uint64_t mask;   /* capacity - 1 */
    uint64_t count;
    fr_hindex_key key;
    const void *ctx;
} fr_hindex;
int fr_hindex_init(fr_hindex *h, uint64_t expected, fr_hindex_key key, const void *ctx);
int64_t fr_hindex_find(const fr_hindex *h, const void *key, size_t len);
int64_t fr_hindex_put(fr_hindex *h, const void *key, size_t len, uint32_t entry);
void fr_hindex_free(fr_hindex *h);

/* The 64-bit finaliser (xor-shift-multiply) that fr_uniform3 is built from: a well-mixed word from x. */
uint64_t fr_mix64(uint64_t x);
/* A deterministic uniform double in [0, 1) from (seed, a, b) (negative sampling, seeded shuffles). */
double fr_uniform3(uint64_t seed, uint64_t a, uint64_t b);

#endif

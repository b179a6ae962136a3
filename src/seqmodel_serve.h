/* seqmodel_serve.h - the sequential model (seqmodel.h) prepared for serving: the user state of one
 * history and the item vectors that score candidates, forward only, with nothing allocated per
 * request and no gradients or optimiser state held.
 *
 * What load does once (fr_seq_server_create):
 *  - every item's vector v_i = E[i] + Wp t_i + bp is computed for the N items the model knows
 *    (one packed product over the store's text vectors), so a history item or a candidate costs a
 *    row read instead of a d x d_text projection; E itself is then not kept;
 *  - the blocks' weights are packed for the CPU's packed product (kernels/cpu/gemm_packed.c).
 * What a request does (fr_seq_server_state): the blocks run over the history's valid positions
 * only (padding never changes a valid position's numbers, seqmodel.h), and the last block computes
 * keys and values for every position but its query, attention output, FFN and the final LayerNorm
 * for the newest position only: the user state needs nothing else.
 *
 * The numbers are seqmodel.c's definition with two fp32-level differences (a vectorised GELU,
 * |erf error| <= 1.5e-7, and another summation order): test_seqmodel_store holds the served
 * state and item vectors to fr_seq_user_state / fr_seq_item_vector within 1e-4 relative.
 *
 * Nothing is kept between requests. A per-user cache of keys and values would be wrong here:
 * positions count from the newest item (window column T-1, seqmodel.h), so when a user's history
 * gains an event every earlier item moves to the next position embedding and its keys and values
 * change in every block.
 *
 * Threads: a server is read-only after creation and may be shared; each concurrent caller needs
 * its own scratch (fr_seq_scratch_create). */
#ifndef FR_SEQMODEL_SERVE_H
#define FR_SEQMODEL_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "seqmodel.h"
#include "status.h"

typedef struct fr_seq_server fr_seq_server;
typedef struct fr_seq_scratch fr_seq_scratch;

/* Fills out (count, d_text) with the frozen text vectors of items first .. first+count-1 as fp32
 * (the store's rows; an f16 store converts them). */
typedef void (*fr_seq_text_rows)(void *ctx, int64_t first, int count, float *out);

/* params: the flat parameter array of cfg's layout (seqmodel.h), copied as needed (the caller
 * keeps ownership); text_rows gives the N items' text vectors, read once here. */
fr_status fr_seq_server_create(const fr_seq_config *cfg, const float *params, fr_seq_text_rows text_rows, void *text_ctx,
                               fr_seq_server **out, char *err, size_t errcap);
void fr_seq_server_free(fr_seq_server *s);
const fr_seq_config *fr_seq_server_config(const fr_seq_server *s);

/* Item vector of model item `row` (0..n_items-1), d floats; NULL for any other row. */
const float *fr_seq_server_item(const fr_seq_server *s, int64_t row);

/* Asks the CPU to bring item `row`'s vector (fr_seq_server_item) into its L2 cache ahead of use;
 * nothing for a row outside 0..n_items-1. A hint only: no effect on any result. */
void fr_seq_server_prefetch_item(const fr_seq_server *s, int64_t row);

/* scores[j] = u . v_{rows[j]} (u: d floats) for each of the n rows the model has an item vector
 * for (0..n_items-1); the entries of other rows are left as they are. Returns how many rows were
 * outside (the caller scores those from text, fr_seq_server_text_scorer). */
int fr_seq_server_score_rows(const fr_seq_server *s, const float *u, const int64_t *rows, int n, float *scores);

/* For items the model has no id for (a row added after training, a request's own vector): their
 * vector is Wp t + bp, so u . v = (Wp^T u) . t + u . bp. wt (d_text) gets Wp^T u and *ub gets
 * u . bp: then one item costs d_text products instead of d x d_text. */
void fr_seq_server_text_scorer(const fr_seq_server *s, const float *u, float *wt, float *ub);

/* Scratch of one caller at a time (sized at creation for the model's window). */
fr_status fr_seq_scratch_create(const fr_seq_server *s, fr_seq_scratch **out, char *err, size_t errcap);
void fr_seq_scratch_free(fr_seq_scratch *w);

/* The user state after a history of n item rows (oldest first; only the newest max_len known ones
 * are used; rows outside 0..n_items-1 are skipped) into out[d], as fr_seq_user_state computes it.
 * No known item: FR_ERR_NOT_FOUND. Allocates nothing and starts no threads of its own (the packed
 * products run on the caller's OpenMP team; callers on a request path set it to one thread). */
fr_status fr_seq_server_state(const fr_seq_server *s, fr_seq_scratch *w, const int32_t *hist, int n, float *out,
                              char *err, size_t errcap);

#endif

/* rank_batch.h - the step `feedrank rerank` and the server's compute loop share before ranking a
 * batch of requests: one encoder pass for every query of the batch (with the model's query
 * prefix), and one for the texts of candidates the store does not know (as documents, like
 * `feedrank index`), so that such candidates are ranked like stored ones (fr_candidate.vector). */
#ifndef FR_RANK_BATCH_H
#define FR_RANK_BATCH_H

#include "encoder.h"
#include "item_store.h"
#include "ranker.h"

/* Scratch for the vectors: grows to the largest batch seen, then allocates nothing. */
typedef struct fr_batch_embed fr_batch_embed;

fr_status fr_batch_embed_create(fr_batch_embed **out, char *err, size_t errcap);
void fr_batch_embed_free(fr_batch_embed *b);

/* For each of the n requests: reqs[i]->query_vector (when it has a query; query_truncated[i]
 * says whether the query was cut at the model's length; may be NULL) and the vector of every
 * candidate in cands[i] (request i's candidate array, the one reqs[i]->candidates points to)
 * whose id the store lacks and that carries a text; other candidates' vectors are reset to NULL.
 * The vectors live in b until the next call. */
fr_status fr_batch_embed_run(fr_batch_embed *b, fr_encoder *enc, const fr_store *store, fr_rank_request *const *reqs,
                             fr_candidate *const *cands, int n, int *query_truncated, char *err, size_t errcap);

#endif

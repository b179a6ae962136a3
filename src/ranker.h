/* ranker.h - re-ranking one request's candidates against its context.
 *
 * Context vector: the query's embedding (with the model's query prefix), the recency-weighted
 * mean of the history items' stored vectors, or a weighted mix of both. Each candidate gets a
 * semantic score (cosine to the context) and, when the request carries them, an upstream score;
 * each signal is normalised across the request's candidates (z-score by default, or min-max,
 * rank, none) and blended with per-request weights. With log priors in the store (priors.h)
 * two more signals join: popularity (log of the decayed count) and co-visitation with the history
 * items (sum over history items, recency-weighted, of their co-visitation weight with the
 * candidate divided by the square root of both popularities, read from each history item's
 * neighbour list: O(history x neighbours), never O(catalogue)). Both are multiplied per candidate
 * by a gate seen / (seen + log_gate), seen = the candidate's event count in the log, so an item
 * the log does not know is ranked by content alone (its log terms are 0, the average after
 * normalisation) by construction. With a query and item texts in the store, a lexical signal
 * (BM25, bm25.h) joins as well. With a sequential model in the store (seqmodel_store.h,
 * `feedrank train`), a sequential signal joins when asked for (sequential_weight != 0): the model's
 * user state after the request's history (store rows of the known ids, in request order, most
 * recent last, the newest max_len of them; ids unknown to the store are skipped; weights and
 * timestamps do not enter the model) dotted with each candidate's item vector (id embedding +
 * projection of its stored vector; a candidate ranked by a request-given vector gets the
 * projection of that vector alone). It is normalised like the others and, when the store also has
 * log priors, multiplied by the same per-candidate gate as the log signals: the model is weakest on
 * items the log barely knows (issue #17: model alone 0.161 NDCG@10 on cold items against 0.261 for
 * content alone), so for them the term fades to 0 (the average) and content decides. Without
 * priors it is ungated. A history with no id known to the model gives the signal 0 for every
 * candidate (no_sequential_state in the result); a store without a model refuses a request that
 * asks for it (FR_ERR_ARG naming sequential_weight). Optional MMR re-orders the top positions for
 * diversity. Ties keep the request's candidate order. Unknown or duplicate candidate ids are
 * reported per item and left out; they never fail the request. A history whose ids are all unknown
 * (or all weighted 0) without a query leaves no context vector: the request is ranked by its other
 * signals, every semantic score 0, and the result says so (no_context_vector).
 *
 * Adding a ranking option: a row in rank_options.def (name, type, default, range, proto field,
 * doc) and the same field in RerankOptions of proto/feedrank/v1/reranker.proto; the member of
 * fr_rank_options, its default, range check, JSON, profile, gRPC codec and client flag follow from
 * the row (see rank_options.def). Then use o->member here. */
#ifndef FR_RANKER_H
#define FR_RANKER_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "item_store.h"
#include "priors.h"
#include "status.h"

typedef enum { FR_NORM_ZSCORE = 0,
               FR_NORM_MINMAX = 1,
               FR_NORM_RANK = 2,
               FR_NORM_NONE = 3 } fr_norm;
typedef enum { FR_SIG_SEMANTIC,
               FR_SIG_UPSTREAM,
               FR_SIG_POPULARITY,
               FR_SIG_COVISITATION,
               FR_SIG_LEXICAL,
               FR_SIG_SEQUENTIAL,
               FR_SIG_COUNT } fr_signal;

/* Ranking options: one member per entry of rank_options.def (name, type, default, range and doc
 * of each are there, and defaults, validation, JSON, profiles, the gRPC codec and the client are
 * generated from it), plus the per-signal normalisation overrides. */
#define FR_OPT_CTYPE_FLOAT float
#define FR_OPT_CTYPE_DOUBLE double
#define FR_OPT_CTYPE_COUNT int
#define FR_OPT_CTYPE_BOOL int
#define FR_OPT_CTYPE_NORM fr_norm
typedef struct {
#define FR_RANK_OPTION(name, member, kind, def, lo, hi, field, profile, doc) FR_OPT_CTYPE_##kind member;
#include "rank_options.def"
#undef FR_RANK_OPTION
    uint8_t signal_norm[FR_SIG_COUNT]; /* per-signal override of normalization: 0 none, else fr_norm + 1 */
} fr_rank_options;

/* Every option at its default (rank_options.def), no per-signal normalisation. */
void fr_rank_options_default(fr_rank_options *o);

typedef struct {
    const char *id;
    size_t id_len;
    float weight;      /* used when has_weight (default 1) */
    int64_t timestamp; /* unix seconds, used when has_timestamp */
    int has_weight, has_timestamp;
    /* Set by the server when its live delta (store_delta.h) holds this id: the store's row is not
     * used; vector (upserted) stands in for the stored vector in the context, and with no vector
     * (deleted) the item is unknown. An upserted history item has no log or sequential terms. */
    int live;
    const float *vector;
} fr_history_item;

typedef struct {
    const char *id;
    size_t id_len;
    float upstream;
    int has_upstream;
    /* A candidate the store does not know is still ranked when the caller embedded its text:
     * vector (dim floats, from the request's text) stands in for the stored vector, and text
     * (text_len bytes) for the stored text in the lexical signal. Both are ignored when the
     * store knows the id. Such an item has no log signals (the log has never seen it). */
    const float *vector;
    const char *text;
    size_t text_len;
    /* Set by the server when its live delta (store_delta.h) holds this id: the store's row is then
     * not used, the item is ranked by vector (upserted since the last compaction: no log signals
     * until then) or, with no vector, is unknown (deleted). */
    int live;
} fr_candidate;

typedef struct {
    const char *query; /* NULL: no query */
    size_t query_len;
    const float *query_vector; /* optional: the query already embedded (batch callers); else embedded here */
    const fr_history_item *history;
    int n_history;
    const fr_candidate *candidates;
    int n_candidates;
    fr_rank_options options;
} fr_rank_request;

/* Size limits a request is checked against. */
typedef struct {
    int max_candidates;      /* default 100000 */
    int max_history;         /* default 1000 */
    size_t max_query_bytes;  /* default 16384 */
    int max_mmr_depth;       /* default 1000 */
    int max_candidate_texts; /* candidates that carry a text (embedded when the store lacks them), default 256 */
    long long max_mmr_work;  /* MMR depth x candidates, default 1,000,000 (tens of ms on one core) */
} fr_rank_limits;

/* History timestamps are bounded (about 285 million years either side of 1970) so that recency
 * arithmetic on any two of them cannot overflow. */
#define FR_MAX_ABS_TIMESTAMP 9000000000000000LL

void fr_rank_limits_default(fr_rank_limits *l);
/* The positions MMR orders for n candidates under o (mmr_depth, else top_k, else 100; at most n). */
int fr_rank_mmr_depth(const fr_rank_options *o, int n_candidates);

typedef struct {
    int candidate;  /* index into the request's candidates */
    float score;    /* blended final score */
    float semantic; /* cosine similarity to the context */
    float upstream; /* as given (valid when has_upstream) */
    int has_upstream;
    float popularity, covisitation, lexical; /* raw log / lexical signals (0 when unused) */
    float sequential;                        /* raw sequential score: user state . item vector (0 when unused or no state) */
    int from_text;                           /* ranked by the text the request gave (the store does not know the id) */
} fr_ranked_item;

typedef enum { FR_ISSUE_UNKNOWN_ITEM = 1,
               FR_ISSUE_DUPLICATE = 2,
               FR_ISSUE_UNKNOWN_HISTORY = 3 } fr_issue;

typedef struct {
    int index; /* candidate index, or history index for FR_ISSUE_UNKNOWN_HISTORY */
    fr_issue code;
} fr_item_issue;

typedef struct {
    fr_ranked_item *items;
    int n_items;
    fr_item_issue *issues;
    int n_issues;
    int n_excluded_seen;
    int query_truncated;     /* the query was cut at the model's max_seq_length */
    int no_context_vector;   /* no query and no usable history vector: semantic scores are all 0 */
    int no_sequential_state; /* the signal was asked for but no history id is known to the model:
                                every candidate's sequential score is 0 */
} fr_rank_result;

typedef struct fr_ranker fr_ranker;

/* enc may be NULL (history-only ranking); store is required. Neither is owned. The store's
 * sequential model, when it has one, is loaded here (validated against the store; the ranker
 * keeps its own copy, freed by fr_ranker_free): a model made for another store fails creation. */
fr_status fr_ranker_create(fr_encoder *enc, const fr_store *store, fr_ranker **out, char *err, size_t errcap);
void fr_ranker_free(fr_ranker *r);

/* Checks a request against limits: finite scores and weights, options in range, a non-empty
 * context. The message names the offending field ("candidates[3].upstream_score is NaN"). */
fr_status fr_rank_validate(const fr_rank_request *req, const fr_rank_limits *lim, char *err, size_t errcap);

/* The log priors the next calls rank with: p (e.g. a live snapshot, live_priors.h), or NULL for
 * the store's own section again. Only the struct is copied: the arrays p points to must stay valid
 * until the ranker's priors are set again or it is freed (the server holds a reference to the
 * snapshot for the whole batch). p must cover the store's items, else the store's priors are kept
 * and FR_ERR_ARG is returned. */
fr_status fr_ranker_set_priors(fr_ranker *r, const fr_priors *p, char *err, size_t errcap);

/* Ranks req into res (valid until the next fr_rank on this ranker, or fr_ranker_free).
 * Validation is the caller's (fr_rank_validate); fr_rank re-checks only what it must to stay safe. */
fr_status fr_rank(fr_ranker *r, const fr_rank_request *req, fr_rank_result *res, char *err, size_t errcap);

/* One request's signals before normalisation, for its kept candidates in request order: what
 * fr_rank normalises and blends. fr_rank_signals_of exposes them so that an offline harness
 * (`bench ab`, `tune`) computes them once per case and ranks through fr_rank_normalize and
 * fr_rank_combine, the ranker's own blend, for every weight setting it tries. A NULL array is a
 * signal the request's options left out. Arrays point into the ranker's scratch: valid until its
 * next call. */
typedef struct {
    int n;                          /* kept candidates */
    const int *candidate;           /* [n] their request indices */
    const float *sig[FR_SIG_COUNT]; /* [n] raw values per signal; semantic is present unless the options
                                     give it no weight, no cold boost and no MMR (then nothing it
                                     would add is computed: 0 in the blend); upstream
                                     only when some candidate has one; popularity and covisitation
                                     when a log weight or the cold boost is not 0; lexical when
                                     lexical_weight != 0 and a query; sequential when its weight is
                                     not 0 and the history gives a state */
    const int *upstream_mask;       /* [n] which candidates have an upstream score (with sig[upstream]) */
    const uint32_t *seen;           /* [n] the log's event count per candidate (the gate's input); NULL
                                   without priors in the store */
} fr_rank_signals;

/* Everything fr_rank does before the blend: the context vector, the candidates' lookup (issues
 * and no_context_vector / no_sequential_state go to res, whose items stay empty) and every signal
 * req->options asks for. */
fr_status fr_rank_signals_of(fr_ranker *r, const fr_rank_request *req, fr_rank_result *res, fr_rank_signals *out,
                             char *err, size_t errcap);
/* Normalises every present signal of s by o's normalisation for it into norm[sig] (s->n floats
 * each, caller's; absent signals are skipped); work holds s->n ints. */
void fr_rank_normalize(const fr_rank_options *o, const fr_rank_signals *s, float *const norm[FR_SIG_COUNT], int *work);
/* The blend of the normalised signals into final[0..s->n): semantic and upstream by their weights;
 * with popularity / covisitation present and a log weight or boost set, + g x (their weighted sum)
 * + (1 - g) x cold_content_boost x semantic, g = seen / (seen + log_gate) (1 when log_gate is 0);
 * lexical by its weight; sequential by its weight, x g when the store has priors. */
void fr_rank_combine(const fr_rank_options *o, const fr_rank_signals *s, const float *const norm[FR_SIG_COUNT], float *final);
/* The per-candidate gate seen / (seen + log_gate), 1 when log_gate is 0. */
float fr_rank_gate(uint32_t seen, float log_gate);

const char *fr_norm_name(fr_norm n);
/* "zscore", "minmax", "rank", "none" (case-insensitive, also "Z_SCORE" style); -1 if unknown. */
int fr_norm_parse(const char *s);
/* "semantic", "upstream", "popularity", "covisitation", "lexical", "sequential" */
const char *fr_signal_name(fr_signal s);
/* Sets how one signal is normalised: signal is a name above, or "default" (o->normalization, for
 * every signal without an override); method is a fr_norm name. Errors name the bad key or value. */
fr_status fr_rank_set_normalization(fr_rank_options *o, const char *signal, const char *method, char *err, size_t errcap);
/* The normalisation signal s gets under o. */
fr_norm fr_rank_norm_of(const fr_rank_options *o, fr_signal s);
const char *fr_issue_name(fr_issue c);

#endif

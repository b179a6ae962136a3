/* profile.h - ranking profiles: a named set of ranking options (signal weights, normalisation,
 * log gate, cold-item content boost, history decay, MMR) in a small JSON file, written by
 * `feedrank tune` and loaded by `rerank --profile`, `serve` (per A/B arm) and `bench ab
 * --b profile:FILE`.
 *
 *   {"feedrank_profile": 1, "name": "games",
 *    "weights": {"semantic": 0.4, "upstream": 0, "popularity": 0.3, "covisitation": 0.3, "lexical": 0,
 *                "sequential": 0.5},
 *    "normalization": "zscore", "query_weight": 0.5, "history_half_life": 4, "mmr_lambda": 1,
 *    "log_gate": 1, "cold_content_boost": 1, ..., "bm25_k1": 0.9, "tuned": {...}}
 *
 * Every ranking option (rank_options.def) can be held: the signal weights under "weights" by
 * signal name, every other option as a top-level key under its option name (snake_case, or the
 * lowerCamelCase JSON name; values as in requests' canonical JSON). The five weights of the
 * first version are required; the options the first version had are always written; options
 * added since (sequential, history_half_life_seconds, mmr_depth, top_k, exclude_seen, bm25_k1,
 * bm25_b, ...) are optional (default when absent) and written only when not the default, so
 * older profiles load and older builds read new ones that do not use them. Unknown keys,
 * duplicate keys, non-finite or out-of-range values are errors naming the key. "tuned" is
 * free-form provenance (dataset, split, metric) and is kept as written. */
#ifndef FR_PROFILE_H
#define FR_PROFILE_H

#include <stddef.h>
#include <stdio.h>

#include "ranker.h"
#include "status.h"

/* Parses profile JSON into *opt (starting from the defaults); name (may be NULL) receives the
 * profile's name. label names the source in errors. */
fr_status fr_profile_parse(const char *json, size_t len, const char *label, fr_rank_options *opt, char *name,
                           size_t name_cap, char *err, size_t errcap);
fr_status fr_profile_load(const char *path, fr_rank_options *opt, char *name, size_t name_cap, char *err, size_t errcap);

/* Writes a profile; tuned_json (may be NULL) is a JSON object stored under "tuned". */
fr_status fr_profile_write(FILE *f, const char *name, const fr_rank_options *opt, const char *tuned_json, char *err,
                           size_t errcap);

#endif

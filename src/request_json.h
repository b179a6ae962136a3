/* request_json.h - the JSON form of feedrank.v1.RerankRequest / RerankResponse, used by
 * `feedrank rerank` (one request per JSONL line). Field names are the proto's
 * (proto/feedrank/v1/reranker.proto); unknown fields are rejected with their path, so a typo in
 * an option never passes silently. */
#ifndef FR_REQUEST_JSON_H
#define FR_REQUEST_JSON_H

#include <stdint.h>

#include "ranker.h"

typedef struct {
    void *root;              /* the parsed JSON (cJSON), owning every string below */
    const char *request_id;  /* "" when absent */
    fr_rank_request req;
    fr_history_item *history;
    fr_candidate *candidates;
    int return_scores;       /* default 1 */
} fr_parsed_request;

/* Parses one request from JSON text. On failure err names the field ("candidates[2].item_id must
 * be a string"), and *out holds nothing to free. */
fr_status fr_request_parse(const char *json, size_t len, fr_parsed_request *out, char *err, size_t errcap);
/* The same, with the request's options applied on top of *defaults (a ranking profile) instead
 * of the built-in defaults; defaults NULL = built-in. */
fr_status fr_request_parse_from(const char *json, size_t len, const fr_rank_options *defaults, fr_parsed_request *out,
                                char *err, size_t errcap);
void fr_parsed_request_free(fr_parsed_request *p);

/* "normalization" as JSON (a cJSON node; NULL or null: unchanged): a method name for every signal
 * ("zscore", "minmax", "rank", "none"; clears per-signal choices), or an object of them by signal
 * ({"default": "zscore", "popularity": "rank"}). Errors start with "normalization". */
struct cJSON;
fr_status fr_normalization_from_json(const struct cJSON *n, fr_rank_options *o, char *err, size_t errcap);

/* Best effort: the request_id of a request that failed to parse or validate, so that its error
 * can name it. Writes "" when there is none. */
void fr_request_id_of(const char *json, size_t len, char *out, size_t cap);

/* Parses just the "options" of a request-shaped JSON document (server A/B arms use the same
 * names and checks as requests), applied on top of what *out holds (initialise it). */
fr_status fr_request_parse_options(const char *json, size_t len, fr_rank_options *out, char *err, size_t errcap);

/* The response as one line of JSON (malloc'd, no newline), or NULL when out of memory. */
char *fr_response_json(const fr_parsed_request *p, const fr_rank_result *res, const char *model,
                       uint64_t store_version);

#endif

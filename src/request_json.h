/* request_json.h - the JSON form of feedrank.v1.RerankRequest / RerankResponse, used by
 * `feedrank rerank` (one request per JSONL line) and the HTTP endpoints. Requests are read as
 * protobuf's JSON mapping writes them (json_canon.h: snake_case or lowerCamelCase names, enums
 * by name or number, 64-bit integers as numbers or strings, null = unset); field names are the
 * proto's (proto/feedrank/v1/reranker.proto); unknown fields are rejected with their path, so a
 * typo in an option never passes silently. Responses are written so that protobuf's own JSON
 * parsers read them into a RerankResponse. */
#ifndef FR_REQUEST_JSON_H
#define FR_REQUEST_JSON_H

#include <stdint.h>

#include "arms.h"
#include "ranker.h"

typedef struct {
    void *root;             /* the parsed JSON (cJSON), owning every string below */
    const char *request_id; /* "" when absent */
    fr_rank_request req;
    fr_history_item *history;
    fr_candidate *candidates;
    int return_scores;    /* default 1 */
    const char *user_id;  /* "" when absent */
    const char *arm;      /* as the request named it, "" when absent */
    int arm_index;        /* the arm whose options are under the request's (fr_request_parse_arms), else 0 */
    uint64_t options_set; /* bit 1 << FR_OPTION_x (rank_options.h) for each option the request set */
} fr_parsed_request;

/* Parses one request from JSON text. On failure err names the field ("candidates[2].item_id must
 * be a string"), and *out holds nothing to free. A request naming an arm other than "default"
 * fails (no arms here: see fr_request_parse_arms). */
fr_status fr_request_parse(const char *json, size_t len, fr_parsed_request *out, char *err, size_t errcap);
/* The same, with the request's options applied on top of *defaults (a ranking profile) instead
 * of the built-in defaults; defaults NULL = built-in. */
fr_status fr_request_parse_from(const char *json, size_t len, const fr_rank_options *defaults, fr_parsed_request *out,
                                char *err, size_t errcap);
/* The same with A/B arms (arms.h; n_arms 0 = none, as fr_request_parse_from): the request's arm
 * (fr_arm_pick: its "arm", else its "user_id", else arm 0) gives the options under the request's
 * own, and out->arm_index says which; an arm that is not configured fails the request. n_arms -1:
 * arm and user_id are read but not resolved (a client passing the request on to a server). */
fr_status fr_request_parse_arms(const char *json, size_t len, const fr_rank_options *defaults, const fr_arm *arms, int n_arms,
                                fr_parsed_request *out, char *err, size_t errcap);
void fr_parsed_request_free(fr_parsed_request *p);

/* Best effort: the request_id of a request that failed to parse or validate, so that its error
 * can name it. Writes "" when there is none. */
void fr_request_id_of(const char *json, size_t len, char *out, size_t cap);

/* Parses just the "options" of a request-shaped JSON document, applied on top of what *out holds
 * (initialise it), and checks their ranges. */
fr_status fr_request_parse_options(const char *json, size_t len, fr_rank_options *out, char *err, size_t errcap);

/* The response as one line of JSON (malloc'd, no newline), or NULL when out of memory: protobuf's
 * canonical JSON of a RerankResponse (lowerCamelCase names, as MessageToJson writes them). */
char *fr_response_json(const fr_parsed_request *p, const fr_rank_result *res, const char *model,
                       uint64_t store_version);
/* The same, with the arm that ranked the request (NULL: no "arm" field) and flags. */
#define FR_JSON_PROTO_NAMES 1 /* the proto's snake_case field names (MessageToJson's preserving_proto_field_name) */
char *fr_response_json_ex(const fr_parsed_request *p, const fr_rank_result *res, const char *model, uint64_t store_version,
                          const char *arm, int flags);

#endif

/* openai_json.h - OpenAI's embeddings API as JSON (POST /v1/embeddings; see docs/http.md). */
#ifndef FR_OPENAI_JSON_H
#define FR_OPENAI_JSON_H

#include <stddef.h>

#include "feedrank/v1/reranker.pb-c.h"
#include "status.h"

typedef struct {
    char **texts; /* input: one string, or each of a list (malloc'd copies) */
    size_t n_texts;
    char model[256]; /* required */
    int base64;      /* encoding_format "base64" (default "float") */
    int dimensions;  /* 0 when not given */
    int kind;        /* input_type (an extension): 0 plain (default), 1 query, 2 document */
} fr_openai_embed_request;

/* Parses a request body. On failure err says what is wrong and param names the field ("input",
 * "model", ...), and *out holds nothing to free. Token-id input (numbers) is refused. */
fr_status fr_openai_embed_parse(const char *json, size_t len, fr_openai_embed_request *out, char *param, size_t paramcap,
                                char *err, size_t errcap);
void fr_openai_embed_request_free(fr_openai_embed_request *r);
/* 1 when a request's model names the served one: the same name, or a hub id ending in "/NAME". */
int fr_openai_model_matches(const char *asked, const char *served);
/* {object:"list", data:[{object:"embedding", index, embedding}], model, usage} (malloc'd; NULL
 * when out of memory); base64: each vector's float32 values little-endian, base64-encoded. */
char *fr_openai_embed_response(const Feedrank__V1__EmbedResponse *r, int base64);
/* {"error": {"message", "type", "param", "code"}} (param/code null when NULL or empty). */
char *fr_openai_error(const char *message, const char *type, const char *param, const char *code);

#endif

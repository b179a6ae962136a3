/* OpenAI embeddings request bodies (POST /v1/embeddings) through the parser, then a response
 * for its texts in both encodings, the error writer, and the texts' EmbedRequest as canonical
 * JSON (pb_json.c), as the HTTP listener handles a body. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "openai_json.h"
#include "pb_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_openai_embed_request q;
    char err[256], param[64];
    if (fr_openai_embed_parse((const char *)data, size, &q, param, sizeof param, err, sizeof err) != FR_OK) {
        free(fr_openai_error(err, "invalid_request_error", param, "INVALID_ARGUMENT"));
        return 0;
    }
    (void)fr_openai_model_matches(q.model, "all-MiniLM-L6-v2");
    Feedrank__V1__EmbedRequest m;
    feedrank__v1__embed_request__init(&m);
    m.texts = q.texts;
    m.n_texts = q.n_texts;
    m.has_kind = 1;
    m.kind = (Feedrank__V1__TextKind)q.kind;
    free(fr_pb_to_json(&m.base));
    Feedrank__V1__Embedding *es = calloc(q.n_texts, sizeof *es);
    Feedrank__V1__Embedding **ep = calloc(q.n_texts, sizeof *ep);
    float v[3] = {0.5f, -0.25f, 1e-7f};
    if (es && ep) {
        for (size_t i = 0; i < q.n_texts; i++) {
            feedrank__v1__embedding__init(&es[i]);
            es[i].values = v;
            es[i].n_values = 3;
            es[i].tokens = (uint32_t)strlen(q.texts[i]);
            ep[i] = &es[i];
        }
        Feedrank__V1__EmbedResponse r;
        feedrank__v1__embed_response__init(&r);
        r.embeddings = ep;
        r.n_embeddings = q.n_texts;
        r.model = q.model;
        free(fr_openai_embed_response(&r, 0));
        free(fr_openai_embed_response(&r, 1));
    }
    free(es);
    free(ep);
    fr_openai_embed_request_free(&q);
    return 0;
}

/* The pre-unpack wire check (server/wire_check.c) on arbitrary bytes, read as an EmbedRequest
 * and as a RerankRequest with small limits: it must never read out of bounds, and whatever it
 * passes must unpack to no more entries than the limits allow. (fuzz_rerank_proto runs it with
 * the server's real limits in front of the whole request path.) */
#include <stdlib.h>

#include "fuzz.h"
#include "server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    if (fr_codec_check_embed_wire(data, size, 3, err, sizeof err) == FR_OK) {
        Feedrank__V1__EmbedRequest *e = feedrank__v1__embed_request__unpack(NULL, size, data);
        if (e && e->n_texts > 3) abort();
        if (e) feedrank__v1__embed_request__free_unpacked(e, NULL);
    }
    fr_rank_limits lim;
    fr_rank_limits_default(&lim);
    lim.max_candidates = 4;
    lim.max_history = 2;
    if (fr_codec_check_rerank_wire(data, size, &lim, err, sizeof err) == FR_OK) {
        Feedrank__V1__RerankRequest *m = feedrank__v1__rerank_request__unpack(NULL, size, data);
        if (m && (m->n_candidates > 4 || (m->context && m->context->n_history > 2))) abort();
        if (m) feedrank__v1__rerank_request__free_unpacked(m, NULL);
    }
    return 0;
}

/* RerankRequest protobuf bytes through the server's own path: the wire check, unpack, convert
 * (codec.c) and validate, with the server's default limits. A message the wire check passes never
 * unpacks to more entries than the limits, and none of its ids holds a NUL byte cut short. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_server_config cfg;
    fr_server_config_default(&cfg);
    char err[256];
    if (fr_codec_check_rerank_wire(data, size, &cfg.limits, err, sizeof err)) return 0;
    Feedrank__V1__RerankRequest *m = feedrank__v1__rerank_request__unpack(NULL, size, data);
    if (!m) return 0;
    if (m->n_candidates > (size_t)cfg.limits.max_candidates) abort();
    if (m->context && m->context->n_history > (size_t)cfg.limits.max_history) abort();
    job j;
    memset(&j, 0, sizeof j);
    j.rr = m;
    fr_rank_options d;
    fr_rank_options_default(&d);
    if (fr_codec_request(m, &d, &j, err, sizeof err) == FR_OK) fr_rank_validate(&j.req, &cfg.limits, err, sizeof err);
    free(j.hist);
    free(j.cands);
    feedrank__v1__rerank_request__free_unpacked(m, NULL);
    return 0;
}

/* Batch request JSON lines through parsing, validation, ranking (on a small store) and the
 * response writer, exactly as `feedrank rerank` handles a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ranker.h"
#include "request_json.h"

static fr_ranker *ranker(void) {
    static fr_ranker *rk;
    static fr_store *st;
    if (rk) return rk;
    char path[] = "/tmp/fr_fuzz_store_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    fr_store_writer *w;
    if (fr_store_writer_open(path, 4, FR_STORE_F32, "fuzz", 1, 1, &w, NULL, 0)) abort();
    const char *ids[] = {"a", "b", "c", "p001", "x"};
    for (int i = 0; i < 5; i++) {
        float v[4] = {(float)i, 1, (float)(i % 2), -1};
        if (fr_store_writer_add(w, ids[i], strlen(ids[i]), v, ids[i], 1, NULL, 0)) abort();
    }
    if (fr_store_writer_finish(w, NULL, 0) || fr_store_open(path, 0, 0, &st, NULL, 0) || fr_ranker_create(NULL, st, &rk, NULL, 0)) abort();
    unlink(path);
    return rk;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_ranker *rk = ranker();
    fr_parsed_request p;
    char err[256];
    if (fr_request_parse((const char *)data, size, &p, err, sizeof err) != FR_OK) return 0;
    fr_rank_limits lim;
    fr_rank_limits_default(&lim);
    lim.max_candidates = 5000;
    static const float qv[4] = {1, 0, 0, 0};
    p.req.query_vector = qv; /* no model here: the query's vector is given */
    if (fr_rank_validate(&p.req, &lim, err, sizeof err) == FR_OK) {
        fr_rank_result r;
        if (fr_rank(rk, &p.req, &r, err, sizeof err) == FR_OK) free(fr_response_json(&p, &r, "m", 1));
    }
    char rid[64];
    fr_request_id_of((const char *)data, size, rid, sizeof rid);
    /* the same line with A/B arms: the arm is picked (by name or user_id) before the options apply */
    static fr_arm arms[2] = {{.name = "a", .weight = 1}, {.name = "b", .weight = 2}};
    if (!arms[0].options.semantic_weight) {
        fr_rank_options_default(&arms[0].options);
        fr_rank_options_default(&arms[1].options);
        arms[1].options.top_k = 1;
    }
    fr_parsed_request pa;
    if (fr_request_parse_arms((const char *)data, size, NULL, arms, 2, &pa, err, sizeof err) == FR_OK) {
        if (pa.arm_index < 0 || pa.arm_index > 1) abort();
        free(fr_response_json_ex(&pa, &(fr_rank_result){0}, "m", 1, arms[pa.arm_index].name, FR_JSON_PROTO_NAMES));
        fr_parsed_request_free(&pa);
    }
    fr_parsed_request_free(&p);
    return 0;
}

/* Ranking profiles: any bytes as a profile file; a profile that parses must survive a write and
 * re-parse with the same options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_rank_options o, back;
    char name[64], err[256];
    if (fr_profile_parse((const char *)data, size, "fuzz", &o, name, sizeof name, err, sizeof err) != FR_OK) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return 0;
    fr_profile_write(f, name, &o, NULL, err, sizeof err);
    fclose(f);
    if (fr_profile_parse(buf, len, "rewritten", &back, name, sizeof name, err, sizeof err) != FR_OK ||
        back.semantic_weight != o.semantic_weight || back.popularity_weight != o.popularity_weight ||
        back.covisitation_weight != o.covisitation_weight || back.lexical_weight != o.lexical_weight ||
        back.log_gate != o.log_gate || back.cold_content_boost != o.cold_content_boost || back.normalization != o.normalization)
        abort();
    free(buf);
    return 0;
}

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
    /* every option (rank_options.def), per-signal normalisation included, reads back the same */
    if (fr_profile_parse(buf, len, "rewritten", &back, name, sizeof name, err, sizeof err) != FR_OK || memcmp(&back, &o, sizeof o) != 0)
        abort();
    free(buf);
    return 0;
}

/* The write-ahead log's record reader (fr_wal_parse): any bytes, with and without skip_corrupt;
 * every record it hands over must lie inside the input, and the valid end must not pass it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wal.h"

static fr_status check(void *ctx, uint64_t seq, const uint8_t *p, size_t len, char *err, size_t errcap) {
    const uint8_t *const *bounds = ctx;
    (void)seq;
    (void)err;
    (void)errcap;
    if (p < bounds[0] || p + len > bounds[1]) abort();
    return FR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    const uint8_t *bounds[2] = {copy, copy + size};
    char err[512];
    for (int skip = 0; skip < 2; skip++) {
        fr_wal_open_info info;
        uint64_t end;
        if (fr_wal_parse(copy, size, skip, check, bounds, &info, &end, err, sizeof err) == FR_OK &&
            (end > size || end < FR_WAL_HEADER || info.torn_bytes + end != size))
            abort();
    }
    free(copy);
    return 0;
}

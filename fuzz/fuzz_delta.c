/* Live-update records (store_delta.h), as the log hands them over: any bytes are checked and
 * applied over an empty delta and over a delta holding the input's own result; a record that
 * checks must apply, and every id it leaves must be found. */
#include <stdlib.h>

#include "fuzz.h"
#include "store_delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    fr_delta *d0, *d1 = NULL, *d2 = NULL;
    if (fr_delta_empty(0x1234, 2, 0, &d0, err, sizeof err)) return 0;
    int ok = fr_delta_check_record(data, size, 0x1234, 2, err, sizeof err) == FR_OK;
    if (fr_delta_apply(d0, data, size, 1, &d1, err, sizeof err) == FR_OK) {
        if (!ok) abort();
        for (uint64_t i = 0; i < fr_delta_count(d1); i++) {
            fr_delta_item it;
            fr_delta_item_at(d1, i, &it);
            if (!fr_delta_find(d1, it.id, it.id_len, NULL)) abort();
        }
        if (fr_delta_apply(d1, data, size, 2, &d2, err, sizeof err) != FR_OK || fr_delta_count(d2) != fr_delta_count(d1)) abort();
    } else if (ok) {
        abort();
    }
    fr_delta_unref(d2);
    fr_delta_unref(d1);
    fr_delta_unref(d0);
    return 0;
}

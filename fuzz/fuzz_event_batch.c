/* Events records (event_batch.h), as the log hands them over: any bytes are checked; a record
 * that checks hands over exactly its count of events, re-encodes to the same bytes, and is
 * accepted by the catalogue's check (store_delta.h) as an events record. */
#include <stdlib.h>
#include <string.h>

#include "event_batch.h"
#include "fuzz.h"
#include "store_delta.h"

typedef struct {
    fr_event_batch *b;
    uint32_t n;
} rebuild;

static fr_status add(void *ctx, const fr_event *ev, char *err, size_t errcap) {
    rebuild *r = ctx;
    r->n++;
    return fr_event_batch_add(r->b, ev, err, errcap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    fr_event_batch_info info;
    const int ok = fr_event_batch_check(data, size, &info, err, sizeof err) == FR_OK;
    if (size && data[0] == FR_RECORD_EVENTS && ok != (fr_delta_check_record(data, size, 1, 2, err, sizeof err) == FR_OK)) abort();
    if (!ok) return 0;
    rebuild r = {NULL, 0};
    if (fr_event_batch_new(&info.params, &r.b, err, sizeof err)) abort();
    if (fr_event_batch_each(data, size, add, &r, err, sizeof err) != FR_OK || r.n != info.n_events) abort();
    if (info.tail.present) fr_event_batch_set_tail(r.b, &info.tail);
    size_t len;
    const uint8_t *again = fr_event_batch_bytes(r.b, &len);
    /* a valid record has one encoding */
    if (len != size || memcmp(again, data, size) != 0) abort();
    fr_event_batch_free(r.b);
    return 0;
}

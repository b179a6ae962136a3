/* The shared log's reply walker (fr_oplog_redis_parse_reply) and its URL parser: any bytes. The
 * first byte picks what the rest is: 0 an XREAD reply, 1 an XRANGE reply (RESP bytes, read by
 * hiredis' own reader as the follower's connection does), anything else a --log URL. Every record
 * handed over must be non-empty and come with a position; the URL parser must fill bounded strings. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oplog.h"

static fr_status check(void *ctx, uint64_t pos, const uint8_t *rec, size_t len, char *err, size_t errcap) {
    (void)ctx;
    (void)err;
    (void)errcap;
    if (pos == 0 || !rec || len == 0 || len > (64u << 20)) abort();
    volatile uint8_t sink = rec[0] ^ rec[len - 1]; /* the bytes must be readable (ASan) */
    (void)sink;
    return FR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char err[512];
    if (data[0] <= 1) {
        fr_oplog_redis_parse_reply(data + 1, size - 1, data[0] == 0, check, NULL, err, sizeof err);
        return 0;
    }
    char *url = malloc(size);
    memcpy(url, data + 1, size - 1);
    url[size - 1] = 0;
    fr_oplog_redis_config c;
    memset(&c, 0, sizeof c);
    if (fr_oplog_redis_parse_url("--log", url, &c, err, sizeof err) == FR_OK &&
        (!c.host[0] || c.port < 1 || c.port > 65535 || !c.key[0] || memchr(c.host, 0, sizeof c.host) == NULL || memchr(c.key, 0, sizeof c.key) == NULL))
        abort();
    free(url);
    return 0;
}

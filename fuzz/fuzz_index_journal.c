/* The `feedrank index` journal (src/index_journal.h): the input is a journal file. Its header gives
 * the settings and dimension it is opened with, and the first byte says whether the records'
 * checksums are recomputed first (odd: yes), so the fuzzer reaches the record validation instead
 * of stopping at a checksum. A journal that opens must read back exactly the records the open
 * kept, accept one more record and read that back too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz.h"
#include "hash.h"
#include "index_journal.h"

/* recomputes each record's checksum where the record's lengths fit in the data */
static void fix_checksums(uint8_t *d, size_t n, uint32_t dim) {
    size_t p = 20;
    while (p + 20 <= n) {
        const uint32_t il = fr_rd32(d + p + 12), tl = fr_rd32(d + p + 16);
        const size_t body = (size_t)il + tl + 4 * (size_t)dim;
        if (il > FR_JOURNAL_MAX_ID || tl > FR_JOURNAL_MAX_TEXT || p + 20 + body + 8 > n) return;
        uint64_t h = fr_hash64(d + p, 4, 0);
        h = fr_hash64(d + p + 4, 8, h);
        h = fr_hash64(d + p + 12, 4, h);
        h = fr_hash64(d + p + 16, 4, h);
        h = fr_hash64(d + p + 20, il, h);
        h = fr_hash64(d + p + 20 + il, tl, h);
        h = fr_hash64(d + p + 20 + il + tl, 4 * (size_t)dim, h);
        fr_wr64(d + p + 20 + body, h);
        p += 20 + body + 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size) {
    if (in_size < 21) return 0;
    const int fix = in[0] & 1;
    const size_t n = in_size - 1;
    uint8_t *d = malloc(n);
    if (!d) return 0;
    memcpy(d, in + 1, n);
    const uint64_t settings = fr_rd64(d + 8);
    const uint32_t dim = fr_rd32(d + 16);
    if (dim < 1 || dim > 1024) {
        free(d);
        return 0;
    }
    if (fix) fix_checksums(d, n, dim);
    char path[] = "/tmp/fuzz_index_journal_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        free(d);
        return 0;
    }
    const int wrote = write(fd, d, n) == (ssize_t)n;
    close(fd);
    free(d);
    char err[512];
    fr_journal *j = NULL;
    if (wrote && fr_journal_open(path, settings, (int)dim, 0, &j, err, sizeof err) == FR_OK) {
        const long long kept = fr_journal_records(j);
        float *v = calloc(dim, sizeof *v);
        if (!v) abort();
        if (fr_journal_append(j, 7, "id", 2, "text", 4, v, err, sizeof err) != FR_OK || fr_journal_sync(j, err, sizeof err) != FR_OK ||
            fr_journal_rewind(j, err, sizeof err) != FR_OK) {
            fprintf(stderr, "append: %s\n", err);
            abort();
        }
        fr_journal_record r;
        long long k = 0;
        int st;
        while ((st = fr_journal_next(j, &r, err, sizeof err)) == 1) k++;
        if (st != 0 || k != kept + 1 || r.row != 7 || r.id_len != 2 || memcmp(r.id, "id", 2)) {
            fprintf(stderr, "read back: %lld of %lld: %s\n", k, kept + 1, err);
            abort();
        }
        free(v);
    }
    fr_journal_close(j, 0);
    unlink(path);
    return 0;
}

/* test_wal.c - the write-ahead log: round trip across reopenings, a torn tail cut at every byte
 * offset of the last record (dropped, the rest intact, appends resume), a bit flip in the middle
 * (refused naming the offset; skipped only with skip_corrupt), a full disk (a real short write,
 * from the kernel's file-size limit: the append fails, the log is unchanged and keeps working),
 * and the rewrite that drops folded records. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "wal.h"

static char tmpdir[] = "/tmp/fr_wal_XXXXXX";

typedef struct {
    uint64_t seqs[256];
    char payloads[64][256];
    int n;
} seen;

static fr_status collect(void *ctx, uint64_t seq, const uint8_t *p, size_t len, char *err, size_t errcap) {
    seen *s = ctx;
    if (s->n >= 64 || len >= 256) return fr_fail(FR_ERR_ARG, err, errcap, "test: too many records");
    s->seqs[s->n] = seq;
    memcpy(s->payloads[s->n], p, len);
    s->payloads[s->n][len] = 0;
    s->n++;
    return FR_OK;
}

static void write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* A log of n records "record-<i>" at path; returns its bytes (caller frees) and the record offsets. */
static uint8_t *make_log(const char *path, int n, size_t *len, size_t *offsets) {
    char err[512];
    unlink(path);
    fr_wal *w;
    if (fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err)) {
        CHECK(0, "create: %s", err);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        char p[32];
        int l = snprintf(p, sizeof p, "record-%d", i);
        uint64_t seq;
        if (offsets) offsets[i] = (size_t)fr_wal_bytes(w);
        CHECK(fr_wal_append(w, p, (size_t)l, &seq, err, sizeof err) == FR_OK && seq == (uint64_t)i + 1, "append %d: %s", i, err);
    }
    CHECK(fr_wal_sync(w, err, sizeof err) == FR_OK, "sync: %s", err);
    fr_wal_close(w);
    return (uint8_t *)fr_test_read_file(path, len);
}

static void test_round_trip(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/rt.wal", tmpdir);
    size_t len;
    free(make_log(path, 5, &len, NULL));
    seen s = {0};
    fr_wal *w;
    fr_wal_open_info info;
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK, "reopen: %s", err);
    CHECK(s.n == 5 && info.records == 5 && info.next_seq == 6 && info.torn_bytes == 0, "5 records replayed (%d)", s.n);
    fr_wal *second;
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &second, NULL, err, sizeof err) == FR_ERR_IO && strstr(err, "in use"), "a second writer is refused: %s", err);
    CHECK(strcmp(s.payloads[0], "record-0") == 0 && strcmp(s.payloads[4], "record-4") == 0 && s.seqs[4] == 5, "payloads and seqs kept");
    uint64_t seq;
    CHECK(fr_wal_append(w, "", 0, &seq, err, sizeof err) == FR_OK && seq == 6, "an empty payload is a record (seq %llu)", (unsigned long long)seq);
    CHECK(fr_wal_sync(w, err, sizeof err) == FR_OK, "sync");
    fr_wal_close(w);
    memset(&s, 0, sizeof s);
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK && s.n == 6 && s.payloads[5][0] == 0, "6 after reopening");
    /* rewrite: drop records 1..3, keep 4..6, appends continue at 7 */
    CHECK(fr_wal_rewrite(w, 4, err, sizeof err) == FR_OK, "rewrite: %s", err);
    CHECK(fr_wal_first_seq(w) == 4 && fr_wal_next_seq(w) == 7, "first 4, next 7");
    CHECK(fr_wal_append(w, "after", 5, &seq, err, sizeof err) == FR_OK && seq == 7 && fr_wal_sync(w, err, sizeof err) == FR_OK, "append after rewrite");
    CHECK(fr_wal_rewrite(w, 99, err, sizeof err) == FR_ERR_ARG, "a rewrite past the end is refused");
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &second, NULL, err, sizeof err) == FR_ERR_IO, "the rewritten log is still locked: %s", err);
    fr_wal_close(w);
    memset(&s, 0, sizeof s);
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK, "reopen after rewrite: %s", err);
    CHECK(s.n == 4 && s.seqs[0] == 4 && strcmp(s.payloads[0], "record-3") == 0 && strcmp(s.payloads[3], "after") == 0 && info.first_seq == 4,
          "records 4..7 remain (%d, first %llu)", s.n, (unsigned long long)(s.n ? s.seqs[0] : 0));
    CHECK(fr_wal_rewrite(w, 8, err, sizeof err) == FR_OK && fr_wal_bytes(w) == FR_WAL_HEADER, "rewrite of everything leaves a header");
    fr_wal_close(w);
    memset(&s, 0, sizeof s);
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK && s.n == 0 && info.next_seq == 8, "empty log keeps the sequence (next %llu)", (unsigned long long)info.next_seq);
    fr_wal_close(w);
    /* not a log */
    write_file(path, (const uint8_t *)"hello, this is not a write-ahead log at all", 44);
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "magic"), "a foreign file is refused: %s", err);
}

/* Every cut inside the last record: dropped with the offset reported, earlier records kept. */
static void test_torn_tail(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/torn.wal", tmpdir);
    size_t len, off[4];
    uint8_t *full = make_log(path, 4, &len, off);
    if (!full) return;
    int bad = 0;
    for (size_t cut = off[3] + 1; cut < len; cut++) {
        write_file(path, full, cut);
        seen s = {0};
        fr_wal *w;
        fr_wal_open_info info;
        fr_status rc = fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err);
        if (rc || s.n != 3 || info.torn_bytes != cut - off[3] || info.torn_offset != off[3] || info.next_seq != 4) {
            bad++;
            if (!rc) fr_wal_close(w);
            continue;
        }
        uint64_t seq;
        if (fr_wal_append(w, "new", 3, &seq, err, sizeof err) || seq != 4) bad++;
        fr_wal_close(w);
        struct stat st;
        stat(path, &st);
        if ((size_t)st.st_size != off[3] + FR_WAL_RECORD_HEADER + 3) bad++;
    }
    CHECK(bad == 0, "torn tail at every one of %zu offsets: dropped, the rest kept, appends resume (%d bad)", len - off[3] - 1, bad);
    /* zeros after the last record (a file system that grew the file before the data landed) */
    uint8_t *z = calloc(1, len + 100);
    memcpy(z, full, len);
    write_file(path, z, len + 100);
    seen s = {0};
    fr_wal *w;
    fr_wal_open_info info;
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK && s.n == 4 && info.torn_bytes == 100, "zero tail dropped");
    fr_wal_close(w);
    /* a header cut short is not a log */
    write_file(path, full, 20);
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err) == FR_ERR_FORMAT, "a short header is refused: %s", err);
    free(z);
    free(full);
}

/* A flipped bit in a middle record: start-up is refused naming its offset; skip_corrupt drops it. */
static void test_bit_flip(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/flip.wal", tmpdir);
    size_t len, off[4];
    uint8_t *full = make_log(path, 4, &len, off);
    if (!full) return;
    int bad = 0;
    for (size_t at = off[1]; at < off[2]; at++) { /* every byte of record 2, header included */
        full[at] ^= 0x10;
        write_file(path, full, len);
        full[at] ^= 0x10;
        fr_wal *w;
        char want[64];
        snprintf(want, sizeof want, "offset %zu", off[1]);
        if (fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err) != FR_ERR_VERIFY || !strstr(err, want)) {
            bad++;
            if (bad < 3) fprintf(stderr, "flip at %zu: %s\n", at, err);
        }
        seen s = {0};
        fr_wal_open_info info;
        if (fr_wal_open(path, 1, 1, collect, &s, &w, &info, err, sizeof err) != FR_OK) {
            bad++;
            continue;
        }
        if (s.n != 3 || s.seqs[1] != 3 || info.skipped_offset != off[1] || info.skipped_bytes != off[2] - off[1]) bad++;
        fr_wal_close(w);
    }
    CHECK(bad == 0, "a flip at each byte of a middle record is refused with its offset, skipped only when asked (%d bad)", bad);
    /* a header bit flip */
    full[17] ^= 1;
    write_file(path, full, len);
    fr_wal *w;
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err) == FR_ERR_VERIFY, "a header flip is refused: %s", err);
    free(full);
}

/* The disk fills up: a real short write (the kernel's file-size limit, RLIMIT_FSIZE, answers
 * EFBIG once the file reaches it). The append fails, the partial record is removed, replay sees
 * only whole records, and once room is made, appends work again. */
static void test_disk_full(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/full.wal", tmpdir);
    size_t len;
    free(make_log(path, 3, &len, NULL));
    fr_wal *w;
    CHECK(fr_wal_open(path, 1, 0, NULL, NULL, &w, NULL, err, sizeof err) == FR_OK, "open: %s", err);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)len + 40; /* room for the header of the next record and a little payload */
    setrlimit(RLIMIT_FSIZE, &lim);
    char big[200];
    memset(big, 'x', sizeof big);
    uint64_t seq;
    fr_status rc = fr_wal_append(w, big, sizeof big, &seq, err, sizeof err);
    CHECK(rc == FR_ERR_IO && strstr(err, "cannot append"), "a write past the limit fails: %s", err);
    struct stat st;
    stat(path, &st);
    CHECK((size_t)st.st_size == len, "the partial record was removed (%lld bytes, want %zu)", (long long)st.st_size, len);
    CHECK(!fr_wal_broken(w) && fr_wal_next_seq(w) == 4, "the log is intact");
    CHECK(fr_wal_append(w, "tiny", 4, &seq, err, sizeof err) == FR_OK && seq == 4, "a small record still fits: %s", err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(fr_wal_append(w, big, sizeof big, &seq, err, sizeof err) == FR_OK && seq == 5 && fr_wal_sync(w, err, sizeof err) == FR_OK,
          "with room again, appends work: %s", err);
    fr_wal_close(w);
    seen s = {0};
    fr_wal_open_info info;
    CHECK(fr_wal_open(path, 1, 0, collect, &s, &w, &info, err, sizeof err) == FR_OK && s.n == 5 && info.torn_bytes == 0, "5 whole records after the full disk (%d: %s)", s.n, err);
    fr_wal_close(w);
    signal(SIGXFSZ, SIG_DFL);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(fr_crc32c(0, "123456789", 9) == 0xE3069283u, "CRC32C check value");
    test_round_trip();
    test_torn_tail();
    test_bit_flip();
    test_disk_full();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
    return fr_test_finish("wal");
}

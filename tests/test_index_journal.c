/* test_index_journal.c - the `feedrank index` journal (src/index_journal.h): round trip, reopen
 * and append, a torn tail at every byte of the last record, a flipped bit in every byte of a
 * record, a file of the wrong size or another run's header, and the byte layout itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "index_journal.h"
#include "test_util.h"

#define DIM 3
static char path[256];

static void rec_values(int k, char *id, size_t idcap, char *text, size_t textcap, float *v) {
    snprintf(id, idcap, "item-%d", k);
    if (k % 3 == 2) text[0] = 0; /* every third text empty */
    else snprintf(text, textcap, "text of item %d", k);
    for (int d = 0; d < DIM; d++) v[d] = (float)k + 0.25f * (float)d;
}

/* writes n records (rows 0, 2, 4, ...) to a fresh journal */
static void write_journal(int n, uint64_t settings) {
    char err[256], id[32], text[64];
    float v[DIM];
    fr_journal *j;
    CHECK(fr_journal_open(path, settings, DIM, 1, &j, err, sizeof err) == FR_OK, "create: %s", err);
    if (!j) return;
    CHECK(fr_journal_records(j) == 0 && fr_journal_next_row(j) == 0, "a new journal is empty");
    for (int k = 0; k < n; k++) {
        rec_values(k, id, sizeof id, text, sizeof text, v);
        CHECK(fr_journal_append(j, (uint64_t)(2 * k), id, strlen(id), text, strlen(text), v, err, sizeof err) == FR_OK, "append %d: %s", k, err);
    }
    CHECK(fr_journal_sync(j, err, sizeof err) == FR_OK, "sync: %s", err);
    fr_journal_close(j, 0);
}

/* reads the journal back: returns the number of valid records that equal what was written */
static int read_back(fr_journal *j) {
    char err[256], id[32], text[64];
    float v[DIM];
    fr_journal_record r;
    int k = 0, st;
    if (fr_journal_rewind(j, err, sizeof err)) return -1;
    while ((st = fr_journal_next(j, &r, err, sizeof err)) == 1) {
        rec_values(k, id, sizeof id, text, sizeof text, v);
        if (r.row != (uint64_t)(2 * k) || r.id_len != strlen(id) || memcmp(r.id, id, r.id_len) || r.text_len != strlen(text) ||
            memcmp(r.text, text, r.text_len) || memcmp(r.vec, v, sizeof v))
            return -1;
        k++;
    }
    return st == 0 ? k : -1;
}

static unsigned char *slurp(size_t *n) { return (unsigned char *)fr_test_read_file(path, n); }
static void spit(const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

static void test_round_trip(void) {
    char err[256];
    write_journal(5, 42);
    fr_journal *j;
    CHECK(fr_journal_open(path, 42, DIM, 0, &j, err, sizeof err) == FR_OK, "reopen: %s", err);
    if (!j) return;
    CHECK(fr_journal_records(j) == 5 && fr_journal_next_row(j) == 9 && fr_journal_dropped_bytes(j) == 0,
          "reopened: %lld records, next row %lld", fr_journal_records(j), fr_journal_next_row(j));
    /* appending after a reopen continues the same file */
    char id[32], text[64];
    float v[DIM];
    rec_values(5, id, sizeof id, text, sizeof text, v);
    CHECK(fr_journal_append(j, 10, id, strlen(id), text, strlen(text), v, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_journal_sync(j, err, sizeof err) == FR_OK, "%s", err);
    CHECK(read_back(j) == 6, "the 6 records read back equal what was written");
    fr_journal_close(j, 0);
    /* the layout of the documented format: header, then the first record field by field */
    size_t n;
    unsigned char *b = slurp(&n);
    CHECK(b && n > 20 && memcmp(b, "FRJRNL01", 8) == 0, "header magic");
    if (b && n > 60) {
        uint64_t s;
        uint32_t d, magic, il, tl;
        memcpy(&s, b + 8, 8);
        memcpy(&d, b + 16, 4);
        memcpy(&magic, b + 20, 4);
        memcpy(&il, b + 32, 4);
        memcpy(&tl, b + 36, 4);
        CHECK(s == 42 && d == DIM && magic == 0x4A524652u && il == 6 && tl == 14, "header and first record fields");
        uint64_t h = fr_hash64(b + 20, 4, 0), want;
        h = fr_hash64(b + 24, 8, h);
        h = fr_hash64(b + 32, 4, h);
        h = fr_hash64(b + 36, 4, h);
        h = fr_hash64(b + 40, il, h);
        h = fr_hash64(b + 40 + il, tl, h);
        h = fr_hash64(b + 40 + il + tl, 4 * DIM, h);
        memcpy(&want, b + 40 + il + tl + 4 * DIM, 8);
        CHECK(h == want, "the checksum chains the fields as documented");
    }
    free(b);
}

/* a run cut off anywhere inside the last record: the first four are kept, the tail is cut */
static void test_torn_tail(void) {
    char err[256];
    write_journal(5, 7);
    size_t n;
    unsigned char *full = slurp(&n);
    if (!full) {
        CHECK(0, "read journal");
        return;
    }
    write_journal(4, 7);
    size_t n4;
    unsigned char *four = slurp(&n4);
    int bad = 0;
    for (size_t cut = n4; cut < n; cut++) {
        spit(full, cut);
        fr_journal *j;
        if (fr_journal_open(path, 7, DIM, 0, &j, err, sizeof err) != FR_OK) {
            bad++;
            continue;
        }
        if (fr_journal_records(j) != 4 || fr_journal_next_row(j) != 7 || fr_journal_dropped_bytes(j) != (long long)(cut - n4) ||
            read_back(j) != 4)
            bad++;
        fr_journal_close(j, 0);
        size_t m;
        unsigned char *after = slurp(&m);
        if (!after || m != n4 || memcmp(after, four, n4)) bad++; /* truncated to the last good record */
        free(after);
    }
    CHECK(bad == 0, "torn at every byte of the last record: %d cases wrong", bad);
    free(full);
    free(four);
}

/* one flipped bit anywhere in record 2 (of 0..4): records 0 and 1 survive, the rest is dropped;
 * read back without reopening, the flipped record is an error naming the file */
static void test_bit_flip(void) {
    char err[256];
    write_journal(2, 9);
    size_t n2, n3, n;
    unsigned char *two = slurp(&n2);
    write_journal(3, 9);
    free(slurp(&n3));
    write_journal(5, 9);
    unsigned char *full = slurp(&n);
    if (!two || !full) {
        CHECK(0, "read journals");
        free(two);
        free(full);
        return;
    }
    int bad = 0;
    for (size_t at = n2; at < n3; at++) {
        for (int bit = 0; bit < 8; bit += 3) {
            full[at] ^= (unsigned char)(1u << bit);
            spit(full, n);
            full[at] ^= (unsigned char)(1u << bit);
            fr_journal *j;
            if (fr_journal_open(path, 9, DIM, 0, &j, err, sizeof err) != FR_OK) {
                bad++;
                continue;
            }
            if (fr_journal_records(j) != 2 || read_back(j) != 2) bad++;
            fr_journal_close(j, 0);
        }
    }
    CHECK(bad == 0, "a bit flipped in record 2: %d cases wrong", bad);
    /* a record corrupted after open (another process, a bad disk) is an error when read back */
    spit(full, n);
    fr_journal *j;
    CHECK(fr_journal_open(path, 9, DIM, 0, &j, err, sizeof err) == FR_OK && fr_journal_records(j) == 5, "clean open");
    if (j) {
        full[n2 + 45] ^= 1;
        FILE *f = fopen(path, "r+b");
        if (f) {
            fseek(f, (long)(n2 + 45), SEEK_SET);
            fputc(full[n2 + 45], f);
            fclose(f);
        }
        fr_journal_record r;
        int st = 0, k = 0;
        CHECK(fr_journal_rewind(j, err, sizeof err) == FR_OK, "%s", err);
        while ((st = fr_journal_next(j, &r, err, sizeof err)) == 1) k++;
        CHECK(st == -1 && k == 2 && strstr(err, path) && strstr(err, "checksum"), "read back: %d records, then '%s'", k, err);
        fr_journal_close(j, 0);
    }
    free(two);
    free(full);
}

/* wrong size, wrong header, wrong settings, wrong dimension, wrong arguments */
static void test_wrong(void) {
    char err[256];
    fr_journal *j;
    write_journal(3, 11);
    size_t n;
    unsigned char *b = slurp(&n);
    if (!b) {
        CHECK(0, "read journal");
        return;
    }
    for (size_t cut = 0; cut < 20; cut++) { /* shorter than the header */
        spit(b, cut);
        fr_status rc = fr_journal_open(path, 11, DIM, 0, &j, err, sizeof err);
        CHECK(rc == FR_ERR_FORMAT && !j && strstr(err, "not a feedrank journal"), "%zu-byte file: %d %s", cut, rc, err);
    }
    spit(b, n);
    CHECK(fr_journal_open(path, 12, DIM, 0, &j, err, sizeof err) == FR_ERR_VERIFY && strstr(err, "another catalogue"), "other settings: %s", err);
    CHECK(fr_journal_open(path, 11, DIM + 1, 0, &j, err, sizeof err) == FR_ERR_VERIFY, "other dimension: %s", err);
    CHECK(fr_journal_open(path, 11, 0, 0, &j, err, sizeof err) == FR_ERR_ARG, "dimension 0: %s", err);
    b[3] ^= 0x20;
    spit(b, n);
    CHECK(fr_journal_open(path, 11, DIM, 0, &j, err, sizeof err) == FR_ERR_FORMAT, "bad magic: %s", err);
    /* --restart discards whatever is there */
    CHECK(fr_journal_open(path, 11, DIM, 1, &j, err, sizeof err) == FR_OK && j && fr_journal_records(j) == 0, "restart: %s", err);
    /* a record whose lengths claim more than the file holds is a torn tail, not an allocation */
    if (j) {
        float v[DIM] = {0};
        CHECK(fr_journal_append(j, 0, "", 0, "t", 1, v, err, sizeof err) == FR_ERR_ARG, "empty id refused");
        CHECK(fr_journal_append(j, 0, "x", 1, "t", 1, v, err, sizeof err) == FR_OK, "%s", err);
        fr_journal_sync(j, err, sizeof err);
        fr_journal_close(j, 0);
    }
    size_t m;
    unsigned char *one = slurp(&m);
    if (one && m > 40) {
        uint32_t huge = FR_JOURNAL_MAX_TEXT;
        memcpy(one + 36, &huge, 4);
        spit(one, m);
        CHECK(fr_journal_open(path, 11, DIM, 0, &j, err, sizeof err) == FR_OK && fr_journal_records(j) == 0 &&
                  fr_journal_dropped_bytes(j) == (long long)(m - 20),
              "a huge text length is a dropped tail");
        fr_journal_close(j, 0);
    }
    free(one);
    free(b);
    /* a journal in a folder that does not exist */
    CHECK(fr_journal_open("/nonexistent-dir/x.journal", 1, DIM, 0, &j, err, sizeof err) == FR_ERR_IO && strstr(err, "/nonexistent-dir/x.journal"),
          "unwritable path: %s", err);
    fr_journal_close(NULL, 0);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/test_index_journal_%d.journal", (int)getpid());
    test_round_trip();
    test_torn_tail();
    test_bit_flip();
    test_wrong();
    unlink(path);
    return fr_test_finish("index_journal");
}

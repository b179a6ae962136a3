/* index_journal.c - the `feedrank index` journal: append, sync, validate, cut a torn tail, read
 * back. Every length is checked against the file's remaining size before anything is allocated or
 * read, so a corrupt length is a refused record, never a large allocation. */
#include "index_journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "hash.h"

#define JOURNAL_MAGIC "FRJRNL01"
#define HEADER_SIZE 20
#define RECORD_MAGIC 0x4A524652u
#define RECORD_FIXED 20 /* magic, row, id_len, text_len */

struct fr_journal {
    FILE *f;
    char *path;
    int dim;
    long long records, next_row, dropped;
    long long size; /* file size when reading back */
    long long pos;  /* offset of the next record when reading back */
    char id[FR_JOURNAL_MAX_ID];
    char *text;
    size_t text_cap;
    float *vec;
};

long long fr_journal_records(const fr_journal *j) { return j->records; }
long long fr_journal_next_row(const fr_journal *j) { return j->next_row; }
long long fr_journal_dropped_bytes(const fr_journal *j) { return j->dropped; }
const char *fr_journal_path(const fr_journal *j) { return j->path; }

void fr_journal_close(fr_journal *j, int remove) {
    if (!j) return;
    if (j->f) fclose(j->f);
    if (remove) unlink(j->path);
    free(j->path);
    free(j->text);
    free(j->vec);
    free(j);
}

/* Reads the record at j->pos (the stream is there); 1 = read, 0 = clean end, -1 = torn or corrupt,
 * with why saying what. */
static int read_record(fr_journal *j, fr_journal_record *r, const char **why) {
    const long long left = j->size - j->pos;
    if (left == 0) return 0;
    uint8_t fixed[RECORD_FIXED];
    if (left < RECORD_FIXED || fread(fixed, 1, RECORD_FIXED, j->f) != RECORD_FIXED) {
        *why = "torn record header";
        return -1;
    }
    if (fr_rd32(fixed) != RECORD_MAGIC) {
        *why = "bad record magic";
        return -1;
    }
    const uint64_t row = fr_rd64(fixed + 4);
    const uint32_t id_len = fr_rd32(fixed + 12), text_len = fr_rd32(fixed + 16);
    if (id_len == 0 || id_len > FR_JOURNAL_MAX_ID) {
        *why = "id length out of range";
        return -1;
    }
    if (text_len > FR_JOURNAL_MAX_TEXT) {
        *why = "text length out of range";
        return -1;
    }
    const long long body = (long long)id_len + text_len + (long long)sizeof(float) * j->dim + 8;
    if (left - RECORD_FIXED < body) {
        *why = "torn record";
        return -1;
    }
    if (text_len + 1 > j->text_cap) {
        char *p = realloc(j->text, text_len + 1);
        if (!p) {
            *why = "out of memory";
            return -1;
        }
        j->text = p;
        j->text_cap = text_len + 1;
    }
    uint8_t sum[8];
    if (fread(j->id, 1, id_len, j->f) != id_len || fread(j->text, 1, text_len, j->f) != text_len ||
        fread(j->vec, sizeof(float), (size_t)j->dim, j->f) != (size_t)j->dim || fread(sum, 1, 8, j->f) != 8) {
        *why = "read failed";
        return -1;
    }
    j->text[text_len] = 0;
    /* the chain of the writer: field by field (see index_journal.h) */
    uint64_t h = fr_hash64(fixed, 4, 0);
    h = fr_hash64(fixed + 4, 8, h);
    h = fr_hash64(fixed + 12, 4, h);
    h = fr_hash64(fixed + 16, 4, h);
    h = fr_hash64(j->id, id_len, h);
    h = fr_hash64(j->text, text_len, h);
    h = fr_hash64(j->vec, sizeof(float) * (size_t)j->dim, h);
    if (fr_rd64(sum) != h) {
        *why = "checksum mismatch";
        return -1;
    }
    j->pos += RECORD_FIXED + body;
    *r = (fr_journal_record){row, j->id, id_len, j->text, text_len, j->vec};
    return 1;
}

static fr_status file_size(fr_journal *j, char *err, size_t errcap) {
    struct stat st;
    if (fflush(j->f) != 0 || fstat(fileno(j->f), &st) != 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", j->path, strerror(errno));
    j->size = (long long)st.st_size;
    return FR_OK;
}

static fr_status create(fr_journal *j, uint64_t settings, char *err, size_t errcap) {
    j->f = fopen(j->path, "w+b");
    if (!j->f) return fr_fail(FR_ERR_IO, err, errcap, "cannot create %s: %s", j->path, strerror(errno));
    uint8_t hdr[HEADER_SIZE];
    memcpy(hdr, JOURNAL_MAGIC, 8);
    fr_wr64(hdr + 8, settings);
    fr_wr32(hdr + 16, (uint32_t)j->dim);
    if (fwrite(hdr, 1, HEADER_SIZE, j->f) != HEADER_SIZE || fflush(j->f) != 0)
        return fr_fail(FR_ERR_IO, err, errcap, "cannot write %s: %s", j->path, strerror(errno));
    return FR_OK;
}

/* Validates an existing journal's header and records; cuts off a bad tail. */
static fr_status resume(fr_journal *j, uint64_t settings, char *err, size_t errcap) {
    fr_status rc = file_size(j, err, errcap);
    if (rc) return rc;
    uint8_t hdr[HEADER_SIZE];
    if (j->size < HEADER_SIZE || fread(hdr, 1, HEADER_SIZE, j->f) != HEADER_SIZE || memcmp(hdr, JOURNAL_MAGIC, 8) != 0)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s is not a feedrank journal; remove it or pass --restart", j->path);
    if (fr_rd64(hdr + 8) != settings || fr_rd32(hdr + 16) != (uint32_t)j->dim)
        return fr_fail(FR_ERR_VERIFY, err, errcap, "%s belongs to a run with another catalogue, model or options; pass --restart to discard it", j->path);
    j->pos = HEADER_SIZE;
    fr_journal_record r;
    const char *why = NULL;
    int st;
    while ((st = read_record(j, &r, &why)) == 1) {
        j->records++;
        j->next_row = (long long)r.row + 1;
    }
    j->dropped = j->size - j->pos;
    if (fseek(j->f, j->pos, SEEK_SET) != 0 || (j->dropped && ftruncate(fileno(j->f), j->pos) != 0))
        return fr_fail(FR_ERR_IO, err, errcap, "cannot truncate %s: %s", j->path, strerror(errno));
    j->size = j->pos;
    return FR_OK;
}

fr_status fr_journal_open(const char *path, uint64_t settings, int dim, int restart, fr_journal **out, char *err,
                          size_t errcap) {
    *out = NULL;
    if (dim < 1 || dim > FR_JOURNAL_MAX_DIM) return fr_fail(FR_ERR_ARG, err, errcap, "journal dimension %d is out of range", dim);
    fr_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path)) || !(j->vec = malloc(sizeof(float) * (size_t)dim))) {
        fr_journal_close(j, 0);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    j->dim = dim;
    if (restart) unlink(path);
    j->f = fopen(path, "r+b");
    fr_status rc = j->f ? resume(j, settings, err, errcap) : create(j, settings, err, errcap);
    if (rc) {
        fr_journal_close(j, 0);
        return rc;
    }
    *out = j;
    return FR_OK;
}

/* Writes one field and chains it into the checksum. */
static int put(FILE *f, const void *p, size_t n, uint64_t *h) {
    *h = fr_hash64(p, n, *h);
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

fr_status fr_journal_append(fr_journal *j, uint64_t row, const char *id, size_t id_len, const char *text, size_t text_len,
                            const float *vec, char *err, size_t errcap) {
    if (id_len == 0 || id_len > FR_JOURNAL_MAX_ID || text_len > FR_JOURNAL_MAX_TEXT)
        return fr_fail(FR_ERR_ARG, err, errcap, "%s: record of row %llu: id or text length out of range", j->path, (unsigned long long)row);
    uint8_t fixed[RECORD_FIXED];
    fr_wr32(fixed, RECORD_MAGIC);
    fr_wr64(fixed + 4, row);
    fr_wr32(fixed + 12, (uint32_t)id_len);
    fr_wr32(fixed + 16, (uint32_t)text_len);
    uint64_t h = 0;
    uint8_t sum[8];
    if (put(j->f, fixed, 4, &h) || put(j->f, fixed + 4, 8, &h) || put(j->f, fixed + 12, 4, &h) || put(j->f, fixed + 16, 4, &h) ||
        put(j->f, id, id_len, &h) || put(j->f, text, text_len, &h) || put(j->f, vec, sizeof(float) * (size_t)j->dim, &h) ||
        (fr_wr64(sum, h), fwrite(sum, 1, 8, j->f) != 8))
        return fr_fail(FR_ERR_IO, err, errcap, "write error on %s: %s", j->path, strerror(errno));
    j->records++;
    j->next_row = (long long)row + 1;
    return FR_OK;
}

fr_status fr_journal_sync(fr_journal *j, char *err, size_t errcap) {
    if (fflush(j->f) != 0 || fdatasync(fileno(j->f)) != 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot sync %s: %s", j->path, strerror(errno));
    return FR_OK;
}

fr_status fr_journal_rewind(fr_journal *j, char *err, size_t errcap) {
    fr_status rc = file_size(j, err, errcap);
    if (rc) return rc;
    if (fseek(j->f, HEADER_SIZE, SEEK_SET) != 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot reread %s: %s", j->path, strerror(errno));
    j->pos = HEADER_SIZE;
    return FR_OK;
}

int fr_journal_next(fr_journal *j, fr_journal_record *r, char *err, size_t errcap) {
    const char *why = NULL;
    const long long at = j->pos;
    int st = read_record(j, r, &why);
    if (st < 0) fr_fail(FR_ERR_FORMAT, err, errcap, "%s is corrupt: %s at byte %lld", j->path, why, at);
    return st;
}

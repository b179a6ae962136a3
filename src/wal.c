/* wal.c - the write-ahead log (wal.h): replay with torn-tail recovery, appends that undo
 * themselves when the disk is full, syncs, and the rewrite that drops folded records. */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"

#define MAGIC "FRWAL001"
#define VERSION 1

struct fr_wal {
    char *path;
    int fd;
    uint64_t first_seq, next_seq, end;
    int broken;
};

/* ---- CRC32C (reflected polynomial 0x82F63B78), one table, computed once ---- */
static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t fr_crc32c(uint32_t crc, const void *data, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t record_crc(uint32_t len, uint64_t seq, const uint8_t *payload) {
    uint8_t h[12];
    fr_wr32(h, len);
    fr_wr64(h + 4, seq);
    return fr_crc32c(fr_crc32c(0, h, 12), payload, len);
}

/* 1 when a whole record with a good checksum and a sequence number >= min_seq starts at off. */
static int record_ok(const uint8_t *buf, size_t len, size_t off, uint64_t min_seq, uint64_t *seq, uint32_t *plen) {
    if (len - off < FR_WAL_RECORD_HEADER) return 0;
    uint32_t l = fr_rd32(buf + off);
    uint64_t s = fr_rd64(buf + off + 8);
    if (l > FR_WAL_MAX_PAYLOAD || l > len - off - FR_WAL_RECORD_HEADER || s < min_seq || s - min_seq > 0xFFFFFFFFu) return 0;
    if (record_crc(l, s, buf + off + FR_WAL_RECORD_HEADER) != fr_rd32(buf + off + 4)) return 0;
    *seq = s;
    *plen = l;
    return 1;
}

fr_status fr_wal_parse(const uint8_t *buf, size_t len, int skip_corrupt, fr_wal_record_fn fn, void *ctx,
                       fr_wal_open_info *info, uint64_t *valid_end, char *err, size_t errcap) {
    fr_wal_open_info dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    *valid_end = 0;
    if (len < FR_WAL_HEADER) return fr_fail(FR_ERR_FORMAT, err, errcap, "%zu bytes is too short for a log header (%d bytes)", len, FR_WAL_HEADER);
    if (memcmp(buf, MAGIC, 8) != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "not a feedrank write-ahead log (bad magic)");
    if (fr_rd32(buf + 8) != VERSION) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "log version %u, this feedrank reads version %d", fr_rd32(buf + 8), VERSION);
    if (fr_crc32c(0, buf, 24) != fr_rd32(buf + 24) || fr_rd32(buf + 12) || fr_rd32(buf + 28))
        return fr_fail(FR_ERR_VERIFY, err, errcap, "log header checksum mismatch (corrupt file)");
    uint64_t expect = fr_rd64(buf + 16);
    if (expect == 0 || expect > (1ULL << 62)) return fr_fail(FR_ERR_FORMAT, err, errcap, "log header: first sequence number %llu is out of range", (unsigned long long)expect);
    info->first_seq = expect;
    size_t off = FR_WAL_HEADER;
    while (off < len) {
        uint64_t seq;
        uint32_t plen;
        if (record_ok(buf, len, off, expect, &seq, &plen) && seq == expect) {
            if (fn) {
                fr_status rc = fn(ctx, seq, buf + off + FR_WAL_RECORD_HEADER, plen, err, errcap);
                if (rc) return rc;
            }
            info->records++;
            expect++;
            off += FR_WAL_RECORD_HEADER + plen;
            continue;
        }
        /* a bad record: the torn tail when no whole record follows it, else corruption */
        size_t next = off + 1;
        uint64_t nseq = 0;
        uint32_t nlen;
        while (next < len && !record_ok(buf, len, next, expect, &nseq, &nlen)) next++;
        if (next >= len) {
            info->torn_offset = off;
            info->torn_bytes = len - off;
            break;
        }
        if (!skip_corrupt)
            return fr_fail(FR_ERR_VERIFY, err, errcap,
                           "corrupt record at byte offset %zu (sequence %llu expected; whole records follow from offset %zu): "
                           "refusing to start (skip it explicitly with --wal-skip-corrupt)",
                           off, (unsigned long long)expect, next);
        if (!info->skipped_bytes) info->skipped_offset = off;
        info->skipped_bytes += next - off;
        expect = nseq;
        off = next;
    }
    info->next_seq = expect;
    info->bytes = len - info->torn_bytes;
    *valid_end = len - info->torn_bytes;
    return FR_OK;
}

static fr_status sync_dir(const char *path, char *err, size_t errcap) {
    char *copy = strdup(path);
    if (!copy) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    fr_status rc = FR_OK;
    if (fd < 0 || fsync(fd) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot sync its directory: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    free(copy);
    return rc;
}

static void make_header(uint8_t h[FR_WAL_HEADER], uint64_t first_seq) {
    memset(h, 0, FR_WAL_HEADER);
    memcpy(h, MAGIC, 8);
    fr_wr32(h + 8, VERSION);
    fr_wr64(h + 16, first_seq);
    fr_wr32(h + 24, fr_crc32c(0, h, 24));
}

/* Writes all of buf at off; 0 or errno. */
static int pwrite_all(int fd, const uint8_t *buf, size_t n, uint64_t off) {
    while (n) {
        ssize_t k = pwrite(fd, buf, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (k == 0) return ENOSPC;
        buf += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* A new log file at path (through path.tmp + rename) holding header(first_seq) + tail[n]. With
 * fd_out, the new file stays open for writing (and locked) in *fd_out. */
static fr_status write_new(const char *path, uint64_t first_seq, const uint8_t *tail, size_t n, int *fd_out, char *err, size_t errcap) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    uint8_t h[FR_WAL_HEADER];
    make_header(h, first_seq);
    fr_status rc = FR_OK;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : 0;
    if (!e && fd_out && flock(fd, LOCK_EX | LOCK_NB) != 0) e = errno; /* locked before it has its name */
    if (!e) e = pwrite_all(fd, h, FR_WAL_HEADER, 0);
    if (!e && n) e = pwrite_all(fd, tail, n, FR_WAL_HEADER);
    if (!e && fsync(fd) != 0) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot write the log: %s", tmp, strerror(e));
        unlink(tmp);
    } else {
        rc = sync_dir(path, err, errcap);
    }
    if (fd >= 0 && (rc || !fd_out)) close(fd);
    else if (fd_out) *fd_out = fd;
    free(tmp);
    return rc;
}

static fr_status read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errcap) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fr_fail(errno == ENOENT ? FR_ERR_NOT_FOUND : FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, b + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            free(b);
            close(fd);
            return fr_fail(FR_ERR_IO, err, errcap, "%s: read failed: %s", path, k ? strerror(e) : "file shrank");
        }
        got += (size_t)k;
    }
    close(fd);
    *buf = b;
    *len = n;
    return FR_OK;
}

fr_status fr_wal_open(const char *path, uint64_t create_first_seq, int skip_corrupt, fr_wal_record_fn fn, void *ctx,
                      fr_wal **out, fr_wal_open_info *info, char *err, size_t errcap) {
    *out = NULL;
    fr_wal_open_info local;
    if (!info) info = &local;
    if (create_first_seq == 0) create_first_seq = 1;
    uint8_t *buf;
    size_t len;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        fr_status rc = write_new(path, create_first_seq, NULL, 0, NULL, err, errcap);
        if (rc) return rc;
    }
    /* one writer per log: a second server, or `feedrank store compact` while a server runs,
     * would append records the other never sees */
    int lfd = open(path, O_RDWR | O_CLOEXEC);
    if (lfd < 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open for writing: %s", path, strerror(errno));
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(lfd);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", path, e == EWOULDBLOCK ? "in use by another process (a running server?)" : strerror(e));
    }
    fr_status rc = read_file(path, &buf, &len, err, errcap);
    if (rc) {
        close(lfd);
        return rc;
    }
    uint64_t valid_end;
    char perr[512];
    rc = fr_wal_parse(buf, len, skip_corrupt, fn, ctx, info, &valid_end, perr, sizeof perr);
    free(buf);
    if (rc) {
        close(lfd);
        return fr_fail(rc, err, errcap, "%s: %s", path, perr);
    }
    fr_wal *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        close(lfd);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    w->fd = lfd;
    if (info->torn_bytes && (ftruncate(w->fd, (off_t)valid_end) != 0 || fsync(w->fd) != 0)) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot drop the torn final record: %s", path, strerror(errno));
        fr_wal_close(w);
        return rc;
    }
    w->first_seq = info->first_seq;
    w->next_seq = info->next_seq;
    w->end = valid_end;
    *out = w;
    return FR_OK;
}

void fr_wal_close(fr_wal *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    free(w->path);
    free(w);
}

fr_status fr_wal_append(fr_wal *w, const void *payload, size_t len, uint64_t *seq, char *err, size_t errcap) {
    if (w->broken) return fr_fail(FR_ERR_IO, err, errcap, "%s: the log refuses writes after an earlier write or sync failed (restart to recover)", w->path);
    if (len > FR_WAL_MAX_PAYLOAD) return fr_fail(FR_ERR_ARG, err, errcap, "log record of %zu bytes (max %u)", len, FR_WAL_MAX_PAYLOAD);
    uint8_t h[FR_WAL_RECORD_HEADER];
    fr_wr32(h, (uint32_t)len);
    fr_wr32(h + 4, record_crc((uint32_t)len, w->next_seq, payload));
    fr_wr64(h + 8, w->next_seq);
    int e = pwrite_all(w->fd, h, sizeof h, w->end);
    if (!e && len) e = pwrite_all(w->fd, payload, len, w->end + sizeof h);
    if (e) {
        /* undo a partial record, so the next append does not land after garbage */
        if (ftruncate(w->fd, (off_t)w->end) != 0) w->broken = 1;
        return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot append to the log: %s", w->path, strerror(e));
    }
    w->end += sizeof h + len;
    *seq = w->next_seq++;
    return FR_OK;
}

fr_status fr_wal_sync(fr_wal *w, char *err, size_t errcap) {
    if (w->broken) return fr_fail(FR_ERR_IO, err, errcap, "%s: the log refuses writes after an earlier write or sync failed (restart to recover)", w->path);
    if (fdatasync(w->fd) != 0) {
        w->broken = 1;
        return fr_fail(FR_ERR_IO, err, errcap, "%s: sync failed: %s", w->path, strerror(errno));
    }
    return FR_OK;
}

fr_status fr_wal_rewrite(fr_wal *w, uint64_t keep_from, char *err, size_t errcap) {
    if (w->broken) return fr_fail(FR_ERR_IO, err, errcap, "%s: the log refuses writes after an earlier write or sync failed", w->path);
    if (keep_from > w->next_seq) return fr_fail(FR_ERR_ARG, err, errcap, "log rewrite from sequence %llu, past the next one (%llu)", (unsigned long long)keep_from, (unsigned long long)w->next_seq);
    if (keep_from <= w->first_seq) return FR_OK;
    /* find the offset of record keep_from: walk the record headers */
    uint64_t off = FR_WAL_HEADER, seq = w->first_seq;
    while (seq < keep_from) {
        uint8_t h[FR_WAL_RECORD_HEADER];
        if (pread(w->fd, h, sizeof h, (off_t)off) != (ssize_t)sizeof h) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot read record %llu at offset %llu", w->path, (unsigned long long)seq, (unsigned long long)off);
        off += FR_WAL_RECORD_HEADER + fr_rd32(h);
        seq++;
    }
    size_t n = (size_t)(w->end - off);
    uint8_t *tail = malloc(n ? n : 1);
    if (!tail) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory for %zu log bytes", n);
    if (n && pread(w->fd, tail, n, (off_t)off) != (ssize_t)n) {
        free(tail);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot read the log's tail", w->path);
    }
    int fd = -1;
    fr_status rc = write_new(w->path, keep_from, tail, n, &fd, err, errcap);
    free(tail);
    if (rc) return rc;
    close(w->fd);
    w->fd = fd;
    w->first_seq = keep_from;
    w->end = FR_WAL_HEADER + n;
    return FR_OK;
}

uint64_t fr_wal_next_seq(const fr_wal *w) { return w->next_seq; }
uint64_t fr_wal_first_seq(const fr_wal *w) { return w->first_seq; }
uint64_t fr_wal_bytes(const fr_wal *w) { return w->end; }
int fr_wal_broken(const fr_wal *w) { return w->broken; }

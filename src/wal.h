/* wal.h - a write-ahead log: append-only records, each with its length, a CRC32C and a sequence
 * number, synced to disk before the caller acknowledges what they hold. The payload is opaque here
 * (store_delta.h defines the catalogue updates it carries).
 *
 * File layout (little-endian):
 *   [0, 32)   header: magic "FRWAL001", u32 version 1, u32 0, u64 first_seq (the sequence number of
 *             the first record the file may hold; records before it were folded into a store),
 *             u32 CRC32C of [0, 24), u32 0
 *   records   u32 payload length, u32 CRC32C of (length, seq, payload), u64 seq, payload
 * Sequence numbers are consecutive: first_seq, first_seq + 1, ...
 *
 * Replay (fr_wal_open). A crash can leave the last record half-written: a record that runs past the
 * end of the file, or whose checksum fails and that ends exactly at the end of the file, or zero
 * bytes to the end (a file system that extended the file before the data landed), is a torn tail:
 * it is dropped (the file is truncated to the last whole record) and reported in the open info. A
 * bad record with whole records or other bytes after it is corruption in the middle: open fails,
 * naming the byte offset, unless skip_corrupt, which skips forward to the next valid record with
 * the expected sequence number (every byte skipped is reported). */
#ifndef FR_WAL_H
#define FR_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FR_WAL_HEADER 32
#define FR_WAL_RECORD_HEADER 16
#define FR_WAL_MAX_PAYLOAD (64u << 20)

typedef struct fr_wal fr_wal;

/* Called once per valid record, in order; a non-zero status stops the replay (and fails the open
 * with the message the callback wrote). */
typedef fr_status (*fr_wal_record_fn)(void *ctx, uint64_t seq, const uint8_t *payload, size_t len, char *err,
                                      size_t errcap);

typedef struct {
    uint64_t records;        /* valid records replayed */
    uint64_t first_seq;      /* from the header */
    uint64_t next_seq;       /* the sequence number the next append gets */
    uint64_t bytes;          /* file size after the open (torn tail removed) */
    uint64_t torn_bytes;     /* bytes of a torn final record that were dropped (0: none) */
    uint64_t torn_offset;    /* where they started */
    uint64_t skipped_bytes;  /* skip_corrupt only: corrupt bytes skipped in the middle */
    uint64_t skipped_offset; /* where the first skipped span started */
} fr_wal_open_info;

/* Opens (creating when missing, with first_seq = create_first_seq) and replays path.
 * skip_corrupt: see above. info may be NULL. */
fr_status fr_wal_open(const char *path, uint64_t create_first_seq, int skip_corrupt, fr_wal_record_fn fn, void *ctx,
                      fr_wal **out, fr_wal_open_info *info, char *err, size_t errcap);
void fr_wal_close(fr_wal *w);

/* Appends one record (written, not yet synced) and returns its sequence number in *seq. A failed
 * or short write (disk full) removes what it wrote and fails with FR_ERR_IO: the log stays as it
 * was. If even that cannot be undone, the log refuses every later append (FR_ERR_IO). Not
 * thread-safe: the caller serialises appends, syncs and rewrites. */
fr_status fr_wal_append(fr_wal *w, const void *payload, size_t len, uint64_t *seq, char *err, size_t errcap);
/* Makes every appended record durable (fdatasync). A failed sync leaves the log refusing every
 * later append: after a failed fsync the kernel may have dropped the pages, so nothing that
 * follows could be trusted. */
fr_status fr_wal_sync(fr_wal *w, char *err, size_t errcap);
/* Drops the records before seq `keep_from` (folded into a store): writes the remaining records to
 * a new file with first_seq = keep_from, syncs it and renames it over the log (atomic). */
fr_status fr_wal_rewrite(fr_wal *w, uint64_t keep_from, char *err, size_t errcap);

uint64_t fr_wal_next_seq(const fr_wal *w); /* the seq the next append gets */
uint64_t fr_wal_first_seq(const fr_wal *w);
uint64_t fr_wal_bytes(const fr_wal *w); /* current file size */
int fr_wal_broken(const fr_wal *w);     /* 1 after a write that could not be undone or a failed sync */

/* Parses an in-memory log image the way fr_wal_open does, without touching any file (the fuzz
 * target's entry; fr_wal_open uses it). *valid_end is the end of the last whole record. */
fr_status fr_wal_parse(const uint8_t *buf, size_t len, int skip_corrupt, fr_wal_record_fn fn, void *ctx,
                       fr_wal_open_info *info, uint64_t *valid_end, char *err, size_t errcap);

/* CRC32C (Castagnoli), continuing from crc (0 to start). */
uint32_t fr_crc32c(uint32_t crc, const void *data, size_t n);

#endif

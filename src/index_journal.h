/* index_journal.h - the resumable `feedrank index` journal (STORE.journal): every embedded row is
 * appended as one checksummed record and synced per batch, so that a run stopped at any point
 * (crash, Ctrl-C, full disk) is resumed by the next run with the same settings.
 *
 * Format (little-endian):
 *   header   "FRJRNL01" | settings u64 | dim u32                                    (20 bytes)
 *   record   magic u32 0x4A524652 | row u64 | id_len u32 | text_len u32 | id | text
 *            | vector f32[dim] | checksum u64
 * The checksum is fr_hash64 chained over the record's fields in order (magic, row, id_len,
 * text_len, id, text, vector). `settings` is a hash of everything that must match for a journal
 * to be resumed (catalogue, model, options: the caller's choice); a journal of other settings or
 * another dimension is refused. Opening drops a torn or corrupt tail (the records after the first
 * bad one) and truncates the file there; a corrupt record met when reading back is an error. */
#ifndef FR_INDEX_JOURNAL_H
#define FR_INDEX_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FR_JOURNAL_MAX_DIM 65536
#define FR_JOURNAL_MAX_ID 128 /* = FR_STORE_MAX_ID */
#define FR_JOURNAL_MAX_TEXT (64u << 20)

typedef struct fr_journal fr_journal;

/* One record; the pointers stay valid until the next fr_journal_next or fr_journal_close. */
typedef struct {
    uint64_t row;
    const char *id;
    uint32_t id_len;
    const char *text;
    uint32_t text_len;
    const float *vec; /* dim floats */
} fr_journal_record;

/* Opens path for appending: creates it when missing (or when restart: an existing file is
 * discarded first); otherwise checks its header (FR_ERR_FORMAT: not a journal; FR_ERR_VERIFY:
 * another run's settings or dimension), counts its valid records and cuts off a torn or corrupt
 * tail. dim must be in 1..FR_JOURNAL_MAX_DIM. */
fr_status fr_journal_open(const char *path, uint64_t settings, int dim, int restart, fr_journal **out, char *err,
                          size_t errcap);

/* Records kept, the row after the last kept record (0 when none), and bytes cut off at open. */
long long fr_journal_records(const fr_journal *j);
long long fr_journal_next_row(const fr_journal *j);
long long fr_journal_dropped_bytes(const fr_journal *j);
const char *fr_journal_path(const fr_journal *j);

/* Appends one record (buffered: fr_journal_sync makes the batch durable). id_len 1..128, text_len
 * at most FR_JOURNAL_MAX_TEXT; vec holds dim floats. */
fr_status fr_journal_append(fr_journal *j, uint64_t row, const char *id, size_t id_len, const char *text, size_t text_len,
                            const float *vec, char *err, size_t errcap);
/* Flushes and fdatasyncs what was appended. */
fr_status fr_journal_sync(fr_journal *j, char *err, size_t errcap);

/* Reading back from the first record: fr_journal_rewind, then fr_journal_next until it returns 0
 * (the end) or -1 (a corrupt record: err says where). Appending after reading is not supported. */
fr_status fr_journal_rewind(fr_journal *j, char *err, size_t errcap);
int fr_journal_next(fr_journal *j, fr_journal_record *r, char *err, size_t errcap);

/* Closes the file (keeping it for a later run), or closes and deletes it (remove != 0). NULL is a
 * no-op. */
void fr_journal_close(fr_journal *j, int remove);

#endif

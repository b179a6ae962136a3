/* store_delta.h - live catalogue updates over an item store: upserts (id, vector, optional text)
 * and deletes, carried as write-ahead log records (wal.h) and applied in memory as immutable
 * versions. A version is never changed once built: applying a batch makes a new version (the
 * id table is copied, the entries are shared), so a reader holding a version (fr_delta_ref) sees
 * one log position, never a half-applied batch. Memory is bounded by the caller: compaction
 * (fr_delta_compact) folds a version into a new store file and starts an empty delta.
 *
 * A batch record (little-endian): u8 version 1 (the record kind, event_batch.h: FR_RECORD_CATALOGUE), u64 model fingerprint, u32 dim, u32 n_ops, then
 * per op: u8 kind (1 upsert, 2 delete), u16 id length, id; an upsert adds u32 text length, text,
 * dim x f32 vector. The record is checked whole before anything is applied. */
#ifndef FR_STORE_DELTA_H
#define FR_STORE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "item_store.h"
#include "status.h"

#define FR_STORE_SECTION_LIVE 6u /* u64: the log position a compacted store already holds */

typedef struct fr_delta fr_delta;

typedef struct {
    const char *id;
    size_t id_len;
    int deleted;
    const float *vector; /* dim floats (upserts) */
    const char *text;    /* NULL when the upsert gave none */
    size_t text_len;
} fr_delta_item;

/* ---- building batch records ---- */
typedef struct fr_delta_batch fr_delta_batch;
fr_status fr_delta_batch_new(uint64_t fingerprint, int dim, fr_delta_batch **out, char *err, size_t errcap);
fr_status fr_delta_batch_upsert(fr_delta_batch *b, const char *id, size_t id_len, const float *vec, const char *text,
                                size_t text_len, char *err, size_t errcap);
fr_status fr_delta_batch_delete(fr_delta_batch *b, const char *id, size_t id_len, char *err, size_t errcap);
const uint8_t *fr_delta_batch_bytes(const fr_delta_batch *b, size_t *len);
void fr_delta_batch_free(fr_delta_batch *b);

/* ---- versions ---- */
/* An empty delta over a store of (fingerprint, dim), at log position seq. */
fr_status fr_delta_empty(uint64_t fingerprint, int dim, uint64_t seq, fr_delta **out, char *err, size_t errcap);
/* A new version: d plus the batch record rec (log position seq). d is unchanged. A record made
 * for another model or dimension, or malformed, fails naming what. An events record
 * (event_batch.h) is checked and changes no item: the version is d at log position seq. */
fr_status fr_delta_apply(const fr_delta *d, const uint8_t *rec, size_t len, uint64_t seq, fr_delta **out, char *err,
                         size_t errcap);

/* Replaying a write-ahead log (wal.h) into deltas: pass fr_delta_replay_record as fr_wal_open's
 * callback with a fr_delta_replay whose cur is an empty delta (fr_delta_empty) and whose base_seq
 * is the log position the store already holds; records up to base_seq are skipped, each later one
 * replaces cur by cur + record (the caller owns cur after, and unrefs it). Events records are
 * skipped (cur keeps the position of the last catalogue record): live_priors.h replays them. */
typedef struct {
    fr_delta *cur;
    uint64_t base_seq;
} fr_delta_replay;
fr_status fr_delta_replay_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap);
/* Visits a catalogue record's ops in order; a non-zero return from fn stops the walk with
 * FR_ERR_NOMEM (fn's only failure). The record is checked as it is walked. */
typedef int (*fr_delta_op_fn)(void *ctx, const char *id, size_t id_len, int deleted);
fr_status fr_delta_record_ops(const uint8_t *rec, size_t len, fr_delta_op_fn fn, void *ctx, char *err, size_t errcap);
/* Validates a batch record without applying it (the fuzz target and the server's checks); an
 * events record is checked as one (fr_event_batch_check). */
fr_status fr_delta_check_record(const uint8_t *rec, size_t len, uint64_t fingerprint, int dim, char *err, size_t errcap);
/* What cur holds beyond folded (an earlier version of the same line, now compacted into a
 * store): cur's entries that are not the very entries of folded. Log position: cur's. */
fr_status fr_delta_without(const fr_delta *cur, const fr_delta *folded, fr_delta **out, char *err, size_t errcap);
void fr_delta_ref(fr_delta *d);
void fr_delta_unref(fr_delta *d);

/* The delta's entry for id (the latest), or 0. */
int fr_delta_find(const fr_delta *d, const char *id, size_t id_len, fr_delta_item *out);
uint64_t fr_delta_seq(const fr_delta *d);   /* the log position this version includes */
uint64_t fr_delta_count(const fr_delta *d); /* ids in the delta (upserted or deleted) */
uint64_t fr_delta_bytes(const fr_delta *d); /* memory held by entries reachable from this version */
/* Entry i (0 <= i < fr_delta_count), in no particular order. */
void fr_delta_item_at(const fr_delta *d, uint64_t i, fr_delta_item *out);

/* The log position a store already holds (its LIVE section), 0 when it has none. */
uint64_t fr_store_live_seq(const fr_store *s);

/* Writes base + d into out_path (atomic: temporary file + rename; validated by reopening it):
 * base rows first (updated ones with their new vector and text, deleted ones left out), then new
 * ids in the delta's order, and a LIVE section holding fr_delta_seq(d). Log-derived sections
 * (priors, sequential model) are indexed by row: kept byte for byte when no row moved (updates
 * only), otherwise remapped to the new rows (fr_priors_remap: a deleted item leaves popularity and
 * every neighbour list, a new one starts with no events and no neighbours; fr_seq_section_remap: a
 * deleted item's id vector goes, a new one is an item the model has never seen, scored by its text
 * projection). The written store is reopened and its sections read back before the rename. */
fr_status fr_delta_compact(const fr_store *base, const fr_delta *d, const char *out_path, char *err, size_t errcap);
/* The rows fr_delta_compact(base, d) gives: old_to_new[r] (one entry per base row, the caller's) is
 * base row r's row in the compacted store or FR_ROW_DELETED, and *n_new the compacted store's row
 * count (rows from the kept count on are d's new ids, in its order). What a holder of other
 * row-indexed state (a live priors builder: fr_priors_builder_remap) remaps it by. */
void fr_delta_row_map(const fr_store *base, const fr_delta *d, int64_t *old_to_new, uint64_t *n_new);
/* The same, with the live priors (live_priors.h) in place of the base's priors and their state
 * (both or neither), and the log position the new store holds: max(seq, fr_delta_seq(d)) - the
 * position after the last record folded, events records included. */
typedef struct {
    uint64_t seq;
    const uint8_t *priors, *priors_state; /* NULL: the base's sections are kept */
    size_t priors_len, priors_state_len;
    /* rows of priors past the base's: the ids of items added since (live_priors.h), in row order;
     * each goes to its row in the new store (or is dropped when the delta deleted it) */
    const char *const *added;
    uint64_t n_added;
} fr_compact_sections;
fr_status fr_delta_compact_with(const fr_store *base, const fr_delta *d, const fr_compact_sections *x, const char *out_path,
                                char *err, size_t errcap);

#endif

/* event_batch.h - interaction events (user, item, ts, weight) as one write-ahead log record
 * (wal.h), the second record kind beside store_delta.h's catalogue batches. RecordEvents and the
 * server's events file tail (server/live_events.c) log one record per call or chunk of lines; a
 * replay feeds the same events, in the same order, to the live priors builder (priors.h).
 *
 * The first payload byte of every log record is its kind: 1 a catalogue batch (store_delta.h),
 * 2 an events batch. An events record (little-endian):
 *   u8 kind 2, u8 flags (bit 0: a tail position follows; other bits 0), u16 0, u32 n_events,
 *   u32 window, u32 capacity, f64 half_life (the priors parameters the events were logged for:
 *   a replay over a store without priors takes them from the log, one with priors checks them),
 *   [flags bit 0: u64 file_id, u64 offset, u64 line - where in the tailed file the record's
 *    lines end: the file's identity (inode), the byte offset after its last line, lines so far],
 *   n_events x { u8 user_len 1..128, user, u8 item_len 1..128, item, f64 ts, f64 weight }
 * ids hold no NUL byte, ts is finite, weight is in (0, 1e6] (the limits of `feedrank index
 * --interactions`). A record is checked whole (fr_event_batch_check) before any of it is used. */
#ifndef FR_EVENT_BATCH_H
#define FR_EVENT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "priors.h"
#include "status.h"

#define FR_RECORD_CATALOGUE 1u /* first payload byte of a store_delta.h batch */
#define FR_RECORD_EVENTS 2u
#define FR_EVENT_BATCH_MAX 65536u /* events per record */
#define FR_EVENT_MAX_ID 128

typedef struct {
    const char *user, *item;
    size_t user_len, item_len;
    double ts, weight;
} fr_event;

typedef struct {
    int present;           /* 0: the record came from RecordEvents */
    uint64_t file_id;      /* the tailed file's inode */
    uint64_t offset, line; /* bytes and lines of the file the record's lines end at */
} fr_event_tail;

typedef struct {
    uint32_t n_events;
    fr_priors_params params;
    fr_event_tail tail;
} fr_event_batch_info;

typedef struct fr_event_batch fr_event_batch;
/* A record for priors built with params (window 1..64, capacity 1..4096, half-life >= 0). */
fr_status fr_event_batch_new(const fr_priors_params *params, fr_event_batch **out, char *err, size_t errcap);
/* Appends one event; a bad one is refused naming the field ("ts is not finite"). */
fr_status fr_event_batch_add(fr_event_batch *b, const fr_event *ev, char *err, size_t errcap);
void fr_event_batch_set_tail(fr_event_batch *b, const fr_event_tail *tail);
uint32_t fr_event_batch_count(const fr_event_batch *b);
const uint8_t *fr_event_batch_bytes(const fr_event_batch *b, size_t *len);
void fr_event_batch_free(fr_event_batch *b);

/* Checks a whole record: kind, flags, count, parameters, every event, nothing after the last;
 * fills *info (may be NULL). Errors name the byte offset and field. */
fr_status fr_event_batch_check(const uint8_t *rec, size_t len, fr_event_batch_info *info, char *err, size_t errcap);
/* Checks rec whole, then calls fn for each event in order (the ids point into rec, not
 * NUL-terminated); a non-zero status from fn stops the walk with it. */
typedef fr_status (*fr_event_fn)(void *ctx, const fr_event *ev, char *err, size_t errcap);
fr_status fr_event_batch_each(const uint8_t *rec, size_t len, fr_event_fn fn, void *ctx, char *err, size_t errcap);

/* The kind of a log record (its first byte; 0 for an empty record). */
static inline unsigned fr_record_kind(const uint8_t *rec, size_t len) { return len ? rec[0] : 0u; }

#endif

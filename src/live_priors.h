/* live_priors.h - popularity and co-visitation kept current from logged events records
 * (event_batch.h): the priors builder of `feedrank index --interactions` (priors.h), continued
 * event by event with the same maths, so that the priors after N events equal an offline build
 * over the same N events, bit for bit.
 *
 * Starting state: the builder's state travels with the store (FR_STORE_SECTION_PRIORS_STATE, a
 * priors checkpoint), written by `feedrank index --interactions ... --live-state` and by every
 * compaction that folds events. A store with priors but no state cannot be continued exactly
 * (per-user windows are not in the finished section): its events records are refused, saying so.
 * A store without priors starts an empty builder with the caller's parameters.
 *
 * Items: an event counts for an item the catalogue holds at the record's log position - the base
 * store with the live delta over it (store_delta.h) - and is counted as unknown otherwise, as the
 * offline reader counts ids a store does not hold. An item added since the store was built gets a
 * builder row past the store's on its first event; a deleted item's row is emptied (dropped from
 * every neighbour list and user window, priors.h: rows that move) when its delete is applied. So
 * the state depends only on the log, never on when a replica last compacted: every replica that
 * applied the same records holds the same priors for the same item ids. Not thread-safe: the
 * caller serialises applies and reads (the server does under its log's commit lock). */
#ifndef FR_LIVE_PRIORS_H
#define FR_LIVE_PRIORS_H

#include <stddef.h>
#include <stdint.h>

#include "event_batch.h"
#include "item_store.h"
#include "priors.h"
#include "status.h"
#include "store_delta.h"

typedef struct fr_live_priors fr_live_priors;

/* The live priors over store: its state section loaded (parameters from its priors section),
 * or, for a store without priors, an empty builder with `fresh` (NULL: priors.h's defaults).
 * A store with priors but no state opens "without state": fr_live_priors_ready says why. A
 * damaged state section fails naming it. */
fr_status fr_live_priors_open(const fr_store *store, const fr_priors_params *fresh, fr_live_priors **out, char *err,
                              size_t errcap);
void fr_live_priors_free(fr_live_priors *lp);
/* NULL when events can be applied, else why not (and how to get a state). */
const char *fr_live_priors_ready(const fr_live_priors *lp);
/* The parameters records must be made with (fr_event_batch_new). A store with priors: theirs.
 * A store without: the first applied record's (a replay adopts the log's), else `fresh`'s. A
 * record made with other parameters is refused, naming both. */
fr_priors_params fr_live_priors_params(const fr_live_priors *lp);

/* Applies one events record, checked whole first; items looked up in store. A failure after the
 * check (out of memory) leaves the builder part-way through the record: fr_live_priors_ready
 * then refuses every later record (a restart replays the log). *unknown (may be NULL) gets the
 * record's events with ids store does not hold. */
fr_status fr_live_priors_apply(fr_live_priors *lp, const fr_store *store, const fr_delta *delta, const uint8_t *rec, size_t len,
                               uint32_t *unknown, char *err, size_t errcap);
/* A catalogue record (store_delta.h) applied at the same position: deleted items' rows are
 * emptied. Events records are ignored. */
fr_status fr_live_priors_catalogue(fr_live_priors *lp, const fr_store *store, const uint8_t *rec, size_t len, char *err,
                                   size_t errcap);

/* The finished priors section (fr_priors_finish) and the state section (a checkpoint holding the
 * tail position), for a compaction or a published view; the caller frees both. state may be
 * NULL. Fails when the live priors have no state. */
fr_status fr_live_priors_sections(fr_live_priors *lp, uint8_t **priors, size_t *priors_len, uint8_t **state,
                                  size_t *state_len, char *err, size_t errcap);

/* The builder renumbered for new_store, a compaction of the store it was made for: base_map is
 * fr_delta_row_map's (one entry per old store row); an added item new_store holds takes its row
 * there, the others stay past it. revived (NULL, or one entry per old row; each string is owned
 * by this call from now on, the array stays the caller's): the ids of rows the compaction dropped (deleted up to its position) that
 * events named since (the item was upserted again after it); they are kept past the store. On
 * failure the live priors refuse every later record and every compaction (fr_live_priors_broken):
 * their rows no longer match the store. */
fr_status fr_live_priors_rebase(fr_live_priors *lp, const int64_t *base_map, char **revived, const fr_store *new_store,
                                char *err, size_t errcap);
/* Before a compacted store is loaded (old_store still open): the ids of the old rows base_map drops
 * that events named since (for fr_live_priors_rebase's revived; NULL when none; one entry per old
 * row). */
fr_status fr_live_priors_revived(const fr_live_priors *lp, const int64_t *base_map, const fr_store *old_store, char ***out,
                                 char *err, size_t errcap);
/* 1 once the builder failed after opening (apply part-way, a rebase, a delete): the log holds
 * records it lacks, so folding it would lose them (restart to replay). */
int fr_live_priors_broken(const fr_live_priors *lp);
/* Copies of the ids of the rows past the store's, in row order (for fr_compact_sections); free
 * with fr_live_priors_added_free. */
fr_status fr_live_priors_added(const fr_live_priors *lp, char ***ids, uint64_t *n, char *err, size_t errcap);
void fr_live_priors_added_free(char **ids, uint64_t n);

/* Where the events file tail stands in what was applied (present 0: never). */
fr_event_tail fr_live_priors_tail(const fr_live_priors *lp);
/* The builder's rows: the store's, then items added since. */
uint64_t fr_live_priors_rows(const fr_live_priors *lp);
/* Events applied since open: all, and those with unknown items. */
uint64_t fr_live_priors_events(const fr_live_priors *lp);
uint64_t fr_live_priors_unknown(const fr_live_priors *lp);
/* 1 when the builder holds something to publish beyond the store's own section. */
int fr_live_priors_changed(const fr_live_priors *lp);

/* Replaying a log (wal.h) over a store: the catalogue records go to delta (fr_delta_replay
 * semantics), the events records to priors. Records up to delta.base_seq are skipped. Events
 * records over a store whose priors have no state stop the replay, saying why. */
typedef struct {
    fr_delta_replay delta;
    fr_live_priors *priors;
    const fr_store *store;
    uint64_t last_seq; /* the last record replayed */
} fr_live_replay;
fr_status fr_live_replay_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len, char *err, size_t errcap);

#endif

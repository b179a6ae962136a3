/* priors.h - item priors learned from an interaction log: time-decayed popularity and
 * co-visitation neighbours, kept inside the item store as one checksummed section.
 *
 * Build (streamed, one pass): every event (user, item, ts, weight) adds
 *   popularity[item] += weight, and, for each of the user's previous `window` events j at
 *   distance d = 1..window:  C[item][j] += weight / d  and  C[j][item] += weight / d,
 * every term decayed by 0.5^((T - ts) / half_life) where T is the newest timestamp in the log
 * (half_life <= 0: no decay). Decay is exact in any event order: each value keeps the time it is
 * expressed at and is rescaled on update. A user's window follows the log's order of that user's
 * events (sort by user and time for exact windows).
 * Memory: per item, popularity, its event count and at most `capacity` neighbours (space-saving:
 * when full, the weakest neighbour is replaced and its weight inherited, so heavy pairs are never
 * lost); per user, the last `window` events. Not proportional to the number of events.
 * Shards of the log (users split by --shard) build separately and merge exactly: values are
 * rescaled to the newest shard's T and summed. Unknown item ids are counted, not fatal.
 * Resumable: a checkpoint holds the builder's state and the log position (offset, line, hash of
 * the prefix); a build resumed from it is identical to one pass over the whole log. */
#ifndef FR_PRIORS_H
#define FR_PRIORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "item_store.h"
#include "status.h"

typedef struct {
    int window;       /* co-visitation distance, 1..64 (default 10) */
    double half_life; /* in the log's time units (seconds for Unix times); <= 0: no decay */
    int capacity;     /* neighbours kept per item, 1..4096 (default 1000) */
} fr_priors_params;

void fr_priors_params_default(fr_priors_params *p);

typedef struct {
    uint64_t events, unknown_items, bad_lines, users;
} fr_priors_stats;

/* ---- building ---- */
typedef struct fr_priors_builder fr_priors_builder;

fr_status fr_priors_builder_create(uint64_t n_items, const fr_priors_params *p, fr_priors_builder **out, char *err,
                                   size_t errcap);
void fr_priors_builder_free(fr_priors_builder *b);
uint64_t fr_priors_builder_items(const fr_priors_builder *b);
/* Events the builder counted for row (0 for a row no event named: such a row is in no neighbour
 * list and no user's window). */
uint32_t fr_priors_builder_seen(const fr_priors_builder *b, uint32_t row);
/* Adds empty rows up to n_items (items added to the catalogue; amortised O(1) per row). */
fr_status fr_priors_builder_grow(fr_priors_builder *b, uint64_t n_items, char *err, size_t errcap);
/* One event; row is the item's store row. */
fr_status fr_priors_add(fr_priors_builder *b, const char *user, size_t user_len, uint32_t row, double ts, double weight,
                        char *err, size_t errcap);

/* Counts one event whose item the store does not hold (as the log readers do): it is in the
 * finished section's unknown_items, and changes nothing else. */
void fr_priors_add_unknown(fr_priors_builder *b);

/* One JSONL event line, parsed (ids copied, NUL-terminated). */
typedef struct {
    char user[FR_STORE_MAX_ID + 1], item[FR_STORE_MAX_ID + 1];
    size_t user_len, item_len;
    double ts, weight; /* weight 1 when the line has none */
} fr_log_event;
/* Parses one line of a JSONL log (without its newline): NULL when it is an event, else why it is
 * malformed. The one JSONL parser: fr_priors_read_log uses it, and so does the server's events
 * file tail. */
const char *fr_log_parse_jsonl(const char *line, size_t len, fr_log_event *ev);

typedef enum { FR_LOG_AUTO = 0,
               FR_LOG_JSONL = 1,
               FR_LOG_RECBOLE = 2 } fr_log_format;

/* Streams a log into the builder: JSONL lines {"user": .., "item": .., "ts": .., "weight": ..}
 * (user/item strings or integers; weight optional, default 1; ts required) or a RecBole .inter
 * file (tab-separated, header "user_id:token item_id:token timestamp:float [rating:float]").
 * Items are looked up in store; unknown ids are counted in stats. Malformed lines are errors
 * naming the line, unless max_bad > 0: then up to max_bad are counted and skipped. Only users with
 * hash % shard_n == shard_i are read (shard_n 1 = all). AUTO picks RecBole for a .inter name. */
fr_status fr_priors_read_log(fr_priors_builder *b, FILE *f, const char *label, fr_log_format fmt,
                             const fr_store *store, int shard_i, int shard_n, uint64_t max_bad,
                             fr_priors_stats *stats, char *err, size_t errcap);

/* The same reader for other consumers of a log (e.g. `feedrank train`): each event with a known
 * item goes to fn, in the log's order (sequential RecBole lines: the list's items, ts = 0, 1, ...);
 * a non-zero status from fn stops the read with it. stats->users is not counted (0). */
typedef fr_status (*fr_log_event_fn)(void *ctx, const char *user, size_t user_len, uint32_t row, double ts, double weight,
                                     char *err, size_t errcap);
fr_status fr_log_read(FILE *f, const char *label, fr_log_format fmt, const fr_store *store, uint64_t max_bad,
                      fr_log_event_fn fn, void *ctx, fr_priors_stats *stats, char *err, size_t errcap);

/* ---- resumable builds: checkpoints of the builder and of where in the log it stands ---- */
typedef struct {
    uint64_t offset;      /* bytes of the log consumed (always a line boundary) */
    uint64_t line;        /* lines consumed */
    uint64_t prefix_hash; /* fr_hash64 chained over those lines as read: a changed log is refused */
    fr_priors_stats stats;
} fr_priors_position;

/* Called by fr_priors_read_log_from after every `every_lines` lines; a non-zero status stops the
 * read with that status. */
typedef fr_status (*fr_priors_checkpoint_fn)(const fr_priors_builder *b, const fr_priors_position *pos, void *ctx,
                                             char *err, size_t errcap);
typedef struct {
    fr_priors_position start; /* where a resumed read continues (all zero: the beginning) */
    uint64_t every_lines;     /* 0: no checkpoints */
    fr_priors_checkpoint_fn checkpoint;
    void *ctx;
} fr_priors_resume;

/* fr_priors_read_log, resumable: with resume->start from a checkpoint (and the builder it was
 * saved with) the prefix is re-read only to check it is unchanged (hash), then reading goes on. */
fr_status fr_priors_read_log_from(fr_priors_builder *b, FILE *f, const char *label, fr_log_format fmt,
                                  const fr_store *store, int shard_i, int shard_n, uint64_t max_bad,
                                  const fr_priors_resume *resume, fr_priors_stats *stats, char *err, size_t errcap);

/* A checkpoint is also the live builder's state kept in a store (FR_STORE_SECTION_PRIORS_STATE,
 * written by `feedrank index --interactions --live-state` and by the server's compaction); there
 * the position is that of the events file the server tails (offset and line after the last line
 * counted; prefix_hash holds the file's identity, its inode; all 0: none). */
#define FR_STORE_SECTION_PRIORS_STATE 7u

/* A checkpoint: the builder's whole state and pos, streamed to f (no copy in memory); its last 8
 * bytes are fr_priors_checkpoint_sum of the bytes before them. _save: the same into memory
 * (caller frees *data). */
/* The checkpoint checksum: fr_hash64 chained over data[0..n) in 64 KiB blocks. */
uint64_t fr_priors_checkpoint_sum(const uint8_t *data, size_t n);
fr_status fr_priors_checkpoint_write(const fr_priors_builder *b, const fr_priors_position *pos, FILE *f, char *err,
                                     size_t errcap);
fr_status fr_priors_checkpoint_save(const fr_priors_builder *b, const fr_priors_position *pos, uint8_t **data,
                                    size_t *size, char *err, size_t errcap);
/* Rebuilds a builder from a checkpoint, validating every size, offset and value; the checkpoint
 * must have been made with the same parameters and item count. */
fr_status fr_priors_checkpoint_load(const uint8_t *data, size_t size, const fr_priors_params *p, uint64_t n_items,
                                    fr_priors_builder **out, fr_priors_position *pos, char *err, size_t errcap);

/* The finished section (caller frees *data): serialised priors for fr_store_attach. */
fr_status fr_priors_finish(fr_priors_builder *b, uint8_t **data, size_t *size, char *err, size_t errcap);

/* Sums several serialised priors of the same store (shards of one log) into one. */
fr_status fr_priors_merge(const uint8_t *const *parts, const size_t *sizes, int n, uint8_t **data, size_t *size,
                          char *err, size_t errcap);

/* ---- rows that move (a compaction adds and deletes items: store_delta.h) ----
 * old_to_new has one entry per old row: its new row (< n_new), or FR_ROW_DELETED; no two old rows
 * may share a new row. A kept row keeps its popularity, event count and neighbours (renumbered,
 * still strongest first); a deleted row disappears and leaves every neighbour list it was in. Its
 * weight in those lists is dropped, space-saving weight it had inherited from entries evicted
 * earlier included (that weight is not given to another neighbour). A new row that no old row maps
 * to (an added item) gets popularity 0, no events and no neighbours: what a build over a log that
 * never names it gives. Totals (events, unknown items, users) and the log's newest time stay. */

/* The serialised priors of a store of n_old rows, remapped to n_new rows (caller frees *out). */
fr_status fr_priors_remap(const uint8_t *data, size_t size, uint64_t n_old, const int64_t *old_to_new, uint64_t n_new,
                          uint8_t **out, size_t *out_size, char *err, size_t errcap);
/* The same for a live builder, in place (old_to_new has one entry per builder row); users' windows
 * lose the deleted rows and keep the others' order, so later events co-visit as if the deleted
 * items' events had named unknown items. On failure b is unchanged. */
fr_status fr_priors_builder_remap(fr_priors_builder *b, const int64_t *old_to_new, uint64_t n_new, char *err,
                                  size_t errcap);

/* ---- reading (a view over the store's section; valid while the store is open) ---- */
typedef struct {
    uint64_t n_items;
    double t_end, half_life;
    int window, capacity;
    uint64_t events, unknown_items, users;
    const double *popularity; /* [n_items], decayed to t_end */
    const uint32_t *seen;     /* [n_items] events per item (undecayed) */
    const uint64_t *nb_off;   /* [n_items + 1] */
    const uint32_t *nb_row;   /* neighbours, strongest first */
    const float *nb_weight;   /* raw decayed co-visitation weight */
} fr_priors;

/* Scratch for fr_priors_covis (one per thread; zero-initialise, free with fr_priors_scratch_free). */
typedef struct {
    uint32_t *row;
    int *pos;
    size_t cap;
} fr_priors_scratch;
void fr_priors_scratch_free(fr_priors_scratch *s);

/* The co-visitation signal the ranker uses, for m candidate rows given a history of L rows
 * (oldest first) with per-item weights hist_w (NULL = 1):
 *   out[k] = sum_j w_j C(h_j, c_k) / (pop(h_j) pop(c_k))^norm,  w_j = hist_w[j] 0.5^((L-1-j)/half_life)
 * (popularities below 1 count as 1; norm 0 = raw weights, 0.5 = cosine-like, so that very popular
 * items do not dominate). Walks each history item's neighbour list against a hash of
 * the candidates: O(L x capacity + m). Candidate rows must be distinct. -1 when out of memory. */
int fr_priors_covis(const fr_priors *p, const uint32_t *hist, const float *hist_w, int L, double half_life,
                    double norm, const uint32_t *cands, int m, fr_priors_scratch *s, float *out);

/* Validates a serialised section (sizes, offsets, rows < n_items, finite non-negative values). */
fr_status fr_priors_view(const uint8_t *data, size_t size, uint64_t n_items, const char *label, fr_priors *out,
                         char *err, size_t errcap);
/* The priors attached to store, if any: FR_ERR_NOT_FOUND when it has none. */
fr_status fr_priors_of_store(const fr_store *store, fr_priors *out, char *err, size_t errcap);

#endif

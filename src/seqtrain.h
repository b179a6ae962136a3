/* seqtrain.h - what `feedrank train` needs around the model (seqmodel.h): users' histories read
 * from an interaction log, the validation split, validation NDCG@10 / HR@10, and checkpoints of a
 * training run. The epoch loop itself is in cli/cmd_train.c (it reports progress).
 *
 * Histories. Events of the log (the formats of `index --interactions`, read by fr_log_read) are
 * grouped by user and ordered by (timestamp, position in the log). Users are told apart by a 64-bit
 * hash of their id, not a table of ids: the histories' order is then the hashes' (deterministic),
 * and two users merging needs a collision (about n^2 / 2^65 for n users).
 *
 * Split. A user is a validation user when hash(user, seed) % 100 < val_percent and the user has at
 * least 2 events: the last event is the validation target and the rest is its history, which also
 * trains (SASRec's protocol: a target never trains). Every other user's whole history trains.
 *
 * Validation. Each validation user's history (its newest max_len items) gives a user state; the
 * target is ranked by u . v among itself and val_negatives items drawn uniformly from (seed, user)
 * excluding the target, ties counted against the target. NDCG@10 = 1 / log2(rank + 2) when rank < 10.
 * A function of the parameters only: no dropout, no state. */
#ifndef FR_SEQTRAIN_H
#define FR_SEQTRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "priors.h"
#include "seqmodel.h"

typedef struct {
    int n_users;
    int64_t *off;          /* (n_users + 1) */
    int32_t *items;        /* store rows, oldest first */
    uint64_t *user;        /* (n_users) hash of each user's id */
    fr_priors_stats stats; /* events, unknown item ids, malformed lines skipped */
} fr_seq_histories;

fr_status fr_seq_histories_read(FILE *f, const char *label, fr_log_format fmt, const fr_store *store, uint64_t max_bad,
                                fr_seq_histories *h, char *err, size_t errcap);
void fr_seq_histories_free(fr_seq_histories *h);

typedef struct {
    fr_seq_data train; /* every user's training sequence (owns off and items below) */
    int64_t *off;
    int32_t *items;
    int n_val;
    int32_t *val_seq;    /* (n_val) the training sequence that is the validation user's history */
    int32_t *val_target; /* (n_val) */
    long trainable;      /* training sequences of length >= 2 */
} fr_seq_split;

fr_status fr_seq_split_make(const fr_seq_histories *h, int val_percent, uint64_t seed, fr_seq_split *s, char *err,
                            size_t errcap);
void fr_seq_split_free(fr_seq_split *s);

/* Validation NDCG@10 and HR@10 of m (created with max_batch >= 1) on s. V: (n_items, d) scratch
 * for the item vectors; text: (n_items, d_text). */
fr_status fr_seq_validate(fr_seq_model *m, const fr_seq_split *s, const float *text, int val_negatives, uint64_t seed,
                          float *V, double *ndcg, double *hr, char *err, size_t errcap);

/* ---- checkpoints of a run ----
 * A run's state after an epoch: everything the next epoch depends on (parameters, AdamW moments and
 * step count), the best epoch's parameters, and the per-epoch record; `settings` is a hash of every
 * setting and input that determines the numbers (config, hyper-parameters, seed, log and store),
 * so that a checkpoint of another run is refused instead of silently continued. */
typedef struct {
    double loss, ndcg, hr, seconds;
} fr_seq_epoch_record;

typedef struct {
    uint64_t settings;
    int epochs_done, best_epoch, bad_epochs; /* best_epoch 1-based (0: none yet) */
    fr_seq_epoch_record *record;             /* (epochs_done), owned */
    float *best;                             /* (n_params) owned */
} fr_seq_run;

/* The checkpoint's bytes (caller frees *data): run + m's parameters, moments and step count. */
fr_status fr_seq_run_save(const fr_seq_run *r, fr_seq_model *m, uint8_t **data, size_t *size, char *err, size_t errcap);
/* Validates data (sizes, checksum, and settings: a checkpoint of another run is refused) and
 * restores m (created with the same configuration) and r (its previous arrays are freed, the
 * loaded ones allocated here). */
fr_status fr_seq_run_load(const uint8_t *data, size_t size, const char *label, uint64_t settings, fr_seq_model *m,
                          fr_seq_run *r, char *err, size_t errcap);
void fr_seq_run_free(fr_seq_run *r);

#endif

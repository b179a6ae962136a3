/* seqmodel_store.h - a trained sequential model (seqmodel.h) as bytes: the item store's section
 * FR_STORE_SECTION_SEQMODEL, or a file of the same bytes (`feedrank train --model-out`), holding the
 * configuration, the training hyper-parameters and provenance, and the parameters.
 *
 * Layout (little-endian), version 1:
 *   [0, 1024)     header: magic "FRSEQM01", version, header size, parameter count, the config,
 *                 the store it was made for (item count, vector dimension, hash of the ids in row
 *                 order, file name), hyper-parameters, provenance (log path, size and hash, counts,
 *                 epochs, best validation NDCG@10 / HR@10, seed, creation time); unused bytes are 0
 *   [1024, end-8) parameters: fp32, seqmodel.h's flat layout
 *   [end-8, end)  fr_hash64 of every byte before it
 * The model's ids are store rows, so a model is only meaningful for the store it was trained on:
 * it knows the store's first n_items rows (all of them when trained), and loading checks that count,
 * the dimension and the hash of those rows' ids, naming both stores when they differ. Rows after
 * them are items added after training (a compaction, fr_seq_section_remap): the model has never
 * seen them, so a candidate among them is scored by its text projection alone and a history skips
 * them (seqmodel_serve.h). Every size, offset, dimension and value is checked before use. */
#ifndef FR_SEQMODEL_STORE_H
#define FR_SEQMODEL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "item_store.h"
#include "seqmodel.h"
#include "seqmodel_serve.h"
#include "status.h"

#define FR_SEQ_HEADER_SIZE 1024
/* Loadable sizes: beyond the model's own limits, these bound what serving allocates for a
 * section read from disk (attention scratch grows with layers x heads x window^2). */
#define FR_SEQ_LOAD_MAX_LEN 512
#define FR_SEQ_LOAD_MAX_LAYERS 16
#define FR_SEQ_LOAD_MAX_HEADS 16
#define FR_SEQ_LOAD_MAX_WIDTH 4096

/* The store a model is made for. */
typedef struct {
    uint64_t n_items;
    uint32_t dim;
    uint64_t ids_hash; /* fr_hash64 over (length, bytes) of every id, in row order */
    char name[64];     /* the store file's base name when trained, for messages only */
} fr_seq_store_key;

/* The key of an open store; label (a path) gives the name. */
void fr_seq_store_key_of(const fr_store *s, const char *label, fr_seq_store_key *k);
/* The key of the store's first n rows (n beyond its count: all of them). */
void fr_seq_store_key_prefix(const fr_store *s, uint64_t n, const char *label, fr_seq_store_key *k);

typedef struct {
    fr_seq_config cfg;
    fr_seq_store_key store;
    /* hyper-parameters */
    float lr, weight_decay;
    int batch, n_neg, patience, max_epochs, val_percent, val_negatives;
    uint64_t seed;
    /* provenance */
    char log_path[256];
    uint64_t log_hash, log_bytes;          /* fr_hash64 of the log file's bytes (64 KiB blocks), its size */
    uint64_t users, events, unknown_items; /* what the log gave */
    uint64_t train_sequences, val_users;
    int epochs_run, best_epoch;           /* best_epoch: 1-based, the epoch whose parameters these are */
    double best_ndcg, best_hr, best_loss; /* validation NDCG@10 / HR@10 of best_epoch, its mean train loss */
    uint64_t created_unix;
} fr_seq_meta;

/* The section's bytes for meta and params (meta->cfg's layout, n_params floats); caller frees *data. */
fr_status fr_seq_section_build(const fr_seq_meta *meta, const float *params, size_t n_params, uint8_t **data,
                               size_t *size, char *err, size_t errcap);

/* Validates data[size] (label names it in messages) and fills *meta; *params points at the
 * parameters inside data (unaligned: copy them out). Everything is checked, nothing allocated. */
fr_status fr_seq_section_parse(const uint8_t *data, size_t size, const char *label, fr_seq_meta *meta,
                               const uint8_t **params, char *err, size_t errcap);

/* Parses data and, when want is not NULL, refuses a model made for another store (FR_ERR_VERIFY,
 * naming both); then creates a forward-only model (fr_seq_create_forward, batch 1: no gradients
 * or optimiser state) holding the parameters. */
fr_status fr_seq_section_load(const uint8_t *data, size_t size, const char *label, const fr_seq_store_key *want,
                              fr_seq_model **out, fr_seq_meta *meta, char *err, size_t errcap);

/* The section data[size] of a store of n_old rows, for new_store, whose rows a compaction moved
 * (old_to_new: one entry per old row, its new row or FR_ROW_DELETED; caller frees *out). The id
 * vectors E move with their rows and a deleted item's goes; every other parameter, the
 * hyper-parameters and the provenance are kept as they are; the model then knows the kept items
 * only, and its store key is new_store's first rows (label names it). The kept items must be
 * new_store's first rows (a compaction keeps base rows first, in order): otherwise
 * FR_ERR_UNSUPPORTED. Items added are not given an id vector: they are rows after the model's, never
 * seen by it (above). A delta that deletes every item the model knows is refused (retrain). */
fr_status fr_seq_section_remap(const uint8_t *data, size_t size, const int64_t *old_to_new, uint64_t n_old,
                               const fr_store *new_store, const char *label, uint8_t **out, size_t *out_size, char *err,
                               size_t errcap);

/* The model attached to store (label: its path): FR_ERR_NOT_FOUND when it has none. */
fr_status fr_seq_of_store(const fr_store *store, const char *label, fr_seq_model **out, fr_seq_meta *meta, char *err,
                          size_t errcap);

/* The model attached to store, prepared for serving (seqmodel_serve.h: item vectors from the
 * store's text vectors, packed weights); FR_ERR_NOT_FOUND when it has none. */
fr_status fr_seq_server_of_store(const fr_store *store, const char *label, fr_seq_server **out, fr_seq_meta *meta,
                                 char *err, size_t errcap);

/* fr_hash64 chained over a file's bytes in 64 KiB blocks, and its size: a log's identity. */
fr_status fr_seq_file_hash(const char *path, uint64_t *hash, uint64_t *bytes, char *err, size_t errcap);

#endif

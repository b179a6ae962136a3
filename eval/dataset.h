/* dataset.h - labelled data for ranking benchmarks, in two shapes:
 *   search: queries, each with judged catalogue items and a graded relevance per judgement;
 *   feed:   users, each with a chronological history of items and the next item (the target).
 * Loaders validate what they read (malformed rows, bad labels, unknown ids, encoding) and count
 * what they skipped; fr_dataset_summary() says so in one line. */
#ifndef FR_DATASET_H
#define FR_DATASET_H

#include <stddef.h>

#include "status.h"

typedef enum { FR_DS_SEARCH = 0,
               FR_DS_FEED = 1 } fr_ds_mode;

typedef struct {
    fr_ds_mode mode;
    char name[64];
    /* catalogue */
    int n_items;
    char **item_ids, **item_texts;
    /* search mode: judgements of query q are rows q_off[q] .. q_off[q+1]-1 of q_items/q_grades */
    int n_queries;
    char **query_texts;
    int *q_off, *q_items;
    float *q_grades;
    float grade_min, grade_max; /* the label scale; grade_min = irrelevant */
    /* feed mode: history of user u is h_items[h_off[u] .. h_off[u+1]-1], oldest first */
    int n_users;
    char **user_ids;
    int *h_off, *h_items, *target;
    /* what the loader read and skipped */
    long rows, bad_rows, unknown_ids, duplicate_rows;
} fr_dataset;

/* name: "homedepot" (Kaggle train.csv, latin-1), "recbole" (PATH = NAME.SPLIT.inter, NAME.item
 * beside it), "wands" (PATH = folder with product.csv, query.csv, label.csv), "jsonl-search",
 * "jsonl-feed" (see docs/commands.md, "feedrank bench ab", for the JSONL formats). */
fr_status fr_dataset_load(const char *name, const char *path, fr_dataset **out, char *err, size_t errcap);
void fr_dataset_free(fr_dataset *d);
/* One line: mode, counts, skipped rows. */
void fr_dataset_summary(const fr_dataset *d, char *buf, size_t cap);

#endif

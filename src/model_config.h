/* model_config.h - everything about a BERT-family sentence-embedding model that comes from its
 * files: config.json (architecture), modules.json + 1_Pooling/config.json (pooling, Normalize),
 * sentence_bert_config.json (max_seq_length) and config_sentence_transformers.json (prompts). */
#ifndef FR_MODEL_CONFIG_H
#define FR_MODEL_CONFIG_H

#include "../kernels/ops.h"
#include "status.h"

#define FR_PREFIX_MAX 512

typedef struct {
    int hidden, layers, heads, intermediate;
    int max_position, vocab_size, type_vocab_size;
    float layer_norm_eps;
    fr_pooling pooling;
    int normalize;                       /* a sentence_transformers Normalize module follows pooling */
    int max_seq_length;                  /* tokens incl. [CLS]/[SEP]; what sentence-transformers truncates at */
    char query_prefix[FR_PREFIX_MAX];    /* prompts.query, or "" */
    char document_prefix[FR_PREFIX_MAX]; /* prompts.document / passage, or "" */
} fr_model_config;

/* Reads dir's config files. Missing optional files take sentence-transformers' defaults (mean
 * pooling, no normalisation, max_seq_length = min(tokenizer model_max_length, positions)). */
fr_status fr_model_config_load(const char *dir, fr_model_config *cfg, char *err, size_t errcap);

/* Parses the text of a config.json into the architecture fields (used by the loader and the
 * fuzz target). */
fr_status fr_model_config_parse_arch(const char *json, size_t len, const char *label,
                                     fr_model_config *cfg, char *err, size_t errcap);

/* Reads a whole small file (at most max bytes) into a NUL-terminated malloc'd buffer. */
fr_status fr_read_small_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errcap);

#endif

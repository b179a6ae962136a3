/* encoder.h - a BERT-family sentence encoder: text in, pooled (normalised) vectors out.
 *
 * Loads a model folder (config files, tokenizer, model.safetensors in F32/F16/BF16), uploads the
 * weights once to a backend (kernels/ops.h) and runs batches packed without padding. One
 * encoder owns one workspace: calls on the same encoder must not overlap (use one per thread). */
#ifndef FR_ENCODER_H
#define FR_ENCODER_H

#include <stddef.h>

#include "../kernels/ops.h"
#include "model_config.h"
#include "status.h"
#include "tokenizer.h"

typedef struct fr_encoder fr_encoder;

typedef enum {
    FR_TEXT_PLAIN = 0,   /* no prefix */
    FR_TEXT_QUERY = 1,   /* the model's query prefix (prompts.query), if any */
    FR_TEXT_DOCUMENT = 2 /* the model's document prefix (prompts.document/passage), if any */
} fr_text_kind;

typedef struct {
    const char *backend;      /* NULL or "cpu" / "cuda" / "auto" */
    const char *precision;    /* NULL/"default" or "fp32" / "fp16" / "bf16" (see fr_precision) */
    int max_batch_tokens;     /* workspace size in tokens per forward pass (0 = 4096) */
    const char *query_prefix; /* overrides the model's, when non-NULL */
    const char *document_prefix;
    const char *weights; /* weight file; NULL = MODEL_DIR/model.safetensors */
} fr_encoder_options;

/* Per-text outcome of fr_encoder_embed. */
typedef struct {
    int tokens;    /* ids fed to the model, [CLS] and [SEP] included */
    int truncated; /* 1 when the text was cut at max_seq_length */
} fr_embed_info;

fr_status fr_encoder_load(const char *model_dir, const fr_encoder_options *opt, fr_encoder **out,
                          char *err, size_t errcap);
void fr_encoder_free(fr_encoder *enc);

/* Embeds n texts (texts[i] of lens[i] bytes; lens may be NULL for NUL-terminated) into
 * out[n * dim]. info (n entries) is optional. */
fr_status fr_encoder_embed(fr_encoder *enc, const char *const *texts, const size_t *lens, int n,
                           fr_text_kind kind, float *out, fr_embed_info *info, char *err, size_t errcap);

/* Embeds n already-tokenized sequences: sequence i is ids[off[i] .. off[i+1]) (with [CLS] and
 * [SEP]; at most max_seq_length ids, each < vocab_size) into out[n * dim]. For benchmarks and
 * callers that tokenize elsewhere. */
fr_status fr_encoder_embed_tokens(fr_encoder *enc, const int32_t *ids, const int32_t *off, int n, float *out,
                                  char *err, size_t errcap);

int fr_encoder_dim(const fr_encoder *enc);
const fr_model_config *fr_encoder_config(const fr_encoder *enc);
const fr_tokenizer *fr_encoder_tokenizer(const fr_encoder *enc);
fr_backend *fr_encoder_backend(const fr_encoder *enc);
/* A 64-bit fingerprint of everything that determines the vectors: weights, tokenizer files and
 * the architecture/pooling/truncation settings. Item stores record it. */
uint64_t fr_encoder_fingerprint(const fr_encoder *enc);
/* The model folder's name (e.g. "all-MiniLM-L6-v2"). */
const char *fr_encoder_name(const fr_encoder *enc);
/* The prefix applied for kind ("" when none). */
const char *fr_encoder_prefix(const fr_encoder *enc, fr_text_kind kind);

#endif

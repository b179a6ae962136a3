/* tokenizer.h - BERT WordPiece tokenization, identical to Hugging Face `tokenizers` for
 * BertNormalizer + BertPreTokenizer + WordPiece + [CLS] A [SEP] models.
 *
 * Settings come from the model's tokenizer.json (preferred) or vocab.txt + tokenizer_config.json. */
#ifndef FR_TOKENIZER_H
#define FR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct fr_tokenizer fr_tokenizer;

typedef struct {
    int clean_text, handle_chinese_chars, strip_accents, lowercase;
    int max_input_chars_per_word;
    int32_t cls_id, sep_id, pad_id, unk_id;
    int32_t vocab_size;
} fr_tok_config;

/* Loads dir/tokenizer.json, or dir/vocab.txt (+ optional dir/tokenizer_config.json). */
fr_status fr_tok_load(const char *dir, fr_tokenizer **out, char *err, size_t errcap);

/* Builds a tokenizer from the text of a tokenizer.json (used by fr_tok_load and the fuzzer). */
fr_status fr_tok_from_json(const char *json, size_t len, const char *label, fr_tokenizer **out,
                           char *err, size_t errcap);

void fr_tok_free(fr_tokenizer *tok);
const fr_tok_config *fr_tok_config_of(const fr_tokenizer *tok);

/* Tokenizes `len` bytes of UTF-8 (invalid sequences become U+FFFD) into ids, framed as
 * [CLS] ... [SEP] and truncated to at most max_tokens ids in total (max_tokens >= 2).
 * Returns the number of ids written; *truncated (if given) is set to 1 when tokens were cut.
 * Returns -1 only when out of memory. */
int fr_tok_encode(const fr_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                  int max_tokens, int *truncated);

/* The vocabulary string of id, or NULL. */
const char *fr_tok_id_to_token(const fr_tokenizer *tok, int32_t id);

#endif

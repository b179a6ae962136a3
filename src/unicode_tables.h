/* unicode_tables.h - character classes and mappings of the BERT normalizer and pre-tokenizer,
 * generated from Hugging Face tokenizers (see scripts/golden/make_unicode_tables.py). */
#ifndef FR_UNICODE_TABLES_H
#define FR_UNICODE_TABLES_H

enum {
    FR_UC_REMOVE = 1,   /* clean_text drops it (NUL, U+FFFD, control/format/unassigned) */
    FR_UC_TO_SPACE = 2, /* clean_text turns it into ' ' (whitespace other than ' ') */
    FR_UC_CJK = 4,      /* handle_chinese_chars isolates it with spaces */
    FR_UC_PUNCT = 8,    /* BertPreTokenizer isolates it as its own word */
    FR_UC_SPLIT_WS = 16 /* BertPreTokenizer splits on it and drops it */
};

typedef struct {
    unsigned first, last, flags;
} fr_uc_range;
typedef struct {
    unsigned cp, len;
    const unsigned *to;
} fr_uc_mapping;

extern const fr_uc_range fr_uc_ranges[];
extern const unsigned fr_uc_range_count;
extern const fr_uc_mapping fr_uc_strip_map[]; /* NFD with non-spacing marks removed (no Hangul) */
extern const unsigned fr_uc_strip_count;
extern const fr_uc_mapping fr_uc_lower_map[]; /* Rust char::to_lowercase */
extern const unsigned fr_uc_lower_count;

#endif

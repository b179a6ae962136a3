/* Arbitrary bytes through the BERT tokenizer (the real bert-base-uncased vocabulary). */
#include <stdlib.h>

#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fr_tokenizer *tok;
    if (!tok && fr_tok_load(FEEDRANK_SOURCE_DIR "/tests/fixtures/tiny-bge", &tok, NULL, 0)) abort();
    int32_t ids[512];
    int n = fr_tok_encode(tok, (const char *)data, size, ids, 512, NULL);
    if (n < 2 || n > 512) abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= fr_tok_config_of(tok)->vocab_size) abort();
    return 0;
}

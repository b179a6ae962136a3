/* tokenizer.json documents through the loader (vocabulary, normalizer, added tokens). */
#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_tokenizer *t;
    char err[256];
    if (fr_tok_from_json((const char *)data, size, "fuzz", &t, err, sizeof err) == FR_OK) {
        int32_t ids[64];
        fr_tok_encode(t, "Hello, [SEP] wörld ##x", 23, ids, 64, NULL);
        fr_tok_free(t);
    }
    return 0;
}

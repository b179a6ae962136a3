/* config.json through the architecture parser. */
#include "fuzz.h"
#include "model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_model_config c;
    char err[256];
    fr_model_config_parse_arch((const char *)data, size, "fuzz", &c, err, sizeof err);
    return 0;
}

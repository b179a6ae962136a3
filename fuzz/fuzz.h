/* fuzz.h - every fuzz target defines LLVMFuzzerTestOneInput; with libFuzzer (FEEDRANK_FUZZ=ON,
 * clang) it is fuzzed, and replay_main.c runs it over a corpus in every other build (ctest). */
#ifndef FR_FUZZ_H
#define FR_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#ifndef FEEDRANK_SOURCE_DIR
#define FEEDRANK_SOURCE_DIR "."
#endif
#endif

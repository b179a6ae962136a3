/* gRPC reflection's two readers on arbitrary bytes: the input as a FileDescriptorSet
 * (server/descset.c: must never read out of bounds, and every lookup on what it accepts must be
 * consistent), and as a ServerReflectionRequest answered from the compiled-in set
 * (server/reflection.c: the answer must always be a valid ServerReflectionResponse). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    fr_descset *d = NULL;
    if (fr_descset_parse(data, size, &d, err, sizeof err) == FR_OK) {
        int n = fr_descset_file_count(d);
        int *closure = malloc((size_t)n * sizeof *closure);
        for (int i = 0; i < n; i++) {
            if (fr_descset_find_file(d, fr_descset_file_name(d, i)) != i) abort();
            int k = fr_descset_closure(d, i, closure);
            if (k < 1 || k > n || closure[0] != i) abort();
        }
        for (int i = 0; i < fr_descset_service_count(d); i++) {
            int f = fr_descset_find_symbol(d, fr_descset_service(d, i));
            if (f < 0 || f >= n) abort();
        }
        int nums[8];
        fr_descset_extension_numbers(d, "a.B", nums, 8);
        fr_descset_find_extension(d, "a.B", 1);
        free(closure);
        fr_descset_free(d);
    }
    static fr_descset *builtin;
    if (!builtin && fr_descset_parse(fr_descriptor_set, fr_descriptor_set_size, &builtin, err, sizeof err)) abort();
    uint8_t *out = NULL;
    size_t len = 0;
    if (fr_reflection_answer(builtin, data, size, &out, &len, err, sizeof err) == FR_OK) {
        Grpc__Reflection__V1__ServerReflectionResponse *r = grpc__reflection__v1__server_reflection_response__unpack(NULL, len, out);
        if (!r || r->message_response_case == GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE__NOT_SET) abort();
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
    }
    free(out);
    return 0;
}

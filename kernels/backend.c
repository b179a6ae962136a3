/* backend.c - backend selection and capability queries shared by all backends. */
#include <string.h>

#include "ops.h"

int fr_backend_supports(const fr_backend *be, fr_op op) {
    switch (op) {
    case FR_OP_EMBED: return be->embed != NULL;
    case FR_OP_LINEAR: return be->linear != NULL;
    case FR_OP_ADD_LAYERNORM: return be->add_layernorm != NULL;
    case FR_OP_ATTENTION: return be->attention != NULL;
    case FR_OP_POOL: return be->pool != NULL;
    case FR_OP_SCORE: return be->score != NULL;
    case FR_OP_COUNT: break;
    }
    return 0;
}

const char *fr_op_name(fr_op op) {
    static const char *names[] = {"embed", "linear", "add_layernorm", "attention", "pool", "score"};
    return op < FR_OP_COUNT ? names[op] : "?";
}

#ifndef FEEDRANK_HAVE_CUDA
fr_status fr_backend_cuda_create(int device, fr_backend **out, char *err, size_t errcap) {
    (void)device;
    *out = NULL;
    return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "this feedrank build has no CUDA backend (configure with -DFEEDRANK_CUDA=ON on a machine with nvcc)");
}
#endif

fr_status fr_backend_open(const char *which, fr_backend **out, char *err, size_t errcap) {
    *out = NULL;
    if (!which || strcmp(which, "cpu") == 0) return fr_backend_cpu_create(0, out, err, errcap);
    if (strcmp(which, "cuda") == 0) return fr_backend_cuda_create(0, out, err, errcap);
    if (strcmp(which, "auto") == 0) {
        if (fr_backend_cuda_create(0, out, NULL, 0) == FR_OK) return FR_OK;
        return fr_backend_cpu_create(0, out, err, errcap);
    }
    return fr_fail(FR_ERR_ARG, err, errcap, "unknown device '%s' (expected cpu, cuda or auto)", which);
}

void fr_backend_destroy(fr_backend *be) {
    if (be && be->destroy) be->destroy(be);
}

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
    case FR_OP_TOPK: return be->topk != NULL;
    case FR_OP_COUNT: break;
    }
    return 0;
}

const char *fr_op_name(fr_op op) {
    static const char *names[] = {"embed", "linear", "add_layernorm", "attention", "pool", "score", "topk"};
    return op < FR_OP_COUNT ? names[op] : "?";
}

const char *fr_precision_name(fr_precision p) {
    switch (p) {
    case FR_PREC_FP32: return "fp32";
    case FR_PREC_FP16: return "fp16";
    case FR_PREC_BF16: return "bf16";
    case FR_PREC_AUTO: return "auto";
    case FR_PREC_DEFAULT: break;
    }
    return "default";
}

fr_status fr_precision_parse(const char *s, fr_precision *out, char *err, size_t errcap) {
    if (!s || strcmp(s, "default") == 0) *out = FR_PREC_DEFAULT;
    else if (strcmp(s, "fp32") == 0) *out = FR_PREC_FP32;
    else if (strcmp(s, "fp16") == 0) *out = FR_PREC_FP16;
    else if (strcmp(s, "bf16") == 0) *out = FR_PREC_BF16;
    else if (strcmp(s, "auto") == 0) *out = FR_PREC_AUTO;
    else return fr_fail(FR_ERR_ARG, err, errcap, "unknown precision '%s' (expected fp32, fp16, bf16, auto or default)", s);
    return FR_OK;
}

#ifndef FEEDRANK_HAVE_CUDA
fr_status fr_backend_cuda_create(int device, fr_precision precision, fr_backend **out, char *err, size_t errcap) {
    (void)device;
    (void)precision;
    *out = NULL;
    return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "this feedrank build has no CUDA backend (configure with -DFEEDRANK_CUDA=ON on a machine with nvcc)");
}
#endif

fr_status fr_backend_open(const char *which, fr_precision precision, fr_backend **out, char *err, size_t errcap) {
    *out = NULL;
    /* CUDA's fastest precision that holds the accuracy bound is its default, fp16 */
    fr_precision cuda_prec = precision == FR_PREC_AUTO ? FR_PREC_DEFAULT : precision;
    if (!which || strcmp(which, "cpu") == 0) return fr_backend_cpu_open(0, precision, out, err, errcap);
    if (strcmp(which, "cuda") == 0) return fr_backend_cuda_create(0, cuda_prec, out, err, errcap);
    if (strcmp(which, "auto") == 0) {
        if (fr_backend_cuda_create(0, cuda_prec, out, NULL, 0) == FR_OK) return FR_OK;
        /* no GPU: the same precision on the CPU (refused there, with the reason, if it lacks it) */
        return fr_backend_cpu_open(0, precision, out, err, errcap);
    }
    return fr_fail(FR_ERR_ARG, err, errcap, "unknown device '%s' (expected cpu, cuda or auto)", which);
}

void fr_backend_destroy(fr_backend *be) {
    if (be && be->destroy) be->destroy(be);
}

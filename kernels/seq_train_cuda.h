/* seq_train_cuda.h - the CUDA trainer of the sequential model (kernels/cuda/seq_train.cu): the
 * definition of src/seqmodel.h (item vectors, blocks, sampled softmax, AdamW) run on one GPU, with
 * cuBLAS for the products and one kernel per remaining op. src/seqmodel.c is its plain-C reference:
 * tests/test_seqmodel_cuda.c holds the states, the loss, every gradient tensor and several AdamW
 * steps to it (tolerances there). Only in builds with FEEDRANK_HAVE_CUDA.
 *
 * Differences from the reference, by design: sums run in another order (cuBLAS, atomics in the
 * scatters of embedding gradients), so results agree to fp32 rounding, not to the bit, and a
 * CUDA run is not bit-reproducible run to run; the dropout masks are the same hash as the CPU's,
 * so a step with dropout is comparable too.
 *
 * Use: create (uploads the frozen text vectors once), upload the parameters (and AdamW state to
 * resume), then fr_seq_cuda_step per batch (or zero_grad / forward / backward / adamw_step),
 * and download to save or validate. A batch's `text` field is ignored: the device copy given at
 * creation is used. Nothing here falls back to the CPU: every failure is returned. */
#ifndef FR_SEQ_TRAIN_CUDA_H
#define FR_SEQ_TRAIN_CUDA_H

#include <stddef.h>

#include "seqmodel_def.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_seq_cuda fr_seq_cuda;

/* FR_ERR_UNSUPPORTED naming why when no CUDA device is usable. text: (n_items, d_text) host. */
fr_status fr_seq_cuda_create(const fr_seq_config *cfg, int max_batch, int max_neg, const float *text, fr_seq_cuda **out,
                             char *err, size_t errcap);
void fr_seq_cuda_free(fr_seq_cuda *g);

/* Parameters (fr_seq_layout's total floats, seqmodel_def.h's layout) and AdamW state to the device;
 * adam_m / adam_v NULL start the moments at 0. */
fr_status fr_seq_cuda_upload(fr_seq_cuda *g, const float *params, const float *adam_m, const float *adam_v,
                             long adam_steps, char *err, size_t errcap);
/* ... and back; any NULL output is skipped. */
fr_status fr_seq_cuda_download(fr_seq_cuda *g, float *params, float *adam_m, float *adam_v, long *adam_steps, char *err,
                               size_t errcap);

fr_status fr_seq_cuda_forward(fr_seq_cuda *g, const fr_seq_batch *b, float *loss, char *err, size_t errcap);
/* (B, T, C) user states of the last forward (padded rows 0), to host. */
fr_status fr_seq_cuda_states(fr_seq_cuda *g, float *out, char *err, size_t errcap);
fr_status fr_seq_cuda_zero_grad(fr_seq_cuda *g, char *err, size_t errcap);
/* Adds the last forward's gradients into the device gradient array (as fr_seq_backward). */
fr_status fr_seq_cuda_backward(fr_seq_cuda *g, char *err, size_t errcap);
fr_status fr_seq_cuda_grads(fr_seq_cuda *g, float *out, char *err, size_t errcap);
fr_status fr_seq_cuda_adamw_step(fr_seq_cuda *g, const fr_seq_adamw *o, float *grad_norm, char *err, size_t errcap);

/* zero_grad + forward + backward + AdamW: an fr_seq_step_fn (src/seqmodel.h) with ctx = the trainer. */
fr_status fr_seq_cuda_step(void *g, const fr_seq_batch *b, const fr_seq_adamw *o, float *loss, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif

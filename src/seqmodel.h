/* seqmodel.h - the sequential ranking model (issue #17): its definition, parameter layout and the
 * plain-C reference forward, backward and AdamW step. The CUDA twin and the trainer implement
 * exactly this definition; tests/test_seqmodel.c holds it to PyTorch
 * (scripts/golden/make_seqmodel_golden.py writes the same model with torch.nn ops).
 *
 * ---- The model ----------------------------------------------------------------------------------
 * Sizes: N items (ids 0..N-1 = the item store's row numbers), width C (d), window T, L blocks,
 * NH heads (NH divides C, head size hs = C/NH), FFN hidden F, frozen text dimension Dt.
 * Padding is the id FR_SEQ_PAD (-1), not a reserved item, so model ids and store rows are the same
 * numbers and the store's text matrix is used as it is.
 *
 *   item vector     v_i   = E[i] + Wp t_i + bp          t_i: item i's frozen text vector (Dt)
 *   input           x_t   = drop(v_{item_t} + P[t])     0 at a padded position
 *   each block      h     = x + drop(Wo Attn(LN1(x)) + bo)
 *                   x'    = h + drop(W2 GELU(W1 LN2(h) + b1) + b2)       GELU: exact (erf)
 *   user state      u_t   = LNf(x_t) after the last block                  0 at a padded position
 *
 * - The window is always T columns, left-padded: the newest item sits in column T-1, so P[t]
 *   encodes "T-1-t steps before the newest" whatever the history length.
 * - LayerNorms are pre-norm, eps 1e-5, with a gain and a bias. Attn is causal multi-head
 *   self-attention: Q, K, V = rows 0..C-1, C..2C-1, 2C..3C-1 of one (3C, C) weight + bias;
 *   scores scaled by 1/sqrt(hs); a query attends the keys s <= t that are not padded. A padded
 *   position neither attends nor is attended, its state is 0 and it gives no loss, so padding
 *   never changes a valid position's numbers (any padded position, not only a left prefix).
 * - Dropout (inverted: kept values scaled by 1/(1-p)) acts on the embedding sum and on the output
 *   of each residual branch, in training only. A kept/dropped decision is a hash of (batch seed,
 *   site, element), not a stream, so a run is reproducible whatever the thread count, and the
 *   backward recomputes the mask instead of storing it.
 *
 * ---- The loss: sampled softmax next-item ---------------------------------------------------------
 * A loss position is a non-padded position with targets[t] >= 0 (targets -1 = no loss there).
 * With n loss positions in batch order and K shared uniform negatives, the batch's candidate list
 * is S = [target of loss position 0, ..., target of loss position n-1, neg 0, ..., neg K-1].
 * Loss position i scores every candidate j with u_i . v_{S_j}; its positive is j = i; any other
 * candidate j that is the same item as its target (S_j == y_i, whether an in-batch target or a
 * uniform negative) is masked out (logit -inf). Duplicated negatives that are not the target each
 * count. No logQ correction. loss = mean over loss positions of the cross-entropy; 0 when there
 * is none.
 *
 * ---- Parameters ---------------------------------------------------------------------------------
 * One flat fp32 array (and one gradient array of the same layout), tensors in the order of
 * fr_seq_tensor_id; per-block tensors are stacked over L (block l's slice follows block l-1's).
 * Weights are (out, in) row-major, as torch.nn.Linear keeps them.
 *
 * ---- Use ----------------------------------------------------------------------------------------
 *   fr_seq_create(cfg, max_batch, max_neg) -> fr_seq_init_params(seed) or copy into fr_seq_params
 *   per step: fr_seq_zero_grad; fr_seq_forward(batch, &loss); fr_seq_backward; fr_seq_adamw_step
 *   or a whole epoch over sequences: fr_seq_train_epoch (bench/seq_train_cpu.c runs it on a log)
 * Everything is allocated by fr_seq_create; a step allocates nothing. A model is not thread-safe
 * (one trainer per model); nothing is global. */
#ifndef FR_SEQMODEL_H
#define FR_SEQMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "seqmodel_def.h" /* sizes, parameter layout, batch, AdamW options: shared with the CUDA trainer */
#include "status.h"

/* Defaults (seqmodel_def.h's sizes) for n_items items with text vectors of dimension d_text. */
fr_seq_config fr_seq_default_config(int n_items, int d_text);

typedef struct fr_seq_model fr_seq_model;

/* Allocates parameters, gradients, AdamW state and the activations of a batch of up to max_batch
 * sequences with up to max_neg negatives. Parameters start at 0: call fr_seq_init_params or fill
 * fr_seq_params(). */
fr_status fr_seq_create(const fr_seq_config *cfg, int max_batch, int max_neg, fr_seq_model **out, char *err,
                        size_t errcap);
/* A forward-only model (evaluation, tools): parameters and forward activations only; no
 * gradients, AdamW state or backward buffers (fr_seq_grads and fr_seq_adam_moments give NULL,
 * backward and AdamW steps are refused). Serving uses seqmodel_serve.h instead. */
fr_status fr_seq_create_forward(const fr_seq_config *cfg, int max_batch, fr_seq_model **out, char *err, size_t errcap);
void fr_seq_free(fr_seq_model *m);

const fr_seq_config *fr_seq_config_of(const fr_seq_model *m);
const fr_seq_tensor *fr_seq_layout_of(const fr_seq_model *m); /* FR_SEQ_NTENSORS entries */
size_t fr_seq_num_params(const fr_seq_model *m);
int fr_seq_max_batch(const fr_seq_model *m);
float *fr_seq_params(fr_seq_model *m);
float *fr_seq_grads(fr_seq_model *m);

/* Deterministic initialisation from seed: weights and embeddings N(0, 0.02^2), LayerNorm gains 1,
 * biases 0. Also resets the AdamW state. */
void fr_seq_init_params(fr_seq_model *m, uint64_t seed);

/* Runs the model on b. With targets, *loss gets the sampled-softmax loss (see above) and the step
 * is kept for fr_seq_backward; without, *loss = 0 and only the states are computed. */
fr_status fr_seq_forward(fr_seq_model *m, const fr_seq_batch *b, float *loss, char *err, size_t errcap);

/* (B, T, C) user states of the last forward; rows of padded positions are 0. */
const float *fr_seq_states(const fr_seq_model *m);

/* Adds d loss / d parameter of the last forward (which must have had targets) into the gradient
 * array, so several batches can be accumulated; fr_seq_zero_grad clears it. */
fr_status fr_seq_backward(fr_seq_model *m, char *err, size_t errcap);
void fr_seq_zero_grad(fr_seq_model *m);

fr_seq_adamw fr_seq_default_adamw(float lr);

/* One AdamW update of every parameter from the gradient array (bias-corrected, step count kept in
 * the model). *grad_norm (may be NULL) gets the global gradient norm before clipping. */
fr_status fr_seq_adamw_step(fr_seq_model *m, const fr_seq_adamw *opt, float *grad_norm, char *err,
                            size_t errcap);

/* ---- Training over a set of sequences ----
 * Sequence s is items[off[s] .. off[s+1]-1], oldest first, ids in [0, N). One epoch visits every
 * sequence of length >= 2 once, in an order shuffled from (seed, epoch); a sequence trains on its
 * newest T+1 items (inputs = all but the newest, targets = all but the oldest, left-padded), as
 * SASRec does. Each batch draws n_neg uniform negatives from (seed, epoch, step), and its dropout
 * seed from the same, so an epoch is a function of (parameters, AdamW state, data, seed, epoch). */
typedef struct {
    int n_seq;
    const int64_t *off; /* (n_seq + 1) */
    const int32_t *items;
} fr_seq_data;

typedef struct {
    int batch; /* sequences per step (<= the model's max_batch) */
    int n_neg; /* uniform negatives per step (<= max_neg; default 1024) */
    uint64_t seed;
    fr_seq_adamw opt;
    /* (optional) called after every step with the steps done, the epoch's step count and the
     * step's loss, so a caller can show progress; it must not touch the model */
    void (*progress)(void *ctx, long step, long steps, float loss);
    void *progress_ctx;
} fr_seq_train_opts;

typedef struct {
    double mean_loss; /* over the epoch's steps */
    long steps, sequences, positions;
} fr_seq_epoch_stats;

/* One epoch of AdamW steps. text: (N, Dt) frozen text vectors. Stops at the first refused step
 * (e.g. a non-finite gradient) with a message naming the epoch and step, both counted from 1
 * (epoch + 1: `epoch` itself is an index). */
fr_status fr_seq_train_epoch(fr_seq_model *m, const fr_seq_data *d, const float *text, const fr_seq_train_opts *o,
                             int epoch, fr_seq_epoch_stats *st, char *err, size_t errcap);

/* The same epoch with another backend doing each step (the CUDA trainer, kernels/seq_train_cuda.h): the
 * batches, negatives and dropout seeds are those of fr_seq_train_epoch; step must run zero_grad,
 * forward, backward and one AdamW step on b and give the step's loss. cfg, max_batch and max_neg
 * are the stepping model's. */
typedef fr_status (*fr_seq_step_fn)(void *ctx, const fr_seq_batch *b, const fr_seq_adamw *opt, float *loss, char *err,
                                    size_t errcap);
fr_status fr_seq_train_epoch_with(fr_seq_step_fn step, void *ctx, const fr_seq_config *cfg, int max_batch, int max_neg,
                                  const fr_seq_data *d, const float *text, const fr_seq_train_opts *o, int epoch,
                                  fr_seq_epoch_stats *st, char *err, size_t errcap);

/* ---- Optimiser state (for checkpoints: a resumed run must continue with the same moments) ----
 * The AdamW moments are two arrays of fr_seq_num_params floats (first, then second moment). */
float *fr_seq_adam_moments(fr_seq_model *m, int which); /* which: 0 = first, 1 = second */
long fr_seq_adam_steps(const fr_seq_model *m);
void fr_seq_set_adam_steps(fr_seq_model *m, long steps);

/* ---- Serving (forward only; nothing is allocated per call) ----
 * Item vector of store row `row` (its id embedding plus the projection of text_vec, its frozen
 * text vector of d_text floats) into out[d]. A row outside 0..n_items-1 (an item the model never
 * saw, e.g. added to the catalogue after training) gets the text projection alone. */
void fr_seq_item_vector(const fr_seq_model *m, int64_t row, const float *text_vec, float *out);

/* The user state after a history of n item rows (oldest first; only the newest max_len are
 * used; entries outside 0..n_items-1 are skipped, as unknown to the model) into out[d]: the
 * state that scores the next item by a dot product with its item vector. text: (N, Dt), the
 * store's vectors. Uses the model's buffers (needs max_batch >= 1), so one caller at a time.
 * A history with no known item gives FR_ERR_NOT_FOUND (no state: fall back to other signals). */
fr_status fr_seq_user_state(fr_seq_model *m, const int32_t *hist, int n, const float *text, float *out, char *err,
                            size_t errcap);

#endif

/* seqmodel_def.h - the sequential model's shapes, shared by its plain-C reference (src/seqmodel.h,
 * which defines the model in full) and the CUDA trainer (kernels/seq_train_cuda.h): sizes, the
 * flat parameter layout, one batch and the AdamW options. kernels/seq_layout.c computes the layout. */
#ifndef FR_SEQMODEL_DEF_H
#define FR_SEQMODEL_DEF_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_SEQ_PAD (-1)
#define FR_SEQ_LN_EPS 1e-5f

typedef struct {
    int n_items;   /* N */
    int d;         /* C, width (default 64) */
    int max_len;   /* T, window (default 50) */
    int n_layers;  /* L (default 2) */
    int n_heads;   /* NH, divides d (default 1) */
    int d_text;    /* Dt, frozen text vector dimension (384 for MiniLM) */
    int d_ff;      /* F, FFN hidden width (default 4d) */
    float dropout; /* p in [0, 1), training only */
} fr_seq_config;

/* Sizes are capped so that every index product fits comfortably in size_t and int loops over one
 * dimension never overflow. */
#define FR_SEQ_MAX_DIM (1 << 16)
#define FR_SEQ_MAX_ITEMS (1 << 30)

typedef enum {
    FR_SEQ_E,        /* (N, C)  item id embedding */
    FR_SEQ_WP,       /* (C, Dt) text projection */
    FR_SEQ_BP,       /* (C) */
    FR_SEQ_POS,      /* (T, C)  position embedding */
    FR_SEQ_LN1W,     /* (L, C) */
    FR_SEQ_LN1B,     /* (L, C) */
    FR_SEQ_QKVW,     /* (L, 3C, C) */
    FR_SEQ_QKVB,     /* (L, 3C) */
    FR_SEQ_ATTPROJW, /* (L, C, C)  Wo */
    FR_SEQ_ATTPROJB, /* (L, C) */
    FR_SEQ_LN2W,     /* (L, C) */
    FR_SEQ_LN2B,     /* (L, C) */
    FR_SEQ_FCW,      /* (L, F, C)  W1 */
    FR_SEQ_FCB,      /* (L, F) */
    FR_SEQ_FCPROJW,  /* (L, C, F)  W2 */
    FR_SEQ_FCPROJB,  /* (L, C) */
    FR_SEQ_LNFW,     /* (C) */
    FR_SEQ_LNFB,     /* (C) */
    FR_SEQ_NTENSORS
} fr_seq_tensor_id;

typedef struct {
    const char *name; /* "E", "Wp", ... "lnf_b" */
    size_t offset;    /* in floats, into the flat parameter (or gradient) array */
    size_t count;
} fr_seq_tensor;

/* Checks cfg (positive sizes, heads divide d, dropout in [0,1), sizes that fit) and fills the
 * layout of every tensor and the total parameter count. */
fr_status fr_seq_layout(const fr_seq_config *cfg, fr_seq_tensor layout[FR_SEQ_NTENSORS], size_t *total,
                        char *err, size_t errcap);

/* One batch of B sequences of exactly cfg.max_len columns. */
typedef struct {
    int B;
    const int32_t *items;     /* (B, T) item ids in [0, N), FR_SEQ_PAD for padding */
    const int32_t *targets;   /* (B, T) next item ids, -1 = no loss here; NULL = forward only */
    const int32_t *negatives; /* (n_neg) shared uniform negatives in [0, N) */
    int n_neg;
    const float *text;     /* (N, Dt) frozen text vectors, row i = item i; borrowed and read
                                 again by fr_seq_backward, so it must outlive the step */
    int train;             /* 1: dropout on (cfg.dropout > 0) */
    uint64_t dropout_seed; /* the masks are a function of this seed only (give each step its own) */
} fr_seq_batch;

typedef struct {
    float lr;
    float beta1, beta2, eps; /* 0.9, 0.999, 1e-8 */
    float weight_decay;      /* decoupled (AdamW), applied to every tensor; default 0 */
    float max_grad_norm;     /* > 0: scale the gradients so that their global L2 norm is at most
                                this first (as torch.nn.utils.clip_grad_norm_); 0: off */
} fr_seq_adamw;

#ifdef __cplusplus
}
#endif

#endif

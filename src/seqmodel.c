/* seqmodel.c - the plain-C reference of the sequential model defined in seqmodel.h.
 *
 * Design. Every layer is a forward/backward pair of short loops with its shapes in a comment,
 * as in llm.c's train_gpt2.c; the model struct owns one block of activations sized for the
 * largest batch, so a training step allocates nothing. Three choices shape the code:
 *  - Rows, not batches. A batch is (B, T) positions flattened into B*T rows; every row-wise layer
 *    runs over the list of non-padded rows only (`rows`), so padding costs nothing and its
 *    buffers are never read. Only attention looks at (b, t) structure.
 *  - Item vectors once per batch. v_i = E[i] + Wp t_i + bp is needed for the inputs, the targets
 *    and the negatives; the forward gathers the batch's distinct items (in first-seen order, so
 *    the result does not depend on a hash) and projects each once into V; inputs and candidates
 *    point at rows of V. The backward sums every use into dV, then into E, Wp and bp once.
 *  - Parameter gradients are sums over rows; each output element is owned by one loop iteration
 *    and summed in row order, so the bits do not depend on how the work is split. Loops run on
 *    OpenMP threads over rows, output columns or candidates, never with a reduction across
 *    threads, so 1 and 16 threads give the same bits (test_seqmodel checks 1 against several).
 * fp32 throughout, with double accumulators for LayerNorm statistics, softmax normalisers, the
 * loss mean, bias gradients and the gradient norm (sums over many rows or of many exponentials).
 */
#include "seqmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Configuration and layout */

fr_seq_config fr_seq_default_config(int n_items, int d_text) {
    fr_seq_config c = {.n_items = n_items, .d = 64, .max_len = 50, .n_layers = 2, .n_heads = 1, .d_text = d_text, .d_ff = 256, .dropout = 0.2f};
    return c;
}

fr_seq_adamw fr_seq_default_adamw(float lr) {
    fr_seq_adamw o = {.lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .max_grad_norm = 0.0f};
    return o;
}

/* Loops with less work than this (multiply-adds, roughly) run on one thread: a parallel region
 * costs microseconds, and much more on a busy machine, which a tiny batch or a one-history
 * forward would pay dozens of times per step. Which loops split never changes a result. */
#define SEQ_PAR_WORK 32768
/* loss positions per chunk of the sampled softmax (see loss_forward) */
#define LOSS_CHUNK 64

/* ---------------------------------------------------------------------------------------------
 * The model and its buffers */

typedef struct {
    /* the step, copied so that the backward does not depend on the caller's arrays */
    int32_t *items, *targets;         /* (BT) */
    int32_t *rows;                    /* (BT) non-padded rows, ascending */
    int32_t *loss_rows;               /* (BT) rows with a loss, ascending */
    int32_t *row_slot;                /* (BT) row of V holding the input item of each row */
    int32_t *cand_item;               /* (BT + K) candidate item ids: loss targets, then negatives */
    int32_t *cand_slot;               /* (BT + K) their rows of V */
    int32_t *uniq;                    /* (U) distinct items of the batch, first-seen order */
    int32_t *item_slot;               /* (N) item -> row of V during a forward; -1 between forwards */
    float *V;                         /* (U, C) item vectors */
    float *resid;                     /* (L+1, BT, C) residual stream: [0] the input, [l+1] block l's output */
    float *ln1, *ln1_mean, *ln1_rstd; /* (L, BT, C), (L, BT), (L, BT) */
    float *qkv;                       /* (L, BT, 3C) */
    float *att;                       /* (L, B, NH, T, T) attention probabilities, 0 where masked */
    float *atty;                      /* (L, BT, C) attention output before Wo */
    float *h;                         /* (L, BT, C) stream after the attention branch */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;            /* (L, BT, F) */
    float *lnf, *lnf_mean, *lnf_rstd; /* (BT, C) user states, (BT), (BT) */
    float *lse;                       /* (BT) log-sum-exp of each loss position's logits */
    float *branch;                    /* (BT, C) forward scratch: a residual branch's output */
    float *Vt;                        /* (C, BT + K) candidate vectors, transposed */
    float *G;                         /* (LOSS_CHUNK, BT + K) loss scratch: a chunk's logits or their gradients */
    float *rowloss;                   /* (BT) loss scratch: each loss position's cross-entropy */
    /* backward scratch */
    float *dstream, *dbranch, *dln, *datty; /* (BT, C) */
    float *dqkv;                            /* (BT, 3C) */
    float *dfch;                            /* (BT, F) */
    float *dV;                              /* (U, C) */
    float *dVt;                             /* (C, BT + K) */
    float *datt;                            /* (B, NH, T) */
    int32_t *window;                        /* (T) fr_seq_user_state's padded history */
} seq_acts;

struct fr_seq_model {
    fr_seq_config cfg;
    fr_seq_tensor layout[FR_SEQ_NTENSORS];
    size_t nparams;
    int max_batch, max_neg;
    int forward_only; /* fr_seq_create_forward: no gradients, AdamW state or backward buffers */
    size_t max_uniq;
    float *params, *grads, *adam_m, *adam_v;
    long adam_t;
    void *block; /* the one allocation behind every activation buffer */
    seq_acts a;
    /* the last forward */
    int B, nrows, nloss, ncand, nuniq, have_step, train;
    uint64_t seed;
    const float *text;
};

const fr_seq_config *fr_seq_config_of(const fr_seq_model *m) { return &m->cfg; }
const fr_seq_tensor *fr_seq_layout_of(const fr_seq_model *m) { return m->layout; }
size_t fr_seq_num_params(const fr_seq_model *m) { return m->nparams; }
int fr_seq_max_batch(const fr_seq_model *m) { return m->max_batch; }
float *fr_seq_params(fr_seq_model *m) { return m->params; }
float *fr_seq_grads(fr_seq_model *m) { return m->grads; }
const float *fr_seq_states(const fr_seq_model *m) { return m->a.lnf; }

void fr_seq_free(fr_seq_model *m) {
    if (!m) return;
    free(m->params);
    free(m->block);
    free(m);
}

/* Carves the activation buffers out of one block: pass 1 (base NULL) only counts bytes. Every
 * buffer starts 64-byte aligned so that SIMD loops over rows stay aligned. */
static size_t carve(fr_seq_model *m, char *base) {
    const size_t C = (size_t)m->cfg.d, T = (size_t)m->cfg.max_len, L = (size_t)m->cfg.n_layers,
                 F = (size_t)m->cfg.d_ff, NH = (size_t)m->cfg.n_heads, B = (size_t)m->max_batch,
                 K = (size_t)m->max_neg, N = (size_t)m->cfg.n_items, U = m->max_uniq;
    const size_t BT = B * T;
    size_t off = 0;
    seq_acts *a = &m->a;
#define TAKE(ptr, n)                                     \
    do {                                                 \
        if (base) (ptr) = (void *)(base + off);          \
        off += ((n) * sizeof *(ptr) + 63) & ~(size_t)63; \
    } while (0)
    TAKE(a->items, BT);
    TAKE(a->targets, BT);
    TAKE(a->rows, BT);
    TAKE(a->loss_rows, BT);
    TAKE(a->row_slot, BT);
    TAKE(a->cand_item, BT + K);
    TAKE(a->cand_slot, BT + K);
    TAKE(a->uniq, U);
    TAKE(a->item_slot, N);
    TAKE(a->V, U * C);
    TAKE(a->resid, (L + 1) * BT * C);
    TAKE(a->ln1, L * BT * C);
    TAKE(a->ln1_mean, L * BT);
    TAKE(a->ln1_rstd, L * BT);
    TAKE(a->qkv, L * BT * 3 * C);
    TAKE(a->att, L * B * NH * T * T);
    TAKE(a->atty, L * BT * C);
    TAKE(a->h, L * BT * C);
    TAKE(a->ln2, L * BT * C);
    TAKE(a->ln2_mean, L * BT);
    TAKE(a->ln2_rstd, L * BT);
    TAKE(a->fch, L * BT * F);
    TAKE(a->fch_gelu, L * BT * F);
    TAKE(a->lnf, BT * C);
    TAKE(a->lnf_mean, BT);
    TAKE(a->lnf_rstd, BT);
    TAKE(a->lse, BT);
    TAKE(a->branch, BT * C);
    TAKE(a->Vt, C * (BT + K));
    TAKE(a->G, LOSS_CHUNK * (BT + K));
    TAKE(a->rowloss, BT);
    TAKE(a->window, T);
    if (m->forward_only) return off;
    TAKE(a->dstream, BT * C);
    TAKE(a->dbranch, BT * C);
    TAKE(a->dln, BT * C);
    TAKE(a->datty, BT * C);
    TAKE(a->dqkv, BT * 3 * C);
    TAKE(a->dfch, BT * F);
    TAKE(a->dV, U * C);
    TAKE(a->dVt, C * (BT + K));
    TAKE(a->datt, B * NH * T);
#undef TAKE
    return off;
}

static fr_status create(const fr_seq_config *cfg, int max_batch, int max_neg, int forward_only, fr_seq_model **out,
                        char *err, size_t errcap) {
    *out = NULL;
    fr_seq_tensor layout[FR_SEQ_NTENSORS];
    size_t total;
    fr_status rc = fr_seq_layout(cfg, layout, &total, err, errcap);
    if (rc) return rc;
    if (max_batch < 1 || max_batch > FR_SEQ_MAX_DIM || max_neg < 0 || max_neg > FR_SEQ_MAX_ITEMS)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: max_batch %d / max_neg %d out of range", max_batch, max_neg);
    fr_seq_model *m = calloc(1, sizeof *m);
    if (!m) return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory");
    m->cfg = *cfg;
    memcpy(m->layout, layout, sizeof layout);
    m->nparams = total;
    m->max_batch = max_batch;
    m->max_neg = max_neg;
    m->forward_only = forward_only;
    /* distinct items of a batch: inputs + targets + negatives, and never more than N */
    const size_t BT = (size_t)max_batch * (size_t)cfg->max_len;
    m->max_uniq = 2 * BT + (size_t)max_neg;
    if (m->max_uniq > (size_t)cfg->n_items) m->max_uniq = (size_t)cfg->n_items;
    m->params = calloc(forward_only ? total : 4 * total, sizeof(float)); /* params, grads, Adam m, Adam v */
    const size_t bytes = carve(m, NULL);
    m->block = aligned_alloc(64, bytes);
    if (!m->params || !m->block) {
        fr_seq_free(m);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory (%zu parameters, %zu bytes of activations)",
                       total, bytes);
    }
    memset(m->block, 0, bytes);
    carve(m, m->block);
    if (!forward_only) {
        m->grads = m->params + total;
        m->adam_m = m->grads + total;
        m->adam_v = m->adam_m + total;
    }
    for (int i = 0; i < cfg->n_items; i++) m->a.item_slot[i] = -1;
    *out = m;
    return FR_OK;
}

fr_status fr_seq_create(const fr_seq_config *cfg, int max_batch, int max_neg, fr_seq_model **out, char *err,
                        size_t errcap) {
    return create(cfg, max_batch, max_neg, 0, out, err, errcap);
}

fr_status fr_seq_create_forward(const fr_seq_config *cfg, int max_batch, fr_seq_model **out, char *err, size_t errcap) {
    return create(cfg, max_batch, 0, 1, out, err, errcap);
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers: a counter hash (splitmix64's finaliser), so that a value depends only on its
 * (seed, stream, index) and never on the order in which threads draw. */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t hash3(uint64_t seed, uint64_t stream, uint64_t i) {
    return mix64(seed ^ mix64(stream * 0x9e3779b97f4a7c15ULL ^ mix64(i + 0x632be59bd9b4e019ULL)));
}

/* uniform in (0, 1): 53 bits, never 0 (Box-Muller takes its log) */
static inline double unit_open(uint64_t h) { return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

void fr_seq_init_params(fr_seq_model *m, uint64_t seed) {
    for (int t = 0; t < FR_SEQ_NTENSORS; t++) {
        float *p = m->params + m->layout[t].offset;
        const size_t n = m->layout[t].count;
        const int is_gain = t == FR_SEQ_LN1W || t == FR_SEQ_LN2W || t == FR_SEQ_LNFW;
        const int is_bias = t == FR_SEQ_BP || t == FR_SEQ_LN1B || t == FR_SEQ_QKVB || t == FR_SEQ_ATTPROJB ||
                            t == FR_SEQ_LN2B || t == FR_SEQ_FCB || t == FR_SEQ_FCPROJB || t == FR_SEQ_LNFB;
        for (size_t i = 0; i < n; i++) {
            if (is_gain) p[i] = 1.0f;
            else if (is_bias) p[i] = 0.0f;
            else {
                const double u1 = unit_open(hash3(seed, (uint64_t)t, 2 * i));
                const double u2 = unit_open(hash3(seed, (uint64_t)t, 2 * i + 1));
                p[i] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
            }
        }
    }
    if (m->grads) memset(m->grads, 0, 3 * m->nparams * sizeof(float)); /* grads and AdamW state */
    m->adam_t = 0;
}

void fr_seq_zero_grad(fr_seq_model *m) {
    if (m->grads) memset(m->grads, 0, m->nparams * sizeof(float));
}

/* ---------------------------------------------------------------------------------------------
 * Layers. `rows` lists the nrows rows (of B*T) a row-wise layer runs on; other rows are not
 * touched. Backward functions overwrite their input gradient (dinp) unless they say "adds", and
 * always add into parameter gradients. */

/* The one dot product every layer uses. The simd reduction lets the compiler split the sum into
 * vector lanes (a plain float loop may not be reordered, and runs one multiply-add at a time);
 * the split is fixed at compile time, so the result is still the same whatever the threads, and
 * the loss backward's recomputed logits equal the forward's. */
static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ \
                           : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Item vectors. V (U, C) = E[uniq] + text[uniq] Wp^T + bp; E (N, C), text (N, Dt), Wp (C, Dt),
 * bp (C), uniq (U). */
static void item_vectors_forward(float *V, const int32_t *uniq, int U, const float *E, const float *text,
                                 const float *Wp, const float *bp, int C, int Dt) {
#pragma omp parallel for schedule(static) if ((size_t)U * C * Dt >= SEQ_PAR_WORK)
    for (int u = 0; u < U; u++) {
        const float *e = E + (size_t)uniq[u] * C, *t = text + (size_t)uniq[u] * Dt;
        float *v = V + (size_t)u * C;
        for (int o = 0; o < C; o++) {
            const float *w = Wp + (size_t)o * Dt;
            v[o] = e[o] + dot(w, t, Dt) + bp[o];
        }
    }
}

/* dV (U, C) -> adds dE[uniq] (N, C), dWp (C, Dt), dbp (C); text (N, Dt). */
static void item_vectors_backward(float *dE, float *dWp, float *dbp, const float *dV, const int32_t *uniq, int U,
                                  const float *text, int C, int Dt) {
    for (int u = 0; u < U; u++) {
        const float *dv = dV + (size_t)u * C;
        float *de = dE + (size_t)uniq[u] * C;
        for (int o = 0; o < C; o++) de[o] += dv[o];
    }
#pragma omp parallel for schedule(static) if ((size_t)U * C * Dt >= SEQ_PAR_WORK)
    for (int o = 0; o < C; o++) {
        float *dw = dWp + (size_t)o * Dt;
        double db = 0.0;
        for (int u = 0; u < U; u++) {
            const float g = dV[(size_t)u * C + o];
            if (g == 0.0f) continue;
            const float *t = text + (size_t)uniq[u] * Dt;
            for (int i = 0; i < Dt; i++) dw[i] += g * t[i];
            db += g;
        }
        dbp[o] += (float)db;
    }
}

/* Input embedding. x (BT, C) = V[row_slot[r]] + pos[r % T] on the listed rows; V (U, C),
 * pos (T, C). */
static void embed_forward(float *x, const float *V, const int32_t *row_slot, const float *pos, const int32_t *rows,
                          int nrows, int T, int C) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * C >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const int r = rows[k];
        const float *v = V + (size_t)row_slot[r] * C, *p = pos + (size_t)(r % T) * C;
        float *o = x + (size_t)r * C;
        for (int c = 0; c < C; c++) o[c] = v[c] + p[c];
    }
}

/* dx (BT, C) -> adds dV (U, C) and dpos (T, C). */
static void embed_backward(float *dV, float *dpos, const float *dx, const int32_t *row_slot, const int32_t *rows,
                           int nrows, int T, int C) {
    for (int k = 0; k < nrows; k++) {
        const int r = rows[k];
        const float *g = dx + (size_t)r * C;
        float *dv = dV + (size_t)row_slot[r] * C, *dp = dpos + (size_t)(r % T) * C;
        for (int c = 0; c < C; c++) {
            dv[c] += g[c];
            dp[c] += g[c];
        }
    }
}

/* Inverted dropout in place on x (BT, C), listed rows: element (r, c) is zeroed when its hash
 * falls under p, else scaled by 1/(1-p). Its backward is the same call on the gradient (same seed
 * and site give the same mask). */
static void dropout_apply(float *x, const int32_t *rows, int nrows, int C, float p, uint64_t seed, int site) {
    if (p <= 0.0f) return;
    const uint64_t thresh = (uint64_t)((double)p * 16777216.0); /* p in 24-bit fixed point */
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if ((size_t)nrows * C * 8 >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k];
        float *o = x + r * C;
        for (int c = 0; c < C; c++) {
            const uint64_t h = hash3(seed, (uint64_t)site, r * (size_t)C + (size_t)c) >> 40;
            o[c] = h < thresh ? 0.0f : o[c] * scale;
        }
    }
}

/* LayerNorm. out (BT, C) = (inp - mean) * rstd * w + b per listed row; mean, rstd (BT) kept for
 * the backward; w, b (C). */
static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                              const float *b, const int32_t *rows, int nrows, int C) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * C * 4 >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const int r = rows[k];
        const float *x = inp + (size_t)r * C;
        double s = 0.0, v = 0.0;
        for (int c = 0; c < C; c++) s += x[c];
        const double mu = s / C;
        for (int c = 0; c < C; c++) v += (x[c] - mu) * (x[c] - mu);
        const float rs = (float)(1.0 / sqrt(v / C + (double)FR_SEQ_LN_EPS));
        const float m = (float)mu;
        float *o = out + (size_t)r * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * rs * w[c] + b[c];
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* dout (BT, C) -> adds dinp (BT, C), dw, db (C); inp, mean, rstd as in the forward. Adds into dinp
 * because the LayerNorm input is the residual stream, whose gradient arrives from two paths. */
static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                               const float *w, const float *mean, const float *rstd, const int32_t *rows,
                               int nrows, int C) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * C * 4 >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const int r = rows[k];
        const float *g = dout + (size_t)r * C, *x = inp + (size_t)r * C;
        const float m = mean[r], rs = rstd[r];
        double sg = 0.0, sgx = 0.0; /* mean of g*w and of g*w*xhat */
        for (int c = 0; c < C; c++) {
            const float xh = (x[c] - m) * rs;
            sg += g[c] * w[c];
            sgx += g[c] * w[c] * xh;
        }
        const float mg = (float)(sg / C), mgx = (float)(sgx / C);
        float *di = dinp + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            const float xh = (x[c] - m) * rs;
            di[c] += rs * (g[c] * w[c] - mg - xh * mgx);
        }
    }
    /* parameter sums column by column, rows in order (see the file comment) */
#pragma omp parallel for schedule(static) if ((size_t)nrows * C * 2 >= SEQ_PAR_WORK)
    for (int c = 0; c < C; c++) {
        double sw = 0.0, sb = 0.0;
        for (int k = 0; k < nrows; k++) {
            const int r = rows[k];
            const float g = dout[(size_t)r * C + c];
            sw += g * ((inp[(size_t)r * C + c] - mean[r]) * rstd[r]);
            sb += g;
        }
        dw[c] += (float)sw;
        db[c] += (float)sb;
    }
}

/* Linear. out (BT, OC) = inp (BT, IC) W^T + bias on the listed rows; W (OC, IC), bias (OC). */
static void matmul_forward(float *out, const float *inp, const float *W, const float *bias, const int32_t *rows,
                           int nrows, int IC, int OC) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * IC * OC >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k];
        const float *x = inp + r * IC;
        float *o = out + r * OC;
        for (int j = 0; j < OC; j++) {
            const float *w = W + (size_t)j * IC;
            o[j] = dot(w, x, IC) + bias[j];
        }
    }
}

/* dout (BT, OC) -> dinp (BT, IC) (overwritten), adds dW (OC, IC), dbias (OC). */
static void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                            const float *W, const int32_t *rows, int nrows, int IC, int OC) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * IC * OC >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k];
        const float *g = dout + r * OC;
        float *di = dinp + r * IC;
        for (int i = 0; i < IC; i++) di[i] = 0.0f;
        for (int j = 0; j < OC; j++) {
            const float *w = W + (size_t)j * IC;
            const float gj = g[j];
            for (int i = 0; i < IC; i++) di[i] += gj * w[i];
        }
    }
#pragma omp parallel for schedule(static) if ((size_t)nrows * IC * OC >= SEQ_PAR_WORK)
    for (int j = 0; j < OC; j++) {
        float *dw = dW + (size_t)j * IC;
        double sb = 0.0;
        for (int k = 0; k < nrows; k++) {
            const size_t r = (size_t)rows[k];
            const float gj = dout[r * OC + j];
            const float *x = inp + r * IC;
            for (int i = 0; i < IC; i++) dw[i] += gj * x[i];
            sb += gj;
        }
        dbias[j] += (float)sb;
    }
}

/* Causal self-attention. qkv (BT, 3C) holds Q | K | V per row; out (BT, C) (rows of padded
 * positions untouched); att (B, NH, T, T) gets the probabilities (0 where masked); items (BT)
 * marks padding. Query t of sequence b attends keys s <= t that are not padded. */
static void attention_forward(float *out, float *att, const float *qkv, const int32_t *items, int B, int T, int C,
                              int NH) {
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * T * T * C >= SEQ_PAR_WORK)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t rq = (size_t)b * T + t;
            if (items[rq] < 0) continue;
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + rq * 3 * C + (size_t)h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float mx = -INFINITY;
                for (int s = 0; s < T; s++) {
                    a[s] = 0.0f;
                    if (s > t || items[(size_t)b * T + s] < 0) continue;
                    const float *kk = qkv + ((size_t)b * T + s) * 3 * C + C + (size_t)h * hs;
                    a[s] = dot(q, kk, hs) * scale;
                    if (a[s] > mx) mx = a[s];
                }
                double z = 0.0;
                for (int s = 0; s <= t; s++)
                    if (items[(size_t)b * T + s] >= 0) {
                        a[s] = expf(a[s] - mx);
                        z += a[s];
                    }
                const float iz = (float)(1.0 / z); /* z >= 1: the query attends itself */
                float *o = out + rq * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int s = 0; s <= t; s++) {
                    if (items[(size_t)b * T + s] < 0) continue;
                    a[s] *= iz;
                    const float *v = qkv + ((size_t)b * T + s) * 3 * C + 2 * C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) o[i] += a[s] * v[i];
                }
            }
        }
}

/* dout (BT, C) -> dqkv (BT, 3C) (overwritten on non-padded rows); qkv, att, items as in the
 * forward; datt (B, NH, T) scratch. Parallel over (sequence, head): a query's gradient reaches
 * the keys and values of its own sequence and head only. */
static void attention_backward(float *dqkv, float *datt_all, const float *dout, const float *qkv, const float *att,
                               const int32_t *items, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static) if ((size_t)B * T * C >= SEQ_PAR_WORK)
    for (int r = 0; r < B * T; r++)
        if (items[r] >= 0) memset(dqkv + (size_t)r * 3 * C, 0, 3 * (size_t)C * sizeof(float));
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * T * T * C >= SEQ_PAR_WORK)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            float *datt = datt_all + ((size_t)b * NH + h) * T;
            for (int t = 0; t < T; t++) {
                const size_t rq = (size_t)b * T + t;
                if (items[rq] < 0) continue;
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *g = dout + rq * C + (size_t)h * hs;
                const float *q = qkv + rq * 3 * C + (size_t)h * hs;
                float *dq = dqkv + rq * 3 * C + (size_t)h * hs;
                /* through the weighted sum: d att and d V */
                double shift = 0.0; /* sum_s a_s datt_s, the softmax backward's shift */
                for (int s = 0; s <= t; s++) {
                    datt[s] = 0.0f;
                    if (a[s] == 0.0f) continue; /* masked (or underflowed: its gradient is 0 too) */
                    const size_t rk = (size_t)b * T + s;
                    const float *v = qkv + rk * 3 * C + 2 * C + (size_t)h * hs;
                    float *dv = dqkv + rk * 3 * C + 2 * C + (size_t)h * hs;
                    float d = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        d += g[i] * v[i];
                        dv[i] += a[s] * g[i];
                    }
                    datt[s] = d;
                    shift += (double)a[s] * d;
                }
                /* through the softmax and the scaled dot products: d Q and d K */
                for (int s = 0; s <= t; s++) {
                    if (a[s] == 0.0f) continue;
                    const float ds = a[s] * (datt[s] - (float)shift) * scale;
                    const size_t rk = (size_t)b * T + s;
                    const float *kk = qkv + rk * 3 * C + C + (size_t)h * hs;
                    float *dk = dqkv + rk * 3 * C + C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * kk[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
}

/* Exact GELU: out = x * Phi(x), Phi the standard normal CDF; inp, out (BT, F), listed rows. */
static void gelu_forward(float *out, const float *inp, const int32_t *rows, int nrows, int F) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * F * 8 >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k];
        const float *x = inp + r * F;
        float *o = out + r * F;
        for (int i = 0; i < F; i++) o[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
    }
}

/* dout (BT, F) -> dinp (BT, F) (may be the same buffer): d/dx x Phi(x) = Phi(x) + x phi(x). */
static void gelu_backward(float *dinp, const float *dout, const float *inp, const int32_t *rows, int nrows, int F) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for schedule(static) if ((size_t)nrows * F * 8 >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k];
        const float *x = inp + r * F, *g = dout + r * F;
        float *di = dinp + r * F;
        for (int i = 0; i < F; i++) {
            const float cdf = 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
            const float pdf = inv_sqrt_2pi * expf(-0.5f * x[i] * x[i]);
            di[i] = g[i] * (cdf + x[i] * pdf);
        }
    }
}

/* Residual. out (BT, C) = a + b on the listed rows (its backward is the identity on both). */
static void residual_forward(float *out, const float *a, const float *b, const int32_t *rows, int nrows, int C) {
#pragma omp parallel for schedule(static) if ((size_t)nrows * C >= SEQ_PAR_WORK)
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k] * C;
        for (int c = 0; c < C; c++) out[r + c] = a[r + c] + b[r + c];
    }
}

/* Copies the listed rows of src (BT, C) into dst. */
static void copy_rows(float *dst, const float *src, const int32_t *rows, int nrows, int C) {
    for (int k = 0; k < nrows; k++) {
        const size_t r = (size_t)rows[k] * C;
        memcpy(dst + r, src + r, (size_t)C * sizeof(float));
    }
}

/* Sampled softmax, in chunks of LOSS_CHUNK loss positions. The candidates' vectors are first
 * gathered transposed, Vt (C, ncand), so that one position's logits are C vector passes over a
 * contiguous row (no per-candidate horizontal sum, no indirection). A chunk's logits (or, in the
 * backward, its logit gradients) live in G (LOSS_CHUNK, ncand): positions of a chunk run in
 * parallel, and the backward then adds the chunk into dVt in parallel over candidates, positions
 * in order, so the sums do not depend on the thread count and no (positions x candidates) matrix
 * is ever held (6,400 x 7,400 floats at the default training size). */

/* Vt (C, ncand) = V[cand_slot]^T; V (U, C). */
static void gather_candidates_t(float *Vt, const float *V, const int32_t *cand_slot, int ncand, int C) {
#pragma omp parallel for schedule(static) if ((size_t)ncand * C >= SEQ_PAR_WORK)
    for (int c = 0; c < C; c++)
        for (int j = 0; j < ncand; j++) Vt[(size_t)c * ncand + j] = V[(size_t)cand_slot[j] * C + c];
}

/* One position's logits l (ncand) = u (C) . Vt (C, ncand), with the candidates that repeat its
 * target y at j != i masked to -inf (the rule in seqmodel.h). The forward and the backward both
 * call this, so the backward's recomputed logits are the forward's to the bit. */
static void position_logits(float *restrict l, const float *restrict u, const float *restrict Vt, int ncand, int C,
                            const int32_t *cand_item, int i, int32_t y) {
    for (int j = 0; j < ncand; j++) l[j] = 0.0f;
    for (int c = 0; c < C; c++) {
        const float uc = u[c];
        const float *restrict v = Vt + (size_t)c * ncand;
#pragma omp simd
        for (int j = 0; j < ncand; j++) l[j] += uc * v[j];
    }
    for (int j = 0; j < ncand; j++)
        if (cand_item[j] == y && j != i) l[j] = -INFINITY;
}

/* u (BT, C) states; the n loss rows loss_rows (n), whose candidate i is their target; Vt (C, ncand)
 * from gather_candidates_t; cand_item (ncand). Keeps lse (BT), the log-sum-exp per loss row;
 * G (LOSS_CHUNK, ncand) and rowloss (n) are scratch. Returns the mean cross-entropy. */
static double loss_forward(float *lse, float *G, float *rowloss, const float *u, const float *Vt,
                           const int32_t *loss_rows, int n, const int32_t *cand_item, int ncand, int C) {
    for (int c0 = 0; c0 < n; c0 += LOSS_CHUNK) {
        const int c1 = c0 + LOSS_CHUNK < n ? c0 + LOSS_CHUNK : n;
#pragma omp parallel for schedule(static) if ((size_t)(c1 - c0) * ncand * C >= SEQ_PAR_WORK)
        for (int i = c0; i < c1; i++) {
            const size_t r = (size_t)loss_rows[i];
            float *l = G + (size_t)(i - c0) * ncand;
            position_logits(l, u + r * C, Vt, ncand, C, cand_item, i, cand_item[i]);
            float mx = -INFINITY;
            for (int j = 0; j < ncand; j++) mx = l[j] > mx ? l[j] : mx;
            double z = 0.0;
            for (int j = 0; j < ncand; j++) z += expf(l[j] - mx);
            const double lz = mx + log(z);
            lse[r] = (float)lz;
            rowloss[i] = (float)(lz - l[i]);
        }
    }
    double total = 0.0;
    for (int i = 0; i < n; i++) total += rowloss[i];
    return n ? total / n : 0.0;
}

/* d loss (1) -> du (BT, C) (overwritten on the loss rows) and dVt (C, ncand) (overwritten);
 * u, Vt, lse, loss_rows, cand_item as in the forward; G (LOSS_CHUNK, ncand) scratch. */
static void loss_backward(float *du, float *dVt, float *G, const float *u, const float *Vt, const float *lse,
                          const int32_t *loss_rows, int n, const int32_t *cand_item, int ncand, int C) {
    const float inv_n = 1.0f / (float)n;
    memset(dVt, 0, (size_t)C * ncand * sizeof(float));
    for (int c0 = 0; c0 < n; c0 += LOSS_CHUNK) {
        const int c1 = c0 + LOSS_CHUNK < n ? c0 + LOSS_CHUNK : n;
#pragma omp parallel for schedule(static) if ((size_t)(c1 - c0) * ncand * C >= SEQ_PAR_WORK)
        for (int i = c0; i < c1; i++) {
            const size_t r = (size_t)loss_rows[i];
            float *g = G + (size_t)(i - c0) * ncand;
            position_logits(g, u + r * C, Vt, ncand, C, cand_item, i, cand_item[i]);
            const float lz = lse[r];
#pragma omp simd
            for (int j = 0; j < ncand; j++) g[j] = expf(g[j] - lz) * inv_n; /* masked: exp(-inf) = 0 */
            g[i] -= inv_n;
            float *dur = du + r * C;
            for (int c = 0; c < C; c++) dur[c] = dot(Vt + (size_t)c * ncand, g, ncand);
        }
        /* dVt[c][j] += sum over the chunk's positions, in order, of g_i[j] u_i[c] */
#pragma omp parallel for schedule(static) if ((size_t)(c1 - c0) * ncand * C >= SEQ_PAR_WORK)
        for (int j0 = 0; j0 < ncand; j0 += 256) {
            const int j1 = j0 + 256 < ncand ? j0 + 256 : ncand;
            for (int i = c0; i < c1; i++) {
                const float *g = G + (size_t)(i - c0) * ncand, *ui = u + (size_t)loss_rows[i] * C;
                for (int c = 0; c < C; c++) {
                    const float uc = ui[c];
                    float *restrict dv = dVt + (size_t)c * ncand;
#pragma omp simd
                    for (int j = j0; j < j1; j++) dv[j] += g[j] * uc;
                }
            }
        }
    }
}

/* dVt (C, ncand) -> adds dV[cand_slot] (U, C); candidates in order (several may share a slot). */
static void scatter_candidates_t(float *dV, const float *dVt, const int32_t *cand_slot, int ncand, int C) {
    for (int j = 0; j < ncand; j++) {
        float *dv = dV + (size_t)cand_slot[j] * C;
        for (int c = 0; c < C; c++) dv[c] += dVt[(size_t)c * ncand + j];
    }
}

/* ---------------------------------------------------------------------------------------------
 * The whole model */

/* Pointers to one block's tensors inside a flat array (parameters or gradients). */
typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} seq_block;

static seq_block block_of(const fr_seq_model *m, float *base, int l) {
    const size_t C = (size_t)m->cfg.d, F = (size_t)m->cfg.d_ff;
    const fr_seq_tensor *t = m->layout;
    seq_block k = {base + t[FR_SEQ_LN1W].offset + l * C, base + t[FR_SEQ_LN1B].offset + l * C,
                   base + t[FR_SEQ_QKVW].offset + l * 3 * C * C, base + t[FR_SEQ_QKVB].offset + l * 3 * C,
                   base + t[FR_SEQ_ATTPROJW].offset + l * C * C, base + t[FR_SEQ_ATTPROJB].offset + l * C,
                   base + t[FR_SEQ_LN2W].offset + l * C, base + t[FR_SEQ_LN2B].offset + l * C,
                   base + t[FR_SEQ_FCW].offset + l * F * C, base + t[FR_SEQ_FCB].offset + l * F,
                   base + t[FR_SEQ_FCPROJW].offset + l * C * F, base + t[FR_SEQ_FCPROJB].offset + l * C};
    return k;
}

/* Gives item its row of V (first-seen order). */
static inline int32_t slot_of(seq_acts *a, int *nuniq, int32_t item) {
    if (a->item_slot[item] < 0) {
        a->item_slot[item] = *nuniq;
        a->uniq[(*nuniq)++] = item;
    }
    return a->item_slot[item];
}

fr_status fr_seq_forward(fr_seq_model *m, const fr_seq_batch *b, float *loss, char *err, size_t errcap) {
    const fr_seq_config *cf = &m->cfg;
    const int T = cf->max_len, C = cf->d, L = cf->n_layers, NH = cf->n_heads, F = cf->d_ff, N = cf->n_items;
    seq_acts *a = &m->a;
    m->have_step = 0;
    *loss = 0.0f;
    /* check everything before touching any state */
    if (!b || !b->items || !b->text) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: batch without items or text");
    if (b->B < 1 || b->B > m->max_batch)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: batch of %d sequences (1..%d)", b->B, m->max_batch);
    const int n_neg = b->targets ? b->n_neg : 0;
    if (n_neg < 0 || n_neg > m->max_neg || (n_neg && !b->negatives))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: %d negatives (0..%d)", b->n_neg, m->max_neg);
    const int BT = b->B * T;
    for (int r = 0; r < BT; r++) {
        const int32_t it = b->items[r], y = b->targets ? b->targets[r] : -1;
        if (it < FR_SEQ_PAD || it >= N)
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: item %d at sequence %d position %d is not in 0..%d or %d",
                           (int)it, r / T, r % T, N - 1, FR_SEQ_PAD);
        if (y < -1 || y >= N || (y >= 0 && it < 0))
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: target %d at sequence %d position %d is %s", (int)y,
                           r / T, r % T, y >= 0 && it < 0 ? "on a padded position" : "out of range");
    }
    for (int j = 0; j < n_neg; j++)
        if (b->negatives[j] < 0 || b->negatives[j] >= N)
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: negative %d is item %d, not in 0..%d", j,
                           (int)b->negatives[j], N - 1);

    /* the step's bookkeeping: rows, loss rows, candidates, distinct items */
    memcpy(a->items, b->items, (size_t)BT * sizeof(int32_t));
    for (int r = 0; r < BT; r++) a->targets[r] = b->targets ? b->targets[r] : -1;
    int nrows = 0, nloss = 0, nuniq = 0;
    for (int r = 0; r < BT; r++) {
        if (a->items[r] < 0) continue;
        a->rows[nrows++] = r;
        a->row_slot[r] = slot_of(a, &nuniq, a->items[r]);
    }
    for (int r = 0; r < BT; r++)
        if (a->targets[r] >= 0) {
            a->cand_item[nloss] = a->targets[r];
            a->cand_slot[nloss] = slot_of(a, &nuniq, a->targets[r]);
            a->loss_rows[nloss++] = r;
        }
    for (int j = 0; j < n_neg; j++) {
        a->cand_item[nloss + j] = b->negatives[j];
        a->cand_slot[nloss + j] = slot_of(a, &nuniq, b->negatives[j]);
    }
    for (int u = 0; u < nuniq; u++) a->item_slot[a->uniq[u]] = -1; /* ready for the next batch */
    m->B = b->B;
    m->nrows = nrows;
    m->nloss = nloss;
    m->ncand = nloss + n_neg;
    m->nuniq = nuniq;
    m->text = b->text;
    m->train = b->train && cf->dropout > 0.0f;
    m->seed = b->dropout_seed;
    const float p = m->train ? cf->dropout : 0.0f;
    const fr_seq_tensor *lay = m->layout;
    float *P = m->params;
    const size_t BTC = (size_t)BT * C;

    item_vectors_forward(a->V, a->uniq, nuniq, P + lay[FR_SEQ_E].offset, b->text, P + lay[FR_SEQ_WP].offset,
                         P + lay[FR_SEQ_BP].offset, C, cf->d_text);
    embed_forward(a->resid, a->V, a->row_slot, P + lay[FR_SEQ_POS].offset, a->rows, nrows, T, C);
    dropout_apply(a->resid, a->rows, nrows, C, p, m->seed, 0);
    for (int l = 0; l < L; l++) {
        const seq_block w = block_of(m, P, l);
        const float *x = a->resid + (size_t)l * BTC;
        float *ln1 = a->ln1 + (size_t)l * BTC, *qkv = a->qkv + (size_t)l * BTC * 3, *atty = a->atty + (size_t)l * BTC;
        float *h = a->h + (size_t)l * BTC, *ln2 = a->ln2 + (size_t)l * BTC;
        float *fch = a->fch + (size_t)l * BT * F, *fcg = a->fch_gelu + (size_t)l * BT * F;
        float *att = a->att + (size_t)l * b->B * NH * T * T;
        layernorm_forward(ln1, a->ln1_mean + (size_t)l * BT, a->ln1_rstd + (size_t)l * BT, x, w.ln1w, w.ln1b, a->rows,
                          nrows, C);
        matmul_forward(qkv, ln1, w.qkvw, w.qkvb, a->rows, nrows, C, 3 * C);
        attention_forward(atty, att, qkv, a->items, b->B, T, C, NH);
        matmul_forward(a->branch, atty, w.attprojw, w.attprojb, a->rows, nrows, C, C);
        dropout_apply(a->branch, a->rows, nrows, C, p, m->seed, 1 + 2 * l);
        residual_forward(h, x, a->branch, a->rows, nrows, C);
        layernorm_forward(ln2, a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT, h, w.ln2w, w.ln2b, a->rows,
                          nrows, C);
        matmul_forward(fch, ln2, w.fcw, w.fcb, a->rows, nrows, C, F);
        gelu_forward(fcg, fch, a->rows, nrows, F);
        matmul_forward(a->branch, fcg, w.fcprojw, w.fcprojb, a->rows, nrows, F, C);
        dropout_apply(a->branch, a->rows, nrows, C, p, m->seed, 2 + 2 * l);
        residual_forward(a->resid + (size_t)(l + 1) * BTC, h, a->branch, a->rows, nrows, C);
    }
    memset(a->lnf, 0, BTC * sizeof(float)); /* padded positions' states are 0 */
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->resid + (size_t)L * BTC, P + lay[FR_SEQ_LNFW].offset,
                      P + lay[FR_SEQ_LNFB].offset, a->rows, nrows, C);
    if (!b->targets) return FR_OK;
    gather_candidates_t(a->Vt, a->V, a->cand_slot, m->ncand, C);
    *loss = (float)loss_forward(a->lse, a->G, a->rowloss, a->lnf, a->Vt, a->loss_rows, nloss, a->cand_item, m->ncand, C);
    m->have_step = 1;
    return FR_OK;
}

fr_status fr_seq_backward(fr_seq_model *m, char *err, size_t errcap) {
    if (m->forward_only) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: backward on a forward-only model");
    if (!m->have_step)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: backward without a forward with targets");
    const fr_seq_config *cf = &m->cfg;
    const int T = cf->max_len, C = cf->d, L = cf->n_layers, NH = cf->n_heads, F = cf->d_ff, B = m->B;
    const int BT = B * T, nrows = m->nrows;
    if (m->nloss == 0) return FR_OK; /* the loss is the constant 0 */
    seq_acts *a = &m->a;
    const fr_seq_tensor *lay = m->layout;
    float *P = m->params, *G = m->grads;
    const size_t BTC = (size_t)BT * C;
    const float p = m->train ? cf->dropout : 0.0f;

    memset(a->dV, 0, (size_t)m->nuniq * C * sizeof(float));
    memset(a->dln, 0, BTC * sizeof(float)); /* rows without a loss get no state gradient */
    loss_backward(a->dln, a->dVt, a->G, a->lnf, a->Vt, a->lse, a->loss_rows, m->nloss, a->cand_item, m->ncand, C);
    scatter_candidates_t(a->dV, a->dVt, a->cand_slot, m->ncand, C);
    memset(a->dstream, 0, BTC * sizeof(float));
    layernorm_backward(a->dstream, G + lay[FR_SEQ_LNFW].offset, G + lay[FR_SEQ_LNFB].offset, a->dln,
                       a->resid + (size_t)L * BTC, P + lay[FR_SEQ_LNFW].offset, a->lnf_mean, a->lnf_rstd, a->rows,
                       nrows, C);
    for (int l = L - 1; l >= 0; l--) {
        const seq_block w = block_of(m, P, l), g = block_of(m, G, l);
        const float *x = a->resid + (size_t)l * BTC;
        const float *ln1 = a->ln1 + (size_t)l * BTC, *qkv = a->qkv + (size_t)l * BTC * 3;
        const float *atty = a->atty + (size_t)l * BTC, *h = a->h + (size_t)l * BTC, *ln2 = a->ln2 + (size_t)l * BTC;
        const float *fch = a->fch + (size_t)l * BT * F, *fcg = a->fch_gelu + (size_t)l * BT * F;
        const float *att = a->att + (size_t)l * B * NH * T * T;
        /* x' = h + drop(FFN(LN2(h))): the stream gradient passes to h unchanged, and into the branch */
        copy_rows(a->dbranch, a->dstream, a->rows, nrows, C);
        dropout_apply(a->dbranch, a->rows, nrows, C, p, m->seed, 2 + 2 * l);
        matmul_backward(a->dfch, g.fcprojw, g.fcprojb, a->dbranch, fcg, w.fcprojw, a->rows, nrows, F, C);
        gelu_backward(a->dfch, a->dfch, fch, a->rows, nrows, F);
        matmul_backward(a->dln, g.fcw, g.fcb, a->dfch, ln2, w.fcw, a->rows, nrows, C, F);
        layernorm_backward(a->dstream, g.ln2w, g.ln2b, a->dln, h, w.ln2w, a->ln2_mean + (size_t)l * BT,
                           a->ln2_rstd + (size_t)l * BT, a->rows, nrows, C);
        /* h = x + drop(Attn(LN1(x))) */
        copy_rows(a->dbranch, a->dstream, a->rows, nrows, C);
        dropout_apply(a->dbranch, a->rows, nrows, C, p, m->seed, 1 + 2 * l);
        matmul_backward(a->datty, g.attprojw, g.attprojb, a->dbranch, atty, w.attprojw, a->rows, nrows, C, C);
        attention_backward(a->dqkv, a->datt, a->datty, qkv, att, a->items, B, T, C, NH);
        matmul_backward(a->dln, g.qkvw, g.qkvb, a->dqkv, ln1, w.qkvw, a->rows, nrows, C, 3 * C);
        layernorm_backward(a->dstream, g.ln1w, g.ln1b, a->dln, x, w.ln1w, a->ln1_mean + (size_t)l * BT,
                           a->ln1_rstd + (size_t)l * BT, a->rows, nrows, C);
    }
    dropout_apply(a->dstream, a->rows, nrows, C, p, m->seed, 0);
    embed_backward(a->dV, G + lay[FR_SEQ_POS].offset, a->dstream, a->row_slot, a->rows, nrows, T, C);
    item_vectors_backward(G + lay[FR_SEQ_E].offset, G + lay[FR_SEQ_WP].offset, G + lay[FR_SEQ_BP].offset, a->dV,
                          a->uniq, m->nuniq, m->text, C, cf->d_text);
    return FR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * AdamW */

fr_status fr_seq_adamw_step(fr_seq_model *m, const fr_seq_adamw *o, float *grad_norm, char *err, size_t errcap) {
    if (m->forward_only) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: AdamW step on a forward-only model");
    if (!(o->lr >= 0.0f) || !(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f) ||
        !(o->eps > 0.0f) || !(o->weight_decay >= 0.0f) || !(o->max_grad_norm >= 0.0f))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: AdamW settings out of range");
    const size_t n = m->nparams;
    const float *g = m->grads;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    const double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    /* a NaN or Inf anywhere would silently poison every parameter it reaches: refuse the step */
    if (!isfinite(norm))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: gradient norm is %g at AdamW step %ld; parameters unchanged",
                       norm, m->adam_t + 1);
    /* torch.nn.utils.clip_grad_norm_'s rule, so the PyTorch twin clips identically */
    float clip = 1.0f;
    if (o->max_grad_norm > 0.0f) {
        const double c = o->max_grad_norm / (norm + 1e-6);
        if (c < 1.0) clip = (float)c;
    }
    m->adam_t++;
    const float bc1 = 1.0f - (float)pow(o->beta1, (double)m->adam_t);
    const float bc2 = 1.0f - (float)pow(o->beta2, (double)m->adam_t);
    const float decay = 1.0f - o->lr * o->weight_decay;
    float *p = m->params, *mm = m->adam_m, *vv = m->adam_v;
#pragma omp parallel for schedule(static) if (n >= SEQ_PAR_WORK)
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] * clip;
        mm[i] = o->beta1 * mm[i] + (1.0f - o->beta1) * gi;
        vv[i] = o->beta2 * vv[i] + (1.0f - o->beta2) * gi * gi;
        p[i] = p[i] * decay - o->lr * (mm[i] / bc1) / (sqrtf(vv[i] / bc2) + o->eps);
    }
    return FR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * One training epoch */

/* the CPU model's step, as an fr_seq_step_fn */
static fr_status cpu_step(void *ctx, const fr_seq_batch *b, const fr_seq_adamw *opt, float *loss, char *err,
                          size_t errcap) {
    fr_seq_model *m = ctx;
    fr_seq_zero_grad(m);
    fr_status rc = fr_seq_forward(m, b, loss, err, errcap);
    if (!rc) rc = fr_seq_backward(m, err, errcap);
    if (!rc) rc = fr_seq_adamw_step(m, opt, NULL, err, errcap);
    return rc;
}

fr_status fr_seq_train_epoch(fr_seq_model *m, const fr_seq_data *d, const float *text, const fr_seq_train_opts *o,
                             int epoch, fr_seq_epoch_stats *st, char *err, size_t errcap) {
    return fr_seq_train_epoch_with(cpu_step, m, &m->cfg, m->max_batch, m->max_neg, d, text, o, epoch, st, err, errcap);
}

fr_status fr_seq_train_epoch_with(fr_seq_step_fn step_fn, void *ctx, const fr_seq_config *cfg, int max_batch, int max_neg,
                                  const fr_seq_data *d, const float *text, const fr_seq_train_opts *o, int epoch,
                                  fr_seq_epoch_stats *st, char *err, size_t errcap) {
    memset(st, 0, sizeof *st);
    const int T = cfg->max_len, N = cfg->n_items;
    if (o->batch < 1 || o->batch > max_batch || o->n_neg < 0 || o->n_neg > max_neg)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: batch %d (1..%d) / negatives %d (0..%d)", o->batch,
                       max_batch, o->n_neg, max_neg);
    if (d->n_seq < 0 || !d->off || (d->n_seq && !d->items))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: no training sequences");
    /* the epoch's order and one batch of inputs: allocated per epoch, never per step */
    int32_t *order = malloc(((size_t)d->n_seq + 1) * sizeof *order);
    int32_t *buf = malloc((2 * (size_t)o->batch * T + (size_t)o->n_neg + 1) * sizeof *buf);
    if (!order || !buf) {
        free(order);
        free(buf);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "seqmodel: out of memory for an epoch of %d sequences", d->n_seq);
    }
    int n = 0;
    for (int s = 0; s < d->n_seq; s++)
        if (d->off[s + 1] - d->off[s] >= 2) order[n++] = s;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates from the counter hash */
        const int j = (int)(hash3(o->seed, 0x5eed0000ULL + (uint64_t)epoch, (uint64_t)i) % (uint64_t)(i + 1));
        const int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int32_t *items = buf, *targets = buf + (size_t)o->batch * T, *negs = targets + (size_t)o->batch * T;
    fr_status rc = FR_OK;
    double total = 0.0;
    for (int first = 0; first < n && !rc; first += o->batch) {
        const int B = n - first < o->batch ? n - first : o->batch;
        const uint64_t step = (uint64_t)st->steps, stream = ((uint64_t)epoch << 32) | step;
        for (int k = 0; k < B; k++) {
            const int s = order[first + k];
            const int64_t end = d->off[s + 1], len = end - d->off[s] - 1 < T ? end - d->off[s] - 1 : T;
            int32_t *in = items + (size_t)k * T, *tg = targets + (size_t)k * T;
            for (int t = 0; t < T - len; t++) in[t] = tg[t] = FR_SEQ_PAD;
            for (int64_t t = 0; t < len; t++) {
                in[T - len + t] = d->items[end - 1 - len + t];
                tg[T - len + t] = d->items[end - len + t];
            }
            st->positions += len;
        }
        for (int j = 0; j < o->n_neg; j++) negs[j] = (int32_t)(hash3(o->seed, stream, (uint64_t)j) % (uint64_t)N);
        const fr_seq_batch b = {.B = B, .items = items, .targets = targets, .negatives = negs, .n_neg = o->n_neg, .text = text, .train = 1, .dropout_seed = hash3(o->seed, stream, 0xd00dULL)};
        float loss = 0.0f;
        rc = step_fn(ctx, &b, &o->opt, &loss, err, errcap);
        if (rc) {
            char why[200];
            snprintf(why, sizeof why, "%s", err ? err : "");
            fr_fail(rc, err, errcap, "epoch %d step %ld (counted from 1): %s", epoch + 1, st->steps + 1, why);
            break;
        }
        total += loss;
        st->steps++;
        st->sequences += B;
        if (o->progress) o->progress(o->progress_ctx, st->steps, (n + o->batch - 1) / o->batch, loss);
    }
    st->mean_loss = st->steps ? total / st->steps : 0.0;
    free(order);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Optimiser state and serving */

float *fr_seq_adam_moments(fr_seq_model *m, int which) { return which ? m->adam_v : m->adam_m; }
long fr_seq_adam_steps(const fr_seq_model *m) { return m->adam_t; }
void fr_seq_set_adam_steps(fr_seq_model *m, long steps) { m->adam_t = steps; }

void fr_seq_item_vector(const fr_seq_model *m, int64_t row, const float *text_vec, float *out) {
    const int C = m->cfg.d, Dt = m->cfg.d_text;
    const float *P = m->params, *Wp = P + m->layout[FR_SEQ_WP].offset, *bp = P + m->layout[FR_SEQ_BP].offset;
    const float *e = row >= 0 && row < m->cfg.n_items ? P + m->layout[FR_SEQ_E].offset + (size_t)row * C : NULL;
    /* the same sum order as item_vectors_forward, so served and trained vectors agree bit for bit */
    for (int c = 0; c < C; c++) out[c] = (e ? e[c] : 0.0f) + dot(Wp + (size_t)c * Dt, text_vec, Dt) + bp[c];
}

fr_status fr_seq_user_state(fr_seq_model *m, const int32_t *hist, int n, const float *text, float *out, char *err,
                            size_t errcap) {
    const int T = m->cfg.max_len, C = m->cfg.d, N = m->cfg.n_items;
    int32_t *w = m->a.window;
    int k = T;
    for (int i = n - 1; i >= 0 && k > 0; i--) /* newest first, into the right end of the window */
        if (hist[i] >= 0 && hist[i] < N) w[--k] = hist[i];
    if (k == T) return fr_fail(FR_ERR_NOT_FOUND, err, errcap, "seqmodel: no history item is known to the model");
    for (int t = 0; t < k; t++) w[t] = FR_SEQ_PAD;
    const fr_seq_batch b = {.B = 1, .items = w, .text = text};
    float loss;
    fr_status rc = fr_seq_forward(m, &b, &loss, err, errcap);
    if (rc) return rc;
    memcpy(out, m->a.lnf + (size_t)(T - 1) * C, (size_t)C * sizeof(float));
    return FR_OK;
}

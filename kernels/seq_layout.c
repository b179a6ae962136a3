/* seq_layout.c - the sequential model's flat parameter layout (seqmodel_def.h): one definition for
 * the plain-C reference (src/seqmodel.c), the checkpoint reader and the CUDA trainer. */
#include "seqmodel_def.h"

fr_status fr_seq_layout(const fr_seq_config *c, fr_seq_tensor layout[FR_SEQ_NTENSORS], size_t *total,
                        char *err, size_t errcap) {
    if (!c) return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: no config");
    if (c->n_items < 1 || c->n_items > FR_SEQ_MAX_ITEMS)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: n_items %d out of range 1..%d", c->n_items, FR_SEQ_MAX_ITEMS);
    const int dims[] = {c->d, c->max_len, c->n_layers, c->n_heads, c->d_text, c->d_ff};
    const char *names[] = {"d", "max_len", "n_layers", "n_heads", "d_text", "d_ff"};
    for (int i = 0; i < 6; i++)
        if (dims[i] < 1 || dims[i] > FR_SEQ_MAX_DIM)
            return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: %s %d out of range 1..%d", names[i], dims[i], FR_SEQ_MAX_DIM);
    if (c->d % c->n_heads)
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: n_heads %d does not divide d %d", c->n_heads, c->d);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return fr_fail(FR_ERR_ARG, err, errcap, "seqmodel: dropout %g not in [0, 1)", (double)c->dropout);
    const size_t N = (size_t)c->n_items, C = (size_t)c->d, T = (size_t)c->max_len, L = (size_t)c->n_layers,
                 Dt = (size_t)c->d_text, F = (size_t)c->d_ff;
    static const char *tnames[FR_SEQ_NTENSORS] = {"E", "Wp", "bp", "pos", "ln1_w", "ln1_b", "qkv_w", "qkv_b",
                                                  "attproj_w", "attproj_b", "ln2_w", "ln2_b", "fc_w", "fc_b",
                                                  "fcproj_w", "fcproj_b", "lnf_w", "lnf_b"};
    const size_t counts[FR_SEQ_NTENSORS] = {N * C, C * Dt, C, T * C, L * C, L * C, L * 3 * C * C, L * 3 * C,
                                            L * C * C, L * C, L * C, L * C, L * F * C, L * F, L * C * F, L * C,
                                            C, C};
    size_t off = 0;
    for (int i = 0; i < FR_SEQ_NTENSORS; i++) {
        layout[i].name = tnames[i];
        layout[i].offset = off;
        layout[i].count = counts[i];
        off += counts[i];
    }
    *total = off;
    return FR_OK;
}

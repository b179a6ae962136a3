/* rank_batch.c - queries and unknown candidates' texts of a batch, embedded in two encoder passes
 * (two because the model may prefix queries and documents differently). */
#include "rank_batch.h"

#include <stdlib.h>
#include <string.h>

struct fr_batch_embed {
    const char **texts;
    size_t *lens;
    int *owner; /* per text: request index, candidate index (-1: the query) */
    fr_embed_info *info;
    float *vecs;
    size_t cap, vec_cap; /* texts, floats */
};

fr_status fr_batch_embed_create(fr_batch_embed **out, char *err, size_t errcap) {
    *out = calloc(1, sizeof **out);
    return *out ? FR_OK : fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
}

void fr_batch_embed_free(fr_batch_embed *b) {
    if (!b) return;
    free(b->texts);
    free(b->lens);
    free(b->owner);
    free(b->info);
    free(b->vecs);
    free(b);
}

static int reserve(fr_batch_embed *b, size_t n, size_t floats) {
    if (n > b->cap) {
        const char **t = realloc(b->texts, n * sizeof *t);
        if (t) b->texts = t;
        size_t *l = realloc(b->lens, n * sizeof *l);
        if (l) b->lens = l;
        int *o = realloc(b->owner, 2 * n * sizeof *o);
        if (o) b->owner = o;
        fr_embed_info *in = realloc(b->info, n * sizeof *in);
        if (in) b->info = in;
        if (!t || !l || !o || !in) return -1;
        b->cap = n;
    }
    if (floats > b->vec_cap) {
        float *v = realloc(b->vecs, floats * sizeof *v);
        if (!v) return -1;
        b->vecs = v;
        b->vec_cap = floats;
    }
    return 0;
}

fr_status fr_batch_embed_run(fr_batch_embed *b, fr_encoder *enc, const fr_store *store, fr_rank_request *const *reqs,
                             fr_candidate *const *cands, int n, int *query_truncated, char *err, size_t errcap) {
    const size_t D = (size_t)fr_encoder_dim(enc);
    size_t most = 0;
    for (int r = 0; r < n; r++) {
        most += reqs[r]->query && reqs[r]->query_len;
        for (int i = 0; i < reqs[r]->n_candidates; i++) {
            cands[r][i].vector = NULL;
            most += cands[r][i].text != NULL;
        }
        if (query_truncated) query_truncated[r] = 0;
    }
    if (!most) return FR_OK;
    if (reserve(b, most, most * D)) return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory for %zu texts", most);
    /* queries first, then documents: two passes, one per prefix */
    size_t nq = 0, nt = 0;
    for (int r = 0; r < n; r++)
        if (reqs[r]->query && reqs[r]->query_len) {
            b->texts[nq] = reqs[r]->query;
            b->lens[nq] = reqs[r]->query_len;
            b->owner[2 * nq] = r;
            b->owner[2 * nq++ + 1] = -1;
        }
    nt = nq;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < reqs[r]->n_candidates; i++) {
            const fr_candidate *c = &cands[r][i];
            if (!c->text || fr_store_find(store, c->id, c->id_len) >= 0) continue;
            b->texts[nt] = c->text;
            b->lens[nt] = c->text_len;
            b->owner[2 * nt] = r;
            b->owner[2 * nt++ + 1] = i;
        }
    fr_status rc;
    if (nq && (rc = fr_encoder_embed(enc, b->texts, b->lens, (int)nq, FR_TEXT_QUERY, b->vecs, b->info, err, errcap))) return rc;
    if (nt > nq && (rc = fr_encoder_embed(enc, b->texts + nq, b->lens + nq, (int)(nt - nq), FR_TEXT_DOCUMENT, b->vecs + nq * D, NULL, err, errcap)))
        return rc;
    for (size_t k = 0; k < nt; k++) {
        int r = b->owner[2 * k], i = b->owner[2 * k + 1];
        if (i < 0) {
            reqs[r]->query_vector = b->vecs + k * D;
            if (query_truncated) query_truncated[r] = b->info[k].truncated;
        } else {
            cands[r][i].vector = b->vecs + k * D;
        }
    }
    return FR_OK;
}

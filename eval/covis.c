/* covis.c - in-memory co-visitation for the A/B harness (see covis.h). */
#include "covis.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- co-visitation ---------------- */

struct fr_covis {
    int n_items;
    double *pop;
    int *off; /* CSR: neighbours of item a are nb[off[a] .. off[a+1]-1] */
    int *nb;
    float *w;
    float *acc; /* scratch: dense accumulator, all zero between calls */
    int *touched;
};

void fr_covis_free(fr_covis *c) {
    if (!c) return;
    free(c->pop);
    free(c->off);
    free(c->nb);
    free(c->w);
    free(c->acc);
    free(c->touched);
    free(c);
}

double fr_covis_popularity(const fr_covis *c, int item) { return c->pop[item]; }

typedef struct {
    uint64_t key;
    float w;
} pair_w;

static int cmp_pair(const void *a, const void *b) {
    uint64_t x = ((const pair_w *)a)->key, y = ((const pair_w *)b)->key;
    return (x > y) - (x < y);
}

fr_status fr_covis_build(const int *h_off, const int *h_items, int n_users, int n_items, const fr_covis_params *p,
                         fr_covis **out, char *err, size_t errcap) {
    *out = NULL;
    fr_covis_params dp = {3, 1.0, 0.0};
    if (!p) p = &dp;
    fr_covis *c = calloc(1, sizeof *c);
    pair_w *pairs = NULL;
    size_t np = 0, cap = 0;
    if (!c) return fr_fail(FR_ERR_NOMEM, err, errcap, "covis: out of memory");
    c->n_items = n_items;
    c->pop = calloc((size_t)n_items, sizeof(double));
    c->off = calloc((size_t)n_items + 1, sizeof(int));
    c->acc = calloc((size_t)n_items, sizeof(float));
    c->touched = malloc(sizeof(int) * (size_t)(n_items ? n_items : 1));
    if (!c->pop || !c->off || !c->acc || !c->touched) goto oom;
    for (int u = 0; u < n_users; u++)
        for (int i = h_off[u]; i < h_off[u + 1]; i++) c->pop[h_items[i]] += 1;
    for (int u = 0; u < n_users; u++) {
        int s = h_off[u], L = h_off[u + 1] - s;
        for (int i = 0; i < L; i++)
            for (int j = i + 1; j < L && j - i <= p->window; j++) {
                int a = h_items[s + i], b = h_items[s + j];
                if (a == b) continue;
                float w = (float)(pow(p->recency, L - 1 - j) / (j - i));
                if (np + 2 > cap) {
                    cap = cap ? cap * 2 : 1 << 16;
                    pair_w *q = realloc(pairs, sizeof *q * cap);
                    if (!q) goto oom;
                    pairs = q;
                }
                pairs[np++] = (pair_w){(uint64_t)a << 32 | (uint32_t)b, w};
                pairs[np++] = (pair_w){(uint64_t)b << 32 | (uint32_t)a, w};
            }
    }
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    size_t w = 0;
    for (size_t k = 0; k < np; k++) {
        if (w && pairs[w - 1].key == pairs[k].key) pairs[w - 1].w += pairs[k].w;
        else pairs[w++] = pairs[k];
    }
    c->nb = malloc(sizeof(int) * (w ? w : 1));
    c->w = malloc(sizeof(float) * (w ? w : 1));
    if (!c->nb || !c->w) goto oom;
    for (size_t k = 0; k < w; k++) {
        int a = (int)(pairs[k].key >> 32), b = (int)(uint32_t)pairs[k].key;
        c->off[a + 1]++;
        c->nb[k] = b;
        double norm = p->norm_power > 0 ? pow(c->pop[a] * c->pop[b], p->norm_power) : 1;
        c->w[k] = (float)(pairs[k].w / (norm > 0 ? norm : 1));
    }
    for (int a = 0; a < n_items; a++) c->off[a + 1] += c->off[a];
    free(pairs);
    *out = c;
    return FR_OK;
oom:
    free(pairs);
    fr_covis_free(c);
    return fr_fail(FR_ERR_NOMEM, err, errcap, "covis: out of memory");
}

void fr_covis_score(fr_covis *c, const int *hist, int len, double half_life, const int *cands, int n, float *scores) {
    /* c->acc is scratch, all zero between calls (so one fr_covis serves one thread at a time) */
    int nt = 0;
    for (int j = 0; j < len; j++) {
        float wj = (float)pow(0.5, (len - 1 - j) / half_life);
        int a = hist[j];
        for (int k = c->off[a]; k < c->off[a + 1]; k++) {
            int b = c->nb[k];
            if (c->acc[b] == 0) c->touched[nt++] = b;
            c->acc[b] += wj * c->w[k];
            if (c->acc[b] == 0) c->acc[b] = 1e-30f; /* keep it marked as touched */
        }
    }
    for (int k = 0; k < n; k++) scores[k] = c->acc[cands[k]];
    for (int k = 0; k < nt; k++) c->acc[c->touched[k]] = 0;
}

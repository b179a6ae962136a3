/* covis.h - item-to-item co-visitation counted in memory from interaction histories: the A/B
 * harness's untruncated `covis` baseline (evaluation only; the served signal is the log priors'
 * co-visitation, priors.h, which the harness ranks as `logcovis`). */
#ifndef FR_COVIS_H
#define FR_COVIS_H

#include <stddef.h>

#include "status.h"

typedef struct fr_covis fr_covis;

typedef struct {
    int window;        /* pairs at most this many positions apart (default 3) */
    double recency;    /* pair weight *= recency^(steps from the end of the history), default 1 */
    double norm_power; /* C(a,b) / (pop(a) pop(b))^power: 0 = raw counts (default 0) */
} fr_covis_params;

/* Builds popularity and co-visitation from n_users histories (h_items[h_off[u]..h_off[u+1]-1],
 * oldest first). */
fr_status fr_covis_build(const int *h_off, const int *h_items, int n_users, int n_items, const fr_covis_params *p,
                         fr_covis **out, char *err, size_t errcap);
void fr_covis_free(fr_covis *c);
/* How often item occurs in the log. */
double fr_covis_popularity(const fr_covis *c, int item);
/* scores[k] = sum_j w_j C(hist[j], cands[k]) with w_j = 0.5^((len-1-j)/half_life). Uses scratch
 * inside c: one thread at a time per fr_covis. */
void fr_covis_score(fr_covis *c, const int *hist, int len, double half_life, const int *cands, int n, float *scores);

#endif

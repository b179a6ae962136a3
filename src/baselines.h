/* baselines.h - rankers that need no model: Okapi BM25 over item texts, and popularity and
 * item-to-item co-visitation counted from interaction histories (the log). */
#ifndef FR_BASELINES_H
#define FR_BASELINES_H

#include <stddef.h>

#include "status.h"

/* ---- BM25 ----
 * Tokens: maximal runs of letters/digits (ASCII lower-cased; bytes >= 0x80 count as letters,
 * so UTF-8 words stay whole). idf = ln(1 + (N - df + 0.5) / (df + 0.5)). */
typedef struct fr_bm25 fr_bm25;
fr_status fr_bm25_build(const char *const *docs, int n, fr_bm25 **out, char *err, size_t errcap);
void fr_bm25_free(fr_bm25 *m);
/* Term ids of text (unknown terms dropped; repeats kept); returns the count written (<= cap). */
int fr_bm25_query(const fr_bm25 *m, const char *text, int *terms, int cap);
double fr_bm25_score(const fr_bm25 *m, const int *terms, int nterms, int doc, double k1, double b);
/* The same score for a text outside the corpus (its own length; the corpus's idf and mean length);
 * -1 when out of memory. */
double fr_bm25_score_text(const fr_bm25 *m, const int *terms, int nterms, const char *text, size_t len, double k1, double b);

/* ---- log signals ---- */
typedef struct fr_covis fr_covis;

typedef struct {
    int window;         /* pairs at most this many positions apart (default 3) */
    double recency;     /* pair weight *= recency^(steps from the end of the history), default 1 */
    double norm_power;  /* C(a,b) / (pop(a) pop(b))^power: 0 = raw counts (default 0) */
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

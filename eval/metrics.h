/* metrics.h - ranking metrics and their statistics for the A/B harness.
 * Orders sort by score, descending; ties are broken AGAINST relevance (the less relevant item
 * first), so a ranker gains nothing from giving everything the same score. */
#ifndef FR_METRICS_H
#define FR_METRICS_H

#include <stdint.h>

/* order[0..n) = candidate indices by score desc; ties: lower grade first, then higher index. */
void fr_rank_by_score(const float *scores, const float *grades, int n, int *order);

/* order[0..n) = candidate indices by score desc; ties keep candidate order (lower index first). */
void fr_rank_by_score_stable(const float *scores, int n, int *order);

/* NDCG@k with gain 2^(grade - grade_min) - 1; 0 when no candidate is relevant. */
double fr_ndcg(const int *order, const float *grades, int n, int k, float grade_min);
/* 1 / rank of the first candidate with grade > grade_min (0 if none). */
double fr_mrr(const int *order, const float *grades, int n, float grade_min);
/* 1 when a candidate with grade > grade_min is in the top k. */
double fr_hit(const int *order, const float *grades, int n, int k, float grade_min);

typedef struct {
    double mean, lo, hi;
} fr_interval;

/* Mean of x with a 95% percentile bootstrap interval (rounds resamples, deterministic in seed). */
fr_interval fr_bootstrap(const double *x, int n, int rounds, uint64_t seed);
/* Two-sided p-value of a paired test that mean(b - a) = 0 (paired t statistic, normal tail). */
double fr_paired_p(const double *a, const double *b, int n);

#include "hash.h" /* fr_uniform3 */

#endif

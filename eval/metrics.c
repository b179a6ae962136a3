#define _GNU_SOURCE /* qsort_r */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct {
    const float *s, *g;
} rank_ctx;

static int by_score(const void *a, const void *b, void *ctx) {
    const rank_ctx *c = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (c->s[i] != c->s[j]) return c->s[i] > c->s[j] ? -1 : 1;
    if (c->g[i] != c->g[j]) return c->g[i] < c->g[j] ? -1 : 1; /* ties against the relevant */
    return (i < j) - (i > j);                                  /* and against earlier items */
}

void fr_rank_by_score(const float *scores, const float *grades, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    rank_ctx c = {scores, grades};
    qsort_r(order, (size_t)n, sizeof *order, by_score, &c);
}

static int by_score_stable(const void *a, const void *b, void *ctx) {
    const float *s = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (s[i] != s[j]) return s[i] > s[j] ? -1 : 1;
    return (i > j) - (i < j);
}

void fr_rank_by_score_stable(const float *scores, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, by_score_stable, (void *)scores);
}

static int by_grade_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

double fr_ndcg(const int *order, const float *grades, int n, int k, float grade_min) {
    double dcg = 0, idcg = 0;
    float *ideal = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!ideal) return 0;
    for (int i = 0; i < n; i++) ideal[i] = grades[i];
    qsort(ideal, (size_t)n, sizeof *ideal, by_grade_desc);
    for (int i = 0; i < n && i < k; i++) {
        double disc = 1.0 / log2(i + 2.0);
        dcg += (exp2(grades[order[i]] - grade_min) - 1) * disc;
        idcg += (exp2(ideal[i] - grade_min) - 1) * disc;
    }
    free(ideal);
    return idcg > 0 ? dcg / idcg : 0;
}

double fr_mrr(const int *order, const float *grades, int n, float grade_min) {
    for (int i = 0; i < n; i++)
        if (grades[order[i]] > grade_min) return 1.0 / (i + 1);
    return 0;
}

double fr_hit(const int *order, const float *grades, int n, int k, float grade_min) {
    for (int i = 0; i < n && i < k; i++)
        if (grades[order[i]] > grade_min) return 1;
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

fr_interval fr_bootstrap(const double *x, int n, int rounds, uint64_t seed) {
    fr_interval r = {0, 0, 0};
    if (n <= 0) return r;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    r.mean = r.lo = r.hi = sum / n;
    if (rounds <= 0) return r;
    double *means = malloc(sizeof(double) * (size_t)rounds);
    if (!means) return r;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int k = 0; k < rounds; k++) {
        double t = 0;
        for (int i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            t += x[(fr_mix64(s) >> 11) % (uint64_t)n];
        }
        means[k] = t / n;
    }
    qsort(means, (size_t)rounds, sizeof *means, cmp_d);
    r.lo = means[(int)(0.025 * (rounds - 1))];
    r.hi = means[(int)ceil(0.975 * (rounds - 1))];
    free(means);
    return r;
}

double fr_paired_p(const double *a, const double *b, int n) {
    if (n < 2) return 1;
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += b[i] - a[i];
    m /= n;
    for (int i = 0; i < n; i++) {
        double d = b[i] - a[i] - m;
        v += d * d;
    }
    v /= (n - 1);
    if (v <= 0) return m == 0 ? 1 : 0;
    double t = m / sqrt(v / n);
    return erfc(fabs(t) / sqrt(2.0));
}

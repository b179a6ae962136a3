/* test_bench.c - the A/B harness's building blocks against hand-computed values: NDCG/MRR/HR
 * (ties against the relevant item, all-equal grades, fewer than k candidates), bootstrap
 * determinism, the paired test, BM25 and co-visitation on tiny inputs, and the dataset loaders
 * (fixtures in the real file formats, and their error paths). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "covis.h"
#include "dataset.h"
#include "metrics.h"
#include "test_util.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-4)

static void test_metrics(void) {
    float grades[3] = {0, 1, 2}, scores[3] = {3, 2, 1};
    int order[3];
    fr_rank_by_score(scores, grades, 3, order);
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2, "order by score");
    /* DCG = 0 + 1/log2(3) + 3/log2(4) = 2.1309; IDCG = 3 + 1/log2(3) = 3.6309 */
    CHECK(NEAR(fr_ndcg(order, grades, 3, 10, 0), 2.1309298 / 3.6309298), "ndcg %f", fr_ndcg(order, grades, 3, 10, 0));
    /* @1: DCG 0 / IDCG 3 */
    CHECK(fr_ndcg(order, grades, 3, 1, 0) == 0, "ndcg@1");
    CHECK(NEAR(fr_mrr(order, grades, 3, 0), 0.5) && fr_hit(order, grades, 3, 1, 0) == 0 && fr_hit(order, grades, 3, 2, 0) == 1, "mrr / hit");
    /* all scores tied: ties go against relevance, i.e. the worst order */
    float flat[3] = {1, 1, 1}, rev[3] = {2, 1, 0};
    fr_rank_by_score(flat, rev, 3, order);
    CHECK(order[0] == 2 && order[1] == 1 && order[2] == 0, "ties against relevance: %d %d %d", order[0], order[1], order[2]);
    CHECK(NEAR(fr_ndcg(order, rev, 3, 10, 0), 2.1309298 / 3.6309298), "worst-order ndcg");
    /* stable order: ties keep candidate order */
    fr_rank_by_score_stable(flat, 3, order);
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2, "stable ties");
    /* all-equal positive grades: any order is ideal */
    float same[4] = {1, 1, 1, 1}, sc[4] = {0.3f, 0.9f, 0.1f, 0.5f};
    int o4[4];
    fr_rank_by_score(sc, same, 4, o4);
    CHECK(NEAR(fr_ndcg(o4, same, 4, 10, 0), 1.0), "equal grades -> 1");
    /* no relevant item: 0 */
    float none[2] = {0, 0};
    fr_rank_by_score(sc, none, 2, o4);
    CHECK(fr_ndcg(o4, none, 2, 10, 0) == 0 && fr_mrr(o4, none, 2, 0) == 0, "nothing relevant -> 0");
    /* grade scale offset: Home Depot grades 1..3 with gain 2^(g-1)-1 */
    float hd[2] = {3, 1}, hs[2] = {0, 1};
    int o2[2];
    fr_rank_by_score(hs, hd, 2, o2);
    CHECK(NEAR(fr_ndcg(o2, hd, 2, 10, 1), (3 / log2(3.0)) / 3.0), "offset grades");
    /* one relevant target among 100 at rank 3: ndcg = 1/log2(4) = 0.5 */
    float g100[100] = {0}, s100[100];
    int o100[100];
    g100[7] = 1;
    for (int i = 0; i < 100; i++) s100[i] = (float)(100 - i);
    s100[7] = 98.5f; /* between items 1 and 2 -> rank 3 */
    fr_rank_by_score(s100, g100, 100, o100);
    CHECK(NEAR(fr_ndcg(o100, g100, 100, 10, 0), 0.5) && NEAR(fr_mrr(o100, g100, 100, 0), 1.0 / 3), "single target");
}

static void test_stats(void) {
    double x[200];
    for (int i = 0; i < 200; i++) x[i] = (i % 10) / 10.0;
    fr_interval a = fr_bootstrap(x, 200, 500, 7), b = fr_bootstrap(x, 200, 500, 7), c = fr_bootstrap(x, 200, 500, 8);
    CHECK(a.mean == b.mean && a.lo == b.lo && a.hi == b.hi, "bootstrap deterministic in its seed");
    CHECK(NEAR(a.mean, 0.45) && a.lo < 0.45 && a.hi > 0.45 && a.hi - a.lo < 0.2, "interval [%f, %f] around the mean", a.lo, a.hi);
    CHECK(c.lo != a.lo || c.hi != a.hi, "another seed, another resample");
    double y[200];
    for (int i = 0; i < 200; i++) y[i] = x[i] + 0.05 + ((i % 3) - 1) * 0.01;
    CHECK(fr_paired_p(x, x, 200) == 1, "identical -> p = 1");
    CHECK(fr_paired_p(x, y, 200) < 1e-6, "shifted -> tiny p");
    int in = 1;
    for (int i = 0; i < 1000; i++) {
        double u = fr_uniform3(1, (uint64_t)i, 2);
        in &= u >= 0 && u < 1;
    }
    CHECK(in && fr_uniform3(1, 2, 3) == fr_uniform3(1, 2, 3) && fr_uniform3(1, 2, 3) != fr_uniform3(2, 2, 3), "uniform3");
}

static void test_bm25(void) {
    const char *docs[3] = {"Red DRILL", "blue drill, drill!", "red hat"};
    fr_bm25 *m;
    char err[256];
    CHECK(fr_bm25_build(docs, 3, &m, err, sizeof err) == FR_OK, "build");
    int t[8];
    int n = fr_bm25_query(m, "red drill unknownword", t, 8);
    CHECK(n == 2, "query terms %d", n);
    /* idf = ln(1 + (3 - 2 + .5) / (2 + .5)) = ln 1.6; avgdl = 7/3; doc 0: len 2, tf 1 per term */
    double idf = log(1.6), norm = 1.2 * (1 - 0.75 + 0.75 * 2 / (7.0 / 3)), want = 2 * idf * 2.2 / (1 + norm);
    CHECK(NEAR(fr_bm25_score(m, t, n, 0, 1.2, 0.75), want), "bm25 doc0 %f want %f", fr_bm25_score(m, t, n, 0, 1.2, 0.75), want);
    CHECK(fr_bm25_score(m, t, n, 0, 1.2, 0.75) > fr_bm25_score(m, t, n, 1, 1.2, 0.75) &&
              fr_bm25_score(m, t, n, 0, 1.2, 0.75) > fr_bm25_score(m, t, n, 2, 1.2, 0.75),
          "doc 0 best");
    fr_bm25_free(m);
}

static void test_covis(void) {
    int off[3] = {0, 3, 5}, items[5] = {0, 1, 2, 1, 2};
    fr_covis_params p = {1, 1.0, 0.0};
    fr_covis *c;
    char err[256];
    CHECK(fr_covis_build(off, items, 2, 4, &p, &c, err, sizeof err) == FR_OK, "build");
    CHECK(fr_covis_popularity(c, 0) == 1 && fr_covis_popularity(c, 1) == 2 && fr_covis_popularity(c, 3) == 0, "popularity");
    int hist[1] = {1}, cands[3] = {0, 2, 3};
    float s[3];
    fr_covis_score(c, hist, 1, 4, cands, 3, s);
    CHECK(s[0] == 1 && s[1] == 2 && s[2] == 0, "C(1,0)=1, C(1,2)=2, C(1,3)=0: %g %g %g", s[0], s[1], s[2]);
    int hist2[2] = {0, 2}; /* 0 is one step older: weight 0.5^(1/1) */
    fr_covis_score(c, hist2, 2, 1, cands + 1, 1, s);
    /* candidate 2 is not neighbour of 0 (window 1), it is itself in hist: C(2,2) = 0 */
    CHECK(s[0] == 0, "no self pairs");
    int c1[1] = {1};
    fr_covis_score(c, hist2, 2, 1, c1, 1, s);
    CHECK(NEAR(s[0], 0.5 * 1 + 1.0 * 2), "recency-weighted sum: %g", s[0]);
    fr_covis_free(c);
    /* distance weighting: window 2 adds (0,2) with weight 1/2 */
    p.window = 2;
    CHECK(fr_covis_build(off, items, 2, 4, &p, &c, err, sizeof err) == FR_OK, "build w2");
    int h0[1] = {0}, c2[1] = {2};
    fr_covis_score(c, h0, 1, 4, c2, 1, s);
    CHECK(NEAR(s[0], 0.5), "distance 2 weighs 1/2: %g", s[0]);
    fr_covis_free(c);
}

static void test_loaders(void) {
    char err[512], sum[512];
    fr_dataset *d;
    struct {
        const char *name, *path, *want;
    } ok[] = {
        {"homedepot", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/homedepot.csv", "18 queries, 56 items"},
        {"recbole", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/Tiny.test.inter", "81 users, 72 items"},
        {"wands", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/wands", "6 queries, 72 items"},
        {"jsonl-search", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/search.jsonl", "6 queries"},
        {"jsonl-feed", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/feed.jsonl", "40 users"},
    };
    for (int i = 0; i < 5; i++) {
        fr_status rc = fr_dataset_load(ok[i].name, ok[i].path, &d, err, sizeof err);
        CHECK(rc == FR_OK, "load %s: %s", ok[i].name, err);
        if (rc) continue;
        fr_dataset_summary(d, sum, sizeof sum);
        CHECK(strstr(sum, ok[i].want) != NULL, "%s summary: %s", ok[i].name, sum);
        if (i == 0) {
            CHECK(d->bad_rows == 2 && d->grade_min == 1 && d->grade_max == 3, "homedepot: 2 bad relevance rows skipped");
            int latin = 0;
            for (int k = 0; k < d->n_items; k++) latin |= strstr(d->item_texts[k], "Caf\xC3\xA9") != NULL;
            CHECK(latin, "latin-1 decoded to UTF-8");
        }
        if (i == 1) {
            CHECK(d->unknown_ids == 2 && d->bad_rows == 2, "recbole: unknown ids %ld, bad rows %ld", d->unknown_ids, d->bad_rows);
            int amp = 0;
            for (int k = 0; k < d->n_items; k++) amp |= strstr(d->item_texts[k], " & more") != NULL;
            CHECK(amp, "HTML entities decoded in titles");
        }
        if (i == 2) CHECK(d->bad_rows == 1 && d->unknown_ids == 1 && d->grade_min == 0 && d->grade_max == 2, "wands: bad label and unknown query counted");
        fr_dataset_free(d);
    }
    struct {
        const char *name, *path, *needle;
    } bad[] = {
        {"homedepot", "/nonexistent.csv", "cannot open"},
        {"homedepot", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/search.jsonl", "no column"},
        {"recbole", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/homedepot.csv", "RecBole"},
        {"recbole", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/Nope.test.inter", "Nope.item"},
        {"wands", FEEDRANK_SOURCE_DIR "/tests/fixtures", "product.csv"},
        {"jsonl-feed", FEEDRANK_SOURCE_DIR "/tests/fixtures/bench/search.jsonl", "no usable users"},
        {"movielens", "x", "unknown dataset"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(fr_dataset_load(bad[i].name, bad[i].path, &d, err, sizeof err) != FR_OK && strstr(err, bad[i].needle), "bad %s %s: %s", bad[i].name, bad[i].path, err);
    }
}

int main(void) {
    test_metrics();
    test_stats();
    test_bm25();
    test_covis();
    test_loaders();
    return fr_test_finish("test_bench");
}

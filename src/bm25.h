/* bm25.h - Okapi BM25 over item texts: the ranker's lexical signal (ranker.h) and the A/B
 * harness's bm25 ranker (the same code). */
#ifndef FR_BM25_H
#define FR_BM25_H

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

#endif

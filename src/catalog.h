/* catalog.h - streaming readers for catalogue files: CSV with a header row (RFC 4180: quoted
 * fields, "" escapes, embedded newlines, CRLF or LF; UTF-8 or latin-1) and JSONL (one object per
 * line), plus text templates such as "{title}. {brand}" over a row's fields. */
#ifndef FR_CATALOG_H
#define FR_CATALOG_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

typedef enum { FR_CAT_CSV = 0,
               FR_CAT_JSONL = 1,
               FR_CAT_TSV = 2 } fr_catalog_format;

typedef struct fr_catalog fr_catalog;

/* Opens path ("-" = stdin). CSV/TSV read the header row here. latin1: the file is ISO-8859-1 and
 * is converted to UTF-8 as it is read. */
fr_status fr_catalog_open(const char *path, fr_catalog_format fmt, int latin1, fr_catalog **out, char *err,
                          size_t errcap);
/* Reads from an already open stream (not closed by fr_catalog_close). */
fr_status fr_catalog_open_stream(FILE *f, const char *label, fr_catalog_format fmt, int latin1, fr_catalog **out,
                                 char *err, size_t errcap);
void fr_catalog_close(fr_catalog *c);

/* Reads the next row: 1 = a row, 0 = end of file, -1 = this row is malformed (err names the line;
 * reading can go on with the next row), -2 = a fatal read error. */
int fr_catalog_next(fr_catalog *c, char *err, size_t errcap);

/* The current row's value of field `name` (NULL when the row or header has no such field). For
 * JSONL, non-string values are given as their JSON text. */
const char *fr_catalog_field(fr_catalog *c, const char *name, size_t *len);
/* Line number (1-based) where the current row starts, and bytes consumed so far. */
long fr_catalog_line(const fr_catalog *c);
long long fr_catalog_bytes(const fr_catalog *c);
/* CSV/TSV: the header's column names (NULL for JSONL). */
int fr_catalog_columns(const fr_catalog *c, const char *const **names);

/* A compiled text template: literal text and {field} references; "{{" and "}}" are literal braces. */
typedef struct fr_template fr_template;
fr_status fr_template_compile(const char *spec, fr_template **out, char *err, size_t errcap);
void fr_template_free(fr_template *t);
/* Checks every field exists in a CSV/TSV header (no-op for JSONL). */
fr_status fr_template_check(const fr_template *t, const fr_catalog *c, char *err, size_t errcap);
/* Renders the current row into *buf (grown as needed); returns the length or -1 (out of memory).
 * *missing counts referenced fields the row lacks (rendered as empty). */
long fr_template_render(const fr_template *t, fr_catalog *c, char **buf, size_t *cap, int *missing);

#endif

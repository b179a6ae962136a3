/* recbole.h - RecBole atomic files (tab-separated, typed header "name:type"): the line splitter and
 * column lookup shared by the log priors' reader (priors.c) and the A/B harness's loader. */
#ifndef FR_RECBOLE_H
#define FR_RECBOLE_H

/* Splits line on tabs in place into at most max fields; returns the count. */
int fr_recbole_split(char *line, char **f, int max);
/* The column of header field "name:type" (also a bare "name" when untyped_ok), or -1. */
int fr_recbole_column(char **f, int n, const char *name, int untyped_ok);

#endif

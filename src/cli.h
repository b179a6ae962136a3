/* cli.h - shared pieces of the feedrank command-line tool (src/main.c, src/cmd_*.c). */
#ifndef FR_CLI_H
#define FR_CLI_H

#include <stdio.h>

#include "status.h"

/* Each subcommand: returns the process exit status (0 ok, 1 runtime error, 2 usage error). */
int fr_cmd_embed(int argc, char **argv);
int fr_cmd_index(int argc, char **argv);
int fr_cmd_rerank(int argc, char **argv);
int fr_cmd_store(int argc, char **argv);
int fr_cmd_priors_index(int argc, char **argv);        /* index --interactions */
int fr_cmd_store_attach_priors(int argc, char **argv); /* store attach-priors */
int fr_cmd_train(int argc, char **argv);  /* train the sequential model on a log */
int fr_cmd_bench(int argc, char **argv);
int fr_cmd_tune(int argc, char **argv);  /* bench ab with the default blend, writing a ranking profile */
int fr_cmd_serve(int argc, char **argv);  /* server/ (FEEDRANK_SERVER builds) */
int fr_cmd_client(int argc, char **argv);

/* Parses "I/N" (0 <= I < N <= 65536); prints an error and returns -1 when malformed. */
int fr_cli_shard(const char *s, int *i, int *n);

/* When argv[*i] is `name`, stores the following argument in *val, advances *i and returns 1;
 * prints an error and returns -1 when the value is missing; returns 0 otherwise. */
int fr_cli_value(int argc, char **argv, int *i, const char *name, const char **val);

/* Parses a whole decimal integer in [lo, hi]; prints "feedrank: FLAG: ..." and returns -1 when not. */
int fr_cli_int(const char *flag, const char *s, long lo, long hi, long *out);

/* Writes s as a quoted JSON string (quotes, backslashes and control characters escaped). */
void fr_cli_json_string(FILE *f, const char *s);

/* Writes data[size] to path atomically (path.tmp, then rename); on failure removes the temporary
 * file and returns an error naming the path. */
fr_status fr_cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap);
/* The same, streamed: write(f, ctx) fills the temporary file (fsync'd before the rename). */
typedef fr_status (*fr_cli_writer)(FILE *f, void *ctx, char *err, size_t errcap);
fr_status fr_cli_write_file_with(const char *path, fr_cli_writer write, void *ctx, char *err, size_t errcap);

/* The model folder: --model, else $FEEDRANK_MODEL, else ./models/all-MiniLM-L6-v2, else
 * FEEDRANK_DATA_DIR/models/all-MiniLM-L6-v2 when the build defines an installed data folder; never
 * the build's source tree. When none exists, the relative path (its load error names it). */
const char *fr_cli_model_dir(const char *flag_value);

#endif

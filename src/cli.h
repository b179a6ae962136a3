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

/* The --precision to use: the flag's value when given, else $FEEDRANK_PRECISION when set, else
 * "auto" (the fastest mode that holds 0.999 cosine: fp16 on CUDA, fp16/bf16 on CPUs with
 * AVX-512 FP16/BF16, else fp32; "fp32" is the exact mode). */
const char *fr_cli_precision(const char *flag_value);

/* Writes s as a quoted JSON string (quotes, backslashes and control characters escaped). */
void fr_cli_json_string(FILE *f, const char *s);

/* An output file written as a stream and put in place whole, or not at all. Every file the CLI
 * writes goes through it, so that a full disk or a failing device is an error naming the file
 * instead of a silently truncated result:
 *
 *   fr_cli_out o;
 *   if (fr_cli_out_open(&o, path, err, errcap)) ...      creates a temporary file beside path
 *   fprintf(o.f, ...) as often as needed; fr_cli_out_check(&o, ...) between batches
 *   fr_cli_out_commit(&o, err, errcap)                   flush, fsync, close, rename, fsync folder
 *   or fr_cli_out_abort(&o)                              close and remove the temporary file
 *
 * path "-" is stdout (written directly; commit flushes it and reports a failed write). An existing
 * path that is not a regular file (/dev/null, a FIFO, a terminal), or any path under /dev/ or
 * /proc/ (/dev/stdout redirected to a file), is written in place: renaming over it would replace
 * the device, or the file a shell opened for appending. A symlink to a file is followed: its target is replaced. Commit
 * and abort both release everything; abort on a zeroed or already finished fr_cli_out does nothing.
 * f is a stdio stream without a file descriptor (fileno(f) is -1); it can seek (an .npy header). */
typedef struct {
    FILE *f;          /* write here */
    const char *name; /* for messages: the path as given, or "stdout" */
    char *dest;       /* private: the file renamed over (NULL: f is written in place) */
    char *tmp;        /* private: the temporary file beside dest */
    void *cookie;     /* private: keeps the reason of a failed write (see cli.c) */
    int is_stdout;
    int in_place;     /* stdout, or a device/descriptor written in place: write forward only (a
                         seek back to rewrite a header may land at the end) */
} fr_cli_out;
fr_status fr_cli_out_open(fr_cli_out *o, const char *path, char *err, size_t errcap);
/* Flushes what was written so far; an error names the file and the reason (e.g. "No space left on
 * device"). Cheap enough to call once per batch, so that a full disk stops a long run early. */
fr_status fr_cli_out_check(fr_cli_out *o, char *err, size_t errcap);
fr_status fr_cli_out_commit(fr_cli_out *o, char *err, size_t errcap);
void fr_cli_out_abort(fr_cli_out *o);

/* Writes data[size] to path atomically (through fr_cli_out); on failure the previous file, if
 * any, is unchanged and the error names the path. */
fr_status fr_cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap);
/* The same, streamed: write(f, ctx) fills the temporary file. */
typedef fr_status (*fr_cli_writer)(FILE *f, void *ctx, char *err, size_t errcap);
fr_status fr_cli_write_file_with(const char *path, fr_cli_writer write, void *ctx, char *err, size_t errcap);

/* The model folder: --model, else $FEEDRANK_MODEL, else ./models/all-MiniLM-L6-v2, else
 * FEEDRANK_DATA_DIR/models/all-MiniLM-L6-v2 when the build defines an installed data folder; never
 * the build's source tree. When none exists, the relative path (its load error names it). */
const char *fr_cli_model_dir(const char *flag_value);

#endif

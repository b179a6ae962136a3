/* cli.h - shared pieces of the feedrank command-line tool (cli/main.c, cli/cmd_*.c). */
#ifndef FR_CLI_H
#define FR_CLI_H

#include <stdio.h>

#include "atomic_file.h"
#include "json_strict.h"
#include "status.h"

/* Each subcommand: returns the process exit status (0 ok, 1 runtime error, 2 usage error). */
int fr_cmd_embed(int argc, char **argv);
int fr_cmd_index(int argc, char **argv);
int fr_cmd_rerank(int argc, char **argv);
int fr_cmd_store(int argc, char **argv);
int fr_cmd_priors_index(int argc, char **argv);        /* index --interactions */
int fr_cmd_store_attach_priors(int argc, char **argv); /* store attach-priors */
int fr_cmd_train(int argc, char **argv);               /* train the sequential model on a log */
int fr_cmd_bench(int argc, char **argv);
int fr_cmd_tune(int argc, char **argv);  /* bench ab with the default blend, writing a ranking profile */
int fr_cmd_serve(int argc, char **argv); /* server/ (FEEDRANK_SERVER builds) */
int fr_cmd_client(int argc, char **argv);

/* Parses "I/N" (0 <= I < N <= 65536); prints an error and returns -1 when malformed. */
int fr_cli_shard(const char *s, int *i, int *n);

/* Every flag with a value is given as `--name VALUE` or `--name=VALUE`, in every subcommand: they
 * all read their flags through fr_cli_value.
 * When argv[*i] is `name`, stores the following argument in *val, advances *i and returns 1; when
 * it is `name=VALUE`, stores VALUE and returns 1; prints an error and returns -1 when the value is
 * missing; returns 0 otherwise. */
int fr_cli_value(int argc, char **argv, int *i, const char *name, const char **val);
/* 1 when arg is the flag `name`, alone or as `name=VALUE`. */
int fr_cli_flag(const char *arg, const char *name);
/* 1 when arg asks for help: --help or -h. Every subcommand answers it by printing every flag it
 * takes to stdout and exiting 0, before it opens or checks anything. */
int fr_cli_help(const char *arg);
/* `feedrank index --interactions` usage (cli/cmd_priors.c), also printed by `index --help`. */
void fr_cli_priors_usage(FILE *f);

/* Parses a whole decimal integer in [lo, hi]; prints "feedrank: FLAG: ..." and returns -1 when not. */
int fr_cli_int(const char *flag, const char *s, long lo, long hi, long *out);

/* The --precision to use: the flag's value when given, else $FEEDRANK_PRECISION when set, else
 * "default" (fp32, the exact mode, on the CPU; fp16 on CUDA). "auto" picks the fastest mode that
 * holds 0.999 cosine to upstream (fp16 on CUDA; fp16/bf16 on CPUs with AVX-512 FP16/BF16, else fp32). */
const char *fr_cli_precision(const char *flag_value);

/* Writes s as a quoted JSON string (the core's fr_json_write_string, src/json_strict.h). */
static inline void fr_cli_json_string(FILE *f, const char *s) { fr_json_write_string(f, s); }

/* Output files (src/atomic_file.h) under the CLI's older names, kept so that the commands read as
 * before; one implementation. */
typedef fr_atomic_file fr_cli_out;
typedef fr_atomic_writer fr_cli_writer;
static inline fr_status fr_cli_out_open(fr_cli_out *o, const char *path, char *err, size_t errcap) { return fr_atomic_open(o, path, err, errcap); }
static inline fr_status fr_cli_out_check(fr_cli_out *o, char *err, size_t errcap) { return fr_atomic_check(o, err, errcap); }
static inline fr_status fr_cli_out_commit(fr_cli_out *o, char *err, size_t errcap) { return fr_atomic_commit(o, err, errcap); }
static inline void fr_cli_out_abort(fr_cli_out *o) { fr_atomic_abort(o); }
static inline fr_status fr_cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap) {
    return fr_atomic_write_file(path, data, size, err, errcap);
}
static inline fr_status fr_cli_write_file_with(const char *path, fr_cli_writer write, void *ctx, char *err, size_t errcap) {
    return fr_atomic_write_file_with(path, write, ctx, err, errcap);
}

/* The model folder: --model, else $FEEDRANK_MODEL, else ./models/all-MiniLM-L6-v2, else
 * FEEDRANK_DATA_DIR/models/all-MiniLM-L6-v2 when the build defines an installed data folder; never
 * the build's source tree. When none exists, the relative path (its load error names it). */
const char *fr_cli_model_dir(const char *flag_value);

#endif

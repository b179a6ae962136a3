/* cli.c - small helpers shared by the command-line subcommands (cli/cmd_*.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* "--name" alone, or "--name=value" (returning the value's start), else NULL */
static const char *match_flag(const char *arg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return NULL;
    return arg[n] == 0 ? arg + n : arg[n] == '=' ? arg + n + 1
                                                 : NULL;
}

int fr_cli_flag(const char *arg, const char *name) { return match_flag(arg, name) != NULL; }

int fr_cli_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int fr_cli_value(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *rest = match_flag(argv[*i], name);
    if (!rest) return 0;
    if (*rest || rest[-1] == '=') { /* --name=value (an empty value is the command's to judge) */
        *val = rest;
        return 1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "feedrank: %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int fr_cli_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "feedrank: %s: '%s' is not an integer in %ld..%ld\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int fr_cli_shard(const char *s, int *i, int *n) {
    char *slash = strchr(s, '/');
    long a, b;
    if (!slash) {
        fprintf(stderr, "feedrank: --shard '%s' must look like I/N, e.g. 0/4\n", s);
        return -1;
    }
    char first[32];
    snprintf(first, sizeof first, "%.*s", (int)(slash - s), s);
    if (fr_cli_int("--shard N", slash + 1, 1, 65536, &b) || fr_cli_int("--shard I", first, 0, b - 1, &a)) return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

const char *fr_cli_precision(const char *flag_value) {
    if (flag_value) return flag_value;
    const char *env = getenv("FEEDRANK_PRECISION");
    return env && *env ? env : "default";
}

const char *fr_cli_model_dir(const char *flag_value) {
    if (flag_value) return flag_value;
    const char *env = getenv("FEEDRANK_MODEL");
    if (env && *env) return env;
    if (access("models/all-MiniLM-L6-v2/config.json", F_OK) == 0) return "models/all-MiniLM-L6-v2";
        /* Never the build's source tree: a binary copied or installed elsewhere would silently load
     * another checkout's model. Only a data folder an install defines on purpose is a fallback. */
#ifdef FEEDRANK_DATA_DIR
    if (access(FEEDRANK_DATA_DIR "/models/all-MiniLM-L6-v2/config.json", F_OK) == 0) return FEEDRANK_DATA_DIR "/models/all-MiniLM-L6-v2";
#endif
    return "models/all-MiniLM-L6-v2"; /* missing: the load error names the path it looked at */
}

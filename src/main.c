/* main.c - the feedrank command-line tool: dispatches to one subcommand per src/cmd_*.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef FEEDRANK_SOURCE_DIR
#define FEEDRANK_SOURCE_DIR "."
#endif

int fr_cli_value(int argc, char **argv, int *i, const char *name, const char **val) {
    if (strcmp(argv[*i], name) != 0) return 0;
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
    if (!slash) { fprintf(stderr, "feedrank: --shard '%s' must look like I/N, e.g. 0/4\n", s); return -1; }
    char first[32];
    snprintf(first, sizeof first, "%.*s", (int)(slash - s), s);
    if (fr_cli_int("--shard N", slash + 1, 1, 65536, &b) || fr_cli_int("--shard I", first, 0, b - 1, &a)) return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

const char *fr_cli_model_dir(const char *flag_value) {
    if (flag_value) return flag_value;
    const char *env = getenv("FEEDRANK_MODEL");
    if (env && *env) return env;
    if (access("models/all-MiniLM-L6-v2/config.json", F_OK) == 0) return "models/all-MiniLM-L6-v2";
    return FEEDRANK_SOURCE_DIR "/models/all-MiniLM-L6-v2";
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: feedrank COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  embed     embed texts (one per line) into vectors (JSONL or .npy)\n"
            "  index     embed a catalogue (CSV/TSV/JSONL) into an item store\n"
            "  rerank    re-rank a JSONL file of requests against an item store\n"
            "  store     merge sharded item stores, or describe one\n"
            "  serve     the gRPC re-ranking service ('feedrank serve --help')\n"
            "  client    call a running server: rerank, embed, health\n"
            "  bench     offline A/B comparison of rankers on labelled data ('feedrank bench ab --help')\n"
            "  version   print the version\n"
            "\n"
            "Run 'feedrank COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "embed") == 0) return fr_cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "index") == 0) return fr_cmd_index(argc - 1, argv + 1);
    if (strcmp(cmd, "rerank") == 0) return fr_cmd_rerank(argc - 1, argv + 1);
    if (strcmp(cmd, "store") == 0) return fr_cmd_store(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return fr_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "client") == 0) {
#ifdef FEEDRANK_HAVE_SERVER
        return cmd[0] == 's' ? fr_cmd_serve(argc - 1, argv + 1) : fr_cmd_client(argc - 1, argv + 1);
#else
        fprintf(stderr, "feedrank: this build has no gRPC server (configure with -DFEEDRANK_SERVER=ON)\n");
        return 2;
#endif
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("feedrank 0.1.0\n");
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "feedrank: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

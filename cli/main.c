/* main.c - the feedrank command-line tool: dispatches to one subcommand per cli/cmd_*.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
            "  train     train the sequential model on an interaction log ('feedrank train --help')\n"
            "  tune      learn a ranking profile from labelled data ('feedrank tune --help')\n"
            "  version   print the version, the backends compiled in and the source revision (also --version)\n"
            "\n"
            "Run 'feedrank COMMAND --help' for a command's options.\n");
}

#ifndef FEEDRANK_VERSION
#define FEEDRANK_VERSION "unknown"
#endif
#ifndef FEEDRANK_GIT_REVISION
#define FEEDRANK_GIT_REVISION "unknown"
#endif

/* Version, the backends compiled in and the source revision (git, as of configure time). */
static void print_version(void) {
    printf("feedrank %s\nbackends: cpu", FEEDRANK_VERSION);
#ifdef FEEDRANK_HAVE_CUDA
    printf(" cuda");
#endif
#ifdef FEEDRANK_HAVE_BLAS
    printf(" blas");
#endif
#ifdef FEEDRANK_HAVE_SERVER
    printf(" server");
#endif
    printf("\nrevision: %s\n", FEEDRANK_GIT_REVISION);
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
    if (strcmp(cmd, "train") == 0) return fr_cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "tune") == 0) return fr_cmd_tune(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "client") == 0) {
#ifdef FEEDRANK_HAVE_SERVER
        return cmd[0] == 's' ? fr_cmd_serve(argc - 1, argv + 1) : fr_cmd_client(argc - 1, argv + 1);
#else
        fprintf(stderr, "feedrank: this build has no gRPC server (configure with -DFEEDRANK_SERVER=ON)\n");
        return 2;
#endif
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        print_version();
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

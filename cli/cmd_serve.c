/* cmd_serve.c - `feedrank serve`: configuration, then fr_server_run. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "server.h"

int fr_cmd_serve(int argc, char **argv) {
    fr_server_config cfg;
    fr_server_config_default(&cfg);
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        if (fr_cli_help(argv[i])) break; /* the flags print the help, whatever the file holds */
        if (fr_cli_value(argc, argv, &i, "--config", &file) < 0) return 2;
        if (file && fr_server_config_file(file, &cfg, err, sizeof err)) {
            fprintf(stderr, "feedrank serve: %s\n", err);
            return 2;
        }
    }
    if (fr_server_config_env(&cfg, err, sizeof err)) {
        fprintf(stderr, "feedrank serve: %s\n", err);
        return 2;
    }
    int r = fr_server_config_flags(argc, argv, &cfg, err, sizeof err);
    if (r > 0) return 0;
    if (r < 0 || fr_server_config_finish(&cfg, err, sizeof err)) {
        fprintf(stderr, "feedrank serve: %s\n", err);
        return 2;
    }
    if (!cfg.model[0]) {
        snprintf(cfg.model, sizeof cfg.model, "%s", fr_cli_model_dir(NULL));
        char probe[1100];
        snprintf(probe, sizeof probe, "%s/config.json", cfg.model);
        if (access(probe, F_OK) != 0) {
            fprintf(stderr, "feedrank serve: no model at %s: pass --model DIR or set FEEDRANK_MODEL\n", cfg.model);
            return 2;
        }
    }
    if (!cfg.store[0]) {
        fprintf(stderr, "feedrank serve: --store is required (an item store from 'feedrank index')\n");
        return 2;
    }
    if ((cfg.tls_cert[0] != 0) != (cfg.tls_key[0] != 0)) {
        fprintf(stderr, "feedrank serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (cfg.tls_client_ca[0] && !cfg.tls_cert[0]) {
        fprintf(stderr, "feedrank serve: --tls-client-ca needs --tls-cert and --tls-key\n");
        return 2;
    }
    return fr_server_run(&cfg);
}

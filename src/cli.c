/* cli.c - small helpers shared by the command-line subcommands (src/cmd_*.c, server/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
    /* Never the build's source tree: a binary copied or installed elsewhere would silently load
     * another checkout's model. Only a data folder an install defines on purpose is a fallback. */
#ifdef FEEDRANK_DATA_DIR
    if (access(FEEDRANK_DATA_DIR "/models/all-MiniLM-L6-v2/config.json", F_OK) == 0) return FEEDRANK_DATA_DIR "/models/all-MiniLM-L6-v2";
#endif
    return "models/all-MiniLM-L6-v2"; /* missing: the load error names the path it looked at */
}


void fr_cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

fr_status fr_cli_write_file_with(const char *path, fr_cli_writer write, void *ctx, char *err, size_t errcap) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    fr_status rc = FR_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        rc = write(f, ctx, err, errcap);
        int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (!rc && bad) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", tmp, strerror(errno));
        else if (!rc && rename(tmp, path) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot rename into place: %s", path, strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    return rc;
}

typedef struct { const void *data; size_t size; } bytes;

static fr_status write_bytes(FILE *f, void *ctx, char *err, size_t errcap) {
    const bytes *b = ctx;
    return b->size && fwrite(b->data, 1, b->size, f) != b->size ? fr_fail(FR_ERR_IO, err, errcap, "write failed: %s", strerror(errno)) : FR_OK;
}

fr_status fr_cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap) {
    bytes b = {data, size};
    return fr_cli_write_file_with(path, write_bytes, &b, err, errcap);
}

/* cmd_priors.c - `feedrank index --interactions LOG --store STORE`: log priors (popularity,
 * co-visitation) computed from an interaction log and attached to an item store; with
 * --shard I/N --priors-out PART a shard of the log's users is built into a part file, and
 * `feedrank store attach-priors --store STORE PART...` merges the parts into the store. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "model_config.h"
#include "priors.h"

void fr_cli_priors_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank index --interactions LOG --store STORE [options]\n"
            "  --interactions LOG     JSONL {\"user\",\"item\",\"ts\",\"weight\"?} lines, or a RecBole .inter file\n"
            "                         (user_id item_id timestamp, or user_id item_id_list)\n"
            "  --store STORE          the item store the log's item ids refer to; the priors are attached to it\n"
            "  --log-format auto|jsonl|recbole   (default auto: RecBole for *.inter)\n"
            "  --half-life T          time decay of every event, in the log's time units (default 0 = none)\n"
            "  --window W             co-visitation distance in a user's sequence, 1..64 (default 10)\n"
            "  --neighbors C          neighbours kept per item, 1..4096 (default 1000)\n"
            "  --max-bad-lines N      skip and count up to N malformed lines (default 0: the first one is an error)\n"
            "  --shard I/N --priors-out PART   build only the users of shard I of N into PART (not the store);\n"
            "                         then: feedrank store attach-priors --store STORE PART...\n"
            "  --checkpoint FILE      resumable build: the builder's state is saved here every --checkpoint-every\n"
            "                         lines (default OUT.priors-checkpoint, OUT = PART or STORE); a rerun of the same\n"
            "                         command continues from it after checking the log's prefix is unchanged\n"
            "  --checkpoint-every N   lines between checkpoints (default 1000000; 0 = no checkpoints)\n"
            "  --restart              discard an existing checkpoint and start from the beginning\n"
            "  --live-state           also keep the builder's final state in the store, so that `feedrank serve --wal`\n"
            "                         can continue these priors exactly with live events (RecordEvents, --events-tail;\n"
            "                         a tail of this same file resumes after its last line). Single pass only (no --shard)\n");
}

typedef struct {
    const fr_priors_builder *b;
    const fr_priors_position *pos;
} checkpoint_job;

static fr_status write_checkpoint(FILE *f, void *ctx, char *err, size_t errcap) {
    const checkpoint_job *j = ctx;
    return fr_priors_checkpoint_write(j->b, j->pos, f, err, errcap);
}

/* Saves a checkpoint atomically and durably (temp file, fsync, rename), streamed: a crash leaves the
 * previous one whole. */
static fr_status save_checkpoint(const fr_priors_builder *b, const fr_priors_position *pos, void *ctx, char *err, size_t errcap) {
    checkpoint_job j = {b, pos};
    return fr_cli_write_file_with((const char *)ctx, write_checkpoint, &j, err, errcap);
}

/* Loads a checkpoint file (mapped, not copied) into a builder. */
static fr_status load_checkpoint(const char *path, const fr_priors_params *p, uint64_t n_items, fr_priors_builder **b,
                                 fr_priors_position *pos, char *err, size_t errcap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot open: %s", strerror(errno));
    struct stat st;
    fr_status rc;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "priors checkpoint: empty or unreadable");
    } else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = fr_fail(FR_ERR_IO, err, errcap, "cannot map: %s", strerror(errno));
        } else {
            rc = fr_priors_checkpoint_load(m, (size_t)st.st_size, p, n_items, b, pos, err, errcap);
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
    return rc;
}

/* The builder's state for live events (priors.h: FR_STORE_SECTION_PRIORS_STATE), positioned at
 * the end of the log file just read (its inode, bytes and lines), where a server's --events-tail
 * of the same file goes on. */
static fr_status build_state(const fr_priors_builder *b, FILE *f, uint8_t **state, size_t *size, char *err, size_t errcap) {
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || fseek(f, 0, SEEK_SET) != 0) return fr_fail(FR_ERR_IO, err, errcap, "cannot read the log again to count its lines");
    fr_priors_position pos = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        pos.offset += n;
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++) pos.line++;
    }
    if (ferror(f)) return fr_fail(FR_ERR_IO, err, errcap, "read error counting the log's lines");
    pos.prefix_hash = (uint64_t)st.st_ino;
    return fr_priors_checkpoint_save(b, &pos, state, size, err, errcap);
}

int fr_cmd_priors_index(int argc, char **argv) {
    const char *log = NULL, *store_path = NULL, *fmt_s = "auto", *hl_s = "0", *win_s = "10", *cap_s = "1000";
    const char *shard_s = NULL, *part_out = NULL, *bad_s = "0", *ckpt_s = NULL, *every_s = "1000000";
    int restart = 0, live_state = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--interactions", &log)) || (r = fr_cli_value(argc, argv, &i, "--store", &store_path)) ||
            (r = fr_cli_value(argc, argv, &i, "--log-format", &fmt_s)) || (r = fr_cli_value(argc, argv, &i, "--half-life", &hl_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--window", &win_s)) || (r = fr_cli_value(argc, argv, &i, "--neighbors", &cap_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--shard", &shard_s)) || (r = fr_cli_value(argc, argv, &i, "--priors-out", &part_out)) ||
            (r = fr_cli_value(argc, argv, &i, "--max-bad-lines", &bad_s)) || (r = fr_cli_value(argc, argv, &i, "--checkpoint", &ckpt_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--checkpoint-every", &every_s))) {
            if (r < 0) return 2;
        } else if (strcmp(argv[i], "--restart") == 0) {
            restart = 1;
        } else if (strcmp(argv[i], "--live-state") == 0) {
            live_state = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fr_cli_priors_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank index: unknown option '%s' with --interactions\n", argv[i]);
            fr_cli_priors_usage(stderr);
            return 2;
        }
    }
    if (!log || !store_path) {
        fprintf(stderr, "feedrank index: --interactions needs --store\n");
        fr_cli_priors_usage(stderr);
        return 2;
    }
    fr_priors_params p;
    fr_priors_params_default(&p);
    long w, c, bad, every;
    if (fr_cli_int("--window", win_s, 1, 64, &w) || fr_cli_int("--neighbors", cap_s, 1, 4096, &c) ||
        fr_cli_int("--max-bad-lines", bad_s, 0, 1L << 40, &bad) || fr_cli_int("--checkpoint-every", every_s, 0, 1L << 40, &every))
        return 2;
    char *end;
    p.half_life = strtod(hl_s, &end);
    if (*end || !isfinite(p.half_life) || p.half_life < 0) {
        fprintf(stderr, "feedrank index: --half-life must be a number >= 0, not '%s'\n", hl_s);
        return 2;
    }
    p.window = (int)w;
    p.capacity = (int)c;
    fr_log_format fmt = strcmp(fmt_s, "jsonl") == 0 ? FR_LOG_JSONL : strcmp(fmt_s, "recbole") == 0 ? FR_LOG_RECBOLE
                                                                                                   : FR_LOG_AUTO;
    if (fmt == FR_LOG_AUTO && strcmp(fmt_s, "auto") != 0) {
        fprintf(stderr, "feedrank index: --log-format must be auto, jsonl or recbole\n");
        return 2;
    }
    int si = 0, sn = 1;
    if (shard_s && fr_cli_shard(shard_s, &si, &sn)) return 2;
    if (live_state && (sn > 1 || part_out || strcmp(log, "-") == 0)) {
        fprintf(stderr, "feedrank index: --live-state needs a single-pass build of a log file into the store (no --shard, --priors-out or stdin)\n");
        return 2;
    }
    if ((sn > 1) != (part_out != NULL)) {
        fprintf(stderr, "feedrank index: --shard and --priors-out go together\n");
        return 2;
    }
    char err[1024];
    fr_store *store;
    if (fr_store_open(store_path, 0, 1, &store, err, sizeof err)) {
        fprintf(stderr, "feedrank index: %s\n", err);
        return 1;
    }
    FILE *f = strcmp(log, "-") == 0 ? stdin : fopen(log, "rb");
    if (!f) {
        fprintf(stderr, "feedrank index: %s: cannot open: %s\n", log, strerror(errno));
        fr_store_close(store);
        return 1;
    }
    fr_priors_builder *b = NULL;
    fr_priors_stats st = {0};
    uint8_t *data = NULL, *state = NULL;
    size_t size = 0, state_size = 0;
    int rc = 1;
    /* checkpoints: not for standard input (its prefix cannot be read again) */
    char ckpt[4096] = "";
    if (ckpt_s && f == stdin) {
        fprintf(stderr, "feedrank index: --checkpoint needs a log file, not standard input\n");
        goto done;
    }
    if (f != stdin && every > 0) {
        if (ckpt_s) snprintf(ckpt, sizeof ckpt, "%s", ckpt_s);
        else snprintf(ckpt, sizeof ckpt, "%s.priors-checkpoint", part_out ? part_out : store_path);
    }
    fr_priors_resume resume = {.every_lines = (uint64_t)every, .checkpoint = save_checkpoint, .ctx = ckpt};
    const uint64_t n_items = fr_store_info_of(store)->count;
    if (*ckpt && restart) unlink(ckpt);
    if (*ckpt && access(ckpt, F_OK) == 0) {
        if (load_checkpoint(ckpt, &p, n_items, &b, &resume.start, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s: %s; remove it or pass --restart\n", ckpt, err);
            goto done;
        }
        fprintf(stderr, "feedrank index: resuming from %s: %" PRIu64 " lines (%" PRIu64 " events) already read\n", ckpt,
                resume.start.line, resume.start.stats.events);
    }
    if ((!b && fr_priors_builder_create(n_items, &p, &b, err, sizeof err)) ||
        fr_priors_read_log_from(b, f, log, fmt, store, si, sn, (uint64_t)bad, *ckpt ? &resume : NULL, &st, err, sizeof err) ||
        fr_priors_finish(b, &data, &size, err, sizeof err)) {
        fprintf(stderr, "feedrank index: %s\n", err);
        if (*ckpt && access(ckpt, F_OK) == 0) fprintf(stderr, "feedrank index: the work up to the last checkpoint is kept in %s: fix the cause and rerun to resume\n", ckpt);
        goto done;
    }
    if (live_state && build_state(b, f, &state, &state_size, err, sizeof err)) {
        fprintf(stderr, "feedrank index: %s\n", err);
        goto done;
    }
    fr_store_close(store);
    store = NULL;
    /* a state that no longer matches the priors goes first: a crash between the steps leaves
     * priors without a state (live events refused, saying so), never a mismatched pair */
    if (part_out ? (int)fr_cli_write_file(part_out, data, size, err, sizeof err)
                 : (fr_store_attach(store_path, FR_STORE_SECTION_PRIORS_STATE, NULL, 0, err, sizeof err) ||
                    fr_store_attach(store_path, FR_STORE_SECTION_PRIORS, data, size, err, sizeof err) ||
                    (state && fr_store_attach(store_path, FR_STORE_SECTION_PRIORS_STATE, state, state_size, err, sizeof err)))) {
        fprintf(stderr, "feedrank index: %s\n", err);
        goto done;
    }
    if (*ckpt) unlink(ckpt); /* done: nothing to resume */
    fprintf(stderr, "feedrank index: %" PRIu64 " events from %" PRIu64 " users%s; %" PRIu64 " with unknown item ids, %" PRIu64 " malformed lines skipped; priors %s %s\n",
            st.events, st.users, sn > 1 ? " (this shard)" : "", st.unknown_items, st.bad_lines, part_out ? "written to" : "attached to",
            part_out ? part_out : store_path);
    rc = 0;
done:
    free(data);
    free(state);
    fr_priors_builder_free(b);
    if (f != stdin) fclose(f);
    fr_store_close(store);
    return rc;
}

#define USAGE_ATTACH_PRIORS                                                                                   \
    "usage: feedrank store attach-priors --store STORE PART...\n"                                             \
    "  sum log-prior parts (feedrank index --interactions LOG --store STORE --shard I/N --priors-out PART)\n" \
    "  into one section, equal to a single-pass build, and attach it to the store (rewritten atomically)\n"   \
    "  --store STORE         the store the parts were built against\n"

/* feedrank store attach-priors --store STORE PART... */
int fr_cmd_store_attach_priors(int argc, char **argv) {
    const char *store_path = NULL;
    const char *parts[1024];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--store", &store_path))) {
            if (r < 0) return 2;
        } else if (fr_cli_help(argv[i])) {
            fprintf(stdout, "%s", USAGE_ATTACH_PRIORS);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "feedrank store attach-priors: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (n == 1024) {
            fprintf(stderr, "feedrank store attach-priors: at most 1024 parts\n");
            return 2;
        } else {
            parts[n++] = argv[i];
        }
    }
    if (!store_path || n == 0) {
        fprintf(stderr, "%s", USAGE_ATTACH_PRIORS);
        return 2;
    }
    char err[1024];
    uint8_t **bufs = calloc((size_t)n, sizeof *bufs), *data = NULL;
    size_t *sizes = calloc((size_t)n, sizeof *sizes), size = 0;
    int rc = 1;
    if (!bufs || !sizes) {
        fprintf(stderr, "feedrank store attach-priors: out of memory\n");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char *b;
        if (fr_read_small_file(parts[i], (size_t)1 << 34, &b, &sizes[i], err, sizeof err)) {
            fprintf(stderr, "feedrank store attach-priors: %s\n", err);
            goto done;
        }
        bufs[i] = (uint8_t *)b;
    }
    if (fr_priors_merge((const uint8_t *const *)bufs, sizes, n, &data, &size, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-priors: %s\n", err);
        goto done;
    }
    fr_store *s;
    fr_priors view;
    if (fr_store_open(store_path, 0, 1, &s, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-priors: %s\n", err);
        goto done;
    }
    fr_status vr = fr_priors_view(data, size, fr_store_info_of(s)->count, parts[0], &view, err, sizeof err);
    fr_store_close(s);
    /* merged shards have no single builder state: a live state of older priors is removed first */
    if (vr || fr_store_attach(store_path, FR_STORE_SECTION_PRIORS_STATE, NULL, 0, err, sizeof err) ||
        fr_store_attach(store_path, FR_STORE_SECTION_PRIORS, data, size, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-priors: %s\n", err);
        goto done;
    }
    fprintf(stderr, "feedrank store attach-priors: %d parts, %" PRIu64 " events, attached to %s\n", n, view.events, store_path);
    rc = 0;
done:
    for (int i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(sizes);
    free(data);
    return rc;
}

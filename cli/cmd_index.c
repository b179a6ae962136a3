/* cmd_index.c - `feedrank index`: embeds a catalogue into an item store.
 *
 * Resumable: every finished batch is appended to OUT.journal (src/index_journal.h: id, text,
 * vector, input row and a checksum per record) and flushed to disk before the next batch starts. Rerunning the same
 * command after a crash or Ctrl-C validates the journal, drops a torn last record, skips the
 * rows already embedded and carries on; the store is assembled from the journal at the end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "html.h"
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "encoder.h"
#include "hash.h"
#include "index_journal.h"
#include "item_store.h"

static volatile sig_atomic_t g_interrupted; /* set by SIGINT/SIGTERM; checked between batches */
static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static void index_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank index --catalog FILE --out STORE [options]\n"
            "  --catalog FILE        catalogue: CSV/TSV with a header row, or JSONL (one object per line)\n"
            "  --format csv|tsv|jsonl|recbole  default: from the file name (.csv, .tsv, .jsonl/.json, .item: recbole),\n"
            "                        else csv; recbole: a RecBole .item file (tab-separated, typed header), id\n"
            "                        item_id:token, text {title:token_seq}, HTML references decoded (&amp; -> &)\n"
            "                        exactly as `bench ab --dataset recbole` reads it (docs/commands.md: feedrank index)\n"
            "  --latin1              the catalogue is ISO-8859-1 (converted to UTF-8)\n"
            "  --id FIELD            id column/key (default: id)\n"
            "  --text TEMPLATE       item text, e.g. \"{title}. {brand}. {description}\" (default: {title})\n"
            "  --out STORE           item store to write\n"
            "  --model DIR           model folder (default: models/all-MiniLM-L6-v2)\n"
            "  --device cpu|cuda|auto  compute backend (default: cpu); cuda never falls back silently\n"
            "  --precision default|auto|fp32|fp16|bf16  matrix-product operands (default: $FEEDRANK_PRECISION,\n"
            "                       else default = fp32 (exact) on the CPU, fp16 on CUDA; auto = fp16 on CUDA\n"
            "                       and on CPUs with AVX-512 FP16, bf16 with AVX-512 BF16, else fp32)\n"
            "  --dtype f32|f16       stored vector precision (default: f32)\n"
            "  --no-text             do not keep item texts in the store\n"
            "  --shard I/N           embed only rows with row %% N == I (merge shards with 'feedrank store merge')\n"
            "  --batch N             items per encoder call (default: 64)\n"
            "  --strict              stop at the first bad row instead of skipping it\n"
            "  --restart             discard an existing journal instead of resuming from it\n"
            "Progress goes to stderr: a bar on a terminal, a line every 10 s otherwise.\n"
            "With --interactions LOG, index builds log priors into an existing store instead (below).\n");
}

/* Settings that must match for a journal to be resumed. */
static uint64_t settings_hash(const char *catalog, uint64_t model_fp, const char *id_field, const char *text_spec,
                              int shard_i, int shard_n, int latin1, int fmt, int keep_text) {
    struct stat sb;
    uint64_t h = model_fp;
    if (stat(catalog, &sb) == 0) {
        int64_t ident[2] = {(int64_t)sb.st_size, (int64_t)sb.st_mtime};
        h = fr_hash64(ident, sizeof ident, h);
    }
    h = fr_hash64(catalog, strlen(catalog), h);
    h = fr_hash64(id_field, strlen(id_field) + 1, h);
    h = fr_hash64(text_spec, strlen(text_spec) + 1, h);
    int v[5] = {shard_i, shard_n, latin1, fmt, keep_text};
    return fr_hash64(v, sizeof v, h);
}

/* Takes OUT.lock (flock: exclusive, not waiting) for the whole run: two runs on one output would
 * append to one journal and interleave their records. Creating the lock file is also the run's
 * first write into OUT's folder, so an unwritable --out fails at once, not after the model has
 * loaded and the whole catalogue has been embedded. The file is removed at the end while still
 * held; a run that locked a file which, by then, is no longer the one at the path (removed by a run
 * finishing meanwhile) locks again. Returns the descriptor, or -1 with a message printed. */
static int output_lock(const char *out, char *path, size_t cap) {
    snprintf(path, cap, "%s.lock", out);
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            fprintf(stderr, "feedrank index: cannot create %s: %s\n", path, strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) fprintf(stderr, "feedrank index: another index run is writing %s (it holds %s)\n", out, path);
            else fprintf(stderr, "feedrank index: cannot lock %s: %s\n", path, strerror(e));
            return -1;
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev && held.st_ino == now.st_ino) return fd;
        close(fd);
    }
    fprintf(stderr, "feedrank index: cannot lock %s: it keeps being replaced\n", path);
    return -1;
}

static void output_unlock(int fd, const char *path) {
    if (fd < 0) return;
    unlink(path); /* before closing: nobody can lock this file and believe it is the current one */
    close(fd);
}

static void progress(int tty, long long done, long long bytes, long long total_bytes, double start, double *last, int final) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = ts.tv_sec + ts.tv_nsec * 1e-9;
    if (!final && now - *last < (tty ? 0.2 : 10.0)) return;
    *last = now;
    double el = now - start, rate = el > 0 ? done / el : 0;
    double frac = total_bytes > 0 ? (double)bytes / total_bytes : 0;
    double eta = frac > 0.001 ? el * (1 - frac) / frac : 0;
    if (tty) {
        int w = 30, fill = (int)(frac * w);
        fprintf(stderr, "\r[%.*s%*s] %3.0f%%  %lld items  %.0f items/s  ETA %dm%02ds ", fill, "==============================",
                w - fill, "", frac * 100, done, rate, (int)eta / 60, (int)eta % 60);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "feedrank index: %lld items, %.0f%% of input, %.0f items/s, ETA %ds\n", done, frac * 100, rate, (int)eta);
    }
}

int fr_cmd_index(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (fr_cli_flag(argv[i], "--interactions")) return fr_cmd_priors_index(argc, argv);
    const char *catalog = NULL, *out = NULL, *model = NULL, *format = NULL, *id_field = "id", *text_spec = "{title}";
    const char *device = "cpu", *precision = NULL, *dtype_s = "f32", *shard_s = NULL, *batch_s = "64";
    int latin1 = 0, keep_text = 1, strict = 0, restart = 0, id_given = 0, text_given = 0, html = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--catalog", &catalog)) || (r = fr_cli_value(argc, argv, &i, "--out", &out)) ||
            (r = fr_cli_value(argc, argv, &i, "--model", &model)) || (r = fr_cli_value(argc, argv, &i, "--format", &format)) ||
            (r = fr_cli_value(argc, argv, &i, "--id", &id_field)) || (r = fr_cli_value(argc, argv, &i, "--text", &text_spec)) ||
            (r = fr_cli_value(argc, argv, &i, "--device", &device)) ||
            (r = fr_cli_value(argc, argv, &i, "--precision", &precision)) || (r = fr_cli_value(argc, argv, &i, "--dtype", &dtype_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--shard", &shard_s)) || (r = fr_cli_value(argc, argv, &i, "--batch", &batch_s))) {
            if (r < 0) return 2;
            id_given |= strcmp(argv[i - 1], "--id") == 0;
            text_given |= strcmp(argv[i - 1], "--text") == 0;
        } else if (strcmp(argv[i], "--latin1") == 0) latin1 = 1;
        else if (strcmp(argv[i], "--no-text") == 0) keep_text = 0;
        else if (strcmp(argv[i], "--strict") == 0) strict = 1;
        else if (strcmp(argv[i], "--restart") == 0) restart = 1;
        else if (fr_cli_help(argv[i])) {
            index_usage(stdout);
            fputc('\n', stdout);
            fr_cli_priors_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank index: unknown option '%s'\n", argv[i]);
            index_usage(stderr);
            return 2;
        }
    }
    if (!catalog || !out) {
        fprintf(stderr, "feedrank index: --catalog and --out are required\n");
        index_usage(stderr);
        return 2;
    }
    int shard_i = 0, shard_n = 1;
    if (shard_s && fr_cli_shard(shard_s, &shard_i, &shard_n)) return 2;
    long batch;
    if (fr_cli_int("--batch", batch_s, 1, 1 << 16, &batch)) return 2;
    fr_store_dtype dtype;
    if (strcmp(dtype_s, "f32") == 0) dtype = FR_STORE_F32;
    else if (strcmp(dtype_s, "f16") == 0) dtype = FR_STORE_F16;
    else {
        fprintf(stderr, "feedrank index: --dtype must be f32 or f16\n");
        return 2;
    }
    fr_catalog_format fmt = FR_CAT_CSV;
    const char *ext = strrchr(catalog, '.');
    if (format) {
        if (strcmp(format, "csv") == 0) fmt = FR_CAT_CSV;
        else if (strcmp(format, "tsv") == 0) fmt = FR_CAT_TSV;
        else if (strcmp(format, "jsonl") == 0) fmt = FR_CAT_JSONL;
        else if (strcmp(format, "recbole") == 0) {
            fmt = FR_CAT_TSV;
            html = 1;
        } else {
            fprintf(stderr, "feedrank index: --format must be csv, tsv, jsonl or recbole\n");
            return 2;
        }
    } else if (ext && strcmp(ext, ".item") == 0) {
        fmt = FR_CAT_TSV;
        html = 1;
    } else if (ext && (strcmp(ext, ".jsonl") == 0 || strcmp(ext, ".json") == 0 || strcmp(ext, ".ndjson") == 0)) fmt = FR_CAT_JSONL;
    else if (ext && strcmp(ext, ".tsv") == 0) fmt = FR_CAT_TSV;

    if (html) { /* RecBole .item: its columns, unless named */
        if (!id_given) id_field = "item_id:token";
        if (!text_given) text_spec = "{title:token_seq}";
    }
    char err[1024];
    fr_template *tmpl = NULL;
    if (fr_template_compile(text_spec, &tmpl, err, sizeof err)) {
        fprintf(stderr, "feedrank index: --text: %s\n", err);
        return 2;
    }
    /* the output first: a folder, an unwritable path or a run already writing it fails now */
    struct stat ost;
    if (stat(out, &ost) == 0 && !S_ISREG(ost.st_mode)) {
        fprintf(stderr, "feedrank index: --out %s %s\n", out, S_ISDIR(ost.st_mode) ? "is a directory" : "is not a regular file");
        fr_template_free(tmpl);
        return 1;
    }
    char lock_path[4200];
    int lock_fd = output_lock(out, lock_path, sizeof lock_path);
    if (lock_fd < 0) {
        fr_template_free(tmpl);
        return 1;
    }
    fr_catalog *cat = NULL;
    fr_encoder *enc = NULL;
    fr_journal *j = NULL;
    int rc = 0;
    char **texts = NULL, **ids = NULL, *html_buf = NULL;
    size_t html_cap = 0;
    size_t *tcaps = NULL, *tlens = NULL, *ilens = NULL;
    uint64_t *rows = NULL;
    float *vecs = NULL;
    if (fr_catalog_open(catalog, fmt, latin1, &cat, err, sizeof err)) {
        fprintf(stderr, "feedrank index: %s\n", err);
        rc = 1;
        goto finish;
    }
    if (fr_template_check(tmpl, cat, err, sizeof err)) {
        fprintf(stderr, "feedrank index: --text: %s\n", err);
        rc = 2;
        goto finish;
    }
    if (fmt != FR_CAT_JSONL) {
        const char *const *cols;
        int nc = fr_catalog_columns(cat, &cols), found = 0;
        for (int k = 0; k < nc; k++) found |= strcmp(cols[k], id_field) == 0;
        if (!found) {
            fprintf(stderr, "feedrank index: --id: %s has no column '%s'\n", catalog, id_field);
            rc = 2;
            goto finish;
        }
    }
    fr_encoder_options opt = {.backend = device, .precision = fr_cli_precision(precision)};
    if (fr_encoder_load(fr_cli_model_dir(model), &opt, &enc, err, sizeof err)) {
        fprintf(stderr, "feedrank index: cannot load model: %s\n", err);
        rc = 1;
        goto finish;
    }
    const int dim = fr_encoder_dim(enc);
    uint64_t settings = settings_hash(catalog, fr_encoder_fingerprint(enc), id_field, text_spec, shard_i, shard_n, latin1, fmt + 8 * html, keep_text);
    char jpath[4200];
    snprintf(jpath, sizeof jpath, "%s.journal", out);
    if (fr_journal_open(jpath, settings, dim, restart, &j, err, sizeof err)) {
        fprintf(stderr, "feedrank index: %s\n", err);
        rc = 1;
        goto finish;
    }
    if (fr_journal_dropped_bytes(j)) fprintf(stderr, "feedrank index: %s: dropped a torn or corrupt tail of %lld bytes\n", jpath, fr_journal_dropped_bytes(j));
    if (fr_journal_records(j)) fprintf(stderr, "feedrank index: resuming: %lld items already embedded (journal %s)\n", fr_journal_records(j), jpath);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct stat sb;
    long long total_bytes = stat(catalog, &sb) == 0 ? (long long)sb.st_size : 0;
    int tty = isatty(2);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double start = ts.tv_sec + ts.tv_nsec * 1e-9, last = 0;

    texts = calloc((size_t)batch, sizeof *texts);
    ids = calloc((size_t)batch, sizeof *ids);
    tcaps = calloc((size_t)batch, sizeof *tcaps);
    tlens = calloc((size_t)batch, sizeof *tlens);
    ilens = calloc((size_t)batch, sizeof *ilens);
    rows = calloc((size_t)batch, sizeof *rows);
    vecs = malloc(sizeof(float) * (size_t)batch * dim);
    long long row = -1, bad = 0, missing_fields = 0, done = fr_journal_records(j);
    if (!texts || !ids || !tcaps || !tlens || !ilens || !rows || !vecs) {
        fprintf(stderr, "feedrank index: out of memory\n");
        rc = 1;
        goto finish;
    }
    for (int eof = 0; !eof && !g_interrupted;) {
        int n = 0;
        while (n < batch) {
            int r = fr_catalog_next(cat, err, sizeof err);
            if (r == 0) {
                eof = 1;
                break;
            }
            if (r == -2) {
                fprintf(stderr, "feedrank index: %s\n", err);
                rc = 1;
                goto finish;
            }
            row++;
            if (r == -1) {
                bad++;
                fprintf(stderr, "feedrank index: %s%s\n", err, strict ? "" : " (row skipped)");
                if (strict) {
                    rc = 1;
                    goto finish;
                }
                continue;
            }
            if (row % shard_n != shard_i) continue;
            if (row < fr_journal_next_row(j)) continue; /* embedded before the interruption */
            size_t il;
            const char *id = fr_catalog_field(cat, id_field, &il);
            if (!id || il == 0 || il > FR_STORE_MAX_ID) {
                bad++;
                fprintf(stderr, "feedrank index: %s:%ld: id field '%s' is %s%s\n", catalog, fr_catalog_line(cat), id_field,
                        !id ? "missing" : il == 0 ? "empty"
                                                  : "longer than 128 bytes",
                        strict ? "" : " (row skipped)");
                if (strict) {
                    rc = 1;
                    goto finish;
                }
                continue;
            }
            free(ids[n]);
            ids[n] = strndup(id, il);
            ilens[n] = il;
            int missing;
            long tl = fr_template_render(tmpl, cat, &texts[n], &tcaps[n], &missing);
            if (tl >= 0 && html) { /* the harness's RecBole text: one function (html.h) */
                tl = fr_item_text_decode(texts[n], (size_t)tl, &html_buf, &html_cap);
                if (tl >= 0) {
                    char *t = texts[n];
                    size_t c = tcaps[n];
                    texts[n] = html_buf;
                    tcaps[n] = html_cap;
                    html_buf = t;
                    html_cap = c;
                }
            }
            if (tl < 0 || !ids[n]) {
                fprintf(stderr, "feedrank index: out of memory\n");
                rc = 1;
                goto finish;
            }
            missing_fields += missing;
            tlens[n] = (size_t)tl;
            rows[n] = (uint64_t)row;
            n++;
        }
        if (n == 0) continue;
        if (fr_encoder_embed(enc, (const char *const *)texts, tlens, n, FR_TEXT_DOCUMENT, vecs, NULL, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s\n", err);
            rc = 1;
            goto finish;
        }
        for (int k = 0; k < n; k++)
            if (fr_journal_append(j, rows[k], ids[k], ilens[k], texts[k], keep_text ? tlens[k] : 0, vecs + (size_t)k * dim, err, sizeof err)) {
                fprintf(stderr, "feedrank index: %s\n", err);
                rc = 1;
                goto finish;
            }
        if (fr_journal_sync(j, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s\n", err);
            rc = 1;
            goto finish;
        }
        done += n;
        progress(tty, done, fr_catalog_bytes(cat), total_bytes, start, &last, 0);
    }
    if (tty) progress(tty, done, fr_catalog_bytes(cat), total_bytes, start, &last, 1);
    if (g_interrupted) {
        fprintf(stderr, "feedrank index: interrupted after %lld items; they are kept in %s: rerun the same command to resume\n", done, jpath);
        rc = 130;
        goto finish;
    }
    /* a store of nothing is not a result: a header-only catalogue is a mistake (a wrong file, an
     * export cut short) that a 0-item store would carry silently into serving */
    if (row < 0 || (done == 0 && shard_n == 1)) {
        if (row < 0) fprintf(stderr, "feedrank index: %s: catalog has no items\n", catalog);
        else fprintf(stderr, "feedrank index: %s: catalog has no usable items (%lld bad rows skipped)\n", catalog, bad);
        if (fr_journal_records(j) == 0) {
            fr_journal_close(j, 1);
            j = NULL;
        } /* only its header: nothing to resume */
        rc = 1;
        goto finish;
    }
    /* assemble the store from the journal */
    {
        fr_store_writer *w;
        if (fr_store_writer_open(out, dim, dtype, fr_encoder_name(enc), fr_encoder_fingerprint(enc), keep_text, &w, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s\n", err);
            rc = 1;
            goto finish;
        }
        if (fr_journal_rewind(j, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s\n", err);
            fr_store_writer_abort(w);
            rc = 1;
            goto finish;
        }
        fr_journal_record r;
        int st;
        long long dups = 0;
        while ((st = fr_journal_next(j, &r, err, sizeof err)) == 1) {
            if (fr_store_writer_add(w, r.id, r.id_len, r.vec, r.text, r.text_len, err, sizeof err)) {
                if (strstr(err, "duplicate") && !strict) {
                    dups++;
                    fprintf(stderr, "feedrank index: %s (later row %llu skipped)\n", err, (unsigned long long)r.row);
                    continue;
                }
                st = -2;
                break;
            }
        }
        if (st != 0) {
            fprintf(stderr, "feedrank index: %s\n", err);
            fr_store_writer_abort(w);
            rc = 1;
            goto finish;
        }
        if (fr_store_writer_finish(w, err, sizeof err)) {
            fprintf(stderr, "feedrank index: %s\n", err);
            rc = 1;
            goto finish;
        }
        fr_journal_close(j, 1);
        j = NULL;
        fprintf(stderr, "feedrank index: wrote %s: %lld items (dim %d, %s), %lld bad rows skipped, %lld duplicate ids skipped, %lld empty template fields%s\n",
                out, done - dups, dim, dtype_s, bad, dups, missing_fields, shard_n > 1 ? " (one shard)" : "");
    }
finish:
    fr_journal_close(j, 0);
    output_unlock(lock_fd, lock_path);
    for (long k = 0; k < batch; k++) {
        if (texts) free(texts[k]);
        if (ids) free(ids[k]);
    }
    free(texts);
    free(ids);
    free(tcaps);
    free(tlens);
    free(ilens);
    free(rows);
    free(vecs);
    free(html_buf);
    fr_encoder_free(enc);
    fr_catalog_close(cat);
    fr_template_free(tmpl);
    return rc;
}

/* cmd_embed.c - `feedrank embed`: texts (one per line) in, one vector per line out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encoder.h"

static void embed_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank embed [options]\n"
            "  --model DIR          model folder (default: models/all-MiniLM-L6-v2, or $FEEDRANK_MODEL)\n"
            "  --input FILE|-       UTF-8 texts, one per line (default: - = stdin)\n"
            "  --output FILE|-      where vectors go (default: - = stdout)\n"
            "  --format jsonl|npy   one JSON array per line, or a float32 .npy matrix (default: jsonl)\n"
            "  --query              embed as queries (applies the model's query prefix)\n"
            "  --document           embed as documents (applies the model's document prefix)\n"
            "  --query-prefix S     override the query prefix (e.g. \"query: \" for e5)\n"
            "  --document-prefix S  override the document prefix\n"
            "  --device cpu|cuda|auto  compute backend (default: cpu); cuda never falls back silently\n"
            "  --precision default|auto|fp32|fp16|bf16  matrix-product operands (default: $FEEDRANK_PRECISION,\n"
            "                       else default = fp32 (exact) on the CPU, fp16 on CUDA; auto = fp16 on CUDA\n"
            "                       and on CPUs with AVX-512 FP16, bf16 with AVX-512 BF16, else fp32)\n"
            "  --batch N            texts per encoder call (default: 64)\n"
            "  --too-long truncate|error  over-long texts: cut at the model's max_seq_length\n"
            "                       (default, counted on stderr) or stop with an error\n");
}

typedef struct {
    FILE *f;
    int npy;
    int seekable;
    long rows;
    int dim;
    float *held; /* npy to a pipe: rows are held until the count is known */
    size_t held_cap;
} sink;

/* A .npy v1.0 header: the magic "\x93NUMPY", version 1.0, the header length as a little-endian
 * uint16, then a Python dict literal padded with spaces and ended by '\n'. It is 128 bytes in
 * all: a multiple of 64, so that the data that follows is aligned as numpy requires, and a fixed
 * size, so that it can be rewritten in place with the final row count once all rows are written. */
#define NPY_HEADER 128
static int write_npy_header(FILE *f, long rows, int dim) {
    char h[NPY_HEADER];
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((NPY_HEADER - 10) & 0xff);
    h[9] = (char)((NPY_HEADER - 10) >> 8);
    int n = snprintf(h + 10, sizeof h - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %d), }", rows, dim);
    if (n < 0 || n > NPY_HEADER - 11) return -1;
    memset(h + 10 + n, ' ', (size_t)(NPY_HEADER - 11 - n));
    h[NPY_HEADER - 1] = '\n';
    return fwrite(h, 1, sizeof h, f) == sizeof h ? 0 : -1;
}

static int sink_rows(sink *s, const float *v, int n) {
    if (!s->npy) {
        for (int i = 0; i < n; i++) {
            fputc('[', s->f);
            for (int d = 0; d < s->dim; d++) fprintf(s->f, d ? ",%.9g" : "%.9g", v[(size_t)i * s->dim + d]);
            fputs("]\n", s->f);
        }
    } else if (s->seekable) {
        if (fwrite(v, sizeof(float) * (size_t)s->dim, (size_t)n, s->f) != (size_t)n) return -1;
    } else {
        size_t need = (size_t)(s->rows + n) * (size_t)s->dim;
        if (need > s->held_cap) {
            size_t cap = s->held_cap ? s->held_cap * 2 : need;
            while (cap < need) cap *= 2;
            float *p = realloc(s->held, cap * sizeof(float));
            if (!p) return -1;
            s->held = p;
            s->held_cap = cap;
        }
        memcpy(s->held + (size_t)s->rows * s->dim, v, sizeof(float) * (size_t)n * s->dim);
    }
    s->rows += n;
    return ferror(s->f) ? -1 : 0;
}

/* Completes an .npy (the header's row count, or everything held); flushing is the output's commit. */
static int sink_finish(sink *s) {
    if (!s->npy) return 0;
    if (s->seekable) return fseek(s->f, 0, SEEK_SET) != 0 || write_npy_header(s->f, s->rows, s->dim) ? -1 : 0;
    if (write_npy_header(s->f, s->rows, s->dim)) return -1;
    if (s->rows && fwrite(s->held, sizeof(float) * (size_t)s->dim, (size_t)s->rows, s->f) != (size_t)s->rows) return -1;
    return 0;
}

int fr_cmd_embed(int argc, char **argv) {
    const char *model = NULL, *input = "-", *output = "-", *format = "jsonl", *device = "cpu", *precision = NULL;
    const char *qprefix = NULL, *dprefix = NULL, *too_long = "truncate", *batch_s = "64";
    fr_text_kind kind = FR_TEXT_PLAIN;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--model", &model)) ||
            (r = fr_cli_value(argc, argv, &i, "--input", &input)) ||
            (r = fr_cli_value(argc, argv, &i, "--output", &output)) ||
            (r = fr_cli_value(argc, argv, &i, "--format", &format)) ||
            (r = fr_cli_value(argc, argv, &i, "--device", &device)) ||
            (r = fr_cli_value(argc, argv, &i, "--precision", &precision)) ||
            (r = fr_cli_value(argc, argv, &i, "--query-prefix", &qprefix)) ||
            (r = fr_cli_value(argc, argv, &i, "--document-prefix", &dprefix)) ||
            (r = fr_cli_value(argc, argv, &i, "--too-long", &too_long)) ||
            (r = fr_cli_value(argc, argv, &i, "--batch", &batch_s))) {
            if (r < 0) return 2;
        } else if (strcmp(argv[i], "--query") == 0) {
            kind = FR_TEXT_QUERY;
        } else if (strcmp(argv[i], "--document") == 0) {
            kind = FR_TEXT_DOCUMENT;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            embed_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank embed: unknown option '%s'\n", argv[i]);
            embed_usage(stderr);
            return 2;
        }
    }
    long batch;
    if (fr_cli_int("--batch", batch_s, 1, 1 << 20, &batch)) return 2;
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "npy") != 0) {
        fprintf(stderr, "feedrank embed: --format must be jsonl or npy, not '%s'\n", format);
        return 2;
    }
    if (strcmp(too_long, "truncate") != 0 && strcmp(too_long, "error") != 0) {
        fprintf(stderr, "feedrank embed: --too-long must be truncate or error, not '%s'\n", too_long);
        return 2;
    }
    model = fr_cli_model_dir(model);

    char err[1024];
    FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!in) {
        perror(input);
        fprintf(stderr, "feedrank embed: cannot read input '%s'\n", input);
        return 1;
    }
    /* the output before the model: an unwritable path fails at once, and nothing is left behind
     * unless the run succeeds (the vectors go to a temporary file renamed into place) */
    fr_cli_out out;
    if (fr_cli_out_open(&out, output, err, sizeof err)) {
        fprintf(stderr, "feedrank embed: %s\n", err);
        if (in != stdin) fclose(in);
        return 1;
    }
    fr_encoder_options opt = {.backend = device, .precision = fr_cli_precision(precision), .query_prefix = qprefix, .document_prefix = dprefix};
    fr_encoder *enc = NULL;
    char **lines = NULL;
    size_t *caps = NULL, *lens = NULL;
    float *vecs = NULL;
    fr_embed_info *info = NULL;
    int rc = 0;
    long line_no = 0, truncated = 0;
    sink s = {.f = out.f, .npy = strcmp(format, "npy") == 0};
    if (fr_encoder_load(model, &opt, &enc, err, sizeof err)) {
        fprintf(stderr, "feedrank embed: cannot load model: %s\n", err);
        rc = 1;
        goto done;
    }
    const int dim = fr_encoder_dim(enc);
    s.dim = dim;
    fprintf(stderr, "feedrank embed: model %s, dim %d, max_seq_length %d, backend %s (%s)\n", model, dim,
            fr_encoder_config(enc)->max_seq_length, fr_encoder_backend(enc)->name,
            fr_precision_name(fr_encoder_backend(enc)->precision));
    if (s.npy) {
        /* a file gets its header now and the row count at the end; a pipe gets everything at the end */
        s.seekable = !out.in_place && fseek(out.f, 0, SEEK_SET) == 0;
        if (s.seekable && write_npy_header(out.f, 0, dim)) {
            fprintf(stderr, "feedrank embed: %s: cannot write the header\n", out.name);
            rc = 1;
            goto done;
        }
    }
    lines = calloc((size_t)batch, sizeof *lines);
    caps = calloc((size_t)batch, sizeof *caps);
    lens = calloc((size_t)batch, sizeof *lens);
    vecs = malloc(sizeof(float) * (size_t)batch * dim);
    info = calloc((size_t)batch, sizeof *info);
    if (!lines || !caps || !lens || !vecs || !info) {
        fprintf(stderr, "feedrank embed: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int eof = 0; !eof;) {
        int n = 0;
        while (n < batch) {
            ssize_t got = getline(&lines[n], &caps[n], in);
            if (got < 0) {
                eof = 1;
                break;
            }
            if (got > 0 && lines[n][got - 1] == '\n') got--;
            if (got > 0 && lines[n][got - 1] == '\r') got--;
            lens[n++] = (size_t)got;
        }
        if (ferror(in)) {
            fprintf(stderr, "feedrank embed: read error on %s after line %ld\n", input, line_no);
            rc = 1;
            break;
        }
        if (n == 0) break;
        if (fr_encoder_embed(enc, (const char *const *)lines, lens, n, kind, vecs, info, err, sizeof err)) {
            fprintf(stderr, "feedrank embed: lines %ld-%ld: %s\n", line_no + 1, line_no + n, err);
            rc = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (!info[i].truncated) continue;
            if (strcmp(too_long, "error") == 0) {
                fprintf(stderr, "feedrank embed: %s:%ld: text is longer than the model's %d-token limit (use --too-long truncate to cut it)\n",
                        input, line_no + i + 1, fr_encoder_config(enc)->max_seq_length);
                rc = 1;
                goto done;
            }
            truncated++;
        }
        int bad = sink_rows(&s, vecs, n);
        /* checked every batch: a full disk stops the run where it happened */
        if (fr_cli_out_check(&out, err, sizeof err)) {
            fprintf(stderr, "feedrank embed: %s\n", err);
            rc = 1;
            break;
        }
        if (bad) {
            fprintf(stderr, "feedrank embed: out of memory holding %ld rows for %s\n", s.rows + n, out.name);
            rc = 1;
            break;
        }
        line_no += n;
    }
    if (rc == 0 && sink_finish(&s) != 0) {
        if (!fr_cli_out_check(&out, err, sizeof err)) snprintf(err, sizeof err, "%s: cannot complete the .npy file", out.name);
        fprintf(stderr, "feedrank embed: %s\n", err);
        rc = 1;
    }
    if (rc == 0 && fr_cli_out_commit(&out, err, sizeof err)) {
        fprintf(stderr, "feedrank embed: %s\n", err);
        rc = 1;
    }
    if (rc == 0)
        fprintf(stderr, "feedrank embed: %ld texts embedded, %ld truncated to %d tokens\n", line_no, truncated,
                fr_encoder_config(enc)->max_seq_length);
done:
    for (long i = 0; lines && i < batch; i++) free(lines[i]);
    free(lines);
    free(caps);
    free(lens);
    free(vecs);
    free(info);
    free(s.held);
    if (in != stdin) fclose(in);
    fr_cli_out_abort(&out); /* a no-op once committed: otherwise no partial file is left */
    fr_encoder_free(enc);
    return rc;
}

/* embed_cpu.c - encoder and tokenizer throughput of feedrank on this machine.
 *
 *   embed_cpu [--model DIR] [--device cpu|cuda] [--precision fp32|bf16|auto|...] [--lens 16,128]
 *             [--batches 1,8,64] [--min-seconds S] [--dump-texts DIR] [--tok-corpus FILE]
 *             [--no-tokenizer]
 *
 * For each (sequence length, batch) it embeds batches of distinct texts that tokenize to exactly
 * that many tokens ([CLS] and [SEP] included), repeats for at least --min-seconds (and 5 runs),
 * and reports the median batch latency as texts/s and tokens/s. Tokenization is included, as
 * in a real request. --dump-texts writes the texts so that peers (bench/peers/) embed the
 * same inputs. Output: one JSON object per line on stdout. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "encoder.h"

/* Single-token words of the uncased BERT vocabulary, mixed so texts differ. */
static const char *WORDS[] = {"cord", "drill", "light", "water", "steel", "black", "white", "door", "garden",
                              "hose", "kitchen", "sink", "wall", "paint", "brush", "wood", "floor", "tile", "lamp",
                              "table", "chair", "glass", "metal", "red", "blue", "green", "small", "large", "game",
                              "card", "power", "cable", "video", "music", "home", "office", "outdoor", "window"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

/* Text i of a set whose texts tokenize to `tokens` ids; checked against the tokenizer. */
static char *make_text(const fr_tokenizer *tok, int tokens, int i) {
    size_t cap = (size_t)tokens * 12 + 16;
    char *s = malloc(cap);
    s[0] = 0;
    size_t len = 0;
    unsigned x = (unsigned)i * 2654435761u + 12345u;
    for (int w = 0; w < tokens - 2; w++) {
        x = x * 1103515245u + 12345u;
        len += (size_t)snprintf(s + len, cap - len, "%s%s", w ? " " : "", WORDS[(x >> 16) % NWORDS]);
    }
    int32_t ids[4096];
    int n = fr_tok_encode(tok, s, len, ids, 4096, NULL);
    if (n != tokens) {
        fprintf(stderr, "embed_cpu: generated text has %d tokens, wanted %d\n", n, tokens);
        exit(1);
    }
    return s;
}

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        out[n++] = atoi(s);
        s = strchr(s, ',');
        if (!s) break;
        s++;
    }
    return n;
}

static void bench_tokenizer(const fr_tokenizer *tok, const char *corpus_path, int max_tokens) {
    char **texts = NULL;
    size_t *lens = NULL, n = 0, cap = 0, bytes = 0;
    if (corpus_path) {
        FILE *f = fopen(corpus_path, "rb");
        if (!f) {
            perror(corpus_path);
            exit(1);
        }
        char *line = NULL;
        size_t lc = 0;
        ssize_t got;
        while ((got = getline(&line, &lc, f)) >= 0) {
            if (got && line[got - 1] == '\n') line[--got] = 0;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                texts = realloc(texts, cap * sizeof *texts);
                lens = realloc(lens, cap * sizeof *lens);
            }
            texts[n] = strndup(line, (size_t)got);
            lens[n++] = (size_t)got;
            bytes += (size_t)got;
        }
        free(line);
        fclose(f);
    } else {
        cap = n = 20000;
        texts = malloc(n * sizeof *texts);
        lens = malloc(n * sizeof *lens);
        for (size_t i = 0; i < n; i++) {
            texts[i] = make_text(tok, 8 + (int)(i % 40), (int)i);
            lens[i] = strlen(texts[i]);
            bytes += lens[i];
        }
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)max_tokens);
    double runs[5];
    long total_tokens = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = fr_bench_now();
        total_tokens = 0;
        for (size_t i = 0; i < n; i++) total_tokens += fr_tok_encode(tok, texts[i], lens[i], ids, max_tokens, NULL);
        runs[r] = fr_bench_now() - t0;
    }
    qsort(runs, 5, sizeof runs[0], fr_bench_cmp_double);
    double med = runs[2];
    printf("{\"bench\":\"tokenizer\",\"corpus\":\"%s\",\"texts\":%zu,\"bytes\":%zu,\"tokens\":%ld,\"median_s\":%.6f,"
           "\"texts_per_s\":%.0f,\"mb_per_s\":%.2f,\"tokens_per_s\":%.0f}\n",
           corpus_path ? corpus_path : "synthetic", n, bytes, total_tokens, med, n / med, bytes / med / 1e6, total_tokens / med);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    free(ids);
}

int main(int argc, char **argv) {
    const char *model = "models/all-MiniLM-L6-v2", *device = "cpu", *precision = NULL, *lens_s = "16,128", *batches_s = "1,8,64";
    const char *dump = NULL, *corpus = NULL;
    double min_seconds = 3.0;
    int tokenizer = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--model") == 0) model = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--device") == 0) device = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0) precision = argv[++i];
        else if (strcmp(argv[i], "--no-tokenizer") == 0) tokenizer = 0;
        else if (i + 1 < argc && strcmp(argv[i], "--lens") == 0) lens_s = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--batches") == 0) batches_s = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--min-seconds") == 0) min_seconds = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--dump-texts") == 0) dump = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--tok-corpus") == 0) corpus = argv[++i];
        else {
            fprintf(stderr, "embed_cpu: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        }
    }
    int lens[16], batches[16];
    int nl = parse_list(lens_s, lens, 16), nb = parse_list(batches_s, batches, 16);
    char err[1024];
    fr_encoder_options opt = {.backend = device, .precision = precision, .max_batch_tokens = 16384};
    fr_encoder *enc;
    if (fr_encoder_load(model, &opt, &enc, err, sizeof err)) {
        fprintf(stderr, "embed_cpu: %s\n", err);
        return 1;
    }
    const fr_tokenizer *tok = fr_encoder_tokenizer(enc);
    int maxb = 0;
    for (int b = 0; b < nb; b++)
        if (batches[b] > maxb) maxb = batches[b];
    float *out = malloc(sizeof(float) * (size_t)maxb * fr_encoder_dim(enc));
    for (int l = 0; l < nl; l++) {
        char **texts = malloc(sizeof(char *) * (size_t)maxb * 4);
        for (int i = 0; i < maxb * 4; i++) texts[i] = make_text(tok, lens[l], i);
        if (dump) {
            char path[1024];
            snprintf(path, sizeof path, "%s/texts_%d.txt", dump, lens[l]);
            FILE *f = fopen(path, "w");
            if (!f) {
                perror(path);
                return 1;
            }
            for (int i = 0; i < maxb * 4; i++) fprintf(f, "%s\n", texts[i]);
            fclose(f);
        }
        for (int b = 0; b < nb; b++) {
            int B = batches[b];
            double *lat = malloc(sizeof(double) * 100000);
            int runs = 0;
            double start = fr_bench_now();
            for (int w = 0; w < 2; w++) fr_encoder_embed(enc, (const char *const *)texts, NULL, B, FR_TEXT_PLAIN, out, NULL, err, sizeof err);
            while ((runs < 5 || fr_bench_now() - start < min_seconds) && runs < 100000) {
                const char *const *batch = (const char *const *)texts + (size_t)(runs % 4) * B;
                double t0 = fr_bench_now();
                if (fr_encoder_embed(enc, batch, NULL, B, FR_TEXT_PLAIN, out, NULL, err, sizeof err)) {
                    fprintf(stderr, "embed_cpu: %s\n", err);
                    return 1;
                }
                lat[runs++] = fr_bench_now() - t0;
            }
            qsort(lat, (size_t)runs, sizeof lat[0], fr_bench_cmp_double);
            double med = lat[runs / 2];
            printf("{\"bench\":\"embed\",\"impl\":\"feedrank\",\"precision\":\"%s\",\"device\":\"%s\",\"seq_len\":%d,\"batch\":%d,\"runs\":%d,"
                   "\"median_ms\":%.3f,\"texts_per_s\":%.1f,\"tokens_per_s\":%.0f}\n",
                   fr_precision_name(fr_encoder_backend(enc)->precision), fr_encoder_backend(enc)->name, lens[l], B, runs, med * 1e3, B / med, (double)B * lens[l] / med);
            fflush(stdout);
            free(lat);
        }
        for (int i = 0; i < maxb * 4; i++) free(texts[i]);
        free(texts);
    }
    if (tokenizer) bench_tokenizer(tok, corpus, fr_encoder_config(enc)->max_seq_length);
    free(out);
    fr_encoder_free(enc);
    return 0;
}

/* test_tokenizer.c - the C tokenizer against ids produced by Hugging Face's own tokenizer
 * (tests/fixtures/tokenizer_golden.tsv, made by scripts/golden/make_tokenizer_golden.py):
 * every line must match exactly, with and without sentence-transformers' truncation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tokenizer.h"

static int parse_ids(const char *s, const char *end, int32_t *out, int cap) {
    int n = 0;
    while (s < end && n < cap) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s) break;
        out[n++] = (int32_t)v;
        s = e;
        while (s < end && *s == ' ') s++;
    }
    return n;
}

static void check_golden(const fr_tokenizer *tok) {
    size_t len;
    char *data = fr_test_read_file(FEEDRANK_SOURCE_DIR "/tests/fixtures/tokenizer_golden.tsv", &len);
    CHECK(data != NULL, "golden fixture missing");
    if (!data) return;
    int lines = 0, exact = 0;
    enum { CAP = 8192 };
    int32_t *want = malloc(CAP * 4), *got = malloc(CAP * 4);
    uint8_t *text = malloc(len);
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) nl = line + strlen(line);
        char *t1 = memchr(line, '\t', (size_t)(nl - line));
        char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
        CHECK(t1 && t2, "malformed golden line %d", lines + 1);
        if (!t1 || !t2) break;
        long tl = fr_test_unhex(line, (size_t)(t1 - line), text);
        lines++;
        int ok = 1;
        /* with truncation at 256 (sentence-transformers' max_seq_length for MiniLM) */
        int nw = parse_ids(t1 + 1, t2, want, CAP);
        int trunc = 0;
        int ng = fr_tok_encode(tok, (const char *)text, (size_t)tl, got, 256, &trunc);
        if (ng != nw || memcmp(want, got, (size_t)nw * 4) != 0) ok = 0;
        if (trunc != (parse_ids(t2 + 1, nl, want, CAP) > 256)) ok = 0;
        /* without truncation */
        nw = parse_ids(t2 + 1, nl, want, CAP);
        ng = fr_tok_encode(tok, (const char *)text, (size_t)tl, got, CAP, NULL);
        if (ng != nw || memcmp(want, got, (size_t)nw * 4) != 0) ok = 0;
        if (!ok) {
            fprintf(stderr, "mismatch on golden line %d (%ld bytes): want %d ids, got %d\n  want:", lines, tl, nw, ng);
            for (int i = 0; i < nw && i < 40; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n  got: ");
            for (int i = 0; i < ng && i < 40; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        exact += ok;
        line = *nl ? nl + 1 : nl;
    }
    printf("tokenizer golden: %d / %d lines exact\n", exact, lines);
    CHECK(lines >= 2000, "expected >= 2000 golden lines, found %d", lines);
    CHECK(exact == lines, "%d of %d golden lines differ", lines - exact, lines);
    free(want);
    free(got);
    free(text);
    free(data);
}

static void check_errors(void) {
    fr_tokenizer *t;
    char err[512];
    CHECK(fr_tok_load("/nonexistent-dir", &t, err, sizeof err) == FR_ERR_IO, "missing dir: %s", err);
    const char *bad[] = {
        "",
        "[]",
        "{\"model\":{}}",
        "{\"model\":{\"type\":\"BPE\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":5}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0,\"b\":0}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[CLS]\":0,\"[SEP]\":1,\"[PAD]\":2,\"[UNK]\":3}},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        fr_status rc = fr_tok_from_json(bad[i], strlen(bad[i]), "t.json", &t, err, sizeof err);
        CHECK(rc != FR_OK && t == NULL && err[0], "bad tokenizer.json #%zu accepted", i);
    }
    const char *good = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[CLS]\":0,\"[SEP]\":1,\"[PAD]\":2,\"[UNK]\":3,\"ab\":4,\"##c\":5}},"
                       "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}";
    fr_status rc = fr_tok_from_json(good, strlen(good), "t.json", &t, err, sizeof err);
    CHECK(rc == FR_OK, "minimal tokenizer.json rejected: %s", err);
    if (rc == FR_OK) {
        int32_t ids[8];
        int n = fr_tok_encode(t, "ABC abd", 7, ids, 8, NULL);
        CHECK(n == 5 && ids[0] == 0 && ids[1] == 4 && ids[2] == 5 && ids[3] == 3 && ids[4] == 1, "ABC abd -> %d ids", n);
        int trunc = 0;
        n = fr_tok_encode(t, "ab ab ab", 8, ids, 3, &trunc);
        CHECK(n == 3 && trunc == 1 && ids[1] == 4 && ids[2] == 1, "truncation to 3 ids");
        fr_tok_free(t);
    }
}

/* vocab.txt + tokenizer_config.json (no tokenizer.json) gives the same ids. */
static void check_vocab_txt(const fr_tokenizer *ref) {
    char dir[] = "/tmp/fr_vocab_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s/vocab.txt %s/tokenizer_config.json %s/", FEEDRANK_TEST_MODEL, FEEDRANK_TEST_MODEL, dir);
    CHECK(system(cmd) == 0, "copy vocab.txt");
    fr_tokenizer *t;
    char err[512];
    fr_status rc = fr_tok_load(dir, &t, err, sizeof err);
    CHECK(rc == FR_OK, "vocab.txt load: %s", err);
    if (rc == FR_OK) {
        const char *texts[] = {"Café Bustelo [SEP] 12 oz. naïve façade", "日本語 😀 x", "", "UNAFFABLE unaffable ##x"};
        for (int i = 0; i < 4; i++) {
            int32_t a[64], b[64];
            int na = fr_tok_encode(ref, texts[i], strlen(texts[i]), a, 64, NULL);
            int nb = fr_tok_encode(t, texts[i], strlen(texts[i]), b, 64, NULL);
            CHECK(na == nb && memcmp(a, b, 4 * (size_t)na) == 0, "vocab.txt tokenizer differs on '%s'", texts[i]);
        }
        fr_tok_free(t);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    char err[512];
    fr_tokenizer *tok;
    fr_status rc = fr_tok_load(FEEDRANK_TEST_MODEL, &tok, err, sizeof err);
    CHECK(rc == FR_OK, "load %s: %s (run scripts/fetch-model.sh all-MiniLM-L6-v2)", FEEDRANK_TEST_MODEL, err);
    if (rc == FR_OK) {
        check_golden(tok);
        check_vocab_txt(tok);
        fr_tok_free(tok);
    }
    check_errors();
    return fr_test_finish("test_tokenizer");
}

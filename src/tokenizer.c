/* tokenizer.c - BERT WordPiece, matching Hugging Face tokenizers bit for bit.
 *
 * Pipeline per input, as in tokenizers' BertNormalizer/BertPreTokenizer/WordPiece:
 *   1. UTF-8 decode (invalid sequences -> U+FFFD, maximal-subpart rule, like Python's 'replace')
 *   2. split out added/special tokens found verbatim in the raw text ("[SEP]" -> its id)
 *   3. normalize each char: clean_text, CJK spacing, accent stripping (NFD minus Mn), lowercase
 *   4. pre-tokenize: split on whitespace, isolate punctuation
 *   5. WordPiece: greedy longest match with "##" continuations; [UNK] for a word with no
 *      segmentation or longer than max_input_chars_per_word characters
 * Character classes and mappings are tables probed from the real library
 * (src/unicode_tables.c), so Unicode-version differences cannot creep in. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "model_config.h" /* fr_read_small_file */
#include "unicode_tables.h"

#define FR_TOK_MAX_TOKEN_BYTES 512 /* a vocab entry longer than this is rejected */
#define FR_TOK_MAX_ADDED 1024
#define FR_TOK_MAX_VOCAB (4 * 1024 * 1024)

typedef struct {
    const char *text;
    size_t len;
    int32_t id;
} added_token;

struct fr_tokenizer {
    fr_tok_config cfg;
    char **id_to_tok; /* [vocab_size], NULL for holes */
    char *arena;      /* token strings */
    fr_hindex vocab;  /* token string -> id */
    added_token added[FR_TOK_MAX_ADDED];
    int n_added;
    uint8_t ascii_flags[128];
    uint8_t added_first[256]; /* bytes that start some added token */
};

/* ---------- vocabulary hash ---------- */

static const void *token_key(const void *ctx, uint32_t id, size_t *len) {
    const char *tok = ((const fr_tokenizer *)ctx)->id_to_tok[id];
    *len = strlen(tok);
    return tok;
}

static int32_t vocab_lookup(const fr_tokenizer *t, const char *s, size_t n) { return (int32_t)fr_hindex_find(&t->vocab, s, n); }

/* Builds the hash from id_to_tok. A token string listed twice maps to its later id, as the
 * dict that Hugging Face builds from vocab.txt does. */
static fr_status build_hash(fr_tokenizer *t, const char *label, char *err, size_t errcap) {
    if (fr_hindex_init(&t->vocab, (uint64_t)t->cfg.vocab_size, token_key, t)) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for vocabulary", label);
    for (int32_t id = 0; id < t->cfg.vocab_size; id++) {
        const char *s = t->id_to_tok[id];
        if (s && fr_hindex_put(&t->vocab, s, strlen(s), (uint32_t)id) == -2) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for vocabulary", label);
    }
    return FR_OK;
}

/* ---------- Unicode helpers ---------- */

static unsigned uc_flags_slow(unsigned cp) {
    unsigned lo = 0, hi = fr_uc_range_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < fr_uc_ranges[mid].first) hi = mid;
        else if (cp > fr_uc_ranges[mid].last) lo = mid + 1;
        else return fr_uc_ranges[mid].flags;
    }
    return 0;
}

static unsigned uc_flags(const fr_tokenizer *t, unsigned cp) {
    return cp < 128 ? t->ascii_flags[cp] : uc_flags_slow(cp);
}

static const fr_uc_mapping *uc_map(const fr_uc_mapping *m, unsigned count, unsigned cp) {
    unsigned lo = 0, hi = count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < m[mid].cp) hi = mid;
        else if (cp > m[mid].cp) lo = mid + 1;
        else return &m[mid];
    }
    return NULL;
}

/* Decodes one code point at s[*i], advancing *i. Invalid input yields U+FFFD and consumes the
 * maximal subpart of an ill-formed sequence (Unicode 3.9, "U+FFFD substitution of maximal
 * subparts"), which is what CPython's 'replace' error handler does. */
static unsigned utf8_next(const uint8_t *s, size_t len, size_t *i) {
    uint8_t b = s[*i];
    if (b < 0x80) {
        (*i)++;
        return b;
    }
    int need;
    unsigned cp;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        (*i)++;
        return 0xFFFD;
    }
    size_t j = *i + 1;
    for (int k = 0; k < need; k++, j++) {
        if (j >= len) {
            *i = j;
            return 0xFFFD;
        }
        uint8_t c = s[j];
        if (c < lo || c > hi) {
            *i = j;
            return 0xFFFD;
        }
        lo = 0x80;
        hi = 0xBF;
        cp = (cp << 6) | (c & 0x3F);
    }
    *i = j;
    return cp;
}

static size_t utf8_put(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------- encoding ---------- */

typedef struct {
    unsigned *cps; /* normalized code points of the current segment */
    size_t n, cap;
    char *word; /* UTF-8 scratch for WordPiece ("##" + piece) */
    size_t word_cap;
} scratch;

static int push_cp(scratch *s, unsigned cp) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        unsigned *p = realloc(s->cps, nc * sizeof *p);
        if (!p) return -1;
        s->cps = p;
        s->cap = nc;
    }
    s->cps[s->n++] = cp;
    return 0;
}

/* Lowercase step applied to one (already cleaned / stripped) char. */
static int push_lowered(const fr_tokenizer *t, scratch *s, unsigned cp) {
    if (t->cfg.lowercase) {
        if (cp < 128) return push_cp(s, (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
        const fr_uc_mapping *m = uc_map(fr_uc_lower_map, fr_uc_lower_count, cp);
        if (m) {
            for (unsigned k = 0; k < m->len; k++)
                if (push_cp(s, m->to[k])) return -1;
            return 0;
        }
    }
    return push_cp(s, cp);
}

static int push_stripped(const fr_tokenizer *t, scratch *s, unsigned cp) {
    if (t->cfg.strip_accents && cp >= 128) {
        if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: algorithmic NFD */
            unsigned si = cp - 0xAC00;
            if (push_lowered(t, s, 0x1100 + si / 588) || push_lowered(t, s, 0x1161 + (si % 588) / 28)) return -1;
            return si % 28 ? push_lowered(t, s, 0x11A7 + si % 28) : 0;
        }
        const fr_uc_mapping *m = uc_map(fr_uc_strip_map, fr_uc_strip_count, cp);
        if (m) {
            for (unsigned k = 0; k < m->len; k++)
                if (push_lowered(t, s, m->to[k])) return -1;
            return 0;
        }
    }
    return push_lowered(t, s, cp);
}

static int normalize_char(const fr_tokenizer *t, scratch *s, unsigned cp) {
    unsigned f = uc_flags(t, cp);
    if (t->cfg.clean_text) {
        if (f & FR_UC_REMOVE) return 0;
        if (f & FR_UC_TO_SPACE) cp = ' ';
    }
    if (t->cfg.handle_chinese_chars && (f & FR_UC_CJK)) {
        if (push_stripped(t, s, ' ') || push_stripped(t, s, cp)) return -1;
        return push_stripped(t, s, ' ');
    }
    return push_stripped(t, s, cp);
}

typedef struct {
    int32_t *ids;
    int n, cap;
    int truncated;
} id_sink;

static void emit(id_sink *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n++] = id;
    else o->truncated = 1;
}

/* WordPiece on cps[0..n) (one pre-tokenized word). */
static int wordpiece(const fr_tokenizer *t, scratch *s, const unsigned *cps, size_t n, id_sink *o) {
    if (n > (size_t)t->cfg.max_input_chars_per_word) {
        emit(o, t->cfg.unk_id);
        return 0;
    }
    size_t need = 2 * (4 * n + 2);
    if (need > s->word_cap) {
        char *p = realloc(s->word, need);
        if (!p) return -1;
        s->word = p;
        s->word_cap = need;
    }
    /* word: UTF-8 of the whole word; cand: "##" + a piece of it */
    char *word = s->word, *cand = s->word + 4 * n + 2;
    size_t offs[FR_TOK_MAX_TOKEN_BYTES + 1];
    size_t nb = 0;
    for (size_t k = 0; k < n; k++) {
        offs[k] = nb;
        nb += utf8_put(cps[k], word + nb);
    }
    offs[n] = nb;
    int32_t pieces[FR_TOK_MAX_TOKEN_BYTES];
    int npieces = 0;
    cand[0] = cand[1] = '#';
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int32_t found = -1;
        for (; end > start; end--) {
            size_t len = offs[end] - offs[start];
            if (start == 0) {
                found = vocab_lookup(t, word, len);
            } else {
                memcpy(cand + 2, word + offs[start], len);
                found = vocab_lookup(t, cand, len + 2);
            }
            if (found >= 0) break;
        }
        if (found < 0) {
            emit(o, t->cfg.unk_id);
            return 0;
        }
        pieces[npieces++] = found;
        start = end;
    }
    for (int k = 0; k < npieces; k++) emit(o, pieces[k]);
    return 0;
}

/* Pre-tokenizes and word-pieces the normalized segment in s->cps. */
static int encode_segment(const fr_tokenizer *t, scratch *s, id_sink *o) {
    size_t i = 0, n = s->n;
    while (i < n && !o->truncated) {
        unsigned f = uc_flags(t, s->cps[i]);
        if (f & FR_UC_SPLIT_WS) {
            i++;
            continue;
        }
        if (f & FR_UC_PUNCT) {
            if (wordpiece(t, s, &s->cps[i], 1, o)) return -1;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !(uc_flags(t, s->cps[j]) & (FR_UC_SPLIT_WS | FR_UC_PUNCT))) j++;
        if (wordpiece(t, s, &s->cps[i], j - i, o)) return -1;
        i = j;
    }
    return 0;
}

/* Longest added token that starts at text[pos], or -1. */
static int match_added(const fr_tokenizer *t, const char *text, size_t len, size_t pos) {
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < t->n_added; k++) {
        const added_token *a = &t->added[k];
        if (a->len > best_len && a->len <= len - pos && memcmp(text + pos, a->text, a->len) == 0) {
            best = k;
            best_len = a->len;
        }
    }
    return best;
}

int fr_tok_encode(const fr_tokenizer *t, const char *text, size_t len, int32_t *ids, int max_tokens,
                  int *truncated) {
    if (max_tokens < 2) max_tokens = 2;
    id_sink o = {ids + 1, 0, max_tokens - 2, 0};
    scratch s = {0};
    int rc = 0;
    const uint8_t *u = (const uint8_t *)text;
    size_t i = 0;
    while (i < len && !o.truncated) {
        if (t->added_first[u[i]]) {
            int k = match_added(t, text, len, i);
            if (k >= 0) {
                if (encode_segment(t, &s, &o)) {
                    rc = -1;
                    break;
                }
                s.n = 0;
                emit(&o, t->added[k].id);
                i += t->added[k].len;
                continue;
            }
        }
        unsigned cp = utf8_next(u, len, &i);
        if (normalize_char(t, &s, cp)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && !o.truncated && encode_segment(t, &s, &o)) rc = -1;
    free(s.cps);
    free(s.word);
    if (rc) return -1;
    ids[0] = t->cfg.cls_id;
    ids[o.n + 1] = t->cfg.sep_id;
    if (truncated) *truncated = o.truncated;
    return o.n + 2;
}

/* ---------- loading ---------- */

static fr_tokenizer *tok_new(void) {
    fr_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg.clean_text = t->cfg.handle_chinese_chars = t->cfg.lowercase = 1;
    t->cfg.strip_accents = -1; /* follow lowercase */
    t->cfg.max_input_chars_per_word = 100;
    t->cfg.cls_id = t->cfg.sep_id = t->cfg.pad_id = t->cfg.unk_id = -1;
    return t;
}

void fr_tok_free(fr_tokenizer *t) {
    if (!t) return;
    free(t->id_to_tok);
    free(t->arena);
    fr_hindex_free(&t->vocab);
    for (int k = 0; k < t->n_added; k++) free((char *)t->added[k].text);
    free(t);
}

const fr_tok_config *fr_tok_config_of(const fr_tokenizer *t) { return &t->cfg; }

const char *fr_tok_id_to_token(const fr_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->cfg.vocab_size ? t->id_to_tok[id] : NULL;
}

static fr_status add_added(fr_tokenizer *t, const char *s, int32_t id, const char *label, char *err, size_t errcap) {
    if (t->n_added >= FR_TOK_MAX_ADDED) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: more than %d added tokens", label, FR_TOK_MAX_ADDED);
    size_t n = strlen(s);
    if (n == 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: empty added token", label);
    char *c = strdup(s);
    if (!c) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
    t->added[t->n_added++] = (added_token){c, n, id};
    t->added_first[(uint8_t)c[0]] = 1;
    return FR_OK;
}

/* Resolves special ids and the strip_accents default once the vocabulary is known. */
static fr_status finish(fr_tokenizer *t, const char *label, char *err, size_t errcap) {
    for (int k = 0; k < 128; k++) t->ascii_flags[k] = (uint8_t)uc_flags_slow((unsigned)k);
    if (t->cfg.strip_accents < 0) t->cfg.strip_accents = t->cfg.lowercase;
    fr_status rc = build_hash(t, label, err, errcap);
    if (rc) return rc;
    struct {
        const char *name;
        int32_t *slot;
    } sp[] = {
        {"[CLS]", &t->cfg.cls_id}, {"[SEP]", &t->cfg.sep_id}, {"[PAD]", &t->cfg.pad_id}, {"[UNK]", &t->cfg.unk_id}};
    for (size_t k = 0; k < 4; k++) {
        if (*sp[k].slot < 0) *sp[k].slot = vocab_lookup(t, sp[k].name, strlen(sp[k].name));
        if (*sp[k].slot < 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: special token %s is not in the vocabulary", label, sp[k].name);
    }
    return FR_OK;
}

static int json_bool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

fr_status fr_tok_from_json(const char *json, size_t len, const char *label, fr_tokenizer **out,
                           char *err, size_t errcap) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object", label);
    }
    fr_status rc = FR_OK;
    fr_tokenizer *t = tok_new();
    if (!t) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
        goto done;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || !cJSON_IsString(mtype) || strcmp(mtype->valuestring, "WordPiece") != 0) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: model.type must be \"WordPiece\" (BERT-family tokenizers only)", label);
        goto done;
    }
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (cJSON_IsString(prefix) && strcmp(prefix->valuestring, "##") != 0) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: continuing_subword_prefix '%.16s' is not \"##\"", label, prefix->valuestring);
        goto done;
    }
    const cJSON *mic = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(mic)) {
        if (mic->valuedouble < 1 || mic->valuedouble > FR_TOK_MAX_TOKEN_BYTES) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: max_input_chars_per_word must be 1..%d", label, FR_TOK_MAX_TOKEN_BYTES);
            goto done;
        }
        t->cfg.max_input_chars_per_word = mic->valueint;
    }
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (cJSON_IsObject(norm)) {
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type");
        if (!cJSON_IsString(nt) || strcmp(nt->valuestring, "BertNormalizer") != 0) {
            rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: normalizer must be BertNormalizer", label);
            goto done;
        }
        t->cfg.clean_text = json_bool(norm, "clean_text", 1);
        t->cfg.handle_chinese_chars = json_bool(norm, "handle_chinese_chars", 1);
        t->cfg.lowercase = json_bool(norm, "lowercase", 1);
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
        t->cfg.strip_accents = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : -1;
    } else if (norm && !cJSON_IsNull(norm)) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: normalizer is not an object", label);
        goto done;
    } else {
        t->cfg.clean_text = t->cfg.handle_chinese_chars = t->cfg.lowercase = 0;
        t->cfg.strip_accents = 0;
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "BertPreTokenizer") != 0) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: pre_tokenizer must be BertPreTokenizer", label);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model.vocab is not an object", label);
        goto done;
    }
    int n = cJSON_GetArraySize(vocab);
    if (n < 1 || n > FR_TOK_MAX_VOCAB) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: vocabulary size %d is outside 1..%d", label, n, FR_TOK_MAX_VOCAB);
        goto done;
    }
    /* ids must be exactly 0..n-1 */
    size_t total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= n || e->valuedouble != (double)e->valueint) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: vocab id of '%.64s' is not an integer in 0..%d", label, e->string, n - 1);
            goto done;
        }
        size_t l = strlen(e->string);
        if (l == 0 || l > FR_TOK_MAX_TOKEN_BYTES) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: vocab token of id %d has length %zu (1..%d allowed)", label, e->valueint, l, FR_TOK_MAX_TOKEN_BYTES);
            goto done;
        }
        total += l + 1;
    }
    t->cfg.vocab_size = n;
    t->id_to_tok = calloc((size_t)n, sizeof *t->id_to_tok);
    t->arena = malloc(total);
    if (!t->id_to_tok || !t->arena) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
        goto done;
    }
    char *cur = t->arena;
    cJSON_ArrayForEach(e, vocab) {
        if (t->id_to_tok[e->valueint]) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: vocab id %d is used twice", label, e->valueint);
            goto done;
        }
        size_t l = strlen(e->string) + 1;
        memcpy(cur, e->string, l);
        t->id_to_tok[e->valueint] = cur;
        cur += l;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsArray(added)) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: added_tokens is not an array", label);
        goto done;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsString(content) || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= n) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: an added token lacks content or a valid id", label);
            goto done;
        }
        if (json_bool(e, "normalized", 0) || json_bool(e, "lstrip", 0) || json_bool(e, "rstrip", 0) || json_bool(e, "single_word", 0)) {
            rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: added token '%.32s' uses normalized/lstrip/rstrip/single_word, not supported", label, content->valuestring);
            goto done;
        }
        if ((rc = add_added(t, content->valuestring, id->valueint, label, err, errcap))) goto done;
        if (strcmp(content->valuestring, "[CLS]") == 0) t->cfg.cls_id = id->valueint;
        if (strcmp(content->valuestring, "[SEP]") == 0) t->cfg.sep_id = id->valueint;
        if (strcmp(content->valuestring, "[PAD]") == 0) t->cfg.pad_id = id->valueint;
    }
    rc = finish(t, label, err, errcap);
    if (rc == FR_OK && cJSON_IsString(unk)) {
        int32_t u = vocab_lookup(t, unk->valuestring, strlen(unk->valuestring));
        if (u < 0) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: unk_token '%.32s' is not in the vocabulary", label, unk->valuestring);
        else t->cfg.unk_id = u;
    }
done:
    cJSON_Delete(root);
    if (rc) {
        fr_tok_free(t);
        return rc;
    }
    *out = t;
    return FR_OK;
}

/* vocab.txt: one token per line, id = line number. tokenizer_config.json may set
 * do_lower_case / strip_accents / tokenize_chinese_chars. */
static fr_status load_vocab_txt(const char *dir, fr_tokenizer **out, char *err, size_t errcap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    char *buf;
    size_t len;
    fr_status rc = fr_read_small_file(path, 64u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    fr_tokenizer *t = tok_new();
    if (!t) {
        free(buf);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
    }
    t->arena = buf;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') lines++;
    if (lines == 0 || lines > FR_TOK_MAX_VOCAB) {
        fr_tok_free(t);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %zu lines is not a vocabulary", path, lines);
    }
    t->id_to_tok = calloc(lines, sizeof *t->id_to_tok);
    if (!t->id_to_tok) {
        fr_tok_free(t);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
    }
    size_t id = 0, start = 0;
    for (size_t i = 0; i <= len && id < lines; i++) {
        if (i == len || buf[i] == '\n') {
            size_t end = i;
            if (end > start && buf[end - 1] == '\r') end--;
            buf[end] = 0;
            if (end - start > FR_TOK_MAX_TOKEN_BYTES) {
                fr_tok_free(t);
                return fr_fail(FR_ERR_FORMAT, err, errcap, "%s:%zu: token longer than %d bytes", path, id + 1, FR_TOK_MAX_TOKEN_BYTES);
            }
            t->id_to_tok[id++] = buf + start;
            start = i + 1;
        }
    }
    t->cfg.vocab_size = (int32_t)lines;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *cfg;
    size_t cl;
    if (fr_read_small_file(path, 1u << 20, &cfg, &cl, NULL, 0) == FR_OK) {
        cJSON *c = cJSON_ParseWithLength(cfg, cl);
        free(cfg);
        if (!cJSON_IsObject(c)) {
            cJSON_Delete(c);
            fr_tok_free(t);
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object", path);
        }
        t->cfg.lowercase = json_bool(c, "do_lower_case", 1);
        t->cfg.handle_chinese_chars = json_bool(c, "tokenize_chinese_chars", 1);
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(c, "strip_accents");
        t->cfg.strip_accents = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : -1;
        cJSON_Delete(c);
    }
    /* hash empty lines are skipped: they cannot be looked up anyway */
    for (size_t k = 0; k < lines; k++)
        if (t->id_to_tok[k] && !t->id_to_tok[k][0]) t->id_to_tok[k] = NULL;
    rc = finish(t, path, err, errcap);
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t k = 0; rc == FR_OK && k < 5; k++) {
        int32_t sid = vocab_lookup(t, specials[k], strlen(specials[k]));
        if (sid >= 0) rc = add_added(t, specials[k], sid, path, err, errcap);
    }
    if (rc) {
        fr_tok_free(t);
        return rc;
    }
    *out = t;
    return FR_OK;
}

fr_status fr_tok_load(const char *dir, fr_tokenizer **out, char *err, size_t errcap) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *buf;
    size_t len;
    if (access(path, F_OK) != 0) return load_vocab_txt(dir, out, err, errcap);
    fr_status rc = fr_read_small_file(path, 256u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    rc = fr_tok_from_json(buf, len, path, out, err, errcap);
    free(buf);
    return rc;
}

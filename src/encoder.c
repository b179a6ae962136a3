/* encoder.c - BERT forward pass over the backend op table.
 *
 * Batches are packed: the tokens of all sequences are laid end to end (T rows), so the dense
 * layers never compute on padding, and attention runs per sequence over its own tokens.
 * Per layer:  qkv = x Wqkv^T + b;  a = attention(qkv);  x = LN(x + a Wo^T + bo);
 *             h = gelu(x Wi^T + bi);  x = LN(x + h Wo2^T + bo2).
 * Q, K and V weights are concatenated at load time so that one product computes all three.
 *
 * On a backend with graphs (CUDA), a pass is padded to a bucket of (tokens, sequences, longest
 * sequence) and the whole forward is recorded once per bucket and replayed after: padding
 * tokens belong to no sequence and padding sequences are empty, so they change no output. */
#include "encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

/* Passes up to this many tokens run as replayed graphs (above it launch overhead is noise). */
#define FR_GRAPH_MAX_TOKENS 32768
#include "safetensors.h"

typedef struct {
    fr_weight *wqkv, *wo, *wi, *wo2;
    float *bqkv, *bo, *ln1_g, *ln1_b, *bi, *bo2, *ln2_g, *ln2_b;
} layer_weights;

struct fr_encoder {
    fr_model_config cfg;
    fr_tokenizer *tok;
    fr_backend *be;
    char query_prefix[FR_PREFIX_MAX], document_prefix[FR_PREFIX_MAX];
    char name[128];
    uint64_t fingerprint;
    /* weights (backend memory) */
    float *word, *pos, *type0, *emb_g, *emb_b;
    layer_weights *layer;
    /* workspace (backend memory), sized for max_tokens tokens / max_seqs sequences */
    int max_tokens, max_seqs;
    float *x, *tmp, *qkv, *ctx, *hid, *pooled;
    int32_t *d_ids, *d_pos, *d_off;
    /* host staging */
    int32_t *h_ids, *h_pos, *h_off;
    char *text_buf;
    size_t text_cap;
};

int fr_encoder_dim(const fr_encoder *e) { return e->cfg.hidden; }
const fr_model_config *fr_encoder_config(const fr_encoder *e) { return &e->cfg; }
const fr_tokenizer *fr_encoder_tokenizer(const fr_encoder *e) { return e->tok; }
fr_backend *fr_encoder_backend(const fr_encoder *e) { return e->be; }

uint64_t fr_encoder_fingerprint(const fr_encoder *e) { return e->fingerprint; }
const char *fr_encoder_name(const fr_encoder *e) { return e->name; }

/* Hash of the weights, the tokenizer file and the settings that shape the output vectors. */
static fr_status fingerprint(fr_encoder *e, const char *dir, const fr_safetensors *st, char *err, size_t errcap) {
    size_t len;
    const uint8_t *img = fr_st_image(st, &len);
    uint64_t h = fr_hash64(img, len, 0);
    const char *tok_files[2] = {"tokenizer.json", "vocab.txt"};
    for (int i = 0; i < 2; i++) {
        char path[4096], *buf;
        size_t n;
        snprintf(path, sizeof path, "%s/%s", dir, tok_files[i]);
        if (access(path, F_OK) != 0) continue;
        fr_status rc = fr_read_small_file(path, 256u << 20, &buf, &n, err, errcap);
        if (rc) return rc;
        h = fr_hash64(buf, n, h);
        free(buf);
        break;
    }
    char settings[2 * FR_PREFIX_MAX + 256];
    const fr_model_config *c = &e->cfg;
    int n = snprintf(settings, sizeof settings, "%d/%d/%d/%d/%d/%d/%d/%g/%d/%d/%d/q=%s/d=%s", c->hidden, c->layers, c->heads,
                     c->intermediate, c->max_position, c->vocab_size, c->type_vocab_size, (double)c->layer_norm_eps,
                     (int)c->pooling, c->normalize, c->max_seq_length, e->query_prefix, e->document_prefix);
    e->fingerprint = fr_hash64(settings, (size_t)(n > 0 && (size_t)n < sizeof settings ? n : 0), h);
    return FR_OK;
}

const char *fr_encoder_prefix(const fr_encoder *e, fr_text_kind kind) {
    return kind == FR_TEXT_QUERY ? e->query_prefix : kind == FR_TEXT_DOCUMENT ? e->document_prefix
                                                                              : "";
}

static void be_free(fr_backend *be, void *p) {
    if (p) be->free(be, p);
}

void fr_encoder_free(fr_encoder *e) {
    if (!e) return;
    if (e->be) {
        void *all[] = {e->word, e->pos, e->type0, e->emb_g, e->emb_b, e->x, e->tmp, e->qkv, e->ctx,
                       e->hid, e->pooled, e->d_ids, e->d_pos, e->d_off};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be_free(e->be, all[i]);
        for (int l = 0; e->layer && l < e->cfg.layers; l++) {
            layer_weights *w = &e->layer[l];
            float *lw[] = {w->bqkv, w->bo, w->ln1_g, w->ln1_b, w->bi, w->bo2, w->ln2_g, w->ln2_b};
            for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++) be_free(e->be, lw[i]);
            fr_weight *mw[] = {w->wqkv, w->wo, w->wi, w->wo2};
            for (size_t i = 0; i < 4; i++)
                if (mw[i]) e->be->weight_free(e->be, mw[i]);
        }
        fr_backend_destroy(e->be);
    }
    free(e->layer);
    fr_tok_free(e->tok);
    free(e->h_ids);
    free(e->h_pos);
    free(e->h_off);
    free(e->text_buf);
    free(e);
}

typedef struct {
    fr_encoder *e;
    const fr_safetensors *st;
    const char *prefix; /* "" or "bert." */
    float *host;        /* staging buffer, large enough for the largest tensor */
    char *err;
    size_t errcap;
} loader;

/* Reads tensor prefix+name of the given shape into host staging at `at` floats in. */
static fr_status stage(loader *L, const char *name, int ndim, int64_t d0, int64_t d1, size_t at) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    int64_t shape[2] = {d0, d1};
    return fr_st_read_f32(L->st, full, ndim, shape, L->host + at, L->err, L->errcap);
}

/* Allocates backend memory for n floats and uploads host staging [0, n) into it. */
static fr_status push(loader *L, size_t n, float **dst) {
    fr_backend *be = L->e->be;
    fr_status rc = be->alloc(be, n * sizeof(float), (void **)dst, L->err, L->errcap);
    if (rc) return rc;
    return be->upload(be, *dst, L->host, n * sizeof(float), L->err, L->errcap);
}

/* Makes a backend weight matrix [N, K] from host staging. */
static fr_status push_weight(loader *L, int N, int K, fr_weight **dst) {
    return L->e->be->weight_create(L->e->be, L->host, N, K, dst, L->err, L->errcap);
}

static fr_status load_matrix(loader *L, const char *name, int64_t N, int64_t K, fr_weight **dst) {
    fr_status rc = stage(L, name, 2, N, K, 0);
    return rc ? rc : push_weight(L, (int)N, (int)K, dst);
}

static fr_status load_one(loader *L, const char *name, int ndim, int64_t d0, int64_t d1, float **dst) {
    fr_status rc = stage(L, name, ndim, d0, d1, 0);
    return rc ? rc : push(L, (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1), dst);
}

static fr_status load_weights(fr_encoder *e, const fr_safetensors *st, char *err, size_t errcap) {
    const fr_model_config *c = &e->cfg;
    const int64_t H = c->hidden, I = c->intermediate;
    loader L = {e, st, "", NULL, err, errcap};
    if (!fr_st_find(st, "embeddings.word_embeddings.weight") && fr_st_find(st, "bert.embeddings.word_embeddings.weight"))
        L.prefix = "bert.";
    size_t biggest = (size_t)c->vocab_size * H;
    if ((size_t)c->max_position * H > biggest) biggest = (size_t)c->max_position * H;
    if ((size_t)(3 * H * H) > biggest) biggest = (size_t)(3 * H * H);
    if ((size_t)(I * H) > biggest) biggest = (size_t)(I * H);
    L.host = malloc(biggest * sizeof(float));
    if (!L.host) return fr_fail(FR_ERR_NOMEM, err, errcap, "weights: out of memory for a %zu-float staging buffer", biggest);
    fr_status rc;
    if ((rc = load_one(&L, "embeddings.word_embeddings.weight", 2, c->vocab_size, H, &e->word)) ||
        (rc = load_one(&L, "embeddings.position_embeddings.weight", 2, c->max_position, H, &e->pos)) ||
        (rc = stage(&L, "embeddings.token_type_embeddings.weight", 2, c->type_vocab_size, H, 0)) ||
        (rc = push(&L, (size_t)H, &e->type0)) ||
        (rc = load_one(&L, "embeddings.LayerNorm.weight", 1, H, 0, &e->emb_g)) ||
        (rc = load_one(&L, "embeddings.LayerNorm.bias", 1, H, 0, &e->emb_b)))
        goto done;
    e->layer = calloc((size_t)c->layers, sizeof *e->layer);
    if (!e->layer) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "weights: out of memory");
        goto done;
    }
    for (int l = 0; l < c->layers; l++) {
        layer_weights *w = &e->layer[l];
        char n[12][160];
        const char *suffix[12] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                  "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                                  "output.dense", "output.LayerNorm"};
        for (int k = 0; k < 8; k++) snprintf(n[k], sizeof n[k], "encoder.layer.%d.%s", l, suffix[k]);
        char name[200];
#define NAME(k, what) (snprintf(name, sizeof name, "%s.%s", n[k], what), name)
        /* Q | K | V weights stacked into [3H, H], biases into [3H] */
        if ((rc = stage(&L, NAME(0, "weight"), 2, H, H, 0)) || (rc = stage(&L, NAME(1, "weight"), 2, H, H, (size_t)(H * H))) ||
            (rc = stage(&L, NAME(2, "weight"), 2, H, H, (size_t)(2 * H * H))) || (rc = push_weight(&L, (int)(3 * H), (int)H, &w->wqkv)) ||
            (rc = stage(&L, NAME(0, "bias"), 1, H, 0, 0)) || (rc = stage(&L, NAME(1, "bias"), 1, H, 0, (size_t)H)) ||
            (rc = stage(&L, NAME(2, "bias"), 1, H, 0, (size_t)(2 * H))) || (rc = push(&L, (size_t)(3 * H), &w->bqkv)) ||
            (rc = load_matrix(&L, NAME(3, "weight"), H, H, &w->wo)) || (rc = load_one(&L, NAME(3, "bias"), 1, H, 0, &w->bo)) ||
            (rc = load_one(&L, NAME(4, "weight"), 1, H, 0, &w->ln1_g)) || (rc = load_one(&L, NAME(4, "bias"), 1, H, 0, &w->ln1_b)) ||
            (rc = load_matrix(&L, NAME(5, "weight"), I, H, &w->wi)) || (rc = load_one(&L, NAME(5, "bias"), 1, I, 0, &w->bi)) ||
            (rc = load_matrix(&L, NAME(6, "weight"), H, I, &w->wo2)) || (rc = load_one(&L, NAME(6, "bias"), 1, H, 0, &w->bo2)) ||
            (rc = load_one(&L, NAME(7, "weight"), 1, H, 0, &w->ln2_g)) || (rc = load_one(&L, NAME(7, "bias"), 1, H, 0, &w->ln2_b)))
            goto done;
#undef NAME
    }
done:
    free(L.host);
    return rc;
}

static fr_status alloc_workspace(fr_encoder *e, char *err, size_t errcap) {
    fr_backend *be = e->be;
    const size_t T = (size_t)e->max_tokens, H = (size_t)e->cfg.hidden, I = (size_t)e->cfg.intermediate;
    e->max_seqs = e->max_tokens / 2; /* every sequence holds at least [CLS] and [SEP] */
    const size_t S = (size_t)e->max_seqs;
    fr_status rc;
    if ((rc = be->alloc(be, T * H * 4, (void **)&e->x, err, errcap)) ||
        (rc = be->alloc(be, T * H * 4, (void **)&e->tmp, err, errcap)) ||
        (rc = be->alloc(be, T * 3 * H * 4, (void **)&e->qkv, err, errcap)) ||
        (rc = be->alloc(be, T * H * 4, (void **)&e->ctx, err, errcap)) ||
        (rc = be->alloc(be, T * I * 4, (void **)&e->hid, err, errcap)) ||
        (rc = be->alloc(be, S * H * 4, (void **)&e->pooled, err, errcap)) ||
        (rc = be->alloc(be, T * 4, (void **)&e->d_ids, err, errcap)) ||
        (rc = be->alloc(be, T * 4, (void **)&e->d_pos, err, errcap)) ||
        (rc = be->alloc(be, (S + 1) * 4, (void **)&e->d_off, err, errcap)))
        return rc;
    if (be->reserve) {
        fr_workload w = {.max_tokens = e->max_tokens, .max_seqs = e->max_seqs, .max_len = e->cfg.max_seq_length, .hidden = e->cfg.hidden, .heads = e->cfg.heads, .intermediate = e->cfg.intermediate};
        if ((rc = be->reserve(be, &w, err, errcap))) return rc;
    }
    e->h_ids = malloc(T * 4);
    e->h_pos = malloc(T * 4);
    e->h_off = malloc((S + 1) * 4);
    if (!e->h_ids || !e->h_pos || !e->h_off) return fr_fail(FR_ERR_NOMEM, err, errcap, "encoder: out of memory for host staging");
    return FR_OK;
}

fr_status fr_encoder_load(const char *dir, const fr_encoder_options *opt, fr_encoder **out, char *err,
                          size_t errcap) {
    *out = NULL;
    fr_encoder_options o = {0};
    if (opt) o = *opt;
    fr_encoder *e = calloc(1, sizeof *e);
    if (!e) return fr_fail(FR_ERR_NOMEM, err, errcap, "encoder: out of memory");
    fr_status rc;
    fr_safetensors *st = NULL;
    if ((rc = fr_model_config_load(dir, &e->cfg, err, errcap))) goto fail;
    {
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') dl--;
        size_t b = dl;
        while (b > 0 && dir[b - 1] != '/') b--;
        snprintf(e->name, sizeof e->name, "%.*s", (int)(dl - b), dir + b);
    }
    if ((rc = fr_tok_load(dir, &e->tok, err, errcap))) goto fail;
    if (fr_tok_config_of(e->tok)->vocab_size > e->cfg.vocab_size) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tokenizer has %d tokens but the model's vocab_size is %d", dir,
                     fr_tok_config_of(e->tok)->vocab_size, e->cfg.vocab_size);
        goto fail;
    }
    snprintf(e->query_prefix, sizeof e->query_prefix, "%s", o.query_prefix ? o.query_prefix : e->cfg.query_prefix);
    snprintf(e->document_prefix, sizeof e->document_prefix, "%s", o.document_prefix ? o.document_prefix : e->cfg.document_prefix);
    e->max_tokens = o.max_batch_tokens > 0 ? o.max_batch_tokens : 4096;
    if (e->max_tokens < e->cfg.max_seq_length) e->max_tokens = e->cfg.max_seq_length;
    fr_precision prec;
    if ((rc = fr_precision_parse(o.precision, &prec, err, errcap))) goto fail;
    if ((rc = fr_backend_open(o.backend ? o.backend : "cpu", prec, &e->be, err, errcap))) goto fail;
    char path[4096];
    if (o.weights) snprintf(path, sizeof path, "%s", o.weights);
    else snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = fr_st_open(path, &st, err, errcap))) goto fail;
    if ((rc = load_weights(e, st, err, errcap))) {
        size_t l = strlen(err);
        if (l + 1 < errcap) snprintf(err + l, errcap - l, " (in %s)", path);
        goto fail;
    }
    if ((rc = fingerprint(e, dir, st, err, errcap))) goto fail;
    fr_st_close(st);
    st = NULL;
    if ((rc = alloc_workspace(e, err, errcap))) goto fail;
    *out = e;
    return FR_OK;
fail:
    fr_st_close(st);
    fr_encoder_free(e);
    return rc;
}

typedef struct {
    fr_encoder *e;
    int T, B, max_len;
} pass;

/* Every op of one forward pass over the ids/positions/offsets already on the backend. */
static fr_status record_pass(void *ctx, char *err, size_t errcap) {
    const pass *p = ctx;
    fr_encoder *e = p->e;
    fr_backend *be = e->be;
    const fr_model_config *c = &e->cfg;
    const int H = c->hidden, I = c->intermediate, T = p->T, B = p->B;
    fr_status rc;
    if ((rc = be->embed(be, e->d_ids, e->d_pos, T, H, e->word, e->pos, e->type0, e->emb_g, e->emb_b,
                        c->layer_norm_eps, e->x, err, errcap)))
        return rc;
    for (int l = 0; l < c->layers; l++) {
        const layer_weights *w = &e->layer[l];
        if ((rc = be->linear(be, e->x, w->wqkv, w->bqkv, T, 3 * H, H, FR_ACT_NONE, e->qkv, err, errcap)) ||
            (rc = be->attention(be, e->qkv, e->d_off, B, p->max_len, H, c->heads, e->ctx, err, errcap)) ||
            (rc = be->linear(be, e->ctx, w->wo, w->bo, T, H, H, FR_ACT_NONE, e->tmp, err, errcap)) ||
            (rc = be->add_layernorm(be, e->x, e->tmp, w->ln1_g, w->ln1_b, T, H, c->layer_norm_eps, err, errcap)) ||
            (rc = be->linear(be, e->x, w->wi, w->bi, T, I, H, FR_ACT_GELU, e->hid, err, errcap)) ||
            (rc = be->linear(be, e->hid, w->wo2, w->bo2, T, H, I, FR_ACT_NONE, e->tmp, err, errcap)) ||
            (rc = be->add_layernorm(be, e->x, e->tmp, w->ln2_g, w->ln2_b, T, H, c->layer_norm_eps, err, errcap)))
            return rc;
    }
    return be->pool(be, e->x, e->d_off, B, H, c->pooling, c->normalize, e->pooled, err, errcap);
}

/* Rounds n up to the next of 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, ... (4 steps per
 * doubling: at most 25% padding), capped at cap. */
static int bucket(int n, int cap) {
    int b = 16;
    while (b < n) {
        int octave = 16;
        while (octave * 2 <= b) octave *= 2;
        b += octave / 4;
    }
    return b < cap ? b : cap;
}

/* Runs the model on the packed batch staged in h_ids/h_pos/h_off (T tokens, B sequences) and
 * downloads the pooled vectors into out[B, H]. */
static fr_status forward(fr_encoder *e, int T, int B, int max_len, float *out, char *err, size_t errcap) {
    fr_backend *be = e->be;
    const int H = e->cfg.hidden;
    pass p = {e, T, B, max_len};
    int graph = be->graph_run && T <= FR_GRAPH_MAX_TOKENS;
    if (graph) {
        /* pad to the bucket: padding tokens are [PAD] at position 0 in no sequence */
        p.T = bucket(T, e->max_tokens);
        p.B = bucket(B, e->max_seqs);
        p.max_len = (max_len + 63) / 64 * 64;
        for (int t = T; t < p.T; t++) e->h_ids[t] = e->h_pos[t] = 0;
        for (int b = B + 1; b <= p.B; b++) e->h_off[b] = T;
    }
    fr_status rc;
    if ((rc = be->upload(be, e->d_ids, e->h_ids, (size_t)p.T * 4, err, errcap)) ||
        (rc = be->upload(be, e->d_pos, e->h_pos, (size_t)p.T * 4, err, errcap)) ||
        (rc = be->upload(be, e->d_off, e->h_off, (size_t)(p.B + 1) * 4, err, errcap)))
        return rc;
    if (graph) {
        uint64_t key = (uint64_t)p.T | (uint64_t)p.B << 24 | (uint64_t)(p.max_len / 64) << 48;
        rc = be->graph_run(be, key, record_pass, &p, err, errcap);
    } else {
        rc = record_pass(&p, err, errcap);
    }
    if (rc) return rc;
    return be->download(be, out, e->pooled, (size_t)B * H * sizeof(float), err, errcap);
}

/* Sequences packed into e->h_ids / h_pos / h_off for one forward pass: T tokens in B sequences,
 * the first being sequence `first` of the call. */
typedef struct {
    int T, B, first, longest;
} packed_batch;

/* Runs the packed sequences (if any) into their rows of out, then starts an empty batch at `next`. */
static fr_status batch_flush(fr_encoder *e, packed_batch *pb, int next, float *out, char *err, size_t errcap) {
    if (pb->B > 0) {
        fr_status rc = forward(e, pb->T, pb->B, pb->longest, out + (size_t)pb->first * e->cfg.hidden, err, errcap);
        if (rc) return rc;
    }
    *pb = (packed_batch){.first = next};
    return FR_OK;
}

/* Closes the sequence of len tokens just written at h_ids/h_pos + T. */
static void batch_add(fr_encoder *e, packed_batch *pb, int len) {
    pb->T += len;
    if (len > pb->longest) pb->longest = len;
    e->h_off[++pb->B] = pb->T;
}

fr_status fr_encoder_embed_tokens(fr_encoder *e, const int32_t *ids, const int32_t *off, int n, float *out,
                                  char *err, size_t errcap) {
    if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "embed: negative sequence count");
    const int maxlen = e->cfg.max_seq_length;
    packed_batch pb = {0};
    e->h_off[0] = 0;
    for (int i = 0; i <= n; i++) {
        int len = i < n ? off[i + 1] - off[i] : 0;
        if (i < n && (len < 1 || len > maxlen))
            return fr_fail(FR_ERR_ARG, err, errcap, "embed: sequence %d has %d tokens (expected 1..%d)", i, len, maxlen);
        if (i == n || pb.T + len > e->max_tokens || pb.B == e->max_seqs) {
            fr_status rc = batch_flush(e, &pb, i, out, err, errcap);
            if (rc) return rc;
            if (i == n) break;
        }
        for (int p = 0; p < len; p++) {
            int32_t id = ids[off[i] + p];
            if (id < 0 || id >= e->cfg.vocab_size)
                return fr_fail(FR_ERR_ARG, err, errcap, "embed: sequence %d token %d has id %d outside the vocabulary (%d)", i, p, (int)id, e->cfg.vocab_size);
            e->h_ids[pb.T + p] = id;
            e->h_pos[pb.T + p] = p;
        }
        batch_add(e, &pb, len);
    }
    return FR_OK;
}

/* Points *text at prefix + texts[i] (built in text_buf when a prefix applies). */
static fr_status prefixed(fr_encoder *e, const char *prefix, const char *s, size_t n, const char **text,
                          size_t *len, char *err, size_t errcap) {
    size_t pl = strlen(prefix);
    if (!pl) {
        *text = s;
        *len = n;
        return FR_OK;
    }
    if (pl + n > e->text_cap) {
        char *p = realloc(e->text_buf, pl + n);
        if (!p) return fr_fail(FR_ERR_NOMEM, err, errcap, "encoder: out of memory for a %zu-byte text", n);
        e->text_buf = p;
        e->text_cap = pl + n;
    }
    memcpy(e->text_buf, prefix, pl);
    memcpy(e->text_buf + pl, s, n);
    *text = e->text_buf;
    *len = pl + n;
    return FR_OK;
}

fr_status fr_encoder_embed(fr_encoder *e, const char *const *texts, const size_t *lens, int n,
                           fr_text_kind kind, float *out, fr_embed_info *info, char *err, size_t errcap) {
    if (n < 0) return fr_fail(FR_ERR_ARG, err, errcap, "embed: negative text count");
    const int maxlen = e->cfg.max_seq_length;
    const char *prefix = fr_encoder_prefix(e, kind);
    packed_batch pb = {0};
    e->h_off[0] = 0;
    for (int i = 0; i <= n; i++) {
        /* flush when the next text might not fit, or at the end */
        if (i == n || pb.T + maxlen > e->max_tokens || pb.B == e->max_seqs) {
            fr_status rc = batch_flush(e, &pb, i, out, err, errcap);
            if (rc) return rc;
            if (i == n) break;
        }
        if (!texts[i]) return fr_fail(FR_ERR_ARG, err, errcap, "embed: text %d is NULL", i);
        const char *t = NULL;
        size_t tl = 0;
        fr_status rc = prefixed(e, prefix, texts[i], lens ? lens[i] : strlen(texts[i]), &t, &tl, err, errcap);
        if (rc) return rc;
        int trunc = 0;
        int k = fr_tok_encode(e->tok, t, tl, e->h_ids + pb.T, maxlen, &trunc);
        if (k < 0) return fr_fail(FR_ERR_NOMEM, err, errcap, "embed: out of memory tokenizing text %d", i);
        for (int p = 0; p < k; p++) e->h_pos[pb.T + p] = p;
        if (info) {
            info[i].tokens = k;
            info[i].truncated = trunc;
        }
        batch_add(e, &pb, k);
    }
    return FR_OK;
}

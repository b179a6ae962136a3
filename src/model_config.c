#include "model_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fr_status fr_read_small_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errcap) {
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max + 1) {
                free(b);
                fclose(f);
                return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: larger than %zu bytes", path, max);
            }
            size_t nc = cap ? cap * 2 : 4096;
            if (nc > max + 1) nc = max + 1;
            char *p = realloc(b, nc + 1);
            if (!p) {
                free(b);
                fclose(f);
                return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
            }
            b = p;
            cap = nc;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: read error", path);
    }
    if (n > max) {
        free(b);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: larger than %zu bytes", path, max);
    }
    b[n] = 0;
    *buf = b;
    if (len) *len = n;
    return FR_OK;
}

/* Parses dir/name as a JSON document; FR_ERR_NOT_FOUND when the file does not exist. */
static fr_status load_json(const char *dir, const char *name, cJSON **out, char *err, size_t errcap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = NULL;
    if (access(path, F_OK) != 0) return FR_ERR_NOT_FOUND;
    char *buf;
    size_t len;
    fr_status rc = fr_read_small_file(path, 4u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    *out = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!*out) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: invalid JSON", path);
    return FR_OK;
}

/* An integer field in [lo, hi]; FR_ERR_FORMAT naming the field otherwise. */
static fr_status get_int(const cJSON *o, const char *key, int lo, int hi, int *out, const char *label,
                         char *err, size_t errcap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: \"%s\" must be an integer in %d..%d", label, key, lo, hi);
    *out = (int)v->valuedouble;
    return FR_OK;
}

fr_status fr_model_config_parse_arch(const char *json, size_t len, const char *label,
                                     fr_model_config *cfg, char *err, size_t errcap) {
    cJSON *c = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a JSON object", label);
    }
    fr_status rc = FR_OK;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(c, "position_embedding_type");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_eps");
    if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "bert") != 0) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: model_type must be \"bert\" (BERT-family encoders only)", label);
    } else if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0)) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: hidden_act must be \"gelu\"", label);
    } else if (pet && (!cJSON_IsString(pet) || strcmp(pet->valuestring, "absolute") != 0)) {
        rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: position_embedding_type must be \"absolute\"", label);
    } else if ((rc = get_int(c, "hidden_size", 1, 16384, &cfg->hidden, label, err, errcap)) ||
               (rc = get_int(c, "num_hidden_layers", 1, 256, &cfg->layers, label, err, errcap)) ||
               (rc = get_int(c, "num_attention_heads", 1, 1024, &cfg->heads, label, err, errcap)) ||
               (rc = get_int(c, "intermediate_size", 1, 65536, &cfg->intermediate, label, err, errcap)) ||
               (rc = get_int(c, "max_position_embeddings", 2, 65536, &cfg->max_position, label, err, errcap)) ||
               (rc = get_int(c, "vocab_size", 1, 4 << 20, &cfg->vocab_size, label, err, errcap))) {
        /* rc set */
    } else if (cfg->hidden % cfg->heads) {
        rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: hidden_size %d is not divisible by num_attention_heads %d", label, cfg->hidden, cfg->heads);
    } else {
        cfg->type_vocab_size = 2;
        if (cJSON_GetObjectItemCaseSensitive(c, "type_vocab_size"))
            rc = get_int(c, "type_vocab_size", 1, 1024, &cfg->type_vocab_size, label, err, errcap);
        cfg->layer_norm_eps = 1e-12f;
        if (!rc && eps) {
            if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: layer_norm_eps must be a number in (0, 1)", label);
            else cfg->layer_norm_eps = (float)eps->valuedouble;
        }
    }
    cJSON_Delete(c);
    return rc;
}

static void copy_prefix(char *dst, const cJSON *v) {
    if (cJSON_IsString(v)) snprintf(dst, FR_PREFIX_MAX, "%s", v->valuestring);
}

fr_status fr_model_config_load(const char *dir, fr_model_config *cfg, char *err, size_t errcap) {
    memset(cfg, 0, sizeof *cfg);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *buf;
    size_t len;
    fr_status rc = fr_read_small_file(path, 4u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    rc = fr_model_config_parse_arch(buf, len, path, cfg, err, errcap);
    free(buf);
    if (rc) return rc;

    /* Pooling: modules.json names the Pooling module's folder and whether Normalize follows. */
    cfg->pooling = FR_POOL_MEAN;
    char pooling_dir[512] = "1_Pooling";
    cJSON *mods = NULL;
    rc = load_json(dir, "modules.json", &mods, err, errcap);
    if (rc == FR_OK) {
        if (!cJSON_IsArray(mods)) {
            cJSON_Delete(mods);
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s/modules.json: not an array", dir);
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, mods) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
            const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(m, "path");
            if (!cJSON_IsString(type)) continue;
            const char *t = type->valuestring;
            if (strstr(t, "Normalize")) cfg->normalize = 1;
            else if (strstr(t, "Pooling") && cJSON_IsString(mpath)) {
                if (strstr(mpath->valuestring, "..") || mpath->valuestring[0] == '/') {
                    cJSON_Delete(mods);
                    return fr_fail(FR_ERR_FORMAT, err, errcap, "%s/modules.json: pooling path '%.64s' leaves the model folder", dir, mpath->valuestring);
                }
                snprintf(pooling_dir, sizeof pooling_dir, "%s", mpath->valuestring);
            } else if (!strstr(t, "Transformer")) {
                fr_status r = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s/modules.json: module type '%.80s' is not supported (Transformer, Pooling, Normalize only)", dir, t);
                cJSON_Delete(mods);
                return r;
            }
        }
        cJSON_Delete(mods);
    } else if (rc != FR_ERR_NOT_FOUND) {
        return rc;
    }
    cJSON *pool = NULL;
    char pool_name[600];
    snprintf(pool_name, sizeof pool_name, "%s/config.json", pooling_dir);
    rc = load_json(dir, pool_name, &pool, err, errcap);
    if (rc == FR_OK) {
        int cls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_cls_token"));
        int mean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_mean_tokens"));
        int other = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_max_tokens")) ||
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_mean_sqrt_len_tokens")) ||
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_weightedmean_tokens")) ||
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_lasttoken"));
        cJSON_Delete(pool);
        if (cls + mean != 1 || other)
            return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s/%s: exactly one of pooling_mode_cls_token / pooling_mode_mean_tokens must be set", dir, pool_name);
        cfg->pooling = cls ? FR_POOL_CLS : FR_POOL_MEAN;
    } else if (rc != FR_ERR_NOT_FOUND) {
        return rc;
    }

    /* Truncation length: sentence_bert_config's max_seq_length, else the tokenizer's
     * model_max_length, and never more than the position table. */
    cfg->max_seq_length = cfg->max_position;
    cJSON *sb = NULL;
    rc = load_json(dir, "sentence_bert_config.json", &sb, err, errcap);
    if (rc == FR_OK) {
        rc = get_int(sb, "max_seq_length", 2, 1 << 20, &cfg->max_seq_length, "sentence_bert_config.json", err, errcap);
        cJSON_Delete(sb);
        if (rc) return rc;
    } else if (rc != FR_ERR_NOT_FOUND) {
        return rc;
    } else {
        cJSON *tc = NULL;
        rc = load_json(dir, "tokenizer_config.json", &tc, err, errcap);
        if (rc == FR_OK) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(tc, "model_max_length");
            if (cJSON_IsNumber(m) && m->valuedouble >= 2 && m->valuedouble < cfg->max_seq_length)
                cfg->max_seq_length = (int)m->valuedouble;
            cJSON_Delete(tc);
        } else if (rc != FR_ERR_NOT_FOUND) {
            return rc;
        }
    }
    if (cfg->max_seq_length > cfg->max_position) cfg->max_seq_length = cfg->max_position;

    cJSON *st = NULL;
    rc = load_json(dir, "config_sentence_transformers.json", &st, err, errcap);
    if (rc == FR_OK) {
        const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(st, "prompts");
        if (cJSON_IsObject(prompts)) {
            copy_prefix(cfg->query_prefix, cJSON_GetObjectItemCaseSensitive(prompts, "query"));
            copy_prefix(cfg->document_prefix, cJSON_GetObjectItemCaseSensitive(prompts, "passage"));
            copy_prefix(cfg->document_prefix, cJSON_GetObjectItemCaseSensitive(prompts, "document"));
        }
        cJSON_Delete(st);
    } else if (rc != FR_ERR_NOT_FOUND) {
        return rc;
    }
    return FR_OK;
}

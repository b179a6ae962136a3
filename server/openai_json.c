/* openai_json.c - the JSON of OpenAI's embeddings API (POST /v1/embeddings) and of its errors:
 * the request into texts for feedrank.v1.EmbedRequest, the EmbedResponse back into OpenAI's list
 * of embeddings. Strict like every JSON input of feedrank: unknown fields are errors. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "openai_json.h"
#include "pb_json.h"

void fr_openai_embed_request_free(fr_openai_embed_request *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_texts; i++) free(r->texts[i]);
    free(r->texts);
    memset(r, 0, sizeof *r);
}

static fr_status bad(char *param, size_t paramcap, const char *field, char *err, size_t errcap, const char *msg) {
    snprintf(param, paramcap, "%s", field);
    return fr_fail(FR_ERR_ARG, err, errcap, "%s", msg);
}

fr_status fr_openai_embed_parse(const char *json, size_t len, fr_openai_embed_request *out, char *param, size_t paramcap,
                                char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    if (paramcap) param[0] = 0;
    cJSON *root = fr_json_parse_strict(json, len, err, errcap);
    if (!root) return FR_ERR_ARG;
    fr_status rc = FR_OK;
    char msg[256];
    if (!cJSON_IsObject(root)) {
        rc = bad(param, paramcap, "", err, errcap, "the request body must be a JSON object");
        goto done;
    }
    static const char *const keys[] = {"input", "model", "encoding_format", "dimensions", "user", "input_type", NULL};
    for (const cJSON *it = root->child; it; it = it->next) {
        int ok = 0;
        for (int k = 0; keys[k]; k++) ok |= strcmp(it->string, keys[k]) == 0;
        if (!ok) {
            snprintf(msg, sizeof msg, "unknown field '%.64s' (this endpoint takes input, model, encoding_format, dimensions, user, input_type)", it->string);
            rc = bad(param, paramcap, it->string, err, errcap, msg);
            goto done;
        }
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(model)) {
        rc = bad(param, paramcap, "model", err, errcap, "model is required and must be a string");
        goto done;
    }
    if (strlen(model->valuestring) >= sizeof out->model) {
        rc = bad(param, paramcap, "model", err, errcap, "model is too long");
        goto done;
    }
    snprintf(out->model, sizeof out->model, "%s", model->valuestring);

    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    if (fmt && !cJSON_IsNull(fmt)) {
        if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "float") == 0) out->base64 = 0;
        else if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0) out->base64 = 1;
        else {
            rc = bad(param, paramcap, "encoding_format", err, errcap, "encoding_format must be \"float\" or \"base64\"");
            goto done;
        }
    }
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    if (dims && !cJSON_IsNull(dims)) {
        if (!cJSON_IsNumber(dims) || dims->valuedouble != floor(dims->valuedouble) || dims->valuedouble < 1 || dims->valuedouble > 1e6) {
            rc = bad(param, paramcap, "dimensions", err, errcap, "dimensions must be a whole number >= 1");
            goto done;
        }
        out->dimensions = (int)dims->valuedouble;
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (user && !cJSON_IsNull(user) && !cJSON_IsString(user)) {
        rc = bad(param, paramcap, "user", err, errcap, "user must be a string");
        goto done;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "input_type");
    out->kind = 0;
    if (kind && !cJSON_IsNull(kind)) {
        static const char *const kinds[] = {"plain", "query", "document"};
        int k = -1;
        for (int i = 0; i < 3 && cJSON_IsString(kind); i++)
            if (strcmp(kind->valuestring, kinds[i]) == 0) k = i;
        if (k < 0) {
            rc = bad(param, paramcap, "input_type", err, errcap, "input_type must be \"plain\", \"query\" or \"document\"");
            goto done;
        }
        out->kind = k;
    }

    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!input || cJSON_IsNull(input)) {
        rc = bad(param, paramcap, "input", err, errcap, "input is required: a string or a list of strings");
        goto done;
    }
    size_t n = cJSON_IsString(input) ? 1 : cJSON_IsArray(input) ? (size_t)cJSON_GetArraySize(input)
                                                                : 0;
    if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
        rc = bad(param, paramcap, "input", err, errcap, "input must be a string or a list of strings");
        goto done;
    }
    if (n == 0) {
        rc = bad(param, paramcap, "input", err, errcap, "input is an empty list");
        goto done;
    }
    out->texts = calloc(n, sizeof *out->texts);
    if (!out->texts) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        goto done;
    }
    const cJSON *e = cJSON_IsString(input) ? input : input->child;
    for (size_t i = 0; i < n; i++, e = e->next) {
        if (!cJSON_IsString(e)) {
            if (cJSON_IsNumber(e) || cJSON_IsArray(e))
                snprintf(msg, sizeof msg, "input[%zu]: token-id input is not supported; send text (a string or a list of strings)", i);
            else
                snprintf(msg, sizeof msg, "input[%zu] must be a string", i);
            rc = bad(param, paramcap, "input", err, errcap, msg);
            goto done;
        }
        if (!(out->texts[i] = strdup(e->valuestring))) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
            goto done;
        }
        out->n_texts = i + 1;
    }
done:
    cJSON_Delete(root);
    if (rc) fr_openai_embed_request_free(out);
    return rc;
}

int fr_openai_model_matches(const char *asked, const char *served) {
    if (strcmp(asked, served) == 0) return 1;
    const char *slash = strrchr(asked, '/'); /* "sentence-transformers/all-MiniLM-L6-v2" */
    return slash && strcmp(slash + 1, served) == 0;
}

char *fr_openai_embed_response(const Feedrank__V1__EmbedResponse *r, int base64) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    long tokens = 0;
    int ok = data != NULL;
    for (size_t i = 0; ok && i < r->n_embeddings; i++) {
        const Feedrank__V1__Embedding *e = r->embeddings[i];
        tokens += e->tokens;
        cJSON *d = cJSON_CreateObject();
        ok = d != NULL;
        if (!ok) break;
        cJSON_AddItemToArray(data, d);
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", (double)i);
        if (base64) { /* the float32 values, little-endian, as OpenAI sends them */
            uint8_t *raw = malloc(e->n_values * 4 + 1);
            for (size_t k = 0; raw && k < e->n_values; k++) {
                uint32_t u;
                memcpy(&u, &e->values[k], 4);
                raw[4 * k] = (uint8_t)u;
                raw[4 * k + 1] = (uint8_t)(u >> 8);
                raw[4 * k + 2] = (uint8_t)(u >> 16);
                raw[4 * k + 3] = (uint8_t)(u >> 24);
            }
            char *s = raw ? fr_base64(raw, e->n_values * 4) : NULL;
            free(raw);
            ok = s && cJSON_AddStringToObject(d, "embedding", s);
            free(s);
        } else {
            cJSON *v = cJSON_AddArrayToObject(d, "embedding");
            for (size_t k = 0; v && k < e->n_values; k++) {
                cJSON *x = cJSON_CreateNumber(e->values[k]);
                if (!x) {
                    v = NULL;
                    break;
                }
                cJSON_AddItemToArray(v, x);
            }
            ok = v != NULL;
        }
    }
    cJSON_AddStringToObject(o, "model", r->model ? r->model : "");
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    if (u) {
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
        cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
    }
    char *s = ok && u ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *fr_openai_error(const char *message, const char *type, const char *param, const char *code) {
    cJSON *o = cJSON_CreateObject(), *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (!e) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(e, "message", message ? message : "");
    cJSON_AddStringToObject(e, "type", type);
    if (param && *param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code && *code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

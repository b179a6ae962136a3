/* arms.c - A/B arms from a config file, and the arm of a request (arms.h). */
#include "arms.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "json_strict.h"
#include "model_config.h"
#include "profile.h"
#include "rank_options.h"

static fr_status arm_from_json(const cJSON *a, int index, fr_arm *arm, char *err, size_t errcap) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name"), *w = cJSON_GetObjectItemCaseSensitive(a, "weight");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "options");
    if (!cJSON_IsObject(a) || !cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) >= sizeof arm->name)
        return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d]: needs a \"name\" (1..63 bytes)", index);
    snprintf(arm->name, sizeof arm->name, "%s", name->valuestring);
    arm->weight = 1;
    if (w) {
        if (!cJSON_IsNumber(w) || !(w->valuedouble >= 0) || !isfinite(w->valuedouble)) return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d].weight must be a number >= 0", index);
        arm->weight = w->valuedouble;
    }
    fr_rank_options_default(&arm->options);
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (strcmp(it->string, "name") && strcmp(it->string, "weight") && strcmp(it->string, "options") && strcmp(it->string, "profile"))
            return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d]: unknown field '%s'", index, it->string);
    }
    const cJSON *prof = cJSON_GetObjectItemCaseSensitive(a, "profile");
    if (prof) { /* the arm's options start from its ranking profile; "options" override it */
        if (!cJSON_IsString(prof)) return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d].profile must be a file path", index);
        char e2[512];
        if (fr_profile_load(prof->valuestring, &arm->options, NULL, 0, e2, sizeof e2))
            return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d] (%s): %s", index, arm->name, e2);
    }
    if (!o) return FR_OK;
    if (!cJSON_IsObject(o)) return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d].options must be an object", index);
    char e2[256];
    /* a request's options, with a request's rules */
    if (fr_rank_options_from_json(o, "options.", NULL, &arm->options, NULL, e2, sizeof e2) ||
        fr_rank_options_check(&arm->options, e2, sizeof e2))
        return fr_fail(FR_ERR_ARG, err, errcap, "arms[%d] (%s): %s", index, arm->name, e2);
    return FR_OK;
}

fr_status fr_arms_from_json(const cJSON *a, fr_arm *arms, int *n, char *err, size_t errcap) {
    *n = 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > FR_MAX_ARMS || cJSON_GetArraySize(a) < 1)
        return fr_fail(FR_ERR_ARG, err, errcap, "\"arms\" must be an array of 1..%d arms", FR_MAX_ARMS);
    double total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        fr_status rc = arm_from_json(e, *n, &arms[*n], err, errcap);
        if (rc) return rc;
        for (int k = 0; k < *n; k++)
            if (strcmp(arms[k].name, arms[*n].name) == 0) return fr_fail(FR_ERR_ARG, err, errcap, "arm name '%s' repeats", arms[k].name);
        total += arms[(*n)++].weight;
    }
    if (!(total > 0)) return fr_fail(FR_ERR_ARG, err, errcap, "the arms' weights sum to 0");
    return FR_OK;
}

int fr_arm_pick(const fr_arm *arms, int n_arms, const char *arm, const char *user_id, char *err, size_t errcap) {
    if (n_arms == 0) {
        if (arm && *arm && strcmp(arm, "default") != 0) {
            fr_fail(FR_ERR_ARG, err, errcap, "arm '%.64s' is not configured (only 'default' is)", arm);
            return -1;
        }
        return 0;
    }
    if (arm && *arm) {
        for (int a = 0; a < n_arms; a++)
            if (strcmp(arms[a].name, arm) == 0) return a;
        fr_fail(FR_ERR_ARG, err, errcap, "arm '%.64s' is not configured", arm);
        return -1;
    }
    if (user_id && *user_id) {
        double cum[FR_MAX_ARMS];
        for (int a = 0; a < n_arms; a++) cum[a] = (a ? cum[a - 1] : 0) + arms[a].weight;
        const double u = (double)(fr_hash64(user_id, strlen(user_id), 0xA4B5) >> 11) / 9007199254740992.0 * cum[n_arms - 1];
        for (int a = 0; a < n_arms; a++)
            if (u < cum[a]) return a;
        return n_arms - 1;
    }
    return 0;
}

fr_status fr_arms_load_config(const char *path, fr_arm *arms, int *n, char *profile, size_t cap, char *err, size_t errcap) {
    *n = 0;
    if (cap) profile[0] = 0;
    char *buf, e2[512];
    size_t len;
    fr_status rc = fr_read_small_file(path, 1u << 20, &buf, &len, err, errcap);
    if (rc) return rc;
    cJSON *root = fr_json_parse_strict(buf, len, e2, sizeof e2);
    free(buf);
    if (!root) return fr_fail(FR_ERR_ARG, err, errcap, "%s: %s", path, e2);
    if (!cJSON_IsObject(root)) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: not a JSON object", path);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "arms"), *p = cJSON_GetObjectItemCaseSensitive(root, "profile");
    if (!rc && a && fr_arms_from_json(a, arms, n, e2, sizeof e2)) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: %s", path, e2);
    if (!rc && p) {
        if (!cJSON_IsString(p) || strlen(p->valuestring) >= cap) rc = fr_fail(FR_ERR_ARG, err, errcap, "%s: \"profile\" must be a file path", path);
        else snprintf(profile, cap, "%s", p->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

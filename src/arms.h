/* arms.h - A/B arms: named ranking variants with a share of the traffic, as `feedrank serve` and
 * `feedrank rerank --config` read them from a config file's "arms":
 *
 *   "arms": [{"name": "control", "weight": 1},
 *            {"name": "diverse", "weight": 1, "profile": "diverse.json", "options": {"mmr_lambda": 0.7}}]
 *
 * An arm's options start from the built-in defaults, or from its "profile" (profile.h), with its
 * "options" (a RerankOptions object in canonical JSON, as in requests) on top. A request names its
 * arm, or its user_id is hashed into the split (the same user always gets the same arm), or arm 0
 * ranks it. */
#ifndef FR_ARMS_H
#define FR_ARMS_H

#include "ranker.h"
#include "status.h"

#define FR_MAX_ARMS 16

typedef struct {
    char name[64];
    double weight; /* share of traffic (relative) */
    fr_rank_options options;
} fr_arm;

struct cJSON;
/* The "arms" array of a config file into arms[0..*n) (at most FR_MAX_ARMS). Errors name the arm
 * ("arms[1] (diverse): options.mmr_lambda must be a number"). */
fr_status fr_arms_from_json(const struct cJSON *a, fr_arm *arms, int *n, char *err, size_t errcap);

/* The arm that ranks a request: the one named arm (when not NULL or ""), else user_id's share of
 * the split (when not NULL or ""), else arm 0. With no arms (n_arms 0) only "default" exists and 0
 * is returned. -1 with err when arm names no configured arm ("arm 'x' is not configured"). */
int fr_arm_pick(const fr_arm *arms, int n_arms, const char *arm, const char *user_id, char *err, size_t errcap);

/* The arms (and the "profile" key, into profile[cap], "" when absent) of a `feedrank serve`
 * config file; its other keys are the server's and are left to it. */
fr_status fr_arms_load_config(const char *path, fr_arm *arms, int *n, char *profile, size_t cap, char *err, size_t errcap);

#endif

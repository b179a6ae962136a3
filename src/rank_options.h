/* rank_options.h - the ranking options as data: one descriptor per entry of rank_options.def, and
 * what is generated from them (defaults, range checks, reading options from canonical JSON or
 * from text, the reference). The struct itself is fr_rank_options (ranker.h). */
#ifndef FR_RANK_OPTIONS_H
#define FR_RANK_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "ranker.h"

struct cJSON;

/* FR_OPTION_<name>: an option's index in the table */
enum {
#define FR_RANK_OPTION(name, member, kind, def, lo, hi, field, profile, doc) FR_OPTION_##name,
#include "rank_options.def"
#undef FR_RANK_OPTION
    FR_N_RANK_OPTIONS
};

typedef enum { FR_OPT_FLOAT,
               FR_OPT_DOUBLE,
               FR_OPT_COUNT,
               FR_OPT_BOOL,
               FR_OPT_NORM } fr_opt_kind;
/* Where a profile keeps an option (rank_options.def) */
typedef enum { FR_PROFILE_WEIGHT_REQ,
               FR_PROFILE_WEIGHT,
               FR_PROFILE_KEY,
               FR_PROFILE_NEW } fr_opt_profile;

typedef struct {
    const char *name; /* snake_case: JSON, profiles, the proto field */
    fr_opt_kind kind;
    size_t offset; /* in fr_rank_options */
    double def, lo, hi;
    int field; /* RerankOptions field number */
    fr_opt_profile profile;
    const char *doc;
} fr_rank_option;

extern const fr_rank_option fr_rank_option_table[FR_N_RANK_OPTIONS];

/* An option's value as a double (fr_norm as its number, bools as 0/1), and back (no range check). */
double fr_rank_option_get(const fr_rank_options *o, int i);
void fr_rank_option_set(fr_rank_options *o, int i, double v);
/* The signal a weight option weighs ("semantic" for semantic_weight), or -1. */
int fr_rank_option_signal(int i);

/* Every option in its range (FR_ERR_ARG "options.log_gate must be a number in [0, 1e+09]"). */
fr_status fr_rank_options_check(const fr_rank_options *o, char *err, size_t errcap);

/* A RerankOptions object in canonical JSON (json_canon.h: either name form, numbers as strings,
 * enums by name or number, null = unset), applied on top of *o. Normalization also takes
 * feedrank's object form ({"default": "zscore", "popularity": "rank"}) and signal_normalization
 * the proto's list ([{"signal": "popularity", "normalization": "RANK"}]). Ranges are not checked
 * here (fr_rank_options_check), so "NaN" parses and is refused there. extra (may be NULL) names
 * more fields the caller handles itself (return_scores); set (may be NULL) receives a bit
 * 1 << FR_OPTION_x per option the object set. where prefixes paths in errors ("options."). */
fr_status fr_rank_options_from_json(const struct cJSON *obj, const char *where, const char *const *extra, fr_rank_options *o,
                                    uint64_t *set, char *err, size_t errcap);
/* "normalization" as JSON (NULL or null: unchanged): one method for every signal (a name or the
 * enum's number; clears per-signal choices), or an object of them by signal ({"default": "zscore",
 * "popularity": "rank"}). Errors start with "normalization". */
fr_status fr_normalization_from_json(const struct cJSON *n, fr_rank_options *o, char *err, size_t errcap);
/* One option from text (a command-line value: "0.5", "true", "rank"), range-checked. */
fr_status fr_rank_option_from_text(fr_rank_options *o, int i, const char *text, char *err, size_t errcap);

/* The option a command-line flag names ("--semantic-weight" or "--semantic_weight"), or -1. */
int fr_rank_option_by_flag(const char *flag);

/* The reference of every option: a Markdown table (docs/options.md) or, for --help, one line each
 * as "  --flag-name VALUE   doc (default D)". */
void fr_rank_options_reference(FILE *f, int markdown);

#endif

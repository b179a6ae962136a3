/* json_canon.h - reading JSON the way protobuf's JSON mapping writes it, on cJSON trees (parsed by
 * json_strict.h). Every JSON input that holds a proto message (request lines, arms' and profiles'
 * options, the HTTP endpoints) reads its fields through these, so that what
 * `json_format.MessageToJson` (Python) or `JsonFormat.printer()` (Java) writes is accepted:
 *   - a field under its proto name (snake_case) or its JSON name (lowerCamelCase, derived as
 *     protoc does: "_" dropped, the next character upper-cased); both in one object is an error;
 *   - null for a field = not set;
 *   - float/double: a number, a string holding one, or "NaN", "Infinity", "-Infinity" (callers'
 *     validation then refuses what is not finite);
 *   - 32- and 64-bit integers: a whole number or a string of decimal digits (int64 is written as a
 *     string: a double cannot hold every one);
 *   - bool: true or false only. */
#ifndef FR_JSON_CANON_H
#define FR_JSON_CANON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* 1 when key names the field snake: its proto name or its lowerCamelCase JSON name. */
int fr_jc_name_is(const char *key, const char *snake);
/* The JSON name of snake ("top_k" -> "topK") into out (cap bytes, truncated). */
void fr_jc_camel(const char *snake, char *out, size_t cap);

/* Checks obj's keys: each names one of fields (NULL-terminated, snake_case) in either form, and no
 * field is given twice (once per form). where prefixes the path in messages ("options."). */
fr_status fr_jc_check_fields(const cJSON *obj, const char *const *fields, const char *where, char *err, size_t errcap);
/* The value of field snake in obj (either form); NULL when absent or null. Call after
 * fr_jc_check_fields, which makes the form unambiguous. */
const cJSON *fr_jc_get(const cJSON *obj, const char *snake);

/* Scalars of the mapping; each returns 1 and fills *out, or 0 when v is not of that kind. */
int fr_jc_double(const cJSON *v, double *out);
/* A whole number in [lo, hi]; 0 when not an integer or out of the range. */
int fr_jc_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out);
int fr_jc_bool(const cJSON *v, int *out);

/* Writes a float for JSON output: a number, or "NaN", "Infinity", "-Infinity" as the mapping
 * spells them (cJSON would write null). */
cJSON *fr_jc_number(double v);

#endif

/* json_strict.h - one JSON document per line, parsed strictly. cJSON alone accepts text after the
 * value ('{...} garbage', two objects on a line), keeps both of two equal keys (lookups then find
 * the first), and decodes "\u0000" or a raw NUL byte into a NUL that ends the C string early, so
 * that "p001\u0000x" silently becomes the id "p001". Every JSONL input of the CLI goes through
 * fr_json_parse_strict instead, which refuses all three and names the field. */
#ifndef FR_JSON_STRICT_H
#define FR_JSON_STRICT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "status.h"

/* Parses json[0..len) as one JSON value followed by nothing but white space, with no NUL byte in
 * any string or key and no key twice in one object. Returns the tree (free with cJSON_Delete), or
 * NULL with err naming what and where: "not valid JSON", "text after the JSON object (at byte 55)",
 * "candidates[2].item_id contains a NUL byte", "a key in options contains a NUL byte",
 * "duplicate key \"item_id\" in candidates[0]". */
cJSON *fr_json_parse_strict(const char *json, size_t len, char *err, size_t errcap);

/* Writes s as a quoted JSON string (quotes, backslashes and control characters escaped). */
void fr_json_write_string(FILE *f, const char *s);

#endif

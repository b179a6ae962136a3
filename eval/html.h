/* html.h - HTML character reference decoding, exactly as Python's html.unescape (HTML5 named
 * references incl. the legacy ones without ';', longest-prefix matching, numeric references with
 * the HTML5 replacement rules). Tables: eval/html_entities.c (generated). */
#ifndef FR_HTML_H
#define FR_HTML_H

#include <stddef.h>

typedef struct {
    const char *name, *value;
} fr_html_entity; /* name without '&' */
typedef struct {
    unsigned code;
    const char *value;
} fr_html_charref;

extern const fr_html_entity fr_html_entities[];
extern const unsigned fr_html_entity_count;
extern const fr_html_charref fr_html_invalid_charrefs[];
extern const unsigned fr_html_invalid_charref_count;
extern const unsigned fr_html_invalid_codepoints[];
extern const unsigned fr_html_invalid_codepoint_count;

/* Decodes s[0..n) into out (at most n * 4 + 1 bytes suffice... the caller passes outcap);
 * returns the decoded length, or -1 when outcap is too small. Output is NUL-terminated. */
long fr_html_unescape(const char *s, size_t n, char *out, size_t outcap);

/* The item text normalisation of catalogues that carry HTML character references (RecBole .item
 * titles: `&amp;`, `&reg;`, `&#39;`...): fr_html_unescape of s[0..n) into *buf (grown as needed,
 * *cap its size; the caller frees). `feedrank index --format recbole` and the A/B harness's RecBole
 * loader both call it, so a profile is tuned on the text it is served on. Returns the length, or -1
 * when out of memory. */
long fr_item_text_decode(const char *s, size_t n, char **buf, size_t *cap);

#endif

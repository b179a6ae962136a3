/* html.c - html.unescape in C. Mirrors CPython's regex
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * and its replacement function: exact name, else the longest known prefix (>= 2 chars) followed
 * by the rest, else the text unchanged; numeric references through the HTML5 replacement table,
 * U+FFFD for surrogates and values above U+10FFFF, nothing for the "invalid" code points. */
#include "html.h"

#include <stdlib.h>

#include <string.h>

static const char *entity(const char *name, size_t n) {
    unsigned lo = 0, hi = fr_html_entity_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        /* by length as well as bytes: the input may hold NUL bytes, which strncmp stops at */
        const char *e = fr_html_entities[mid].name;
        size_t el = strlen(e);
        int c = memcmp(e, name, el < n ? el : n);
        if (c == 0) c = (el > n) - (el < n);
        if (c < 0) lo = mid + 1;
        else if (c > 0) hi = mid;
        else return fr_html_entities[mid].value;
    }
    return NULL;
}

static size_t put_utf8(unsigned cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes of the UTF-8 sequence starting with byte b (1 for invalid lead bytes). */
static size_t seq_len(unsigned char b) { return b < 0xC0 ? 1 : b < 0xE0 ? 2
                                                           : b < 0xF0   ? 3
                                                           : b < 0xF8   ? 4
                                                                        : 1; }

long fr_html_unescape(const char *s, size_t n, char *out, size_t outcap) {
    size_t o = 0;
#define EMIT(p, len)                           \
    do {                                       \
        if (o + (len) + 1 > outcap) return -1; \
        memcpy(out + o, (p), (len));           \
        o += (len);                            \
    } while (0)
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            size_t j = i;
            while (j < n && s[j] != '&') j++;
            EMIT(s + i, j - i);
            i = j;
            continue;
        }
        size_t p = i + 1;
        if (p < n && s[p] == '#') {
            int hex = p + 1 < n && (s[p + 1] == 'x' || s[p + 1] == 'X');
            size_t d = p + 1 + (size_t)hex, e = d;
            unsigned long long num = 0;
            int big = 0;
            while (e < n && (hex ? ((s[e] >= '0' && s[e] <= '9') || ((s[e] | 32) >= 'a' && (s[e] | 32) <= 'f')) : (s[e] >= '0' && s[e] <= '9'))) {
                int v = s[e] <= '9' ? s[e] - '0' : (s[e] | 32) - 'a' + 10;
                if (num > 0x10FFFFull) big = 1;
                else num = num * (hex ? 16 : 10) + (unsigned)v;
                e++;
            }
            if (e == d) {
                EMIT("&", 1);
                i++;
                continue;
            } /* "&#" or "&#x" without digits: literal */
            if (e < n && s[e] == ';') e++;
            if (big || num > 0x10FFFF) num = 0x110000;
            char buf[8];
            const char *rep = NULL;
            for (unsigned k = 0; k < fr_html_invalid_charref_count; k++)
                if (fr_html_invalid_charrefs[k].code == num) rep = fr_html_invalid_charrefs[k].value;
            if (rep) EMIT(rep, strlen(rep));
            else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) EMIT("\xEF\xBF\xBD", 3);
            else {
                int invalid = 0;
                for (unsigned k = 0; k < fr_html_invalid_codepoint_count; k++) invalid |= fr_html_invalid_codepoints[k] == num;
                if (!invalid) {
                    size_t l = put_utf8((unsigned)num, buf);
                    EMIT(buf, l);
                }
            }
            i = e;
            continue;
        }
        /* named: up to 32 characters (code points) outside [\t\n\f <&#;], then an optional ';' */
        size_t e = p, chars = 0;
        while (e < n && chars < 32) {
            char c = s[e];
            if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
            size_t l = seq_len((unsigned char)c);
            e = e + l <= n ? e + l : n;
            chars++;
        }
        if (chars == 0) {
            EMIT("&", 1);
            i++;
            continue;
        }
        if (e < n && s[e] == ';') e++;
        const char *name = s + p;
        size_t nl = e - p;
        const char *v = entity(name, nl);
        if (v) {
            EMIT(v, strlen(v));
            i = e;
            continue;
        }
        /* longest prefix of at least 2 characters that is a known name (names are ASCII, so
         * byte prefixes of the ASCII part are the only candidates) */
        size_t x = nl - 1;
        for (; x >= 2; x--) {
            if ((unsigned char)name[x - 1] >= 0x80) continue;
            if ((v = entity(name, x))) break;
        }
        if (v && x >= 2) {
            EMIT(v, strlen(v));
            EMIT(name + x, nl - x);
        } else {
            EMIT("&", 1);
            EMIT(name, nl);
        }
        i = e;
    }
    if (o + 1 > outcap) return -1;
    out[o] = 0;
    return (long)o;
#undef EMIT
}

long fr_item_text_decode(const char *s, size_t n, char **buf, size_t *cap) {
    /* a reference never decodes to more bytes than 4 per input byte */
    const size_t need = n * 4 + 1;
    if (need > *cap) {
        char *p = realloc(*buf, need);
        if (!p) return -1;
        *buf = p;
        *cap = need;
    }
    return fr_html_unescape(s, n, *buf, *cap);
}

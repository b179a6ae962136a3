/* event_batch.c - events records for the write-ahead log (see event_batch.h). One walker checks a
 * record and, when asked, hands its events over; nothing is handed over from a record that does
 * not check whole. */
#include "event_batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

#define HEAD 24
#define TAIL_BYTES 24
#define FLAG_TAIL 1u

struct fr_event_batch {
    fr_bytebuf out;
    uint32_t n;
    fr_event_tail tail;
    fr_priors_params p;
};

static const char *params_problem(const fr_priors_params *p) {
    if (p->window < 1 || p->window > 64) return "window outside 1..64";
    if (p->capacity < 1 || p->capacity > 4096) return "capacity outside 1..4096";
    if (!isfinite(p->half_life) || p->half_life < 0) return "half-life is not a finite number >= 0";
    return NULL;
}

fr_status fr_event_batch_new(const fr_priors_params *params, fr_event_batch **out, char *err, size_t errcap) {
    const char *why = params_problem(params);
    *out = NULL;
    if (why) return fr_fail(FR_ERR_ARG, err, errcap, "events record: %s", why);
    *out = calloc(1, sizeof **out);
    uint8_t h[HEAD + TAIL_BYTES] = {FR_RECORD_EVENTS};
    if (!*out || fr_bytebuf_put(&(*out)->out, h, sizeof h)) { /* room for a tail position, dropped when none is set */
        fr_event_batch_free(*out);
        *out = NULL;
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    }
    (*out)->p = *params;
    return FR_OK;
}

/* NULL when ev is valid, else what is wrong with it, naming the field. */
static const char *event_problem(const fr_event *ev) {
    if (ev->user_len == 0 || ev->user_len > FR_EVENT_MAX_ID) return "user must be 1..128 bytes";
    if (memchr(ev->user, 0, ev->user_len)) return "user contains a NUL byte";
    if (ev->item_len == 0 || ev->item_len > FR_EVENT_MAX_ID) return "item must be 1..128 bytes";
    if (memchr(ev->item, 0, ev->item_len)) return "item contains a NUL byte";
    if (!isfinite(ev->ts)) return "ts is not finite";
    if (!(ev->weight > 0) || !(ev->weight <= 1e6)) return "weight must be a number in (0, 1e6]";
    return NULL;
}

fr_status fr_event_batch_add(fr_event_batch *b, const fr_event *ev, char *err, size_t errcap) {
    const char *why = event_problem(ev);
    if (why) return fr_fail(FR_ERR_ARG, err, errcap, "%s", why);
    if (b->n >= FR_EVENT_BATCH_MAX) return fr_fail(FR_ERR_ARG, err, errcap, "more than %u events in one record", FR_EVENT_BATCH_MAX);
    uint8_t ul = (uint8_t)ev->user_len, il = (uint8_t)ev->item_len, tw[16];
    fr_wrf64(tw, ev->ts);
    fr_wrf64(tw + 8, ev->weight);
    fr_bytebuf *o = &b->out;
    if (fr_bytebuf_put(o, &ul, 1) || fr_bytebuf_put(o, ev->user, ul) || fr_bytebuf_put(o, &il, 1) || fr_bytebuf_put(o, ev->item, il) ||
        fr_bytebuf_put(o, tw, 16))
        return fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    b->n++;
    return FR_OK;
}

void fr_event_batch_set_tail(fr_event_batch *b, const fr_event_tail *tail) { b->tail = *tail; }
uint32_t fr_event_batch_count(const fr_event_batch *b) { return b->n; }

const uint8_t *fr_event_batch_bytes(const fr_event_batch *b, size_t *len) {
    /* the events follow HEAD + TAIL_BYTES bytes kept free: without a tail position the header is
     * written just before the events (in the room a position would take) */
    uint8_t *h = b->tail.present ? b->out.p : b->out.p + TAIL_BYTES;
    memset(h, 0, HEAD);
    h[0] = FR_RECORD_EVENTS;
    fr_wr32(h + 4, b->n);
    fr_wr32(h + 8, (uint32_t)b->p.window);
    fr_wr32(h + 12, (uint32_t)b->p.capacity);
    fr_wrf64(h + 16, b->p.half_life);
    if (b->tail.present) {
        h[1] = FLAG_TAIL;
        fr_wr64(h + HEAD, b->tail.file_id);
        fr_wr64(h + HEAD + 8, b->tail.offset);
        fr_wr64(h + HEAD + 16, b->tail.line);
    }
    *len = b->out.len - (size_t)(h - b->out.p);
    return h;
}

void fr_event_batch_free(fr_event_batch *b) {
    if (!b) return;
    free(b->out.p);
    free(b);
}

static fr_status walk(const uint8_t *rec, size_t len, fr_event_batch_info *info, fr_event_fn fn, void *ctx, char *err,
                      size_t errcap) {
    if (len < HEAD) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record of %zu bytes is too short", len);
    if (rec[0] != FR_RECORD_EVENTS) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: kind %u, expected %u", rec[0], FR_RECORD_EVENTS);
    if (rec[1] & ~FLAG_TAIL) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: unknown flags %02x", rec[1]);
    if (rec[2] || rec[3]) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: reserved bytes at offset 2 are not 0");
    const uint32_t n = fr_rd32(rec + 4);
    if (n > FR_EVENT_BATCH_MAX) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: %u events, the limit is %u", n, FR_EVENT_BATCH_MAX);
    const uint32_t w = fr_rd32(rec + 8), cap = fr_rd32(rec + 12);
    const fr_priors_params p = {.window = w > 64 ? 0 : (int)w, .half_life = fr_rdf64(rec + 16), .capacity = cap > 4096 ? 0 : (int)cap};
    const char *why = params_problem(&p);
    if (why) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: %s (offset 8)", why);
    size_t off = HEAD;
    fr_event_tail t = {0};
    if (rec[1] & FLAG_TAIL) {
        if (len - off < TAIL_BYTES) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: tail position truncated at offset %zu", off);
        t.present = 1;
        t.file_id = fr_rd64(rec + off);
        t.offset = fr_rd64(rec + off + 8);
        t.line = fr_rd64(rec + off + 16);
        if (t.line > t.offset) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: tail position of %llu lines in %llu bytes", (unsigned long long)t.line, (unsigned long long)t.offset);
        off += TAIL_BYTES;
    }
    /* the whole record first; the events are handed over only in a second pass */
    for (int pass = 0; pass < (fn ? 2 : 1); pass++) {
        size_t at = off;
        for (uint32_t i = 0; i < n; i++) {
            fr_event ev;
            const size_t start = at;
            if (len - at < 1) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u truncated at offset %zu", i, at);
            ev.user_len = rec[at++];
            if (ev.user_len > len - at) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u user runs past the end (offset %zu)", i, start);
            ev.user = (const char *)rec + at;
            at += ev.user_len;
            if (len - at < 1) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u truncated at offset %zu", i, at);
            ev.item_len = rec[at++];
            if (ev.item_len > len - at) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u item runs past the end (offset %zu)", i, start);
            ev.item = (const char *)rec + at;
            at += ev.item_len;
            if (len - at < 16) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u ts/weight truncated at offset %zu", i, at);
            ev.ts = fr_rdf64(rec + at);
            ev.weight = fr_rdf64(rec + at + 8);
            at += 16;
            const char *why = event_problem(&ev);
            if (why) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: event %u (offset %zu): %s", i, start, why);
            if (pass == 1) {
                fr_status rc = fn(ctx, &ev, err, errcap);
                if (rc) return rc;
            }
        }
        if (at != len) return fr_fail(FR_ERR_FORMAT, err, errcap, "events record: %zu bytes after the last event", len - at);
    }
    if (info) {
        info->n_events = n;
        info->params = p;
        info->tail = t;
    }
    return FR_OK;
}

fr_status fr_event_batch_check(const uint8_t *rec, size_t len, fr_event_batch_info *info, char *err, size_t errcap) {
    return walk(rec, len, info, NULL, NULL, err, errcap);
}

fr_status fr_event_batch_each(const uint8_t *rec, size_t len, fr_event_fn fn, void *ctx, char *err, size_t errcap) {
    return walk(rec, len, NULL, fn, ctx, err, errcap);
}

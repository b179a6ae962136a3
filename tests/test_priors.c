/* test_priors.c - log priors: co-visitation counts on a hand-made log, time-decay maths (in any
 * event order), space-saving capacity, unknown ids and malformed lines, both RecBole layouts,
 * shard builds merged = one single-pass build, attaching to a store file, rejection of corrupt
 * sections, and resumable builds (a build interrupted after a checkpoint and resumed equals one
 * pass, byte for byte; corrupt checkpoints and changed logs are refused), and rows that move
 * (fr_priors_remap, fr_priors_builder_remap: see test_remap). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "item_store.h"
#include "priors.h"
#include "test_util.h"

static char store_path[256];

/* a store with items i0..i{n-1}, dimension 2 */
static fr_store *make_store(int n) {
    char err[256];
    snprintf(store_path, sizeof store_path, "/tmp/test_priors_%d.store", (int)getpid());
    fr_store_writer *w;
    CHECK(fr_store_writer_open(store_path, 2, FR_STORE_F32, "m", 1, 0, &w, err, sizeof err) == FR_OK, "%s", err);
    for (int i = 0; i < n; i++) {
        char id[16];
        float v[2] = {(float)i, 1};
        snprintf(id, sizeof id, "i%d", i);
        fr_store_writer_add(w, id, strlen(id), v, NULL, 0, err, sizeof err);
    }
    CHECK(fr_store_writer_finish(w, err, sizeof err) == FR_OK, "%s", err);
    fr_store *s = NULL;
    CHECK(fr_store_open(store_path, 0, 1, &s, err, sizeof err) == FR_OK, "%s", err);
    return s;
}

/* builds priors from log text; returns the section (caller frees) */
static uint8_t *build(const fr_store *s, const char *log, const char *label, const fr_priors_params *p, int si, int sn,
                      uint64_t max_bad, fr_priors_stats *st, size_t *size, fr_status *rc_out, char *err, size_t errcap) {
    fr_priors_builder *b;
    *rc_out = fr_priors_builder_create(fr_store_info_of(s)->count, p, &b, err, errcap);
    if (*rc_out) return NULL;
    FILE *f = fmemopen((void *)log, strlen(log), "rb");
    uint8_t *data = NULL;
    *rc_out = fr_priors_read_log(b, f, label, FR_LOG_AUTO, s, si, sn, max_bad, st, err, errcap);
    if (!*rc_out) *rc_out = fr_priors_finish(b, &data, size, err, errcap);
    fclose(f);
    fr_priors_builder_free(b);
    return data;
}

static double weight_of(const fr_priors *p, uint32_t a, uint32_t b) {
    for (uint64_t k = p->nb_off[a]; k < p->nb_off[a + 1]; k++)
        if (p->nb_row[k] == b) return p->nb_weight[k];
    return 0;
}

static void test_hand_made(const fr_store *s) {
    /* user a: i1 i2 i3; user b: i2 i3 i3; window 2, no decay */
    const char *log = "{\"user\":\"a\",\"item\":\"i1\",\"ts\":1}\n"
                      "{\"user\":\"b\",\"item\":\"i2\",\"ts\":2}\n"
                      "{\"user\":\"a\",\"item\":\"i2\",\"ts\":3}\n"
                      "\n"
                      "{\"user\":\"a\",\"item\":\"i3\",\"ts\":4,\"weight\":1}\n"
                      "{\"user\":\"b\",\"item\":\"i3\",\"ts\":5}\n"
                      "{\"user\":\"b\",\"item\":\"i3\",\"ts\":6}\n"
                      "{\"user\":\"b\",\"item\":\"nope\",\"ts\":7}\n";
    fr_priors_params p = {.window = 2, .half_life = 0, .capacity = 10};
    fr_priors_stats st = {0};
    size_t size;
    fr_status rc;
    char err[256];
    uint8_t *d = build(s, log, "hand.jsonl", &p, 0, 1, 0, &st, &size, &rc, err, sizeof err);
    CHECK(rc == FR_OK, "hand-made build: %s", err);
    if (rc) return;
    fr_priors v;
    if (fr_priors_view(d, size, fr_store_info_of(s)->count, "t", &v, err, sizeof err) != FR_OK) {
        CHECK(0, "view: %s", err);
        free(d);
        return;
    }
    CHECK(st.events == 6 && st.unknown_items == 1 && st.users == 2, "stats %llu %llu %llu", (unsigned long long)st.events,
          (unsigned long long)st.unknown_items, (unsigned long long)st.users);
    CHECK(v.popularity[1] == 1 && v.popularity[2] == 2 && v.popularity[3] == 3 && v.popularity[0] == 0, "popularity");
    CHECK(v.seen[3] == 3 && v.seen[0] == 0, "seen counts");
    /* a: (i2,i1) d1 -> 1; (i3,i2) d1 -> 1; (i3,i1) d2 -> 0.5.  b: (i3,i2) d1 -> 1, then i3 after i3
     * (d1) is no co-visit, and (i3,i2) at d2 -> 0.5 */
    CHECK(weight_of(&v, 1, 2) == 1 && weight_of(&v, 2, 1) == 1, "C(i1,i2) = %g", weight_of(&v, 1, 2));
    CHECK(weight_of(&v, 2, 3) == 2.5 && weight_of(&v, 3, 2) == 2.5, "C(i2,i3) = %g", weight_of(&v, 2, 3));
    CHECK(weight_of(&v, 1, 3) == 0.5 && weight_of(&v, 3, 3) == 0, "C(i1,i3) = %g", weight_of(&v, 1, 3));
    /* strongest first */
    CHECK(v.nb_off[3] - v.nb_off[2] == 2 && v.nb_row[v.nb_off[2]] == 3, "i2's list: i3 first");
    free(d);

    /* malformed lines: an error naming the line, or counted with --max-bad-lines */
    const char *bad = "{\"user\":\"a\",\"item\":\"i1\",\"ts\":1}\n{\"user\":\"a\",\"item\":\"i2\"}\nnot json\n"
                      "{\"user\":\"a\",\"item\":\"i2\",\"ts\":2,\"weight\":-1}\n{\"user\":7,\"item\":2,\"ts\":3}\n";
    d = build(s, bad, "bad.jsonl", &p, 0, 1, 0, &st, &size, &rc, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT && strstr(err, "bad.jsonl:2") && strstr(err, "ts"), "bad line: %s", err);
    free(d);
    memset(&st, 0, sizeof st);
    d = build(s, bad, "bad.jsonl", &p, 0, 1, 5, &st, &size, &rc, err, sizeof err);
    CHECK(rc == FR_OK && st.bad_lines == 3 && st.events == 1 && st.unknown_items == 1, "skipped %llu bad, %llu events (%s)",
          (unsigned long long)st.bad_lines, (unsigned long long)st.events, err);
    free(d);
}

static void test_decay(const fr_store *s) {
    /* half-life 10: events at 0 and 10, in both orders, give 0.5 + 1 at T = 10 */
    const char *fwd = "{\"user\":\"u\",\"item\":\"i1\",\"ts\":0}\n{\"user\":\"u\",\"item\":\"i1\",\"ts\":10}\n"
                      "{\"user\":\"v\",\"item\":\"i2\",\"ts\":10}\n{\"user\":\"v\",\"item\":\"i3\",\"ts\":0}\n";
    const char *rev = "{\"user\":\"u\",\"item\":\"i1\",\"ts\":10}\n{\"user\":\"u\",\"item\":\"i1\",\"ts\":0}\n"
                      "{\"user\":\"v\",\"item\":\"i2\",\"ts\":10}\n{\"user\":\"v\",\"item\":\"i3\",\"ts\":0}\n";
    fr_priors_params p = {.window = 3, .half_life = 10, .capacity = 10};
    char err[256];
    fr_status rc;
    size_t n1, n2;
    uint8_t *a = build(s, fwd, "f", &p, 0, 1, 0, NULL, &n1, &rc, err, sizeof err), *b = build(s, rev, "r", &p, 0, 1, 0, NULL, &n2, &rc, err, sizeof err);
    fr_priors va, vb;
    int ok = a && b && fr_priors_view(a, n1, 6, "a", &va, err, sizeof err) == FR_OK && fr_priors_view(b, n2, 6, "b", &vb, err, sizeof err) == FR_OK;
    CHECK(ok, "%s", err);
    if (ok) {
        CHECK(fabs(va.popularity[1] - 1.5) < 1e-12 && fabs(vb.popularity[1] - 1.5) < 1e-12, "decayed popularity %g %g", va.popularity[1], vb.popularity[1]);
        CHECK(va.t_end == 10, "t_end %g", va.t_end);
        /* the co-visit (i3 after i2) happens at ts 0: weight 1 * 0.5^(10/10) */
        CHECK(fabs(weight_of(&va, 3, 2) - 0.5) < 1e-6, "decayed co-visit %g", weight_of(&va, 3, 2));
        CHECK(fabs(va.popularity[3] - 0.5) < 1e-12 && fabs(va.popularity[2] - 1) < 1e-12, "popularity of i2/i3");
    }
    free(a);
    free(b);
}

static void test_capacity(const fr_store *s) {
    /* capacity 2: i0 co-occurs 5 times with i1, once each with i2..i5; i1 must survive */
    char log[4096] = "";
    int ts = 0;
    for (int r = 0; r < 5; r++) {
        char line[256];
        snprintf(line, sizeof line, "{\"user\":\"h%d\",\"item\":\"i1\",\"ts\":%d}\n{\"user\":\"h%d\",\"item\":\"i0\",\"ts\":%d}\n", r, ts, r, ts + 1);
        strcat(log, line);
        ts += 2;
        snprintf(line, sizeof line, "{\"user\":\"x%d\",\"item\":\"i%d\",\"ts\":%d}\n{\"user\":\"x%d\",\"item\":\"i0\",\"ts\":%d}\n", r, 2 + r % 4, ts, r, ts + 1);
        strcat(log, line);
        ts += 2;
    }
    fr_priors_params p = {.window = 1, .half_life = 0, .capacity = 2};
    char err[256];
    fr_status rc;
    size_t n;
    uint8_t *d = build(s, log, "cap", &p, 0, 1, 0, NULL, &n, &rc, err, sizeof err);
    fr_priors v;
    int ok = d && fr_priors_view(d, n, 6, "cap", &v, err, sizeof err) == FR_OK;
    CHECK(ok, "%s", err);
    if (ok) {
        uint32_t top = v.nb_row[v.nb_off[0]];
        float tw = v.nb_weight[v.nb_off[0]];
        CHECK(v.nb_off[1] - v.nb_off[0] == 2 && top == 1 && tw >= 5, "heavy neighbour kept: row %u w %g", top, tw);
    }
    free(d);
    /* events far out of time order against a short half-life, with full lists: values stay finite
     * (comparing weights rescaled to an older event's time overflowed; found by fuzzing). i3 takes
     * i1's only place and inherits i2's weight, 1 at the end time. */
    const char *ooo = "{\"user\":\"a\",\"item\":\"i1\",\"ts\":1000000}\n{\"user\":\"a\",\"item\":\"i2\",\"ts\":1000000}\n"
                      "{\"user\":\"b\",\"item\":\"i1\",\"ts\":0}\n{\"user\":\"b\",\"item\":\"i3\",\"ts\":0}\n";
    p = (fr_priors_params){.window = 2, .half_life = 1, .capacity = 1};
    d = build(s, ooo, "ooo", &p, 0, 1, 0, NULL, &n, &rc, err, sizeof err);
    ok = d && fr_priors_view(d, n, 6, "ooo", &v, err, sizeof err) == FR_OK;
    CHECK(ok && v.nb_off[2] - v.nb_off[1] == 1 && weight_of(&v, 1, 3) == 1, "out-of-order events, full lists: %s", err);
    free(d);
}

static void test_shards_and_store(const fr_store *s) {
    /* a random log of 300 users over 6 items; 3 user shards merged = one pass */
    size_t cap = 1 << 20, len = 0;
    char *log = malloc(cap);
    uint64_t x = 12345;
    for (int u = 0; u < 300; u++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = 1 + (int)(x >> 60);
        for (int k = 0; k < n; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            len += (size_t)snprintf(log + len, cap - len, "{\"user\":%d,\"item\":\"i%d\",\"ts\":%d,\"weight\":%g}\n", u,
                                    (int)((x >> 33) % 6), (int)((x >> 40) % 1000), 0.5 + (double)((x >> 50) % 4));
        }
    }
    fr_priors_params p = {.window = 4, .half_life = 300, .capacity = 16};
    char err[256];
    fr_status rc;
    size_t whole_n, part_n[3], merged_n;
    uint8_t *whole = build(s, log, "log", &p, 0, 1, 0, NULL, &whole_n, &rc, err, sizeof err), *parts[3], *merged = NULL;
    CHECK(rc == FR_OK, "%s", err);
    for (int i = 0; i < 3; i++) {
        parts[i] = build(s, log, "log", &p, i, 3, 0, NULL, &part_n[i], &rc, err, sizeof err);
        CHECK(rc == FR_OK, "%s", err);
    }
    CHECK(fr_priors_merge((const uint8_t *const *)parts, part_n, 3, &merged, &merged_n, err, sizeof err) == FR_OK, "merge: %s", err);
    fr_priors a, b;
    CHECK(fr_priors_view(whole, whole_n, 6, "whole", &a, err, sizeof err) == FR_OK && fr_priors_view(merged, merged_n, 6, "merged", &b, err, sizeof err) == FR_OK, "%s", err);
    int same = a.events == b.events && a.users == b.users && a.t_end == b.t_end && a.nb_off[6] == b.nb_off[6];
    for (int r = 0; r < 6 && same; r++) {
        same &= fabs(a.popularity[r] - b.popularity[r]) <= 1e-9 * (1 + a.popularity[r]) && a.seen[r] == b.seen[r];
        for (uint64_t k = a.nb_off[r]; k < a.nb_off[r + 1]; k++)
            same &= fabs(a.nb_weight[k] - weight_of(&b, (uint32_t)r, a.nb_row[k])) <= 1e-5 * (1 + a.nb_weight[k]);
    }
    CHECK(same, "3 shards merged differ from the single-pass build");
    /* attach to the store file; re-attaching replaces; the store validates and reads back */
    CHECK(fr_store_attach(store_path, FR_STORE_SECTION_PRIORS, whole, whole_n, err, sizeof err) == FR_OK, "attach: %s", err);
    CHECK(fr_store_attach(store_path, FR_STORE_SECTION_PRIORS, merged, merged_n, err, sizeof err) == FR_OK, "re-attach: %s", err);
    fr_store *t = NULL;
    CHECK(fr_store_open(store_path, 0, 1, &t, err, sizeof err) == FR_OK, "reopen: %s", err);
    if (t) {
        fr_priors c;
        CHECK(fr_priors_of_store(t, &c, err, sizeof err) == FR_OK && c.events == b.events && fr_store_find(t, "i3", 2) == 3, "priors from the store: %s", err);
        fr_store_close(t);
    }
    CHECK(fr_store_attach(store_path, 2, whole, whole_n, err, sizeof err) == FR_ERR_ARG, "a core section kind was replaced");
    /* corrupt sections are rejected with a reason */
    uint8_t *bad = malloc(whole_n);
    struct {
        size_t at;
        uint8_t v;
        const char *why;
    } flips[] = {{0, 'X', "FRPRIOR1"}, {24, 7, "items"}, {8, 9, "version"}};
    for (int i = 0; i < 3; i++) {
        memcpy(bad, whole, whole_n);
        bad[flips[i].at] = flips[i].v;
        CHECK(fr_priors_view(bad, whole_n, 6, "bad", &b, err, sizeof err) != FR_OK && strstr(err, flips[i].why), "corruption %d: %s", i, err);
    }
    memcpy(bad, whole, whole_n);
    double nan = NAN;
    memcpy(bad + 96, &nan, 8); /* popularity[0] */
    CHECK(fr_priors_view(bad, whole_n, 6, "bad", &a, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "popularity"), "NaN popularity: %s", err);
    CHECK(fr_priors_view(whole, whole_n - 4, 6, "bad", &a, err, sizeof err) == FR_ERR_FORMAT, "truncated section accepted");
    memcpy(bad, whole, whole_n);
    CHECK(fr_priors_view(whole, whole_n, 6, "whole", &a, err, sizeof err) == FR_OK, "%s", err);
    uint64_t m = a.nb_off ? a.nb_off[6] : 0;
    if (m) {
        uint32_t big = 99;
        size_t rows_at = whole_n - 8 * m; /* rows u32[m] then weights f32[m] */
        memcpy(bad + rows_at, &big, 4);
        CHECK(fr_priors_view(bad, whole_n, 6, "bad", &b, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "neighbour"), "row out of range: %s", err);
    }
    free(bad);
    free(log);
    free(whole);
    free(merged);
    for (int i = 0; i < 3; i++) free(parts[i]);
}

static void test_recbole(const fr_store *s) {
    const char *atomic = "user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t5\nu1\ti2\t6\nu2\tzz\t7\nu2\ti2\tx\n";
    char err[256];
    fr_status rc;
    size_t n;
    fr_priors_params p = {.window = 2, .half_life = 0, .capacity = 4};
    fr_priors_stats st = {0};
    uint8_t *d = build(s, atomic, "log.inter", &p, 0, 1, 1, &st, &n, &rc, err, sizeof err);
    fr_priors v;
    CHECK(rc == FR_OK && st.events == 2 && st.unknown_items == 1 && st.bad_lines == 1, "atomic .inter: %s", err);
    int ok = d && fr_priors_view(d, n, 6, "a", &v, err, sizeof err) == FR_OK;
    CHECK(ok && weight_of(&v, 2, 1) == 1 && v.t_end == 6, "atomic covis");
    free(d);
    const char *seq = "user_id:token\titem_id_list:token_seq\titem_id:token\n0\ti1 i2 i3\ti4\n1\ti3 q i2\ti5\n";
    memset(&st, 0, sizeof st);
    d = build(s, seq, "Games.dev.inter", &p, 0, 1, 0, &st, &n, &rc, err, sizeof err);
    CHECK(rc == FR_OK && st.events == 5 && st.unknown_items == 1, "sequential .inter: %s (%llu events)", err, (unsigned long long)st.events);
    int viewed = d && fr_priors_view(d, n, 6, "s", &v, err, sizeof err) == FR_OK;
    double w32 = viewed ? weight_of(&v, 3, 2) : -1;
    CHECK(viewed && v.seen[4] == 0 && v.seen[5] == 0 && w32 == 2, "targets are not events; C(i2,i3) = %g", w32);
    free(d);
    d = build(s, "user\titem\n", "x.inter", &p, 0, 1, 0, &st, &n, &rc, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT && strstr(err, "x.inter:1"), "bad header: %s", err);
    free(d);
}

/* ---- checkpoints ---- */
typedef struct {
    uint8_t *saved;
    size_t size;
    int calls, stop_at;
} ckpt_ctx;

static fr_status keep_checkpoint(const fr_priors_builder *b, const fr_priors_position *pos, void *ctx, char *err, size_t errcap) {
    ckpt_ctx *c = ctx;
    if (++c->calls == c->stop_at) return fr_fail(FR_ERR_IO, err, errcap, "simulated crash");
    free(c->saved);
    c->saved = NULL;
    return fr_priors_checkpoint_save(b, pos, &c->saved, &c->size, err, errcap);
}

static void test_checkpoint_resume(const fr_store *s, const char *log, const char *label, const fr_priors_params *p) {
    char err[256];
    fr_status rc;
    size_t whole_n;
    fr_priors_stats st1 = {0}, st2 = {0};
    uint8_t *whole = build(s, log, label, p, 0, 1, 1, &st1, &whole_n, &rc, err, sizeof err);
    CHECK(rc == FR_OK, "%s: %s", label, err);
    /* interrupted: a crash after the third checkpoint, with lines read past it */
    fr_priors_builder *b;
    CHECK(fr_priors_builder_create(6, p, &b, err, sizeof err) == FR_OK, "%s", err);
    ckpt_ctx c = {.stop_at = 4};
    fr_priors_resume r = {.every_lines = 7, .checkpoint = keep_checkpoint, .ctx = &c};
    FILE *f = fmemopen((void *)log, strlen(log), "rb");
    rc = fr_priors_read_log_from(b, f, label, FR_LOG_AUTO, s, 0, 1, 1, &r, NULL, err, sizeof err);
    fclose(f);
    fr_priors_builder_free(b);
    CHECK(rc == FR_ERR_IO && c.saved && c.calls == 4, "%s: the simulated crash did not happen (%d calls)", label, c.calls);
    if (!c.saved) {
        free(whole);
        return;
    }
    /* resumed from the last checkpoint = one pass */
    fr_priors_resume r2 = {.every_lines = 7, .checkpoint = keep_checkpoint, .ctx = &(ckpt_ctx){0}};
    CHECK(fr_priors_checkpoint_load(c.saved, c.size, p, 6, &b, &r2.start, err, sizeof err) == FR_OK, "%s: load: %s", label, err);
    CHECK(r2.start.line == 21 && r2.start.offset > 0, "%s: checkpoint at line %llu", label, (unsigned long long)r2.start.line);
    uint8_t *resumed = NULL;
    size_t resumed_n = 0;
    f = fmemopen((void *)log, strlen(log), "rb");
    rc = fr_priors_read_log_from(b, f, label, FR_LOG_AUTO, s, 0, 1, 1, &r2, &st2, err, sizeof err);
    fclose(f);
    if (!rc) rc = fr_priors_finish(b, &resumed, &resumed_n, err, sizeof err);
    fr_priors_builder_free(b);
    free(((ckpt_ctx *)r2.ctx)->saved);
    CHECK(rc == FR_OK && resumed_n == whole_n && memcmp(resumed, whole, whole_n) == 0, "%s: resumed build differs from one pass: %s", label, err);
    CHECK(st2.events == st1.events && st2.users == st1.users && st2.unknown_items == st1.unknown_items && st2.bad_lines == st1.bad_lines,
          "%s: resumed stats %llu events / %llu bad, one pass %llu / %llu", label, (unsigned long long)st2.events,
          (unsigned long long)st2.bad_lines, (unsigned long long)st1.events, (unsigned long long)st1.bad_lines);
    /* refused: corruption, truncation, other parameters, another store, a changed or shorter log */
    fr_priors_position pos;
    uint8_t *bad = malloc(c.size);
    memcpy(bad, c.saved, c.size);
    bad[c.size / 2] ^= 1;
    CHECK(fr_priors_checkpoint_load(bad, c.size, p, 6, &b, &pos, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "checksum"), "%s: flipped bit: %s", label, err);
    CHECK(fr_priors_checkpoint_load(c.saved, c.size - 9, p, 6, &b, &pos, err, sizeof err) == FR_ERR_FORMAT, "%s: truncated checkpoint accepted", label);
    fr_priors_params q = *p;
    q.window = p->window + 1;
    CHECK(fr_priors_checkpoint_load(c.saved, c.size, &q, 6, &b, &pos, err, sizeof err) == FR_ERR_ARG && strstr(err, "parameters"), "%s: other window: %s", label, err);
    CHECK(fr_priors_checkpoint_load(c.saved, c.size, p, 7, &b, &pos, err, sizeof err) == FR_ERR_ARG && strstr(err, "items"), "%s: other store: %s", label, err);
    char *changed = strdup(log);
    char *digit = strpbrk(changed + 40, "0123456789");
    *digit = *digit == '1' ? '2' : '1';
    for (int variant = 0; variant < 2; variant++) {
        CHECK(fr_priors_checkpoint_load(c.saved, c.size, p, 6, &b, &pos, err, sizeof err) == FR_OK, "%s", err);
        fr_priors_resume r3 = {.start = pos};
        const size_t len = variant == 0 ? strlen(changed) : (size_t)(pos.offset / 2);
        f = fmemopen(variant == 0 ? changed : (char *)log, len, "rb");
        rc = fr_priors_read_log_from(b, f, label, FR_LOG_AUTO, s, 0, 1, 1, &r3, NULL, err, sizeof err);
        fclose(f);
        fr_priors_builder_free(b);
        CHECK(rc == FR_ERR_ARG && strstr(err, variant == 0 ? "changed" : "shorter"), "%s: %s log accepted on resume: %s", label,
              variant == 0 ? "a changed" : "a shorter", err);
    }
    free(changed);
    free(bad);
    free(c.saved);
    free(resumed);
    free(whole);
}

static void test_checkpoints(const fr_store *s) {
    size_t cap = 1 << 16, lj = 0, lr = 0;
    char *jsonl = malloc(cap), *inter = malloc(cap);
    lr += (size_t)snprintf(inter, cap, "user_id:token\titem_id:token\ttimestamp:float\n");
    uint64_t x = 777;
    for (int k = 0; k < 120; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int u = (int)((x >> 20) % 17), item = (int)((x >> 33) % 7), ts = (int)((x >> 40) % 500); /* i6: unknown id */
        if (k == 50) {
            lj += (size_t)snprintf(jsonl + lj, cap - lj, "not json\n");
            lr += (size_t)snprintf(inter + lr, cap - lr, "u1\ti1\tnan?\n");
        }
        lj += (size_t)snprintf(jsonl + lj, cap - lj, "{\"user\":\"u%d\",\"item\":\"i%d\",\"ts\":%d,\"weight\":%g}\n", u, item, ts, 0.5 + (double)((x >> 50) % 4));
        lr += (size_t)snprintf(inter + lr, cap - lr, "u%d\ti%d\t%d\n", u, item, ts);
    }
    fr_priors_params p = {.window = 3, .half_life = 200, .capacity = 4};
    /* a checkpoint of several 64 KiB checksum blocks round-trips byte for byte */
    fr_priors_builder *b, *b2;
    char err[256];
    CHECK(fr_priors_builder_create(6, &p, &b, err, sizeof err) == FR_OK, "%s", err);
    for (int u = 0; u < 4000; u++) {
        char key[64];
        int kl = snprintf(key, sizeof key, "user-%05d-with-a-long-enough-id", u);
        fr_priors_add(b, key, (size_t)kl, (uint32_t)(u % 6), u, 1.0, err, sizeof err);
        fr_priors_add(b, key, (size_t)kl, (uint32_t)((u + 1) % 6), u + 1, 1.0, err, sizeof err);
    }
    fr_priors_position pos = {.offset = 123, .line = 4, .prefix_hash = 99}, pos2;
    uint8_t *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK(fr_priors_checkpoint_save(b, &pos, &c1, &n1, err, sizeof err) == FR_OK && n1 > 3 * 65536, "big checkpoint: %s (%zu bytes)", err, n1);
    CHECK(c1 && fr_priors_checkpoint_load(c1, n1, &p, 6, &b2, &pos2, err, sizeof err) == FR_OK, "big checkpoint load: %s", err);
    if (c1 && b2) {
        CHECK(pos2.offset == 123 && pos2.line == 4 && pos2.prefix_hash == 99, "position round trip");
        CHECK(fr_priors_checkpoint_save(b2, &pos2, &c2, &n2, err, sizeof err) == FR_OK && n2 == n1 && memcmp(c1, c2, n1) == 0, "big checkpoint round trip differs");
        c1[70000] ^= 4; /* in the second block */
        fr_priors_builder *b3 = NULL;
        CHECK(fr_priors_checkpoint_load(c1, n1, &p, 6, &b3, &pos2, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "checksum"), "second-block corruption: %s", err);
        fr_priors_builder_free(b2);
    }
    fr_priors_builder_free(b);
    free(c1);
    free(c2);
    test_checkpoint_resume(s, jsonl, "log.jsonl", &p);
    test_checkpoint_resume(s, inter, "log.inter", &p);
    free(jsonl);
    free(inter);
}

/* Rows that move (a compaction deleted row 2 and added rows 5 and 6): the builder remapped in
 * place, then fed more events, equals a builder that never saw the deleted item, array for array
 * (the deleted item's events come last in each user's history, so they moved no distance between
 * other items, and the window is longer than any history); the remapped builder finishes to the
 * bytes fr_priors_remap gives for its section, and checkpoints round trip at the new size; bad maps
 * are refused and leave the builder as it was. */
typedef struct {
    const char *user;
    uint32_t row;
    double ts;
} ev;

static void add_events(fr_priors_builder *b, const ev *e, int n, const int64_t *map, char *err, size_t errcap) {
    for (int i = 0; i < n; i++) {
        int64_t row = map ? map[e[i].row] : (int64_t)e[i].row;
        if (row == FR_ROW_DELETED) continue;
        CHECK(fr_priors_add(b, e[i].user, strlen(e[i].user), (uint32_t)row, e[i].ts, 1.0, err, errcap) == FR_OK, "add: %s", err);
    }
}

static void test_remap(void) {
    char err[512];
    const ev e1[] = {{"a", 0, 1}, {"a", 1, 2}, {"a", 3, 3}, {"b", 4, 1.5}, {"b", 3, 2.5}, {"c", 1, 3}, {"c", 5, 3.5}, {"d", 2, 2}, {"c", 0, 4.5}, {"a", 2, 4}, {"b", 2, 5}};
    const ev e2[] = {{"a", 5, 6}, {"a", 2, 7}, {"b", 0, 6.5}, {"c", 6, 7.5}, {"c", 1, 8}, {"d", 4, 8.5}, {"d", 5, 9}};
    const int64_t map[6] = {0, 1, FR_ROW_DELETED, 2, 3, 4};
    fr_priors_params p = {.window = 10, .half_life = 3.0, .capacity = 100};
    fr_priors_builder *a = NULL, *b = NULL;
    CHECK(fr_priors_builder_create(6, &p, &a, err, sizeof err) == FR_OK && fr_priors_builder_create(7, &p, &b, err, sizeof err) == FR_OK, "%s", err);
    if (!a || !b) return;
    add_events(a, e1, 11, NULL, err, sizeof err);
    add_events(b, e1, 11, map, err, sizeof err);
    uint8_t *before = NULL, *moved = NULL, *rebuilt = NULL;
    size_t nb = 0, nm = 0, nr = 0;
    CHECK(fr_priors_finish(a, &before, &nb, err, sizeof err) == FR_OK, "%s", err);
    /* bad maps: refused, the builder unchanged */
    const int64_t twice[6] = {0, 0, 1, 2, 3, 4}, outside[6] = {0, 1, 2, 3, 4, 7};
    CHECK(fr_priors_builder_remap(a, twice, 7, err, sizeof err) == FR_ERR_ARG && strstr(err, "two rows"), "a shared new row: %s", err);
    CHECK(fr_priors_builder_remap(a, outside, 7, err, sizeof err) == FR_ERR_ARG && strstr(err, "outside"), "a row outside: %s", err);
    CHECK(fr_priors_remap(before, nb, 6, twice, 7, &moved, &nm, err, sizeof err) == FR_ERR_ARG && !moved, "section, a shared new row: %s", err);
    CHECK(fr_priors_finish(a, &rebuilt, &nr, err, sizeof err) == FR_OK && nr == nb && memcmp(rebuilt, before, nb) == 0, "a refused map changes nothing");
    free(rebuilt);
    rebuilt = NULL;
    /* the section and the builder remap alike */
    CHECK(fr_priors_remap(before, nb, 6, map, 7, &moved, &nm, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_priors_builder_remap(a, map, 7, err, sizeof err) == FR_OK, "%s", err);
    CHECK(fr_priors_finish(a, &rebuilt, &nr, err, sizeof err) == FR_OK && nr == nm && memcmp(rebuilt, moved, nm) == 0,
          "remapped builder, finished = finished section, remapped (byte for byte)");
    fr_priors v;
    CHECK(fr_priors_view(moved, nm, 7, "moved", &v, err, sizeof err) == FR_OK && v.events == 11 && v.popularity[5] == 0 &&
              v.popularity[6] == 0 && v.seen[5] == 0 && v.nb_off[5] == v.nb_off[7],
          "new rows: no popularity, no events, no neighbours: %s", err);
    /* a checkpoint of the remapped builder loads at the new size */
    uint8_t *ck = NULL;
    size_t nck = 0;
    fr_priors_position pos = {0}, pos2;
    fr_priors_builder *c = NULL;
    CHECK(fr_priors_checkpoint_save(a, &pos, &ck, &nck, err, sizeof err) == FR_OK &&
              fr_priors_checkpoint_load(ck, nck, &p, 7, &c, &pos2, err, sizeof err) == FR_OK,
          "checkpoint of a remapped builder: %s", err);
    free(ck);
    /* events go on with the new rows: as if the deleted item had never been seen */
    add_events(a, e2, 7, NULL, err, sizeof err);
    add_events(b, e2, 7, NULL, err, sizeof err);
    if (c) add_events(c, e2, 7, NULL, err, sizeof err);
    uint8_t *da = NULL, *db = NULL, *dc = NULL;
    size_t na = 0, nbb = 0, nc = 0;
    fr_priors va, vb;
    CHECK(fr_priors_finish(a, &da, &na, err, sizeof err) == FR_OK && fr_priors_finish(b, &db, &nbb, err, sizeof err) == FR_OK &&
              fr_priors_view(da, na, 7, "a", &va, err, sizeof err) == FR_OK && fr_priors_view(db, nbb, 7, "b", &vb, err, sizeof err) == FR_OK,
          "%s", err);
    CHECK(c && fr_priors_finish(c, &dc, &nc, err, sizeof err) == FR_OK && nc == na && memcmp(dc, da, na) == 0, "resumed from the checkpoint: the same");
    if (da && db) {
        const uint64_t m = vb.nb_off[7];
        CHECK(va.nb_off[7] == m && memcmp(va.popularity, vb.popularity, 7 * 8) == 0 && memcmp(va.seen, vb.seen, 7 * 4) == 0 &&
                  memcmp(va.nb_off, vb.nb_off, 8 * 8) == 0 && memcmp(va.nb_row, vb.nb_row, 4 * m) == 0 &&
                  memcmp(va.nb_weight, vb.nb_weight, 4 * m) == 0 && m > 10,
              "remapped + later events = a build that never saw the deleted item (%llu neighbours)", (unsigned long long)m);
        CHECK(va.events == vb.events + 3 && va.users == vb.users && va.t_end == vb.t_end, "totals: the deleted item's 3 events still counted");
    }
    free(before);
    free(moved);
    free(rebuilt);
    free(da);
    free(db);
    free(dc);
    fr_priors_builder_free(a);
    fr_priors_builder_free(b);
    fr_priors_builder_free(c);
}

int main(void) {
    fr_store *s = make_store(6);
    if (!s) return fr_test_finish("test_priors");
    test_hand_made(s);
    test_decay(s);
    test_capacity(s);
    test_recbole(s);
    test_shards_and_store(s);
    test_checkpoints(s);
    test_remap();
    fr_store_close(s);
    unlink(store_path);
    return fr_test_finish("test_priors");
}

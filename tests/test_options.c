/* test_options.c - the option table (src/rank_options.def) against everything generated from it
 * and against the .proto: every entry is a RerankOptions field of the same name, number, type and
 * default (and every RerankOptions field an entry, but the two that are not ranking options);
 * every entry round-trips through JSON requests (both name forms, values as numbers and as
 * strings), ranking profiles, command-line text, and - in server builds - the gRPC client's
 * packing and the server's codec; every range is enforced by name; docs/options.md holds the
 * reference generated from the table (FEEDRANK_WRITE_DOCS=1 rewrites it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_canon.h"
#include "profile.h"
#include "rank_options.h"
#include "request_json.h"
#include "test_util.h"

#ifdef FEEDRANK_HAVE_SERVER
#include "client.h"
#include "feedrank/v1/reranker.pb-c.h"
#include "server_internal.h"
#endif

/* A value for option i that is in range, not its default, and exact in a float; its JSON text. */
static double test_value(const fr_rank_option *d, char *json, size_t cap, char *text, size_t tcap) {
    double v = 0;
    switch (d->kind) {
    case FR_OPT_NORM:
        snprintf(json, cap, "\"RANK\"");
        snprintf(text, tcap, "rank");
        return FR_NORM_RANK;
    case FR_OPT_BOOL:
        snprintf(json, cap, "true");
        snprintf(text, tcap, "true");
        return 1;
    case FR_OPT_COUNT: v = 7; break;
    default: {
        static const double tries[] = {0.375, 2.5, 0.625, 7, 0.125};
        for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++)
            if (tries[k] >= d->lo && tries[k] <= d->hi && tries[k] != d->def) {
                v = tries[k];
                break;
            }
    }
    }
    snprintf(json, cap, "%g", v);
    snprintf(text, tcap, "%g", v);
    return v;
}

static int same(const fr_rank_options *a, const fr_rank_options *b) { return memcmp(a, b, sizeof *a) == 0; }

static int parse_options(const char *opts, fr_rank_options *out, uint64_t *set, char *err, size_t errcap) {
    char json[512];
    snprintf(json, sizeof json, "{\"context\":{\"query\":\"q\"},\"candidates\":[{\"item_id\":\"a\"}],\"options\":{%s}}", opts);
    fr_parsed_request p;
    if (fr_request_parse(json, strlen(json), &p, err, errcap)) return -1;
    *out = p.req.options;
    if (set) *set = p.options_set;
    fr_parsed_request_free(&p);
    return 0;
}

static void test_round_trips(void) {
    char err[512];
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        char vj[32], vt[32], camel[64], opts[160];
        fr_rank_options want, got;
        fr_rank_options_default(&want);
        CHECK(fr_rank_option_get(&want, i) == (d->kind == FR_OPT_FLOAT ? (double)(float)d->def : d->def), "%s: default %g", d->name, d->def);
        CHECK(d->def >= d->lo && d->def <= d->hi, "%s: default in range", d->name);
        const double v = test_value(d, vj, sizeof vj, vt, sizeof vt);
        fr_rank_option_set(&want, i, v);
        CHECK(fr_rank_options_check(&want, err, sizeof err) == FR_OK, "%s: test value %s in range: %s", d->name, vt, err);
        fr_jc_camel(d->name, camel, sizeof camel);
        /* JSON: snake_case, lowerCamelCase, the value as a string (numbers) or the enum's number */
        uint64_t set = 0;
        snprintf(opts, sizeof opts, "\"%s\":%s", d->name, vj);
        CHECK(parse_options(opts, &got, &set, err, sizeof err) == 0 && same(&got, &want) && set == 1ull << i, "%s: JSON %s: %s", d->name, opts, err);
        snprintf(opts, sizeof opts, "\"%s\":%s", camel, vj);
        CHECK(parse_options(opts, &got, NULL, err, sizeof err) == 0 && same(&got, &want), "%s: JSON %s: %s", d->name, opts, err);
        if (d->kind == FR_OPT_FLOAT || d->kind == FR_OPT_DOUBLE || d->kind == FR_OPT_COUNT || d->kind == FR_OPT_NORM) {
            if (d->kind == FR_OPT_NORM) snprintf(opts, sizeof opts, "\"%s\":3", camel); /* RANK = 3 in the proto */
            else snprintf(opts, sizeof opts, "\"%s\":\"%s\"", camel, vj);
            CHECK(parse_options(opts, &got, NULL, err, sizeof err) == 0 && same(&got, &want), "%s: JSON %s: %s", d->name, opts, err);
        }
        snprintf(opts, sizeof opts, "\"%s\":null", d->name);
        fr_rank_options def;
        fr_rank_options_default(&def);
        CHECK(parse_options(opts, &got, &set, err, sizeof err) == 0 && same(&got, &def) && set == 0, "%s: null = unset: %s", d->name, err);
        if (strcmp(camel, d->name) != 0) {
            snprintf(opts, sizeof opts, "\"%s\":%s,\"%s\":%s", d->name, vj, camel, vj);
            CHECK(parse_options(opts, &got, NULL, err, sizeof err) != 0 && strstr(err, "given twice"), "%s: both names refused: %s", d->name, err);
        }
        /* out of range: refused by validation, naming the option */
        if (d->kind == FR_OPT_FLOAT || d->kind == FR_OPT_DOUBLE || d->kind == FR_OPT_COUNT) {
            fr_rank_options bad = want;
            fr_rank_option_set(&bad, i, d->hi * 2 + 1);
            char needle[64];
            snprintf(needle, sizeof needle, "options.%s", d->name);
            CHECK(fr_rank_options_check(&bad, err, sizeof err) == FR_ERR_ARG && strstr(err, needle), "%s: above range: %s", d->name, err);
            if (d->kind != FR_OPT_COUNT) {
                snprintf(opts, sizeof opts, "\"%s\":\"NaN\"", camel);
                CHECK(parse_options(opts, &bad, NULL, err, sizeof err) == 0 && fr_rank_options_check(&bad, err, sizeof err) == FR_ERR_ARG && strstr(err, needle),
                      "%s: \"NaN\" parses, validation refuses it: %s", d->name, err);
            }
        }
        /* a ranking profile */
        char *buf = NULL, name[64];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK(fr_profile_write(f, "t", &want, NULL, err, sizeof err) == FR_OK, "%s: profile write", d->name);
        fclose(f);
        CHECK(fr_profile_parse(buf, len, "mem", &got, name, sizeof name, err, sizeof err) == FR_OK && same(&got, &want),
              "%s: profile round trip: %s\n%s", d->name, err, buf);
        free(buf);
        /* command-line text and flags */
        fr_rank_options_default(&got);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", d->name);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        CHECK(fr_rank_option_by_flag(flag) == i, "%s: flag %s", d->name, flag);
        CHECK(fr_rank_option_from_text(&got, i, vt, err, sizeof err) == FR_OK && same(&got, &want), "%s: text '%s': %s", d->name, vt, err);
#ifdef FEEDRANK_HAVE_SERVER
        /* the client's packing (a JSON line -> RerankRequest) and the server's codec (-> options) */
        char line[512];
        snprintf(line, sizeof line, "{\"context\":{\"query\":\"q\"},\"candidates\":[{\"itemId\":\"a\"}],\"options\":{\"%s\":%s}}", camel, vj);
        size_t n = 0;
        uint8_t *pk = fr_client_pack_rerank(line, &n);
        Feedrank__V1__RerankRequest *m = pk ? feedrank__v1__rerank_request__unpack(NULL, n, pk) : NULL;
        fr_rank_options_default(&got);
        CHECK(m && m->options && fr_codec_options(m->options, &got, err, sizeof err) == FR_OK && same(&got, &want),
              "%s: client -> proto -> codec: %s", d->name, err);
        if (m) feedrank__v1__rerank_request__free_unpacked(m, NULL);
        free(pk);
#endif
    }
    /* per-signal normalisation: the object form and the proto's list give the same options */
    fr_rank_options a, b;
    CHECK(parse_options("\"normalization\":{\"default\":\"none\",\"popularity\":\"RANK\"}", &a, NULL, err, sizeof err) == 0, "object form: %s", err);
    CHECK(parse_options("\"normalization\":\"NONE\",\"signalNormalization\":[{\"signal\":\"popularity\",\"normalization\":3}]", &b, NULL, err, sizeof err) == 0 &&
              same(&a, &b) && fr_rank_norm_of(&b, FR_SIG_POPULARITY) == FR_NORM_RANK && fr_rank_norm_of(&b, FR_SIG_SEMANTIC) == FR_NORM_NONE,
          "signalNormalization list = object form: %s", err);
    CHECK(parse_options("\"normalization\":\"NORMALIZATION_UNSPECIFIED\"", &a, NULL, err, sizeof err) == 0 && a.normalization == FR_NORM_ZSCORE, "UNSPECIFIED = ZSCORE");
    CHECK(parse_options("\"normalization\":9", &a, NULL, err, sizeof err) != 0 && strstr(err, "options.normalization must be one of"), "9: %s", err);
    CHECK(parse_options("\"signal_normalization\":[{\"signal\":\"default\"}]", &a, NULL, err, sizeof err) != 0 && strstr(err, "signal_normalization[0].signal"), "default is no signal: %s", err);
#ifdef FEEDRANK_HAVE_SERVER
    size_t n;
    uint8_t *pk = fr_client_pack_rerank("{\"context\":{\"query\":\"q\"},\"options\":{\"normalization\":{\"default\":\"none\",\"popularity\":\"rank\"}}}", &n);
    Feedrank__V1__RerankRequest *m = pk ? feedrank__v1__rerank_request__unpack(NULL, n, pk) : NULL;
    fr_rank_options_default(&b);
    CHECK(m && m->options && fr_codec_options(m->options, &b, err, sizeof err) == FR_OK && same(&a, &a) &&
              fr_rank_norm_of(&b, FR_SIG_POPULARITY) == FR_NORM_RANK && fr_rank_norm_of(&b, FR_SIG_SEMANTIC) == FR_NORM_NONE,
          "per-signal over gRPC: %s", err);
    if (m) feedrank__v1__rerank_request__free_unpacked(m, NULL);
    free(pk);
#endif
}

#ifdef FEEDRANK_HAVE_SERVER
/* The table against the compiled .proto: same names, numbers, types and defaults, both ways. */
static void test_proto(void) {
    const ProtobufCMessageDescriptor *md = &feedrank__v1__rerank_options__descriptor;
    static const char *const not_ranking[] = {"return_scores", "signal_normalization"}; /* response option; NORM's list */
    for (unsigned k = 0; k < md->n_fields; k++) {
        const ProtobufCFieldDescriptor *fd = &md->fields[k];
        int found = 0;
        for (int i = 0; i < FR_N_RANK_OPTIONS; i++) found |= strcmp(fr_rank_option_table[i].name, fd->name) == 0;
        for (size_t e = 0; e < 2; e++) found |= strcmp(not_ranking[e], fd->name) == 0;
        CHECK(found, "RerankOptions.%s (field %u) has no row in src/rank_options.def", fd->name, fd->id);
    }
    for (int i = 0; i < FR_N_RANK_OPTIONS; i++) {
        const fr_rank_option *d = &fr_rank_option_table[i];
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(md, d->name);
        CHECK(fd != NULL, "option %s is not a RerankOptions field of the .proto", d->name);
        if (!fd) continue;
        CHECK((int)fd->id == d->field, "%s: field number %u in the .proto, %d in the table", d->name, fd->id, d->field);
        static const ProtobufCType want[] = {PROTOBUF_C_TYPE_FLOAT, PROTOBUF_C_TYPE_DOUBLE, PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_BOOL, PROTOBUF_C_TYPE_ENUM};
        CHECK(fd->type == want[d->kind] && fd->label == PROTOBUF_C_LABEL_OPTIONAL, "%s: type %d in the .proto", d->name, (int)fd->type);
        double pd = 0; /* the .proto's [default = ...], 0 without one */
        if (fd->default_value) {
            switch (fd->type) {
            case PROTOBUF_C_TYPE_FLOAT: pd = *(const float *)fd->default_value; break;
            case PROTOBUF_C_TYPE_DOUBLE: pd = *(const double *)fd->default_value; break;
            case PROTOBUF_C_TYPE_UINT32: pd = *(const uint32_t *)fd->default_value; break;
            case PROTOBUF_C_TYPE_BOOL: pd = *(const protobuf_c_boolean *)fd->default_value; break;
            case PROTOBUF_C_TYPE_ENUM: pd = *(const int *)fd->default_value - 1; break; /* proto ZSCORE = 1, fr_norm 0 */
            default: break;
            }
        }
        CHECK((float)pd == (float)d->def, "%s: default %g in the .proto, %g in the table", d->name, pd, d->def);
    }
}
#endif

/* docs/options.md's reference section is the table's (regenerated with FEEDRANK_WRITE_DOCS=1). */
static void test_docs(void) {
    static const char begin[] = "<!-- options:begin (generated from src/rank_options.def by tests/test_options.c) -->\n";
    static const char end[] = "<!-- options:end -->\n";
    char path[1024], *gen = NULL;
    size_t glen = 0, len = 0;
    snprintf(path, sizeof path, "%s/docs/options.md", FEEDRANK_SOURCE_DIR);
    FILE *g = open_memstream(&gen, &glen);
    fr_rank_options_reference(g, 1);
    fclose(g);
    char *doc = fr_test_read_file(path, &len);
    char *a = doc ? strstr(doc, begin) : NULL, *b = a ? strstr(a, end) : NULL;
    const int ok = a && b && (size_t)(b - a) == strlen(begin) + glen && memcmp(a + strlen(begin), gen, glen) == 0;
    if (!ok && getenv("FEEDRANK_WRITE_DOCS") && a && b) {
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(doc, 1, (size_t)(a - doc), f);
            fputs(begin, f);
            fputs(gen, f);
            fputs(b, f);
            fclose(f);
            printf("test_options: rewrote %s\n", path);
        }
    } else {
        CHECK(ok, "%s: the option reference differs from the table's (FEEDRANK_WRITE_DOCS=1 build/test_options rewrites it)", path);
    }
    free(doc);
    free(gen);
}

/* json_canon.h's scalars at their edges, as protobuf's JSON mapping has them */
static void test_canon_scalars(void) {
    struct {
        const char *json;
        int ok;
        double want;
    } dbl[] = {
        {"1.5", 1, 1.5},
        {"\"1.5\"", 1, 1.5},
        {"\"-2e3\"", 1, -2000},
        {"\"Infinity\"", 1, INFINITY},
        {"\"-Infinity\"", 1, -INFINITY},
        {"\"NaN\"", 1, NAN},
        {"\"nan\"", 0, 0},
        {"\"inf\"", 0, 0},
        {"\" 1\"", 0, 0},
        {"\"0x10\"", 0, 0},
        {"\"1.\"", 0, 0},
        {"\"\"", 0, 0},
        {"true", 0, 0},
        {"[1]", 0, 0},
    };
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        cJSON *v = cJSON_Parse(dbl[i].json);
        double x = 0;
        const int ok = fr_jc_double(v, &x);
        CHECK(ok == dbl[i].ok && (!ok || (isnan(dbl[i].want) ? isnan(x) : x == dbl[i].want)), "double %s: %d %g", dbl[i].json, ok, x);
        cJSON_Delete(v);
    }
    struct {
        const char *json;
        int ok;
        int64_t want;
    } ints[] = {
        {"7", 1, 7},
        {"\"7\"", 1, 7},
        {"\"-9000000000000000\"", 1, -9000000000000000LL},
        {"\"9223372036854775807\"", 1, INT64_MAX},
        {"\"9223372036854775808\"", 0, 0},
        {"\"007\"", 0, 0},
        {"\"7.0\"", 0, 0},
        {"\"1e3\"", 0, 0},
        {"7.5", 0, 0},
        {"1e3", 1, 1000},
        {"\"+7\"", 0, 0},
        {"\"-\"", 0, 0},
        {"1e300", 0, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        cJSON *v = cJSON_Parse(ints[i].json);
        int64_t x = 0;
        const int ok = fr_jc_int(v, INT64_MIN, INT64_MAX, &x);
        CHECK(ok == ints[i].ok && (!ok || x == ints[i].want), "int %s: %d %lld", ints[i].json, ok, (long long)x);
        cJSON_Delete(v);
    }
    CHECK(fr_jc_name_is("bm25K1", "bm25_k1") && fr_jc_name_is("topK", "top_k") && fr_jc_name_is("top_k", "top_k") && !fr_jc_name_is("topk", "top_k") &&
              !fr_jc_name_is("top_K", "top_k") && !fr_jc_name_is("topKx", "top_k") && !fr_jc_name_is("to", "top_k"),
          "JSON names");
}

int main(void) {
    test_canon_scalars();
    test_round_trips();
#ifdef FEEDRANK_HAVE_SERVER
    test_proto();
#endif
    test_docs();
    return fr_test_finish("test_options");
}

/* client.c - `feedrank client rerank|embed|health`: a gRPC C core client for the service.
 * rerank reads the same JSON requests as `feedrank rerank` (one per line) and prints each
 * response as JSON; the JSON's fields map 1:1 onto feedrank.v1.RerankRequest. */
#include <cjson/cJSON.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "client.h"
#include "feedrank/v1/reranker.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "model_config.h"
#include "server.h"

typedef struct {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    const char *token;
    double timeout_s;
} client;

static int unary(client *c, const char *method, const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, char *details, size_t dcap) {
    return fr_client_unary(c->ch, c->cq, c->token, c->timeout_s, method, req, req_len, resp, resp_len, details, dcap);
}

int fr_client_unary(grpc_channel *ch, grpc_completion_queue *cq, const char *token, double timeout_s, const char *method,
                    const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, char *details, size_t dcap) {
    struct { grpc_channel *ch; grpc_completion_queue *cq; const char *token; } cc = {ch, cq, token}, *c = &cc;
    grpc_slice m = grpc_slice_from_static_string(method);
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis((int64_t)(timeout_s * 1000), GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL, dl, NULL);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata md[1];
    char auth[300];
    size_t nmd = 0;
    if (c->token && *c->token) {
        snprintf(auth, sizeof auth, "Bearer %s", c->token);
        md[0].key = grpc_slice_from_static_string("authorization");
        md[0].value = grpc_slice_from_copied_string(auth);
        nmd = 1;
    }
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *rb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice sd;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &sd;
    int tagv;
    grpc_call_start_batch(call, ops, 6, &tagv, NULL);
    grpc_completion_queue_pluck(c->cq, &tagv, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    char *d = grpc_slice_to_c_string(sd);
    snprintf(details, dcap, "%s", d);
    gpr_free(d);
    grpc_slice_unref(sd);
    *resp = NULL;
    if (status == GRPC_STATUS_OK && rb) {
        grpc_byte_buffer_reader r;
        grpc_byte_buffer_reader_init(&r, rb);
        grpc_slice all = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        *resp_len = GRPC_SLICE_LENGTH(all);
        *resp = malloc(*resp_len + 1);
        if (*resp) memcpy(*resp, GRPC_SLICE_START_PTR(all), *resp_len);
        grpc_slice_unref(all);
    }
    if (rb) grpc_byte_buffer_destroy(rb);
    grpc_byte_buffer_destroy(bb);
    if (nmd) grpc_slice_unref(md[0].value);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    return (int)status;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jnum(const cJSON *o, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

static Feedrank__V1__Normalization norm_to_proto(const char *nm) {
    return strcasecmp(nm, "minmax") == 0 ? FEEDRANK__V1__NORMALIZATION__MINMAX
           : strcasecmp(nm, "rank") == 0 ? FEEDRANK__V1__NORMALIZATION__RANK
           : strcasecmp(nm, "none") == 0 ? FEEDRANK__V1__NORMALIZATION__NONE
                                         : FEEDRANK__V1__NORMALIZATION__ZSCORE;
}

/* JSON request -> packed RerankRequest (only fields present in the JSON are set). */
static uint8_t *pack_rerank_json(const cJSON *j, size_t *len) {
    Feedrank__V1__RerankRequest r;
    feedrank__v1__rerank_request__init(&r);
    Feedrank__V1__Context ctx;
    feedrank__v1__context__init(&ctx);
    Feedrank__V1__RerankOptions opt;
    Feedrank__V1__SignalNormalization sig[8], *sigp[8];
    size_t n_sig = 0;
    feedrank__v1__rerank_options__init(&opt);
    r.request_id = (char *)jstr(j, "request_id");
    r.user_id = (char *)jstr(j, "user_id");
    r.arm = (char *)jstr(j, "arm");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "context");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(c, "history");
    int nh = cJSON_GetArraySize(hist), nc = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "candidates"));
    Feedrank__V1__HistoryItem *hs = calloc((size_t)nh + 1, sizeof *hs), **hp = calloc((size_t)nh + 1, sizeof *hp);
    Feedrank__V1__Candidate *cs = calloc((size_t)nc + 1, sizeof *cs), **cp = calloc((size_t)nc + 1, sizeof *cp);
    uint8_t *out = NULL;
    if (!hs || !hp || !cs || !cp) goto done;
    if (c) {
        ctx.query = (char *)jstr(c, "query");
        const cJSON *h;
        int i = 0;
        cJSON_ArrayForEach(h, hist) {
            feedrank__v1__history_item__init(&hs[i]);
            hs[i].item_id = (char *)jstr(h, "item_id");
            double v;
            if (jnum(h, "weight", &v)) { hs[i].has_weight = 1; hs[i].weight = (float)v; }
            if (jnum(h, "timestamp", &v)) { hs[i].has_timestamp = 1; hs[i].timestamp = (int64_t)v; }
            hp[i] = &hs[i];
            i++;
        }
        ctx.n_history = (size_t)i;
        ctx.history = hp;
        r.context = &ctx;
    }
    const cJSON *cd;
    int i = 0;
    cJSON_ArrayForEach(cd, cJSON_GetObjectItemCaseSensitive(j, "candidates")) {
        feedrank__v1__candidate__init(&cs[i]);
        cs[i].item_id = (char *)jstr(cd, "item_id");
        double v;
        if (jnum(cd, "upstream_score", &v)) { cs[i].has_upstream_score = 1; cs[i].upstream_score = (float)v; }
        cp[i] = &cs[i];
        i++;
    }
    r.n_candidates = (size_t)i;
    r.candidates = cp;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "options");
    if (o) {
        double v;
#define F(name) if (jnum(o, #name, &v)) { opt.has_##name = 1; opt.name = (float)v; }
        F(semantic_weight) F(upstream_weight) F(query_weight) F(history_half_life) F(mmr_lambda)
        F(popularity_weight) F(covisitation_weight) F(lexical_weight) F(log_gate) F(cold_content_boost) F(covisitation_half_life) F(covisitation_norm)
        F(sequential_weight)
#undef F
        if (jnum(o, "history_half_life_seconds", &v)) { opt.has_history_half_life_seconds = 1; opt.history_half_life_seconds = v; }
        if (jnum(o, "top_k", &v)) { opt.has_top_k = 1; opt.top_k = (uint32_t)v; }
        if (jnum(o, "mmr_depth", &v)) { opt.has_mmr_depth = 1; opt.mmr_depth = (uint32_t)v; }
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "exclude_seen");
        if (cJSON_IsBool(b)) { opt.has_exclude_seen = 1; opt.exclude_seen = cJSON_IsTrue(b); }
        b = cJSON_GetObjectItemCaseSensitive(o, "return_scores");
        if (cJSON_IsBool(b)) { opt.has_return_scores = 1; opt.return_scores = cJSON_IsTrue(b); }
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "normalization");
        if (cJSON_IsString(nm)) {
            opt.has_normalization = 1;
            opt.normalization = norm_to_proto(nm->valuestring);
        } else if (cJSON_IsObject(nm)) { /* {"default": .., "popularity": .., ...}: per-signal overrides */
            for (const cJSON *e = nm->child; e; e = e->next) {
                if (!cJSON_IsString(e) || !e->string) continue;
                if (strcmp(e->string, "default") == 0) {
                    opt.has_normalization = 1;
                    opt.normalization = norm_to_proto(e->valuestring);
                } else if (n_sig < sizeof sig / sizeof sig[0]) {
                    feedrank__v1__signal_normalization__init(&sig[n_sig]);
                    sig[n_sig].signal = e->string;
                    sig[n_sig].has_normalization = 1;
                    sig[n_sig].normalization = norm_to_proto(e->valuestring);
                    sigp[n_sig] = &sig[n_sig];
                    n_sig++;
                }
            }
            opt.n_signal_normalization = n_sig;
            opt.signal_normalization = sigp;
        }
        r.options = &opt;
    }
    *len = feedrank__v1__rerank_request__get_packed_size(&r);
    out = malloc(*len + 1);
    if (out) feedrank__v1__rerank_request__pack(&r, out);
done:
    free(hs); free(hp); free(cs); free(cp);
    return out;
}

uint8_t *fr_client_pack_rerank(const char *json_line, size_t *len) {
    cJSON *j = cJSON_Parse(json_line);
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); return NULL; }
    uint8_t *out = pack_rerank_json(j, len);
    cJSON_Delete(j);
    return out;
}

static void print_rerank(const Feedrank__V1__RerankResponse *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "request_id", r->request_id ? r->request_id : "");
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < r->n_items; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "item_id", r->items[i]->item_id);
        if (r->items[i]->has_score) cJSON_AddNumberToObject(e, "score", r->items[i]->score);
        if (r->items[i]->has_semantic_score) cJSON_AddNumberToObject(e, "semantic_score", r->items[i]->semantic_score);
        if (r->items[i]->has_upstream_score) cJSON_AddNumberToObject(e, "upstream_score", r->items[i]->upstream_score);
        cJSON_AddItemToArray(items, e);
    }
    if (r->n_item_errors) {
        cJSON *errs = cJSON_AddArrayToObject(o, "item_errors");
        static const char *codes[] = {"UNSPECIFIED", "UNKNOWN_ITEM", "DUPLICATE_CANDIDATE", "UNKNOWN_HISTORY_ITEM"};
        for (size_t i = 0; i < r->n_item_errors; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "item_id", r->item_errors[i]->item_id);
            cJSON_AddNumberToObject(e, "index", r->item_errors[i]->index);
            cJSON_AddStringToObject(e, "code", codes[r->item_errors[i]->code & 3]);
            cJSON_AddItemToArray(errs, e);
        }
    }
    if (r->model) cJSON_AddStringToObject(o, "model", r->model);
    if (r->store_version) cJSON_AddStringToObject(o, "store_version", r->store_version);
    if (r->arm) cJSON_AddStringToObject(o, "arm", r->arm);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

/* what is NULL (every call) or "rerank", "embed", "health" */
static void client_usage(FILE *f, const char *what) {
    fprintf(f, "usage: feedrank client %s [options]\n", what ? what : "rerank|embed|health");
    fprintf(f, "  --addr HOST:PORT     server (default 127.0.0.1:50051)\n"
               "  --token-file FILE    bearer token read from FILE (default: $FEEDRANK_TOKEN)\n"
               "  --token TOKEN        the token itself (visible in ps; prefer the two above)\n"
               "  --tls-ca FILE        verify the server with this CA (enables TLS)\n"
               "  --tls-cert FILE --tls-key FILE  client certificate for mutual TLS\n"
               "  --timeout SECONDS    deadline per call (default 10)\n");
    if (!what || strcmp(what, "rerank") == 0)
        fprintf(f, "%s--input FILE|-       JSON requests, one per line (as for 'feedrank rerank'; default: stdin)\n", what ? "  " : "  rerank: ");
    if (!what || strcmp(what, "embed") == 0)
        fprintf(f, "%s--text TEXT          a text to embed (repeatable, at most 256)\n%s--kind plain|query|document  (default plain)\n",
                what ? "  " : "  embed:  ", what ? "  " : "          ");
    if (!what || strcmp(what, "health") == 0)
        fprintf(f, "%s--service NAME       the service to check (default \"\": the server)\n", what ? "  " : "  health: ");
    fprintf(f, "Exit status: 0 when every call returned OK, 1 otherwise (the gRPC status name is printed to stderr).\n");
}

int fr_cmd_client(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') { client_usage(argc < 2 ? stderr : stdout, NULL); return argc < 2 ? 2 : 0; }
    if (strcmp(argv[1], "rerank") && strcmp(argv[1], "embed") && strcmp(argv[1], "health")) {
        fprintf(stderr, "feedrank client: unknown call '%s'\n", argv[1]);
        client_usage(stderr, NULL);
        return 2;
    }
    const char *what = argv[1], *addr = "127.0.0.1:50051", *token = getenv("FEEDRANK_TOKEN"), *token_file = NULL, *ca = NULL, *cert = NULL, *key = NULL, *input = "-", *kind = "plain", *service = "", *timeout_s = "10";
    const char *texts[256];
    int nt = 0;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--addr", &addr)) || (r = fr_cli_value(argc, argv, &i, "--token", &token)) ||
            (r = fr_cli_value(argc, argv, &i, "--token-file", &token_file)) ||
            (r = fr_cli_value(argc, argv, &i, "--tls-ca", &ca)) || (r = fr_cli_value(argc, argv, &i, "--tls-cert", &cert)) ||
            (r = fr_cli_value(argc, argv, &i, "--tls-key", &key)) || (r = fr_cli_value(argc, argv, &i, "--input", &input)) ||
            (r = fr_cli_value(argc, argv, &i, "--kind", &kind)) || (r = fr_cli_value(argc, argv, &i, "--service", &service)) ||
            (r = fr_cli_value(argc, argv, &i, "--timeout", &timeout_s))) {
            if (r < 0) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--text", &v))) {
            if (r < 0 || nt == 256) return 2;
            texts[nt++] = v;
        } else if (fr_cli_help(argv[i])) {
            client_usage(stdout, what);
            return 0;
        } else { fprintf(stderr, "feedrank client: unknown option '%s'\n", argv[i]); client_usage(stderr, what); return 2; }
    }
    char err[512], token_buf[256];
    if (token_file) {
        if (fr_read_token_file("--token-file", token_file, token_buf, sizeof token_buf, err, sizeof err)) { fprintf(stderr, "feedrank client: %s\n", err); return 2; }
        token = token_buf;
    }
    grpc_init();
    grpc_channel_credentials *creds;
    char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
    size_t l;
    if (ca && fr_read_small_file(ca, 1 << 20, &ca_pem, &l, err, sizeof err)) { fprintf(stderr, "feedrank client: %s\n", err); return 1; }
    if (cert && fr_read_small_file(cert, 1 << 20, &cert_pem, &l, err, sizeof err)) { fprintf(stderr, "feedrank client: %s\n", err); return 1; }
    if (key && fr_read_small_file(key, 1 << 20, &key_pem, &l, err, sizeof err)) { fprintf(stderr, "feedrank client: %s\n", err); return 1; }
    if (ca_pem) {
        grpc_ssl_pem_key_cert_pair pair = {key_pem, cert_pem};
        creds = grpc_ssl_credentials_create(ca_pem, cert_pem ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    client c = {grpc_channel_create(addr, creds, NULL), grpc_completion_queue_create_for_pluck(NULL), token, atof(timeout_s)};
    grpc_channel_credentials_release(creds);
    free(ca_pem); free(cert_pem); free(key_pem);
    int rc = 0;
    char details[1024];
    uint8_t *resp;
    size_t rl;
    if (strcmp(what, "health") == 0) {
        Grpc__Health__V1__HealthCheckRequest req;
        grpc__health__v1__health_check_request__init(&req);
        req.service = (char *)service;
        uint8_t buf[512];
        size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
        int st = unary(&c, "/grpc.health.v1.Health/Check", buf, n, &resp, &rl, details, sizeof details);
        if (st) { fprintf(stderr, "feedrank client: health: %s: %s\n", fr_grpc_status_name(st), details); rc = 1; }
        else {
            Grpc__Health__V1__HealthCheckResponse *r = grpc__health__v1__health_check_response__unpack(NULL, rl, resp);
            static const char *names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
            printf("%s\n", r ? names[r->status & 3] : "MALFORMED");
            rc = !r || r->status != 1;
            if (r) grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        }
        free(resp);
    } else if (strcmp(what, "embed") == 0) {
        if (!nt) { fprintf(stderr, "feedrank client embed: give --text at least once\n"); rc = 2; goto out; }
        Feedrank__V1__EmbedRequest req;
        feedrank__v1__embed_request__init(&req);
        req.n_texts = (size_t)nt;
        req.texts = (char **)texts;
        req.has_kind = 1;
        req.kind = strcmp(kind, "query") == 0 ? FEEDRANK__V1__TEXT_KIND__QUERY : strcmp(kind, "document") == 0 ? FEEDRANK__V1__TEXT_KIND__DOCUMENT : FEEDRANK__V1__TEXT_KIND__PLAIN;
        size_t n = feedrank__v1__embed_request__get_packed_size(&req);
        uint8_t *buf = malloc(n + 1);
        feedrank__v1__embed_request__pack(&req, buf);
        int st = unary(&c, "/feedrank.v1.Reranker/Embed", buf, n, &resp, &rl, details, sizeof details);
        free(buf);
        if (st) { fprintf(stderr, "feedrank client: embed: %s: %s\n", fr_grpc_status_name(st), details); rc = 1; }
        else {
            Feedrank__V1__EmbedResponse *r = feedrank__v1__embed_response__unpack(NULL, rl, resp);
            for (size_t i = 0; r && i < r->n_embeddings; i++) {
                putchar('[');
                for (size_t d = 0; d < r->embeddings[i]->n_values; d++) printf(d ? ",%.9g" : "%.9g", r->embeddings[i]->values[d]);
                puts("]");
            }
            if (r) feedrank__v1__embed_response__free_unpacked(r, NULL);
            else rc = 1;
        }
        free(resp);
    } else if (strcmp(what, "rerank") == 0) {
        FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "r");
        if (!in) { perror(input); rc = 1; goto out; }
        char *line = NULL;
        size_t cap = 0;
        long ln = 0;
        while (getline(&line, &cap, in) >= 0) {
            ln++;
            cJSON *j = cJSON_Parse(line);
            if (!cJSON_IsObject(j)) { fprintf(stderr, "feedrank client: %s:%ld: not a JSON object\n", input, ln); cJSON_Delete(j); rc = 1; continue; }
            size_t n;
            uint8_t *buf = pack_rerank_json(j, &n);
            cJSON_Delete(j);
            if (!buf) { rc = 1; continue; }
            int st = unary(&c, "/feedrank.v1.Reranker/Rerank", buf, n, &resp, &rl, details, sizeof details);
            free(buf);
            if (st) { fprintf(stderr, "feedrank client: %s:%ld: %s: %s\n", input, ln, fr_grpc_status_name(st), details); rc = 1; }
            else {
                Feedrank__V1__RerankResponse *r = feedrank__v1__rerank_response__unpack(NULL, rl, resp);
                if (r) { print_rerank(r); feedrank__v1__rerank_response__free_unpacked(r, NULL); }
                else rc = 1;
            }
            free(resp);
        }
        free(line);
        if (in != stdin) fclose(in);
    } else {
        fprintf(stderr, "feedrank client: unknown call '%s'\n", what);
        rc = 2;
    }
out:
    grpc_channel_destroy(c.ch);
    grpc_completion_queue_shutdown(c.cq);
    while (grpc_completion_queue_pluck(c.cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    grpc_completion_queue_destroy(c.cq);
    grpc_shutdown();
    return rc;
}

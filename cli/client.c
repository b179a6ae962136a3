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
#include "json_canon.h"
#include "model_config.h"
#include "rank_options.h"
#include "request_json.h"
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
    struct {
        grpc_channel *ch;
        grpc_completion_queue *cq;
        const char *token;
    } cc = {ch, cq, token}, *c = &cc;
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

/*---------------------------------------------------------------------------------------------
 * A request line -> RerankRequest: the line is read by the same parser as `feedrank rerank`'s
 * (canonical JSON, request_json.h), the arm left to the server; the message carries the fields
 * the line gave and, of the options (rank_options.def), those the line or a command-line flag set.
 *-------------------------------------------------------------------------------------------*/

#define PACK_NUM(name, member) opt.name = o->member;
#define PACK_KIND_FLOAT PACK_NUM
#define PACK_KIND_DOUBLE PACK_NUM
#define PACK_KIND_COUNT(name, member) opt.name = (uint32_t)o->member;
#define PACK_KIND_BOOL(name, member) opt.name = o->member != 0;
/* fr_norm + 1 is the proto's number (ZSCORE = 1 ... NONE = 4) */
#define PACK_KIND_NORM(name, member) opt.name = (Feedrank__V1__Normalization)(o->member + 1);

static uint8_t *pack_parsed(const fr_parsed_request *p, uint64_t set, size_t *len) {
    Feedrank__V1__RerankRequest r;
    feedrank__v1__rerank_request__init(&r);
    Feedrank__V1__Context ctx;
    feedrank__v1__context__init(&ctx);
    Feedrank__V1__RerankOptions opt;
    feedrank__v1__rerank_options__init(&opt);
    Feedrank__V1__SignalNormalization sig[FR_SIG_COUNT], *sigp[FR_SIG_COUNT];
    const fr_rank_request *q = &p->req;
    if (*p->request_id) r.request_id = (char *)p->request_id;
    if (*p->user_id) r.user_id = (char *)p->user_id;
    if (*p->arm) r.arm = (char *)p->arm;
    const int nh = q->n_history, nc = q->n_candidates;
    Feedrank__V1__HistoryItem *hs = calloc((size_t)nh + 1, sizeof *hs), **hp = calloc((size_t)nh + 1, sizeof *hp);
    Feedrank__V1__Candidate *cs = calloc((size_t)nc + 1, sizeof *cs), **cp = calloc((size_t)nc + 1, sizeof *cp);
    uint8_t *out = NULL;
    if (!hs || !hp || !cs || !cp) goto done;
    if (q->query || nh) {
        ctx.query = (char *)q->query; /* strings of the parsed tree: NUL-terminated */
        for (int i = 0; i < nh; i++) {
            const fr_history_item *h = &q->history[i];
            feedrank__v1__history_item__init(&hs[i]);
            hs[i].item_id = (char *)h->id;
            hs[i].has_weight = h->has_weight;
            hs[i].weight = h->weight;
            hs[i].has_timestamp = h->has_timestamp;
            hs[i].timestamp = h->timestamp;
            hp[i] = &hs[i];
        }
        ctx.n_history = (size_t)nh;
        ctx.history = hp;
        r.context = &ctx;
    }
    for (int i = 0; i < nc; i++) {
        const fr_candidate *c = &q->candidates[i];
        feedrank__v1__candidate__init(&cs[i]);
        cs[i].item_id = (char *)c->id;
        cs[i].has_upstream_score = c->has_upstream;
        cs[i].upstream_score = c->upstream;
        cs[i].text = (char *)c->text;
        cp[i] = &cs[i];
    }
    r.n_candidates = (size_t)nc;
    r.candidates = cp;
    const fr_rank_options *o = &q->options;
#define FR_RANK_OPTION(name, member, kind, def, lo, hi, field, profile, doc) \
    if (set & (1ull << FR_OPTION_##name)) {                                  \
        opt.has_##name = 1;                                                  \
        PACK_KIND_##kind(name, member)                                       \
    }
#include "rank_options.def"
#undef FR_RANK_OPTION
    size_t n_sig = 0;
    for (int s = 0; s < FR_SIG_COUNT; s++) {
        if (!o->signal_norm[s]) continue;
        feedrank__v1__signal_normalization__init(&sig[n_sig]);
        sig[n_sig].signal = (char *)fr_signal_name((fr_signal)s);
        sig[n_sig].has_normalization = 1;
        sig[n_sig].normalization = (Feedrank__V1__Normalization)o->signal_norm[s];
        sigp[n_sig] = &sig[n_sig];
        n_sig++;
    }
    opt.n_signal_normalization = n_sig;
    opt.signal_normalization = sigp;
    if (!p->return_scores) {
        opt.has_return_scores = 1;
        opt.return_scores = 0;
    }
    if (set || n_sig || opt.has_return_scores) r.options = &opt;
    *len = feedrank__v1__rerank_request__get_packed_size(&r);
    out = malloc(*len + 1);
    if (out) feedrank__v1__rerank_request__pack(&r, out);
done:
    free(hs);
    free(hp);
    free(cs);
    free(cp);
    return out;
}

/* A line over base (the defaults with the command line's options, base_set saying which). */
static uint8_t *pack_line(const char *line, size_t n, const fr_rank_options *base, uint64_t base_set, size_t *len, char *err,
                          size_t errcap) {
    fr_parsed_request p;
    if (fr_request_parse_arms(line, n, base, NULL, -1, &p, err, errcap)) return NULL;
    uint8_t *out = pack_parsed(&p, p.options_set | base_set, len);
    if (!out) fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
    fr_parsed_request_free(&p);
    return out;
}

uint8_t *fr_client_pack_rerank(const char *json_line, size_t *len) {
    fr_rank_options base;
    fr_rank_options_default(&base);
    char err[256];
    return pack_line(json_line, strlen(json_line), &base, 0, len, err, sizeof err);
}

/* The response as canonical JSON (lowerCamelCase unless snake: request_json.h's form). */
static void print_rerank(const Feedrank__V1__RerankResponse *r, int snake) {
    char k[32];
#define K(name) (snake ? (name) : (fr_jc_camel((name), k, sizeof k), k))
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, K("request_id"), r->request_id ? r->request_id : "");
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < r->n_items; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, K("item_id"), r->items[i]->item_id);
        if (r->items[i]->has_score) cJSON_AddItemToObject(e, "score", fr_jc_number(r->items[i]->score));
        if (r->items[i]->has_semantic_score) cJSON_AddItemToObject(e, K("semantic_score"), fr_jc_number(r->items[i]->semantic_score));
        if (r->items[i]->has_upstream_score) cJSON_AddItemToObject(e, K("upstream_score"), fr_jc_number(r->items[i]->upstream_score));
        if (r->items[i]->from_text) cJSON_AddBoolToObject(e, K("from_text"), 1);
        cJSON_AddItemToArray(items, e);
    }
    if (r->n_item_errors) {
        cJSON *errs = cJSON_AddArrayToObject(o, K("item_errors"));
        static const char *codes[] = {"ITEM_ERROR_CODE_UNSPECIFIED", "UNKNOWN_ITEM", "DUPLICATE_CANDIDATE", "UNKNOWN_HISTORY_ITEM"};
        for (size_t i = 0; i < r->n_item_errors; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, K("item_id"), r->item_errors[i]->item_id);
            cJSON_AddNumberToObject(e, "index", r->item_errors[i]->index);
            cJSON_AddStringToObject(e, "code", codes[r->item_errors[i]->code & 3]);
            cJSON_AddItemToArray(errs, e);
        }
    }
    if (r->has_excluded_seen) cJSON_AddNumberToObject(o, K("excluded_seen"), r->excluded_seen);
    if (r->query_truncated) cJSON_AddBoolToObject(o, K("query_truncated"), 1);
    if (r->no_context_vector) cJSON_AddBoolToObject(o, K("no_context_vector"), 1);
    if (r->no_sequential_state) cJSON_AddBoolToObject(o, K("no_sequential_state"), 1);
    if (r->model) cJSON_AddStringToObject(o, "model", r->model);
    if (r->store_version) cJSON_AddStringToObject(o, K("store_version"), r->store_version);
    if (r->arm) cJSON_AddStringToObject(o, "arm", r->arm);
#undef K
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
    if (!what || strcmp(what, "rerank") == 0) {
        fprintf(f, "%s--input FILE|-       JSON requests, one per line (as for 'feedrank rerank'; default: stdin)\n", what ? "  " : "  rerank: ");
        fprintf(f, "%s--json-names camel|proto  response field names: lowerCamelCase (default, as protobuf's\n"
                   "%s                     MessageToJson) or the proto's snake_case\n"
                   "%s--OPTION VALUE       a ranking option for every request (a request's own wins):\n",
                what ? "  " : "          ", what ? "  " : "          ", what ? "  " : "          ");
        fr_rank_options_reference(f, 0);
    }
    if (!what || strcmp(what, "embed") == 0)
        fprintf(f, "%s--text TEXT          a text to embed (repeatable, at most 256)\n%s--kind plain|query|document  (default plain)\n",
                what ? "  " : "  embed:  ", what ? "  " : "          ");
    if (!what || strcmp(what, "health") == 0)
        fprintf(f, "%s--service NAME       the service to check (default \"\": the server)\n", what ? "  " : "  health: ");
    fprintf(f, "Exit status: 0 when every call returned OK, 1 otherwise (the gRPC status name is printed to stderr).\n");
}

int fr_cmd_client(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        client_usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "rerank") && strcmp(argv[1], "embed") && strcmp(argv[1], "health")) {
        fprintf(stderr, "feedrank client: unknown call '%s'\n", argv[1]);
        client_usage(stderr, NULL);
        return 2;
    }
    const char *what = argv[1], *addr = "127.0.0.1:50051", *token = getenv("FEEDRANK_TOKEN"), *token_file = NULL, *ca = NULL, *cert = NULL, *key = NULL, *input = "-", *kind = "plain", *service = "", *timeout_s = "10";
    const char *texts[256], *json_names = "camel";
    int nt = 0;
    fr_rank_options base; /* the command line's options, under each request's own */
    uint64_t base_set = 0;
    fr_rank_options_default(&base);
    char err[512], token_buf[256];
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r, oi;
        if ((r = fr_cli_value(argc, argv, &i, "--addr", &addr)) || (r = fr_cli_value(argc, argv, &i, "--token", &token)) ||
            (r = fr_cli_value(argc, argv, &i, "--token-file", &token_file)) ||
            (r = fr_cli_value(argc, argv, &i, "--tls-ca", &ca)) || (r = fr_cli_value(argc, argv, &i, "--tls-cert", &cert)) ||
            (r = fr_cli_value(argc, argv, &i, "--tls-key", &key)) || (r = fr_cli_value(argc, argv, &i, "--input", &input)) ||
            (r = fr_cli_value(argc, argv, &i, "--kind", &kind)) || (r = fr_cli_value(argc, argv, &i, "--service", &service)) ||
            (r = fr_cli_value(argc, argv, &i, "--timeout", &timeout_s)) || (r = fr_cli_value(argc, argv, &i, "--json-names", &json_names))) {
            if (r < 0) return 2;
        } else if ((r = fr_cli_value(argc, argv, &i, "--text", &v))) {
            if (r < 0 || nt == 256) return 2;
            texts[nt++] = v;
        } else if ((oi = fr_rank_option_by_flag(argv[i])) >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "feedrank client: %s needs a value\n", argv[i]);
                return 2;
            }
            if (fr_rank_option_from_text(&base, oi, argv[++i], err, sizeof err)) {
                fprintf(stderr, "feedrank client: %s\n", err);
                return 2;
            }
            base_set |= 1ull << oi;
        } else if (fr_cli_help(argv[i])) {
            client_usage(stdout, what);
            return 0;
        } else {
            fprintf(stderr, "feedrank client: unknown option '%s'\n", argv[i]);
            client_usage(stderr, what);
            return 2;
        }
    }
    if (strcmp(json_names, "camel") && strcmp(json_names, "proto")) {
        fprintf(stderr, "feedrank client: --json-names is camel or proto\n");
        return 2;
    }
    if (token_file) {
        if (fr_read_token_file("--token-file", token_file, token_buf, sizeof token_buf, err, sizeof err)) {
            fprintf(stderr, "feedrank client: %s\n", err);
            return 2;
        }
        token = token_buf;
    }
    grpc_init();
    grpc_channel_credentials *creds;
    char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
    size_t l;
    if (ca && fr_read_small_file(ca, 1 << 20, &ca_pem, &l, err, sizeof err)) {
        fprintf(stderr, "feedrank client: %s\n", err);
        return 1;
    }
    if (cert && fr_read_small_file(cert, 1 << 20, &cert_pem, &l, err, sizeof err)) {
        fprintf(stderr, "feedrank client: %s\n", err);
        return 1;
    }
    if (key && fr_read_small_file(key, 1 << 20, &key_pem, &l, err, sizeof err)) {
        fprintf(stderr, "feedrank client: %s\n", err);
        return 1;
    }
    if (ca_pem) {
        grpc_ssl_pem_key_cert_pair pair = {key_pem, cert_pem};
        creds = grpc_ssl_credentials_create(ca_pem, cert_pem ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    client c = {grpc_channel_create(addr, creds, NULL), grpc_completion_queue_create_for_pluck(NULL), token, atof(timeout_s)};
    grpc_channel_credentials_release(creds);
    free(ca_pem);
    free(cert_pem);
    free(key_pem);
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
        if (st) {
            fprintf(stderr, "feedrank client: health: %s: %s\n", fr_grpc_status_name(st), details);
            rc = 1;
        } else {
            Grpc__Health__V1__HealthCheckResponse *r = grpc__health__v1__health_check_response__unpack(NULL, rl, resp);
            static const char *names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
            printf("%s\n", r ? names[r->status & 3] : "MALFORMED");
            rc = !r || r->status != 1;
            if (r) grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        }
        free(resp);
    } else if (strcmp(what, "embed") == 0) {
        if (!nt) {
            fprintf(stderr, "feedrank client embed: give --text at least once\n");
            rc = 2;
            goto out;
        }
        Feedrank__V1__EmbedRequest req;
        feedrank__v1__embed_request__init(&req);
        req.n_texts = (size_t)nt;
        req.texts = (char **)texts;
        req.has_kind = 1;
        req.kind = strcmp(kind, "query") == 0 ? FEEDRANK__V1__TEXT_KIND__QUERY : strcmp(kind, "document") == 0 ? FEEDRANK__V1__TEXT_KIND__DOCUMENT
                                                                                                               : FEEDRANK__V1__TEXT_KIND__PLAIN;
        size_t n = feedrank__v1__embed_request__get_packed_size(&req);
        uint8_t *buf = malloc(n + 1);
        feedrank__v1__embed_request__pack(&req, buf);
        int st = unary(&c, "/feedrank.v1.Reranker/Embed", buf, n, &resp, &rl, details, sizeof details);
        free(buf);
        if (st) {
            fprintf(stderr, "feedrank client: embed: %s: %s\n", fr_grpc_status_name(st), details);
            rc = 1;
        } else {
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
        if (!in) {
            perror(input);
            rc = 1;
            goto out;
        }
        char *line = NULL;
        size_t cap = 0;
        long ln = 0;
        while (getline(&line, &cap, in) >= 0) {
            ln++;
            size_t n, ll = strlen(line);
            while (ll && (line[ll - 1] == '\n' || line[ll - 1] == '\r')) ll--;
            if (ll == 0) continue;
            uint8_t *buf = pack_line(line, ll, &base, base_set, &n, err, sizeof err);
            if (!buf) {
                fprintf(stderr, "feedrank client: %s:%ld: %s\n", input, ln, err);
                rc = 1;
                continue;
            }
            int st = unary(&c, "/feedrank.v1.Reranker/Rerank", buf, n, &resp, &rl, details, sizeof details);
            free(buf);
            if (st) {
                fprintf(stderr, "feedrank client: %s:%ld: %s: %s\n", input, ln, fr_grpc_status_name(st), details);
                rc = 1;
            } else {
                Feedrank__V1__RerankResponse *r = feedrank__v1__rerank_response__unpack(NULL, rl, resp);
                if (r) {
                    print_rerank(r, strcmp(json_names, "proto") == 0);
                    feedrank__v1__rerank_response__free_unpacked(r, NULL);
                } else rc = 1;
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

/* cmd_rerank.c - `feedrank rerank`: offline batch re-ranking, JSONL requests in, JSONL responses
 * out, in input order. Streaming: memory is bounded by --batch, not by the file. A bad line is
 * written to the error file with its line number and the run goes on, up to --max-bad-lines; the
 * run fails when no request line was ranked. Requests and responses are protobuf's canonical
 * JSON (request_json.h); A/B arms come from a `feedrank serve` config file (arms.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arms.h"
#include "cli.h"
#include "encoder.h"
#include "item_store.h"
#include "ranker.h"
#include "profile.h"
#include "rank_batch.h"
#include "request_json.h"

static void rerank_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank rerank --store STORE [options]\n"
            "  --store STORE        item store made by 'feedrank index' with the same model\n"
            "  --input FILE|-       requests, one JSON object per line (default: -)\n"
            "  --output FILE|-      responses, one per valid request, in input order (default: -)\n"
            "  --errors FILE        where bad lines go, as {\"line\":N,\"request_id\":...,\"error\":...}\n"
            "                       (default: stderr)\n"
            "  --model DIR          model folder (default: models/all-MiniLM-L6-v2)\n"
            "  --device cpu|cuda|auto  compute backend (default: cpu); cuda never falls back silently\n"
            "  --precision default|auto|fp32|fp16|bf16  matrix-product operands (default: $FEEDRANK_PRECISION,\n"
            "                       else default = fp32 (exact) on the CPU, fp16 on CUDA; auto = fp16 on CUDA\n"
            "                       and on CPUs with AVX-512 FP16, bf16 with AVX-512 BF16, else fp32)\n"
            "  --profile FILE       ranking profile (feedrank tune) giving the default options; a request's\n"
            "                       own options override it\n"
            "  --config FILE        a 'feedrank serve' config file: its A/B \"arms\" (and \"profile\") apply as\n"
            "                       in serve: a request's \"arm\", else its \"user_id\" (hashed into the\n"
            "                       split), else the first arm gives the options under the request's own;\n"
            "                       responses name the arm; an arm not configured fails that line\n"
            "  --max-bad-lines N    stop, and exit 1, once more than N lines were bad (default: no limit)\n"
            "  --json-names camel|proto  response field names: lowerCamelCase as protobuf's JSON mapping\n"
            "                       writes them (default), or the proto's snake_case names\n"
            "  --shard I/N          handle only lines with (line - 1) %% N == I\n"
            "  --batch N            requests read and embedded together (default: 32)\n"
            "  --max-candidates N   per-request limit (default: 100000)\n"
            "  --force-store        accept a store built by a different model\n"
            "Request fields: proto/feedrank/v1/reranker.proto, in protobuf's JSON mapping (snake_case or\n"
            "lowerCamelCase names, enums by name or number, int64 as numbers or strings); options in\n"
            "docs/options.md. Exit status: 0 when every line was ranked or the bad ones stayed within\n"
            "--max-bad-lines, 1 when no request line was ranked, bad lines exceeded the limit, or a\n"
            "file, model or store failed, 2 for a usage error.\n");
}

typedef struct {
    char *text;
    size_t cap;
    long line;
    int ok;
    fr_parsed_request req;
    char err[512];
} slot;

int fr_cmd_rerank(int argc, char **argv) {
    const char *store_path = NULL, *input = "-", *output = "-", *errors = NULL, *model = NULL, *device = "cpu", *precision = NULL;
    const char *shard_s = NULL, *batch_s = "32", *maxc_s = "100000", *profile = NULL, *config = NULL, *maxbad_s = NULL;
    const char *json_names = "camel";
    int force = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--store", &store_path)) || (r = fr_cli_value(argc, argv, &i, "--input", &input)) ||
            (r = fr_cli_value(argc, argv, &i, "--output", &output)) || (r = fr_cli_value(argc, argv, &i, "--errors", &errors)) ||
            (r = fr_cli_value(argc, argv, &i, "--model", &model)) || (r = fr_cli_value(argc, argv, &i, "--device", &device)) ||
            (r = fr_cli_value(argc, argv, &i, "--precision", &precision)) ||
            (r = fr_cli_value(argc, argv, &i, "--shard", &shard_s)) || (r = fr_cli_value(argc, argv, &i, "--batch", &batch_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--max-candidates", &maxc_s)) || (r = fr_cli_value(argc, argv, &i, "--profile", &profile)) ||
            (r = fr_cli_value(argc, argv, &i, "--config", &config)) || (r = fr_cli_value(argc, argv, &i, "--max-bad-lines", &maxbad_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--json-names", &json_names))) {
            if (r < 0) return 2;
        } else if (strcmp(argv[i], "--force-store") == 0) force = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            rerank_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank rerank: unknown option '%s'\n", argv[i]);
            rerank_usage(stderr);
            return 2;
        }
    }
    if (!store_path) {
        fprintf(stderr, "feedrank rerank: --store is required\n");
        rerank_usage(stderr);
        return 2;
    }
    /* one file for both would be two temporary files renamed over each other (a device is fine) */
    if (errors && strcmp(errors, output) == 0 && strcmp(output, "-") != 0 && strncmp(output, "/dev/", 5) != 0) {
        fprintf(stderr, "feedrank rerank: --output and --errors are the same file '%s'\n", output);
        return 2;
    }
    int shard_i = 0, shard_n = 1;
    if (shard_s && fr_cli_shard(shard_s, &shard_i, &shard_n)) return 2;
    long batch, maxc, max_bad = -1;
    if (fr_cli_int("--batch", batch_s, 1, 4096, &batch) || fr_cli_int("--max-candidates", maxc_s, 1, 10000000, &maxc)) return 2;
    if (maxbad_s && fr_cli_int("--max-bad-lines", maxbad_s, 0, 1L << 62, &max_bad)) return 2;
    if (strcmp(json_names, "camel") != 0 && strcmp(json_names, "proto") != 0) {
        fprintf(stderr, "feedrank rerank: --json-names is camel or proto, not '%s'\n", json_names);
        return 2;
    }
    const int json_flags = strcmp(json_names, "proto") == 0 ? FR_JSON_PROTO_NAMES : 0;

    char err[1024];
    fr_rank_options base;
    fr_rank_options_default(&base);
    static fr_arm arms[FR_MAX_ARMS];
    int n_arms = 0;
    char cfg_profile[1024] = "";
    if (config) {
        if (fr_arms_load_config(config, arms, &n_arms, cfg_profile, sizeof cfg_profile, err, sizeof err)) {
            fprintf(stderr, "feedrank rerank: %s\n", err);
            return 1;
        }
        if (!profile && cfg_profile[0]) profile = cfg_profile;
        if (n_arms) fprintf(stderr, "feedrank rerank: %d A/B arms from %s\n", n_arms, config);
    }
    if (profile && n_arms) {
        fprintf(stderr, "feedrank rerank: with arms, each arm's options start from its own \"profile\" (as in serve): %s applies to none\n", profile);
    } else if (profile) {
        char pname[64];
        if (fr_profile_load(profile, &base, pname, sizeof pname, err, sizeof err)) {
            fprintf(stderr, "feedrank rerank: %s\n", err);
            return 1;
        }
        fprintf(stderr, "feedrank rerank: ranking profile '%s' from %s (request options override it)\n", pname, profile);
    }
    fr_encoder_options opt = {.backend = device, .precision = fr_cli_precision(precision)};
    fr_encoder *enc = NULL;
    fr_store *store = NULL;
    fr_ranker *ranker = NULL;
    FILE *in = NULL, *errf = stderr;
    fr_cli_out out = {0}, errs = {0}; /* committed only when the whole run succeeded */
    slot *slots = NULL;
    fr_rank_request **reqs = NULL; /* the batch's valid requests, for the shared embedding step */
    fr_candidate **cands = NULL;
    int *rslot = NULL, *truncated = NULL;
    fr_batch_embed *be = NULL;
    int rc = 0;
    /* input and outputs first: a typo in a path fails before the model loads */
    in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!in) {
        perror(input);
        fprintf(stderr, "feedrank rerank: cannot read input '%s'\n", input);
        rc = 1;
        goto done;
    }
    if (fr_cli_out_open(&out, output, err, sizeof err) || (errors && fr_cli_out_open(&errs, errors, err, sizeof err))) {
        fprintf(stderr, "feedrank rerank: %s\n", err);
        rc = 1;
        goto done;
    }
    if (errors) errf = errs.f;
    if (fr_encoder_load(fr_cli_model_dir(model), &opt, &enc, err, sizeof err)) {
        fprintf(stderr, "feedrank rerank: cannot load model: %s\n", err);
        rc = 1;
        goto done;
    }
    if (fr_store_open(store_path, fr_encoder_fingerprint(enc), force, &store, err, sizeof err)) {
        fprintf(stderr, "feedrank rerank: %s\n", err);
        rc = 1;
        goto done;
    }
    if (fr_ranker_create(enc, store, &ranker, err, sizeof err)) {
        fprintf(stderr, "feedrank rerank: %s\n", err);
        rc = 1;
        goto done;
    }
    slots = calloc((size_t)batch, sizeof *slots);
    reqs = calloc((size_t)batch, sizeof *reqs);
    cands = calloc((size_t)batch, sizeof *cands);
    rslot = calloc((size_t)batch, sizeof *rslot);
    truncated = calloc((size_t)batch, sizeof *truncated);
    if (!slots || !reqs || !cands || !rslot || !truncated || fr_batch_embed_create(&be, err, sizeof err)) {
        fprintf(stderr, "feedrank rerank: out of memory\n");
        rc = 1;
        goto done;
    }
    fr_rank_limits lim;
    fr_rank_limits_default(&lim);
    lim.max_candidates = (int)maxc;
    const char *model_name = fr_encoder_name(enc);
    uint64_t store_version = fr_store_info_of(store)->content_hash;
    long line = 0, n_ok = 0, n_bad = 0;
    int too_many_bad = 0;
    int tty = isatty(2);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double last = 0;
    for (int eof = 0; !eof;) {
        int n = 0;
        while (n < batch) {
            slot *s = &slots[n];
            ssize_t got = getline(&s->text, &s->cap, in);
            if (got < 0) {
                eof = 1;
                break;
            }
            line++;
            while (got > 0 && (s->text[got - 1] == '\n' || s->text[got - 1] == '\r')) s->text[--got] = 0;
            if ((line - 1) % shard_n != shard_i) continue;
            size_t k = 0;
            while (k < (size_t)got && (s->text[k] == ' ' || s->text[k] == '\t')) k++;
            if (k == (size_t)got) continue; /* blank line */
            s->line = line;
            s->ok = fr_request_parse_arms(s->text, (size_t)got, &base, arms, n_arms, &s->req, s->err, sizeof s->err) == FR_OK &&
                    fr_rank_validate(&s->req.req, &lim, s->err, sizeof s->err) == FR_OK;
            n++;
        }
        if (ferror(in)) {
            fprintf(stderr, "feedrank rerank: read error on %s after line %ld\n", input, line);
            rc = 1;
            goto done;
        }
        /* the batch's queries, and the texts of candidates the store does not know, embedded
         * together (rank_batch.h: the same step as the server's) */
        int nr = 0;
        for (int k = 0; k < n; k++)
            if (slots[k].ok) {
                reqs[nr] = &slots[k].req.req;
                cands[nr] = slots[k].req.candidates;
                rslot[nr++] = k;
            }
        if (nr && fr_batch_embed_run(be, enc, store, reqs, cands, nr, truncated, err, sizeof err)) {
            fprintf(stderr, "feedrank rerank: %s\n", err);
            rc = 1;
            goto done;
        }
        for (int k = 0, r = 0; k < n; k++) {
            slot *s = &slots[k];
            fr_rank_result res;
            int trunc = r < nr && rslot[r] == k ? truncated[r++] : 0;
            if (s->ok && fr_rank(ranker, &s->req.req, &res, s->err, sizeof s->err) == FR_OK) {
                res.query_truncated = trunc;
                char *json = fr_response_json_ex(&s->req, &res, model_name, store_version, n_arms ? arms[s->req.arm_index].name : NULL, json_flags);
                if (!json) {
                    fprintf(stderr, "feedrank rerank: out of memory\n");
                    rc = 1;
                    goto done;
                }
                fputs(json, out.f);
                fputc('\n', out.f);
                free(json);
                n_ok++;
            } else {
                char rid[256];
                if (s->req.root) snprintf(rid, sizeof rid, "%s", s->req.request_id);
                else fr_request_id_of(s->text, strlen(s->text), rid, sizeof rid);
                fprintf(errf, "{\"line\":%ld,\"request_id\":", s->line);
                fr_cli_json_string(errf, rid);
                fprintf(errf, ",\"error\":");
                fr_cli_json_string(errf, s->err);
                fprintf(errf, "}\n");
                n_bad++;
            }
            fr_parsed_request_free(&s->req);
        }
        /* a full disk stops the run at the batch it happened in, not after the whole input */
        if (fr_cli_out_check(&out, err, sizeof err) || (errors && fr_cli_out_check(&errs, err, sizeof err))) {
            fprintf(stderr, "feedrank rerank: %s\n", err);
            rc = 1;
            goto done;
        }
        if (max_bad >= 0 && n_bad > max_bad) {
            fprintf(stderr, "%sfeedrank rerank: more than %ld bad lines (--max-bad-lines), stopping after line %ld\n", tty ? "\n" : "", max_bad, line);
            too_many_bad = 1;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (tty && el - last > 0.2) {
            fprintf(stderr, "\rfeedrank rerank: %ld lines, %ld ranked, %ld bad, %.0f requests/s ", line, n_ok, n_bad, el > 0 ? n_ok / el : 0);
            last = el;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "%sfeedrank rerank: %ld lines read, %ld requests ranked, %ld bad lines%s, %.1f s\n", tty ? "\r" : "", line, n_ok,
            n_bad, n_bad ? (errors ? " (see the errors file)" : " (above)") : "", el);
    /* the errors file first: when it cannot be written, the run failed and neither file is kept */
    if ((errors && fr_cli_out_commit(&errs, err, sizeof err)) || fr_cli_out_commit(&out, err, sizeof err)) {
        fprintf(stderr, "feedrank rerank: %s\n", err);
        rc = 1;
    }
    /* a run that ranked nothing, or more bad lines than allowed, failed (both files are still
     * written: the error reports say why) */
    if (too_many_bad) rc = 1;
    if (n_bad && !n_ok) {
        fprintf(stderr, "feedrank rerank: no request line was ranked\n");
        rc = 1;
    }
    /* error reports on stderr that could not be written: nothing left to tell, but the exit says so */
    if (!errors && n_bad && (fflush(stderr) != 0 || ferror(stderr))) rc = 1;
done:
    for (long k = 0; slots && k < batch; k++) {
        free(slots[k].text);
        fr_parsed_request_free(&slots[k].req);
    }
    free(slots);
    free(reqs);
    free(cands);
    free(rslot);
    free(truncated);
    fr_batch_embed_free(be);
    if (in && in != stdin) fclose(in);
    fr_cli_out_abort(&out); /* no-ops once committed */
    fr_cli_out_abort(&errs);
    fr_ranker_free(ranker);
    fr_store_close(store);
    fr_encoder_free(enc);
    return rc;
}

/* cmd_store.c - `feedrank store merge|info|attach-priors|attach-model|compact`: join sharded stores,
 * describe a store, attach log priors or a trained model to one, fold live updates into it. */
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "item_store.h"
#include "model_config.h" /* fr_read_small_file */
#include "live_priors.h"
#include "priors.h"
#include "seqmodel_store.h"
#include "store_delta.h"
#include "wal.h"

#define USAGE_MERGE                                                                 \
    "usage: feedrank store merge --out STORE IN1 IN2 ...\n"                         \
    "  join shards of one catalogue (same model; ids must be unique across them)\n" \
    "  --out STORE           the merged store (must differ from the inputs)\n"      \
    "  (merge keeps ids, vectors and texts; attach log priors to the merged store)\n"
#define USAGE_INFO                       \
    "usage: feedrank store info STORE\n" \
    "  validate a store (every checksum) and print its header as JSON on stdout\n"
#define USAGE_ATTACH_MODEL                                                                     \
    "usage: feedrank store attach-model --store STORE MODEL\n"                                 \
    "  attach a model section (feedrank train --model-out MODEL), checked against the store\n" \
    "  --store STORE         the store the model was trained for (rewritten atomically)\n"

static void store_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank store merge --out STORE IN1 IN2 ...   join shards (same model; ids must be unique)\n"
            "       feedrank store info STORE                      validate a store and print its header\n"
            "       feedrank store attach-priors --store STORE PART...  merge log-prior parts (index --interactions\n"
            "                                                      --shard I/N --priors-out PART) into the store\n"
            "       feedrank store attach-model --store STORE MODEL  attach a model section (feedrank train\n"
            "                                                      --model-out MODEL), checked against the store\n"
            "       feedrank store compact --store STORE --wal LOG [--wal-skip-corrupt]  fold the live updates of a\n"
            "                                                      server's log into the store (offline: refused while a\n"
            "                                                      server holds the log)\n"
            "  (merge keeps ids, vectors and texts; attach log priors to the merged store)\n"
            "Run 'feedrank store SUBCOMMAND --help' for one subcommand's flags.\n");
}

/* `store compact --store STORE --wal LOG`: what `feedrank serve --wal` does in the background, for a
 * stopped server: the log's updates folded into STORE (atomic), then the log trimmed. */
static int compact(int argc, char **argv) {
    const char *store_path = NULL, *wal_path = NULL;
    char err[1024];
    int skip = 0;
    for (int i = 1; i < argc; i++) {
        int r = fr_cli_value(argc, argv, &i, "--store", &store_path);
        if (!r) r = fr_cli_value(argc, argv, &i, "--wal", &wal_path);
        if (r < 0) return 2;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) {
            store_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--wal-skip-corrupt") == 0) {
            skip = 1;
            continue;
        }
        fprintf(stderr, "feedrank store compact: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    if (!store_path || !wal_path) {
        store_usage(stderr);
        return 2;
    }
    fr_store *s = NULL;
    fr_wal *w = NULL;
    fr_live_replay lr = {{NULL, 0}, NULL, NULL, 0};
    fr_delta_replay c = {NULL, 0};
    fr_wal_open_info info;
    uint8_t *priors = NULL, *state = NULL;
    size_t priors_len = 0, state_len = 0;
    char **added = NULL;
    uint64_t n_added = 0;
    int rc = 1;
    if (fr_store_load(store_path, 0, 1, &s, err, sizeof err)) goto fail;
    const fr_store_info *in = fr_store_info_of(s);
    c.base_seq = fr_store_live_seq(s);
    /* events records continue the store's priors (live_priors.h); a store without priors gets
     * the defaults of feedrank serve's --events-* flags (those of index --interactions) */
    lr.store = s;
    lr.delta.base_seq = c.base_seq;
    if (fr_live_priors_open(s, NULL, &lr.priors, err, sizeof err)) goto fail;
    if (fr_delta_empty(in->model_fingerprint, in->dim, c.base_seq, &lr.delta.cur, err, sizeof err)) goto fail;
    const int opened = fr_wal_open(wal_path, c.base_seq + 1, skip, fr_live_replay_record, &lr, &w, &info, err, sizeof err) == FR_OK;
    c.cur = lr.delta.cur;
    lr.delta.cur = NULL;
    if (!opened) goto fail;
    if (info.first_seq > c.base_seq + 1) {
        snprintf(err, sizeof err, "%s starts at log position %" PRIu64 " but %s holds updates only up to %" PRIu64 ": records are missing",
                 wal_path, info.first_seq, store_path, c.base_seq);
        goto fail;
    }
    if (info.torn_bytes) fprintf(stderr, "feedrank store compact: %s: a torn final record (%" PRIu64 " bytes at offset %" PRIu64 ") was dropped\n", wal_path, info.torn_bytes, info.torn_offset);
    const uint64_t pos = info.next_seq - 1 > c.base_seq ? info.next_seq - 1 : c.base_seq; /* the last record: events included */
    const int events = fr_live_priors_changed(lr.priors);
    if (fr_delta_count(c.cur) == 0 && !events) {
        fprintf(stderr, "feedrank store compact: nothing to fold (%s holds log position %" PRIu64 ")\n", store_path, c.base_seq);
    } else {
        if (events && fr_live_priors_sections(lr.priors, &priors, &priors_len, &state, &state_len, err, sizeof err)) goto fail;
        if (events && fr_live_priors_added(lr.priors, &added, &n_added, err, sizeof err)) goto fail;
        const fr_compact_sections x = {pos, priors, state, priors_len, state_len, (const char *const *)added, n_added};
        if (fr_delta_compact_with(s, c.cur, &x, store_path, err, sizeof err)) goto fail;
        fprintf(stderr, "feedrank store compact: folded %" PRIu64 " updated ids and %" PRIu64 " events (log position %" PRIu64 ") into %s\n",
                fr_delta_count(c.cur), fr_live_priors_events(lr.priors), pos, store_path);
    }
    if (fr_wal_rewrite(w, pos + 1 > info.first_seq ? pos + 1 : info.first_seq, err, sizeof err)) goto fail;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "feedrank store compact: %s\n", err);
done:
    fr_wal_close(w);
    fr_delta_unref(c.cur);
    fr_delta_unref(lr.delta.cur);
    fr_live_priors_free(lr.priors);
    free(priors);
    free(state);
    fr_live_priors_added_free(added, n_added);
    fr_store_close(s);
    return rc;
}

/* `store attach-model --store STORE MODEL`: a model trained with --model-out joins the store it was
 * made for (validated against it first: another store's model is refused by name). */
static int attach_model(int argc, char **argv) {
    const char *store_path = NULL, *model_path = NULL;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        int r = fr_cli_value(argc, argv, &i, "--store", &store_path);
        if (r < 0) return 2;
        if (r) continue;
        if (fr_cli_help(argv[i])) {
            fprintf(stdout, "%s", USAGE_ATTACH_MODEL);
            return 0;
        }
        if (argv[i][0] == '-' || model_path) {
            fprintf(stderr, "feedrank store attach-model: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        model_path = argv[i];
    }
    if (!store_path || !model_path) {
        fprintf(stderr, "%s", USAGE_ATTACH_MODEL);
        return 2;
    }
    char *data = NULL;
    size_t size = 0;
    fr_store *s = NULL;
    fr_seq_model *m = NULL;
    fr_seq_meta meta;
    fr_seq_store_key key;
    int rc = 1;
    if (fr_read_small_file(model_path, (size_t)1 << 31, &data, &size, err, sizeof err) || fr_store_open(store_path, 0, 1, &s, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-model: %s\n", err);
        goto done;
    }
    fr_seq_store_key_of(s, store_path, &key);
    if (fr_seq_section_load((const uint8_t *)data, size, model_path, &key, &m, &meta, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-model: %s\n", err);
        goto done;
    }
    fr_store_close(s);
    s = NULL;
    if (fr_store_attach(store_path, FR_STORE_SECTION_SEQMODEL, data, size, err, sizeof err)) {
        fprintf(stderr, "feedrank store attach-model: %s\n", err);
        goto done;
    }
    fprintf(stderr, "feedrank store attach-model: %s attached to %s (best epoch %d, validation NDCG@10 %.4f)\n", model_path, store_path,
            meta.best_epoch, meta.best_ndcg);
    rc = 0;
done:
    fr_seq_free(m);
    fr_store_close(s);
    free(data);
    return rc;
}

int fr_cmd_store(int argc, char **argv) {
    char err[1024];
    if (argc < 2 || fr_cli_help(argv[1])) {
        store_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "merge") == 0) {
        const char *out = NULL;
        const char *inputs[1024];
        int n = 0;
        for (int i = 2; i < argc; i++) {
            int r = fr_cli_value(argc, argv, &i, "--out", &out);
            if (r < 0) return 2;
            if (r) continue;
            if (fr_cli_help(argv[i])) {
                fprintf(stdout, "%s", USAGE_MERGE);
                return 0;
            }
            if (argv[i][0] == '-') {
                fprintf(stderr, "feedrank store merge: unknown option '%s'\n", argv[i]);
                return 2;
            }
            if (n == 1024) {
                fprintf(stderr, "feedrank store merge: at most 1024 inputs\n");
                return 2;
            }
            inputs[n++] = argv[i];
        }
        if (!out || n == 0) {
            fprintf(stderr, "%s", USAGE_MERGE);
            return 2;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(inputs[i], out) == 0) {
                fprintf(stderr, "feedrank store merge: --out must differ from the inputs\n");
                return 2;
            }
        if (fr_store_merge(inputs, n, out, err, sizeof err)) {
            fprintf(stderr, "feedrank store merge: %s\n", err);
            return 1;
        }
        fr_store *s;
        if (fr_store_open(out, 0, 0, &s, err, sizeof err)) {
            fprintf(stderr, "feedrank store merge: %s\n", err);
            return 1;
        }
        fprintf(stderr, "feedrank store merge: wrote %s: %" PRIu64 " items from %d stores\n", out, fr_store_info_of(s)->count, n);
        fr_store_close(s);
        return 0;
    }
    if (strcmp(argv[1], "attach-priors") == 0) return fr_cmd_store_attach_priors(argc - 1, argv + 1);
    if (strcmp(argv[1], "attach-model") == 0) return attach_model(argc - 1, argv + 1);
    if (strcmp(argv[1], "compact") == 0) return compact(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0) {
        for (int i = 2; i < argc; i++)
            if (fr_cli_help(argv[i])) {
                fprintf(stdout, "%s", USAGE_INFO);
                return 0;
            }
        if (argc != 3) {
            fprintf(stderr, "%s", USAGE_INFO);
            return 2;
        }
        fr_store *s;
        if (fr_store_open(argv[2], 0, 0, &s, err, sizeof err)) {
            fprintf(stderr, "feedrank store info: %s\n", err);
            return 1;
        }
        const fr_store_info *in = fr_store_info_of(s);
        time_t t = (time_t)in->created_unix;
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        printf("{\"path\":");
        fr_cli_json_string(stdout, argv[2]);
        printf(",\"items\":%" PRIu64 ",\"dim\":%d,\"dtype\":\"%s\",\"model\":", in->count, in->dim, in->dtype == FR_STORE_F32 ? "f32" : "f16");
        fr_cli_json_string(stdout, in->model_name);
        printf(",\"model_fingerprint\":\"%016" PRIx64 "\",\"store_version\":\"%016" PRIx64 "\",\"texts\":%s,\"created\":\"%s\"",
               in->model_fingerprint, in->content_hash, in->has_texts ? "true" : "false", when);
        fr_priors pr;
        fr_status prc = fr_priors_of_store(s, &pr, err, sizeof err);
        if (prc == FR_OK) {
            uint64_t with = 0;
            for (uint64_t r = 0; r < pr.n_items; r++) with += pr.seen[r] > 0;
            printf(",\"priors\":{\"events\":%" PRIu64 ",\"users\":%" PRIu64 ",\"unknown_item_events\":%" PRIu64
                   ",\"items_seen\":%" PRIu64 ",\"neighbours\":%" PRIu64 ",\"window\":%d,\"capacity\":%d,\"half_life\":%g,\"t_end\":%.17g"
                   ",\"live_state\":%s}",
                   pr.events, pr.users, pr.unknown_items, with, pr.nb_off[pr.n_items], pr.window, pr.capacity, pr.half_life, pr.t_end,
                   fr_store_section(s, FR_STORE_SECTION_PRIORS_STATE, &(const uint8_t *){NULL}, &(uint64_t){0}) ? "true" : "false");
        } else if (prc != FR_ERR_NOT_FOUND) {
            printf("}\n");
            fprintf(stderr, "feedrank store info: %s\n", err);
            fr_store_close(s);
            return 1;
        }
        fr_seq_model *sm;
        fr_seq_meta mm;
        fr_status src = fr_seq_of_store(s, argv[2], &sm, &mm, err, sizeof err);
        if (src == FR_OK) {
            t = (time_t)mm.created_unix;
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
            printf(",\"seqmodel\":{\"d\":%d,\"blocks\":%d,\"heads\":%d,\"max_len\":%d,\"dropout\":%g,\"params\":%zu,\"epochs\":%d,"
                   "\"best_epoch\":%d,\"val_ndcg10\":%.6f,\"val_hr10\":%.6f,\"val_users\":%" PRIu64 ",\"events\":%" PRIu64
                   ",\"seed\":%" PRIu64 ",\"lr\":%g,\"batch\":%d,\"negatives\":%d,\"log\":",
                   mm.cfg.d, mm.cfg.n_layers, mm.cfg.n_heads, mm.cfg.max_len, (double)mm.cfg.dropout, fr_seq_num_params(sm), mm.epochs_run,
                   mm.best_epoch, mm.best_ndcg, mm.best_hr, mm.val_users, mm.events, mm.seed, (double)mm.lr, mm.batch, mm.n_neg);
            fr_cli_json_string(stdout, mm.log_path);
            printf(",\"log_hash\":\"%016" PRIx64 "\",\"trained\":\"%s\"}", mm.log_hash, when);
            fr_seq_free(sm);
        } else if (src != FR_ERR_NOT_FOUND) {
            printf("}\n");
            fprintf(stderr, "feedrank store info: %s\n", err);
            fr_store_close(s);
            return 1;
        }
        printf("}\n");
        fr_store_close(s);
        return 0;
    }
    fprintf(stderr, "feedrank store: unknown subcommand '%s'\n", argv[1]);
    store_usage(stderr);
    return 2;
}

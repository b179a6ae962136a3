/* cmd_train.c - `feedrank train`: trains the sequential model (src/seqmodel.h) on an interaction
 * log's user histories and saves the best epoch's parameters as the store's model section (or a
 * file). The steps: read histories (seqtrain.h), split off validation users, then epochs of
 * fr_seq_train_epoch, each followed by validation NDCG@10, early stopping on it with patience,
 * and a checkpoint, so that an interrupted run resumes to the same bits as one run. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hash.h"
#include "model_config.h"
#include "seqmodel_store.h"
#include "seqtrain.h"
#ifdef FEEDRANK_HAVE_CUDA
#include "seq_train_cuda.h"
#endif

static void train_usage(FILE *f) {
    fprintf(f,
            "usage: feedrank train --store STORE --interactions LOG [options]\n"
            "Trains the sequential model (self-attention over each user's recent items; item vector = id\n"
            "embedding + projection of the store's text vector) and saves the best epoch as the store's model section.\n"
            "  --store STORE          the item store whose ids the log uses (its vectors are the frozen text vectors)\n"
            "  --interactions LOG     JSONL {\"user\",\"item\",\"ts\"} lines, or a RecBole .inter file (as index --interactions)\n"
            "  --format auto|jsonl|recbole   log format (default auto: RecBole for *.inter)\n"
            "  --out STORE            write STORE's copy with the model attached here (default: attach to --store)\n"
            "  --model-out FILE       write the model section to FILE instead of a store\n"
            "  --epochs N             at most N epochs (default 20)\n"
            "  --patience P           stop after P epochs without a better validation NDCG@10 (default 3)\n"
            "  --batch B              sequences per step (default 128)\n"
            "  --lr X                 AdamW learning rate (default 0.001)\n"
            "  --weight-decay X       AdamW decoupled weight decay (default 0)\n"
            "  --dim D                model width (default 64)\n"
            "  --blocks L             self-attention blocks (default 2)\n"
            "  --heads H              attention heads, dividing --dim (default 1)\n"
            "  --max-len T            history window (default 50)\n"
            "  --dropout P            dropout in [0, 1) (default 0.2)\n"
            "  --negatives K          uniform negatives per step for the sampled softmax (default 1024)\n"
            "  --val-percent P        share of users (by a seeded hash) whose last event validates (default 10)\n"
            "  --val-negatives K      negatives each validation target is ranked against (default 100)\n"
            "  --seed S               seed of the initialisation, order, negatives, dropout and split (default 1)\n"
            "  --threads T            CPU threads (default: all, or OMP_NUM_THREADS)\n"
            "  --device cpu|cuda      where the training steps run (default cpu); cuda needs a CUDA build and device and\n"
            "                         never falls back to the CPU; validation and checkpoints stay on the CPU. A cuda run\n"
            "                         is not bit-reproducible (its sums run in another order), a cpu run is\n"
            "  --max-bad-lines N      skip and count up to N malformed log lines (default 0)\n"
            "  --checkpoint F         checkpoint after each epoch (default OUT.train-checkpoint, OUT = --model-out or\n"
            "                         the output store); rerunning the same command resumes from it, to the same result\n"
            "  --epochs-per-run N     stop after N epochs of this invocation, keeping the checkpoint (default 0 = no limit)\n"
            "  --restart              discard an existing checkpoint\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int tty, epoch, epochs;
    double last;
} progress_state;

/* A bar on a terminal, redrawn at most 5 times a second; nothing otherwise (a line per epoch). */
static void show_progress(void *ctx, long step, long steps, float loss) {
    progress_state *p = ctx;
    if (!p->tty) return;
    const double t = now_s();
    if (step < steps && t - p->last < 0.2) return;
    p->last = t;
    const int w = 30, fill = steps ? (int)(w * step / steps) : w;
    fprintf(stderr, "\repoch %d/%d [%.*s%*s] %3ld%%  loss %.4f ", p->epoch, p->epochs, fill, "==============================",
            w - fill, "", steps ? 100 * step / steps : 100, (double)loss);
}

/* A hash of every setting and input that determines a run's numbers (not --epochs, --patience,
 * --threads: they decide when to stop, not what an epoch computes). */
static uint64_t settings_hash(const fr_seq_config *c, const fr_seq_meta *m) {
    const double v[] = {c->n_items, c->d, c->max_len, c->n_layers, c->n_heads, c->d_text, c->d_ff, c->dropout,
                        m->lr, m->weight_decay, m->batch, m->n_neg, m->val_percent, m->val_negatives};
    const uint64_t w[] = {m->seed, m->log_hash, m->log_bytes, m->store.ids_hash, m->store.n_items, m->store.dim};
    return fr_hash64(w, sizeof w, fr_hash64(v, sizeof v, 0x7a1a));
}

static fr_status load_file(const char *path, uint8_t **data, size_t *size, char *err, size_t errcap) {
    char *b;
    fr_status rc = fr_read_small_file(path, (size_t)1 << 36, &b, size, err, errcap);
    *data = (uint8_t *)b;
    return rc;
}

int fr_cmd_train(int argc, char **argv) {
    const char *store_path = NULL, *log = NULL, *fmt_s = "auto", *out = NULL, *model_out = NULL, *ckpt_s = NULL;
    const char *epochs_s = "20", *pat_s = "3", *batch_s = "128", *lr_s = "0.001", *wd_s = "0", *dim_s = "64", *blocks_s = "2";
    const char *heads_s = "1", *len_s = "50", *drop_s = "0.2", *neg_s = "1024", *vp_s = "10", *vn_s = "100", *seed_s = "1";
    const char *threads_s = NULL, *bad_s = "0", *per_run_s = "0", *device = "cpu";
    int restart = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = fr_cli_value(argc, argv, &i, "--store", &store_path)) || (r = fr_cli_value(argc, argv, &i, "--interactions", &log)) ||
            (r = fr_cli_value(argc, argv, &i, "--format", &fmt_s)) || (r = fr_cli_value(argc, argv, &i, "--out", &out)) ||
            (r = fr_cli_value(argc, argv, &i, "--model-out", &model_out)) || (r = fr_cli_value(argc, argv, &i, "--epochs", &epochs_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--patience", &pat_s)) || (r = fr_cli_value(argc, argv, &i, "--batch", &batch_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--lr", &lr_s)) || (r = fr_cli_value(argc, argv, &i, "--weight-decay", &wd_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--dim", &dim_s)) || (r = fr_cli_value(argc, argv, &i, "--blocks", &blocks_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--heads", &heads_s)) || (r = fr_cli_value(argc, argv, &i, "--max-len", &len_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--dropout", &drop_s)) || (r = fr_cli_value(argc, argv, &i, "--negatives", &neg_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--val-percent", &vp_s)) || (r = fr_cli_value(argc, argv, &i, "--val-negatives", &vn_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--seed", &seed_s)) || (r = fr_cli_value(argc, argv, &i, "--threads", &threads_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--max-bad-lines", &bad_s)) || (r = fr_cli_value(argc, argv, &i, "--checkpoint", &ckpt_s)) ||
            (r = fr_cli_value(argc, argv, &i, "--epochs-per-run", &per_run_s)) || (r = fr_cli_value(argc, argv, &i, "--device", &device))) {
            if (r < 0) return 2;
        } else if (strcmp(argv[i], "--restart") == 0) {
            restart = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            train_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "feedrank train: unknown option '%s'\n", argv[i]);
            train_usage(stderr);
            return 2;
        }
    }
    if (!store_path || !log) {
        fprintf(stderr, "feedrank train: --store and --interactions are required\n");
        train_usage(stderr);
        return 2;
    }
    if (out && model_out) {
        fprintf(stderr, "feedrank train: --out and --model-out exclude each other\n");
        return 2;
    }
    if (strcmp(log, "-") == 0) {
        fprintf(stderr, "feedrank train: the log must be a file (it is hashed for the model's provenance)\n");
        return 2;
    }
    long epochs, patience, batch, dim, blocks, heads, len, neg, vp, vn, threads = 0, bad, per_run;
    if (fr_cli_int("--epochs", epochs_s, 1, 100000, &epochs) || fr_cli_int("--patience", pat_s, 1, 100000, &patience) ||
        fr_cli_int("--batch", batch_s, 1, 65536, &batch) || fr_cli_int("--dim", dim_s, 1, FR_SEQ_LOAD_MAX_WIDTH, &dim) ||
        fr_cli_int("--blocks", blocks_s, 1, FR_SEQ_LOAD_MAX_LAYERS, &blocks) || fr_cli_int("--heads", heads_s, 1, FR_SEQ_LOAD_MAX_HEADS, &heads) ||
        fr_cli_int("--max-len", len_s, 1, FR_SEQ_LOAD_MAX_LEN, &len) || fr_cli_int("--negatives", neg_s, 0, 1 << 20, &neg) ||
        fr_cli_int("--val-percent", vp_s, 1, 100, &vp) || fr_cli_int("--val-negatives", vn_s, 1, 1 << 20, &vn) ||
        (threads_s && fr_cli_int("--threads", threads_s, 1, 1024, &threads)) ||
        fr_cli_int("--max-bad-lines", bad_s, 0, 1L << 40, &bad) || fr_cli_int("--epochs-per-run", per_run_s, 0, 100000, &per_run))
        return 2;
    if (dim % heads) {
        fprintf(stderr, "feedrank train: --heads %ld must divide --dim %ld\n", heads, dim);
        return 2;
    }
    char *end;
    const double lr = strtod(lr_s, &end);
    if (*end || !(lr > 0 && lr < 1e6)) {
        fprintf(stderr, "feedrank train: --lr must be a number > 0, not '%s'\n", lr_s);
        return 2;
    }
    const double wd = strtod(wd_s, &end);
    if (*end || !(wd >= 0 && wd < 1e6)) {
        fprintf(stderr, "feedrank train: --weight-decay must be a number >= 0, not '%s'\n", wd_s);
        return 2;
    }
    const double dropout = strtod(drop_s, &end);
    if (*end || !(dropout >= 0 && dropout < 1)) {
        fprintf(stderr, "feedrank train: --dropout must be in [0, 1), not '%s'\n", drop_s);
        return 2;
    }
    errno = 0;
    const unsigned long long seed = strtoull(seed_s, &end, 10);
    if (*end || errno || !*seed_s || *seed_s == '-') {
        fprintf(stderr, "feedrank train: --seed must be an unsigned integer, not '%s'\n", seed_s);
        return 2;
    }
    fr_log_format fmt = strcmp(fmt_s, "jsonl") == 0 ? FR_LOG_JSONL : strcmp(fmt_s, "recbole") == 0 ? FR_LOG_RECBOLE
                                                                                                   : FR_LOG_AUTO;
    if (fmt == FR_LOG_AUTO && strcmp(fmt_s, "auto") != 0) {
        fprintf(stderr, "feedrank train: --format must be auto, jsonl or recbole\n");
        return 2;
    }
    if (threads) omp_set_num_threads((int)threads);
    const int on_cuda = strcmp(device, "cuda") == 0;
    if (!on_cuda && strcmp(device, "cpu") != 0) {
        fprintf(stderr, "feedrank train: --device must be cpu or cuda, not '%s'\n", device);
        return 2;
    }
#ifndef FEEDRANK_HAVE_CUDA
    if (on_cuda) {
        fprintf(stderr, "feedrank train: --device cuda: this build has no CUDA support (configure with -DFEEDRANK_CUDA=ON on a machine with nvcc)\n");
        return 1;
    }
#endif

    char err[1024];
    int rc = 1;
    fr_store *store = NULL;
    FILE *f = NULL;
    fr_seq_histories h = {0};
    fr_seq_split sp = {0};
    fr_seq_model *m = NULL;
    fr_seq_run run = {0};
#ifdef FEEDRANK_HAVE_CUDA
    fr_seq_cuda *gpu = NULL;
#endif
    float *own_text = NULL, *V = NULL;
    uint8_t *ck = NULL, *section = NULL, *copy = NULL;
    size_t ck_size = 0, section_size = 0, copy_size = 0;
    const char *dest = model_out ? model_out : out ? out
                                                   : store_path;
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s", ckpt_s ? ckpt_s : "");
    if (!ckpt_s) snprintf(ckpt, sizeof ckpt, "%s.train-checkpoint", dest);

    if (fr_store_open(store_path, 0, 1, &store, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    const fr_store_info *in = fr_store_info_of(store);
    if (in->count > (1u << 30)) {
        fprintf(stderr, "feedrank train: %s: %" PRIu64 " items is more than the model takes\n", store_path, in->count);
        goto done;
    }
    fr_seq_meta meta = {.lr = (float)lr, .weight_decay = (float)wd, .batch = (int)batch, .n_neg = (int)neg, .patience = (int)patience, .max_epochs = (int)epochs, .val_percent = (int)vp, .val_negatives = (int)vn, .seed = seed, .created_unix = (uint64_t)time(NULL)};
    /* reproducible outputs (the reproducible-builds convention): the same bytes from the same run */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) meta.created_unix = strtoull(sde, NULL, 10);
    fr_seq_store_key_of(store, store_path, &meta.store);
    snprintf(meta.log_path, sizeof meta.log_path, "%s", log);
    if (fr_seq_file_hash(log, &meta.log_hash, &meta.log_bytes, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    if (!(f = fopen(log, "rb"))) {
        fprintf(stderr, "feedrank train: %s: cannot open: %s\n", log, strerror(errno));
        goto done;
    }
    if (fr_seq_histories_read(f, log, fmt, store, (uint64_t)bad, &h, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    const fr_priors_stats *ls = &h.stats;
    if (ls->events == 0) {
        fprintf(stderr, "feedrank train: %s: no event names an item of %s (%" PRIu64 " events with unknown item ids, %" PRIu64 " malformed lines skipped): nothing to train on\n", log, store_path, ls->unknown_items, ls->bad_lines);
        goto done;
    }
    if (fr_seq_split_make(&h, (int)vp, seed, &sp, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    if (sp.trainable == 0) {
        fprintf(stderr, "feedrank train: %s: %" PRIu64 " event%s from %" PRIu64 " user%s, and no user has 2 or more events outside validation: "
                        "the model learns which item follows which, so it needs users with at least 2 events (3 for a validation user)\n",
                log, ls->events, ls->events == 1 ? "" : "s", ls->users, ls->users == 1 ? "" : "s");
        goto done;
    }
    if (sp.n_val == 0) {
        fprintf(stderr, "feedrank train: %s: no validation user (--val-percent %ld of %" PRIu64 " users, counting only users with 2 or more "
                        "events): early stopping needs some; raise --val-percent or use a longer log\n",
                log, vp, ls->users);
        goto done;
    }
    fr_seq_config cfg = fr_seq_default_config((int)in->count, in->dim);
    cfg.d = (int)dim;
    cfg.n_layers = (int)blocks;
    cfg.n_heads = (int)heads;
    cfg.max_len = (int)len;
    cfg.d_ff = 4 * (int)dim;
    cfg.dropout = (float)dropout;
    meta.cfg = cfg;
    meta.users = ls->users;
    meta.events = ls->events;
    meta.unknown_items = ls->unknown_items;
    meta.train_sequences = (uint64_t)sp.trainable;
    meta.val_users = (uint64_t)sp.n_val;
    if (fr_seq_create(&cfg, (int)batch, (int)neg, &m, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    const size_t np = fr_seq_num_params(m);
    const float *text = fr_store_vectors_f32(store);
    if (!text) { /* an f16 store: the model reads fp32 rows */
        if (!(own_text = malloc((size_t)in->count * in->dim * sizeof *own_text))) {
            fprintf(stderr, "feedrank train: out of memory\n");
            goto done;
        }
        for (uint64_t r = 0; r < in->count; r++) fr_store_vector(store, r, own_text + r * in->dim);
        text = own_text;
    }
    if (!(V = malloc((size_t)in->count * dim * sizeof *V)) || !(run.best = malloc(np * sizeof *run.best))) {
        fprintf(stderr, "feedrank train: out of memory\n");
        goto done;
    }
    run.settings = settings_hash(&cfg, &meta);
    fr_seq_init_params(m, seed);
    memcpy(run.best, fr_seq_params(m), np * sizeof(float));
    if (restart) unlink(ckpt);
    if (access(ckpt, F_OK) == 0) {
        if (load_file(ckpt, &ck, &ck_size, err, sizeof err) || fr_seq_run_load(ck, ck_size, ckpt, run.settings, m, &run, err, sizeof err)) {
            fprintf(stderr, "feedrank train: %s; remove it or pass --restart\n", err);
            goto done;
        }
        free(ck);
        ck = NULL;
        fprintf(stderr, "feedrank train: resuming from %s after epoch %d (best so far: epoch %d)\n", ckpt, run.epochs_done, run.best_epoch);
    }
#ifdef FEEDRANK_HAVE_CUDA
    if (on_cuda && (fr_seq_cuda_create(&cfg, (int)batch, (int)neg, text, &gpu, err, sizeof err) ||
                    fr_seq_cuda_upload(gpu, fr_seq_params(m), fr_seq_adam_moments(m, 0), fr_seq_adam_moments(m, 1),
                                       fr_seq_adam_steps(m), err, sizeof err))) {
        fprintf(stderr, "feedrank train: --device cuda: %s\n", err);
        goto done;
    }
#endif
    fprintf(stderr, "feedrank train: %s: %" PRIu64 " events from %" PRIu64 " users (skipped: %" PRIu64 " events with unknown item ids, %" PRIu64 " malformed lines); %ld training sequences, %d validation users; %zu parameters, %d threads%s\n",
            log, ls->events, ls->users, ls->unknown_items, ls->bad_lines, sp.trainable, sp.n_val, np, omp_get_max_threads(),
            on_cuda ? ", training steps on CUDA" : "");
    progress_state ps = {.tty = isatty(2), .epochs = (int)epochs};
    const fr_seq_train_opts o = {.batch = (int)batch, .n_neg = (int)neg, .seed = seed, .opt = {.lr = (float)lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = (float)wd}, .progress = show_progress, .progress_ctx = &ps};
    int ran = 0;
    while (run.epochs_done < epochs && run.bad_epochs < patience) {
        const int e = run.epochs_done;
        ps.epoch = e + 1;
        ps.last = 0;
        fr_seq_epoch_stats st;
        const double t0 = now_s();
        fr_status trc;
#ifdef FEEDRANK_HAVE_CUDA
        if (on_cuda) { /* the steps on the GPU; then parameters and moments back for validation and the checkpoint */
            trc = fr_seq_train_epoch_with(fr_seq_cuda_step, gpu, &cfg, (int)batch, (int)neg, &sp.train, text, &o, e, &st, err, sizeof err);
            long steps = 0;
            if (!trc && !(trc = fr_seq_cuda_download(gpu, fr_seq_params(m), fr_seq_adam_moments(m, 0), fr_seq_adam_moments(m, 1),
                                                     &steps, err, sizeof err)))
                fr_seq_set_adam_steps(m, steps);
        } else
#endif
            trc = fr_seq_train_epoch(m, &sp.train, text, &o, e, &st, err, sizeof err);
        if (trc) {
            if (ps.tty) fputc('\n', stderr);
            fprintf(stderr, "feedrank train: %s; nothing was written%s\n", err, run.epochs_done ? " (the checkpoint holds the last good epoch)" : "");
            goto done;
        }
        if (!isfinite(st.mean_loss)) {
            if (ps.tty) fputc('\n', stderr);
            fprintf(stderr, "feedrank train: epoch %d: the mean loss is %g (training diverged; try a lower --lr)\n", e + 1, st.mean_loss);
            goto done;
        }
        double ndcg, hr;
        if (fr_seq_validate(m, &sp, text, (int)vn, seed, V, &ndcg, &hr, err, sizeof err)) {
            if (ps.tty) fputc('\n', stderr);
            fprintf(stderr, "feedrank train: epoch %d: %s\n", e + 1, err);
            goto done;
        }
        const double sec = now_s() - t0;
        fr_seq_epoch_record *rec = realloc(run.record, (size_t)(e + 1) * sizeof *rec);
        if (!rec) {
            fprintf(stderr, "feedrank train: out of memory\n");
            goto done;
        }
        run.record = rec;
        rec[e] = (fr_seq_epoch_record){st.mean_loss, ndcg, hr, sec};
        run.epochs_done = e + 1;
        const int better = run.best_epoch == 0 || ndcg > run.record[run.best_epoch - 1].ndcg;
        if (better) {
            run.best_epoch = e + 1;
            run.bad_epochs = 0;
            memcpy(run.best, fr_seq_params(m), np * sizeof(float));
        } else {
            run.bad_epochs++;
        }
        fprintf(stderr, "%sepoch %d/%ld  loss %.4f  val NDCG@10 %.4f  HR@10 %.4f  %.1f s%s\n", ps.tty ? "\r" : "feedrank train: ", e + 1,
                epochs, st.mean_loss, ndcg, hr, sec, better ? "  (best)" : "");
        if (fr_seq_run_save(&run, m, &ck, &ck_size, err, sizeof err) || fr_cli_write_file(ckpt, ck, ck_size, err, sizeof err)) {
            fprintf(stderr, "feedrank train: checkpoint: %s\n", err);
            goto done;
        }
        free(ck);
        ck = NULL;
        if (per_run && ++ran >= per_run && run.epochs_done < epochs && run.bad_epochs < patience) {
            fprintf(stderr, "feedrank train: stopped after %d epoch%s of this run (--epochs-per-run); rerun the same command to resume from %s\n",
                    ran, ran == 1 ? "" : "s", ckpt);
            rc = 0;
            goto done;
        }
    }
    if (run.bad_epochs >= patience)
        fprintf(stderr, "feedrank train: early stop: no better validation NDCG@10 for %ld epochs\n", patience);
    const fr_seq_epoch_record *best = &run.record[run.best_epoch - 1];
    meta.epochs_run = run.epochs_done;
    meta.best_epoch = run.best_epoch;
    meta.best_ndcg = best->ndcg;
    meta.best_hr = best->hr;
    meta.best_loss = best->loss;
    if (fr_seq_section_build(&meta, run.best, np, &section, &section_size, err, sizeof err)) {
        fprintf(stderr, "feedrank train: %s\n", err);
        goto done;
    }
    fr_store_close(store); /* text may point into its mapping: nothing reads it from here on */
    store = NULL;
    text = NULL;
    fr_status wr;
    if (model_out) {
        wr = fr_cli_write_file(model_out, section, section_size, err, sizeof err);
    } else {
        wr = FR_OK;
        if (out && strcmp(out, store_path) != 0) { /* a copy of the store, then the section into it */
            char *b;
            if (!(wr = fr_read_small_file(store_path, (size_t)1 << 40, &b, &copy_size, err, sizeof err))) {
                copy = (uint8_t *)b;
                wr = fr_cli_write_file(out, copy, copy_size, err, sizeof err);
            }
        }
        if (!wr) wr = fr_store_attach(dest, FR_STORE_SECTION_SEQMODEL, section, section_size, err, sizeof err);
    }
    if (wr) {
        fprintf(stderr, "feedrank train: %s (the trained state is kept in %s)\n", err, ckpt);
        goto done;
    }
    unlink(ckpt); /* done: nothing to resume */
    fprintf(stderr, "feedrank train: best epoch %d of %d: val NDCG@10 %.4f, HR@10 %.4f; model %s %s\n", run.best_epoch, run.epochs_done,
            best->ndcg, best->hr, model_out ? "written to" : "attached to", dest);
    rc = 0;
done:
    if (f) fclose(f);
    fr_store_close(store);
    fr_seq_histories_free(&h);
    fr_seq_split_free(&sp);
    fr_seq_free(m);
#ifdef FEEDRANK_HAVE_CUDA
    fr_seq_cuda_free(gpu);
#endif
    fr_seq_run_free(&run);
    free(own_text);
    free(V);
    free(ck);
    free(section);
    free(copy);
    return rc;
}

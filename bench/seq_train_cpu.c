/* seq_train_cpu.c - CPU training throughput of the sequential model (src/seqmodel.h) on a RecBole
 * feed file: the users' histories are the training sequences (the file's targets never train).
 *
 *   seq_train_cpu --data DIR/NAME.SPLIT.inter [--epochs E] [--batch B] [--neg K] [--max-seq S]
 *                 [--d D] [--layers L] [--heads H] [--len T] [--text-dim DT] [--threads N] [--device cpu|cuda]
 *
 * --device cuda runs the steps on the CUDA trainer (kernels/seq_train_cuda.h; CUDA builds only, never a
 * silent CPU fallback); bench/run_seq_gpu.sh runs it beside the PyTorch peer on the GPU.
 *
 * The PyTorch peer (bench/peers/seq_train_peer.py) runs the same model, data and batch; both run in
 * bench/run_seq_train.sh.
 * Text vectors are random (seeded): the speed does not depend on their values, and this program
 * measures speed, not accuracy. Prints one JSON line per epoch (sequences/s, seconds, mean loss)
 * (with the median step time) and the model configuration; cpu_seconds (all threads) next to the wall time tells a busy machine
 * from a slow build. */
#include <omp.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "dataset.h"
#include "seqmodel.h"
#ifdef FEEDRANK_HAVE_CUDA
#include "seq_train_cuda.h"
#endif

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* per-step wall times of an epoch, from the trainer's progress callback */
typedef struct {
    double last, *step_s;
    long n, cap;
} step_clock;

static void on_step(void *ctx, long step, long steps, float loss) {
    (void)step;
    (void)steps;
    (void)loss;
    step_clock *c = ctx;
    const double now = fr_bench_now();
    if (c->n < c->cap) c->step_s[c->n++] = now - c->last;
    c->last = now;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    const char *device = "cpu";
    int epochs = 1, batch = 128, neg = 1024, max_seq = 0, d = 64, layers = 2, heads = 1, len = 50, dt = 384;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "seq_train_cpu: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data")) path = v;
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--neg")) neg = atoi(v);
        else if (!strcmp(a, "--max-seq")) max_seq = atoi(v);
        else if (!strcmp(a, "--d")) d = atoi(v);
        else if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--heads")) heads = atoi(v);
        else if (!strcmp(a, "--len")) len = atoi(v);
        else if (!strcmp(a, "--text-dim")) dt = atoi(v);
        else if (!strcmp(a, "--threads")) omp_set_num_threads(atoi(v));
        else if (!strcmp(a, "--device")) device = v;
        else {
            fprintf(stderr, "seq_train_cpu: unknown option %s\n", a);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: seq_train_cpu --data NAME.SPLIT.inter [options]\n");
        return 2;
    }
    char err[512];
    fr_dataset *ds = NULL;
    if (fr_dataset_load("recbole", path, &ds, err, sizeof err) != FR_OK) {
        fprintf(stderr, "seq_train_cpu: %s\n", err);
        return 1;
    }
    const int n_seq = max_seq > 0 && max_seq < ds->n_users ? max_seq : ds->n_users;
    int64_t *off = malloc(((size_t)n_seq + 1) * sizeof *off);
    int32_t *items = malloc(((size_t)ds->h_off[n_seq] + 1) * sizeof *items);
    float *text = malloc((size_t)ds->n_items * dt * sizeof *text);
    fr_seq_config cfg = fr_seq_default_config(ds->n_items, dt);
    cfg.d = d;
    cfg.n_layers = layers;
    cfg.n_heads = heads;
    cfg.max_len = len;
    cfg.d_ff = 4 * d;
    fr_seq_model *m = NULL;
    step_clock clk = {0};
#ifdef FEEDRANK_HAVE_CUDA
    fr_seq_cuda *gpu = NULL;
#endif
    int rc = 1;
    if (!off || !items || !text) {
        fprintf(stderr, "seq_train_cpu: out of memory\n");
        goto done;
    }
    for (int s = 0; s <= n_seq; s++) off[s] = ds->h_off[s];
    for (int i = 0; i < ds->h_off[n_seq]; i++) items[i] = ds->h_items[i];
    uint64_t x = 42;
    for (size_t i = 0; i < (size_t)ds->n_items * dt; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        text[i] = ((float)(x >> 40) / 16777216.0f - 0.5f) * 0.2f;
    }
    if (fr_seq_create(&cfg, batch, neg, &m, err, sizeof err) != FR_OK) {
        fprintf(stderr, "seq_train_cpu: %s\n", err);
        goto done;
    }
    fr_seq_init_params(m, 1);
    const int on_cuda = strcmp(device, "cuda") == 0;
    if (!on_cuda && strcmp(device, "cpu") != 0) {
        fprintf(stderr, "seq_train_cpu: --device cpu or cuda\n");
        goto done;
    }
#ifdef FEEDRANK_HAVE_CUDA
    if (on_cuda && (fr_seq_cuda_create(&cfg, batch, neg, text, &gpu, err, sizeof err) ||
                    fr_seq_cuda_upload(gpu, fr_seq_params(m), NULL, NULL, 0, err, sizeof err))) {
        fprintf(stderr, "seq_train_cpu: --device cuda: %s\n", err);
        goto done;
    }
#else
    if (on_cuda) {
        fprintf(stderr, "seq_train_cpu: --device cuda: this build has no CUDA support\n");
        goto done;
    }
#endif
    printf("{\"config\":{\"items\":%d,\"d\":%d,\"len\":%d,\"layers\":%d,\"heads\":%d,\"d_text\":%d,\"d_ff\":%d,"
           "\"dropout\":%.2f,\"batch\":%d,\"neg\":%d,\"sequences\":%d,\"params\":%zu,\"threads\":%d,\"device\":\"%s\"}}\n",
           cfg.n_items, cfg.d, cfg.max_len, cfg.n_layers, cfg.n_heads, cfg.d_text, cfg.d_ff, (double)cfg.dropout, batch,
           neg, n_seq, fr_seq_num_params(m), omp_get_max_threads(), device);
    const fr_seq_data data = {.n_seq = n_seq, .off = off, .items = items};
    clk.cap = n_seq / (batch > 0 ? batch : 1) + 2;
    clk.step_s = malloc((size_t)clk.cap * sizeof *clk.step_s);
    if (!clk.step_s) {
        fprintf(stderr, "seq_train_cpu: out of memory\n");
        goto done;
    }
    const fr_seq_train_opts o = {.batch = batch, .n_neg = neg, .seed = 7, .opt = fr_seq_default_adamw(1e-3f), .progress = on_step, .progress_ctx = &clk};
    for (int e = 0; e < epochs; e++) {
        fr_seq_epoch_stats st;
        const double t0 = fr_bench_now(), c0 = cpu_seconds();
        clk.n = 0;
        clk.last = t0;
        fr_status trc;
#ifdef FEEDRANK_HAVE_CUDA
        if (on_cuda)
            trc = fr_seq_train_epoch_with(fr_seq_cuda_step, gpu, &cfg, batch, neg, &data, text, &o, e, &st, err, sizeof err);
        else
#endif
            trc = fr_seq_train_epoch(m, &data, text, &o, e, &st, err, sizeof err);
        if (trc != FR_OK) {
            fprintf(stderr, "seq_train_cpu: %s\n", err);
            goto done;
        }
        const double sec = fr_bench_now() - t0, cpu = cpu_seconds() - c0;
        qsort(clk.step_s, (size_t)clk.n, sizeof *clk.step_s, fr_bench_cmp_double);
        printf("{\"epoch\":%d,\"seconds\":%.2f,\"cpu_seconds\":%.2f,\"sequences_per_s\":%.1f,\"positions_per_s\":%.0f,\"steps\":%ld,"
               "\"median_step_ms\":%.2f,\"mean_loss\":%.4f}\n",
               e, sec, cpu, st.sequences / sec, st.positions / sec, st.steps,
               clk.n ? clk.step_s[clk.n / 2] * 1e3 : 0.0, st.mean_loss);
        fflush(stdout);
    }
    rc = 0;
done:
#ifdef FEEDRANK_HAVE_CUDA
    fr_seq_cuda_free(gpu);
#endif
    free(clk.step_s);
    fr_seq_free(m);
    free(off);
    free(items);
    free(text);
    fr_dataset_free(ds);
    return rc;
}

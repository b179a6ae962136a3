/* bench_report.c - what `bench ab` reports: report.md (to the caller's stream), report.json, the gnuplot plots,
 * --dump-rankings and --save-profile (the tuned blend as a ranking profile). */
#include "bench_internal.h"

/* ---------- report ---------- */

static const char *METRIC[5] = {"NDCG@5", "NDCG@10", "HR@1", "HR@10", "MRR"};

typedef struct {
    double *x;
    int n;
} sel;

/* Report slices. Feed adds the slices the log-signal goals are stated on: cold-start targets (all,
 * and the report half's alone - the cases no tuning saw) and warm targets. */
enum { SL_REPORT,
       SL_ALL,
       SL_COLD,
       SL_COLD_REPORT,
       SL_WARM,
       SL_COUNT };
static const char *SLICE_NAME[SL_COUNT] = {"report half", "all cases", "cold-start slice", "cold-start slice, report half",
                                           "warm targets"};

static int in_slice(const bench *B, int k, int which) {
    const int cold = B->c_cold && B->c_cold[k];
    switch (which) {
    case SL_REPORT: return !B->c_tune[k];
    case SL_COLD: return cold;
    case SL_COLD_REPORT: return cold && !B->c_tune[k];
    case SL_WARM: return !cold;
    default: return 1;
    }
}

static sel select_cases(const bench *B, const double *m, int which) {
    sel s = {malloc(sizeof(double) * (size_t)(B->n_cases ? B->n_cases : 1)), 0};
    for (int k = 0; s.x && k < B->n_cases; k++)
        if (in_slice(B, k, which)) s.x[s.n++] = m[k];
    return s;
}

const char *fr_bench_case_label(const bench *B, int k) {
    return B->d->mode == FR_DS_SEARCH ? B->d->query_texts[B->c_src[k]] : B->d->user_ids[B->c_src[k]];
}

/* The B-vs-A comparison on NDCG@10 over one slice. */
typedef struct {
    double gain, headroom, p; /* gain (B-A)/A (NAN when A = 0); headroom closed (search; NAN in feed) */
    fr_interval diff;
    int win, tie, loss, n;
} cmp_ab;

static cmp_ab compare(const bench *B, const rk *A, const rk *Bk, int slice, int rounds) {
    cmp_ab c = {NAN, NAN, 1, {0, 0, 0}, 0, 0, 0, 0};
    sel a = select_cases(B, A->m[1], slice), b = select_cases(B, Bk->m[1], slice);
    double *diff = malloc(sizeof(double) * (size_t)(a.n ? a.n : 1));
    if (a.x && b.x && diff) {
        double ma = 0, mb = 0;
        for (int i = 0; i < a.n; i++) {
            diff[i] = b.x[i] - a.x[i];
            ma += a.x[i];
            mb += b.x[i];
            if (diff[i] > 1e-9) c.win++;
            else if (diff[i] < -1e-9) c.loss++;
            else c.tie++;
        }
        ma /= a.n ? a.n : 1;
        mb /= a.n ? a.n : 1;
        c.n = a.n;
        c.diff = fr_bootstrap(diff, a.n, rounds, B->seed + 99);
        c.p = fr_paired_p(a.x, b.x, a.n);
        if (ma > 0) c.gain = (mb - ma) / ma;
        if (B->d->mode == FR_DS_SEARCH && ma < 1) c.headroom = (mb - ma) / (1 - ma);
    }
    free(diff);
    free(a.x);
    free(b.x);
    return c;
}

/* JSON number, or null when not finite. */
static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* A plot label: at most 40 bytes (long ranker specs keep their start and end). */
static void plot_label(char *out, size_t cap, const char *name) {
    size_t n = strlen(name);
    if (n <= 40) snprintf(out, cap, "%s", name);
    else snprintf(out, cap, "%.24s...%s", name, name + n - 13);
    for (char *p = out; *p; p++)
        if (*p == '\'' || *p == '"') *p = '`'; /* inside gnuplot quotes */
}

void fr_bench_report(bench *B, rk **rks, int nr, int rounds, const char *out_dir, const char *cmdline, const char *model,
                     const char *summary, int distractors, int negatives, const char *sampler, int cold_k) {
    const int feed = B->d->mode == FR_DS_FEED, nm = feed ? 5 : 3; /* search: NDCG@5, NDCG@10, MRR */
    const int mi[5] = {0, 1, feed ? 2 : 4, 3, 4};
    FILE *const out = B->opt->report;
    FILE *md = out, *js = NULL;
    char path[4096];
    if (out_dir) {
        mkdir(out_dir, 0755);
        snprintf(path, sizeof path, "%s/report.md", out_dir);
        FILE *f = fopen(path, "w");
        if (f) md = f;
        snprintf(path, sizeof path, "%s/report.json", out_dir);
        js = fopen(path, "w");
    }
    int n_tune = 0, n_cold = 0;
    for (int k = 0; k < B->n_cases; k++) {
        n_tune += B->c_tune[k];
        n_cold += B->c_cold[k];
    }
    char protocol[512], ties[160], cases_line[256];
    if (feed) snprintf(protocol, sizeof protocol, "target + %d %s negatives per user (never history or target), seed %" PRIu64 "; popularity and co-visitation from the file's histories; target at a random position", negatives, sampler, B->seed);
    else snprintf(protocol, sizeof protocol, "queries with >= 2 judged items and a grade above %g; candidates = judged items%s; gain 2^(grade - %g) - 1", B->d->grade_min, distractors ? " + random distractors (irrelevant)" : "", B->d->grade_min);
    snprintf(ties, sizeof ties, "%s", B->ties_order ? "broken by candidate order (dataset order in search mode; random positions in feed mode)" : "broken against the relevant item (pessimistic)");
    snprintf(cases_line, sizeof cases_line, "%d (tuning half %d, report half %d); parameters tuned on the tuning half only; %d bootstrap rounds for 95%% intervals", B->n_cases, n_tune, B->n_cases - n_tune, rounds);
    fprintf(md, "# feedrank A/B report\n\n");
    fprintf(md, "- command: `%s`\n- data: %s\n- model: %s\n", cmdline, summary, model ? model : "(none)");
    fprintf(md, "- scoring: every ranker through the served ranker (fr_rank_signals_of + fr_rank_combine; profiles by fr_rank as written)\n");
    fprintf(md, "- protocol: %s\n- ties: %s\n", protocol, ties);
    if (distractors) fprintf(md, "- slate: %d random catalogue items added per query, seed %" PRIu64 "\n", distractors, B->seed);
    fprintf(md, "- cases: %s\n", cases_line);
    if (feed) fprintf(md, "- cold-start slice: target seen < %d times in the log: %d cases\n", cold_k, n_cold);
    if (js) {
        fprintf(js, "{\"command\":");
        fr_json_write_string(js, cmdline);
        fprintf(js, ",\"data\":");
        fr_json_write_string(js, summary);
        fprintf(js, ",\"model\":");
        fr_json_write_string(js, model ? model : "");
        fprintf(js, ",\"mode\":\"%s\",\"protocol\":", feed ? "feed" : "search");
        fr_json_write_string(js, protocol);
        fprintf(js, ",\"ties\":\"%s\",\"seed\":%" PRIu64 ",\"negatives\":%d,\"sampler\":", B->ties_order ? "order" : "against", B->seed, negatives);
        fr_json_write_string(js, sampler);
        fprintf(js, ",\"distractors\":%d,\"bootstrap_rounds\":%d,\"cold_k\":%d,\"cold_cases\":%d,\"cases\":%d,\"tuning_cases\":%d,\"rankers\":[",
                distractors, rounds, cold_k, n_cold, B->n_cases, n_tune);
    }
    const int n_slices = feed ? SL_COUNT : SL_COLD;
    for (int slice = 0; slice < n_slices; slice++) {
        fprintf(md, "\n## %s\n\n| ranker | tuned | ", SLICE_NAME[slice]);
        for (int j = 0; j < nm; j++) fprintf(md, "%s (95%% CI) | ", METRIC[mi[j]]);
        fprintf(md, "\n|---|---|");
        for (int j = 0; j < nm; j++) fprintf(md, "---|");
        fprintf(md, "\n");
        for (int r = 0; r < nr; r++) {
            fprintf(md, "| %s%s | %s |", r == 0 ? "A: " : "B: ", rks[r]->name, rks[r]->tuned[0] ? rks[r]->tuned : "-");
            for (int j = 0; j < nm; j++) {
                sel s = select_cases(B, rks[r]->m[mi[j]], slice);
                fr_interval ci = fr_bootstrap(s.x, s.n, rounds, B->seed + (uint64_t)j);
                fprintf(md, " %.4f (%.4f-%.4f) |", ci.mean, ci.lo, ci.hi);
                if (js) {
                    fprintf(js, "%s{\"slice\":\"%s\",\"ranker\":", (slice || r || j) ? "," : "", SLICE_NAME[slice]);
                    fr_json_write_string(js, rks[r]->name);
                    fprintf(js, ",\"metric\":\"%s\",\"mean\":%.6f,\"lo\":%.6f,\"hi\":%.6f,\"n\":%d}", METRIC[mi[j]], ci.mean, ci.lo, ci.hi, s.n);
                }
                free(s.x);
            }
            fprintf(md, "\n");
        }
        /* B vs A on NDCG@10 */
        fprintf(md, "\n| B vs A (NDCG@10) | gain (B-A)/A | diff (95%% CI) | %s | paired p | win / tie / loss |\n|---|---|---|---|---|---|\n", feed ? "-" : "headroom closed (B-A)/(1-A)");
        for (int r = 1; r < nr; r++) {
            cmp_ab c = compare(B, rks[0], rks[r], slice, rounds);
            char head[32] = "-", gain[32] = "n/a (A = 0)";
            if (isfinite(c.headroom)) snprintf(head, sizeof head, "%+.1f%%", 100 * c.headroom);
            if (isfinite(c.gain)) snprintf(gain, sizeof gain, "%+.1f%%", 100 * c.gain);
            fprintf(md, "| %s | %s | %+.4f (%+.4f..%+.4f) | %s | %.2g | %d / %d / %d |\n", rks[r]->name, gain, c.diff.mean, c.diff.lo, c.diff.hi, head, c.p,
                    c.win, c.tie, c.loss);
        }
    }
    if (js) { /* the same comparisons, every slice */
        fprintf(js, "],\"comparisons\":[");
        int first = 1;
        for (int slice = 0; slice < n_slices; slice++)
            for (int r = 1; r < nr; r++) {
                cmp_ab c = compare(B, rks[0], rks[r], slice, rounds);
                fprintf(js, "%s{\"slice\":\"%s\",\"metric\":\"NDCG@10\",\"a\":", first ? "" : ",", SLICE_NAME[slice]);
                first = 0;
                fr_json_write_string(js, rks[0]->name);
                fprintf(js, ",\"b\":");
                fr_json_write_string(js, rks[r]->name);
                fprintf(js, ",\"n\":%d,\"gain\":", c.n);
                json_num(js, c.gain);
                fprintf(js, ",\"diff\":%.6f,\"diff_lo\":%.6f,\"diff_hi\":%.6f,\"headroom_closed\":", c.diff.mean, c.diff.lo, c.diff.hi);
                json_num(js, c.headroom);
                fprintf(js, ",\"paired_p\":");
                json_num(js, c.p);
                fprintf(js, ",\"win\":%d,\"tie\":%d,\"loss\":%d}", c.win, c.tie, c.loss);
            }
    }
    /* cases helped and hurt most by the best B */
    if (nr > 1) {
        rk *A = rks[0], *Bk = rks[1];
        double bestm = -1;
        for (int r = 1; r < nr; r++) {
            double m = 0;
            for (int k = 0; k < B->n_cases; k++) m += rks[r]->m[1][k];
            if (m > bestm) {
                bestm = m;
                Bk = rks[r];
            }
        }
        int *idx = malloc(sizeof(int) * (size_t)(B->n_cases ? B->n_cases : 1));
        int n = 0;
        for (int k = 0; idx && k < B->n_cases; k++) idx[n++] = k;
        if (js) {
            fprintf(js, "],\"cases_most\":{\"ranker\":");
            fr_json_write_string(js, Bk->name);
        }
        for (int pass = 0; idx && pass < 2; pass++) {
            fprintf(md, "\n## cases %s %s most (NDCG@10, all cases)\n\n", Bk->name, pass == 0 ? "hurts" : "helps");
            fprintf(md, "| %s | A | B |\n|---|---|---|\n", feed ? "user" : "query");
            if (js) fprintf(js, ",\"%s\":[", pass == 0 ? "hurts" : "helps");
            for (int t = 0; t < 5 && t < n; t++) {
                int best = -1;
                double bv = 0;
                for (int k = 0; k < n; k++) {
                    int c = idx[k];
                    if (c < 0) continue;
                    double dlt = Bk->m[1][c] - A->m[1][c];
                    if (pass == 0) dlt = -dlt;
                    if (best < 0 || dlt > bv) {
                        bv = dlt;
                        best = k;
                    }
                }
                if (best < 0 || bv <= 0) break;
                int c = idx[best];
                fprintf(md, "| %s | %.3f | %.3f |\n", fr_bench_case_label(B, c), A->m[1][c], Bk->m[1][c]);
                if (js) {
                    fprintf(js, "%s{\"case\":", t ? "," : "");
                    fr_json_write_string(js, fr_bench_case_label(B, c));
                    fprintf(js, ",\"a\":%.6f,\"b\":%.6f}", A->m[1][c], Bk->m[1][c]);
                }
                idx[best] = -1;
            }
            if (js) fprintf(js, "]");
            for (int k = 0; k < n; k++) idx[k] = k;
        }
        if (js) fprintf(js, "}");
        free(idx);
    } else if (js) fprintf(js, "]");
    fprintf(md, "\n## timing\n\n| ranker | seconds (tuning + scoring all cases) | per case |\n|---|---|---|\n");
    for (int r = 0; r < nr; r++) fprintf(md, "| %s | %.2f | %.3f ms |\n", rks[r]->name, rks[r]->seconds, 1e3 * rks[r]->seconds / (B->n_cases ? B->n_cases : 1));
    if (js) {
        fprintf(js, ",\"tuned\":{");
        for (int r = 0; r < nr; r++) {
            fprintf(js, "%s", r ? "," : "");
            fr_json_write_string(js, rks[r]->name);
            fputc(':', js);
            fr_json_write_string(js, rks[r]->tuned);
        }
        fprintf(js, "},\"seconds\":{");
        for (int r = 0; r < nr; r++) {
            fprintf(js, "%s", r ? "," : "");
            fr_json_write_string(js, rks[r]->name);
            fprintf(js, ":%.3f", rks[r]->seconds);
        }
        fprintf(js, "}}\n");
        fclose(js);
    }
    /* plots (gnuplot, labels as plain text): NDCG@10 with intervals per ranker (all cases, and the
     * cold-start slice in feed mode), a per-case difference histogram per B ranker, and the tuning
     * frontier when --frontier wrote one */
    if (out_dir) {
        const int W = 900 > 140 + 90 * nr ? 900 : 140 + 90 * nr;
        const char *term[2][2] = {{"pngcairo noenhanced size %d,%d font ',10'", "png"}, {"svg noenhanced size %d,%d font ',10'", "svg"}};
        const int slices[2] = {SL_ALL, SL_COLD};
        for (int q = 0; q < (feed ? 2 : 1); q++) {
            snprintf(path, sizeof path, "%s/ndcg10%s.dat", out_dir, q ? "_cold" : "");
            FILE *f = fopen(path, "w");
            for (int r = 0; f && r < nr; r++) {
                sel s = select_cases(B, rks[r]->m[1], slices[q]);
                fr_interval ci = fr_bootstrap(s.x, s.n, rounds, B->seed + 1);
                char lab[64];
                plot_label(lab, sizeof lab, rks[r]->name);
                fprintf(f, "%d \"%s\" %.6f %.6f %.6f\n", r, lab, ci.mean, ci.lo, ci.hi);
                free(s.x);
            }
            if (f) fclose(f);
        }
        for (int r = 1; r < nr; r++) {
            snprintf(path, sizeof path, "%s/diff%d.dat", out_dir, r);
            FILE *f = fopen(path, "w");
            for (int k = 0; f && k < B->n_cases; k++) fprintf(f, "%.6f\n", rks[r]->m[1][k] - rks[0]->m[1][k]);
            if (f) fclose(f);
        }
        snprintf(path, sizeof path, "%s/plots.gp", out_dir);
        FILE *f = fopen(path, "w");
        if (f) {
            char alab[64];
            plot_label(alab, sizeof alab, rks[0]->name);
            for (int t = 0; t < 2; t++) {
                fprintf(f, "set terminal ");
                fprintf(f, term[t][0], W, 640);
                fprintf(f, "\nset bmargin 15\nset lmargin 10\nset rmargin 30\nset grid ytics\nset style fill solid 0.5\nset boxwidth 0.6\nunset key\nset xtics rotate by -30 left\n"
                           "set xrange [-0.6:%d.6]\nset ylabel 'NDCG@10'\n",
                        nr - 1);
                for (int q = 0; q < (feed ? 2 : 1); q++)
                    fprintf(f, "set output '%s/ndcg10%s.%s'\nset title 'NDCG@10, %s (%d cases; 95%% bootstrap CI)'\nset yrange [0:1]\n"
                               "plot '%s/ndcg10%s.dat' using 1:3:xtic(2) with boxes lc rgb '#4477aa', '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0,"
                               " '' using 1:($5 + 0.03):(sprintf('%%.3f', $3)) with labels font ',9'\n",
                            out_dir, q ? "_cold" : "", term[t][1], q ? "cold-start slice" : "all cases", q ? n_cold : B->n_cases, out_dir, q ? "_cold" : "");
                /* per-case differences: NDCG@10 lies in [0, 1], so differences in [-1, 1]; 0.1-wide bins centred on multiples of 0.1, zero alone */
                fprintf(f, "set terminal ");
                fprintf(f, term[t][0], 900, 500);
                fprintf(f, "\nset bmargin 4\nset rmargin 4\nset xtics norotate 0.2\nset xrange [-1.1:1.1]\nset yrange [0:*]\nset offsets 0, 0, graph 0.08, 0\nset ylabel 'cases'\nset xlabel 'NDCG@10 of B minus A, per case (0.1 bins)'\n"
                           "set boxwidth 0.09\nbin(x) = 0.1 * floor(x / 0.1 + 0.5)\n");
                for (int r = 1; r < nr; r++) {
                    char blab[64];
                    plot_label(blab, sizeof blab, rks[r]->name);
                    fprintf(f, "set output '%s/diff%d.%s'\nset title 'per case NDCG@10: %s minus %s (%d cases)'\n"
                               "plot '%s/diff%d.dat' using (bin($1)):(1.0) smooth freq with boxes lc rgb '#4477aa'\n",
                            out_dir, r, term[t][1], blab, alab, B->n_cases, out_dir, r);
                }
                fprintf(f, "unset xlabel\nset offsets 0, 0, 0, 0\n");
                if (B->frontier_path && B->frontier_parts > 0)
                    fprintf(f, "set output '%s/frontier.%s'\nset title 'tuning frontier: every grid setting (report half)'\nset xlabel 'cold-start slice NDCG@10'\n"
                               "set ylabel 'NDCG@10, all cases'\nset xrange [0:*]\nset yrange [0:*]\nset xtics auto\n"
                               "plot '%s' using %d:%d every ::1 with points pt 7 ps 0.4 lc rgb '#4477aa'\n",
                            out_dir, term[t][1], B->frontier_path, B->frontier_parts + 6, B->frontier_parts + 5);
            }
            fclose(f);
            if (B->frontier) fflush(B->frontier);
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "gnuplot '%s/plots.gp' 2>/dev/null", out_dir);
            int gp = access("/usr/bin/gnuplot", X_OK) == 0 ? system(cmd) : -1;
            fprintf(md, "\n%s\n", gp == 0 ? "Plots (gnuplot, PNG and SVG): ndcg10, ndcg10_cold (feed), diffN per B ranker N, frontier (with --frontier)." : "Plots: gnuplot not available; data in ndcg10*.dat and diffN.dat, script plots.gp.");
        }
    }
    if (md != out) { /* written to out_dir/report.md: the caller's stream gets the same bytes */
        fclose(md);
        snprintf(path, sizeof path, "%s/report.md", out_dir);
        fr_bench_note(B, "report written to %s", path);
        FILE *f = fopen(path, "r");
        char buf[4096];
        size_t got;
        while (f && (got = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, got, out);
        if (f) fclose(f);
    }
}

/* mean NDCG@10 of r over a report slice (SL_*) */
static double mean_ndcg10(const bench *B, const rk *r, int which) {
    double sum = 0;
    int n = 0;
    for (int k = 0; k < B->n_cases; k++)
        if (in_slice(B, k, which)) {
            sum += r->m[1][k];
            n++;
        }
    return n ? sum / n : 0;
}

/* The first B blend / gblend as a ranking profile, with where and how it was tuned. */
int fr_bench_save_profile(bench *B, rk **rks, int nr, const char *path, const char *dataset, const char *data, int seed,
                          char *err, size_t errcap) {
    rk *r = NULL;
    for (int i = 1; i < nr && !r; i++)
        if (rks[i]->kind == RK_GBLEND || rks[i]->kind == RK_BLEND) r = rks[i];
    if (!r) {
        fr_fail(FR_ERR_ARG, err, errcap, "--save-profile: no B ranker is a blend or gblend");
        return 1;
    }
    fr_rank_options o = r->o; /* everything tuning chose: weights, gate, boost, half-lives, BM25 k1/b, covis norm */
    o.upstream_weight = 0;
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f) {
        fr_fail(FR_ERR_NOMEM, err, errcap, "--save-profile: out of memory");
        return 1;
    }
    char tuned[2048], base[256];
    const char *slash = strrchr(data, '/');
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : data);
    int n = snprintf(tuned, sizeof tuned,
                     "{\"by\": \"feedrank tune (grid search on the tuning half; seed %d)\", \"dataset\": \"%s\", \"data\": \"%s\", "
                     "\"ranker\": \"%s\", \"report_half_ndcg10\": %.4f, \"baseline\": \"%s\", \"baseline_report_half_ndcg10\": %.4f",
                     seed, dataset, base, r->name, mean_ndcg10(B, r, SL_REPORT), rks[0]->name, mean_ndcg10(B, rks[0], SL_REPORT));
    if (B->mode == FR_DS_FEED && B->c_cold && n > 0 && (size_t)n < sizeof tuned)
        n += snprintf(tuned + n, sizeof tuned - (size_t)n, ", \"all_ndcg10\": %.4f, \"baseline_all_ndcg10\": %.4f, \"warm_ndcg10\": %.4f, "
                                                           "\"cold_slice_ndcg10\": %.4f, \"cold_slice_report_half_ndcg10\": %.4f, \"min_cold\": %g",
                      mean_ndcg10(B, r, SL_ALL), mean_ndcg10(B, rks[0], SL_ALL), mean_ndcg10(B, r, SL_WARM), mean_ndcg10(B, r, SL_COLD),
                      mean_ndcg10(B, r, SL_COLD_REPORT), B->min_cold);
    fr_priors_params pp;
    fr_priors_params_default(&pp);
    for (int p = 0; p < r->n_parts; p++)
        if (r->parts[p]->kind == RK_LCOVIS && n > 0 && (size_t)n < sizeof tuned)
            n += snprintf(tuned + n, sizeof tuned - (size_t)n, ", \"priors_window\": %d, \"priors_neighbors\": %d", r->window, pp.capacity);
    if (n > 0 && (size_t)n < sizeof tuned) snprintf(tuned + n, sizeof tuned - (size_t)n, "}");
    char name[64];
    snprintf(name, sizeof name, "%.40s-tuned", dataset);
    fr_status rc = fr_profile_write(f, name, &o, tuned, err, errcap);
    if (fclose(f) != 0 && !rc) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "--save-profile: out of memory");
    if (!rc) rc = fr_atomic_write_file(path, text, text_len, err, errcap);
    free(text);
    return rc ? 1 : 0;
}

/* --dump-rankings: per case, each ranker's order (the metrics' order) and NDCG@10. */
int fr_bench_write_rankings(bench *B, rk **rks, int nr, const char *path, char *err, size_t errcap) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fr_fail(FR_ERR_IO, err, errcap, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    for (int k = 0; k < B->n_cases; k++) {
        const int n = B->c_off[k + 1] - B->c_off[k], off = B->c_off[k];
        fprintf(f, "{\"case\":");
        fr_json_write_string(f, fr_bench_case_label(B, k));
        fprintf(f, ",\"grade_min\":%g,\"rankings\":{", B->d->mode == FR_DS_SEARCH ? B->d->grade_min : 0);
        for (int r = 0; r < nr; r++) {
            int *order = B->iwork;
            if (B->ties_order) fr_rank_by_score_stable(rks[r]->scores + off, n, order);
            else fr_rank_by_score(rks[r]->scores + off, B->c_grades + off, n, order);
            fprintf(f, "%s", r ? "," : "");
            fr_json_write_string(f, rks[r]->name);
            fprintf(f, ":{\"ndcg10\":%.9f,\"order\":[", rks[r]->m[1][k]);
            for (int i = 0; i < n; i++) {
                fprintf(f, "%s", i ? "," : "");
                fr_json_write_string(f, B->d->item_ids[B->c_items[off + order[i]]]);
            }
            fprintf(f, "]}");
        }
        fprintf(f, "}}\n");
    }
    if (fclose(f) != 0) {
        fr_fail(FR_ERR_IO, err, errcap, "write failed: %s", path);
        return -1;
    }
    return 0;
}

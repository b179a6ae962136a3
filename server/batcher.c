/* batcher.c - the dynamic batcher: a bounded queue of parsed requests and compute threads that
 * gather what is waiting (up to max_batch requests or max_batch_tokens of query text, waiting at
 * most max_wait_us for the batch to fill), drop requests whose client gave up or whose deadline
 * passed, embed every query of the batch in one encoder pass, then rank and answer each.
 *
 * Fairness. The queue keeps a lane per caller (peer) and serves lanes round-robin. A heavy job
 * (a long query, many candidates, much MMR work, a long Embed) runs alone and, with two or more
 * compute threads, never on the last free one: light requests always have a thread, so one
 * worst-case request cannot make a small one miss a 100 ms deadline. A long Embed runs in
 * slices of EMBED_SLICE_TOKENS and goes back to its lane between slices; it also stops at the
 * next slice when its caller gives up. */
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "rank_batch.h"
#include "server_internal.h"

/* What makes a job heavy: more than a short query to embed, many candidates, or much MMR work.
 * A light request takes a few milliseconds on one core; heavy ones can take hundreds. */
#define LIGHT_MAX_TOKENS 128
#define LIGHT_MAX_CANDIDATES 2000
#define LIGHT_MAX_MMR_WORK 100000
/* One slice of a long Embed: a few hundred tokens, tens of milliseconds on one core, after which
 * the call goes back behind the other callers' requests. */
#define EMBED_SLICE_TOKENS 512

static int is_heavy(const job *j) {
    if (j->method == M_EMBED) return j->tokens > LIGHT_MAX_TOKENS;
    if (j->tokens > LIGHT_MAX_TOKENS || j->req.n_candidates > LIGHT_MAX_CANDIDATES) return 1;
    const fr_rank_options *o = &j->req.options;
    return o->mmr_lambda < 1.0f && (long long)fr_rank_mmr_depth(o, j->req.n_candidates) * j->req.n_candidates > LIGHT_MAX_MMR_WORK;
}

void fr_queue_init(job_queue *q, int max_depth, int compute_threads) {
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_depth = max_depth;
    q->heavy_limit = compute_threads > 1 ? compute_threads - 1 : 1;
}

void fr_queue_stop(job_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void fr_queue_destroy(job_queue *q) {
    /* compute threads have drained it; anything left belongs to calls gRPC already cancelled */
    while (q->cursor) {
        lane *l = q->cursor;
        q->cursor = l->next == l ? NULL : l->next;
        if (q->cursor) {
            lane *p = q->cursor;
            while (p->next != l) p = p->next;
            p->next = l->next;
        }
        for (job *j = l->head, *n; j; j = n) {
            n = j->next;
            fr_job_free(j);
        }
        free(l);
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

/* Appends j to its caller's lane (a new lane joins the ring right after the cursor). */
static int append_locked(job_queue *q, job *j) {
    lane *l = q->cursor;
    if (l) {
        do {
            if (l->caller == j->c->caller) break;
            l = l->next;
        } while (l != q->cursor);
        if (l->caller != j->c->caller) l = NULL;
    }
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l) return -1;
        l->caller = j->c->caller;
        if (q->cursor) {
            l->next = q->cursor->next;
            q->cursor->next = l;
        } else {
            l->next = l;
            q->cursor = l;
        }
    }
    j->next = NULL;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
    q->depth++;
    return 0;
}

int fr_queue_push(job_queue *q, job *j) {
    j->heavy = is_heavy(j);
    pthread_mutex_lock(&q->mu);
    int rc = q->stopping || q->depth >= q->max_depth ? -1 : append_locked(q, j);
    if (!rc) pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* An Embed slice done: the job goes back to the tail of its caller's lane, whatever the depth. */
static int requeue(job_queue *q, job *j) {
    pthread_mutex_lock(&q->mu);
    int rc = append_locked(q, j);
    if (!rc) pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void fr_job_free(job *j) {
    if (!j) return;
    if (j->rr) feedrank__v1__rerank_request__free_unpacked(j->rr, NULL);
    if (j->er) feedrank__v1__embed_request__free_unpacked(j->er, NULL);
    if (j->ur) feedrank__v1__upsert_items_request__free_unpacked(j->ur, NULL);
    free(j->hist);
    free(j->cands);
    free(j->out);
    free(j->out_info);
    free(j);
}

typedef int (*job_filter)(const job *j, const void *ctx);

/* Takes the first job that `ok` accepts, looking through the lanes from the cursor on (each lane
 * oldest first: a light job does not wait behind its caller's heavy ones); the cursor moves past
 * that lane, so the next pick starts with the next caller (round-robin). */
static job *pop_locked(job_queue *q, job_filter ok, const void *ctx) {
    if (!q->cursor) return NULL;
    lane *prev = q->cursor;
    while (prev->next != q->cursor) prev = prev->next;
    lane *l = q->cursor;
    do {
        job *before = NULL;
        for (job *j = l->head; j; before = j, j = j->next) {
            if (!ok(j, ctx)) continue;
            if (before) before->next = j->next;
            else l->head = j->next;
            if (l->tail == j) l->tail = before;
            q->depth--;
            if (l->head) {
                q->cursor = l->next;
            } else { /* an empty lane leaves the ring */
                if (l->next == l) q->cursor = NULL;
                else {
                    prev->next = l->next;
                    q->cursor = l->next;
                }
                free(l);
            }
            j->next = NULL;
            return j;
        }
        prev = l;
        l = l->next;
    } while (l != q->cursor);
    return NULL;
}

static int first_ok(const job *j, const void *ctx) { return !j->heavy || *(const int *)ctx; }

typedef struct {
    size_t tokens, max_tokens;
} fill_ctx;
static int fill_ok(const job *j, const void *ctx) {
    const fill_ctx *f = ctx;
    return !j->heavy && j->method != M_EMBED && j->method != M_UPSERT && f->tokens + j->tokens <= f->max_tokens;
}

/* Answers job j with an error (unary: status; stream: an error response). */
static void fail_job(job *j, int code, const char *msg) {
    if (j->method == M_STREAM) {
        Feedrank__V1__RerankResponse r;
        feedrank__v1__rerank_response__init(&r);
        r.request_id = j->rr && j->rr->request_id ? j->rr->request_id : "";
        r.error = (char *)msg;
        const fr_server_config *cfg = &j->c->srv->cfg;
        fr_log_request(M_STREAM, j->request_id, cfg->n_arms ? cfg->arms[j->arm].name : "default", code, msg, fr_now() - j->start);
        fr_stream_respond(j->c, j->seq, fr_pack(&r.base), 0, NULL);
    } else {
        fr_call_finish(j->c, NULL, code, msg);
    }
}

static int expired(const job *j) {
    gpr_timespec d = j->c->deadline;
    if (j->method == M_STREAM || d.tv_sec == 0) return 0;
    return gpr_time_cmp(gpr_now(d.clock_type), d) > 0;
}

static void release_heavy(job_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->heavy_running--;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Tokens text i of an Embed will take at most (truncation caps it at the model's length). */
static size_t text_tokens(const char *t, int max_tokens) {
    size_t est = strlen(t) / 3 + 2;
    return est < (size_t)max_tokens ? est : (size_t)max_tokens;
}

/* Embeds the next slice of j's texts. Returns 1 when texts remain (the caller requeues j), 0
 * when j was answered (and freed). */
static int embed_slice(fr_server *s, fr_encoder *enc, job *j, int max_tokens, char *err, size_t errcap) {
    Feedrank__V1__EmbedRequest *m = j->er;
    const int D = fr_encoder_dim(enc);
    fr_text_kind kind = m->has_kind ? (fr_text_kind)m->kind : FR_TEXT_PLAIN;
    if (!j->out) {
        j->out = malloc(sizeof(float) * (size_t)D * m->n_texts);
        j->out_info = calloc(m->n_texts, sizeof *j->out_info);
        if (!j->out || !j->out_info) {
            fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
            fr_job_free(j);
            return 0;
        }
    }
    size_t from = j->next_text, to = from, tok = 0;
    while (to < m->n_texts && (to == from || tok + text_tokens(m->texts[to], max_tokens) <= EMBED_SLICE_TOKENS))
        tok += text_tokens(m->texts[to++], max_tokens);
    if (fr_encoder_embed(enc, (const char *const *)m->texts + from, NULL, (int)(to - from), kind, j->out + from * (size_t)D,
                         j->out_info + from, err, errcap)) {
        fail_job(j, GRPC_STATUS_INTERNAL, err);
        fr_job_free(j);
        return 0;
    }
    j->next_text = to;
    if (to < m->n_texts) return 1;
    Feedrank__V1__EmbedResponse r;
    feedrank__v1__embed_response__init(&r);
    Feedrank__V1__Embedding *es = calloc(m->n_texts, sizeof *es);
    Feedrank__V1__Embedding **ep = calloc(m->n_texts, sizeof *ep);
    if (!es || !ep) {
        fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
    } else {
        for (size_t i = 0; i < m->n_texts; i++) {
            feedrank__v1__embedding__init(&es[i]);
            es[i].n_values = (size_t)D;
            es[i].values = j->out + i * (size_t)D;
            es[i].has_tokens = es[i].has_truncated = 1;
            es[i].tokens = (uint32_t)j->out_info[i].tokens;
            es[i].truncated = j->out_info[i].truncated;
            ep[i] = &es[i];
        }
        r.n_embeddings = m->n_texts;
        r.embeddings = ep;
        r.model = s->model_name;
        r.has_dimension = 1;
        r.dimension = (uint32_t)D;
        grpc_byte_buffer *bb = fr_pack(&r.base);
        fr_call_finish(j->c, bb, bb ? GRPC_STATUS_OK : GRPC_STATUS_INTERNAL, bb ? NULL : "out of memory");
    }
    free(es);
    free(ep);
    fr_job_free(j);
    return 0;
}

void *fr_compute_main(void *arg) {
    fr_server *s = ((void **)arg)[0];
    fr_encoder *enc = ((void **)arg)[1];
    free(arg);
    const fr_server_config *cfg = &s->cfg;
#ifdef _OPENMP
    if (cfg->omp_threads > 0) omp_set_num_threads(cfg->omp_threads); /* this thread's parallel regions */
#endif
    char err[512];
    fr_ranker *rk = NULL;
    pthread_rwlock_rdlock(&s->store_lock);
    int my_gen = atomic_load(&s->store_gen);
    fr_status rrc = fr_ranker_create(enc, s->store, &rk, err, sizeof err);
    pthread_rwlock_unlock(&s->store_lock);
    if (rrc) {
        fr_log(0, "event=ranker_failed message=\"%s\"", err);
        return NULL;
    }
    job **batch = calloc((size_t)cfg->max_batch, sizeof *batch);
    fr_rank_request **reqs = calloc((size_t)cfg->max_batch, sizeof *reqs);
    fr_candidate **cands = calloc((size_t)cfg->max_batch, sizeof *cands);
    int *truncated = calloc((size_t)cfg->max_batch, sizeof *truncated);
    fr_batch_embed *be = NULL; /* an Embed keeps its own buffers in the job */
    if (fr_batch_embed_create(&be, err, sizeof err)) fr_log(0, "event=oom what=compute_thread");
    job_queue *q = &s->queue;
    const int max_tokens = fr_encoder_config(enc)->max_seq_length;
    while (batch && reqs && cands && truncated && be) {
        int n = 0;
        size_t tokens = 0;
        pthread_mutex_lock(&q->mu);
        job *first = NULL;
        for (;;) {
            int allow_heavy = q->heavy_running < q->heavy_limit || q->stopping;
            if ((first = pop_locked(q, first_ok, &allow_heavy)) || (q->stopping && !q->cursor)) break;
            pthread_cond_wait(&q->cv, &q->mu);
        }
        if (!first) {
            pthread_mutex_unlock(&q->mu);
            break;
        } /* stopping, and nothing left */
        batch[n++] = first;
        tokens = first->tokens;
        int heavy = first->heavy;
        if (heavy) q->heavy_running++;
        if (!heavy && first->method != M_EMBED && first->method != M_UPSERT) { /* light re-ranks: gather company, round-robin over callers */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)cfg->max_wait_us * 1000;
            until.tv_sec += until.tv_nsec / 1000000000;
            until.tv_nsec %= 1000000000;
            int timed_out = cfg->max_wait_us == 0;
            for (;;) {
                fill_ctx fc = {tokens, (size_t)cfg->max_batch_tokens};
                job *j;
                while (n < cfg->max_batch && (j = pop_locked(q, fill_ok, &fc))) {
                    batch[n++] = j;
                    tokens += j->tokens;
                    fc.tokens = tokens;
                }
                if (n >= cfg->max_batch || q->stopping || timed_out) break;
                timed_out = pthread_cond_timedwait(&q->cv, &q->mu, &until) != 0;
            }
        }
        atomic_store(&s->metrics.queue_depth, q->depth);
        pthread_mutex_unlock(&q->mu);
        /* drop what nobody waits for any more */
        int live = 0;
        for (int i = 0; i < n; i++) {
            job *j = batch[i];
            /* the deadline first: gRPC also cancels a call whose deadline passed */
            if (expired(j)) {
                atomic_fetch_add(&s->metrics.dropped_expired, 1);
                fail_job(j, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline expired while queued");
                fr_job_free(j);
            } else if (atomic_load(&j->c->cancelled)) {
                atomic_fetch_add(&s->metrics.dropped_cancelled, 1);
                fail_job(j, GRPC_STATUS_CANCELLED, "cancelled by the client");
                fr_job_free(j);
            } else {
                batch[live++] = j;
            }
        }
        n = live;
        if (n == 0) {
            if (heavy) release_heavy(q);
            continue;
        }
        fr_metrics_batch(&s->metrics, n);
        /* the store cannot change under a batch; a reloaded one is picked up between batches */
        pthread_rwlock_rdlock(&s->store_lock);
        if (atomic_load(&s->store_gen) != my_gen) {
            fr_ranker *nr = NULL;
            if (fr_ranker_create(enc, s->store, &nr, err, sizeof err) == FR_OK) {
                fr_ranker_free(rk);
                rk = nr;
                my_gen = atomic_load(&s->store_gen);
            } else {
                fr_log(0, "event=ranker_failed message=\"%s\"", err);
            }
        }
        if (batch[0]->method == M_UPSERT) { /* texts embedded, then committed (live.c) */
            pthread_rwlock_unlock(&s->store_lock);
            fr_live_run_job(s, enc, batch[0]);
            if (heavy) release_heavy(q);
            continue;
        }
        if (batch[0]->method == M_EMBED) {
            pthread_rwlock_unlock(&s->store_lock); /* an Embed does not read the store */
            job *j = batch[0];
            if (embed_slice(s, enc, j, max_tokens, err, sizeof err) && requeue(q, j)) {
                fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
                fr_job_free(j);
            }
            if (heavy) release_heavy(q);
            continue;
        }
        /* candidates the store does not know but whose text came with the request: embedded
         * (as documents, like `feedrank index` does) in one pass for the whole batch */
        /* the batch's queries, and the texts of candidates the store does not know, embedded
         * together (rank_batch.h: the same step as `feedrank rerank`) */
        for (int i = 0; i < n; i++) {
            reqs[i] = &batch[i]->req;
            cands[i] = batch[i]->cands;
        }
        if (fr_batch_embed_run(be, enc, s->store, reqs, cands, n, truncated, err, sizeof err)) {
            for (int i = 0; i < n; i++) {
                fail_job(batch[i], GRPC_STATUS_INTERNAL, err);
                fr_job_free(batch[i]);
            }
            pthread_rwlock_unlock(&s->store_lock);
            if (heavy) release_heavy(q);
            continue;
        }
        /* one snapshot of the live updates for the whole batch (base + delta at one log position),
         * and one view of the live priors (live_events.c; NULL: the store's own) */
        struct fr_delta *dv = fr_live_acquire(s);
        struct fr_priors_snapshot *pv = fr_events_acquire(s);
        if (fr_ranker_set_priors(rk, fr_events_view(pv), err, sizeof err)) fr_log(0, "event=live_priors_skipped message=\"%s\"", err);
        char version[64];
        snprintf(version, sizeof version, "%s", s->store_version);
        for (int i = 0; dv && i < n; i++) {
            fr_live_mark(s, dv, batch[i]->cands, batch[i]->req.n_candidates, version, sizeof version);
            if (batch[i]->hist) fr_live_mark_history(dv, batch[i]->hist, batch[i]->req.n_history);
        }
        for (int i = 0; i < n; i++) {
            job *j = batch[i];
            fr_rank_result res;
            if (fr_rank(rk, &j->req, &res, err, sizeof err)) {
                fail_job(j, GRPC_STATUS_INVALID_ARGUMENT, err);
            } else {
                res.query_truncated = truncated[i];
                const char *arm = cfg->n_arms ? cfg->arms[j->arm].name : "default";
                if (cfg->n_arms) fr_metrics_arm(&s->metrics, j->arm, fr_now() - j->start);
                Feedrank__V1__RerankResponse *r = fr_codec_response(j, &res, s->model_name, version, arm);
                grpc_byte_buffer *bb = r ? fr_pack(&r->base) : NULL;
                fr_codec_response_free(r);
                if (!bb) fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
                else if (j->method == M_STREAM) {
                    fr_log_request(M_STREAM, j->request_id, arm, GRPC_STATUS_OK, NULL, fr_now() - j->start);
                    fr_stream_respond(j->c, j->seq, bb, 0, NULL);
                } else fr_call_finish(j->c, bb, GRPC_STATUS_OK, NULL);
            }
            fr_job_free(j);
        }
        fr_live_release(dv);
        fr_events_release(pv);
        pthread_rwlock_unlock(&s->store_lock);
        if (heavy) release_heavy(q);
    }
    free(batch);
    free(reqs);
    free(cands);
    free(truncated);
    fr_batch_embed_free(be);
    fr_ranker_free(rk);
    return NULL;
}

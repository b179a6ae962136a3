/* batcher.c - the dynamic batcher: a bounded queue of parsed requests and compute threads that
 * gather what is waiting (up to max_batch requests or max_batch_tokens of query text, waiting at
 * most max_wait_us for the batch to fill), drop requests whose client gave up or whose deadline
 * passed, embed every query of the batch in one encoder pass, then rank and answer each. */
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "server_internal.h"

int fr_queue_push(job_queue *q, job *j) {
    pthread_mutex_lock(&q->mu);
    if (q->stopping || q->depth >= q->max_depth) { pthread_mutex_unlock(&q->mu); return -1; }
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->depth++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void fr_job_free(job *j) {
    if (!j) return;
    if (j->rr) feedrank__v1__rerank_request__free_unpacked(j->rr, NULL);
    if (j->er) feedrank__v1__embed_request__free_unpacked(j->er, NULL);
    free(j->hist);
    free(j->cands);
    free(j);
}

static job *pop_locked(job_queue *q) {
    job *j = q->head;
    if (j) { q->head = j->next; if (!q->head) q->tail = NULL; q->depth--; }
    return j;
}

/* Answers job j with an error (unary: status; stream: an error response). */
static void fail_job(job *j, int code, const char *msg) {
    if (j->method == M_STREAM) {
        Feedrank__V1__RerankResponse r;
        feedrank__v1__rerank_response__init(&r);
        r.request_id = j->rr && j->rr->request_id ? j->rr->request_id : "";
        r.error = (char *)msg;
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
    if (rrc) { fr_log(0, "event=ranker_failed message=\"%s\"", err); return NULL; }
    const int D = fr_encoder_dim(enc);
    job **batch = calloc((size_t)cfg->max_batch, sizeof *batch);
    char **texts = malloc(sizeof(char *) * (size_t)(cfg->max_batch > cfg->max_embed_texts ? cfg->max_batch : cfg->max_embed_texts) * 2);
    size_t *lens = malloc(sizeof(size_t) * (size_t)(cfg->max_batch + cfg->max_embed_texts) * 2);
    float *vecs = malloc(sizeof(float) * (size_t)D * (size_t)(cfg->max_batch + cfg->max_embed_texts));
    fr_embed_info *info = calloc((size_t)(cfg->max_batch + cfg->max_embed_texts), sizeof *info);
    job_queue *q = &s->queue;
    while (batch && texts && lens && vecs && info) {
        int n = 0;
        size_t tokens = 0;
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
        if (!q->head && q->stopping) { pthread_mutex_unlock(&q->mu); break; }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)cfg->max_wait_us * 1000;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        for (;;) {
            while (q->head && n < cfg->max_batch) {
                /* an embed call is a batch of its own: its texts alone may fill the budget */
                if (n > 0 && (q->head->method == M_EMBED || tokens + q->head->tokens > (size_t)cfg->max_batch_tokens)) break;
                job *j = pop_locked(q);
                batch[n++] = j;
                tokens += j->tokens;
                if (j->method == M_EMBED) break;
            }
            if (n >= cfg->max_batch || q->stopping || (n && batch[n - 1]->method == M_EMBED) ||
                (q->head && (q->head->method == M_EMBED || tokens + q->head->tokens > (size_t)cfg->max_batch_tokens)))
                break;
            if (pthread_cond_timedwait(&q->cv, &q->mu, &until) != 0 && !q->head) break;
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
        if (n == 0) continue;
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
        if (batch[0]->method == M_EMBED) {
            job *j = batch[0];
            Feedrank__V1__EmbedRequest *m = j->er;
            fr_text_kind kind = m->has_kind ? (fr_text_kind)m->kind : FR_TEXT_PLAIN;
            float *out = malloc(sizeof(float) * (size_t)D * m->n_texts);
            fr_embed_info *inf = calloc(m->n_texts, sizeof *inf);
            if (!out || !inf || fr_encoder_embed(enc, (const char *const *)m->texts, NULL, (int)m->n_texts, kind, out, inf, err, sizeof err)) {
                fail_job(j, GRPC_STATUS_INTERNAL, out && inf ? err : "out of memory");
            } else {
                Feedrank__V1__EmbedResponse r;
                feedrank__v1__embed_response__init(&r);
                Feedrank__V1__Embedding *es = calloc(m->n_texts, sizeof *es);
                Feedrank__V1__Embedding **ep = calloc(m->n_texts, sizeof *ep);
                if (!es || !ep) fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
                else {
                    for (size_t i = 0; i < m->n_texts; i++) {
                        feedrank__v1__embedding__init(&es[i]);
                        es[i].n_values = (size_t)D;
                        es[i].values = out + i * (size_t)D;
                        es[i].has_tokens = es[i].has_truncated = 1;
                        es[i].tokens = (uint32_t)inf[i].tokens;
                        es[i].truncated = inf[i].truncated;
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
            }
            free(out);
            free(inf);
            fr_job_free(j);
            pthread_rwlock_unlock(&s->store_lock);
            continue;
        }
        /* one encoder pass for every query of the batch */
        int nq = 0;
        for (int i = 0; i < n; i++)
            if (batch[i]->req.query && batch[i]->req.query_len) { texts[nq] = (char *)batch[i]->req.query; lens[nq++] = batch[i]->req.query_len; }
        if (nq && fr_encoder_embed(enc, (const char *const *)texts, lens, nq, FR_TEXT_QUERY, vecs, info, err, sizeof err)) {
            for (int i = 0; i < n; i++) { fail_job(batch[i], GRPC_STATUS_INTERNAL, err); fr_job_free(batch[i]); }
            pthread_rwlock_unlock(&s->store_lock);
            continue;
        }
        for (int i = 0, qi = 0; i < n; i++) {
            job *j = batch[i];
            int truncated = 0;
            if (j->req.query && j->req.query_len) { j->req.query_vector = vecs + (size_t)qi * D; truncated = info[qi++].truncated; }
            fr_rank_result res;
            if (fr_rank(rk, &j->req, &res, err, sizeof err)) {
                fail_job(j, GRPC_STATUS_INVALID_ARGUMENT, err);
            } else {
                res.query_truncated = truncated;
                const char *arm = cfg->n_arms ? cfg->arms[j->arm].name : "default";
                if (cfg->n_arms) {
                    atomic_fetch_add(&s->metrics.arm_requests[j->arm], 1);
                    atomic_fetch_add(&s->metrics.arm_seconds_us[j->arm], (long long)(1e6 * (fr_now() - j->c->start)));
                }
                Feedrank__V1__RerankResponse *r = fr_codec_response(j, &res, s->model_name, s->store_version, arm);
                grpc_byte_buffer *bb = r ? fr_pack(&r->base) : NULL;
                fr_codec_response_free(r);
                if (!bb) fail_job(j, GRPC_STATUS_INTERNAL, "out of memory");
                else if (j->method == M_STREAM) fr_stream_respond(j->c, j->seq, bb, 0, NULL);
                else fr_call_finish(j->c, bb, GRPC_STATUS_OK, NULL);
            }
            fr_job_free(j);
        }
        pthread_rwlock_unlock(&s->store_lock);
    }
    free(batch); free(texts); free(lens); free(vecs); free(info);
    fr_ranker_free(rk);
    return NULL;
}

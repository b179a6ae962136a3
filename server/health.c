/* health.c - grpc.health.v1.Health/Watch: each watcher gets the current status at once and
 * again whenever it changes (SERVING -> NOT_SERVING at shutdown, when the stream also ends). */
#include <string.h>

#include "server_internal.h"

static int status_now(fr_server *s) {
    return atomic_load(&s->serving) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                    : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

/* With c->mu held: sends the status if it changed since the last send; ends the stream after
 * NOT_SERVING during shutdown. */
static void watch_pump(fr_server *s, call *c) {
    if (c->send_pending || c->finished) return;
    int st = c->watch_last == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN && c->send_seq == 0
                 ? c->watch_last
                 : (c->watch_last == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN ? c->watch_last : status_now(s));
    if (c->send_seq > 0 && st == c->watch_last) {
        if (atomic_load(&s->shutting_down)) { /* last status sent: close the stream */
            c->finished = 1;
            grpc_op op;
            memset(&op, 0, sizeof op);
            grpc_slice_unref(c->status_details);
            c->status_details = grpc_slice_from_copied_string("server shutting down");
            op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
            op.data.send_status_from_server.status = GRPC_STATUS_OK;
            op.data.send_status_from_server.status_details = &c->status_details;
            fr_metrics_request(&s->metrics, c->method, 0, fr_now() - c->start);
            fr_log_request(c->method, c->request_id, NULL, 0, NULL, fr_now() - c->start);
            if (grpc_call_start_batch(c->call, &op, 1, &c->t_done, NULL) != GRPC_CALL_OK) fr_call_unref(c);
        }
        return;
    }
    Grpc__Health__V1__HealthCheckResponse r;
    grpc__health__v1__health_check_response__init(&r);
    r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    grpc_byte_buffer *bb = fr_pack(&r.base);
    if (!bb) return;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    int n = 0;
    if (c->send_seq == 0) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->response) grpc_byte_buffer_destroy(c->response);
    c->response = bb;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    c->watch_last = st;
    c->send_seq++;
    c->send_pending = 1;
    atomic_fetch_add(&c->refs, 1);
    if (grpc_call_start_batch(c->call, ops, (size_t)n, &c->t_send, NULL) != GRPC_CALL_OK) {
        c->send_pending = 0;
        fr_call_unref(c);
    }
}

void fr_health_watch_add(fr_server *s, call *c) {
    pthread_mutex_lock(&s->watch_mu);
    int added = s->n_watchers < (int)(sizeof s->watchers / sizeof s->watchers[0]);
    if (added) s->watchers[s->n_watchers++] = c;
    pthread_mutex_unlock(&s->watch_mu);
    if (!added) {
        fr_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many health watchers");
        return;
    }
    pthread_mutex_lock(&c->mu);
    watch_pump(s, c);
    pthread_mutex_unlock(&c->mu);
}

void fr_health_watch_remove(fr_server *s, call *c) {
    int found = 0;
    pthread_mutex_lock(&s->watch_mu);
    for (int i = 0; i < s->n_watchers; i++)
        if (s->watchers[i] == c) {
            s->watchers[i] = s->watchers[--s->n_watchers];
            found = 1;
            break;
        }
    pthread_mutex_unlock(&s->watch_mu);
    pthread_mutex_lock(&c->mu);
    int release = found && !c->finished;
    c->finished = 1;
    pthread_mutex_unlock(&c->mu);
    if (release) fr_call_unref(c); /* the handler's ref: no final status will be sent */
}

void fr_health_watch_sent(fr_server *s, call *c, int ok) {
    pthread_mutex_lock(&c->mu);
    if (ok) watch_pump(s, c);
    pthread_mutex_unlock(&c->mu);
}

void fr_health_set(fr_server *s, int serving) {
    atomic_store(&s->serving, serving);
    pthread_mutex_lock(&s->watch_mu);
    for (int i = 0; i < s->n_watchers; i++) {
        call *c = s->watchers[i];
        pthread_mutex_lock(&c->mu);
        watch_pump(s, c);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&s->watch_mu);
}

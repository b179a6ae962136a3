/* reflection.c - gRPC server reflection (grpc.reflection.v1 and v1alpha: one protocol, the same
 * messages and field numbers under two package names, so both are served by the v1 code), so that
 * grpcurl, Postman, evans or grpcio-reflection can list the services and fetch their .proto
 * descriptors. Answers come from the FileDescriptorSet that protoc wrote at build time and CMake
 * compiled into the binary (fr_descriptor_set), read once at start-up (descset.c).
 *
 * A stream is served strictly one message at a time, on the completion-queue thread that received
 * it: receive, answer (a lookup in a sorted table, microseconds), send, and only when the send has
 * completed receive the next. So a stream holds at most one request and one response in the
 * server, a client that does not read stops being read (HTTP/2 flow control pushes back), and no
 * reflection work ever enters the compute or parse queues that Rerank uses. A request larger than
 * FR_REFLECTION_MAX_REQUEST ends the stream with INVALID_ARGUMENT; responses are bounded by the
 * descriptor set itself (a few KiB). */
#include <grpc/byte_buffer_reader.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"
#include "wire_check.h"

#define NOT_FOUND 5
#define UNIMPLEMENTED 12

/* An ErrorResponse (status code + message) as the answer. */
static void set_error(Grpc__Reflection__V1__ServerReflectionResponse *r, Grpc__Reflection__V1__ErrorResponse *e, int code,
                      const char *msg) {
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = (char *)msg;
    r->message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    r->error_response = e;
}

fr_status fr_reflection_answer(const fr_descset *d, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len, char *err,
                               size_t errcap) {
    *out = NULL;
    *out_len = 0;
    if (len > FR_REFLECTION_MAX_REQUEST)
        return fr_fail(FR_ERR_ARG, err, errcap, "reflection request is %zu bytes, the limit is %d", len, FR_REFLECTION_MAX_REQUEST);
    /* NUL bytes would cut a name short and so look up another one */
    if (fr_wire_check(&grpc__reflection__v1__server_reflection_request__descriptor, req, len, NULL, 0, 16, err, errcap))
        return FR_ERR_ARG;
    Grpc__Reflection__V1__ServerReflectionRequest *m = grpc__reflection__v1__server_reflection_request__unpack(NULL, len, req);
    if (!m) return fr_fail(FR_ERR_ARG, err, errcap, "malformed ServerReflectionRequest (not valid protobuf)");

    int n_files = fr_descset_file_count(d), n_svc = fr_descset_service_count(d);
    int *closure = malloc((size_t)n_files * sizeof *closure);
    ProtobufCBinaryData *blobs = malloc((size_t)n_files * sizeof *blobs);
    Grpc__Reflection__V1__ServiceResponse *svc = malloc((size_t)(n_svc ? n_svc : 1) * sizeof *svc);
    Grpc__Reflection__V1__ServiceResponse **svcp = malloc((size_t)(n_svc ? n_svc : 1) * sizeof *svcp);
    int numbers[64];
    char msg[600];
    Grpc__Reflection__V1__ServerReflectionResponse r;
    Grpc__Reflection__V1__FileDescriptorResponse fdr;
    Grpc__Reflection__V1__ListServiceResponse lsr;
    Grpc__Reflection__V1__ExtensionNumberResponse enr;
    Grpc__Reflection__V1__ErrorResponse er;
    fr_status rc = FR_OK;
    if (!closure || !blobs || !svc || !svcp) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        goto done;
    }
    grpc__reflection__v1__server_reflection_response__init(&r);
    r.valid_host = m->host;
    r.original_request = m;
    int file = -2; /* -2: not a file request; -1: a file request that found nothing */
    switch (m->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        grpc__reflection__v1__list_service_response__init(&lsr);
        for (int k = 0; k < n_svc; k++) {
            grpc__reflection__v1__service_response__init(&svc[k]);
            svc[k].name = (char *)fr_descset_service(d, k);
            svcp[k] = &svc[k];
        }
        lsr.n_service = (size_t)n_svc;
        lsr.service = svcp;
        r.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        r.list_services_response = &lsr;
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = fr_descset_find_file(d, m->file_by_filename);
        if (file < 0) snprintf(msg, sizeof msg, "file '%.500s' not found", m->file_by_filename);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = fr_descset_find_symbol(d, m->file_containing_symbol);
        if (file < 0) snprintf(msg, sizeof msg, "symbol '%.500s' not found", m->file_containing_symbol);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION: {
        const Grpc__Reflection__V1__ExtensionRequest *x = m->file_containing_extension;
        const char *type = x && x->containing_type ? x->containing_type : "";
        int num = x ? x->extension_number : 0;
        file = fr_descset_is_message(d, type) ? fr_descset_find_extension(d, type, num) : -1;
        if (file < 0 && !fr_descset_is_message(d, type)) snprintf(msg, sizeof msg, "message type '%.500s' not found", type);
        else if (file < 0) snprintf(msg, sizeof msg, "no extension %d of '%.500s'", num, type);
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE: {
        const char *type = m->all_extension_numbers_of_type;
        if (!fr_descset_is_message(d, type)) {
            snprintf(msg, sizeof msg, "message type '%.500s' not found", type);
            set_error(&r, &er, NOT_FOUND, msg);
            break;
        }
        int n = fr_descset_extension_numbers(d, type, numbers, (int)(sizeof numbers / sizeof numbers[0]));
        grpc__reflection__v1__extension_number_response__init(&enr);
        enr.base_type_name = (char *)type;
        enr.n_extension_number = (size_t)(n < 64 ? n : 64);
        enr.extension_number = numbers;
        r.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
        r.all_extension_numbers_response = &enr;
        break;
    }
    default: /* nothing set, or a request kind newer than this server */
        set_error(&r, &er, UNIMPLEMENTED, "the request sets none of the request kinds this server knows");
        break;
    }
    if (file == -1) {
        set_error(&r, &er, NOT_FOUND, msg);
    } else if (file >= 0) { /* the file and everything it imports: a client can then build it alone */
        int n = fr_descset_closure(d, file, closure);
        for (int i = 0; i < n; i++) blobs[i].data = (uint8_t *)fr_descset_file_bytes(d, closure[i], &blobs[i].len);
        grpc__reflection__v1__file_descriptor_response__init(&fdr);
        fdr.n_file_descriptor_proto = (size_t)n;
        fdr.file_descriptor_proto = blobs;
        r.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
        r.file_descriptor_response = &fdr;
    }
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    if (!(*out = malloc(n ? n : 1))) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "out of memory");
        goto done;
    }
    *out_len = protobuf_c_message_pack(&r.base, *out);
done:
    free(closure);
    free(blobs);
    free(svc);
    free(svcp);
    grpc__reflection__v1__server_reflection_request__free_unpacked(m, NULL);
    return rc;
}

/* ---- the stream ---- */

void fr_reflection_start(fr_server *s, call *c) {
    pthread_mutex_lock(&s->refl_mu);
    int room = s->n_refl < (int)(sizeof s->refl_calls / sizeof s->refl_calls[0]), down = atomic_load(&s->shutting_down);
    if (room && !down) s->refl_calls[s->n_refl++] = c;
    pthread_mutex_unlock(&s->refl_mu);
    pthread_mutex_lock(&c->mu);
    if (down) fr_stream_finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    else if (!room) fr_stream_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many reflection streams; retry later");
    else fr_stream_recv(c);
    pthread_mutex_unlock(&c->mu);
}

void fr_reflection_closed(fr_server *s, call *c) {
    pthread_mutex_lock(&s->refl_mu);
    for (int i = 0; i < s->n_refl; i++)
        if (s->refl_calls[i] == c) {
            s->refl_calls[i] = s->refl_calls[--s->n_refl];
            break;
        }
    pthread_mutex_unlock(&s->refl_mu);
}

void fr_reflection_shutdown(fr_server *s) {
    /* a registered call is not freed meanwhile: it leaves the table at T_CLOSE, before its last ref */
    pthread_mutex_lock(&s->refl_mu);
    for (int i = 0; i < s->n_refl; i++) grpc_call_cancel_with_status(s->refl_calls[i]->call, GRPC_STATUS_UNAVAILABLE, "server shutting down", NULL);
    pthread_mutex_unlock(&s->refl_mu);
}

void fr_reflection_on_recv(fr_server *s, call *c, int ok) {
    pthread_mutex_lock(&c->mu);
    c->recv_pending = 0;
    grpc_byte_buffer *bb = c->payload;
    c->payload = NULL;
    if (!ok || !bb || atomic_load(&c->cancelled)) { /* the client half-closed, or the call is gone */
        fr_stream_finish(c, atomic_load(&c->cancelled) ? GRPC_STATUS_CANCELLED : GRPC_STATUS_OK, "");
        pthread_mutex_unlock(&c->mu);
        if (bb) grpc_byte_buffer_destroy(bb);
        return;
    }
    char err[512];
    size_t len = 0;
    uint8_t *req = fr_unpack_bytes(bb, FR_REFLECTION_MAX_REQUEST, &len), *resp = NULL;
    size_t resp_len = 0;
    grpc_byte_buffer_destroy(bb);
    fr_status rc;
    if (!req) rc = fr_fail(FR_ERR_ARG, err, sizeof err, "reflection request is larger than the %d-byte limit", FR_REFLECTION_MAX_REQUEST);
    else rc = fr_reflection_answer(s->descset, req, len, &resp, &resp_len, err, sizeof err);
    free(req);
    if (rc) {
        fr_stream_finish(c, rc == FR_ERR_NOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INVALID_ARGUMENT, err);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)resp, resp_len);
    free(resp);
    grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    int n = 0;
    if (c->send_seq == 0) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->response) grpc_byte_buffer_destroy(c->response);
    c->response = out;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = out;
    c->send_seq++;
    c->send_pending = 1;
    atomic_fetch_add(&c->refs, 1);
    if (grpc_call_start_batch(c->call, ops, (size_t)n, &c->t_send, NULL) != GRPC_CALL_OK) {
        c->send_pending = 0;
        fr_call_unref(c);
        fr_stream_finish(c, GRPC_STATUS_INTERNAL, "send failed");
    }
    pthread_mutex_unlock(&c->mu);
}

void fr_reflection_on_sent(fr_server *s, call *c, int ok) {
    (void)s;
    pthread_mutex_lock(&c->mu);
    c->send_pending = 0;
    if (!ok || atomic_load(&c->cancelled)) fr_stream_finish(c, GRPC_STATUS_CANCELLED, "stream cancelled");
    else if (!c->finished) fr_stream_recv(c);
    pthread_mutex_unlock(&c->mu);
}

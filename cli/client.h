/* client.h - pieces of the gRPC client shared by `feedrank client` and bench/load. */
#ifndef FR_CLIENT_H
#define FR_CLIENT_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

/* A request JSON line (as for `feedrank rerank`) packed as a feedrank.v1.RerankRequest; only
 * fields present in the JSON are set. NULL when the line is not a JSON object. */
uint8_t *fr_client_pack_rerank(const char *json_line, size_t *len);

/* One unary call on channel ch with a pluck queue cq. Returns the grpc status code; *resp (malloc'd)
 * holds the reply when OK. token may be NULL. */
int fr_client_unary(grpc_channel *ch, grpc_completion_queue *cq, const char *token, double timeout_s, const char *method,
                    const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, char *details, size_t dcap);

#endif

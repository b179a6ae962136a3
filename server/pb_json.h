/* pb_json.h - protobuf-c messages as protobuf's canonical JSON (what json_format.Parse reads). */
#ifndef FR_PB_JSON_H
#define FR_PB_JSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
/* The message as one line of canonical JSON (malloc'd), or NULL when out of memory. */
char *fr_pb_to_json(const ProtobufCMessage *m);
/* The same as a cJSON tree (the caller deletes it). */
struct cJSON *fr_pb_to_cjson(const ProtobufCMessage *m);
/* Standard base64 with padding (RFC 4648), malloc'd. */
char *fr_base64(const uint8_t *p, size_t n);

#endif

/* pb_json.c - any protobuf-c message as protobuf's canonical JSON (the proto3 JSON mapping, which
 * proto2 messages use too): lowerCamelCase names, enums by name, 64-bit integers as strings,
 * non-finite floats as "NaN" / "Infinity" / "-Infinity", bytes as base64, a field only when it is
 * present. Driven by the message's descriptor, so the JSON is the very message gRPC sends. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_json.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *fr_base64(const uint8_t *p, size_t n) {
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

/* protoc's ToJsonName: an underscore is dropped and the letter after it upper-cased. */
static void json_name(const char *name, char *out, size_t cap) {
    size_t o = 0;
    int up = 0;
    for (const char *p = name; *p && o + 1 < cap; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
        up = 0;
    }
    out[o] = 0;
}

static cJSON *number(double v) {
    if (isnan(v)) return cJSON_CreateString("NaN");
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(v);
}

static cJSON *message(const ProtobufCMessage *m);

/* One value of field f stored at p. */
static cJSON *value(const ProtobufCFieldDescriptor *f, const void *p) {
    char tmp[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return cJSON_CreateNumber(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return cJSON_CreateNumber(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(tmp, sizeof tmp, "%lld", (long long)*(const int64_t *)p);
        return cJSON_CreateString(tmp);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)*(const uint64_t *)p);
        return cJSON_CreateString(tmp);
    case PROTOBUF_C_TYPE_FLOAT: return number(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return number(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? cJSON_CreateString(ev->name) : cJSON_CreateNumber(v); /* an unknown value stays a number */
    }
    case PROTOBUF_C_TYPE_STRING: return cJSON_CreateString(*(char *const *)p ? *(char *const *)p : "");
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = fr_base64(b->data, b->len);
        cJSON *j = s ? cJSON_CreateString(s) : NULL;
        free(s);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: return message(*(ProtobufCMessage *const *)p);
    }
    return NULL;
}

static size_t value_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4;
    }
}

/* Whether a singular field is present (proto2 optional: its has_ flag or a non-NULL pointer;
 * oneof: the case; proto3 implicit: a non-default value). */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const void *p) {
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED) return 1;
    int ptr = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (ptr) return *(void *const *)p != NULL && (f->type != PROTOBUF_C_TYPE_STRING || *(void *const *)p != f->default_value);
        return *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset) != 0;
    }
    /* proto3 implicit presence */
    if (f->type == PROTOBUF_C_TYPE_STRING) return *(char *const *)p && **(char *const *)p;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) return *(void *const *)p != NULL;
    if (f->type == PROTOBUF_C_TYPE_BYTES) return ((const ProtobufCBinaryData *)p)->len > 0;
    static const char zero[16];
    return memcmp(p, zero, value_size(f)) != 0;
}

static cJSON *message(const ProtobufCMessage *m) {
    if (!m) return cJSON_CreateObject();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    cJSON *o = cJSON_CreateObject();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *p = (const char *)m + f->offset;
        char name[128];
        json_name(f->name, name, sizeof name);
        cJSON *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            if (!n) continue;
            const char *arr = *(const char *const *)p;
            v = cJSON_CreateArray();
            for (size_t k = 0; v && k < n; k++) {
                cJSON *e = value(f, arr + k * value_size(f));
                if (!e) {
                    cJSON_Delete(v);
                    v = NULL;
                    break;
                }
                cJSON_AddItemToArray(v, e);
            }
        } else {
            if (!present(m, f, p)) continue;
            v = value(f, p);
        }
        if (!v) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, name, v);
    }
    return o;
}

cJSON *fr_pb_to_cjson(const ProtobufCMessage *m) { return message(m); }

char *fr_pb_to_json(const ProtobufCMessage *m) {
    cJSON *o = message(m);
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

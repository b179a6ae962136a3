/* descset.h - a protobuf FileDescriptorSet (what `protoc --descriptor_set_out --include_imports`
 * writes) read into what gRPC server reflection answers from: each file's serialized
 * FileDescriptorProto, its imports, the services it declares, and every symbol it defines
 * (messages, fields, oneofs, enums, enum values, services, methods, extensions) by full name. */
#ifndef FR_DESCSET_H
#define FR_DESCSET_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct fr_descset fr_descset;

/* Reads a serialized FileDescriptorSet (the bytes are copied). Errors name the file and what is
 * wrong: malformed wire data, a name too long or holding a NUL byte, a file name or symbol given
 * twice, an import the set does not hold. */
fr_status fr_descset_parse(const uint8_t *buf, size_t len, fr_descset **out, char *err, size_t errcap);
void fr_descset_free(fr_descset *d);

int fr_descset_file_count(const fr_descset *d);
const char *fr_descset_file_name(const fr_descset *d, int file);
/* The file's serialized FileDescriptorProto, exactly as the set holds it. */
const uint8_t *fr_descset_file_bytes(const fr_descset *d, int file, size_t *len);
/* Index of the file of that name, or -1. */
int fr_descset_find_file(const fr_descset *d, const char *name);
/* Index of the file defining a fully-qualified symbol ("feedrank.v1.Reranker.Rerank",
 * "feedrank.v1.RerankRequest.candidates"; no leading dot), or -1. */
int fr_descset_find_symbol(const fr_descset *d, const char *symbol);
/* 1 when the symbol is a message type. */
int fr_descset_is_message(const fr_descset *d, const char *symbol);
/* Index of the file declaring extension `number` of message `type`, or -1. */
int fr_descset_find_extension(const fr_descset *d, const char *type, int number);
/* The field numbers of all extensions of message `type` (up to cap); returns how many there are. */
int fr_descset_extension_numbers(const fr_descset *d, const char *type, int *out, int cap);
/* The file and everything it imports, directly or not, each once, the file first; returns the
 * count (at most fr_descset_file_count). */
int fr_descset_closure(const fr_descset *d, int file, int *out);

/* The services of every file, by full name ("feedrank.v1.Reranker"), in the set's order. */
int fr_descset_service_count(const fr_descset *d);
const char *fr_descset_service(const fr_descset *d, int k);

#endif

/* wire_check.h - checks a protobuf message's wire bytes before protobuf-c unpacks them: counts of
 * repeated fields against limits (so a huge message is refused without allocating for it) and
 * string fields free of NUL bytes (protobuf-c's NUL-terminated strings would silently cut them). */
#ifndef FR_WIRE_CHECK_H
#define FR_WIRE_CHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The most entries a repeated field of this name may hold, at any depth. */
typedef struct {
    const char *field;
    size_t max;
} fr_wire_cap;

/* FR_OK, or FR_ERR_ARG with a message naming the field path ("candidates[3].item_id contains a
 * NUL byte", "candidates holds more than 10000 entries; the limit is 10000"). Repeated message, string and
 * bytes fields not named in caps may hold default_cap entries. */
fr_status fr_wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, const fr_wire_cap *caps,
                        int n_caps, size_t default_cap, char *err, size_t errcap);

#endif

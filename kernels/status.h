/* status.h - error values shared by every feedrank module.
 *
 * Every fallible function returns an fr_status (FR_OK == 0) and, on failure, writes a
 * one-line human-readable message into a caller-supplied buffer (err, errcap). Nothing
 * below main() prints or exits. */
#ifndef FR_STATUS_H
#define FR_STATUS_H

#include <stddef.h>

typedef enum {
    FR_OK = 0,
    FR_ERR_IO,          /* a file could not be opened, read, mapped or written */
    FR_ERR_FORMAT,      /* a file or message is malformed, truncated or inconsistent */
    FR_ERR_NOMEM,       /* an allocation failed */
    FR_ERR_ARG,         /* the caller passed an invalid argument */
    FR_ERR_UNSUPPORTED, /* valid, but not something this build can do */
    FR_ERR_DEVICE,      /* a CUDA / cuBLAS call failed */
    FR_ERR_NOT_FOUND,   /* a named thing (tensor, file, id) does not exist */
    FR_ERR_VERIFY       /* a checksum or hash did not match */
} fr_status;

/* Short name of a status ("io", "format", ...). */
const char *fr_status_name(fr_status s);

/* Writes a printf-style message into err (if err && errcap) and returns s. */
fr_status fr_fail(fr_status s, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

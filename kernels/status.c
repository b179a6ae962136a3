#include "status.h"

#include <stdarg.h>
#include <stdio.h>

const char *fr_status_name(fr_status s) {
    switch (s) {
    case FR_OK: return "ok";
    case FR_ERR_IO: return "io";
    case FR_ERR_FORMAT: return "format";
    case FR_ERR_NOMEM: return "nomem";
    case FR_ERR_ARG: return "argument";
    case FR_ERR_UNSUPPORTED: return "unsupported";
    case FR_ERR_DEVICE: return "device";
    case FR_ERR_NOT_FOUND: return "not-found";
    case FR_ERR_VERIFY: return "verify";
    }
    return "unknown";
}

fr_status fr_fail(fr_status s, char *err, size_t errcap, const char *fmt, ...) {
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return s;
}

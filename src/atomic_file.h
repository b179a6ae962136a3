/* atomic_file.h - files written whole or not at all: a temporary file beside the destination,
 * fsync'd and renamed into place, the folder fsync'd. The one implementation of the pattern. */
#ifndef FR_ATOMIC_FILE_H
#define FR_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

/* An output file written as a stream and put in place whole, or not at all. Every file feedrank
 * writes whole (CLI outputs, item stores, checkpoints, trained models) goes through it, so that a
 * full disk or a failing device is an error naming the file instead of a truncated result:
 *
 *   fr_atomic_file o;
 *   if (fr_atomic_open(&o, path, err, errcap)) ...      creates a temporary file beside path
 *   fprintf(o.f, ...) as often as needed; fr_atomic_check(&o, ...) between batches
 *   fr_atomic_commit(&o, err, errcap)                   flush, fsync, close, rename, fsync folder
 *   or fr_atomic_abort(&o)                              close and remove the temporary file
 *
 * path "-" is stdout (written directly; commit flushes it and reports a failed write). An existing
 * path that is not a regular file (/dev/null, a FIFO, a terminal), or any path under /dev/ or
 * /proc/ (/dev/stdout redirected to a file), is written in place: renaming over it would replace
 * the device, or the file a shell opened for appending. A symlink to a file is followed: its
 * target is replaced. Commit and abort both release everything; abort on a zeroed or already
 * finished fr_atomic_file does nothing.
 * f is a stdio stream without a file descriptor (fileno(f) is -1); it can seek (an .npy header). */
typedef struct {
    FILE *f;          /* write here */
    const char *name; /* for messages: the path as given, or "stdout" */
    char *dest;       /* private: the file renamed over (NULL: f is written in place) */
    char *tmp;        /* private: the temporary file beside dest */
    void *cookie;     /* private: keeps the reason of a failed write (see atomic_file.c) */
    int is_stdout;
    int in_place; /* stdout, or a device/descriptor written in place: write forward only (a
                         seek back to rewrite a header may land at the end) */
} fr_atomic_file;
fr_status fr_atomic_open(fr_atomic_file *o, const char *path, char *err, size_t errcap);
/* Flushes what was written so far; an error names the file and the reason (e.g. "No space left on
 * device"). Cheap enough to call once per batch, so that a full disk stops a long run early. */
fr_status fr_atomic_check(fr_atomic_file *o, char *err, size_t errcap);
fr_status fr_atomic_commit(fr_atomic_file *o, char *err, size_t errcap);
void fr_atomic_abort(fr_atomic_file *o);

/* Writes data[size] to path atomically (through fr_atomic_open); on failure the previous file, if
 * any, is unchanged and the error names the path. */
fr_status fr_atomic_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap);
/* The same, streamed: write(f, ctx) fills the temporary file. */
typedef fr_status (*fr_atomic_writer)(FILE *f, void *ctx, char *err, size_t errcap);
fr_status fr_atomic_write_file_with(const char *path, fr_atomic_writer write, void *ctx, char *err, size_t errcap);

#endif

/* atomic_file.c - files written whole or not at all (see atomic_file.h). */
/* fopencookie (glibc): output streams that keep the reason of a failed write */
#define _GNU_SOURCE
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*---------------------------------------------------------------------------------------------
 * Output files. A result file is written to a temporary file in the same folder (so that the
 * rename cannot cross file systems), flushed, fsync'd and renamed over the destination, and the
 * folder is fsync'd so that the rename itself survives a crash. Until the rename, a reader sees the
 * previous file or none: never a truncated one. The temporary name carries the process id and a
 * counter, so two runs (or two outputs of one run) writing one destination do not write into each
 * other's file: the last rename wins, whole.
 *
 * The FILE handed out is a stdio stream over our own write function (fopencookie), because stdio
 * does not keep the reason of a failed write: a large fwrite that fails goes straight to write(2),
 * and a later fflush has nothing left to retry, so errno is gone by the time anyone asks. The
 * cookie keeps the first errno, and every message can say "No space left on device".
 *-------------------------------------------------------------------------------------------*/

typedef struct {
    int fd;
    int own; /* close fd at fclose (not for stdout) */
    int err; /* errno of the first failed write, 0 while none failed */
} out_cookie;

static ssize_t cookie_write(void *c, const char *buf, size_t n) {
    out_cookie *k = c;
    size_t done = 0;
    while (done < n && !k->err) {
        ssize_t w = write(k->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) k->err = w < 0 ? errno : EIO;
        else done += (size_t)w;
    }
    return (ssize_t)done; /* short: stdio marks the stream as failed */
}

static int cookie_seek(void *c, off64_t *off, int whence) {
    off_t r = lseek(((out_cookie *)c)->fd, (off_t)*off, whence);
    if (r < 0) return -1;
    *off = r;
    return 0;
}

static int cookie_close(void *c) {
    out_cookie *k = c;
    int r = k->own ? close(k->fd) : 0;
    free(k);
    return r;
}

static void out_release(fr_atomic_file *o) {
    free(o->dest);
    free(o->tmp);
    o->dest = o->tmp = NULL;
    o->f = NULL;
    o->cookie = NULL;
}

/* Wraps fd (owned when own) in o->f; 0 or an errno. */
static int out_stream(fr_atomic_file *o, int fd, int own) {
    out_cookie *k = calloc(1, sizeof *k);
    if (!k) return ENOMEM;
    *k = (out_cookie){fd, own, 0};
    cookie_io_functions_t io = {.read = NULL, .write = cookie_write, .seek = cookie_seek, .close = cookie_close};
    o->f = fopencookie(k, "w", io);
    if (!o->f) {
        int e = errno ? errno : ENOMEM;
        free(k);
        return e;
    }
    o->cookie = k;
    return 0;
}

/* The file to create for a path that does not exist: the path itself, or, for a symlink to a file
 * not yet there, the link's target (as fopen would), so that the link is not replaced by a file. */
static char *dangling_target(const char *path) {
    char link[4096];
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0 || (size_t)n >= sizeof link - 1) return strdup(path);
    link[n] = 0;
    const char *slash = strrchr(path, '/');
    if (link[0] == '/' || !slash) return strdup(link);
    size_t dl = (size_t)(slash - path) + 1;
    char *t = malloc(dl + (size_t)n + 1);
    if (t) {
        memcpy(t, path, dl);
        memcpy(t + dl, link, (size_t)n + 1);
    }
    return t;
}

fr_status fr_atomic_open(fr_atomic_file *o, const char *path, char *err, size_t errcap) {
    memset(o, 0, sizeof *o);
    int e;
    if (strcmp(path, "-") == 0) {
        o->name = "stdout";
        o->is_stdout = o->in_place = 1;
        fflush(stdout); /* whatever stdio already holds goes out before our bytes */
        if ((e = out_stream(o, STDOUT_FILENO, 0)) != 0) return fr_fail(FR_ERR_NOMEM, err, errcap, "stdout: %s", strerror(e));
        return FR_OK;
    }
    o->name = path;
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists && errno != ENOENT) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot write: %s", path, strerror(errno));
    if (exists && S_ISDIR(st.st_mode)) return fr_fail(FR_ERR_IO, err, errcap, "%s: is a directory", path);
    /* /dev/stdout, /dev/fd/N, /proc/self/fd/N name a descriptor the caller opened (perhaps in append
     * mode): replacing the file behind it would drop what it held, so they are written in place */
    const int descriptor = strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0;
    if (exists && (!S_ISREG(st.st_mode) || descriptor)) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | (S_ISREG(st.st_mode) ? O_APPEND : 0));
        if (fd < 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open for writing: %s", path, strerror(errno));
        if ((e = out_stream(o, fd, 1)) != 0) {
            close(fd);
            return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", path, strerror(e));
        }
        o->in_place = 1;
        return FR_OK;
    }
    o->dest = exists ? realpath(path, NULL) : dangling_target(path);
    if (!o->dest) return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    size_t n = strlen(o->dest) + 32;
    o->tmp = malloc(n);
    if (!o->tmp) {
        out_release(o);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", path);
    }
    static unsigned seq; /* two outputs of one process to one path must not share a temporary file */
    snprintf(o->tmp, n, "%s.%ld.%u.tmp", o->dest, (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        fr_status rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot create: %s", path, strerror(errno));
        out_release(o);
        return rc;
    }
    if (exists) (void)fchmod(fd, st.st_mode & 07777); /* a replaced file keeps its permissions */
    if ((e = out_stream(o, fd, 1)) != 0) {
        close(fd);
        unlink(o->tmp);
        out_release(o);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", path, strerror(e));
    }
    return FR_OK;
}

/* Flushes o->f; 0, or the errno of the first write that failed. */
static int out_flush(fr_atomic_file *o) {
    const out_cookie *k = o->cookie;
    if (fflush(o->f) == 0 && !ferror(o->f)) return 0;
    return k->err ? k->err : EIO;
}

fr_status fr_atomic_check(fr_atomic_file *o, char *err, size_t errcap) {
    int e = o->f ? out_flush(o) : 0;
    return e ? fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", o->name, strerror(e)) : FR_OK;
}

/* fsyncs the folder holding path, so that a rename into it is durable; 0 or an errno. */
static int sync_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
    if (fd < 0) e = errno;
    else if (fsync(fd) != 0 && errno != EINVAL) e = errno; /* some file systems cannot sync a folder */
    if (fd >= 0) close(fd);
    free(dir);
    return e;
}

fr_status fr_atomic_commit(fr_atomic_file *o, char *err, size_t errcap) {
    if (!o->f) return fr_fail(FR_ERR_ARG, err, errcap, "%s: output already closed", o->name ? o->name : "?");
    int e = out_flush(o);
    /* only a file we renamed is fsync'd: a device or a pipe has nothing to make durable */
    if (!e && o->tmp && fsync(((out_cookie *)o->cookie)->fd) != 0) e = errno;
    errno = 0;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    fr_status rc = FR_OK;
    if (e) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", o->name, strerror(e));
    else if (o->tmp && rename(o->tmp, o->dest) != 0) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot rename into place: %s", o->name, strerror(errno));
    else if (o->tmp && (e = sync_folder(o->dest)) != 0)
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: written, but its folder could not be synced: %s", o->name, strerror(e));
    if (rc && o->tmp) unlink(o->tmp); /* a no-op after a successful rename */
    out_release(o);
    return rc;
}

void fr_atomic_abort(fr_atomic_file *o) {
    if (o->f) fclose(o->f);
    if (o->f && o->tmp) unlink(o->tmp);
    out_release(o);
}

fr_status fr_atomic_write_file_with(const char *path, fr_atomic_writer write, void *ctx, char *err, size_t errcap) {
    fr_atomic_file o;
    fr_status rc = fr_atomic_open(&o, path, err, errcap);
    if (rc) return rc;
    rc = write(o.f, ctx, err, errcap);
    if (rc) {
        fr_atomic_abort(&o);
        return rc;
    }
    return fr_atomic_commit(&o, err, errcap);
}

typedef struct {
    const char *path;
    const void *data;
    size_t size;
} bytes;

static fr_status write_bytes(FILE *f, void *ctx, char *err, size_t errcap) {
    const bytes *b = ctx;
    return b->size && fwrite(b->data, 1, b->size, f) != b->size ? fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", b->path, strerror(errno)) : FR_OK;
}

fr_status fr_atomic_write_file(const char *path, const void *data, size_t size, char *err, size_t errcap) {
    bytes b = {path, data, size};
    return fr_atomic_write_file_with(path, write_bytes, &b, err, errcap);
}

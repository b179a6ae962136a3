/* item_store.c - reading (mmap or a private copy, validation, id hash) and writing of item stores.
 *
 * Two ways to read a store. fr_store_open maps the file: cheap, for short-lived commands. A
 * long-running server uses fr_store_load, which copies the file into anonymous memory before
 * validating it: an operator who truncates or copies over the live file (`cp new.store
 * live.store` rewrites the same inode) would otherwise make every later access to the mapping
 * raise SIGBUS, or make the server serve bytes its validated header does not describe. The copy
 * remembers the file's identity (device, inode, size, times), so the server can see the file
 * change and reload it, validated, through the usual path. */
#include "item_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "bytes.h"
#include "hash.h"
#include "safetensors.h" /* fr_f16_to_f32 / fr_f32_to_f16 */

#define MAGIC "FRSTORE1"
#define VERSION 1
#define HEADER_SIZE 256
#define ENTRY_SIZE 32
#define MAX_SECTIONS 64
#define ALIGN 64

enum { SEC_IDS = 1,
       SEC_VECTORS = 2,
       SEC_TEXTS = 3 };

/* header field offsets */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_DIM = 12,
    H_DTYPE = 16,
    H_NSEC = 20,
    H_COUNT = 24,
    H_FP = 32,
    H_CREATED = 40,
    H_NAME = 48 /* 128 bytes */,
    H_TABLE_SUM = 176,
    H_HEADER_SUM = 184 /* hash of [0,184) */
};

/* A blob section: u64 offsets[count+1] then the bytes. */
typedef struct {
    const uint64_t *off;
    const char *bytes;
} blob;

struct fr_store {
    void *map;
    size_t map_len;
    fr_file_id file; /* what the file was when read */
    fr_store_info info;
    blob ids, texts;
    const uint8_t *vectors;
    fr_hindex by_id; /* id -> row */
    struct {
        uint32_t kind;
        const uint8_t *data;
        uint64_t size;
    } extra[MAX_SECTIONS]; /* other kinds */
    int n_extra;
};

int fr_store_section(const fr_store *s, uint32_t kind, const uint8_t **data, uint64_t *size) {
    for (int i = 0; i < s->n_extra; i++)
        if (s->extra[i].kind == kind) {
            *data = s->extra[i].data;
            *size = s->extra[i].size;
            return 1;
        }
    return 0;
}

const fr_store_info *fr_store_info_of(const fr_store *s) { return &s->info; }
const float *fr_store_vectors_f32(const fr_store *s) { return s->info.dtype == FR_STORE_F32 ? (const float *)s->vectors : NULL; }

const char *fr_store_id(const fr_store *s, uint64_t row, size_t *len) {
    *len = (size_t)(s->ids.off[row + 1] - s->ids.off[row]);
    return s->ids.bytes + s->ids.off[row];
}

const char *fr_store_text(const fr_store *s, uint64_t row, size_t *len) {
    if (!s->info.has_texts) return NULL;
    *len = (size_t)(s->texts.off[row + 1] - s->texts.off[row]);
    return s->texts.bytes + s->texts.off[row];
}

void fr_store_vector(const fr_store *s, uint64_t row, float *out) {
    const int d = s->info.dim;
    if (s->info.dtype == FR_STORE_F32) {
        memcpy(out, s->vectors + row * (uint64_t)d * 4, sizeof(float) * (size_t)d);
    } else {
        const uint8_t *p = s->vectors + row * (uint64_t)d * 2;
        for (int i = 0; i < d; i++) out[i] = fr_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    }
}

/* the id index's view of a store's and a writer's ids */
static const void *store_key(const void *ctx, uint32_t row, size_t *len) { return fr_store_id(ctx, row, len); }

int64_t fr_store_find(const fr_store *s, const char *id, size_t len) { return fr_hindex_find(&s->by_id, id, len); }

void fr_store_close(fr_store *s) {
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    fr_hindex_free(&s->by_id);
    free(s);
}

/* Validates a blob section of `count` entries, each 1..max bytes (max 0 = any length). */
static fr_status check_blob(const uint8_t *sec, uint64_t size, uint64_t count, size_t max, const char *what,
                            const char *label, blob *out, char *err, size_t errcap) {
    if (size / 8 < count + 1) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s section of %llu bytes is too small for %llu offsets", label, what, (unsigned long long)size, (unsigned long long)count + 1);
    const uint8_t *off = sec;
    uint64_t bytes = size - (count + 1) * 8;
    uint64_t prev = fr_rd64(off);
    if (prev != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s offsets must start at 0", label, what);
    for (uint64_t i = 1; i <= count; i++) {
        uint64_t o = fr_rd64(off + 8 * i);
        if (o < prev || o > bytes || (max && (o == prev || o - prev > max)))
            return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s entry %llu has an invalid offset or length", label, what, (unsigned long long)i - 1);
        prev = o;
    }
    if (prev != bytes) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %s section has %llu trailing bytes", label, what, (unsigned long long)(bytes - prev));
    out->off = (const uint64_t *)sec;
    out->bytes = (const char *)sec + (count + 1) * 8;
    return FR_OK;
}

fr_status fr_store_parse(const uint8_t *buf, size_t len, const char *label, fr_store **out, char *err, size_t errcap) {
    *out = NULL;
    if (len < HEADER_SIZE) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %zu bytes is too short for an item store", label, len);
    if (memcmp(buf, MAGIC, 8) != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: not a feedrank item store (bad magic)", label);
    if (fr_rd32(buf + H_VERSION) != VERSION) return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: item store version %u, this feedrank reads version %d", label, fr_rd32(buf + H_VERSION), VERSION);
    if (fr_hash64(buf, H_HEADER_SUM, 0) != fr_rd64(buf + H_HEADER_SUM)) return fr_fail(FR_ERR_VERIFY, err, errcap, "%s: header checksum mismatch (corrupt file)", label);
    uint32_t dim = fr_rd32(buf + H_DIM), dtype = fr_rd32(buf + H_DTYPE), nsec = fr_rd32(buf + H_NSEC);
    uint64_t count = fr_rd64(buf + H_COUNT);
    if (dim < 1 || dim > 65536) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: dimension %u outside 1..65536", label, dim);
    if (dtype > FR_STORE_F16) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: unknown vector dtype %u", label, dtype);
    if (nsec > MAX_SECTIONS) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %u sections (max %d)", label, nsec, MAX_SECTIONS);
    if (count > 0xFFFFFFF0u) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %llu items (max 4294967280)", label, (unsigned long long)count);
    if (buf[H_NAME + 127] != 0) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: model name is not terminated", label);
    size_t table_end = HEADER_SIZE + (size_t)nsec * ENTRY_SIZE;
    if (table_end > len) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: section table runs past the end of the file (truncated?)", label);
    if (fr_hash64(buf + HEADER_SIZE, (size_t)nsec * ENTRY_SIZE, 0) != fr_rd64(buf + H_TABLE_SUM)) return fr_fail(FR_ERR_VERIFY, err, errcap, "%s: section table checksum mismatch (corrupt file)", label);
    fr_store *s = calloc(1, sizeof *s);
    if (!s) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
    s->info.dim = (int)dim;
    s->info.dtype = (fr_store_dtype)dtype;
    s->info.count = count;
    s->info.model_fingerprint = fr_rd64(buf + H_FP);
    s->info.created_unix = fr_rd64(buf + H_CREATED);
    memcpy(s->info.model_name, buf + H_NAME, 128);
    uint64_t content = 0;
    int have_ids = 0, have_vec = 0;
    fr_status rc = FR_OK;
    for (size_t k = H_HEADER_SUM + 8; k < HEADER_SIZE && !rc; k++)
        if (buf[k]) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: reserved header bytes are not zero (corrupt file)", label);
    /* sections must not overlap, and every byte between and after them must be zero padding:
     * a flipped bit anywhere in the file is caught */
    if (!rc) {
        uint64_t spans[MAX_SECTIONS][2];
        for (uint32_t i = 0; i < nsec; i++) {
            const uint8_t *e = buf + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
            spans[i][0] = fr_rd64(e + 8);
            spans[i][1] = fr_rd64(e + 16);
            if (fr_rd32(e + 4) != 0) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: section %u has reserved bits set", label, i);
        }
        for (uint32_t a = 1; a < nsec; a++) /* insertion sort by offset; at most 64 entries */
            for (uint32_t b = a; b > 0 && spans[b][0] < spans[b - 1][0]; b--) {
                uint64_t t0 = spans[b][0], t1 = spans[b][1];
                spans[b][0] = spans[b - 1][0];
                spans[b][1] = spans[b - 1][1];
                spans[b - 1][0] = t0;
                spans[b - 1][1] = t1;
            }
        uint64_t at = table_end;
        for (uint32_t i = 0; i < nsec && !rc; i++) {
            if (spans[i][0] < at || spans[i][0] > len || spans[i][1] > len - spans[i][0]) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: sections overlap or run past the end of the file (truncated?)", label);
                break;
            }
            for (uint64_t k = at; k < spans[i][0]; k++)
                if (buf[k]) {
                    rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: padding byte %llu is not zero (corrupt file)", label, (unsigned long long)k);
                    break;
                }
            at = spans[i][0] + spans[i][1];
        }
        if (!rc && at != len) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %llu bytes after the last section (corrupt or truncated file)", label, (unsigned long long)(len - at));
    }
    for (uint32_t i = 0; i < nsec && !rc; i++) {
        const uint8_t *e = buf + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
        uint32_t kind = fr_rd32(e);
        if (rc) break;
        uint64_t off = fr_rd64(e + 8), size = fr_rd64(e + 16), sum = fr_rd64(e + 24);
        if (off < table_end || off % ALIGN || off > len || size > len - off) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: section %u (kind %u) lies outside the file (truncated?)", label, i, kind);
            break;
        }
        const uint8_t *sec = buf + off;
        if (fr_hash64(sec, (size_t)size, 0) != sum) {
            rc = fr_fail(FR_ERR_VERIFY, err, errcap, "%s: section %u (kind %u) checksum mismatch (corrupt file)", label, i, kind);
            break;
        }
        content = fr_hash64(&sum, 8, content);
        if (kind == SEC_IDS) {
            if (have_ids++) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: two id sections", label);
            else rc = check_blob(sec, size, count, FR_STORE_MAX_ID, "id", label, &s->ids, err, errcap);
        } else if (kind == SEC_TEXTS) {
            if (s->info.has_texts++) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: two text sections", label);
            else rc = check_blob(sec, size, count, 0, "text", label, &s->texts, err, errcap);
        } else if (kind == SEC_VECTORS) {
            uint64_t want = count * dim * (dtype == FR_STORE_F32 ? 4u : 2u);
            if (have_vec++) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: two vector sections", label);
            else if (size != want) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: vector section has %llu bytes, %llu items x %u dims need %llu", label, (unsigned long long)size, (unsigned long long)count, dim, (unsigned long long)want);
            s->vectors = sec;
        } else {
            for (int x = 0; x < s->n_extra && !rc; x++)
                if (s->extra[x].kind == kind) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: two sections of kind %u", label, kind);
            if (!rc) {
                s->extra[s->n_extra].kind = kind;
                s->extra[s->n_extra].data = sec;
                s->extra[s->n_extra].size = size;
                s->n_extra++;
            }
        }
    }
    if (!rc && (!have_ids || !have_vec)) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: missing %s section", label, have_ids ? "vector" : "id");
    s->info.content_hash = content;
    if (!rc && count) {
        if (fr_hindex_init(&s->by_id, count, store_key, s))
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for the id index of %llu items", label, (unsigned long long)count);
        for (uint64_t r = 0; !rc && r < count; r++) {
            size_t l;
            const char *id = fr_store_id(s, r, &l);
            const int64_t old = fr_hindex_put(&s->by_id, id, l, (uint32_t)r);
            if (old == -2) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for the id index of %llu items", label, (unsigned long long)count);
            else if (old >= 0) rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: duplicate id '%.*s' (rows %lld and %llu)", label, (int)l, id, (long long)old, (unsigned long long)r);
        }
    }
    if (rc) {
        fr_store_close(s);
        return rc;
    }
    *out = s;
    return FR_OK;
}

static void file_id_of(const struct stat *sb, fr_file_id *id) {
    id->dev = (uint64_t)sb->st_dev;
    id->ino = (uint64_t)sb->st_ino;
    id->size = (uint64_t)sb->st_size;
    id->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

fr_status fr_file_id_get(const char *path, fr_file_id *id, char *err, size_t errcap) {
    struct stat sb;
    if (stat(path, &sb) != 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    file_id_of(&sb, id);
    return FR_OK;
}

int fr_file_id_equal(const fr_file_id *a, const fr_file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

const fr_file_id *fr_store_file_id(const fr_store *s) { return &s->file; }

/* The whole file in anonymous memory, read while its identity holds still. */
static fr_status read_private(int fd, const char *path, size_t len, const fr_file_id *before, void **out, char *err,
                              size_t errcap) {
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return fr_fail(FR_ERR_NOMEM, err, errcap, "%s: cannot allocate %zu bytes for the store: %s", path, len, strerror(errno));
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)mem + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            munmap(mem, len);
            return n == 0 ? fr_fail(FR_ERR_IO, err, errcap, "%s: the file shrank while it was read (%zu of %zu bytes); is it being rewritten?", path, got, len)
                          : fr_fail(FR_ERR_IO, err, errcap, "%s: read failed: %s", path, strerror(e));
        }
        got += (size_t)n;
    }
    struct stat sb;
    fr_file_id after = {0};
    if (fstat(fd, &sb) == 0) file_id_of(&sb, &after);
    if (!fr_file_id_equal(before, &after)) {
        munmap(mem, len);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: the file changed while it was read; is it being rewritten?", path);
    }
    mprotect(mem, len, PROT_READ); /* served bytes are never written */
    *out = mem;
    return FR_OK;
}

static fr_status open_store(const char *path, uint64_t expected_fingerprint, int force, int private_copy, fr_store **out,
                            char *err, size_t errcap) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: not a regular file", path);
    }
    fr_file_id id;
    file_id_of(&sb, &id);
    size_t len = (size_t)sb.st_size;
    if (len < HEADER_SIZE) {
        close(fd);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: %zu bytes is too short for an item store", path, len);
    }
    void *map = NULL;
    fr_status rc = FR_OK;
    if (private_copy) {
        rc = read_private(fd, path, len, &id, &map, err, errcap);
    } else {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: mmap failed: %s", path, strerror(errno));
    }
    close(fd);
    if (rc) return rc;
    fr_store *s;
    rc = fr_store_parse(map, len, path, &s, err, errcap);
    if (rc) {
        munmap(map, len);
        return rc;
    }
    s->map = map;
    s->map_len = len;
    s->file = id;
    if (expected_fingerprint && s->info.model_fingerprint != expected_fingerprint && !force) {
        rc = fr_fail(FR_ERR_VERIFY, err, errcap, "%s: built by model '%s' (fingerprint %016llx), not the loaded model (%016llx); rebuild it or force",
                     path, s->info.model_name, (unsigned long long)s->info.model_fingerprint, (unsigned long long)expected_fingerprint);
        fr_store_close(s);
        return rc;
    }
    *out = s;
    return FR_OK;
}

fr_status fr_store_open(const char *path, uint64_t expected_fingerprint, int force, fr_store **out, char *err,
                        size_t errcap) {
    return open_store(path, expected_fingerprint, force, 0, out, err, errcap);
}

fr_status fr_store_load(const char *path, uint64_t expected_fingerprint, int force, fr_store **out, char *err,
                        size_t errcap) {
    return open_store(path, expected_fingerprint, force, 1, out, err, errcap);
}

/* ---------------- writer ---------------- */

typedef struct {
    uint64_t *off;
    size_t n, cap;
    char *bytes;
    size_t len, bcap;
} growing_blob;

struct fr_store_writer {
    char *path, *vec_path;
    FILE *vec; /* vectors as they arrive */
    int dim, with_texts;
    fr_store_dtype dtype;
    char model_name[128];
    uint64_t fingerprint, count;
    growing_blob ids, texts;
    fr_hindex by_id; /* duplicate detection */
};

static const void *writer_key(const void *ctx, uint32_t r, size_t *len) {
    const fr_store_writer *w = ctx;
    *len = w->ids.off[r + 1] - w->ids.off[r];
    return w->ids.bytes + w->ids.off[r];
}

static int blob_push(growing_blob *b, const char *s, size_t n) {
    if (b->n + 2 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        uint64_t *p = realloc(b->off, nc * sizeof *p);
        if (!p) return -1;
        b->off = p;
        b->cap = nc;
        if (b->n == 0) b->off[0] = 0;
    }
    if (b->len + n > b->bcap) {
        size_t nc = b->bcap ? b->bcap * 2 : 4096;
        while (nc < b->len + n) nc *= 2;
        char *p = realloc(b->bytes, nc);
        if (!p) return -1;
        b->bytes = p;
        b->bcap = nc;
    }
    if (n) memcpy(b->bytes + b->len, s, n); /* an empty first entry leaves bytes NULL */
    b->len += n;
    b->off[++b->n] = b->len;
    return 0;
}

static void writer_free(fr_store_writer *w) {
    if (!w) return;
    if (w->vec) fclose(w->vec);
    if (w->vec_path) unlink(w->vec_path);
    free(w->path);
    free(w->vec_path);
    free(w->ids.off);
    free(w->ids.bytes);
    free(w->texts.off);
    free(w->texts.bytes);
    fr_hindex_free(&w->by_id);
    free(w);
}

void fr_store_writer_abort(fr_store_writer *w) { writer_free(w); }

static char *strcat3(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

fr_status fr_store_writer_open(const char *path, int dim, fr_store_dtype dtype, const char *model_name,
                               uint64_t fingerprint, int with_texts, fr_store_writer **out, char *err, size_t errcap) {
    *out = NULL;
    if (dim < 1 || dim > 65536) return fr_fail(FR_ERR_ARG, err, errcap, "store: dimension %d outside 1..65536", dim);
    fr_store_writer *w = calloc(1, sizeof *w);
    if (!w) return fr_fail(FR_ERR_NOMEM, err, errcap, "store: out of memory");
    w->dim = dim;
    w->dtype = dtype;
    w->with_texts = with_texts;
    w->fingerprint = fingerprint;
    snprintf(w->model_name, sizeof w->model_name, "%s", model_name ? model_name : "");
    w->path = strdup(path);
    w->vec_path = strcat3(path, ".vectors.tmp");
    if (!w->path || !w->vec_path || fr_hindex_init(&w->by_id, 512, writer_key, w)) {
        writer_free(w);
        return fr_fail(FR_ERR_NOMEM, err, errcap, "store: out of memory");
    }
    w->vec = fopen(w->vec_path, "w+b");
    if (!w->vec) {
        fr_status rc = fr_fail(FR_ERR_IO, err, errcap, "%s: cannot create: %s", w->vec_path, strerror(errno));
        free(w->vec_path);
        w->vec_path = NULL;
        writer_free(w);
        return rc;
    }
    *out = w;
    return FR_OK;
}

fr_status fr_store_writer_add(fr_store_writer *w, const char *id, size_t id_len, const float *vec, const char *text,
                              size_t text_len, char *err, size_t errcap) {
    if (id_len == 0 || id_len > FR_STORE_MAX_ID) return fr_fail(FR_ERR_ARG, err, errcap, "store: id '%.*s' must be 1..%d bytes", (int)(id_len > 40 ? 40 : id_len), id, FR_STORE_MAX_ID);
    if (w->count >= 0xFFFFFFF0u) return fr_fail(FR_ERR_ARG, err, errcap, "store: too many items");
    for (int i = 0; i < w->dim; i++)
        if (!(vec[i] == vec[i]) || vec[i] > 3.4e38f || vec[i] < -3.4e38f) return fr_fail(FR_ERR_ARG, err, errcap, "store: item '%.*s' has a non-finite vector", (int)id_len, id);
    const int64_t first = fr_hindex_find(&w->by_id, id, id_len);
    if (first >= 0) return fr_fail(FR_ERR_ARG, err, errcap, "store: duplicate id '%.*s' (first seen as item %llu)", (int)id_len, id, (unsigned long long)first);
    if (blob_push(&w->ids, id, id_len) || (w->with_texts && blob_push(&w->texts, text ? text : "", text ? text_len : 0)) ||
        fr_hindex_put(&w->by_id, id, id_len, (uint32_t)w->count) != -1)
        return fr_fail(FR_ERR_NOMEM, err, errcap, "store: out of memory");
    w->count++;
    size_t ok;
    if (w->dtype == FR_STORE_F32) {
        ok = fwrite(vec, sizeof(float), (size_t)w->dim, w->vec) == (size_t)w->dim;
    } else {
        uint16_t h[512];
        ok = 1;
        for (int d0 = 0; d0 < w->dim && ok; d0 += 512) {
            int n = w->dim - d0 < 512 ? w->dim - d0 : 512;
            for (int d = 0; d < n; d++) h[d] = fr_f32_to_f16(vec[d0 + d]);
            ok = fwrite(h, 2, (size_t)n, w->vec) == (size_t)n;
        }
    }
    if (!ok) return fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", w->vec_path, strerror(errno));
    return FR_OK;
}

/* Writes n bytes at the current position, hashing as it goes. */
static int put(FILE *f, const void *p, size_t n, uint64_t *h, int hashing) {
    if (hashing) *h = fr_hash64(p, n, *h);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int pad_to(FILE *f, uint64_t *pos) {
    static const char zeros[ALIGN] = {0};
    uint64_t pad = (ALIGN - *pos % ALIGN) % ALIGN;
    *pos += pad;
    return fwrite(zeros, 1, pad, f) == pad ? 0 : -1;
}

fr_status fr_store_writer_finish(fr_store_writer *w, char *err, size_t errcap) {
    fr_status rc = FR_OK;
    fr_atomic_file out = {0};
    FILE *f = NULL;
    if (fflush(w->vec) != 0) {
        rc = fr_fail(FR_ERR_IO, err, errcap, "%s: write failed", w->vec_path);
        goto done;
    }
    if (w->count == 0) {
        w->ids.off = calloc(1, 8);
        w->texts.off = calloc(1, 8);
        if (!w->ids.off || !w->texts.off) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "store: out of memory");
            goto done;
        }
    }
    if ((rc = fr_atomic_open(&out, w->path, err, errcap))) goto done;
    f = out.f;
    /* Sections are written first at their final offsets; the header and table last, once their
     * checksums are known: a crash leaves a file whose header does not validate. */
    uint32_t nsec = w->with_texts ? 3 : 2;
    uint8_t header[HEADER_SIZE] = {0}, table[3 * ENTRY_SIZE] = {0};
    uint64_t pos = HEADER_SIZE + nsec * ENTRY_SIZE;
    if (fseek(f, (long)pos, SEEK_SET) != 0) goto io;
    const growing_blob *blobs[2] = {&w->ids, &w->texts};
    uint32_t kinds[3] = {SEC_IDS, SEC_VECTORS, SEC_TEXTS};
    for (uint32_t s = 0; s < nsec; s++) {
        if (pad_to(f, &pos)) goto io;
        uint64_t start = pos, h = 0, size;
        if (kinds[s] == SEC_VECTORS) {
            size = w->count * (uint64_t)w->dim * (w->dtype == FR_STORE_F32 ? 4 : 2);
            /* the reader hashes the section in one call, so hash it whole from the mapped file */
            void *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fileno(w->vec), 0) : NULL;
            if (size && m == MAP_FAILED) {
                rc = fr_fail(FR_ERR_IO, err, errcap, "%s: mmap failed: %s", w->vec_path, strerror(errno));
                goto done;
            }
            h = fr_hash64(m, size, 0);
            int bad = size && fwrite(m, 1, size, f) != size;
            if (m) munmap(m, size);
            if (bad) goto io;
        } else {
            const growing_blob *b = blobs[kinds[s] == SEC_TEXTS];
            size = (w->count + 1) * 8 + b->len;
            uint8_t *sec = malloc(size);
            if (!sec) {
                rc = fr_fail(FR_ERR_NOMEM, err, errcap, "store: out of memory");
                goto done;
            }
            memcpy(sec, b->off, (w->count + 1) * 8);
            if (b->len) memcpy(sec + (w->count + 1) * 8, b->bytes, b->len);
            h = fr_hash64(sec, size, 0);
            int bad = put(f, sec, size, &h, 0);
            free(sec);
            if (bad) goto io;
        }
        pos += size;
        uint8_t *e = table + s * ENTRY_SIZE;
        fr_wr32(e, kinds[s]);
        fr_wr64(e + 8, start);
        fr_wr64(e + 16, size);
        fr_wr64(e + 24, h);
    }
    memcpy(header, MAGIC, 8);
    fr_wr32(header + H_VERSION, VERSION);
    fr_wr32(header + H_DIM, (uint32_t)w->dim);
    fr_wr32(header + H_DTYPE, (uint32_t)w->dtype);
    fr_wr32(header + H_NSEC, nsec);
    fr_wr64(header + H_COUNT, w->count);
    fr_wr64(header + H_FP, w->fingerprint);
    fr_wr64(header + H_CREATED, (uint64_t)time(NULL));
    memcpy(header + H_NAME, w->model_name, strlen(w->model_name));
    fr_wr64(header + H_TABLE_SUM, fr_hash64(table, nsec * ENTRY_SIZE, 0));
    fr_wr64(header + H_HEADER_SUM, fr_hash64(header, H_HEADER_SUM, 0));
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(header, 1, HEADER_SIZE, f) != HEADER_SIZE ||
        fwrite(table, 1, nsec * ENTRY_SIZE, f) != nsec * ENTRY_SIZE)
        goto io;
    rc = fr_atomic_commit(&out, err, errcap); /* flush, fsync, rename into place, fsync the folder */
    goto done;
io:
    /* the stream keeps the reason of a failed write ("No space left on device") */
    if (!(rc = fr_atomic_check(&out, err, errcap))) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", w->path, strerror(errno));
done:
    fr_atomic_abort(&out); /* nothing after a commit */
    writer_free(w);
    return rc;
}

fr_status fr_store_attach(const char *path, uint32_t kind, const void *data, size_t size, char *err, size_t errcap) {
    if (kind <= SEC_TEXTS) return fr_fail(FR_ERR_ARG, err, errcap, "attach: section kind %u is a core section", kind);
    fr_store *st = NULL;
    fr_status rc = fr_store_open(path, 0, 1, &st, err, errcap);
    if (rc) return rc;
    const uint8_t *buf = st->map;
    uint32_t nsec_in = fr_rd32(buf + H_NSEC), nsec = 0;
    uint8_t header[HEADER_SIZE], table[MAX_SECTIONS * ENTRY_SIZE] = {0};
    memcpy(header, buf, HEADER_SIZE);
    const uint8_t *src[MAX_SECTIONS];
    uint64_t src_size[MAX_SECTIONS];
    uint32_t kinds[MAX_SECTIONS];
    for (uint32_t i = 0; i < nsec_in; i++) {
        const uint8_t *e = buf + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
        if (fr_rd32(e) == kind) continue;
        kinds[nsec] = fr_rd32(e);
        src[nsec] = buf + fr_rd64(e + 8);
        src_size[nsec] = fr_rd64(e + 16);
        nsec++;
    }
    if (nsec >= MAX_SECTIONS) {
        fr_store_close(st);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: too many sections", path);
    }
    if (data) { /* NULL: the section is removed */
        kinds[nsec] = kind;
        src[nsec] = data;
        src_size[nsec] = size;
        nsec++;
    }
    fr_atomic_file out = {0};
    if ((rc = fr_atomic_open(&out, path, err, errcap))) goto done;
    FILE *f = out.f;
    uint64_t pos = HEADER_SIZE + (uint64_t)nsec * ENTRY_SIZE;
    if (fseek(f, (long)pos, SEEK_SET) != 0) goto io;
    for (uint32_t i = 0; i < nsec; i++) {
        if (pad_to(f, &pos)) goto io;
        uint8_t *e = table + i * ENTRY_SIZE;
        fr_wr32(e, kinds[i]);
        fr_wr64(e + 8, pos);
        fr_wr64(e + 16, src_size[i]);
        fr_wr64(e + 24, fr_hash64(src[i], (size_t)src_size[i], 0));
        if (src_size[i] && fwrite(src[i], 1, (size_t)src_size[i], f) != src_size[i]) goto io;
        pos += src_size[i];
    }
    fr_wr32(header + H_NSEC, nsec);
    fr_wr64(header + H_TABLE_SUM, fr_hash64(table, (size_t)nsec * ENTRY_SIZE, 0));
    fr_wr64(header + H_HEADER_SUM, fr_hash64(header, H_HEADER_SUM, 0));
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(header, 1, HEADER_SIZE, f) != HEADER_SIZE ||
        fwrite(table, 1, (size_t)nsec * ENTRY_SIZE, f) != (size_t)nsec * ENTRY_SIZE)
        goto io;
    rc = fr_atomic_commit(&out, err, errcap);
    goto done;
io:
    if (!(rc = fr_atomic_check(&out, err, errcap))) rc = fr_fail(FR_ERR_IO, err, errcap, "%s: write failed: %s", path, strerror(errno));
done:
    fr_atomic_abort(&out);
    fr_store_close(st);
    return rc;
}

fr_status fr_store_merge(const char *const *inputs, int n, const char *out_path, char *err, size_t errcap) {
    if (n < 1) return fr_fail(FR_ERR_ARG, err, errcap, "merge: no input stores");
    fr_store **in = calloc((size_t)n, sizeof *in);
    if (!in) return fr_fail(FR_ERR_NOMEM, err, errcap, "merge: out of memory");
    fr_status rc = FR_OK;
    fr_store_writer *w = NULL;
    float *v = NULL;
    for (int i = 0; i < n && !rc; i++) rc = fr_store_open(inputs[i], 0, 0, &in[i], err, errcap);
    for (int i = 1; i < n && !rc; i++) {
        const fr_store_info *a = &in[0]->info, *b = &in[i]->info;
        if (a->model_fingerprint != b->model_fingerprint || a->dim != b->dim || a->dtype != b->dtype || a->has_texts != b->has_texts)
            rc = fr_fail(FR_ERR_ARG, err, errcap, "merge: %s and %s differ in model, dimension, dtype or texts", inputs[0], inputs[i]);
    }
    if (!rc) {
        const fr_store_info *a = &in[0]->info;
        rc = fr_store_writer_open(out_path, a->dim, a->dtype, a->model_name, a->model_fingerprint, a->has_texts, &w, err, errcap);
        v = malloc(sizeof(float) * (size_t)a->dim);
        if (!rc && !v) rc = fr_fail(FR_ERR_NOMEM, err, errcap, "merge: out of memory");
    }
    for (int i = 0; i < n && !rc; i++)
        for (uint64_t r = 0; r < in[i]->info.count && !rc; r++) {
            size_t il, tl = 0;
            const char *id = fr_store_id(in[i], r, &il);
            const char *text = fr_store_text(in[i], r, &tl);
            fr_store_vector(in[i], r, v);
            rc = fr_store_writer_add(w, id, il, v, text, tl, err, errcap);
            if (rc == FR_ERR_ARG && strstr(err, "duplicate")) {
                size_t l = strlen(err);
                snprintf(err + l, errcap > l ? errcap - l : 0, " (in %s)", inputs[i]);
            }
        }
    if (w) {
        if (rc) fr_store_writer_abort(w);
        else rc = fr_store_writer_finish(w, err, errcap);
    }
    free(v);
    for (int i = 0; i < n; i++) fr_store_close(in[i]);
    free(in);
    return rc;
}

/* safetensors.c - validated loader for the safetensors format.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data buffer.
 * The header maps tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative
 * to the data buffer) plus an optional "__metadata__" object. We trust nothing: the header
 * length, each offset pair, each shape product and their overlaps are checked before use. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a weight file we want to parse (upstream uses 100 MB). */
#define FR_ST_MAX_HEADER (100u * 1024u * 1024u)

struct fr_safetensors {
    void *map; /* NULL when parsing a caller's buffer */
    size_t map_len;
    const uint8_t *image;
    size_t image_len;
    fr_tensor *tensors;
    size_t count;
    char *names; /* all names, NUL separated */
};

static const struct {
    const char *name;
    fr_dtype dt;
    size_t size;
} dtype_table[] = {
    {"F32", FR_DT_F32, 4},
    {"F16", FR_DT_F16, 2},
    {"BF16", FR_DT_BF16, 2},
    {"F64", FR_DT_F64, 8},
    {"I64", FR_DT_I64, 8},
    {"I32", FR_DT_I32, 4},
    {"I16", FR_DT_I16, 2},
    {"I8", FR_DT_I8, 1},
    {"U8", FR_DT_U8, 1},
    {"BOOL", FR_DT_BOOL, 1},
};

const char *fr_dtype_name(fr_dtype dt) {
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dt == dt) return dtype_table[i].name;
    return "?";
}

float fr_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float fr_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t fr_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* may carry into exp: correct */
    return (uint16_t)half;
}

void fr_st_close(fr_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    free(st->tensors);
    free(st->names);
    free(st);
}

static int cmp_by_offset(const void *a, const void *b) {
    const fr_tensor *x = a, *y = b;
    const uint8_t *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

/* A JSON number that is an exact non-negative integer that fits in int64 (and in a double). */
static int json_uint(const cJSON *n, int64_t *out) {
    if (!cJSON_IsNumber(n)) return 0;
    double v = n->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || floor(v) != v) return 0;
    *out = (int64_t)v;
    return 1;
}

fr_status fr_st_parse(const uint8_t *buf, size_t len, const char *label, fr_safetensors **out,
                      char *err, size_t errcap) {
    *out = NULL;
    if (len < 8) return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: file is %zu bytes, too short for a safetensors header", label, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen < 2 || hlen > FR_ST_MAX_HEADER || hlen > len - 8)
        return fr_fail(FR_ERR_FORMAT, err, errcap,
                       "%s: header length %llu is invalid for a file of %zu bytes", label,
                       (unsigned long long)hlen, len);
    const uint8_t *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;

    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: header is not a JSON object", label);
    }
    fr_status rc = FR_OK;
    fr_safetensors *st = calloc(1, sizeof *st);
    size_t n = 0, names_len = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) continue;
        n++;
        names_len += strlen(item->string) + 1;
    }
    if (!st || !(st->tensors = calloc(n ? n : 1, sizeof *st->tensors)) ||
        !(st->names = malloc(names_len ? names_len : 1))) {
        rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory for %zu tensor entries", label, n);
        goto done;
    }
    char *name_cursor = st->names;
    cJSON_ArrayForEach(item, root) {
        const char *name = item->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(item)) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: __metadata__ is not an object", label);
                goto done;
            }
            continue;
        }
        fr_tensor *t = &st->tensors[st->count];
        size_t nl = strlen(name) + 1;
        memcpy(name_cursor, name, nl);
        t->name = name_cursor;
        name_cursor += nl;
        if (!cJSON_IsObject(item)) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': entry is not an object", label, name);
            goto done;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': needs string dtype, array shape and array data_offsets", label, name);
            goto done;
        }
        size_t esize = 0;
        for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
            if (strcmp(dt->valuestring, dtype_table[i].name) == 0) {
                t->dtype = dtype_table[i].dt;
                esize = dtype_table[i].size;
            }
        if (!esize) {
            rc = fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "%s: tensor '%s': unsupported dtype '%.16s'", label, name, dt->valuestring);
            goto done;
        }
        int nd = cJSON_GetArraySize(shape);
        if (nd > FR_ST_MAX_DIMS) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': %d dims (max %d)", label, name, nd, FR_ST_MAX_DIMS);
            goto done;
        }
        t->ndim = nd;
        int64_t numel = 1;
        for (int d = 0; d < nd; d++) {
            int64_t v;
            if (!json_uint(cJSON_GetArrayItem(shape, d), &v)) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': shape[%d] is not a non-negative integer", label, name, d);
                goto done;
            }
            t->shape[d] = v;
            if (v != 0 && numel > INT64_MAX / 8 / v) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': shape overflows", label, name);
                goto done;
            }
            numel *= v;
        }
        int64_t b, e;
        if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), &b) ||
            !json_uint(cJSON_GetArrayItem(offs, 1), &e) || b > e) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end", label, name);
            goto done;
        }
        if ((uint64_t)e > data_len) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': data ends at byte %lld but the data section has only %zu bytes (truncated file?)", label, name, (long long)e, data_len);
            goto done;
        }
        if ((uint64_t)(e - b) != (uint64_t)numel * esize) {
            rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensor '%s': %lld bytes stored but shape x dtype needs %lld", label, name, (long long)(e - b), (long long)(numel * (int64_t)esize));
            goto done;
        }
        t->numel = numel;
        t->nbytes = (size_t)(e - b);
        t->data = data + b;
        st->count++;
    }
    /* Tensors must not overlap (a crafted header could alias one tensor's bytes as another's). */
    if (st->count > 1) {
        fr_tensor *sorted = malloc(st->count * sizeof *sorted);
        if (!sorted) {
            rc = fr_fail(FR_ERR_NOMEM, err, errcap, "%s: out of memory", label);
            goto done;
        }
        memcpy(sorted, st->tensors, st->count * sizeof *sorted);
        qsort(sorted, st->count, sizeof *sorted, cmp_by_offset);
        for (size_t i = 1; i < st->count; i++) {
            const uint8_t *prev_end = (const uint8_t *)sorted[i - 1].data + sorted[i - 1].nbytes;
            if ((const uint8_t *)sorted[i].data < prev_end) {
                rc = fr_fail(FR_ERR_FORMAT, err, errcap, "%s: tensors '%s' and '%s' overlap", label, sorted[i - 1].name, sorted[i].name);
                free(sorted);
                goto done;
            }
        }
        free(sorted);
    }
done:
    cJSON_Delete(root);
    if (rc != FR_OK) {
        fr_st_close(st);
        return rc;
    }
    st->image = buf;
    st->image_len = len;
    *out = st;
    return FR_OK;
}

const uint8_t *fr_st_image(const fr_safetensors *st, size_t *len) {
    *len = st->image_len;
    return st->image;
}

fr_status fr_st_open(const char *path, fr_safetensors **out, char *err, size_t errcap) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fr_fail(FR_ERR_IO, err, errcap, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fr_fail(FR_ERR_IO, err, errcap, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "%s: file is %zu bytes, too short for a safetensors header", path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return fr_fail(FR_ERR_IO, err, errcap, "%s: mmap failed: %s", path, strerror(errno));
    fr_safetensors *st;
    fr_status rc = fr_st_parse(map, len, path, &st, err, errcap);
    if (rc != FR_OK) {
        munmap(map, len);
        return rc;
    }
    st->map = map;
    st->map_len = len;
    *out = st;
    return FR_OK;
}

size_t fr_st_count(const fr_safetensors *st) { return st->count; }
const fr_tensor *fr_st_at(const fr_safetensors *st, size_t i) { return i < st->count ? &st->tensors[i] : NULL; }

const fr_tensor *fr_st_find(const fr_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

fr_status fr_st_read_f32(const fr_safetensors *st, const char *name, int ndim, const int64_t *shape,
                         float *out, char *err, size_t errcap) {
    const fr_tensor *t = fr_st_find(st, name);
    if (!t) return fr_fail(FR_ERR_NOT_FOUND, err, errcap, "weights: tensor '%s' is missing", name);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int d = 0; d < ndim; d++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "", (long long)shape[d]);
        for (int d = 0; d < t->ndim; d++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        return fr_fail(FR_ERR_FORMAT, err, errcap, "weights: tensor '%s' has shape [%s], config implies [%s]", name, got, want);
    }
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case FR_DT_F32: memcpy(out, p, t->nbytes); break;
    case FR_DT_F16:
        for (int64_t i = 0; i < t->numel; i++) out[i] = fr_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case FR_DT_BF16:
        for (int64_t i = 0; i < t->numel; i++) out[i] = fr_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case FR_DT_F64:
        for (int64_t i = 0; i < t->numel; i++) {
            double v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    default:
        return fr_fail(FR_ERR_UNSUPPORTED, err, errcap, "weights: tensor '%s' has dtype %s, expected a float type", name, fr_dtype_name(t->dtype));
    }
    return FR_OK;
}

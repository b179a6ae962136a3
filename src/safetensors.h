/* safetensors.h - read-only, validated access to a .safetensors weight file.
 *
 * The file is memory-mapped; its JSON header is parsed and every tensor's dtype, shape and
 * byte range is checked against the file size before any tensor data is handed out. */
#ifndef FR_SAFETENSORS_H
#define FR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum {
    FR_DT_F32,
    FR_DT_F16,
    FR_DT_BF16,
    FR_DT_F64,
    FR_DT_I64,
    FR_DT_I32,
    FR_DT_I16,
    FR_DT_I8,
    FR_DT_U8,
    FR_DT_BOOL
} fr_dtype;

#define FR_ST_MAX_DIMS 8

typedef struct {
    const char *name; /* owned by the fr_safetensors */
    fr_dtype dtype;
    int ndim;
    int64_t shape[FR_ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data; /* points into the mapped file */
} fr_tensor;

typedef struct fr_safetensors fr_safetensors;

/* Maps and validates path. On failure *out is NULL and err names the file and the problem. */
fr_status fr_st_open(const char *path, fr_safetensors **out, char *err, size_t errcap);

/* Validates an in-memory image of a safetensors file (not copied: buf must outlive *out).
 * `label` names the source in messages. Used by fr_st_open and by the fuzz target. */
fr_status fr_st_parse(const uint8_t *buf, size_t len, const char *label, fr_safetensors **out,
                      char *err, size_t errcap);

void fr_st_close(fr_safetensors *st);

/* The whole file image (header + data) and its length. */
const uint8_t *fr_st_image(const fr_safetensors *st, size_t *len);

size_t fr_st_count(const fr_safetensors *st);
const fr_tensor *fr_st_at(const fr_safetensors *st, size_t i);
const fr_tensor *fr_st_find(const fr_safetensors *st, const char *name);

/* Copies tensor `name` into out as float32, converting F16/BF16/F64. The tensor must exist and
 * have exactly the expected shape (ndim dims); the message says which tensor and what differed. */
fr_status fr_st_read_f32(const fr_safetensors *st, const char *name, int ndim, const int64_t *shape,
                         float *out, char *err, size_t errcap);

const char *fr_dtype_name(fr_dtype dt);

/* IEEE half / bfloat16 -> float. */
float fr_f16_to_f32(uint16_t h);
float fr_bf16_to_f32(uint16_t h);
uint16_t fr_f32_to_f16(float f);

#endif

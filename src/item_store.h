/* item_store.h - the catalogue's vectors on disk: ids, vectors and (optionally) item texts,
 * written once by `feedrank index` and memory-mapped by every reader.
 *
 * File layout (little-endian), version 1:
 *   [0, 256)        header: magic "FRSTORE1", version, dim, dtype, section count, item count,
 *                   model name + fingerprint, creation time, checksums of header and table
 *   [256, ...)      section table: {kind, offset, size, checksum} per section
 *   sections        64-byte aligned: IDS (u64 offsets[count+1] + bytes), VECTORS (count x dim,
 *                   f32 or f16), TEXTS (like IDS; optional). Unknown kinds are skipped, so later
 *                   versions can add sections (e.g. log-derived priors) without breaking readers.
 * Every size, offset and checksum is validated at open; ids must be unique. */
#ifndef FR_ITEM_STORE_H
#define FR_ITEM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FR_STORE_MAX_ID 128 /* bytes */

typedef enum { FR_STORE_F32 = 0,
               FR_STORE_F16 = 1 } fr_store_dtype;

typedef struct fr_store fr_store;

typedef struct {
    int dim;
    fr_store_dtype dtype;
    uint64_t count;
    char model_name[128];
    uint64_t model_fingerprint;
    uint64_t created_unix;
    uint64_t content_hash; /* identifies this store's contents (reported as its version) */
    int has_texts;
} fr_store_info;

/* Opens and fully validates path. expected_fingerprint != 0 refuses a store built by another
 * model (FR_ERR_VERIFY) unless force. */
fr_status fr_store_open(const char *path, uint64_t expected_fingerprint, int force, fr_store **out,
                        char *err, size_t errcap);
/* Like fr_store_open, but reads the file into private memory first: the store then never
 * depends on the file again, so truncating or overwriting the file in place cannot crash a
 * long-running reader or change what it serves (the server's way; see fr_store_file_id). */
fr_status fr_store_load(const char *path, uint64_t expected_fingerprint, int force, fr_store **out,
                        char *err, size_t errcap);

/* A file's identity: when any field differs, the file was replaced or rewritten. */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
} fr_file_id;
fr_status fr_file_id_get(const char *path, fr_file_id *id, char *err, size_t errcap);
int fr_file_id_equal(const fr_file_id *a, const fr_file_id *b);
/* The identity of the file s was read from, as it was when read. */
const fr_file_id *fr_store_file_id(const fr_store *s);

/* Validates an in-memory image (used by fr_store_open and the fuzz target). buf must outlive *out. */
fr_status fr_store_parse(const uint8_t *buf, size_t len, const char *label, fr_store **out, char *err,
                         size_t errcap);
void fr_store_close(fr_store *s);

const fr_store_info *fr_store_info_of(const fr_store *s);
/* Row of id (len bytes), or -1. O(1) average. */
int64_t fr_store_find(const fr_store *s, const char *id, size_t len);
/* The id of row (not NUL-terminated; *len set). */
const char *fr_store_id(const fr_store *s, uint64_t row, size_t *len);
/* The text of row, or NULL when the store has no texts. */
const char *fr_store_text(const fr_store *s, uint64_t row, size_t *len);
/* Copies row's vector into out[dim] as float32. */
void fr_store_vector(const fr_store *s, uint64_t row, float *out);
/* Pointer to the f32 vectors [count, dim], or NULL for an f16 store. */
const float *fr_store_vectors_f32(const fr_store *s);

/* ---- writing ---- */
typedef struct fr_store_writer fr_store_writer;

/* Starts a store at path (written to path.tmp, renamed into place by finish). */
fr_status fr_store_writer_open(const char *path, int dim, fr_store_dtype dtype, const char *model_name,
                               uint64_t model_fingerprint, int with_texts, fr_store_writer **out,
                               char *err, size_t errcap);
/* Adds one item; a duplicate or invalid id is an error naming it. text may be NULL. */
fr_status fr_store_writer_add(fr_store_writer *w, const char *id, size_t id_len, const float *vec,
                              const char *text, size_t text_len, char *err, size_t errcap);
/* Writes header, table and sections, fsyncs, renames. Frees w whatever the outcome. */
fr_status fr_store_writer_finish(fr_store_writer *w, char *err, size_t errcap);
/* Abandons the store (removes the temporary file). */
void fr_store_writer_abort(fr_store_writer *w);

/* Joins stores (same model, dim, dtype; ids unique across them) into out_path. */
/* Section kinds beyond the core ones (IDS 1, VECTORS 2, TEXTS 3). */
#define FR_STORE_SECTION_PRIORS 4u   /* log-derived priors (src/priors.h) */
#define FR_STORE_SECTION_SEQMODEL 5u /* a trained sequential model (src/seqmodel_store.h) */

/* Row maps (old row -> new row, as a compaction moves rows: fr_priors_remap, fr_seq_section_remap):
 * the entry of an old row that has no new row (its item was deleted). */
#define FR_ROW_DELETED (-1)

/* The checksum-verified bytes of the section of `kind`, if the store has one (1), else 0. */
int fr_store_section(const fr_store *s, uint32_t kind, const uint8_t **data, uint64_t *size);

/* Rewrites the store at path with section `kind` set to data[size] (replacing one of that kind),
 * every other section kept; atomic (temporary file + rename). Not for the core kinds. data NULL:
 * the section of `kind` is removed. */
fr_status fr_store_attach(const char *path, uint32_t kind, const void *data, size_t size, char *err, size_t errcap);

fr_status fr_store_merge(const char *const *inputs, int n, const char *out_path, char *err, size_t errcap);

#endif

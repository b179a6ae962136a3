/* test_safetensors.c - the safetensors loader: values and dtypes, and every way a header or
 * file can be wrong (each must give an error naming the problem, never a crash). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "safetensors.h"
#include "test_util.h"

/* Builds header JSON + data into a malloc'd file image. */
static uint8_t *image(const char *header, const void *data, size_t dlen, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    return b;
}

static fr_status parse(const char *header, const void *data, size_t dlen, char *err, size_t errcap) {
    size_t len;
    uint8_t *b = image(header, data, dlen, &len);
    fr_safetensors *st;
    fr_status rc = fr_st_parse(b, len, "mem.safetensors", &st, err, errcap);
    if (rc == FR_OK) fr_st_close(st);
    free(b);
    return rc;
}

static void test_values(void) {
    float f32[3] = {1.5f, -2.0f, 3.25f};
    uint16_t f16[2] = {0x3C00 /* 1.0 */, 0xC000 /* -2.0 */};
    uint16_t bf16[2] = {0x3F80 /* 1.0 */, 0x4040 /* 3.0 */};
    uint8_t data[12 + 4 + 4];
    memcpy(data, f32, 12);
    memcpy(data + 12, f16, 4);
    memcpy(data + 16, bf16, 4);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[12,16]},"
                      "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]}}";
    size_t len;
    uint8_t *b = image(hdr, data, sizeof data, &len);
    fr_safetensors *st;
    char err[512];
    fr_status rc = fr_st_parse(b, len, "mem", &st, err, sizeof err);
    CHECK(rc == FR_OK, "valid file rejected: %s", err);
    if (rc == FR_OK) {
        CHECK(fr_st_count(st) == 3, "count %zu", fr_st_count(st));
        float out[3];
        int64_t s3[1] = {3}, s12[2] = {1, 2}, s2[1] = {2};
        CHECK(fr_st_read_f32(st, "a", 1, s3, out, err, sizeof err) == FR_OK && out[0] == 1.5f && out[2] == 3.25f, "F32 read");
        CHECK(fr_st_read_f32(st, "b", 2, s12, out, err, sizeof err) == FR_OK && out[0] == 1.0f && out[1] == -2.0f, "F16 read");
        CHECK(fr_st_read_f32(st, "c", 1, s2, out, err, sizeof err) == FR_OK && out[0] == 1.0f && out[1] == 3.0f, "BF16 read");
        CHECK(fr_st_read_f32(st, "a", 1, s2, out, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "'a'"), "shape mismatch: %s", err);
        CHECK(fr_st_read_f32(st, "zz", 1, s2, out, err, sizeof err) == FR_ERR_NOT_FOUND && strstr(err, "'zz'"), "missing tensor: %s", err);
        fr_st_close(st);
    }
    free(b);
}

static void test_half_conversions(void) {
    CHECK(fr_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest f16 subnormal");
    CHECK(fr_f16_to_f32(0x7BFF) == 65504.0f, "largest f16");
    CHECK(isinf(fr_f16_to_f32(0x7C00)) && isnan(fr_f16_to_f32(0x7E00)), "f16 inf/nan");
    CHECK(fr_f16_to_f32(0x8000) == 0.0f && signbit(fr_f16_to_f32(0x8000)), "f16 -0");
    /* every finite f16 survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00) continue;
        if (fr_f32_to_f16(fr_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "%d f16 values did not round-trip", bad);
    CHECK(fr_bf16_to_f32(0xBF80) == -1.0f, "bf16 -1");
}

static void test_bad_headers(void) {
    char err[512];
    uint8_t data[64] = {0};
    struct {
        const char *hdr;
        size_t dlen;
        const char *needle;
    } cases[] = {
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "needs"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "begin <= end"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unsupported dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets"},
        {"{\"a\":7}", 4, "not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dims"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflow"},
        {"{\"__metadata__\":3}", 0, "__metadata__"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        fr_status rc = parse(cases[i].hdr, data, cases[i].dlen, err, sizeof err);
        CHECK(rc != FR_OK && strstr(err, cases[i].needle) && strstr(err, "mem.safetensors"),
              "case %zu: rc %d, message '%s' lacks '%s'", i, rc, err, cases[i].needle);
    }
    /* header length field larger than the file, and a file shorter than 8 bytes */
    uint8_t tiny[12] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0};
    fr_safetensors *st;
    CHECK(fr_st_parse(tiny, sizeof tiny, "x", &st, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "header length"), "big header len: %s", err);
    CHECK(fr_st_parse(tiny, 5, "x", &st, err, sizeof err) == FR_ERR_FORMAT && strstr(err, "too short"), "short file: %s", err);
    CHECK(fr_st_open("/nonexistent/model.safetensors", &st, err, sizeof err) == FR_ERR_IO && strstr(err, "/nonexistent/model.safetensors"), "missing file: %s", err);
}

/* A real weight file cut short: the first tensor that runs past the end is named. */
static void test_truncated_real_file(void) {
    const char *path = FEEDRANK_TEST_MODEL "/model.safetensors";
    size_t len;
    char *buf = fr_test_read_file(path, &len);
    CHECK(buf != NULL, "cannot read %s (run scripts/fetch-model.sh all-MiniLM-L6-v2)", path);
    if (!buf) return;
    char tmp[] = "/tmp/fr_trunc_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    size_t keep = len - 1000;
    CHECK(write(fd, buf, keep) == (ssize_t)keep, "write");
    close(fd);
    fr_safetensors *st;
    char err[512];
    fr_status rc = fr_st_open(tmp, &st, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT && strstr(err, tmp) && strstr(err, "tensor '") && strstr(err, "truncated"), "truncated real file: %s", err);
    /* a header cut in half */
    fd = open(tmp, O_WRONLY | O_TRUNC);
    CHECK(write(fd, buf, 5000) == 5000, "write");
    close(fd);
    rc = fr_st_open(tmp, &st, err, sizeof err);
    CHECK(rc == FR_ERR_FORMAT, "half header: %s", err);
    unlink(tmp);
    /* flipping any single header byte never crashes; most are rejected */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)buf[i];
    int rejected = 0, tried = 0;
    for (uint64_t pos = 0; pos < 8 + hlen; pos += 7) {
        buf[pos] ^= 0x5A;
        if (fr_st_parse((const uint8_t *)buf, len, "flip", &st, err, sizeof err) == FR_OK) fr_st_close(st);
        else rejected++;
        buf[pos] ^= 0x5A;
        tried++;
    }
    CHECK(rejected > tried / 2, "only %d of %d header bit-flips rejected", rejected, tried);
    free(buf);
}

int main(void) {
    test_values();
    test_half_conversions();
    test_bad_headers();
    test_truncated_real_file();
    return fr_test_finish("test_safetensors");
}

/* vmath.h - branch-free float exp and GELU that the compiler can vectorize (glibc's expf/erff
 * are scalar calls that stop a loop from vectorizing; they were 15% of encoder time).
 * fr_vexpf: Cody-Waite reduction + a degree-6 polynomial (Cephes), within 2 ulp of expf for
 *           x in [-87, 88]; inputs below -87 give ~1e-38 instead of 0 (harmless in softmax).
 * fr_vgelu: 0.5 x (1 + erf(x / sqrt 2)) with erf from Abramowitz & Stegun 7.1.26
 *           (|error| <= 1.5e-7), the exact-erf GELU of transformers' "gelu" to fp32 noise. */
#ifndef FR_VMATH_H
#define FR_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float fr_vexpf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* round to nearest by adding and removing 1.5 * 2^23 (floorf would be a library call here,
     * which stops vectorization) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float fr_vgelu(float x) {
    float z = x * 0.70710678118654752f;
    float az = z < 0 ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * az);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float erf_abs = 1.0f - poly * fr_vexpf(-az * az);
    float erf = z < 0 ? -erf_abs : erf_abs;
    return 0.5f * x * (1.0f + erf);
}

#endif

// Vector math shared by the activations and the fused cell steps: e^x, sigmoid and tanh, scalar,
// AVX-512 and AVX2 (static inline, so each use compiles into its caller).
//
// e^x uses the Cephes single-precision scheme: x = n·ln 2 + r with |r| ≤ ln2/2 (ln 2 split in two
// parts for an exact reduction), e^r from a degree-6 polynomial, then scaled by 2^n through the
// exponent bits; about 1 ulp. tanh uses the Cephes odd polynomial for |x| < 0.625 (where
// 1 - 2/(e^2x + 1) would cancel) and 1 - 2/(e^2|x| + 1) above, with the sign restored.
#ifndef RECURRENT_VECMATH_H
#define RECURRENT_VECMATH_H

#include <math.h>

#define EXP_HI 88.0f  // clamped so that 2^n stays a normal float in every variant
#define EXP_LO -87.0f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f
#define T0 -5.70498872745e-3f
#define T1 2.06390887954e-2f
#define T2 -5.37397155531e-2f
#define T3 1.33314422036e-1f
#define T4 -3.33332819422e-1f

// ---- portable ----------------------------------------------------------------------------------

static inline float exp_scalar(float x) {
    x = x > EXP_HI ? EXP_HI : (x < EXP_LO ? EXP_LO : x);
    float n = floorf(x * LOG2E + 0.5f);
    float r = x - n * LN2_HI;
    r = r - n * LN2_LO;
    float z = r * r;
    float y = (((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5) * z + r + 1.0f;
    return ldexpf(y, (int)n);
}

static inline float tanh_scalar(float x) {
    float a = fabsf(x);
    if (a < 0.625f) {
        float z = x * x;
        return ((((T0 * z + T1) * z + T2) * z + T3) * z + T4) * z * x + x;
    }
    float t = 1.0f - 2.0f / (exp_scalar(2.0f * a) + 1.0f);
    return x < 0 ? -t : t;
}

#if defined(__x86_64__)
#include <immintrin.h>

// ---- AVX-512 -----------------------------------------------------------------------------------

#define AVX512 __attribute__((target("avx512f"))) static inline

// 1/d from the 14-bit estimate and one Newton step (error about 1 ulp, for d ≥ 1 as used here):
// a fraction of the cost of a division.
AVX512 __m512 recip512(__m512 d) {
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

// The vector functions take N vectors at once and apply each stage to all N before the next, so
// that N independent dependency chains are in flight: one vector's exp, reciprocal and cell update
// form a chain of about 150 cycles of latency, which out-of-order execution does not overlap on
// its own. Every lane sees the same operations whatever N is, so the results do not depend on it.
#define MAXV 12
#define EACH for (int k = 0; k < N; k++)
#define AVX512N __attribute__((target("avx512f"), always_inline)) static inline

AVX512N void exp512_n(__m512 *x, int N) {
    __m512 n[MAXV], r[MAXV], z[MAXV], y[MAXV];
    EACH x[k] = _mm512_min_ps(_mm512_max_ps(x[k], _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    EACH n[k] = _mm512_roundscale_ps(_mm512_fmadd_ps(x[k], _mm512_set1_ps(LOG2E), _mm512_set1_ps(0.5f)),
                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    EACH r[k] = _mm512_fnmadd_ps(n[k], _mm512_set1_ps(LN2_HI), x[k]);
    EACH r[k] = _mm512_fnmadd_ps(n[k], _mm512_set1_ps(LN2_LO), r[k]);
    EACH z[k] = _mm512_mul_ps(r[k], r[k]);
    EACH y[k] = _mm512_fmadd_ps(_mm512_set1_ps(P0), r[k], _mm512_set1_ps(P1));
    EACH y[k] = _mm512_fmadd_ps(y[k], r[k], _mm512_set1_ps(P2));
    EACH y[k] = _mm512_fmadd_ps(y[k], r[k], _mm512_set1_ps(P3));
    EACH y[k] = _mm512_fmadd_ps(y[k], r[k], _mm512_set1_ps(P4));
    EACH y[k] = _mm512_fmadd_ps(y[k], r[k], _mm512_set1_ps(P5));
    EACH y[k] = _mm512_add_ps(_mm512_fmadd_ps(y[k], z[k], r[k]), _mm512_set1_ps(1.0f));
    EACH x[k] = _mm512_scalef_ps(y[k], n[k]);
}

AVX512N void sigmoid512_n(__m512 *x, int N) {
    EACH x[k] = _mm512_sub_ps(_mm512_setzero_ps(), x[k]);
    exp512_n(x, N);
    EACH x[k] = recip512(_mm512_add_ps(_mm512_set1_ps(1.0f), x[k]));
}

AVX512N void tanh512_n(__m512 *x, int N) {
    __m512 z[MAXV], p[MAXV], e[MAXV];
    EACH z[k] = _mm512_mul_ps(x[k], x[k]);
    EACH e[k] = _mm512_abs_ps(x[k]);
    EACH e[k] = _mm512_add_ps(e[k], e[k]);
    exp512_n(e, N);  // e^2|x|
    EACH p[k] = _mm512_fmadd_ps(_mm512_set1_ps(T0), z[k], _mm512_set1_ps(T1));
    EACH p[k] = _mm512_fmadd_ps(p[k], z[k], _mm512_set1_ps(T2));
    EACH p[k] = _mm512_fmadd_ps(p[k], z[k], _mm512_set1_ps(T3));
    EACH p[k] = _mm512_fmadd_ps(p[k], z[k], _mm512_set1_ps(T4));
    EACH {
        const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p[k], z[k]), x[k], x[k]);
        __m512 large = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), recip512(_mm512_add_ps(e[k], _mm512_set1_ps(1.0f))),
                                        _mm512_set1_ps(1.0f));
        // Restore the sign: copy x's sign bit onto the (non-negative) result.
        large = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(large),
                                    _mm512_and_si512(_mm512_castps_si512(x[k]), _mm512_set1_epi32((int)0x80000000u))));
        const __mmask16 use_small = _mm512_cmp_ps_mask(_mm512_abs_ps(x[k]), _mm512_set1_ps(0.625f), _CMP_LT_OQ);
        x[k] = _mm512_mask_blend_ps(use_small, large, small);
    }
}

AVX512 __m512 sigmoid512(__m512 x) { sigmoid512_n(&x, 1); return x; }
AVX512 __m512 tanh512(__m512 x) { tanh512_n(&x, 1); return x; }

// ---- AVX2 + FMA --------------------------------------------------------------------------------
// The same schemes, 8 lanes, N vectors at a time; 2^n goes through the exponent bits (no scalef),
// and 1/d from the 12-bit estimate and one Newton step (about 2 ulp for d ≥ 1).

#define AVX2N __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2N __m256 recip256(__m256 d) {
    const __m256 r = _mm256_rcp_ps(d);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(1.0f)), r);
}

AVX2N void exp256_n(__m256 *x, int N) {
    __m256 n[MAXV], r[MAXV], z[MAXV], y[MAXV];
    EACH x[k] = _mm256_min_ps(_mm256_max_ps(x[k], _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    EACH n[k] = _mm256_floor_ps(_mm256_fmadd_ps(x[k], _mm256_set1_ps(LOG2E), _mm256_set1_ps(0.5f)));
    EACH r[k] = _mm256_fnmadd_ps(n[k], _mm256_set1_ps(LN2_HI), x[k]);
    EACH r[k] = _mm256_fnmadd_ps(n[k], _mm256_set1_ps(LN2_LO), r[k]);
    EACH z[k] = _mm256_mul_ps(r[k], r[k]);
    EACH y[k] = _mm256_fmadd_ps(_mm256_set1_ps(P0), r[k], _mm256_set1_ps(P1));
    EACH y[k] = _mm256_fmadd_ps(y[k], r[k], _mm256_set1_ps(P2));
    EACH y[k] = _mm256_fmadd_ps(y[k], r[k], _mm256_set1_ps(P3));
    EACH y[k] = _mm256_fmadd_ps(y[k], r[k], _mm256_set1_ps(P4));
    EACH y[k] = _mm256_fmadd_ps(y[k], r[k], _mm256_set1_ps(P5));
    EACH y[k] = _mm256_add_ps(_mm256_fmadd_ps(y[k], z[k], r[k]), _mm256_set1_ps(1.0f));
    // 2^n (n within [-126, 127] after the clamp) built in the exponent field.
    EACH x[k] = _mm256_mul_ps(y[k], _mm256_castsi256_ps(_mm256_slli_epi32(
                    _mm256_add_epi32(_mm256_cvtps_epi32(n[k]), _mm256_set1_epi32(127)), 23)));
}

AVX2N void sigmoid256_n(__m256 *x, int N) {
    EACH x[k] = _mm256_sub_ps(_mm256_setzero_ps(), x[k]);
    exp256_n(x, N);
    EACH x[k] = recip256(_mm256_add_ps(_mm256_set1_ps(1.0f), x[k]));
}

AVX2N void tanh256_n(__m256 *x, int N) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    __m256 z[MAXV], p[MAXV], e[MAXV];
    EACH z[k] = _mm256_mul_ps(x[k], x[k]);
    EACH e[k] = _mm256_andnot_ps(sign, x[k]);
    EACH e[k] = _mm256_add_ps(e[k], e[k]);
    exp256_n(e, N);  // e^2|x|
    EACH p[k] = _mm256_fmadd_ps(_mm256_set1_ps(T0), z[k], _mm256_set1_ps(T1));
    EACH p[k] = _mm256_fmadd_ps(p[k], z[k], _mm256_set1_ps(T2));
    EACH p[k] = _mm256_fmadd_ps(p[k], z[k], _mm256_set1_ps(T3));
    EACH p[k] = _mm256_fmadd_ps(p[k], z[k], _mm256_set1_ps(T4));
    EACH {
        const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p[k], z[k]), x[k], x[k]);
        __m256 large = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), recip256(_mm256_add_ps(e[k], _mm256_set1_ps(1.0f))),
                                        _mm256_set1_ps(1.0f));
        large = _mm256_or_ps(large, _mm256_and_ps(x[k], sign));  // x's sign onto the non-negative result
        x[k] = _mm256_blendv_ps(large, small, _mm256_cmp_ps(_mm256_andnot_ps(sign, x[k]), _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    }
}

// Lanes j < left (clamped to 0..8) set: the mask of a vector's first `left` units.
AVX2N __m256i lanes256(long left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 0 ? 0 : left > 8 ? 8 : left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2N __m256 sigmoid256(__m256 x) { sigmoid256_n(&x, 1); return x; }
AVX2N __m256 tanh256(__m256 x) { tanh256_n(&x, 1); return x; }
#endif

#endif

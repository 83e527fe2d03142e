// Vectorised activations over arrays: sigmoid(x) = 1 / (1 + e^-x) and tanh(x), portable,
// AVX2+FMA and AVX-512 (the math itself is in vecmath.h).
#include "_RecurrentKernels.h"
#include "vecmath.h"

static void sigmoid_scalar(float *y, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_scalar(-x[i]));
}

static void tanh_portable(float *y, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] = tanh_scalar(x[i]);
}

#if defined(__x86_64__)
#include <immintrin.h>

// ---- AVX-512 -----------------------------------------------------------------------------------

__attribute__((target("avx512f"))) static void sigmoid_avx512(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(y + i, sigmoid512(v));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, sigmoid512(v));
    }
}

__attribute__((target("avx512f"))) static void tanh_avx512(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, tanh512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, tanh512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

// ---- AVX2 + FMA --------------------------------------------------------------------------------

#define AVX2 __attribute__((target("avx2,fma"))) static inline

// 1/d from the 12-bit estimate and one Newton step (about 2 ulp for d ≥ 1).
AVX2 __m256 recip256(__m256 d) {
    const __m256 r = _mm256_rcp_ps(d);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(1.0f)), r);
}

AVX2 __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(LOG2E), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 z = _mm256_mul_ps(r, r);
    __m256 y = _mm256_set1_ps(P0);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(P1));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(P2));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(P3));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(P4));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(P5));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, z, r), _mm256_set1_ps(1.0f));
    // 2^n through the exponent bits (n is within [-127, 128] after the clamp).
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 __m256 tanh256(__m256 x) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 a = _mm256_andnot_ps(sign, x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(T0);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T1));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T2));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T3));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T4));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    const __m256 e = exp256(_mm256_add_ps(a, a));
    __m256 large = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), recip256(_mm256_add_ps(e, _mm256_set1_ps(1.0f))), _mm256_set1_ps(1.0f));
    large = _mm256_or_ps(large, _mm256_and_ps(x, sign));
    return _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

__attribute__((target("avx2,fma"))) static void sigmoid_avx2(float *y, const float *x, long n) {
    long i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, recip256(_mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v)))));
    }
    sigmoid_scalar(y + i, x + i, n - i);
}

__attribute__((target("avx2,fma"))) static void tanh_avx2(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh256(_mm256_loadu_ps(x + i)));
    tanh_portable(y + i, x + i, n - i);
}
#endif

void rk_sigmoid(float *y, const float *x, long n, rk_isa isa) {
    switch (rk_supported_isa(isa)) {
#if defined(__x86_64__)
    case RK_ISA_AVX512: sigmoid_avx512(y, x, n); return;
    case RK_ISA_AVX2: sigmoid_avx2(y, x, n); return;
#endif
    default: sigmoid_scalar(y, x, n); return;
    }
}

void rk_tanh(float *y, const float *x, long n, rk_isa isa) {
    switch (rk_supported_isa(isa)) {
#if defined(__x86_64__)
    case RK_ISA_AVX512: tanh_avx512(y, x, n); return;
    case RK_ISA_AVX2: tanh_avx2(y, x, n); return;
#endif
    default: tanh_portable(y, x, n); return;
    }
}

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

__attribute__((target("avx2,fma"))) static void sigmoid_avx2(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sigmoid256(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = lanes256(n - i);
        _mm256_maskstore_ps(y + i, m, sigmoid256(_mm256_maskload_ps(x + i, m)));
    }
}

__attribute__((target("avx2,fma"))) static void tanh_avx2(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh256(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = lanes256(n - i);
        _mm256_maskstore_ps(y + i, m, tanh256(_mm256_maskload_ps(x + i, m)));
    }
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

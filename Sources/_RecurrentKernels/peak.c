// The fused multiply-add ceiling of one core: twelve independent accumulators updated in registers
// only (no loads or stores), enough to cover the FMA latency on every current x86 and Arm core.
// The number it gives is the bound no product, ours or a peer's, can exceed.
#include "_RecurrentKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define FMA12(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)

__attribute__((target("avx512f"))) static double peak_avx512(long iterations, float *sink) {
    const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(-0.0000001f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    FMA12(DECL)
    for (long k = 0; k < iterations; k++) { FMA12(STEP) }
    __m512 s = _mm512_setzero_ps();
    FMA12(SUM)
    *sink = _mm512_reduce_add_ps(s);
    return 12.0 * 16 * 2 * (double)iterations;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static double peak_avx2(long iterations, float *sink) {
    const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(-0.0000001f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    FMA12(DECL)
    for (long k = 0; k < iterations; k++) { FMA12(STEP) }
    __m256 s = _mm256_setzero_ps();
    FMA12(SUM)
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
    return 12.0 * 8 * 2 * (double)iterations;
#undef DECL
#undef STEP
#undef SUM
}
#endif

// Portable: 12 scalar chains (the compiler may vectorise them; the flop count stays the same).
static double peak_scalar(long iterations, float *sink) {
    float a[12];
    for (int i = 0; i < 12; i++) a[i] = (float)i;
    for (long k = 0; k < iterations; k++) {
        for (int i = 0; i < 12; i++) a[i] = a[i] * 1.0000001f - 0.0000001f;
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += a[i];
    *sink = s;
    return 12.0 * 2 * (double)iterations;
}

double rk_fma_peak(long iterations, rk_isa isa, float *sink) {
    switch (rk_supported_isa(isa)) {
#if defined(__x86_64__)
    case RK_ISA_AVX512: return peak_avx512(iterations, sink);
    case RK_ISA_AVX2: return peak_avx2(iterations, sink);
#endif
    default: return peak_scalar(iterations, sink);
    }
}

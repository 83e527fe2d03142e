// The fused pointwise steps of cells.c for AVX2+FMA: the same operations on 8 lanes, N vectors of
// units at a time. Whole vectors use plain loads and stores; the last, partial vector of a range
// of units uses masked ones, so that every unit goes through the same vector math wherever a
// thread's range of units begins or ends (threads never change a result).
#include "kernels.h"
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
#define AVX2_FN __attribute__((target("avx2,fma")))

// A vector of 8 units at p: whole (`masked` = 0) or its lanes in m only.
#define LOAD8(p) (masked ? _mm256_maskload_ps((p), m) : _mm256_loadu_ps(p))
#define STORE8(p, v) (masked ? _mm256_maskstore_ps((p), m, (v)) : _mm256_storeu_ps((p), (v)))

// A store to the training cache: around the caches when streamed and a whole aligned vector (see
// store_cache512 in cells.c); the caller ends the step with `_mm_sfence`.
AVX2_INLINE void store_cache256(float *p, __m256i m, int masked, __m256 v, int stream) {
    if (stream && !masked && ((unsigned long)p & 31) == 0) _mm256_stream_ps(p, v);
    else STORE8(p, v);
}

// The units of a range [u0, u1): nv vectors at a time, then single vectors, the last one masked.
// `UNITS(j, m, masked, nv)` is the body for the vectors from unit j on.
#define FOR_UNITS(u0, u1, nv, UNITS) { \
        long j = (u0); \
        for (; j + 8 * (nv) <= (u1); j += 8 * (nv)) UNITS(j, _mm256_setzero_si256(), 0, nv) \
        for (; j + 8 <= (u1); j += 8) UNITS(j, _mm256_setzero_si256(), 0, 1) \
        if (j < (u1)) UNITS(j, lanes256((u1) - j), 1, 1) \
    }

// ---- Writing histories around the caches ------------------------------------------------------

AVX2_FN void rk_copy_stream_avx2(float *dst, const float *src, long n) {
    long i = 0;
    for (; i < n && ((unsigned long)(dst + i) & 31); i++) dst[i] = src[i];  // up to the first aligned vector
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}

// ---- Elman -------------------------------------------------------------------------------------

// h = k = act(x + r) for nv vectors from unit j; max(0, a) returns a when a is NaN (as PyTorch's relu).
AVX2_INLINE void elman_units(float *h, float *k, const float *x, const float *r, long j, __m256i m, int masked, int relu,
                             const int nv) {
    __m256 a[MAXV];
    for (int v = 0; v < nv; v++) a[v] = _mm256_add_ps(LOAD8(x + j + 8 * v), LOAD8(r + j + 8 * v));
    if (relu) { for (int v = 0; v < nv; v++) a[v] = _mm256_max_ps(_mm256_setzero_ps(), a[v]); }
    else tanh256_n(a, nv);
    for (int v = 0; v < nv; v++) { STORE8(h + j + 8 * v, a[v]); STORE8(k + j + 8 * v, a[v]); }
}

AVX2_FN void rk_elman_rows_avx2(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0, long u1,
                                int relu) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *k = cache + b * H;
        const float *x = gx + b * H, *r = gh + b * H;
#define UNITS(j, m, masked, nv) elman_units(hb, k, x, r, j, m, masked, relu, nv);
        if (rows >= 4) FOR_UNITS(u0, u1, 2, UNITS)
        else FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
}

AVX2_INLINE void elman_units_backward(float *dgx, float *dgh, const float *dh, const float *y, long j, __m256i m,
                                      int masked, int relu) {
    const __m256 yj = LOAD8(y + j), dhj = LOAD8(dh + j);
    const __m256 da = relu ? _mm256_and_ps(_mm256_cmp_ps(yj, _mm256_setzero_ps(), _CMP_GT_OQ), dhj)
                           : _mm256_mul_ps(dhj, _mm256_fnmadd_ps(yj, yj, _mm256_set1_ps(1.0f)));
    STORE8(dgx + j, da);
    if (dgh != dgx) STORE8(dgh + j, da);
}

AVX2_FN void rk_elman_rows_backward_avx2(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H,
                                         long u0, long u1, int relu) {
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * H, *dq = dgh + b * H;
        const float *d = dh + b * H, *y = cache + b * H;
#define UNITS(j, m, masked, nv) elman_units_backward(dx, dq, d, y, j, m, masked, relu);
        FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
}

// ---- LSTM --------------------------------------------------------------------------------------

// Gates i, f, g, o from x + r at k[0..4H) (as activations), tanh c at k[4H..5H); c and h updated.
AVX2_INLINE void lstm_units(float *h, float *c, float *k, const float *x, const float *r, const float *c_prev, long H,
                            long j, __m256i m, int masked, int stream, const int nv) {
    __m256 s[MAXV], g[MAXV], cn[MAXV], tc[MAXV];  // s: the sigmoid gates i, f, o (nv each)
    for (int v = 0; v < nv; v++) {
        const long u = j + 8 * v;
        s[v] = _mm256_add_ps(LOAD8(x + u), LOAD8(r + u));
        s[nv + v] = _mm256_add_ps(LOAD8(x + H + u), LOAD8(r + H + u));
        s[2 * nv + v] = _mm256_add_ps(LOAD8(x + 3 * H + u), LOAD8(r + 3 * H + u));
        g[v] = _mm256_add_ps(LOAD8(x + 2 * H + u), LOAD8(r + 2 * H + u));
    }
    sigmoid256_n(s, 3 * nv);
    tanh256_n(g, nv);
    for (int v = 0; v < nv; v++) tc[v] = cn[v] = _mm256_fmadd_ps(s[nv + v], LOAD8(c_prev + j + 8 * v), _mm256_mul_ps(s[v], g[v]));
    tanh256_n(tc, nv);
    for (int v = 0; v < nv; v++) {
        const long u = j + 8 * v;
        STORE8(c + u, cn[v]);
        STORE8(h + u, _mm256_mul_ps(s[2 * nv + v], tc[v]));
        store_cache256(k + u, m, masked, s[v], stream);
        store_cache256(k + H + u, m, masked, s[nv + v], stream);
        store_cache256(k + 2 * H + u, m, masked, g[v], stream);
        store_cache256(k + 3 * H + u, m, masked, s[2 * nv + v], stream);
        store_cache256(k + 4 * H + u, m, masked, tc[v], stream);
    }
}

// Two vectors at a time for 4 or more rows (throughput), one for fewer (latency), as the AVX-512
// step does with four and one; with 16 registers, four would spill.
AVX2_INLINE void lstm_rows(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev, long rows,
                           long H, long u0, long u1, const int stream) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *cb = c + b * H, *k = cache + b * 5 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
#define UNITS(j, m, masked, nv) lstm_units(hb, cb, k, x, r, cp, H, j, m, masked, stream, nv);
        if (rows >= 4) FOR_UNITS(u0, u1, 2, UNITS)
        else FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
    if (stream) _mm_sfence();
}

AVX2_FN void rk_lstm_rows_avx2(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                               long rows, long H, long u0, long u1) {
    lstm_rows(h, c, cache, gx, gh, c_prev, rows, H, u0, u1, 0);
}

AVX2_FN void rk_lstm_rows_streamed_avx2(float *h, float *c, float *cache, const float *gx, const float *gh,
                                        const float *c_prev, long rows, long H, long u0, long u1) {
    lstm_rows(h, c, cache, gx, gh, c_prev, rows, H, u0, u1, 1);
}

// dc in: ∂L/∂c, out: ∂L/∂c_prev; the pre-activation gradients of i, f, g, o to dgx and dgh.
AVX2_INLINE void lstm_units_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *k,
                                     const float *c_prev, long H, long j, __m256i m, int masked) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 i = LOAD8(k + j), f = LOAD8(k + H + j), g = LOAD8(k + 2 * H + j), o = LOAD8(k + 3 * H + j);
    const __m256 tc = LOAD8(k + 4 * H + j), dhj = LOAD8(dh + j);
    const __m256 dct = _mm256_fmadd_ps(_mm256_mul_ps(dhj, o), _mm256_fnmadd_ps(tc, tc, one), LOAD8(dc + j));
    const __m256 d[4] = {
        _mm256_mul_ps(_mm256_mul_ps(dct, g), _mm256_mul_ps(i, _mm256_sub_ps(one, i))),
        _mm256_mul_ps(_mm256_mul_ps(dct, LOAD8(c_prev + j)), _mm256_mul_ps(f, _mm256_sub_ps(one, f))),
        _mm256_mul_ps(_mm256_mul_ps(dct, i), _mm256_fnmadd_ps(g, g, one)),
        _mm256_mul_ps(_mm256_mul_ps(dhj, tc), _mm256_mul_ps(o, _mm256_sub_ps(one, o))),
    };
    for (int q = 0; q < 4; q++) {
        STORE8(dgx + q * H + j, d[q]);
        if (dgh != dgx) STORE8(dgh + q * H + j, d[q]);
    }
    STORE8(dc + j, _mm256_mul_ps(dct, f));
}

AVX2_FN void rk_lstm_rows_backward_avx2(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                        const float *c_prev, long rows, long H, long u0, long u1) {
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 4 * H, *dq = dgh + b * 4 * H, *dcb = dc + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 5 * H, *cp = c_prev + b * H;
#define UNITS(j, m, masked, nv) lstm_units_backward(dx, dq, dcb, dhb, k, cp, H, j, m, masked);
        FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
}

// ---- GRU ---------------------------------------------------------------------------------------

// r, z, n and ghₙ to k[0..4H); h = (1 - z)·n + z·h_prev, n = tanh(xₙ + r·ghₙ).
AVX2_INLINE void gru_units(float *h, float *k, const float *x, const float *q, const float *h_prev, long H, long j,
                           __m256i m, int masked, int stream, const int nv) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 s[MAXV], n[MAXV];  // s: the sigmoid gates r, z (nv each)
    for (int v = 0; v < nv; v++) {
        const long u = j + 8 * v;
        s[v] = _mm256_add_ps(LOAD8(x + u), LOAD8(q + u));
        s[nv + v] = _mm256_add_ps(LOAD8(x + H + u), LOAD8(q + H + u));
    }
    sigmoid256_n(s, 2 * nv);
    for (int v = 0; v < nv; v++) n[v] = _mm256_fmadd_ps(s[v], LOAD8(q + 2 * H + j + 8 * v), LOAD8(x + 2 * H + j + 8 * v));
    tanh256_n(n, nv);
    for (int v = 0; v < nv; v++) {
        const long u = j + 8 * v;
        const __m256 z = s[nv + v];
        store_cache256(k + u, m, masked, s[v], stream);
        store_cache256(k + H + u, m, masked, z, stream);
        store_cache256(k + 2 * H + u, m, masked, n[v], stream);
        store_cache256(k + 3 * H + u, m, masked, LOAD8(q + 2 * H + u), stream);
        STORE8(h + u, _mm256_fmadd_ps(_mm256_sub_ps(one, z), n[v], _mm256_mul_ps(z, LOAD8(h_prev + u))));
    }
}

AVX2_INLINE void gru_rows(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                          long u0, long u1, const int stream) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *k = cache + b * 4 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
#define UNITS(j, m, masked, nv) gru_units(hb, k, x, q, hp, H, j, m, masked, stream, nv);
        if (rows >= 4) FOR_UNITS(u0, u1, 2, UNITS)
        else FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
    if (stream) _mm_sfence();
}

AVX2_FN void rk_gru_rows_avx2(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                              long u0, long u1) {
    gru_rows(h, cache, gx, gh, h_prev, rows, H, u0, u1, 0);
}

AVX2_FN void rk_gru_rows_streamed_avx2(float *h, float *cache, const float *gx, const float *gh, const float *h_prev,
                                       long rows, long H, long u0, long u1) {
    gru_rows(h, cache, gx, gh, h_prev, rows, H, u0, u1, 1);
}

AVX2_INLINE void gru_units_backward(float *dx, float *dq, float *dh_prev, const float *dh, const float *k,
                                    const float *h_prev, long H, long j, __m256i m, int masked) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 r = LOAD8(k + j), z = LOAD8(k + H + j), n = LOAD8(k + 2 * H + j), ghn = LOAD8(k + 3 * H + j);
    const __m256 d = LOAD8(dh + j);
    const __m256 dan = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_sub_ps(one, z)), _mm256_fnmadd_ps(n, n, one));
    const __m256 dar = _mm256_mul_ps(_mm256_mul_ps(dan, ghn), _mm256_mul_ps(r, _mm256_sub_ps(one, r)));
    const __m256 daz = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_sub_ps(LOAD8(h_prev + j), n)), _mm256_mul_ps(z, _mm256_sub_ps(one, z)));
    STORE8(dx + j, dar); STORE8(dq + j, dar);
    STORE8(dx + H + j, daz); STORE8(dq + H + j, daz);
    STORE8(dx + 2 * H + j, dan); STORE8(dq + 2 * H + j, _mm256_mul_ps(dan, r));
    STORE8(dh_prev + j, _mm256_fmadd_ps(d, z, LOAD8(dh_prev + j)));
}

AVX2_FN void rk_gru_rows_backward_avx2(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                                       const float *h_prev, long rows, long H, long u0, long u1) {
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 3 * H, *dq = dgh + b * 3 * H, *dhp = dh_prev + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 4 * H, *hp = h_prev + b * H;
#define UNITS(j, m, masked, nv) gru_units_backward(dx, dq, dhp, dhb, k, hp, H, j, m, masked);
        FOR_UNITS(u0, u1, 1, UNITS)
#undef UNITS
    }
}
#endif

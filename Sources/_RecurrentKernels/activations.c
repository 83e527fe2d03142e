// Vectorised exp-based activations: sigmoid(x) = 1 / (1 + e^-x) and tanh(x).
//
// e^x uses the Cephes single-precision scheme: x = n·ln 2 + r with |r| ≤ ln2/2 (ln 2 split in two
// parts for an exact reduction), e^r from a degree-6 polynomial, then scaled by 2^n through the
// exponent bits; about 1 ulp. tanh uses the Cephes odd polynomial for |x| < 0.625 (where
// 1 - 2/(e^2x + 1) would cancel) and 1 - 2/(e^2|x| + 1) above, with the sign restored.
#include "_RecurrentKernels.h"

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

static void sigmoid_scalar(float *y, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_scalar(-x[i]));
}

static void tanh_portable(float *y, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] = tanh_scalar(x[i]);
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

// ---- LSTM pointwise step ----------------------------------------------------------------------

// One row: gates i, f, g, o at k[0..4H) (written as activations), tanh c at k[4H..5H).
static void lstm_row_portable(float *h, float *c, float *k, const float *x, const float *r, const float *c_prev,
                              long H, long u0, long u1) {
    for (long j = u0; j < u1; j++) {
        float i = 1.0f / (1.0f + exp_scalar(-(x[j] + r[j])));
        float f = 1.0f / (1.0f + exp_scalar(-(x[H + j] + r[H + j])));
        float g = tanh_scalar(x[2 * H + j] + r[2 * H + j]);
        float o = 1.0f / (1.0f + exp_scalar(-(x[3 * H + j] + r[3 * H + j])));
        float cn = f * c_prev[j] + i * g;
        float tc = tanh_scalar(cn);
        c[j] = cn;
        h[j] = o * tc;
        k[j] = i; k[H + j] = f; k[2 * H + j] = g; k[3 * H + j] = o; k[4 * H + j] = tc;
    }
}

#if defined(__x86_64__)
// Masks for the nv vectors of 16 units from unit j on (none past u1).
#define UNIT_MASKS(m, nv, j, u1) \
    __mmask16 m[MAXV]; \
    for (int v = 0; v < nv; v++) { \
        const long left = (u1) - (j) - 16 * v; \
        m[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1u) : 0; \
    }

// One row, nv vectors of units at a time (see sigmoid512_n).
__attribute__((target("avx512f"), always_inline)) static inline void
lstm_row_avx512(float *h, float *c, float *k, const float *x, const float *r, const float *c_prev, long H, long u0, long u1,
                const int nv) {
    for (long j = u0; j < u1; j += 16 * nv) {
        UNIT_MASKS(m, nv, j, u1)
#define LOAD(base, v) _mm512_maskz_loadu_ps(m[v], (base) + j + 16 * v)
#define STORE(base, v, value) _mm512_mask_storeu_ps((base) + j + 16 * v, m[v], value)
        __m512 s[MAXV], g[MAXV], cn[MAXV], tc[MAXV];  // s: the sigmoid gates i, f, o (nv each)
        for (int v = 0; v < nv; v++) {
            s[v] = _mm512_add_ps(LOAD(x, v), LOAD(r, v));
            s[nv + v] = _mm512_add_ps(LOAD(x + H, v), LOAD(r + H, v));
            s[2 * nv + v] = _mm512_add_ps(LOAD(x + 3 * H, v), LOAD(r + 3 * H, v));
            g[v] = _mm512_add_ps(LOAD(x + 2 * H, v), LOAD(r + 2 * H, v));
        }
        sigmoid512_n(s, 3 * nv);
        tanh512_n(g, nv);
        for (int v = 0; v < nv; v++) tc[v] = cn[v] = _mm512_fmadd_ps(s[nv + v], LOAD(c_prev, v), _mm512_mul_ps(s[v], g[v]));
        tanh512_n(tc, nv);
        for (int v = 0; v < nv; v++) {
            STORE(c, v, cn[v]);
            STORE(h, v, _mm512_mul_ps(s[2 * nv + v], tc[v]));
            STORE(k, v, s[v]);
            STORE(k + H, v, s[nv + v]);
            STORE(k + 2 * H, v, g[v]);
            STORE(k + 3 * H, v, s[2 * nv + v]);
            STORE(k + 4 * H, v, tc[v]);
        }
#undef LOAD
#undef STORE
    }
}

// Many rows (the batch split over threads): four vectors at a time, for throughput. One to three
// rows (a step the threads meet after): one at a time, which is shorter from first load to last
// store (measured at batch 1, H = 128: four at a time made the step 13% slower).
__attribute__((target("avx512f"))) static void lstm_rows_avx512(float *h, float *c, float *cache, const float *gx,
                                                                const float *gh, const float *c_prev, long rows, long H,
                                                                long u0, long u1) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *cb = c + b * H, *k = cache + b * 5 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        if (rows >= 4) lstm_row_avx512(hb, cb, k, x, r, cp, H, u0, u1, 4);
        else lstm_row_avx512(hb, cb, k, x, r, cp, H, u0, u1, 1);
    }
}
#endif

void rk_lstm_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                  long rows, long H, long u0, long u1, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) { lstm_rows_avx512(h, c, cache, gx, gh, c_prev, rows, H, u0, u1); return; }
#endif
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *cb = c + b * H, *k = cache + b * 5 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        lstm_row_portable(hb, cb, k, x, r, cp, H, u0, u1);
    }
}

// One row backward: dc (in: ∂L/∂c, out: ∂L/∂c_prev), dh = ∂L/∂h; writes the pre-activation
// gradients of i, f, g, o to dgx and dgh (equal for the LSTM).
static void lstm_row_backward_portable(float *dgx, float *dgh, float *dc, const float *dh, const float *k,
                                       const float *c_prev, long H, long u0, long u1) {
    for (long j = u0; j < u1; j++) {
        const float i = k[j], f = k[H + j], g = k[2 * H + j], o = k[3 * H + j], tc = k[4 * H + j];
        const float dct = dc[j] + dh[j] * o * (1 - tc * tc);
        const float di = dct * g * i * (1 - i), df = dct * c_prev[j] * f * (1 - f);
        const float dg = dct * i * (1 - g * g), dout = dh[j] * tc * o * (1 - o);
        dgx[j] = dgh[j] = di;
        dgx[H + j] = dgh[H + j] = df;
        dgx[2 * H + j] = dgh[2 * H + j] = dg;
        dgx[3 * H + j] = dgh[3 * H + j] = dout;
        dc[j] = dct * f;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void lstm_row_backward_avx512(float *dgx, float *dgh, float *dc, const float *dh,
                                                                        const float *k, const float *c_prev, long H, long u0, long u1) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long j = u0; j < u1; j += 16) {
        const __mmask16 m = u1 - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (u1 - j)) - 1u);
#define LOAD(base) _mm512_maskz_loadu_ps(m, (base) + j)
#define STORE2(offset, v) { _mm512_mask_storeu_ps(dgx + (offset) + j, m, v); if (dgh != dgx) _mm512_mask_storeu_ps(dgh + (offset) + j, m, v); }
        const __m512 i = LOAD(k), f = LOAD(k + H), g = LOAD(k + 2 * H), o = LOAD(k + 3 * H), tc = LOAD(k + 4 * H);
        const __m512 dhj = LOAD(dh);
        const __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(dhj, o), _mm512_fnmadd_ps(tc, tc, one), LOAD(dc));
        STORE2(0, _mm512_mul_ps(_mm512_mul_ps(dct, g), _mm512_mul_ps(i, _mm512_sub_ps(one, i))));
        STORE2(H, _mm512_mul_ps(_mm512_mul_ps(dct, LOAD(c_prev)), _mm512_mul_ps(f, _mm512_sub_ps(one, f))));
        STORE2(2 * H, _mm512_mul_ps(_mm512_mul_ps(dct, i), _mm512_fnmadd_ps(g, g, one)));
        STORE2(3 * H, _mm512_mul_ps(_mm512_mul_ps(dhj, tc), _mm512_mul_ps(o, _mm512_sub_ps(one, o))));
        _mm512_mask_storeu_ps(dc + j, m, _mm512_mul_ps(dct, f));
#undef LOAD
#undef STORE2
    }
}
#endif

void rk_lstm_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache, const float *c_prev,
                           long rows, long H, long u0, long u1, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 4 * H, *dq = dgh + b * 4 * H, *dcb = dc + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 5 * H, *cp = c_prev + b * H;
#if defined(__x86_64__)
        if (rk_supported_isa(isa) == RK_ISA_AVX512) { lstm_row_backward_avx512(dx, dq, dcb, dhb, k, cp, H, u0, u1); continue; }
#endif
        lstm_row_backward_portable(dx, dq, dcb, dhb, k, cp, H, u0, u1);
    }
}

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

// ---- GRU pointwise step -----------------------------------------------------------------------

// One row: r, z, n and ghₙ written to k[0..4H); h = (1 - z)·n + z·h_prev.
static void gru_row_portable(float *h, float *k, const float *x, const float *q, const float *h_prev, long H, long u0, long u1) {
    for (long j = u0; j < u1; j++) {
        const float r = 1.0f / (1.0f + exp_scalar(-(x[j] + q[j])));
        const float z = 1.0f / (1.0f + exp_scalar(-(x[H + j] + q[H + j])));
        const float n = tanh_scalar(x[2 * H + j] + r * q[2 * H + j]);
        k[j] = r; k[H + j] = z; k[2 * H + j] = n; k[3 * H + j] = q[2 * H + j];
        h[j] = (1.0f - z) * n + z * h_prev[j];
    }
}

static void gru_row_backward_portable(float *dx, float *dq, float *dh_prev, const float *dh, const float *k,
                                      const float *h_prev, long H, long u0, long u1) {
    for (long j = u0; j < u1; j++) {
        const float r = k[j], z = k[H + j], n = k[2 * H + j], ghn = k[3 * H + j];
        const float dan = dh[j] * (1.0f - z) * (1.0f - n * n);
        const float dar = dan * ghn * r * (1.0f - r);
        const float daz = dh[j] * (h_prev[j] - n) * z * (1.0f - z);
        dx[j] = dar; dq[j] = dar;
        dx[H + j] = daz; dq[H + j] = daz;
        dx[2 * H + j] = dan; dq[2 * H + j] = dan * r;
        dh_prev[j] += dh[j] * z;
    }
}

#if defined(__x86_64__)
// One row, nv vectors of units at a time (as the LSTM's).
__attribute__((target("avx512f"), always_inline)) static inline void
gru_row_avx512(float *h, float *k, const float *x, const float *q, const float *h_prev, long H, long u0, long u1,
               const int nv) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long j = u0; j < u1; j += 16 * nv) {
        UNIT_MASKS(m, nv, j, u1)
#define LOAD(base, v) _mm512_maskz_loadu_ps(m[v], (base) + j + 16 * v)
#define STORE(base, v, value) _mm512_mask_storeu_ps((base) + j + 16 * v, m[v], value)
        __m512 s[MAXV], n[MAXV];  // s: the sigmoid gates r, z (nv each)
        for (int v = 0; v < nv; v++) {
            s[v] = _mm512_add_ps(LOAD(x, v), LOAD(q, v));
            s[nv + v] = _mm512_add_ps(LOAD(x + H, v), LOAD(q + H, v));
        }
        sigmoid512_n(s, 2 * nv);
        for (int v = 0; v < nv; v++) n[v] = _mm512_fmadd_ps(s[v], LOAD(q + 2 * H, v), LOAD(x + 2 * H, v));
        tanh512_n(n, nv);
        for (int v = 0; v < nv; v++) {
            const __m512 z = s[nv + v];
            STORE(k, v, s[v]);
            STORE(k + H, v, z);
            STORE(k + 2 * H, v, n[v]);
            STORE(k + 3 * H, v, LOAD(q + 2 * H, v));
            STORE(h, v, _mm512_fmadd_ps(_mm512_sub_ps(one, z), n[v], _mm512_mul_ps(z, LOAD(h_prev, v))));
        }
#undef LOAD
#undef STORE
    }
}

// Four vectors at a time for 4 or more rows, one at a time for fewer (as the LSTM's).
__attribute__((target("avx512f"))) static void gru_rows_avx512(float *h, float *cache, const float *gx, const float *gh,
                                                               const float *h_prev, long rows, long H, long u0, long u1) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *k = cache + b * 4 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        if (rows >= 4) gru_row_avx512(hb, k, x, q, hp, H, u0, u1, 4);
        else gru_row_avx512(hb, k, x, q, hp, H, u0, u1, 1);
    }
}

__attribute__((target("avx512f"))) static void gru_row_backward_avx512(float *dx, float *dq, float *dh_prev, const float *dh,
                                                                       const float *k, const float *h_prev, long H, long u0,
                                                                       long u1) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long j = u0; j < u1; j += 16) {
        const __mmask16 m = u1 - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (u1 - j)) - 1u);
#define LOAD(base) _mm512_maskz_loadu_ps(m, (base) + j)
#define STORE(base, v) _mm512_mask_storeu_ps((base) + j, m, v)
        const __m512 r = LOAD(k), z = LOAD(k + H), n = LOAD(k + 2 * H), ghn = LOAD(k + 3 * H), d = LOAD(dh);
        const __m512 dan = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_sub_ps(one, z)), _mm512_fnmadd_ps(n, n, one));
        const __m512 dar = _mm512_mul_ps(_mm512_mul_ps(dan, ghn), _mm512_mul_ps(r, _mm512_sub_ps(one, r)));
        const __m512 daz = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_sub_ps(LOAD(h_prev), n)), _mm512_mul_ps(z, _mm512_sub_ps(one, z)));
        STORE(dx, dar); STORE(dq, dar);
        STORE(dx + H, daz); STORE(dq + H, daz);
        STORE(dx + 2 * H, dan); STORE(dq + 2 * H, _mm512_mul_ps(dan, r));
        STORE(dh_prev, _mm512_fmadd_ps(d, z, LOAD(dh_prev)));
#undef LOAD
#undef STORE
    }
}
#endif

void rk_gru_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev,
                 long rows, long H, long u0, long u1, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) { gru_rows_avx512(h, cache, gx, gh, h_prev, rows, H, u0, u1); return; }
#endif
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *k = cache + b * 4 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        gru_row_portable(hb, k, x, q, hp, H, u0, u1);
    }
}

void rk_gru_step_backward(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache, const float *h_prev,
                          long rows, long H, long u0, long u1, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 3 * H, *dq = dgh + b * 3 * H, *dhp = dh_prev + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 4 * H, *hp = h_prev + b * H;
#if defined(__x86_64__)
        if (rk_supported_isa(isa) == RK_ISA_AVX512) { gru_row_backward_avx512(dx, dq, dhp, dhb, k, hp, H, u0, u1); continue; }
#endif
        gru_row_backward_portable(dx, dq, dhp, dhb, k, hp, H, u0, u1);
    }
}

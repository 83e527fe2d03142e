// The fused pointwise steps of the Elman cell, the LSTM and the GRU, forward and backward, portable
// and AVX-512 (AVX2 in cells_avx2.c):
// the gate activations, the state update and what the backward pass keeps (the cache), over one
// step's rows and a range of hidden units.
#include "_RecurrentKernels.h"
#include "kernels.h"
#include "vecmath.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

// Masks for the nv vectors of 16 units from unit j on (none past u1).
#define UNIT_MASKS(m, nv, j, u1) \
    __mmask16 m[MAXV]; \
    for (int v = 0; v < nv; v++) { \
        const long left = (u1) - (j) - 16 * v; \
        m[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1u) : 0; \
    }

// A store to the cache. In training (`stream`), the cache of every step is written once and read
// back only by the backward pass, after the whole sequence: whole aligned vectors then go around the
// caches (a non-temporal store), which saves reading each line from memory before writing it and
// keeps the weights and this chunk's gates in cache. The rest (a partial or unaligned vector) is an
// ordinary store. The caller ends a step with `_mm_sfence` so that these stores are visible before
// any other thread can read them.
__attribute__((target("avx512f"), always_inline)) static inline void
store_cache512(float *p, __mmask16 m, __m512 v, int stream) {
    if (stream && m == 0xFFFF && ((unsigned long)p & 63) == 0) _mm512_stream_ps(p, v);
    else _mm512_mask_storeu_ps(p, m, v);
}
#endif

// ---- Writing histories around the caches ------------------------------------------------------

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void copy_stream_avx512(float *dst, const float *src, long n) {
    long i = 0;
    for (; i < n && ((unsigned long)(dst + i) & 63); i++) dst[i] = src[i];  // up to the first whole line
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}
#endif

void rk_copy_stream(float *dst, const float *src, long n, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) { copy_stream_avx512(dst, src, n); return; }
    if (rk_supported_isa(isa) == RK_ISA_AVX2) { rk_copy_stream_avx2(dst, src, n); return; }
#endif
    memcpy(dst, src, (size_t)n * sizeof(float));
}

// ---- Elman pointwise step ----------------------------------------------------------------------

// One row: h = k = act(x + r), act = tanh, or relu (NaN stays NaN, as PyTorch's).
static void elman_row_portable(float *h, float *k, const float *x, const float *r, long u0, long u1, int relu) {
    for (long j = u0; j < u1; j++) {
        const float a = x[j] + r[j];
        h[j] = k[j] = relu ? (a < 0.0f ? 0.0f : a) : tanh_scalar(a);
    }
}

#if defined(__x86_64__)
// One row, nv vectors of units at a time (see tanh512_n). max(0, a) returns a when a is NaN.
__attribute__((target("avx512f"), always_inline)) static inline void
elman_row_avx512(float *h, float *k, const float *x, const float *r, long u0, long u1, int relu, const int nv) {
    for (long j = u0; j < u1; j += 16 * nv) {
        UNIT_MASKS(m, nv, j, u1)
        __m512 a[MAXV];
        for (int v = 0; v < nv; v++) {
            a[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], x + j + 16 * v), _mm512_maskz_loadu_ps(m[v], r + j + 16 * v));
        }
        if (relu) { for (int v = 0; v < nv; v++) a[v] = _mm512_max_ps(_mm512_setzero_ps(), a[v]); }
        else tanh512_n(a, nv);
        for (int v = 0; v < nv; v++) {
            _mm512_mask_storeu_ps(h + j + 16 * v, m[v], a[v]);
            _mm512_mask_storeu_ps(k + j + 16 * v, m[v], a[v]);
        }
    }
}

// Four vectors at a time for 4 or more rows, one at a time for fewer (as the LSTM's below).
__attribute__((target("avx512f"))) static void elman_rows_avx512(float *h, float *cache, const float *gx, const float *gh,
                                                                 long rows, long H, long u0, long u1, int relu) {
    for (long b = 0; b < rows; b++) {
        if (rows >= 4) elman_row_avx512(h + b * H, cache + b * H, gx + b * H, gh + b * H, u0, u1, relu, 4);
        else elman_row_avx512(h + b * H, cache + b * H, gx + b * H, gh + b * H, u0, u1, relu, 1);
    }
}
#endif

void rk_elman_step(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0, long u1,
                   int relu, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) { elman_rows_avx512(h, cache, gx, gh, rows, H, u0, u1, relu); return; }
    if (rk_supported_isa(isa) == RK_ISA_AVX2) { rk_elman_rows_avx2(h, cache, gx, gh, rows, H, u0, u1, relu); return; }
#endif
    for (long b = 0; b < rows; b++) elman_row_portable(h + b * H, cache + b * H, gx + b * H, gh + b * H, u0, u1, relu);
}

// One row backward: da = dh · act'(a) from y = act(a) (tanh: 1 - y², relu: y > 0), written to dgx
// and dgh (equal for the Elman cell).
static void elman_row_backward_portable(float *dgx, float *dgh, const float *dh, const float *y, long u0, long u1,
                                        int relu) {
    for (long j = u0; j < u1; j++) dgx[j] = dgh[j] = relu ? (y[j] > 0.0f ? dh[j] : 0.0f) : dh[j] * (1.0f - y[j] * y[j]);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void elman_row_backward_avx512(float *dgx, float *dgh, const float *dh,
                                                                         const float *y, long u0, long u1, int relu) {
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (long j = u0; j < u1; j += 16) {
        const __mmask16 m = u1 - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (u1 - j)) - 1u);
        const __m512 yj = _mm512_maskz_loadu_ps(m, y + j), dhj = _mm512_maskz_loadu_ps(m, dh + j);
        const __m512 da = relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(yj, zero, _CMP_GT_OQ), dhj)
                               : _mm512_mul_ps(dhj, _mm512_fnmadd_ps(yj, yj, one));
        _mm512_mask_storeu_ps(dgx + j, m, da);
        if (dgh != dgx) _mm512_mask_storeu_ps(dgh + j, m, da);
    }
}
#endif

void rk_elman_step_backward(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H, long u0,
                            long u1, int relu, rk_isa isa) {
    (void)isa;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) {
        for (long b = 0; b < rows; b++) elman_row_backward_avx512(dgx + b * H, dgh + b * H, dh + b * H, cache + b * H, u0, u1, relu);
        return;
    }
    if (rk_supported_isa(isa) == RK_ISA_AVX2) { rk_elman_rows_backward_avx2(dgx, dgh, dh, cache, rows, H, u0, u1, relu); return; }
#endif
    for (long b = 0; b < rows; b++) elman_row_backward_portable(dgx + b * H, dgh + b * H, dh + b * H, cache + b * H, u0, u1, relu);
}

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
// One row, nv vectors of units at a time (see sigmoid512_n).
__attribute__((target("avx512f"), always_inline)) static inline void
lstm_row_avx512(float *h, float *c, float *k, const float *x, const float *r, const float *c_prev, long H, long u0, long u1,
                const int stream, const int nv) {
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
            store_cache512(k + j + 16 * v, m[v], s[v], stream);
            store_cache512(k + H + j + 16 * v, m[v], s[nv + v], stream);
            store_cache512(k + 2 * H + j + 16 * v, m[v], g[v], stream);
            store_cache512(k + 3 * H + j + 16 * v, m[v], s[2 * nv + v], stream);
            store_cache512(k + 4 * H + j + 16 * v, m[v], tc[v], stream);
        }
#undef LOAD
#undef STORE
    }
}

// Many rows (the batch split over threads): four vectors at a time, for throughput. One to three
// rows (a step the threads meet after): one at a time, which is shorter from first load to last
// store (measured at batch 1, H = 128: four at a time made the step 13% slower).
__attribute__((target("avx512f"), always_inline)) static inline void
lstm_rows_avx512(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev, long rows, long H,
                 long u0, long u1, const int stream) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *cb = c + b * H, *k = cache + b * 5 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        if (rows >= 4) lstm_row_avx512(hb, cb, k, x, r, cp, H, u0, u1, stream, 4);
        else lstm_row_avx512(hb, cb, k, x, r, cp, H, u0, u1, stream, 1);
    }
    if (stream) _mm_sfence();
}

// Without and with the cache streamed (training with a long history), each its own function: one
// function for both, testing `stream` at run time, made inference at batch 1 (`latency-128`) 2–4%
// slower.
__attribute__((target("avx512f"))) static void lstm_rows_plain_avx512(float *h, float *c, float *cache, const float *gx,
                                                                      const float *gh, const float *c_prev, long rows,
                                                                      long H, long u0, long u1) {
    lstm_rows_avx512(h, c, cache, gx, gh, c_prev, rows, H, u0, u1, 0);
}
__attribute__((target("avx512f"))) static void lstm_rows_streamed_avx512(float *h, float *c, float *cache, const float *gx,
                                                                         const float *gh, const float *c_prev, long rows,
                                                                         long H, long u0, long u1) {
    lstm_rows_avx512(h, c, cache, gx, gh, c_prev, rows, H, u0, u1, 1);
}
#endif

void rk_lstm_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                  long rows, long H, long u0, long u1, int stream_cache, rk_isa isa) {
    (void)isa, (void)stream_cache;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) {
        if (stream_cache) lstm_rows_streamed_avx512(h, c, cache, gx, gh, c_prev, rows, H, u0, u1);
        else lstm_rows_plain_avx512(h, c, cache, gx, gh, c_prev, rows, H, u0, u1);
        return;
    }
    if (rk_supported_isa(isa) == RK_ISA_AVX2) {
        if (stream_cache) rk_lstm_rows_streamed_avx2(h, c, cache, gx, gh, c_prev, rows, H, u0, u1);
        else rk_lstm_rows_avx2(h, c, cache, gx, gh, c_prev, rows, H, u0, u1);
        return;
    }
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
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX2) { rk_lstm_rows_backward_avx2(dgx, dgh, dc, dh, cache, c_prev, rows, H, u0, u1); return; }
#endif
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 4 * H, *dq = dgh + b * 4 * H, *dcb = dc + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 5 * H, *cp = c_prev + b * H;
#if defined(__x86_64__)
        if (rk_supported_isa(isa) == RK_ISA_AVX512) { lstm_row_backward_avx512(dx, dq, dcb, dhb, k, cp, H, u0, u1); continue; }
#endif
        lstm_row_backward_portable(dx, dq, dcb, dhb, k, cp, H, u0, u1);
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
               const int stream, const int nv) {
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
            store_cache512(k + j + 16 * v, m[v], s[v], stream);
            store_cache512(k + H + j + 16 * v, m[v], z, stream);
            store_cache512(k + 2 * H + j + 16 * v, m[v], n[v], stream);
            store_cache512(k + 3 * H + j + 16 * v, m[v], LOAD(q + 2 * H, v), stream);
            STORE(h, v, _mm512_fmadd_ps(_mm512_sub_ps(one, z), n[v], _mm512_mul_ps(z, LOAD(h_prev, v))));
        }
#undef LOAD
#undef STORE
    }
}

// Four vectors at a time for 4 or more rows, one at a time for fewer (as the LSTM's).
__attribute__((target("avx512f"), always_inline)) static inline void
gru_rows_avx512(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H, long u0,
                long u1, const int stream) {
    for (long b = 0; b < rows; b++) {
        float *hb = h + b * H, *k = cache + b * 4 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        if (rows >= 4) gru_row_avx512(hb, k, x, q, hp, H, u0, u1, stream, 4);
        else gru_row_avx512(hb, k, x, q, hp, H, u0, u1, stream, 1);
    }
    if (stream) _mm_sfence();
}

// Without and with the cache streamed, each its own function (as the LSTM's).
__attribute__((target("avx512f"))) static void gru_rows_plain_avx512(float *h, float *cache, const float *gx, const float *gh,
                                                                     const float *h_prev, long rows, long H, long u0, long u1) {
    gru_rows_avx512(h, cache, gx, gh, h_prev, rows, H, u0, u1, 0);
}
__attribute__((target("avx512f"))) static void gru_rows_streamed_avx512(float *h, float *cache, const float *gx,
                                                                        const float *gh, const float *h_prev, long rows,
                                                                        long H, long u0, long u1) {
    gru_rows_avx512(h, cache, gx, gh, h_prev, rows, H, u0, u1, 1);
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
                 long rows, long H, long u0, long u1, int stream_cache, rk_isa isa) {
    (void)isa, (void)stream_cache;  // unused where no vector kernel is compiled
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) {
        if (stream_cache) gru_rows_streamed_avx512(h, cache, gx, gh, h_prev, rows, H, u0, u1);
        else gru_rows_plain_avx512(h, cache, gx, gh, h_prev, rows, H, u0, u1);
        return;
    }
    if (rk_supported_isa(isa) == RK_ISA_AVX2) {
        if (stream_cache) rk_gru_rows_streamed_avx2(h, cache, gx, gh, h_prev, rows, H, u0, u1);
        else rk_gru_rows_avx2(h, cache, gx, gh, h_prev, rows, H, u0, u1);
        return;
    }
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
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX2) { rk_gru_rows_backward_avx2(dgx, dgh, dh_prev, dh, cache, h_prev, rows, H, u0, u1); return; }
#endif
    for (long b = 0; b < rows; b++) {
        float *dx = dgx + b * 3 * H, *dq = dgh + b * 3 * H, *dhp = dh_prev + b * H;
        const float *dhb = dh + b * H, *k = cache + b * 4 * H, *hp = h_prev + b * H;
#if defined(__x86_64__)
        if (rk_supported_isa(isa) == RK_ISA_AVX512) { gru_row_backward_avx512(dx, dq, dhp, dhb, k, hp, H, u0, u1); continue; }
#endif
        gru_row_backward_portable(dx, dq, dhp, dhb, k, hp, H, u0, u1);
    }
}

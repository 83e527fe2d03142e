// The fused step of the peephole and coupled-gate LSTM with the standard activations and no clip,
// forward and backward: the standard LSTM kernel's single pass (cells.c) plus the peephole terms,
// with the same cache [i, f, g, o, tanh c] (5H). The backward recomputes c = f·c_prev + i·g for
// the output gate's peephole gradient instead of keeping it.
//
//     i = σ(xᵢ + rᵢ + pᵢ·c_prev)   f = σ(x_f + r_f + p_f·c_prev), or 1 − i coupled   g = tanh(x_g + r_g)
//     c = f·c_prev + i·g   o = σ(xₒ + rₒ + pₒ·c)   h = o·tanh c        (p: NULL without peepholes)
#include "_RecurrentKernels.h"
#include "kernels.h"
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>

// One row, nv vectors of 16 units at a time (several independent vectors hide the latency of the
// exp polynomial, as the standard kernel does for 4 or more rows).
__attribute__((target("avx512f"), always_inline)) static inline void
peephole_row_avx512(float *hb, float *cb, float *k, const float *x, const float *r, const float *cp, const float *p, long H,
                    long u0, long u1, int coupled, const int nv) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long j = u0; j < u1; j += 16 * nv) {
        __mmask16 m[MAXV];
        for (int v = 0; v < nv; v++) {
            const long left = u1 - j - 16 * v;
            m[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
        }
#define LOAD(base, v) _mm512_maskz_loadu_ps(m[v], (base) + j + 16 * (v))
#define STORE(base, v, value) _mm512_mask_storeu_ps((base) + j + 16 * (v), m[v], value)
        __m512 s[2 * MAXV], g[MAXV], o[MAXV], tc[MAXV], cn[MAXV], cpv[MAXV];
        for (int v = 0; v < nv; v++) {
            cpv[v] = LOAD(cp, v);
            s[v] = _mm512_add_ps(LOAD(x, v), LOAD(r, v));
            s[nv + v] = _mm512_add_ps(LOAD(x + H, v), LOAD(r + H, v));
            g[v] = _mm512_add_ps(LOAD(x + 2 * H, v), LOAD(r + 2 * H, v));
            if (p) {
                s[v] = _mm512_fmadd_ps(LOAD(p, v), cpv[v], s[v]);
                s[nv + v] = _mm512_fmadd_ps(LOAD(p + H, v), cpv[v], s[nv + v]);
            }
        }
        sigmoid512_n(s, coupled ? nv : 2 * nv);
        tanh512_n(g, nv);
        for (int v = 0; v < nv; v++) {
            if (coupled) s[nv + v] = _mm512_sub_ps(one, s[v]);
            tc[v] = cn[v] = _mm512_fmadd_ps(s[nv + v], cpv[v], _mm512_mul_ps(s[v], g[v]));
            o[v] = _mm512_add_ps(LOAD(x + 3 * H, v), LOAD(r + 3 * H, v));
            if (p) o[v] = _mm512_fmadd_ps(LOAD(p + 2 * H, v), cn[v], o[v]);
        }
        sigmoid512_n(o, nv);
        tanh512_n(tc, nv);
        for (int v = 0; v < nv; v++) {
            STORE(cb, v, cn[v]);
            STORE(hb, v, _mm512_mul_ps(o[v], tc[v]));
            STORE(k, v, s[v]);
            STORE(k + H, v, s[nv + v]);
            STORE(k + 2 * H, v, g[v]);
            STORE(k + 3 * H, v, o[v]);
            STORE(k + 4 * H, v, tc[v]);
        }
#undef LOAD
#undef STORE
    }
}

__attribute__((target("avx512f"))) static void peephole_rows_avx512(float *h, float *c, float *cache, const float *gx,
                                                                    const float *gh, const float *c_prev, const float *p,
                                                                    long rows, long H, long u0, long u1, int coupled) {
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 5 * H, *cb = c + b * H, *hb = h + b * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        if (rows >= 4) peephole_row_avx512(hb, cb, k, x, r, cp, p, H, u0, u1, coupled, 4);
        else peephole_row_avx512(hb, cb, k, x, r, cp, p, H, u0, u1, coupled, 1);
    }
}

// dcₜ = dc + dh·o·(1 − tanh²c) + daₒ·pₒ, daₒ = dh·tanh c·o(1 − o)
// daᵢ = (dcₜ·g − dcₜ·c_prev coupled)·i(1 − i), da_f = dcₜ·c_prev·f(1 − f) (0 coupled), da_g = dcₜ·i·(1 − g²)
// dc_prev = dcₜ·f + daᵢ·pᵢ + da_f·p_f;  dp += (daᵢ·c_prev, da_f·c_prev, daₒ·c)
__attribute__((target("avx512f"))) static void peephole_rows_backward_avx512(float *dgx, float *dgh, float *dc,
                                                                             const float *dh, const float *cache,
                                                                             const float *c_prev, const float *p, float *dp,
                                                                             long dp_stride, long rows, long H, long u0,
                                                                             long u1, int coupled) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 5 * H, *cp = c_prev + b * H, *dhb = dh + b * H;
        float *dx = dgx + b * 4 * H, *dq = dgh + b * 4 * H, *dcb = dc + b * H, *dpb = dp ? dp + b * dp_stride : 0;
        for (long j = u0; j < u1; j += 16) {
            const __mmask16 m = u1 - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (u1 - j)) - 1u);
#define LOAD(base) _mm512_maskz_loadu_ps(m, (base) + j)
#define STORE2(offset, v) { _mm512_mask_storeu_ps(dx + (offset) + j, m, v); if (dq != dx) _mm512_mask_storeu_ps(dq + (offset) + j, m, v); }
            const __m512 i = LOAD(k), f = LOAD(k + H), g = LOAD(k + 2 * H), o = LOAD(k + 3 * H), tc = LOAD(k + 4 * H);
            const __m512 dhj = LOAD(dhb), cpj = LOAD(cp);
            const __m512 dout = _mm512_mul_ps(_mm512_mul_ps(dhj, tc), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
            __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(dhj, o), _mm512_fnmadd_ps(tc, tc, one), LOAD(dcb));
            if (p) dct = _mm512_fmadd_ps(dout, LOAD(p + 2 * H), dct);
            __m512 di = _mm512_mul_ps(dct, g);
            if (coupled) di = _mm512_fnmadd_ps(dct, cpj, di);
            di = _mm512_mul_ps(di, _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
            const __m512 df = coupled ? _mm512_setzero_ps()
                                      : _mm512_mul_ps(_mm512_mul_ps(dct, cpj), _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
            STORE2(0, di);
            STORE2(H, df);
            STORE2(2 * H, _mm512_mul_ps(_mm512_mul_ps(dct, i), _mm512_fnmadd_ps(g, g, one)));
            STORE2(3 * H, dout);
            __m512 dcp = _mm512_mul_ps(dct, f);
            if (p) {
                dcp = _mm512_fmadd_ps(di, LOAD(p), dcp);
                dcp = _mm512_fmadd_ps(df, LOAD(p + H), dcp);
                const __m512 cn = _mm512_fmadd_ps(f, cpj, _mm512_mul_ps(i, g));
                _mm512_mask_storeu_ps(dpb + j, m, _mm512_fmadd_ps(di, cpj, LOAD(dpb)));
                _mm512_mask_storeu_ps(dpb + H + j, m, _mm512_fmadd_ps(df, cpj, LOAD(dpb + H)));
                _mm512_mask_storeu_ps(dpb + 2 * H + j, m, _mm512_fmadd_ps(dout, cn, LOAD(dpb + 2 * H)));
            }
            _mm512_mask_storeu_ps(dcb + j, m, dcp);
#undef LOAD
#undef STORE2
        }
    }
}
#endif

// The same computation, one unit at a time (machines without AVX-512).
static void peephole_rows_portable(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                                   const float *p, long rows, long H, long u0, long u1, int coupled) {
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 5 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        for (long j = u0; j < u1; j++) {
            const float ai = x[j] + r[j] + (p ? p[j] * cp[j] : 0.0f), af = x[H + j] + r[H + j] + (p ? p[H + j] * cp[j] : 0.0f);
            const float i = 1.0f / (1.0f + exp_scalar(-ai));
            const float f = coupled ? 1.0f - i : 1.0f / (1.0f + exp_scalar(-af));
            const float g = tanh_scalar(x[2 * H + j] + r[2 * H + j]);
            const float cn = f * cp[j] + i * g;
            const float o = 1.0f / (1.0f + exp_scalar(-(x[3 * H + j] + r[3 * H + j] + (p ? p[2 * H + j] * cn : 0.0f))));
            const float tc = tanh_scalar(cn);
            c[b * H + j] = cn;
            h[b * H + j] = o * tc;
            k[j] = i; k[H + j] = f; k[2 * H + j] = g; k[3 * H + j] = o; k[4 * H + j] = tc;
        }
    }
}

static void peephole_rows_backward_portable(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                            const float *c_prev, const float *p, float *dp, long dp_stride, long rows,
                                            long H, long u0, long u1, int coupled) {
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 5 * H, *cp = c_prev + b * H;
        float *dx = dgx + b * 4 * H, *dq = dgh + b * 4 * H;
        for (long j = u0; j < u1; j++) {
            const float i = k[j], f = k[H + j], g = k[2 * H + j], o = k[3 * H + j], tc = k[4 * H + j];
            const float dhj = dh[b * H + j], dout = dhj * tc * o * (1.0f - o);
            const float dct = dc[b * H + j] + dhj * o * (1.0f - tc * tc) + (p ? dout * p[2 * H + j] : 0.0f);
            const float di = (dct * g - (coupled ? dct * cp[j] : 0.0f)) * i * (1.0f - i);
            const float df = coupled ? 0.0f : dct * cp[j] * f * (1.0f - f);
            const float dg = dct * i * (1.0f - g * g);
            dx[j] = dq[j] = di;
            dx[H + j] = dq[H + j] = df;
            dx[2 * H + j] = dq[2 * H + j] = dg;
            dx[3 * H + j] = dq[3 * H + j] = dout;
            dc[b * H + j] = dct * f + (p ? di * p[j] + df * p[H + j] : 0.0f);
            if (p) {
                float *q = dp + b * dp_stride;
                q[j] += di * cp[j];
                q[H + j] += df * cp[j];
                q[2 * H + j] += dout * (f * cp[j] + i * g);
            }
        }
    }
}

void rk_lstm_peephole_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                           const float *peephole, long rows, long H, long u0, long u1, int coupled, rk_isa isa) {
    (void)isa;
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) {
        peephole_rows_avx512(h, c, cache, gx, gh, c_prev, peephole, rows, H, u0, u1, coupled);
        return;
    }
#endif
    peephole_rows_portable(h, c, cache, gx, gh, c_prev, peephole, rows, H, u0, u1, coupled);
}

void rk_lstm_peephole_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                    const float *c_prev, const float *peephole, float *dpeephole, long dp_stride,
                                    long rows, long H, long u0, long u1, int coupled, rk_isa isa) {
    (void)isa;
#if defined(__x86_64__)
    if (rk_supported_isa(isa) == RK_ISA_AVX512) {
        peephole_rows_backward_avx512(dgx, dgh, dc, dh, cache, c_prev, peephole, dpeephole, dp_stride, rows, H, u0, u1,
                                      coupled);
        return;
    }
#endif
    peephole_rows_backward_portable(dgx, dgh, dc, dh, cache, c_prev, peephole, dpeephole, dp_stride, rows, H, u0, u1,
                                    coupled);
}

// The pointwise steps of the cell variants, forward and backward: ONNX's activations and clip, the
// peephole and coupled-gate LSTM, the GRU with the reset gate before or after the recurrent product.
// Each step is a few passes over a row's units (vectorised sigmoid / tanh, loops the compiler
// vectorises for the rest); the standard cells keep their fused kernels in cells.c.
//
// Legend: rows = batch rows of this call, H = hidden units, [u0, u1) the units computed (a
// thread's share), a = a gate's pre-activation, k = a row of the cache.
#include "_RecurrentKernels.h"
#include "kernels.h"
#include "vecmath.h"

#include "dispatch.h"

#include <math.h>
#include <string.h>

// ---- Activations ---------------------------------------------------------------------------

ALWAYS_INLINE static inline float clampf(float x, float clip) { return x < -clip ? -clip : (x > clip ? clip : x); }

ALWAYS_INLINE static inline void activation_forward(float *y, const float *x, long n, rk_activation a, float clip, rk_isa isa) {
    if (n <= 0) return;
    const float *in = x;
    if (clip < INFINITY) {  // clamp first (NaN stays NaN)
        for (long j = 0; j < n; j++) y[j] = clampf(x[j], clip);
        in = y;
    }
    const float al = a.alpha, be = a.beta;
    switch (a.kind) {
    case RK_ACT_SIGMOID: rk_sigmoid(y, in, n, isa); break;
    case RK_ACT_TANH: rk_tanh(y, in, n, isa); break;
    case RK_ACT_RELU: for (long j = 0; j < n; j++) y[j] = in[j] > 0.0f ? in[j] : (in[j] != in[j] ? in[j] : 0.0f); break;
    case RK_ACT_AFFINE: for (long j = 0; j < n; j++) y[j] = al * in[j] + be; break;
    case RK_ACT_LEAKY_RELU: for (long j = 0; j < n; j++) y[j] = in[j] >= 0.0f ? in[j] : al * in[j]; break;
    case RK_ACT_THRESHOLDED_RELU: for (long j = 0; j < n; j++) y[j] = in[j] > al ? in[j] : 0.0f; break;
    case RK_ACT_SCALED_TANH:
        for (long j = 0; j < n; j++) y[j] = be * in[j];
        rk_tanh(y, y, n, isa);
        for (long j = 0; j < n; j++) y[j] *= al;
        break;
    case RK_ACT_HARD_SIGMOID:
        for (long j = 0; j < n; j++) { const float v = al * in[j] + be; y[j] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
        break;
    case RK_ACT_ELU: for (long j = 0; j < n; j++) y[j] = in[j] >= 0.0f ? in[j] : al * expm1f(in[j]); break;
    case RK_ACT_SOFTSIGN: for (long j = 0; j < n; j++) y[j] = in[j] / (1.0f + fabsf(in[j])); break;
    case RK_ACT_SOFTPLUS:  // log(1 + eˣ) without overflow: max(x, 0) + log1p(e^-|x|)
        for (long j = 0; j < n; j++) { const float v = in[j]; y[j] = (v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v))); }
        break;
    default: for (long j = 0; j < n; j++) y[j] = NAN; break;
    }
}

ALWAYS_INLINE static inline void activation_backward(float *d, const float *x, const float *y, long n, rk_activation a, float clip) {
    const float al = a.alpha, be = a.beta;
    for (long j = 0; j < n; j++) {
        const float v = clip < INFINITY ? clampf(x[j], clip) : x[j], out = y[j];
        float g;
        switch (a.kind) {
        case RK_ACT_SIGMOID: g = out * (1.0f - out); break;
        case RK_ACT_TANH: g = 1.0f - out * out; break;
        case RK_ACT_RELU: g = v > 0.0f ? 1.0f : 0.0f; break;
        case RK_ACT_AFFINE: g = al; break;
        case RK_ACT_LEAKY_RELU: g = v > 0.0f ? 1.0f : al; break;
        case RK_ACT_THRESHOLDED_RELU: g = v > al ? 1.0f : 0.0f; break;
        case RK_ACT_SCALED_TANH: { const float t = al != 0.0f ? out / al : 0.0f; g = al * be * (1.0f - t * t); break; }
        case RK_ACT_HARD_SIGMOID: { const float s = al * v + be; g = s > 0.0f && s < 1.0f ? al : 0.0f; break; }
        case RK_ACT_ELU: g = v > 0.0f ? 1.0f : out + al; break;
        case RK_ACT_SOFTSIGN: { const float s = 1.0f + fabsf(v); g = 1.0f / (s * s); break; }
        case RK_ACT_SOFTPLUS: g = 1.0f / (1.0f + expf(-v)); break;
        default: g = NAN; break;
        }
        // clamp passes the gradient where -clip ≤ x ≤ clip (PyTorch's clamp, bounds included)
        d[j] *= (clip < INFINITY && !(x[j] >= -clip && x[j] <= clip)) ? 0.0f : g;
    }
}

// ---- LSTM: peephole, coupled input–forget gate, activations, clip ---------------------------

// Cache row: [a_i a_f a_g a_o | i f g o | hc | c], 10H; a = pre-activations before clip (peephole
// terms included), i f g o after activation, hc = act_h(c).
ALWAYS_INLINE static inline void lstm_general_step_body(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                          const float *peephole, long rows, long H, long u0, long u1, const rk_lstm_config *cf,
                          rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 10 * H;
        const float *x = gx + b * 4 * H, *r = gh + b * 4 * H, *cp = c_prev + b * H;
        float *cb = c + b * H, *hb = h + b * H;
        for (int g = 0; g < 4; g++) {
            for (long j = u0; j < u1; j++) k[g * H + j] = x[g * H + j] + r[g * H + j];
        }
        if (peephole) {
            for (long j = u0; j < u1; j++) { k[j] += peephole[j] * cp[j]; k[H + j] += peephole[H + j] * cp[j]; }
        }
        activation_forward(k + 4 * H + u0, k + u0, n, cf->f, cf->clip, isa);              // i
        if (cf->coupled) { for (long j = u0; j < u1; j++) k[5 * H + j] = 1.0f - k[4 * H + j]; }  // f = 1 - i
        else activation_forward(k + 5 * H + u0, k + H + u0, n, cf->f, cf->clip, isa);     // f
        activation_forward(k + 6 * H + u0, k + 2 * H + u0, n, cf->g, cf->clip, isa);      // g
        for (long j = u0; j < u1; j++) k[9 * H + j] = cb[j] = k[5 * H + j] * cp[j] + k[4 * H + j] * k[6 * H + j];
        if (peephole) { for (long j = u0; j < u1; j++) k[3 * H + j] += peephole[2 * H + j] * cb[j]; }
        activation_forward(k + 7 * H + u0, k + 3 * H + u0, n, cf->f, cf->clip, isa);      // o
        activation_forward(k + 8 * H + u0, cb + u0, n, cf->h, INFINITY, isa);             // hc = act_h(c)
        for (long j = u0; j < u1; j++) hb[j] = k[7 * H + j] * k[8 * H + j];
    }
}
DISPATCH(lstm_general_step, (float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                          const float *peephole, long rows, long H, long u0, long u1, const rk_lstm_config *cf,
                          rk_isa isa), (h, c, cache, gx, gh, c_prev, peephole, rows, H, u0, u1, cf, isa))

// do = dh·hc, da_o = do·f'(a_o);  dc_t = dc + dh·o·h'(c) + da_o·p_o
// di = dc_t·g (− dc_t·c_prev coupled), df = dc_t·c_prev (0 coupled), dg = dc_t·i; through f', g'
// dc_prev = dc_t·f + da_i·p_i + da_f·p_f;  dp += (da_i·c_prev, da_f·c_prev, da_o·c)
ALWAYS_INLINE static inline void lstm_general_step_backward_body(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                   const float *c_prev, const float *peephole, float *dpeephole, long dp_stride,
                                   long rows, long H, long u0, long u1, const rk_lstm_config *cf, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 10 * H, *cp = c_prev + b * H, *dhb = dh + b * H;
        float *d = dgx + b * 4 * H, *dcb = dc + b * H;
        for (long j = u0; j < u1; j++) { d[3 * H + j] = dhb[j] * k[8 * H + j]; d[2 * H + j] = dhb[j] * k[7 * H + j]; }
        activation_backward(d + 3 * H + u0, k + 3 * H + u0, k + 7 * H + u0, n, cf->f, cf->clip);   // da_o
        activation_backward(d + 2 * H + u0, k + 9 * H + u0, k + 8 * H + u0, n, cf->h, INFINITY);   // dh·o·h'(c)
        for (long j = u0; j < u1; j++) {
            float dct = dcb[j] + d[2 * H + j];
            if (peephole) dct += d[3 * H + j] * peephole[2 * H + j];
            dcb[j] = dct;
            d[j] = dct * k[6 * H + j] - (cf->coupled ? dct * cp[j] : 0.0f);
            d[H + j] = cf->coupled ? 0.0f : dct * cp[j];
            d[2 * H + j] = dct * k[4 * H + j];
        }
        activation_backward(d + u0, k + u0, k + 4 * H + u0, n, cf->f, cf->clip);                     // da_i
        if (!cf->coupled) activation_backward(d + H + u0, k + H + u0, k + 5 * H + u0, n, cf->f, cf->clip);  // da_f
        activation_backward(d + 2 * H + u0, k + 2 * H + u0, k + 6 * H + u0, n, cf->g, cf->clip);   // da_g
        for (long j = u0; j < u1; j++) {
            float dcp = dcb[j] * k[5 * H + j];
            if (peephole) dcp += d[j] * peephole[j] + d[H + j] * peephole[H + j];
            dcb[j] = dcp;
        }
        if (dpeephole) {
            float *p = dpeephole + b * dp_stride;
            for (long j = u0; j < u1; j++) {
                p[j] += d[j] * cp[j];
                p[H + j] += d[H + j] * cp[j];
                p[2 * H + j] += d[3 * H + j] * k[9 * H + j];
            }
        }
        if (dgh != dgx) {
            for (int g = 0; g < 4; g++) memcpy(dgh + b * 4 * H + g * H + u0, d + g * H + u0, (size_t)n * sizeof(float));
        }
    }
}
DISPATCH(lstm_general_step_backward, (float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                   const float *c_prev, const float *peephole, float *dpeephole, long dp_stride,
                                   long rows, long H, long u0, long u1, const rk_lstm_config *cf, rk_isa isa), (dgx, dgh, dc, dh, cache, c_prev, peephole, dpeephole, dp_stride, rows, H, u0, u1, cf, isa))

// ---- GRU: reset before or after the recurrent product, activations, clip --------------------

// Cache row: [a_r a_z a_n | r z n | v], 7H. After the product (PyTorch): a_n = gxₙ + r·ghₙ and
// v = ghₙ. Before it (Cho et al.): the early half writes r, z and v = r ⊙ h_prev (what the late
// product reads), the late half a_n = gxₙ + ghₙ with ghₙ = v Wₕₙᵀ + bₕₙ.
ALWAYS_INLINE static inline void gru_general_step_early_body(float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                               long u0, long u1, const rk_gru_config *cf, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 7 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H;
        for (long j = u0; j < u1; j++) { k[j] = x[j] + q[j]; k[H + j] = x[H + j] + q[H + j]; }
        activation_forward(k + 3 * H + u0, k + u0, n, cf->f, cf->clip, isa);          // r
        activation_forward(k + 4 * H + u0, k + H + u0, n, cf->f, cf->clip, isa);      // z
        if (!cf->reset_after) {
            const float *hp = h_prev + b * H;
            for (long j = u0; j < u1; j++) k[6 * H + j] = k[3 * H + j] * hp[j];
        }
    }
}
DISPATCH(gru_general_step_early, (float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                               long u0, long u1, const rk_gru_config *cf, rk_isa isa), (cache, gx, gh, h_prev, rows, H, u0, u1, cf, isa))

ALWAYS_INLINE static inline void gru_general_step_body(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows,
                         long H, long u0, long u1, const rk_gru_config *cf, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    if (cf->reset_after) gru_general_step_early_body(cache, gx, gh, h_prev, rows, H, u0, u1, cf, isa);
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 7 * H, *hb = h + b * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        if (cf->reset_after) {
            for (long j = u0; j < u1; j++) { k[6 * H + j] = q[2 * H + j]; k[2 * H + j] = x[2 * H + j] + k[3 * H + j] * q[2 * H + j]; }
        } else {
            for (long j = u0; j < u1; j++) k[2 * H + j] = x[2 * H + j] + q[2 * H + j];
        }
        activation_forward(k + 5 * H + u0, k + 2 * H + u0, n, cf->g, cf->clip, isa);  // n
        for (long j = u0; j < u1; j++) hb[j] = (1.0f - k[4 * H + j]) * k[5 * H + j] + k[4 * H + j] * hp[j];
    }
}
DISPATCH(gru_general_step, (float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows,
                         long H, long u0, long u1, const rk_gru_config *cf, rk_isa isa), (h, cache, gx, gh, h_prev, rows, H, u0, u1, cf, isa))

// dn = dh(1-z), dz = dh(h_prev - n), dh_prev += dh·z;  da_n = dn·g'(a_n)
// after: dgxₙ = da_n, dghₙ = da_n·r, dr = da_n·ghₙ;  before: dgxₙ = dghₙ = da_n, and dr comes from
// the late product's gradient dv (step_backward_early): dr = dv·h_prev, dh_prev += dv·r.
ALWAYS_INLINE static inline void gru_general_step_backward_body(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                                  const float *h_prev, long rows, long H, long u0, long u1, const rk_gru_config *cf, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 7 * H, *hp = h_prev + b * H, *dhb = dh + b * H;
        float *dx = dgx + b * 3 * H, *dq = dgh + b * 3 * H, *dhp = dh_prev + b * H;
        for (long j = u0; j < u1; j++) {
            const float z = k[4 * H + j];
            dx[2 * H + j] = dhb[j] * (1.0f - z);
            dx[H + j] = dhb[j] * (hp[j] - k[5 * H + j]);
            dhp[j] += dhb[j] * z;
        }
        activation_backward(dx + 2 * H + u0, k + 2 * H + u0, k + 5 * H + u0, n, cf->g, cf->clip);  // da_n
        activation_backward(dx + H + u0, k + H + u0, k + 4 * H + u0, n, cf->f, cf->clip);          // da_z
        if (cf->reset_after) {
            for (long j = u0; j < u1; j++) dx[j] = dx[2 * H + j] * k[6 * H + j];
            activation_backward(dx + u0, k + u0, k + 3 * H + u0, n, cf->f, cf->clip);              // da_r
            for (long j = u0; j < u1; j++) {
                dq[j] = dx[j];
                dq[H + j] = dx[H + j];
                dq[2 * H + j] = dx[2 * H + j] * k[3 * H + j];
            }
        } else if (dgh != dgx) {
            for (long j = u0; j < u1; j++) { dq[H + j] = dx[H + j]; dq[2 * H + j] = dx[2 * H + j]; }
        }
    }
}
DISPATCH(gru_general_step_backward, (float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                                  const float *h_prev, long rows, long H, long u0, long u1, const rk_gru_config *cf, rk_isa isa), (dgx, dgh, dh_prev, dh, cache, h_prev, rows, H, u0, u1, cf, isa))

ALWAYS_INLINE static inline void gru_general_step_backward_early_body(float *dgx, float *dgh, float *dh_prev, const float *dv, const float *cache,
                                        const float *h_prev, long rows, long H, long u0, long u1,
                                        const rk_gru_config *cf, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 7 * H, *hp = h_prev + b * H, *dvb = dv + b * H;
        float *dx = dgx + b * 3 * H, *dhp = dh_prev + b * H;
        for (long j = u0; j < u1; j++) { dx[j] = dvb[j] * hp[j]; dhp[j] += dvb[j] * k[3 * H + j]; }
        activation_backward(dx + u0, k + u0, k + 3 * H + u0, n, cf->f, cf->clip);  // da_r
        if (dgh != dgx) { for (long j = u0; j < u1; j++) dgh[b * 3 * H + j] = dx[j]; }
    }
}
DISPATCH(gru_general_step_backward_early, (float *dgx, float *dgh, float *dh_prev, const float *dv, const float *cache,
                                        const float *h_prev, long rows, long H, long u0, long u1,
                                        const rk_gru_config *cf, rk_isa isa), (dgx, dgh, dh_prev, dv, cache, h_prev, rows, H, u0, u1, cf, isa))

// ---- Elman: any activation, clip ------------------------------------------------------------

// Cache row: [a | h], 2H.
ALWAYS_INLINE static inline void elman_general_step_body(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0,
                           long u1, rk_activation act, float clip, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 2 * H;
        const float *x = gx + b * H, *r = gh + b * H;
        for (long j = u0; j < u1; j++) k[j] = x[j] + r[j];
        activation_forward(k + H + u0, k + u0, n, act, clip, isa);
        memcpy(h + b * H + u0, k + H + u0, (size_t)n * sizeof(float));
    }
}
DISPATCH(elman_general_step, (float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0,
                           long u1, rk_activation act, float clip, rk_isa isa), (h, cache, gx, gh, rows, H, u0, u1, act, clip, isa))

ALWAYS_INLINE static inline void elman_general_step_backward_body(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H,
                                    long u0, long u1, rk_activation act, float clip, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 2 * H;
        float *d = dgx + b * H;
        memcpy(d + u0, dh + b * H + u0, (size_t)n * sizeof(float));
        activation_backward(d + u0, k + u0, k + H + u0, n, act, clip);
        if (dgh != dgx) memcpy(dgh + b * H + u0, d + u0, (size_t)n * sizeof(float));
    }
}
DISPATCH(elman_general_step_backward, (float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H,
                                    long u0, long u1, rk_activation act, float clip, rk_isa isa), (dgx, dgh, dh, cache, rows, H, u0, u1, act, clip, isa))

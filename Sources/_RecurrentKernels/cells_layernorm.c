// The layer-normalised LSTM and GRU steps (Ba, Kiros & Hinton 2016), forward and backward.
//
// LN(v; γ, β) = γ ⊙ (v − mean v) / √(var v + ε) + β over all G·H columns of a row (biased
// variance, ε = 1e-5), applied to the input projection gx = x Wᵢₕᵀ and to the recurrent projection
// gh = h Wₕₕᵀ separately (both without biases: bias_ih and bias_hh are the two β), and for the LSTM
// to the cell state before the output tanh (c itself is carried un-normalised).
//
// Parameters of a layer and direction, one array: [b_ih | b_hh | γ_ih | γ_hh] (G·H each), then for
// the LSTM [γ_c | β_c] (H each). Their gradients are summed per batch row (`dparams`, rows
// `dp_stride` apart), so threads that own different rows never write the same floats.
#include "_RecurrentKernels.h"

#include <math.h>
#include <string.h>

static const float layer_norm_eps = 1e-5f;

#include "dispatch.h"

// Σ v[j] and Σ v[j]·w[j] (w may be NULL) over n values, in 16 double lanes summed at the end, so
// that the compiler can vectorise the loop without reordering any lane's sums (doubles: the
// statistics of a row whose values nearly cancel keep their digits).
ALWAYS_INLINE static inline void lane_sums(const float *v, const float *w, long n, float *sum, float *dot) {
    double s[16] = {0}, d[16] = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int l = 0; l < 16; l++) {
            s[l] += v[j + l];
            if (w) d[l] += (double)v[j + l] * w[j + l];
        }
    }
    for (int l = 0; j + l < n; l++) {
        s[l] += v[j + l];
        if (w) d[l] += (double)v[j + l] * w[j + l];
    }
    double ts = 0, td = 0;
    for (int l = 0; l < 16; l++) { ts += s[l]; td += d[l]; }
    *sum = (float)ts;
    *dot = (float)td;
}

// x̂ = (v − mean) / √(var + ε) over n values (two passes: the mean, then the variance of v − mean);
// returns 1/√(var + ε).
ALWAYS_INLINE static inline float normalize(float *xhat, const float *v, long n) {
    float sum, unused, var;
    lane_sums(v, 0, n, &sum, &unused);
    const float mean = sum / (float)n;
    for (long j = 0; j < n; j++) xhat[j] = v[j] - mean;
    lane_sums(xhat, xhat, n, &unused, &var);
    const float rstd = 1.0f / sqrtf(var / (float)n + layer_norm_eps);
    for (long j = 0; j < n; j++) xhat[j] *= rstd;
    return rstd;
}

// In place: dy (the gradient of γ ⊙ x̂ + β, already multiplied by γ) becomes the gradient of v:
// dv = rstd · (dy − mean(dy) − x̂ · mean(dy ⊙ x̂)).
ALWAYS_INLINE static inline void normalize_backward(float *dy, const float *xhat, float rstd, long n) {
    float s1, s2;
    lane_sums(dy, xhat, n, &s1, &s2);
    const float m1 = s1 / (float)n, m2 = s2 / (float)n;
    for (long j = 0; j < n; j++) dy[j] = rstd * (dy[j] - m1 - xhat[j] * m2);
}


// ---- LSTM -----------------------------------------------------------------------------------

// Cache row: [x̂ₓ 4H | x̂ₕ 4H | i f g o 4H | ĉ H | hc H | rstdₓ rstdₕ rstd_c], 14H + 3.
ALWAYS_INLINE static inline void ln_lstm_step_body(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                     const float *params, long rows, long H, rk_isa isa) {
    const long G = 4 * H;
    const float *bi = params, *bh = params + G, *wx = params + 2 * G, *wh = params + 3 * G;
    const float *wc = params + 4 * G, *bc = params + 4 * G + H;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * (14 * H + 3), *act = k + 2 * G, *ch = k + 3 * G, *hc = ch + H, *stats = hc + H;
        const float *cp = c_prev + b * H;
        float *cb = c + b * H, *hb = h + b * H;
        stats[0] = normalize(k, gx + b * G, G);
        stats[1] = normalize(k + G, gh + b * G, G);
        for (long j = 0; j < G; j++) act[j] = wx[j] * k[j] + bi[j] + wh[j] * k[G + j] + bh[j];
        rk_sigmoid(act, act, 2 * H, isa);            // i, f
        rk_tanh(act + 2 * H, act + 2 * H, H, isa);   // g
        rk_sigmoid(act + 3 * H, act + 3 * H, H, isa);  // o
        for (long j = 0; j < H; j++) cb[j] = act[H + j] * cp[j] + act[j] * act[2 * H + j];
        stats[2] = normalize(ch, cb, H);
        for (long j = 0; j < H; j++) hc[j] = wc[j] * ch[j] + bc[j];
        rk_tanh(hc, hc, H, isa);
        for (long j = 0; j < H; j++) hb[j] = act[3 * H + j] * hc[j];
    }
}
DISPATCH(ln_lstm_step, (float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                     const float *params, long rows, long H, rk_isa isa), (h, c, cache, gx, gh, c_prev, params, rows, H, isa))

// dy_c = dh·o·(1 − hc²), dcₜ = dc + LN'(dy_c·γ_c)
// dz = (dcₜ·g·i(1−i), dcₜ·c_prev·f(1−f), dcₜ·i·(1−g²), dh·hc·o(1−o)); dc_prev = dcₜ·f
// dgx = LN'(dz·γₓ), dgh = LN'(dz·γₕ). The parameters' parts (db = dz, dγ = dz·x̂, dγ_c = dy_c·ĉ,
// dβ_c = dy_c) are summed over all rows afterwards (rk_ln_lstm_parameter_gradients): this step
// leaves dz in the cache over i f g o and dy_c over hc, which nothing reads again.
ALWAYS_INLINE static inline void ln_lstm_step_backward_body(float *dgx, float *dgh, float *dc, const float *dh, float *cache, const float *c_prev,
                              const float *params, long rows, long H, rk_isa isa) {
    const long G = 4 * H;
    const float *wx = params + 2 * G, *wh = params + 3 * G, *wc = params + 4 * G;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * (14 * H + 3), *act = k + 2 * G, *ch = k + 3 * G, *hc = ch + H, *stats = hc + H;
        const float *cp = c_prev + b * H, *dhb = dh + b * H;
        float *dcb = dc + b * H, *dx = dgx + b * G, *dq = dgh + b * G;
        for (long j = 0; j < H; j++) {
            const float o = act[3 * H + j], t = hc[j];
            dx[3 * H + j] = dhb[j] * t * o * (1.0f - o);  // dz of o, before hc is overwritten
            const float dy = dhb[j] * o * (1.0f - t * t);
            hc[j] = dy;                                    // dy_c, for dγ_c and dβ_c
            dq[j] = dy * wc[j];                            // dy_c·γ_c, for LN'
        }
        float s1, s2;
        lane_sums(dq, ch, H, &s1, &s2);
        const float m1 = s1 / (float)H, m2 = s2 / (float)H, rc = stats[2];
        for (long j = 0; j < H; j++) {
            const float dct = dcb[j] + rc * (dq[j] - m1 - ch[j] * m2);
            const float i = act[j], f = act[H + j], g = act[2 * H + j];
            dx[j] = dct * g * i * (1.0f - i);
            dx[H + j] = dct * cp[j] * f * (1.0f - f);
            dx[2 * H + j] = dct * i * (1.0f - g * g);
            dcb[j] = dct * f;
        }
        for (long j = 0; j < G; j++) {
            const float dz = dx[j];
            act[j] = dz;
            dq[j] = dz * wh[j];
            dx[j] = dz * wx[j];
        }
        normalize_backward(dx, k, stats[0], G);
        normalize_backward(dq, k + G, stats[1], G);
    }
}
DISPATCH(ln_lstm_step_backward, (float *dgx, float *dgh, float *dc, const float *dh, float *cache, const float *c_prev,
                              const float *params, long rows, long H, rk_isa isa), (dgx, dgh, dc, dh, cache, c_prev, params, rows, H, isa))

// The parameter gradients from `rows` cache rows that the backward steps left (dz, dy_c), for
// units u0 ≤ u < u1 (gate columns g·H + u, cell columns u): each column summed in row order.
ALWAYS_INLINE static inline void ln_lstm_parameter_gradients_body(float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa) {
    const long G = 4 * H;
    float *dbi = dparams, *dbh = dparams + G, *dwx = dparams + 2 * G, *dwh = dparams + 3 * G;
    float *dwc = dparams + 4 * G, *dbc = dparams + 4 * G + H;
    for (long r = 0; r < rows; r++) {
        const float *k = cache + r * (14 * H + 3), *dz = k + 2 * G, *ch = k + 3 * G, *dy = ch + H;
        for (int g = 0; g < 4; g++) {
            for (long u = u0; u < u1; u++) {
                const long j = g * H + u;
                dbi[j] += dz[j];
                dwx[j] += dz[j] * k[j];
                dwh[j] += dz[j] * k[G + j];
            }
        }
        for (long u = u0; u < u1; u++) { dwc[u] += dy[u] * ch[u]; dbc[u] += dy[u]; }
    }
    for (int g = 0; g < 4; g++) {
        for (long u = u0; u < u1; u++) dbh[g * H + u] = dbi[g * H + u];
    }
}
DISPATCH(ln_lstm_parameter_gradients, (float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa), (dparams, cache, rows, H, u0, u1, isa))

// ---- GRU ------------------------------------------------------------------------------------

// Cache row: [x̂ₓ 3H | x̂ₕ 3H | r z n 3H | ahₙ H | rstdₓ rstdₕ], 10H + 2 (ahₙ = γₕₙ·x̂ₕₙ + bₕₙ, the
// normalised recurrent part that the reset gate scales).
ALWAYS_INLINE static inline void ln_gru_step_body(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, const float *params,
                    long rows, long H, rk_isa isa) {
    const long G = 3 * H;
    const float *bi = params, *bh = params + G, *wx = params + 2 * G, *wh = params + 3 * G;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * (10 * H + 2), *act = k + 2 * G, *ahn = act + G, *stats = ahn + H;
        const float *hp = h_prev + b * H;
        float *hb = h + b * H;
        stats[0] = normalize(k, gx + b * G, G);
        stats[1] = normalize(k + G, gh + b * G, G);
        for (long j = 0; j < 2 * H; j++) act[j] = wx[j] * k[j] + bi[j] + wh[j] * k[G + j] + bh[j];
        rk_sigmoid(act, act, 2 * H, isa);  // r, z
        for (long j = 0; j < H; j++) {
            const long q = 2 * H + j;
            ahn[j] = wh[q] * k[G + q] + bh[q];
            act[q] = wx[q] * k[q] + bi[q] + act[j] * ahn[j];
        }
        rk_tanh(act + 2 * H, act + 2 * H, H, isa);  // n
        for (long j = 0; j < H; j++) hb[j] = (1.0f - act[H + j]) * act[2 * H + j] + act[H + j] * hp[j];
    }
}
DISPATCH(ln_gru_step, (float *h, float *cache, const float *gx, const float *gh, const float *h_prev, const float *params,
                    long rows, long H, rk_isa isa), (h, cache, gx, gh, h_prev, params, rows, H, isa))

// dn = dh(1−z)(1−n²) = da_n; dz = dh(h_prev − n)z(1−z); dh_prev += dh·z; dr = da_n·ahₙ·r(1−r)
// dyₓ = (dr, dz, da_n), dyₕ = (dr, dz, da_n·r); dgx = LN'(dyₓ·γₓ), dgh = LN'(dyₕ·γₕ). The parameters'
// parts are summed afterwards (rk_ln_gru_parameter_gradients): this step leaves dyₓ in the cache
// over r z n and dyₕₙ over ahₙ.
ALWAYS_INLINE static inline void ln_gru_step_backward_body(float *dgx, float *dgh, float *dh_prev, const float *dh, float *cache, const float *h_prev,
                             const float *params, long rows, long H, rk_isa isa) {
    const long G = 3 * H;
    const float *wx = params + 2 * G, *wh = params + 3 * G;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * (10 * H + 2), *act = k + 2 * G, *ahn = act + G, *stats = ahn + H;
        const float *hp = h_prev + b * H, *dhb = dh + b * H;
        float *dx = dgx + b * G, *dq = dgh + b * G, *dhp = dh_prev + b * H;
        for (long j = 0; j < H; j++) {
            const float r = act[j], z = act[H + j], n = act[2 * H + j];
            const float dan = dhb[j] * (1.0f - z) * (1.0f - n * n);
            dx[j] = dan * ahn[j] * r * (1.0f - r);
            dx[H + j] = dhb[j] * (hp[j] - n) * z * (1.0f - z);
            dx[2 * H + j] = dan;
            dq[2 * H + j] = dan * r;
            dhp[j] += dhb[j] * z;
        }
        for (long j = 0; j < H; j++) { ahn[j] = dq[2 * H + j]; dq[j] = dx[j]; dq[H + j] = dx[H + j]; }
        for (long j = 0; j < G; j++) {
            act[j] = dx[j];
            dx[j] *= wx[j];
            dq[j] *= wh[j];
        }
        normalize_backward(dx, k, stats[0], G);
        normalize_backward(dq, k + G, stats[1], G);
    }
}
DISPATCH(ln_gru_step_backward, (float *dgx, float *dgh, float *dh_prev, const float *dh, float *cache, const float *h_prev,
                             const float *params, long rows, long H, rk_isa isa), (dgx, dgh, dh_prev, dh, cache, h_prev, params, rows, H, isa))

// As rk_ln_lstm_parameter_gradients, for the GRU's cache rows.
ALWAYS_INLINE static inline void ln_gru_parameter_gradients_body(float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa) {
    const long G = 3 * H;
    float *dbi = dparams, *dbh = dparams + G, *dwx = dparams + 2 * G, *dwh = dparams + 3 * G;
    for (long r = 0; r < rows; r++) {
        const float *k = cache + r * (10 * H + 2), *dy = k + 2 * G, *dyn = dy + G;
        for (int g = 0; g < 3; g++) {
            for (long u = u0; u < u1; u++) {
                const long j = g * H + u;
                const float dyh = g == 2 ? dyn[u] : dy[j];
                dbi[j] += dy[j];
                dwx[j] += dy[j] * k[j];
                dbh[j] += dyh;
                dwh[j] += dyh * k[G + j];
            }
        }
    }
}
DISPATCH(ln_gru_parameter_gradients, (float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa), (dparams, cache, rows, H, u0, u1, isa))

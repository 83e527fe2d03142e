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

// x̂ = (v − mean) / √(var + ε) over n values; returns 1/√(var + ε).
static float normalize(float *xhat, const float *v, long n) {
    double sum = 0;
    for (long j = 0; j < n; j++) sum += v[j];
    const float mean = (float)(sum / (double)n);
    double var = 0;
    for (long j = 0; j < n; j++) { const float d = v[j] - mean; var += (double)d * d; }
    const float rstd = 1.0f / sqrtf((float)(var / (double)n) + layer_norm_eps);
    for (long j = 0; j < n; j++) xhat[j] = (v[j] - mean) * rstd;
    return rstd;
}

// In place: dy (the gradient of γ ⊙ x̂ + β, already multiplied by γ) becomes the gradient of v:
// dv = rstd · (dy − mean(dy) − x̂ · mean(dy ⊙ x̂)).
static void normalize_backward(float *dy, const float *xhat, float rstd, long n) {
    double s1 = 0, s2 = 0;
    for (long j = 0; j < n; j++) { s1 += dy[j]; s2 += (double)dy[j] * xhat[j]; }
    const float m1 = (float)(s1 / (double)n), m2 = (float)(s2 / (double)n);
    for (long j = 0; j < n; j++) dy[j] = rstd * (dy[j] - m1 - xhat[j] * m2);
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// ---- LSTM -----------------------------------------------------------------------------------

// Cache row: [x̂ₓ 4H | x̂ₕ 4H | i f g o 4H | ĉ H | hc H | rstdₓ rstdₕ rstd_c], 14H + 3.
void rk_ln_lstm_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
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

// dy_c = dh·o·(1 − hc²): dγ_c += dy_c·ĉ, dβ_c += dy_c, dc_t = dc + LN'(dy_c·γ_c)
// dz = (dc_t·g·i(1−i), dc_t·c_prev·f(1−f), dc_t·i·(1−g²), dh·hc·o(1−o)); dc_prev = dc_t·f
// db_ih += dz, db_hh += dz, dγₓ += dz·x̂ₓ, dγₕ += dz·x̂ₕ; dgx = LN'(dz·γₓ), dgh = LN'(dz·γₕ)
void rk_ln_lstm_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                              const float *c_prev, const float *params, float *dparams, long dp_stride, long rows,
                              long H) {
    const long G = 4 * H;
    const float *wx = params + 2 * G, *wh = params + 3 * G, *wc = params + 4 * G;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * (14 * H + 3), *act = k + 2 * G, *ch = k + 3 * G, *hc = ch + H, *stats = hc + H;
        const float *cp = c_prev + b * H, *dhb = dh + b * H;
        float *dcb = dc + b * H, *dx = dgx + b * G, *dq = dgh + b * G, *p = dparams + b * dp_stride;
        float *dbi = p, *dbh = p + G, *dwx = p + 2 * G, *dwh = p + 3 * G, *dwc = p + 4 * G, *dbc = p + 4 * G + H;
        double s1 = 0, s2 = 0;
        for (long j = 0; j < H; j++) {
            const float dy = dhb[j] * act[3 * H + j] * (1.0f - hc[j] * hc[j]);
            dwc[j] += dy * ch[j];
            dbc[j] += dy;
            s1 += dy * wc[j];
            s2 += (double)(dy * wc[j]) * ch[j];
        }
        const float m1 = (float)(s1 / (double)H), m2 = (float)(s2 / (double)H), rc = stats[2];
        for (long j = 0; j < H; j++) {
            const float dy = dhb[j] * act[3 * H + j] * (1.0f - hc[j] * hc[j]);
            const float dct = dcb[j] + rc * (dy * wc[j] - m1 - ch[j] * m2);
            const float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
            dx[j] = dct * g * i * (1.0f - i);
            dx[H + j] = dct * cp[j] * f * (1.0f - f);
            dx[2 * H + j] = dct * i * (1.0f - g * g);
            dx[3 * H + j] = dhb[j] * hc[j] * o * (1.0f - o);
            dcb[j] = dct * f;
        }
        for (long j = 0; j < G; j++) {
            const float dz = dx[j];
            dbi[j] += dz;
            dbh[j] += dz;
            dwx[j] += dz * k[j];
            dwh[j] += dz * k[G + j];
            dq[j] = dz * wh[j];
            dx[j] = dz * wx[j];
        }
        normalize_backward(dx, k, stats[0], G);
        normalize_backward(dq, k + G, stats[1], G);
    }
}

// ---- GRU ------------------------------------------------------------------------------------

// Cache row: [x̂ₓ 3H | x̂ₕ 3H | r z n 3H | ahₙ H | rstdₓ rstdₕ], 10H + 2 (ahₙ = γₕₙ·x̂ₕₙ + bₕₙ, the
// normalised recurrent part that the reset gate scales).
void rk_ln_gru_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, const float *params,
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

// dn = dh(1−z)(1−n²) = da_n; dz = dh(h_prev − n)z(1−z); dh_prev += dh·z; dr = da_n·ahₙ·r(1−r)
// dyₓ = (dr, dz, da_n), dyₕ = (dr, dz, da_n·r); db += dy, dγ += dy·x̂; dgx = LN'(dyₓ·γₓ), dgh = LN'(dyₕ·γₕ)
void rk_ln_gru_step_backward(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                             const float *h_prev, const float *params, float *dparams, long dp_stride, long rows,
                             long H) {
    const long G = 3 * H;
    const float *wx = params + 2 * G, *wh = params + 3 * G;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * (10 * H + 2), *act = k + 2 * G, *ahn = act + G, *stats = ahn + H;
        const float *hp = h_prev + b * H, *dhb = dh + b * H;
        float *dx = dgx + b * G, *dq = dgh + b * G, *dhp = dh_prev + b * H, *p = dparams + b * dp_stride;
        float *dbi = p, *dbh = p + G, *dwx = p + 2 * G, *dwh = p + 3 * G;
        for (long j = 0; j < H; j++) {
            const float r = act[j], z = act[H + j], n = act[2 * H + j];
            const float dan = dhb[j] * (1.0f - z) * (1.0f - n * n);
            dx[j] = dan * ahn[j] * r * (1.0f - r);
            dx[H + j] = dhb[j] * (hp[j] - n) * z * (1.0f - z);
            dx[2 * H + j] = dan;
            dq[j] = dx[j];
            dq[H + j] = dx[H + j];
            dq[2 * H + j] = dan * r;
            dhp[j] += dhb[j] * z;
        }
        for (long j = 0; j < G; j++) {
            dbi[j] += dx[j];
            dbh[j] += dq[j];
            dwx[j] += dx[j] * k[j];
            dwh[j] += dq[j] * k[G + j];
            dx[j] *= wx[j];
            dq[j] *= wh[j];
        }
        normalize_backward(dx, k, stats[0], G);
        normalize_backward(dq, k + G, stats[1], G);
    }
}

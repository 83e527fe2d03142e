// The GRU with the reset gate before the recurrent product (Cho et al. 2014) with the standard
// activations and no clip, forward and backward, in two halves around the second product:
//
//     early:  r = σ(xᵣ + rᵣ)  z = σ(x_z + r_z)  v = r ⊙ h_prev          (then ghₙ = v Wₕₙᵀ + bₕₙ)
//     late:   n = tanh(xₙ + ghₙ)  h = (1 − z) ⊙ n + z ⊙ h_prev
//
// Cache row: [r z n v], 4H. Every gate sees x + gh only, so dgx = dgh (one buffer). Each kernel is
// a few passes over a row (sigmoid and tanh vectorised, loops the compiler vectorises per
// instruction set, see dispatch.h).
#include "dispatch.h"

ALWAYS_INLINE static inline void gru_before_step_early_body(float *cache, const float *gx, const float *gh,
                                                            const float *h_prev, long rows, long H, long u0, long u1,
                                                            rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 4 * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        for (long j = u0; j < u1; j++) { k[j] = x[j] + q[j]; k[H + j] = x[H + j] + q[H + j]; }
        if (u0 == 0 && u1 == H) rk_sigmoid(k, k, 2 * H, isa);  // r and z side by side
        else { rk_sigmoid(k + u0, k + u0, n, isa); rk_sigmoid(k + H + u0, k + H + u0, n, isa); }
        for (long j = u0; j < u1; j++) k[3 * H + j] = k[j] * hp[j];
    }
}
DISPATCH(gru_before_step_early, (float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                                 long u0, long u1, rk_isa isa), (cache, gx, gh, h_prev, rows, H, u0, u1, isa))

ALWAYS_INLINE static inline void gru_before_step_body(float *h, float *cache, const float *gx, const float *gh,
                                                      const float *h_prev, long rows, long H, long u0, long u1, rk_isa isa) {
    const long n = u1 - u0;
    if (n <= 0) return;
    for (long b = 0; b < rows; b++) {
        float *k = cache + b * 4 * H, *hb = h + b * H;
        const float *x = gx + b * 3 * H, *q = gh + b * 3 * H, *hp = h_prev + b * H;
        for (long j = u0; j < u1; j++) k[2 * H + j] = x[2 * H + j] + q[2 * H + j];
        rk_tanh(k + 2 * H + u0, k + 2 * H + u0, n, isa);
        for (long j = u0; j < u1; j++) hb[j] = k[2 * H + j] + k[H + j] * (hp[j] - k[2 * H + j]);
    }
}
DISPATCH(gru_before_step, (float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                           long u0, long u1, rk_isa isa), (h, cache, gx, gh, h_prev, rows, H, u0, u1, isa))

// dgxₙ = dh(1 − z)(1 − n²), dgx_z = dh(h_prev − n)z(1 − z), dh_prev += dh·z
ALWAYS_INLINE static inline void gru_before_step_backward_body(float *dgx, float *dh_prev, const float *dh,
                                                               const float *cache, const float *h_prev, long rows, long H,
                                                               long u0, long u1, rk_isa isa) {
    (void)isa;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 4 * H, *hp = h_prev + b * H, *dhb = dh + b * H;
        float *d = dgx + b * 3 * H, *dhp = dh_prev + b * H;
        for (long j = u0; j < u1; j++) {
            const float z = k[H + j], n = k[2 * H + j];
            d[2 * H + j] = dhb[j] * (1.0f - z) * (1.0f - n * n);
            d[H + j] = dhb[j] * (hp[j] - n) * z * (1.0f - z);
            dhp[j] += dhb[j] * z;
        }
    }
}
DISPATCH(gru_before_step_backward, (float *dgx, float *dh_prev, const float *dh, const float *cache, const float *h_prev,
                                    long rows, long H, long u0, long u1, rk_isa isa),
         (dgx, dh_prev, dh, cache, h_prev, rows, H, u0, u1, isa))

// From dv = dghₙ Wₕₙ: dgxᵣ = dv·h_prev·r(1 − r), dh_prev += dv·r
ALWAYS_INLINE static inline void gru_before_step_backward_early_body(float *dgx, float *dh_prev, const float *dv,
                                                                     const float *cache, const float *h_prev, long rows,
                                                                     long H, long u0, long u1, rk_isa isa) {
    (void)isa;
    for (long b = 0; b < rows; b++) {
        const float *k = cache + b * 4 * H, *hp = h_prev + b * H, *dvb = dv + b * H;
        float *d = dgx + b * 3 * H, *dhp = dh_prev + b * H;
        for (long j = u0; j < u1; j++) {
            const float r = k[j];
            d[j] = dvb[j] * hp[j] * r * (1.0f - r);
            dhp[j] += dvb[j] * r;
        }
    }
}
DISPATCH(gru_before_step_backward_early, (float *dgx, float *dh_prev, const float *dv, const float *cache,
                                          const float *h_prev, long rows, long H, long u0, long u1, rk_isa isa),
         (dgx, dh_prev, dv, cache, h_prev, rows, H, u0, u1, isa))

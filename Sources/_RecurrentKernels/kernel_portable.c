// Portable micro-kernels: plain C (4×8 tile) for any CPU, and Arm NEON (8×8 tile) on AArch64.
#include "kernels.h"

static void tile_scalar(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta,
                        const float *bias) {
    float acc[4][8] = {{0}};
    for (long p = 0; p < kc; p++) {
        for (int r = 0; r < 4; r++) {
            const float av = a[p * 4 + r];
            for (int j = 0; j < 8; j++) acc[r][j] += av * b[p * 8 + j];
        }
    }
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        for (int j = jlo; j < jhi; j++) cr[j] = beta ? cr[j] + acc[r][j] : (bias ? bias[j] + acc[r][j] : acc[r][j]);
    }
}

const rk_kernel rk_kernel_scalar = {4, 8, 64, tile_scalar, 0, 0, 0, 0, 0};

#if defined(__aarch64__)
#include <arm_neon.h>

static void tile_neon(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta,
                      const float *bias) {
    float32x4_t acc0[8], acc1[8];
    for (int r = 0; r < 8; r++) { acc0[r] = vdupq_n_f32(0); acc1[r] = vdupq_n_f32(0); }
    for (long p = 0; p < kc; p++) {
        const float32x4_t b0 = vld1q_f32(b + p * 8), b1 = vld1q_f32(b + p * 8 + 4);
        for (int r = 0; r < 8; r++) {
            acc0[r] = vfmaq_n_f32(acc0[r], b0, a[p * 8 + r]);
            acc1[r] = vfmaq_n_f32(acc1[r], b1, a[p * 8 + r]);
        }
    }
    float tile[8];
    for (int r = 0; r < rows; r++) {
        vst1q_f32(tile, acc0[r]);
        vst1q_f32(tile + 4, acc1[r]);
        float *cr = c + r * ldc;
        for (int j = jlo; j < jhi; j++) cr[j] = beta ? cr[j] + tile[j] : (bias ? bias[j] + tile[j] : tile[j]);
    }
}

const rk_kernel rk_kernel_neon = {8, 8, 96, tile_neon, 0, 0, 0, 0, 0};
#endif

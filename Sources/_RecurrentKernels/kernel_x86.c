// x86-64 micro-kernels with per-function target attributes: AVX-512 (12×32 tile: 24 zmm
// accumulators) and AVX2+FMA (6×16 tile: 12 ymm accumulators).
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// ---- AVX-512: MR = 12, NR = 32 -------------------------------------------------------------

#define AVX512 __attribute__((target("avx512f"), always_inline)) static inline

AVX512 void tile512(const int ROWS, long kc, const float *a, const float *b, float *c, long ldc,
                    int jlo, int jhi, int beta) {
    __m512 acc0[12], acc1[12];
    for (int r = 0; r < ROWS; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
    for (long p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(b + p * 32), b1 = _mm512_load_ps(b + p * 32 + 16);
        for (int r = 0; r < ROWS; r++) {
            const __m512 av = _mm512_set1_ps(a[p * 12 + r]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
    // Columns jlo..<jhi of the 32: one mask per 16-lane half (masked lanes are never touched).
    const unsigned full = (jhi >= 32 ? 0xFFFFFFFFu : ((1u << jhi) - 1u)) & ~((1u << jlo) - 1u);
    const __mmask16 m0 = (__mmask16)(full & 0xFFFF), m1 = (__mmask16)(full >> 16);
    for (int r = 0; r < ROWS; r++) {
        float *cr = c + r * ldc;
        if (beta) {
            acc0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), acc0[r]);
            acc1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), acc1[r]);
        }
        _mm512_mask_storeu_ps(cr, m0, acc0[r]);
        _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
    }
}

#define ROWS512(R) \
    __attribute__((target("avx512f"))) static void tile512_##R(long kc, const float *a, const float *b, float *c, \
                                                               long ldc, int jlo, int jhi, int beta) { \
        tile512(R, kc, a, b, c, ldc, jlo, jhi, beta); \
    }
ROWS512(1) ROWS512(2) ROWS512(3) ROWS512(4) ROWS512(5) ROWS512(6)
ROWS512(7) ROWS512(8) ROWS512(9) ROWS512(10) ROWS512(11) ROWS512(12)

static void tile_avx512(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int);
    static const fn by_rows[13] = {0, tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6,
                                   tile512_7, tile512_8, tile512_9, tile512_10, tile512_11, tile512_12};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta);
}

const rk_kernel rk_kernel_avx512 = {12, 32, 96, tile_avx512};

// ---- AVX2 + FMA: MR = 6, NR = 16 ------------------------------------------------------------

#define AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2 void tile256(const int ROWS, long kc, const float *a, const float *b, float *c, long ldc,
                  int jlo, int jhi, int beta) {
    __m256 acc0[6], acc1[6];
    for (int r = 0; r < ROWS; r++) { acc0[r] = _mm256_setzero_ps(); acc1[r] = _mm256_setzero_ps(); }
    for (long p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(b + p * 16), b1 = _mm256_load_ps(b + p * 16 + 8);
        for (int r = 0; r < ROWS; r++) {
            const __m256 av = _mm256_broadcast_ss(a + p * 6 + r);
            acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
        }
    }
    if (jlo == 0 && jhi == 16) {
        for (int r = 0; r < ROWS; r++) {
            float *cr = c + r * ldc;
            if (beta) {
                acc0[r] = _mm256_add_ps(_mm256_loadu_ps(cr), acc0[r]);
                acc1[r] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), acc1[r]);
            }
            _mm256_storeu_ps(cr, acc0[r]);
            _mm256_storeu_ps(cr + 8, acc1[r]);
        }
        return;
    }
    float tile[16];
    for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_ps(tile, acc0[r]);
        _mm256_storeu_ps(tile + 8, acc1[r]);
        float *cr = c + r * ldc;
        for (int j = jlo; j < jhi; j++) cr[j] = beta ? cr[j] + tile[j] : tile[j];
    }
}

#define ROWS256(R) \
    __attribute__((target("avx2,fma"))) static void tile256_##R(long kc, const float *a, const float *b, float *c, \
                                                                long ldc, int jlo, int jhi, int beta) { \
        tile256(R, kc, a, b, c, ldc, jlo, jhi, beta); \
    }
ROWS256(1) ROWS256(2) ROWS256(3) ROWS256(4) ROWS256(5) ROWS256(6)

static void tile_avx2(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int);
    static const fn by_rows[7] = {0, tile256_1, tile256_2, tile256_3, tile256_4, tile256_5, tile256_6};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta);
}

const rk_kernel rk_kernel_avx2 = {6, 16, 96, tile_avx2};

#endif

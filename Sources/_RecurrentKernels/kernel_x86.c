// x86-64 micro-kernels with per-function target attributes: AVX-512 (12×32 tile: 24 zmm
// accumulators) and AVX2+FMA (6×16 tile: 12 ymm accumulators).
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Row lists for explicit unrolling: the accumulators must be named variables, or the compiler
// keeps them in memory.
#define ROWS_1(X) X(0)
#define ROWS_2(X) ROWS_1(X) X(1)
#define ROWS_3(X) ROWS_2(X) X(2)
#define ROWS_4(X) ROWS_3(X) X(3)
#define ROWS_5(X) ROWS_4(X) X(4)
#define ROWS_6(X) ROWS_5(X) X(5)
#define ROWS_7(X) ROWS_6(X) X(6)
#define ROWS_8(X) ROWS_7(X) X(7)
#define ROWS_9(X) ROWS_8(X) X(8)
#define ROWS_10(X) ROWS_9(X) X(9)
#define ROWS_11(X) ROWS_10(X) X(10)
#define ROWS_12(X) ROWS_11(X) X(11)

// ---- AVX-512: MR = 12, NR = 32 (24 zmm accumulators, 2 for B, 1 broadcast) -------------------

__attribute__((target("avx512f"), always_inline)) static inline void
store512(float *cr, __m512 v0, __m512 v1, __mmask16 m0, __mmask16 m1, int beta) {
    if (beta) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
}

#define DECL512(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define FMA512(r) { const __m512 av = _mm512_set1_ps(a[p * 12 + r]); \
                    c##r##a = _mm512_fmadd_ps(av, b0, c##r##a); c##r##b = _mm512_fmadd_ps(av, b1, c##r##b); }
#define STORE512(r) store512(c + r * ldc, c##r##a, c##r##b, m0, m1, beta);
#define KERNEL512(R) \
    __attribute__((target("avx512f"))) static void tile512_##R(long kc, const float *a, const float *b, float *c, \
                                                               long ldc, int jlo, int jhi, int beta) { \
        ROWS_##R(DECL512) \
        for (long p = 0; p < kc; p++) { \
            const __m512 b0 = _mm512_load_ps(b + p * 32), b1 = _mm512_load_ps(b + p * 32 + 16); \
            ROWS_##R(FMA512) \
        } \
        /* Columns jlo..<jhi of the 32: one mask per 16-lane half (masked lanes are never touched). */ \
        const unsigned full = (jhi >= 32 ? 0xFFFFFFFFu : ((1u << jhi) - 1u)) & ~((1u << jlo) - 1u); \
        const __mmask16 m0 = (__mmask16)(full & 0xFFFF), m1 = (__mmask16)(full >> 16); \
        ROWS_##R(STORE512) \
    }
KERNEL512(1) KERNEL512(2) KERNEL512(3) KERNEL512(4) KERNEL512(5) KERNEL512(6)
KERNEL512(7) KERNEL512(8) KERNEL512(9) KERNEL512(10) KERNEL512(11) KERNEL512(12)

static void tile_avx512(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int);
    static const fn by_rows[13] = {0, tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6,
                                   tile512_7, tile512_8, tile512_9, tile512_10, tile512_11, tile512_12};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta);
}

const rk_kernel rk_kernel_avx512 = {12, 32, 96, tile_avx512};

// ---- AVX2 + FMA: MR = 6, NR = 16 (12 ymm accumulators) ---------------------------------------

__attribute__((target("avx2,fma"), always_inline)) static inline void
store256(float *cr, __m256 v0, __m256 v1, int jlo, int jhi, int beta) {
    if (jlo == 0 && jhi == 16) {
        if (beta) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
        return;
    }
    float tile[16];
    _mm256_storeu_ps(tile, v0);
    _mm256_storeu_ps(tile + 8, v1);
    for (int j = jlo; j < jhi; j++) cr[j] = beta ? cr[j] + tile[j] : tile[j];
}

#define DECL256(r) __m256 c##r##a = _mm256_setzero_ps(), c##r##b = _mm256_setzero_ps();
#define FMA256(r) { const __m256 av = _mm256_broadcast_ss(a + p * 6 + r); \
                    c##r##a = _mm256_fmadd_ps(av, b0, c##r##a); c##r##b = _mm256_fmadd_ps(av, b1, c##r##b); }
#define STORE256(r) store256(c + r * ldc, c##r##a, c##r##b, jlo, jhi, beta);
#define KERNEL256(R) \
    __attribute__((target("avx2,fma"))) static void tile256_##R(long kc, const float *a, const float *b, float *c, \
                                                                long ldc, int jlo, int jhi, int beta) { \
        ROWS_##R(DECL256) \
        for (long p = 0; p < kc; p++) { \
            const __m256 b0 = _mm256_load_ps(b + p * 16), b1 = _mm256_load_ps(b + p * 16 + 8); \
            ROWS_##R(FMA256) \
        } \
        ROWS_##R(STORE256) \
    }
KERNEL256(1) KERNEL256(2) KERNEL256(3) KERNEL256(4) KERNEL256(5) KERNEL256(6)

static void tile_avx2(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int);
    static const fn by_rows[7] = {0, tile256_1, tile256_2, tile256_3, tile256_4, tile256_5, tile256_6};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta);
}

const rk_kernel rk_kernel_avx2 = {6, 16, 96, tile_avx2};

#endif

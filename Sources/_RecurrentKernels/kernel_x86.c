// x86-64 micro-kernels with per-function target attributes: AVX-512 (12×32 tile: 24 zmm
// accumulators, plus a 4-panel tile for 1–3 rows) and AVX2+FMA (6×16 tile: 12 ymm accumulators,
// plus a 2- to 4-panel tile for 1–3 rows).
#include "kernels.h"
#include "vecmath.h"  // lanes256

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
store512(float *cr, __m512 v0, __m512 v1, __mmask16 m0, __mmask16 m1, int beta, const float *bias) {
    if (beta) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
    } else if (bias) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, bias), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, bias + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
}

#define DECL512(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define FMA512(r) { const __m512 av = _mm512_set1_ps(a[p * 12 + r]); \
                    c##r##a = _mm512_fmadd_ps(av, b0, c##r##a); c##r##b = _mm512_fmadd_ps(av, b1, c##r##b); }
#define STORE512(r) store512(c + r * ldc, c##r##a, c##r##b, m0, m1, beta, bias);
// One tile of R rows. Every tile asks for its own B panel 8 k ahead into L1, two lines per k:
// without this, the panel's loads wait on L2 (alternating binaries, 2 threads: `medium` forward
// 7–10% faster, `large` 3%, `gru` training 9%; 4 and 12 k ahead were no better, and the same in
// the few-row kernel below was slower). The prefetching variant (`tile512pf_R`, with a last
// parameter `next`) also brings the next B panel into L2, two lines per k: a panel's first row
// tile does this, so that the next panel does not come from L3 when the weights exceed L2.
#define NO_PARAM
#define NEXT_PARAM , const float *next
#define NO_PREFETCH
#define PREFETCH_NEXT _mm_prefetch((const char *)(next + p * 32), _MM_HINT_T1); \
                      _mm_prefetch((const char *)(next + p * 32 + 16), _MM_HINT_T1);
// The tile's rows of C are asked for into L2 before its k loop: the adds and stores at its end
// would otherwise wait on L3 or memory for every row whenever C is larger than the caches (the
// weight gradients, the input projection; measured on a 2-core AMD Zen 5 VM, alternating
// binaries, best of 5: a 2048³ product 57.2 → 49.3 ms, `train-1024` 211 → 186 ms, `large`
// training 110 → 100 ms, `bi-2` training 80 → 74 ms; into L1 instead was no better).
#define PREFETCH_C512(r) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T1); \
                         _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T1); \
                         _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T1);
// The strided variant (`tile512s_R`, with a last parameter `ldb`) reads B's rows `ldb` floats apart
// in place, unaligned: a panel of a row-major operand that is read once per block of rows, where
// packing it first would cost a copy through memory (the weight gradients' `[x | h]`). Its rows
// span up to three cache lines, so it asks for three.
#define STRIDE_PARAM , long ldb
#define PREFETCH_B512(LDB) _mm_prefetch((const char *)(b + (p + 8) * LDB), _MM_HINT_T0); \
                           _mm_prefetch((const char *)(b + (p + 8) * LDB + 16), _MM_HINT_T0);
#define PREFETCH_ROW512(LDB) PREFETCH_B512(LDB) _mm_prefetch((const char *)(b + (p + 8) * LDB + 31), _MM_HINT_T0);
#define TILE512(NAME, R, EXTRA_PARAM, PREFETCH, LDB, PREFETCH_B, LOAD) \
    __attribute__((target("avx512f"))) static void NAME(long kc, const float *a, const float *b, float *c, long ldc, \
                                                        int jlo, int jhi, int beta, const float *bias EXTRA_PARAM) { \
        ROWS_##R(DECL512) \
        ROWS_##R(PREFETCH_C512) \
        for (long p = 0; p < kc; p++) { \
            PREFETCH \
            PREFETCH_B(LDB) \
            const __m512 b0 = LOAD(b + p * LDB), b1 = LOAD(b + p * LDB + 16); \
            ROWS_##R(FMA512) \
        } \
        /* Columns jlo..<jhi of the 32: one mask per 16-lane half (masked lanes are never touched). */ \
        const unsigned full = (jhi >= 32 ? 0xFFFFFFFFu : ((1u << jhi) - 1u)) & ~((1u << jlo) - 1u); \
        const __mmask16 m0 = (__mmask16)(full & 0xFFFF), m1 = (__mmask16)(full >> 16); \
        ROWS_##R(STORE512) \
    }
#define KERNEL512(R) TILE512(tile512_##R, R, NO_PARAM, NO_PREFETCH, 32, PREFETCH_B512, _mm512_load_ps) \
                     TILE512(tile512pf_##R, R, NEXT_PARAM, PREFETCH_NEXT, 32, PREFETCH_B512, _mm512_load_ps) \
                     TILE512(tile512s_##R, R, STRIDE_PARAM, NO_PREFETCH, ldb, PREFETCH_ROW512, _mm512_loadu_ps)
KERNEL512(1) KERNEL512(2) KERNEL512(3) KERNEL512(4) KERNEL512(5) KERNEL512(6)
KERNEL512(7) KERNEL512(8) KERNEL512(9) KERNEL512(10) KERNEL512(11) KERNEL512(12)

typedef void (*tile512pf_fn)(long, const float *, const float *, float *, long, int, int, int, const float *,
                             const float *);

static void tile_prefetch_avx512(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi,
                                 int beta, const float *bias, const float *next) {
    static const tile512pf_fn by_rows[13] = {0, tile512pf_1, tile512pf_2, tile512pf_3, tile512pf_4, tile512pf_5,
                                             tile512pf_6, tile512pf_7, tile512pf_8, tile512pf_9, tile512pf_10,
                                             tile512pf_11, tile512pf_12};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta, bias, next);
}

typedef void (*tile512s_fn)(long, const float *, const float *, float *, long, int, int, int, const float *, long);

static void tile_strided_avx512(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int rows, int jlo,
                                int jhi, int beta, const float *bias) {
    static const tile512s_fn by_rows[13] = {0, tile512s_1, tile512s_2, tile512s_3, tile512s_4, tile512s_5, tile512s_6,
                                            tile512s_7, tile512s_8, tile512s_9, tile512s_10, tile512s_11, tile512s_12};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta, bias, ldb);
}

typedef void (*tile512_fn)(long, const float *, const float *, float *, long, int, int, int, const float *);

static void tile_avx512(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta,
                        const float *bias) {
    static const tile512_fn by_rows[13] = {0, tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6,
                                           tile512_7, tile512_8, tile512_9, tile512_10, tile512_11, tile512_12};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta, bias);
}

// Few rows (a batch of 1 to 3): up to four 32-column panels at once, so that up to 24
// independent accumulators hide the latency of the fused multiply-adds; A is read in place. Every
// column is still summed in the order p = 0, 1, …, so the result equals the 12×32 tile's bit for
// bit. Names: w<row>_<panel>a/b accumulate the two 16-lane halves of a panel.
#define PANELS_1(X, r) X(r, 0)
#define PANELS_2(X, r) PANELS_1(X, r) X(r, 1)
#define PANELS_3(X, r) PANELS_2(X, r) X(r, 2)
#define PANELS_4(X, r) PANELS_3(X, r) X(r, 3)
#define RP_1(NP, X) PANELS_##NP(X, 0)
#define RP_2(NP, X) RP_1(NP, X) PANELS_##NP(X, 1)
#define RP_3(NP, X) RP_2(NP, X) PANELS_##NP(X, 2)
#define DECLW(r, q) __m512 w##r##_##q##a = _mm512_setzero_ps(), w##r##_##q##b = _mm512_setzero_ps();
#define LOADW(r, q) const __m512 b##q##a = _mm512_load_ps(b + q * panel + p * 32), b##q##b = _mm512_load_ps(b + q * panel + p * 32 + 16);
#define BCASTW(r) const __m512 a##r = _mm512_set1_ps(a[r * lda + p]);
#define FMAW(r, q) w##r##_##q##a = _mm512_fmadd_ps(a##r, b##q##a, w##r##_##q##a); w##r##_##q##b = _mm512_fmadd_ps(a##r, b##q##b, w##r##_##q##b);
#define STOREW(r, q) store512(c + r * ldc + q * 32, w##r##_##q##a, w##r##_##q##b, (__mmask16)(mask[q] & 0xFFFF), \
                              (__mmask16)(mask[q] >> 16), beta, bias ? bias + q * 32 : 0);
#define WIDE512(R, NP) \
    __attribute__((target("avx512f"))) static void wide512_##R##_##NP(long kc, const float *a, long lda, const float *b, \
                                                                     long panel, float *c, long ldc, const unsigned *mask, \
                                                                     int beta, const float *bias) { \
        RP_##R(NP, DECLW) \
        for (long p = 0; p < kc; p++) { \
            PANELS_##NP(LOADW, 0) \
            ROWS_##R(BCASTW) \
            RP_##R(NP, FMAW) \
        } \
        RP_##R(NP, STOREW) \
    }
WIDE512(1, 1) WIDE512(1, 2) WIDE512(1, 3) WIDE512(1, 4)
WIDE512(2, 1) WIDE512(2, 2) WIDE512(2, 3) WIDE512(2, 4)
WIDE512(3, 1) WIDE512(3, 2) WIDE512(3, 3) WIDE512(3, 4)

static void wide_avx512(long kc, const float *a, long lda, const float *b, long panel, float *c, long ldc, int rows,
                        int panels, int jlo, int jhi, int beta, const float *bias) {
    typedef void (*fn)(long, const float *, long, const float *, long, float *, long, const unsigned *, int, const float *);
    static const fn by_shape[3][4] = {{wide512_1_1, wide512_1_2, wide512_1_3, wide512_1_4},
                                      {wide512_2_1, wide512_2_2, wide512_2_3, wide512_2_4},
                                      {wide512_3_1, wide512_3_2, wide512_3_3, wide512_3_4}};
    // Columns jlo..<32 of the first panel, 0..<jhi of the last, all of those between.
    unsigned mask[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    mask[0] &= ~((1u << jlo) - 1u);
    if (jhi < 32) mask[panels - 1] &= (1u << jhi) - 1u;
    by_shape[rows - 1][panels - 1](kc, a, lda, b, panel, c, ldc, mask, beta, bias);
}

// Packs `rows` ≤ 12 rows of A into a [kc][12] panel, zero-padded. Row-major A (row stride lda):
// 16 columns at a time as a 16×16 transpose in registers (rows 12–15 are zero and not stored).
// A stored transposed ([K, M], `trans`): each k is already 12 contiguous floats.
__attribute__((target("avx512f"))) static void pack_a_avx512(float *dst, const float *a, long lda, int trans, int rows,
                                                             long kc) {
    if (trans) {
        const __mmask16 m = (__mmask16)((1u << rows) - 1u);
        for (long kk = 0; kk < kc; kk++) _mm512_mask_storeu_ps(dst + kk * 12, 0x0FFF, _mm512_maskz_loadu_ps(m, a + kk * lda));
        return;
    }
    long kk = 0;
    for (; kk + 16 <= kc; kk += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(a + i * lda + kk) : _mm512_setzero_ps();
        __m512 t[16];
        for (int i = 0; i < 16; i += 2) {  // interleave pairs of rows: 2×2 blocks
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 16; i += 4) {  // 4×4 blocks within each 128-bit lane
            r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
            r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
            r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
        }
        for (int i = 0; i < 4; i++) {  // 128-bit lanes across groups of rows
            t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
            t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
            t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
            t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
        }
        for (int i = 0; i < 8; i++) {
            r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
            r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        }
        // r[c] now holds column kk + c of the 16 rows.
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(dst + (kk + i) * 12, 0x0FFF, r[i]);
    }
    for (; kk < kc; kk++) {
        for (int i = 0; i < 12; i++) dst[kk * 12 + i] = i < rows ? a[i * lda + kk] : 0.0f;
    }
}

const rk_kernel rk_kernel_avx512 = {12, 32, 96, tile_avx512, 3, wide_avx512, pack_a_avx512, tile_prefetch_avx512,
                                    tile_strided_avx512};

// ---- AVX2 + FMA: MR = 6, NR = 16 (12 ymm accumulators) ---------------------------------------

__attribute__((target("avx2,fma"), always_inline)) static inline void
store256(float *cr, __m256 v0, __m256 v1, int jlo, int jhi, int beta, const float *bias) {
    if (jlo == 0 && jhi == 16) {
        if (beta) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
        } else if (bias) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(bias), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(bias + 8), v1);
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
        return;
    }
    // Columns jlo..<jhi only: masked lanes are neither read nor written.
    const __m256i m0 = _mm256_andnot_si256(lanes256(jlo), lanes256(jhi));
    const __m256i m1 = _mm256_andnot_si256(lanes256(jlo - 8), lanes256(jhi - 8));
    const float *add = beta ? cr : bias;
    if (add) {
        v0 = _mm256_add_ps(_mm256_maskload_ps(add, m0), v0);
        v1 = _mm256_add_ps(_mm256_maskload_ps(add + 8, m1), v1);
    }
    _mm256_maskstore_ps(cr, m0, v0);
    _mm256_maskstore_ps(cr + 8, m1, v1);
}

#define DECL256(r) __m256 c##r##a = _mm256_setzero_ps(), c##r##b = _mm256_setzero_ps();
#define FMA256(r) { const __m256 av = _mm256_broadcast_ss(a + p * 6 + r); \
                    c##r##a = _mm256_fmadd_ps(av, b0, c##r##a); c##r##b = _mm256_fmadd_ps(av, b1, c##r##b); }
#define STORE256(r) store256(c + r * ldc, c##r##a, c##r##b, jlo, jhi, beta, bias);
// C's rows into L2 first, as in the AVX-512 tile (forced on the same machine: a 2048³ product
// 108 → 89 ms, `train-1024` 545 → 511 ms).
#define PREFETCH_C256(r) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T1); \
                         _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T1);
// `tile256s_R` reads B's rows `ldb` floats apart in place, unaligned (as `tile512s_R`).
#define TILE256(NAME, R, EXTRA_PARAM, LDB, LOAD) \
    __attribute__((target("avx2,fma"))) static void NAME(long kc, const float *a, const float *b, float *c, long ldc, \
                                                         int jlo, int jhi, int beta, const float *bias EXTRA_PARAM) { \
        ROWS_##R(DECL256) \
        ROWS_##R(PREFETCH_C256) \
        for (long p = 0; p < kc; p++) { \
            const __m256 b0 = LOAD(b + p * LDB), b1 = LOAD(b + p * LDB + 8); \
            ROWS_##R(FMA256) \
        } \
        ROWS_##R(STORE256) \
    }
#define KERNEL256(R) TILE256(tile256_##R, R, NO_PARAM, 16, _mm256_load_ps) \
                     TILE256(tile256s_##R, R, STRIDE_PARAM, ldb, _mm256_loadu_ps)
KERNEL256(1) KERNEL256(2) KERNEL256(3) KERNEL256(4) KERNEL256(5) KERNEL256(6)

static void tile_strided_avx2(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int rows, int jlo,
                              int jhi, int beta, const float *bias) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int, const float *, long);
    static const fn by_rows[7] = {0, tile256s_1, tile256s_2, tile256s_3, tile256s_4, tile256s_5, tile256s_6};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta, bias, ldb);
}

static void tile_avx2(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi, int beta,
                      const float *bias) {
    typedef void (*fn)(long, const float *, const float *, float *, long, int, int, int, const float *);
    static const fn by_rows[7] = {0, tile256_1, tile256_2, tile256_3, tile256_4, tile256_5, tile256_6};
    by_rows[rows](kc, a, b, c, ldc, jlo, jhi, beta, bias);
}

// Few rows (a batch of 1 to 3), A read in place: several 16-column panels at once, so that 8 to
// 12 independent accumulators hide the latency of the fused multiply-adds (a single row in the
// 6×16 tile has 2). Each column is summed in the order p = 0, 1, …, as in the tile, so the result
// is the same bit for bit. Names: v<row>_<panel>a/b hold the two 8-lane halves of a panel.
#define DECLV(r, q) __m256 v##r##_##q##a = _mm256_setzero_ps(), v##r##_##q##b = _mm256_setzero_ps();
#define BCASTV(r) const __m256 a##r = _mm256_broadcast_ss(a + r * lda + p);
#define FMAV(r, q) v##r##_##q##a = _mm256_fmadd_ps(a##r, _mm256_load_ps(b + q * panel + p * 16), v##r##_##q##a); \
                   v##r##_##q##b = _mm256_fmadd_ps(a##r, _mm256_load_ps(b + q * panel + p * 16 + 8), v##r##_##q##b);
#define STOREV(r, q) store256(c + r * ldc + q * 16, v##r##_##q##a, v##r##_##q##b, q == 0 ? jlo : 0, \
                              q == NP - 1 ? jhi : 16, beta, bias ? bias + q * 16 : 0);
#define WIDE256(R, NP_) \
    __attribute__((target("avx2,fma"))) static void wide256_##R##_##NP_(long kc, const float *a, long lda, const float *b, \
                                                                       long panel, float *c, long ldc, int jlo, int jhi, \
                                                                       int beta, const float *bias) { \
        enum { NP = NP_ }; \
        RP_##R(NP_, DECLV) \
        for (long p = 0; p < kc; p++) { \
            ROWS_##R(BCASTV) \
            RP_##R(NP_, FMAV) \
        } \
        RP_##R(NP_, STOREV) \
    }
WIDE256(1, 1) WIDE256(1, 2) WIDE256(1, 3) WIDE256(1, 4)
WIDE256(2, 1) WIDE256(2, 2) WIDE256(2, 3)
WIDE256(3, 1) WIDE256(3, 2)

// Up to four panels in calls of at most 4, 3 or 2 panels for 1, 2 or 3 rows: 16 registers hold
// 8 or 12 accumulators, one broadcast per row and a B vector.
static void wide_avx2(long kc, const float *a, long lda, const float *b, long panel, float *c, long ldc, int rows,
                      int panels, int jlo, int jhi, int beta, const float *bias) {
    typedef void (*fn)(long, const float *, long, const float *, long, float *, long, int, int, int, const float *);
    static const fn by_shape[3][4] = {{wide256_1_1, wide256_1_2, wide256_1_3, wide256_1_4},
                                      {wide256_2_1, wide256_2_2, wide256_2_3, 0},
                                      {wide256_3_1, wide256_3_2, 0, 0}};
    const int most = 5 - rows;
    for (int q = 0; q < panels; q += most) {
        const int np = panels - q < most ? panels - q : most;
        by_shape[rows - 1][np - 1](kc, a, lda, b + q * panel, panel, c + q * 16, ldc, q == 0 ? jlo : 0,
                                   q + np == panels ? jhi : 16, beta, bias ? bias + q * 16 : 0);
    }
}

// Packs `rows` ≤ 6 rows of A into a [kc][6] panel, zero-padded (as pack_a_avx512). Row-major A: 8
// columns at a time as an 8×8 transpose in registers (rows 6 and 7 zero, not stored). Stored
// transposed: each k's 6 floats are contiguous; lanes past `rows` are neither read nor kept.
__attribute__((target("avx2,fma"))) static void pack_a_avx2(float *dst, const float *a, long lda, int trans, int rows,
                                                           long kc) {
    if (trans) {
        const __m256i m = lanes256(rows);
        for (long kk = 0; kk < kc; kk++) {
            const __m256 v = _mm256_maskload_ps(a + kk * lda, m);
            _mm_storeu_ps(dst + kk * 6, _mm256_castps256_ps128(v));
            _mm_storel_pi((__m64 *)(dst + kk * 6 + 4), _mm256_extractf128_ps(v, 1));
        }
        return;
    }
    long kk = 0;
    for (; kk + 8 <= kc; kk += 8) {
        __m256 r[8], t[8];
        for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(a + i * lda + kk) : _mm256_setzero_ps();
        for (int i = 0; i < 8; i += 2) {  // interleave pairs of rows
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {  // 4×4 blocks within each 128-bit lane: columns c | c + 4 of 4 rows
            r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
            r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
            r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
        }
        for (int c = 0; c < 4; c++) {  // rows 0–3 and 4–7 of columns c and c + 4
            t[c] = _mm256_permute2f128_ps(r[c], r[c + 4], 0x20);
            t[c + 4] = _mm256_permute2f128_ps(r[c], r[c + 4], 0x31);
        }
        for (int c = 0; c < 8; c++) {
            _mm_storeu_ps(dst + (kk + c) * 6, _mm256_castps256_ps128(t[c]));
            _mm_storel_pi((__m64 *)(dst + (kk + c) * 6 + 4), _mm256_extractf128_ps(t[c], 1));
        }
    }
    for (; kk < kc; kk++) {
        for (int i = 0; i < 6; i++) dst[kk * 6 + i] = i < rows ? a[i * lda + kk] : 0.0f;
    }
}

const rk_kernel rk_kernel_avx2 = {6, 16, 96, tile_avx2, 3, wide_avx2, pack_a_avx2, 0, tile_strided_avx2};

#endif

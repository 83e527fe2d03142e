// Micro-kernels: one MR×NR tile of C from a packed A panel [kc][MR] and a packed B panel [kc][NR].
#ifndef RECURRENT_KERNELS_INTERNAL_H
#define RECURRENT_KERNELS_INTERNAL_H

#include "_RecurrentKernels.h"

/// c[r, j] (+)= Σ_p a[p, r] · b[p, j] for rows r < rows and columns jlo ≤ j < jhi of the tile,
/// from a packed A panel [kc][MR] and a packed B panel [kc][NR]; `c` points at the tile's first
/// element (row stride ldc); beta = 1 accumulates into c, beta = 0 overwrites it with the sum plus
/// `bias[j]` (the tile's columns; none when NULL).
typedef void (*rk_tile_fn)(long kc, const float *a, const float *b, float *c, long ldc,
                           int rows, int jlo, int jhi, int beta, const float *bias);

/// The same for 1 ≤ rows ≤ wide_rows over 1 ≤ panels ≤ 4 consecutive panels (`panel` floats
/// apart; `c` and `bias` at the first panel's column 0), columns jlo..<NR of the first panel and
/// 0..<jhi of the last; A read in place.
typedef void (*rk_wide_fn)(long kc, const float *a, long lda, const float *b, long panel, float *c, long ldc,
                           int rows, int panels, int jlo, int jhi, int beta, const float *bias);

typedef struct {
    int mr, nr;
    long mc;          // rows of A per block (a multiple of mr; mc × KC floats stay in L2)
    rk_tile_fn tile;
    int wide_rows;    // A with at most this many rows goes to `wide` in place (0: no `wide` kernel)
    rk_wide_fn wide;
    /// Packs `rows` ≤ MR rows of A (row-major, or stored [K, M] when `trans`; `a` at the panel's
    /// first element) into a [kc][MR] panel, zero-padded (NULL: plain loops).
    void (*pack_a)(float *dst, const float *a, long lda, int trans, int rows, long kc);
    /// `tile` that also prefetches the B panel at `next` (kc × NR floats) into L2 (NULL: none).
    void (*tile_prefetch)(long kc, const float *a, const float *b, float *c, long ldc, int rows, int jlo, int jhi,
                          int beta, const float *bias, const float *next);
    /// `tile` reading B's rows `ldb` floats apart in place, unaligned, instead of a packed panel (a
    /// row-major operand read without packing it; NULL: none, such operands are packed).
    void (*tile_strided)(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int rows, int jlo,
                         int jhi, int beta, const float *bias);
} rk_kernel;

extern const rk_kernel rk_kernel_scalar;
// ---- Packed right operands (packed_b.c), shared with the product (sgemm.c) ----

enum { KC = 256 };  // rows of B (columns of A) per block

/// The operand `[b | 0 | b2]` that rk_packed_b_panels_joined describes (`b` alone: gap = split = n).
typedef struct {
    const float *b, *b2, *b2_tail;
    long ldb, gap, split, ldb2, b2_rows;
} joined_source;

struct rk_packed_b {
    long k, n, panels;
    rk_isa isa;
    int nr;
    float *data;        // for each KC block: for each panel: [kc][nr], zero-padded past n; NULL for a view
    joined_source src;  // a view's operand, read in place
};

/// The micro-kernels for an instruction set the CPU supports.
const rk_kernel *rk_kernel_for(rk_isa isa);

/// Rows k0..<k0+kc of column panel p (nr wide) of the operand `s` into dst `[kc][nr]`.
void rk_pack_panel(float *dst, int nr, long n, long k0, long kc, long p, const joined_source *s, int trans_b);

#if defined(__x86_64__)
extern const rk_kernel rk_kernel_avx2;
extern const rk_kernel rk_kernel_avx512;

// The fused pointwise steps for AVX2+FMA (cells_avx2.c), with the arguments of the rk_*_step
// functions they stand in for; `streamed` ones write the training cache around the caches.
void rk_copy_stream_avx2(float *dst, const float *src, long n);
void rk_elman_rows_avx2(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0, long u1,
                        int relu);
void rk_elman_rows_backward_avx2(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H,
                                 long u0, long u1, int relu);
void rk_lstm_rows_avx2(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                       long rows, long H, long u0, long u1);
void rk_lstm_rows_streamed_avx2(float *h, float *c, float *cache, const float *gx, const float *gh,
                                const float *c_prev, long rows, long H, long u0, long u1);
void rk_lstm_rows_backward_avx2(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                const float *c_prev, long rows, long H, long u0, long u1);
void rk_gru_rows_avx2(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                      long u0, long u1);
void rk_gru_rows_streamed_avx2(float *h, float *cache, const float *gx, const float *gh, const float *h_prev,
                               long rows, long H, long u0, long u1);
void rk_gru_rows_backward_avx2(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                               const float *h_prev, long rows, long H, long u0, long u1);
#endif
#if defined(__aarch64__)
extern const rk_kernel rk_kernel_neon;
#endif

#endif

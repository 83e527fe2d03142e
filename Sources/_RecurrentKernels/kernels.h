// Micro-kernels: one MR×NR tile of C from a packed A panel [kc][MR] and a packed B panel [kc][NR].
#ifndef RECURRENT_KERNELS_INTERNAL_H
#define RECURRENT_KERNELS_INTERNAL_H

/// c[r, j] (+)= Σ_p a[p, r] · b[p, j] for rows r < rows and columns jlo ≤ j < jhi of the tile;
/// `c` points at the tile's first element (row stride ldc); beta = 0 overwrites, 1 accumulates.
typedef void (*rk_tile_fn)(long kc, const float *a, const float *b, float *c, long ldc,
                           int rows, int jlo, int jhi, int beta);

typedef struct {
    int mr, nr;
    long mc;  // rows of A packed per block (a multiple of mr; mc × KC floats stay in L2)
    rk_tile_fn tile;
} rk_kernel;

extern const rk_kernel rk_kernel_scalar;
#if defined(__x86_64__)
extern const rk_kernel rk_kernel_avx2;
extern const rk_kernel rk_kernel_avx512;
#endif
#if defined(__aarch64__)
extern const rk_kernel rk_kernel_neon;
#endif

#endif

// Packing the right operand of products into column panels, once (the weights, cached while they
// do not change) or per product; and choosing the instruction set at run time.
#include "_RecurrentKernels.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

static long min_l(long a, long b) { return a < b ? a : b; }

static rk_isa best_isa = (rk_isa)-1;  // detected once; benign race (every thread computes the same value)

rk_isa rk_best_isa(void) {
    if ((int)best_isa < 0) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) best_isa = RK_ISA_AVX512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best_isa = RK_ISA_AVX2;
        else best_isa = RK_ISA_SCALAR;
#elif defined(__aarch64__)
        best_isa = RK_ISA_NEON;
#else
        best_isa = RK_ISA_SCALAR;
#endif
    }
    return best_isa;
}

rk_isa rk_supported_isa(rk_isa isa) {
    rk_isa best = rk_best_isa();
    if (isa == RK_ISA_SCALAR || isa == best) return isa;
    if (best != RK_ISA_NEON && isa != RK_ISA_NEON && isa < best) return isa;  // a lower x86 level
    return RK_ISA_SCALAR;
}

const rk_kernel *rk_kernel_for(rk_isa isa) {
    switch (isa) {
#if defined(__x86_64__)
    case RK_ISA_AVX512: return &rk_kernel_avx512;
    case RK_ISA_AVX2: return &rk_kernel_avx2;
#endif
#if defined(__aarch64__)
    case RK_ISA_NEON: return &rk_kernel_neon;
#endif
    default: return &rk_kernel_scalar;
    }
}

rk_packed_b *rk_packed_b_new(long k, long n, rk_isa isa) {
    rk_packed_b *pb = malloc(sizeof *pb);
    if (!pb) return NULL;
    pb->isa = rk_supported_isa(isa);
    pb->nr = rk_kernel_for(pb->isa)->nr;
    pb->k = k;
    pb->n = n;
    pb->panels = (n + pb->nr - 1) / pb->nr;
    pb->data = aligned_alloc(64, (size_t)((k * pb->panels * pb->nr * sizeof(float) + 63) / 64 * 64 + 64));
    if (!pb->data) { free(pb); return NULL; }
    return pb;
}

long rk_packed_b_panel_count(const rk_packed_b *pb) { return pb->panels; }

int rk_panel_width(rk_isa isa) { return rk_kernel_for(rk_supported_isa(isa))->nr; }

// Rows k0..<k0+kc of column panel p (nr wide) of `[b | 0 | b2]` into dst `[kc][nr]`: columns j < gap
// from `b` (`[K, N]`, or `[N, K]` when `trans_b`), zeros up to `split`, the rest (row-major only)
// from `b2`, column j - split, its rows from `b2_rows` on at `b2_tail`; zeros past n.
void rk_pack_panel(float *dst, int nr, long n, long k0, long kc, long p, const joined_source *s, int trans_b) {
    const long col0 = p * nr, col1 = col0 + nr;
    if (trans_b) {  // `b` stored [N, K] (never joined): element by element
        for (long kk = 0; kk < kc; kk++) {
            for (int j = 0; j < nr; j++) {
                const long col = col0 + j;
                dst[kk * nr + j] = col >= n ? 0.0f : s->b[col * s->ldb + k0 + kk];
            }
        }
        return;
    }
    // Row-major sources: each row of the panel in pieces, columns a0..<a1 from `b` and c0..<c1 from
    // `b2`, zeros around them (the gap before `split`, the columns past n).
    const long a0 = col0, a1 = min_l(col1, s->gap);
    const long c0 = col0 > s->split ? col0 : s->split, c1 = min_l(col1, n);
    const long copied = (a1 > a0 ? a1 - a0 : 0) + (c1 > c0 ? c1 - c0 : 0);
    for (long kk = 0; kk < kc; kk++) {
        float *row = dst + kk * nr;
        if (copied < nr) memset(row, 0, (size_t)nr * sizeof(float));
        if (a1 > a0) memcpy(row, s->b + (k0 + kk) * s->ldb + a0, (size_t)(a1 - a0) * sizeof(float));
        if (c1 > c0) {
            const long r = k0 + kk;
            const float *row2 = r < s->b2_rows ? s->b2 + r * s->ldb2 : s->b2_tail + (r - s->b2_rows) * s->ldb2;
            memcpy(row + (c0 - col0), row2 + c0 - s->split, (size_t)(c1 - c0) * sizeof(float));
        }
    }
}

// Column panels p0..<p1 of the operand into pb's storage, block by block of K.
static void pack_panels(rk_packed_b *pb, const joined_source *s, int trans_b, long p0, long p1) {
    const long width = pb->panels * pb->nr;
    for (long k0 = 0; k0 < pb->k; k0 += KC) {
        const long kc = min_l(KC, pb->k - k0);
        for (long p = p0; p < p1; p++) rk_pack_panel(pb->data + k0 * width + p * kc * pb->nr, pb->nr, pb->n, k0, kc, p, s, trans_b);
    }
}

void rk_packed_b_panels(rk_packed_b *pb, const float *b, long ldb, int trans_b, long p0, long p1) {
    const joined_source s = {b, NULL, NULL, ldb, pb->n, pb->n, 0, 0};
    pack_panels(pb, &s, trans_b, p0, p1);
}

void rk_packed_b_panels_joined(rk_packed_b *pb, const float *b, long ldb, long gap, long split, const float *b2, long ldb2,
                               long b2_rows, const float *b2_tail, long p0, long p1) {
    const joined_source s = {b, b2, b2_tail, ldb, gap, split, ldb2, b2_rows};
    pack_panels(pb, &s, 0, p0, p1);
}

rk_packed_b *rk_packed_b_view_joined(long k, long n, rk_isa isa, const float *b, long ldb, long gap, long split,
                                     const float *b2, long ldb2, long b2_rows, const float *b2_tail) {
    isa = rk_supported_isa(isa);
    const rk_kernel *kern = rk_kernel_for(isa);
    if (!kern->tile_strided) return NULL;
    rk_packed_b *pb = malloc(sizeof *pb);
    if (!pb) return NULL;
    *pb = (rk_packed_b){k, n, (n + kern->nr - 1) / kern->nr, isa, kern->nr, NULL,
                        {b, b2, b2_tail, ldb, gap, split, ldb2, b2_rows}};
    return pb;
}

rk_packed_b *rk_pack_b(const float *b, long k, long n, long ldb, int trans_b, rk_isa isa) {
    rk_packed_b *pb = rk_packed_b_new(k, n, isa);
    if (pb) rk_packed_b_panels(pb, b, ldb, trans_b, 0, pb->panels);
    return pb;
}

void rk_packed_b_free(rk_packed_b *pb) {
    if (!pb) return;
    free(pb->data);
    free(pb);
}

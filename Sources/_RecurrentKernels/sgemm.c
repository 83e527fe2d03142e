// Packed, cache-blocked single-precision matrix product (the GotoBLAS / BLIS structure):
//
//   for each block of KC rows of B (and columns of A):
//     for each block of MC rows of A:  pack A[MC, KC] into MR-row panels   (stays in L2)
//       for each NR-column panel of B (packed once, by rk_pack_b):          (stays in L1)
//         for each MR-row panel of A:  micro-kernel: an MR×NR tile of C in registers,
//                                      KC rank-1 updates with fused multiply-adds.
//
// A product of one block of rows (a time loop's step) packs all of A once and takes the panels
// of B one by one, each with all its blocks of K, in either direction (sgemm_one_block).
//
// Every element of C is summed in the same order (p = 0, 1, …, K-1) however the work is split
// over rows or columns, so threads never change a result. The instruction set is chosen once at
// run time (the caller passes it; it is clamped to what the CPU supports); each micro-kernel
// carries its own `target` attribute.
#include "_RecurrentKernels.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

static long min_l(long a, long b) { return a < b ? a : b; }

// Panel `i` of a block of `mc` rows: panels of MR rows, except where that would leave a last
// panel of 1 to 3 rows. Such a panel has too few accumulators (under 8) to cover the latency of
// its fused multiply-adds and costs as much time as one of eight, so then the block is split into
// ⌈mc / mr⌉ panels of near-equal height instead (25 rows: 9 + 8 + 8, not 12 + 12 + 1).
static void panel_rows(long mc, int mr, long i, long *start, int *rows) {
    if (mc % mr == 0 || mc % mr >= 4) {
        *start = i * mr;
        *rows = (int)min_l(mr, mc - i * mr);
        return;
    }
    const long panels = (mc + mr - 1) / mr, base = mc / panels, extra = mc % panels;
    *start = i * base + min_l(i, extra);
    *rows = (int)(base + (i < extra));
}

// A grow-only scratch buffer per thread for packing A.
static _Thread_local float *scratch = NULL;
static _Thread_local size_t scratch_count = 0;

static float *scratch_buffer(size_t count) {
    if (count > scratch_count) {
        free(scratch);
        scratch = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
        scratch_count = scratch ? count : 0;
    }
    return scratch;
}

// A view's panels for one block of K, on each thread: where each is read, with its row stride (0:
// packed into `view_packed`, NR apart).
static _Thread_local const float **view_at = NULL;
static _Thread_local long *view_ld = NULL;
static _Thread_local long view_slots = 0;
static _Thread_local float *view_packed = NULL;
static _Thread_local size_t view_packed_count = 0;

// Where panels p0..<p1 of a view are read for rows k0..<k0+kc: in place when a panel's columns all
// lie in one operand and its rows in one piece of it; the others (a panel across the gap or past
// n, rows across b2's two pieces) are packed here. Returns 0 when out of memory.
static int view_block(const rk_packed_b *pb, long k0, long kc, long p0, long p1) {
    const joined_source *s = &pb->src;
    const int nr = pb->nr;
    if (p1 - p0 > view_slots) {
        free(view_at);
        free(view_ld);
        view_at = malloc((size_t)(p1 - p0) * sizeof *view_at);
        view_ld = malloc((size_t)(p1 - p0) * sizeof *view_ld);
        view_slots = view_at && view_ld ? p1 - p0 : 0;
        if (!view_slots) return 0;
    }
    long packed = 0;
    for (long p = p0; p < p1; p++) {
        const long col0 = p * nr, col1 = col0 + nr, i = p - p0;
        view_ld[i] = 0;
        if (col1 <= s->gap) {
            view_at[i] = s->b + k0 * s->ldb + col0;
            view_ld[i] = s->ldb;
        } else if (col0 >= s->split && col1 <= pb->n && (k0 + kc <= s->b2_rows || k0 >= s->b2_rows)) {
            view_at[i] = k0 >= s->b2_rows ? s->b2_tail + (k0 - s->b2_rows) * s->ldb2 + col0 - s->split
                                          : s->b2 + k0 * s->ldb2 + col0 - s->split;
            view_ld[i] = s->ldb2;
        } else {
            packed++;
        }
    }
    if ((size_t)(packed * kc * nr) > view_packed_count) {
        free(view_packed);
        view_packed = aligned_alloc(64, (size_t)((packed * kc * nr * sizeof(float) + 63) / 64 * 64));
        view_packed_count = view_packed ? (size_t)(packed * kc * nr) : 0;
        if (!view_packed) return 0;
    }
    float *dst = view_packed;
    for (long p = p0; p < p1; p++) {
        if (view_ld[p - p0]) continue;
        rk_pack_panel(dst, nr, pb->n, k0, kc, p, s, 0);
        view_at[p - p0] = dst;
        dst += kc * nr;
    }
    return 1;
}

// s[r] += Σ_kk panel[kk][r] for every lane r < mr of a packed A panel ([kc][mr]), kk in order.
static inline __attribute__((always_inline)) void sum_lanes(float *s, const float *panel, int mr, long kc) {
    for (long kk = 0; kk < kc; kk++) {
        for (int r = 0; r < mr; r++) s[r] += panel[kk * mr + r];
    }
}

// sums[r] += Σ_kk panel[kk][r] for the rows r < rows of a packed A panel, kk in order. The padding
// rows are zero, so every lane is summed: a constant width the compiler keeps in vector registers.
static void add_panel_sums(float *sums, const float *panel, int mr, int rows, long kc) {
    float s[32] = {0};  // mr ≤ 32 for every kernel
    for (int r = 0; r < rows; r++) s[r] = sums[r];
    switch (mr) {
    case 12: sum_lanes(s, panel, 12, kc); break;
    case 8: sum_lanes(s, panel, 8, kc); break;
    case 6: sum_lanes(s, panel, 6, kc); break;
    case 4: sum_lanes(s, panel, 4, kc); break;
    default: sum_lanes(s, panel, mr, kc);
    }
    for (int r = 0; r < rows; r++) sums[r] = s[r];
}

// Rows r0..<r0+rows of row-major A, columns k0..<k0+kc, into a [kc][mr] panel, zero-padded.
static void pack_a_rows(const rk_kernel *kern, float *dst, const float *a, long lda, long r0, int rows, long k0, long kc) {
    if (kern->pack_a) {
        kern->pack_a(dst, a + r0 * lda + k0, lda, 0, rows, kc);
        return;
    }
    for (long kk = 0; kk < kc; kk++) {
        for (int r = 0; r < kern->mr; r++) dst[kk * kern->mr + r] = r < rows ? a[(r0 + r) * lda + k0 + kk] : 0.0f;
    }
}

// The time loops' products (one block of rows of a row-major A, B packed): column panel by column
// panel, each with all its blocks of K in turn, forwards or (`descending`) backwards. A loop that
// alternates the two per step starts each step on the panels the last one ended on, which are
// still in L2 when the weights are larger than it; walked the same way every step, each panel
// had been evicted by the time it came round again. Every tile sums its blocks of K in order, as
// rk_sgemm_packed below, so the result is the same bit for bit.
static void sgemm_one_block(float *c, long ldc, const float *a, long lda, long m, const rk_packed_b *pb,
                            const rk_kernel *kern, long n0, long n1, long groups, long group_stride, int accumulate,
                            const float *bias, int prefetch_b, float *row_sums, int descending) {
    const int mr = kern->mr, nr = pb->nr, direct = m <= kern->wide_rows;
    const long width = pb->panels * nr, k = pb->k, panels_a = (m + mr - 1) / mr;
    float *packed_a = NULL;  // each block of K: [panel][kc][mr], the blocks KC · panels_a · mr floats apart
    if (!direct) {
        packed_a = scratch_buffer((size_t)(panels_a * mr * k));
        if (!packed_a) abort();
        for (long k0 = 0; k0 < k; k0 += KC) {
            for (long q = 0; q < panels_a; q++) {
                long ir;
                int rows;
                panel_rows(m, mr, q, &ir, &rows);
                float *panel = packed_a + k0 * panels_a * mr + q * mr * min_l(KC, k - k0);
                pack_a_rows(kern, panel, a, lda, ir, rows, k0, min_l(KC, k - k0));
                if (row_sums) add_panel_sums(row_sums + ir, panel, mr, rows, min_l(KC, k - k0));
            }
        }
    }
    for (long r = 0; r < m && row_sums && direct; r++) {
        for (long kk = 0; kk < k; kk++) row_sums[r] += a[r * lda + kk];
    }
    const long per_call = direct ? 4 : 1;  // panels per kernel call
    for (long gi = 0; gi < groups; gi++) {
        const long g = descending ? groups - 1 - gi : gi;
        const long g0 = n0 + g * group_stride, g1 = min_l(n1 + g * group_stride, pb->n);
        if (g0 >= g1) continue;
        const long first = g0 / nr, calls = ((g1 + nr - 1) / nr - first + per_call - 1) / per_call;
        for (long ci = 0; ci < calls; ci++) {
            const long p = first + (descending ? calls - 1 - ci : ci) * per_call;
            const int panels = (int)min_l(per_call, (g1 + nr - 1) / nr - p);
            const long col0 = p * nr, last = (p + panels - 1) * nr;
            const int jlo = (int)(g0 > col0 ? g0 - col0 : 0), jhi = (int)(g1 < last + nr ? g1 - last : nr);
            for (long k0 = 0; k0 < k; k0 += KC) {
                const long kc = min_l(KC, k - k0);
                const int beta = accumulate || k0 > 0;
                const float *bpanel = pb->data + k0 * width + p * kc * nr, *bias_tile = !beta && bias ? bias + col0 : NULL;
                if (direct) {
                    kern->wide(kc, a + k0, lda, bpanel, kc * nr, c + col0, ldc, (int)m, panels, jlo, jhi, beta, bias_tile);
                    continue;
                }
                // The next panel this walk reads (its next block of K, else the next panel's first), into L2.
                const long pn = descending ? p - 1 : p + 1;
                const float *next = k0 + KC < k ? pb->data + (k0 + KC) * width + p * min_l(KC, k - k0 - KC) * nr
                                    : ci + 1 < calls ? pb->data + pn * min_l(KC, k) * nr : NULL;
                for (long q = 0; q < panels_a; q++) {
                    long ir;
                    int rows;
                    panel_rows(m, mr, q, &ir, &rows);
                    const float *apanel = packed_a + k0 * panels_a * mr + q * mr * kc;
                    float *ctile = c + ir * ldc + col0;
                    if (prefetch_b && q == 0 && next && kern->tile_prefetch)
                        kern->tile_prefetch(kc, apanel, bpanel, ctile, ldc, rows, jlo, jhi, beta, bias_tile, next);
                    else
                        kern->tile(kc, apanel, bpanel, ctile, ldc, rows, jlo, jhi, beta, bias_tile);
                }
            }
        }
    }
}

void rk_sgemm_packed(float *c, long ldc, const float *a, long lda, int trans_a, long m, const rk_packed_b *pb,
                     long n0, long n1, long groups, long group_stride, int accumulate, const float *bias, int prefetch_b,
                     float *row_sums, const rk_second_output *second, int descending) {
    if (m <= 0 || n0 >= n1 || groups < 1) return;
    if (pb->k == 0) {
        for (long i = 0; i < m && !accumulate; i++) {
            for (long g = 0; g < groups; g++) {
                for (long j = n0 + g * group_stride; j < n1 + g * group_stride && j < pb->n; j++) {
                    const float v = bias ? bias[j] : 0.0f;
                    if (!second || j < second->gap) c[i * ldc + j] = v;
                    else if (j >= second->from) second->c[i * second->ldc + j - second->from] = v;
                }
            }
        }
        return;
    }
    const rk_kernel *kern = rk_kernel_for(pb->isa);
    if (m <= kern->mc && !trans_a && !second && pb->data) {  // few rows: A packed once, or read in place
        sgemm_one_block(c, ldc, a, lda, m, pb, kern, n0, n1, groups, group_stride, accumulate, bias, prefetch_b, row_sums,
                        descending);
        return;
    }
    const int mr = kern->mr, nr = pb->nr;
    const long mc_max = kern->mc;
    const long width = pb->panels * nr;
    // A is packed per block (contiguous broadcasts, no cache-set conflicts between rows).
    const int view = pb->data == NULL;
    // A view's panels that the column groups read: p_first..<p_last.
    const long p_first = n0 / nr, p_last = (min_l(n1 + (groups - 1) * group_stride, pb->n) + nr - 1) / nr;
    float *packed_a = scratch_buffer((size_t)((mc_max + mr) * KC));
    if (!packed_a) abort();
    for (long k0 = 0; k0 < pb->k; k0 += KC) {
        const long kc = min_l(KC, pb->k - k0);
        const int beta = accumulate || k0 > 0;
        const float *bblock = view ? NULL : pb->data + k0 * width;
        if (view && !view_block(pb, k0, kc, p_first, p_last)) abort();
        for (long i0 = 0; i0 < m; i0 += mc_max) {
            const long mc = min_l(mc_max, m - i0);
            // Pack A[i0 : i0+mc, k0 : k0+kc] into panels of up to MR rows: [panel][kc][mr], zero-padded.
            const long panels_a = (mc + mr - 1) / mr;
            // A stored [K, M]: each k holds the rows of every panel side by side, so all panels are
            // packed together, 16 k at a time, and each cache line of A is read once (panel by panel
            // over all kc, every line was fetched again for the next panel).
            const int by_k = trans_a && kern->pack_a;
            if (by_k) {
                for (long kk = 0; kk < kc; kk += 16) {
                    for (long q = 0; q < panels_a; q++) {
                        long ir;
                        int rows;
                        panel_rows(mc, mr, q, &ir, &rows);
                        kern->pack_a(packed_a + q * mr * kc + kk * mr, a + (k0 + kk) * lda + i0 + ir, lda, 1, rows,
                                     min_l(16, kc - kk));
                    }
                }
            }
            for (long q = 0; q < panels_a && !by_k; q++) {
                float *dst = packed_a + q * mr * kc;
                long ir;
                int rows;
                panel_rows(mc, mr, q, &ir, &rows);
                if (!trans_a) {
                    pack_a_rows(kern, dst, a, lda, i0 + ir, rows, k0, kc);
                } else if (kern->pack_a) {
                    kern->pack_a(dst, a + k0 * lda + i0 + ir, lda, 1, rows, kc);
                } else {
                    for (long kk = 0; kk < kc; kk++) {
                        const float *src = a + (k0 + kk) * lda + i0 + ir;  // a column of op(a) is a row of a
                        for (int r = 0; r < mr; r++) dst[kk * mr + r] = r < rows ? src[r] : 0.0f;
                    }
                }
            }
            // Σ_p op(a)[i, p], in order of p: from the packed panels (in cache), or from a in place.
            for (long q = 0; q < panels_a && row_sums; q++) {
                long ir;
                int rows;
                panel_rows(mc, mr, q, &ir, &rows);
                add_panel_sums(row_sums + i0 + ir, packed_a + q * mr * kc, mr, rows, kc);
            }
            for (long g = 0; g < groups; g++) {  // each group of columns: [n0, n1) + g · group_stride
                const long g0 = n0 + g * group_stride, g1 = min_l(n1 + g * group_stride, pb->n);
                const long p1 = (g1 + nr - 1) / nr;
                for (long p = g0 / nr; p < p1; p++) {
                    const long col0 = p * nr;
                    const int jlo = (int)(g0 > col0 ? g0 - col0 : 0);
                    const int jhi = (int)(g1 < col0 + nr ? g1 - col0 : nr);
                    const float *bpanel = view ? view_at[p - p_first] : bblock + p * kc * nr;
                    const long ldb = view ? view_ld[p - p_first] : 0;  // rows ldb apart in place, else packed
                    // This panel's destination: c, or the second output from its first column on, where
                    // the padding columns before it are not stored.
                    const int later = second && col0 >= second->from;
                    const long ld = later ? second->ldc : ldc;
                    const int hi = second && !later && second->gap < col0 + jhi ? (int)(second->gap - col0) : jhi;
                    for (long q = 0; q < panels_a && jlo < hi; q++) {
                        long ir;
                        int rows;
                        panel_rows(mc, mr, q, &ir, &rows);
                        const float *apanel = packed_a + q * mr * kc, *bias_tile = !beta && bias ? bias + col0 : NULL;
                        float *ctile = later ? second->c + (i0 + ir) * ld + col0 - second->from : c + (i0 + ir) * ldc + col0;
                        if (ldb)
                            kern->tile_strided(kc, apanel, bpanel, ldb, ctile, ld, rows, jlo, hi, beta, bias_tile);
                        else if (prefetch_b && !view && q == 0 && p + 1 < p1 && kern->tile_prefetch)  // the next panel, into L2
                            kern->tile_prefetch(kc, apanel, bpanel, ctile, ld, rows, jlo, hi, beta, bias_tile, bpanel + kc * nr);
                        else
                            kern->tile(kc, apanel, bpanel, ctile, ld, rows, jlo, hi, beta, bias_tile);
                    }
                }
            }
        }
    }
}

void rk_sgemm(float *c, long ldc, const float *a, long lda, const float *b, long ldb,
              long m, long n, long k, int accumulate, rk_isa isa) {
    if (m <= 0 || n <= 0) return;
    rk_packed_b *pb = rk_pack_b(b, k, n, ldb, 0, isa);
    if (!pb) abort();
    rk_sgemm_packed(c, ldc, a, lda, 0, m, pb, 0, n, 1, 0, accumulate, NULL, 0, NULL, NULL, 0);
    rk_packed_b_free(pb);
}

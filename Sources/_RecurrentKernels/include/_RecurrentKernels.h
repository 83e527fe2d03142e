// _RecurrentKernels: the C matrix-product kernels behind Recurrent's `Kernels` interface.
// An implementation detail with no stable API: use the `Recurrent` module instead.
#ifndef RECURRENT_KERNELS_H
#define RECURRENT_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets a kernel can use, chosen at run time from the CPU.
typedef enum { RK_ISA_SCALAR = 0, RK_ISA_AVX2 = 1, RK_ISA_AVX512 = 2, RK_ISA_NEON = 3 } rk_isa;

/// The best instruction set this CPU supports.
rk_isa rk_best_isa(void);
/// `isa` if this CPU supports it, else the portable kernels.
rk_isa rk_supported_isa(rk_isa isa);

/// A `[K, N]` right-hand operand packed into column panels, reusable across products.
typedef struct rk_packed_b rk_packed_b;

/// Packs `b` (`[K, N]` with row stride `ldb`, or `[N, K]` with row stride `ldb` when `trans_b`)
/// for the kernels of `isa` (clamped to what the CPU supports). Returns NULL when out of memory.
rk_packed_b *rk_pack_b(const float *b, long k, long n, long ldb, int trans_b, rk_isa isa);
void rk_packed_b_free(rk_packed_b *pb);

/// The same in two parts, so that threads can share the packing of a large operand: storage for
/// `[K, N]` (NULL when out of memory), then column panels p0..<p1 of `b` into it (all of them
/// written once `rk_packed_b_panels` has covered 0..<rk_packed_b_panel_count).
rk_packed_b *rk_packed_b_new(long k, long n, rk_isa isa);
long rk_packed_b_panel_count(const rk_packed_b *pb);
void rk_packed_b_panels(rk_packed_b *pb, const float *b, long ldb, int trans_b, long p0, long p1);
/// The same for the columns of two row-major operands side by side with zeros between, `[b | 0 | b2]`:
/// `b` `[K, gap]` (row stride ldb) in columns 0..<gap, zeros up to `split`, then `b2`
/// `[K, N - split]` (row stride ldb2), whose rows from `b2_rows` on are at `b2_tail` instead (row r
/// at b2_tail + (r - b2_rows) · ldb2; pass b2_rows = K for one piece).
void rk_packed_b_panels_joined(rk_packed_b *pb, const float *b, long ldb, long gap, long split, const float *b2, long ldb2,
                               long b2_rows, const float *b2_tail, long p0, long p1);
/// The same operand `[b | 0 | b2]` (`b` alone: gap = split = n, b2 = NULL) as a view that the
/// product reads in place: a panel whose columns lie in one operand, and whose rows for a block of
/// K lie in one piece of it, is read where it is; the others are packed block by block as the
/// product goes. For an operand that one product reads once per block of rows, where packing it
/// first would copy it through memory. NULL when the kernels of `isa` (as clamped to the CPU)
/// cannot read a panel in place, or out of memory: pack it then. The operands must outlive it;
/// free it with rk_packed_b_free. The product gives the same bits as with the packed operand.
rk_packed_b *rk_packed_b_view_joined(long k, long n, rk_isa isa, const float *b, long ldb, long gap, long split,
                                     const float *b2, long ldb2, long b2_rows, const float *b2_tail);
/// The width of a column panel for `isa` (as clamped to what the CPU supports): where a joined
/// operand's second part starts so that no panel holds both.
int rk_panel_width(rk_isa isa);

/// Where a product writes its columns from `from` on (a multiple of the panel width): column j of
/// row i to c[i * ldc + j - from]. The columns from `gap` to `from` are not stored at all.
typedef struct {
    float *c;
    long ldc, gap, from;
} rk_second_output;

/// c[:, n0:n1] (+)= op(a) · b[:, n0:n1] with `a` `[M, K]` (row stride lda), or `[K, M]` (row
/// stride lda) when `trans_a`; `c` has row stride ldc. Unless `accumulate`, c is overwritten with
/// the product plus `bias[n0:n1]` added to every row (bias `[N]`, or NULL for none). With
/// `prefetch_b`, the first row tile of each column panel prefetches the next panel into L2 (for a
/// `b` that the caches cannot keep between calls); the result is the same bit for bit. With
/// `row_sums` (`[M]`, else NULL), also row_sums[i] += Σ_p op(a)[i, p], summed in order of p while
/// `a` is in cache for the product (the bias gradient of a weight gradient `dgᵀ x`): give it to
/// one call per row of `c`, not to several calls for column ranges of the same rows. With `second`
/// (else NULL), the columns from `second->from` on go there instead (both weight gradients of one
/// product straight into their own matrices). With `groups` > 1, the columns are `groups` ranges
/// [n0 + g·group_stride, n1 + g·group_stride) (a thread's units of every gate), in one call: A is
/// read or packed once for all of them. With `descending`, a product of up to one block of rows
/// (a time loop's step) takes its column panels last to first, the same result bit for bit: a
/// loop that alternates it per step starts each step on the panels still in L2.
void rk_sgemm_packed(float *c, long ldc, const float *a, long lda, int trans_a, long m, const rk_packed_b *pb,
                     long n0, long n1, long groups, long group_stride, int accumulate, const float *bias, int prefetch_b,
                     float *row_sums, const rk_second_output *second, int descending);

/// c = a · b (or c += …) for row-major dense operands with row strides; a: [M, K], b: [K, N].
void rk_sgemm(float *c, long ldc, const float *a, long lda, const float *b, long ldb,
              long m, long n, long k, int accumulate, rk_isa isa);

/// y[i] = 1 / (1 + e^-x[i]) for i < n (y may equal x); about 2 ulp.
void rk_sigmoid(float *y, const float *x, long n, rk_isa isa);
/// y[i] = tanh(x[i]) for i < n (y may equal x); about 2 ulp.
void rk_tanh(float *y, const float *x, long n, rk_isa isa);

/// dst[0..<n] = src[0..<n] (no overlap), with non-temporal stores where the CPU has them (AVX-512
/// here): for a history written once and read back only much later.
void rk_copy_stream(float *dst, const float *src, long n, rk_isa isa);

/// One Elman step for `rows` batch rows and hidden units u0 ≤ j < u1: h = act(gx + gh), act =
/// tanh (relu when `relu`), from gx, gh `[rows, H]`; writes h and cache `[rows, H]` (both = h).
void rk_elman_step(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0, long u1,
                   int relu, rk_isa isa);
/// One Elman step backward for `rows` rows, units u0 ≤ j < u1: dgx = dgh = dh · act'(a), from the
/// cache y = act(a) (tanh: 1 - y², relu: 1 where y > 0). `dgh` may be `dgx`. All `[rows, H]`.
void rk_elman_step_backward(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H, long u0,
                            long u1, int relu, rk_isa isa);

/// One LSTM step (gate order i, f, g, o) for `rows` batch rows and hidden units u0 ≤ j < u1:
/// c = σ(f)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c), from gx, gh `[rows, 4H]`, c_prev `[rows, H]`;
/// writes h, c `[rows, H]` and cache `[rows, 5H]` = (i, f, g, o, tanh c) after activation.
/// `stream_cache` (training, where each step's cache is read back only after the whole sequence):
/// the AVX-512 kernel writes whole aligned vectors of the cache with non-temporal stores (the same
/// values). The same for the GRU step below.
void rk_lstm_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                  long rows, long H, long u0, long u1, int stream_cache, rk_isa isa);

/// The backward of rk_lstm_step: from dh `[rows, H]` and dc `[rows, H]` (∂L/∂c, replaced by
/// ∂L/∂c_prev), writes the gate pre-activation gradients to dgx and dgh `[rows, 4H]` (which may be
/// the same buffer).
void rk_lstm_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache, const float *c_prev,
                           long rows, long H, long u0, long u1, rk_isa isa);

/// One GRU step (gate order r, z, n; PyTorch's n = tanh(gxₙ + r·ghₙ), ghₙ including b_hn) for
/// `rows` batch rows and hidden units u0 ≤ j < u1: h = (1 - z)·n + z·h_prev from gx, gh
/// `[rows, 3H]`, h_prev `[rows, H]`; writes h `[rows, H]` and cache `[rows, 4H]` = (r, z, n, ghₙ).
void rk_gru_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev,
                 long rows, long H, long u0, long u1, int stream_cache, rk_isa isa);

/// The backward of rk_gru_step: from dh `[rows, H]`, writes dgx and dgh `[rows, 3H]` and adds the
/// direct part dh·z to dh_prev `[rows, H]`.
void rk_gru_step_backward(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache, const float *h_prev,
                          long rows, long H, long u0, long u1, rk_isa isa);

/// An activation from ONNX's list for the recurrent operators, with its parameters.
typedef enum {
    RK_ACT_SIGMOID, RK_ACT_TANH, RK_ACT_RELU, RK_ACT_AFFINE, RK_ACT_LEAKY_RELU, RK_ACT_THRESHOLDED_RELU,
    RK_ACT_SCALED_TANH, RK_ACT_HARD_SIGMOID, RK_ACT_ELU, RK_ACT_SOFTSIGN, RK_ACT_SOFTPLUS
} rk_activation_kind;
typedef struct { rk_activation_kind kind; float alpha, beta; } rk_activation;
/// The LSTM variant: activations f (gates), g (cell input), h (cell output), `clip` (INFINITY: none)
/// and the coupled input–forget gate (f = 1 − i).
typedef struct { rk_activation f, g, h; float clip; int coupled; } rk_lstm_config;
/// The GRU variant: activations f (r, z), g (n), `clip`, and where the reset gate applies
/// (`reset_after`: to the recurrent product, PyTorch; else to h before it, Cho et al.).
typedef struct { rk_activation f, g; float clip; int reset_after; } rk_gru_config;

/// One step of the LSTM variant for `rows` rows and units u0 ≤ j < u1: peepholes `[3H]` (i, f, o;
/// NULL: none). Writes h, c `[rows, H]` and cache `[rows, 10H]` (see cells_general.c).
void rk_lstm_general_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                          const float *peephole, long rows, long H, long u0, long u1, const rk_lstm_config *cf,
                          rk_isa isa);
/// Its backward: dgx, dgh `[rows, 4H]` (may be one buffer), dc in/out; adds the peephole gradients
/// to `dpeephole` (rows `dp_stride` apart; NULL without peepholes).
void rk_lstm_general_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                   const float *c_prev, const float *peephole, float *dpeephole, long dp_stride,
                                   long rows, long H, long u0, long u1, const rk_lstm_config *cf, rk_isa isa);
/// The peephole / coupled-gate LSTM with the standard activations and no clip, fused in one pass
/// (see cells_peephole.c): the standard step's cache `[rows, 5H]`; `peephole` `[3H]` or NULL.
void rk_lstm_peephole_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                           const float *peephole, long rows, long H, long u0, long u1, int coupled, rk_isa isa);
void rk_lstm_peephole_step_backward(float *dgx, float *dgh, float *dc, const float *dh, const float *cache,
                                    const float *c_prev, const float *peephole, float *dpeephole, long dp_stride,
                                    long rows, long H, long u0, long u1, int coupled, rk_isa isa);
/// The GRU variant's step, cache `[rows, 7H]`. With the reset gate before the product, the step is
/// two halves: `_early` (r, z and v = r ⊙ h_prev at cache column 6H), then, after ghₙ = v Wₕₙᵀ + bₕₙ
/// is added to gh, `rk_gru_general_step`; after the product, `rk_gru_general_step` does all.
void rk_gru_general_step_early(float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                               long u0, long u1, const rk_gru_config *cf, rk_isa isa);
void rk_gru_general_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows,
                         long H, long u0, long u1, const rk_gru_config *cf, rk_isa isa);
/// Backward: dgx, dgh `[rows, 3H]`, dh_prev += the direct part. Before the product, this does z
/// and n; `_early` then does r from dv = dghₙ Wₕₙ `[rows, H]`.
void rk_gru_general_step_backward(float *dgx, float *dgh, float *dh_prev, const float *dh, const float *cache,
                                  const float *h_prev, long rows, long H, long u0, long u1, const rk_gru_config *cf,
                                  rk_isa isa);
void rk_gru_general_step_backward_early(float *dgx, float *dgh, float *dh_prev, const float *dv, const float *cache,
                                        const float *h_prev, long rows, long H, long u0, long u1,
                                        const rk_gru_config *cf, rk_isa isa);
/// The reset-before GRU with the standard activations and no clip (see cells_reset_before.c):
/// cache `[rows, 4H]` = (r, z, n, v = r ⊙ h_prev); dgx is also dgh.
void rk_gru_before_step_early(float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                             long u0, long u1, rk_isa isa);
void rk_gru_before_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, long rows, long H,
                        long u0, long u1, rk_isa isa);
void rk_gru_before_step_backward(float *dgx, float *dh_prev, const float *dh, const float *cache, const float *h_prev,
                                 long rows, long H, long u0, long u1, rk_isa isa);
void rk_gru_before_step_backward_early(float *dgx, float *dh_prev, const float *dv, const float *cache,
                                       const float *h_prev, long rows, long H, long u0, long u1, rk_isa isa);
/// The Elman cell with any activation and clip: cache `[rows, 2H]` = (pre-activation, h).
void rk_elman_general_step(float *h, float *cache, const float *gx, const float *gh, long rows, long H, long u0,
                           long u1, rk_activation act, float clip, rk_isa isa);
void rk_elman_general_step_backward(float *dgx, float *dgh, const float *dh, const float *cache, long rows, long H,
                                    long u0, long u1, rk_activation act, float clip, rk_isa isa);

/// The layer-normalised LSTM step over whole rows (see cells_layernorm.c): gx, gh `[rows, 4H]`
/// without biases, params `[18H]`; cache `[rows, 14H + 3]`.
void rk_ln_lstm_step(float *h, float *c, float *cache, const float *gx, const float *gh, const float *c_prev,
                     const float *params, long rows, long H, rk_isa isa);
/// Its backward leaves each row's parameter-gradient terms in the cache, summed over all rows by
/// rk_ln_lstm_parameter_gradients for units u0 ≤ u < u1 into dparams `[18H]` (added to).
void rk_ln_lstm_step_backward(float *dgx, float *dgh, float *dc, const float *dh, float *cache, const float *c_prev,
                              const float *params, long rows, long H, rk_isa isa);
void rk_ln_lstm_parameter_gradients(float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa);
/// The layer-normalised GRU step: gx, gh `[rows, 3H]` without biases, params `[12H]`; cache
/// `[rows, 10H + 2]`.
void rk_ln_gru_step(float *h, float *cache, const float *gx, const float *gh, const float *h_prev, const float *params,
                    long rows, long H, rk_isa isa);
void rk_ln_gru_step_backward(float *dgx, float *dgh, float *dh_prev, const float *dh, float *cache, const float *h_prev,
                             const float *params, long rows, long H, rk_isa isa);
void rk_ln_gru_parameter_gradients(float *dparams, const float *cache, long rows, long H, long u0, long u1, rk_isa isa);

/// Asks the C library's allocator (glibc) to keep freed memory for reuse: arrays up to 1 GiB from
/// the heap, and freed memory kept rather than given back to the system. Process-wide. Returns 1
/// if it was applied, 0 where the C library has no such settings.
int rk_keep_freed_memory(void);
/// Sets this thread's floating-point control to flush subnormal results and inputs to zero (x86:
/// MXCSR's FTZ and DAZ; AArch64: FPCR.FZ) and returns the previous setting for rk_denormals_flushed_end.
unsigned rk_denormals_flushed_begin(void);
/// Restores the setting rk_denormals_flushed_begin returned.
void rk_denormals_flushed_end(unsigned saved);

/// Runs `iterations` rounds of 12 independent register-only fused multiply-adds with the vectors
/// of `isa` (clamped to the CPU) and returns the flops done; `sink` receives their sum (so the
/// loop cannot be removed). Timed from outside, it gives one core's FMA ceiling.
double rk_fma_peak(long iterations, rk_isa isa, float *sink);

/// Convolution (conv.c). im2col: the patches that output positions [n0, n1) read, as the columns
/// of `cols` `[C · kh · kw, n1 − n0]` (row stride ldc): row (c, i, j), column n − n0 holds
/// x[c, oh · stride_h + i − pad_t, ow · stride_w + j − pad_l] (0 outside the input), where
/// n = oh · w_out + ow; x: `[C, H, W]`.
void rk_im2col(float *cols, long ldc, const float *x, long C, long H, long W, long kh, long kw, long pad_t, long pad_l,
               long stride_h, long stride_w, long w_out, long n0, long n1);
/// Its transpose: adds each element of `dcols` (laid out as rk_im2col's `cols`) to the element of
/// dx `[C, H, W]` it was read from.
void rk_col2im_add(float *dx, const float *dcols, long ldc, long C, long H, long W, long kh, long kw, long pad_t,
                   long pad_l, long stride_h, long stride_w, long w_out, long n0, long n1);

#ifdef __cplusplus
}
#endif
#endif

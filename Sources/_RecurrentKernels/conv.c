// The convolution's data movement (Conv2d in Sources/Recurrent/Conv): im2col gathers the input
// patches that a block of output positions reads into the columns of a matrix, so that the
// convolution becomes one matrix product with the weights; col2im adds such columns back into the
// input's gradient. The products themselves are the packed sgemm (sgemm.c).
//
// Legend: C channels, H × W input plane, kh × kw kernel, pad_t / pad_l zeros above and to the
// left, stride_h / stride_w, w_out output columns; output position n = oh · w_out + ow.
#include "_RecurrentKernels.h"
#include <string.h>

// Output columns [ow0, ow1) of a kernel column kw whose input column iw = ow · stride_w + kw − pad_l
// lies inside [0, W): the range of ow clamped so that every iw read is valid.
static void valid_columns(long kw_index, long pad_l, long stride_w, long W, long w_out, long *lo, long *hi) {
    long offset = kw_index - pad_l;  // iw = ow · stride_w + offset
    long first = offset >= 0 ? 0 : (-offset + stride_w - 1) / stride_w;
    long last = W - 1 - offset < 0 ? -1 : (W - 1 - offset) / stride_w;  // last valid ow
    if (first > w_out) first = w_out;
    long end = last + 1 < w_out ? last + 1 : w_out;
    if (end < first) end = first;
    *lo = first;
    *hi = end;
}

void rk_im2col(float *cols, long ldc, const float *x, long C, long H, long W, long kh, long kw, long pad_t, long pad_l,
               long stride_h, long stride_w, long w_out, long n0, long n1) {
    // cols: [C · kh · kw, n1 − n0] (row stride ldc); row (c, i, j) holds x[c, oh·s_h + i − pad_t, ow·s_w + j − pad_l].
    for (long c = 0; c < C; c++) {
        const float *plane = x + c * H * W;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                float *row = cols + ((c * kh + i) * kw + j) * ldc;
                long lo, hi;
                valid_columns(j, pad_l, stride_w, W, w_out, &lo, &hi);
                long n = n0;
                while (n < n1) {
                    const long oh = n / w_out, ow_start = n % w_out;
                    const long ow_end = (n1 - n) < (w_out - ow_start) ? ow_start + (n1 - n) : w_out;
                    float *out = row + (n - n0);
                    const long ih = oh * stride_h + i - pad_t;
                    if (ih < 0 || ih >= H) {
                        memset(out, 0, (size_t)(ow_end - ow_start) * sizeof(float));
                    } else {
                        const float *in = plane + ih * W + (j - pad_l);
                        const long a = lo > ow_start ? lo : ow_start, b = hi < ow_end ? hi : ow_end;
                        if (a >= b) {
                            memset(out, 0, (size_t)(ow_end - ow_start) * sizeof(float));
                        } else {
                            for (long ow = ow_start; ow < a; ow++) out[ow - ow_start] = 0;
                            if (stride_w == 1) {
                                memcpy(out + (a - ow_start), in + a, (size_t)(b - a) * sizeof(float));
                            } else {
                                for (long ow = a; ow < b; ow++) out[ow - ow_start] = in[ow * stride_w];
                            }
                            for (long ow = b; ow < ow_end; ow++) out[ow - ow_start] = 0;
                        }
                    }
                    n += ow_end - ow_start;
                }
            }
        }
    }
}

void rk_col2im_add(float *dx, const float *dcols, long ldc, long C, long H, long W, long kh, long kw, long pad_t,
                   long pad_l, long stride_h, long stride_w, long w_out, long n0, long n1) {
    // The transpose of rk_im2col: dx[c, ih, iw] += dcols[(c, i, j), n] for every (i, j, n) that read it.
    for (long c = 0; c < C; c++) {
        float *plane = dx + c * H * W;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                const float *row = dcols + ((c * kh + i) * kw + j) * ldc;
                long lo, hi;
                valid_columns(j, pad_l, stride_w, W, w_out, &lo, &hi);
                long n = n0;
                while (n < n1) {
                    const long oh = n / w_out, ow_start = n % w_out;
                    const long ow_end = (n1 - n) < (w_out - ow_start) ? ow_start + (n1 - n) : w_out;
                    const long ih = oh * stride_h + i - pad_t;
                    if (ih >= 0 && ih < H) {
                        const float *in = row + (n - n0) - ow_start;
                        float *out = plane + ih * W + (j - pad_l);
                        const long a = lo > ow_start ? lo : ow_start, b = hi < ow_end ? hi : ow_end;
                        if (stride_w == 1) {
                            for (long ow = a; ow < b; ow++) out[ow] += in[ow];
                        } else {
                            for (long ow = a; ow < b; ow++) out[ow * stride_w] += in[ow];
                        }
                    }
                    n += ow_end - ow_start;
                }
            }
        }
    }
}

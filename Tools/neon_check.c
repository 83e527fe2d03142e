// Runs the C kernels on AArch64 (under qemu-aarch64 on an x86 machine, see check_neon.sh) and
// checks them against double-precision references: the packed matrix product with the NEON and
// the portable micro-kernels on awkward shapes, both operand layouts, bias, accumulation and
// column ranges; sigmoid and tanh against libm. Exits non-zero on the first failure.
#include "_RecurrentKernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 0x9E3779B97F4A7C15ull;
static float uniform(void) {  // xorshift64*, in [-1, 1)
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return (float)((state * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

static int failures = 0;

// c[:, n0:n1 + g·stride] (+)= op(a) · op(b) (+ bias) for g < groups against the same in double,
// with the error bound 1e-5 · (Σ_p |a||b| + |bias| + |c₀|) per element.
static void check_product(rk_isa isa, long m, long n, long k, int ta, int tb, int accumulate, long n0, long n1,
                          long groups, long stride) {
    float *a = malloc(sizeof(float) * (size_t)(m * k + 1)), *b = malloc(sizeof(float) * (size_t)(k * n + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * n + 1)), *bias = malloc(sizeof(float) * (size_t)(n + 1));
    double *c0 = malloc(sizeof(double) * (size_t)(m * n + 1));
    for (long i = 0; i < m * k; i++) a[i] = uniform();
    for (long i = 0; i < k * n; i++) b[i] = uniform();
    for (long j = 0; j < n; j++) bias[j] = uniform();
    for (long i = 0; i < m * n; i++) { c[i] = uniform(); c0[i] = c[i]; }
    rk_packed_b *pb = rk_pack_b(b, k, n, tb ? k : n, tb, isa);
    // Half the shapes walk the column panels backwards (as every other step of a time loop).
    rk_sgemm_packed(c, n, a, ta ? m : k, ta, m, pb, n0, n1, groups, stride, accumulate, accumulate ? NULL : bias, 0, NULL,
                    NULL, (int)((m + k) & 1));
    rk_packed_b_free(pb);
    for (long i = 0; i < m; i++) {
        for (long j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (long p = 0; p < k; p++) {
                double x = ta ? a[p * m + i] : a[i * k + p], y = tb ? b[j * k + p] : b[p * n + j];
                s += x * y;
                mag += fabs(x * y);
            }
            int inside = 0;
            for (long g = 0; g < groups; g++) inside |= j >= n0 + g * stride && j < n1 + g * stride;
            double want = !inside ? c0[i * n + j] : (accumulate ? c0[i * n + j] + s : s + bias[j]);
            double bound = inside ? 1e-5 * (mag + fabs(c0[i * n + j]) + fabs(bias[j])) + 1e-7 : 0;
            if (fabs(c[i * n + j] - want) > bound) {
                if (failures++ < 10)
                    printf("FAIL product isa=%d m=%ld n=%ld k=%ld ta=%d tb=%d acc=%d cols=%ld..<%ld x%ld every %ld at (%ld,%ld): "
                       "%.9g vs %.9g\n", (int)isa, m, n, k, ta, tb, accumulate, n0, n1, groups, stride, i, j, c[i * n + j], want);
            }
        }
    }
    free(a); free(b); free(c); free(bias); free(c0);
}

int main(void) {
    if (rk_best_isa() != RK_ISA_NEON) { printf("FAIL: best ISA is %d, not NEON\n", (int)rk_best_isa()); return 1; }
    static const long sizes[] = {1, 3, 17, 31, 33, 63, 65};
    const int count = sizeof sizes / sizeof sizes[0];
    long products = 0;
    const rk_isa isas[] = {RK_ISA_NEON, RK_ISA_SCALAR};
    for (int s = 0; s < 2; s++)
        for (int im = 0; im < count; im++)
            for (int in = 0; in < count; in++)
                for (int ik = 0; ik < count; ik++)
                    for (int t = 0; t < 4; t++) {
                        const long m = sizes[im], n = sizes[in], k = sizes[ik];
                        check_product(isas[s], m, n, k, t & 1, t >> 1, 0, 0, n, 1, 0);
                        check_product(isas[s], m, n, k, t & 1, t >> 1, 1, n / 3, n - n / 4, 1, 0);
                        // Three ranges a third of the columns apart (a thread's units of three gates).
                        check_product(isas[s], m, n, k, t & 1, t >> 1, t & 1, 0, n / 6 + 1, n >= 3 ? 3 : 1, n / 3);
                        products += 3;
                    }
    // Deeper than one KC block of 256 and more rows than one MC block.
    check_product(RK_ISA_NEON, 200, 70, 600, 0, 1, 0, 0, 70, 1, 0);
    check_product(RK_ISA_NEON, 130, 129, 513, 1, 0, 1, 5, 129, 1, 0);
    products += 2;

    // Activations over [-20, 20] against libm (double).
    enum { N = 40001 };
    static float x[N], y[N];
    double worst_sigmoid = 0, worst_tanh = 0;
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    rk_sigmoid(y, x, N, RK_ISA_NEON);
    for (int i = 0; i < N; i++) {
        double want = 1 / (1 + exp(-(double)x[i]));
        worst_sigmoid = fmax(worst_sigmoid, fabs(y[i] - want) / want);
    }
    rk_tanh(y, x, N, RK_ISA_NEON);
    for (int i = 0; i < N; i++) {
        double want = tanh((double)x[i]);
        if (want != 0) worst_tanh = fmax(worst_tanh, fabs(y[i] - want) / fabs(want));
    }
    if (worst_sigmoid > 1e-6 || worst_tanh > 1e-6) {
        printf("FAIL activations: sigmoid %.3g, tanh %.3g relative\n", worst_sigmoid, worst_tanh);
        failures++;
    }
    printf("%s: %ld products (NEON and portable kernels), sigmoid max rel. error %.2g, tanh %.2g\n",
           failures ? "FAILED" : "ok", products, worst_sigmoid, worst_tanh);
    return failures ? 1 : 0;
}

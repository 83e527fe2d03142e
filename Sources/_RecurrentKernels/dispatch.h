// Kernels written once as an always-inlined body and compiled for each instruction set they
// dispatch to (AVX-512, AVX2, the baseline), so that the compiler vectorises their loops with the
// widest registers the CPU has, chosen at run time (no compiler flags: the package stays usable as
// a dependency). `DISPATCH(name, (parameters), (arguments))` defines `rk_name` over `name_body`;
// the parameters end with `rk_isa isa`.
#ifndef RECURRENT_DISPATCH_H
#define RECURRENT_DISPATCH_H
#include "_RecurrentKernels.h"

#define ALWAYS_INLINE __attribute__((always_inline))
#if defined(__x86_64__)
#define DISPATCH(name, params, args) \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; } \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; } \
    void rk_##name params { \
        if (rk_supported_isa(isa) == RK_ISA_AVX512) name##_avx512 args; \
        else if (rk_supported_isa(isa) == RK_ISA_AVX2) name##_avx2 args; \
        else name##_body args; \
    }
#else
#define DISPATCH(name, params, args) void rk_##name params { name##_body args; }
#endif
#endif

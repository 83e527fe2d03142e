// The C library allocator's settings for a process that allocates and frees large arrays at every
// step (a training loop): where glibc would otherwise give each freed array back to the system
// and page-fault a fresh one in again at the next step.
#include "_RecurrentKernels.h"

#include <stdlib.h>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int rk_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // Arrays up to 1 GiB from the heap rather than from their own mappings (older glibc versions
    // accept at most 32 MiB here), and freed memory at the top of the heap kept up to 1 GiB.
    const int mapped = mallopt(M_MMAP_THRESHOLD, 1 << 30) || mallopt(M_MMAP_THRESHOLD, 32 << 20);
    return mapped && mallopt(M_TRIM_THRESHOLD, 1 << 30);
#else
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

unsigned rk_denormals_flushed_begin(void) {
#if defined(__x86_64__) || defined(__i386__)
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040);  // FTZ (bit 15): results below FLT_MIN become 0; DAZ (bit 6): so do such inputs
    return saved;
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1UL << 24)));  // FZ
    return (unsigned)fpcr;
#else
    return 0;
#endif
}

void rk_denormals_flushed_end(unsigned saved) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(saved);
#elif defined(__aarch64__)
    unsigned long fpcr = saved;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#else
    (void)saved;
#endif
}

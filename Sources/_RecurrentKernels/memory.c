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

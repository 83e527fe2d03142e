// Only the declaration in include/CFuzzDriver.h matters; the definition comes from libFuzzer,
// linked in by -sanitize=fuzzer.
#include "CFuzzDriver.h"

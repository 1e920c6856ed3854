/* The avx512 variant of the dispatched kernels (common/kernels_isa.h); compiler flags in
 * CMakeLists.txt. */
#define AF_KISA avx512
#include "common/kernels_isa.h"

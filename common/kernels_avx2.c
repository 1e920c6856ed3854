/* The avx2 variant of the dispatched kernels (common/kernels_isa.h); compiler flags in
 * CMakeLists.txt. */
#define AF_KISA avx2
#include "common/kernels_isa.h"

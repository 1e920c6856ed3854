/* The base variant of the dispatched kernels (common/kernels_isa.h); compiler flags in
 * CMakeLists.txt. */
#define AF_KISA base
#include "common/kernels_isa.h"

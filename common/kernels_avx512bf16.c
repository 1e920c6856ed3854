/* The avx512bf16 variant of the dispatched kernels (common/kernels_isa.h): the avx512
 * variant plus vdpbf16ps in the bf16 products; compiler flags in CMakeLists.txt. */
#define AF_KISA avx512bf16
#include "common/kernels_isa.h"

// Which SIMD table the network core uses: the one matching the GEMM's active kernel, so
// set_kernel / DNNX_KERNEL force both (and "ref" runs every portable loop).
#include "simd.hpp"

#include <string>

#include "dnnx/gemm.hpp"

namespace dnnx::nnk {

const Table* active() {
#if defined(DNNX_HAVE_X86)
  // active_kernel() is cheap: a table lookup, and the short names fit std::string's
  // small buffer, so this allocates nothing.
  const std::string k = active_kernel();
  if (k == "avx512") return &kAvx512;
  if (k == "avx2") return &kAvx2;
#endif
  return nullptr;
}

}  // namespace dnnx::nnk

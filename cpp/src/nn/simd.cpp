// Which SIMD table the network core uses: the one of the active kernel choice
// (dnnx/dispatch.hpp), which the GEMM follows too, so set_kernel / DNNX_KERNEL force both
// (and "ref" runs every portable loop).
#include "simd.hpp"

#include "dnnx/dispatch.hpp"

namespace dnnx::nnk {

const Table* active() {
#if defined(DNNX_HAVE_X86)
  switch (active_isa()) {
    case Isa::avx512: return &kAvx512;
    case Isa::avx2: return &kAvx2;
    case Isa::ref: break;
  }
#endif
  return nullptr;
}

}  // namespace dnnx::nnk

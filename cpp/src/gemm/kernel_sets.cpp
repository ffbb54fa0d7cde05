// The GEMM's side of kernel dispatch: which KernelSet each instruction set runs. The
// choice itself is made below the GEMM (dnnx/dispatch.hpp, common/dispatch.cpp), so the
// network core's SIMD kernels follow the same one without asking the GEMM.
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnnx/dispatch.hpp"
#include "dnnx/gemm.hpp"
#include "engine.hpp"

namespace dnnx {
namespace blis {

const KernelSet& kernel_set(int id) {
  // Indexed by Isa: one set per name of compiled_kernels(), in its order.
  static const KernelSet* const sets[] = {
      &kRefKernels,
#if defined(DNNX_HAVE_X86)
      &kAvx2Kernels,
      &kAvx512Kernels,
#endif
  };
  return *sets[id];
}

}  // namespace blis

template <class T>
BlockSizes kernel_block_sizes(const std::string& name) {
  const std::vector<std::string> names = compiled_kernels();
  int id = -1;
  if (name.empty()) id = blis::active_kernel_id();
  for (size_t i = 0; i < names.size() && id < 0; ++i)
    if (name == names[i]) id = static_cast<int>(i);
  if (id < 0) {
    std::string all;
    for (const auto& x : names) all += (all.empty() ? "" : ", ") + x;
    throw std::invalid_argument("kernel_block_sizes: unknown kernel '" + name + "'; this build has " + all);
  }
  const blis::KernelDesc<T>& d = blis::desc<T>(blis::kernel_set(id), std::numeric_limits<index_t>::max() / 2);
  return BlockSizes{d.MR, d.NR, d.MC, d.KC, d.NC, d.KC_wide > 0 ? d.KC_wide : d.KC};
}
template BlockSizes kernel_block_sizes<float>(const std::string&);
template BlockSizes kernel_block_sizes<double>(const std::string&);

}  // namespace dnnx

// dnnx public C++ API, base layer (dnnx_common): CPU feature detection (CPUID + XGETBV: the OS must have enabled
// the YMM/ZMM register state, not just the CPU).
#pragma once
#include <string>

namespace dnnx {

struct CpuFeatures {
  bool sse2 = false, avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512vl = false, avx512dq = false, avx512bw = false;
  std::string vendor, brand;
  bool has_avx2_kernel() const noexcept { return avx2 && fma; }
  bool has_avx512_kernel() const noexcept { return avx512f && avx512vl && avx512dq && avx512bw && fma; }
  /// e.g. "sse2 avx avx2 fma"
  std::string describe() const;
};

const CpuFeatures& cpu_features() noexcept;

}  // namespace dnnx

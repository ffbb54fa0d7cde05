// Which SIMD table the network core uses: the one of the active kernel choice
// (dnnx/dispatch.hpp), which the GEMM follows too, so set_kernel / DNNX_KERNEL force both
// (and "ref" runs every portable loop).
#include "simd.hpp"

#include <cstdint>
#include <cstring>

#include "dnnx/dispatch.hpp"

namespace dnnx::nnk {
namespace {

// Plain float with the operations exp_f32.inc needs (the reference all kernels match).
struct P {
  using R = float;
  static constexpr int W = 1;
  static R load(const float* p) { return *p; }
  static void store(float* p, R x) { *p = x; }
  static R set1(float x) { return x; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R max(R a, R b) { return a > b ? a : b; }
  static R min(R a, R b) { return a < b ? a : b; }
  static R scale2n(R y, R t) {
    std::uint32_t b;
    std::memcpy(&b, &t, sizeof b);
    b = (b - 0x4B400000u + 127u) << 23;
    float s;
    std::memcpy(&s, &b, sizeof s);
    return y * s;
  }
};

#include "exp_f32.inc"

}  // namespace

float row_max_ref(idx n, const float* z) {
  float m = -__builtin_inff();
  for (idx j = 0; j < n; ++j) m = P::max(m, z[j]);
  return m;
}

void exp_sum_ref(idx n, const float* z, float shift, float* out, double* lanes) {
  for (idx j = 0; j < n; ++j) {
    out[j] = exp_f32<P>(P::sub(z[j], shift));
    lanes[j % 8] += double(out[j]);
  }
}

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

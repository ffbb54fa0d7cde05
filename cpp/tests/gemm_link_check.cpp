// Layering guard: a program built from the GEMM engine and the base layer alone
// (dnnx_gemm, dnnx_common; see cpp/CMakeLists.txt). It uses every GEMM entry point, so
// the linker pulls in every object of dnnx_gemm, and any of them calling into the
// network core (src/nn/) leaves an undefined symbol: the build fails. Run, it multiplies
// 2x2 matrices with a bias and a non-relu epilogue activation and checks the result.
#include <cmath>
#include <cstdio>

#include "dnnx/dispatch.hpp"
#include "dnnx/gemm.hpp"

namespace {

template <class T>
bool check() {
  using dnnx::Trans;
  const T a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, bias[2] = {0, -10};
  T c[4], r[4], p[4];
  dnnx::Epilogue<T> ep;
  ep.bias = bias;
  ep.act = dnnx::ActParams{dnnx::Act::tanh, 0.0};
  dnnx::gemm(Trans::N, Trans::N, 2, 2, 2, T(1), a, 2, b, 2, T(0), c, 2, &ep);
  dnnx::gemm_reference(Trans::N, Trans::N, 2, 2, 2, T(1), a, 2, b, 2, T(0), r, 2, &ep);
  dnnx::PackedB<T> bp;
  bp.pack(Trans::N, 2, 2, b, 2);
  dnnx::gemm_packed(Trans::N, 2, T(1), a, 2, bp, T(0), p, 2, &ep);
  const T* as[1] = {a};
  const T* bs[1] = {b};
  T batched[4];
  T* cs[1] = {batched};
  dnnx::gemm_batched(Trans::N, Trans::N, 2, 2, 2, T(1), as, 2, bs, 2, T(0), cs, 2, 1);
  bool ok = dnnx::kernel_block_sizes<T>().MR > 0 && batched[3] == T(4);
  for (int i = 0; i < 4; ++i) ok = ok && std::abs(c[i] - r[i]) < T(1e-6) && c[i] == p[i];
  return ok && c[1] == std::tanh(T(2) - T(10));
}

}  // namespace

int main() {
  const bool ok = check<float>() && check<double>();
  std::printf("dnnx_gemm_link_check (%s kernel): %s\n", dnnx::active_kernel().c_str(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

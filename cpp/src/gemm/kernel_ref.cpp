// Portable reference micro-kernel: plain C++ over an MR x NR accumulator array, built for
// baseline x86-64 (or any architecture). Always compiled; the fallback where no SIMD kernel
// runs, and the shape the SIMD kernels are tested against.
#include "kernel.hpp"

namespace dnnx::blis {
namespace {

template <class T, int MR, int NR>
void ukr_ref(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b, T* c, index_t ldc,
             const TileEpilogue<T>& ep) {
  T acc[MR][NR] = {};
  for (index_t p = 0; p < k; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i * rs_a];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];  // the compiler vectorises over j
    }
    a += cs_a;
    b += rs_b;
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < NR; ++j) {
      T v = ep.alpha * acc[i][j];
      if (ep.beta != T(0)) v += ep.beta * ci[j];
      if (ep.bias) v += ep.bias[j];
      if (ep.preact) ep.preact[i * ep.ldp + j] = v;
      if (ep.relu) v = v > T(0) ? v : T(0);
      ci[j] = v;
    }
  }
}

}  // namespace

// 4 x 8: the accumulators (32 values) fit the 16 SSE2 registers of baseline x86-64 as
// 8 float4 or 16 double2 vectors. Block sizes: 4x8 panels are small, so KC = 256 keeps the
// B micro-panel (8 KiB float) in L1 with room for A; MC = 128 keeps A (128 KiB) in any L2.
const KernelSet kRefKernels = {
    "ref",
    {&ukr_ref<float, 4, 8>, 4, 8, 128, 256, 4096},
    {&ukr_ref<double, 4, 8>, 4, 8, 128, 256, 2048},
};

}  // namespace dnnx::blis

// Portable reference micro-kernel: plain C++ over an MR x NR accumulator array, built for
// baseline x86-64 (or any architecture). Always compiled; the fallback where no SIMD kernel
// runs, and the shape the SIMD kernels are tested against.
#include "kernel.hpp"

namespace dnnx::blis {
namespace {

// The first R rows of an MR x NR tile (packed A panels are MR tall).
template <class T, int MR, int R, int NR>
void ukr_ref(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b, T* c, index_t ldc,
             const TileEpilogue<T>& ep) {
  T acc[R][NR] = {};
  for (index_t p = 0; p < k; ++p) {
    for (int i = 0; i < R; ++i) {
      const T ai = a[i * rs_a];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];  // the compiler vectorises over j
    }
    a += cs_a;
    b += rs_b;
  }
  for (int i = 0; i < R; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < NR; ++j) {
      T v = ep.alpha * acc[i][j];
      if (ep.beta != T(0)) v += ep.beta * ci[j];
      if (ep.bias) v += ep.bias[j];
      if (ep.preact) ep.preact[i * ep.ldp + j] = v;
      if (ep.relu) v = v < T(0) ? T(0) : v;  // NaN propagates
      ci[j] = v;
    }
  }
}

// Wide variant (kernel.hpp WideKernel): R rows x G panels of NR, the same per-element
// arithmetic as ukr_ref.
template <class T, int R, int NR, int G>
void ukr_ref_wide(index_t k, const T* a, index_t rs_a, index_t cs_a, const T* b, index_t rs_b, index_t gs_b, T* c,
                  index_t ldc, const TileEpilogue<T>& ep) {
  T acc[R][G * NR] = {};
  for (index_t p = 0; p < k; ++p) {
    for (int i = 0; i < R; ++i) {
      const T ai = a[i * rs_a];
      for (int g = 0; g < G; ++g)
        for (int j = 0; j < NR; ++j) acc[i][g * NR + j] += ai * b[g * gs_b + j];
    }
    a += cs_a;
    b += rs_b;
  }
  for (int i = 0; i < R; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < G * NR; ++j) {
      T v = ep.alpha * acc[i][j];
      if (ep.beta != T(0)) v += ep.beta * ci[j];
      if (ep.bias) v += ep.bias[j];
      if (ep.preact) ep.preact[i * ep.ldp + j] = v;
      if (ep.relu) v = v < T(0) ? T(0) : v;  // NaN propagates, as in ukr_ref
      ci[j] = v;
    }
  }
}

// Column-vector variant (ColKernel): 8 rows x n <= 16, the arithmetic of ukr_ref per element.
template <class T>
void ukr_ref_col(index_t k, index_t mr, index_t n, const T* a, index_t lda, const T* b, index_t rs_b, index_t cs_b,
                 T* c, index_t ldc, const TileEpilogue<T>& ep) {
  T acc[16][8] = {};
  for (index_t p = 0; p < k; ++p)
    for (index_t j = 0; j < n; ++j) {
      const T bj = b[p * rs_b + j * cs_b];
      for (index_t i = 0; i < mr; ++i) acc[j][i] += a[p * lda + i] * bj;
    }
  for (index_t i = 0; i < mr; ++i)
    for (index_t j = 0; j < n; ++j) {
      T* cij = c + i * ldc + j;
      T v = ep.alpha * acc[j][i];
      if (ep.beta != T(0)) v += ep.beta * *cij;
      if (ep.bias) v += ep.bias[j];
      if (ep.preact) ep.preact[i * ep.ldp + j] = v;
      if (ep.relu) v = v < T(0) ? T(0) : v;  // NaN propagates, as in ukr_ref
      *cij = v;
    }
}

template <class T, int... R>
constexpr MicroKernel<T> kRows[] = {&ukr_ref<T, 4, R, 8>...};
constexpr int kWidePanels[] = {4, 2};
template <class T>
constexpr WideKernel<T> kWide[] = {&ukr_ref_wide<T, 1, 8, 4>, &ukr_ref_wide<T, 2, 8, 2>};

}  // namespace

// 4 x 8: the accumulators (32 values) fit the 16 SSE2 registers of baseline x86-64 as
// 8 float4 or 16 double2 vectors. Block sizes: 4x8 panels are small, so KC = 256 keeps the
// B micro-panel (8 KiB float) in L1 with room for A; MC = 128 keeps A (128 KiB) in any L2.
const KernelSet kRefKernels = {
    "ref",
    {kRows<float, 1, 2, 3, 4>, 4, 8, 128, 256, 4096, kWide<float>, kWidePanels, 2},
    {kRows<double, 1, 2, 3, 4>, 4, 8, 128, 256, 2048, kWide<double>, kWidePanels, 2},
    {},
    {},
    {&ukr_ref_col<float>, 8, 16},
    {&ukr_ref_col<double>, 8, 16},
};

}  // namespace dnnx::blis

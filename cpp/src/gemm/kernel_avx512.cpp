// AVX-512 micro-kernels (row-major mirror of BLIS skx): float32 12 x 32, float64 12 x 16.
// The only translation unit built with -mavx512f/vl/dq/bw; self-contained (see kernel.hpp).
//
// Register budget (32 zmm): 12 rows x 2 vectors = 24 accumulators, 2 for the B row,
// 1 for the broadcast A element. Per k step: 2 loads + 12 broadcasts feed 24 FMAs.
// Zen 4 executes 512-bit FMAs as two 256-bit halves, so this kernel has the same peak as
// avx2 there; its gain is fewer loads per FMA (32 registers allow the larger tile).
#include <immintrin.h>


// gcc 12 reports a false -Wmaybe-uninitialized inside the AVX-512 intrinsic headers
// (_mm512_undefined_* passed as the ignored merge source of masked builtins).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernel.hpp"

namespace dnnx::blis {
namespace {

struct F32 {
  using T = float;
  using V = __m512;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static V maskload(const T* p, int n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
};

struct F64 {
  using T = double;
  using V = __m512d;
  static constexpr int W = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static V maskload(const T* p, int n) { return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1u), p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static V bcast(const T* p) { return _mm512_set1_pd(*p); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
};

#include "kernel_body.inc"

template <class S, int MR, int NV, int... R>
constexpr MicroKernel<typename S::T> kRows[] = {&ukr<S, MR, R, NV>...};

// Wide kernels for 1..4 rows (NV = 2 vectors per panel): G panels such that R * 2G <= 24
// accumulators; one row then runs 8 independent FMA chains instead of 2.
constexpr int kWidePanels[] = {4, 4, 4, 3};
template <class S, int NR>
constexpr WideKernel<typename S::T> kWide[] = {&ukr_wide<S, NR, 1, 2, 4>, &ukr_wide<S, NR, 2, 2, 4>,
                                               &ukr_wide<S, NR, 3, 2, 4>, &ukr_wide<S, NR, 4, 2, 3>};

}  // namespace

// Block sizes (Skylake-X / Zen 4: 32 KiB L1d, >= 1 MiB L2):
//   KC = 256: the KC x NR B micro-panel is 32 KiB (f32, NR = 32; f64, NR = 16): it streams
//             through L1 while each B row is reused 12 times from registers.
//   MC = 144 (f32) / 72 (f64): the A block (144 KiB) stays in L2; multiples of MR = 12.
//   NC = 4096 (multiple of NR): the KC x NC B block (4 MiB f32) lives in L3.
// Narrow variants (one vector per row: 12 x 16 f32, 12 x 8 f64) serve n <= NR/2, e.g. the
// 10-class output layer, where 12 x 32 would compute 22 padding columns out of 32.
const KernelSet kAvx512Kernels = {
    "avx512",
    {kRows<F32, 12, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 32, 144, 256, 4096, kWide<F32, 32>, kWidePanels, 4},
    {kRows<F64, 12, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 16, 72, 256, 4096, kWide<F64, 16>, kWidePanels, 4},
    {kRows<F32, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 16, 144, 256, 4096},
    {kRows<F64, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 8, 72, 256, 4096},
    {&ukr_col<F32, 2>, 32, 12},  // 32 x n <= 12: up to 24 accumulators
    {&ukr_col<F64, 2>, 16, 12},
};

}  // namespace dnnx::blis

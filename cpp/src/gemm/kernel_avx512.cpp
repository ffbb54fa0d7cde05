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
  // ukr_wide_shift: masked loads and lanes s..s+15 of the pair (lo, hi).
  static __mmask16 mask_from(int s) { return __mmask16(~((1u << s) - 1u)); }
  static __mmask16 mask_below(int s) { return __mmask16((1u << s) - 1u); }
  static V maskload_m(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static __m512i shift_index(int s) {
    return _mm512_add_epi32(_mm512_set1_epi32(s), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  }
  static V perm2(V lo, __m512i idx, V hi) { return _mm512_permutex2var_ps(lo, idx, hi); }
  // In-register 16 x 16 transpose: r[i] holds row i on entry, column i on return.
  static void transpose(V (&r)[W]) {
    V t[16], u[16];
    for (int q = 0; q < 8; ++q) {  // 128-bit lane L: r0[4L] r1[4L] r0[4L+1] r1[4L+1] / ...+2, +3
      t[2 * q] = _mm512_unpacklo_ps(r[2 * q], r[2 * q + 1]);
      t[2 * q + 1] = _mm512_unpackhi_ps(r[2 * q], r[2 * q + 1]);
    }
    for (int g = 0; g < 4; ++g) {  // u[4g + c], lane L: column 4L + c of rows 4g..4g+3
      const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
      const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
      u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
      u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
      u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
      u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; ++c) {  // gather lane L of the four row groups: column 4L + c
      const V lo01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), hi01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
      const V lo23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
      const V hi23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
      r[c] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
      r[4 + c] = _mm512_shuffle_f32x4(lo01, lo23, 0xDD);
      r[8 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
      r[12 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0xDD);
    }
  }
};

// ymm (8 x float32, AVX-512VL encodings: 32 registers) for the quarter-width edge kernels.
struct F32Y {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V bcast(const T* p) { return _mm256_set1_ps(*p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
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
  static __mmask8 mask_from(int s) { return __mmask8(~((1u << s) - 1u)); }
  static __mmask8 mask_below(int s) { return __mmask8((1u << s) - 1u); }
  static V maskload_m(const T* p, __mmask8 m) { return _mm512_maskz_loadu_pd(m, p); }
  static __m512i shift_index(int s) {
    return _mm512_add_epi64(_mm512_set1_epi64(s), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V perm2(V lo, __m512i idx, V hi) { return _mm512_permutex2var_pd(lo, idx, hi); }
  // In-register 8 x 8 transpose.
  static void transpose(V (&r)[W]) {
    V t[8];
    for (int q = 0; q < 4; ++q) {  // 128-bit lane L: r0[2L] r1[2L] / r0[2L+1] r1[2L+1]
      t[2 * q] = _mm512_unpacklo_pd(r[2 * q], r[2 * q + 1]);
      t[2 * q + 1] = _mm512_unpackhi_pd(r[2 * q], r[2 * q + 1]);
    }
    for (int e = 0; e < 2; ++e) {  // column 2L + e: lane L of t[e], t[2 + e], t[4 + e], t[6 + e]
      const V lo01 = _mm512_shuffle_f64x2(t[e], t[2 + e], 0x44), hi01 = _mm512_shuffle_f64x2(t[e], t[2 + e], 0xEE);
      const V lo23 = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0x44);
      const V hi23 = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0xEE);
      r[e] = _mm512_shuffle_f64x2(lo01, lo23, 0x88);
      r[2 + e] = _mm512_shuffle_f64x2(lo01, lo23, 0xDD);
      r[4 + e] = _mm512_shuffle_f64x2(hi01, hi23, 0x88);
      r[6 + e] = _mm512_shuffle_f64x2(hi01, hi23, 0xDD);
    }
  }
};

#include "kernel_body.inc"

template <class S, int MR, int NV, int... R>
constexpr MicroKernel<typename S::T> kRows[] = {&ukr<S, MR, R, NV>...};

// Wide kernels for 1..4 rows (NV = 2 vectors per panel): G panels such that R * 2G <= 24
// accumulators; one row then runs 8 independent FMA chains instead of 2.
constexpr int kWidePanels[] = {8, 4, 4, 3};
template <class S, int NR>
constexpr WideKernel<typename S::T> kWide[] = {&ukr_wide<S, NR, 1, 2, 8>, &ukr_wide<S, NR, 2, 2, 4>,
                                               &ukr_wide<S, NR, 3, 2, 4>, &ukr_wide<S, NR, 4, 2, 3>};
// The same panels for 1-2 rows from misaligned in-place B (17 / 2 x 9 accumulators).
template <class S, int NR>
constexpr WideShiftKernel<typename S::T> kWideShift[] = {&ukr_wide_shift<S, NR, 1, 2, 8>,
                                                         &ukr_wide_shift<S, NR, 2, 2, 4>};

}  // namespace

// Block sizes (Skylake-X / Zen 4: 32 KiB L1d, >= 1 MiB L2):
//   KC = 256: the KC x NR B micro-panel is 32 KiB (f32, NR = 32; f64, NR = 16): it streams
//             through L1/L2 while each B row is reused 12 times from registers.
//   KC_wide = 512 for n >= 1024: there C (m x n) leaves the caches between k-blocks, so a
//             longer KC halves the passes over C (tiles reloaded from L3/DRAM) and the
//             micro-kernel start-ups. bench_gemm, 1 thread, 2048^3: f32 95-96 GFLOP/s at
//             KC = 256, 103-105 at 512; f64 44-45 -> 48-50. The MLP shapes (n <= 784)
//             gain nothing from it (128 x 784 x 512 NT loses ~3%), hence the split.
//   MC = 144: the A block (144 KiB f32 at KC = 256, up to 576 KiB f64 at KC_wide) stays in
//             L2; a multiple of MR = 12 (f64 at MC = 72 measured 3-5% slower).
//   NC = 4096 (multiple of NR): the KC x NC B block (4-8 MiB f32) lives in L3.
// Narrow variants (one vector per row: 12 x 16 f32, 12 x 8 f64) serve n <= NR/2, e.g. the
// 10-class output layer, where 12 x 32 would compute 22 padding columns out of 32.
const KernelSet kAvx512Kernels = {
    "avx512",
    {kRows<F32, 12, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 32, 144, 256, 4096, kWide<F32, 32>, kWidePanels, 4,
     512, kWideShift<F32, 32>, 2, 64, kRows<F32, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>,
     kRows<F32Y, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>},
    {kRows<F64, 12, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 16, 144, 256, 4096, kWide<F64, 16>, kWidePanels, 4,
     512, kWideShift<F64, 16>, 2, 64, kRows<F64, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>},
    {kRows<F32, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 16, 144, 256, 4096},
    {kRows<F64, 12, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>, 12, 8, 144, 256, 4096},
    {&ukr_col<F32, 2>, 32, 12, &pack_col<F32, 2>},  // 32 x n <= 12: up to 24 accumulators
    {&ukr_col<F64, 2>, 16, 12, &pack_col<F64, 2>},
};

}  // namespace dnnx::blis

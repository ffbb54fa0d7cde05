// AVX2 + FMA micro-kernels (BLIS haswell shape): float32 6 x 16 and float64 6 x 8.
// The only translation unit built with -mavx2 -mfma; self-contained (see kernel.hpp).
//
// Register budget (16 ymm): 6 rows x 2 vectors = 12 accumulators, 2 for the B row,
// 1 for the broadcast A element. Per k step: 2 loads + 6 broadcasts feed 12 FMAs, so the
// two FMA pipes stay busy while the load ports have slack.
#include <immintrin.h>

#include "kernel.hpp"

namespace dnnx::blis {
namespace {

struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V maskload(const T* p, int n) {
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  // ukr_wide_shift: masked loads and lanes s..s+7 of the pair (lo, hi), as two cross-lane
  // permutes and a blend (AVX2 has no two-source permute).
  static __m256i lane() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static __m256i mask_from(int s) { return _mm256_cmpgt_epi32(lane(), _mm256_set1_epi32(s - 1)); }
  static __m256i mask_below(int s) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(s), lane()); }
  static V maskload_m(const T* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  struct Shift {
    __m256i idx;  // lane l takes lane (l + s) mod 8 ...
    __m256 hi;    // ... of hi where l + s >= 8, else of lo
  };
  static Shift shift_index(int s) {
    const __m256i src = _mm256_add_epi32(lane(), _mm256_set1_epi32(s));
    return {_mm256_and_si256(src, _mm256_set1_epi32(7)),
            _mm256_castsi256_ps(_mm256_cmpgt_epi32(src, _mm256_set1_epi32(7)))};
  }
  static V perm2(V lo, const Shift& sh, V hi) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, sh.idx), _mm256_permutevar8x32_ps(hi, sh.idx), sh.hi);
  }
  // In-register 8 x 8 transpose: r[i] holds row i on entry, column i on return.
  static void transpose(V (&r)[W]) {
    V t[8], u[8];
    for (int q = 0; q < 4; ++q) {  // per 128-bit lane: r0[2c] r1[2c] r0[2c+1] r1[2c+1]
      t[2 * q] = _mm256_unpacklo_ps(r[2 * q], r[2 * q + 1]);
      t[2 * q + 1] = _mm256_unpackhi_ps(r[2 * q], r[2 * q + 1]);
    }
    for (int g = 0; g < 2; ++g) {  // u[4g + c], lane L: column 4L + c of rows 4g..4g+3
      u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
      u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
      u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
      u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; ++c) {  // low lanes: columns 0..3, high lanes: columns 4..7
      r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
      r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
  }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V maskload(const T* p, int n) {
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)));
  }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V max(V a, V b) { return _mm256_max_pd(a, b); }
  // ukr_wide_shift, as for F32: 64-bit lanes moved as pairs of 32-bit ones.
  static __m256i lane() { return _mm256_setr_epi64x(0, 1, 2, 3); }
  static __m256i mask_from(int s) { return _mm256_cmpgt_epi64(lane(), _mm256_set1_epi64x(s - 1)); }
  static __m256i mask_below(int s) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(s), lane()); }
  static V maskload_m(const T* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  struct Shift {
    __m256i idx;  // 32-bit indices 2e, 2e+1 of lane e = (l + s) mod 4
    __m256d hi;   // lanes with l + s >= 4 come from hi
  };
  static Shift shift_index(int s) {
    const __m256i src = _mm256_add_epi64(lane(), _mm256_set1_epi64x(s));
    const __m256i e = _mm256_and_si256(src, _mm256_set1_epi64x(3));
    const __m256i e2 = _mm256_add_epi64(e, e);
    const __m256i pair = _mm256_or_si256(e2, _mm256_slli_epi64(_mm256_add_epi64(e2, _mm256_set1_epi64x(1)), 32));
    return {pair, _mm256_castsi256_pd(_mm256_cmpgt_epi64(src, _mm256_set1_epi64x(3)))};
  }
  static V perm2(V lo, const Shift& sh, V hi) {
    const __m256 a = _mm256_permutevar8x32_ps(_mm256_castpd_ps(lo), sh.idx);
    const __m256 b = _mm256_permutevar8x32_ps(_mm256_castpd_ps(hi), sh.idx);
    return _mm256_blendv_pd(_mm256_castps_pd(a), _mm256_castps_pd(b), sh.hi);
  }
  // In-register 4 x 4 transpose.
  static void transpose(V (&r)[W]) {
    const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
};

#include "kernel_body.inc"

template <class S, int MR, int NV, int... R>
constexpr MicroKernel<typename S::T> kRows[] = {&ukr<S, MR, R, NV>...};

// Wide kernels for 1..3 rows (NV = 2 vectors per panel): G panels such that R * 2G <= 12
// accumulators (16 ymm registers); one row then runs 8 independent FMA chains instead of 2.
constexpr int kWidePanels[] = {4, 3, 2};
template <class S, int NR>
constexpr WideKernel<typename S::T> kWide[] = {&ukr_wide<S, NR, 1, 2, 4>, &ukr_wide<S, NR, 2, 2, 3>,
                                               &ukr_wide<S, NR, 3, 2, 2>};

// One row from misaligned in-place B, with the panels of kWide (9 accumulators); two rows
// (2 x 7) would not leave registers for the broadcasts and loads.
template <class S, int NR>
constexpr WideShiftKernel<typename S::T> kWideShift[] = {&ukr_wide_shift<S, NR, 1, 2, 4>};

}  // namespace

// Block sizes (Zen 4 / Haswell-class: 32 KiB L1d, >= 256 KiB L2, shared L3):
//   KC = 256: the KC x NR B micro-panel is 16 KiB (float) / 16 KiB (double), half of L1,
//             leaving room for the A sliver and C tile.
//   MC = 144 (f32) / 72 (f64): the MC x KC A block is 144 KiB, well inside L2 next to
//             the streaming B panels; multiples of MR = 6.
//   NC = 4080 (multiple of NR): the KC x NC B block (4 MiB f32) lives in L3.
// These are the BLIS haswell/zen values, confirmed by bench_gemm on this machine. On Zen 3
// (512 KiB L2), a longer k-block for wide products (KC_wide 384 or 512, as avx512 uses)
// gained nothing on 1024^3 or 2048^3 (6 alternating runs each, medians within the noise).
const KernelSet kAvx2Kernels = {
    "avx2",
    {kRows<F32, 6, 2, 1, 2, 3, 4, 5, 6>, 6, 16, 144, 256, 4080, kWide<F32, 16>, kWidePanels, 3, 0,
     kWideShift<F32, 16>, 1, 32, kRows<F32, 6, 1, 1, 2, 3, 4, 5, 6>},
    {kRows<F64, 6, 2, 1, 2, 3, 4, 5, 6>, 6, 8, 72, 256, 4080, kWide<F64, 8>, kWidePanels, 3, 0,
     kWideShift<F64, 8>, 1, 32, kRows<F64, 6, 1, 1, 2, 3, 4, 5, 6>},
    {},
    {},
    {&ukr_col<F32, 1>, 8, 12, &pack_col<F32, 1>},  // 8 x n <= 12: up to 12 accumulators of 16 registers
    {&ukr_col<F64, 1>, 4, 12, &pack_col<F64, 1>},
};

}  // namespace dnnx::blis

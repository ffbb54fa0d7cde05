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
};

// The k loop, for A either packed (RS = 1, CS = MR known at compile time: constant
// offsets, one pointer) or strided (row pointers computed once, one shared offset).
template <class S, int MR, int R, int NV, bool kPacked>
inline void k_loop(index_t k, const typename S::T* a, index_t rs_a, index_t cs_a, const typename S::T* b,
                   index_t rs_b, typename S::V (&acc)[R][NV]) {
  using V = typename S::V;
  if (kPacked) {
#pragma GCC unroll 4
    for (index_t p = 0; p < k; ++p) {
      V bv[NV];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) bv[j] = S::load(b + j * S::W);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const V av = S::bcast(a + i);
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[i][j] = S::fma(av, bv[j], acc[i][j]);
      }
      a += MR;
      b += rs_b;
    }
  } else {
    const typename S::T* rows[R];
    for (int i = 0; i < R; ++i) rows[i] = a + i * rs_a;
    index_t off = 0;
#pragma GCC unroll 2
    for (index_t p = 0; p < k; ++p) {
      V bv[NV];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) bv[j] = S::load(b + j * S::W);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const V av = S::bcast(rows[i] + off);
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[i][j] = S::fma(av, bv[j], acc[i][j]);
      }
      off += cs_a;
      b += rs_b;
    }
  }
}

// The first R rows of an MR x (NV * W) tile.
template <class S, int MR, int R, int NV>
void ukr(index_t k, const typename S::T* a, index_t rs_a, index_t cs_a, const typename S::T* b, index_t rs_b,
         typename S::T* c, index_t ldc, const TileEpilogue<typename S::T>& ep) {
  using V = typename S::V;
  V acc[R][NV];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = S::zero();
  }
  if (rs_a == 1 && cs_a == MR)
    k_loop<S, MR, R, NV, true>(k, a, rs_a, cs_a, b, rs_b, acc);
  else
    k_loop<S, MR, R, NV, false>(k, a, rs_a, cs_a, b, rs_b, acc);

  const V va = S::set1(ep.alpha), vb = S::set1(ep.beta), z = S::zero();
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    typename S::T* ci = c + i * ldc;
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      V v = S::mul(va, acc[i][j]);
      if (ep.beta != 0) v = S::fma(vb, S::load(ci + j * S::W), v);
      if (ep.bias) v = S::add(v, S::load(ep.bias + j * S::W));
      if (ep.preact) S::store(ep.preact + i * ep.ldp + j * S::W, v);
      if (ep.relu) v = S::max(z, v);  // operand order: x86 max returns the 2nd operand for NaN, so NaN propagates
      S::store(ci + j * S::W, v);
    }
  }
}

// Block sizes (Zen 4 / Haswell-class: 32 KiB L1d, >= 256 KiB L2, shared L3):
//   KC = 256: the KC x NR B micro-panel is 16 KiB (float) / 16 KiB (double), half of L1,
//             leaving room for the A sliver and C tile.
//   MC = 144 (f32) / 72 (f64): the MC x KC A block is 144 KiB, well inside L2 next to
//             the streaming B panels; multiples of MR = 6.
//   NC = 4080 (multiple of NR): the KC x NC B block (4 MiB f32) lives in L3.
// These are the BLIS haswell/zen values, confirmed by bench_gemm on this machine.
// The first R rows against G adjacent NV-vector panels (see WideKernel in kernel.hpp): the
// per-element arithmetic of ukr() (FMA chain over p from zero, same epilogue), with A read
// in place by row pointers and G B streams.
template <class S, int NR, int R, int NV, int G>
void ukr_wide(index_t k, const typename S::T* a, index_t rs_a, index_t cs_a, const typename S::T* b,
              index_t rs_b, index_t gs_b, typename S::T* c, index_t ldc, const TileEpilogue<typename S::T>& ep) {
  using V = typename S::V;
  constexpr int NW = G * NV;
  V acc[R][NW];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NW; ++v) acc[i][v] = S::zero();
  const typename S::T* rows[R];
  for (int i = 0; i < R; ++i) rows[i] = a + i * rs_a;
  const typename S::T* bg[G];
  for (int g = 0; g < G; ++g) bg[g] = b + g * gs_b;
  index_t off_a = 0, off_b = 0;
#pragma GCC unroll 2
  for (index_t p = 0; p < k; ++p) {
#ifdef WIDE_PF
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
      for (int l = 0; l < NV * S::W * int(sizeof(typename S::T)) / 64; ++l)
        _mm_prefetch(reinterpret_cast<const char*>(bg[g] + off_b + WIDE_PF * rs_b) + 64 * l, _MM_HINT_T0);
#endif
    V av[R];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) av[i] = S::bcast(rows[i] + off_a);
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        const V bv = S::load(bg[g] + off_b + j * S::W);
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) acc[i][g * NV + j] = S::fma(av[i], bv, acc[i][g * NV + j]);
      }
    off_a += cs_a;
    off_b += rs_b;
  }
  const V va = S::set1(ep.alpha), vb = S::set1(ep.beta), z = S::zero();
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    typename S::T* ci = c + i * ldc;
#pragma GCC unroll 16
    for (int v = 0; v < NW; ++v) {
      V x = S::mul(va, acc[i][v]);
      if (ep.beta != 0) x = S::fma(vb, S::load(ci + v * S::W), x);
      if (ep.bias) x = S::add(x, S::load(ep.bias + v * S::W));
      if (ep.preact) S::store(ep.preact + i * ep.ldp + v * S::W, x);
      if (ep.relu) x = S::max(x, z);
      S::store(ci + v * S::W, x);
    }
  }
}

// Column-vector kernel (ColKernel in kernel.hpp): NJ columns x NVI vectors along i. Same
// per-element arithmetic as ukr(): fma(a, b, acc) over p from zero, then the tile epilogue.
template <class S, int NVI, int NJ>
void ukr_col_n(index_t k, index_t mr, const typename S::T* a, index_t lda, const typename S::T* b, index_t rs_b,
               index_t cs_b, typename S::T* c, index_t ldc, const TileEpilogue<typename S::T>& ep) {
  using V = typename S::V;
  using T = typename S::T;
  constexpr int MRT = NVI * S::W;
  V acc[NJ][NVI];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < NVI; ++v) acc[j][v] = S::zero();
  const T* bj[NJ];
  for (int j = 0; j < NJ; ++j) bj[j] = b + j * cs_b;
  if (mr == MRT) {
#pragma GCC unroll 2
    for (index_t p = 0; p < k; ++p) {
      V av[NVI];
#pragma GCC unroll 4
      for (int v = 0; v < NVI; ++v) av[v] = S::load(a + p * lda + v * S::W);
#pragma GCC unroll 16
      for (int j = 0; j < NJ; ++j) {
        const V bv = S::bcast(bj[j] + p * rs_b);
#pragma GCC unroll 4
        for (int v = 0; v < NVI; ++v) acc[j][v] = S::fma(av[v], bv, acc[j][v]);
      }
    }
  } else {  // last row tile: lanes past mr are neither read nor written
    int cnt[NVI];
    for (int v = 0; v < NVI; ++v) {
      const index_t r = mr - index_t(v) * S::W;
      cnt[v] = r <= 0 ? 0 : (r >= S::W ? S::W : int(r));
    }
    for (index_t p = 0; p < k; ++p) {
      V av[NVI];
#pragma GCC unroll 4
      for (int v = 0; v < NVI; ++v) av[v] = S::maskload(a + p * lda + v * S::W, cnt[v]);
#pragma GCC unroll 16
      for (int j = 0; j < NJ; ++j) {
        const V bv = S::bcast(bj[j] + p * rs_b);
#pragma GCC unroll 4
        for (int v = 0; v < NVI; ++v) acc[j][v] = S::fma(av[v], bv, acc[j][v]);
      }
    }
  }
  alignas(64) T out[NJ][MRT];
  alignas(64) T pre[NJ][MRT];
  alignas(64) T cin[MRT];
  const V va = S::set1(ep.alpha), vb = S::set1(ep.beta), z = S::zero();
  for (int j = 0; j < NJ; ++j) {
    if (ep.beta != 0) {
      for (int i = 0; i < MRT; ++i) cin[i] = i < mr ? c[i * ldc + j] : T(0);
    }
    const V bias = ep.bias ? S::set1(ep.bias[j]) : z;
#pragma GCC unroll 4
    for (int v = 0; v < NVI; ++v) {
      V x = S::mul(va, acc[j][v]);
      if (ep.beta != 0) x = S::fma(vb, S::load(cin + v * S::W), x);
      if (ep.bias) x = S::add(x, bias);
      if (ep.preact) S::store(pre[j] + v * S::W, x);
      if (ep.relu) x = S::max(x, z);
      S::store(out[j] + v * S::W, x);
    }
  }
  for (index_t i = 0; i < mr; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) c[i * ldc + j] = out[j][i];
  }
  if (ep.preact)
    for (index_t i = 0; i < mr; ++i)
      for (int j = 0; j < NJ; ++j) ep.preact[i * ep.ldp + j] = pre[j][i];
}

template <class S, int NVI>
using ColFn = void (*)(index_t, index_t, const typename S::T*, index_t, const typename S::T*, index_t, index_t,
                       typename S::T*, index_t, const TileEpilogue<typename S::T>&);
template <class S, int NVI>
constexpr ColFn<S, NVI> kColByN[] = {&ukr_col_n<S, NVI, 1>, &ukr_col_n<S, NVI, 2>,  &ukr_col_n<S, NVI, 3>,
                                     &ukr_col_n<S, NVI, 4>, &ukr_col_n<S, NVI, 5>,  &ukr_col_n<S, NVI, 6>,
                                     &ukr_col_n<S, NVI, 7>, &ukr_col_n<S, NVI, 8>,  &ukr_col_n<S, NVI, 9>,
                                     &ukr_col_n<S, NVI, 10>, &ukr_col_n<S, NVI, 11>, &ukr_col_n<S, NVI, 12>};
template <class S, int NVI>
void ukr_col(index_t k, index_t mr, index_t n, const typename S::T* a, index_t lda, const typename S::T* b,
             index_t rs_b, index_t cs_b, typename S::T* c, index_t ldc, const TileEpilogue<typename S::T>& ep) {
  kColByN<S, NVI>[n - 1](k, mr, a, lda, b, rs_b, cs_b, c, ldc, ep);
}

template <class S, int MR, int NV, int... R>
constexpr MicroKernel<typename S::T> kRows[] = {&ukr<S, MR, R, NV>...};

// Wide kernels for 1..3 rows (NV = 2 vectors per panel): G panels such that R * 2G <= 12
// accumulators (16 ymm registers); one row then runs 8 independent FMA chains instead of 2.
constexpr int kWidePanels[] = {4, 3, 2};
template <class S, int NR>
constexpr WideKernel<typename S::T> kWide[] = {&ukr_wide<S, NR, 1, 2, 4>, &ukr_wide<S, NR, 2, 2, 3>,
                                               &ukr_wide<S, NR, 3, 2, 2>};

}  // namespace

const KernelSet kAvx2Kernels = {
    "avx2",
    {kRows<F32, 6, 2, 1, 2, 3, 4, 5, 6>, 6, 16, 144, 256, 4080, kWide<F32, 16>, kWidePanels, 3},
    {kRows<F64, 6, 2, 1, 2, 3, 4, 5, 6>, 6, 8, 72, 256, 4080, kWide<F64, 8>, kWidePanels, 3},
    {},
    {},
    {&ukr_col<F32, 1>, 8, 12},  // 8 x n <= 12: up to 12 accumulators of 16 registers
    {&ukr_col<F64, 1>, 4, 12},
};

}  // namespace dnnx::blis

// AVX2 (8 x float32) elementwise kernels of the network core: optimizer rules, ReLU and
// bias-gradient passes. Built with -mavx2 -mfma -ffp-contract=off; self-contained (only
// <immintrin.h> and the plain declarations of simd.hpp). Bodies: kernel_nn_body.inc.
#include <immintrin.h>

#include "simd.hpp"

namespace dnnx::nnk {
namespace {

struct V {
  using R = __m256;
  static constexpr int W = 8;
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R sqrt(R a) { return _mm256_sqrt_ps(a); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R relu(R y, R d) { return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), d); }
  static __m256i lanes(int k) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static R loadn(const float* p, int k) { return _mm256_maskload_ps(p, lanes(k)); }
  static void storen(float* p, R x, int k) { _mm256_maskstore_ps(p, lanes(k), x); }
  static R loadn_fill(const float* p, int k, float fill) {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, lanes(k)), _mm256_castsi256_ps(lanes(k)));
  }
  static R keep(R x, int k) { return _mm256_and_ps(x, _mm256_castsi256_ps(lanes(k))); }
  static float hmax(R x) {  // x > y ? x : y over a fixed tree of lanes
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
  }
  // 8 double lanes in two registers: element j of a vector into lane j.
  struct D { __m256d lo, hi; };
  static D load8(const double* p) { return D{_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  static void store8(double* p, D x) { _mm256_storeu_pd(p, x.lo); _mm256_storeu_pd(p + 4, x.hi); }
  static D acc8(D a, R e) {
    return D{_mm256_add_pd(a.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e))),
             _mm256_add_pd(a.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)))};
  }
  static D zero8() { return D{_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static double sum8(D x) {  // ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7))
    const __m256d h = _mm256_hadd_pd(x.lo, x.hi);
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
  static R mul_f64(R e, double k) {  // float(double(e) * k) per lane
    const __m256d kk = _mm256_set1_pd(k);
    const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), kk));
    const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)), kk));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  }
  static R scale2n(R y, R t) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  }
};

// ---- dropout: Philox4x32-10 on 8 counters at once ------------------------------------

// High 32 bits of the 8 products a * b (unsigned 32 x 32 -> 64), and the low 32 bits.
inline void mul_hi_lo(__m256i a, __m256i b, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, b);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// Bit i of x (8 bits) to bit 4i.
inline std::uint32_t spread4(std::uint32_t x) {
  x &= 0xFF;
  x = (x | (x << 12)) & 0x000F000Fu;
  x = (x | (x << 6)) & 0x03030303u;
  x = (x | (x << 3)) & 0x11111111u;
  return x;
}

// Lanes of w (words >> 8 < 2^24, so a signed compare is exact) with w >= t, as 8 bits.
inline std::uint32_t keep_bits(__m256i w, __m256i t) {
  const __m256i drop = _mm256_cmpgt_epi32(t, _mm256_srli_epi32(w, 8));
  return ~static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(drop))) & 0xFFu;
}

void dropout_fwd(idx blocks, std::uint64_t key, std::uint64_t counter, std::uint32_t q0, std::uint32_t thr,
                 float scale, const float* x, float* y, float* mask) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i c2i = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(counter)));
  const __m256i c3i = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(counter >> 32)));
  const __m256i t = _mm256_set1_epi32(static_cast<int>(thr));
  const __m256 sv = _mm256_set1_ps(scale);
  std::uint32_t k0s[10], k1s[10];
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r, k0 += 0x9E3779B9u, k1 += 0xBB67AE85u) { k0s[r] = k0; k1s[r] = k1; }
  for (idx b = 0; b < 2 * blocks; ++b) {  // 32 elements (8 counters) per step
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(q0 + static_cast<std::uint32_t>(8 * b))), iota);
    __m256i c1 = _mm256_setzero_si256(), c2 = c2i, c3 = c3i;
    for (int r = 0; r < 10; ++r) {
      __m256i h0, l0, h1, l1;
      mul_hi_lo(c0, m0, h0, l0);
      mul_hi_lo(c2, m1, h1, l1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(h1, c1), _mm256_set1_epi32(static_cast<int>(k0s[r])));
      c1 = l1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(h0, c3), _mm256_set1_epi32(static_cast<int>(k1s[r])));
      c3 = l0;
    }
    const std::uint32_t keep = spread4(keep_bits(c0, t)) | spread4(keep_bits(c1, t)) << 1 |
                               spread4(keep_bits(c2, t)) << 2 | spread4(keep_bits(c3, t)) << 3;
    const idx e = 32 * b;
    for (int k = 0; k < 4; ++k) {
      const __m256i sel = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(keep >> (8 * k))), bits);
      const __m256 m = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(sel, bits)), sv);
      _mm256_storeu_ps(mask + e + 8 * k, m);
      _mm256_storeu_ps(y + e + 8 * k, _mm256_mul_ps(_mm256_loadu_ps(x + e + 8 * k), m));
    }
  }
}

// ---- regularization: 8 double lanes = element i % 8 (two ymm of 4) ------------------

inline double combine8(const double* s);

void reg(idx n, const float* w, float* g, float l1, float l2x2, double* sums) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256 one = _mm256_set1_ps(1.0f), mone = _mm256_set1_ps(-1.0f), zero = _mm256_setzero_ps();
  const __m256 vl1 = _mm256_set1_ps(l1), vl2 = _mm256_set1_ps(l2x2);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  for (idx i = 0; i < n; i += 8) {
    const int k = n - i < 8 ? static_cast<int>(n - i) : 8;
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(k), iota);
    const __m256 wf = _mm256_maskload_ps(w + i, m);  // missing lanes add +0 to the sums
    const __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(wf));
    const __m256d d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(wf, 1));
    a0 = _mm256_add_pd(a0, _mm256_andnot_pd(sign, d0));
    a1 = _mm256_add_pd(a1, _mm256_andnot_pd(sign, d1));
    b0 = _mm256_add_pd(b0, _mm256_mul_pd(d0, d0));
    b1 = _mm256_add_pd(b1, _mm256_mul_pd(d1, d1));
    if (g) {
      const __m256 sg = _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(wf, zero, _CMP_GT_OQ), one),
                                     _mm256_and_ps(_mm256_cmp_ps(wf, zero, _CMP_LT_OQ), mone));
      const __m256 t = _mm256_add_ps(_mm256_mul_ps(vl1, sg), _mm256_mul_ps(vl2, wf));
      _mm256_maskstore_ps(g + i, m, _mm256_add_ps(_mm256_maskload_ps(g + i, m), t));
    }
  }
  alignas(32) double a[8], b[8];
  _mm256_store_pd(a, a0);
  _mm256_store_pd(a + 4, a1);
  _mm256_store_pd(b, b0);
  _mm256_store_pd(b + 4, b1);
  sums[0] = combine8(a);
  sums[1] = combine8(b);
}

#include "kernel_nn_body.inc"

}  // namespace

const Table kAvx2 = make_table("avx2");

}  // namespace dnnx::nnk

// AVX-512 (16 x float32) elementwise kernels of the network core: optimizer rules, ReLU
// and bias-gradient passes. Built with the AVX-512 flags and -ffp-contract=off;
// self-contained (only <immintrin.h> and the plain declarations of simd.hpp). Bodies:
// kernel_nn_body.inc.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* in the shift and
// blend intrinsics): a false positive, GCC PR 105593, fixed in GCC 13.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "simd.hpp"

namespace dnnx::nnk {
namespace {

struct V {
  using R = __m512;
  static constexpr int W = 16;
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R sqrt(R a) { return _mm512_sqrt_ps(a); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R relu(R y, R d) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), d); }
  static __mmask16 lanes(int k) { return static_cast<__mmask16>((1u << k) - 1u); }
  static R loadn(const float* p, int k) { return _mm512_maskz_loadu_ps(lanes(k), p); }
  static void storen(float* p, R x, int k) { _mm512_mask_storeu_ps(p, lanes(k), x); }
  static R loadn_fill(const float* p, int k, float fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes(k), p); }
  static R keep(R x, int k) { return _mm512_maskz_mov_ps(lanes(k), x); }
  static float hmax(R x) {  // x > y ? x : y over a fixed tree of lanes
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
  }
  // 8 double lanes: element j of a vector into lane j % 8.
  using D = __m512d;
  static D load8(const double* p) { return _mm512_loadu_pd(p); }
  static void store8(double* p, D x) { _mm512_storeu_pd(p, x); }
  static D acc8(D a, R e) {
    a = _mm512_add_pd(a, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    return _mm512_add_pd(a, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  static D zero8() { return _mm512_setzero_pd(); }
  static double sum8(D x) {  // ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7))
    const __m256d h = _mm256_hadd_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd(x, 1));
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
  static R mul_f64(R e, double k) {  // float(double(e) * k) per lane
    const __m512d kk = _mm512_set1_pd(k);
    const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(e)), kk));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)), kk));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }
  static R scale2n(R y, R t) {
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127 - 0x4B400000)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
  }
};

// ---- dropout: Philox4x32-10 on 16 counters at once ----------------------------------

// High 32 bits of the 16 products a * b (unsigned 32 x 32 -> 64), and the low 32 bits.
inline void mul_hi_lo(__m512i a, __m512i b, __m512i& hi, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, b);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// Bit i of x (16 bits) to bit 4i.
inline std::uint64_t spread4(std::uint64_t x) {
  x &= 0xFFFF;
  x = (x | (x << 24)) & 0x000000FF000000FFull;
  x = (x | (x << 12)) & 0x000F000F000F000Full;
  x = (x | (x << 6)) & 0x0303030303030303ull;
  x = (x | (x << 3)) & 0x1111111111111111ull;
  return x;
}

void dropout_fwd(idx blocks, std::uint64_t key, std::uint64_t counter, std::uint32_t q0, std::uint32_t thr,
                 float scale, const float* x, float* y, float* mask) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i c2i = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(counter)));
  const __m512i c3i = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(counter >> 32)));
  const __m512i t = _mm512_set1_epi32(static_cast<int>(thr));
  const __m512 sv = _mm512_set1_ps(scale);
  std::uint32_t k0s[10], k1s[10];
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r, k0 += 0x9E3779B9u, k1 += 0xBB67AE85u) { k0s[r] = k0; k1s[r] = k1; }
  for (idx b = 0; b < blocks; ++b) {
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(q0 + static_cast<std::uint32_t>(16 * b))), iota);
    __m512i c1 = _mm512_setzero_si512(), c2 = c2i, c3 = c3i;
    for (int r = 0; r < 10; ++r) {
      __m512i h0, l0, h1, l1;
      mul_hi_lo(c0, m0, h0, l0);
      mul_hi_lo(c2, m1, h1, l1);
      c0 = _mm512_xor_si512(_mm512_xor_si512(h1, c1), _mm512_set1_epi32(static_cast<int>(k0s[r])));
      c1 = l1;
      c2 = _mm512_xor_si512(_mm512_xor_si512(h0, c3), _mm512_set1_epi32(static_cast<int>(k1s[r])));
      c3 = l0;
    }
    // keep bit of element 4L + j = word j of lane L.
    const std::uint64_t keep = spread4(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c0, 8), t)) |
                               spread4(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c1, 8), t)) << 1 |
                               spread4(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c2, 8), t)) << 2 |
                               spread4(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c3, 8), t)) << 3;
    const idx e = 64 * b;
    for (int k = 0; k < 4; ++k) {
      const __m512 m = _mm512_maskz_mov_ps(static_cast<__mmask16>(keep >> (16 * k)), sv);
      _mm512_storeu_ps(mask + e + 16 * k, m);
      _mm512_storeu_ps(y + e + 16 * k, _mm512_mul_ps(_mm512_loadu_ps(x + e + 16 * k), m));
    }
  }
}

// ---- regularization: 8 double lanes = element i % 8 ---------------------------------

inline double combine8(const double* s);

void reg(idx n, const float* w, float* g, float l1, float l2x2, double* sums) {
  const __m512d sign = _mm512_set1_pd(-0.0);
  const __m256 one = _mm256_set1_ps(1.0f), mone = _mm256_set1_ps(-1.0f), zero = _mm256_setzero_ps();
  const __m256 vl1 = _mm256_set1_ps(l1), vl2 = _mm256_set1_ps(l2x2);
  __m512d s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd();
  for (idx i = 0; i < n; i += 8) {
    const int k = n - i < 8 ? static_cast<int>(n - i) : 8;
    const __mmask8 m = static_cast<__mmask8>((1u << k) - 1u);
    const __m256 wf = _mm256_maskz_loadu_ps(m, w + i);  // missing lanes add +0 to the sums
    const __m512d d = _mm512_cvtps_pd(wf);
    s1 = _mm512_add_pd(s1, _mm512_andnot_pd(sign, d));
    s2 = _mm512_add_pd(s2, _mm512_mul_pd(d, d));
    if (g) {
      const __m256 sg = _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(wf, zero, _CMP_GT_OQ), one),
                                     _mm256_and_ps(_mm256_cmp_ps(wf, zero, _CMP_LT_OQ), mone));
      const __m256 t = _mm256_add_ps(_mm256_mul_ps(vl1, sg), _mm256_mul_ps(vl2, wf));
      _mm256_mask_storeu_ps(g + i, m, _mm256_add_ps(_mm256_maskz_loadu_ps(m, g + i), t));
    }
  }
  alignas(64) double a[8], b[8];
  _mm512_store_pd(a, s1);
  _mm512_store_pd(b, s2);
  sums[0] = combine8(a);
  sums[1] = combine8(b);
}

#include "kernel_nn_body.inc"

}  // namespace

const Table kAvx512 = make_table("avx512");

}  // namespace dnnx::nnk

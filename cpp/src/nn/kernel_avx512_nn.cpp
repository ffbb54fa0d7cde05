// AVX-512 (16 x float32) elementwise kernels of the network core: optimizer rules, ReLU
// and bias-gradient passes. Built with the AVX-512 flags and -ffp-contract=off;
// self-contained (only <immintrin.h> and the plain declarations of simd.hpp). Bodies:
// kernel_nn_body.inc.
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
};

struct S {
  using R = float;
  static constexpr int W = 1;
  static R load(const float* p) { return *p; }
  static void store(float* p, R x) { *p = x; }
  static R set1(float x) { return x; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R div(R a, R b) { return a / b; }
  static R sqrt(R a) { return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(a))); }
  static R max(R a, R b) { return a > b ? a : b; }
  static R min(R a, R b) { return a < b ? a : b; }
  static R relu(R y, R d) { return y > 0.0f ? d : 0.0f; }
};

#include "kernel_nn_body.inc"

}  // namespace

const Table kAvx512 = make_table("avx512");

}  // namespace dnnx::nnk

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

const Table kAvx2 = make_table("avx2");

}  // namespace dnnx::nnk

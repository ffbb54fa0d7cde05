// INTERNAL: the SIMD elementwise kernels of the network core (float32), as a table of
// plain function pointers. kernel_avx2_nn.cpp and kernel_avx512_nn.cpp each fill one
// table; active() picks the table of the active kernel choice (dnnx/dispatch.hpp, which
// the GEMM follows too: set_kernel, DNNX_KERNEL), or nullptr for "ref", where callers run
// their portable loops, which are the reference these kernels are tested against.
//
// Contract of every kernel: the same IEEE operations, in the same order, as the portable
// loop it replaces (no FMA contraction: the kernel TUs build with -ffp-contract=off), so
// results are bitwise identical to the reference. Pointers need no alignment. "In place"
// (out == in) is allowed where noted; other overlaps are not.
//
// This header holds declarations only (no inline code): it is included by the kernel
// TUs, which are built with ISA flags, and nothing inline may be emitted there and then
// picked by the linker for baseline code.
#pragma once
#include <cstdint>

namespace dnnx::nnk {

using idx = std::int64_t;

/// Scalars of one optimizer step (each rule reads its own). prep: g' = g * scale, then
/// clamped to [-clip, clip] when clip > 0; every rule first decays w -= w * decay.
struct OptArgs {
  // A plain aggregate (no member initializers: nothing inline); build it as OptArgs a{}.
  float scale, clip, decay;
  float lr;                  ///< sgd, rmsprop, adagrad, nadam
  float alpha;               ///< adam: lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
  float c1, c2, eps;         ///< 1 - beta_1, 1 - beta_2 (adam, nadam); epsilon
  float mu;                  ///< momentum (sgd, rmsprop)
  float rho, one_minus_rho;  ///< rmsprop
  float cm, cg, cv;          ///< nadam: m_hat = cm m + cg g; v_hat = v cv
  bool nesterov;
};

struct Table {
  const char* name;
  /// Optimizer rules over n elements (pointers already offset). Optional slots may be null:
  /// adam vh (amsgrad), sgd m (no momentum), rmsprop mo / avg.
  void (*adam)(idx n, float* w, const float* g, float* m, float* v, float* vh, const OptArgs& a);
  void (*nadam)(idx n, float* w, const float* g, float* m, float* v, const OptArgs& a);
  void (*sgd)(idx n, float* w, const float* g, float* m, const OptArgs& a);
  void (*rmsprop)(idx n, float* w, const float* g, float* v, float* mo, float* avg, const OptArgs& a);
  void (*adagrad)(idx n, float* w, const float* g, float* acc, const OptArgs& a);
  /// dz = y > 0 ? dy : 0 over n elements (dz may be dy).
  void (*relu_bwd)(idx n, const float* y, const float* dy, float* dz);
  /// Over a rows x cols block with row stride ld: dz = relu_mask(y, dy) when y is non-null
  /// (else dz = dy, and dz may then be null: nothing is written), and db[j] = sum over
  /// rows of dz[:, j] in row order (db may be null). dz may be dy.
  void (*bwd_colsum)(idx rows, idx cols, idx ld, const float* y, const float* dy, float* dz, float* db);
  /// out = a * b over n elements (out may be a or b).
  void (*mul)(idx n, const float* a, const float* b, float* out);
  /// Dropout forward over `blocks` blocks of kDropoutBlock elements, the first element
  /// being 4 * q0: the draws of elements 4q..4q+3 are the 4 words of Philox4x32-10 at
  /// counter (hi = counter, lo = q) under key (rng.hpp); element e is kept when
  /// (word >> 8) >= thr (thr = ceil(rate * 2^24), the integer form of
  /// uniform24(word) >= rate), with mask = kept ? scale : 0, y = x * mask.
  /// Requires q0 + blocks * kDropoutBlock / 4 < 2^32.
  void (*dropout_fwd)(idx blocks, std::uint64_t key, std::uint64_t counter, std::uint32_t q0, std::uint32_t thr,
                      float scale, const float* x, float* y, float* mask);
  /// L1/L2 penalty over n weights: sums[0] = sum |w|, sums[1] = sum w^2 (in double, in the
  /// fixed order of detail::reg_sums: element i into lane i % 8, lanes combined as
  /// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7))), and, when g is non-null,
  /// g += l1 * sign(w) + l2x2 * w (float, in that order).
  void (*reg)(idx n, const float* w, float* g, float l1, float l2x2, double* sums);
  /// The largest of z[0..n) (-inf for n = 0), as m = m > z[j] ? m : z[j] from -inf (any
  /// order gives the same value when no z is NaN): a softmax row's shift.
  float (*row_max)(idx n, const float* z);
  /// out[j] = exp(z[j] - shift) over n elements by exp_f32.inc's fixed operations, and
  /// lanes[j % 8] += double(out[j]) (j counted from z; callers that split a row do so at
  /// multiples of 8, so an element's lane is that of its column): the lane sums of
  /// detail::reg_sums, combined by the caller. out may be z.
  void (*exp_sum)(idx n, const float* z, float shift, float* out, double* lanes);
  /// A whole softmax row in one call: *shift = row_max(n, z), out[j] = exp(z[j] - shift)
  /// and the return value combine_lanes(lanes) of exp_sum's lane sums from +0 (the same bits
  /// as the three steps; the lanes never leave the registers). out may be z.
  double (*softmax_exp)(idx n, const float* z, float* out, float* shift);
  /// g[j] = s * float(double(g[j]) * k) over n elements: softmax numerators to gradients.
  void (*scale_f64)(idx n, float* g, double k, float s);
};

/// Elements per dropout_fwd block: 16 Philox calls of 4 words (AVX2 runs it as 2 x 8).
constexpr idx kDropoutBlock = 64;

extern const Table kAvx2;
extern const Table kAvx512;

/// The table for the active kernel choice, or nullptr (portable loops).
const Table* active();

/// The portable references of Table::row_max and Table::exp_sum (the same operations);
/// those of softmax_exp and scale_f64 are composed from them in kernels.hpp.
float row_max_ref(idx n, const float* z);
void exp_sum_ref(idx n, const float* z, float shift, float* out, double* lanes);

}  // namespace dnnx::nnk

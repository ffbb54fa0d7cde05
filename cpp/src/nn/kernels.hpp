// INTERNAL: the small loops the network core shares (parallel-for over fixed chunks,
// column sums). Every reduction here has a fixed summation order that does not depend on
// the thread count: threads only ever split independent outputs (columns, rows, chunks of
// elements), never one sum.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "dnnx/activations.hpp"
#include "dnnx/common.hpp"
#include "dnnx/optimizers.hpp"
#include "dnnx/parallel.hpp"
#include "simd.hpp"

namespace dnnx::detail {

/// Below this much work a loop runs on the calling thread. Work is counted in elements of
/// a memory-bound pass (read a few arrays, write one): callers scale it up for passes
/// with real arithmetic per element (sqrt/div: x4, exp/log/RNG: x8). Measured on Zen 4
/// (with OpenMP, before dnnx's pool): a fork/join cost 2-5 us on an idle machine and tens
/// of us on a loaded one, while a 1-thread SIMD pass streams ~4-8 floats/ns from L2/L3, so
/// below ~256K elements a second thread could not win back its start-up.
constexpr index_t kParallelMin = 1 << 18;

/// f(begin, end) over [0, n) cut into fixed chunks of `chunk` elements. The chunks are the
/// same for any thread count; threads only decide who runs which chunk. The pool's items
/// are runs of consecutive chunks, kItemsPerThread per thread: few enough that claiming
/// them costs nothing, enough that a descheduled thread holds up only a small share.
constexpr index_t kItemsPerThread = 8;
template <class F>
void parallel_chunks(index_t n, index_t chunk, index_t work, F&& f) {
  const index_t nchunks = (n + chunk - 1) / chunk;
  const int nt = work >= kParallelMin ? num_threads() : 1;
  if (nt <= 1) {
    for (index_t c = 0; c < nchunks; ++c) f(c * chunk, std::min(n, (c + 1) * chunk));
    return;
  }
  const index_t items = std::min<index_t>(nchunks, index_t(nt) * kItemsPerThread);
  parallel_for(nt, items, [&](std::int64_t item) {
    for (index_t c = nchunks * item / items, c1 = nchunks * (item + 1) / items; c < c1; ++c)
      f(c * chunk, std::min(n, (c + 1) * chunk));
  });
}

/// The SIMD optimizer scalars for a float step.
inline nnk::OptArgs opt_args(const GradPrep<float>& p) {
  nnk::OptArgs a{};
  a.scale = p.scale;
  a.clip = p.clip;
  a.decay = p.decay;
  return a;
}

/// A softmax row's shift and numerators in float32: row_max(n, z), and exp_sum(n, z, shift,
/// out, lanes) with out[j] = exp(z[j] - shift) (exp_f32.inc) and lanes[j % 8] +=
/// double(out[j]). The active SIMD kernels or their portable references: the same bits.
inline float row_max(index_t n, const float* z) {
  const nnk::Table* k = nnk::active();
  return k ? k->row_max(n, z) : nnk::row_max_ref(n, z);
}
inline void exp_sum(index_t n, const float* z, float shift, float* out, double* lanes) {
  if (const nnk::Table* k = nnk::active()) k->exp_sum(n, z, shift, out, lanes);
  else nnk::exp_sum_ref(n, z, shift, out, lanes);
}

/// The fixed lane tree of reg_sums: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
inline double combine_lanes(const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

/// row_max, exp_sum from zero lanes and combine_lanes in one call: returns the row's sum
/// of exps and sets *shift (the SIMD kernels keep the lanes in registers; the same bits).
inline double softmax_exp(index_t n, const float* z, float* out, float* shift) {
  if (const nnk::Table* k = nnk::active()) return k->softmax_exp(n, z, out, shift);
  *shift = nnk::row_max_ref(n, z);
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  nnk::exp_sum_ref(n, z, *shift, out, lanes);
  return combine_lanes(lanes);
}
/// g[j] = s * float(double(g[j]) * k): softmax numerators scaled into gradients.
inline void scale_f64(index_t n, float* g, double k, float s) {
  if (const nnk::Table* t = nnk::active()) t->scale_f64(n, g, k, s);
  else
    for (index_t j = 0; j < n; ++j) g[j] = s * float(double(g[j]) * k);
}

/// out[j] = sum_i a[i*cols + j] over rows (row order fixed), for a rows x cols block.
template <class T>
void column_sums(index_t rows, index_t cols, const T* a, T* out) {
  parallel_chunks(cols, 256, rows * cols, [&](index_t j0, index_t j1) {
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) { k->bwd_colsum(rows, j1 - j0, cols, nullptr, a + j0, nullptr, out + j0); return; }
    }
    for (index_t j = j0; j < j1; ++j) out[j] = T(0);
    for (index_t i = 0; i < rows; ++i) {
      const T* r = a + i * cols;
      for (index_t j = j0; j < j1; ++j) out[j] += r[j];
    }
  });
}

/// y = f(z) over rows x cols (contiguous rows), split into blocks of rows.
template <class T>
void act_forward_rows(ActParams p, index_t rows, index_t cols, const T* z, T* y) {
  const index_t block = std::max<index_t>(1, 4096 / std::max<index_t>(cols, 1));
  const index_t cost = (p.kind == Act::relu || p.kind == Act::linear) ? 1 : 8;
  parallel_chunks(rows, block, rows * cols * cost, [&](index_t r0, index_t r1) {
    act_forward<T>(p, r1 - r0, cols, z + r0 * cols, cols, y + r0 * cols, cols);
  });
}

/// dz = dy * f'(z) over rows x cols, split into blocks of rows (elementwise and row-wise
/// activations alike only ever look inside one row, so any split gives the same bits).
template <class T>
void act_backward_rows(ActParams p, index_t rows, index_t cols, const T* z, const T* y, const T* dy, T* dz) {
  const index_t block = std::max<index_t>(1, 4096 / std::max<index_t>(cols, 1));
  const index_t cost = (p.kind == Act::relu || p.kind == Act::linear) ? 1 : 8;
  parallel_chunks(rows, block, rows * cols * cost, [&](index_t r0, index_t r1) {
    const index_t off = r0 * cols;
    if constexpr (std::is_same_v<T, float>) {
      // dz may alias dy, which keeps the compiler from vectorizing act_backward's relu loop.
      if (p.kind == Act::relu)
        if (const nnk::Table* k = nnk::active()) { k->relu_bwd((r1 - r0) * cols, y + off, dy + off, dz + off); return; }
    }
    act_backward<T>(p, r1 - r0, cols, z ? z + off : nullptr, y ? y + off : nullptr, dy + off, dz + off);
  });
}

/// Regularization of one run of weights, the portable reference of nnk::Table::reg: sums
/// (|w| and w^2, in double, in 8 lanes: element i goes to lane i % 8, lanes combined in a
/// fixed tree, so the SIMD kernels reproduce the bits) and, when g is non-null, the
/// gradient g += l1 * sign(w) + l2x2 * w.
template <class T>
void reg_sums(index_t n, const T* w, T* g, T l1, T l2x2, double* sums) {
  if constexpr (std::is_same_v<T, float>) {
    if (const nnk::Table* k = nnk::active()) { k->reg(n, w, g, l1, l2x2, sums); return; }
  }
  double s1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (index_t i = 0; i < n; ++i) {
    const double d = double(w[i]);
    s1[i % 8] += std::abs(d);
    s2[i % 8] += d * d;
    if (g) {
      const T sg = w[i] > T(0) ? T(1) : (w[i] < T(0) ? T(-1) : T(0));
      g[i] += l1 * sg + l2x2 * w[i];
    }
  }
  sums[0] = combine_lanes(s1);
  sums[1] = combine_lanes(s2);
}

/// Dense backward's elementwise part in one pass: dz = dy * relu'(y) in place (when
/// relu), and db = column sums of dz (when db is non-null). Same bits as act_backward
/// followed by column_sums: each column is summed in row order either way.
template <class T>
void relu_backward_colsum(bool relu, index_t rows, index_t cols, const T* y, T* dy, T* db) {
  if constexpr (std::is_same_v<T, float>) {
    if (const nnk::Table* k = nnk::active()) {
      parallel_chunks(cols, 256, rows * cols, [&](index_t j0, index_t j1) {
        k->bwd_colsum(rows, j1 - j0, cols, relu ? y + j0 : nullptr, dy + j0, dy + j0, db ? db + j0 : nullptr);
      });
      return;
    }
  }
  if (relu) act_backward_rows<T>(ActParams{Act::relu, 0.0}, rows, cols, nullptr, y, dy, dy);
  if (db) column_sums(rows, cols, dy, db);
}

}  // namespace dnnx::detail

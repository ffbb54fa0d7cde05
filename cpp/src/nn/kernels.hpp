// INTERNAL: the small loops the network core shares (parallel-for over fixed chunks,
// column sums). Every reduction here has a fixed summation order that does not depend on
// the thread count: threads only ever split independent outputs (columns, rows, chunks of
// elements), never one sum.
#pragma once
#include <algorithm>

#include "dnnx/activations.hpp"
#include "dnnx/common.hpp"
#include "dnnx/parallel.hpp"

namespace dnnx::detail {

/// Below this much work (in elements) a loop runs on the calling thread: the fork/join
/// would cost more than it saves.
constexpr index_t kParallelMin = 1 << 15;

/// f(begin, end) over [0, n) cut into fixed chunks of `chunk` elements. The chunks are the
/// same for any thread count; threads only decide who runs which chunk.
template <class F>
void parallel_chunks(index_t n, index_t chunk, index_t work, F&& f) {
  const index_t nchunks = (n + chunk - 1) / chunk;
  const int nt = (work >= kParallelMin && nchunks > 1) ? num_threads() : 1;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
  for (index_t c = 0; c < nchunks; ++c) f(c * chunk, std::min(n, (c + 1) * chunk));
  (void)nt;
}

/// out[j] = sum_i a[i*cols + j] over rows (row order fixed), for a rows x cols block.
template <class T>
void column_sums(index_t rows, index_t cols, const T* a, T* out) {
  parallel_chunks(cols, 64, rows * cols, [&](index_t j0, index_t j1) {
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
  parallel_chunks(rows, block, rows * cols * 4, [&](index_t r0, index_t r1) {
    act_forward<T>(p, r1 - r0, cols, z + r0 * cols, cols, y + r0 * cols, cols);
  });
}

/// dz = dy * f'(z) over rows x cols, split into blocks of rows (elementwise and row-wise
/// activations alike only ever look inside one row, so any split gives the same bits).
template <class T>
void act_backward_rows(ActParams p, index_t rows, index_t cols, const T* z, const T* y, const T* dy, T* dz) {
  const index_t block = std::max<index_t>(1, 4096 / std::max<index_t>(cols, 1));
  parallel_chunks(rows, block, rows * cols * 4, [&](index_t r0, index_t r1) {
    const index_t off = r0 * cols;
    act_backward<T>(p, r1 - r0, cols, z ? z + off : nullptr, y ? y + off : nullptr, dy + off, dz + off);
  });
}

}  // namespace dnnx::detail

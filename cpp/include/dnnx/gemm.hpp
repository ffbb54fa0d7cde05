// dnnx public C++ API: the GEMM engine every Dense layer runs on.
//
//   C = act( alpha * op(A) * op(B) + beta * C + bias )
//
// All matrices are ROW-major with a leading dimension (row stride, in elements).
// op(A) is m x k: Trans::N reads A[i*lda + p]; Trans::T reads A[p*lda + i] (A stored k x m).
// op(B) is k x n: Trans::N reads B[p*ldb + j]; Trans::T reads B[j*ldb + p] (B stored n x k).
// So a Dense forward is gemm(N, N), its input gradient gemm(N, T), its weight gradient
// gemm(T, N); the packing reads either layout, so no transpose is ever materialised.
//
// beta == 0 overwrites C without reading it (NaN in C does not propagate, as in BLAS).
// k == 0 gives C = act(beta*C + bias). Results are bitwise identical for any thread count:
// k is never split across threads.
#pragma once
#include <string>

#include "dnnx/activations.hpp"
#include "dnnx/common.hpp"
#include "dnnx/dispatch.hpp"  // the kernel gemm() dispatches to: active_kernel(), set_kernel()

namespace dnnx {

enum class Trans : int { N = 0, T = 1 };

/// Fused epilogue, applied to each output tile right after its last k-block.
template <class T>
struct Epilogue {
  const T* bias = nullptr;  ///< length n, added to every row (nullptr: none)
  ActParams act{};          ///< elementwise activation; softmax/log_softmax are rejected
  T* preact = nullptr;      ///< optional: receives alpha*op(A)op(B) + beta*C + bias (pre-activation)
  index_t ldp = 0;          ///< row stride of preact
};

/// General matrix product through the dispatched kernel. Threads: num_threads(), reduced
/// for small products so that more threads never make a product slower.
template <class T>
void gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep = nullptr);

/// `batch` independent products C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] with one
/// shape and one set of strides (pointer arrays; entries may repeat for broadcasting, but
/// the C[b] must not overlap). Small products run whole on one thread each, in parallel
/// over the batch; large ones one after another, each on all threads. Bitwise identical
/// to calling gemm() per product, for any thread count.
template <class T>
void gemm_batched(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* const* A, index_t lda,
                  const T* const* B, index_t ldb, T beta, T* const* C, index_t ldc, index_t batch);

/// The portable reference path (plain loops, float accumulation in T, serial).
/// Never dispatched: tests compare every kernel against it.
template <class T>
void gemm_reference(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda,
                    const T* B, index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep = nullptr);

/// A B operand (typically a weight matrix) packed once for the active kernel and reused
/// across products (no packing in gemm_packed: pack once, multiply many times). Re-packing reuses the storage when the size does not grow.
/// Not thread-safe to pack while another thread multiplies with it.
template <class T>
class PackedB {
 public:
  PackedB() = default;
  /// Pack op(B) (k x n).
  void pack(Trans tb, index_t k, index_t n, const T* B, index_t ldb);
  index_t k() const noexcept { return k_; }
  index_t n() const noexcept { return n_; }
  bool empty() const noexcept { return k_ == 0 && n_ == 0; }
  /// Name of the kernel B was packed for ("" before pack()). gemm_packed always multiplies
  /// with that kernel, so a PackedB stays valid after set_kernel(); pack again to switch.
  std::string kernel() const;

  // Engine-private layout description (set by pack()).
  AlignedBuffer<T> buf_;
  index_t k_ = 0, n_ = 0;
  int kernel_id_ = -1;
  index_t nr_ = 0, kc_ = 0, nc_ = 0;
};

/// C = act(alpha * op(A) * Bp + beta * C + bias) with a prepacked B.
template <class T>
void gemm_packed(Trans ta, index_t m, T alpha, const T* A, index_t lda, const PackedB<T>& Bp, T beta, T* C,
                 index_t ldc, const Epilogue<T>* ep = nullptr);

/// Register tile and cache blocks of a kernel (BLIS names): MR x NR micro-tile, MC x KC
/// block of A, KC x NC block of B.
struct BlockSizes {
  int MR = 0, NR = 0;
  index_t MC = 0, KC = 0, NC = 0;
  index_t KC_wide = 0;  ///< KC for products with n >= 1024 columns (= KC where none is set)
};
/// Block sizes of kernel `name` for element type T ("" = the active kernel), for wide
/// products (a kernel may use a narrower NR for n <= NR/2). Throws
/// std::invalid_argument for a name this build does not contain.
template <class T>
BlockSizes kernel_block_sizes(const std::string& name = "");

}  // namespace dnnx

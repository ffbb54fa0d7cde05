// Temporary GEMM front end: correct for every shape, parallel over rows of C.
// TODO(issue#3): replace with the BLIS-style packed engine and SIMD micro-kernels.
#include "dnnx/gemm.hpp"

#include <stdexcept>

#include "dnnx/cpu.hpp"
#include "dnnx/parallel.hpp"

namespace dnnx {
namespace {

template <class T>
void epilogue_rows(index_t r0, index_t r1, index_t n, T* C, index_t ldc, const Epilogue<T>* ep) {
  if (!ep) return;
  for (index_t i = r0; i < r1; ++i) {
    T* c = C + i * ldc;
    if (ep->bias) for (index_t j = 0; j < n; ++j) c[j] += ep->bias[j];
    if (ep->preact) {
      T* p = ep->preact + i * ep->ldp;
      for (index_t j = 0; j < n; ++j) p[j] = c[j];
    }
    if (ep->act.kind != Act::linear) act_forward(ep->act, 1, n, c, ldc, c, ldc);
  }
}

template <class T>
void rows_kernel(index_t r0, index_t r1, Trans ta, Trans tb, index_t n, index_t k, T alpha, const T* A,
                 index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  for (index_t i = r0; i < r1; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) for (index_t j = 0; j < n; ++j) c[j] = T(0);
    else if (beta != T(1)) for (index_t j = 0; j < n; ++j) c[j] *= beta;
    if (k == 0 || n == 0) continue;
    for (index_t p = 0; p < k; ++p) {
      T a = alpha * (ta == Trans::N ? A[i * lda + p] : A[p * lda + i]);
      if (tb == Trans::N) {
        const T* b = B + p * ldb;
        for (index_t j = 0; j < n; ++j) c[j] += a * b[j];
      } else {
        for (index_t j = 0; j < n; ++j) c[j] += a * B[j * ldb + p];
      }
    }
  }
}

void check_act(const void* ep_ptr, Act a) {
  if (ep_ptr && act_is_rowwise(a))
    throw std::invalid_argument("gemm epilogue: softmax/log_softmax are row-wise and cannot be fused");
}

}  // namespace

template <class T>
void gemm_reference(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda,
                    const T* B, index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep) {
  if (ep) check_act(ep, ep->act.kind);
  rows_kernel(0, m, ta, tb, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  epilogue_rows(0, m, n, C, ldc, ep);
}

template <class T>
void gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc, const Epilogue<T>* ep) {
  if (ep) check_act(ep, ep->act.kind);
  if (m <= 0 || n <= 0) return;
  const int nt = num_threads();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const int use = (flops < 2e5 || m < 2) ? 1 : nt;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(use) schedule(static) if (use > 1)
#endif
  for (index_t i = 0; i < m; ++i) {
    rows_kernel(i, i + 1, ta, tb, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    epilogue_rows(i, i + 1, n, C, ldc, ep);
  }
}

template <class T>
void PackedB<T>::pack(Trans tb, index_t k, index_t n, const T* B, index_t ldb) {
  buf_.reserve(static_cast<std::size_t>(k * n > 0 ? k * n : 1));
  for (index_t p = 0; p < k; ++p)
    for (index_t j = 0; j < n; ++j) buf_[p * n + j] = tb == Trans::N ? B[p * ldb + j] : B[j * ldb + p];
  k_ = k;
  n_ = n;
  kernel_id_ = 0;
}

template <class T>
void gemm_packed(Trans ta, index_t m, T alpha, const T* A, index_t lda, const PackedB<T>& Bp, T beta, T* C,
                 index_t ldc, const Epilogue<T>* ep) {
  gemm(ta, Trans::N, m, Bp.n(), Bp.k(), alpha, A, lda, Bp.buf_.data(), Bp.n(), beta, C, ldc, ep);
}

std::vector<std::string> available_kernels() { return {"ref"}; }
std::vector<std::string> compiled_kernels() { return {"ref"}; }
std::string active_kernel() { return "ref"; }
void set_kernel(const std::string& name) {
  if (name != "ref") throw std::invalid_argument("set_kernel: kernel '" + name + "' is not available");
}

#define DNNX_INSTANTIATE(T)                                                                                  \
  template void gemm<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, \
                        T*, index_t, const Epilogue<T>*);                                                    \
  template void gemm_reference<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*,   \
                                  index_t, T, T*, index_t, const Epilogue<T>*);                              \
  template class PackedB<T>;                                                                                 \
  template void gemm_packed<T>(Trans, index_t, T, const T*, index_t, const PackedB<T>&, T, T*, index_t,      \
                               const Epilogue<T>*);
DNNX_INSTANTIATE(float)
DNNX_INSTANTIATE(double)
#undef DNNX_INSTANTIATE

}  // namespace dnnx

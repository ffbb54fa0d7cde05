// Matrix products of dnnx.ops.matmul / dot / tensordot.
//   matmul_const: x @ C for a constant C (op_values, k x m row-major; op_dims = [k, m]) on
//     rows of k features (the node's steps split a (batch, ..., k) sample into rows):
//     y = x C (gemm NN), dx = dy C^T (gemm NT). C is a constant: it gets no gradient.
//   matmul_param: x @ P for a parameter P (k x m, or (k,) with m = 1; op_dims = [k, m]):
//     Dense's products without the bias: y = x P (gemm NN), dP = x^T dy (gemm TN, summed
//     over every row of the batch), dx = dy P^T (gemm NT, beta 1 where dx accumulates).
//   matmul: per sample, A (m x k, input 0) @ B (k x p, input 1); op_dims = [m, k, p]:
//     y = A B, dA = dY B^T, dB = A^T dY (plain loops over the small per-sample products,
//     in a fixed order).
#include <algorithm>
#include <stdexcept>

#include "../kernels.hpp"
#include "dnnx/gemm.hpp"
#include "ops.hpp"

namespace dnnx::ops {
namespace {

template <class T>
class MatmulConst final : public Layer<T> {
 public:
  MatmulConst(const LayerSpec& s, index_t k, index_t m)
      : Layer<T>(s.name, k, m), c_(s.op_values.begin(), s.op_values.end()) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t k = this->in_dim_, m = this->out_dim_;
    gemm<T>(Trans::N, Trans::N, n, m, k, T(1), x, k, c_.data(), m, T(0), y, m);
  }
  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T*, bool) const override {
    if (!dx) return;
    const index_t k = this->in_dim_, m = this->out_dim_;
    gemm<T>(Trans::N, Trans::T, n, k, m, T(1), dy, m, c_.data(), m, T(0), dx, k);
  }

 private:
  std::vector<T> c_;
};

template <class T>
class MatmulParam final : public Layer<T> {
 public:
  MatmulParam(const LayerSpec& s, index_t k, index_t m, std::vector<TensorInfo> params)
      : Layer<T>(s.name, k, m), p_(std::move(params)) {}

  void declare(std::vector<TensorInfo>& table) override { p_.declare(table); }
  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override { p_.bind(t, params, grads); }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t k = this->in_dim_, m = this->out_dim_;
    gemm<T>(Trans::N, Trans::N, n, m, k, T(1), x, k, p_.value(0), m, T(0), y, m);
  }
  void backward(const StepContext& ctx, index_t n, const T* x, const T*, T* dy, T* dx, const T*, bool) const override {
    const index_t k = this->in_dim_, m = this->out_dim_;
    if (T* dp = p_.grad(0, ctx)) gemm<T>(Trans::T, Trans::N, k, m, n, T(1), x, k, dy, m, T(0), dp, m);
    if (dx) gemm<T>(Trans::N, Trans::T, n, k, m, T(1), dy, m, p_.value(0), m, ctx.accumulate_dx ? T(1) : T(0), dx, k);
  }
  bool accumulates_dx() const override { return true; }

 private:
  OpParams<T> p_;
};

template <class T>
class Matmul final : public Layer<T> {
 public:
  Matmul(const LayerSpec& s, const std::vector<index_t>& in_dims, index_t m, index_t k, index_t p)
      : Layer<T>(s.name, in_dims, m * p), m_(m), k_(k), p_(p) {}

  void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const override {
    const T* xs[2] = {x, x};
    forward_n(ctx, n, xs, y, cache);
  }
  void backward(const StepContext& ctx, index_t n, const T* x, const T* y, T* dy, T* dx, const T* cache,
                bool pre) const override {
    const T* xs[2] = {x, x};
    T* dxs[2] = {dx, nullptr};
    backward_n(ctx, n, xs, y, dy, dxs, cache, pre);
  }

  void forward_n(const StepContext&, index_t n, const T* const* xs, T* y, T*) const override {
    const index_t m = m_, k = k_, p = p_;
    detail::parallel_chunks(n, 16, n * m * k * p, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* a = xs[0] + r * m * k;
        const T* b = xs[1] + r * k * p;
        T* c = y + r * m * p;
        for (index_t i = 0; i < m; ++i) {
          for (index_t j = 0; j < p; ++j) c[i * p + j] = 0;
          for (index_t l = 0; l < k; ++l) {
            const T v = a[i * k + l];
            for (index_t j = 0; j < p; ++j) c[i * p + j] += v * b[l * p + j];
          }
        }
      }
    });
  }

  void backward_n(const StepContext&, index_t n, const T* const* xs, const T*, T* dy, T* const* dxs, const T*,
                  bool) const override {
    const index_t m = m_, k = k_, p = p_;
    detail::parallel_chunks(n, 16, n * m * k * p * 2, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* a = xs[0] + r * m * k;
        const T* b = xs[1] + r * k * p;
        const T* g = dy + r * m * p;
        if (dxs[0]) {
          T* da = dxs[0] + r * m * k;
          for (index_t i = 0; i < m; ++i)
            for (index_t l = 0; l < k; ++l) {
              T acc = 0;
              for (index_t j = 0; j < p; ++j) acc += g[i * p + j] * b[l * p + j];
              da[i * k + l] = acc;
            }
        }
        if (dxs[1]) {
          T* db = dxs[1] + r * k * p;
          for (index_t l = 0; l < k; ++l)
            for (index_t j = 0; j < p; ++j) {
              T acc = 0;
              for (index_t i = 0; i < m; ++i) acc += a[i * k + l] * g[i * p + j];
              db[l * p + j] = acc;
            }
        }
      }
    });
  }

 private:
  index_t m_, k_, p_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_matmul(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  const std::string w = who(s);
  const auto& d = s.op_dims;
  if (static_cast<Op>(s.op) == Op::matmul_param) {
    std::vector<TensorInfo> params = parse_params(s);
    if (in_dims.size() != 1) throw std::invalid_argument(w + " takes one input; received " + std::to_string(in_dims.size()));
    if (d.size() != 2 || d[0] < 1 || d[1] < 1 || d[0] != in_dims[0] || params.size() != 1 || params[0].size != d[0] * d[1])
      throw std::invalid_argument(w + ": dims must be [k, m] with k = the input's last axis (" +
                                  std::to_string(in_dims[0]) + ") and one parameter of k * m values");
    TensorInfo& p = params[0];
    p.fan_in = d[0];
    p.fan_out = d[1];
    return std::make_unique<MatmulParam<T>>(s, d[0], d[1], std::move(params));
  }
  if (!s.op_params.empty()) throw std::invalid_argument(w + " takes no parameters");
  if (static_cast<Op>(s.op) == Op::matmul_const) {
    if (in_dims.size() != 1) throw std::invalid_argument(w + " takes one input; received " + std::to_string(in_dims.size()));
    if (d.size() != 2 || d[0] < 1 || d[1] < 1 || d[0] != in_dims[0] ||
        static_cast<index_t>(s.op_values.size()) != d[0] * d[1])
      throw std::invalid_argument(w + ": dims must be [k, m] with k = the input's last axis (" +
                                  std::to_string(in_dims[0]) + ") and k * m constant values");
    return std::make_unique<MatmulConst<T>>(s, d[0], d[1]);
  }
  if (in_dims.size() != 2) throw std::invalid_argument(w + " takes two inputs; received " + std::to_string(in_dims.size()));
  if (d.size() != 3 || d[0] < 1 || d[1] < 1 || d[2] < 1 || d[0] * d[1] != in_dims[0] || d[1] * d[2] != in_dims[1])
    throw std::invalid_argument(w + ": dims must be [m, k, p] for inputs of m * k and k * p values per sample");
  return std::make_unique<Matmul<T>>(s, in_dims, d[0], d[1], d[2]);
}

template std::unique_ptr<Layer<float>> make_matmul<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_matmul<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx::ops

// Ops along one axis of the per-sample shape: op_dims = [outer, mid, inner] (the axis has
// mid entries; outer and inner are the products of the axes before and after it). A
// reduction maps (outer, mid, inner) to (outer, inner); softmax and log_softmax keep the
// shape.
//   sum        y = sum_m x                dx = dy
//   mean       y = sum_m x / mid          dx = dy / mid
//   max, min   y = max_m x                dx = dy at the first position attaining it
//   logsumexp  y = log sum_m exp(x)       dx = dy softmax(x)
//   softmax    y = exp(x - lse)           dx = y (dy - sum_m dy y)
//   log_softmax y = x - lse               dx = dy - softmax(x) sum_m dy
// Sums run in index order (the result does not depend on the thread count).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "../kernels.hpp"
#include "ops.hpp"

namespace dnnx::ops {
namespace {

template <class T>
class AxisOp final : public Layer<T> {
 public:
  AxisOp(const LayerSpec& s, index_t in, index_t out, index_t outer, index_t mid, index_t inner)
      : Layer<T>(s.name, in, out), op_(static_cast<Op>(s.op)), outer_(outer), mid_(mid), inner_(inner) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t in = this->in_dim_, out = this->out_dim_;
    detail::parallel_chunks(n, std::max<index_t>(1, 4096 / in), n * in * 4, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r)
        for (index_t o = 0; o < outer_; ++o)
          for (index_t i = 0; i < inner_; ++i) {
            const T* xp = x + r * in + o * mid_ * inner_ + i;
            T* yp = y + r * out + (op_ == Op::softmax || op_ == Op::log_softmax ? o * mid_ * inner_ + i : o * inner_ + i);
            row(xp, yp);
          }
    });
  }

  void backward(const StepContext&, index_t n, const T* x, const T* y, T* dy, T* dx, const T*, bool) const override {
    if (!dx) return;
    const index_t in = this->in_dim_, out = this->out_dim_;
    detail::parallel_chunks(n, std::max<index_t>(1, 4096 / in), n * in * 4, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r)
        for (index_t o = 0; o < outer_; ++o)
          for (index_t i = 0; i < inner_; ++i) {
            const index_t xo = r * in + o * mid_ * inner_ + i;
            const bool same = op_ == Op::softmax || op_ == Op::log_softmax;
            const index_t yo = r * out + (same ? o * mid_ * inner_ + i : o * inner_ + i);
            row_grad(x + xo, y + yo, dy + yo, dx + xo);
          }
    });
  }

 private:
  // One line along the axis: x[m * inner_], m < mid_.
  void row(const T* x, T* y) const {
    const index_t s = inner_;
    switch (op_) {
      case Op::sum: case Op::mean: {
        T acc = 0;
        for (index_t m = 0; m < mid_; ++m) acc += x[m * s];
        y[0] = op_ == Op::mean ? acc / T(mid_) : acc;
        return;
      }
      case Op::max: case Op::min: {
        T best = x[0];
        for (index_t m = 1; m < mid_; ++m) {
          const T v = x[m * s];
          if (v != v || (op_ == Op::max ? v > best : v < best)) best = v;
          if (best != best) break;
        }
        y[0] = best;
        return;
      }
      default: {
        const T lse = logsumexp(x);
        if (op_ == Op::logsumexp) { y[0] = lse; return; }
        for (index_t m = 0; m < mid_; ++m)
          y[m * s] = op_ == Op::softmax ? std::exp(x[m * s] - lse) : x[m * s] - lse;
      }
    }
  }

  void row_grad(const T* x, const T* y, const T* dy, T* dx) const {
    const index_t s = inner_;
    switch (op_) {
      case Op::sum: case Op::mean: {
        const T g = op_ == Op::mean ? dy[0] / T(mid_) : dy[0];
        for (index_t m = 0; m < mid_; ++m) dx[m * s] = g;
        return;
      }
      case Op::max: case Op::min: {
        index_t at = 0;
        for (index_t m = 0; m < mid_; ++m) if (x[m * s] == y[0]) { at = m; break; }
        for (index_t m = 0; m < mid_; ++m) dx[m * s] = m == at ? dy[0] : T(0);
        return;
      }
      case Op::logsumexp:
        for (index_t m = 0; m < mid_; ++m) dx[m * s] = dy[0] * std::exp(x[m * s] - y[0]);
        return;
      case Op::softmax: {
        T dot = 0;
        for (index_t m = 0; m < mid_; ++m) dot += dy[m * s] * y[m * s];
        for (index_t m = 0; m < mid_; ++m) dx[m * s] = y[m * s] * (dy[m * s] - dot);
        return;
      }
      default: {  // log_softmax
        T sum = 0;
        for (index_t m = 0; m < mid_; ++m) sum += dy[m * s];
        for (index_t m = 0; m < mid_; ++m) dx[m * s] = dy[m * s] - std::exp(y[m * s]) * sum;
      }
    }
  }

  T logsumexp(const T* x) const {
    T mx = -std::numeric_limits<T>::infinity();
    for (index_t m = 0; m < mid_; ++m) mx = std::max(mx, x[m * inner_]);
    if (!std::isfinite(mx)) return mx;
    T acc = 0;
    for (index_t m = 0; m < mid_; ++m) acc += std::exp(x[m * inner_] - mx);
    return mx + std::log(acc);
  }

  Op op_;
  index_t outer_, mid_, inner_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_axis_op(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  const std::string w = who(s);
  if (in_dims.size() != 1) throw std::invalid_argument(w + " takes one input; received " + std::to_string(in_dims.size()));
  const auto& d = s.op_dims;
  if (d.size() != 3 || d[0] < 1 || d[1] < 1 || d[2] < 1)
    throw std::invalid_argument(w + ": dims must be [outer, axis length, inner], each >= 1");
  index_t in = 0;
  if (mul_overflows(d[0], d[1], &in) || mul_overflows(in, d[2], &in) || in != in_dims[0])
    throw std::invalid_argument(w + ": dims " + std::to_string(d[0]) + " x " + std::to_string(d[1]) + " x " +
                                std::to_string(d[2]) + " do not match the input width " + std::to_string(in_dims[0]));
  const Op o = static_cast<Op>(s.op);
  const index_t out = (o == Op::softmax || o == Op::log_softmax) ? in : d[0] * d[2];
  return std::make_unique<AxisOp<T>>(s, in, out, d[0], d[1], d[2]);
}

template std::unique_ptr<Layer<float>> make_axis_op<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_axis_op<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx::ops

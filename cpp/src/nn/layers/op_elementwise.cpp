// Elementwise ops (dnnx.ops arithmetic and math).
//
// Unary ops run over the flat row (any per-sample shape): y = f(x; a, b), dx = f'(x) dy.
//   negative -x | square x^2 (2x) | sqrt (1 / 2y) | abs (sign x) | exp (y) | log (1 / x)
//   log1p (1 / (1 + x)) | expm1 (y + 1) | sign (0) | reciprocal 1/x (-y^2)
//   power_scalar x^a (a x^(a-1)) | rpower_scalar a^x (y ln a) | add_scalar x + a (1)
//   multiply_scalar a x (a) | rsubtract_scalar a - x (-1) | rdivide_scalar a / x (-a / x^2)
//   clip min(max(x, a), b) (1 inside [a, b]) | maximum_scalar / minimum_scalar (1 where x
//   wins) | trunc (0) | cast_ids: int64 IDs as values (no gradient)
//
// Broadcasting ops (add, subtract, multiply, divide, maximum, minimum, power: two operands;
// where(c, x, y): three) follow NumPy broadcasting over the per-sample shape. op_dims:
//   [k, r, S_0 .. S_{r-1}, then per operand: src, st_0 .. st_{r-1}]
// S is the output's per-sample shape (r axes), st an operand's strides over S (0 along a
// broadcast axis), src -1 for the node's next input tensor, or the offset of a constant
// operand in op_values. At construction each operand gets a table of its element offset
// per output element; a step gathers through it, and backward scatters (adds) the
// gradient back, so a broadcast operand's gradient sums over the axes it was broadcast
// along. maximum/minimum send the gradient to the first operand on ties; where's
// condition gets none. src <= -2 makes the operand parameter -2 - src of the node (a
// weight, see ops.hpp): read like a constant, its gradient summed over the batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "../kernels.hpp"
#include "ops.hpp"

namespace dnnx::ops {
namespace {

template <class F>
void row_blocks(index_t n, index_t w, F&& f) {
  const index_t block = std::max<index_t>(1, 4096 / std::max<index_t>(w, 1));
  detail::parallel_chunks(n, block, n * w * 4, f);
}

template <class T>
class Unary final : public Layer<T> {
 public:
  Unary(const LayerSpec& s, index_t w) : Layer<T>(s.name, w, w), op_(static_cast<Op>(s.op)), a_(T(s.op_a)), b_(T(s.op_b)) {}

  bool int_input() const override { return op_ == Op::cast_ids; }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t w = this->out_dim_;
    if (op_ == Op::cast_ids) {
      const auto* ids = reinterpret_cast<const std::int64_t*>(x);
      for (index_t e = 0; e < n * w; ++e) y[e] = static_cast<T>(ids[e]);
      return;
    }
    row_blocks(n, w, [&](index_t r0, index_t r1) {
      const T a = a_, b = b_;
      for (index_t e = r0 * w; e < r1 * w; ++e) {
        const T v = x[e];
        T out;
        switch (op_) {
          case Op::negative: out = -v; break;
          case Op::square: out = v * v; break;
          case Op::sqrt: out = std::sqrt(v); break;
          case Op::abs: out = std::abs(v); break;
          case Op::exp: out = std::exp(v); break;
          case Op::log: out = std::log(v); break;
          case Op::log1p: out = std::log1p(v); break;
          case Op::expm1: out = std::expm1(v); break;
          case Op::sign: out = v > T(0) ? T(1) : (v < T(0) ? T(-1) : v); break;
          case Op::reciprocal: out = T(1) / v; break;
          case Op::power_scalar: out = std::pow(v, a); break;
          case Op::rpower_scalar: out = std::pow(a, v); break;
          case Op::add_scalar: out = v + a; break;
          case Op::multiply_scalar: out = v * a; break;
          case Op::rsubtract_scalar: out = a - v; break;
          case Op::rdivide_scalar: out = a / v; break;
          case Op::clip: out = std::min(std::max(v, a), b); break;
          case Op::maximum_scalar: out = (v != v) ? v : std::max(v, a); break;
          case Op::minimum_scalar: out = (v != v) ? v : std::min(v, a); break;
          default: out = std::trunc(v); break;  // trunc
        }
        y[e] = out;
      }
    });
  }

  void backward(const StepContext&, index_t n, const T* x, const T* y, T* dy, T* dx, const T*, bool) const override {
    if (!dx || op_ == Op::cast_ids) return;
    const index_t w = this->out_dim_;
    row_blocks(n, w, [&](index_t r0, index_t r1) {
      const T a = a_, b = b_;
      for (index_t e = r0 * w; e < r1 * w; ++e) {
        const T v = x[e], g = dy[e];
        T d;
        switch (op_) {
          case Op::negative: d = -g; break;
          case Op::square: d = T(2) * v * g; break;
          case Op::sqrt: d = g / (T(2) * y[e]); break;
          case Op::abs: d = v > T(0) ? g : (v < T(0) ? -g : T(0)); break;
          case Op::exp: d = g * y[e]; break;
          case Op::log: d = g / v; break;
          case Op::log1p: d = g / (T(1) + v); break;
          case Op::expm1: d = g * (y[e] + T(1)); break;
          case Op::reciprocal: d = -g * y[e] * y[e]; break;
          case Op::power_scalar: d = g * a * std::pow(v, a - T(1)); break;
          case Op::rpower_scalar: d = g * y[e] * std::log(a); break;
          case Op::add_scalar: d = g; break;
          case Op::multiply_scalar: d = g * a; break;
          case Op::rsubtract_scalar: d = -g; break;
          case Op::rdivide_scalar: d = -g * a / (v * v); break;
          case Op::clip: d = (v >= a && v <= b) ? g : T(0); break;
          case Op::maximum_scalar: d = v >= a ? g : T(0); break;
          case Op::minimum_scalar: d = v <= a ? g : T(0); break;
          default: d = T(0); break;  // sign, trunc
        }
        dx[e] = d;
      }
    });
  }

 private:
  Op op_;
  T a_, b_;
};

template <class T>
class Broadcast final : public MultiInputLayer<T> {
 public:
  Broadcast(const LayerSpec& s, const std::vector<index_t>& in_dims, index_t out, std::vector<std::vector<index_t>> off,
            std::vector<index_t> src, std::vector<char> direct, std::vector<index_t> period, std::vector<TensorInfo> params)
      : MultiInputLayer<T>(s.name, in_dims, out), op_(static_cast<Op>(s.op)), off_(std::move(off)), src_(std::move(src)),
        direct_(std::move(direct)), period_(std::move(period)), values_(s.op_values.begin(), s.op_values.end()),
        p_(std::move(params)) {
    for (std::size_t i = 0, t = 0; i < src_.size(); ++i) {
      input_of_.push_back(src_[i] == -1 ? static_cast<index_t>(t++) : -1);
      param_operands_ += src_[i] <= -2;
    }
  }

  void declare(std::vector<TensorInfo>& table) override { p_.declare(table); }
  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override { p_.bind(t, params, grads); }

  void forward_n(const StepContext&, index_t n, const T* const* xs, T* y, T*) const override {
    const index_t w = this->out_dim_;
    const std::size_t k = src_.size();
    row_blocks(n, w, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* base[3];
        bases(xs, r, base);
        T* yr = y + r * w;
        if (k == 2 && direct_[0] && direct_[1]) {  // equal shapes: a plain loop
          for (index_t e = 0; e < w; ++e) yr[e] = apply(base[0][e], base[1][e], T(0));
          continue;
        }
        if (k == 2 && (direct_[0] || direct_[1]) && period_[direct_[0] ? 1 : 0] > 0) {  // x op bias (or bias op x)
          periodic(w, base, direct_[0] ? 1 : 0, yr);
          continue;
        }
        for (index_t e = 0; e < w; ++e) {
          const T a = base[0][off_[0][static_cast<std::size_t>(e)]];
          const T b = base[1][off_[1][static_cast<std::size_t>(e)]];
          const T c = k > 2 ? base[2][off_[2][static_cast<std::size_t>(e)]] : T(0);
          yr[e] = apply(a, b, c);
        }
      }
    });
  }

  void backward_n(const StepContext& ctx, index_t n, const T* const* xs, const T* y, T* dy, T* const* dxs, const T*,
                  bool) const override {
    const index_t w = this->out_dim_;
    const std::size_t k = src_.size();
    row_blocks(n, w, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* base[3];
        bases(xs, r, base);
        T* grad[3] = {nullptr, nullptr, nullptr};
        for (std::size_t i = 0; i < k; ++i) {
          if (src_[i] != -1) continue;
          const std::size_t t = static_cast<std::size_t>(input_of_[i]);
          if (dxs[t]) {
            grad[i] = dxs[t] + r * this->in_dims_[t];
            if (!direct_[i]) std::fill(grad[i], grad[i] + this->in_dims_[t], T(0));
          }
        }
        if (!grad[0] && !grad[1] && !grad[2]) continue;
        const T* yr = y + r * w;
        const T* gr = dy + r * w;
        if (k == 2 && (op_ == Op::add || op_ == Op::subtract || op_ == Op::multiply) && (direct_[0] || direct_[1])) {
          // x op bias: the tensor's gradient in one pass (the other operand's, if a tensor, below)
          const std::size_t i = direct_[0] ? 0 : 1, o = 1 - i;
          if ((direct_[o] || period_[o] > 0) && (grad[o] == nullptr || direct_[o])) {
            if (grad[i]) input_grad_periodic(w, base[o], direct_[o] ? w : period_[o], i, gr, grad[i]);
            if (grad[o]) input_grad_periodic(w, base[i], w, o, gr, grad[o]);
            continue;
          }
        }
        for (index_t e = 0; e < w; ++e) {
          T gs[3];
          const index_t os[3] = {at(0, e), at(1, e), k > 2 ? at(2, e) : 0};
          grads(base[0][os[0]], base[1][os[1]], k > 2 ? base[2][os[2]] : T(0), gr[e], yr[e], gs);
          for (std::size_t i = 0; i < k; ++i) {
            if (!grad[i]) continue;
            if (direct_[i]) grad[i][e] = gs[i];
            else grad[i][os[i]] += gs[i];
          }
        }
      }
    });
    param_grads(ctx, n, xs, y, dy);
  }

 private:
  index_t at(std::size_t i, index_t e) const { return off_[i][static_cast<std::size_t>(e)]; }

  // Row r's start of each operand (a tensor's row, a constant, a parameter).
  void bases(const T* const* xs, index_t r, const T** base) const {
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == -1) {
        const std::size_t t = static_cast<std::size_t>(input_of_[i]);
        base[i] = xs[t] + r * this->in_dims_[t];
      } else if (src_[i] >= 0) {
        base[i] = values_.data() + src_[i];
      } else {
        base[i] = p_.value(static_cast<std::size_t>(-2 - src_[i]));
      }
    }
  }

  // The parameters' gradients: each operand's elementwise gradient summed over the rows
  // (and the axes it was broadcast along). One parameter operand broadcast along leading
  // axes only (a bias): its elementwise gradient replaces dy in place (add needs none),
  // then column sums over rows of the parameter's size, summed in row order (the same
  // bits for any thread count, and Dense's bias gradient for add). Otherwise one pass in
  // row order on this thread.
  void param_grads(const StepContext& ctx, index_t n, const T* const* xs, const T* y, T* dy) const {
    if (param_operands_ == 0) return;
    bool any = false;
    for (std::size_t j = 0; j < p_.size(); ++j)
      if (T* gp = p_.grad(j, ctx)) {
        std::fill(gp, gp + p_.info(j).size, T(0));
        any = true;
      }
    if (!any) return;
    const index_t w = this->out_dim_;
    const std::size_t k = src_.size();
    for (std::size_t i = 0; i < k; ++i) {
      if (src_[i] > -2) continue;
      const std::size_t j = static_cast<std::size_t>(-2 - src_[i]);
      T* gp = p_.grad(j, ctx);
      if (!gp) continue;
      const index_t ps = p_.info(j).size;
      if (param_operands_ == 1 && period_[i] > 0) {
        if (!(op_ == Op::add || (op_ == Op::subtract && i == 0))) {
          row_blocks(n, w, [&](index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r)
              row_grads(xs, y, dy, r, i, [&](index_t e, T g) { dy[r * w + e] = g; });
          });
        }
        detail::column_sums(n * (w / ps), ps, dy, gp);
        continue;
      }
      for (index_t r = 0; r < n; ++r) row_grads(xs, y, dy, r, i, [&](index_t e, T g) { gp[at(i, e)] += g; });
    }
  }

  // Operand i's elementwise gradient over row r, element by element: sink(e, gradient).
  // Reads the row's dy[e] before sink writes element e (so the sink may overwrite dy).
  template <class Sink>
  void row_grads(const T* const* xs, const T* y, const T* dy, index_t r, std::size_t i, Sink&& sink) const {
    const index_t w = this->out_dim_;
    const std::size_t k = src_.size();
    const T* base[3];
    bases(xs, r, base);
    const T* gr = dy + r * w;
    const T* yr = y + r * w;
    for (index_t e = 0; e < w; ++e) {
      T gs[3];
      grads(base[0][at(0, e)], base[1][at(1, e)], k > 2 ? base[2][at(2, e)] : T(0), gr[e], yr[e], gs);
      sink(e, gs[i]);
    }
  }

  // y = a op b over a row where operand `bias` repeats with its period (and the other is
  // a whole row): the switch out of the loop.
  void periodic(index_t w, const T* const* base, std::size_t bias, T* y) const {
    const index_t p = period_[bias];
    const T* x = base[1 - bias];
    const T* c = base[bias];
    auto run = [&](auto f) {
      for (index_t q = 0; q < w; q += p)
        for (index_t j = 0; j < p; ++j) y[q + j] = bias == 1 ? f(x[q + j], c[j]) : f(c[j], x[q + j]);
    };
    switch (op_) {
      case Op::add: run([](T a, T b) { return a + b; }); break;
      case Op::subtract: run([](T a, T b) { return a - b; }); break;
      case Op::multiply: run([](T a, T b) { return a * b; }); break;
      case Op::divide: run([](T a, T b) { return a / b; }); break;
      default: run([this](T a, T b) { return apply(a, b, T(0)); }); break;
    }
  }

  // The gradient of operand i (a whole row) of add, subtract or multiply, the other operand
  // `other` repeating with period p: g, -g, or g times the other operand.
  void input_grad_periodic(index_t w, const T* other, index_t p, std::size_t i, const T* g, T* dx) const {
    if (op_ == Op::add || (op_ == Op::subtract && i == 0)) {
      std::copy(g, g + w, dx);
    } else if (op_ == Op::subtract) {
      for (index_t e = 0; e < w; ++e) dx[e] = -g[e];
    } else {
      for (index_t q = 0; q < w; q += p)
        for (index_t j = 0; j < p; ++j) dx[q + j] = g[q + j] * other[j];
    }
  }

  // The gradient of each operand at one element: upstream g, operands a, b, c, output v.
  void grads(T a, T b, T c, T g, T v, T* gs) const {
    (void)c;
    T ga = 0, gb = 0, gc = 0;
    switch (op_) {
      case Op::add: ga = g; gb = g; break;
      case Op::subtract: ga = g; gb = -g; break;
      case Op::multiply: ga = g * b; gb = g * a; break;
      case Op::divide: ga = g / b; gb = -g * a / (b * b); break;
      case Op::maximum: if (a >= b) ga = g; else gb = g; break;
      case Op::minimum: if (a <= b) ga = g; else gb = g; break;
      case Op::power:
        ga = g * b * std::pow(a, b - T(1));
        gb = a > T(0) ? g * v * std::log(a) : T(0);
        break;
      case Op::where:  // the condition has no gradient
        gb = a != T(0) ? g : T(0);
        gc = a != T(0) ? T(0) : g;
        break;
      default: break;  // comparisons: no gradient
    }
    gs[0] = ga;
    gs[1] = gb;
    gs[2] = gc;
  }

  T apply(T a, T b, T c) const {
    switch (op_) {
      case Op::add: return a + b;
      case Op::subtract: return a - b;
      case Op::multiply: return a * b;
      case Op::divide: return a / b;
      case Op::maximum: return (a != a || b != b) ? a + b : std::max(a, b);
      case Op::minimum: return (a != a || b != b) ? a + b : std::min(a, b);
      case Op::power: return std::pow(a, b);
      case Op::greater: return T(a > b);
      case Op::greater_equal: return T(a >= b);
      case Op::less: return T(a < b);
      case Op::less_equal: return T(a <= b);
      case Op::equal: return T(a == b);
      case Op::not_equal: return T(a != b);
      default: return a != T(0) ? b : c;  // where
    }
  }
  Op op_;
  std::vector<std::vector<index_t>> off_;  // per operand: its offset per output element
  std::vector<index_t> src_;               // per operand: -1 (a node input), its offset in values_, or -2 - parameter
  std::vector<char> direct_;               // per operand: a tensor of the output's shape (off = identity)
  std::vector<index_t> period_;            // per operand: p when off = e mod p (broadcast along leading axes only), else 0
  std::vector<index_t> input_of_;          // per operand: which node input (-1: a constant or a parameter)
  std::vector<T> values_;
  OpParams<T> p_;
  int param_operands_ = 0;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_unary(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  if (in_dims.size() != 1)
    throw std::invalid_argument(who(s) + " takes one input; received " + std::to_string(in_dims.size()));
  if (static_cast<Op>(s.op) != Op::cast_ids && s.op_ids)
    throw std::invalid_argument(who(s) + " cannot read int64 IDs; cast them to a float dtype first");
  return std::make_unique<Unary<T>>(s, in_dims[0]);
}

template <class T>
std::unique_ptr<Layer<T>> make_broadcast(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  const std::vector<index_t>& d = s.op_dims;
  const std::string w = who(s);
  const index_t want_k = static_cast<Op>(s.op) == Op::where ? 3 : 2;
  if (d.size() < 2 || d[0] != want_k || d[1] < 0 || d[1] > 16)
    throw std::invalid_argument(w + ": dims must start with [" + std::to_string(want_k) + ", rank <= 16]");
  const std::size_t k = static_cast<std::size_t>(d[0]), r = static_cast<std::size_t>(d[1]);
  if (d.size() != 2 + r + k * (1 + r))
    throw std::invalid_argument(w + ": dims must hold " + std::to_string(2 + r + k * (1 + r)) + " values; received " +
                                std::to_string(d.size()));
  index_t out = 1;
  for (std::size_t a = 0; a < r; ++a) {
    if (d[2 + a] < 1 || mul_overflows(out, d[2 + a], &out) || out > (index_t(1) << 32))
      throw std::invalid_argument(w + ": the output shape must be positive and not too large");
  }
  std::vector<TensorInfo> params = parse_params(s);
  std::vector<char> param_used(params.size(), 0);
  std::vector<std::vector<index_t>> off(k);
  std::vector<index_t> src(k);
  std::vector<char> direct(k, 0);
  std::vector<index_t> period(k, 0);
  std::size_t next_input = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const index_t* p = d.data() + 2 + r + i * (1 + r);
    src[i] = p[0];
    const index_t* st = p + 1;
    index_t size = 1;  // 1 + the largest offset
    for (std::size_t a = 0; a < r; ++a) {
      if (st[a] < 0) throw std::invalid_argument(w + ": strides must be >= 0");
      size += (d[2 + a] - 1) * st[a];
    }
    if (src[i] < -1) {
      const std::size_t j = static_cast<std::size_t>(-2 - src[i]);
      if (j >= params.size())
        throw std::invalid_argument(w + ": operand " + std::to_string(i) + " names parameter " + std::to_string(j) +
                                    " of " + std::to_string(params.size()));
      if (size != params[j].size)
        throw std::invalid_argument(w + ": operand " + std::to_string(i) + " spans " + std::to_string(size) +
                                    " values; parameter " + std::to_string(j) + " has " + std::to_string(params[j].size));
      param_used[j] = 1;
    } else if (src[i] < 0) {
      if (next_input >= in_dims.size())
        throw std::invalid_argument(w + ": more tensor operands than inputs (" + std::to_string(in_dims.size()) + ")");
      if (size != in_dims[next_input])
        throw std::invalid_argument(w + ": operand " + std::to_string(i) + " spans " + std::to_string(size) +
                                    " values per sample; its input has " + std::to_string(in_dims[next_input]));
      ++next_input;
    } else if (src[i] + size > static_cast<index_t>(s.op_values.size())) {
      throw std::invalid_argument(w + ": constant operand " + std::to_string(i) + " reads past the " +
                                  std::to_string(s.op_values.size()) + " values given");
    }
    off[i].resize(static_cast<std::size_t>(out));
    bool identity = src[i] == -1, tail = out % size == 0;
    for (index_t e = 0; e < out; ++e) {
      index_t rem = e, o = 0;
      for (std::size_t a = r; a-- > 0;) {
        o += (rem % d[2 + a]) * st[a];
        rem /= d[2 + a];
      }
      off[i][static_cast<std::size_t>(e)] = o;
      identity &= o == e;
      tail &= o == e % size;
    }
    direct[i] = identity;
    period[i] = tail ? size : 0;
  }
  for (std::size_t j = 0; j < params.size(); ++j)
    if (!param_used[j]) throw std::invalid_argument(w + ": parameter " + std::to_string(j) + " is no operand");
  if (next_input != in_dims.size())
    throw std::invalid_argument(w + ": " + std::to_string(in_dims.size()) + " inputs for " +
                                std::to_string(next_input) + " tensor operands");
  return std::make_unique<Broadcast<T>>(s, in_dims, out, std::move(off), std::move(src), std::move(direct),
                                        std::move(period), std::move(params));
}

template std::unique_ptr<Layer<float>> make_unary<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_unary<double>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<float>> make_broadcast<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_broadcast<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx::ops

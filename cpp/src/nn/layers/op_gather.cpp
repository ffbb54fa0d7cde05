// Gathers: every output element copies one input element, through a table of source
// offsets built once from op_dims; backward adds each output's gradient into its source
// (take may read one element several times).
//   transpose: op_dims = [r, S_0 .. S_{r-1}, perm_0 .. perm_{r-1}] (the per-sample input
//     shape S and the permutation of its axes: output axis a is input axis perm[a])
//   take:      op_dims = [outer, mid, inner, idx_0, ...]: along an axis of mid entries,
//     output (outer, len(idx), inner) with out[o, j, i] = in[o, idx_j, i]
//   one_hot:   op_dims = [num_classes]: each input value v becomes num_classes values,
//     1 at v (an integer in range) and 0 elsewhere (Keras/JAX: all zeros otherwise); its
//     input is int64 IDs (a model input, op_ids) or float values; no gradient.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "../kernels.hpp"
#include "ops.hpp"

namespace dnnx::ops {
namespace {

template <class T>
class Gather final : public Layer<T> {
 public:
  Gather(const LayerSpec& s, index_t in, std::vector<index_t> src)
      : Layer<T>(s.name, in, static_cast<index_t>(src.size())), src_(std::move(src)) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t in = this->in_dim_, out = this->out_dim_;
    detail::parallel_chunks(n, std::max<index_t>(1, 4096 / out), n * out, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r)
        for (index_t e = 0; e < out; ++e) y[r * out + e] = x[r * in + src_[static_cast<std::size_t>(e)]];
    });
  }
  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T*, bool) const override {
    if (!dx) return;
    const index_t in = this->in_dim_, out = this->out_dim_;
    detail::parallel_chunks(n, std::max<index_t>(1, 4096 / out), n * out, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        T* d = dx + r * in;
        std::fill(d, d + in, T(0));
        for (index_t e = 0; e < out; ++e) d[src_[static_cast<std::size_t>(e)]] += dy[r * out + e];
      }
    });
  }

 private:
  std::vector<index_t> src_;
};

template <class T>
class OneHot final : public Layer<T> {
 public:
  OneHot(const LayerSpec& s, index_t in, index_t classes, bool ids)
      : Layer<T>(s.name, in, in * classes), classes_(classes), ids_(ids) {}
  bool int_input() const override { return ids_; }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t in = this->in_dim_, c = classes_;
    std::fill(y, y + n * in * c, T(0));
    for (index_t e = 0; e < n * in; ++e) {
      double v;
      if (ids_) v = static_cast<double>(reinterpret_cast<const std::int64_t*>(x)[e]);
      else v = static_cast<double>(x[e]);
      if (v >= 0 && v < double(c) && v == std::floor(v)) y[e * c + static_cast<index_t>(v)] = T(1);
    }
  }
  void backward(const StepContext&, index_t n, const T*, const T*, T*, T* dx, const T*, bool) const override {
    if (dx && !ids_) std::fill(dx, dx + n * this->in_dim_, T(0));
  }

 private:
  index_t classes_;
  bool ids_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_gather(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  const std::string w = who(s);
  if (in_dims.size() != 1) throw std::invalid_argument(w + " takes one input; received " + std::to_string(in_dims.size()));
  const auto& d = s.op_dims;
  const index_t in = in_dims[0];
  const Op o = static_cast<Op>(s.op);
  if (o == Op::one_hot) {
    if (d.size() != 1 || d[0] < 1 || d[0] > (index_t(1) << 24))
      throw std::invalid_argument(w + ": dims must be [num_classes] with 1 <= num_classes <= 2**24");
    return std::make_unique<OneHot<T>>(s, in, d[0], s.op_ids);
  }
  if (s.op_ids) throw std::invalid_argument(w + " cannot read int64 IDs; cast them to a float dtype first");
  std::vector<index_t> src;
  if (o == Op::transpose) {
    if (d.empty() || d[0] < 1 || d[0] > 16 || d.size() != static_cast<std::size_t>(1 + 2 * d[0]))
      throw std::invalid_argument(w + ": dims must be [r, shape (r values), perm (r values)] with 1 <= r <= 16");
    const std::size_t r = static_cast<std::size_t>(d[0]);
    std::vector<index_t> shape(d.begin() + 1, d.begin() + 1 + static_cast<std::ptrdiff_t>(r));
    std::vector<index_t> perm(d.begin() + 1 + static_cast<std::ptrdiff_t>(r), d.end());
    std::vector<char> seen(r, 0);
    index_t size = 1;
    for (std::size_t a = 0; a < r; ++a) {
      if (shape[a] < 1 || perm[a] < 0 || perm[a] >= d[0] || seen[static_cast<std::size_t>(perm[a])])
        throw std::invalid_argument(w + ": perm must be a permutation of 0 .. r-1 and the shape positive");
      seen[static_cast<std::size_t>(perm[a])] = 1;
      size *= shape[a];
    }
    if (size != in) throw std::invalid_argument(w + ": the shape holds " + std::to_string(size) +
                                                " values; the input has " + std::to_string(in));
    std::vector<index_t> stride(r, 1);
    for (std::size_t a = r - 1; a-- > 0;) stride[a] = stride[a + 1] * shape[a + 1];
    src.resize(static_cast<std::size_t>(in));
    for (index_t e = 0; e < in; ++e) {  // e: an output position; its multi-index over the permuted shape
      index_t rem = e, off = 0;
      for (std::size_t a = r; a-- > 0;) {
        const std::size_t ax = static_cast<std::size_t>(perm[a]);
        off += (rem % shape[ax]) * stride[ax];
        rem /= shape[ax];
      }
      src[static_cast<std::size_t>(e)] = off;
    }
  } else {  // take
    if (d.size() < 4 || d[0] < 1 || d[1] < 1 || d[2] < 1 || d[0] * d[1] * d[2] != in)
      throw std::invalid_argument(w + ": dims must be [outer, axis length, inner, indices...] matching the input width " +
                                  std::to_string(in));
    const index_t outer = d[0], mid = d[1], inner = d[2];
    const std::size_t k = d.size() - 3;
    for (std::size_t j = 0; j < k; ++j)
      if (d[3 + j] < 0 || d[3 + j] >= mid)
        throw std::invalid_argument(w + ": index " + std::to_string(d[3 + j]) + " is out of range [0, " +
                                    std::to_string(mid) + ")");
    for (index_t a = 0; a < outer; ++a)
      for (std::size_t j = 0; j < k; ++j)
        for (index_t i = 0; i < inner; ++i) src.push_back(a * mid * inner + d[3 + j] * inner + i);
  }
  return std::make_unique<Gather<T>>(s, in, std::move(src));
}

template std::unique_ptr<Layer<float>> make_gather<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_gather<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx::ops

// Merge layers (Keras layers.Add, Subtract, Multiply, Average, Maximum, Concatenate): one
// output from several inputs of one node.
//
//   add       y = x0 + x1 + ...           dx_i = dy
//   subtract  y = x0 - x1                 dx_0 = dy, dx_1 = -dy
//   multiply  y = x0 * x1 * ...           dx_i = dy * prod_{j != i} x_j
//   average   y = (x0 + x1 + ...) / k     dx_i = dy / k
//   maximum   y = max_i x_i (NaN wins)    dx_i = dy where i is the first input attaining
//                                         the max (Keras folds pairwise maxima left to right)
//   concatenate along the features: y = [x0 | x1 | ...], dx_i = its columns of dy.
// Every element is computed from its own inputs in a fixed order, so row blocks may run
// on any thread.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class Merge final : public MultiInputLayer<T> {
 public:
  Merge(const LayerSpec& s, const std::vector<index_t>& in_dims, index_t out_dim)
      : MultiInputLayer<T>(s.name, in_dims, out_dim), kind_(s.kind) {}

  void forward_n(const StepContext&, index_t n, const T* const* xs, T* y, T*) const override {
    const index_t k = static_cast<index_t>(this->in_dims_.size()), d = this->out_dim_;
    if (kind_ == LayerKind::concatenate) {
      rows(n, d, [&](index_t r0, index_t r1) {
        for (index_t r = r0; r < r1; ++r) {
          T* dst = y + r * d;
          for (index_t i = 0; i < k; ++i) {
            const index_t w = this->in_dims_[i];
            std::memcpy(dst, xs[i] + r * w, static_cast<std::size_t>(w) * sizeof(T));
            dst += w;
          }
        }
      });
      return;
    }
    rows(n, d, [&](index_t r0, index_t r1) {
      for (index_t e = r0 * d; e < r1 * d; ++e) {
        T v = xs[0][e];
        for (index_t i = 1; i < k; ++i) {
          const T u = xs[i][e];
          switch (kind_) {
            case LayerKind::add: case LayerKind::average: v += u; break;
            case LayerKind::subtract: v -= u; break;
            case LayerKind::multiply: v *= u; break;
            default: v = (u > v || u != u) ? u : v; break;  // maximum (a NaN propagates)
          }
        }
        y[e] = kind_ == LayerKind::average ? v / T(k) : v;
      }
    });
  }

  void backward_n(const StepContext&, index_t n, const T* const* xs, const T*, T* dy, T* const* dxs, const T*,
                  bool) const override {
    const index_t k = static_cast<index_t>(this->in_dims_.size()), d = this->out_dim_;
    if (kind_ == LayerKind::concatenate) {
      rows(n, d, [&](index_t r0, index_t r1) {
        for (index_t r = r0; r < r1; ++r) {
          const T* src = dy + r * d;
          for (index_t i = 0; i < k; ++i) {
            const index_t w = this->in_dims_[i];
            if (dxs[i]) std::memcpy(dxs[i] + r * w, src, static_cast<std::size_t>(w) * sizeof(T));
            src += w;
          }
        }
      });
      return;
    }
    rows(n, d, [&](index_t r0, index_t r1) {
      for (index_t e = r0 * d; e < r1 * d; ++e) {
        const T g = dy[e];
        switch (kind_) {
          case LayerKind::add:
            for (index_t i = 0; i < k; ++i) if (dxs[i]) dxs[i][e] = g;
            break;
          case LayerKind::average:
            for (index_t i = 0; i < k; ++i) if (dxs[i]) dxs[i][e] = g / T(k);
            break;
          case LayerKind::subtract:
            if (dxs[0]) dxs[0][e] = g;
            if (dxs[1]) dxs[1][e] = -g;
            break;
          case LayerKind::multiply:
            for (index_t i = 0; i < k; ++i) {
              if (!dxs[i]) continue;
              T p = g;
              for (index_t j = 0; j < k; ++j) if (j != i) p *= xs[j][e];
              dxs[i][e] = p;
            }
            break;
          default: {  // maximum
            index_t best = 0;
            T v = xs[0][e];
            for (index_t i = 1; i < k; ++i) if (xs[i][e] > v) { v = xs[i][e]; best = i; }
            for (index_t i = 0; i < k; ++i) if (dxs[i]) dxs[i][e] = i == best ? g : T(0);
          }
        }
      }
    });
  }

 private:
  // f(r0, r1) over blocks of rows (a memory pass: threads only for big tensors).
  template <class F>
  static void rows(index_t n, index_t d, F&& f) {
    const index_t block = std::max<index_t>(1, 4096 / std::max<index_t>(d, 1));
    detail::parallel_chunks(n, block, n * d, f);
  }
  LayerKind kind_;
};

const char* merge_name(LayerKind k) {
  switch (k) {
    case LayerKind::add: return "add";
    case LayerKind::subtract: return "subtract";
    case LayerKind::multiply: return "multiply";
    case LayerKind::average: return "average";
    case LayerKind::maximum: return "maximum";
    default: return "concatenate";
  }
}

std::string shapes_str(const std::vector<index_t>& dims) {
  std::string s;
  for (index_t d : dims) s += (s.empty() ? "" : ", ") + ("(None, " + std::to_string(d) + ")");
  return s;
}

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_merge(const LayerSpec& spec, const std::vector<index_t>& in_dims) {
  const std::string who = std::string(merge_name(spec.kind)) + " layer '" + spec.name + "'";
  if (spec.axis != -1) throw std::invalid_argument(who + ": only axis=-1 (the feature axis) is supported");
  if (in_dims.size() < 2)
    throw std::invalid_argument(who + " needs at least 2 inputs; received " + std::to_string(in_dims.size()));
  if (spec.kind == LayerKind::subtract && in_dims.size() != 2)
    throw std::invalid_argument(who + " needs exactly 2 inputs; received " + std::to_string(in_dims.size()));
  index_t out = 0;
  for (index_t d : in_dims) out += d;
  if (spec.kind != LayerKind::concatenate) {
    for (index_t d : in_dims)
      if (d != in_dims[0])
        throw std::invalid_argument(who + ": inputs must have the same shape; received shapes " + shapes_str(in_dims));
    out = in_dims[0];
  }
  return std::make_unique<Merge<T>>(spec, in_dims, out);
}

template std::unique_ptr<Layer<float>> make_merge<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_merge<double>(const LayerSpec&, const std::vector<index_t>&);

std::vector<LayerDecl> merge_declarations() {
  std::vector<LayerDecl> r;
  for (LayerKind k : {LayerKind::add, LayerKind::subtract, LayerKind::multiply, LayerKind::average, LayerKind::maximum,
                      LayerKind::concatenate}) {
    LayerDecl d;
    d.type = merge_name(k);
    d.defaults.kind = k;
    d.several_inputs = true;
    d.make_f = make_merge<float>;
    d.make_d = make_merge<double>;
    d.field("axis", &LayerSpec::axis);
    r.push_back(d);
  }
  return r;
}

}  // namespace dnnx

// LayerNormalization (Keras 3 layers.LayerNormalization, https://arxiv.org/abs/1607.06450)
// over the feature axis of each row:
//
// forward : xhat = (x - mean_row) / sqrt(var_row + eps) (biased variance),
//           y = gamma * xhat + beta.
// backward: dxhat = dy * gamma, dx = inv_std / d * (d dxhat - sum dxhat - xhat sum dxhat xhat),
//           dgamma = column sums of dy * xhat, dbeta = column sums of dy.
#include <cmath>
#include <stdexcept>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class LayerNormalization final : public Layer<T> {
 public:
  LayerNormalization(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim), spec_(s) {}

  void declare(std::vector<TensorInfo>& table) override {
    auto add = [&](const char* what, InitKind init) {
      TensorInfo t;
      t.name = this->name_ + "/" + what;
      t.shape = {this->in_dim_};
      t.size = this->in_dim_;
      t.init.kind = init;
      ids_.push_back(table.size());
      table.push_back(t);
    };
    if (spec_.scale) add("gamma", InitKind::ones);
    if (spec_.center) add("beta", InitKind::zeros);
  }

  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override {
    std::size_t i = 0;
    if (spec_.scale) { gamma_ = params + t[ids_[i]].offset; dgamma_ = grads + t[ids_[i]].offset; ++i; }
    if (spec_.center) { beta_ = params + t[ids_[i]].offset; dbeta_ = grads + t[ids_[i]].offset; }
  }

  // xhat (n x d), then inv_std (n).
  index_t cache_size(index_t n) const override { return n * this->in_dim_ + n; }

  void forward(const StepContext&, index_t n, const T* x, T* y, T* cache) const override {
    const index_t d = this->in_dim_;
    const T eps = T(spec_.epsilon);
    T* xhat = cache;
    T* inv_std = cache ? cache + n * d : nullptr;
    detail::parallel_chunks(n, 16, n * d, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) {
        const T* xr = x + i * d;
        T mean = 0, var = 0;
        for (index_t j = 0; j < d; ++j) mean += xr[j];
        mean /= T(d);
        for (index_t j = 0; j < d; ++j) { const T c = xr[j] - mean; var += c * c; }
        var /= T(d);
        const T inv = T(1) / std::sqrt(var + eps);
        if (inv_std) inv_std[i] = inv;
        for (index_t j = 0; j < d; ++j) {
          const T h = (xr[j] - mean) * inv;
          if (xhat) xhat[i * d + j] = h;
          y[i * d + j] = (gamma_ ? gamma_[j] : T(1)) * h + (beta_ ? beta_[j] : T(0));
        }
      }
    });
  }

  void backward(const StepContext& ctx, index_t n, const T*, const T*, T* dy, T* dx, const T* cache,
                bool) const override {
    const index_t d = this->in_dim_;
    const T* xhat = cache;
    const T* inv_std = cache + n * d;
    // Parameter gradients: per-feature sums over the rows, in row order (none when frozen).
    if (!ctx.frozen) detail::parallel_chunks(d, 64, n * d, [&](index_t j0, index_t j1) {
      for (index_t j = j0; j < j1; ++j) {
        if (dgamma_) dgamma_[j] = T(0);
        if (dbeta_) dbeta_[j] = T(0);
      }
      for (index_t i = 0; i < n; ++i)
        for (index_t j = j0; j < j1; ++j) {
          if (dgamma_) dgamma_[j] += dy[i * d + j] * xhat[i * d + j];
          if (dbeta_) dbeta_[j] += dy[i * d + j];
        }
    });
    if (!dx) return;
    detail::parallel_chunks(n, 16, n * d, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) {
        const T* g = dy + i * d;
        const T* h = xhat + i * d;
        T s = 0, sh = 0;
        for (index_t j = 0; j < d; ++j) {
          const T dh = g[j] * (gamma_ ? gamma_[j] : T(1));
          s += dh;
          sh += dh * h[j];
        }
        for (index_t j = 0; j < d; ++j) {
          const T dh = g[j] * (gamma_ ? gamma_[j] : T(1));
          dx[i * d + j] = inv_std[i] / T(d) * (T(d) * dh - s - h[j] * sh);
        }
      }
    });
  }

 private:
  LayerSpec spec_;
  std::vector<std::size_t> ids_;
  T *gamma_ = nullptr, *dgamma_ = nullptr, *beta_ = nullptr, *dbeta_ = nullptr;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_layer_normalization(const LayerSpec& spec, index_t in_dim) {
  if (!(spec.epsilon > 0.0))
    throw std::invalid_argument("layer_normalization: epsilon must be > 0; received epsilon=" +
                                std::to_string(spec.epsilon));
  return std::make_unique<LayerNormalization<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_layer_normalization<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_layer_normalization<double>(const LayerSpec&, index_t);

LayerDecl layer_normalization_declaration() {
  LayerDecl d = one_input_decl<make_layer_normalization<float>, make_layer_normalization<double>>(
      "layer_normalization", LayerKind::layer_normalization);
  d.field("epsilon", &LayerSpec::epsilon).field("center", &LayerSpec::center).field("scale", &LayerSpec::scale);
  return d;
}

}  // namespace dnnx

// BatchNormalization (Keras 3 layers.BatchNormalization, https://arxiv.org/abs/1502.03167).
//
// training : mean, var = batch mean and biased variance per feature,
//            xhat = (x - mean) / sqrt(var + eps), y = gamma * xhat + beta, and (in a real
//            step) moving = moving * momentum + stat * (1 - momentum).
// inference: the same with the moving statistics; a frozen layer (trainable = False) runs
//            in inference mode in training too (as Keras does), and its backward is then
//            dx = dy * gamma / sqrt(moving_var + eps).
// backward : dbeta = sum dy, dgamma = sum dy * xhat,
//            dx = gamma / sqrt(var + eps) / n * (n dy - dbeta - xhat dgamma).
// Parameters in Keras get_weights order: gamma, beta (trainable), moving_mean,
// moving_variance (non-trainable). Work is split over blocks of features; each per-feature
// sum runs over the rows in order, so results do not depend on the thread count.
#include <cmath>
#include <stdexcept>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

constexpr index_t kColBlock = 64;

template <class T>
class BatchNormalization final : public Layer<T> {
 public:
  BatchNormalization(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim), spec_(s) {}

  void declare(std::vector<TensorInfo>& table) override {
    auto add = [&](const char* what, InitKind init, bool trainable) {
      TensorInfo t;
      t.name = this->name_ + "/" + what;
      t.shape = {this->in_dim_};
      t.size = this->in_dim_;
      t.init.kind = init;
      t.trainable = trainable;
      ids_.push_back(table.size());
      table.push_back(t);
    };
    if (spec_.scale) add("gamma", InitKind::ones, true);
    if (spec_.center) add("beta", InitKind::zeros, true);
    add("moving_mean", InitKind::zeros, false);
    add("moving_variance", InitKind::ones, false);
  }

  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override {
    std::size_t i = 0;
    if (spec_.scale) { gamma_ = params + t[ids_[i]].offset; dgamma_ = grads + t[ids_[i]].offset; ++i; }
    if (spec_.center) { beta_ = params + t[ids_[i]].offset; dbeta_ = grads + t[ids_[i]].offset; ++i; }
    mmean_ = params + t[ids_[i++]].offset;
    mvar_ = params + t[ids_[i]].offset;
  }

  // xhat (n x d), then inv_std (d).
  index_t cache_size(index_t n) const override { return (n + 1) * this->in_dim_; }

  void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const override {
    const index_t d = this->in_dim_;
    const T eps = T(spec_.epsilon), mom = T(spec_.momentum);
    T* xhat = cache;
    T* inv_std = cache ? cache + n * d : nullptr;
    detail::parallel_chunks(d, kColBlock, n * d, [&](index_t j0, index_t j1) {
      T mean[kColBlock], inv[kColBlock];
      const index_t w = j1 - j0;
      if (ctx.training && !ctx.frozen) {
        T var[kColBlock];
        for (index_t j = 0; j < w; ++j) mean[j] = var[j] = T(0);
        for (index_t i = 0; i < n; ++i)
          for (index_t j = 0; j < w; ++j) mean[j] += x[i * d + j0 + j];
        for (index_t j = 0; j < w; ++j) mean[j] /= T(n);
        for (index_t i = 0; i < n; ++i)
          for (index_t j = 0; j < w; ++j) { const T c = x[i * d + j0 + j] - mean[j]; var[j] += c * c; }
        for (index_t j = 0; j < w; ++j) {
          var[j] /= T(n);
          inv[j] = T(1) / std::sqrt(var[j] + eps);
          if (ctx.update_stats) {
            mmean_[j0 + j] = mmean_[j0 + j] * mom + mean[j] * (T(1) - mom);
            mvar_[j0 + j] = mvar_[j0 + j] * mom + var[j] * (T(1) - mom);
          }
        }
      } else {
        for (index_t j = 0; j < w; ++j) {
          mean[j] = mmean_[j0 + j];
          inv[j] = T(1) / std::sqrt(mvar_[j0 + j] + eps);
        }
      }
      for (index_t i = 0; i < n; ++i) {
        for (index_t j = 0; j < w; ++j) {
          const index_t e = i * d + j0 + j;
          const T h = (x[e] - mean[j]) * inv[j];
          if (xhat) xhat[e] = h;
          y[e] = (gamma_ ? gamma_[j0 + j] : T(1)) * h + (beta_ ? beta_[j0 + j] : T(0));
        }
      }
      if (inv_std) for (index_t j = 0; j < w; ++j) inv_std[j0 + j] = inv[j];
    });
  }

  void backward(const StepContext& ctx, index_t n, const T*, const T*, T* dy, T* dx, const T* cache,
                bool) const override {
    const index_t d = this->in_dim_;
    const T* xhat = cache;
    const T* inv_std = cache + n * d;
    if (ctx.frozen) {
      if (!dx) return;
      detail::parallel_chunks(d, kColBlock, n * d, [&](index_t j0, index_t j1) {
        for (index_t i = 0; i < n; ++i)
          for (index_t j = j0; j < j1; ++j) dx[i * d + j] = dy[i * d + j] * ((gamma_ ? gamma_[j] : T(1)) * inv_std[j]);
      });
      return;
    }
    detail::parallel_chunks(d, kColBlock, n * d, [&](index_t j0, index_t j1) {
      T sb[kColBlock], sg[kColBlock];
      const index_t w = j1 - j0;
      for (index_t j = 0; j < w; ++j) sb[j] = sg[j] = T(0);
      for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < w; ++j) {
          const index_t e = i * d + j0 + j;
          sb[j] += dy[e];
          sg[j] += dy[e] * xhat[e];
        }
      for (index_t j = 0; j < w; ++j) {
        if (dgamma_) dgamma_[j0 + j] = sg[j];
        if (dbeta_) dbeta_[j0 + j] = sb[j];
      }
      if (!dx) return;
      for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < w; ++j) {
          const index_t e = i * d + j0 + j;
          const T g = gamma_ ? gamma_[j0 + j] : T(1);
          dx[e] = g * inv_std[j0 + j] / T(n) * (T(n) * dy[e] - sb[j] - xhat[e] * sg[j]);
        }
    });
  }

 private:
  LayerSpec spec_;
  std::vector<std::size_t> ids_;
  T *gamma_ = nullptr, *dgamma_ = nullptr, *beta_ = nullptr, *dbeta_ = nullptr;
  T *mmean_ = nullptr, *mvar_ = nullptr;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_batch_normalization(const LayerSpec& spec, index_t in_dim) {
  if (!(spec.epsilon > 0.0))
    throw std::invalid_argument("batch_normalization: epsilon must be > 0; received epsilon=" + std::to_string(spec.epsilon));
  if (!(spec.momentum >= 0.0 && spec.momentum <= 1.0))
    throw std::invalid_argument("batch_normalization: momentum must be in [0, 1]; received momentum=" +
                                std::to_string(spec.momentum));
  return std::make_unique<BatchNormalization<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_batch_normalization<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_batch_normalization<double>(const LayerSpec&, index_t);

LayerDecl batch_normalization_declaration() {
  LayerDecl d = one_input_decl<make_batch_normalization<float>, make_batch_normalization<double>>(
      "batch_normalization", LayerKind::batch_normalization);
  d.field("momentum", &LayerSpec::momentum)
      .field("epsilon", &LayerSpec::epsilon)
      .field("center", &LayerSpec::center)
      .field("scale", &LayerSpec::scale);
  return d;
}

}  // namespace dnnx

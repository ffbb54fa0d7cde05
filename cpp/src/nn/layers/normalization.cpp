// Normalization (Keras layers.Normalization): per feature, with the statistics that
// adapt() computed (or that were given) held as non-trainable weights.
//
// forward : y = (x - mean) / s             s = max(sqrt(variance), 1e-7) (Keras's epsilon)
//           y = mean + x * s               (invert = True)
// backward: dx = dy / s                    (dx = dy * s inverted); no parameter gradients:
//           mean and variance are statistics, not trained.
// Parameters in Keras get_weights order: mean, variance (Keras also keeps an int64
// "count" used only while adapting; dnnx adapts in Python and does not store it).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

constexpr double kEpsilon = 1e-7;  // keras.backend.epsilon()

template <class T>
class Normalization final : public Layer<T> {
 public:
  Normalization(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim), spec_(s) {}

  void declare(std::vector<TensorInfo>& table) override {
    auto add = [&](const char* what, InitKind init) {
      TensorInfo t;
      t.name = this->name_ + "/" + what;
      t.shape = {this->in_dim_};
      t.size = this->in_dim_;
      t.init.kind = init;
      t.trainable = false;
      ids_[what[0] == 'v'] = table.size();
      table.push_back(t);
    };
    add("mean", InitKind::zeros);
    add("variance", InitKind::ones);
  }

  void bind(const std::vector<TensorInfo>& t, T* params, T*) override {
    mean_ = params + t[ids_[0]].offset;
    var_ = params + t[ids_[1]].offset;
  }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t d = this->in_dim_;
    detail::parallel_chunks(n, 256, n * d, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* xr = x + r * d;
        T* yr = y + r * d;
        if (spec_.invert) {
          for (index_t j = 0; j < d; ++j) yr[j] = mean_[j] + xr[j] * scale(j);
        } else {
          for (index_t j = 0; j < d; ++j) yr[j] = (xr[j] - mean_[j]) / scale(j);
        }
      }
    });
  }

  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T*, bool) const override {
    if (!dx) return;
    const index_t d = this->in_dim_;
    detail::parallel_chunks(n, 256, n * d, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* g = dy + r * d;
        T* o = dx + r * d;
        if (spec_.invert) {
          for (index_t j = 0; j < d; ++j) o[j] = g[j] * scale(j);
        } else {
          for (index_t j = 0; j < d; ++j) o[j] = g[j] / scale(j);
        }
      }
    });
  }

 private:
  T scale(index_t j) const { return std::max(std::sqrt(var_[j]), T(kEpsilon)); }

  LayerSpec spec_;
  std::size_t ids_[2] = {0, 0};
  T *mean_ = nullptr, *var_ = nullptr;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_normalization(const LayerSpec& spec, index_t in_dim) {
  return std::make_unique<Normalization<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_normalization<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_normalization<double>(const LayerSpec&, index_t);

LayerDecl normalization_declaration() {
  LayerDecl d = one_input_decl<make_normalization<float>, make_normalization<double>>("normalization",
                                                                                       LayerKind::normalization);
  d.field("invert", &LayerSpec::invert);
  return d;
}

}  // namespace dnnx

// Width-preserving layers (Keras Flatten, Reshape, Identity: the row-major layout of a
// sample does not change, so each is a copy), and GlobalAveragePooling1D: the mean over
// the k steps of a (batch, k, dim) input, y[r, :] = sum_j x[r, j, :] / k (steps in order).
#include <cstring>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class Copy final : public Layer<T> {
 public:
  Copy(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    if (x != y) std::memcpy(y, x, static_cast<std::size_t>(n * this->in_dim_) * sizeof(T));
  }
  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T*, bool) const override {
    if (dx) std::memcpy(dx, dy, static_cast<std::size_t>(n * this->in_dim_) * sizeof(T));
  }
};

template <class T>
class GlobalAveragePooling1D final : public Layer<T> {
 public:
  GlobalAveragePooling1D(const LayerSpec& s, index_t in_dim)
      : Layer<T>(s.name, in_dim, in_dim / s.steps), steps_(s.steps) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const index_t d = this->out_dim_;
    detail::parallel_chunks(n, 64, n * this->in_dim_, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* src = x + r * this->in_dim_;
        T* dst = y + r * d;
        for (index_t j = 0; j < d; ++j) dst[j] = src[j];
        for (index_t s = 1; s < steps_; ++s)
          for (index_t j = 0; j < d; ++j) dst[j] += src[s * d + j];
        for (index_t j = 0; j < d; ++j) dst[j] /= T(steps_);
      }
    });
  }
  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T*, bool) const override {
    if (!dx) return;
    const index_t d = this->out_dim_;
    detail::parallel_chunks(n, 64, n * this->in_dim_, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r)
        for (index_t s = 0; s < steps_; ++s)
          for (index_t j = 0; j < d; ++j) dx[r * this->in_dim_ + s * d + j] = dy[r * d + j] / T(steps_);
    });
  }

 private:
  index_t steps_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_identity(const LayerSpec& spec, index_t in_dim) {
  return std::make_unique<Copy<T>>(spec, in_dim);
}

template <class T>
std::unique_ptr<Layer<T>> make_global_average_pooling1d(const LayerSpec& spec, index_t in_dim) {
  if (spec.steps < 1 || in_dim % spec.steps != 0)
    throw std::invalid_argument("global_average_pooling1d layer '" + spec.name + "': an input of width " +
                                std::to_string(in_dim) + " cannot be split into steps=" + std::to_string(spec.steps) +
                                " steps");
  return std::make_unique<GlobalAveragePooling1D<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_identity<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_identity<double>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<float>> make_global_average_pooling1d<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_global_average_pooling1d<double>(const LayerSpec&, index_t);

std::vector<LayerDecl> reshaping_declarations() {
  std::vector<LayerDecl> r;
  for (const char* type : {"flatten", "reshape", "identity"}) {
    LayerDecl d = one_input_decl<make_identity<float>, make_identity<double>>(type, LayerKind::identity);
    if (std::string(type) == "reshape") d.ignored_field("target_shape");
    r.push_back(d);
  }
  LayerDecl g = one_input_decl<make_global_average_pooling1d<float>, make_global_average_pooling1d<double>>(
      "global_average_pooling1d", LayerKind::global_average_pooling1d);
  g.field("steps", &LayerSpec::steps);
  r.push_back(g);
  return r;
}

}  // namespace dnnx

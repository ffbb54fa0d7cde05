// Activation: y = f(x) as its own layer (Keras layers.Activation).
#include <cstring>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class ActivationLayer final : public Layer<T> {
 public:
  ActivationLayer(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim), act_(s.act) {}

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    detail::act_forward_rows<T>(act_, n, this->in_dim_, x, y);
  }

  void backward(const StepContext&, index_t n, const T* x, const T* y, T* dy, T* dx, const T*,
                bool dy_is_preact) const override {
    if (!dx) return;
    const index_t count = n * this->in_dim_;
    // A fused loss already produced the gradient with respect to this layer's input.
    if (dy_is_preact) std::memcpy(dx, dy, static_cast<std::size_t>(count) * sizeof(T));
    else detail::act_backward_rows<T>(act_, n, this->in_dim_, x, y, dy, dx);
  }

  Act output_act() const override { return act_.kind; }

 private:
  ActParams act_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_activation(const LayerSpec& spec, index_t in_dim) {
  return std::make_unique<ActivationLayer<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_activation<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_activation<double>(const LayerSpec&, index_t);

LayerDecl activation_declaration() {
  LayerDecl d = one_input_decl<make_activation<float>, make_activation<double>>("activation", LayerKind::activation);
  d.field("activation", &LayerSpec::act);
  return d;
}

}  // namespace dnnx

// make_layer: the one place a LayerKind turns into a concrete layer.
#include "dnnx/layers.hpp"

namespace dnnx {

template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, index_t in_dim) {
  switch (spec.kind) {
    case LayerKind::dense: return make_dense<T>(spec, in_dim);
    case LayerKind::activation: return make_activation<T>(spec, in_dim);
    case LayerKind::dropout: return make_dropout<T>(spec, in_dim);
    case LayerKind::batch_normalization: return make_batch_normalization<T>(spec, in_dim);
    case LayerKind::layer_normalization: return make_layer_normalization<T>(spec, in_dim);
  }
  throw std::invalid_argument("unknown layer kind");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&, index_t);

}  // namespace dnnx

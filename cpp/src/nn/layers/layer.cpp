// make_layer: the one place a LayerKind turns into a concrete layer.
#include <string>

#include "dnnx/layers.hpp"

namespace dnnx {

template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, const std::vector<index_t>& in_dims) {
  if (layer_is_merge(spec.kind)) return make_merge<T>(spec, in_dims);
  if (in_dims.size() != 1)
    throw std::invalid_argument("layer '" + spec.name + "' takes exactly one input; received " +
                                std::to_string(in_dims.size()));
  const index_t in_dim = in_dims[0];
  switch (spec.kind) {
    case LayerKind::dense: return make_dense<T>(spec, in_dim);
    case LayerKind::activation: return make_activation<T>(spec, in_dim);
    case LayerKind::dropout: return make_dropout<T>(spec, in_dim);
    case LayerKind::batch_normalization: return make_batch_normalization<T>(spec, in_dim);
    case LayerKind::layer_normalization: return make_layer_normalization<T>(spec, in_dim);
    case LayerKind::embedding: return make_embedding<T>(spec, in_dim);
    case LayerKind::identity: return make_identity<T>(spec, in_dim);
    case LayerKind::global_average_pooling1d: return make_global_average_pooling1d<T>(spec, in_dim);
    default: break;
  }
  throw std::invalid_argument("unknown layer kind");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx

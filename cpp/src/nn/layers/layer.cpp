// The list of layer declarations, and make_layer: the one place a spec turns into a layer.
#include <string>

#include "dnnx/layer_decl.hpp"

namespace dnnx {

const std::vector<LayerDecl>& layer_declarations() {
  static const std::vector<LayerDecl> all = [] {
    std::vector<LayerDecl> r = {dense_declaration(), activation_declaration(), dropout_declaration(),
                                batch_normalization_declaration(), layer_normalization_declaration(),
                                embedding_declaration()};
    for (auto& d : merge_declarations()) r.push_back(d);
    for (auto& d : reshaping_declarations()) r.push_back(d);
    r.push_back(normalization_declaration());
    r.push_back(category_encoding_declaration());
    r.push_back(op_declaration());
    return r;
  }();
  return all;
}

const LayerDecl& layer_declaration(const std::string& type) {
  std::string known;
  for (const LayerDecl& d : layer_declarations()) {
    if (d.type == type) return d;
    known += (known.empty() ? "" : ", ") + d.type;
  }
  throw std::invalid_argument("'type' must be one of " + known + "; received '" + type + "'");
}

template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, const std::vector<index_t>& in_dims) {
  for (const LayerDecl& d : layer_declarations()) {
    if (d.defaults.kind != spec.kind) continue;
    if (!d.several_inputs && in_dims.size() != 1)
      throw std::invalid_argument("layer '" + spec.name + "' takes exactly one input; received " +
                                  std::to_string(in_dims.size()));
    if constexpr (sizeof(T) == sizeof(float)) return d.make_f(spec, in_dims);
    else return d.make_d(spec, in_dims);
  }
  throw std::invalid_argument("unknown layer kind");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&, const std::vector<index_t>&);

}  // namespace dnnx

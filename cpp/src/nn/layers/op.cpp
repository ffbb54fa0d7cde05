// The op layer's declaration (LayerKind::op) and the factory that hands each op to its
// family (ops.hpp).
#include <stdexcept>
#include <string>

#include "dnnx/layer_decl.hpp"
#include "ops.hpp"

namespace dnnx {
namespace ops {

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {
      "negative", "square", "sqrt", "abs", "exp", "log", "log1p", "expm1", "sign", "reciprocal",
      "power_scalar", "rpower_scalar", "add_scalar", "multiply_scalar", "rsubtract_scalar", "rdivide_scalar",
      "clip", "maximum_scalar", "minimum_scalar", "trunc", "cast_ids",
      "add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "where",
      "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
      "sum", "mean", "max", "min", "softmax", "log_softmax", "logsumexp",
      "matmul_const", "matmul",
      "transpose", "take", "one_hot", "matmul_param"};
  return names;
}

std::string who(const LayerSpec& s) {
  const auto& names = op_names();
  const std::string op = s.op >= 0 && s.op < static_cast<index_t>(names.size()) ? names[static_cast<std::size_t>(s.op)]
                                                                                  : std::to_string(s.op);
  return "op '" + op + "' (node '" + s.name + "')";
}

std::vector<TensorInfo> parse_params(const LayerSpec& s) {
  const std::string w = who(s);
  const auto& d = s.op_params;
  std::vector<TensorInfo> out;
  if (d.empty()) {
    if (!s.op_param_names.empty() || !s.op_param_regularizers.empty())
      throw std::invalid_argument(w + ": param_names / param_regularizers given without params");
    return out;
  }
  if (d[0] < 0 || d[0] > 16) throw std::invalid_argument(w + ": params must start with a count in [0, 16]");
  const std::size_t count = static_cast<std::size_t>(d[0]);
  std::size_t at = 1;
  for (std::size_t j = 0; j < count; ++j) {
    if (at + 2 > d.size()) throw std::invalid_argument(w + ": params ends inside parameter " + std::to_string(j));
    TensorInfo t;
    if (d[at] != 0 && d[at] != 1) throw std::invalid_argument(w + ": a parameter's trainable flag must be 0 or 1");
    t.trainable = d[at] == 1;
    const index_t rank = d[at + 1];
    at += 2;
    if (rank < 0 || rank > 16 || at + static_cast<std::size_t>(rank) > d.size())
      throw std::invalid_argument(w + ": parameter " + std::to_string(j) + " has a bad rank or too few dims");
    t.size = 1;
    for (index_t a = 0; a < rank; ++a) {
      const index_t dim = d[at++];
      if (dim < 1 || mul_overflows(t.size, dim, &t.size) || t.size > (index_t(1) << 48))
        throw std::invalid_argument(w + ": parameter " + std::to_string(j) + " must have positive dims (not too large)");
      t.shape.push_back(dim);
    }
    // Python sets the values (drawn when add_weight made them); the fans are Keras's.
    t.init = InitSpec{InitKind::zeros};
    t.fan_in = t.fan_out = t.shape.empty() ? 1 : t.shape.back();
    // A name with a '/' is the weight's whole path (Keras's "layer/variable"); any other is
    // put under the node's name.
    const std::string pn = j < s.op_param_names.size() ? s.op_param_names[j] : "param_" + std::to_string(j);
    t.name = pn.find('/') != std::string::npos ? pn : s.name + "/" + pn;
    out.push_back(std::move(t));
  }
  if (at != d.size()) throw std::invalid_argument(w + ": params holds " + std::to_string(d.size() - at) + " extra values");
  if (!s.op_param_names.empty() && s.op_param_names.size() != count)
    throw std::invalid_argument(w + ": param_names must name each of the " + std::to_string(count) + " parameters");
  if (!s.op_param_regularizers.empty()) {
    if (s.op_param_regularizers.size() != 2 * count)
      throw std::invalid_argument(w + ": param_regularizers must hold [l1, l2] per parameter");
    for (std::size_t j = 0; j < count; ++j) {
      const double l1 = s.op_param_regularizers[2 * j], l2 = s.op_param_regularizers[2 * j + 1];
      if (!(l1 >= 0) || !(l2 >= 0)) throw std::invalid_argument(w + ": regularizer l1 and l2 must be >= 0");
      out[j].reg = RegSpec{l1, l2};
    }
  }
  return out;
}

}  // namespace ops

template <class T>
std::unique_ptr<Layer<T>> make_op(const LayerSpec& s, const std::vector<index_t>& in_dims) {
  using ops::Op;
  if (s.op < 0 || s.op >= static_cast<index_t>(Op::count_))
    throw std::invalid_argument("op: unknown op code " + std::to_string(s.op));
  const Op o = static_cast<Op>(s.op);
  if (ops::is_unary(o)) return ops::make_unary<T>(s, in_dims);
  if (ops::is_broadcast(o)) return ops::make_broadcast<T>(s, in_dims);
  if (!s.op_params.empty() && !ops::is_matmul(o))
    throw std::invalid_argument(ops::who(s) + " takes no parameters (only matmul_param and the broadcasting ops do)");
  if (ops::is_axis_op(o)) return ops::make_axis_op<T>(s, in_dims);
  if (ops::is_matmul(o)) return ops::make_matmul<T>(s, in_dims);
  return ops::make_gather<T>(s, in_dims);
}

template std::unique_ptr<Layer<float>> make_op<float>(const LayerSpec&, const std::vector<index_t>&);
template std::unique_ptr<Layer<double>> make_op<double>(const LayerSpec&, const std::vector<index_t>&);

LayerDecl op_declaration() {
  LayerDecl d;
  d.type = "op";
  d.defaults.kind = LayerKind::op;
  d.several_inputs = true;
  d.make_f = make_op<float>;
  d.make_d = make_op<double>;
  d.choice_field("op", &LayerSpec::op, ops::op_names());
  d.field("a", &LayerSpec::op_a).field("b", &LayerSpec::op_b).field("ids", &LayerSpec::op_ids);
  d.field("dims", &LayerSpec::op_dims).field("values", &LayerSpec::op_values);
  d.field("params", &LayerSpec::op_params)
      .field("param_names", &LayerSpec::op_param_names)
      .field("param_regularizers", &LayerSpec::op_param_regularizers);
  return d;
}

}  // namespace dnnx

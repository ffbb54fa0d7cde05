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
      "transpose", "take", "one_hot"};
  return names;
}

std::string who(const LayerSpec& s) {
  const auto& names = op_names();
  const std::string op = s.op >= 0 && s.op < static_cast<index_t>(names.size()) ? names[static_cast<std::size_t>(s.op)]
                                                                                  : std::to_string(s.op);
  return "op '" + op + "' (node '" + s.name + "')";
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
  return d;
}

}  // namespace dnnx

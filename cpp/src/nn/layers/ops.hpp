// INTERNAL: the op layers behind dnnx.ops. One layer kind (LayerKind::op) whose `op` field
// picks the op; each family of ops lives in its own file:
//
//   op_elementwise.cpp  unary ops and ops with scalar arguments (flat: any shape), and the
//                       broadcasting n-ary ops (add, ..., where) with constant operands
//   op_reduce.cpp       reductions and softmax along one axis
//   op_matmul.cpp       x @ C (a constant matrix) and per-sample matrix products
//   op_gather.cpp       transpose, take, one_hot, cast
//
// Every tensor the core sees is (batch, flat width) row-major; an op on a per-sample shape
// (d0, d1, ...) gets that shape (or the part of it it needs) in op_dims, laid out as each
// family documents, and checks it against the widths the network gives it. A constant
// operand's values are in op_values (row-major). Every op computes each output row from
// that row's inputs only, so row blocks may run on any thread.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dnnx/layers.hpp"

namespace dnnx::ops {

enum class Op : int {
  // flat unary (op_a, op_b: the scalar arguments)
  negative, square, sqrt, abs, exp, log, log1p, expm1, sign, reciprocal,
  power_scalar,      // x ** a
  rpower_scalar,     // a ** x
  add_scalar,        // x + a
  multiply_scalar,   // x * a
  rsubtract_scalar,  // a - x
  rdivide_scalar,    // a / x
  clip,              // min(max(x, a), b)
  maximum_scalar, minimum_scalar,
  trunc,             // toward zero (a cast to an integer dtype; no gradient)
  cast_ids,          // int64 IDs -> floating point values
  // broadcasting n-ary
  add, subtract, multiply, divide, maximum, minimum, power, where,
  greater, greater_equal, less, less_equal, equal, not_equal,  // 1 or 0, no gradient
  // along one axis
  sum, mean, max, min, softmax, log_softmax, logsumexp,
  // products
  matmul_const, matmul,
  // gathers
  transpose, take, one_hot,
  count_
};

/// The op names, in Op order (the `op` field's choices).
const std::vector<std::string>& op_names();

inline bool is_unary(Op o) { return o <= Op::cast_ids; }
inline bool is_broadcast(Op o) { return o >= Op::add && o <= Op::not_equal; }
inline bool is_axis_op(Op o) { return o >= Op::sum && o <= Op::logsumexp; }
inline bool is_matmul(Op o) { return o == Op::matmul_const || o == Op::matmul; }

/// "op '<name>' (node name '<layer name>')": the start of every error message.
std::string who(const LayerSpec& s);

template <class T> std::unique_ptr<Layer<T>> make_unary(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_broadcast(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_axis_op(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_matmul(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_gather(const LayerSpec& s, const std::vector<index_t>& in_dims);

}  // namespace dnnx::ops

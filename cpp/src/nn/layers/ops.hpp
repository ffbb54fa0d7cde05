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
//
// Parameters: a weight made by Layer.add_weight and used as an op operand is a parameter
// of that op node (OpParams below): it lives in the network's parameter arena, gets its
// gradient (summed over the batch) and its optimizer update like a Dense kernel, and is
// read by the op where a constant would be. op_params = [count, then per parameter:
// trainable (0/1), rank, d_0 .. d_{rank-1}]; op_param_names and op_param_regularizers
// ([l1, l2] each, or empty) give their names (a name with a '/' is the whole tensor
// name, e.g. "my_dense/kernel"; others go under the node's name) and penalties. A non-trainable parameter is
// read but gets no gradient. Only matmul_param (x @ P) and the broadcasting ops take
// parameters; a shared op node (a layer called twice) shares them.
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
  // x @ P for a parameter P (after the gathers: op codes are positions in op_names)
  matmul_param,
  count_
};

/// The op names, in Op order (the `op` field's choices).
const std::vector<std::string>& op_names();

inline bool is_unary(Op o) { return o <= Op::cast_ids; }
inline bool is_broadcast(Op o) { return o >= Op::add && o <= Op::not_equal; }
inline bool is_axis_op(Op o) { return o >= Op::sum && o <= Op::logsumexp; }
inline bool is_matmul(Op o) { return o == Op::matmul_const || o == Op::matmul || o == Op::matmul_param; }

/// "op '<name>' (node name '<layer name>')": the start of every error message.
std::string who(const LayerSpec& s);

/// The parameters of an op node (see above), parsed and checked from its spec; declare()
/// adds them to the network's tensor table, bind() finds them in the arenas.
std::vector<TensorInfo> parse_params(const LayerSpec& s);

template <class T>
class OpParams {
 public:
  explicit OpParams(std::vector<TensorInfo> info) : info_(std::move(info)), ids_(info_.size()), p_(info_.size()), g_(info_.size()) {}
  std::size_t size() const noexcept { return info_.size(); }
  const TensorInfo& info(std::size_t j) const { return info_[j]; }
  void declare(std::vector<TensorInfo>& table) {
    for (std::size_t j = 0; j < info_.size(); ++j) {
      ids_[j] = table.size();
      table.push_back(info_[j]);
    }
  }
  void bind(const std::vector<TensorInfo>& table, T* params, T* grads) {
    for (std::size_t j = 0; j < info_.size(); ++j) {
      p_[j] = params + table[ids_[j]].offset;
      g_[j] = grads + table[ids_[j]].offset;
    }
  }
  const T* value(std::size_t j) const { return p_[j]; }
  /// Where parameter j's gradient goes in this backward, or null (frozen, non-trainable).
  T* grad(std::size_t j, const StepContext& ctx) const { return ctx.frozen || !info_[j].trainable ? nullptr : g_[j]; }

 private:
  std::vector<TensorInfo> info_;
  std::vector<std::size_t> ids_;
  std::vector<T*> p_, g_;
};

template <class T> std::unique_ptr<Layer<T>> make_unary(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_broadcast(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_axis_op(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_matmul(const LayerSpec& s, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_gather(const LayerSpec& s, const std::vector<index_t>& in_dims);

}  // namespace dnnx::ops

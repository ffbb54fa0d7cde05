// dnnx public C++ API, base layer (below the GEMM and the network core; built into
// dnnx_common): activation functions (Keras 3 definitions and defaults).
//
// Elementwise activations can run inside the GEMM epilogue (the macro-kernel calls
// act_forward on each tile while it is in L1; relu runs in the micro-kernel itself), so
// this file and common/activations.cpp may use nothing of the GEMM or the network core.
// softmax and log_softmax are row-wise (over the last axis) and run as their own pass.
#pragma once
#include <string>

#include "dnnx/common.hpp"

namespace dnnx {

enum class Act : int {
  linear = 0,
  relu,
  leaky_relu,    // alpha = negative_slope (Keras 3 default 0.2)
  elu,           // alpha (default 1.0)
  selu,
  gelu,          // exact, erf-based (Keras 3 default approximate=False)
  silu,          // a.k.a. swish
  tanh,
  sigmoid,
  hard_sigmoid,  // Keras 3: relu6(x + 3) / 6
  softplus,
  softsign,
  softmax,       // row-wise
  log_softmax,   // row-wise
};

struct ActParams {
  Act kind = Act::linear;
  double alpha = 0.0;  // leaky_relu negative_slope, elu alpha; ignored otherwise
};

/// Parse a Keras activation name ("relu", "swish", ...). Throws std::invalid_argument.
Act act_from_name(const std::string& name);
const char* act_name(Act a) noexcept;
/// Default alpha for an activation (0.2 for leaky_relu, 1.0 for elu, else 0).
double act_default_alpha(Act a) noexcept;
inline bool act_is_rowwise(Act a) noexcept { return a == Act::softmax || a == Act::log_softmax; }

/// y = f(z) over a rows x cols block (row strides ldz, ldy). z and y may alias exactly.
/// Row-wise activations normalise each row.
template <class T>
void act_forward(ActParams p, index_t rows, index_t cols, const T* z, index_t ldz, T* y, index_t ldy);

/// dz = dy * f'(z) over a rows x cols block, given the pre-activation z and output y = f(z)
/// (each activation reads whichever it needs; z may be null for relu, sigmoid, tanh,
/// softmax, log_softmax, linear). dz may alias dy exactly. Contiguous rows (ld = cols).
/// Portable loops only: the network core sends float relu to its SIMD kernel instead
/// (detail::act_backward_rows), which gives the same bits.
template <class T>
void act_backward(ActParams p, index_t rows, index_t cols, const T* z, const T* y, const T* dy, T* dz);

/// True when act_backward needs z (the pre-activation), i.e. y alone does not suffice.
bool act_backward_needs_z(Act a) noexcept;

}  // namespace dnnx

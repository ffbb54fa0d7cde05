// Activations: forward and backward side by side (Keras 3 definitions).
#include "dnnx/activations.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace dnnx {
namespace {

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <class T> inline T sigmoid(T x) {
  // Stable for large |x|: never evaluates exp of a large positive number.
  if (x >= T(0)) { T e = std::exp(-x); return T(1) / (T(1) + e); }
  T e = std::exp(x);
  return e / (T(1) + e);
}
template <class T> inline T softplus(T x) { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }

template <class T> inline T fwd(Act a, T al, T x) {
  switch (a) {
    case Act::linear: return x;
    case Act::relu: return x < T(0) ? T(0) : x;  // NaN propagates, as max(x, 0) in NumPy/BLAS
    case Act::leaky_relu: return x >= T(0) ? x : al * x;
    case Act::elu: return x > T(0) ? x : al * std::expm1(x);
    case Act::selu: return T(kSeluScale) * (x > T(0) ? x : T(kSeluAlpha) * std::expm1(x));
    case Act::gelu: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
    case Act::silu: return x * sigmoid(x);
    case Act::tanh: return std::tanh(x);
    case Act::sigmoid: return sigmoid(x);
    case Act::hard_sigmoid: return std::min(std::max(x / T(6) + T(0.5), T(0)), T(1));
    case Act::softplus: return softplus(x);
    case Act::softsign: return x / (std::abs(x) + T(1));
    default: return x;
  }
}

// Derivative f'(z) given z and y = f(z).
template <class T> inline T deriv(Act a, T al, T z, T y) {
  switch (a) {
    case Act::linear: return T(1);
    case Act::relu: return y > T(0) ? T(1) : T(0);
    case Act::leaky_relu: return z >= T(0) ? T(1) : al;
    case Act::elu: return z > T(0) ? T(1) : y + al;
    case Act::selu: return z > T(0) ? T(kSeluScale) : y + T(kSeluScale * kSeluAlpha);
    case Act::gelu: return T(0.5) * (T(1) + std::erf(z * T(kInvSqrt2))) + z * T(kInvSqrt2Pi) * std::exp(T(-0.5) * z * z);
    case Act::silu: { T s = sigmoid(z); return s * (T(1) + z * (T(1) - s)); }
    case Act::tanh: return T(1) - y * y;
    case Act::sigmoid: return y * (T(1) - y);
    case Act::hard_sigmoid: return (z > T(-3) && z < T(3)) ? T(1) / T(6) : T(0);
    case Act::softplus: return sigmoid(z);
    case Act::softsign: { T d = std::abs(z) + T(1); return T(1) / (d * d); }
    default: return T(1);
  }
}

// One loop per activation, so the switch runs once per row block, not once per element,
// and each loop body is a straight-line function the compiler can vectorize.
template <Act A, class T>
void fwd_rows(T al, index_t rows, index_t cols, const T* z, index_t ldz, T* y, index_t ldy) {
  for (index_t i = 0; i < rows; ++i) {
    const T* zr = z + i * ldz;
    T* yr = y + i * ldy;
    for (index_t j = 0; j < cols; ++j) yr[j] = fwd(A, al, zr[j]);
  }
}

template <Act A, class T>
void bwd_flat(T al, index_t n, const T* z, const T* y, const T* dy, T* dz) {
  for (index_t i = 0; i < n; ++i) dz[i] = dy[i] * deriv(A, al, z ? z[i] : T(0), y ? y[i] : T(0));
}

template <class T>
void rowwise_forward(Act a, index_t rows, index_t cols, const T* z, index_t ldz, T* y, index_t ldy) {
  for (index_t i = 0; i < rows; ++i) {
    const T* zr = z + i * ldz;
    T* yr = y + i * ldy;
    if (cols == 0) continue;
    T mx = zr[0];
    for (index_t j = 1; j < cols; ++j) mx = std::max(mx, zr[j]);
    T s = 0;
    if (a == Act::softmax) {
      for (index_t j = 0; j < cols; ++j) { T e = std::exp(zr[j] - mx); yr[j] = e; s += e; }
      T inv = T(1) / s;
      for (index_t j = 0; j < cols; ++j) yr[j] *= inv;
    } else {
      for (index_t j = 0; j < cols; ++j) s += std::exp(zr[j] - mx);
      T lse = mx + std::log(s);
      for (index_t j = 0; j < cols; ++j) yr[j] = zr[j] - lse;
    }
  }
}

}  // namespace

Act act_from_name(const std::string& name) {
  static const struct { const char* n; Act a; } table[] = {
      {"linear", Act::linear}, {"relu", Act::relu}, {"leaky_relu", Act::leaky_relu},
      {"elu", Act::elu}, {"selu", Act::selu}, {"gelu", Act::gelu}, {"silu", Act::silu},
      {"swish", Act::silu}, {"tanh", Act::tanh}, {"sigmoid", Act::sigmoid},
      {"hard_sigmoid", Act::hard_sigmoid}, {"softplus", Act::softplus},
      {"softsign", Act::softsign}, {"softmax", Act::softmax}, {"log_softmax", Act::log_softmax}};
  for (const auto& e : table)
    if (name == e.n) return e.a;
  throw std::invalid_argument("unknown activation '" + name +
                              "'; expected one of linear, relu, leaky_relu, elu, selu, gelu, silu, swish, "
                              "tanh, sigmoid, hard_sigmoid, softplus, softsign, softmax, log_softmax");
}

const char* act_name(Act a) noexcept {
  switch (a) {
    case Act::linear: return "linear";
    case Act::relu: return "relu";
    case Act::leaky_relu: return "leaky_relu";
    case Act::elu: return "elu";
    case Act::selu: return "selu";
    case Act::gelu: return "gelu";
    case Act::silu: return "silu";
    case Act::tanh: return "tanh";
    case Act::sigmoid: return "sigmoid";
    case Act::hard_sigmoid: return "hard_sigmoid";
    case Act::softplus: return "softplus";
    case Act::softsign: return "softsign";
    case Act::softmax: return "softmax";
    case Act::log_softmax: return "log_softmax";
  }
  return "?";
}

double act_default_alpha(Act a) noexcept {
  return a == Act::leaky_relu ? 0.2 : (a == Act::elu ? 1.0 : 0.0);
}

bool act_backward_needs_z(Act a) noexcept {
  switch (a) {
    case Act::linear: case Act::relu: case Act::tanh: case Act::sigmoid:
    case Act::softmax: case Act::log_softmax:
      return false;
    default:
      return true;
  }
}

template <class T>
void act_forward(ActParams p, index_t rows, index_t cols, const T* z, index_t ldz, T* y, index_t ldy) {
  if (act_is_rowwise(p.kind)) { rowwise_forward(p.kind, rows, cols, z, ldz, y, ldy); return; }
  const T al = static_cast<T>(p.alpha);
  switch (p.kind) {
#define DNNX_FWD(A) case Act::A: fwd_rows<Act::A>(al, rows, cols, z, ldz, y, ldy); return;
    DNNX_FWD(relu) DNNX_FWD(leaky_relu) DNNX_FWD(elu) DNNX_FWD(selu) DNNX_FWD(gelu) DNNX_FWD(silu)
    DNNX_FWD(tanh) DNNX_FWD(sigmoid) DNNX_FWD(hard_sigmoid) DNNX_FWD(softplus) DNNX_FWD(softsign)
#undef DNNX_FWD
    default:  // linear
      for (index_t i = 0; i < rows; ++i)
        if (z + i * ldz != y + i * ldy) std::memcpy(y + i * ldy, z + i * ldz, static_cast<std::size_t>(cols) * sizeof(T));
  }
}

template <class T>
void act_backward(ActParams p, index_t rows, index_t cols, const T* z, const T* y, const T* dy, T* dz) {
  const Act a = p.kind;
  const T al = static_cast<T>(p.alpha);
  const index_t n = rows * cols;
  switch (a) {
    case Act::linear:
      if (dz != dy) for (index_t i = 0; i < n; ++i) dz[i] = dy[i];
      return;
    case Act::relu:
      for (index_t i = 0; i < n; ++i) dz[i] = y[i] > T(0) ? dy[i] : T(0);
      return;
    case Act::softmax:
      for (index_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols; const T* g = dy + r * cols; T* o = dz + r * cols;
        T s = 0;
        for (index_t j = 0; j < cols; ++j) s += g[j] * yr[j];
        for (index_t j = 0; j < cols; ++j) o[j] = yr[j] * (g[j] - s);
      }
      return;
    case Act::log_softmax:
      for (index_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols; const T* g = dy + r * cols; T* o = dz + r * cols;
        T s = 0;
        for (index_t j = 0; j < cols; ++j) s += g[j];
        for (index_t j = 0; j < cols; ++j) o[j] = g[j] - std::exp(yr[j]) * s;
      }
      return;
#define DNNX_BWD(A) case Act::A: bwd_flat<Act::A>(al, n, z, y, dy, dz); return;
    DNNX_BWD(leaky_relu) DNNX_BWD(elu) DNNX_BWD(selu) DNNX_BWD(gelu) DNNX_BWD(silu) DNNX_BWD(tanh)
    DNNX_BWD(sigmoid) DNNX_BWD(hard_sigmoid) DNNX_BWD(softplus) DNNX_BWD(softsign)
#undef DNNX_BWD
    default: return;
  }
}

template void act_forward<float>(ActParams, index_t, index_t, const float*, index_t, float*, index_t);
template void act_forward<double>(ActParams, index_t, index_t, const double*, index_t, double*, index_t);
template void act_backward<float>(ActParams, index_t, index_t, const float*, const float*, const float*, float*);
template void act_backward<double>(ActParams, index_t, index_t, const double*, const double*, const double*, double*);

}  // namespace dnnx

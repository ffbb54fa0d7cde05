// dnnx public C++ API: weight initializers (Keras 3 names and formulas).
//
// Variance scaling: glorot = (scale 1, fan_avg), he = (scale 2, fan_in), lecun = (scale 1,
// fan_in). Uniform draws from [-limit, limit] with limit = sqrt(3 * scale / fan); normal
// draws a truncated normal (resampled beyond 2 sigma) with
// stddev = sqrt(scale / fan) / 0.87962566103423978, exactly as Keras does.
#pragma once
#include <cstdint>
#include <string>

#include "dnnx/common.hpp"

namespace dnnx {

enum class InitKind : int {
  zeros, ones, constant,
  glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
  random_uniform,  ///< U(minval, maxval) (Keras RandomUniform; Embedding's "uniform")
  random_normal,   ///< N(mean, stddev) (Keras RandomNormal, not truncated)
};

struct InitSpec {
  InitKind kind = InitKind::zeros;
  double value = 0.0;     ///< constant's value
  bool has_seed = false;  ///< false: derived from the network seed and the tensor index
  std::uint64_t seed = 0;
  double minval = -0.05, maxval = 0.05;  ///< random_uniform (Keras defaults)
  double mean = 0.0, stddev = 0.05;      ///< random_normal (Keras defaults)
};

/// Parse a Keras initializer name; throws std::invalid_argument naming the allowed values.
InitKind init_from_name(const std::string& name);
const char* init_name(InitKind k) noexcept;

/// Fill w[0..n) for a tensor with the given fans. Draws are keyed by (seed, stream) and
/// the element index, so they do not depend on the thread count.
template <class T>
void init_fill(const InitSpec& spec, index_t fan_in, index_t fan_out, index_t n, T* w, std::uint64_t seed,
               std::uint64_t stream);

}  // namespace dnnx

// Weight initializers: Keras 3 variance scaling over the counter-based RNG.
#include "dnnx/initializers.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "dnnx/rng.hpp"

namespace dnnx {
namespace {

// Keras' correction so that a normal truncated at 2 sigma has the requested stddev.
constexpr double kTruncCorrection = 0.87962566103423978;
constexpr double kTwoPi = 6.283185307179586476925286766559;

struct Scaling { double scale; bool fan_avg; bool uniform; };

Scaling scaling_of(InitKind k) {
  switch (k) {
    case InitKind::glorot_uniform: return {1.0, true, true};
    case InitKind::glorot_normal: return {1.0, true, false};
    case InitKind::he_uniform: return {2.0, false, true};
    case InitKind::he_normal: return {2.0, false, false};
    case InitKind::lecun_uniform: return {1.0, false, true};
    default: return {1.0, false, false};  // lecun_normal
  }
}

}  // namespace

namespace {
const struct { const char* n; InitKind k; } kInitNames[] = {
      {"zeros", InitKind::zeros}, {"ones", InitKind::ones}, {"constant", InitKind::constant},
      {"glorot_uniform", InitKind::glorot_uniform}, {"glorot_normal", InitKind::glorot_normal},
      {"he_uniform", InitKind::he_uniform}, {"he_normal", InitKind::he_normal},
      {"lecun_uniform", InitKind::lecun_uniform}, {"lecun_normal", InitKind::lecun_normal},
      {"random_uniform", InitKind::random_uniform}, {"uniform", InitKind::random_uniform},
      {"random_normal", InitKind::random_normal}, {"normal", InitKind::random_normal}};
}  // namespace

const char* init_name(InitKind k) noexcept {
  for (const auto& e : kInitNames)
    if (e.k == k) return e.n;
  return "zeros";
}

InitKind init_from_name(const std::string& name) {
  for (const auto& e : kInitNames)
    if (name == e.n) return e.k;
  throw std::invalid_argument("unknown initializer '" + name +
                              "'; expected one of zeros, ones, constant, glorot_uniform, glorot_normal, "
                              "he_uniform, he_normal, lecun_uniform, lecun_normal, random_uniform, random_normal");
}

template <class T>
void init_fill(const InitSpec& spec, index_t fan_in, index_t fan_out, index_t n, T* w, std::uint64_t seed,
               std::uint64_t stream) {
  if (spec.kind == InitKind::zeros || spec.kind == InitKind::ones || spec.kind == InitKind::constant) {
    const T v = spec.kind == InitKind::zeros ? T(0) : spec.kind == InitKind::ones ? T(1) : T(spec.value);
    for (index_t i = 0; i < n; ++i) w[i] = v;
    return;
  }
  const std::uint64_t key = rng_key(spec.has_seed ? spec.seed : seed, RngStream::init, stream);
  if (spec.kind == InitKind::random_uniform) {
    for (index_t i = 0; i < n; ++i) {
      const auto r = philox4x32(key, 0, static_cast<std::uint64_t>(i));
      w[i] = T(spec.minval + (spec.maxval - spec.minval) * uniform53_open(r[0], r[1]));
    }
    return;
  }
  if (spec.kind == InitKind::random_normal) {
    for (index_t i = 0; i < n; ++i) {
      const auto r = philox4x32(key, 0, static_cast<std::uint64_t>(i));
      const double z = std::sqrt(-2.0 * std::log(uniform53_open(r[0], r[1]))) * std::cos(kTwoPi * uniform53_open(r[2], r[3]));
      w[i] = T(spec.mean + spec.stddev * z);
    }
    return;
  }
  const Scaling s = scaling_of(spec.kind);
  const double fan = std::max(1.0, s.fan_avg ? 0.5 * double(fan_in + fan_out) : double(fan_in));
  if (s.uniform) {
    const double limit = std::sqrt(3.0 * s.scale / fan);
    for (index_t i = 0; i < n; ++i) {
      const auto r = philox4x32(key, 0, static_cast<std::uint64_t>(i));
      w[i] = T((2.0 * uniform53_open(r[0], r[1]) - 1.0) * limit);
    }
    return;
  }
  const double stddev = std::sqrt(s.scale / fan) / kTruncCorrection;
  for (index_t i = 0; i < n; ++i) {
    // Box-Muller on the element's own counter; a draw beyond 2 sigma is redrawn with the
    // next round number, so each element's value depends on nothing but (key, i).
    double z = 0.0;
    for (std::uint64_t round = 0;; ++round) {
      const auto r = philox4x32(key, round, static_cast<std::uint64_t>(i));
      z = std::sqrt(-2.0 * std::log(uniform53_open(r[0], r[1]))) * std::cos(kTwoPi * uniform53_open(r[2], r[3]));
      if (std::abs(z) <= 2.0) break;
    }
    w[i] = T(z * stddev);
  }
}

template void init_fill<float>(const InitSpec&, index_t, index_t, index_t, float*, std::uint64_t, std::uint64_t);
template void init_fill<double>(const InitSpec&, index_t, index_t, index_t, double*, std::uint64_t, std::uint64_t);

}  // namespace dnnx

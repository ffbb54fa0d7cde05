// Dropout (Keras layers.Dropout): in training each element is kept with probability
// 1 - rate and scaled by 1 / (1 - rate); at inference it is the identity.
//
// The keep decision for element e of layer l in training pass c is a pure function of
// (seed, l, c, e) through Philox, so masks reproduce exactly and do not depend on the
// thread count. The mask (0 or the scale) is cached for backward: dx = dy * mask.
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"
#include "dnnx/rng.hpp"

namespace dnnx {
namespace {

template <class T>
class Dropout final : public Layer<T> {
 public:
  Dropout(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim), spec_(s) {}

  index_t cache_size(index_t n) const override { return n * this->in_dim_; }

  void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const override {
    const index_t count = n * this->in_dim_;
    if (!ctx.training || spec_.rate == 0.0) {
      if (x != y) std::memcpy(y, x, static_cast<std::size_t>(count) * sizeof(T));
      return;
    }
    const std::uint64_t key =
        rng_key(spec_.has_seed ? spec_.seed : ctx.seed, RngStream::dropout, static_cast<std::uint64_t>(ctx.layer_index));
    const double rate = spec_.rate;
    const T scale = T(1.0 / (1.0 - rate));
    // Chunks are multiples of 4: one Philox call yields the draws of 4 consecutive elements.
    const nnk::Table* simd = nullptr;
    if constexpr (std::is_same_v<T, float>) {
      // The SIMD kernel numbers Philox counters with 32 bits (any realistic layer).
      if (count / 4 < (index_t(1) << 32) - nnk::kDropoutBlock) simd = nnk::active();
    }
    // uniform24(u) >= rate  <=>  (u >> 8) >= ceil(rate * 2^24): exact, both sides.
    const auto thr = static_cast<std::uint32_t>(std::ceil(rate * 16777216.0));
    detail::parallel_chunks(count, 4096, count * 8, [&](index_t e0, index_t e1) {
      if constexpr (std::is_same_v<T, float>) {
        if (simd) {
          const index_t blocks = (e1 - e0) / nnk::kDropoutBlock;
          simd->dropout_fwd(blocks, key, ctx.counter, static_cast<std::uint32_t>(e0 / 4), thr, scale, x + e0, y + e0,
                            cache + e0);
          e0 += blocks * nnk::kDropoutBlock;
        }
      }
      for (index_t e = e0; e < e1; e += 4) {
        const auto r = philox4x32(key, ctx.counter, static_cast<std::uint64_t>(e / 4));
        for (index_t j = 0; j < 4 && e + j < e1; ++j) {
          const T m = uniform24(r[j]) >= rate ? scale : T(0);
          cache[e + j] = m;
          y[e + j] = x[e + j] * m;
        }
      }
    });
  }

  void backward(const StepContext&, index_t n, const T*, const T*, T* dy, T* dx, const T* cache, bool) const override {
    if (!dx) return;
    const index_t count = n * this->in_dim_;
    // rate 0 keeps no mask (forward was a copy).
    if (spec_.rate == 0.0) { std::memcpy(dx, dy, static_cast<std::size_t>(count) * sizeof(T)); return; }
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) { k->mul(count, dy, cache, dx); return; }
    }
    for (index_t i = 0; i < count; ++i) dx[i] = dy[i] * cache[i];
  }

 private:
  LayerSpec spec_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_dropout(const LayerSpec& spec, index_t in_dim) {
  if (!(spec.rate >= 0.0 && spec.rate < 1.0))
    throw std::invalid_argument("dropout: rate must be in [0, 1); received rate=" + std::to_string(spec.rate));
  return std::make_unique<Dropout<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_dropout<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_dropout<double>(const LayerSpec&, index_t);

LayerDecl dropout_declaration() {
  LayerDecl d = one_input_decl<make_dropout<float>, make_dropout<double>>("dropout", LayerKind::dropout);
  d.field("rate", &LayerSpec::rate).seed_field("seed");
  return d;
}

}  // namespace dnnx

// CategoryEncoding (Keras layers.CategoryEncoding): int64 IDs in [0, num_tokens) (n x k)
// -> dense encodings.
//
// one_hot  : y[r, j, id[r, j]] = 1            (n x k*num_tokens; Keras's (batch, k, num_tokens))
// multi_hot: y[r, id[r, j]] = 1 for every j   (n x num_tokens)
// count    : y[r, id[r, j]] += 1              (n x num_tokens)
// The IDs arrive as `reinterpret_cast<const T*>` of the int64 array (int_input()) and are
// checked by check_ids before any step. There is nothing to train and no input gradient
// (the input is integers), so backward does nothing.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

enum Mode : index_t { one_hot = 0, multi_hot = 1, count = 2 };

template <class T>
class CategoryEncoding final : public Layer<T> {
 public:
  CategoryEncoding(const LayerSpec& s, index_t in_dim, index_t out_dim) : Layer<T>(s.name, in_dim, out_dim), spec_(s) {}

  bool int_input() const override { return true; }

  void check_ids(index_t n, const std::int64_t* ids) const override {
    const index_t total = n * this->in_dim_;
    for (index_t i = 0; i < total; ++i)
      if (ids[i] < 0 || ids[i] >= spec_.num_tokens)
        throw std::invalid_argument("category_encoding layer '" + this->name_ + "': value " + std::to_string(ids[i]) +
                                    " at row " + std::to_string(i / this->in_dim_) + " is out of range [0, " +
                                    std::to_string(spec_.num_tokens) + ") (num_tokens=" +
                                    std::to_string(spec_.num_tokens) + ")");
  }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const auto* ids = reinterpret_cast<const std::int64_t*>(x);
    const index_t k = this->in_dim_, w = this->out_dim_, m = spec_.num_tokens;
    detail::parallel_chunks(n, 256, n * w, [&](index_t r0, index_t r1) {
      std::memset(static_cast<void*>(y + r0 * w), 0, static_cast<std::size_t>((r1 - r0) * w) * sizeof(T));
      for (index_t r = r0; r < r1; ++r) {
        const std::int64_t* id = ids + r * k;
        T* yr = y + r * w;
        for (index_t j = 0; j < k; ++j) {
          if (spec_.output_mode == one_hot) yr[j * m + id[j]] = T(1);
          else if (spec_.output_mode == multi_hot) yr[id[j]] = T(1);
          else yr[id[j]] += T(1);
        }
      }
    });
  }

  void backward(const StepContext&, index_t, const T*, const T*, T*, T*, const T*, bool) const override {}

 private:
  LayerSpec spec_;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_category_encoding(const LayerSpec& spec, index_t in_dim) {
  if (spec.num_tokens < 1)
    throw std::invalid_argument("category_encoding: num_tokens must be a positive integer; received num_tokens=" +
                                std::to_string(spec.num_tokens));
  index_t out = spec.num_tokens;
  if (spec.output_mode == one_hot && mul_overflows(in_dim, spec.num_tokens, &out))
    throw std::invalid_argument("category_encoding layer '" + spec.name + "': num_tokens=" +
                                std::to_string(spec.num_tokens) + " is too large");
  return std::make_unique<CategoryEncoding<T>>(spec, in_dim, out);
}

template std::unique_ptr<Layer<float>> make_category_encoding<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_category_encoding<double>(const LayerSpec&, index_t);

LayerDecl category_encoding_declaration() {
  LayerDecl d = one_input_decl<make_category_encoding<float>, make_category_encoding<double>>(
      "category_encoding", LayerKind::category_encoding);
  d.field("num_tokens", &LayerSpec::num_tokens)
      .choice_field("output_mode", &LayerSpec::output_mode, {"one_hot", "multi_hot", "count"});
  return d;
}

}  // namespace dnnx

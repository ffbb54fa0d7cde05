// Embedding (Keras layers.Embedding): int64 IDs (n x k) -> their rows of the table
// (n x k*dim, i.e. (batch, k, dim) flattened).
//
// forward : y[r, j, :] = E[id[r, j], :] (IDs are checked by check_ids before any step).
// backward: dE = 0, then dE[id[r, j], :] += dy[r, j, :] in row order, so repeated IDs in
//           a batch accumulate and the sum has a fixed order (any thread count). Columns of
//           the table are independent, so threads split the columns, never the rows.
// The IDs arrive as `reinterpret_cast<const T*>` of the int64 array (int_input()): they
// are never converted to floating point, so every int64 ID is exact.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class Embedding final : public Layer<T> {
 public:
  Embedding(const LayerSpec& s, index_t in_dim) : Layer<T>(s.name, in_dim, in_dim * s.units), spec_(s) {}

  bool int_input() const override { return true; }

  void declare(std::vector<TensorInfo>& table) override {
    TensorInfo t;
    t.name = this->name_ + "/embeddings";
    t.shape = {spec_.input_dim, spec_.units};
    t.size = spec_.input_dim * spec_.units;
    t.init = spec_.embeddings_init;
    t.fan_in = spec_.input_dim;
    t.fan_out = spec_.units;
    t.reg = spec_.embeddings_reg;
    id_ = table.size();
    table.push_back(t);
  }

  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override {
    e_ = params + t[id_].offset;
    de_ = grads + t[id_].offset;
  }

  void check_ids(index_t n, const std::int64_t* ids) const override {
    const index_t count = n * this->in_dim_;
    for (index_t i = 0; i < count; ++i)
      if (ids[i] < 0 || ids[i] >= spec_.input_dim)
        throw std::invalid_argument("embedding layer '" + this->name_ + "': ID " + std::to_string(ids[i]) +
                                    " at row " + std::to_string(i / this->in_dim_) + " is out of range [0, " +
                                    std::to_string(spec_.input_dim) + ") (input_dim=" +
                                    std::to_string(spec_.input_dim) + ")");
  }

  void forward(const StepContext&, index_t n, const T* x, T* y, T*) const override {
    const auto* ids = reinterpret_cast<const std::int64_t*>(x);
    const index_t count = n * this->in_dim_, d = spec_.units;
    detail::parallel_chunks(count, 256, count * d, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i)
        std::memcpy(y + i * d, e_ + ids[i] * d, static_cast<std::size_t>(d) * sizeof(T));
    });
  }

  void backward(const StepContext& ctx, index_t n, const T* x, const T*, T* dy, T*, const T*, bool) const override {
    if (ctx.frozen) return;
    const auto* ids = reinterpret_cast<const std::int64_t*>(x);
    const index_t count = n * this->in_dim_, d = spec_.units;
    const index_t table = spec_.input_dim * d;
    detail::parallel_chunks(table, 1 << 16, table, [&](index_t i0, index_t i1) {
      std::memset(static_cast<void*>(de_ + i0), 0, static_cast<std::size_t>(i1 - i0) * sizeof(T));
    });
    detail::parallel_chunks(d, 64, count * d, [&](index_t j0, index_t j1) {
      for (index_t i = 0; i < count; ++i) {
        T* dst = de_ + ids[i] * d;
        const T* src = dy + i * d;
        for (index_t j = j0; j < j1; ++j) dst[j] += src[j];
      }
    });
  }

 private:
  LayerSpec spec_;
  std::size_t id_ = 0;
  T *e_ = nullptr, *de_ = nullptr;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_embedding(const LayerSpec& spec, index_t in_dim) {
  if (spec.input_dim < 1)
    throw std::invalid_argument("embedding: input_dim must be a positive integer; received input_dim=" +
                                std::to_string(spec.input_dim));
  if (spec.units < 1)
    throw std::invalid_argument("embedding: output_dim must be a positive integer; received output_dim=" +
                                std::to_string(spec.units));
  index_t out = 0, table = 0;
  if (mul_overflows(in_dim, spec.units, &out) || mul_overflows(spec.input_dim, spec.units, &table))
    throw std::invalid_argument("embedding layer '" + spec.name + "': input_dim=" + std::to_string(spec.input_dim) +
                                ", output_dim=" + std::to_string(spec.units) + " is too large");
  return std::make_unique<Embedding<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_embedding<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_embedding<double>(const LayerSpec&, index_t);

LayerDecl embedding_declaration() {
  LayerDecl d = one_input_decl<make_embedding<float>, make_embedding<double>>("embedding", LayerKind::embedding);
  d.field("input_dim", &LayerSpec::input_dim)
      .field("output_dim", &LayerSpec::units)
      .field("embeddings_initializer", &LayerSpec::embeddings_init)
      .field("embeddings_regularizer", &LayerSpec::embeddings_reg);
  return d;
}

}  // namespace dnnx

// Dense: y = act(x W + b), W is (in, units) as Keras stores it.
//
// forward : one NN gemm whose epilogue adds the bias, applies the activation and stores
//           the pre-activation z when backward needs it (no extra pass over memory).
// backward: dZ = dY * f'(z) in place and db = column sums of dZ (one pass for relu and
//           linear), dW = X^T dZ (gemm TN, beta 0), dX = dZ W^T (gemm NT; beta 1 where
//           the input fans out and dX adds to another node's gradient), skipped when
//           nothing upstream needs it.
// predict and evaluate (not training): the same product against W packed once for the
//           GEMM kernel (PackedB), so a small batch pays no packing: the pack is rebuilt
//           lazily when the network's params_version or the active GEMM kernel changed.
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "../kernels.hpp"
#include "dnnx/gemm.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/layers.hpp"

namespace dnnx {
namespace {

template <class T>
class Dense final : public Layer<T> {
 public:
  Dense(const LayerSpec& s, index_t in_dim)
      : Layer<T>(s.name, in_dim, s.units), spec_(s), needs_z_(act_backward_needs_z(s.act.kind)) {}

  void declare(std::vector<TensorInfo>& table) override {
    TensorInfo k;
    k.name = this->name_ + "/kernel";
    k.shape = {this->in_dim_, this->out_dim_};
    k.size = this->in_dim_ * this->out_dim_;
    k.init = spec_.kernel_init;
    k.fan_in = this->in_dim_;
    k.fan_out = this->out_dim_;
    k.reg = spec_.kernel_reg;
    kernel_id_ = table.size();
    table.push_back(k);
    if (spec_.use_bias) {
      TensorInfo b;
      b.name = this->name_ + "/bias";
      b.shape = {this->out_dim_};
      b.size = this->out_dim_;
      b.init = spec_.bias_init;
      b.fan_in = b.fan_out = this->out_dim_;
      b.reg = spec_.bias_reg;
      bias_id_ = table.size();
      table.push_back(b);
    }
  }

  void bind(const std::vector<TensorInfo>& t, T* params, T* grads) override {
    w_ = params + t[kernel_id_].offset;
    dw_ = grads + t[kernel_id_].offset;
    if (spec_.use_bias) {
      b_ = params + t[bias_id_].offset;
      db_ = grads + t[bias_id_].offset;
    }
  }

  index_t cache_size(index_t n) const override { return store_z() ? n * this->out_dim_ : 0; }

  void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const override {
    const index_t in = this->in_dim_, out = this->out_dim_;
    if (!ctx.training) { infer(ctx, n, x, y, cache && store_z() ? cache : nullptr); return; }
    T* z = (cache && store_z()) ? cache : nullptr;
    apply(n, y, z, z && ctx.output_unused, [&](T* c, const Epilogue<T>* ep) {
      gemm<T>(Trans::N, Trans::N, n, out, in, T(1), x, in, w_, out, T(0), c, out, ep);
    });
  }

  void backward(const StepContext& ctx, index_t n, const T* x, const T* y, T* dy, T* dx, const T* cache,
                bool dy_is_preact) const override {
    const index_t in = this->in_dim_, out = this->out_dim_;
    const Act a = dy_is_preact ? Act::linear : spec_.act.kind;
    T* db = ctx.frozen ? nullptr : db_;  // frozen: only the input gradient
    if (a == Act::relu || a == Act::linear) {
      // One pass: the ReLU mask (in place) and the bias gradient's column sums.
      detail::relu_backward_colsum<T>(a == Act::relu, n, out, y, dy, db);
    } else {
      detail::act_backward_rows<T>(spec_.act, n, out, needs_z_ ? cache : nullptr, y, dy, dy);
      if (db) detail::column_sums(n, out, dy, db);
    }
    if (!ctx.frozen) gemm<T>(Trans::T, Trans::N, in, out, n, T(1), x, in, dy, out, T(0), dw_, out);
    if (dx) gemm<T>(Trans::N, Trans::T, n, in, out, T(1), dy, out, w_, out, ctx.accumulate_dx ? T(1) : T(0), dx, in);
  }

  bool accumulates_dx() const override { return true; }

  Act output_act() const override { return spec_.act.kind; }
  void keep_logits(bool on) override { keep_logits_ = on; }
  const T* logits(const T*, const T* cache) const override { return cache; }

 private:
  bool store_z() const noexcept { return needs_z_ || keep_logits_; }

  // Inference (predict, evaluate): y = act(x Wp + b) with the cached pack Wp; z, when
  // non-null, receives the pre-activation (evaluate's fused loss reads the logits).
  void infer(const StepContext& ctx, index_t n, const T* x, T* y, T* z) const {
    const std::shared_ptr<const PackedB<T>> pin = packed(ctx.params_version);  // alive for this call
    apply(n, y, z, false, [&](T* c, const Epilogue<T>* ep) {
      gemm_packed<T>(Trans::N, n, T(1), x, this->in_dim_, *pin, T(0), c, this->out_dim_, ep);
    });
  }

  // y = act(x W + b) through product(C, epilogue or nullptr), which computes x W (+ the
  // epilogue) into C; z, when non-null, receives the pre-activation. Elementwise
  // activations are fused into the product; softmax/log_softmax normalise whole rows, so
  // they run after it (skipped when only the logits in z are needed: skip_rows).
  template <class Product>
  void apply(index_t n, T* y, T* z, bool skip_rows, Product&& product) const {
    const index_t out = this->out_dim_;
    Epilogue<T> ep;
    ep.bias = b_;
    if (act_is_rowwise(spec_.act.kind)) {
      T* target = z ? z : y;
      product(target, b_ ? &ep : nullptr);
      if (!skip_rows) detail::act_forward_rows<T>(spec_.act, n, out, target, y);
      return;
    }
    ep.act = spec_.act;
    ep.preact = z;
    ep.ldp = out;
    const bool any = b_ || z || spec_.act.kind != Act::linear;
    product(y, any ? &ep : nullptr);
  }

  // The pack of W for params_version `version` and the active kernel. A stale pack is
  // replaced by a new one under the lock, never rewritten in place: a concurrent predict
  // that still multiplies with the old pack holds its own reference (the shared_ptr it
  // got), so a refresh triggered by another thread (params_changed while weight views are
  // live) can never change the operand under it.
  std::shared_ptr<const PackedB<T>> packed(std::uint64_t version) const {
    const std::string kernel = active_kernel();  // short name: no allocation
    std::lock_guard<std::mutex> lock(pack_->mu);
    if (!pack_->w || pack_->version != version || pack_->kernel != kernel) {
      auto fresh = std::make_shared<PackedB<T>>();
      fresh->pack(Trans::N, this->in_dim_, this->out_dim_, w_, this->out_dim_);
      pack_->w = std::move(fresh);
      pack_->version = version;
      pack_->kernel = kernel;
    }
    return pack_->w;
  }

  struct Pack {
    std::mutex mu;
    std::shared_ptr<const PackedB<T>> w;
    std::uint64_t version = 0;  // 0: never packed (versions start at 1)
    std::string kernel;
  };
  std::unique_ptr<Pack> pack_ = std::make_unique<Pack>();

  LayerSpec spec_;
  bool needs_z_;
  bool keep_logits_ = false;
  std::size_t kernel_id_ = 0, bias_id_ = 0;
  T *w_ = nullptr, *dw_ = nullptr, *b_ = nullptr, *db_ = nullptr;
};

}  // namespace

template <class T>
std::unique_ptr<Layer<T>> make_dense(const LayerSpec& spec, index_t in_dim) {
  if (spec.units < 1)
    throw std::invalid_argument("dense: units must be a positive integer; received units=" + std::to_string(spec.units));
  index_t size = 0;
  if (mul_overflows(in_dim, spec.units, &size))
    throw std::invalid_argument("dense layer '" + spec.name + "': a kernel of " + std::to_string(in_dim) + " x " +
                                std::to_string(spec.units) + " is too large");
  return std::make_unique<Dense<T>>(spec, in_dim);
}

template std::unique_ptr<Layer<float>> make_dense<float>(const LayerSpec&, index_t);
template std::unique_ptr<Layer<double>> make_dense<double>(const LayerSpec&, index_t);

LayerDecl dense_declaration() {
  LayerDecl d = one_input_decl<make_dense<float>, make_dense<double>>("dense", LayerKind::dense);
  d.field("units", &LayerSpec::units)
      .field("activation", &LayerSpec::act)
      .field("use_bias", &LayerSpec::use_bias)
      .field("kernel_initializer", &LayerSpec::kernel_init)
      .field("bias_initializer", &LayerSpec::bias_init)
      .field("kernel_regularizer", &LayerSpec::kernel_reg)
      .field("bias_regularizer", &LayerSpec::bias_reg);
  return d;
}

}  // namespace dnnx

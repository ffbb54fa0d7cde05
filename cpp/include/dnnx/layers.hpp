// dnnx public C++ API: the layer interface and the layers a Network stacks.
//
// A layer owns no storage. Its parameters live in the network's parameter arena, their
// gradients in the gradient arena, and everything a forward pass keeps for backward (the
// layer's "cache") in the network's workspace; the layer holds pointers into those.
// forward and backward therefore never allocate.
//
// Shapes are row-major (batch, features): a tensor is n rows of a flat width (an
// Embedding's (batch, k, dim) output is k * dim wide). Most layers map one input of
// in_dim features to out_dim; merges (Add, Concatenate, ...) take several inputs, and
// Embedding takes int64 IDs. A layer may be applied at several nodes of the network's
// graph (shared weights): it keeps nothing per call, everything per call lives in the
// node's cache.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dnnx/activations.hpp"
#include "dnnx/common.hpp"
#include "dnnx/initializers.hpp"

namespace dnnx {

/// Keras L1L2 regularizer: penalty = l1 * sum|w| + l2 * sum w^2.
struct RegSpec {
  double l1 = 0.0, l2 = 0.0;
  bool active() const noexcept { return l1 != 0.0 || l2 != 0.0; }
};

enum class LayerKind : int {
  dense, activation, dropout, batch_normalization, layer_normalization,
  add, subtract, multiply, average, maximum, concatenate,  // merges: several inputs
  embedding,                                               // int64 IDs -> vectors
  identity,                                                // flatten, reshape, identity: a copy
  global_average_pooling1d,
  normalization,                                           // (x - mean) / std, adapted statistics
  category_encoding,                                       // int64 IDs -> one-hot / multi-hot / counts
  op,                                                      // a dnnx.ops op (ops.hpp: the op codes)
};

inline bool layer_is_merge(LayerKind k) noexcept { return k >= LayerKind::add && k <= LayerKind::concatenate; }

/// Everything any layer can be configured with (each kind reads its own fields). The
/// member initializers are the layers' defaults (see layer_decl.hpp).
struct LayerSpec {
  LayerKind kind = LayerKind::dense;
  std::string name;  ///< Keras-style unique name ("dense", "dense_1", ...), set by the network
  // dense
  index_t units = 0;
  bool use_bias = true;
  InitSpec kernel_init{InitKind::glorot_uniform};
  InitSpec bias_init{InitKind::zeros};
  RegSpec kernel_reg, bias_reg;
  // dense, activation
  ActParams act{};
  // dropout
  double rate = 0.0;
  bool has_seed = false;
  std::uint64_t seed = 0;
  // batch_normalization, layer_normalization
  double momentum = 0.99, epsilon = 1e-3;
  bool center = true, scale = true;
  // embedding: input_dim = vocabulary size, units = output_dim
  index_t input_dim = 0;
  InitSpec embeddings_init{InitKind::random_uniform, 0.0, false, 0, -0.05, 0.05};
  RegSpec embeddings_reg;
  // global_average_pooling1d: steps (the k of a (batch, k, dim) input)
  index_t steps = 1;
  // merges: the axis (only -1, the features)
  index_t axis = -1;
  // normalization: invert maps normalized values back (x * std + mean)
  bool invert = false;
  // category_encoding: num_tokens IDs in [0, num_tokens); output_mode indexes
  // {"one_hot", "multi_hot", "count"} (Keras's default: multi_hot)
  index_t num_tokens = 0;
  index_t output_mode = 1;
  // op (dnnx.ops; cpp/src/nn/layers/ops.hpp): which op, its scalar arguments, its shape
  // description (a list of integers whose layout each op family documents) and its
  // constant operand values (row-major)
  index_t op = 0;
  double op_a = 0.0, op_b = 0.0;
  bool op_ids = false;  ///< the input holds int64 IDs (a model input): cast, one_hot
  std::vector<index_t> op_dims;
  std::vector<double> op_values;
  // op parameters: the weights of Layer.add_weight that this op node owns (ops.hpp):
  // [count, then per parameter: trainable (0/1), rank, d_0 .. d_{rank-1}], their names
  // and their regularizers ([l1, l2] per parameter, or empty: none)
  std::vector<index_t> op_params;
  std::vector<std::string> op_param_names;
  std::vector<double> op_param_regularizers;
};

/// One parameter tensor: where it sits in the arenas and how to initialize/regularize it.
struct TensorInfo {
  std::string name;           ///< "dense/kernel", "batch_normalization/moving_mean", ...
  std::vector<index_t> shape;
  bool trainable = true;
  index_t offset = 0;         ///< into the parameter (and gradient) arena, set by the network
  index_t size = 0;
  InitSpec init;
  index_t fan_in = 1, fan_out = 1;
  RegSpec reg;
};

/// Per-call facts a layer may need.
struct StepContext {
  bool training = false;       ///< batch statistics, dropout active
  bool update_stats = false;   ///< BatchNormalization: move the moving statistics
  std::uint64_t seed = 0;      ///< network seed (dropout key)
  std::uint64_t counter = 0;   ///< RNG counter of this training pass (dropout)
  index_t layer_index = 0;
  /// Network::params_version() of this call: layers that cache something derived from
  /// their parameters (Dense's packed kernel for predict) refresh it when this changes.
  std::uint64_t params_version = 0;
  /// Nobody reads this layer's output y, only the logits it keeps (keep_logits): the last
  /// layer of a fused softmax + cross-entropy step without metrics may skip the softmax.
  bool output_unused = false;
  /// The layer is frozen (trainable = False): backward computes no parameter gradients
  /// (only the input gradient), and BatchNormalization runs in inference mode (Keras).
  bool frozen = false;
  /// backward adds the input gradient into dx instead of overwriting it (a tensor that
  /// feeds several nodes; only asked of layers whose accumulates_dx() is true).
  bool accumulate_dx = false;
};

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  index_t in_dim() const noexcept { return in_dim_; }
  index_t out_dim() const noexcept { return out_dim_; }
  const std::string& name() const noexcept { return name_; }

  /// Append this layer's tensors (Keras get_weights order) to `table`.
  virtual void declare(std::vector<TensorInfo>& table) { (void)table; }
  /// Receive the arena bases once the network has laid out every tensor.
  virtual void bind(const std::vector<TensorInfo>& table, T* params, T* grads) {
    (void)table; (void)params; (void)grads;
  }
  /// Workspace elements the training cache needs for a batch of n rows.
  virtual index_t cache_size(index_t n) const { (void)n; return 0; }

  /// y = layer(x) for n rows. cache is null for predict (nothing is kept for backward; the
  /// layer must not write any state visible to other calls, and must be safe to run
  /// concurrently with itself), non-null for training and evaluation.
  virtual void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const = 0;

  /// Given dy (which the layer may overwrite), write the parameter gradients (overwriting)
  /// and, when dx is non-null, the input gradient. dy_is_preact: dy is already the
  /// gradient with respect to the pre-activation (a fused softmax/sigmoid + cross-entropy).
  virtual void backward(const StepContext& ctx, index_t n, const T* x, const T* y, T* dy, T* dx,
                        const T* cache, bool dy_is_preact) const = 0;

  /// The elementwise/row-wise activation this layer ends with (linear if none).
  virtual Act output_act() const { return Act::linear; }
  /// Ask the layer to keep its pre-activation (the logits) for a fused loss.
  virtual void keep_logits(bool on) { (void)on; }
  /// The pre-activation of the last forward (valid after a forward with a cache).
  virtual const T* logits(const T* x, const T* cache) const { (void)cache; return x; }

  /// Several-input form (merges override it; single-input layers forward to the above).
  /// xs[i] is input i (n x in_dims()[i]); dxs[i] may be null (that gradient is not needed).
  virtual void forward_n(const StepContext& ctx, index_t n, const T* const* xs, T* y, T* cache) const {
    forward(ctx, n, xs[0], y, cache);
  }
  virtual void backward_n(const StepContext& ctx, index_t n, const T* const* xs, const T* y, T* dy, T* const* dxs,
                          const T* cache, bool dy_is_preact) const {
    backward(ctx, n, xs[0], y, dy, dxs[0], cache, dy_is_preact);
  }
  /// backward can add its input gradient into dx (StepContext::accumulate_dx), e.g. as a
  /// GEMM with beta = 1, saving the network a separate add pass.
  virtual bool accumulates_dx() const { return false; }
  /// Input widths (one entry per input).
  const std::vector<index_t>& in_dims() const noexcept { return in_dims_; }
  /// The input holds int64 IDs passed as `reinterpret_cast<const T*>` (Embedding).
  virtual bool int_input() const { return false; }
  /// Throws std::invalid_argument when an input value is not acceptable (Embedding: an
  /// ID outside [0, input_dim)), naming the layer and the row.
  virtual void check_ids(index_t n, const std::int64_t* ids) const { (void)n; (void)ids; }

 protected:
  Layer(std::string name, index_t in_dim, index_t out_dim)
      : name_(std::move(name)), in_dim_(in_dim), out_dim_(out_dim), in_dims_{in_dim} {}
  Layer(std::string name, std::vector<index_t> in_dims, index_t out_dim)
      : name_(std::move(name)), in_dim_(in_dims.empty() ? 0 : in_dims[0]), out_dim_(out_dim), in_dims_(std::move(in_dims)) {}
  std::string name_;
  index_t in_dim_, out_dim_;
  std::vector<index_t> in_dims_;
};

/// A layer written for several inputs (merges, broadcasting ops): the one-input entry
/// points forward to forward_n/backward_n with a one-element input list.
template <class T>
class MultiInputLayer : public Layer<T> {
 public:
  void forward(const StepContext& ctx, index_t n, const T* x, T* y, T* cache) const final {
    const T* xs[1] = {x};
    this->forward_n(ctx, n, xs, y, cache);
  }
  void backward(const StepContext& ctx, index_t n, const T* x, const T* y, T* dy, T* dx, const T* cache,
                bool dy_is_preact) const final {
    const T* xs[1] = {x};
    T* dxs[1] = {dx};
    this->backward_n(ctx, n, xs, y, dy, dxs, cache, dy_is_preact);
  }

 protected:
  using Layer<T>::Layer;
};

/// Build a layer from its spec for inputs of these widths (one entry per input; merges
/// take several); throws std::invalid_argument naming the layer and the widths.
template <class T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec, const std::vector<index_t>& in_dims);

template <class T> std::unique_ptr<Layer<T>> make_dense(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_activation(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_dropout(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_batch_normalization(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_layer_normalization(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_merge(const LayerSpec& spec, const std::vector<index_t>& in_dims);
template <class T> std::unique_ptr<Layer<T>> make_embedding(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_identity(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_global_average_pooling1d(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_normalization(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_category_encoding(const LayerSpec& spec, index_t in_dim);
template <class T> std::unique_ptr<Layer<T>> make_op(const LayerSpec& spec, const std::vector<index_t>& in_dims);

}  // namespace dnnx

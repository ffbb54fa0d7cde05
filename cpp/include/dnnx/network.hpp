// dnnx public C++ API: Network, a directed acyclic graph of layers with losses, an
// optimizer and metrics, trained entirely in C++.
//
//   Network<float> net(spec);            // graph checked, parameters initialized
//   net.configure(training_config);      // losses, optimizer, metrics ("compile")
//   net.train_epoch(data, 128, true, epoch, lrs, n_lrs, hooks);
//   net.predict(n, inputs, outputs, 0);
//
// Graph: tensors 0 .. I-1 are the model inputs (float features, or int64 IDs that only
// Embedding layers read, never converted to floating point); node j applies layer
// spec.nodes[j].layer to earlier tensors and produces tensor I + j. A layer applied at
// several nodes shares its weights (their gradients are summed); where a tensor feeds
// several nodes its gradients are summed, in reverse node order. Each output has its own
// loss (with a weight) and metrics. A Sequential model is the chain (node i = layer i on
// tensor i), and runs exactly the operations the chain always ran.
//
// Memory: every parameter lives in one 64-byte aligned arena (trainable tensors first, in
// get_weights order, then the non-trainable ones such as BatchNormalization's moving
// statistics), every gradient in a second arena of the same layout. The training
// workspace (each node's output and cache, the gradient buffers, the gathered batch) is
// planned once from the tensors' lifetimes for the largest batch seen and only grows; a
// training step never allocates. Gradient buffers are shared between tensors whose
// gradients are never live at once (a chain needs two: the classic ping-pong).
// predict/evaluate multiply with each Dense kernel packed once for the GEMM kernel (a
// second copy of the kernels, rebuilt lazily after params_version() moved), and predict
// keeps its small activation buffers per thread (planned the same way from the forward
// lifetimes): a small predict allocates nothing.
//
// Elementwise passes (optimizer rules, ReLU/bias gradients, dropout, regularization) run
// on SIMD kernels that follow the GEMM's kernel choice (set_kernel/DNNX_KERNEL; "ref" runs
// the portable loops) and give the same bits as the portable loops.
//
// Determinism: with the same seed and data, weights are bitwise identical for any thread
// count (gemm never splits k; every other reduction has a fixed order).
//
// Thread-safety: predict() may run concurrently with other predict() calls on the same
// network (per-thread workspace; the only shared state it touches is each Dense layer's
// packed-kernel cache, refreshed under a lock when params_version() or the GEMM kernel
// changed; so set_kernel() must not run while predicts on another thread are in flight).
// Everything else (train_*, evaluate, compute_gradients, configure, setters) needs
// exclusive access.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dnnx/common.hpp"
#include "dnnx/layers.hpp"
#include "dnnx/losses.hpp"
#include "dnnx/metrics.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {

struct InputSpec {
  std::string name;
  index_t dim = 0;       ///< flat width per sample
  bool is_int = false;   ///< int64 IDs (Embedding input)
};

struct NodeSpec {
  index_t layer = 0;              ///< index into NetworkSpec::layers
  std::vector<index_t> inputs;    ///< tensor ids (earlier tensors only)
  /// The layer sees each sample as `steps` rows of width / steps features: a Dense (or
  /// normalization, activation, concatenation) applied to the last axis of a
  /// (batch, steps, features) tensor, as Keras does.
  index_t steps = 1;
};

struct NetworkSpec {
  std::uint64_t seed = 0;
  std::vector<InputSpec> inputs;
  std::vector<LayerSpec> layers;
  std::vector<NodeSpec> nodes;
  std::vector<index_t> outputs;   ///< tensor ids
  std::vector<std::string> output_names;
  /// The chain form: when inputs and nodes are empty, one float input of input_dim
  /// features and node i = layer i applied to tensor i; the output is the last node's.
  index_t input_dim = 0;
  /// >= 0: refuse (std::invalid_argument, before allocating) a model with more parameters
  /// than this (a model file's config is checked against the weights the file holds).
  index_t max_params = -1;
};

/// One output's loss and metrics.
struct OutputConfig {
  bool has_loss = false;
  LossSpec loss;
  double weight = 1.0;         ///< Keras loss_weights
  std::string loss_key;        ///< its log key in multi-output models ("<output>_loss")
  std::vector<MetricSpec> metrics;
};

struct TrainingConfig {
  std::vector<OutputConfig> outputs;  ///< one per network output (fewer: the rest have none)
  bool has_optimizer = false;
  OptimizerSpec optimizer;
  /// false (Keras): the regularization penalty is added as is. true (scikit-learn's
  /// alpha, "divided by the sample size"): penalty and its gradient are divided by the
  /// batch's loss normalizer (n, or the sum of the weights with mean_with_sample_weight).
  /// Only with a single output that has a loss.
  bool penalty_like_loss = false;
  bool has_loss() const noexcept {
    for (const OutputConfig& o : outputs) if (o.has_loss) return true;
    return false;
  }
};

/// Borrowed input arrays (row-major, n rows): x[i] is input i (T, or std::int64_t for an
/// int input), y[o] output o's targets (label_cols(o) columns; null for an output with
/// neither loss nor metrics); sw may be null.
template <class T>
struct Batch {
  index_t n = 0;
  std::vector<const void*> x;
  std::vector<const T*> y;
  const T* sw = nullptr;
};

/// {"loss", value}, then (when several outputs have a loss) each output's loss, then each
/// metric, in configuration order.
using Logs = std::vector<std::pair<std::string, double>>;

/// What train_epoch calls back at batch boundaries (never from inside a parallel region).
struct EpochHooks {
  /// Called after every `callback_every`-th batch and after the last one (<= 0: only the
  /// last) with the running logs; returning true stops the epoch after that batch.
  std::function<bool(index_t batch, const Logs& logs)> on_batch;
  index_t callback_every = 0;
  /// Called after every batch that on_batch is not called for (e.g. to check for Ctrl-C:
  /// keep it cheap); may throw, and the epoch ends with that batch's step applied.
  std::function<void()> poll;
  /// Metrics computed outside C++ (Python Metric subclasses) read what each step saw: when
  /// non-empty (one entry per output, null to skip one), every step copies its outputs (the
  /// training forward pass, before the update) to record_outputs[o] (T, n x output_dim(o),
  /// rows in step order), and record_rows[r] (when set) gets the sample index of row r.
  std::vector<void*> record_outputs;
  std::int64_t* record_rows = nullptr;
};

template <class T>
class Network {
 public:
  using value_type = T;
  static constexpr index_t kDefaultChunk = 1024;
  /// Called in every training step between backward and the optimizer update with the
  /// whole gradient arena (arena_size() elements; data-parallel training averages it
  /// across processes here). Runs on the calling thread, outside any parallel region.
  using GradientHook = std::function<void(T* grads, index_t size)>;
  /// Called during a training step's backward, once per layer with trainable tensors, as
  /// soon as that layer's gradient range (its trainable tensors' gradients, the penalty's
  /// included) is final: data-parallel training starts the allreduce of a bucket of layers
  /// while backward goes on. Layers reach it in backward order (reverse layer order for a
  /// chain); a layer whose backward does not run (no loss reaches it), at the end of
  /// backward. Runs on the
  /// calling thread, outside any parallel region, before the gradient hook.
  using LayerGradientCallback = std::function<void(index_t layer)>;

  /// Check the graph, build the layers, lay out the arenas and initialize the parameters
  /// from spec.seed. Throws std::invalid_argument for an invalid spec.
  explicit Network(const NetworkSpec& spec);

  /// Set losses, optimizer and metrics ("compile"). A new optimizer starts from fresh
  /// state and iterations = 0.
  void configure(const TrainingConfig& config);
  const TrainingConfig& config() const noexcept { return config_; }

  index_t num_inputs() const noexcept { return static_cast<index_t>(inputs_.size()); }
  index_t num_outputs() const noexcept { return static_cast<index_t>(outputs_.size()); }
  const std::vector<InputSpec>& inputs() const noexcept { return inputs_; }
  const std::vector<std::string>& output_names() const noexcept { return output_names_; }
  index_t input_dim(index_t i = 0) const noexcept { return inputs_[static_cast<std::size_t>(i)].dim; }
  bool input_is_int(index_t i) const noexcept { return inputs_[static_cast<std::size_t>(i)].is_int; }
  index_t output_dim(index_t o = 0) const noexcept { return width_[static_cast<std::size_t>(outputs_[static_cast<std::size_t>(o)])]; }
  /// The output width of every node, in node order.
  std::vector<index_t> output_shapes() const;
  /// Columns of output o's y: 1 (class indices) for a sparse loss, output_dim(o) otherwise.
  index_t label_cols(index_t o = 0) const noexcept;
  bool sparse_labels(index_t o = 0) const noexcept;
  /// Output o has a loss or metrics (its y is read).
  bool output_needs_labels(index_t o) const noexcept;

  std::size_t num_layers() const noexcept { return layers_.size(); }
  /// Parameter tensors of layer l: tensors()[layer_tensors(l).first .. second).
  std::pair<std::size_t, std::size_t> layer_tensors(std::size_t l) const { return layer_tensors_[l]; }
  /// Freeze (false) or unfreeze a layer: a frozen layer gets no parameter gradients and
  /// no optimizer update; takes effect at the next step.
  void set_layer_trainable(std::size_t l, bool trainable);
  bool layer_trainable(std::size_t l) const { return !frozen_[l]; }

  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  T* params() noexcept { return params_.data(); }
  T* grads() noexcept { return grads_.data(); }
  index_t arena_size() const noexcept { return arena_size_; }
  index_t trainable_size() const noexcept { return trainable_size_; }
  Optimizer<T>* optimizer() noexcept { return optimizer_.get(); }
  /// The optimizer, shared: a holder (a view of its slots) keeps it alive after
  /// configure() replaced it.
  std::shared_ptr<Optimizer<T>> shared_optimizer() const noexcept { return optimizer_; }

  std::int64_t iterations() const noexcept { return iterations_; }
  void set_iterations(std::int64_t it);
  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t rng_counter() const noexcept { return counter_; }
  void set_rng_state(std::uint64_t seed, std::uint64_t counter) noexcept { seed_ = seed; counter_ = counter; }

  void set_gradient_hook(GradientHook hook) { grad_hook_ = std::move(hook); }
  void set_layer_gradient_callback(LayerGradientCallback cb) { layer_cb_ = std::move(cb); }
  /// Per layer: (offset, size) of its trainable tensors' range in the arenas ((0, 0): none).
  const std::vector<std::pair<index_t, index_t>>& layer_grad_ranges() const noexcept { return layer_grad_range_; }

  /// Throws std::invalid_argument when a sparse label is not an integer in [0, classes)
  /// or an ID is outside its Embedding's range, naming the offender.
  void check_batch(const Batch<T>& data) const;

  /// One optimizer step on one batch; returns that batch's loss and metrics. With
  /// accumulate (batches fed one call each from outside, e.g. a Python generator), the
  /// batch is added to the running logs begun by reset_running() instead, and those are
  /// returned: for the same batches, the logs train_epoch reports.
  /// record (optional, one entry per output or null): the step's outputs are copied there
  /// (n x output_dim(o)), as EpochHooks::record_outputs.
  Logs train_batch(const Batch<T>& data, double learning_rate, bool accumulate = false,
                   const std::vector<void*>* record = nullptr);
  /// Start new running logs (metrics and batch-size-weighted loss means) for the
  /// accumulate forms of train_batch and evaluate.
  void reset_running();
  /// One epoch: shuffle (keyed by (seed, epoch)), then a step per batch with
  /// learning_rates[step]; returns the epoch's running loss and metrics.
  Logs train_epoch(const Batch<T>& data, index_t batch_size, bool shuffle, std::int64_t epoch,
                   const double* learning_rates, index_t n_learning_rates, const EpochHooks& hooks);
  /// Loss and metrics in inference mode, batch by batch (batch_size <= 0: a default).
  /// With accumulate, the data are added to the running logs (see train_batch).
  Logs evaluate(const Batch<T>& data, index_t batch_size, bool accumulate = false);
  /// Gradients of the objective (weighted mean losses + regularization) into grads(), in
  /// training mode (dropout with the current RNG counter, batch statistics), without
  /// moving the BatchNormalization statistics or the RNG counter. Returns the objective.
  double compute_gradients(const Batch<T>& data);
  /// One optimizer step with the gradients g (arena_size() elements, the grads() layout):
  /// Keras' optimizer.apply_gradients. iterations += 1.
  void apply_gradients(const T* g, double learning_rate);
  /// out[o] (n x output_dim(o)) = the network applied to the inputs x in inference mode,
  /// chunk rows at a time (chunk <= 0: a default). Safe to call concurrently. Throws
  /// std::invalid_argument (before computing anything) for an ID outside its Embedding.
  /// poll (optional) is called between chunks (e.g. to check for Ctrl-C) and may throw.
  void predict(index_t n, const void* const* x, T* const* out, index_t chunk,
               const std::function<void()>* poll = nullptr) const;
  /// The one-input, one-output form.
  void predict(index_t n, const T* x, T* out, index_t chunk, const std::function<void()>* poll = nullptr) const {
    const void* xs[1] = {x};
    T* outs[1] = {out};
    predict(n, xs, outs, chunk, poll);
  }
  /// True while train_epoch is running (also inside its hooks): evaluate() called from a
  /// hook then keeps the epoch's running loss and metrics intact.
  bool in_epoch() const noexcept { return in_epoch_; }

  /// The state behind the logs of the last train_batch, train_epoch or evaluate (the
  /// running logs, for their accumulate forms), as additive doubles: the sample-weighted loss sum, the sample count, each output's loss
  /// sum, then every metric's state (Metric::get_state) in configuration order. States of
  /// disjoint data merge by elementwise addition; logs_from_state(merged) gives the logs
  /// of the union (data-parallel training merges them over processes this way).
  std::vector<double> log_state() const;
  /// The logs of a (merged) state of log_state()'s layout; the metrics take that state.
  /// Throws std::invalid_argument for a state of another size.
  Logs logs_from_state(const double* state, std::size_t size);

  /// Counter of parameter changes: bumped by every optimizer step and by params_changed().
  /// predict() keeps per-layer data derived from the parameters (packed kernels) and
  /// rebuilds it when this moved.
  std::uint64_t params_version() const noexcept { return params_version_; }
  /// Tell the network its parameters were written from outside (through params(), views,
  /// set_weights, a load): predict() repacks before its next use. May run while other
  /// threads predict (the counter is atomic; each Dense refreshes its packed copy under
  /// its lock), not while anything else runs.
  void params_changed() noexcept { ++params_version_; }

  /// Bytes held by the training workspace, and how often it grew (tests: no growth per step).
  std::size_t workspace_bytes() const noexcept { return work_.size() * sizeof(T) + ids_.size() * sizeof(std::int64_t); }
  std::int64_t workspace_growths() const noexcept { return growths_; }

 private:
  enum class Mode { train, gradients, evaluate };
  struct Node {
    std::size_t layer;
    std::vector<index_t> in;     // tensor ids
    bool shared_later = false;   // an earlier node applies the same layer (backward adds)
    index_t steps = 1;           // rows per sample the layer sees
  };
  void reserve(index_t rows);
  void plan_backward();
  void zero_ranges(const std::vector<std::pair<index_t, index_t>>& ranges);
  double run_batch(Mode mode, index_t n, const void* const* x, const T* const* y, const T* sw, double lr);
  void backward(const StepContext& ctx, index_t n, const void* const* x, bool notify, double penalty_scale);
  void step(double lr);
  double regularization(bool add_grads, double scale);
  /// Layer l's penalty terms into reg_term_ (and, with add_grads, its gradient into grads_).
  void layer_penalty(std::size_t l, bool add_grads, double scale);
  /// The penalty of layer l, then layer_cb_(l) (a layer with trainable tensors).
  void layer_final(std::size_t l, double penalty_scale);
  void update_logs(double loss, const double* out_loss);
  void add_running(double loss_sum, const double* out_loss_sum, index_t n);
  /// The running logs' state (log_state) after a whole train_batch/train_epoch/evaluate.
  void set_running(double loss_sum, const double* out_loss_sum, index_t n);
  void reset_metrics();
  const T* tensor_ptr(index_t t, const void* const* x) const;

  std::uint64_t seed_ = 0, counter_ = 0;
  std::int64_t iterations_ = 0;
  std::atomic<std::uint64_t> params_version_{1};
  std::vector<InputSpec> inputs_;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Node> nodes_;
  std::vector<index_t> outputs_;
  std::vector<std::string> output_names_;
  std::vector<index_t> width_;                // per tensor
  std::vector<std::vector<index_t>> consumers_;  // per tensor: nodes reading it (ascending)
  std::vector<std::pair<std::size_t, std::size_t>> layer_tensors_;
  std::vector<std::pair<index_t, index_t>> layer_grad_range_;  // per layer: (offset, size) of its trainable tensors
  std::vector<char> frozen_;                  // per layer
  std::vector<TensorInfo> tensors_;
  index_t arena_size_ = 0, trainable_size_ = 0, max_width_ = 0, max_arity_ = 1;
  AlignedBuffer<T> params_, grads_;
  GradientHook grad_hook_;
  LayerGradientCallback layer_cb_;
  std::vector<index_t> final_node_;  // per layer: the last node backward runs for it (-1: none)
  std::vector<double> reg_term_;     // per tensor: this step's penalty term
  std::vector<char> reg_done_;       // per layer: its penalty is in reg_term_ (and grads_) already

  TrainingConfig config_;
  std::vector<char> fused_;                   // per output: softmax/sigmoid + cross-entropy
  std::vector<int> node_fused_output_;        // per node: the fused output it produces, or -1
  bool per_output_losses_ = false;            // logs carry "<output>_loss" (2+ outputs with a loss)
  std::shared_ptr<Optimizer<T>> optimizer_;
  std::vector<std::vector<Metric>> metrics_;  // per output
  Logs logs_;
  double run_loss_ = 0;                       // running logs (accumulate): sums of loss * rows,
  std::vector<double> run_out_;               // per output,
  index_t run_seen_ = 0;                      // and the rows seen

  // Backward plan (from the frozen flags): which tensors carry a gradient, which nodes run.
  std::vector<char> needs_grad_, node_runs_;
  bool plan_stale_ = true;
  // Gradient ranges (offset, size) no backward writes: idle_ = every tensor of a frozen
  // layer or of a layer no loss reaches, and every non-trainable tensor (all zero);
  // reg_idle_ = the regularized tensors of trainable layers no loss reaches (regularization
  // adds into them, so each step zeroes them first).
  std::vector<std::pair<index_t, index_t>> idle_, reg_idle_;
  // apply_gradients or a gradient hook may have written any gradient: the next backward
  // zeroes the idle_ ranges again first.
  bool grads_dirty_ = false;

  // Predict plan: per tensor, its per-thread activation slot (-1: an input or an output).
  std::vector<int> pred_slot_;
  int pred_slots_ = 0;
  index_t pred_width_ = 0;

  // Training workspace, laid out for rows_ rows.
  index_t rows_ = 0;
  AlignedBuffer<T> work_;
  AlignedBuffer<std::int64_t> ids_;
  AlignedBuffer<double> row_loss_;
  AlignedBuffer<index_t> perm_;
  std::vector<index_t> act_off_, cache_off_;  // per node
  std::vector<int> grad_slot_;                // per tensor
  std::vector<index_t> slot_off_;             // gradient slots, then max_arity_ scratch slots
  std::vector<index_t> xb_off_, yb_off_;      // per input (T or int64 workspace), per output
  index_t sw_off_ = 0, pscratch_off_ = 0, pscratch_size_ = 0;
  std::vector<char> written_;                 // per tensor, during one backward
  std::vector<char> layer_written_;           // per layer, during one backward
  std::vector<const void*> cur_x_;            // per input, the current batch
  std::vector<const T*> cur_y_;               // per output
  std::vector<const T*> xs_;                  // one node's inputs
  std::vector<T*> dxs_;
  std::vector<double> out_loss_, out_loss_sum_;
  std::int64_t growths_ = 0;
  bool in_epoch_ = false;
  bool recording_ = false;  // outputs are recorded: a fused output computes its probabilities
  void record_step(const std::vector<void*>& record, index_t first_row, index_t n, const void* const* x);
};

}  // namespace dnnx

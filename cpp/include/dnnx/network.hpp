// dnnx public C++ API: Network, an ordered stack of layers with a loss, an optimizer and
// metrics, trained entirely in C++.
//
//   Network<float> net(spec);            // layers laid out, parameters initialized
//   net.configure(training_config);      // loss, optimizer, metrics ("compile")
//   net.train_epoch(data, 128, true, epoch, lrs, n_lrs, hooks);
//   net.predict(n, x, out, 0);
//
// Memory: every parameter lives in one 64-byte aligned arena (trainable tensors first, in
// get_weights order, then the non-trainable ones such as BatchNormalization's moving
// statistics), every gradient in a second arena of the same layout. The training
// workspace (activations, caches, gradient ping-pong buffers, the gathered batch) is sized
// once for the largest batch seen and only grows; a training step never allocates.
// predict/evaluate multiply with each Dense kernel packed once for the GEMM kernel (a
// second copy of the kernels, rebuilt lazily after params_version() moved), and predict
// keeps its small ping-pong buffers per thread: a small predict allocates nothing.
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
// changed; so set_kernel() must not run while predicts on another thread are in flight). Everything else (train_*, evaluate,
// compute_gradients, configure, setters) needs exclusive access.
#pragma once
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

struct NetworkSpec {
  index_t input_dim = 0;
  std::uint64_t seed = 0;
  std::vector<LayerSpec> layers;
};

struct TrainingConfig {
  bool has_loss = false;
  LossSpec loss;
  bool has_optimizer = false;
  OptimizerSpec optimizer;
  std::vector<MetricSpec> metrics;
};

/// Borrowed input arrays (row-major, n rows). y has label_cols() columns; sw may be null.
template <class T>
struct Batch {
  index_t n = 0;
  const T* x = nullptr;
  const T* y = nullptr;
  const T* sw = nullptr;
};

/// {"loss", value}, then one entry per metric key, in configuration order.
using Logs = std::vector<std::pair<std::string, double>>;

/// What train_epoch calls back at batch boundaries (never from inside a parallel region).
struct EpochHooks {
  /// Called after every `callback_every`-th batch and after the last one (<= 0: only the
  /// last) with the running logs; returning true stops the epoch after that batch.
  std::function<bool(index_t batch, const Logs& logs)> on_batch;
  index_t callback_every = 0;
  /// Called at least every kPollEvery batches (e.g. to check for Ctrl-C); may throw.
  std::function<void()> poll;
};

template <class T>
class Network {
 public:
  using value_type = T;
  static constexpr index_t kPollEvery = 64;
  static constexpr index_t kDefaultChunk = 1024;

  /// Build the layers, lay out the arenas and initialize the parameters from spec.seed.
  /// Throws std::invalid_argument for an invalid spec.
  explicit Network(const NetworkSpec& spec);

  /// Set loss, optimizer and metrics ("compile"). A new optimizer starts from fresh state
  /// and iterations = 0.
  void configure(const TrainingConfig& config);
  const TrainingConfig& config() const noexcept { return config_; }

  index_t input_dim() const noexcept { return input_dim_; }
  index_t output_dim() const noexcept { return layers_.empty() ? input_dim_ : layers_.back()->out_dim(); }
  std::vector<index_t> output_shapes() const;
  /// Columns of y: 1 (class indices) for the sparse loss, output_dim() otherwise.
  index_t label_cols() const noexcept;
  bool sparse_labels() const noexcept;

  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  T* params() noexcept { return params_.data(); }
  T* grads() noexcept { return grads_.data(); }
  index_t arena_size() const noexcept { return arena_size_; }
  index_t trainable_size() const noexcept { return trainable_size_; }
  Optimizer<T>* optimizer() noexcept { return optimizer_.get(); }

  std::int64_t iterations() const noexcept { return iterations_; }
  void set_iterations(std::int64_t it);
  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t rng_counter() const noexcept { return counter_; }
  void set_rng_state(std::uint64_t seed, std::uint64_t counter) noexcept { seed_ = seed; counter_ = counter; }

  /// Throws std::invalid_argument when a sparse label is not an integer in [0, output_dim).
  void check_labels(const Batch<T>& data) const;

  /// One optimizer step on one batch; returns that batch's loss and metrics.
  Logs train_batch(const Batch<T>& data, double learning_rate);
  /// One epoch: shuffle (keyed by (seed, epoch)), then a step per batch with
  /// learning_rates[step]; returns the epoch's running loss and metrics.
  Logs train_epoch(const Batch<T>& data, index_t batch_size, bool shuffle, std::int64_t epoch,
                   const double* learning_rates, index_t n_learning_rates, const EpochHooks& hooks);
  /// Loss and metrics in inference mode, batch by batch (batch_size <= 0: a default).
  Logs evaluate(const Batch<T>& data, index_t batch_size);
  /// Gradients of the objective (mean loss + regularization) into grads(), in training
  /// mode (dropout with the current RNG counter, batch statistics), without moving the
  /// BatchNormalization statistics or the RNG counter. Returns the objective.
  double compute_gradients(const Batch<T>& data);
  /// out (n x output_dim) = the network applied to x in inference mode, chunk rows at a
  /// time (chunk <= 0: a default). Safe to call concurrently.
  void predict(index_t n, const T* x, T* out, index_t chunk) const;

  /// Counter of parameter changes: bumped by every optimizer step and by params_changed().
  /// predict() keeps per-layer data derived from the parameters (packed kernels) and
  /// rebuilds it when this moved.
  std::uint64_t params_version() const noexcept { return params_version_; }
  /// Tell the network its parameters were written from outside (through params(), views,
  /// set_weights, a load): predict() repacks before its next use. Not thread-safe with
  /// predict (like every other writer).
  void params_changed() noexcept { ++params_version_; }

  /// Bytes held by the training workspace, and how often it grew (tests: no growth per step).
  std::size_t workspace_bytes() const noexcept { return work_.size() * sizeof(T); }
  std::int64_t workspace_growths() const noexcept { return growths_; }

 private:
  enum class Mode { train, gradients, evaluate };
  void reserve(index_t rows);
  double run_batch(Mode mode, index_t n, const T* x, const T* y, const T* sw, double lr);
  double regularization(bool add_grads);
  void update_logs(double loss);
  Logs& reset_metrics();

  index_t input_dim_ = 0;
  std::uint64_t seed_ = 0, counter_ = 0;
  std::int64_t iterations_ = 0;
  std::uint64_t params_version_ = 1;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<TensorInfo> tensors_;
  index_t arena_size_ = 0, trainable_size_ = 0, max_dim_ = 0;
  AlignedBuffer<T> params_, grads_;

  TrainingConfig config_;
  bool fused_ = false;
  std::unique_ptr<Optimizer<T>> optimizer_;
  std::vector<Metric> metrics_;
  Logs logs_;

  // Training workspace, laid out for rows_ rows.
  index_t rows_ = 0;
  AlignedBuffer<T> work_;
  AlignedBuffer<double> row_loss_;
  AlignedBuffer<index_t> perm_;
  std::vector<index_t> act_off_, cache_off_;
  index_t g0_off_ = 0, g1_off_ = 0, xb_off_ = 0, yb_off_ = 0, sw_off_ = 0;
  std::int64_t growths_ = 0;
};

}  // namespace dnnx

// dnnx public C++ API: optimizers (Keras 3 update rules, defaults and option semantics).
//
// The trainable parameters are one contiguous arena, and so is each optimizer slot
// (momentum, velocity, ...), so a step is one vectorized, elementwise pass over the arena.
// What must be per tensor stays per tensor: clipnorm scales each tensor by its own norm.
// Keras' order within a step: clip the gradients (clipnorm, else global_clipnorm, else
// clipvalue), apply weight decay (w -= w * weight_decay * lr), then the rule. All three are
// fused into the one pass.
//
// Thread-safety: an optimizer belongs to one network; apply() is not reentrant.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dnnx/common.hpp"

namespace dnnx {

enum class OptKind : int { sgd, adam, adamw, rmsprop, adagrad, nadam };

struct OptimizerSpec {
  OptKind kind = OptKind::sgd;
  double learning_rate = 0.01;
  double momentum = 0.0;     ///< sgd, rmsprop
  bool nesterov = false;     ///< sgd
  double beta_1 = 0.9, beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;      ///< adam, adamw
  double rho = 0.9;          ///< rmsprop
  bool centered = false;     ///< rmsprop
  double initial_accumulator_value = 0.1;  ///< adagrad
  double weight_decay = 0.0;  ///< 0: none
  double clipnorm = 0.0, clipvalue = 0.0, global_clipnorm = 0.0;  ///< 0: off
};

/// Parse a Keras optimizer name; throws std::invalid_argument naming the allowed values.
OptKind opt_from_name(const std::string& name);
/// Keras 3 default learning rate of each optimizer (0.01 for SGD, 0.001 otherwise).
double opt_default_learning_rate(OptKind k) noexcept;
/// Every Keras 3 default of optimizer k: OptimizerSpec{} with k's learning rate and, for
/// AdamW, weight_decay = 0.004. The one home of these values: _core._defaults() hands
/// them to the Python optimizer classes.
OptimizerSpec opt_defaults(OptKind k) noexcept;

/// One contiguous run of trainable parameters (one tensor).
struct Segment {
  index_t offset = 0, size = 0;
};

/// The per-element gradient transform the base applies before every rule:
/// g' = clamp(g * scale, -clip, clip); w is first decayed: w -= w * decay (decay = wd * lr).
template <class T>
struct GradPrep {
  T scale = T(1);
  T clip = T(0);  ///< 0: no clipvalue
  T decay = T(0);
  T operator()(T g) const noexcept {
    g *= scale;
    return clip > T(0) ? (g < -clip ? -clip : (g > clip ? clip : g)) : g;
  }
};

template <class T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  const OptimizerSpec& spec() const noexcept { return spec_; }

  /// Size the slots for n trainable elements and `tensors` (resets the state).
  void build(index_t n, std::vector<Segment> tensors);

  /// One step: clipping, weight decay and the rule over w[0..n), g[0..n). `iterations` is
  /// the number of steps taken before this one (Keras' optimizer.iterations).
  void apply(T* w, const T* g, double lr, std::int64_t iterations);

  /// Which tensors (of build()'s list) the step updates: a frozen layer's tensors are
  /// inactive (no clipping contribution, no decay, no rule, their slots keep their
  /// values). Default: all active.
  void set_active(const std::vector<char>& active);

  /// Keras' iterations was restored: re-derive any state that follows from it.
  virtual void set_iterations(std::int64_t iterations) { (void)iterations; }

  std::size_t num_slots() const noexcept { return slots_.size(); }
  const std::string& slot_name(std::size_t i) const { return slot_names_[i]; }
  T* slot(std::size_t i) noexcept { return slots_[i].data(); }
  index_t size() const noexcept { return n_; }

 protected:
  explicit Optimizer(const OptimizerSpec& spec) : spec_(spec) {}
  /// Declare a slot with its initial value (call from the constructor).
  void add_slot(std::string name, T init) { slot_names_.push_back(std::move(name)); slot_init_.push_back(init); }
  /// Per-step scalars (bias corrections, schedules); t = iterations + 1.
  virtual void begin_step(std::int64_t t, double lr) { (void)t; (void)lr; }
  /// The rule over elements [i0, i1) of the arena.
  virtual void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) = 0;

  OptimizerSpec spec_;
  std::vector<AlignedBuffer<T>> slots_;

 private:
  std::vector<std::string> slot_names_;
  std::vector<T> slot_init_;
  std::vector<Segment> tensors_;
  std::vector<T> tensor_scale_;
  std::vector<char> active_;
  bool all_active_ = true;
  index_t n_ = 0;
};

/// Validate the spec and build the optimizer; throws std::invalid_argument.
template <class T> std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerSpec& spec);

template <class T> std::unique_ptr<Optimizer<T>> make_sgd(const OptimizerSpec& spec);
template <class T> std::unique_ptr<Optimizer<T>> make_adam(const OptimizerSpec& spec);
template <class T> std::unique_ptr<Optimizer<T>> make_rmsprop(const OptimizerSpec& spec);
template <class T> std::unique_ptr<Optimizer<T>> make_adagrad(const OptimizerSpec& spec);
template <class T> std::unique_ptr<Optimizer<T>> make_nadam(const OptimizerSpec& spec);

}  // namespace dnnx

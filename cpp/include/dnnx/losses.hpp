// dnnx public C++ API: losses (Keras 3 semantics) with their gradients.
//
// Per-sample loss l_i (MSE, MAE, Huber, Poisson and BCE average over the last axis; the
// cross-entropies sum over classes); reduction "sum_over_batch_size" (Keras' default):
//   L = sum_i w_i l_i / n,          gradient dL/dout_i = w_i dl_i/dout_i / n;
// reduction "mean_with_sample_weight" (Keras' name; scikit-learn's weighting) divides by
// sum_i w_i instead of n (by n without weights; 0 / 0 = 0, as Keras' divide_no_nan).
// Poisson (Keras): l = mean(p - y log(p + 1e-7)); with from_logits the output is the log
// rate z: l = mean(exp(z) - y z), gradient (exp(z) - y) / d.
// Probabilities are clipped to [1e-7, 1 - 1e-7] unless from_logits (as Keras does).
//
// Fusion: when the network ends in softmax (sigmoid) and the loss is a categorical
// (binary) cross-entropy on probabilities, the loss is computed from the logits z with
// log-sum-exp (softplus) and the gradient with respect to z is (p - y) w / n: one pass, no
// exp of a large number, finite for any finite logits. As with Keras' TensorFlow backend
// (which reuses the softmax's logits the same way) no clipping applies then.
#pragma once
#include <string>

#include "dnnx/common.hpp"

namespace dnnx {

enum class LossKind : int {
  mean_squared_error,
  mean_absolute_error,
  huber,
  binary_crossentropy,
  categorical_crossentropy,
  sparse_categorical_crossentropy,
  poisson,
  /// The output already holds loss values (a custom loss or an add_loss term traced into
  /// the graph as ops): l_i = the mean of row i (its sum under mean_with_sample_weight with
  /// sample weights, as Keras sums values * weights before dividing by sum(weights)); the
  /// gradient with respect to each value is 1 / d (1). Reads no labels.
  value,
};

/// sum (Keras "sum"): L = sum_i w_i l_i, with no normalizer.
enum class LossReduction : int { sum_over_batch_size, mean_with_sample_weight, sum };

/// How sample weights weigh an output's loss: per row (every built-in loss), or not at
/// all (add_loss terms), or for a loss that is already a batch-wide scalar L (Keras
/// multiplies L by each weight, then reduces the weighted values with the loss's
/// reduction): batch_mean L x mean(w) (sum_over_batch_size), batch_sum L x sum(w) (sum),
/// batch_normalized L, or 0 when sum(w) is 0 (mean_with_sample_weight).
enum class SampleWeighting : int { rows, batch_mean, none, batch_sum, batch_normalized };

struct LossSpec {
  LossKind kind = LossKind::mean_squared_error;
  bool from_logits = false;
  double delta = 1.0;  ///< huber
  LossReduction reduction = LossReduction::sum_over_batch_size;
  SampleWeighting weighting = SampleWeighting::rows;
};

/// Parse a Keras loss name (and the aliases mse, mae); throws std::invalid_argument.
LossKind loss_from_name(const std::string& name);
const char* loss_name(LossKind k) noexcept;
inline bool loss_is_sparse(LossKind k) noexcept { return k == LossKind::sparse_categorical_crossentropy; }

/// Keras' epsilon for clipping probabilities.
constexpr double kLossEpsilon = 1e-7;

/// Evaluate a loss over n rows of d outputs.
///   out:    the network output (n x d).
///   logits: when non-null, the loss is computed from these (from_logits, or a fused
///           softmax/sigmoid output) instead of from out.
///   y:      targets (n x d), or (n x 1) class indices for the sparse loss.
///   sw:     per-row sample weights, or null for ones.
///   grad:   when non-null receives grad_scale * d(sum_i w_i l_i)/d(logits or out), n x d.
///   row_loss: scratch of n doubles (per-row l_i).
/// Returns sum_i w_i l_i, summed in row order (independent of the thread count).
template <class T>
double loss_evaluate(const LossSpec& spec, index_t n, index_t d, const T* out, const T* logits, const T* y,
                     const T* sw, T* grad, T grad_scale, double* row_loss);

}  // namespace dnnx

// dnnx public C++ API: metrics accumulated over an epoch or an evaluation (Keras 3
// semantics, sample-weighted).
//
// Mean metrics (accuracies, mse, mae) report sum_i w_i v_i / sum_i w_i of a per-sample
// value v_i; precision/recall count weighted true/false positives at a threshold over all
// outputs; AUC is Keras' ROC AUC: confusion counts at num_thresholds evenly spaced
// thresholds, trapezoid ("interpolation") summation. The count metrics (true/false
// positives/negatives) report the weighted number of elements in their confusion cell. Accumulators are doubles updated row
// by row in order, so results do not depend on the thread count.
#pragma once
#include <string>
#include <vector>

#include "dnnx/common.hpp"

namespace dnnx {

enum class MetricKind : int {
  binary_accuracy,
  categorical_accuracy,
  sparse_categorical_accuracy,
  top_k_categorical_accuracy,
  sparse_top_k_categorical_accuracy,
  mse,
  mae,
  auc,
  precision,
  recall,
  true_positives,   ///< weighted counts at a threshold over all outputs (Keras TruePositives, ...)
  false_positives,
  true_negatives,
  false_negatives,
  mape,             ///< 100 * mean |y - p| / max(|y|, 1e-7) (Keras MeanAbsolutePercentageError)
};

struct MetricSpec {
  MetricKind kind = MetricKind::binary_accuracy;
  std::string key;             ///< the name reported in logs
  index_t k = 5;               ///< top-k
  index_t num_thresholds = 200;  ///< auc
  double threshold = 0.5;      ///< binary_accuracy, precision, recall, the count metrics
  bool from_logits = false;    ///< auc, precision, recall, the count metrics: apply a sigmoid first
  bool weighted = true;        ///< false: ignore sample weights (Keras metrics= vs weighted_metrics=)
};

/// Parse a metric name; throws std::invalid_argument naming the allowed values.
MetricKind metric_from_name(const std::string& name);
inline bool metric_is_sparse(MetricKind k) noexcept {
  return k == MetricKind::sparse_categorical_accuracy || k == MetricKind::sparse_top_k_categorical_accuracy;
}

/// One metric's running state. Not thread-safe; update() is called once per batch.
class Metric {
 public:
  explicit Metric(const MetricSpec& spec);
  const MetricSpec& spec() const noexcept { return spec_; }
  void reset();
  /// Accumulate n rows of d predictions p with targets y (n x d, or n x 1 class indices
  /// for the sparse metrics) and optional per-row weights sw.
  template <class T>
  void update(index_t n, index_t d, const T* p, const T* y, const T* sw);
  double result() const;
  /// The accumulated state as additive doubles: (total, count) for mean metrics, (tp, fp,
  /// fn, tn, NaN count) for precision, recall and the counts, the positive then negative
  /// bucket weights and the NaN count for AUC (a NaN seen anywhere keeps the result NaN). States
  /// of disjoint data merge by elementwise addition (data-parallel training sums them over
  /// processes), and set_state(merged) makes result() the metric of the union.
  std::size_t state_size() const noexcept;
  void get_state(double* out) const;
  void set_state(const double* in);

 private:
  MetricSpec spec_;
  double total_ = 0, count_ = 0;        // mean metrics
  double tp_ = 0, fp_ = 0, fn_ = 0, tn_ = 0;  // precision / recall / the count metrics
  std::vector<double> pos_, neg_;       // auc: weighted positives/negatives per bucket
  bool nan_ = false;                    // auc, precision, recall, the counts saw a NaN: the result is NaN
};

}  // namespace dnnx

// Metrics: per-batch accumulation and the final value, Keras 3 definitions.
#include "dnnx/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace dnnx {
namespace {

template <class T> index_t argmax(const T* p, index_t d) {
  index_t best = 0;
  for (index_t j = 1; j < d; ++j) if (p[j] > p[best]) best = j;  // first maximum, as np.argmax
  return best;
}

// in_top_k as TensorFlow: the target is in the top k unless k or more scores beat it.
template <class T> bool in_top_k(const T* p, index_t d, index_t target, index_t k) {
  index_t greater = 0;
  for (index_t j = 0; j < d; ++j) greater += p[j] > p[target];
  return greater < k;
}

inline double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

}  // namespace

MetricKind metric_from_name(const std::string& name) {
  static const struct { const char* n; MetricKind k; } table[] = {
      {"binary_accuracy", MetricKind::binary_accuracy},
      {"categorical_accuracy", MetricKind::categorical_accuracy},
      {"sparse_categorical_accuracy", MetricKind::sparse_categorical_accuracy},
      {"top_k_categorical_accuracy", MetricKind::top_k_categorical_accuracy},
      {"sparse_top_k_categorical_accuracy", MetricKind::sparse_top_k_categorical_accuracy},
      {"mse", MetricKind::mse}, {"mae", MetricKind::mae}, {"auc", MetricKind::auc},
      {"precision", MetricKind::precision}, {"recall", MetricKind::recall},
      {"true_positives", MetricKind::true_positives}, {"false_positives", MetricKind::false_positives},
      {"true_negatives", MetricKind::true_negatives}, {"false_negatives", MetricKind::false_negatives},
      {"mape", MetricKind::mape}};
  for (const auto& e : table)
    if (name == e.n) return e.k;
  throw std::invalid_argument("unknown metric '" + name +
                              "'; expected one of binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, "
                              "top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mse, mae, auc, "
                              "precision, recall, true_positives, false_positives, true_negatives, false_negatives, "
                              "mape");
}

Metric::Metric(const MetricSpec& spec) : spec_(spec) {
  if (spec_.kind == MetricKind::auc) {
    if (spec_.num_thresholds < 2 || spec_.num_thresholds > (index_t(1) << 24))
      throw std::invalid_argument("metric auc: num_thresholds must be in [2, 16777216]; received num_thresholds=" +
                                  std::to_string(spec_.num_thresholds));
    pos_.assign(static_cast<std::size_t>(spec_.num_thresholds), 0.0);
    neg_.assign(static_cast<std::size_t>(spec_.num_thresholds), 0.0);
  }
  if ((spec_.kind == MetricKind::top_k_categorical_accuracy || spec_.kind == MetricKind::sparse_top_k_categorical_accuracy) &&
      spec_.k < 1)
    throw std::invalid_argument("metric " + spec_.key + ": k must be >= 1; received k=" + std::to_string(spec_.k));
}

void Metric::reset() {
  total_ = count_ = tp_ = fp_ = fn_ = tn_ = 0;
  nan_ = false;
  std::fill(pos_.begin(), pos_.end(), 0.0);
  std::fill(neg_.begin(), neg_.end(), 0.0);
}

template <class T>
void Metric::update(index_t n, index_t d, const T* p, const T* y, const T* sw) {
  const MetricKind k = spec_.kind;
  const index_t ycols = metric_is_sparse(k) ? 1 : d;
  const double thr = spec_.threshold;
  for (index_t i = 0; i < n; ++i) {
    const T* pr = p + i * d;
    const T* yr = y + i * ycols;
    const double w = sw && spec_.weighted ? double(sw[i]) : 1.0;
    double v = 0;
    switch (k) {
      case MetricKind::binary_accuracy:
        for (index_t j = 0; j < d; ++j) v += (double(pr[j]) > thr ? 1.0 : 0.0) == double(yr[j]);
        v /= double(d);
        break;
      case MetricKind::categorical_accuracy: v = argmax(pr, d) == argmax(yr, d); break;
      case MetricKind::sparse_categorical_accuracy: v = argmax(pr, d) == static_cast<index_t>(yr[0]); break;
      case MetricKind::top_k_categorical_accuracy: v = in_top_k(pr, d, argmax(yr, d), spec_.k); break;
      case MetricKind::sparse_top_k_categorical_accuracy:
        v = in_top_k(pr, d, static_cast<index_t>(yr[0]), spec_.k);
        break;
      case MetricKind::mse:
        for (index_t j = 0; j < d; ++j) { const double e = double(pr[j]) - double(yr[j]); v += e * e; }
        v /= double(d);
        break;
      case MetricKind::mae:
        for (index_t j = 0; j < d; ++j) v += std::abs(double(pr[j]) - double(yr[j]));
        v /= double(d);
        break;
      case MetricKind::mape:
        // Keras: 100 * mean(|y - p| / max(|y|, epsilon)), epsilon = 1e-7.
        for (index_t j = 0; j < d; ++j)
          v += std::abs(double(yr[j]) - double(pr[j])) / std::max(std::abs(double(yr[j])), 1e-7);
        v = 100.0 * v / double(d);
        break;
      case MetricKind::precision:
      case MetricKind::recall:
      case MetricKind::true_positives:
      case MetricKind::false_positives:
      case MetricKind::true_negatives:
      case MetricKind::false_negatives:
        for (index_t j = 0; j < d; ++j) {
          const double pj = spec_.from_logits ? sigmoid(double(pr[j])) : double(pr[j]);
          if (std::isnan(pj) || std::isnan(double(yr[j]))) { nan_ = true; continue; }
          const bool pred = pj > thr, pos = double(yr[j]) > 0.5;
          tp_ += (pred && pos) * w;
          fp_ += (pred && !pos) * w;
          fn_ += (!pred && pos) * w;
          tn_ += (!pred && !pos) * w;
        }
        continue;
      case MetricKind::auc: {
        // Keras' bucketing for evenly spaced thresholds: a prediction in bucket b counts as
        // above thresholds 0..b, with b = max(ceil(p (N - 1)) - 1, 0).
        const double nm1 = double(spec_.num_thresholds - 1);
        for (index_t j = 0; j < d; ++j) {
          double pj = spec_.from_logits ? sigmoid(double(pr[j])) : double(pr[j]);
          // A NaN has no bucket (casting it to an index is undefined): the AUC is NaN.
          if (std::isnan(pj) || !std::isfinite(double(yr[j]))) { nan_ = true; continue; }
          pj = std::min(std::max(pj, 0.0), 1.0);
          const auto b = static_cast<std::size_t>(std::max(std::ceil(pj * nm1) - 1.0, 0.0));
          pos_[b] += w * double(yr[j]);
          neg_[b] += w * (1.0 - double(yr[j]));
        }
        continue;
      }
    }
    total_ += w * v;
    count_ += w;
  }
}

double Metric::result() const {
  switch (spec_.kind) {
    case MetricKind::precision:
      if (nan_) return std::numeric_limits<double>::quiet_NaN();
      return tp_ + fp_ > 0 ? tp_ / (tp_ + fp_) : 0.0;
    case MetricKind::recall:
      if (nan_) return std::numeric_limits<double>::quiet_NaN();
      return tp_ + fn_ > 0 ? tp_ / (tp_ + fn_) : 0.0;
    case MetricKind::true_positives: return nan_ ? std::numeric_limits<double>::quiet_NaN() : tp_;
    case MetricKind::false_positives: return nan_ ? std::numeric_limits<double>::quiet_NaN() : fp_;
    case MetricKind::true_negatives: return nan_ ? std::numeric_limits<double>::quiet_NaN() : tn_;
    case MetricKind::false_negatives: return nan_ ? std::numeric_limits<double>::quiet_NaN() : fn_;
    case MetricKind::auc: {
      if (nan_) return std::numeric_limits<double>::quiet_NaN();
      // tp[t] / fp[t]: weight above threshold t (suffix sums over buckets).
      const std::size_t N = pos_.size();
      double P = 0, Ng = 0;
      for (std::size_t b = 0; b < N; ++b) { P += pos_[b]; Ng += neg_[b]; }
      double auc = 0, tp = P, fp = Ng;  // threshold 0 (just below 0): everything is above
      double prev_tpr = P > 0 ? tp / P : 0, prev_fpr = Ng > 0 ? fp / Ng : 0;
      for (std::size_t t = 1; t < N; ++t) {
        tp -= pos_[t - 1];
        fp -= neg_[t - 1];
        const double tpr = P > 0 ? tp / P : 0, fpr = Ng > 0 ? fp / Ng : 0;
        auc += (prev_fpr - fpr) * (prev_tpr + tpr) / 2.0;
        prev_tpr = tpr;
        prev_fpr = fpr;
      }
      return auc;
    }
    default: return count_ > 0 ? total_ / count_ : 0.0;
  }
}

// The confusion-count family (precision, recall, the four counts) keeps (tp, fp, fn, tn),
// AUC its bucket weights; both then how many merged states saw a NaN (a count, so a sum of
// states stays NaN when any part was, as the metric of the union is).
static bool counts_family(MetricKind k) {
  return k == MetricKind::precision || k == MetricKind::recall || k == MetricKind::true_positives ||
         k == MetricKind::false_positives || k == MetricKind::true_negatives || k == MetricKind::false_negatives;
}

std::size_t Metric::state_size() const noexcept {
  if (counts_family(spec_.kind)) return 5;
  if (spec_.kind == MetricKind::auc) return pos_.size() + neg_.size() + 1;
  return 2;
}

void Metric::get_state(double* out) const {
  if (counts_family(spec_.kind)) {
    out[0] = tp_; out[1] = fp_; out[2] = fn_; out[3] = tn_; out[4] = nan_ ? 1.0 : 0.0;
    return;
  }
  if (spec_.kind == MetricKind::auc) {
    std::copy(pos_.begin(), pos_.end(), out);
    std::copy(neg_.begin(), neg_.end(), out + pos_.size());
    out[pos_.size() + neg_.size()] = nan_ ? 1.0 : 0.0;
    return;
  }
  out[0] = total_; out[1] = count_;
}

void Metric::set_state(const double* in) {
  if (counts_family(spec_.kind)) {
    tp_ = in[0]; fp_ = in[1]; fn_ = in[2]; tn_ = in[3];
    nan_ = !(in[4] == 0.0);  // a NaN count (or a NaN in it) > 0
    return;
  }
  if (spec_.kind == MetricKind::auc) {
    std::copy(in, in + pos_.size(), pos_.begin());
    std::copy(in + pos_.size(), in + pos_.size() + neg_.size(), neg_.begin());
    nan_ = !(in[pos_.size() + neg_.size()] == 0.0);
    return;
  }
  total_ = in[0]; count_ = in[1];
}

template void Metric::update<float>(index_t, index_t, const float*, const float*, const float*);
template void Metric::update<double>(index_t, index_t, const double*, const double*, const double*);

}  // namespace dnnx

// Losses: value and gradient side by side, one row at a time (Keras 3 definitions).
#include "dnnx/losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels.hpp"

namespace dnnx {
namespace {

template <class T> inline T sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

// Each row function returns l_i and, when g is non-null, writes s * dl_i/d(input) (s is
// the row's weight times grad_scale).

template <class T>
double row_mse(index_t d, const T* p, const T* y, T* g, T s) {
  double l = 0;
  for (index_t j = 0; j < d; ++j) {
    const T e = p[j] - y[j];
    l += double(e) * double(e);
    if (g) g[j] = s * T(2) * e / T(d);
  }
  return l / double(d);
}

template <class T>
double row_mae(index_t d, const T* p, const T* y, T* g, T s) {
  double l = 0;
  for (index_t j = 0; j < d; ++j) {
    const T e = p[j] - y[j];
    l += std::abs(double(e));
    if (g) g[j] = s * sign(e) / T(d);
  }
  return l / double(d);
}

template <class T>
double row_huber(index_t d, const T* p, const T* y, T* g, T s, double delta) {
  double l = 0;
  const T dl = T(delta);
  for (index_t j = 0; j < d; ++j) {
    const T e = p[j] - y[j];
    const T a = std::abs(e);
    if (a <= dl) { l += 0.5 * double(e) * double(e); if (g) g[j] = s * e / T(d); }
    else { l += delta * double(a) - 0.5 * delta * delta; if (g) g[j] = s * dl * sign(e) / T(d); }
  }
  return l / double(d);
}

// Poisson (Keras): p - y log(p + eps) on rates; exp(z) - y z on log rates z.
template <class T>
double row_poisson(index_t d, const T* p, const T* y, T* g, T s) {
  double l = 0;
  const double eps = kLossEpsilon;
  for (index_t j = 0; j < d; ++j) {
    l += double(p[j]) - double(y[j]) * std::log(double(p[j]) + eps);
    if (g) g[j] = s * T(1.0 - double(y[j]) / (double(p[j]) + eps)) / T(d);
  }
  return l / double(d);
}

template <class T>
double row_poisson_logits(index_t d, const T* z, const T* y, T* g, T s) {
  double l = 0;
  for (index_t j = 0; j < d; ++j) {
    const double e = std::exp(double(z[j]));
    l += e - double(y[j]) * double(z[j]);
    if (g) g[j] = s * T(e - double(y[j])) / T(d);
  }
  return l / double(d);
}

// BCE on logits: max(z, 0) - z y + log1p(exp(-|z|)); gradient sigmoid(z) - y.
template <class T>
double row_bce_logits(index_t d, const T* z, const T* y, T* g, T s) {
  double l = 0;
  for (index_t j = 0; j < d; ++j) {
    const double zj = z[j], yj = y[j];
    l += std::max(zj, 0.0) - zj * yj + std::log1p(std::exp(-std::abs(zj)));
    if (g) {
      const T e = std::exp(-std::abs(z[j]));
      const T sig = z[j] >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
      g[j] = s * (sig - y[j]) / T(d);
    }
  }
  return l / double(d);
}

// BCE on probabilities, clipped as Keras; the clip's gradient is zero outside the range.
template <class T>
double row_bce_probs(index_t d, const T* p, const T* y, T* g, T s) {
  double l = 0;
  const T lo = T(kLossEpsilon), hi = T(1) - T(kLossEpsilon);
  for (index_t j = 0; j < d; ++j) {
    const T pc = std::min(std::max(p[j], lo), hi);
    l -= double(y[j]) * std::log(double(pc)) + (1.0 - double(y[j])) * std::log(1.0 - double(pc));
    if (g) g[j] = (p[j] > lo && p[j] < hi) ? s * (pc - y[j]) / (pc * (T(1) - pc)) / T(d) : T(0);
  }
  return l / double(d);
}

// Categorical CE on logits with dense (y) or sparse (label) targets:
// l = sum_j y_j (lse - z_j), gradient softmax(z) * sum(y) - y.
template <class T>
double row_cce_logits(index_t d, const T* z, const T* y, index_t label, T* g, T s) {
  // One exp per element: e_j = exp(z_j - max) is kept (in g) for the gradient
  // softmax_j = e_j / se, so the row costs d exps, not 2d. float32 takes the max, the exps
  // and their sum from the SIMD kernels (the same bits on every ISA: exp_f32.inc, the sum
  // in double in 8 fixed lanes), a chunk of the row at a time when there is no g to hold them.
  T mx;
  double se = 0;
  if constexpr (std::is_same_v<T, float>) {
    constexpr index_t kChunk = 256;  // a multiple of 8: lanes follow columns
    float buf[kChunk];
    if (g || d <= kChunk) {  // the whole row in one call
      se = detail::softmax_exp(d, z, g ? g : buf, &mx);
    } else {
      mx = detail::row_max(d, z);
      double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (index_t j0 = 0; j0 < d; j0 += kChunk) detail::exp_sum(std::min(kChunk, d - j0), z + j0, mx, buf, lanes);
      se = detail::combine_lanes(lanes);
    }
  } else {
    mx = z[0];
    for (index_t j = 1; j < d; ++j) mx = std::max(mx, z[j]);
    for (index_t j = 0; j < d; ++j) {
      const double e = std::exp(double(z[j] - mx));
      se += e;
      if (g) g[j] = T(e);
    }
  }
  const double lse = double(mx) + std::log(se);
  double l = 0, ysum = 0;
  if (y) {
    for (index_t j = 0; j < d; ++j) { l += double(y[j]) * (lse - double(z[j])); ysum += double(y[j]); }
  } else {
    l = lse - double(z[label]);
    ysum = 1;
  }
  if (g) {
    const double k = ysum / se;
    if constexpr (std::is_same_v<T, float>) detail::scale_f64(d, g, k, s);
    else for (index_t j = 0; j < d; ++j) g[j] = s * T(double(g[j]) * k);
    if (y) for (index_t j = 0; j < d; ++j) g[j] -= s * y[j];
    else g[label] -= s;
  }
  return l;
}

// Categorical CE on probabilities (Keras): q = p / sum(p), clipped; l = -sum y log q.
template <class T>
double row_cce_probs(index_t d, const T* p, const T* y, index_t label, T* g, T s) {
  double S = 0;
  for (index_t j = 0; j < d; ++j) S += double(p[j]);
  const double lo = kLossEpsilon, hi = 1.0 - kLossEpsilon;
  double l = 0, gq_dot_q = 0;
  for (index_t j = 0; j < d; ++j) {
    const double yj = y ? double(y[j]) : (j == label ? 1.0 : 0.0);
    if (yj == 0.0) continue;
    const double q = double(p[j]) / S;
    const double qc = std::min(std::max(q, lo), hi);
    l -= yj * std::log(qc);
    if (q > lo && q < hi) gq_dot_q -= yj;  // (dl/dq_j) q_j = -y_j where not clipped
  }
  if (g) {
    for (index_t j = 0; j < d; ++j) {
      const double yj = y ? double(y[j]) : (j == label ? 1.0 : 0.0);
      const double q = double(p[j]) / S;
      const double gq = (yj != 0.0 && q > lo && q < hi) ? -yj / q : 0.0;
      g[j] = s * T((gq - gq_dot_q) / S);
    }
  }
  return l;
}

}  // namespace

LossKind loss_from_name(const std::string& name) {
  static const struct { const char* n; LossKind k; } table[] = {
      {"mean_squared_error", LossKind::mean_squared_error}, {"mse", LossKind::mean_squared_error},
      {"mean_absolute_error", LossKind::mean_absolute_error}, {"mae", LossKind::mean_absolute_error},
      {"huber", LossKind::huber}, {"binary_crossentropy", LossKind::binary_crossentropy},
      {"categorical_crossentropy", LossKind::categorical_crossentropy},
      {"sparse_categorical_crossentropy", LossKind::sparse_categorical_crossentropy},
      {"poisson", LossKind::poisson}, {"value", LossKind::value}};
  for (const auto& e : table)
    if (name == e.n) return e.k;
  throw std::invalid_argument("unknown loss '" + name +
                              "'; expected one of mean_squared_error (mse), mean_absolute_error (mae), huber, "
                              "binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, poisson");
}

const char* loss_name(LossKind k) noexcept {
  switch (k) {
    case LossKind::mean_squared_error: return "mean_squared_error";
    case LossKind::mean_absolute_error: return "mean_absolute_error";
    case LossKind::huber: return "huber";
    case LossKind::binary_crossentropy: return "binary_crossentropy";
    case LossKind::categorical_crossentropy: return "categorical_crossentropy";
    case LossKind::sparse_categorical_crossentropy: return "sparse_categorical_crossentropy";
    case LossKind::poisson: return "poisson";
    case LossKind::value: return "value";
  }
  return "?";
}

template <class T>
double loss_evaluate(const LossSpec& spec, index_t n, index_t d, const T* out, const T* logits, const T* y,
                     const T* sw, T* grad, T grad_scale, double* row_loss) {
  const bool sparse = loss_is_sparse(spec.kind);
  const index_t ycols = spec.kind == LossKind::value ? 0 : (sparse ? 1 : d);
  const bool value_sums = spec.reduction == LossReduction::mean_with_sample_weight && sw;
  // Rows are independent: threads split rows, and the final sum runs in row order.
  detail::parallel_chunks(n, 32, n * d * 8, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) {
      const T* p = out + i * d;
      const T* z = logits ? logits + i * d : nullptr;
      const T* yr = y + i * ycols;
      T* g = grad ? grad + i * d : nullptr;
      const T s = (sw ? sw[i] : T(1)) * grad_scale;
      double l = 0;
      switch (spec.kind) {
        case LossKind::mean_squared_error: l = row_mse(d, p, yr, g, s); break;
        case LossKind::mean_absolute_error: l = row_mae(d, p, yr, g, s); break;
        case LossKind::huber: l = row_huber(d, p, yr, g, s, spec.delta); break;
        case LossKind::poisson: l = z ? row_poisson_logits(d, z, yr, g, s) : row_poisson(d, p, yr, g, s); break;
        case LossKind::binary_crossentropy:
          l = z ? row_bce_logits(d, z, yr, g, s) : row_bce_probs(d, p, yr, g, s);
          break;
        case LossKind::categorical_crossentropy:
          l = z ? row_cce_logits<T>(d, z, yr, 0, g, s) : row_cce_probs<T>(d, p, yr, 0, g, s);
          break;
        case LossKind::value: {
          const T gs = value_sums ? s : s / T(d);
          for (index_t j = 0; j < d; ++j) {
            l += double(p[j]);
            if (g) g[j] = gs;
          }
          if (!value_sums) l /= double(d);
          break;
        }
        case LossKind::sparse_categorical_crossentropy: {
          const index_t label = static_cast<index_t>(yr[0]);
          l = z ? row_cce_logits<T>(d, z, nullptr, label, g, s) : row_cce_probs<T>(d, p, nullptr, label, g, s);
          break;
        }
      }
      row_loss[i] = l;
    }
  });
  double total = 0;
  for (index_t i = 0; i < n; ++i) total += (sw ? double(sw[i]) : 1.0) * row_loss[i];
  return total;
}

template double loss_evaluate<float>(const LossSpec&, index_t, index_t, const float*, const float*, const float*,
                                     const float*, float*, float, double*);
template double loss_evaluate<double>(const LossSpec&, index_t, index_t, const double*, const double*,
                                      const double*, const double*, double*, double, double*);

}  // namespace dnnx

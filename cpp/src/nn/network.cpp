// Network: layout of the arenas and the workspace, and the training/inference loops.
#include "dnnx/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "dnnx/rng.hpp"

namespace dnnx {
namespace {

// Workspace regions start on 64-byte boundaries.
constexpr index_t align16(index_t n) { return (n + 15) / 16 * 16; }

template <class T> inline T sgn(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

}  // namespace

template <class T>
Network<T>::Network(const NetworkSpec& spec) : input_dim_(spec.input_dim), seed_(spec.seed) {
  if (spec.input_dim < 1)
    throw std::invalid_argument("network: input_dim must be a positive integer; received input_dim=" +
                                std::to_string(spec.input_dim));
  if (spec.layers.empty()) throw std::invalid_argument("network: layers must not be empty");
  index_t dim = input_dim_;
  max_dim_ = dim;
  for (const LayerSpec& ls : spec.layers) {
    layers_.push_back(make_layer<T>(ls, dim));
    layers_.back()->declare(tensors_);
    dim = layers_.back()->out_dim();
    max_dim_ = std::max(max_dim_, dim);
  }
  // Trainable tensors first (one contiguous range for the optimizer), then the rest.
  index_t off = 0;
  for (TensorInfo& t : tensors_) if (t.trainable) { t.offset = off; off += t.size; }
  trainable_size_ = off;
  for (TensorInfo& t : tensors_) if (!t.trainable) { t.offset = off; off += t.size; }
  arena_size_ = off;
  params_.reserve(static_cast<std::size_t>(std::max<index_t>(arena_size_, 1)));
  grads_.reserve(static_cast<std::size_t>(std::max<index_t>(arena_size_, 1)));
  params_.zero();
  grads_.zero();  // non-trainable tensors keep a zero gradient forever
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    init_fill<T>(t.init, t.fan_in, t.fan_out, t.size, params_.data() + t.offset, seed_, i);
  }
  for (auto& l : layers_) l->bind(tensors_, params_.data(), grads_.data());
}

template <class T>
std::vector<index_t> Network<T>::output_shapes() const {
  std::vector<index_t> s;
  for (const auto& l : layers_) s.push_back(l->out_dim());
  return s;
}

template <class T>
bool Network<T>::sparse_labels() const noexcept {
  if (config_.has_loss) return loss_is_sparse(config_.loss.kind);
  return !config_.metrics.empty() && metric_is_sparse(config_.metrics[0].kind);
}

template <class T>
index_t Network<T>::label_cols() const noexcept { return sparse_labels() ? 1 : output_dim(); }

template <class T>
void Network<T>::configure(const TrainingConfig& config) {
  // y is (n, 1) class indices for the sparse loss/metrics and (n, output_dim) otherwise;
  // one y serves loss and metrics alike, so they must agree.
  bool sparse_labels = config.has_loss && loss_is_sparse(config.loss.kind);
  if (!config.has_loss && !config.metrics.empty()) sparse_labels = metric_is_sparse(config.metrics[0].kind);
  for (const MetricSpec& m : config.metrics)
    if (metric_is_sparse(m.kind) != sparse_labels)
      throw std::invalid_argument("metric '" + m.key + "' needs " + (metric_is_sparse(m.kind) ? "sparse" : "dense") +
                                  " labels, but " +
                                  (config.has_loss ? std::string("the loss ") + loss_name(config.loss.kind)
                                                   : std::string("another metric")) +
                                  " uses " + (sparse_labels ? "sparse" : "dense") + " labels");
  std::vector<Metric> metrics;
  for (const MetricSpec& m : config.metrics) metrics.emplace_back(m);
  std::unique_ptr<Optimizer<T>> opt;
  if (config.has_optimizer) opt = make_optimizer<T>(config.optimizer);

  config_ = config;
  metrics_ = std::move(metrics);
  if (opt) {
    optimizer_ = std::move(opt);
    std::vector<Segment> segs;
    for (const TensorInfo& t : tensors_) if (t.trainable) segs.push_back({t.offset, t.size});
    optimizer_->build(trainable_size_, std::move(segs));
    iterations_ = 0;
    optimizer_->set_iterations(0);
  } else {
    optimizer_.reset();
  }
  const Act last = layers_.back()->output_act();
  const LossKind lk = config.loss.kind;
  fused_ = config.has_loss && !config.loss.from_logits &&
           (((lk == LossKind::categorical_crossentropy || lk == LossKind::sparse_categorical_crossentropy) &&
             last == Act::softmax) ||
            (lk == LossKind::binary_crossentropy && last == Act::sigmoid));
  layers_.back()->keep_logits(fused_);
  rows_ = 0;  // cache sizes may have changed: lay the workspace out again on next use
  logs_.clear();
  logs_.emplace_back("loss", 0.0);
  for (const Metric& m : metrics_) logs_.emplace_back(m.spec().key, 0.0);
}

template <class T>
void Network<T>::set_iterations(std::int64_t it) {
  if (it < 0) throw std::invalid_argument("iterations must be >= 0; received " + std::to_string(it));
  iterations_ = it;
  if (optimizer_) optimizer_->set_iterations(it);
}

template <class T>
void Network<T>::reserve(index_t rows) {
  if (rows <= rows_) return;
  index_t off = 0;
  act_off_.assign(layers_.size(), 0);
  cache_off_.assign(layers_.size(), 0);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    act_off_[l] = off;
    off += align16(rows * layers_[l]->out_dim());
    cache_off_[l] = off;
    off += align16(layers_[l]->cache_size(rows));
  }
  g0_off_ = off; off += align16(rows * max_dim_);
  g1_off_ = off; off += align16(rows * max_dim_);
  xb_off_ = off; off += align16(rows * input_dim_);
  yb_off_ = off; off += align16(rows * std::max(output_dim(), index_t(1)));
  sw_off_ = off; off += align16(rows);
  if (static_cast<std::size_t>(off) > work_.size()) ++growths_;
  work_.reserve(static_cast<std::size_t>(off));
  row_loss_.reserve(static_cast<std::size_t>(rows));
  rows_ = rows;
}

template <class T>
double Network<T>::regularization(bool add_grads) {
  double penalty = 0;
  for (const TensorInfo& t : tensors_) {
    if (!t.reg.active()) continue;
    const T* w = params_.data() + t.offset;
    T* g = grads_.data() + t.offset;
    const T l1 = T(t.reg.l1), l2x2 = T(2 * t.reg.l2);
    double s1 = 0, s2 = 0;
    for (index_t i = 0; i < t.size; ++i) {
      s1 += std::abs(double(w[i]));
      s2 += double(w[i]) * double(w[i]);
      if (add_grads) g[i] += l1 * sgn(w[i]) + l2x2 * w[i];
    }
    penalty += t.reg.l1 * s1 + t.reg.l2 * s2;
  }
  return penalty;
}

template <class T>
double Network<T>::run_batch(Mode mode, index_t n, const T* x, const T* y, const T* sw, double lr) {
  // Assumes reserve(n) happened and a loss is configured (checked by the callers).
  StepContext ctx;
  ctx.training = mode != Mode::evaluate;
  ctx.update_stats = mode == Mode::train;
  ctx.seed = seed_;
  ctx.counter = counter_;
  T* w = work_.data();
  const std::size_t L = layers_.size();
  const T* in = x;
  for (std::size_t l = 0; l < L; ++l) {
    ctx.layer_index = static_cast<index_t>(l);
    layers_[l]->forward(ctx, n, in, w + act_off_[l], w + cache_off_[l]);
    in = w + act_off_[l];
  }
  const T* out = in;
  const T* last_in = L > 1 ? w + act_off_[L - 2] : x;
  const T* logits = fused_ ? layers_.back()->logits(last_in, w + cache_off_[L - 1])
                           : (config_.loss.from_logits ? out : nullptr);
  const bool backprop = mode != Mode::evaluate;
  T* g = backprop ? w + g0_off_ : nullptr;
  const double wsum = loss_evaluate<T>(config_.loss, n, output_dim(), out, logits, y, sw, g, T(1) / T(n),
                                       row_loss_.data());
  // The penalty is evaluated on the weights the forward pass used (before the update).
  double loss = wsum / double(n);
  if (backprop) {
    T* dy = w + g0_off_;
    T* other = w + g1_off_;
    for (std::size_t l = L; l-- > 0;) {
      ctx.layer_index = static_cast<index_t>(l);
      const T* xl = l == 0 ? x : w + act_off_[l - 1];
      T* dx = l == 0 ? nullptr : other;  // the input gradient of the first layer is never needed
      layers_[l]->backward(ctx, n, xl, w + act_off_[l], dy, dx, w + cache_off_[l], l + 1 == L && fused_);
      std::swap(dy, other);
    }
  }
  loss += regularization(backprop);
  if (mode != Mode::gradients)
    for (Metric& m : metrics_) m.update<T>(n, output_dim(), out, y, sw);
  if (mode == Mode::train) {
    optimizer_->apply(params_.data(), grads_.data(), lr, iterations_);
    ++params_version_;
    ++iterations_;
    ++counter_;
  }
  return loss;
}

template <class T>
void Network<T>::check_labels(const Batch<T>& data) const {
  if (!sparse_labels() || !data.y) return;
  const index_t classes = output_dim();
  for (index_t i = 0; i < data.n; ++i) {
    const T v = data.y[i];
    if (!(v >= T(0) && v < T(classes) && v == std::floor(v)))
      throw std::invalid_argument("y holds class indices for the sparse loss/metrics; they must be integers in [0, " +
                                  std::to_string(classes) + "); received y[" + std::to_string(i) +
                                  "] = " + std::to_string(double(v)));
  }
}

template <class T>
Logs& Network<T>::reset_metrics() {
  for (Metric& m : metrics_) m.reset();
  return logs_;
}

template <class T>
void Network<T>::update_logs(double loss) {
  logs_[0].second = loss;
  for (std::size_t i = 0; i < metrics_.size(); ++i) logs_[i + 1].second = metrics_[i].result();
}

template <class T>
Logs Network<T>::train_batch(const Batch<T>& d, double lr) {
  if (!config_.has_loss || !optimizer_)
    throw std::runtime_error("train_batch: the network has no loss/optimizer; call set_training_config first");
  if (d.n < 1) throw std::invalid_argument("train_batch: the batch is empty");
  reserve(d.n);
  reset_metrics();
  update_logs(run_batch(Mode::train, d.n, d.x, d.y, d.sw, lr));
  return logs_;
}

template <class T>
Logs Network<T>::train_epoch(const Batch<T>& d, index_t bs, bool shuffle, std::int64_t epoch, const double* lrs,
                             index_t n_lrs, const EpochHooks& hooks) {
  if (!config_.has_loss || !optimizer_)
    throw std::runtime_error("train_epoch: the network has no loss/optimizer; call set_training_config first");
  if (bs < 1) throw std::invalid_argument("train_epoch: batch_size must be >= 1; received " + std::to_string(bs));
  const index_t n = d.n;
  const index_t steps = (n + bs - 1) / bs;
  if (n_lrs != steps)
    throw std::invalid_argument("train_epoch: learning_rates must hold one value per step (" + std::to_string(steps) +
                                "); received " + std::to_string(n_lrs));
  reset_metrics();
  if (n == 0) { update_logs(0.0); return logs_; }
  reserve(std::min(bs, n));
  const index_t in = input_dim_, yc = label_cols();
  if (shuffle) {
    // Fisher-Yates; draw i is a pure function of (seed, epoch, i).
    perm_.reserve(static_cast<std::size_t>(n));
    index_t* p = perm_.data();
    for (index_t i = 0; i < n; ++i) p[i] = i;
    const std::uint64_t key = rng_key(seed_, RngStream::shuffle, static_cast<std::uint64_t>(epoch));
    for (index_t i = n - 1; i > 0; --i) {
      const auto r = philox4x32(key, 0, static_cast<std::uint64_t>(i));
      std::swap(p[i], p[bounded64(r[0], r[1], static_cast<std::uint64_t>(i + 1))]);
    }
  }
  double loss_sum = 0;
  index_t seen = 0;
  for (index_t s = 0; s < steps; ++s) {
    const index_t i0 = s * bs, nb = std::min(bs, n - i0);
    const T *x = d.x + i0 * in, *y = d.y + i0 * yc, *sw = d.sw ? d.sw + i0 : nullptr;
    if (shuffle) {
      T* xb = work_.data() + xb_off_;
      T* yb = work_.data() + yb_off_;
      T* swb = work_.data() + sw_off_;
      const index_t* p = perm_.data() + i0;
      for (index_t r = 0; r < nb; ++r) {
        std::memcpy(xb + r * in, d.x + p[r] * in, static_cast<std::size_t>(in) * sizeof(T));
        std::memcpy(yb + r * yc, d.y + p[r] * yc, static_cast<std::size_t>(yc) * sizeof(T));
        if (d.sw) swb[r] = d.sw[p[r]];
      }
      x = xb;
      y = yb;
      sw = d.sw ? swb : nullptr;
    }
    // Keras' loss tracker: the mean of batch losses weighted by batch size.
    loss_sum += run_batch(Mode::train, nb, x, y, sw, lrs[s]) * double(nb);
    seen += nb;
    const bool last = s + 1 == steps;
    const bool call = hooks.on_batch && (last || (hooks.callback_every > 0 && (s + 1) % hooks.callback_every == 0));
    if (call) {
      update_logs(loss_sum / double(seen));
      if (hooks.on_batch(s, logs_)) break;
    } else if (hooks.poll && (s + 1) % kPollEvery == 0) {
      hooks.poll();
    }
  }
  update_logs(loss_sum / double(seen));
  return logs_;
}

template <class T>
Logs Network<T>::evaluate(const Batch<T>& d, index_t bs) {
  if (!config_.has_loss) throw std::runtime_error("evaluate: the network has no loss; call set_training_config first");
  if (bs <= 0) bs = kDefaultChunk;
  reset_metrics();
  if (d.n == 0) { update_logs(0.0); return logs_; }
  reserve(std::min(bs, d.n));
  const index_t in = input_dim_, yc = label_cols();
  double loss_sum = 0;
  for (index_t i0 = 0; i0 < d.n; i0 += bs) {
    const index_t nb = std::min(bs, d.n - i0);
    loss_sum += run_batch(Mode::evaluate, nb, d.x + i0 * in, d.y + i0 * yc, d.sw ? d.sw + i0 : nullptr, 0.0) *
                double(nb);
  }
  update_logs(loss_sum / double(d.n));
  return logs_;
}

template <class T>
double Network<T>::compute_gradients(const Batch<T>& d) {
  if (!config_.has_loss) throw std::runtime_error("compute_gradients: the network has no loss; call set_training_config first");
  if (d.n < 1) throw std::invalid_argument("compute_gradients: the batch is empty");
  reserve(d.n);
  return run_batch(Mode::gradients, d.n, d.x, d.y, d.sw, 0.0);
}

template <class T>
void Network<T>::predict(index_t n, const T* x, T* out, index_t chunk) const {
  if (chunk <= 0) chunk = kDefaultChunk;
  chunk = std::max<index_t>(1, std::min(chunk, n));
  const std::size_t L = layers_.size();
  // Ping-pong buffers for the hidden layers, private to the calling thread (concurrent
  // predict calls share nothing writable). Small ones are kept per thread and reused, so
  // a small predict allocates nothing; big ones are per call (their cost is amortized,
  // and a thread does not keep megabytes alive after a large predict).
  index_t hidden = 0;
  for (std::size_t l = 0; l + 1 < L; ++l) hidden = std::max(hidden, layers_[l]->out_dim());
  const std::size_t need = static_cast<std::size_t>(chunk * hidden);
  constexpr std::size_t kKeep = std::size_t(1) << 18;  // elements per buffer
  thread_local AlignedBuffer<T> keep_a, keep_b;
  AlignedBuffer<T> own_a, own_b;
  AlignedBuffer<T>& a = need <= kKeep ? keep_a : own_a;
  AlignedBuffer<T>& b = need <= kKeep ? keep_b : own_b;
  if (L > 1) a.reserve(need);
  if (L > 2) b.reserve(need);
  StepContext ctx;
  ctx.params_version = params_version_;
  const index_t od = output_dim();
  for (index_t i0 = 0; i0 < n; i0 += chunk) {
    const index_t nb = std::min(chunk, n - i0);
    const T* in = x + i0 * input_dim_;
    for (std::size_t l = 0; l < L; ++l) {
      T* dst = l + 1 == L ? out + i0 * od : (l % 2 ? b.data() : a.data());
      ctx.layer_index = static_cast<index_t>(l);
      layers_[l]->forward(ctx, nb, in, dst, nullptr);
      in = dst;
    }
  }
}

template class Network<float>;
template class Network<double>;

}  // namespace dnnx

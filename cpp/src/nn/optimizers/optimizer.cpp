// The optimizer base: gradient clipping and weight decay (Keras 3 BaseOptimizer), the
// single elementwise pass over the arena, and the factory.
#include <cmath>
#include <stdexcept>

#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

// Sum of squares of one tensor in a fixed order (chunks of 65536 elements, each summed in
// the 8 fixed double lanes of detail::reg_sums, then in chunk order), so clipping does not
// depend on the thread count or the SIMD kernel.
template <class T>
double sum_squares(const T* g, index_t n) {
  constexpr index_t kChunk = index_t(1) << 16;
  double total = 0;
  for (index_t i0 = 0; i0 < n; i0 += kChunk) {
    double sums[2];
    detail::reg_sums<T>(std::min(n - i0, kChunk), g + i0, nullptr, T(0), T(0), sums);
    total += sums[1];
  }
  return total;
}

void check_positive(const char* what, double v) {
  if (!(v > 0.0)) throw std::invalid_argument(std::string("optimizer: ") + what + " must be > 0; received " +
                                              what + "=" + std::to_string(v));
}
void check_nonneg(const char* what, double v) {
  if (!(v >= 0.0)) throw std::invalid_argument(std::string("optimizer: ") + what + " must be >= 0; received " +
                                               what + "=" + std::to_string(v));
}
void check_unit(const char* what, double v) {
  if (!(v >= 0.0 && v <= 1.0))
    throw std::invalid_argument(std::string("optimizer: ") + what + " must be in [0, 1]; received " + what + "=" +
                                std::to_string(v));
}

}  // namespace

OptKind opt_from_name(const std::string& name) {
  static const struct { const char* n; OptKind k; } table[] = {
      {"sgd", OptKind::sgd}, {"adam", OptKind::adam}, {"adamw", OptKind::adamw},
      {"rmsprop", OptKind::rmsprop}, {"adagrad", OptKind::adagrad}, {"nadam", OptKind::nadam}};
  for (const auto& e : table)
    if (name == e.n) return e.k;
  throw std::invalid_argument("unknown optimizer '" + name + "'; expected one of sgd, adam, adamw, rmsprop, adagrad, nadam");
}

double opt_default_learning_rate(OptKind k) noexcept { return k == OptKind::sgd ? 0.01 : 0.001; }

OptimizerSpec opt_defaults(OptKind k) noexcept {
  OptimizerSpec s;
  s.kind = k;
  s.learning_rate = opt_default_learning_rate(k);
  if (k == OptKind::adamw) s.weight_decay = 0.004;
  return s;
}

template <class T>
void Optimizer<T>::build(index_t n, std::vector<Segment> tensors) {
  n_ = n;
  tensors_ = std::move(tensors);
  tensor_scale_.assign(tensors_.size(), T(1));
  active_.assign(tensors_.size(), 1);
  all_active_ = true;
  slots_.clear();
  for (std::size_t s = 0; s < slot_init_.size(); ++s) {
    slots_.emplace_back(static_cast<std::size_t>(std::max<index_t>(n, 1)));
    for (index_t i = 0; i < n; ++i) slots_.back()[static_cast<std::size_t>(i)] = slot_init_[s];
  }
}

template <class T>
void Optimizer<T>::set_active(const std::vector<char>& active) {
  if (active.size() != tensors_.size())
    throw std::invalid_argument("optimizer: set_active needs one flag per tensor (" + std::to_string(tensors_.size()) +
                                "); received " + std::to_string(active.size()));
  active_ = active;
  all_active_ = true;
  for (char a : active_) all_active_ = all_active_ && a;
}

template <class T>
void Optimizer<T>::apply(T* w, const T* g, double lr, std::int64_t iterations) {
  GradPrep<T> prep;
  prep.clip = T(spec_.clipvalue);
  prep.decay = T(spec_.weight_decay * lr);
  bool per_tensor = false;
  if (spec_.clipnorm > 0) {
    // Keras clip_by_norm: g * clipnorm / max(||g||, clipnorm), tensor by tensor.
    per_tensor = true;
    prep.clip = T(0);
    for (std::size_t t = 0; t < tensors_.size(); ++t) {
      if (!active_[t]) continue;
      const double norm = std::sqrt(sum_squares(g + tensors_[t].offset, tensors_[t].size));
      tensor_scale_[t] = T(spec_.clipnorm / std::max(norm, spec_.clipnorm));
    }
  } else if (spec_.global_clipnorm > 0) {
    double ss = 0;
    for (std::size_t t = 0; t < tensors_.size(); ++t)
      if (active_[t]) ss += sum_squares(g + tensors_[t].offset, tensors_[t].size);
    prep.scale = T(spec_.global_clipnorm / std::max(std::sqrt(ss), spec_.global_clipnorm));
    prep.clip = T(0);
  }
  begin_step(iterations + 1, lr);
  auto pass = [&](index_t offset, index_t size, const GradPrep<T>& p) {
    detail::parallel_chunks(size, 16384, size * 4, [&](index_t i0, index_t i1) {
      update(offset + i0, offset + i1, w, g, p);
    });
  };
  if (!per_tensor && all_active_) {
    pass(0, n_, prep);
    return;
  }
  if (!per_tensor) {
    // Maximal runs of adjacent active tensors (elementwise rules: the same bits as one pass).
    for (std::size_t t = 0; t < tensors_.size();) {
      if (!active_[t]) { ++t; continue; }
      const index_t begin = tensors_[t].offset;
      index_t end = begin + tensors_[t].size;
      std::size_t u = t + 1;
      for (; u < tensors_.size() && active_[u] && tensors_[u].offset == end; ++u) end += tensors_[u].size;
      pass(begin, end - begin, prep);
      t = u;
    }
    return;
  }
  for (std::size_t t = 0; t < tensors_.size(); ++t) {
    if (!active_[t]) continue;
    GradPrep<T> p = prep;
    p.scale = tensor_scale_[t];
    pass(tensors_[t].offset, tensors_[t].size, p);
  }
}

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerSpec& s) {
  check_nonneg("learning_rate", s.learning_rate);  // 0 is valid (Keras), e.g. a warmup start
  check_nonneg("weight_decay", s.weight_decay);
  check_nonneg("clipnorm", s.clipnorm);
  check_nonneg("clipvalue", s.clipvalue);
  check_nonneg("global_clipnorm", s.global_clipnorm);
  if (s.clipnorm > 0 && s.global_clipnorm > 0)
    throw std::invalid_argument("optimizer: only one of clipnorm and global_clipnorm can be set");
  switch (s.kind) {
    case OptKind::sgd:
      check_unit("momentum", s.momentum);
      return make_sgd<T>(s);
    case OptKind::adam:
    case OptKind::adamw:
    case OptKind::nadam:
      check_unit("beta_1", s.beta_1);
      check_unit("beta_2", s.beta_2);
      check_positive("epsilon", s.epsilon);
      return s.kind == OptKind::nadam ? make_nadam<T>(s) : make_adam<T>(s);
    case OptKind::rmsprop:
      check_unit("rho", s.rho);
      check_nonneg("momentum", s.momentum);
      check_positive("epsilon", s.epsilon);
      return make_rmsprop<T>(s);
    case OptKind::adagrad:
      check_nonneg("initial_accumulator_value", s.initial_accumulator_value);
      check_positive("epsilon", s.epsilon);
      return make_adagrad<T>(s);
  }
  throw std::invalid_argument("unknown optimizer kind");
}

template class Optimizer<float>;
template class Optimizer<double>;
template std::unique_ptr<Optimizer<float>> make_optimizer<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_optimizer<double>(const OptimizerSpec&);

}  // namespace dnnx

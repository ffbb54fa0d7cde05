// RMSprop (Hinton, Lecture 6e, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf),
// Keras 3 form (epsilon inside the square root):
//   v = rho v + (1 - rho) g^2
//   centered: a = rho a + (1 - rho) g,  denom = v - a^2 + eps;  else denom = v + eps
//   inc = lr g / sqrt(denom)
//   momentum > 0: mo = momentum mo + inc, w -= mo;  else w -= inc
#include <cmath>

#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

template <class T>
class RMSprop final : public Optimizer<T> {
 public:
  explicit RMSprop(const OptimizerSpec& s) : Optimizer<T>(s) {
    this->add_slot("velocity", T(0));
    if (s.momentum > 0) this->add_slot("momentum", T(0));
    if (s.centered) this->add_slot("average_gradient", T(0));
  }

 protected:
  void begin_step(std::int64_t, double lr) override { lr_ = T(lr); }

  void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) override {
    const OptimizerSpec& s = this->spec_;
    T* v = this->slots_[0].data();
    std::size_t k = 1;
    T* mo = s.momentum > 0 ? this->slots_[k++].data() : nullptr;
    T* avg = s.centered ? this->slots_[k].data() : nullptr;
    const T rho = T(s.rho), eps = T(s.epsilon), mu = T(s.momentum), lr = lr_;
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) {
        nnk::OptArgs args = detail::opt_args(prep);
        args.rho = rho; args.one_minus_rho = T(1) - rho; args.eps = eps; args.mu = mu; args.lr = lr;
        k->rmsprop(i1 - i0, w + i0, g + i0, v + i0, mo ? mo + i0 : nullptr, avg ? avg + i0 : nullptr, args);
        return;
      }
    }
    for (index_t i = i0; i < i1; ++i) {
      const T gi = prep(g[i]);
      w[i] -= w[i] * prep.decay;
      v[i] = rho * v[i] + (T(1) - rho) * gi * gi;
      T denom = v[i] + eps;
      if (avg) {
        avg[i] = rho * avg[i] + (T(1) - rho) * gi;
        denom = v[i] - avg[i] * avg[i] + eps;
      }
      const T inc = lr * gi / std::sqrt(denom);
      if (mo) { mo[i] = mu * mo[i] + inc; w[i] -= mo[i]; }
      else w[i] -= inc;
    }
  }

 private:
  T lr_ = T(0);
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_rmsprop(const OptimizerSpec& spec) { return std::make_unique<RMSprop<T>>(spec); }

template std::unique_ptr<Optimizer<float>> make_rmsprop<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_rmsprop<double>(const OptimizerSpec&);

}  // namespace dnnx

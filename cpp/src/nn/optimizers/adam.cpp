// Adam (Kingma & Ba 2014, https://arxiv.org/abs/1412.6980), Keras 3 form; AdamW
// (Loshchilov & Hutter 2017, https://arxiv.org/abs/1711.05101) is the same rule with the
// base optimizer's decoupled weight decay (default 0.004, applied by the base pass).
//   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//   m += (g - m) (1 - beta_1);  v += (g^2 - v) (1 - beta_2)
//   amsgrad: v_hat = max(v_hat, v), used in place of v
//   w -= alpha * m / (sqrt(v) + epsilon)
#include <cmath>

#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

template <class T>
class Adam final : public Optimizer<T> {
 public:
  explicit Adam(const OptimizerSpec& s) : Optimizer<T>(s) {
    this->add_slot("momentum", T(0));
    this->add_slot("velocity", T(0));
    if (s.amsgrad) this->add_slot("velocity_hat", T(0));
  }

 protected:
  void begin_step(std::int64_t t, double lr) override {
    const double b1p = std::pow(this->spec_.beta_1, double(t)), b2p = std::pow(this->spec_.beta_2, double(t));
    alpha_ = T(lr * std::sqrt(1.0 - b2p) / (1.0 - b1p));
  }

  void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) override {
    T* m = this->slots_[0].data();
    T* v = this->slots_[1].data();
    T* vh = this->spec_.amsgrad ? this->slots_[2].data() : nullptr;
    const T a = alpha_, c1 = T(1) - T(this->spec_.beta_1), c2 = T(1) - T(this->spec_.beta_2);
    const T eps = T(this->spec_.epsilon);
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) {
        nnk::OptArgs args = detail::opt_args(prep);
        args.alpha = a; args.c1 = c1; args.c2 = c2; args.eps = eps;
        k->adam(i1 - i0, w + i0, g + i0, m + i0, v + i0, vh ? vh + i0 : nullptr, args);
        return;
      }
    }
    if (vh) {
      for (index_t i = i0; i < i1; ++i) {
        const T gi = prep(g[i]);
        w[i] -= w[i] * prep.decay;
        m[i] += (gi - m[i]) * c1;
        v[i] += (gi * gi - v[i]) * c2;
        vh[i] = vh[i] > v[i] ? vh[i] : v[i];
        w[i] -= m[i] * a / (std::sqrt(vh[i]) + eps);
      }
      return;
    }
    for (index_t i = i0; i < i1; ++i) {
      const T gi = prep(g[i]);
      w[i] -= w[i] * prep.decay;
      m[i] += (gi - m[i]) * c1;
      v[i] += (gi * gi - v[i]) * c2;
      w[i] -= m[i] * a / (std::sqrt(v[i]) + eps);
    }
  }

 private:
  T alpha_ = T(0);
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_adam(const OptimizerSpec& spec) { return std::make_unique<Adam<T>>(spec); }

template std::unique_ptr<Optimizer<float>> make_adam<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_adam<double>(const OptimizerSpec&);

}  // namespace dnnx

// Nadam (Dozat 2016, https://openreview.net/pdf/OM0jvwB8jIp57ZJjtNEZ.pdf), Keras 3 form
// with the momentum-cache schedule u_t = beta_1 (1 - 0.5 * 0.96^(0.004 t)):
//   u_product *= u_t   (before the update; a scalar that follows from iterations alone)
//   m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
//   m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product)
//   v_hat = v / (1 - beta_2^t)
//   w -= lr m_hat / (sqrt(v_hat) + epsilon)
#include <cmath>

#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

template <class T>
class Nadam final : public Optimizer<T> {
 public:
  explicit Nadam(const OptimizerSpec& s) : Optimizer<T>(s) {
    this->add_slot("momentum", T(0));
    this->add_slot("velocity", T(0));
  }

  void set_iterations(std::int64_t iterations) override {
    u_product_ = 1.0;
    for (std::int64_t t = 1; t <= iterations; ++t) u_product_ *= u(t);
  }

 protected:
  double u(std::int64_t t) const { return this->spec_.beta_1 * (1.0 - 0.5 * std::pow(0.96, 0.004 * double(t))); }

  void begin_step(std::int64_t t, double lr) override {
    u_product_ *= u(t);
    const double ut = u(t), ut1 = u(t + 1);
    c_m_ = T(ut1 / (1.0 - u_product_ * ut1));
    c_g_ = T((1.0 - ut) / (1.0 - u_product_));
    c_v_ = T(1.0 / (1.0 - std::pow(this->spec_.beta_2, double(t))));
    lr_ = T(lr);
  }

  void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) override {
    T* m = this->slots_[0].data();
    T* v = this->slots_[1].data();
    const T c1 = T(1) - T(this->spec_.beta_1), c2 = T(1) - T(this->spec_.beta_2), eps = T(this->spec_.epsilon);
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) {
        nnk::OptArgs args = detail::opt_args(prep);
        args.c1 = c1; args.c2 = c2; args.eps = eps; args.lr = lr_;
        args.cm = c_m_; args.cg = c_g_; args.cv = c_v_;
        k->nadam(i1 - i0, w + i0, g + i0, m + i0, v + i0, args);
        return;
      }
    }
    for (index_t i = i0; i < i1; ++i) {
      const T gi = prep(g[i]);
      w[i] -= w[i] * prep.decay;
      m[i] += (gi - m[i]) * c1;
      v[i] += (gi * gi - v[i]) * c2;
      const T m_hat = c_m_ * m[i] + c_g_ * gi;
      w[i] -= lr_ * m_hat / (std::sqrt(v[i] * c_v_) + eps);
    }
  }

 private:
  double u_product_ = 1.0;
  T c_m_ = T(0), c_g_ = T(0), c_v_ = T(0), lr_ = T(0);
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_nadam(const OptimizerSpec& spec) { return std::make_unique<Nadam<T>>(spec); }

template std::unique_ptr<Optimizer<float>> make_nadam<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_nadam<double>(const OptimizerSpec&);

}  // namespace dnnx

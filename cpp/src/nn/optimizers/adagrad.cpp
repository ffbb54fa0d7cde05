// Adagrad (Duchi et al. 2011, https://jmlr.org/papers/v12/duchi11a.html), Keras 3 form:
//   acc += g^2   (acc starts at initial_accumulator_value)
//   w -= lr g / sqrt(acc + epsilon)
#include <cmath>

#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

template <class T>
class Adagrad final : public Optimizer<T> {
 public:
  explicit Adagrad(const OptimizerSpec& s) : Optimizer<T>(s) {
    this->add_slot("accumulator", T(s.initial_accumulator_value));
  }

 protected:
  void begin_step(std::int64_t, double lr) override { lr_ = T(lr); }

  void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) override {
    T* acc = this->slots_[0].data();
    const T eps = T(this->spec_.epsilon), lr = lr_;
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) {
        nnk::OptArgs args = detail::opt_args(prep);
        args.lr = lr; args.eps = eps;
        k->adagrad(i1 - i0, w + i0, g + i0, acc + i0, args);
        return;
      }
    }
    for (index_t i = i0; i < i1; ++i) {
      const T gi = prep(g[i]);
      w[i] -= w[i] * prep.decay;
      acc[i] += gi * gi;
      w[i] -= lr * gi / std::sqrt(acc[i] + eps);
    }
  }

 private:
  T lr_ = T(0);
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_adagrad(const OptimizerSpec& spec) { return std::make_unique<Adagrad<T>>(spec); }

template std::unique_ptr<Optimizer<float>> make_adagrad<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_adagrad<double>(const OptimizerSpec&);

}  // namespace dnnx

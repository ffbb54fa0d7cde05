// SGD with optional (Nesterov) momentum, Keras 3 form
// (Sutskever et al. 2013, http://proceedings.mlr.press/v28/sutskever13.html):
//   m = momentum * m - lr * g
//   w += m                                  (classic)
//   w += momentum * m - lr * g              (nesterov)
//   w -= lr * g                             (momentum == 0: no slot)
#include "../kernels.hpp"
#include "dnnx/optimizers.hpp"

namespace dnnx {
namespace {

template <class T>
class SGD final : public Optimizer<T> {
 public:
  explicit SGD(const OptimizerSpec& s) : Optimizer<T>(s) {
    if (s.momentum != 0.0) this->add_slot("momentum", T(0));
  }

 protected:
  void begin_step(std::int64_t, double lr) override { lr_ = T(lr); }

  void update(index_t i0, index_t i1, T* w, const T* g, const GradPrep<T>& prep) override {
    const T lr = lr_, mu = T(this->spec_.momentum);
    if constexpr (std::is_same_v<T, float>) {
      if (const nnk::Table* k = nnk::active()) {
        nnk::OptArgs args = detail::opt_args(prep);
        args.lr = lr; args.mu = mu; args.nesterov = this->spec_.nesterov;
        k->sgd(i1 - i0, w + i0, g + i0, this->slots_.empty() ? nullptr : this->slots_[0].data() + i0, args);
        return;
      }
    }
    if (this->slots_.empty()) {
      for (index_t i = i0; i < i1; ++i) { const T gi = prep(g[i]); w[i] -= w[i] * prep.decay; w[i] -= lr * gi; }
      return;
    }
    T* m = this->slots_[0].data();
    const bool nesterov = this->spec_.nesterov;
    for (index_t i = i0; i < i1; ++i) {
      const T gi = prep(g[i]);
      w[i] -= w[i] * prep.decay;
      m[i] = m[i] * mu - gi * lr;
      w[i] += nesterov ? m[i] * mu - gi * lr : m[i];
    }
  }

 private:
  T lr_ = T(0);
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_sgd(const OptimizerSpec& spec) { return std::make_unique<SGD<T>>(spec); }

template std::unique_ptr<Optimizer<float>> make_sgd<float>(const OptimizerSpec&);
template std::unique_ptr<Optimizer<double>> make_sgd<double>(const OptimizerSpec&);

}  // namespace dnnx

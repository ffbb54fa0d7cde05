// _core._defaults(): the C++ defaults that the Python classes read, so that each default
// is written once, in C++ (opt_defaults in optimizers.hpp, MetricSpec in metrics.hpp).
// Private to the package (leading underscore): dnnx.optimizers and dnnx.metrics read it
// once, at import.
#include <pybind11/pybind11.h>

#include "dnnx/losses.hpp"
#include "dnnx/metrics.hpp"
#include "dnnx/optimizers.hpp"

namespace py = pybind11;

namespace dnnx::py_detail {

namespace {

py::dict optimizer_defaults(OptKind k) {
  const OptimizerSpec s = opt_defaults(k);
  py::dict d;
  d["learning_rate"] = s.learning_rate;
  d["momentum"] = s.momentum;
  d["nesterov"] = s.nesterov;
  d["beta_1"] = s.beta_1;
  d["beta_2"] = s.beta_2;
  d["epsilon"] = s.epsilon;
  d["amsgrad"] = s.amsgrad;
  d["rho"] = s.rho;
  d["centered"] = s.centered;
  d["initial_accumulator_value"] = s.initial_accumulator_value;
  d["weight_decay"] = s.weight_decay;
  return d;
}

}  // namespace

void register_defaults(py::module_& m) {
  m.def(
      "_defaults",
      [] {
        py::dict optimizers;
        for (const char* name : {"sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam"})
          optimizers[name] = optimizer_defaults(opt_from_name(name));
        const MetricSpec ms{};
        py::dict metrics;
        metrics["k"] = ms.k;
        metrics["num_thresholds"] = ms.num_thresholds;
        metrics["threshold"] = ms.threshold;
        const LossSpec ls{};
        py::dict losses;
        losses["from_logits"] = ls.from_logits;
        losses["delta"] = ls.delta;
        py::dict d;
        d["optimizers"] = optimizers;
        d["metrics"] = metrics;
        d["losses"] = losses;
        return d;
      },
      R"(The C++ defaults: {"optimizers": {name: {hyper-parameter: default}}, "metrics": {k, num_thresholds, threshold}, "losses": {from_logits, delta}}.)");
}

}  // namespace dnnx::py_detail

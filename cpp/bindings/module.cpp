// dnnx._core: the thin pybind11 layer over dnnx_core. Registration only.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace dnnx::py_detail {
void register_config(py::module_& m);
void register_defaults(py::module_& m);
void register_gemm(py::module_& m);
void register_network(py::module_& m);
}  // namespace dnnx::py_detail

PYBIND11_MODULE(_core, m) {
  m.doc() = R"(dnnx._core: compiled core of dnnx (GEMM engine, network, layers, optimizers).)";
  m.attr("__version__") = DNNX_VERSION;
  dnnx::py_detail::register_config(m);
  dnnx::py_detail::register_defaults(m);
  dnnx::py_detail::register_gemm(m);
  dnnx::py_detail::register_network(m);
}

// Network bindings. TODO(issue#4): the network core lands here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace dnnx::py_detail {
void register_network(py::module_&) {}
}  // namespace dnnx::py_detail

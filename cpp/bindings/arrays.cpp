#include "arrays.hpp"

namespace dnnx::py_detail {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  if (a.ndim() == 1) s += ',';
  return s + ')';
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

bool is_f64(const py::array& a, const char* what) {
  if (has_dtype<float>(a)) return false;
  if (has_dtype<double>(a)) return true;
  throw py::type_error(std::string(what) + " must be float32 or float64; received " + dtype_str(a));
}

template <class T>
void require(const py::array& a, const char* what, int ndim, bool writable) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(what) + " must be " + (sizeof(T) == 4 ? "float32" : "float64") +
                         "; received " + dtype_str(a));
  if (a.ndim() != ndim)
    throw py::value_error(std::string(what) + " must be " + std::to_string(ndim) + "-D; received shape " +
                          shape_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be C-contiguous");
  if (writable && !a.writeable()) throw py::value_error(std::string(what) + " must be writable");
}

template void require<float>(const py::array&, const char*, int, bool);
template void require<double>(const py::array&, const char*, int, bool);

}  // namespace dnnx::py_detail

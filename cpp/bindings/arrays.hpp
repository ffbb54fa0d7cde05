// numpy <-> raw pointer helpers for the binding layer. Strict: wrong dtype -> TypeError,
// wrong ndim/shape/layout -> ValueError; nothing is copied silently here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "dnnx/common.hpp"

namespace dnnx::py_detail {

namespace py = pybind11;

std::string shape_str(const py::array& a);
std::string dtype_str(const py::array& a);

/// True if a is float32 (false) or float64 (true); TypeError naming `what` otherwise.
/// a's dtype is equivalent to T's (NumPy's PyArray_EquivTypes): a native-order float32
/// whatever descriptor object it carries; never a byte-swapped one. (py::object::is compares
/// object identity, which rejects equivalent non-singleton descriptors.)
template <class T>
bool has_dtype(const py::array& a) {
  return py::isinstance<py::array_t<T, py::array::forcecast>>(a);
}

bool is_f64(const py::array& a, const char* what);

/// Require ndim, C-contiguity, dtype T and (optionally) writability. `what` names the argument.
template <class T>
void require(const py::array& a, const char* what, int ndim, bool writable = false);

template <class T>
inline const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <class T>
inline T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

}  // namespace dnnx::py_detail

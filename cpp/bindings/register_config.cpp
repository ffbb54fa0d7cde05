// Threads, kernel selection and build/CPU configuration.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dnnx/cpu.hpp"
#include "dnnx/dispatch.hpp"
#include "dnnx/gemm.hpp"
#include "dnnx/parallel.hpp"

namespace py = pybind11;

namespace dnnx::py_detail {

void register_config(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"), R"(Set the number of threads dnnx uses (n >= 1).)");
  m.def("get_num_threads", &num_threads, R"(Number of threads dnnx uses.)");
  m.def("_fail_alloc_in_parallel", &set_fail_alloc_in_parallel, py::arg("armed"),
        R"(Tests only: while armed, every buffer allocation inside a parallel region fails (std::bad_alloc).)");
  m.def("physical_memory", &physical_memory, R"(Bytes of physical memory (0 if unknown); larger models are refused.)");
  m.def("available_kernels", &available_kernels, R"(GEMM kernels this CPU can run ("ref" first, best last).)");
  m.def("compiled_kernels", &compiled_kernels, R"(GEMM kernels compiled into this build.)");
  m.def("active_kernel", &active_kernel, R"(The GEMM kernel in use.)");
  m.def("set_kernel", &set_kernel, py::arg("name"), R"(Force a GEMM kernel: "ref", "avx2" or "avx512".)");
  m.def("build_info", []() {
    const CpuFeatures& f = cpu_features();
    py::dict d;
    d["version"] = DNNX_VERSION;
    d["compiler"] = DNNX_COMPILER;
    d["build_flags"] = DNNX_BUILD_FLAGS;
    d["threading"] = threading_description();
    d["cpu_vendor"] = f.vendor;
    d["cpu_brand"] = f.brand;
    d["cpu_features"] = f.describe();
    return d;
  }, R"(Build and CPU facts for show_config().)");
}

}  // namespace dnnx::py_detail

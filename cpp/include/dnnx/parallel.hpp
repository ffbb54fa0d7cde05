// dnnx public C++ API, base layer (dnnx_common): the library's own thread count.
//
// Every parallel region in dnnx asks num_threads() (never omp_get_max_threads()), so
// dnnx.set_num_threads() governs dnnx alone and leaves other OpenMP users untouched.
#pragma once

namespace dnnx {

/// Threads dnnx may use. Default: DNNX_NUM_THREADS if set, else the CPUs this process
/// may run on. Always >= 1.
int num_threads() noexcept;

/// Set the thread count (n >= 1; throws std::invalid_argument otherwise).
void set_num_threads(int n);

/// True when the library was built with OpenMP.
bool have_openmp() noexcept;

/// Index of the calling thread inside a dnnx parallel region (0 outside one).
int thread_index() noexcept;

}  // namespace dnnx

// dnnx public C++ API, base layer (dnnx_common): the library's own thread count.
//
// Every parallel region in dnnx asks num_threads() (never omp_get_max_threads()), so
// dnnx.set_num_threads() governs dnnx alone and leaves other OpenMP users untouched.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

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

/// True inside an OpenMP parallel region.
bool in_parallel() noexcept;

/// Bytes of physical memory of this machine (0 if unknown).
std::uint64_t physical_memory() noexcept;

/// Arm (true) or disarm the fault injection of detail::fail_alloc_in_parallel (tests).
void set_fail_alloc_in_parallel(bool armed) noexcept;

/// An exception escaping an OpenMP region ends the process (std::terminate). Each thread
/// runs its part through run(), which keeps the first exception; after the region the
/// caller calls rethrow(). A region with barriers must let every thread reach them
/// (check failed() after a barrier instead of returning early).
class ParallelErrors {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_);
      if (!e_) e_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  bool failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  void rethrow() {
    if (e_) std::rethrow_exception(e_);
  }

 private:
  std::mutex m_;
  std::exception_ptr e_;
  std::atomic<bool> failed_{false};
};

}  // namespace dnnx

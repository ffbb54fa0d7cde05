#include "dnnx/parallel.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

namespace dnnx {
namespace {

int cpus_available() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int initial_threads() {
  if (const char* s = std::getenv("DNNX_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end != s && *end == '\0' && v >= 1 && v <= 4096) return static_cast<int>(v);
    // An unusable value is ignored rather than fatal at import; show_config reports it.
  }
  return cpus_available();
}

std::atomic<int>& threads_ref() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

}  // namespace

int num_threads() noexcept { return threads_ref().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1; received " + std::to_string(n));
  threads_ref().store(n, std::memory_order_relaxed);
}

std::uint64_t physical_memory() noexcept {
#if defined(__linux__)
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && size > 0) return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size);
#endif
  return 0;
}

namespace {
std::atomic<bool> g_fail_alloc{false};
}

void set_fail_alloc_in_parallel(bool armed) noexcept { g_fail_alloc.store(armed, std::memory_order_relaxed); }

namespace detail {
bool fail_alloc_in_parallel() noexcept {
  return g_fail_alloc.load(std::memory_order_relaxed) && in_parallel();
}
}  // namespace detail

}  // namespace dnnx

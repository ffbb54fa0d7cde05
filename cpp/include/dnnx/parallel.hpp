// dnnx public C++ API, base layer (dnnx_common): the library's own threads.
//
// dnnx runs its parallel loops on its own pool (cpp/src/common/thread_pool.cpp), never on
// OpenMP: every loop asks num_threads(), so dnnx.set_num_threads() governs dnnx alone and
// other libraries' thread pools in the same process are untouched.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace dnnx {

/// Threads dnnx may use. Default: DNNX_NUM_THREADS if set, else the CPUs this process
/// may run on. Always >= 1.
int num_threads() noexcept;

/// Set the thread count (n >= 1; throws std::invalid_argument otherwise).
void set_num_threads(int n);

/// True while the calling thread runs items of a dnnx parallel_for that more than one
/// thread may share (a parallel_for nested inside one runs serially).
bool in_parallel() noexcept;

/// Bytes of physical memory of this machine (0 if unknown).
std::uint64_t physical_memory() noexcept;

/// Arm (true) or disarm the fault injection of detail::fail_alloc_in_parallel (tests).
void set_fail_alloc_in_parallel(bool armed) noexcept;

/// How dnnx threads (for show_config).
const char* threading_description() noexcept;

namespace detail {

/// Runs call(ctx, i) for every i in [0, items) on the calling thread and up to threads - 1
/// pool workers; each item is claimed by whichever thread is free next, so a thread that the
/// OS deschedules delays only the item it holds. Returns when every item has run. The first
/// exception an item throws is rethrown here (the items not yet started are skipped).
/// Results must not depend on which thread runs an item.
void pool_run(int threads, std::int64_t items, void* ctx, void (*call)(void*, std::int64_t));

/// f(i) for i in [0, items): on the pool when threads > 1, else (and inside another
/// parallel_for) in order on the calling thread.
template <class F>
void parallel_for(int threads, std::int64_t items, F&& f) {
  if (threads <= 1 || items <= 1 || in_parallel()) {
    for (std::int64_t i = 0; i < items; ++i) f(i);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  pool_run(threads, items, const_cast<void*>(static_cast<const void*>(&f)),
           [](void* ctx, std::int64_t i) { (*static_cast<Fn*>(ctx))(i); });
}

}  // namespace detail
}  // namespace dnnx

// dnnx's thread pool: the workers behind detail::parallel_for.
//
// Why not OpenMP. With libgomp's default wait policy its idle workers spin for
// milliseconds, and a GEMM split statically with barriers waits at every barrier for its
// slowest thread: with a busy-loop process beside it on a 2-vCPU machine, a 784-512-256-10
// batch-128 epoch took 340 ms on 2 threads against 142 ms on 1 (Xeon, Sapphire Rapids
// class; OMP_WAIT_POLICY=passive: 146 ms loaded, but 102 instead of 88 ms quiet). A forked
// child of a process that has used libgomp cannot use it again either.
//
// How it works. A job is a count of items and a function; the caller publishes it, wakes
// sleeping workers, and runs items itself. Every thread claims the next item with one
// atomic increment, so a descheduled thread delays only the item it holds and the others
// take the rest. A gate word counts the workers inside the job (and holds how many may
// enter and whether it is open); the caller closes it when no item is left and waits for
// the count to reach zero, after which nothing refers to the job (it lives on the caller's
// stack). Idle workers spin for kSpin (so the back-to-back products of a training step
// hand over in well under a microsecond) and then sleep on a condition variable, so an
// idle dnnx costs no CPU. One job runs at a time: a second caller that finds the pool busy
// runs its items itself. A forked child starts a fresh pool.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "dnnx/parallel.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#define DNNX_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define DNNX_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define DNNX_CPU_RELAX() std::this_thread::yield()
#endif

namespace dnnx {
namespace {

constexpr auto kSpin = std::chrono::microseconds(100);  // an idle worker's spin before it sleeps
constexpr int kCallerSpins = 4096;                      // then the caller yields while it waits

thread_local bool t_in_job = false;

struct Job {
  void* ctx;
  void (*call)(void*, std::int64_t);
  std::int64_t items;
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  Job(void* c, void (*f)(void*, std::int64_t), std::int64_t n) : ctx(c), call(f), items(n) {}

  // Claim and run items until none is left (or one has thrown).
  void work() noexcept {
    const bool outer = t_in_job;
    t_in_job = true;
    for (std::int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < items;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      if (failed.load(std::memory_order_relaxed)) break;
      try {
        call(ctx, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
    t_in_job = outer;
  }
};

// gate_: bit 63 open, bits 32..62 how many workers may enter, bits 0..31 how many are in.
constexpr std::uint64_t kOpen = std::uint64_t(1) << 63;
constexpr std::uint64_t kCount = (std::uint64_t(1) << 32) - 1;
constexpr int kAllowedShift = 32;
constexpr std::uint64_t kAllowedMask = (std::uint64_t(1) << 31) - 1;

class Pool {
 public:
  void run(int threads, std::int64_t items, void* ctx, void (*call)(void*, std::int64_t)) {
    Job job(ctx, call, items);
    std::unique_lock<std::mutex> dispatch(dispatch_, std::try_to_lock);
    int helpers = 0;
    if (dispatch.owns_lock()) {
      helpers = static_cast<int>(std::min<std::int64_t>(threads - 1, items - 1));
      helpers = start_workers(helpers);
    }
    if (helpers > 0) {
      job_.store(&job, std::memory_order_relaxed);
      gate_.store(kOpen | (std::uint64_t(helpers) << kAllowedShift), std::memory_order_release);
      epoch_.fetch_add(1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) {
        { std::lock_guard<std::mutex> lock(sleep_mutex_); }
        wake_.notify_all();
      }
    }
    job.work();
    if (helpers > 0) {  // close the gate, then wait for the workers still inside
      std::uint64_t g = gate_.fetch_and(~kOpen, std::memory_order_acq_rel);
      for (int spins = 0; (g & kCount) != 0; ++spins) {
        if (spins < kCallerSpins) DNNX_CPU_RELAX();
        else std::this_thread::yield();
        g = gate_.load(std::memory_order_acquire);
      }
    }
    if (dispatch.owns_lock()) dispatch.unlock();
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  // Start workers until there are n (under dispatch_); returns how many there are, at most n.
  int start_workers(int n) {
    try {
      while (workers_ < n) {
        std::thread([this] { worker_main(); }).detach();
        ++workers_;
      }
    } catch (const std::system_error&) {  // no more threads: run with those there are
    }
    return std::min(n, workers_);
  }

  [[noreturn]] void worker_main() {
    std::uint64_t seen = epoch_.load(std::memory_order_acquire);
    for (;;) {
      seen = next_epoch(seen);
      join();
    }
  }

  std::uint64_t next_epoch(std::uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (unsigned spins = 1;; ++spins) {
      const std::uint64_t e = epoch_.load(std::memory_order_acquire);
      if (e != seen) return e;
      DNNX_CPU_RELAX();
      if ((spins & 63) == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::uint64_t e;
    while ((e = epoch_.load(std::memory_order_seq_cst)) == seen) wake_.wait(lock);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return e;
  }

  // Enter the open job if it has room, run items, leave.
  void join() {
    std::uint64_t g = gate_.load(std::memory_order_acquire);
    for (;;) {
      if (!(g & kOpen) || (g & kCount) >= ((g >> kAllowedShift) & kAllowedMask)) return;
      if (gate_.compare_exchange_weak(g, g + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    job_.load(std::memory_order_acquire)->work();
    gate_.fetch_sub(1, std::memory_order_release);
  }

  std::mutex dispatch_;  // held by the caller whose job runs
  int workers_ = 0;      // started so far (under dispatch_)
  std::atomic<Job*> job_{nullptr};
  std::atomic<std::uint64_t> gate_{0};
  std::atomic<std::uint64_t> epoch_{0};  // one more per job
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
};

// Never deleted: detached workers refer to it until the process ends.
std::atomic<Pool*> g_pool{nullptr};

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
#if defined(__unix__) || defined(__APPLE__)
  // The child of a fork has none of the workers: it starts a fresh pool (the old one leaks).
  static const bool at_fork = (pthread_atfork(nullptr, nullptr, [] { g_pool.store(nullptr); }), true);
  (void)at_fork;
#endif
  Pool* fresh = new Pool;
  if (g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *p;
}

}  // namespace

bool in_parallel() noexcept { return t_in_job; }

const char* threading_description() noexcept {
  return "dnnx pool (std::thread workers claim items; idle workers spin 100 us, then sleep)";
}

namespace detail {
void pool_run(int threads, std::int64_t items, void* ctx, void (*call)(void*, std::int64_t)) {
  pool().run(threads, items, ctx, call);
}
}  // namespace detail

}  // namespace dnnx

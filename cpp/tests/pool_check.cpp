// dnnx's thread pool (cpp/src/common/thread_pool.cpp) on its own, built by
// tests/test_thread_pool.py under ThreadSanitizer and under AddressSanitizer +
// UndefinedBehaviorSanitizer: every item runs exactly once, exceptions reach the caller,
// nested loops run serially, callers on several threads at once, thousands of tiny jobs,
// and a forked child whose parent has used the pool.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dnnx/parallel.hpp"

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>
#endif

using dnnx::detail::parallel_for;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                     \
    }                                                                   \
  } while (0)

// Every item exactly once; returns how many distinct threads ran items.
static int run_once_each(int threads, std::int64_t items) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(items));
  std::vector<std::thread::id> who(static_cast<std::size_t>(items));
  parallel_for(threads, items, [&](std::int64_t i) {
    CHECK(dnnx::in_parallel() == (threads > 1 && items > 1));
    hits[static_cast<std::size_t>(i)].fetch_add(1);
    who[static_cast<std::size_t>(i)] = std::this_thread::get_id();
    volatile double x = 0;  // a little work, so that the workers get to join
    for (int r = 0; r < 2000; ++r) x = x + r;
  });
  for (auto& h : hits) CHECK(h.load() == 1);
  std::vector<std::thread::id> seen;
  for (auto& w : who) {
    bool known = false;
    for (auto& s : seen) known = known || s == w;
    if (!known) seen.push_back(w);
  }
  CHECK(!dnnx::in_parallel());
  return static_cast<int>(seen.size());
}

static void coverage() {
  CHECK(run_once_each(1, 100) == 1);
  CHECK(run_once_each(4, 1) == 1);
  run_once_each(4, 0);
  int most = 0;
  for (int r = 0; r < 200; ++r) most = std::max(most, run_once_each(3, 64));
  CHECK(most >= 2 && most <= 3);  // workers joined, and never more than threads - 1 of them
}

static void exceptions() {
  for (int r = 0; r < 50; ++r) {
    std::atomic<int> ran{0};
    bool caught = false;
    try {
      parallel_for(2, 100, [&](std::int64_t i) {
        ran.fetch_add(1);
        if (i == 7) throw std::runtime_error("item 7");
      });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "item 7";
    }
    CHECK(caught);
    CHECK(ran.load() >= 1 && ran.load() <= 100);
    run_once_each(2, 32);  // the pool still works
  }
}

static void nested() {
  std::atomic<int> inner{0};
  parallel_for(2, 8, [&](std::int64_t) {
    const std::thread::id outer = std::this_thread::get_id();
    parallel_for(2, 8, [&](std::int64_t) {
      CHECK(std::this_thread::get_id() == outer);  // serial, on the thread running the item
      inner.fetch_add(1);
    });
  });
  CHECK(inner.load() == 64);
}

static void concurrent_callers() {
  std::atomic<bool> ok{true};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&, t] {
      for (int r = 0; r < 300; ++r) {
        std::vector<std::int64_t> out(97, -1);
        parallel_for(2 + t, 97, [&](std::int64_t i) { out[static_cast<std::size_t>(i)] = i * i + t; });
        for (std::int64_t i = 0; i < 97; ++i)
          if (out[static_cast<std::size_t>(i)] != i * i + t) ok = false;
      }
    });
  for (auto& c : callers) c.join();
  CHECK(ok.load());
}

static void many_small_jobs() {
  std::int64_t sum = 0;
  for (int r = 0; r < 20000; ++r) {
    std::int64_t part[2] = {0, 0};
    parallel_for(2, 2, [&](std::int64_t i) { part[i] = i + r; });
    sum += part[0] + part[1];
  }
  CHECK(sum == 20000LL * 1 + 2LL * (19999LL * 20000LL / 2));
}

static void sleeping_workers_wake() {
  for (int r = 0; r < 5; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // past the spin: workers sleep
    run_once_each(2, 16);
  }
  int most = 0;
  for (int r = 0; r < 20 && most < 2; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    most = std::max(most, run_once_each(2, 256));
  }
  CHECK(most == 2);  // a sleeping worker is woken and joins
}

static void fork_child() {
#if defined(__unix__)
  run_once_each(2, 64);  // the parent's workers exist
  const pid_t pid = fork();
  if (pid == 0) {
    int most = 0;
    for (int r = 0; r < 200; ++r) most = std::max(most, run_once_each(2, 64));
    std::_Exit(most == 2 ? 0 : 3);
  }
  CHECK(pid > 0);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  run_once_each(2, 64);
#endif
}

int main(int argc, char** argv) {
  const bool with_fork = !(argc > 1 && std::string(argv[1]) == "--no-fork");
  coverage();
  exceptions();
  nested();
  concurrent_callers();
  many_small_jobs();
  sleeping_workers_wake();
  if (with_fork) fork_child();
  std::printf("pool_check ok\n");
  return 0;
}

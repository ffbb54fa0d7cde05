// The kernel choice (BLIS bli_arch.c): made once, at first use, below both kernel
// families (the GEMM maps it to its KernelSet, the network core to its SIMD table).
//   1. DNNX_KERNEL=ref|avx2|avx512 forces a kernel; an unknown name or one the CPU lacks
//      is an error (std::runtime_error at every use, ImportError from dnnx._core), never
//      a silent fallback and never a SIGILL.
//   2. Otherwise the best kernel the CPU (and OS: XGETBV) supports; see preferred().
// DNNX_VERBOSE=1 logs the choice to stderr.
#include "dnnx/dispatch.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnnx/cpu.hpp"

namespace dnnx {
namespace {

struct Entry {
  const char* name;
  bool (*supported)(const CpuFeatures&);
  const char* needs;  // features, for error messages
};

bool always(const CpuFeatures&) { return true; }
#if defined(DNNX_HAVE_X86)
bool has_avx2(const CpuFeatures& f) { return f.has_avx2_kernel(); }
bool has_avx512(const CpuFeatures& f) { return f.has_avx512_kernel(); }
#endif

// Every kernel in this build, in order of preference on a generic CPU (best last). The
// index is the Isa value (and the kernel id that a GEMM PackedB records).
const std::vector<Entry>& table() {
  static const std::vector<Entry> t = {
      {"ref", &always, "nothing"},
#if defined(DNNX_HAVE_X86)
      {"avx2", &has_avx2, "avx2 fma"},
      {"avx512", &has_avx512, "avx512f avx512vl avx512dq avx512bw fma"},
#endif
  };
  return t;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Index of a kernel by name; throws std::invalid_argument naming what exists and what the
// CPU has.
int find(const std::string& name, const char* who) {
  const auto& t = table();
  for (size_t i = 0; i < t.size(); ++i) {
    if (name != t[i].name) continue;
    if (!t[i].supported(cpu_features()))
      throw std::invalid_argument(std::string(who) + ": kernel '" + name + "' needs " + t[i].needs +
                                  ", but this CPU has: " + cpu_features().describe() +
                                  "; available kernels: " + join(available_kernels()));
    return static_cast<int>(i);
  }
  throw std::invalid_argument(std::string(who) + ": unknown kernel '" + name + "'; this build has " +
                              join(compiled_kernels()) + " and this CPU can run " + join(available_kernels()));
}

// The default: the last supported entry. Measured on Zen 4 (AMD EPYC, 512-bit FMAs run
// as two 256-bit halves, bench/README.md): avx512 still beats avx2 on the MLP shapes
// (batch 8-128 against 784x512: 92% vs 58-80% of peak) thanks to its 12 x 32 tile with
// 32 registers, and loses only where n < 16 (n = 10 outputs), so it stays the default there.
int preferred() {
  const auto& t = table();
  int best = 0;
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i].supported(cpu_features())) best = static_cast<int>(i);
  return best;
}

int initial() {
  int id;
  const char* env = std::getenv("DNNX_KERNEL");
  if (env && *env) {
    try {
      id = find(env, "DNNX_KERNEL");
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
  } else {
    id = preferred();
  }
  if (const char* v = std::getenv("DNNX_VERBOSE"); v && *v && *v != '0')
    std::fprintf(stderr, "dnnx: GEMM kernel '%s' (%s; CPU features: %s)\n", table()[id].name,
                 env && *env ? "forced by DNNX_KERNEL" : "best for this CPU", cpu_features().describe().c_str());
  return id;
}

std::atomic<int> g_active{-1};

}  // namespace

Isa active_isa() {
  int id = g_active.load(std::memory_order_acquire);
  if (id >= 0) return static_cast<Isa>(id);
  int expected = -1;
  g_active.compare_exchange_strong(expected, initial(), std::memory_order_acq_rel);
  return static_cast<Isa>(g_active.load(std::memory_order_acquire));
}

std::vector<std::string> available_kernels() {
  std::vector<std::string> v;
  for (const auto& e : table())
    if (e.supported(cpu_features())) v.emplace_back(e.name);
  return v;
}

std::vector<std::string> compiled_kernels() {
  std::vector<std::string> v;
  for (const auto& e : table()) v.emplace_back(e.name);
  return v;
}

std::string active_kernel() { return table()[static_cast<int>(active_isa())].name; }

void set_kernel(const std::string& name) { g_active.store(find(name, "set_kernel"), std::memory_order_release); }

}  // namespace dnnx

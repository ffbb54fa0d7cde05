// bench_gemm: GFLOP/s of dnnx::gemm per kernel, dtype and shape (BLIS test/3 style:
// GFLOP/s = 2*m*n*k / best-of-N time), next to a measured FMA-throughput peak per core.
//
//   bench_gemm [--kernels ref,avx2,avx512] [--shapes square,mlp,batch] [--dtypes f32,f64]
//              [--reps N] [--max-square N]
// Threads: DNNX_NUM_THREADS (default: all usable CPUs). Output: one CSV row per case.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "dnnx/cpu.hpp"
#include "dnnx/gemm.hpp"
#include "dnnx/parallel.hpp"

namespace {

using dnnx::index_t;
using dnnx::Trans;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// FMA-throughput peak of one core: 12 independent FMA chains (more than latency x pipes
// on current x86 cores), so the loop runs at the FMA issue rate. GFLOP/s = 2 * lanes * FMAs / s.
// One probe per vector width: Zen 4 splits a 512-bit FMA into two 256-bit halves (one
// peak for both), while Intel's AVX-512 cores issue two 512-bit FMAs per cycle, about
// 1.6x the AVX2 peak, so each kernel is measured against the peak of its own ISA.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64))
#define DNNX_HAVE_PEAK 1
#define DNNX_PEAK_PROBE(NAME, TARGET, VS, VD, SET_S, SET_D, FMA_S, FMA_D, LOW_S, LOW_D, LANES)           \
  __attribute__((target(TARGET))) double NAME(bool f64, long iters) {                                  \
    VS s[12];                                                                                          \
    VD d[12];                                                                                          \
    for (int i = 0; i < 12; ++i) { s[i] = SET_S(float(i)); d[i] = SET_D(double(i)); }                \
    const VS sa = SET_S(0.999999f), sb = SET_S(1e-6f);                                                 \
    const VD da = SET_D(0.999999), db = SET_D(1e-6);                                                   \
    auto t0 = Clock::now();                                                                            \
    if (f64) {                                                                                         \
      for (long it = 0; it < iters; ++it)                                                              \
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) d[i] = FMA_D(d[i], da, db);              \
    } else {                                                                                           \
      for (long it = 0; it < iters; ++it)                                                              \
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) s[i] = FMA_S(s[i], sa, sb);              \
    }                                                                                                  \
    double t = seconds_since(t0);                                                                      \
    volatile double sink = 0;                                                                          \
    for (int i = 0; i < 12; ++i) sink = sink + LOW_S(s[i]) + LOW_D(d[i]);                              \
    return 2.0 * (f64 ? LANES / 2 : LANES) * 12.0 * double(iters) / t * 1e-9;                          \
  }
DNNX_PEAK_PROBE(peak_avx2, "avx2,fma", __m256, __m256d, _mm256_set1_ps, _mm256_set1_pd, _mm256_fmadd_ps,
                _mm256_fmadd_pd, _mm256_cvtss_f32, _mm256_cvtsd_f64, 8)
DNNX_PEAK_PROBE(peak_avx512, "avx512f", __m512, __m512d, _mm512_set1_ps, _mm512_set1_pd, _mm512_fmadd_ps,
                _mm512_fmadd_pd, _mm512_cvtss_f32, _mm512_cvtsd_f64, 16)
#undef DNNX_PEAK_PROBE
#endif

// The measured per-core peak for a kernel's ISA (ref is measured against AVX2's); 0 when
// the CPU cannot run the probe.
double peak_gflops(const std::string& isa, bool f64) {
#if defined(DNNX_HAVE_PEAK)
  const bool wide = isa == "avx512";
  if (wide ? !dnnx::cpu_features().has_avx512_kernel() : !dnnx::cpu_features().has_avx2_kernel()) return 0.0;
  double best = 0;
  for (int r = 0; r < 5; ++r) best = std::max(best, wide ? peak_avx512(f64, 20000000) : peak_avx2(f64, 20000000));
  return best;
#else
  (void)isa;
  (void)f64;
  return 0.0;
#endif
}

struct Shape {
  const char* group;
  index_t m, n, k;
  Trans ta, tb;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

template <class T>
double bench_one(const Shape& s, int reps) {
  const index_t rows_a = s.ta == Trans::N ? s.m : s.k, cols_a = s.ta == Trans::N ? s.k : s.m;
  const index_t rows_b = s.tb == Trans::N ? s.k : s.n, cols_b = s.tb == Trans::N ? s.n : s.k;
  std::vector<T> A(size_t(rows_a * cols_a)), B(size_t(rows_b * cols_b)), C(size_t(s.m * s.n));
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto& x : A) x = T(u(rng));
  for (auto& x : B) x = T(u(rng));
  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  // Enough calls per timing that each sample lasts >= ~2 ms (timer and noise), best of reps.
  int inner = std::max(1, int(2e-3 / (flops / 50e9)));
  double best = 1e30;
  for (int r = 0; r < reps + 1; ++r) {  // the first round warms caches and workspaces
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i)
      dnnx::gemm<T>(s.ta, s.tb, s.m, s.n, s.k, T(1), A.data(), cols_a, B.data(), cols_b, T(0), C.data(), s.n);
    double t = seconds_since(t0) / inner;
    if (r > 0) best = std::min(best, t);
  }
  return flops / best * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> kernels = dnnx::available_kernels();
  std::vector<std::string> groups = {"square", "mlp", "batch"}, dtypes = {"f32", "f64"};
  int reps = 5;
  index_t max_square = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--kernels") kernels = split(v);
    else if (a == "--shapes") groups = split(v);
    else if (a == "--dtypes") dtypes = split(v);
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else if (a == "--max-square") max_square = std::atoll(v.c_str());
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }

  const Trans N = Trans::N, T = Trans::T;
  std::vector<Shape> shapes;
  for (index_t s : {64, 128, 256, 512, 1024, 2048, 4096})
    if (s <= max_square) shapes.push_back({"square", s, s, s, N, N});
  // Dense 784-512-256-10 at batch 128: forward (NN), dX = dZ W^T (NT), dW = X^T dZ (TN).
  shapes.push_back({"mlp", 128, 512, 784, N, N});
  shapes.push_back({"mlp", 128, 256, 512, N, N});
  shapes.push_back({"mlp", 128, 10, 256, N, N});
  shapes.push_back({"mlp", 128, 784, 512, N, T});
  shapes.push_back({"mlp", 128, 512, 256, N, T});
  shapes.push_back({"mlp", 128, 256, 10, N, T});
  shapes.push_back({"mlp", 784, 512, 128, T, N});
  shapes.push_back({"mlp", 512, 256, 128, T, N});
  shapes.push_back({"mlp", 256, 10, 128, T, N});
  for (index_t b : {1, 8, 32}) shapes.push_back({"batch", b, 512, 784, N, N});

  const dnnx::CpuFeatures& f = dnnx::cpu_features();
  std::printf("# %s | %s | threads=%d\n", f.brand.c_str(), f.describe().c_str(), dnnx::num_threads());
  std::map<std::string, std::pair<double, double>> peaks;  // ISA -> (f32, f64) per-core peak
  for (const char* isa : {"avx2", "avx512"}) {
    peaks[isa] = {peak_gflops(isa, false), peak_gflops(isa, true)};
    if (peaks[isa].first > 0)
      std::printf("# measured FMA peak per core (%s probe): f32 %.1f GFLOP/s, f64 %.1f GFLOP/s\n", isa,
                  peaks[isa].first, peaks[isa].second);
  }
  std::printf("kernel,dtype,group,m,n,k,op,gflops,pct_peak_per_core\n");
  for (const auto& kname : kernels) {
    try {
      dnnx::set_kernel(kname);
    } catch (const std::exception& e) {
      std::printf("# skip %s: %s\n", kname.c_str(), e.what());
      continue;
    }
    for (const auto& dt : dtypes) {
      for (const auto& s : shapes) {
        if (!has(groups, s.group)) continue;
        if (kname == "ref" && s.m * s.n * s.k > (index_t(512) << 20) / 64) continue;  // minutes otherwise
        const bool f64 = dt == "f64";
        double g = f64 ? bench_one<double>(s, reps) : bench_one<float>(s, reps);
        const auto& pk = peaks[kname == "avx512" ? "avx512" : "avx2"];
        const double peak = f64 ? pk.second : pk.first;
        std::printf("%s,%s,%s,%lld,%lld,%lld,%c%c,%.1f,%.0f%%\n", kname.c_str(), dt.c_str(), s.group,
                    (long long)s.m, (long long)s.n, (long long)s.k, s.ta == N ? 'N' : 'T', s.tb == N ? 'N' : 'T',
                    g, peak > 0 ? 100.0 * g / peak : 0.0);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

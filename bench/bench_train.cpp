// bench_train: training epochs through the C++ network API, no Python anywhere: the same
// MLPs, optimizer and loss as bench/compare.py (ReLU hidden layers, Adam 1e-3, softmax +
// sparse cross-entropy, or sigmoid + binary cross-entropy for one output), on seeded
// gaussian-blob data generated in C++.
//
//   bench_train [--sizes 784,512,256,10] [--n 20000] [--batches 32,128,512] [--epochs 3]
//               [--dtype f32|f64]
// Threads: DNNX_NUM_THREADS (default: all usable CPUs); kernel: DNNX_KERNEL.
// Output: CSV, one row per timed epoch (after one warm-up epoch per batch size):
//   sizes,dtype,threads,batch,epoch,seconds,samples_per_s,gemm_gflops,loss
// GEMM GFLOP/s counts forward X@W, dW = X^T dZ and dX = dZ W^T (no dX for layer 1), as
// bench/compare.py does, so the two are comparable.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dnnx/network.hpp"
#include "dnnx/parallel.hpp"

namespace {

using dnnx::index_t;
using Clock = std::chrono::steady_clock;

std::vector<index_t> parse_list(const char* s) {
  std::vector<index_t> out;
  for (const char* p = s; *p;) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end == p || v <= 0) {
      std::fprintf(stderr, "bench_train: bad list '%s'\n", s);
      std::exit(2);
    }
    out.push_back(static_cast<index_t>(v));
    p = (*end == ',') ? end + 1 : end;
  }
  return out;
}

double gemm_flops_per_sample(const std::vector<index_t>& sizes) {
  double f = 0;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) f += 6.0 * double(sizes[i]) * double(sizes[i + 1]);
  return f - 2.0 * double(sizes[0]) * double(sizes[1]);
}

template <class T>
int run(const std::vector<index_t>& sizes, index_t n, const std::vector<index_t>& batches, int epochs,
        const char* dtype) {
  const index_t d = sizes.front(), k = sizes.back();
  const bool binary = k == 1;
  const index_t classes = binary ? 2 : k;
  // Blobs: class centres * 0.1 plus unit gaussian noise (bench/_compare_worker.py's make_blobs).
  std::mt19937_64 gen(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(static_cast<std::size_t>(classes * d));
  for (float& c : centres) c = 0.1f * normal(gen);
  std::vector<T> x(static_cast<std::size_t>(n * d)), y(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const index_t c = static_cast<index_t>(gen() % static_cast<std::uint64_t>(classes));
    y[static_cast<std::size_t>(i)] = static_cast<T>(c);
    for (index_t j = 0; j < d; ++j)
      x[static_cast<std::size_t>(i * d + j)] = static_cast<T>(centres[static_cast<std::size_t>(c * d + j)] + normal(gen));
  }

  const double flops = gemm_flops_per_sample(sizes);
  std::string sizes_s;
  for (std::size_t i = 0; i < sizes.size(); ++i) sizes_s += (i ? "-" : "") + std::to_string(sizes[i]);

  for (index_t batch : batches) {
    dnnx::NetworkSpec spec;
    spec.seed = 0;
    spec.input_dim = d;
    for (std::size_t i = 1; i < sizes.size(); ++i) {
      dnnx::LayerSpec l;
      l.kind = dnnx::LayerKind::dense;
      l.units = sizes[i];
      const bool last = i + 1 == sizes.size();
      l.act.kind = !last ? dnnx::Act::relu : binary ? dnnx::Act::sigmoid : dnnx::Act::softmax;
      spec.layers.push_back(l);
    }
    dnnx::Network<T> net(spec);
    dnnx::TrainingConfig cfg;
    dnnx::OutputConfig out;
    out.has_loss = true;
    out.loss.kind = binary ? dnnx::LossKind::binary_crossentropy : dnnx::LossKind::sparse_categorical_crossentropy;
    cfg.outputs.push_back(out);
    cfg.has_optimizer = true;
    cfg.optimizer = dnnx::opt_defaults(dnnx::OptKind::adam);
    net.configure(cfg);

    dnnx::Batch<T> data;
    data.n = n;
    data.x = {x.data()};
    data.y = {y.data()};
    const index_t steps = (n + batch - 1) / batch;
    std::vector<double> lrs(static_cast<std::size_t>(steps), cfg.optimizer.learning_rate);
    dnnx::EpochHooks hooks;
    for (int e = 0; e <= epochs; ++e) {  // epoch 0: warm-up (workspace, page faults), not printed
      auto t0 = Clock::now();
      dnnx::Logs logs = net.train_epoch(data, batch, true, e, lrs.data(), steps, hooks);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (e == 0) continue;
      std::printf("%s,%s,%d,%lld,%d,%.6f,%.1f,%.2f,%.6f\n", sizes_s.c_str(), dtype, dnnx::num_threads(),
                  static_cast<long long>(batch), e, s, double(n) / s, double(n) * flops / s * 1e-9,
                  logs.empty() ? NAN : logs.front().second);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<index_t> sizes{784, 512, 256, 10}, batches{32, 128, 512};
  index_t n = 20000;
  int epochs = 3;
  std::string dtype = "f32";
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) -> const char* {
      if (std::strcmp(argv[i], name) != 0) return nullptr;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_train: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (const char* v = arg("--sizes")) sizes = parse_list(v);
    else if (const char* v2 = arg("--batches")) batches = parse_list(v2);
    else if (const char* v3 = arg("--n")) n = parse_list(v3).at(0);
    else if (const char* v4 = arg("--epochs")) epochs = static_cast<int>(parse_list(v4).at(0));
    else if (const char* v5 = arg("--dtype")) dtype = v5;
    else {
      std::fprintf(stderr, "usage: bench_train [--sizes a,b,..] [--n N] [--batches b,..] [--epochs E] [--dtype f32|f64]\n");
      return 2;
    }
  }
  if (sizes.size() < 2) {
    std::fprintf(stderr, "bench_train: --sizes needs at least an input and an output width\n");
    return 2;
  }
  std::printf("sizes,dtype,threads,batch,epoch,seconds,samples_per_s,gemm_gflops,loss\n");
  if (dtype == "f32") return run<float>(sizes, n, batches, epochs, "f32");
  if (dtype == "f64") return run<double>(sizes, n, batches, epochs, "f64");
  std::fprintf(stderr, "bench_train: --dtype must be f32 or f64, got '%s'\n", dtype.c_str());
  return 2;
}

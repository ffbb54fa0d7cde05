// Exercises the network core under AddressSanitizer + UndefinedBehaviorSanitizer (built by
// tests/test_sanitizers.py with -DDNNX_SANITIZE=ON; LeakSanitizer runs at exit): every layer
// kind in graphs, every loss and optimizer, training epochs with hooks, evaluate from a hook,
// reconfiguring, gradients, concurrent predicts, GEMMs of awkward shapes, invalid specs that
// must throw, non-finite data, and thousands of small fit/predict calls (the leak check).
// Prints "sanitize_check ok" and exits 0; a sanitizer report exits non-zero.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dnnx/gemm.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/network.hpp"
#include "dnnx/parallel.hpp"

using namespace dnnx;

namespace {

int failures = 0;
#define CHECK(c)                                                         \
  do {                                                                   \
    if (!(c)) { std::fprintf(stderr, "CHECK failed: %s (line %d)\n", #c, __LINE__); ++failures; } \
  } while (0)

LayerSpec L(const char* type) { return layer_declaration(type).defaults; }
LayerSpec dense(index_t units, Act act = Act::linear) {
  LayerSpec s = L("dense");
  s.units = units;
  s.act.kind = act;
  return s;
}

template <class T>
std::vector<T> randn(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d;
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(g));
  return v;
}

TrainingConfig config(LossKind loss, OptKind opt, std::vector<MetricKind> metrics, std::size_t outputs = 1) {
  TrainingConfig c;
  for (std::size_t o = 0; o < outputs; ++o) {
    OutputConfig oc;
    oc.has_loss = true;
    oc.loss.kind = loss;
    oc.loss_key = "out" + std::to_string(o) + "_loss";
    for (MetricKind k : metrics) {
      MetricSpec m;
      m.kind = k;
      m.key = "m" + std::to_string(static_cast<int>(k)) + "_" + std::to_string(o);
      oc.metrics.push_back(m);
    }
    c.outputs.push_back(oc);
  }
  c.has_optimizer = true;
  c.optimizer = opt_defaults(opt);
  c.optimizer.clipnorm = opt == OptKind::sgd ? 1.0 : 0.0;
  return c;
}

// A chain: dense, dropout, batchnorm, layernorm, dense(softmax); sparse labels.
template <class T>
void chain(OptKind opt) {
  NetworkSpec spec;
  spec.seed = 7;
  spec.input_dim = 13;
  LayerSpec drop = L("dropout");
  drop.rate = 0.25;
  spec.layers = {dense(33, Act::relu), drop, L("batch_normalization"), L("layer_normalization"),
                 dense(5, Act::softmax)};
  Network<T> net(spec);
  net.configure(config(LossKind::sparse_categorical_crossentropy, opt,
                       {MetricKind::sparse_categorical_accuracy, MetricKind::sparse_top_k_categorical_accuracy}));
  const index_t n = 77;
  auto x = randn<T>(static_cast<std::size_t>(n * 13), 1);
  std::vector<T> y(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = T(i % 5);
  std::vector<T> sw(static_cast<std::size_t>(n), T(1));
  Batch<T> b{n, {x.data()}, {y.data()}, sw.data()};
  const index_t bs = 10, steps = (n + bs - 1) / bs;
  std::vector<double> lrs(static_cast<std::size_t>(steps), 0.01);
  EpochHooks hooks;
  hooks.callback_every = 3;
  int calls = 0;
  hooks.on_batch = [&](index_t, const Logs&) {
    ++calls;
    Logs e = net.evaluate(b, 16);  // from a hook: the epoch's logs must survive
    CHECK(!e.empty());
    return false;
  };
  hooks.poll = [] {};
  for (int epoch = 0; epoch < 3; ++epoch) {
    Logs logs = net.train_epoch(b, bs, true, epoch, lrs.data(), steps, hooks);
    CHECK(std::isfinite(logs[0].second));
  }
  CHECK(calls > 0);
  std::vector<T> out(static_cast<std::size_t>(n * 5));
  net.predict(n, x.data(), out.data(), 8);
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < 5; ++j) s += double(out[static_cast<std::size_t>(i * 5 + j)]);
    CHECK(std::abs(s - 1.0) < 1e-3);
  }
  const double loss = net.compute_gradients(b);
  CHECK(std::isfinite(loss));
  std::vector<T> g(net.grads(), net.grads() + net.arena_size());
  net.apply_gradients(g.data(), 0.0);
  net.set_layer_trainable(0, false);
  net.train_batch(b, 0.01);
  // reconfigure: a new optimizer and metrics, the old state freed
  net.configure(config(LossKind::sparse_categorical_crossentropy, OptKind::adam, {}));
  net.train_batch(b, 0.01);
  // bad labels must throw before anything runs
  y[3] = T(9);
  bool threw = false;
  try { net.check_batch(b); } catch (const std::invalid_argument&) { threw = true; }
  CHECK(threw);
}

// A graph: float + int inputs, embedding, concatenate, shared dense, add, multiply, two outputs.
// dnnx.ops nodes in a trained chain: flat unary ops, softmax along an inner axis and a sum
// over an outer one of a per-sample (3, 4) shape, then a dense head; with parameters
// (add_weight): x @ P, a bias added, a (3, 1) weight multiplied along the rows.
template <class T>
void op_chain() {
  auto op = [](const char* name, std::vector<index_t> dims = {}, double a = 0, double b = 0,
               std::vector<index_t> params = {}) {
    const LayerDecl& decl = layer_declaration("op");
    LayerSpec s = decl.defaults;
    for (const FieldDecl& f : decl.fields)  // the op names, as the binding reads them
      if (f.key == "op") s.op = static_cast<index_t>(std::find(f.choices.begin(), f.choices.end(), name) - f.choices.begin());
    s.op_dims = std::move(dims);
    s.op_a = a;
    s.op_b = b;
    s.op_params = std::move(params);
    return s;
  };
  NetworkSpec spec;
  spec.seed = 3;
  spec.input_dim = 7;
  spec.layers = {dense(12, Act::relu), op("matmul_param", {12, 12}, 0, 0, {1, 1, 2, 12, 12}),
                 op("add", {2, 1, 12, -1, 1, -2, 1}, 0, 0, {1, 1, 1, 12}), op("square"), op("clip", {}, 0.0, 4.0),
                 op("multiply", {2, 2, 3, 4, -1, 4, 1, -2, 1, 0}, 0, 0, {1, 1, 2, 3, 1}),
                 op("softmax", {3, 4, 1}), op("sum", {1, 3, 4}), dense(3, Act::softmax)};
  Network<T> net(spec);
  net.configure(config(LossKind::sparse_categorical_crossentropy, OptKind::adam, {}));
  const index_t n = 41;
  auto x = randn<T>(static_cast<std::size_t>(n * 7), 5);
  std::vector<T> y(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = T(i % 3);
  Batch<T> b{n, {x.data()}, {y.data()}, nullptr};
  const index_t bs = 8, steps = (n + bs - 1) / bs;
  std::vector<double> lrs(static_cast<std::size_t>(steps), 0.01);
  EpochHooks hooks;
  for (int epoch = 0; epoch < 2; ++epoch) {
    Logs logs = net.train_epoch(b, bs, true, epoch, lrs.data(), steps, hooks);
    CHECK(std::isfinite(logs[0].second));
  }
  std::vector<T> out(static_cast<std::size_t>(n * 3));
  net.predict(n, x.data(), out.data(), 8);
  for (T v : out) CHECK(std::isfinite(double(v)));
}

void graph() {
  NetworkSpec spec;
  spec.seed = 3;
  spec.inputs = {{"num", 6, false}, {"ids", 2, true}};
  LayerSpec emb = L("embedding");
  emb.input_dim = 11;
  emb.units = 3;
  spec.layers = {emb, L("concatenate"), dense(12, Act::gelu), dense(12, Act::tanh), L("add"), L("multiply"),
                 dense(1, Act::sigmoid), dense(4), L("global_average_pooling1d")};
  spec.layers[8].steps = 3;
  // tensors: 0 num, 1 ids; nodes produce 2.. in order
  spec.nodes = {{0, {1}},           // 2: embedding (2 ids x 3) = 6
                {1, {0, 2}},        // 3: concat -> 12
                {2, {3}},           // 4: dense gelu
                {3, {4}},           // 5: dense tanh (shared below)
                {3, {5}},           // 6: the same dense again
                {4, {4, 6}},        // 7: add
                {5, {7, 7}},        // 8: multiply (repeated input)
                {6, {8}},           // 9: dense sigmoid -> output 0
                {7, {8}},           // 10: dense 4 -> output 1
  };
  spec.layers.pop_back();  // (pooling unused here)
  spec.outputs = {9, 10};
  Network<float> net(spec);
  TrainingConfig c = config(LossKind::binary_crossentropy, OptKind::nadam, {MetricKind::auc, MetricKind::precision,
                                                                            MetricKind::recall}, 2);
  c.outputs[1].loss.kind = LossKind::huber;
  c.outputs[1].metrics = {};
  net.configure(c);
  const index_t n = 50;
  auto x = randn<float>(static_cast<std::size_t>(n * 6), 2);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(n * 2));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i % 11);
  std::vector<float> y0(static_cast<std::size_t>(n)), y1 = randn<float>(static_cast<std::size_t>(n * 4), 4);
  for (index_t i = 0; i < n; ++i) y0[static_cast<std::size_t>(i)] = float(i % 2);
  Batch<float> b{n, {x.data(), ids.data()}, {y0.data(), y1.data()}, nullptr};
  std::vector<double> lrs(7, 0.001);
  for (int e = 0; e < 2; ++e) net.train_epoch(b, 8, e == 0, e, lrs.data(), 7, EpochHooks{});
  y0[5] = std::nanf("");  // a NaN label: AUC, precision and recall are NaN, nothing undefined
  Logs ev = net.evaluate(b, 0);
  CHECK(std::isnan(ev.back().second));
  y0[5] = 1.0f;
  std::vector<float> o0(static_cast<std::size_t>(n)), o1(static_cast<std::size_t>(n * 4));
  const void* xs[2] = {x.data(), ids.data()};
  float* outs[2] = {o0.data(), o1.data()};
  // concurrent predicts (the documented thread-safety) against a serial one
  // (each thread its own chunk size, checked against a serial run with that chunk size)
  std::vector<std::vector<float>> r0(3, std::vector<float>(o0.size())), r1(3, std::vector<float>(o1.size()));
  for (int t = 0; t < 3; ++t) {
    float* routs[2] = {r0[t].data(), r1[t].data()};
    net.predict(n, xs, routs, 1 + t * 7);
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      std::vector<float> a(o0.size()), bb(o1.size());
      float* p[2] = {a.data(), bb.data()};
      for (int k = 0; k < 20; ++k) {
        net.predict(n, xs, p, 1 + t * 7);
        CHECK(std::memcmp(a.data(), r0[t].data(), a.size() * sizeof(float)) == 0 &&
              std::memcmp(bb.data(), r1[t].data(), bb.size() * sizeof(float)) == 0);
      }
    });
  for (auto& t : ts) t.join();
  // an ID out of range throws before anything is gathered
  ids[7] = 11;
  bool threw = false;
  try { net.predict(n, xs, outs, 0); } catch (const std::invalid_argument&) { threw = true; }
  CHECK(threw);
}

void invalid_specs() {
  int thrown = 0, cases = 0;
  auto expect = [&](NetworkSpec s) {
    ++cases;
    try { Network<float> n(s); } catch (const std::invalid_argument&) { ++thrown; } catch (const std::bad_alloc&) { ++thrown; }
  };
  NetworkSpec s;
  s.input_dim = 0;
  s.layers = {dense(3)};
  expect(s);  // no input width
  s.input_dim = 4;
  s.layers = {};
  expect(s);  // no layers
  s.layers = {dense(std::int64_t(1) << 40)};
  s.input_dim = std::int64_t(1) << 40;
  expect(s);  // overflowing weight size
  s.layers = {dense(3)};
  s.input_dim = 4;
  s.max_params = 2;
  expect(s);  // more weights than allowed
  NetworkSpec g;
  g.inputs = {{"a", 3, false}};
  g.layers = {dense(2), dense(2)};
  g.nodes = {{0, {0}}, {1, {5}}};  // a tensor that does not exist (a cycle or a forward edge)
  g.outputs = {2};
  expect(g);
  g.nodes = {{0, {0}}, {1, {2}}};
  g.outputs = {9};
  expect(g);  // output out of range
  g.outputs = {0};
  expect(g);  // an input as output
  CHECK(thrown == cases);
}

template <class T>
void gemms() {
  for (index_t m : {1, 7, 33, 130})
    for (index_t nn : {1, 5, 17, 129})
      for (index_t k : {1, 3, 64, 301}) {
        auto a = randn<T>(static_cast<std::size_t>(m * k), 5), b = randn<T>(static_cast<std::size_t>(k * nn), 6);
        std::vector<T> c(static_cast<std::size_t>(m * nn)), r(c.size());
        gemm<T>(Trans::N, Trans::N, m, nn, k, T(1), a.data(), k, b.data(), nn, T(0), c.data(), nn);
        gemm_reference<T>(Trans::N, Trans::N, m, nn, k, T(1), a.data(), k, b.data(), nn, T(0), r.data(), nn);
        for (std::size_t i = 0; i < c.size(); ++i) CHECK(std::abs(double(c[i] - r[i])) < 1e-3 * (1 + std::abs(double(r[i]))));
        gemm<T>(Trans::T, Trans::T, nn, m, k, T(1), b.data(), nn, a.data(), k, T(0), c.data(), m);
      }
}

// std::bad_alloc inside the GEMM's parallel regions reaches the caller (no std::terminate,
// no thread left at a barrier), and the next product works.
void alloc_failure_in_parallel() {
  const index_t m = 1024, k = 512, nn = 256;  // every product big enough for 2 threads (>= 2 x 3 MFLOP;
                                              // the narrow n = 8 one: 8.4 MFLOP)
  auto a = randn<float>(static_cast<std::size_t>(m * k), 8), b = randn<float>(static_cast<std::size_t>(k * nn), 9);
  std::vector<float> c(static_cast<std::size_t>(m * nn));
  for (int round = 0; round < 3; ++round) {
    set_fail_alloc_in_parallel(true);
    bool threw = false;
    try {
      gemm<float>(Trans::N, Trans::N, m, round == 2 ? 8 : nn, k, 1.f, a.data(), k, b.data(),
                  nn, 0.f, c.data(), nn);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    set_fail_alloc_in_parallel(false);
    CHECK(threw || num_threads() == 1);
    gemm<float>(Trans::N, Trans::N, m, nn, k, 1.f, a.data(), k, b.data(), nn, 0.f, c.data(), nn);
  }
}

// Thousands of small fit/predict calls: LeakSanitizer at exit reports anything they leak.
void many_calls(int reps) {
  NetworkSpec spec;
  spec.input_dim = 4;
  spec.layers = {dense(8, Act::relu), dense(2)};
  for (int r = 0; r < reps; ++r) {
    spec.seed = static_cast<std::uint64_t>(r);
    Network<float> net(spec);
    net.configure(config(LossKind::mean_squared_error, r % 2 ? OptKind::adam : OptKind::rmsprop, {MetricKind::mae}));
    auto x = randn<float>(12 * 4, static_cast<unsigned>(r));
    auto y = randn<float>(12 * 2, static_cast<unsigned>(r + 1));
    Batch<float> b{12, {x.data()}, {y.data()}, nullptr};
    std::vector<double> lrs(3, 0.01);
    net.train_epoch(b, 5, true, 0, lrs.data(), 3, EpochHooks{});
    std::vector<float> out(24);
    for (int k = 0; k < 4; ++k) net.predict(12, x.data(), out.data(), 0);
    net.configure(config(LossKind::mean_absolute_error, OptKind::sgd, {}));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 2000;
  set_num_threads(2);
  chain<float>(OptKind::adam);
  chain<double>(OptKind::sgd);
  chain<float>(OptKind::adagrad);
  chain<float>(OptKind::adamw);
  op_chain<float>();
  op_chain<double>();
  graph();
  invalid_specs();
  gemms<float>();
  gemms<double>();
  alloc_failure_in_parallel();
  many_calls(reps);
  if (failures) {
    std::fprintf(stderr, "sanitize_check: %d checks failed\n", failures);
    return 1;
  }
  std::printf("sanitize_check ok (%d fit/predict rounds)\n", reps);
  return 0;
}

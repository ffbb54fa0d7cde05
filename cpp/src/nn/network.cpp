// Network: the graph, the layout of the arenas and the workspace, and the training and
// inference loops.
#include "dnnx/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "dnnx/parallel.hpp"
#include "dnnx/rng.hpp"
#include "kernels.hpp"

namespace dnnx {
namespace {

// Workspace regions start on 64-byte boundaries.
constexpr index_t align16(index_t n) { return (n + 15) / 16 * 16; }

std::string shape_str(index_t w) { return "(None, " + std::to_string(w) + ")"; }

// Greedy slot assignment over a sequence of events: acquire() takes the lowest free slot.
struct SlotPool {
  std::vector<char> busy;
  int acquire() {
    for (std::size_t i = 0; i < busy.size(); ++i)
      if (!busy[i]) { busy[i] = 1; return static_cast<int>(i); }
    busy.push_back(1);
    return static_cast<int>(busy.size() - 1);
  }
  void release(int s) { if (s >= 0) busy[static_cast<std::size_t>(s)] = 0; }
  int count() const { return static_cast<int>(busy.size()); }
};

// a += b over n elements (a gradient that several consumers contribute to).
template <class T>
void add_into(index_t n, T* a, const T* b) {
  detail::parallel_chunks(n, 16384, n, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) a[i] += b[i];
  });
}

}  // namespace

template <class T>
Network<T>::Network(const NetworkSpec& spec_in) : seed_(spec_in.seed) {
  NetworkSpec spec = spec_in;
  if (spec.inputs.empty() && spec.nodes.empty()) {  // the chain form
    if (spec.input_dim < 1)
      throw std::invalid_argument("network: input_dim must be a positive integer; received input_dim=" +
                                  std::to_string(spec.input_dim));
    if (spec.layers.empty()) throw std::invalid_argument("network: layers must not be empty");
    spec.inputs.push_back({"input", spec.input_dim, false});
    for (std::size_t l = 0; l < spec.layers.size(); ++l)
      spec.nodes.push_back({static_cast<index_t>(l), {static_cast<index_t>(l)}});
    spec.outputs = {static_cast<index_t>(spec.layers.size())};
  }
  if (spec.inputs.empty()) throw std::invalid_argument("network: the graph needs at least one input");
  if (spec.layers.empty() || spec.nodes.empty()) throw std::invalid_argument("network: layers must not be empty");
  if (spec.outputs.empty()) throw std::invalid_argument("network: the graph needs at least one output");
  inputs_ = spec.inputs;
  for (const InputSpec& in : inputs_)
    if (in.dim < 1)
      throw std::invalid_argument("network: input '" + in.name + "' must have a positive width; received " +
                                  std::to_string(in.dim));
  const index_t I = num_inputs();
  const index_t N = static_cast<index_t>(spec.nodes.size());
  width_.assign(static_cast<std::size_t>(I + N), 0);
  consumers_.assign(static_cast<std::size_t>(I + N), {});
  for (index_t i = 0; i < I; ++i) width_[static_cast<std::size_t>(i)] = inputs_[static_cast<std::size_t>(i)].dim;

  // Layers are built at their first node (that fixes their input widths), in node order.
  layers_.resize(spec.layers.size());
  for (index_t j = 0; j < N; ++j) {
    const NodeSpec& ns = spec.nodes[static_cast<std::size_t>(j)];
    if (ns.layer < 0 || ns.layer >= static_cast<index_t>(spec.layers.size()))
      throw std::invalid_argument("network: node " + std::to_string(j) + " names layer " + std::to_string(ns.layer) +
                                  "; there are " + std::to_string(spec.layers.size()));
    const LayerSpec& ls = spec.layers[static_cast<std::size_t>(ns.layer)];
    if (ns.inputs.empty()) throw std::invalid_argument("network: node " + std::to_string(j) + " has no inputs");
    std::vector<index_t> dims;
    if (ns.steps < 1) throw std::invalid_argument("network: node " + std::to_string(j) + " has steps < 1");
    for (index_t t : ns.inputs) {
      if (t < 0 || t >= I + j)
        throw std::invalid_argument("network: node " + std::to_string(j) + " (layer '" + ls.name + "') reads tensor " +
                                    std::to_string(t) + ", which is not an earlier tensor");
      if (width_[static_cast<std::size_t>(t)] % ns.steps != 0 || (ns.steps > 1 && t < I && inputs_[static_cast<std::size_t>(t)].is_int))
        throw std::invalid_argument("network: node " + std::to_string(j) + " (layer '" + ls.name +
                                    "') cannot split a tensor of width " + std::to_string(width_[static_cast<std::size_t>(t)]) +
                                    " into " + std::to_string(ns.steps) + " steps");
      dims.push_back(width_[static_cast<std::size_t>(t)] / ns.steps);
      consumers_[static_cast<std::size_t>(t)].push_back(j);
    }
    auto& layer = layers_[static_cast<std::size_t>(ns.layer)];
    if (!layer) {
      layer = make_layer<T>(ls, dims);
    } else if (layer->in_dims() != dims) {
      std::string was, now;
      for (index_t d : layer->in_dims()) was += (was.empty() ? "" : ", ") + shape_str(d);
      for (index_t d : dims) now += (now.empty() ? "" : ", ") + shape_str(d);
      throw std::invalid_argument("layer '" + ls.name + "' was built for input shape " + was +
                                  " and is called again on input shape " + now +
                                  " (a shared layer keeps its input width)");
    }
    for (index_t t : ns.inputs) {
      const bool is_int = t < I && inputs_[static_cast<std::size_t>(t)].is_int;
      if (is_int != layer->int_input())
        throw std::invalid_argument(is_int ? "layer '" + ls.name + "' cannot read the int64 input '" +
                                                 inputs_[static_cast<std::size_t>(t)].name +
                                                 "' (only Embedding and CategoryEncoding layers read integer IDs)"
                                           : "layer '" + ls.name + "' needs an int64 input of IDs");
    }
    nodes_.push_back({static_cast<std::size_t>(ns.layer), ns.inputs, false, ns.steps});
    index_t w = 0;
    if (layer->out_dim() < 1 || mul_overflows(layer->out_dim(), ns.steps, &w))
      throw std::invalid_argument("network: the output of node " + std::to_string(j) + " (layer '" + ls.name +
                                  "') is too wide");
    width_[static_cast<std::size_t>(I + j)] = w;
    max_arity_ = std::max<index_t>(max_arity_, static_cast<index_t>(ns.inputs.size()));
  }
  for (std::size_t l = 0; l < layers_.size(); ++l)
    if (!layers_[l]) throw std::invalid_argument("network: layer '" + spec.layers[l].name + "' is used by no node");
  // A layer applied again later: that later node's backward runs first; earlier ones add.
  for (std::size_t j = 0; j < nodes_.size(); ++j)
    for (std::size_t k = j + 1; k < nodes_.size(); ++k)
      if (nodes_[k].layer == nodes_[j].layer) nodes_[j].shared_later = true;

  for (index_t t : spec.outputs)
    if (t < 0 || t >= I + N)
      throw std::invalid_argument("network: output tensor " + std::to_string(t) + " does not exist");
  outputs_ = spec.outputs;
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    if (outputs_[o] < I)
      throw std::invalid_argument("network: output " + std::to_string(o) + " is an input; add a layer (Identity)");
    output_names_.push_back(o < spec.output_names.size() ? spec.output_names[o]
                                                         : (o == 0 ? std::string("output") : "output_" + std::to_string(o)));
  }
  for (index_t j = 0; j < N; ++j) {
    const index_t t = I + j;
    if (consumers_[static_cast<std::size_t>(t)].empty() &&
        std::find(outputs_.begin(), outputs_.end(), t) == outputs_.end())
      throw std::invalid_argument("network: the output of node " + std::to_string(j) + " (layer '" +
                                  layers_[nodes_[static_cast<std::size_t>(j)].layer]->name() +
                                  "') reaches no model output");
  }
  for (index_t t = I; t < I + N; ++t) max_width_ = std::max(max_width_, width_[static_cast<std::size_t>(t)]);

  // Tensors in layer order (Keras get_weights order); trainable ones first in the arena
  // (one contiguous range for the optimizer), then the rest.
  for (auto& l : layers_) {
    const std::size_t first = tensors_.size();
    l->declare(tensors_);
    layer_tensors_.emplace_back(first, tensors_.size());
  }
  // Sizes far beyond any memory (a product that overflowed in a layer's declare) would
  // lay out a too-small arena: reject them here, before anything is allocated.
  for (const TensorInfo& t : tensors_) {
    index_t prod = 1;
    bool bad = false;
    for (index_t d : t.shape) bad |= mul_overflows(prod, d, &prod);
    if (bad || prod != t.size || prod > (index_t(1) << 48))
      throw std::invalid_argument("network: weight '" + t.name + "' is too large");
  }
  frozen_.assign(layers_.size(), 0);
  index_t off = 0;
  for (TensorInfo& t : tensors_) if (t.trainable) { t.offset = off; off += t.size; }
  trainable_size_ = off;
  for (TensorInfo& t : tensors_) if (!t.trainable) { t.offset = off; off += t.size; }
  arena_size_ = off;
  if (spec.max_params >= 0 && arena_size_ > spec.max_params)
    throw std::invalid_argument("network: the model has " + std::to_string(arena_size_) +
                                " weights, more than the " + std::to_string(spec.max_params) + " allowed (max_params)");
  // Parameters and gradients (two arenas) beyond this machine's memory would be zeroed
  // page by page until the system runs out: refuse them at once.
  const std::uint64_t need = 2 * static_cast<std::uint64_t>(arena_size_) * sizeof(T);
  const std::uint64_t have = physical_memory();
  if (have > 0 && need > have)
    throw OutOfMemory("network: the model's parameters and gradients need " + std::to_string(need >> 20) +
                      " MiB (" + std::to_string(arena_size_) + " weights); this machine has " +
                      std::to_string(have >> 20) + " MiB of memory");
  params_.reserve(static_cast<std::size_t>(std::max<index_t>(arena_size_, 1)));
  grads_.reserve(static_cast<std::size_t>(std::max<index_t>(arena_size_, 1)));
  params_.zero();
  grads_.zero();  // non-trainable tensors keep a zero gradient forever
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    init_fill<T>(t.init, t.fan_in, t.fan_out, t.size, params_.data() + t.offset, seed_, i);
  }
  for (auto& l : layers_) l->bind(tensors_, params_.data(), grads_.data());
  // Each layer's trainable tensors are adjacent in the arena (trainable tensors are laid
  // out in table order): one gradient range per layer. Shared layers need a scratch of
  // their range's size (see backward).
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    std::pair<index_t, index_t> r{0, 0};
    for (std::size_t i = layer_tensors_[l].first; i < layer_tensors_[l].second; ++i)
      if (tensors_[i].trainable) {
        if (r.second == 0) r.first = tensors_[i].offset;
        r.second += tensors_[i].size;
      }
    layer_grad_range_.push_back(r);
    bool shared = false;
    for (const Node& nd : nodes_) shared |= nd.layer == l && nd.shared_later;
    if (shared) pscratch_size_ = std::max(pscratch_size_, r.second);
  }
  layer_written_.assign(layers_.size(), 0);

  // Predict plan: a tensor lives from its node to its last consumer; outputs are written
  // straight into the caller's arrays, everything else into per-thread slots.
  pred_slot_.assign(width_.size(), -1);
  SlotPool pool;
  std::vector<index_t> last_use(width_.size(), -1);
  for (index_t j = 0; j < N; ++j)
    for (index_t t : nodes_[static_cast<std::size_t>(j)].in) last_use[static_cast<std::size_t>(t)] = j;
  for (index_t j = 0; j < N; ++j) {
    const index_t t = I + j;
    if (std::find(outputs_.begin(), outputs_.end(), t) == outputs_.end()) {
      pred_slot_[static_cast<std::size_t>(t)] = pool.acquire();
      pred_width_ = std::max(pred_width_, width_[static_cast<std::size_t>(t)]);
    }
    for (index_t u : nodes_[static_cast<std::size_t>(j)].in)
      if (last_use[static_cast<std::size_t>(u)] == j && pred_slot_[static_cast<std::size_t>(u)] >= 0) {
        pool.release(pred_slot_[static_cast<std::size_t>(u)]);
        last_use[static_cast<std::size_t>(u)] = -2;  // released once even if read twice here
      }
  }
  pred_slots_ = pool.count();

  cur_x_.assign(inputs_.size(), nullptr);
  cur_y_.assign(outputs_.size(), nullptr);
  xs_.assign(static_cast<std::size_t>(max_arity_), nullptr);
  dxs_.assign(static_cast<std::size_t>(max_arity_), nullptr);
  written_.assign(width_.size(), 0);
  out_loss_.assign(outputs_.size(), 0.0);
  out_loss_sum_.assign(outputs_.size(), 0.0);
  run_out_.assign(outputs_.size(), 0.0);
  configure(TrainingConfig{});
}

template <class T>
std::vector<index_t> Network<T>::output_shapes() const {
  std::vector<index_t> s;
  for (std::size_t j = 0; j < nodes_.size(); ++j) s.push_back(width_[inputs_.size() + j]);
  return s;
}

template <class T>
bool Network<T>::sparse_labels(index_t o) const noexcept {
  if (o >= static_cast<index_t>(config_.outputs.size())) return false;
  const OutputConfig& c = config_.outputs[static_cast<std::size_t>(o)];
  if (c.has_loss) return loss_is_sparse(c.loss.kind);
  return !c.metrics.empty() && metric_is_sparse(c.metrics[0].kind);
}

template <class T>
index_t Network<T>::label_cols(index_t o) const noexcept { return sparse_labels(o) ? 1 : output_dim(o); }

template <class T>
bool Network<T>::output_needs_labels(index_t o) const noexcept {
  if (o >= static_cast<index_t>(config_.outputs.size())) return false;
  const OutputConfig& c = config_.outputs[static_cast<std::size_t>(o)];
  return (c.has_loss && c.loss.kind != LossKind::value) || !c.metrics.empty();
}

template <class T>
void Network<T>::configure(const TrainingConfig& config_in) {
  TrainingConfig config = config_in;
  if (config.outputs.size() > outputs_.size())
    throw std::invalid_argument("training config: " + std::to_string(config.outputs.size()) +
                                " output configurations for a model with " + std::to_string(outputs_.size()) +
                                " outputs");
  config.outputs.resize(outputs_.size());
  std::vector<std::vector<Metric>> metrics(outputs_.size());
  index_t auc_thresholds = 0;
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    OutputConfig& oc = config.outputs[o];
    if (oc.loss_key.empty()) oc.loss_key = output_names_[o] + "_loss";
    if (!(oc.weight >= 0.0) || !std::isfinite(oc.weight))
      throw std::invalid_argument("loss weight of output '" + output_names_[o] + "' must be a finite number >= 0; "
                                  "received " + std::to_string(oc.weight));
    // y is (n, 1) class indices for the sparse loss/metrics and (n, width) otherwise; one y
    // serves loss and metrics alike, so they must agree.
    bool sparse = oc.has_loss && loss_is_sparse(oc.loss.kind);
    if (!oc.has_loss && !oc.metrics.empty()) sparse = metric_is_sparse(oc.metrics[0].kind);
    for (const MetricSpec& m : oc.metrics)
      if (metric_is_sparse(m.kind) != sparse)
        throw std::invalid_argument("metric '" + m.key + "' needs " + (metric_is_sparse(m.kind) ? "sparse" : "dense") +
                                    " labels, but " +
                                    (oc.has_loss ? std::string("the loss ") + loss_name(oc.loss.kind)
                                                 : std::string("another metric")) +
                                    " uses " + (sparse ? "sparse" : "dense") + " labels");
    for (const MetricSpec& m : oc.metrics) {
      // AUC keeps two doubles per threshold: bound what a configuration (a file) may claim.
      if (m.kind == MetricKind::auc) auc_thresholds += m.num_thresholds;
      if (auc_thresholds > (index_t(1) << 24))
        throw std::invalid_argument("metrics: the auc metrics hold more than 16777216 thresholds in total");
      metrics[o].emplace_back(m);
    }
    // A (batch, steps, features) output: the per-sample flat losses equal Keras' per-step
    // means only for the elementwise losses and metrics.
    const Node& producer = nodes_[static_cast<std::size_t>(outputs_[o]) - inputs_.size()];
    if (producer.steps > 1) {
      bool ok = !oc.has_loss || !(oc.loss.kind == LossKind::categorical_crossentropy || loss_is_sparse(oc.loss.kind));
      for (const MetricSpec& m : oc.metrics)
        ok = ok && (m.kind == MetricKind::mse || m.kind == MetricKind::mae || m.kind == MetricKind::binary_accuracy);
      if (!ok)
        throw std::invalid_argument("output '" + output_names_[o] +
                                    "' is 3-D (batch, steps, features): its loss and metrics must be elementwise "
                                    "(mse, mae, huber, binary_crossentropy; metrics mse, mae, binary_accuracy); "
                                    "Flatten or pool it first for the others");
    }
  }
  std::unique_ptr<Optimizer<T>> opt;
  if (config.has_optimizer) opt = make_optimizer<T>(config.optimizer);

  config_ = config;
  metrics_ = std::move(metrics);
  if (opt) {
    optimizer_ = std::move(opt);
    std::vector<Segment> segs;
    for (const TensorInfo& t : tensors_) if (t.trainable) segs.push_back({t.offset, t.size});
    optimizer_->build(trainable_size_, std::move(segs));
    iterations_ = 0;
    optimizer_->set_iterations(0);
  } else {
    optimizer_.reset();
  }
  // Softmax/sigmoid + cross-entropy fuse into one op on the logits when nothing else reads
  // the probabilities' gradient (the output feeds no other node and is no other output).
  fused_.assign(outputs_.size(), 0);
  node_fused_output_.assign(nodes_.size(), -1);
  for (auto& l : layers_) l->keep_logits(false);
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    const OutputConfig& oc = config_.outputs[o];
    const index_t t = outputs_[o];
    const Node& producer = nodes_[static_cast<std::size_t>(t) - inputs_.size()];
    const Act last = layers_[producer.layer]->output_act();
    const LossKind lk = oc.loss.kind;
    const bool alone = consumers_[static_cast<std::size_t>(t)].empty() &&
                       std::count(outputs_.begin(), outputs_.end(), t) == 1;
    bool shared = false;
    for (const Node& nd : nodes_) shared |= nd.layer == producer.layer && &nd != &producer;
    fused_[o] = oc.has_loss && !oc.loss.from_logits && alone && !shared &&
                (((lk == LossKind::categorical_crossentropy || lk == LossKind::sparse_categorical_crossentropy) &&
                  last == Act::softmax) ||
                 (lk == LossKind::binary_crossentropy && last == Act::sigmoid));
    if (fused_[o]) {
      layers_[producer.layer]->keep_logits(true);
      node_fused_output_[static_cast<std::size_t>(t) - inputs_.size()] = static_cast<int>(o);
    }
  }
  rows_ = 0;  // cache sizes may have changed: lay the workspace out again on next use
  plan_stale_ = true;
  logs_.clear();
  logs_.emplace_back("loss", 0.0);
  // Keras logs each output's loss when more than one output has a loss.
  per_output_losses_ = std::count_if(config_.outputs.begin(), config_.outputs.end(),
                                     [](const OutputConfig& oc) { return oc.has_loss && oc.logged; }) > 1;
  if (per_output_losses_)
    for (const OutputConfig& oc : config_.outputs)
      if (oc.has_loss && oc.logged) logs_.emplace_back(oc.loss_key, 0.0);
  for (const auto& ms : metrics_)
    for (const Metric& m : ms) logs_.emplace_back(m.spec().key, 0.0);
}

template <class T>
void Network<T>::set_layer_trainable(std::size_t l, bool trainable) {
  if (l >= layers_.size())
    throw std::invalid_argument("set_layer_trainable: layer index " + std::to_string(l) + " out of range [0, " +
                                std::to_string(layers_.size()) + ")");
  frozen_[l] = !trainable;
  plan_stale_ = true;
}

template <class T>
void Network<T>::plan_backward() {
  // The optimizer skips frozen layers' tensors.
  if (optimizer_) {
    std::vector<char> active;
    for (std::size_t l = 0; l < layers_.size(); ++l)
      for (std::size_t i = layer_tensors_[l].first; i < layer_tensors_[l].second; ++i)
        if (tensors_[i].trainable) active.push_back(!frozen_[l]);
    // segments are in table order, which is layer order
    optimizer_->set_active(active);
  }
  const std::size_t I = inputs_.size();
  auto has_params = [&](std::size_t l) {
    if (frozen_[l]) return false;
    for (std::size_t i = layer_tensors_[l].first; i < layer_tensors_[l].second; ++i)
      if (tensors_[i].trainable) return true;
    return false;
  };
  // needs_grad: a gradient with respect to this tensor leads to a trainable parameter.
  needs_grad_.assign(width_.size(), 0);
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    bool need = has_params(nodes_[j].layer);
    for (index_t u : nodes_[j].in) need |= needs_grad_[static_cast<std::size_t>(u)] != 0;
    needs_grad_[I + j] = need;
  }
  // A node's backward runs when a loss gradient reaches its output and it has something to
  // compute (its parameters' gradients or an input gradient somebody needs).
  std::vector<char> arrives(width_.size(), 0);
  for (std::size_t o = 0; o < outputs_.size(); ++o)
    if (config_.outputs[o].has_loss) arrives[static_cast<std::size_t>(outputs_[o])] = 1;
  node_runs_.assign(nodes_.size(), 0);
  for (std::size_t j = nodes_.size(); j-- > 0;) {
    if (!arrives[I + j] || !needs_grad_[I + j]) continue;
    node_runs_[j] = 1;
    for (index_t u : nodes_[j].in) arrives[static_cast<std::size_t>(u)] = 1;
  }
  // A layer no loss reaches, and a frozen layer (even one whose node runs for its input
  // gradient), gets a zero gradient: no backward writes it, so earlier gradients must not
  // linger (grads(), the gradient hook). The regularization gradient of a trainable layer
  // no loss reaches is added each step onto a range zeroed first (reg_idle_).
  idle_.clear();
  reg_idle_.clear();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    bool runs = false;
    for (std::size_t j = 0; j < nodes_.size(); ++j) runs |= nodes_[j].layer == l && node_runs_[j];
    for (std::size_t i = layer_tensors_[l].first; i < layer_tensors_[l].second; ++i) {
      const TensorInfo& ti = tensors_[i];
      if (runs && !frozen_[l] && ti.trainable) continue;
      idle_.emplace_back(ti.offset, ti.size);
      if (!frozen_[l] && ti.trainable && ti.reg.active()) reg_idle_.emplace_back(ti.offset, ti.size);
    }
  }
  zero_ranges(idle_);
  // The node whose backward finishes each layer's gradient: its first running node (a
  // shared layer's later nodes run first and the earlier ones add).
  final_node_.assign(layers_.size(), -1);
  for (std::size_t j = nodes_.size(); j-- > 0;)
    if (node_runs_[j]) final_node_[nodes_[j].layer] = static_cast<index_t>(j);
  reg_term_.assign(tensors_.size(), 0.0);
  reg_done_.assign(layers_.size(), 0);
  plan_stale_ = false;
}

template <class T>
void Network<T>::zero_ranges(const std::vector<std::pair<index_t, index_t>>& ranges) {
  for (const auto& r : ranges)
    std::memset(static_cast<void*>(grads_.data() + r.first), 0, static_cast<std::size_t>(r.second) * sizeof(T));
}

template <class T>
void Network<T>::set_iterations(std::int64_t it) {
  if (it < 0) throw std::invalid_argument("iterations must be >= 0; received " + std::to_string(it));
  iterations_ = it;
  if (optimizer_) optimizer_->set_iterations(it);
}

template <class T>
void Network<T>::reserve(index_t rows) {
  if (plan_stale_) plan_backward();
  if (rows <= rows_) return;
  const std::size_t I = inputs_.size(), N = nodes_.size();
  {  // every region below is at most rows x (a width, a cache or a slot): bound them first
    index_t widest = std::max(max_width_, pscratch_size_);
    for (const InputSpec& in : inputs_) widest = std::max(widest, in.dim);
    for (std::size_t j = 0; j < N; ++j)
      widest = std::max(widest, layers_[nodes_[j].layer]->cache_size(nodes_[j].steps));
    index_t per = 0;
    const index_t regions = static_cast<index_t>(2 * N + 2 * I + outputs_.size() + 64) + max_arity_;
    if (mul_overflows(rows, widest, &per) || mul_overflows(per, regions, &per) || per > (index_t(1) << 56))
      throw OutOfMemory("network: the training workspace for batches of " + std::to_string(rows) +
                        " rows is too large to allocate; use a smaller batch_size");
  }
  index_t off = 0;
  act_off_.assign(N, 0);
  cache_off_.assign(N, 0);
  for (std::size_t j = 0; j < N; ++j) {
    act_off_[j] = off;
    off += align16(rows * width_[I + j]);
    cache_off_[j] = off;
    off += align16(layers_[nodes_[j].layer]->cache_size(rows * nodes_[j].steps));
  }
  // Gradient slots from the backward lifetimes: an output's gradient is live from the
  // start of backward, any other tensor's from its first consumer in reverse node order,
  // until its producer's backward has read it. A chain needs two slots (ping-pong).
  grad_slot_.assign(width_.size(), -1);
  SlotPool pool;
  for (index_t t : outputs_)
    if (grad_slot_[static_cast<std::size_t>(t)] < 0) grad_slot_[static_cast<std::size_t>(t)] = pool.acquire();
  for (std::size_t j = N; j-- > 0;) {
    for (index_t u : nodes_[j].in)
      if (u >= static_cast<index_t>(I) && grad_slot_[static_cast<std::size_t>(u)] < 0)
        grad_slot_[static_cast<std::size_t>(u)] = pool.acquire();
    pool.release(grad_slot_[I + j]);
  }
  const index_t slot = align16(rows * max_width_);
  slot_off_.clear();
  for (int s = 0; s < pool.count() + static_cast<int>(max_arity_); ++s) { slot_off_.push_back(off); off += slot; }
  index_t ioff = 0;
  xb_off_.assign(I, 0);
  for (std::size_t i = 0; i < I; ++i) {
    if (inputs_[i].is_int) { xb_off_[i] = ioff; ioff += rows * inputs_[i].dim; }
    else { xb_off_[i] = off; off += align16(rows * inputs_[i].dim); }
  }
  yb_off_.assign(outputs_.size(), 0);
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    yb_off_[o] = off;
    off += align16(rows * std::max<index_t>(label_cols(static_cast<index_t>(o)), 1));
  }
  sw_off_ = off; off += align16(rows);
  pscratch_off_ = off; off += align16(pscratch_size_);
  if (static_cast<std::size_t>(off) > work_.size() || static_cast<std::size_t>(ioff) > ids_.size()) ++growths_;
  work_.reserve(static_cast<std::size_t>(off));
  ids_.reserve(static_cast<std::size_t>(std::max<index_t>(ioff, 1)));
  row_loss_.reserve(static_cast<std::size_t>(rows));
  rows_ = rows;
}

template <class T>
void Network<T>::layer_penalty(std::size_t l, bool add_grads, double scale) {
  // Each tensor in fixed chunks (a function of its size only, at most 64 of them), each
  // chunk's sums in 8 fixed lanes (detail::reg_sums), chunks added in order: the penalty
  // is the same for any thread count and for every SIMD kernel. Frozen layers' weights are
  // not trainable weights: no penalty (Keras sums the regularizers of trainable weights).
  for (std::size_t ti = layer_tensors_[l].first; ti < layer_tensors_[l].second; ++ti) {
    reg_term_[ti] = 0;
    const TensorInfo& t = tensors_[ti];
    if (frozen_[l] || !t.reg.active()) continue;
    const T* w = params_.data() + t.offset;
    T* g = add_grads ? grads_.data() + t.offset : nullptr;
    const T l1 = T(t.reg.l1 * scale), l2x2 = T(2 * t.reg.l2 * scale);
    const index_t chunk = std::max<index_t>(index_t(1) << 16, (t.size + 63) / 64 + 7) / 8 * 8;
    double part[64][2];
    detail::parallel_chunks(t.size, chunk, t.size, [&](index_t i0, index_t i1) {
      detail::reg_sums<T>(i1 - i0, w + i0, g ? g + i0 : nullptr, l1, l2x2, part[i0 / chunk]);
    });
    double s1 = 0, s2 = 0;
    for (index_t c = 0; c * chunk < t.size; ++c) { s1 += part[c][0]; s2 += part[c][1]; }
    reg_term_[ti] = scale * (t.reg.l1 * s1 + t.reg.l2 * s2);
  }
}

template <class T>
double Network<T>::regularization(bool add_grads, double scale) {
  // Layers whose penalty backward added already (layer_final) keep their terms; the sum
  // runs over the tensors in table order either way (the same bits).
  double penalty = 0;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    if (!reg_done_[l]) layer_penalty(l, add_grads, scale);
    reg_done_[l] = 0;
    if (frozen_[l]) continue;
    for (std::size_t ti = layer_tensors_[l].first; ti < layer_tensors_[l].second; ++ti)
      if (tensors_[ti].reg.active()) penalty += reg_term_[ti];
  }
  return penalty;
}

template <class T>
void Network<T>::layer_final(std::size_t l, double penalty_scale) {
  layer_penalty(l, true, penalty_scale);
  reg_done_[l] = 1;
  layer_cb_(static_cast<index_t>(l));
}

template <class T>
const T* Network<T>::tensor_ptr(index_t t, const void* const* x) const {
  const std::size_t I = inputs_.size();
  if (t < static_cast<index_t>(I)) return static_cast<const T*>(x[t]);  // int IDs: reinterpreted (Layer::int_input)
  return work_.data() + act_off_[static_cast<std::size_t>(t) - I];
}

template <class T>
double Network<T>::run_batch(Mode mode, index_t n, const void* const* x, const T* const* y, const T* sw, double lr) {
  // Assumes reserve(n) happened and a loss is configured (checked by the callers).
  if (plan_stale_) plan_backward();  // set_layer_trainable from a batch callback: next step
  std::fill(reg_done_.begin(), reg_done_.end(), 0);  // (a callback that threw left some set)
  StepContext ctx;
  ctx.training = mode != Mode::evaluate;
  ctx.update_stats = mode == Mode::train;
  ctx.seed = seed_;
  ctx.counter = counter_;
  ctx.params_version = params_version_;
  T* w = work_.data();
  const std::size_t I = inputs_.size(), N = nodes_.size();
  for (std::size_t j = 0; j < N; ++j) {
    const Node& nd = nodes_[j];
    for (std::size_t i = 0; i < nd.in.size(); ++i) xs_[i] = tensor_ptr(nd.in[i], x);
    ctx.layer_index = static_cast<index_t>(j);
    ctx.frozen = frozen_[nd.layer] != 0;
    // A fused loss reads the logits; the probabilities are only needed for metrics.
    const int fo = node_fused_output_[j];
    ctx.output_unused = fo >= 0 && mode != Mode::evaluate &&
                        (mode == Mode::gradients || (metrics_[static_cast<std::size_t>(fo)].empty() && !recording_));
    layers_[nd.layer]->forward_n(ctx, n * nd.steps, xs_.data(), w + act_off_[j], w + cache_off_[j]);
  }
  const bool backprop = mode != Mode::evaluate;
  if (backprop) std::fill(written_.begin(), written_.end(), 0);
  double loss = 0, penalty_scale = 1;
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    const OutputConfig& oc = config_.outputs[o];
    out_loss_[o] = 0;
    if (!oc.has_loss) continue;
    const index_t t = outputs_[o];
    const std::size_t j = static_cast<std::size_t>(t) - I;
    const T* out = w + act_off_[j];
    const T* logits = nullptr;
    if (fused_[o]) logits = layers_[nodes_[j].layer]->logits(tensor_ptr(nodes_[j].in[0], x), w + cache_off_[j]);
    else if (oc.loss.from_logits) logits = out;
    T* g = nullptr;
    bool add = false;
    if (backprop) {
      add = written_[static_cast<std::size_t>(t)] != 0;  // the same tensor is an earlier output too
      g = w + (add ? slot_off_.back() : slot_off_[static_cast<std::size_t>(grad_slot_[static_cast<std::size_t>(t)])]);
    }
    // The normalizer: n, or (mean_with_sample_weight) the batch's sum of weights, in row
    // order; a zero sum gives a zero loss and gradient (Keras' divide_no_nan).
    // Sample weights: per row, or (a batch-wide scalar loss) their mean as one factor, or
    // none (add_loss terms).
    const T* rsw = oc.loss.weighting == SampleWeighting::rows ? sw : nullptr;
    double factor = 1.0;
    const SampleWeighting sww = oc.loss.weighting;
    if (sw && (sww == SampleWeighting::batch_mean || sww == SampleWeighting::batch_sum ||
               sww == SampleWeighting::batch_normalized)) {
      double total = 0;
      for (index_t i = 0; i < n; ++i) total += double(sw[i]);
      factor = sww == SampleWeighting::batch_mean ? total / double(n)
               : sww == SampleWeighting::batch_sum ? total
                                                   : (total != 0 ? 1.0 : 0.0);
    }
    double norm = double(n);
    if (oc.loss.reduction == LossReduction::mean_with_sample_weight && rsw) {
      norm = 0;
      for (index_t i = 0; i < n; ++i) norm += double(rsw[i]);
    }
    if (oc.loss.reduction == LossReduction::sum) norm = 1.0;
    const double inv = norm != 0 ? 1.0 / norm : 0.0;
    if (config_.penalty_like_loss) penalty_scale = inv;
    const T gscale = oc.loss.reduction == LossReduction::sum_over_batch_size ? T(oc.weight * factor) / T(n)
                                                                           : T(oc.weight * factor * inv);
    const double wsum = factor * loss_evaluate<T>(oc.loss, n, width_[static_cast<std::size_t>(t)], out, logits,
                                                  y[o], rsw, g, gscale, row_loss_.data());
    if (add) add_into(n * width_[static_cast<std::size_t>(t)],
                      w + slot_off_[static_cast<std::size_t>(grad_slot_[static_cast<std::size_t>(t)])], g);
    if (backprop) written_[static_cast<std::size_t>(t)] = 1;
    out_loss_[o] = oc.loss.reduction == LossReduction::sum_over_batch_size ? wsum / double(n) : wsum * inv;
    loss += oc.weight * out_loss_[o];
  }
  if (backprop) {
    if (grads_dirty_) {
      // Written from outside since the last backward: the ranges no backward writes
      // (frozen, unreached, non-trainable) must be zero again.
      zero_ranges(idle_);
      grads_dirty_ = false;
    }
    zero_ranges(reg_idle_);
    backward(ctx, n, x, mode == Mode::train && layer_cb_, penalty_scale);
  }
  // The penalty is evaluated on the weights the forward pass used (before the update).
  loss += regularization(backprop, penalty_scale);
  if (mode != Mode::gradients)
    for (std::size_t o = 0; o < outputs_.size(); ++o)
      for (Metric& m : metrics_[o])
        m.update<T>(n, width_[static_cast<std::size_t>(outputs_[o])],
                    w + act_off_[static_cast<std::size_t>(outputs_[o]) - I], y[o], sw);
  if (mode == Mode::train) {
    step(lr);
    ++counter_;
  }
  return loss;
}

template <class T>
void Network<T>::backward(const StepContext& ctx_in, index_t n, const void* const* x, bool notify,
                          double penalty_scale) {
  StepContext ctx = ctx_in;
  T* w = work_.data();
  const std::size_t I = inputs_.size();
  const index_t scratch0 = static_cast<index_t>(slot_off_.size()) - max_arity_;
  auto slot = [&](index_t t) { return w + slot_off_[static_cast<std::size_t>(grad_slot_[static_cast<std::size_t>(t)])]; };
  std::fill(layer_written_.begin(), layer_written_.end(), 0);
  for (std::size_t j = nodes_.size(); j-- > 0;) {
    if (!node_runs_[j] || !written_[I + j]) continue;
    const Node& nd = nodes_[j];
    Layer<T>& layer = *layers_[nd.layer];
    const index_t t = static_cast<index_t>(I + j);
    bool add_any = false;
    ctx.accumulate_dx = false;
    for (std::size_t i = 0; i < nd.in.size(); ++i) {
      const index_t u = nd.in[i];
      xs_[i] = tensor_ptr(u, x);
      dxs_[i] = nullptr;
      if (!needs_grad_[static_cast<std::size_t>(u)]) continue;
      bool repeated = false;  // the same tensor is an earlier input of this node
      for (std::size_t k = 0; k < i; ++k) repeated |= nd.in[k] == u;
      if (!written_[static_cast<std::size_t>(u)] && !repeated) {
        dxs_[i] = slot(u);
      } else if (nd.in.size() == 1 && layer.accumulates_dx()) {
        dxs_[i] = slot(u);  // added by the layer itself (GEMM beta = 1)
        ctx.accumulate_dx = true;
      } else {
        dxs_[i] = w + slot_off_[static_cast<std::size_t>(scratch0) + i];
        add_any = true;
      }
    }
    ctx.layer_index = static_cast<index_t>(j);
    ctx.frozen = frozen_[nd.layer] != 0;
    // A shared layer: a later node already wrote its parameter gradients; keep them and add.
    const auto [p0, psize] = layer_grad_range_[nd.layer];
    const bool keep = nd.shared_later && !ctx.frozen && layer_written_[nd.layer];
    if (keep)
      std::memcpy(static_cast<void*>(w + pscratch_off_), grads_.data() + p0, static_cast<std::size_t>(psize) * sizeof(T));
    const bool preact = node_fused_output_[j] >= 0;
    layer.backward_n(ctx, n * nd.steps, xs_.data(), w + act_off_[j], slot(t), dxs_.data(), w + cache_off_[j], preact);
    if (keep) add_into(psize, grads_.data() + p0, w + pscratch_off_);
    layer_written_[nd.layer] = 1;
    if (add_any) {
      for (std::size_t i = 0; i < nd.in.size(); ++i) {
        const index_t u = nd.in[i];
        if (dxs_[i] && dxs_[i] != slot(u)) {
          add_into(n * width_[static_cast<std::size_t>(u)], slot(u), dxs_[i]);
        }
      }
    }
    for (std::size_t i = 0; i < nd.in.size(); ++i)
      if (dxs_[i]) written_[static_cast<std::size_t>(nd.in[i])] = 1;
    if (notify && final_node_[nd.layer] == static_cast<index_t>(j) && layer_grad_range_[nd.layer].second > 0)
      layer_final(nd.layer, penalty_scale);
  }
  if (notify)  // frozen layers, layers no loss reaches (or whose last node got no gradient)
    for (std::size_t l = 0; l < layers_.size(); ++l)
      if (!reg_done_[l] && layer_grad_range_[l].second > 0) layer_final(l, penalty_scale);
}

template <class T>
void Network<T>::step(double lr) {
  if (grad_hook_) {
    grad_hook_(grads_.data(), arena_size_);
    grads_dirty_ = true;  // the hook may have written anywhere
  }
  optimizer_->apply(params_.data(), grads_.data(), lr, iterations_);
  ++params_version_;
  ++iterations_;
}

template <class T>
void Network<T>::apply_gradients(const T* g, double lr) {
  if (!optimizer_) throw std::runtime_error("apply_gradients: the network has no optimizer; call set_training_config first");
  if (plan_stale_) plan_backward();
  std::memcpy(static_cast<void*>(grads_.data()), g, static_cast<std::size_t>(arena_size_) * sizeof(T));
  grads_dirty_ = true;
  optimizer_->apply(params_.data(), grads_.data(), lr, iterations_);
  ++params_version_;
  ++iterations_;
}

template <class T>
void Network<T>::check_batch(const Batch<T>& data) const {
  const std::size_t I = inputs_.size();
  for (std::size_t i = 0; i < I; ++i) {
    if (!inputs_[i].is_int || !data.x[i]) continue;
    const auto* ids = static_cast<const std::int64_t*>(data.x[i]);
    for (index_t j : consumers_[i]) layers_[nodes_[static_cast<std::size_t>(j)].layer]->check_ids(data.n, ids);
  }
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    if (!sparse_labels(static_cast<index_t>(o)) || o >= data.y.size() || !data.y[o]) continue;
    const index_t classes = output_dim(static_cast<index_t>(o));
    const std::string what = outputs_.size() > 1 ? "y of output '" + output_names_[o] + "'" : std::string("y");
    for (index_t i = 0; i < data.n; ++i) {
      const T v = data.y[o][i];
      if (!(v >= T(0) && v < T(classes) && v == std::floor(v)))
        throw std::invalid_argument(what + " holds class indices for the sparse loss/metrics; they must be integers in [0, " +
                                    std::to_string(classes) + "); received y[" + std::to_string(i) +
                                    "] = " + std::to_string(double(v)));
    }
  }
}

template <class T>
void Network<T>::reset_metrics() {
  for (auto& ms : metrics_)
    for (Metric& m : ms) m.reset();
}

template <class T>
void Network<T>::update_logs(double loss, const double* out_loss) {
  std::size_t k = 0;
  logs_[k++].second = loss;
  if (per_output_losses_)
    for (std::size_t o = 0; o < outputs_.size(); ++o)
      if (config_.outputs[o].has_loss && config_.outputs[o].logged) logs_[k++].second = out_loss ? out_loss[o] : 0.0;
  for (const auto& ms : metrics_)
    for (const Metric& m : ms) logs_[k++].second = m.result();
}

template <class T>
void Network<T>::reset_running() {
  reset_metrics();
  run_loss_ = 0;
  run_seen_ = 0;
  run_out_.assign(outputs_.size(), 0.0);
}

template <class T>
void Network<T>::set_running(double loss_sum, const double* out_loss_sum, index_t n) {
  run_loss_ = loss_sum;
  run_seen_ = n;
  run_out_.assign(out_loss_sum, out_loss_sum + outputs_.size());
}

template <class T>
void Network<T>::add_running(double loss_sum, const double* out_loss_sum, index_t n) {
  const std::size_t O = outputs_.size();
  if (run_out_.size() != O) run_out_.assign(O, 0.0);
  run_loss_ += loss_sum;
  for (std::size_t o = 0; o < O; ++o) run_out_[o] += out_loss_sum[o];
  run_seen_ += n;
  for (std::size_t o = 0; o < O; ++o) out_loss_[o] = run_out_[o] / double(run_seen_);
  update_logs(run_loss_ / double(run_seen_), out_loss_.data());
}

template <class T>
void Network<T>::record_step(const std::vector<void*>& record, index_t first_row, index_t n, const void* const* x) {
  for (std::size_t o = 0; o < outputs_.size() && o < record.size(); ++o) {
    if (!record[o]) continue;
    const index_t wd = width_[static_cast<std::size_t>(outputs_[o])];
    std::memcpy(static_cast<T*>(record[o]) + first_row * wd, tensor_ptr(outputs_[o], x),
                static_cast<std::size_t>(n * wd) * sizeof(T));
  }
}

namespace {
struct Flag {  // set for a scope
  bool& flag;
  Flag(bool& f, bool on) : flag(f) { flag = on; }
  ~Flag() { flag = false; }
};
}  // namespace

template <class T>
Logs Network<T>::train_batch(const Batch<T>& d, double lr, bool accumulate, const std::vector<void*>* record) {
  if (!config_.has_loss() || !optimizer_)
    throw std::runtime_error("train_batch: the network has no loss/optimizer; call set_training_config first");
  if (d.n < 1) throw std::invalid_argument("train_batch: the batch is empty");
  reserve(d.n);
  if (!accumulate) reset_metrics();
  Flag recording(recording_, record != nullptr && !record->empty());
  const double loss = run_batch(Mode::train, d.n, d.x.data(), d.y.data(), d.sw, lr);
  if (recording_) record_step(*record, 0, d.n, d.x.data());
  // Keras' loss tracker, as train_epoch: batch losses weighted by batch size.
  for (std::size_t o = 0; o < outputs_.size(); ++o) out_loss_sum_[o] = out_loss_[o] * double(d.n);
  if (!accumulate) {
    set_running(loss * double(d.n), out_loss_sum_.data(), d.n);
    update_logs(loss, out_loss_.data());
    return logs_;
  }
  add_running(loss * double(d.n), out_loss_sum_.data(), d.n);
  return logs_;
}

template <class T>
Logs Network<T>::train_epoch(const Batch<T>& d, index_t bs, bool shuffle, std::int64_t epoch, const double* lrs,
                             index_t n_lrs, const EpochHooks& hooks) {
  if (!config_.has_loss() || !optimizer_)
    throw std::runtime_error("train_epoch: the network has no loss/optimizer; call set_training_config first");
  if (bs < 1) throw std::invalid_argument("train_epoch: batch_size must be >= 1; received " + std::to_string(bs));
  const index_t n = d.n;
  const index_t steps = (n + bs - 1) / bs;
  if (n_lrs != steps)
    throw std::invalid_argument("train_epoch: learning_rates must hold one value per step (" + std::to_string(steps) +
                                "); received " + std::to_string(n_lrs));
  reset_metrics();
  std::fill(out_loss_sum_.begin(), out_loss_sum_.end(), 0.0);
  set_running(0.0, out_loss_sum_.data(), 0);
  if (n == 0) { update_logs(0.0, nullptr); return logs_; }
  reserve(std::min(bs, n));
  struct InEpoch {  // evaluate() from a hook must leave this epoch's running logs alone
    bool& flag;
    explicit InEpoch(bool& f) : flag(f) { flag = true; }
    ~InEpoch() { flag = false; }
  } in_epoch(in_epoch_);
  Flag recording(recording_, !hooks.record_outputs.empty());
  const std::size_t I = inputs_.size(), O = outputs_.size();
  if (shuffle) {
    // Fisher-Yates; draw i is a pure function of (seed, epoch, i).
    perm_.reserve(static_cast<std::size_t>(n));
    index_t* p = perm_.data();
    for (index_t i = 0; i < n; ++i) p[i] = i;
    const std::uint64_t key = rng_key(seed_, RngStream::shuffle, static_cast<std::uint64_t>(epoch));
    for (index_t i = n - 1; i > 0; --i) {
      const auto r = philox4x32(key, 0, static_cast<std::uint64_t>(i));
      std::swap(p[i], p[bounded64(r[0], r[1], static_cast<std::uint64_t>(i + 1))]);
    }
  }
  double loss_sum = 0;
  std::fill(out_loss_sum_.begin(), out_loss_sum_.end(), 0.0);
  index_t seen = 0;
  for (index_t s = 0; s < steps; ++s) {
    const index_t i0 = s * bs, nb = std::min(bs, n - i0);
    const index_t* p = shuffle ? perm_.data() + i0 : nullptr;
    for (std::size_t i = 0; i < I; ++i) {
      const index_t in = inputs_[i].dim;
      if (inputs_[i].is_int) {
        const auto* src = static_cast<const std::int64_t*>(d.x[i]);
        if (!shuffle) { cur_x_[i] = src + i0 * in; continue; }
        std::int64_t* xb = ids_.data() + xb_off_[i];
        for (index_t r = 0; r < nb; ++r)
          std::memcpy(xb + r * in, src + p[r] * in, static_cast<std::size_t>(in) * sizeof(std::int64_t));
        cur_x_[i] = xb;
        continue;
      }
      const T* src = static_cast<const T*>(d.x[i]);
      if (!shuffle) { cur_x_[i] = src + i0 * in; continue; }
      T* xb = work_.data() + xb_off_[i];
      // Rows are independent copies: a big batch (a pure memory pass) may split them.
      detail::parallel_chunks(nb, 32, nb * in, [&](index_t r0, index_t r1) {
        for (index_t r = r0; r < r1; ++r)
          std::memcpy(xb + r * in, src + p[r] * in, static_cast<std::size_t>(in) * sizeof(T));
      });
      cur_x_[i] = xb;
    }
    for (std::size_t o = 0; o < O; ++o) {
      cur_y_[o] = nullptr;
      if (o >= d.y.size() || !d.y[o]) continue;
      const index_t yc = label_cols(static_cast<index_t>(o));
      if (!shuffle) { cur_y_[o] = d.y[o] + i0 * yc; continue; }
      T* yb = work_.data() + yb_off_[o];
      if (yc == 1) {
        for (index_t r = 0; r < nb; ++r) yb[r] = d.y[o][p[r]];  // class indices: no memcpy call per row
      } else {
        for (index_t r = 0; r < nb; ++r)
          std::memcpy(yb + r * yc, d.y[o] + p[r] * yc, static_cast<std::size_t>(yc) * sizeof(T));
      }
      cur_y_[o] = yb;
    }
    const T* sw = d.sw ? d.sw + i0 : nullptr;
    if (shuffle && d.sw) {
      T* swb = work_.data() + sw_off_;
      for (index_t r = 0; r < nb; ++r) swb[r] = d.sw[p[r]];
      sw = swb;
    }
    // Keras' loss tracker: the mean of batch losses weighted by batch size.
    loss_sum += run_batch(Mode::train, nb, cur_x_.data(), cur_y_.data(), sw, lrs[s]) * double(nb);
    if (recording_) {
      record_step(hooks.record_outputs, i0, nb, cur_x_.data());
      if (hooks.record_rows)
        for (index_t r = 0; r < nb; ++r) hooks.record_rows[i0 + r] = p ? p[r] : i0 + r;
    }
    for (std::size_t o = 0; o < O; ++o) out_loss_sum_[o] += out_loss_[o] * double(nb);
    seen += nb;
    const bool last = s + 1 == steps;
    const bool call = hooks.on_batch && (last || (hooks.callback_every > 0 && (s + 1) % hooks.callback_every == 0));
    if (call) {
      for (std::size_t o = 0; o < O; ++o) out_loss_[o] = out_loss_sum_[o] / double(seen);
      update_logs(loss_sum / double(seen), out_loss_.data());
      if (hooks.on_batch(s, logs_)) break;
    } else if (hooks.poll) {
      hooks.poll();
    }
  }
  for (std::size_t o = 0; o < O; ++o) out_loss_[o] = out_loss_sum_[o] / double(seen);
  update_logs(loss_sum / double(seen), out_loss_.data());
  set_running(loss_sum, out_loss_sum_.data(), seen);
  return logs_;
}

template <class T>
Logs Network<T>::evaluate(const Batch<T>& d, index_t bs, bool accumulate) {
  if (!config_.has_loss()) throw std::runtime_error("evaluate: the network has no loss; call set_training_config first");
  if (bs <= 0) bs = kDefaultChunk;
  if (in_epoch_) {
    // Called from a train_epoch hook: the epoch's metric states and loss sums carry on
    // after this returns, so evaluate on copies of them and put the originals back. A
    // batch-by-batch (accumulate) evaluate would lose its running state between calls.
    if (accumulate)
      throw std::runtime_error("evaluate: batches from a generator cannot be evaluated from a batch callback of "
                               "a training epoch; evaluate arrays there, or evaluate after the epoch");
    auto metrics = metrics_;
    auto sums = out_loss_sum_, losses = out_loss_;
    auto logs = logs_;
    in_epoch_ = false;
    struct Restore {
      Network& net; decltype(metrics)& m; decltype(sums)& s; decltype(losses)& l; Logs& g;
      ~Restore() {
        net.metrics_ = std::move(m); net.out_loss_sum_ = std::move(s); net.out_loss_ = std::move(l);
        net.logs_ = std::move(g); net.in_epoch_ = true;
      }
    };
    Logs result;
    {
      Restore restore{*this, metrics, sums, losses, logs};
      result = evaluate(d, bs, false);
    }
    return result;
  }
  if (accumulate && d.n < 1) throw std::invalid_argument("evaluate: the batch is empty");
  if (!accumulate) {
    reset_metrics();
    std::fill(out_loss_sum_.begin(), out_loss_sum_.end(), 0.0);
    set_running(0.0, out_loss_sum_.data(), 0);
  }
  if (d.n == 0) { update_logs(0.0, nullptr); return logs_; }
  reserve(std::min(bs, d.n));
  const std::size_t I = inputs_.size(), O = outputs_.size();
  double loss_sum = 0;
  std::fill(out_loss_sum_.begin(), out_loss_sum_.end(), 0.0);
  for (index_t i0 = 0; i0 < d.n; i0 += bs) {
    const index_t nb = std::min(bs, d.n - i0);
    for (std::size_t i = 0; i < I; ++i)
      cur_x_[i] = inputs_[i].is_int ? static_cast<const void*>(static_cast<const std::int64_t*>(d.x[i]) + i0 * inputs_[i].dim)
                                    : static_cast<const void*>(static_cast<const T*>(d.x[i]) + i0 * inputs_[i].dim);
    for (std::size_t o = 0; o < O; ++o)
      cur_y_[o] = o < d.y.size() && d.y[o] ? d.y[o] + i0 * label_cols(static_cast<index_t>(o)) : nullptr;
    loss_sum += run_batch(Mode::evaluate, nb, cur_x_.data(), cur_y_.data(), d.sw ? d.sw + i0 : nullptr, 0.0) *
                double(nb);
    for (std::size_t o = 0; o < O; ++o) out_loss_sum_[o] += out_loss_[o] * double(nb);
  }
  if (accumulate) {
    add_running(loss_sum, out_loss_sum_.data(), d.n);
    return logs_;
  }
  for (std::size_t o = 0; o < O; ++o) out_loss_[o] = out_loss_sum_[o] / double(d.n);
  update_logs(loss_sum / double(d.n), out_loss_.data());
  set_running(loss_sum, out_loss_sum_.data(), d.n);
  return logs_;
}

template <class T>
std::vector<double> Network<T>::log_state() const {
  std::vector<double> v{run_loss_, double(run_seen_)};
  v.insert(v.end(), run_out_.begin(), run_out_.end());
  for (const auto& ms : metrics_)
    for (const Metric& m : ms) {
      const std::size_t k = v.size();
      v.resize(k + m.state_size());
      m.get_state(v.data() + k);
    }
  return v;
}

template <class T>
Logs Network<T>::logs_from_state(const double* v, std::size_t size) {
  std::size_t need = 2 + run_out_.size();
  for (const auto& ms : metrics_)
    for (const Metric& m : ms) need += m.state_size();
  if (size != need)
    throw std::invalid_argument("logs_from_state: the state must hold " + std::to_string(need) +
                                " values (log_state's layout); received " + std::to_string(size));
  run_loss_ = v[0];
  run_seen_ = static_cast<index_t>(v[1]);
  const double seen = v[1] > 0 ? v[1] : 1.0;
  std::size_t k = 2;
  for (std::size_t o = 0; o < run_out_.size(); ++o) {
    run_out_[o] = v[k++];
    out_loss_[o] = run_out_[o] / seen;
  }
  for (auto& ms : metrics_)
    for (Metric& m : ms) {
      m.set_state(v + k);
      k += m.state_size();
    }
  update_logs(run_loss_ / seen, out_loss_.data());
  return logs_;
}

template <class T>
double Network<T>::compute_gradients(const Batch<T>& d) {
  if (!config_.has_loss()) throw std::runtime_error("compute_gradients: the network has no loss; call set_training_config first");
  if (d.n < 1) throw std::invalid_argument("compute_gradients: the batch is empty");
  reserve(d.n);
  return run_batch(Mode::gradients, d.n, d.x.data(), d.y.data(), d.sw, 0.0);
}

template <class T>
void Network<T>::predict(index_t n, const void* const* x, T* const* out, index_t chunk,
                         const std::function<void()>* poll) const {
  if (chunk <= 0) chunk = kDefaultChunk;
  chunk = std::max<index_t>(1, std::min(chunk, n));
  index_t need_elems = 0;
  if (mul_overflows(chunk, pred_width_, &need_elems) || need_elems > (index_t(1) << 56))
    throw OutOfMemory("predict: a chunk of " + std::to_string(chunk) + " rows is too large to allocate; use a "
                      "smaller batch_size");
  const std::size_t I = inputs_.size(), N = nodes_.size();
  // IDs index the Embedding tables: check them all before any gather (an ID out of range
  // would read outside the table), as training and evaluate do (check_batch).
  for (std::size_t i = 0; i < I; ++i)
    if (inputs_[i].is_int)
      for (index_t j : consumers_[i])
        layers_[nodes_[static_cast<std::size_t>(j)].layer]->check_ids(n, static_cast<const std::int64_t*>(x[i]));
  // Activation slots private to the calling thread (concurrent predict calls share nothing
  // writable). Small ones are kept per thread and reused, so a small predict allocates
  // nothing; big ones are per call (their cost is amortized, and a thread does not keep
  // megabytes alive after a large predict).
  const std::size_t need = static_cast<std::size_t>(chunk * pred_width_);
  constexpr std::size_t kKeep = std::size_t(1) << 18;  // elements per buffer
  struct Scratch {
    std::vector<AlignedBuffer<T>> keep;  // the activation slots
    std::vector<const T*> xs;            // one node's inputs
    std::vector<T*> ptr;                 // per tensor, this chunk
  };
  thread_local Scratch scratch;  // one thread-local lookup per call
  std::vector<AlignedBuffer<T>>& keep = scratch.keep;
  std::vector<const T*>& xs = scratch.xs;
  std::vector<T*>& ptr = scratch.ptr;
  std::vector<AlignedBuffer<T>> own;
  std::vector<AlignedBuffer<T>>& bufs = need <= kKeep ? keep : own;
  if (bufs.size() < static_cast<std::size_t>(pred_slots_)) bufs.resize(static_cast<std::size_t>(pred_slots_));
  for (int s = 0; s < pred_slots_; ++s) bufs[static_cast<std::size_t>(s)].reserve(need);
  if (xs.size() < static_cast<std::size_t>(max_arity_)) xs.resize(static_cast<std::size_t>(max_arity_));
  if (ptr.size() < width_.size()) ptr.resize(width_.size());
  StepContext ctx;
  ctx.params_version = params_version_;
  for (index_t i0 = 0; i0 < n; i0 += chunk) {
    if (poll && *poll && i0 > 0) (*poll)();
    const index_t nb = std::min(chunk, n - i0);
    for (std::size_t i = 0; i < I; ++i)
      ptr[i] = inputs_[i].is_int
                   ? const_cast<T*>(reinterpret_cast<const T*>(static_cast<const std::int64_t*>(x[i]) + i0 * inputs_[i].dim))
                   : const_cast<T*>(static_cast<const T*>(x[i]) + i0 * inputs_[i].dim);
    for (std::size_t o = outputs_.size(); o-- > 0;)  // the first output of a tensor wins
      ptr[static_cast<std::size_t>(outputs_[o])] = out[o] + i0 * width_[static_cast<std::size_t>(outputs_[o])];
    for (std::size_t j = 0; j < N; ++j) {
      const std::size_t t = I + j;
      if (pred_slot_[t] >= 0) ptr[t] = bufs[static_cast<std::size_t>(pred_slot_[t])].data();
      const Node& nd = nodes_[j];
      for (std::size_t i = 0; i < nd.in.size(); ++i) xs[i] = ptr[static_cast<std::size_t>(nd.in[i])];
      ctx.layer_index = static_cast<index_t>(j);
      layers_[nd.layer]->forward_n(ctx, nb * nd.steps, xs.data(), ptr[t], nullptr);
    }
    for (std::size_t o = 0; o < outputs_.size(); ++o) {  // an output listed twice: copy
      T* dst = out[o] + i0 * width_[static_cast<std::size_t>(outputs_[o])];
      if (ptr[static_cast<std::size_t>(outputs_[o])] != dst)
        std::memcpy(dst, ptr[static_cast<std::size_t>(outputs_[o])],
                    static_cast<std::size_t>(nb * width_[static_cast<std::size_t>(outputs_[o])]) * sizeof(T));
    }
  }
}

template class Network<float>;
template class Network<double>;

}  // namespace dnnx

// dnnx._core.Network: spec parsing, argument validation, zero-copy views and the GIL
// handling around the C++ training loops. Validation happens here, before the GIL is
// released; the core only ever sees well-formed arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "arrays.hpp"
#include "dnnx/layer_decl.hpp"
#include "dnnx/network.hpp"

namespace py = pybind11;

namespace dnnx::py_detail {
namespace {

// ---- spec parsing -----------------------------------------------------------------

std::string repr_of(const py::handle& h) { return py::repr(h).cast<std::string>(); }

void check_keys(const py::dict& d, const std::string& where, const std::vector<const char*>& allowed) {
  for (auto item : d) {
    const std::string k = py::str(item.first).cast<std::string>();
    bool ok = false;
    for (const char* a : allowed) ok |= k == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw py::value_error(where + ": unknown key '" + k + "'; allowed keys: " + list);
    }
  }
}

py::dict as_dict(const py::handle& h, const std::string& where) {
  if (!py::isinstance<py::dict>(h)) throw py::value_error(where + " must be a dict; received " + repr_of(h));
  return py::reinterpret_borrow<py::dict>(h);
}

bool present(const py::dict& d, const char* key) { return d.contains(key) && !d[key].is_none(); }

double get_float(const py::dict& d, const char* key, double def, const std::string& where) {
  if (!present(d, key)) return def;
  py::object v = d[key];
  if (py::isinstance<py::bool_>(v) || !(py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v)))
    throw py::value_error(where + ": '" + key + "' must be a number; received " + repr_of(v));
  return v.cast<double>();
}

// A Python int as long long; one beyond its range is a ValueError (not pybind11's
// "Unable to cast" RuntimeError).
long long int_value(const py::handle& v, const std::string& what) {
  int overflow = 0;
  const long long r = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow != 0) throw py::value_error(what + " is out of range; received " + repr_of(v));
  if (r == -1 && PyErr_Occurred()) throw py::error_already_set();
  return r;
}

long long get_int(const py::dict& d, const char* key, long long def, const std::string& where) {
  if (!present(d, key)) return def;
  py::object v = d[key];
  if (py::isinstance<py::bool_>(v) || !py::isinstance<py::int_>(v))
    throw py::value_error(where + ": '" + key + "' must be an int; received " + repr_of(v));
  return int_value(v, where + ": '" + key + "'");
}

bool get_bool(const py::dict& d, const char* key, bool def, const std::string& where) {
  if (!present(d, key)) return def;
  py::object v = d[key];
  if (!py::isinstance<py::bool_>(v)) throw py::value_error(where + ": '" + key + "' must be a bool; received " + repr_of(v));
  return v.cast<bool>();
}

std::string get_str(const py::dict& d, const char* key, const std::string& def, const std::string& where) {
  if (!present(d, key)) return def;
  py::object v = d[key];
  if (!py::isinstance<py::str>(v)) throw py::value_error(where + ": '" + key + "' must be a str; received " + repr_of(v));
  return v.cast<std::string>();
}

std::uint64_t get_seed(const py::dict& d, const char* key, const std::string& where) {
  const long long s = get_int(d, key, 0, where);
  return static_cast<std::uint64_t>(s);
}

// Core parsers throw std::invalid_argument; rethrow naming where the value came from.
template <class F>
auto named(const std::string& where, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw py::value_error(where + ": " + e.what());
  }
}

ActParams parse_act(const py::dict& d, const std::string& where) {
  ActParams a;
  a.kind = named(where, [&] { return act_from_name(get_str(d, "activation", "linear", where)); });
  a.alpha = get_float(d, "activation_alpha", act_default_alpha(a.kind), where);
  return a;
}

InitSpec parse_init(const py::handle& h, const InitSpec& def, const std::string& where) {
  InitSpec s = def;
  if (h.is_none()) return s;
  if (py::isinstance<py::str>(h)) {
    s.kind = named(where, [&] { return init_from_name(h.cast<std::string>()); });
    return s;
  }
  py::dict d = as_dict(h, where);
  check_keys(d, where, {"name", "value", "seed", "minval", "maxval", "mean", "stddev"});
  s.kind = named(where, [&] { return init_from_name(get_str(d, "name", "", where)); });
  s.value = get_float(d, "value", 0.0, where);
  s.minval = get_float(d, "minval", s.minval, where);
  s.maxval = get_float(d, "maxval", s.maxval, where);
  s.mean = get_float(d, "mean", s.mean, where);
  s.stddev = get_float(d, "stddev", s.stddev, where);
  if (!(s.minval <= s.maxval)) throw py::value_error(where + ": minval must be <= maxval");
  if (!(s.stddev >= 0)) throw py::value_error(where + ": stddev must be >= 0");
  s.has_seed = present(d, "seed");
  s.seed = get_seed(d, "seed", where);
  return s;
}

RegSpec parse_reg(const py::handle& h, const std::string& where) {
  RegSpec r;
  if (h.is_none()) return r;
  py::dict d = as_dict(h, where);
  check_keys(d, where, {"l1", "l2"});
  r.l1 = get_float(d, "l1", 0.0, where);
  r.l2 = get_float(d, "l2", 0.0, where);
  if (r.l1 < 0 || r.l2 < 0) throw py::value_error(where + ": l1 and l2 must be >= 0");
  return r;
}

py::object item_or_none(const py::dict& d, const char* key) { return d.contains(key) ? py::object(d[key]) : py::none(); }

LayerSpec parse_layer(const py::handle& h, std::size_t index, std::map<std::string, int>& counts) {
  const std::string where = "layers[" + std::to_string(index) + "]";
  py::dict d = as_dict(h, where);
  const std::string type = get_str(d, "type", "", where);
  const LayerDecl& decl = named(where, [&]() -> const LayerDecl& { return layer_declaration(type); });
  std::vector<std::string> keys = {"type", "name"};
  for (const FieldDecl& f : decl.fields) {
    keys.push_back(f.key);
    if (f.type == FieldType::activation) keys.push_back(f.key + "_alpha");
  }
  std::vector<const char*> allowed;
  for (const std::string& k : keys) allowed.push_back(k.c_str());
  check_keys(d, where, allowed);
  LayerSpec s = decl.defaults;
  for (const FieldDecl& f : decl.fields) {
    const char* key = f.key.c_str();
    const std::string w = where + "." + f.key;
    switch (f.type) {
      case FieldType::integer: s.*f.as_int = get_int(d, key, s.*f.as_int, where); break;
      case FieldType::number: s.*f.as_number = get_float(d, key, s.*f.as_number, where); break;
      case FieldType::boolean: s.*f.as_bool = get_bool(d, key, s.*f.as_bool, where); break;
      case FieldType::activation: {
        ActParams& a = s.*f.as_act;
        a.kind = named(where, [&] { return act_from_name(get_str(d, key, act_name(a.kind), where)); });
        a.alpha = get_float(d, (f.key + "_alpha").c_str(), act_default_alpha(a.kind), where);
        break;
      }
      case FieldType::initializer: s.*f.as_init = parse_init(item_or_none(d, key), s.*f.as_init, w); break;
      case FieldType::regularizer: s.*f.as_reg = parse_reg(item_or_none(d, key), w); break;
      case FieldType::seed:
        s.has_seed = present(d, key);
        s.seed = get_seed(d, key, where);
        break;
      case FieldType::ignored: break;
      case FieldType::integers:
      case FieldType::numbers: {
        if (!present(d, key)) break;
        py::object v = d[key];
        if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v))
          throw py::value_error(w + " must be a list of " + (f.type == FieldType::integers ? "ints" : "numbers") +
                                "; received " + repr_of(v));
        py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
        if (f.type == FieldType::integers) (s.*f.as_ints).clear();
        else (s.*f.as_numbers).clear();
        for (std::size_t i = 0; i < seq.size(); ++i) {
          py::object e = seq[i];
          const std::string we = w + "[" + std::to_string(i) + "]";
          if (py::isinstance<py::bool_>(e) ||
              !(py::isinstance<py::int_>(e) || (f.type == FieldType::numbers && py::isinstance<py::float_>(e))))
            throw py::value_error(we + " must be " + (f.type == FieldType::integers ? "an int" : "a number") +
                                  "; received " + repr_of(e));
          if (f.type == FieldType::integers) (s.*f.as_ints).push_back(static_cast<index_t>(int_value(e, we)));
          else (s.*f.as_numbers).push_back(e.cast<double>());
        }
        break;
      }
      case FieldType::strings: {
        if (!present(d, key)) break;
        py::object v = d[key];
        if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v))
          throw py::value_error(w + " must be a list of strings; received " + repr_of(v));
        py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
        (s.*f.as_strings).clear();
        for (std::size_t i = 0; i < seq.size(); ++i) {
          py::object e = seq[i];
          if (!py::isinstance<py::str>(e))
            throw py::value_error(w + "[" + std::to_string(i) + "] must be a string; received " + repr_of(e));
          (s.*f.as_strings).push_back(e.cast<std::string>());
        }
        break;
      }
      case FieldType::choice: {
        const std::string name = get_str(d, key, f.choices[static_cast<std::size_t>(s.*f.as_int)], where);
        std::string known;
        index_t at = -1;
        for (std::size_t c = 0; c < f.choices.size(); ++c) {
          if (f.choices[c] == name) at = static_cast<index_t>(c);
          known += (known.empty() ? "'" : ", '") + f.choices[c] + "'";
        }
        if (at < 0) throw py::value_error(w + " must be one of " + known + "; received '" + name + "'");
        s.*f.as_int = at;
        break;
      }
    }
  }
  // Keras-style unique names: dense, dense_1, dense_2, ...
  const int c = counts[type]++;
  s.name = get_str(d, "name", c == 0 ? type : type + "_" + std::to_string(c), where);
  return s;
}

/// The declarations as Python data: {type: {"several_inputs": bool, "fields": [{"key",
/// "type", "default"}]}} (defaults as the spec dicts write them).
py::dict declarations_dict() {
  static const char* type_names[] = {"integer", "number", "boolean", "activation", "initializer", "regularizer",
                                     "seed", "ignored", "choice", "integers", "numbers", "strings"};
  py::dict all;
  for (const LayerDecl& decl : layer_declarations()) {
    py::list fields;
    for (const FieldDecl& f : decl.fields) {
      py::dict fd;
      fd["key"] = f.key;
      fd["type"] = type_names[static_cast<int>(f.type)];
      const LayerSpec& s = decl.defaults;
      switch (f.type) {
        case FieldType::integer: fd["default"] = s.*f.as_int; break;
        case FieldType::number: fd["default"] = s.*f.as_number; break;
        case FieldType::boolean: fd["default"] = s.*f.as_bool; break;
        case FieldType::activation: fd["default"] = std::string(act_name((s.*f.as_act).kind)); break;
        case FieldType::initializer: {
          const InitSpec& i = s.*f.as_init;
          py::dict id;
          id["name"] = init_name(i.kind);
          if (i.kind == InitKind::constant) id["value"] = i.value;
          if (i.kind == InitKind::random_uniform) { id["minval"] = i.minval; id["maxval"] = i.maxval; }
          if (i.kind == InitKind::random_normal) { id["mean"] = i.mean; id["stddev"] = i.stddev; }
          fd["default"] = id;
          break;
        }
        case FieldType::choice: {
          fd["default"] = f.choices[static_cast<std::size_t>(s.*f.as_int)];
          py::list names;
          for (const std::string& c : f.choices) names.append(c);
          fd["choices"] = names;
          break;
        }
        case FieldType::integers: fd["default"] = py::list(py::cast(s.*f.as_ints)); break;
        case FieldType::numbers: fd["default"] = py::list(py::cast(s.*f.as_numbers)); break;
        case FieldType::strings: fd["default"] = py::list(py::cast(s.*f.as_strings)); break;
        default: fd["default"] = py::none(); break;
      }
      fields.append(fd);
    }
    py::dict dd;
    dd["several_inputs"] = decl.several_inputs;
    dd["fields"] = fields;
    all[py::str(decl.type)] = dd;
  }
  return all;
}

LossSpec parse_loss(const py::dict& d, const std::string& w, OutputConfig& oc) {
  check_keys(d, w, {"name", "from_logits", "delta", "reduction", "penalty_reduction", "weight", "key", "logged",
                    "sample_weight"});
  LossSpec l;  // defaults: LossSpec's member initializers
  l.kind = named(w, [&] { return loss_from_name(get_str(d, "name", "", w)); });
  l.from_logits = get_bool(d, "from_logits", l.from_logits, w);
  l.delta = get_float(d, "delta", l.delta, w);
  const std::string red = get_str(d, "reduction", "sum_over_batch_size", w);
  if (red == "mean_with_sample_weight") l.reduction = LossReduction::mean_with_sample_weight;
  else if (red == "sum") l.reduction = LossReduction::sum;
  else if (red != "sum_over_batch_size")
    throw py::value_error(w + ": 'reduction' must be 'sum_over_batch_size', 'mean_with_sample_weight' or 'sum'; "
                          "received '" + red + "'");
  const std::string sww = get_str(d, "sample_weight", "rows", w);
  if (sww == "batch_mean") l.weighting = SampleWeighting::batch_mean;
  else if (sww == "batch_sum") l.weighting = SampleWeighting::batch_sum;
  else if (sww == "batch_normalized") l.weighting = SampleWeighting::batch_normalized;
  else if (sww == "none") l.weighting = SampleWeighting::none;
  else if (sww != "rows")
    throw py::value_error(w + ": 'sample_weight' must be 'rows', 'batch_mean', 'batch_sum', 'batch_normalized' or "
                          "'none'; received '" + sww + "'");
  oc.logged = get_bool(d, "logged", oc.logged, w);
  if (!(l.delta > 0)) throw py::value_error(w + ": 'delta' must be > 0");
  oc.weight = get_float(d, "weight", oc.weight, w);
  oc.loss_key = get_str(d, "key", "", w);
  return l;
}

/// "penalty_reduction": "sum" (Keras: the penalty as is) or "like_loss" (divided by the
/// loss's normalizer, as scikit-learn's alpha).
bool parse_penalty_reduction(const py::dict& d, const std::string& w) {
  const std::string p = get_str(d, "penalty_reduction", "sum", w);
  if (p != "sum" && p != "like_loss")
    throw py::value_error(w + ": 'penalty_reduction' must be 'sum' or 'like_loss'; received '" + p + "'");
  return p == "like_loss";
}

std::vector<MetricSpec> parse_metrics(const py::handle& metrics, const std::string& where, const OutputConfig& oc) {
  std::vector<MetricSpec> r;
  if (metrics.is_none()) return r;
  if (!py::isinstance<py::list>(metrics) && !py::isinstance<py::tuple>(metrics))
    throw py::value_error(where + " must be a list of dicts; received " + repr_of(metrics));
  std::size_t i = 0;
  for (auto h : metrics) {
    const std::string w = where + "[" + std::to_string(i++) + "]";
    py::dict d = as_dict(h, w);
    check_keys(d, w, {"name", "key", "k", "num_thresholds", "threshold", "from_logits", "weighted"});
    MetricSpec m;  // defaults: MetricSpec's member initializers
    const std::string name = get_str(d, "name", "", w);
    m.kind = named(w, [&] { return metric_from_name(name); });
    m.key = get_str(d, "key", name, w);
    m.k = get_int(d, "k", m.k, w);
    m.num_thresholds = get_int(d, "num_thresholds", m.num_thresholds, w);
    // Defaults follow the loss: outputs are logits when the loss is from_logits.
    const bool logits = oc.has_loss && oc.loss.from_logits;
    m.from_logits = get_bool(d, "from_logits", logits && m.kind != MetricKind::binary_accuracy, w);
    m.threshold = get_float(d, "threshold", logits && m.kind == MetricKind::binary_accuracy ? 0.0 : m.threshold, w);
    m.weighted = get_bool(d, "weighted", m.weighted, w);
    r.push_back(m);
  }
  return r;
}

/// loss: a dict (one output) or a list with a dict or None per output; metrics: a list of
/// metric dicts (one output) or a list per output of such lists.
TrainingConfig parse_training(const py::handle& loss, const py::handle& opt, const py::handle& metrics) {
  TrainingConfig c;
  const bool multi = py::isinstance<py::list>(loss) || py::isinstance<py::tuple>(loss);
  if (multi) {
    std::size_t o = 0;
    for (auto h : loss) {
      OutputConfig oc;
      const std::string w = "loss[" + std::to_string(o++) + "]";
      if (!h.is_none()) {
        oc.has_loss = true;
        oc.loss = parse_loss(as_dict(h, w), w, oc);
        c.penalty_like_loss |= parse_penalty_reduction(as_dict(h, w), w);
      }
      c.outputs.push_back(oc);
    }
    int with_loss = 0;
    for (const OutputConfig& oc : c.outputs) with_loss += oc.has_loss ? 1 : 0;
    if (c.penalty_like_loss && with_loss > 1)
      throw py::value_error("loss: 'penalty_reduction': 'like_loss' needs a single output with a loss; " +
                            std::to_string(with_loss) + " outputs have one");
  } else {
    OutputConfig oc;
    if (!loss.is_none()) {
      oc.has_loss = true;
      oc.loss = parse_loss(as_dict(loss, "loss"), "loss", oc);
      c.penalty_like_loss = parse_penalty_reduction(as_dict(loss, "loss"), "loss");
    }
    c.outputs.push_back(oc);
  }
  if (!opt.is_none()) {
    py::dict d = as_dict(opt, "optimizer");
    const std::string w = "optimizer";
    check_keys(d, w, {"name", "learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "amsgrad", "rho",
                      "initial_accumulator_value", "centered", "weight_decay", "clipnorm", "clipvalue",
                      "global_clipnorm"});
    c.has_optimizer = true;
    const OptKind kind = named(w, [&] { return opt_from_name(get_str(d, "name", "", w)); });
    OptimizerSpec& o = c.optimizer;
    o = opt_defaults(kind);  // every default in one place (optimizers.hpp)
    o.learning_rate = get_float(d, "learning_rate", o.learning_rate, w);
    o.momentum = get_float(d, "momentum", o.momentum, w);
    o.nesterov = get_bool(d, "nesterov", o.nesterov, w);
    o.beta_1 = get_float(d, "beta_1", o.beta_1, w);
    o.beta_2 = get_float(d, "beta_2", o.beta_2, w);
    o.epsilon = get_float(d, "epsilon", o.epsilon, w);
    o.amsgrad = get_bool(d, "amsgrad", o.amsgrad, w);
    o.rho = get_float(d, "rho", o.rho, w);
    o.initial_accumulator_value = get_float(d, "initial_accumulator_value", o.initial_accumulator_value, w);
    o.centered = get_bool(d, "centered", o.centered, w);
    o.weight_decay = get_float(d, "weight_decay", o.weight_decay, w);
    o.clipnorm = get_float(d, "clipnorm", o.clipnorm, w);
    o.clipvalue = get_float(d, "clipvalue", o.clipvalue, w);
    o.global_clipnorm = get_float(d, "global_clipnorm", o.global_clipnorm, w);
  }
  if (!multi) {
    c.outputs[0].metrics = parse_metrics(metrics, "metrics", c.outputs[0]);
  } else if (!metrics.is_none()) {
    if (!py::isinstance<py::list>(metrics) && !py::isinstance<py::tuple>(metrics))
      throw py::value_error("metrics must be a list with one list of metric dicts per output; received " +
                            repr_of(metrics));
    std::size_t o = 0;
    for (auto h : metrics) {
      if (o >= c.outputs.size())
        throw py::value_error("metrics has more entries than loss (one per output): " + std::to_string(c.outputs.size()));
      c.outputs[o].metrics = parse_metrics(h, "metrics[" + std::to_string(o) + "]", c.outputs[o]);
      ++o;
    }
  }
  return c;
}

// ---- the Python object --------------------------------------------------------------

// The per-network guard. The GIL is released while the core runs, so nothing else keeps
// two threads (or a callback re-entering the model) apart: predict() calls may overlap
// each other (the core allows it); every other call runs alone. A call that would break
// that raises RuntimeError at once, naming what is running, instead of waiting or
// corrupting the model. Training pauses in its batch callbacks (on the training thread):
// there predict() and evaluate() may run (evaluate keeps the epoch's running metrics),
// and so may the calls that only set state for the next step; another training call may
// not. fit() holds the network across its epochs (hold()), so that another thread cannot
// slip in between them.
struct Guard {
  std::mutex m;
  int readers = 0;                 // predict() calls in flight
  bool writer = false;             // an exclusive call in flight
  std::thread::id writer_thread;
  std::string writer_what;
  bool paused = false;             // the writer waits in a Python callback
  bool held = false;               // fit() holds the network (between its calls too)
  std::thread::id hold_thread;
  std::string hold_what;
};

// predict; any other call; a call that trains; compile (not even between fit's epochs)
enum class Access { read, write, training, configure };

[[noreturn]] void busy(const std::string& what, const std::string& why) {
  throw std::runtime_error(what + ": the model is busy: " + why +
                           ". A model runs one call at a time (only predict() calls may overlap, from any "
                           "number of threads); wait for the running call to finish");
}

/// Whether a call of kind `a` may run now (g.m locked): throws if not; returns true when
/// it runs inside the callback of the paused writer (nested).
bool admit(Guard& g, const std::string& what, Access a) {
    const auto me = std::this_thread::get_id();
    if (g.held && g.hold_thread != me)
      busy(what, g.hold_what + " is running on another thread");
    if (g.held && a == Access::configure)
      busy(what, g.hold_what + " is running on this model (called from one of its callbacks?); change the "
                 "configuration after it returns");
    if (g.writer) {
      const bool from_callback = g.writer_thread == me && g.paused;
      if (!from_callback) busy(what, g.writer_what + " is running on another thread");
      if (a == Access::training || a == Access::configure)
        busy(what, std::string("it is called from a callback of ") + g.writer_what +
                       ", which is training this model (train it after that call returns)");
      return true;  // runs inside the paused writer's callback
    }
    if (a != Access::read && g.readers > 0)
      busy(what, std::to_string(g.readers) + " predict() call(s) are running on other threads");
    return false;
}

/// Enter the guard for `what` (released by the destructor). Holds g.m only briefly.
class Enter {
 public:
  Enter(Guard& g, const char* what, Access a) : g_(g), a_(a) {
    std::lock_guard<std::mutex> lock(g.m);
    nested_ = admit(g, what, a);
    if (nested_) return;
    if (a == Access::read) {
      ++g.readers;
      return;
    }
    const auto me = std::this_thread::get_id();
    g.writer = true;
    g.writer_thread = me;
    g.writer_what = what;
  }
  ~Enter() {
    if (nested_) return;
    std::lock_guard<std::mutex> lock(g_.m);
    if (a_ == Access::read) --g_.readers;
    else { g_.writer = false; g_.paused = false; }
  }
  Enter(const Enter&) = delete;
  Enter& operator=(const Enter&) = delete;

 private:
  Guard& g_;
  Access a_;
  bool nested_ = false;
};

/// The writer is waiting in a Python callback for the scope of this object.
struct Paused {
  Guard& g;
  explicit Paused(Guard& gg) : g(gg) { std::lock_guard<std::mutex> lock(g.m); g.paused = true; }
  ~Paused() { std::lock_guard<std::mutex> lock(g.m); g.paused = false; }
};

/// Ctrl-C between batches / chunks: at most every 20 ms it takes the GIL and runs the
/// signal handlers (PyErr_CheckSignals acts on the main thread only), so a
/// KeyboardInterrupt ends the call soon after Ctrl-C while small steps pay almost nothing.
struct SignalPoll {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  void operator()() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(20)) return;
    last = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
};

/// fit(): hold the network across its calls (see Guard).
void hold(Guard& g, const std::string& what) {
  const auto me = std::this_thread::get_id();
  std::lock_guard<std::mutex> lock(g.m);
  if (g.held)
    busy(what, g.hold_what + (g.hold_thread == me ? " is already running on this model (called from one of its "
                                                    "callbacks?)"
                                                  : " is running on another thread"));
  if (g.writer) busy(what, g.writer_what + " is running on another thread");
  if (g.readers > 0) busy(what, std::to_string(g.readers) + " predict() call(s) are running on other threads");
  g.held = true;
  g.hold_thread = me;
  g.hold_what = what;
}

void check_access(Guard& g, const std::string& what, const std::string& kind) {
  Access a = Access::write;
  if (kind == "configure") a = Access::configure;
  else if (kind == "training") a = Access::training;
  else if (kind == "read") a = Access::read;
  else if (kind != "write")
    throw py::value_error("check: kind must be 'read', 'write', 'training' or 'configure'; received '" + kind + "'");
  std::lock_guard<std::mutex> lock(g.m);
  admit(g, what, a);
}

struct PyNetwork {
  bool f64 = false;
  std::unique_ptr<Network<float>> nf;
  std::unique_ptr<Network<double>> nd;
  Guard guard;

  template <class F>
  decltype(auto) visit(F&& fn) {
    if (f64) return fn(*nd);
    return fn(*nf);
  }
};

template <class T> const char* dtype_name() { return sizeof(T) == 4 ? "float32" : "float64"; }

std::string shape_of(index_t rows, index_t cols) {
  std::string o = "(" + (rows < 0 ? std::string("n") : std::to_string(rows));
  return o + (cols >= 0 ? ", " + std::to_string(cols) + ")" : std::string(",)"));
}

/// Require a C-contiguous array of the network dtype with shape (rows, cols), or (rows,)
/// when cols < 0; rows < 0 accepts any number of rows.
template <class T>
void check_array(const py::array& a, const char* what, index_t rows, index_t cols, bool writable = false) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(what) + " must be " + dtype_name<T>() + " (the network dtype); received " +
                         dtype_str(a) + ". Convert it with " + what + ".astype(np." + dtype_name<T>() + ")");
  const int ndim = cols < 0 ? 1 : 2;
  bool ok = a.ndim() == ndim && (rows < 0 || a.shape(0) == rows) && (cols < 0 || a.shape(1) == cols);
  if (!ok)
    throw py::value_error(std::string(what) + " must have shape " + shape_of(rows, cols) + "; received " + shape_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be C-contiguous; pass np.ascontiguousarray(" + what + ")");
  if (writable && !a.writeable()) throw py::value_error(std::string(what) + " must be writable");
}

/// `out` shares memory with an input: predict would overwrite rows it has not read yet
/// (C-contiguous arrays: their byte ranges are exact).
void check_no_overlap(const py::array& out, const py::array& in, const std::string& what) {
  const auto* o = static_cast<const char*>(out.data());
  const auto* i = static_cast<const char*>(in.data());
  const auto on = static_cast<std::ptrdiff_t>(out.nbytes()), inb = static_cast<std::ptrdiff_t>(in.nbytes());
  if (on > 0 && inb > 0 && o < i + inb && i < o + on)
    throw py::value_error("out must not share memory with " + what + " (predict cannot run in place)");
}

/// record_outputs for train_epoch / train_batch: None (nothing recorded) or one writable
/// (rows, output_dim(o)) array (or None) per output; `keep` holds them for the call.
template <class Net>
std::vector<void*> record_targets(Net& net, py::object record, index_t rows, std::vector<py::object>& keep) {
  using T = typename Net::value_type;
  std::vector<void*> r;
  if (record.is_none()) return r;
  if (!py::isinstance<py::list>(record) || static_cast<index_t>(py::len(record)) != net.num_outputs())
    throw py::type_error("record_outputs must be None or a list with one array (or None) per output");
  for (index_t o = 0; o < net.num_outputs(); ++o) {
    py::object item = py::reinterpret_borrow<py::list>(record)[static_cast<std::size_t>(o)];
    if (item.is_none()) { r.push_back(nullptr); continue; }
    if (!py::isinstance<py::array>(item)) throw py::type_error("record_outputs entries must be numpy arrays or None");
    py::array a = py::reinterpret_borrow<py::array>(item);
    check_array<T>(a, "record_outputs[o]", rows, net.output_dim(o), true);
    keep.push_back(a);
    r.push_back(mptr<T>(a));
  }
  return r;
}

py::dict to_dict(const Logs& logs) {
  py::dict d;
  for (const auto& kv : logs) d[py::str(kv.first)] = kv.second;
  return d;
}

bool has_int64(const py::array& a) { return py::isinstance<py::array_t<std::int64_t, py::array::forcecast>>(a); }

/// One entry per input (output): a single array for a one-input (one-output) network, else
/// a list/tuple of arrays; None entries stay None (an output without labels).
std::vector<py::object> as_list(const py::handle& h, index_t count, const char* what) {
  std::vector<py::object> r;
  if (py::isinstance<py::array>(h)) {
    if (count != 1)
      throw py::value_error(std::string(what) + " must be a list of " + std::to_string(count) + " arrays; received one array");
    r.push_back(py::reinterpret_borrow<py::object>(h));
    return r;
  }
  if (!py::isinstance<py::list>(h) && !py::isinstance<py::tuple>(h))
    throw py::type_error(std::string(what) + " must be a numpy array or a list of arrays; received " + repr_of(h));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(h);
  if (static_cast<index_t>(seq.size()) != count)
    throw py::value_error(std::string(what) + " must hold " + std::to_string(count) + " arrays; received " +
                          std::to_string(seq.size()));
  for (auto item : seq) {
    if (!item.is_none() && !py::isinstance<py::array>(item))
      throw py::type_error(std::string(what) + " entries must be numpy arrays; received " + repr_of(item));
    r.push_back(py::reinterpret_borrow<py::object>(item));
  }
  return r;
}

/// The inputs: float ones of the network dtype (n, dim), int ones int64 (n, dim).
template <class T>
std::vector<const void*> check_inputs(const Network<T>& net, const std::vector<py::object>& xs, index_t& n) {
  std::vector<const void*> ptrs;
  n = -1;
  for (index_t i = 0; i < net.num_inputs(); ++i) {
    const std::string what = net.num_inputs() == 1 ? std::string("x") : "x[" + std::to_string(i) + "] ('" +
                                                                           net.inputs()[static_cast<std::size_t>(i)].name + "')";
    if (xs[static_cast<std::size_t>(i)].is_none()) throw py::type_error(what + " must be an array; received None");
    const py::array a = py::reinterpret_borrow<py::array>(xs[static_cast<std::size_t>(i)]);
    if (net.input_is_int(i)) {
      if (!has_int64(a))
        throw py::type_error(what + " feeds an Embedding and must be int64; received " + dtype_str(a));
      if (a.ndim() != 2 || a.shape(1) != net.input_dim(i) || (n >= 0 && a.shape(0) != n))
        throw py::value_error(what + " must have shape " + shape_of(n, net.input_dim(i)) + "; received " + shape_str(a));
      if (!(a.flags() & py::array::c_style)) throw py::value_error(what + " must be C-contiguous");
    } else {
      check_array<T>(a, what.c_str(), n, net.input_dim(i));
    }
    n = a.shape(0);
    ptrs.push_back(a.data());
  }
  return ptrs;
}

template <class T>
Batch<T> check_batch(Network<T>& net, const py::handle& x, const py::handle& y, const py::object& sw,
                     std::vector<py::object>& keep) {
  keep = as_list(x, net.num_inputs(), "x");
  Batch<T> b;
  b.x = check_inputs(net, keep, b.n);
  const index_t n = b.n;
  std::vector<py::object> ys = as_list(y, net.num_outputs(), "y");
  for (index_t o = 0; o < net.num_outputs(); ++o) {
    const py::object& h = ys[static_cast<std::size_t>(o)];
    const std::string what = net.num_outputs() == 1 ? std::string("y") : "y[" + std::to_string(o) + "] ('" +
                                                                            net.output_names()[static_cast<std::size_t>(o)] + "')";
    if (!net.output_needs_labels(o)) { b.y.push_back(nullptr); continue; }
    if (h.is_none()) throw py::value_error(what + " is required (the output has a loss or metrics); received None");
    const py::array a = py::reinterpret_borrow<py::array>(h);
    check_array<T>(a, what.c_str(), n, net.label_cols(o));
    b.y.push_back(cptr<T>(a));
    keep.push_back(a);
  }
  if (!sw.is_none()) {
    if (!py::isinstance<py::array>(sw))
      throw py::type_error("sample_weight must be None or a numpy array; received " + repr_of(sw));
    py::array s = py::reinterpret_borrow<py::array>(sw);
    check_array<T>(s, "sample_weight", n, -1);
    b.sw = cptr<T>(s);
  }
  named("x/y", [&] { net.check_batch(b); return 0; });
  return b;
}

InputSpec parse_input(const py::handle& h, std::size_t i) {
  const std::string where = "inputs[" + std::to_string(i) + "]";
  py::dict d = as_dict(h, where);
  check_keys(d, where, {"name", "dim", "dtype"});
  InputSpec in;
  in.name = get_str(d, "name", i == 0 ? "input" : "input_" + std::to_string(i), where);
  in.dim = get_int(d, "dim", 0, where);
  const std::string dt = get_str(d, "dtype", "float", where);
  if (dt != "float" && dt != "int64") throw py::value_error(where + ": 'dtype' must be 'float' or 'int64'; received '" + dt + "'");
  in.is_int = dt == "int64";
  return in;
}

NodeSpec parse_node(const py::handle& h, std::size_t j) {
  const std::string where = "nodes[" + std::to_string(j) + "]";
  py::dict d = as_dict(h, where);
  check_keys(d, where, {"layer", "inputs", "steps"});
  NodeSpec n;
  n.layer = get_int(d, "layer", -1, where);
  n.steps = get_int(d, "steps", 1, where);
  if (!present(d, "inputs") || !(py::isinstance<py::list>(d["inputs"]) || py::isinstance<py::tuple>(d["inputs"])))
    throw py::value_error(where + ": 'inputs' must be a list of tensor ids");
  for (auto t : d["inputs"]) {
    if (py::isinstance<py::bool_>(t) || !py::isinstance<py::int_>(t))
      throw py::value_error(where + ": tensor ids must be ints; received " + repr_of(t));
    n.inputs.push_back(static_cast<index_t>(int_value(t, where + ": tensor id")));
  }
  return n;
}

template <class T>
py::array view(const py::object& owner, T* p, std::vector<py::ssize_t> shape) {
  // base = the Network object: the view keeps it (and so the arena) alive.
  return py::array_t<T>(shape, p, owner);
}

}  // namespace

void register_network(py::module_& m) {
  m.def(
      "initial_values",
      [](py::object init, std::vector<index_t> shape, index_t fan_in, index_t fan_out, const std::string& dtype,
         std::uint64_t seed) -> py::array {
        const InitSpec spec = parse_init(init, InitSpec{InitKind::zeros}, "initializer");
        index_t n = 1;
        for (index_t d : shape)
          if (d < 0 || mul_overflows(n, d, &n) || n > (index_t(1) << 48))
            throw py::value_error("initial_values: shape must hold non-negative dims (not too large)");
        if (fan_in < 1 || fan_out < 1) throw py::value_error("initial_values: fans must be >= 1");
        std::vector<py::ssize_t> dims(shape.begin(), shape.end());
        auto fill = [&](auto* tag) -> py::array {
          using T = std::remove_pointer_t<decltype(tag)>;
          py::array_t<T> a(dims);
          T* p = a.mutable_data();
          {
            py::gil_scoped_release release;
            init_fill<T>(spec, fan_in, fan_out, n, p, seed, 0);
          }
          return a;
        };
        if (dtype == "float32") return fill(static_cast<float*>(nullptr));
        if (dtype == "float64") return fill(static_cast<double*>(nullptr));
        throw py::value_error("initial_values: dtype must be 'float32' or 'float64'; received '" + dtype + "'");
      },
      py::arg("initializer"), py::arg("shape"), py::arg("fan_in"), py::arg("fan_out"), py::arg("dtype"), py::arg("seed"),
      R"(Values drawn by an initializer (a name or its dict) for a weight of this shape and fans (Layer.add_weight).)");
  m.def("layer_declarations", &declarations_dict,
        R"(Every layer type the core builds: its config fields (key, type, default) in spec order.)");
  py::class_<PyNetwork>(m, "Network", R"(A graph of layers with losses, an optimizer and metrics, run in C++ (see _core.pyi).)")
      .def(py::init([](const py::dict& spec) {
             check_keys(spec, "spec", {"dtype", "input_dim", "seed", "layers", "loss", "optimizer", "metrics", "inputs",
                                       "nodes", "outputs", "output_names", "max_params"});
             const std::string dtype = get_str(spec, "dtype", "float32", "spec");
             if (dtype != "float32" && dtype != "float64")
               throw py::value_error("spec: 'dtype' must be 'float32' or 'float64'; received '" + dtype + "'");
             NetworkSpec ns;
             ns.seed = get_seed(spec, "seed", "spec");
             ns.max_params = get_int(spec, "max_params", -1, "spec");
             if (!present(spec, "layers") || !py::isinstance<py::list>(spec["layers"]))
               throw py::value_error("spec: 'layers' must be a list of layer dicts");
             std::map<std::string, int> counts;
             std::size_t i = 0;
             for (auto h : spec["layers"].cast<py::list>()) ns.layers.push_back(parse_layer(h, i++, counts));
             if (present(spec, "inputs") || present(spec, "nodes")) {
               for (const char* k : {"inputs", "nodes", "outputs"})
                 if (!present(spec, k) || !py::isinstance<py::list>(spec[k]))
                   throw py::value_error(std::string("spec: a graph spec needs '") + k + "' as a list");
               i = 0;
               for (auto h : spec["inputs"].cast<py::list>()) ns.inputs.push_back(parse_input(h, i++));
               i = 0;
               for (auto h : spec["nodes"].cast<py::list>()) ns.nodes.push_back(parse_node(h, i++));
               for (auto h : spec["outputs"].cast<py::list>()) {
                 if (py::isinstance<py::bool_>(h) || !py::isinstance<py::int_>(h))
                   throw py::value_error("spec: 'outputs' must be a list of tensor ids; received " + repr_of(h));
                 ns.outputs.push_back(static_cast<index_t>(int_value(h, "spec: output tensor id")));
               }
               if (present(spec, "output_names")) {
                 if (!py::isinstance<py::list>(spec["output_names"]) && !py::isinstance<py::tuple>(spec["output_names"]))
                   throw py::value_error("spec: 'output_names' must be a list of str; received " +
                                         repr_of(spec["output_names"]));
                 for (auto h : spec["output_names"]) {
                   if (!py::isinstance<py::str>(h))
                     throw py::value_error("spec: 'output_names' must be a list of str; received " + repr_of(h));
                   ns.output_names.push_back(h.cast<std::string>());
                 }
               }
             } else {
               ns.input_dim = get_int(spec, "input_dim", 0, "spec");
             }
             TrainingConfig tc = parse_training(item_or_none(spec, "loss"), item_or_none(spec, "optimizer"),
                                                item_or_none(spec, "metrics"));
             auto net = std::make_unique<PyNetwork>();
             net->f64 = dtype == "float64";
             named("spec", [&] {
               if (net->f64) { net->nd = std::make_unique<Network<double>>(ns); net->nd->configure(tc); }
               else { net->nf = std::make_unique<Network<float>>(ns); net->nf->configure(tc); }
               return 0;
             });
             return net;
           }),
           py::arg("spec"))
      .def_property_readonly("dtype", [](PyNetwork& s) { return std::string(s.f64 ? "float64" : "float32"); })
      .def_property_readonly("input_dim", [](PyNetwork& s) { return s.visit([](auto& n) { return n.input_dim(); }); })
      .def_property_readonly("output_dim", [](PyNetwork& s) { return s.visit([](auto& n) { return n.output_dim(); }); })
      .def_property_readonly("num_inputs", [](PyNetwork& s) { return s.visit([](auto& n) { return n.num_inputs(); }); })
      .def_property_readonly("num_outputs", [](PyNetwork& s) { return s.visit([](auto& n) { return n.num_outputs(); }); })
      .def("input_dims", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<index_t> r;
          for (const auto& in : n.inputs()) r.push_back(in.dim);
          return r;
        });
      })
      .def("input_is_int", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<bool> r;
          for (const auto& in : n.inputs()) r.push_back(in.is_int);
          return r;
        });
      })
      .def("output_dims", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<index_t> r;
          for (index_t o = 0; o < n.num_outputs(); ++o) r.push_back(n.output_dim(o));
          return r;
        });
      })
      .def("output_names", [](PyNetwork& s) { return s.visit([](auto& n) { return n.output_names(); }); })
      .def_property(
          "iterations", [](PyNetwork& s) { return s.visit([](auto& n) { return n.iterations(); }); },
          [](PyNetwork& s, std::int64_t v) {
            Enter e(s.guard, "iterations", Access::write);
            named("iterations", [&] { s.visit([&](auto& n) { n.set_iterations(v); }); return 0; });
          })
      .def("output_shapes", [](PyNetwork& s) { return s.visit([](auto& n) { return n.output_shapes(); }); },
           R"(The output width of every node, in node order.)")
      .def("param_names", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<std::string> r;
          for (const auto& t : n.tensors()) r.push_back(t.name);
          return r;
        });
      })
      .def("param_trainable", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<bool> r;
          for (const auto& t : n.tensors()) r.push_back(t.trainable);
          return r;
        });
      })
      .def("layer_param_counts", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<std::size_t> r;
          for (std::size_t l = 0; l < n.num_layers(); ++l) r.push_back(n.layer_tensors(l).second - n.layer_tensors(l).first);
          return r;
        });
      }, R"(How many weight arrays each layer (spec order) owns.)")
      .def("set_layer_trainable", [](PyNetwork& s, std::size_t l, bool trainable) {
        Enter e(s.guard, "set_layer_trainable", Access::write);
        named("set_layer_trainable", [&] { s.visit([&](auto& n) { n.set_layer_trainable(l, trainable); }); return 0; });
      }, py::arg("layer"), py::arg("trainable"))
      .def("layer_trainable", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<bool> r;
          for (std::size_t l = 0; l < n.num_layers(); ++l) r.push_back(n.layer_trainable(l));
          return r;
        });
      })
      .def("params", [](py::object self) {
        return self.cast<PyNetwork&>().visit([&](auto& n) {
          py::list r;
          for (const auto& t : n.tensors())
            r.append(view(self, n.params() + t.offset, std::vector<py::ssize_t>(t.shape.begin(), t.shape.end())));
          return r;
        });
      }, R"(Zero-copy views of the parameters in Keras get_weights order (writes change the model).)")
      .def("grads", [](py::object self) {
        return self.cast<PyNetwork&>().visit([&](auto& n) {
          py::list r;
          for (const auto& t : n.tensors())
            r.append(view(self, n.grads() + t.offset, std::vector<py::ssize_t>(t.shape.begin(), t.shape.end())));
          return r;
        });
      }, R"(Zero-copy views of the gradients, in params() order.)")
      .def("param_arena", [](py::object self) {
        return self.cast<PyNetwork&>().visit([&](auto& n) { return view(self, n.params(), {n.arena_size()}); });
      }, R"(1-D view of the parameter arena: trainable tensors (params() order), then non-trainable ones.)")
      .def("grad_arena", [](py::object self) {
        return self.cast<PyNetwork&>().visit([&](auto& n) { return view(self, n.grads(), {n.arena_size()}); });
      }, R"(1-D view of the gradient arena (layout of param_arena).)")
      .def("optimizer_state", [](py::object self) {
        return self.cast<PyNetwork&>().visit([&](auto& n) {
          using T = typename std::remove_reference_t<decltype(n)>::value_type;
          using O = Optimizer<T>;
          py::list r;
          if (auto o = n.shared_optimizer()) {
            // base = a capsule owning the optimizer: set_training_config replaces it, and the
            // views must not point into freed slots then (they keep the old state alive).
            auto* holder = new std::shared_ptr<O>(o);
            py::capsule owner(holder, [](void* p) { delete static_cast<std::shared_ptr<O>*>(p); });
            for (std::size_t i = 0; i < o->num_slots(); ++i)
              r.append(py::array_t<T>({static_cast<py::ssize_t>(n.trainable_size())}, o->slot(i), owner));
          }
          return r;
        });
      }, R"(1-D views of the optimizer slots over the trainable part of the arena. set_training_config starts a new
optimizer: views taken before it then show the old one's final state (they keep it alive) and are detached from the
model.)")
      .def("optimizer_state_names", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<std::string> r;
          if (auto* o = n.optimizer())
            for (std::size_t i = 0; i < o->num_slots(); ++i) r.push_back(o->slot_name(i));
          return r;
        });
      })
      .def("get_rng_state", [](PyNetwork& s) {
        return s.visit([](auto& n) { return py::make_tuple(n.seed(), n.rng_counter()); });
      })
      .def("set_rng_state", [](PyNetwork& s, std::uint64_t seed, std::uint64_t counter) {
        Enter e(s.guard, "set_rng_state", Access::write);
        s.visit([&](auto& n) { n.set_rng_state(seed, counter); });
      }, py::arg("seed"), py::arg("counter"))
      .def("set_training_config", [](PyNetwork& s, py::object loss, py::object opt, py::object metrics) {
        TrainingConfig tc = parse_training(loss, opt, metrics);
        Enter e(s.guard, "set_training_config", Access::configure);
        named("set_training_config", [&] { s.visit([&](auto& n) { n.configure(tc); }); return 0; });
      }, py::arg("loss"), py::arg("optimizer"), py::arg("metrics"))
      .def("train_batch", [](PyNetwork& s, py::object x, py::object y, py::object sw, double lr, bool accumulate,
                             py::object record_outputs) {
        Enter e(s.guard, "train_batch", Access::training);
        return s.visit([&](auto& n) {
          std::vector<py::object> keep;
          auto b = check_batch(n, x, y, sw, keep);
          const std::vector<void*> record = record_targets(n, record_outputs, b.n, keep);
          Logs logs;
          {
            // Safe without the GIL: only raw pointers into arrays this frame keeps alive.
            py::gil_scoped_release nogil;
            logs = n.train_batch(b, lr, accumulate, &record);
          }
          return to_dict(logs);
        });
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight"), py::arg("learning_rate"), py::arg("accumulate") = false,
      py::arg("record_outputs") = py::none(),
      "record_outputs: None, or one writable (n, output_dim) array (or None) per output that receives the step's "
      "outputs (the training forward pass, before the update).")
      .def("reset_running", [](PyNetwork& s) { s.visit([](auto& n) { n.reset_running(); }); })
      .def("train_epoch",
           [](PyNetwork& s, py::object x, py::object y, py::object sw, index_t batch_size, bool shuffle,
              std::int64_t epoch, py::array lrs, py::object callback, index_t callback_every,
              py::object record_outputs, py::object record_rows) {
             Enter e(s.guard, "train_epoch", Access::training);
             return s.visit([&](auto& n) {
               std::vector<py::object> keep;
               auto b = check_batch(n, x, y, sw, keep);
               std::vector<void*> record = record_targets(n, record_outputs, b.n, keep);
               std::int64_t* rows = nullptr;
               if (!record_rows.is_none()) {
                 if (record.empty()) throw py::value_error("record_rows needs record_outputs");
                 if (!py::isinstance<py::array>(record_rows) || !has_int64(py::reinterpret_borrow<py::array>(record_rows)))
                   throw py::type_error("record_rows must be an int64 array of shape (n,)");
                 py::array ra = py::reinterpret_borrow<py::array>(record_rows);
                 if (ra.ndim() != 1 || ra.shape(0) != b.n || !(ra.flags() & py::array::c_style) || !ra.writeable())
                   throw py::value_error("record_rows must be a writable C-contiguous int64 array of shape (n,)");
                 keep.push_back(ra);
                 rows = static_cast<std::int64_t*>(ra.mutable_data());
               }
               if (batch_size < 1)
                 throw py::value_error("batch_size must be >= 1; received " + std::to_string(batch_size));
               const index_t steps = (b.n + batch_size - 1) / batch_size;
               check_array<double>(lrs, "learning_rates", steps, -1);
               EpochHooks hooks;
               hooks.callback_every = callback_every;
               hooks.record_outputs = std::move(record);
               hooks.record_rows = rows;
               // Both hooks run on this thread between batches, outside any parallel region.
               SignalPoll poll;
               hooks.poll = [&poll] { poll(); };
               if (!callback.is_none()) {
                 hooks.on_batch = [&](index_t batch, const Logs& logs) {
                   py::gil_scoped_acquire gil;
                   if (PyErr_CheckSignals() != 0) throw py::error_already_set();
                   Paused paused(s.guard);  // the callback may predict/evaluate this model
                   py::object r = callback(batch, to_dict(logs));
                   const int truth = r.is_none() ? 0 : PyObject_IsTrue(r.ptr());
                   if (truth < 0) throw py::error_already_set();
                   return truth == 1;
                 };
               }
               Logs logs;
               {
                 // Safe without the GIL: raw pointers into arrays this frame keeps alive; the
                 // hooks re-acquire it before touching Python.
                 py::gil_scoped_release nogil;
                 logs = n.train_epoch(b, batch_size, shuffle, epoch, cptr<double>(lrs), steps, hooks);
               }
               if (PyErr_CheckSignals() != 0) throw py::error_already_set();
               return to_dict(logs);
             });
           },
           py::arg("x"), py::arg("y"), py::arg("sample_weight"), py::arg("batch_size"), py::arg("shuffle"),
           py::arg("epoch"), py::arg("learning_rates"), py::arg("callback"), py::arg("callback_every"),
           py::arg("record_outputs") = py::none(), py::arg("record_rows") = py::none(),
           "record_outputs: None, or one writable (n, output_dim) array (or None) per output: each step's outputs "
           "(the training forward pass, before the update) land in rows [first, first + batch) in step order; "
           "record_rows (int64 (n,)) then gets each row's sample index (the shuffle).")
      .def("evaluate", [](PyNetwork& s, py::object x, py::object y, py::object sw, index_t batch_size, bool accumulate) {
        Enter e(s.guard, "evaluate", Access::write);
        return s.visit([&](auto& n) {
          std::vector<py::object> keep;
          auto b = check_batch(n, x, y, sw, keep);
          Logs logs;
          {
            // Safe without the GIL: raw pointers into arrays this frame keeps alive.
            py::gil_scoped_release nogil;
            logs = n.evaluate(b, batch_size, accumulate);
          }
          return to_dict(logs);
        });
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight"), py::arg("batch_size"), py::arg("accumulate") = false)
      .def("predict", [](PyNetwork& s, py::object x, index_t batch_size, py::object out) {
        Enter e(s.guard, "predict", Access::read);
        SignalPoll poll;
        const std::function<void()> poll_fn = [&poll] { poll(); };
        return s.visit([&](auto& n) -> py::object {
          using T = typename std::remove_reference_t<decltype(n)>::value_type;
          if (n.num_inputs() == 1 && n.num_outputs() == 1 && !n.input_is_int(0) && py::isinstance<py::array>(x)) {
            // The one-array path (small predicts are dominated by call overhead).
            py::array xa = py::reinterpret_borrow<py::array>(x);
            check_array<T>(xa, "x", -1, n.input_dim());
            const index_t rows = xa.shape(0);
            py::array result;
            if (out.is_none()) {
              result = py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(n.output_dim())});
            } else {
              if (!py::isinstance<py::array>(out)) throw py::type_error("out must be None or a numpy array");
              result = py::reinterpret_borrow<py::array>(out);
              check_array<T>(result, "out", rows, n.output_dim(), true);
              check_no_overlap(result, xa, "x");
            }
            const T* xp = cptr<T>(xa);
            T* op = mptr<T>(result);
            {
              // Safe without the GIL: predict writes only call-local buffers and `out`.
              py::gil_scoped_release nogil;
              n.predict(rows, xp, op, batch_size, &poll_fn);
            }
            return std::move(result);
          }
          std::vector<py::object> xs = as_list(x, n.num_inputs(), "x");
          index_t rows = 0;
          std::vector<const void*> xp = check_inputs(n, xs, rows);
          const index_t O = n.num_outputs();
          std::vector<py::array> results;
          if (out.is_none()) {
            for (index_t o = 0; o < O; ++o)
              results.push_back(py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(n.output_dim(o))}));
          } else {
            if (O != 1) throw py::value_error("out= is only supported for a one-output model");
            if (!py::isinstance<py::array>(out)) throw py::type_error("out must be None or a numpy array");
            results.push_back(py::reinterpret_borrow<py::array>(out));
            check_array<T>(results[0], "out", rows, n.output_dim(), true);
            for (std::size_t i = 0; i < xs.size(); ++i)
              check_no_overlap(results[0], py::reinterpret_borrow<py::array>(xs[i]),
                               xs.size() == 1 ? std::string("x") : "x[" + std::to_string(i) + "]");
          }
          std::vector<T*> op;
          for (auto& r : results) op.push_back(mptr<T>(r));
          {
            // Safe without the GIL: predict writes only call-local buffers and `out`.
            py::gil_scoped_release nogil;
            n.predict(rows, xp.data(), op.data(), batch_size, &poll_fn);
          }
          if (O == 1) return results[0];
          py::list r;
          for (auto& a : results) r.append(a);
          return r;
        });
      }, py::arg("x"), py::arg("batch_size") = 0, py::arg("out") = py::none())
      .def("compute_gradients", [](PyNetwork& s, py::object x, py::object y, py::object sw) {
        Enter e(s.guard, "compute_gradients", Access::training);
        return s.visit([&](auto& n) {
          std::vector<py::object> keep;
          auto b = check_batch(n, x, y, sw, keep);
          // Safe without the GIL: raw pointers into arrays this frame keeps alive.
          py::gil_scoped_release nogil;
          return n.compute_gradients(b);
        });
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight"))
      .def("apply_gradients", [](PyNetwork& s, py::object grads, double lr) {
        Enter e(s.guard, "apply_gradients", Access::training);
        s.visit([&](auto& n) {
          using T = typename std::remove_reference_t<decltype(n)>::value_type;
          AlignedBuffer<T> g(static_cast<std::size_t>(std::max<index_t>(n.arena_size(), 1)));
          std::memcpy(static_cast<void*>(g.data()), n.grads(), static_cast<std::size_t>(n.arena_size()) * sizeof(T));
          if (py::isinstance<py::array>(grads)) {
            py::array a = py::reinterpret_borrow<py::array>(grads);
            check_array<T>(a, "grads", n.arena_size(), -1);
            std::memcpy(static_cast<void*>(g.data()), a.data(), static_cast<std::size_t>(n.arena_size()) * sizeof(T));
          } else {
            std::vector<py::object> list = as_list(grads, static_cast<index_t>(n.tensors().size()), "grads");
            for (std::size_t i = 0; i < list.size(); ++i) {
              const auto& t = n.tensors()[i];
              const std::string what = "grads[" + std::to_string(i) + "] (" + t.name + ")";
              if (list[i].is_none()) throw py::type_error(what + " must be an array; received None");
              const py::array a = py::reinterpret_borrow<py::array>(list[i]);
              if (!has_dtype<T>(a)) throw py::type_error(what + " must be " + dtype_name<T>() + "; received " + dtype_str(a));
              if (a.size() != t.size || !(a.flags() & py::array::c_style))
                throw py::value_error(what + " must be a C-contiguous array of " + std::to_string(t.size) +
                                      " elements; received shape " + shape_str(a));
              std::memcpy(static_cast<void*>(g.data() + t.offset), a.data(), static_cast<std::size_t>(t.size) * sizeof(T));
            }
          }
          named("apply_gradients", [&] {
            py::gil_scoped_release nogil;
            n.apply_gradients(g.data(), lr);
            return 0;
          });
        });
      }, py::arg("grads"), py::arg("learning_rate"),
         R"(One optimizer step with these gradients (a list in params() order, or one arena-sized 1-D array).)")
      .def("set_gradient_hook", [](py::object self, py::object fn) {
        PyNetwork& s = self.cast<PyNetwork&>();
        Enter e(s.guard, "set_gradient_hook", Access::write);
        s.visit([&](auto& n) {
          using T = typename std::remove_reference_t<decltype(n)>::value_type;
          if (fn.is_none()) { n.set_gradient_hook(nullptr); return; }
          // The hook holds the Python callable and re-acquires the GIL (training runs without
          // it). The view it passes is the gradient arena, writable during the call; its base
          // is the Network (a view kept after the call keeps the arena alive, never freed
          // memory), and after the call it is read-only (later writes would race the next
          // steps). The network is held weakly here: no reference cycle through the hook.
          auto holder = std::make_shared<py::object>(fn);
          auto owner = std::make_shared<py::weakref>(self);
          n.set_gradient_hook([holder, owner](T* g, index_t size) {
            py::gil_scoped_acquire gil;
            py::object base = (*owner)();
            if (base.is_none()) throw std::runtime_error("gradient hook: the network is gone");
            py::array_t<T> v({static_cast<py::ssize_t>(size)}, g, base);
            try {
              (*holder)(v);
            } catch (...) {
              v.attr("setflags")(py::arg("write") = false);
              throw;
            }
            v.attr("setflags")(py::arg("write") = false);
          });
        });
      }, py::arg("fn"), R"(fn(grad_arena_view) after backward, before each optimizer update; None removes it. The view
is writable during the call and read-only after it (a view of the live gradient arena that keeps the network alive).)")
      .def("set_layer_gradient_callback", [](PyNetwork& s, py::object fn) {
        Enter e(s.guard, "set_layer_gradient_callback", Access::write);
        s.visit([&](auto& n) {
          if (fn.is_none()) { n.set_layer_gradient_callback(nullptr); return; }
          auto holder = std::make_shared<py::object>(fn);
          n.set_layer_gradient_callback([holder](index_t layer) {
            py::gil_scoped_acquire gil;
            (*holder)(static_cast<py::ssize_t>(layer));
          });
        });
      }, py::arg("fn"), R"(fn(layer) during each training step's backward, as soon as that layer's gradient range
(layer_grad_ranges) is final, before the gradient hook; None removes it.)")
      .def("layer_grad_ranges", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          std::vector<std::pair<index_t, index_t>> r = n.layer_grad_ranges();
          return r;
        });
      }, R"(Per layer (spec order): (offset, size) of its trainable tensors in the arenas; (0, 0) when it has none.)")
      .def("log_state", [](PyNetwork& s) {
        return s.visit([](auto& n) {
          const std::vector<double> v = n.log_state();
          py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
          std::copy(v.begin(), v.end(), a.mutable_data());
          return a;
        });
      }, R"(The additive state behind the last train/evaluate logs (float64; merge by addition).)")
      .def("logs_from_state", [](PyNetwork& s, py::array state) {
        Enter e(s.guard, "logs_from_state", Access::write);
        if (!has_dtype<double>(state) || state.ndim() != 1 || !(state.flags() & py::array::c_style))
          throw py::type_error("logs_from_state: state must be a C-contiguous 1-D float64 array (log_state's layout); "
                               "received " + dtype_str(state) + " of shape " + shape_str(state));
        return s.visit([&](auto& n) {
          return to_dict(named("logs_from_state", [&] {
            return n.logs_from_state(cptr<double>(state), static_cast<std::size_t>(state.size()));
          }));
        });
      }, py::arg("state"), R"(The logs of a (merged) log_state(); the metrics take that state.)")
      .def("params_changed", [](PyNetwork& s) {
        Enter e(s.guard, "params_changed", Access::read);  // allowed beside predicts (see Network)
        s.visit([](auto& n) { n.params_changed(); });
      }, R"(Call after writing parameters through views: predict repacks its cached weights.)")
      .def("hold", [](PyNetwork& s, const std::string& what) { hold(s.guard, what); }, py::arg("what"),
           R"(Hold the network for a call made of several (fit): until release(), calls from other threads raise
RuntimeError, and so do hold() and set_training_config from this one.)")
      .def("release", [](PyNetwork& s) {
        std::lock_guard<std::mutex> lock(s.guard.m);
        s.guard.held = false;
      })
      .def("check", [](PyNetwork& s, const std::string& what, const std::string& kind) {
        check_access(s.guard, what, kind);
      }, py::arg("what"), py::arg("kind"),
           R"(RuntimeError naming `what` unless a call of this kind ('read', 'write', 'training', 'configure') could
run now (a Python-side change checks before it starts).)")
      .def_property_readonly("params_version", [](PyNetwork& s) {
        return s.visit([](auto& n) { return n.params_version(); });
      })
      .def_property_readonly("workspace_bytes", [](PyNetwork& s) { return s.visit([](auto& n) { return n.workspace_bytes(); }); })
      .def_property_readonly("workspace_growths", [](PyNetwork& s) {
        return s.visit([](auto& n) { return n.workspace_growths(); });
      });
}

}  // namespace dnnx::py_detail

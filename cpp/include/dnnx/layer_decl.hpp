// dnnx public C++ API: one declaration per layer type.
//
// A declaration names the type ("dense"), its configuration fields (Keras config keys,
// each with its type and the LayerSpec member it sets) and its defaults (a LayerSpec:
// the one place every layer default lives), and builds the layer. The bindings parse
// layer dicts from it, and Python reads it (dnnx._core.layer_declarations()) for its
// classes' defaults, their spec() and their config, so adding a layer means: its kernel
// and declaration in cpp/src/nn/layers/<name>.cpp, one line in the list in layer.cpp,
// and a Python class that names the type.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dnnx/layers.hpp"

namespace dnnx {

enum class FieldType : int {
  integer,      ///< index_t member
  number,       ///< double member
  boolean,      ///< bool member
  activation,   ///< ActParams member: keys "<key>" (a name) and "<key>_alpha"
  initializer,  ///< InitSpec member: a name or {"name", "value", "seed", "minval", ...}
  regularizer,  ///< RegSpec member: None or {"l1", "l2"}
  seed,         ///< optional integer: has_seed + seed
  ignored,      ///< accepted and not used by the core (Python-only, e.g. Reshape's target_shape)
  choice,       ///< index_t member holding the position of a name in FieldDecl::choices
  integers,     ///< std::vector<index_t> member (a list of integers)
  numbers,      ///< std::vector<double> member (a list of numbers)
  strings,      ///< std::vector<std::string> member (a list of strings)
};

struct FieldDecl {
  std::string key;
  FieldType type = FieldType::integer;
  index_t LayerSpec::*as_int = nullptr;
  double LayerSpec::*as_number = nullptr;
  bool LayerSpec::*as_bool = nullptr;
  ActParams LayerSpec::*as_act = nullptr;
  InitSpec LayerSpec::*as_init = nullptr;
  RegSpec LayerSpec::*as_reg = nullptr;
  std::vector<index_t> LayerSpec::*as_ints = nullptr;
  std::vector<double> LayerSpec::*as_numbers = nullptr;
  std::vector<std::string> LayerSpec::*as_strings = nullptr;
  std::vector<std::string> choices;  ///< choice: the accepted names (the member is the index)
};

template <class T>
using LayerFactory = std::unique_ptr<Layer<T>> (*)(const LayerSpec&, const std::vector<index_t>&);

struct LayerDecl {
  std::string type;        ///< spec "type" and the Keras-style default name ("dense", "dense_1")
  LayerSpec defaults;      ///< kind set; every field's default
  std::vector<FieldDecl> fields;
  bool several_inputs = false;
  LayerFactory<float> make_f = nullptr;
  LayerFactory<double> make_d = nullptr;

  LayerDecl& field(const char* key, index_t LayerSpec::*m) { return add(key, FieldType::integer).set(m); }
  LayerDecl& field(const char* key, double LayerSpec::*m) { return add(key, FieldType::number).set(m); }
  LayerDecl& field(const char* key, bool LayerSpec::*m) { return add(key, FieldType::boolean).set(m); }
  LayerDecl& field(const char* key, ActParams LayerSpec::*m) { return add(key, FieldType::activation).set(m); }
  LayerDecl& field(const char* key, InitSpec LayerSpec::*m) { return add(key, FieldType::initializer).set(m); }
  LayerDecl& field(const char* key, RegSpec LayerSpec::*m) { return add(key, FieldType::regularizer).set(m); }
  LayerDecl& field(const char* key, std::vector<index_t> LayerSpec::*m) { return add(key, FieldType::integers).set(m); }
  LayerDecl& field(const char* key, std::vector<double> LayerSpec::*m) { return add(key, FieldType::numbers).set(m); }
  LayerDecl& field(const char* key, std::vector<std::string> LayerSpec::*m) { return add(key, FieldType::strings).set(m); }
  LayerDecl& seed_field(const char* key) { return add(key, FieldType::seed); }
  LayerDecl& choice_field(const char* key, index_t LayerSpec::*m, std::vector<std::string> names) {
    add(key, FieldType::choice).set(m);
    fields.back().choices = std::move(names);
    return *this;
  }
  LayerDecl& ignored_field(const char* key) { return add(key, FieldType::ignored); }

 private:
  LayerDecl& add(const char* key, FieldType t) {
    FieldDecl f;
    f.key = key;
    f.type = t;
    fields.push_back(f);
    return *this;
  }
  LayerDecl& set(index_t LayerSpec::*m) { fields.back().as_int = m; return *this; }
  LayerDecl& set(double LayerSpec::*m) { fields.back().as_number = m; return *this; }
  LayerDecl& set(bool LayerSpec::*m) { fields.back().as_bool = m; return *this; }
  LayerDecl& set(ActParams LayerSpec::*m) { fields.back().as_act = m; return *this; }
  LayerDecl& set(InitSpec LayerSpec::*m) { fields.back().as_init = m; return *this; }
  LayerDecl& set(RegSpec LayerSpec::*m) { fields.back().as_reg = m; return *this; }
  LayerDecl& set(std::vector<index_t> LayerSpec::*m) { fields.back().as_ints = m; return *this; }
  LayerDecl& set(std::vector<double> LayerSpec::*m) { fields.back().as_numbers = m; return *this; }
  LayerDecl& set(std::vector<std::string> LayerSpec::*m) { fields.back().as_strings = m; return *this; }
};

/// A declaration for `type` with the factories of a one-input layer.
template <std::unique_ptr<Layer<float>> (*F)(const LayerSpec&, index_t),
          std::unique_ptr<Layer<double>> (*D)(const LayerSpec&, index_t)>
LayerDecl one_input_decl(const char* type, LayerKind kind) {
  LayerDecl d;
  d.type = type;
  d.defaults.kind = kind;
  d.make_f = [](const LayerSpec& s, const std::vector<index_t>& dims) { return F(s, dims[0]); };
  d.make_d = [](const LayerSpec& s, const std::vector<index_t>& dims) { return D(s, dims[0]); };
  return d;
}

/// Every layer type, in a fixed order (layer.cpp lists them).
const std::vector<LayerDecl>& layer_declarations();
/// The declaration of a type; throws std::invalid_argument naming the known types.
const LayerDecl& layer_declaration(const std::string& type);

// Each layer's declaration, defined next to its kernel.
LayerDecl dense_declaration();
LayerDecl activation_declaration();
LayerDecl dropout_declaration();
LayerDecl batch_normalization_declaration();
LayerDecl layer_normalization_declaration();
std::vector<LayerDecl> merge_declarations();
LayerDecl embedding_declaration();
std::vector<LayerDecl> reshaping_declarations();
LayerDecl normalization_declaration();
LayerDecl category_encoding_declaration();
LayerDecl op_declaration();

}  // namespace dnnx

"""The C++ core stays layered: common <- gemm <- nn, never the other way.

common (cpp/src/common/, dnnx_common) holds the activations the GEMM epilogue applies, the
CPU features, the kernel choice and the thread count; gemm (cpp/src/gemm/, dnnx_gemm) the
GEMM engine; nn (cpp/src/nn/, dnnx_core) the network core. Each quoted #include under
cpp/src and cpp/include is resolved to a file and each file to a layer; no file may
include a header of a layer above its own. At link time the program
dnnx_gemm_link_check (built from dnnx_gemm and dnnx_common alone, cpp/CMakeLists.txt)
guards the same rule.
"""

import os
import re

import pytest

CPP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp")
LAYERS = ("common", "gemm", "nn")  # each may include its own layer and those before it
# Public headers below the network core; every other cpp/include/dnnx header is nn's.
PUBLIC_LAYER = {
    "common.hpp": "common",
    "activations.hpp": "common",
    "cpu.hpp": "common",
    "dispatch.hpp": "common",
    "parallel.hpp": "common",
    "gemm.hpp": "gemm",
}
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<(dnnx/[^>]+)>)', re.M)


def layer_of(rel):
    """Layer of a file given by its path under cpp/ ('/'-separated); None: not core code."""
    parts = rel.split("/")
    if parts[0] == "include":
        return PUBLIC_LAYER.get(parts[-1], "nn")
    if parts[0] == "src":
        return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "unassigned"
    return None


def resolve(rel, target, exists):
    """The file (path under cpp/) that `#include "target"` in file rel names, or None."""
    here = os.path.dirname(rel)
    for base in (here, "include", "src"):  # the includer's folder, then the include paths
        cand = os.path.normpath(os.path.join(base, target)).replace(os.sep, "/")
        if exists(cand):
            return cand
    return None


def violations(files):
    """Problems in {path under cpp/: text}: includes going up a layer, unresolved
    includes, and core sources outside a layer folder."""
    out = []
    for rel, text in sorted(files.items()):
        layer = layer_of(rel)
        if layer is None:
            continue
        if layer == "unassigned":
            out.append(f"{rel}: not in a layer folder (cpp/src/{{{','.join(LAYERS)}}}/)")
            continue
        for m in INCLUDE.finditer(text):
            target = m.group(1) or m.group(2)
            dep = resolve(rel, target, files.__contains__)
            if dep is None:
                out.append(f"{rel}: #include \"{target}\" names no file under cpp/")
            elif LAYERS.index(layer_of(dep)) > LAYERS.index(layer):
                out.append(f"{rel} ({layer}) includes {dep} ({layer_of(dep)})")
    return out


def core_files():
    files = {}
    for top in ("src", "include"):
        for d, _, names in os.walk(os.path.join(CPP, top)):
            for name in names:
                if name.endswith((".cpp", ".hpp", ".inc", ".h")):
                    path = os.path.join(d, name)
                    with open(path) as fh:
                        files[os.path.relpath(path, CPP).replace(os.sep, "/")] = fh.read()
    return files


@pytest.fixture(scope="module")
def files():
    if not os.path.isdir(os.path.join(CPP, "src")):
        pytest.skip("source tree not available")
    return core_files()


def test_no_include_goes_up_a_layer(files):
    assert violations(files) == []


def test_each_layer_has_its_files(files):
    layers = {layer_of(rel) for rel in files}
    assert set(LAYERS) <= layers
    assert layer_of("src/gemm/engine.hpp") == "gemm" and layer_of("include/dnnx/gemm.hpp") == "gemm"
    assert layer_of("src/common/activations.cpp") == "common" and "src/common/activations.cpp" in files
    assert layer_of("include/dnnx/network.hpp") == layer_of("include/dnnx/layers.hpp") == "nn"


@pytest.mark.parametrize("includer, target", [
    ("src/gemm/macro_kernel.cpp", "../nn/simd.hpp"),
    ("src/gemm/kernel_body.inc", "dnnx/network.hpp"),
    ("include/dnnx/gemm.hpp", "dnnx/layers.hpp"),
    ("include/dnnx/activations.hpp", "dnnx/gemm.hpp"),
    ("src/common/dispatch.cpp", "../gemm/engine.hpp"),
])
def test_a_cycle_would_be_caught(includer, target):
    """The checker itself: each of these includes brings a cycle back."""
    files = {"src/nn/simd.hpp": "", "src/gemm/engine.hpp": "", "include/dnnx/network.hpp": "",
             "include/dnnx/layers.hpp": "", "include/dnnx/gemm.hpp": ""}
    files[includer] = f'#include "{target}"\n'
    assert any("includes" in v for v in violations(files))

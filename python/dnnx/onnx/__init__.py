"""ONNX in and out: ``export(model, path)`` writes a dnnx model as an ONNX graph that
onnxruntime runs with ``model.predict``'s outputs; ``load(path)`` imports the MLP graphs
PyTorch, Keras/tf2onnx and skl2onnx write into a dnnx model that predicts and trains.

Needs the ``onnx`` package (``pip install 'dnnx[onnx]'``, which also brings onnxruntime);
it is imported only when a function here is called.

Export (``_export_ops``, one converter per layer type; opset 13 to the newest onnx knows,
default 20): Dense -> Gemm (2-D input) or MatMul + Add, then its activation; Activation;
Dropout -> nothing; BatchNormalization -> BatchNormalization (Reshape to rows and back on
3-D input); LayerNormalization -> LayerNormalization (opset 17+; below, ReduceMean / Sub /
Mul / Add / Sqrt / Div); Embedding -> Gather; Add, Subtract, Multiply, Maximum, Average ->
Add, Sub, Mul, Max, Mean; Concatenate -> Concat; Flatten -> Flatten; Reshape -> Reshape;
Identity -> Identity; GlobalAveragePooling1D -> ReduceMean. Activations: Relu, LeakyRelu,
Elu, Selu, Gelu (opset 20+; below, the exact 0.5 x (1 + Erf(x / sqrt 2))), x * Sigmoid(x)
(silu/swish), Tanh, Sigmoid, HardSigmoid (alpha 1/6), Softplus, Softsign, Softmax,
LogSoftmax. A float64 model writes LeakyRelu, Elu, Selu, HardSigmoid, Softplus and Softsign
as elementwise ops onnxruntime has double kernels for (its CPU provider has none for them;
it has no double Erf either, so a float64 GELU runs in other runtimes only). The
preprocessing layers' converters live in ``_export_preprocessing``. A ``Classifier`` adds
``label`` (Gather of the classes at ArgMax) and ``probabilities`` (ZipMap if asked).

Import (``_import_ops``, one handler per op, after ``_patterns`` rewrites): Gemm (transB,
alpha, beta), MatMul with a constant weight (+ Add of a per-unit constant: the bias; Mul or
Div by a per-unit constant: folded into the kernel), Relu, LeakyRelu, Elu, Selu, Gelu (exact), HardSigmoid
(alpha 1/6), Sigmoid, Tanh, Softplus, Softsign, Softmax, LogSoftmax (last axis), the
multi-node forms of SiLU, exact GELU, Softsign and the double activations above,
BatchNormalization (inference; 2-D, or between Reshapes to rows), LayerNormalization (last
axis) and its decomposed form, Add, Sub, Mul, Sum, Max, Mean of computed tensors (equal
shapes), Concat (not the batch axis), Gather of a constant table by integer input IDs
(Embedding), Flatten (axis 1), Reshape/Squeeze/Unsqueeze keeping the batch axis, ReduceMean
over axis 1 of 3-D input (GlobalAveragePooling1D), Identity, Dropout, Cast between floats
(or between integers); nodes with only constant inputs are folded (Transpose of a weight,
shape arithmetic). Classifier tails: ArgMax + ArrayFeatureExtractor (skl2onnx) or Gather
(dnnx) labels, ZipMap, and the binary Sub + Concat. Anything else raises
``UnsupportedGraph`` naming the node, its op and the opset.
"""

from ._classifier import Classifier
from ._export import export, to_model_proto
from ._import import UnsupportedGraph, load

__all__ = ["Classifier", "export", "load", "to_model_proto", "UnsupportedGraph"]

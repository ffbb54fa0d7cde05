"""ONNX in and out: ``export(model, path)`` writes a dnnx model as an ONNX graph that
onnxruntime runs with ``model.predict``'s outputs; ``load(path)`` imports the MLP graphs
PyTorch, Keras/tf2onnx and skl2onnx write into a dnnx model that predicts and trains.

Needs the ``onnx`` package (``pip install 'dnnx[onnx]'``, which also brings onnxruntime);
it is imported only when a function here is called.
"""

from ._classifier import Classifier
from ._export import export, to_model_proto
from ._import import UnsupportedGraph, load

__all__ = ["Classifier", "export", "load", "to_model_proto", "UnsupportedGraph"]

"""Type stubs for dnnx._core, the compiled core (kept in sync with dir(_core) by a test)."""

from typing import Any, Callable, List, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

__version__: str

# ---- configuration ---------------------------------------------------------------
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def physical_memory() -> int: ...  # bytes (0 if unknown); a model needing more is refused (MemoryError)
# _fail_alloc_in_parallel(armed: bool) -> None: tests only: allocations in parallel regions fail
def available_kernels() -> list[str]: ...
def compiled_kernels() -> list[str]: ...
def active_kernel() -> str: ...
def set_kernel(name: str) -> None: ...
def build_info() -> dict[str, str]: ...

# ---- GEMM --------------------------------------------------------------------------
def matmul(a: NDArray[Any], b: NDArray[Any], out: Optional[NDArray[Any]] = None) -> Any: ...
def gemm(
    a: NDArray[Any],
    b: NDArray[Any],
    c: NDArray[Any],
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    bias: Optional[NDArray[Any]] = None,
    activation: str = "linear",
    activation_alpha: Optional[float] = None,
    preact: Optional[NDArray[Any]] = None,
    reference: bool = False,
) -> None: ...
def kernel_info(name: str = "") -> dict[str, Any]: ...  # {"name", "float32": {MR, NR, MC, KC, NC, KC_wide}, "float64": {...}}

class PackedB:
    """op(b) packed once for the active GEMM kernel; gemm_packed multiplies with that kernel."""

    def __init__(self, b: NDArray[Any], trans_b: bool = False) -> None: ...
    @property
    def k(self) -> int: ...
    @property
    def n(self) -> int: ...
    @property
    def dtype(self) -> str: ...
    @property
    def kernel(self) -> str: ...

def gemm_packed(
    a: NDArray[Any],
    b: PackedB,
    c: NDArray[Any],
    trans_a: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    bias: Optional[NDArray[Any]] = None,
    activation: str = "linear",
    activation_alpha: Optional[float] = None,
    preact: Optional[NDArray[Any]] = None,
) -> None: ...

# ---- network -----------------------------------------------------------------------
def initial_values(initializer: Any, shape: list[int], fan_in: int, fan_out: int, dtype: str,
                   seed: int) -> np.ndarray: ...
def layer_declarations() -> dict[str, dict[str, Any]]: ...
# ^ {type: {"several_inputs": bool, "fields": [{"key", "type", "default"}]}}: every layer the
#   core builds, with its spec keys and defaults (the one place layer defaults live)
class Network:
    """A graph of layers with losses, an optimizer and metrics, run entirely in C++.

    spec (all keys validated; unknown keys or names raise ValueError):
      dtype: "float32" | "float64"
      seed: int                      # counter-based RNG key (init, dropout, shuffle)
      graph form:
        inputs: list of {"name": str, "dim": int (flat width), "dtype": "float" | "int64"}
        nodes: list of {"layer": int (index into layers), "inputs": [tensor ids],
               "steps": int (default 1: the layer sees each sample as `steps` rows, i.e.
               it applies to the last axis of a (batch, steps, features) tensor)}, in
               topological order; tensors 0..len(inputs)-1 are the inputs, len(inputs)+j
               is node j's output. A layer used by several nodes shares its weights.
        outputs: list of tensor ids; output_names: optional list of str
      chain form (no "inputs"/"nodes"): input_dim: int, and node i = layer i on tensor i.
      layers: list of dicts, one per layer:
        {"type": "dense", "units": int, "activation": str, "activation_alpha": float|None,
         "use_bias": bool,
         "kernel_initializer": {"name": str, "value": float, "seed": int|None},
         "bias_initializer": {...same...},
         "kernel_regularizer": {"l1": float, "l2": float} | None,
         "bias_regularizer": {"l1": float, "l2": float} | None}
        {"type": "activation", "activation": str, "activation_alpha": float|None}
        {"type": "dropout", "rate": float, "seed": int|None}
        {"type": "batch_normalization", "momentum": float, "epsilon": float,
         "center": bool, "scale": bool}
        {"type": "layer_normalization", "epsilon": float, "center": bool, "scale": bool}
        {"type": "add" | "subtract" | "multiply" | "average" | "maximum" | "concatenate"}
        {"type": "embedding", "input_dim": int (vocabulary), "output_dim": int,
         "embeddings_initializer": {...}, "embeddings_regularizer": {...} | None}  # int64 input
        {"type": "flatten" | "reshape" | "identity"}   # width-preserving copies
        {"type": "global_average_pooling1d", "steps": int}
        initializer dicts also take "minval"/"maxval" (random_uniform), "mean"/"stddev"
        (random_normal)
      loss: None | {"name": "mean_squared_error" | "mean_absolute_error" | "huber" |
                    "binary_crossentropy" | "categorical_crossentropy" |
                    "sparse_categorical_crossentropy" | "poisson", "from_logits": bool,
                    "delta": float,
                    "reduction": "sum_over_batch_size" | "mean_with_sample_weight"
                      (divide by the batch's sum of weights, not its size),
                    "penalty_reduction": "sum" | "like_loss" (regularization divided by
                      the loss's normalizer, as scikit-learn's alpha; one output only)}
      optimizer: None | {"name": "sgd"|"adam"|"adamw"|"rmsprop"|"adagrad"|"nadam",
                         "learning_rate": float, <Keras 3 hyper-parameters by Keras name:
                         momentum, nesterov, beta_1, beta_2, epsilon, amsgrad, rho,
                         initial_accumulator_value, centered>, "weight_decay": float|None,
                         "clipnorm": float|None, "clipvalue": float|None,
                         "global_clipnorm": float|None}
      metrics: list of {"name": "binary_accuracy" | "categorical_accuracy" |
                        "sparse_categorical_accuracy" | "top_k_categorical_accuracy" |
                        "sparse_top_k_categorical_accuracy" | "mse" | "mae" | "auc" |
                        "precision" | "recall" | "true_positives" | "false_positives" |
                        "true_negatives" | "false_negatives" | "mape", "k": int, "num_thresholds": int,
                        "threshold": float, "key": str  # the name reported in logs}

    Arrays: x is (n, input_dim), C-contiguous, of the network dtype. y is (n, output_dim),
    or (n, 1) holding class indices for the sparse losses/metrics, of the network dtype.
    sample_weight is None or (n,) of the network dtype. Wrong dtype: TypeError; wrong
    shape/layout: ValueError naming the argument. The Python layer converts user input.

    Also accepted: every layer dict may carry "name" (default: Keras-style dense, dense_1,
    ...; it prefixes param_names()); a None value means "the default" for any key; metric "from_logits" (auc/precision/recall:
    sigmoid first; defaults to the loss's from_logits; binary_accuracy's threshold defaults
    to 0 when the loss is from_logits, else 0.5); "adamw" without weight_decay uses 0.004.
    Every optimizer accepts every optimizer key (irrelevant ones are ignored).
    Several outputs: loss is a list with one loss dict (plus "weight": float, "key": its
    log name) or None per output, metrics a list per output of metric-dict lists (each
    metric dict may carry "weighted": bool, default True); x a list with one array per
    input (int64 for an int input), y a list with one array (or None) per output;
    predict returns a list of arrays.
    A softmax (sigmoid) output with categorical/sparse (binary) cross-entropy and
    from_logits=False is fused: loss and gradient come from the logits, finite for any
    logits (no probability clipping then, as with Keras' TensorFlow backend).
    train_epoch calls callback(batch_index, logs) after every callback_every-th batch
    (<= 0: none but the last) and after the last batch; logs are the running epoch means;
    a truthy return stops the epoch. Ctrl-C raises KeyboardInterrupt between batches (and
    between predict's chunks) within ~20 ms of a batch ending, the last step applied.
    spec "max_params": int refuses (ValueError) a model with more weights, before allocating.

    Concurrency (the GIL is released while the core runs): predict() calls may overlap from
    any number of threads; every other call runs alone, and one that would overlap a running
    call raises RuntimeError ("... the model is busy: ...") at once. From a train_epoch
    callback (the training paused on its thread) predict, evaluate (the epoch's running
    logs stay intact) and the state setters may run; training calls and
    set_training_config may not. hold(what) ... release() keeps other threads out across
    several calls (fit) and rejects set_training_config and a second hold meanwhile.
    """

    def __init__(self, spec: dict[str, Any]) -> None: ...
    @property
    def dtype(self) -> str: ...
    @property
    def input_dim(self) -> int: ...
    @property
    def output_dim(self) -> int: ...
    @property
    def iterations(self) -> int: ...  # optimizer steps taken (Adam/Nadam bias corrections)
    @iterations.setter
    def iterations(self, value: int) -> None: ...
    def output_shapes(self) -> list[int]: ...  # width of every node's output, node order
    @property
    def num_inputs(self) -> int: ...
    @property
    def num_outputs(self) -> int: ...
    def input_dims(self) -> list[int]: ...
    def input_is_int(self) -> list[bool]: ...
    def output_dims(self) -> list[int]: ...
    def output_names(self) -> list[str]: ...
    def layer_param_counts(self) -> list[int]: ...  # weight arrays per layer (spec order)
    def set_layer_trainable(self, layer: int, trainable: bool) -> None: ...
    # ^ frozen: no parameter gradients, no optimizer update (slots kept); next step on
    def layer_trainable(self) -> list[bool]: ...
    def param_names(self) -> list[str]: ...  # e.g. "dense/kernel", "batch_normalization/moving_mean"
    def param_trainable(self) -> list[bool]: ...
    def params(self) -> list[NDArray[Any]]: ...  # zero-copy views, Keras get_weights order
    def grads(self) -> list[NDArray[Any]]: ...  # zero-copy views of the gradients, same order
    def param_arena(self) -> NDArray[Any]: ...  # 1-D view: trainable tensors (params() order), then non-trainable
    def grad_arena(self) -> NDArray[Any]: ...  # 1-D view of all gradients (same layout)
    def optimizer_state(self) -> list[NDArray[Any]]: ...  # 1-D views of the optimizer slots over the
    #   trainable part of the arena; set_training_config starts a new optimizer: older views
    #   keep the old one alive (and show its last state), detached from the model
    def optimizer_state_names(self) -> list[str]: ...  # e.g. ["momentum", "velocity"]
    def get_rng_state(self) -> tuple[int, int]: ...  # (seed, counter); counter = training passes so far
    #   (dropout masks are keyed by (seed, layer, counter, element); shuffles by (seed, epoch))
    def set_rng_state(self, seed: int, counter: int) -> None: ...
    def set_training_config(self, loss: Optional[dict[str, Any]], optimizer: Optional[dict[str, Any]],
                            metrics: list[dict[str, Any]]) -> None: ...  # compile() again
    def train_batch(self, x: NDArray[Any], y: NDArray[Any], sample_weight: Optional[NDArray[Any]],
                    learning_rate: float, accumulate: bool = False) -> dict[str, float]: ...
    # ^ accumulate: add the batch to the running logs (since reset_running) and return them
    def reset_running(self) -> None: ...  # start new running logs for the accumulate forms
    def train_epoch(
        self,
        x: NDArray[Any],
        y: NDArray[Any],
        sample_weight: Optional[NDArray[Any]],
        batch_size: int,
        shuffle: bool,
        epoch: int,
        learning_rates: NDArray[np.float64],  # one per step of this epoch
        callback: Optional[Callable[[int, dict[str, float]], bool]],
        callback_every: int,
    ) -> dict[str, float]: ...
    def evaluate(self, x: NDArray[Any], y: NDArray[Any], sample_weight: Optional[NDArray[Any]],
                 batch_size: int, accumulate: bool = False) -> dict[str, float]: ...
    def predict(self, x: NDArray[Any], batch_size: int = 0, out: Optional[NDArray[Any]] = None) -> NDArray[Any]: ...
    def compute_gradients(self, x: NDArray[Any], y: NDArray[Any], sample_weight: Optional[NDArray[Any]]) -> float: ...
    # ^ training mode, fills grads(); moves neither BN moving stats nor the RNG counter
    def apply_gradients(self, grads: Any, learning_rate: float) -> None: ...
    # ^ one optimizer step with grads (list in params() order, or a 1-D arena array)
    def set_gradient_hook(self, fn: Optional[Callable[[NDArray[Any]], None]]) -> None: ...
    # ^ fn(grad_arena) after backward, before every update (writable in the call, read-only
    #   after it; the view keeps the network alive)
    def set_layer_gradient_callback(self, fn: Optional[Callable[[int], None]]) -> None: ...
    # ^ fn(layer) during each training step's backward once that layer's gradients are final
    def layer_grad_ranges(self) -> List[Tuple[int, int]]: ...
    # ^ per layer: (offset, size) of its trainable tensors in the arenas
    def log_state(self) -> NDArray[Any]: ...
    # ^ float64 state behind the last train/evaluate logs: loss sum, sample count, each
    #   output's loss sum, each metric's additive state; states of disjoint data add up
    def logs_from_state(self, state: NDArray[Any]) -> dict[str, float]: ...
    # ^ logs of a (merged) log_state() of the same layout; the metrics take that state
    def hold(self, what: str) -> None: ...  # see Concurrency above; RuntimeError if busy
    def release(self) -> None: ...
    def check(self, what: str, kind: str) -> None: ...
    # ^ RuntimeError naming `what` unless a call of kind "read" | "write" | "training" |
    #   "configure" could run now (Python checks before changing anything itself)
    def params_changed(self) -> None: ...
    # ^ call after writing parameters through views (params(), param_arena()): predict
    #   keeps each Dense kernel packed for the GEMM and repacks it on the next call.
    #   Optimizer steps and set_weights/load (Python) already do this.
    @property
    def params_version(self) -> int: ...  # bumped by every optimizer step and params_changed()
    @property
    def workspace_bytes(self) -> int: ...  # training workspace size (debug)
    @property
    def workspace_growths(self) -> int: ...  # times the workspace grew (debug: constant per step)

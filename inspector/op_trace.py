"""Flatten any `nn.Module` into ops with shapes and costs, using torch.fx and the meta device.

Why this way:
- Shapes come from running each op on the `meta` device. The user's weights are never copied or
  changed: a layer runs through `torch.func.functional_call` with meta tensors of its parameters'
  shapes in place of its own, so a 100 MB model costs no memory here.
- Every user-defined module is traced on its own and its result (ops, shapes, costs) is kept per
  (type, repr, the attributes its code reads, input shapes): ResNet-152's 50 blocks are 8
  distinct ones. Attributes that are lists, dicts or tensors enter the key as a hashable digest.
- Layers whose output shape is fixed by their definition (norms, activations, equal-shape sums)
  skip their meta kernels, which are slow Python decompositions; convs and pools get theirs by
  PyTorch's formula, because the meta kernels' first `torch._check` imports sympy (half a
  second of every command's start-up).
- Ops on weights alone (timm's weight standardisation, a class token expanded) are part of the
  layer that uses them: their parameters are that layer's.

How the long tail of real models is reached, and why by these means. The tools people use reach
models three ways: torchview replaces `nn.Module.__call__` for the whole process during its pass
and feeds the model a tensor subclass whose `__torch_function__` records every function; TorchLens
wraps torch's own functions, also process-wide, and logs each call with the tensors it reads
(both see everything that runs in Python, at the price of running it, and patch what every other
thread of a server uses); torch.export/dynamo trace bytecode and specialise on shapes (complete
for what it accepts, but seconds per model, a large import, and it refuses much user Python).
So:
1. torch.fx, one module at a time, is the fast path (ResNet-50 in about 0.02 s). Arguments with
   defaults that are not given (`forward(x, extra=None)`, timm's `pre_logits=False`) are traced
   as the constants they are; a layer built inside `forward` (`nn.ReLU(inplace=True)(x)`) is
   followed as a function call.
2. A module fx cannot trace (control flow on a shape, a loop over a list of weight names) is
   run once on meta tensors under a `TorchFunctionMode`, which records every torch function it
   calls and the tensors each reads as TorchLens does, but only in this thread; library layers
   inside it are one op each through forward hooks put on this model's own modules for the run
   and removed after. Its sums are seen, so its blocks are found as in the fast path. The
   analysis says which modules went this way.
3. What runs outside Python (a TorchScript submodule) is one opaque op: its parameters counted,
   its output shape from running it, its mult-adds left out, and a note that says so.
Only a model that cannot run on meta tensors at all (its forward reads tensor values, or it
needs more than one tensor input) is refused, with that reason.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import inspect
import math
import operator
import threading
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.overrides import TorchFunctionMode

Shape = tuple[int, ...]


class ModelError(ValueError):
    """A model that cannot be analysed, with a sentence a user can act on."""


class _TraceGate:
    """Traces run alone in the process.

    Why: while `fx.Tracer.trace` runs, torch.fx replaces `torch.nn.Module.__call__` for the
    whole process, so a module called meanwhile in another thread (another session's trace, a
    training step, a prediction) is handed to this trace's tracer and fails with "module is not
    installed as a submodule" (seen with 20 Designer sessions changing designs at once). So a
    trace waits for module calls in progress and holds new ones back; plain module calls run
    side by side; a waiting trace goes before new calls, so training steps cannot starve it.
    Not re-entrant: code inside `trace()` must not enter `call()`.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._calls = 0
        self._tracing = False
        self._waiting = 0

    @contextlib.contextmanager
    def trace(self) -> Iterator[None]:
        with self._condition:
            self._waiting += 1
            self._condition.wait_for(lambda: not self._tracing and not self._calls)
            self._waiting -= 1
            self._tracing = True
        try:
            yield
        finally:
            with self._condition:
                self._tracing = False
                self._condition.notify_all()

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._tracing and not self._waiting)
            self._calls += 1
        try:
            yield
        finally:
            with self._condition:
                self._calls -= 1
                self._condition.notify_all()


#: Every fx trace in this process goes through `trace()`; every plain forward pass of a module
#: (training, predictions, latency) through `call()`.
TRACE_GATE = _TraceGate()


# ----- one traced op --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A conv's sliding window along one spatial axis, as PyTorch slides it.

    `pad_before` and `pad_after` count the positions padded at either end; they hold zeros
    unless the padding mode copies data there (reflect, replicate, circular). Which kernel taps
    ever meet data follows from these and the input size.
    """

    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    zeros: bool = True  # padding_mode "zeros"


@dataclass(frozen=True)
class Op:
    """One op of the flattened network, in execution order."""

    id: str
    kind: str  # conv, bn, relu, maxpool, avgpool, add, fc, flatten, zero_pad, other
    label: str  # the paper's style: "3x3 conv, 128, /2"
    type: str  # the module's class or the function's name
    module: str | None  # module path in the user's model
    inputs: tuple[str, ...]  # ids of the ops (or "input") whose tensors it reads
    shape: Shape
    params: int
    mult_adds: int
    weighted: bool  # a conv or linear layer: counts towards the paper's depth
    kernel: int = 0
    stride: int = 1
    groups: int | None = None
    bias: bool = False  # a conv or linear layer with a bias (the paper's convs have none)
    scope: str = ""  # path of the module whose forward runs the op ("" for the model's own)
    windows: tuple[Window, ...] = ()  # a conv's sliding window along each spatial axis
    opaque: str = ""  # why this op stands for a whole module that could not be looked into


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
#: Activations other than ReLU take the ReLU's place in a block (kind "relu", their own label).
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Tanh, nn.Hardswish,
                nn.ELU, nn.Mish, nn.PReLU, nn.SELU, nn.CELU, nn.Hardtanh, nn.Softplus)
#: Gates: what an attention branch (SE, ECA, CBAM, SK) multiplies into the main path.
_GATES = (nn.Sigmoid, nn.Softmax, nn.Hardsigmoid, nn.Softmax2d)
_SHAPE_KEEPING_MODULES = (*_NORMS, *_ACTIVATIONS, *_GATES, nn.Identity, nn.Dropout,
                          nn.Dropout2d)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")
_ADD_NAMES = frozenset({"add", "add_", "iadd", "__add__", "__iadd__", "__radd__"})
_RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_, F.relu_)
_SHAPE_KEEPING_FUNCTIONS = (*_RELU_FUNCTIONS, torch.sigmoid, F.gelu, F.silu, F.dropout)
_SHAPE_KEEPING_METHODS = ("relu", "relu_", "clone", "contiguous", "sigmoid", "detach")
_FLATTENING = ("flatten", "view", "reshape", "squeeze")
_ACTIVATION_NAMES = {"relu": "ReLU", "relu_": "ReLU", "relu6": "ReLU6", "silu": "SiLU",
                     "silu_": "SiLU", "gelu": "GELU", "leaky_relu": "LeakyReLU",
                     "leaky_relu_": "LeakyReLU", "hardswish": "Hardswish", "elu": "ELU",
                     "mish": "Mish", "hardtanh": "Hardtanh", "tanh": "Tanh", "selu": "SELU"}
#: Names of functions whose output gates another tensor (sigmoid, softmax): attention.
GATE_NAMES = frozenset({"sigmoid", "sigmoid_", "softmax", "hardsigmoid", "Sigmoid", "Softmax",
                        "Hardsigmoid", "Softmax2d"})
_NORM_FUNCTIONS = {"batch_norm": "BN", "group_norm": "GroupNorm", "layer_norm": "LayerNorm",
                   "instance_norm": "InstanceNorm"}
_POOL_NAMES = {"avg_pool2d": "avgpool", "adaptive_avg_pool2d": "avgpool",
               "max_pool2d": "maxpool", "adaptive_max_pool2d": "maxpool"}


def _pair(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _module_kind(module: nn.Module) -> tuple[str, str]:
    """(kind, label) of a library layer, labelled as the paper's figures do."""
    if isinstance(module, nn.Conv2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        return "conv", _conv_label(kernel, module.out_channels, stride, module.groups)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "bn", "BN"
    if isinstance(module, _NORMS):
        return "bn", type(module).__name__
    if isinstance(module, nn.ReLU):
        return "relu", "ReLU"
    if isinstance(module, _ACTIVATIONS):
        return "relu", type(module).__name__
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool"
        kernel, stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        name = "max" if kind == "maxpool" else "avg"
        return kind, f"{kernel}x{kernel} {name} pool" + (f", /{stride}" if stride > 1 else "")
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return ("avgpool" if isinstance(module, nn.AdaptiveAvgPool2d) else "maxpool"), "avg pool"
    if isinstance(module, nn.Linear):
        return "fc", f"fc {module.out_features}"
    if isinstance(module, nn.Flatten):
        return "flatten", "flatten"
    return "other", type(module).__name__


def _conv_label(kernel: int, channels: int, stride: int, groups: int) -> str:
    label = f"{kernel}x{kernel} conv, {channels}"
    label += f", /{stride}" if stride > 1 else ""
    return label + (f", {groups} groups" if groups > 1 else "")


def _function_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCTIONS
    return node.op == "call_method" and node.target in _ADD_METHODS


def _named_kind(name: str, args: tuple) -> tuple[str, str]:
    """(kind, label) of a function or method by its name, for fx's nodes and eager calls."""
    if name in _ADD_NAMES:
        return "add", "+"
    if name in _ACTIVATION_NAMES:
        return "relu", _ACTIVATION_NAMES[name]
    if name in _POOL_NAMES:
        kind = _POOL_NAMES[name]
        if name.startswith("adaptive"):
            return kind, "avg pool" if kind == "avgpool" else "max pool"
        kernel = _pair(args[1]) if len(args) > 1 else 0
        return kind, f"{kernel}x{kernel} {kind[:3]} pool"
    if name in _FLATTENING:
        return "flatten", "flatten"
    if name in _NORM_FUNCTIONS:
        return "bn", _NORM_FUNCTIONS[name]
    if name == "pad":
        return "zero_pad", "zero-pad"
    if name in ("getitem", "__getitem__"):
        return "other", "slice"
    if name == "cat":
        return "other", "concat"
    if name in ("mul", "__mul__", "__rmul__", "mul_", "__imul__"):
        return "other", "mul"
    return "other", name


def _function_kind(node: fx.Node, args: tuple) -> tuple[str, str]:
    if _is_add(node):
        return "add", "+"
    if node.target in _RELU_FUNCTIONS:
        return "relu", "ReLU"
    return _named_kind(_function_name(node), args)


def _weighted_call(name: str, args: tuple, kwargs: dict, shape: Shape,
                   parameters: list[torch.Tensor]) -> dict[str, Any]:
    """The fields of an op for `F.conv2d(x, self.weight)` or `F.linear(x, self.w, self.b)`
    whose weights are the model's own parameters: a weighted layer like nn.Conv2d or nn.Linear,
    its parameters and mult-adds counted the same way."""
    params = sum(p.numel() for p in parameters)
    if name == "conv2d" and len(args) > 1 and isinstance(args[1], torch.Tensor):
        weight = args[1]
        values = list(args[3:7]) + [None] * 4
        stride = _pair(kwargs.get("stride", values[0] if values[0] is not None else 1))
        groups = int(kwargs.get("groups", values[3] if values[3] is not None else 1))
        kernel = int(weight.shape[-1])
        return dict(kind="conv", label=_conv_label(kernel, int(weight.shape[0]), stride, groups),
                    params=params, mult_adds=params * shape[0] * math.prod(shape[2:]),
                    weighted=True, kernel=kernel, stride=stride, groups=groups,
                    bias=(len(args) > 2 and args[2] is not None) or
                    kwargs.get("bias") is not None)
    if name == "linear":
        return dict(kind="fc", label=f"fc {shape[-1]}", params=params,
                    mult_adds=params * math.prod(shape[:-1]), weighted=True)
    return dict(params=params, mult_adds=params * shape[0] if shape else 0)


# ----- tracing, one user module at a time -------------------------------------------------------


class _ModuleTracer(fx.Tracer):
    """Keeps every module whole except plain Sequentials, which it reads through. A module made
    inside `forward` (`nn.ReLU(inplace=True)(x)`) is no submodule fx can name: a library layer
    without weights becomes a call of that layer, anything else is followed into."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return not (isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward)

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        try:
            self.path_of_module(m)
        except NameError:
            if _is_library_layer(m) and not any(True for _ in m.parameters()):
                return self.create_proxy("call_function", _FreshLayer(m), args, kwargs)
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)


class _FreshLayer:
    """A library layer made inside `forward`, as the function fx records in its place."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.__name__ = type(module).__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)


def _is_library_layer(module: nn.Module) -> bool:
    name = type(module).__module__
    return name.startswith("torch.nn.") or name.startswith("torch.ao.nn.")


def _is_whole_layer(module: nn.Module, leaves: tuple[type[nn.Module], ...]) -> bool:
    """A library layer (a container aside) or one of the caller's leaves: one op, not opened."""
    return isinstance(module, leaves) or (_is_library_layer(module) and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)))


def _is_script(module: nn.Module) -> bool:
    return isinstance(module, torch.jit.ScriptModule)


def _frozen(value: Any) -> Any:
    """A hashable stand-in for an attribute's value: plain values as they are, lists, tuples,
    sets and dicts of them as tuples, anything else (a tensor, a lambda, a module) by identity,
    so two modules holding different objects are never mistaken for each other."""
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(_frozen(v)) for v in value)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(k), _frozen(v)) for k, v in value.items())))
    return ("object", id(value))


@functools.lru_cache(maxsize=None)
def _names_in_code(cls: type) -> frozenset[str]:
    """Every attribute read and string constant in the methods of `cls` and its user-defined
    bases (`__init__` aside: it has run before `forward`), and in the functions of the files
    that define them (helpers such as `def shortcut(block, x)`).

    An attribute that no method reads (ResNet blocks often carry a stage or an index for
    bookkeeping) cannot change what `forward` computes, so it stays out of the module's key and
    identical blocks share one trace.
    """
    names: set[str] = set()
    classes = [k for k in cls.__mro__
               if k.__module__.split(".")[0] not in ("torch", "builtins")]
    members = [value for klass in classes for value in vars(klass).values()]
    functions = [f for value in members for f in (
        (value.fget, value.fset) if isinstance(value, property)
        else (getattr(value, "__func__", value),)) if inspect.isfunction(f)]
    codes = [f.__code__ for f in functions if f.__name__ != "__init__"]
    files = {id(f.__globals__): f.__globals__ for f in functions}  # imported or not
    for namespace in files.values():
        codes += [value.__code__ for value in namespace.values() if inspect.isfunction(value)
                  and value.__globals__ is namespace]
    while codes:
        code = codes.pop()
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                names.add(instruction.argval)
        for constant in code.co_consts:
            if isinstance(constant, str):
                names.add(constant)
            elif hasattr(constant, "co_names"):
                codes.append(constant)
    return frozenset(names)


def _module_key(module: nn.Module) -> tuple:
    """Everything a module's `forward` can depend on: class, submodules and the attributes its
    code reads (see `_frozen` for values that are not plain)."""
    read = _names_in_code(type(module))
    attributes = tuple(sorted(
        (name, _frozen(value))
        for name, value in vars(module).items() if not name.startswith("_") and name in read
    ))
    try:
        text = repr(module)
    except Exception:  # noqa: BLE001 - a broken extra_repr: the module keys by identity
        text = f"module {id(module)}"
    return type(module), text, attributes


def _where(error: BaseException) -> str:
    """The user's line that stopped tracing, e.g. 'model.py line 12: if x.sum() > 0:'."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "site-packages" not in f.filename and "/torch/" not in f.filename
              and "/inspector/" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({Path(frame.filename).name} line {frame.lineno}: {(frame.line or '').strip()})"


def _defaults_not_given(module: nn.Module, args: tuple, kwargs: dict) -> dict[str, Any]:
    """`forward`'s parameters with defaults that the call does not give: traced as constants."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    given = {p.name for p in parameters[:len(args)]} | set(kwargs)
    return {p.name: p.default for p in parameters
            if p.name not in given and p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _trace(module: nn.Module, concrete: dict[str, Any]) -> fx.Graph:
    """fx's graph of `module`, or the exception that stopped it (the caller falls back)."""
    return _ModuleTracer().trace(module, concrete_args=concrete or None)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


def _meta_like(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")


def _meta_state(module: nn.Module) -> dict[str, torch.Tensor]:
    if not module._modules:  # a single layer: its own tensors, without walking a tree
        tensors = [*module._parameters.items(), *module._buffers.items()]
    else:
        tensors = [*module.named_parameters(), *module.named_buffers()]
    return {name: _meta_like(t) for name, t in tensors if t is not None}


def _run_layer(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """A library layer's output on meta tensors, without touching its own weights."""
    x = args[0] if args else None
    if isinstance(module, _SHAPE_KEEPING_MODULES) and isinstance(x, torch.Tensor) \
            and not isinstance(module, (nn.Softmax, nn.PReLU)):
        return x
    if isinstance(module, nn.Linear) and isinstance(x, torch.Tensor) \
            and x.shape[-1] == module.in_features:
        return x.new_empty((*x.shape[:-1], module.out_features))
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) \
            and isinstance(x, torch.Tensor) and x.dim() == 4 and not module.__dict__.get(
                "return_indices"):
        return _adaptive(x, module.output_size)
    shape = _window_shape(module, x) if len(args) == 1 and not kwargs else None
    if shape is not None:
        return x.new_empty(shape)
    return torch.func.functional_call(module, _meta_state(module), args, kwargs)


def _adaptive(x: torch.Tensor, output_size: Any) -> torch.Tensor:
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) \
        else (output_size, output_size)
    size = tuple(d if d is not None else x.shape[2 + i] for i, d in enumerate(size))
    return x.new_empty((*x.shape[:2], *size))


def _window(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
            ceil: bool = False) -> int:
    """PyTorch's output size of a sliding window (conv or pool), ceil mode included."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _two(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def _window_shape(module: nn.Module, x: Any) -> Shape | None:
    """A 2-D conv's or pool's output shape by arithmetic, or None to run its meta kernel.

    Why: the meta kernels check their arguments with `torch._check`, whose first call imports
    sympy (about half a second of a command's start-up); the formula is PyTorch's own."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        return None
    if isinstance(module, nn.Conv2d) and type(module).forward is nn.Conv2d.forward:
        parts = [_two(module.kernel_size), _two(module.stride), _two(module.padding),
                 _two(module.dilation)]
        if any(p is None for p in parts) or x.shape[1] != module.in_channels:
            return None
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = parts  # type: ignore[misc]
        return (x.shape[0], module.out_channels, _window(x.shape[2], kh, sh, ph, dh),
                _window(x.shape[3], kw, sw, pw, dw))
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and \
            type(module).forward in (nn.MaxPool2d.forward, nn.AvgPool2d.forward) and \
            not getattr(module, "return_indices", False):
        kernel, stride = _two(module.kernel_size), _two(module.stride or module.kernel_size)
        padding = _two(module.padding)
        dilation = _two(getattr(module, "dilation", 1))
        if None in (kernel, stride, padding, dilation):
            return None
        ceil = bool(module.ceil_mode)
        return (*x.shape[:2], _window(x.shape[2], kernel[0], stride[0], padding[0], dilation[0],
                                      ceil),
                _window(x.shape[3], kernel[1], stride[1], padding[1], dilation[1], ceil))
    return None


def _run_function(node: fx.Node, args: tuple, kwargs: dict) -> Any:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if _is_add(node) and len(tensors) == 2 and tensors[0].shape == tensors[1].shape:
        return tensors[0].new_empty(tensors[0].shape)
    if node.op == "call_function":
        if isinstance(node.target, _FreshLayer):  # a layer made inside forward
            return _run_layer(node.target.module, args, kwargs)
        if node.target in _SHAPE_KEEPING_FUNCTIONS and tensors:
            return tensors[0]
        if node.target is F.adaptive_avg_pool2d and tensors \
                and tensors[0].dim() == 4 and len(args) == 2 and not kwargs:
            return _adaptive(tensors[0], args[1])
        if node.target is F.avg_pool2d and tensors and tensors[0].dim() == 4:
            shape = _window_shape(nn.AvgPool2d(*args[1:], **kwargs), tensors[0])
            if shape is not None:
                return tensors[0].new_empty(shape)
        return node.target(*args, **kwargs)
    if node.target in _SHAPE_KEEPING_METHODS:
        return args[0]
    return getattr(args[0], node.target)(*args[1:], **kwargs)


def _cost(module: nn.Module, shape: Shape) -> tuple[int, int]:
    """Parameters and mult-adds as torchinfo counts them: convs pay per output pixel, linear
    layers per output vector (per token on a sequence)."""
    params = sum(p.numel() for p in module.parameters())
    if isinstance(module, nn.modules.conv._ConvNd):
        return params, params * shape[0] * math.prod(shape[2:])
    if isinstance(module, nn.Linear):
        return params, params * math.prod(shape[:-1])
    return params, params * shape[0]


def _windows(conv: nn.modules.conv._ConvNd) -> tuple[Window, ...]:
    """The conv's window per spatial axis; padding="same" puts an odd zero on the end, as
    PyTorch does."""
    windows = []
    for axis, (kernel, stride, dilation) in enumerate(
            zip(conv.kernel_size, conv.stride, conv.dilation)):
        if conv.padding == "valid":
            before = after = 0
        elif conv.padding == "same":
            before = dilation * (kernel - 1) // 2
            after = dilation * (kernel - 1) - before
        else:
            before = after = int(conv.padding[axis])
        windows.append(Window(int(kernel), int(stride), int(dilation), before, after,
                              conv.padding_mode == "zeros"))
    return tuple(windows)


def _geometry(module: nn.Module) -> dict[str, Any]:
    if isinstance(module, nn.Linear):
        return {"bias": module.bias is not None}
    if not isinstance(module, (nn.modules.conv._ConvNd, nn.MaxPool2d, nn.AvgPool2d)):
        return {}
    stride = module.stride or module.kernel_size
    windows = _windows(module) if isinstance(module, nn.modules.conv._ConvNd) \
        and not module.transposed else ()
    return {"kernel": _pair(module.kernel_size), "stride": _pair(stride),
            "groups": getattr(module, "groups", None),
            "bias": getattr(module, "bias", None) is not None, "windows": windows}


def _layer_op(op_id: str, module: nn.Module, value: Any, inputs: tuple[str, ...],
              module_path: str | None) -> Op | None:
    """The op of one library layer's call, or None when it returns no tensor."""
    shape = _shape_of(value)
    if shape is None:
        return None
    kind, label = _module_kind(module)
    params, mult_adds = _cost(module, shape)
    return Op(op_id, kind, label, type(module).__name__, module_path, inputs, shape, params,
              mult_adds, kind in ("conv", "fc") and params > 0, **_geometry(module))


@dataclass
class _Template:
    """One user module's ops for one input signature; ids are local, inputs may be "$i"."""

    ops: list[Op]
    output_ref: Any  # an op id, "$i", or a tuple of those
    output_value: Any
    #: Why parts took another way: a sentence (an opaque step), or (type, fx's reason) for a
    #: module recorded by the fallback, which the caller completes with where it sits.
    notes: list[Any] = field(default_factory=list)


def _refs_in(value: Any, refs: dict[fx.Node, Any]) -> list[str]:
    found: list[str] = []
    for node in _nodes_in(value):
        ref = refs.get(node)
        for item in (ref if isinstance(ref, tuple) else (ref,)):
            if isinstance(item, str) and item not in found:
                found.append(item)
    return found


def _nodes_in(value: Any) -> list[fx.Node]:
    nodes: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: nodes.append(n) or n)
    return nodes


def _signature(values: Iterable[Any]) -> tuple:
    return tuple((tuple(v.shape), v.dtype) if isinstance(v, torch.Tensor) else repr(v)
                 for v in values)


def _tensors_in(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


def _owner(parameters: list[torch.Tensor], owners: dict[int, str]) -> str:
    """The module whose parameters a function op uses (a layer's forward called directly, or
    `F.conv2d(x, self.weight)`), when they are one module's: the op ran inside it."""
    paths = {owners.get(id(p), "") for p in parameters}
    return paths.pop() if len(paths) == 1 else ""


def _distinct(tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Each tensor once, by identity (a weight read twice is one set of parameters)."""
    return list({id(t): t for t in tensors}.values())


def _reads_values(error: BaseException) -> bool:
    """Whether running on meta tensors failed because the code reads a tensor's values."""
    text = str(error)
    return isinstance(error, (RuntimeError, NotImplementedError)) and (
        "meta" in text and any(w in text for w in ("item()", "Cannot", "data-dependent",
                                                   "bool", "nonzero", "value")))


class _Expander:
    """Flattens a model into ops, tracing each distinct user module once.

    Modules of the `leaves` types stay one op each, as library layers do: a caller that knows
    a module of its own (option A's zero-padding shortcut) shows it as the one step it is, and
    one that lists `nn.Identity` keeps identities as ops (a layer table row each, as torchinfo).
    """

    def __init__(self, leaves: tuple[type[nn.Module], ...] = ()) -> None:
        self.graphs: dict[tuple, fx.Graph | BaseException] = {}
        self.templates: dict[tuple, _Template] = {}
        self.leaves = leaves
        self.notes: dict[str, None] = {}  # in order, each once
        self.recorded: dict[tuple[str, str], list[str]] = {}  # (type, reason) -> paths

    def expand(self, module: nn.Module, path: str, args: tuple, kwargs: dict) -> _Template:
        concrete = _defaults_not_given(module, args, kwargs)
        key = (_module_key(module), tuple(concrete))
        signature = (key, _signature(args), _signature(kwargs.values()), tuple(kwargs))
        if signature in self.templates:
            template = self.templates[signature]
        else:
            if key not in self.graphs:
                try:
                    self.graphs[key] = _trace(module, concrete)
                except Exception as error:  # noqa: BLE001 - the fallback takes over
                    self.graphs[key] = error
            graph = self.graphs[key]
            if isinstance(graph, fx.Graph):
                template = self._run(module, path, graph, args, kwargs)
            else:
                template = _record(module, path, graph, args, kwargs, self.leaves)
            self.templates[signature] = template
        for note in template.notes:
            if isinstance(note, tuple):
                self.recorded.setdefault(note, []).append(path or "the model itself")
            else:
                self.notes[note] = None
        return template

    def sentences(self) -> tuple[str, ...]:
        """The notes, modules recorded by the fallback once per kind and reason."""
        recorded = []
        for (kind, reason), paths in self.recorded.items():
            where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3
                                            else "")
            recorded.append(f"{kind} ({where}) could not be traced by torch.fx ({reason}); its "
                            f"ops were recorded by running it once on meta tensors instead.")
        return (*recorded, *self.notes)

    def _run(self, root: nn.Module, path: str, graph: fx.Graph, args: tuple,
             kwargs: dict) -> _Template:
        values: dict[fx.Node, Any] = {}
        refs: dict[fx.Node, Any] = {}
        #: Nodes that are parameters, or computed from parameters alone (timm's weight
        #: standardisation, a class token expanded): the parameters they stand for.
        parameters: dict[fx.Node, list[torch.Tensor]] = {}
        owners: dict[int, str] = {}  # id(parameter) -> path of the module holding it
        ops: list[Op] = []
        notes: list[str] = []
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for node in graph.nodes:
            if node.op == "placeholder":
                index = placeholders.index(node)
                if index < len(args):
                    values[node], refs[node] = args[index], f"${index}"
                elif node.target in kwargs:
                    values[node], refs[node] = kwargs[node.target], f"${node.target}"
                else:
                    values[node] = node.args[0] if node.args else None
                continue
            if node.op == "output":
                return _Template(ops, _ref_tree(node.args[0], refs),
                                 fx.node.map_arg(node.args[0], values.__getitem__), notes)
            if node.op == "get_attr":
                attribute = _get_attr(root, node.target)
                values[node] = _meta_like(attribute) if isinstance(attribute, torch.Tensor) \
                    else attribute
                if isinstance(attribute, nn.Parameter):
                    parameters[node] = [attribute]
                    owners[id(attribute)] = node.target.rpartition(".")[0]
                continue
            node_args = fx.node.map_arg(node.args, values.__getitem__)
            node_kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
            inputs = tuple(_refs_in((node.args, node.kwargs), refs))
            if node.op == "call_module":
                module = root.get_submodule(node.target)
                if _is_script(module):
                    op, value = self._opaque(node, module, path, node_args, node_kwargs, inputs)
                    ops.append(op)
                    notes.append(op.opaque)
                    values[node], refs[node] = value, op.id
                    continue
                if not _is_library_layer(module) and not isinstance(module, self.leaves):
                    self._inline(node, module, _join(path, node.target), node_args, node_kwargs,
                                 values, refs, ops)
                    continue
                if isinstance(module, nn.Identity) and node.args \
                        and not isinstance(module, self.leaves):
                    # A placeholder (timm's stride-1 avg-down slot), not a layer: it passes on
                    # its input's tensor, so the shortcut reads as the paper draws it.
                    values[node], refs[node] = node_args[0], refs.get(node.args[0])
                    continue
                value = self._call(node, path, lambda: _run_layer(module, node_args, node_kwargs))
                op = _layer_op(node.name, module, value, inputs, node.target)
            elif node.op == "call_function" and isinstance(node.target, _FreshLayer):
                layer = node.target.module  # made inside forward: a call of that layer
                value = self._call(node, path, lambda: _run_layer(layer, node_args, node_kwargs))
                op = _layer_op(node.name, layer, value, inputs, None)
            else:
                value = self._call(node, path, lambda: _run_function(node, node_args, node_kwargs))
                shape = _shape_of(value)
                if shape is None and node.target is not operator.getitem:
                    values[node] = value  # sizes, shapes and other plain values carry no data
                    continue
                kind, label = _function_kind(node, node_args)
                name = _function_name(node)
                own = _distinct([p for n in _nodes_in((node.args, node.kwargs))
                                 for p in parameters.get(n, ())])
                if own and not inputs:  # work on weights, not on the input: part of a layer
                    values[node], parameters[node] = value, own
                    continue
                fields = dict(kind=kind, label=label, params=0, mult_adds=0, weighted=False)
                if own and shape is not None:
                    fields.update(_weighted_call(name, node_args, node_kwargs, shape, own))
                op = None if shape is None else Op(node.name, type=name, module=None,
                                                   inputs=inputs, shape=shape,
                                                   scope=_owner(own, owners), **fields)
            values[node] = value
            if node.target is operator.getitem and isinstance(refs.get(node.args[0]), tuple):
                refs[node] = refs[node.args[0]][node.args[1]]  # an element of a module's tuple
                continue
            if op is None:
                refs[node] = inputs[0] if inputs else None
                continue
            ops.append(op)
            refs[node] = node.name
        raise ModelError("The traced graph has no output.")

    def _opaque(self, node: fx.Node, module: nn.Module, path: str, args: tuple, kwargs: dict,
                inputs: tuple[str, ...]) -> tuple[Op, Any]:
        """A TorchScript module as one op: it runs outside Python, so nothing inside is seen."""
        value = self._call(node, path, lambda: _run_script(module, args, kwargs))
        shape, path = _shape_of(value), _join(path, node.target)
        if shape is None:
            raise ModelError(f"The TorchScript module at {path} returns no tensor.")
        params = sum(p.numel() for p in module.parameters())
        name = getattr(module, "original_name", type(module).__name__)
        reason = (f"{path} ({name}) is TorchScript, which runs outside Python: it is one opaque "
                  f"step here, its {params:,} parameters counted, its mult-adds and layers not.")
        return Op(node.name, "other", f"{name} (TorchScript)", name, node.target, inputs, shape,
                  params, 0, False, opaque=reason), value

    def _call(self, node: fx.Node, path: str, run: Callable[[], Any]) -> Any:
        try:
            with torch.device("meta"), torch.no_grad():
                return run()
        except ModelError:
            raise
        except Exception as error:  # noqa: BLE001 - the model's own message, in a sentence
            where = _join(path, str(node.target) if node.op == "call_module" else node.name)
            raise ModelError(f"The model rejects this input at {where}: {_one_line(error)}") \
                from None

    def _inline(self, node: fx.Node, module: nn.Module, path: str, args: tuple, kwargs: dict,
                values: dict, refs: dict, ops: list[Op]) -> None:
        template = self.expand(module, path, args, kwargs)
        mapping: dict[str, Any] = {}
        for index, arg in enumerate(node.args):
            mapping[f"${index}"] = refs.get(arg) if isinstance(arg, fx.Node) else None
        for name, arg in node.kwargs.items():
            mapping[f"${name}"] = refs.get(arg) if isinstance(arg, fx.Node) else None
        prefix = node.name

        def rename(ref: Any) -> Any:
            if isinstance(ref, tuple):
                return tuple(rename(r) for r in ref)
            if not isinstance(ref, str):
                return ref
            return mapping.get(ref) if ref.startswith("$") else f"{prefix}.{ref}"

        for op in template.ops:
            inputs = tuple(r for r in (rename(i) for i in op.inputs) if isinstance(r, str))
            ops.append(replace(op, id=f"{prefix}.{op.id}", inputs=inputs,
                               module=_join(node.target, op.module) if op.module else None,
                               scope=_join(node.target, op.scope) if op.scope else node.target))
        refs[node] = rename(template.output_ref)
        values[node] = template.output_value


def _run_script(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """A TorchScript module's output: on the meta input when its weights are on meta (a model
    built under `torch.device("meta")`), else on a zero input of that shape on the CPU, without
    gradients (its weights cannot be swapped for meta ones)."""
    weights = [*module.parameters(), *module.buffers()]
    if not weights or all(t.device.type == "meta" for t in weights):
        return module(*args, **kwargs)
    with torch.device("cpu"):
        real = [torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor) else a
                for a in args]
        out = module(*real, **kwargs)
    return fx.node.map_aggregate(out, lambda v: _meta_like(v) if isinstance(v, torch.Tensor)
                                 else v)


# ----- the fallback: record a module's eager run, TorchLens's way --------------------------------

#: Method and property names that read a tensor's metadata and make no tensor worth an op.
_BOOKKEEPING = frozenset({"__get__", "size", "dim", "numel", "__len__", "__format__",
                          "__repr__", "type", "is_floating_point", "element_size", "stride",
                          "__setitem__", "data_ptr", "is_contiguous"})


class _Recorder(TorchFunctionMode):
    """Records every torch function an eager run calls, with the recorded ops whose tensors it
    reads; a library layer is one op (its inner calls are not recorded while it runs)."""

    def __init__(self, parameters: dict[int, list[torch.Tensor]], names: dict[int, str],
                 leaves: tuple[type[nn.Module], ...]) -> None:
        super().__init__()
        self.ops: list[Op] = []
        self.ref: dict[int, str] = {}  # id(tensor) -> op id, or "$i" for an input
        self.kept: list[Any] = []  # every tensor seen stays alive, so its id stays its own
        self.parameters = parameters  # id -> the meta parameters a tensor stands for
        self.names = names  # id(module) -> its path in the recorded module
        self.leaves = leaves
        self.inside = 0  # > 0 while a library layer runs
        self.owners: dict[int, str] = {}  # id(meta parameter) -> path of its module
        self.scopes: list[str] = [""]

    def mark(self, value: Any, ref: str) -> None:
        for tensor in _tensors_in(value):
            self.ref[id(tensor)] = ref
            self.kept.append(tensor)

    def inputs_of(self, value: Any) -> tuple[str, ...]:
        refs = [self.ref.get(id(t)) for t in _tensors_in(value)]
        return tuple(dict.fromkeys(r for r in refs if r is not None))

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        if self.inside or name in _BOOKKEEPING:
            return out
        shape = _shape_of(out)
        if shape is None:
            return out
        inputs = self.inputs_of((args, kwargs))
        own = _distinct([p for t in _tensors_in((args, kwargs))
                         for p in self.parameters.get(id(t), ())])
        if own and not inputs:  # work on weights alone: part of the layer that uses them
            for tensor in _tensors_in(out):
                self.parameters[id(tensor)] = own
                self.kept.append(tensor)
            return out
        if name in ("__getitem__", "getitem") and not inputs:
            return out
        kind, label = _named_kind(name, args)
        fields = dict(kind=kind, label=label, params=0, mult_adds=0, weighted=False)
        if own:
            fields.update(_weighted_call(name, args, kwargs, shape, own))
        op = Op(f"{name.strip('_')}_{len(self.ops)}", type=name.strip("_"), module=None,
                inputs=inputs, shape=shape, scope=_owner(own, self.owners) or self.scopes[-1],
                **fields)
        self.ops.append(op)
        self.mark(out, op.id)
        if isinstance(out, (tuple, list)) and len(out) > 1:  # split, chunk: one slice each,
            for part in out:  # as fx's getitem nodes, so a part reads as a part
                if isinstance(part, torch.Tensor):
                    piece = Op(f"getitem_{len(self.ops)}", "other", "slice", "getitem", None,
                               (op.id,), tuple(part.shape), 0, 0, False,
                               scope=self.scopes[-1])
                    self.ops.append(piece)
                    self.mark(part, piece.id)
        return out

    def before(self, module: nn.Module, args: tuple) -> None:
        if self.inside:
            self.inside += 1
            return
        path = self.names.get(id(module), "")
        if _is_whole_layer(module, self.leaves):
            self.inside = 1
            self.pending = (module, path, self.inputs_of(args))
        else:
            self.scopes.append(path)

    def after(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.inside > 1:
            self.inside -= 1
            return
        if self.inside == 1:
            self.inside = 0
            layer, path, inputs = self.pending
            if isinstance(layer, nn.Identity) and inputs and not isinstance(layer, self.leaves):
                return  # an empty slot passes its input's tensor on, as in the fast path
            op = _layer_op(f"{type(layer).__name__}_{len(self.ops)}", layer, output, inputs,
                           path or None)
            if op is not None:
                self.ops.append(replace(op, scope=self.scopes[-1]))
                self.mark(output, op.id)
            return
        if len(self.scopes) > 1:
            self.scopes.pop()


def _record(root: nn.Module, path: str, failure: BaseException, args: tuple, kwargs: dict,
            leaves: tuple[type[nn.Module], ...]) -> _Template:
    """`root`'s ops from one eager run on meta tensors, for a module fx could not trace."""
    state = _meta_state(root)
    own = {name for name, _ in root.named_parameters()}
    parameters = {id(t): [t] for name, t in state.items() if name in own}
    owners = {id(t): name.rpartition(".")[0] for name, t in state.items() if name in own}
    modules = dict(root.named_modules())
    recorder = _Recorder(parameters, {id(m): n for n, m in modules.items() if n}, leaves)
    recorder.owners = owners
    handles = []
    for name, module in modules.items():
        if name and not _is_script(module):
            handles.append(module.register_forward_pre_hook(recorder.before))
            handles.append(module.register_forward_hook(recorder.after))
    for index, arg in enumerate(args):
        recorder.mark(arg, f"${index}")
    for key, arg in kwargs.items():
        recorder.mark(arg, f"${key}")
    name = f"{type(root).__name__}" + (f" at {path}" if path else "")
    try:
        with torch.device("meta"), torch.no_grad(), recorder:
            output = torch.func.functional_call(root, state, args, kwargs)
    except Exception as error:  # noqa: BLE001 - why neither fx nor a run on meta works
        if _reads_values(error):
            raise ModelError(
                f"torch.fx cannot trace {name}{_where(error)}, and it cannot run on meta "
                f"tensors either: its forward reads tensor values (control flow that depends "
                f"on the data), which an analysis without real data cannot follow. Move the "
                f"condition to __init__ or write it with tensor ops.") from None
        raise ModelError(f"The model rejects this input at {name}{_where(error)}: "
                         f"{_one_line(error)} (torch.fx could not trace it either: "
                         f"{_one_line(failure)[:150]})") from None
    finally:
        for handle in handles:
            handle.remove()
    reference = recorder.inputs_of(output)
    output_ref = reference[0] if len(reference) == 1 else (reference or None)
    if isinstance(output, (tuple, list)):
        output_ref = tuple(recorder.ref.get(id(v)) for v in output)
    reason = _one_line(failure).split(". ")[0][:160]
    return _Template(recorder.ops, output_ref, output, [(type(root).__name__, reason)])


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _get_attr(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _shape_of(value: Any) -> Shape | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return tuple(value[0].shape)
    return None


def _returns_tensor(value: Any) -> bool:
    """Whether a model's output holds a tensor anywhere (a tensor, a tuple, a dict of them)."""
    return bool(_tensors_in(value))


def _ref_tree(value: Any, refs: dict[fx.Node, Any]) -> Any:
    if isinstance(value, fx.Node):
        return refs.get(value)
    if isinstance(value, (tuple, list)):
        return tuple(_ref_tree(v, refs) for v in value)
    return None


def _path_ids(ops: list[Op]) -> list[Op]:
    """The ops with module paths for ids ("layer2.0.conv1"; a function op: its module's path
    and its own name, "layer2.0.add"), so ids read like the model's `named_modules`.

    A module called twice would give two ops one path; then the ops keep their traced ids
    (chains of fx node names, unique by construction).
    """
    paths = {op.id: op.module or _join(op.scope, op.id.rpartition(".")[2]) for op in ops}
    if len(set(paths.values())) < len(paths) or "input" in paths.values():
        return ops
    paths["input"] = "input"
    return [replace(op, id=paths[op.id], inputs=tuple(paths[i] for i in op.inputs))
            for op in ops]


def _check_inputs(model: nn.Module) -> None:
    """A forward that needs more than the one image tensor cannot run on it: say so."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(required) > 1:
        raise ModelError(f"{type(model).__name__}.forward needs {len(required)} inputs "
                         f"({', '.join(required)}); this tool gives a model one image tensor. "
                         f"Wrap it in a module whose forward takes only the image.")


@dataclass(frozen=True)
class Traced:
    """A model's ops and the sentences that say how parts of it were reached."""

    ops: list[Op]
    notes: tuple[str, ...]


def trace_model(model: nn.Module, x: torch.Tensor,
                leaves: tuple[type[nn.Module], ...] = ()) -> Traced:
    """Every op of `model` on the meta input `x`, in execution order (the input is "input"),
    with notes on modules recorded by the fallback or kept opaque.

    Modules of the `leaves` types are kept whole (see `_Expander`). The model runs in eval mode
    (batch norm on a batch of one); every module's mode is restored.
    """
    _check_inputs(model)
    expander = _Expander(leaves)
    with TRACE_GATE.trace():
        modes = [(module, module.training) for module in model.modules()]
        model.eval()
        try:
            if _is_script(model):
                raise ModelError("The whole model is TorchScript, which runs outside Python: "
                                 "there is nothing to look into. Give the Python module it was "
                                 "made from.")
            template = expander.expand(model, "", (x,), {})
        finally:
            for module, training in modes:
                module.training = training
    if not template.ops or not _returns_tensor(template.output_value):
        raise ModelError("The model returns no tensor: nothing to analyse.")
    ops = _path_ids([replace(op, inputs=tuple("input" if i == "$0" else i for i in op.inputs))
                     for op in template.ops])
    return Traced(ops, expander.sentences())


def flatten_model(model: nn.Module, x: torch.Tensor,
                  leaves: tuple[type[nn.Module], ...] = ()) -> list[Op]:
    """`trace_model`'s ops alone."""
    return trace_model(model, x, leaves).ops

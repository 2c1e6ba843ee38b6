"""Flatten any `nn.Module` into ops with shapes and costs, using torch.fx and the meta device.

Why this way:
- Shapes come from running each op on the `meta` device. The user's weights are never copied or
  changed: a layer runs through `torch.func.functional_call` with meta tensors of its parameters'
  shapes in place of its own, so a 100 MB model costs no memory here.
- Every user-defined module is traced on its own and its result (ops, shapes, costs) is kept per
  (type, repr, plain attributes, input shapes): ResNet-152's 50 blocks are 8 distinct ones.
- Layers whose output shape is fixed by their definition (norms, activations, equal-shape sums)
  skip their meta kernels, which are slow Python decompositions.
"""

from __future__ import annotations

import dis
import functools
import inspect
import math
import operator
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import fx, nn

Shape = tuple[int, ...]


class ModelError(ValueError):
    """A model that cannot be analysed, with a sentence a user can act on."""


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


_SHAPE_KEEPING_MODULES = (nn.modules.batchnorm._NormBase, nn.ReLU, nn.ReLU6, nn.LeakyReLU,
                          nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout,
                          nn.Dropout2d, nn.GroupNorm, nn.Hardswish)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")
_RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_, F.relu_)
_SHAPE_KEEPING_FUNCTIONS = (*_RELU_FUNCTIONS, torch.sigmoid, F.gelu, F.silu, F.dropout)
_SHAPE_KEEPING_METHODS = ("relu", "relu_", "clone", "contiguous", "sigmoid", "detach")
_FLATTENING = ("flatten", "view", "reshape", "squeeze")
_POOL_FUNCTIONS = {F.avg_pool2d: "avgpool", F.adaptive_avg_pool2d: "avgpool",
                   F.max_pool2d: "maxpool", F.adaptive_max_pool2d: "maxpool"}


def _pair(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _module_kind(module: nn.Module) -> tuple[str, str]:
    """(kind, label) of a library layer, labelled as the paper's figures do."""
    if isinstance(module, nn.Conv2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        label = f"{kernel}x{kernel} conv, {module.out_channels}"
        label += f", /{stride}" if stride > 1 else ""
        label += f", {module.groups} groups" if module.groups > 1 else ""
        return "conv", label
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return "bn", "BN"
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return "relu", "ReLU"
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


def _function_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCTIONS
    return node.op == "call_method" and node.target in _ADD_METHODS


def _function_kind(node: fx.Node, args: tuple) -> tuple[str, str]:
    name = _function_name(node)
    if _is_add(node):
        return "add", "+"
    if node.target in _RELU_FUNCTIONS or name in ("relu", "relu_"):
        return "relu", "ReLU"
    if node.target in _POOL_FUNCTIONS:
        kind = _POOL_FUNCTIONS[node.target]
        if name.startswith("adaptive"):
            return kind, "avg pool" if kind == "avgpool" else "max pool"
        kernel = _pair(args[1]) if len(args) > 1 else 0
        return kind, f"{kernel}x{kernel} {kind[:3]} pool"
    if name in _FLATTENING:
        return "flatten", "flatten"
    if name == "pad":
        return "zero_pad", "zero-pad"
    if name == "getitem":
        return "other", "slice"
    if name == "cat":
        return "other", "concat"
    return "other", name


# ----- tracing, one user module at a time -------------------------------------------------------


class _ModuleTracer(fx.Tracer):
    """Keeps every module whole except plain Sequentials, which it reads through."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return not (isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward)


def _is_library_layer(module: nn.Module) -> bool:
    name = type(module).__module__
    return name.startswith("torch.nn.") or name.startswith("torch.ao.nn.")


def _plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return isinstance(value, (bool, int, float, str, type(None)))


def _hashable(value: Any) -> Any:
    """A plain value as a key: lists (e.g. a block's `[[3, 16], [3, 16]]` plan) become tuples."""
    return tuple(_hashable(v) for v in value) if isinstance(value, (tuple, list)) else value


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
    code reads.

    Attributes that are not plain values (a lambda, a tensor) are keyed by identity, so two
    modules holding different lambdas are never mistaken for each other.
    """
    read = _names_in_code(type(module))
    attributes = tuple(sorted(
        (name, _hashable(value) if _plain(value) else ("object", id(value)))
        for name, value in vars(module).items() if not name.startswith("_") and name in read
    ))
    return type(module), repr(module), attributes


def _where(error: BaseException) -> str:
    """The user's line that stopped tracing, e.g. 'model.py line 12: if x.sum() > 0:'."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "site-packages" not in f.filename and "/torch/" not in f.filename
              and "/inspector/" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({Path(frame.filename).name} line {frame.lineno}: {(frame.line or '').strip()})"


def _trace(module: nn.Module, path: str) -> fx.Graph:
    try:
        return _ModuleTracer().trace(module)
    except Exception as error:  # noqa: BLE001 - any tracing failure becomes one sentence
        what = " ".join(str(error).split())[:300]
        name = f"{type(module).__name__}" + (f" at {path}" if path else "")
        raise ModelError(
            f"torch.fx cannot trace {name}{_where(error)}: {what}. Control flow that depends on "
            f"tensor values or shapes cannot be traced; move it to __init__ or write it with "
            f"tensor ops."
        ) from None


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
    if isinstance(module, _SHAPE_KEEPING_MODULES) and isinstance(x, torch.Tensor):
        return x
    if isinstance(module, nn.Linear) and isinstance(x, torch.Tensor) \
            and x.shape[-1] == module.in_features:
        return x.new_empty((*x.shape[:-1], module.out_features))
    if isinstance(module, nn.AdaptiveAvgPool2d) and isinstance(x, torch.Tensor) and x.dim() == 4:
        size = module.output_size
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        size = tuple(d if d is not None else x.shape[2 + i] for i, d in enumerate(size))
        return x.new_empty((*x.shape[:2], *size))
    return torch.func.functional_call(module, _meta_state(module), args, kwargs)


def _run_function(node: fx.Node, args: tuple, kwargs: dict) -> Any:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if _is_add(node) and len(tensors) == 2 and tensors[0].shape == tensors[1].shape:
        return tensors[0].new_empty(tensors[0].shape)
    if node.op == "call_function":
        if node.target in _SHAPE_KEEPING_FUNCTIONS and tensors:
            return tensors[0]
        return node.target(*args, **kwargs)
    if node.target in _SHAPE_KEEPING_METHODS:
        return args[0]
    return getattr(args[0], node.target)(*args[1:], **kwargs)


def _cost(module: nn.Module, shape: Shape) -> tuple[int, int]:
    """Parameters and mult-adds as torchinfo counts them: convs pay per output pixel."""
    params = sum(p.numel() for p in module.parameters())
    if isinstance(module, nn.modules.conv._ConvNd):
        return params, params * shape[0] * math.prod(shape[2:])
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


@dataclass
class _Template:
    """One user module's ops for one input signature; ids are local, inputs may be "$i"."""

    ops: list[Op]
    output_ref: Any  # an op id, "$i", or a tuple of those
    output_value: Any


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


class _Expander:
    """Flattens a model into ops, tracing each distinct user module once.

    Modules of the `leaves` types stay one op each, as library layers do: a caller that knows
    a module of its own (option A's zero-padding shortcut) shows it as the one step it is, and
    one that lists `nn.Identity` keeps identities as ops (a layer table row each, as torchinfo).
    """

    def __init__(self, leaves: tuple[type[nn.Module], ...] = ()) -> None:
        self.graphs: dict[tuple, fx.Graph] = {}
        self.templates: dict[tuple, _Template] = {}
        self.leaves = leaves

    def expand(self, module: nn.Module, path: str, args: tuple, kwargs: dict) -> _Template:
        key = _module_key(module)
        if key not in self.graphs:
            self.graphs[key] = _trace(module, path)
        signature = (key, _signature(args), _signature(kwargs.values()), tuple(kwargs))
        if signature not in self.templates:
            self.templates[signature] = self._run(module, path, self.graphs[key], args, kwargs)
        return self.templates[signature]

    def _run(self, root: nn.Module, path: str, graph: fx.Graph, args: tuple,
             kwargs: dict) -> _Template:
        values: dict[fx.Node, Any] = {}
        refs: dict[fx.Node, Any] = {}
        ops: list[Op] = []
        position = 0
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
                position += 1
                continue
            if node.op == "output":
                return _Template(ops, _ref_tree(node.args[0], refs),
                                 fx.node.map_arg(node.args[0], values.__getitem__))
            if node.op == "get_attr":
                attribute = _get_attr(root, node.target)
                values[node] = _meta_like(attribute) if isinstance(attribute, torch.Tensor) \
                    else attribute
                continue
            node_args = fx.node.map_arg(node.args, values.__getitem__)
            node_kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
            if node.op == "call_module":
                module = root.get_submodule(node.target)
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
                kind, label = _module_kind(module)
                shape = _shape_of(value)
                params, mult_adds = _cost(module, shape) if shape else (0, 0)
                weighted = kind in ("conv", "fc") and params > 0
                extra = _geometry(module)
                type_name = type(module).__name__
                module_path = node.target
            else:
                value = self._call(node, path, lambda: _run_function(node, node_args, node_kwargs))
                shape = _shape_of(value)
                if shape is None and node.target is not operator.getitem:
                    values[node] = value  # sizes, shapes and other plain values carry no data
                    continue
                kind, label = _function_kind(node, node_args)
                name = _function_name(node)
                weighted = name in ("conv2d", "linear")
                params = mult_adds = 0
                extra, type_name, module_path = {}, name, None
            values[node] = value
            inputs = tuple(_refs_in((node.args, node.kwargs), refs))
            if node.target is operator.getitem and isinstance(refs.get(node.args[0]), tuple):
                refs[node] = refs[node.args[0]][node.args[1]]  # an element of a module's tuple
                continue
            if shape is None:
                refs[node] = inputs[0] if inputs else None
                continue
            ops.append(Op(node.name, kind, label, type_name, module_path, inputs, shape,
                          params, mult_adds, weighted, **extra))
            refs[node] = node.name
        raise ModelError("The traced graph has no output.")

    def _call(self, node: fx.Node, path: str, run: Callable[[], Any]) -> Any:
        try:
            with torch.device("meta"), torch.no_grad():
                return run()
        except ModelError:
            raise
        except Exception as error:  # noqa: BLE001 - the model's own message, in a sentence
            where = _join(path, str(node.target) if node.op == "call_module" else node.name)
            text = " ".join(str(error).split())[:300]
            raise ModelError(f"The model rejects this input at {where}: {text}") from None

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


def flatten_model(model: nn.Module, x: torch.Tensor,
                  leaves: tuple[type[nn.Module], ...] = ()) -> list[Op]:
    """Every op of `model` on the meta input `x`, in execution order; the input is "input".

    Modules of the `leaves` types are kept whole (see `_Expander`). The model runs in eval mode
    (batch norm on a batch of one); every module's mode is restored.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        template = _Expander(leaves).expand(model, "", (x,), {})
    finally:
        for module, training in modes:
            module.training = training
    if not template.ops or _shape_of(template.output_value) is None:
        raise ModelError("The model returns no tensor: nothing to analyse.")
    return _path_ids([replace(op, inputs=tuple("input" if i == "$0" else i for i in op.inputs))
                      for op in template.ops])

"""Analyse an uploaded `torch.export` program (`.pt2`) without running anything from the file.

What `torch.export.load` does with a file (torch 2.13, `torch/export/__init__.py`,
`torch/export/pt2_archive/_package.py`, `torch/_export/serde/serialize.py`), and why this module
does not call it on uploads (torch's own docstring warns: "uses pickle under the hood ... Never
load data from an untrusted source"):

- weights or constants marked `use_pickle` are read with `torch.load(weights_only=False)`;
  constants named `custom_obj_*` go through TorchScript's unpickler and `opaque_obj_*` through
  plain `pickle.loads`: each runs whatever code the file's author put there;
- the example inputs (`data/sample_inputs/*.pt`), and the legacy `data/weights/*.pt` files, go
  through `deserialize_torch_artifact`, which tries `weights_only=True` and, when that fails,
  silently retries with `weights_only=False`;
- symbolic shapes in the graph are parsed with `sympy.sympify`, which evaluates Python text;
- a `data/aotinductor/` folder is loaded as compiled native libraries;
- when the new format fails, it falls back to the 2.7 layout, with the same pickled payloads;
- a tensor stored as an empty record is allocated with `torch.zeros` of the size written in the
  file's JSON, however large; call targets are looked up by name under `torch`, `math` and
  `operator`, so a crafted graph can name `torch.os.system`, which our analysis would call.

So an upload is read here as data only: the zip directory is checked first (entry count,
sizes, stored not compressed, only the names `torch.export.save` writes: no pickles are ever
opened, no native code); the graph's JSON is read with the standard library and refused if it
holds symbolic expressions, guards, custom objects or a call target outside `torch.ops.aten`
and `operator.getitem`; the weights are never read: each becomes a `meta` tensor of the shape
the JSON declares, and torch's deserializer builds the program from those. Memory is bounded
by the upload size and the JSON's, and no parameter is allocated. The program's ATen graph is
then rewritten into torch.nn layers (convs, norms, pools, linears named by their weights'
paths) so `analysis.analyze` describes it exactly like a model given as a module.

Which operators a program may call. "Any `torch.ops.aten` operator" is not safe: the analysis
runs each call once to learn its shape, and `aten` holds operators that reach outside their
result. So only the operators in `inspector.program_ops.ALLOWED_OPS` (layers, activations,
arithmetic, shape changes and zeros, each with its reason) are admitted, every other target is
refused by name in one sentence before torch's deserializer runs, and the admitted ones run on
`meta` tensors only (a `device` argument in the file is replaced by `meta`). The families
checked in torch 2.13's `aten` (about 3,400 overloads), and why each stays out:

- file and storage access: `from_file` maps (creating or growing) a file named in its arguments;
  `set_`, `set`, `set_data` re-point a tensor at another storage; `_copy_from`,
  `_copy_from_and_resize` write into another tensor; `pin_memory`, `record_stream` and the
  `storage_offset` queries work on real storages. Never admitted.
- in-place and `out=` overloads (`add_`, `copy_`, `fill_`, `index_put_`, `*.out`, ...): they write
  into their inputs, which may be weights or views of them. Refused, except the in-place
  activations and `add_` that export writes for `nn.ReLU(inplace=True)` and `x += y`
  (`program_ops.IN_PLACE_AS`): those are rewritten to their out-of-place overloads before
  anything runs.
- collectives (`c10d`, `_c10d_functional`, `_dtensor`) talk to other processes; they live outside
  `aten` and are refused with everything outside it, as are higher-order operators (`cond`,
  `while_loop`, ...), custom namespaces and Python callables.
- random numbers (`rand*`, `randn*`, `bernoulli`, `normal`, `dropout`, ... tagged
  `nondeterministic_seeded`): they read and advance the process's generator state. Refused; an
  exported `model.eval()` has none.
- printing and assertions (`_print`, `_assert_async`, `_assert_scalar`,
  `_assert_tensor_metadata`, `_functional_assert_*`) write to the server's output or raise from
  inside the graph; a program exported with fixed shapes has none. Refused.
- data-dependent and device ops (`item`, `_local_scalar_dense`, `nonzero`, `to`, `_to_copy`,
  `copy`): they need real values or move data between devices. Refused.
- factory ops: only `zeros`, `zeros_like` and `new_zeros` (a zero-padded option-A shortcut) are
  admitted, made on `meta` whatever device the file names; `empty`, `full`, `ones`, `arange`,
  `scalar_tensor` and the rest are not needed by the networks this tool describes.

`tests/test_exported_ops.py` walks every registered `aten` overload and checks that each admitted
one is not mutable (no write annotation, no `out` argument) unless it is rewritten, carries no
`nondeterministic_seeded` tag and belongs to none of the families above.
"""

from __future__ import annotations

import io
import math
import operator
import re
import struct
import zipfile
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

from inspector.analysis import Analysis, analyze
from inspector.op_trace import ModelError
from inspector.program_archive import (NO_PROGRAM, check_directory, check_entry_flags,
                                       parse_json, read_entry)
from inspector.program_ops import ALLOWED_OPS, IN_PLACE_AS, TARGET_PREFIX, is_allowed_target
from inspector.spec import MAX_PARAMS

#: Larger than any ResNet we describe (ResNet-152 saves as ~240 MB); Streamlit's own upload
#: limit is lower still.
MAX_ARCHIVE_BYTES = 1_000_000_000
MAX_JSON_BYTES = 64_000_000
MAX_ENTRIES = 20_000
#: A weight of a layer this tool reads has at most 4 dimensions.
MAX_DIMS = 8
#: The names `torch.export.save` writes, below the archive's top folder. Nothing else is read;
#: a file with anything else (pickled payloads, AOTInductor libraries, legacy files) is refused.
_ALLOWED = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
    r"|extra/[\w.\-]+)"
)


# ----- the archive, as data ---------------------------------------------------------------------


def _archive(data: bytes) -> tuple[zipfile.ZipFile, str]:
    """The zip and its top folder, after checking its directory and nothing else."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ModelError(f"This file is {len(data) / 1e6:,.0f} MB; the limit is "
                         f"{MAX_ARCHIVE_BYTES / 1e6:,.0f} MB.")
    check_directory(data, MAX_ENTRIES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error):
        raise ModelError(f"{NO_PROGRAM}: it is not a zip archive.") from None
    if not entries or len(entries) > MAX_ENTRIES:
        raise ModelError(f"{NO_PROGRAM}: it holds {len(entries)} entries.")
    top = entries[0].filename.split("/", 1)[0]
    for entry in entries:
        check_entry_flags(entry)
        head, _, rest = entry.filename.partition("/")
        if head != top or not _ALLOWED.fullmatch(rest):
            raise ModelError(f"This .pt2 file holds {entry.filename[:80]!r}, which is not "
                             f"read here: only programs saved by torch.export.save, without "
                             f"pickled objects or compiled code, are analysed.")
        if entry.compress_type != zipfile.ZIP_STORED or entry.file_size > MAX_ARCHIVE_BYTES:
            raise ModelError(f"{NO_PROGRAM}: {entry.filename[:80]!r} is compressed or too "
                             f"large.")
    return archive, top


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelError(f"{NO_PROGRAM}: it has no {name.split('/', 1)[-1]}.") from None
    if info.file_size > MAX_JSON_BYTES:
        raise ModelError(f"{NO_PROGRAM}: {name} is larger than {MAX_JSON_BYTES / 1e6:.0f} MB.")
    return parse_json(read_entry(archive, name), name)


def _keys(value: Any) -> set[str]:
    """Every key anywhere in a JSON value."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _check_program(program: dict) -> None:
    """Refuse what torch's deserializer would evaluate or call (see the module docstring)."""
    try:
        graph = program["graph_module"]["graph"]
        targets = {node["target"] for node in graph["nodes"]}
    except (KeyError, TypeError):
        raise ModelError(f"{NO_PROGRAM}: its graph is missing.") from None
    odd = sorted(str(t) for t in targets if not is_allowed_target(t))
    if odd:
        raise ModelError(_refusal(odd[0]))
    if program.get("range_constraints") or {"expr_str", "as_expr"} & _keys(graph):
        raise ModelError("This program was exported with dynamic shapes; export it with a "
                         "fixed input shape (no dynamic_shapes) to analyse it here.")
    if program.get("guards_code") or graph.get("custom_obj_values"):
        raise ModelError("This program carries guards or custom objects, which are not read "
                         "here; export a plain nn.Module with a fixed input shape.")



def _refusal(target: str) -> str:
    """The sentence for a call target outside the allow-list."""
    if not target.startswith("torch.ops.aten."):
        return (f"The program calls {target[:80]!r}, which is not an ATen operator; only "
                f"programs made of ATen operators are analysed.")
    return (f"The program calls {target[:80]!r}, which is not among the layer, shape and "
            f"arithmetic operators this tool reads (operators that reach files, storage, "
            f"other tensors, other processes or random state are never run).")


def _short_shape(shape: list[int]) -> str:
    text = "[" + ", ".join(map(str, shape)) + "]"
    return text if len(text) <= 80 else f"{text[:77]}..."


def _meta_tensors(config: Any, kind: str) -> dict[str, torch.Tensor]:
    """Meta tensors of the declared shapes; no payload is read."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import deserialize_scalar_type

    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise ModelError(f"{NO_PROGRAM}: its {kind} list is malformed.")
    tensors: dict[str, torch.Tensor] = {}
    elements = 0
    for name, entry in entries.items():
        try:
            if entry["use_pickle"] or not re.fullmatch(r"(weight|tensor)_\d+",
                                                        entry["path_name"]):
                raise ModelError(f"The {kind} {name[:80]!r} is stored as a pickled object, "
                                 f"which is not loaded for safety.")
            meta = entry["tensor_meta"]
            shape = [size["as_int"] for size in meta["sizes"]]
            if not all(type(size) is int for size in shape):
                raise TypeError("a size is not a whole number")
            dtype = deserialize_scalar_type(schema.ScalarType(meta["dtype"]))
        except ModelError:
            raise
        except Exception:  # noqa: BLE001 - a malformed entry, whatever the detail
            raise ModelError(f"{NO_PROGRAM}: the {kind} {name[:80]!r} has no plain shape "
                             f"and type.") from None
        if min(shape, default=1) < 0:
            raise ModelError(f"{NO_PROGRAM}: the {kind} {name[:80]!r} has a negative size.")
        # In Python's integers, before torch sees a size: every dimension, a zero one counted
        # as one, must fit the budget, or torch overflows its 64-bit strides ([2**40, 2**40, 0]).
        if len(shape) > MAX_DIMS or math.prod(max(size, 1) for size in shape) > MAX_PARAMS:
            raise ModelError(f"The {kind} {name[:80]!r} of this program has the shape "
                             f"{_short_shape(shape)}, beyond the {MAX_PARAMS / 1e9:.0f} "
                             f"billion weights this tool takes.")
        elements += math.prod(shape)
        if elements > MAX_PARAMS:
            raise ModelError(f"This program holds more than {MAX_PARAMS / 1e9:.0f} billion "
                             f"weights, beyond what this tool takes.")
        tensor = torch.empty(shape, dtype=dtype, device="meta")
        tensors[name] = (nn.Parameter(tensor, requires_grad=bool(meta.get("requires_grad")))
                         if entry.get("is_param") else tensor)
    return tensors


def load_program(data: bytes) -> torch.export.ExportedProgram:
    """The program of a `.pt2` upload with meta tensors for its weights, or ModelError."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

    archive, top = _archive(data)
    if f"{top}/archive_format" not in archive.namelist() \
            or read_entry(archive, f"{top}/archive_format") != b"pt2":
        raise ModelError(f"{NO_PROGRAM}: its archive format is not pt2.")
    program = _json(archive, f"{top}/models/model.json")
    _check_program(program)
    weights = _meta_tensors(_json(archive, f"{top}/data/weights/model_weights_config.json"),
                            "weight")
    constants = _meta_tensors(
        _json(archive, f"{top}/data/constants/model_constants_config.json"), "constant")
    try:
        serialized = _dict_to_dataclass(schema.ExportedProgram, program)
        return ExportedProgramDeserializer().deserialize(serialized, weights, constants, None)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - torch's message, in a sentence
        text = " ".join(str(error).split())[:200]
        raise ModelError(f"This .pt2 program could not be read with this PyTorch "
                         f"({torch.__version__}): {type(error).__name__}: {text}") from None


# ----- the ATen graph as torch.nn layers --------------------------------------------------------

_aten = torch.ops.aten


def _conv(w: torch.Tensor, b: Any, stride=1, padding=0, dilation=1, groups=1) -> nn.Module:
    """aten.conv2d's arguments as the layer that makes them (its weight gives the channels)."""
    return nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride, padding,
                     dilation, groups, bias=b is not None)


def _norm(channels: int, w: Any, eps: float) -> nn.Module:
    return nn.BatchNorm2d(channels, eps=eps, affine=w is not None)


def _pool_args(args: tuple, defaults: tuple) -> tuple:
    """An ATen call's trailing arguments, which export leaves out when they are the defaults."""
    return tuple(args) + defaults[len(args):]


class _Rebuilder:
    """Writes an exported module's ATen graph as a graph of torch.nn layers on meta."""

    def __init__(self, source: fx.GraphModule) -> None:
        self.source = source
        self.root = nn.Module()
        self.graph = fx.Graph()
        self.values: dict[fx.Node, Any] = {}
        self.attributes: dict[fx.Node, str] = {}
        self.used: set[str] = set()
        self.input_shape: tuple[int, ...] | None = None
        self.tensors = {**dict(source.named_parameters()), **dict(source.named_buffers())}

    def _attr(self, node: Any) -> str | None:
        return self.attributes.get(node) if isinstance(node, fx.Node) else None

    def _tensor(self, node: Any) -> torch.Tensor | None:
        return self.tensors.get(self._attr(node) or "")

    def _path(self, node: fx.Node, weight: Any) -> str:
        """The layer's name in the user's model: its weight's path, else its module stack's."""
        name = self._attr(weight)
        path = name.rsplit(".", 1)[0] if name and "." in name else None
        if path is None:
            stack = list((node.meta.get("nn_module_stack") or {}).values())
            path = stack[-1][0] if stack and isinstance(stack[-1], tuple) else None
        if not path or path in self.used or not re.fullmatch(r"[A-Za-z_][\w.]*", path):
            path = node.name
        self.used.add(path)
        return path

    def _module(self, node: fx.Node, module: nn.Module, weight: Any, x: Any) -> fx.Node:
        path = self._path(node, weight)
        parent = self.root
        *parents, leaf = path.split(".")
        for part in parents:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, module)
        return self.graph.call_module(path, (self.values[x],))

    def _layer(self, node: fx.Node) -> nn.Module | None:
        """The torch.nn layer an ATen call stands for, or None."""
        target, args = node.target, node.args
        if target == _aten.conv2d.default:
            weight = self._tensor(args[1])
            return _conv(weight, args[2] if len(args) > 2 else None, *args[3:]) \
                if weight is not None else None
        if target in (_aten.batch_norm.default, _aten._native_batch_norm_legit_no_training.default):
            mean = self._tensor(args[3])
            eps = args[7] if target == _aten.batch_norm.default else args[6]
            return _norm(mean.shape[0], args[1], eps) if mean is not None else None
        if target == _aten.linear.default:
            weight = self._tensor(args[1])
            return nn.Linear(weight.shape[1], weight.shape[0],
                             bias=len(args) > 2 and args[2] is not None) \
                if weight is not None else None
        if target == _aten.max_pool2d.default:
            kernel, stride, padding, dilation, ceil = _pool_args(args[1:], ((), (), 0, 1, False))
            return nn.MaxPool2d(kernel, stride or kernel, padding, dilation, ceil_mode=ceil)
        if target == _aten.avg_pool2d.default:
            kernel, stride, padding, ceil, include = _pool_args(args[1:],
                                                                ((), (), 0, False, True))
            return nn.AvgPool2d(kernel, stride or kernel, padding, ceil, include)
        if target == _aten.adaptive_avg_pool2d.default:
            return nn.AdaptiveAvgPool2d(tuple(args[1]))
        return None

    _FUNCTIONS: dict[Any, Callable] = {
        _aten.relu.default: F.relu, _aten.add.Tensor: operator.add,
        _aten.flatten.using_ints: torch.flatten,
        _aten.constant_pad_nd.default: F.pad,
    }

    def rebuild(self) -> tuple[fx.GraphModule, tuple[int, ...]]:
        for node in self.source.graph.nodes:
            if node.op == "placeholder":
                self._placeholder(node)
            elif node.op == "get_attr":
                self.attributes[node] = str(node.target)
            elif node.op == "call_function":
                self._call(node)
            elif node.op == "output":
                outputs = [self.values.get(n) for n in _flat_nodes(node.args)]
                outputs = [o for o in outputs if o is not None]
                if len(outputs) != 1:
                    raise ModelError("Only programs with one output tensor are analysed.")
                self.graph.output(outputs[0])
        if self.input_shape is None:
            raise ModelError("The program takes no input tensor.")
        return fx.GraphModule(self.root, self.graph), self.input_shape

    def _placeholder(self, node: fx.Node) -> None:
        value = node.meta.get("val")
        if self.input_shape is not None or not isinstance(value, torch.Tensor) \
                or value.dim() != 4:
            raise ModelError("Only programs that take one image batch (N, C, H, W) are "
                             "analysed.")
        self.input_shape = tuple(int(d) for d in value.shape[1:])
        self.values[node] = self.graph.placeholder("x")

    def _call(self, node: fx.Node) -> None:
        if node.target is operator.getitem:
            source = node.args[0]
            if source in self.values and node.args[1] == 0 and \
                    source.target == _aten._native_batch_norm_legit_no_training.default:
                self.values[node] = self.values[source]
                return
        if not node.users:
            return  # shape assertions and other ops whose result nothing reads
        layer = self._layer(node)
        if layer is not None:
            with torch.device("meta"):
                self.values[node] = self._module(node, layer, node.args[1], node.args[0])
            return
        if any(self._attr(a) for a in _flat_nodes(node.args)):
            raise ModelError(f"The program uses its weights in {node.target}, which this "
                             f"analysis does not know.")
        functional = _out_of_place(node.target)
        target = self._FUNCTIONS.get(functional, getattr(functional, "overloadpacket",
                                                         functional))
        args = fx.node.map_arg(node.args, self.values.__getitem__)
        kwargs = {key: torch.device("meta") if key == "device" else value
                  for key, value in fx.node.map_arg(node.kwargs, self.values.__getitem__).items()
                  if key != "pin_memory"}  # whatever the file names, tensors are made on meta
        if target is operator.add and len(args) > 2:
            args = args[:2]
        self.values[node] = self.graph.call_function(target, tuple(args), dict(kwargs))


def _out_of_place(target: Any) -> Any:
    """The out-of-place overload that runs for an admitted in-place one (relu_ -> relu)."""
    name = IN_PLACE_AS.get(str(target))
    if name is None:
        return target
    _, packet, overload = name.split(".")
    return getattr(getattr(_aten, packet), overload)


def _flat_nodes(value: Any) -> list[fx.Node]:
    nodes: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: nodes.append(n) or n)
    return nodes


def program_module(program: torch.export.ExportedProgram) -> tuple[nn.Module, tuple[int, ...]]:
    """The program as torch.nn layers on meta, and its input's (C, H, W)."""
    try:
        source = program.module()
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"The program could not be unpacked: {type(error).__name__}.") from None
    for node in source.graph.nodes:  # checked in the JSON already; again on what torch built
        if node.op == "call_function" and node.target is not operator.getitem and not (
                isinstance(node.target, torch._ops.OpOverload)
                and str(node.target) in ALLOWED_OPS):
            raise ModelError(_refusal(f"{TARGET_PREFIX}{node.target}"))
    try:
        return _Rebuilder(source).rebuild()
    except ModelError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise ModelError(f"The program's graph has a form this analysis does not read "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:160]}).") \
            from None


def analyze_program(data: bytes, name: str = "exported program") -> Analysis:
    """A `.pt2` upload analysed like a module: nothing from the file runs or is unpickled."""
    module, input_shape = program_module(load_program(data))
    return analyze(module, input_shape, name)

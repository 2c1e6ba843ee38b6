"""One frozen description of any ResNet variant, its validation and its block plan.

Everything in the project (builder, facts, graph, tables, training) reads a `ResNetSpec`.
Keeping the geometry rules here (stem layers, where shortcuts project, per-block channels and
resolutions) means the builder and the analytic facts cannot disagree about them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import reprlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from inspector.costs import ConvGeometry, block_convs, estimate_activation_bytes, estimate_params
from inspector.geometry import BlockPlan, LayerGeometry, block_name, stage_name
from inspector.kinds import BlockKind, ShortcutKind

BLOCKS = tuple(BlockKind)
STEMS = ("imagenet", "cifar", "deep", "patchify")
STRIDE_PLACEMENTS = ("1x1", "3x3")
SHORTCUTS = ("A", "B", "C", "D")
#: Shortcut kinds a block can end up with; these names are shared with the graph's edge kinds.
SHORTCUT_KINDS = tuple(kind for kind in ShortcutKind if kind is not ShortcutKind.OTHER)

STEM_DESCRIPTIONS = {
    "imagenet": "7x7 conv, stride 2, then 3x3 max-pool, stride 2 (ImageNet)",
    "cifar": "3x3 conv, stride 1 (CIFAR)",
    "deep": "three 3x3 convs, the first with stride 2, then 3x3 max-pool (ResNet-C)",
    "patchify": "3x3 conv, stride 3, no padding (non-overlapping patches)",
}
SHORTCUT_DESCRIPTIONS = {
    "A": "identity; zero-padded channels and subsampling where the shape changes (no parameters)",
    "B": "identity; 1x1 projection only where the shape changes",
    "C": "1x1 projection on every block",
    "D": "identity; 2x2 average pool then 1x1 projection where the shape changes (ResNet-D)",
}

#: Limits that keep a slider from asking the machine for the impossible.
MAX_STAGES = 6
MAX_TOTAL_BLOCKS = 1000
MAX_PARAMS = 2_000_000_000  # 8 GB of float32 weights before any gradient or optimiser state
MAX_ACTIVATION_BYTES = 8 * 2**30  # for one image; training needs about this again for gradients
MAX_INPUT_SIZE = 4096
MAX_CHANNELS = 16384
MAX_STRIDE = 8
#: ImageNet-21k has 21,841 classes; a million leaves room and keeps the classifier countable.
MAX_CLASSES = 1_000_000
#: Groups divide a conv's channels, so they can never usefully exceed them.
MAX_GROUPS = MAX_CHANNELS
MAX_WIDTH_PER_GROUP = MAX_CHANNELS
#: Bottlenecks use 4; anything far above makes the block's output absurdly wide.
MAX_EXPANSION = 64
#: A block traced on its own runs on the meta device, so a big batch costs nothing but must fit
#: torch's 64-bit sizes.
MAX_BATCH = 65536
#: Longest text any one field needs ('1000,1000,...' for six stages is far shorter). Bounding it
#: before `int()` keeps a pasted megabyte, or a number past Python's digit limit, a sentence.
MAX_FIELD_TEXT = 200
#: Longest stretch of a user's value that a message quotes back.
MAX_ECHO = 80


class _Echo(reprlib.Repr):
    """repr() with bounded length and depth, so quoting a hostile value costs little."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = self.maxlong = MAX_ECHO

    def repr_int(self, value: int, level: int) -> str:
        # repr() itself refuses ints past Python's 4300-digit limit; the size is what matters.
        if value.bit_length() > 4 * MAX_ECHO:
            return f"<a number of about {int(value.bit_length() * 0.30103)} digits>"
        return super().repr_int(value, level)


_ECHO = _Echo()


def quote(value: Any) -> str:
    """A user's value as a message may show it: its repr, at most MAX_ECHO characters.

    Every SpecError quotes values through here, so a 50 MB link parameter comes back as one
    short line on the CLI and on the pages alike.
    """
    text = _ECHO.repr(value)
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO - 1] + "\u2026"


class SpecError(ValueError):
    """A configuration that cannot be built, with a sentence a user can act on."""


def _tupled(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class ResNetSpec:
    """Any ResNet variant, as a value. Defaults describe torchvision's ResNet-18.

    `expansion=None` means the block's standard expansion (1 for basic, 4 for bottleneck), so that
    switching the block type on a slider does not carry a stale expansion along.
    """

    block: str = "basic"
    layers: tuple[int, ...] = (2, 2, 2, 2)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    stem: str = "imagenet"
    stem_width: int = 64
    stride_in: str = "3x3"
    shortcut: str = "B"
    preact: bool = False
    residual: bool = True
    relu_after_add: bool = True
    groups: int = 1
    width_per_group: int = 64
    expansion: int | None = None
    zero_init_residual: bool = False
    num_classes: int = 1000
    in_channels: int = 3
    input_size: int = 224

    def __post_init__(self) -> None:
        for name in ("layers", "widths", "strides"):
            object.__setattr__(self, name, _tupled(getattr(self, name)))

    # ----- derived values -------------------------------------------------------------

    @property
    def block_expansion(self) -> int:
        if self.expansion is not None:
            return self.expansion
        return 4 if self.block == "bottleneck" else 1

    @property
    def num_stages(self) -> int:
        return len(self.layers)

    def inner_width(self, stage: int) -> int:
        """Channels of a block's 3x3 convs; ResNeXt and Wide ResNet widen only these."""
        if self.block == "bottleneck":
            return int(self.widths[stage] * (self.width_per_group / 64.0)) * self.groups
        return self.widths[stage]

    def stem_layers(self) -> tuple[LayerGeometry, ...]:
        """The stem's convs and pool, in order (computed once per spec)."""
        return _stem_layers(self)

    def _plan_stem(self) -> tuple[LayerGeometry, ...]:
        w = self.stem_width
        pool = LayerGeometry("maxpool", 3, 2, 1)
        if self.stem == "imagenet":
            return (LayerGeometry("conv", 7, 2, 3, w), pool)
        if self.stem == "deep":
            half = w // 2
            return (
                LayerGeometry("conv", 3, 2, 1, half),
                LayerGeometry("conv", 3, 1, 1, half),
                LayerGeometry("conv", 3, 1, 1, w),
                pool,
            )
        if self.stem == "patchify":
            return (LayerGeometry("conv", 3, 3, 0, w),)
        return (LayerGeometry("conv", 3, 1, 1, w),)

    def stem_output_size(self) -> int:
        size = self.input_size
        for layer in self.stem_layers():
            size = layer.output_size(size)
        return size

    def shortcut_kind(self, in_channels: int, out_channels: int, stride: int) -> ShortcutKind:
        """Which shortcut a block gets under this spec's option A-D (or none when plain)."""
        if not self.residual:
            return ShortcutKind.NONE
        changes = stride != 1 or in_channels != out_channels
        if self.shortcut == "C":
            return ShortcutKind.PROJECTION
        if not changes:
            return ShortcutKind.IDENTITY
        if self.shortcut == "A":
            return ShortcutKind.IDENTITY_PAD
        if self.shortcut == "D" and stride != 1:
            return ShortcutKind.POOLED_PROJECTION
        return ShortcutKind.PROJECTION

    def blocks(self) -> tuple[BlockPlan, ...]:
        """Every residual block in order, with its channels, resolution and shortcut.

        Computed once per spec: validation, facts, the builder and the trace all ask for it.
        """
        return _block_plans(self)

    def _plan_blocks(self) -> tuple[BlockPlan, ...]:
        plans = []
        channels, size = self.stem_width, self.stem_output_size()
        for stage, (count, width, stage_stride) in enumerate(
            zip(self.layers, self.widths, self.strides)
        ):
            out_channels = width * self.block_expansion
            for index in range(count):
                stride = stage_stride if index == 0 else 1
                out_size = -(-size // stride)  # every strided layer in a block has ceil(H/s)
                plans.append(
                    BlockPlan(
                        stage=stage,
                        index=index,
                        in_channels=channels,
                        width=self.inner_width(stage),
                        out_channels=out_channels,
                        stride=stride,
                        in_size=size,
                        out_size=out_size,
                        shortcut=self.shortcut_kind(channels, out_channels, stride),
                    )
                )
                channels, size = out_channels, out_size
        return tuple(plans)

    @property
    def feature_channels(self) -> int:
        """Channels that reach the classifier."""
        return self.widths[-1] * self.block_expansion

    # ----- serialisation and identity ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("layers", "widths", "strides"):
            data[name] = list(data[name])
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ResNetSpec":
        """Strict: unknown keys and wrongly typed values raise SpecError, not TypeError."""
        if not isinstance(data, dict):
            raise SpecError("A spec must be a JSON object of field names and values.")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [key for key in data if key not in known]
        if unknown:
            raise SpecError(
                f"Unknown field {quote(unknown[0])}; known fields are: {', '.join(known)}."
            )
        values = {name: _check_type(name, value) for name, value in data.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ResNetSpec":
        # json raises ValueError for numbers past Python's digit limit and RecursionError for
        # deeply nested arrays; neither may escape as anything but a sentence.
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as error:
            raise SpecError(f"The spec is not valid JSON: {error}.") from None
        except ValueError:
            raise SpecError("The spec holds a number too long to be a field's value.") from None
        except RecursionError:
            raise SpecError("The spec is nested too deeply to be a ResNet design.") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "ResNetSpec":
        """A copy with some fields changed; unknown names raise SpecError."""
        return ResNetSpec.from_dict({**self.to_dict(), **changes})

    def with_text_values(self, values: dict[str, str]) -> "ResNetSpec":
        """Apply `key=value` strings (CLI `--set`, URL query parameters) to a copy."""
        return self.replace(**{key: parse_field(key, text) for key, text in values.items()})

    def canonical_dict(self) -> dict[str, Any]:
        """The architecture with defaults resolved: equal for specs that build equal models."""
        data = self.to_dict()
        data["expansion"] = self.block_expansion
        return data

    def spec_hash(self) -> str:
        """A stable 16-hex-digit key for caches; independent of dict order and Python version."""
        text = json.dumps(self.canonical_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ----- validation ----------------------------------------------------------------------

    def validate(self) -> "ResNetSpec":
        """Raise SpecError with a plain sentence for anything that cannot be built; return self.

        Types are checked here too, not only in `from_dict`: a spec built directly in Python
        (`ResNetSpec(layers="abc")`) must fail with the same sentence, not a TypeError. A spec
        that passed once is not checked again: it is a frozen value.
        """
        try:
            _validated(self)
        except TypeError:  # a field holds an unhashable value: the checks themselves say which
            self._check()
        return self

    def _check(self) -> None:
        _validate_types(self)
        _validate_names(self)
        _validate_counts(self)
        _validate_groups(self)
        _validate_shortcuts(self)
        _validate_resolution(self)
        _validate_size(self)


#: Derived values kept per spec: enough for the designs a session moves between.
_SPECS_KEPT = 256


@lru_cache(maxsize=_SPECS_KEPT)
def _validated(spec: ResNetSpec) -> bool:
    """Runs every check once per spec; raising leaves nothing cached, so errors repeat."""
    spec._check()
    return True


@lru_cache(maxsize=_SPECS_KEPT)
def _block_plans(spec: ResNetSpec) -> tuple[BlockPlan, ...]:
    return spec._plan_blocks()


@lru_cache(maxsize=_SPECS_KEPT)
def _stem_layers(spec: ResNetSpec) -> tuple[LayerGeometry, ...]:
    return spec._plan_stem()


_FIELD_TYPES: dict[str, type] = {
    "block": str, "stem": str, "stride_in": str, "shortcut": str,
    "layers": tuple, "widths": tuple, "strides": tuple,
    "preact": bool, "residual": bool, "relu_after_add": bool, "zero_init_residual": bool,
    "stem_width": int, "groups": int, "width_per_group": int, "expansion": int,
    "num_classes": int, "in_channels": int, "input_size": int,
}


def _check_type(name: str, value: Any) -> Any:
    if name == "expansion" and value is None:
        return None
    return _check_value_type(name, _FIELD_TYPES[name], value)


def _check_value_type(name: str, expected: type, value: Any) -> Any:
    if expected is tuple:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise SpecError(f"{name} must be a list of whole numbers, not {quote(value)}.")
        return tuple(value)
    if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise SpecError(f"{name} must be a whole number, not {quote(value)}.")
    if expected is bool and not isinstance(value, bool):
        raise SpecError(f"{name} must be true or false, not {quote(value)}.")
    if expected is str and not isinstance(value, str):
        raise SpecError(f"{name} must be text, not {quote(value)}.")
    return value


def parse_field(name: str, text: str) -> Any:
    """Turn the text form of one field ('3,4,6,3', 'true', '1x1', '224') into its value."""
    if name not in _FIELD_TYPES:
        raise SpecError(
            f"Unknown field {quote(name)}; known fields are: {', '.join(_FIELD_TYPES)}."
        )
    expected = _FIELD_TYPES[name]
    if not isinstance(text, str):
        raise SpecError(f"{name} must be given as text here, not {quote(text)}.")
    text = text.strip()
    if len(text) > MAX_FIELD_TEXT:
        raise SpecError(f"{name} is {len(text):,} characters long; no field's value needs more "
                        f"than {MAX_FIELD_TEXT}: {quote(text)}.")
    try:
        if expected is tuple:
            return tuple(int(part) for part in text.strip("[]()").split(",") if part.strip())
        if expected is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if expected is int:
            if name == "expansion" and text.lower() in ("", "none", "null", "auto"):
                return None
            return int(text)
    except ValueError:
        kind = {tuple: "a comma-separated list of whole numbers", bool: "true or false",
                int: "a whole number"}[expected]
        raise SpecError(f"{name} must be {kind}, not {quote(text)}.") from None
    return text


def _validate_types(spec: ResNetSpec) -> None:
    for name in _FIELD_TYPES:
        _check_type(name, getattr(spec, name))


#: `inspect_block`'s arguments that are not spec fields, with their types.
_BLOCK_ARGUMENT_TYPES: dict[str, type] = {"out_channels": int, "stride": int, "input_shape": tuple}
#: The largest value each dimension of a traced block's input (N, C, H, W) may take.
_INPUT_SHAPE_LIMITS = (MAX_BATCH, MAX_CHANNELS, MAX_INPUT_SIZE, MAX_INPUT_SIZE)


def check_block_arguments(**arguments: Any) -> None:
    """Type and range checks for one block traced on its own (`inspect_block`).

    They live here, beside the spec's own, so a string where a channel count belongs is the
    same SpecError sentence whether it arrives in a spec or in a block's arguments; the input
    shape is bounded because torch would otherwise overflow its 64-bit sizes.
    """
    for name, value in arguments.items():
        if name in _BLOCK_ARGUMENT_TYPES:
            _check_value_type(name, _BLOCK_ARGUMENT_TYPES[name], value)
        else:
            _check_type(name, value)
    shape = arguments.get("input_shape", ())
    if len(shape) != 4 or any(not 1 <= d <= most for d, most in zip(shape, _INPUT_SHAPE_LIMITS)):
        raise SpecError(
            f"The input shape must be four positive whole numbers (N, C, H, W) of at most "
            f"{', '.join(f'{most:,}' for most in _INPUT_SHAPE_LIMITS)}, not {quote(shape)}."
        )


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise SpecError(f"{name} must be one of {options}, not {quote(value)}.")


def _validate_names(spec: ResNetSpec) -> None:
    _one_of("block", spec.block, BLOCKS)
    _one_of("stem", spec.stem, STEMS)
    _one_of("stride_in", spec.stride_in, STRIDE_PLACEMENTS)
    _one_of("shortcut", spec.shortcut, SHORTCUTS)


def _validate_counts(spec: ResNetSpec) -> None:
    if not 1 <= spec.num_stages <= MAX_STAGES:
        raise SpecError(f"A ResNet has 1 to {MAX_STAGES} stages; this one has {spec.num_stages}.")
    if not (len(spec.widths) == len(spec.strides) == spec.num_stages):
        raise SpecError(
            f"blocks per stage, widths and strides must have one entry per stage; got "
            f"{len(spec.layers)}, {len(spec.widths)} and {len(spec.strides)}."
        )
    for stage, (count, width, stride) in enumerate(zip(spec.layers, spec.widths, spec.strides)):
        name = stage_name(stage)
        if count < 1:
            raise SpecError(f"Stage {name} needs at least one block, not {quote(count)}.")
        if count > MAX_TOTAL_BLOCKS:
            raise SpecError(f"Stage {name} has {quote(count)} blocks, more than this tool "
                            f"handles ({MAX_TOTAL_BLOCKS}); ResNet-1202 has 600.")
        if not 1 <= width <= MAX_CHANNELS:
            raise SpecError(
                f"Stage {name}'s width must be 1 to {MAX_CHANNELS}, not {quote(width)}."
            )
        if not 1 <= stride <= MAX_STRIDE:
            raise SpecError(
                f"Stage {name}'s stride must be 1 to {MAX_STRIDE}, not {quote(stride)}."
            )
    if sum(spec.layers) > MAX_TOTAL_BLOCKS:
        raise SpecError(
            f"{sum(spec.layers)} blocks is more than this tool handles ({MAX_TOTAL_BLOCKS}); "
            f"ResNet-1202 has 600."
        )
    # Upper bounds come before anything computes with these numbers: a 300-digit group count
    # would otherwise overflow a float in `inner_width`.
    bounded = {
        "stem width": (spec.stem_width, MAX_CHANNELS), "groups": (spec.groups, MAX_GROUPS),
        "width per group": (spec.width_per_group, MAX_WIDTH_PER_GROUP),
        "number of classes": (spec.num_classes, MAX_CLASSES),
        "input channels": (spec.in_channels, MAX_CHANNELS),
        "input size": (spec.input_size, MAX_INPUT_SIZE),
        "expansion": (spec.block_expansion, MAX_EXPANSION),
    }
    for label, (value, most) in bounded.items():
        if not 1 <= value <= most:
            raise SpecError(f"The {label} must be 1 to {most:,}, not {quote(value)}.")
    if spec.stem == "deep" and spec.stem_width < 2:
        raise SpecError("The deep stem halves its width for its first two convs: use 2 or more.")
    if spec.block == "bottleneck":
        for stage in range(spec.num_stages):
            if spec.inner_width(stage) < 1:
                raise SpecError(
                    f"Width per group {spec.width_per_group} is too small for stage "
                    f"{stage_name(stage)}: its bottleneck 3x3 would have no channels."
                )


def _validate_groups(spec: ResNetSpec) -> None:
    if spec.block == "basic":
        if spec.width_per_group != 64:
            raise SpecError(
                "Width per group applies to bottleneck blocks only (ResNeXt, Wide ResNet); "
                "widen a basic-block network through its stage widths."
            )
        if spec.groups > 1:
            for plan in spec.blocks():
                for channels in (plan.in_channels, plan.width):
                    if channels % spec.groups:
                        raise SpecError(
                            f"Block {plan.name} has {channels} channels, which {spec.groups} "
                            f"groups do not divide."
                        )


def _validate_shortcuts(spec: ResNetSpec) -> None:
    for plan in spec.blocks():
        if plan.shortcut == "identity_pad" and plan.out_channels < plan.in_channels:
            raise SpecError(
                f"Shortcut A pads channels with zeros, but block {plan.name} goes from "
                f"{plan.in_channels} to {plan.out_channels} channels; use shortcut B, C or D."
            )


def min_input_size(spec: ResNetSpec) -> int:
    """The smallest square input that every downsampling layer of this design can take."""
    low, high = 1, MAX_INPUT_SIZE
    while low < high:
        middle = (low + high) // 2
        if _first_starved_layer(dataclasses.replace(spec, input_size=middle)) is None:
            high = middle
        else:
            low = middle + 1
    return low


def _first_starved_layer(spec: ResNetSpec) -> tuple[str, int, int] | None:
    """(layer name, size it receives, its stride) for the first layer whose output would be
    under one pixel: a stride-s layer fed fewer than s pixels has nothing left to downsample."""
    size = spec.input_size
    for layer in spec.stem_layers():
        if size < layer.stride or layer.output_size(size) < 1:
            return "the stem (conv1)", size, layer.stride
        size = layer.output_size(size)
    for stage, stride in enumerate(spec.strides):
        if size < stride:
            return stage_name(stage), size, stride
        size = -(-size // stride)
    return None


def _validate_resolution(spec: ResNetSpec) -> None:
    starved = _first_starved_layer(spec)
    if starved is not None:
        name, size, stride = starved
        smallest = min_input_size(spec)
        raise SpecError(
            f"Input {spec.input_size}x{spec.input_size} is too small: {name} would downsample "
            f"a {size}x{size} map by {stride} to under one pixel. The smallest input this "
            f"design takes is {smallest}x{smallest}."
        )


def _validate_size(spec: ResNetSpec) -> None:
    params = estimate_params(spec)
    if params > MAX_PARAMS:
        raise SpecError(
            f"This design has about {params / 1e9:.1f} billion parameters "
            f"({params * 4 / 2**30:.0f} GiB of weights); the limit is "
            f"{MAX_PARAMS / 1e9:.0f} billion. Reduce widths or blocks."
        )
    activations = estimate_activation_bytes(spec)
    if activations > MAX_ACTIVATION_BYTES:
        raise SpecError(
            f"One {spec.input_size}x{spec.input_size} image would need about "
            f"{activations / 2**30:.1f} GiB of activations (limit "
            f"{MAX_ACTIVATION_BYTES / 2**30:.0f} GiB). Reduce the input size or the widths."
        )


__all__ = [
    "BLOCKS", "STEMS", "STRIDE_PLACEMENTS", "SHORTCUTS", "SHORTCUT_KINDS",
    "STEM_DESCRIPTIONS", "SHORTCUT_DESCRIPTIONS",
    "SpecError", "ResNetSpec", "BlockPlan", "LayerGeometry", "ConvGeometry", "block_convs",
    "stage_name", "block_name", "parse_field", "min_input_size", "quote",
    "check_block_arguments",
]

"""Export a design as one self-contained PyTorch file that needs nothing from this project.

The file is a fixed, readable template (`templates/standalone.py.tmpl`) plus the design's
configuration as a literal dict: users get code they can read and edit, not an unrolled dump.
"""

from __future__ import annotations

import pprint
from importlib import resources

from inspector.facts import compute_facts
from inspector.presets import find_preset
from inspector.spec import ResNetSpec


def _config(spec: ResNetSpec) -> dict:
    layers = spec.stem_layers()
    return {
        "block": spec.block,
        "layers": list(spec.layers),
        "widths": list(spec.widths),
        "strides": list(spec.strides),
        "expansion": spec.block_expansion,
        "stem_convs": [(g.out_channels, g.kernel, g.stride, g.padding)
                       for g in layers if g.kind == "conv"],
        "stem_maxpool": any(g.kind == "maxpool" for g in layers),
        "stride_in": spec.stride_in,
        "shortcut": spec.shortcut,
        "preact": spec.preact,
        "residual": spec.residual,
        "relu_after_add": spec.relu_after_add,
        "groups": spec.groups,
        "width_per_group": spec.width_per_group,
        "zero_init_residual": spec.zero_init_residual,
        "num_classes": spec.num_classes,
        "in_channels": spec.in_channels,
        "input_size": spec.input_size,
    }


def standalone_source(spec: ResNetSpec) -> str:
    """Python source defining `ResNet` and `build()` for this design (raises SpecError if invalid)."""
    facts = compute_facts(spec)
    name = find_preset(spec)
    title = f"{name}: a ResNet" if name else "A custom ResNet"
    template = resources.files("inspector").joinpath("templates/standalone.py.tmpl").read_text()
    replacements = {
        "__TITLE__": f"{title} ({facts.depth} layers by the paper's count).",
        "__SUMMARY__": (
            f"\nParameters: {facts.params:,}. Mult-adds at {spec.input_size}x{spec.input_size}: "
            f"{facts.mult_adds:,}.\nLayer count: {facts.depth_explanation}."
        ),
        "__IN_CHANNELS__": str(spec.in_channels),
        "__INPUT_SIZE__": str(spec.input_size),
        "__CONFIG__": pprint.pformat(_config(spec), indent=4, width=96, sort_dicts=False),
    }
    for key, value in replacements.items():
        template = template.replace(key, value)
    return template

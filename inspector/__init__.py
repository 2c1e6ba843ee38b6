"""ResNet Inspector's core: describe, build and measure any ResNet variant. No UI code here.

The small public API:

- `ResNetSpec`, `SpecError`: one frozen value per design; `spec.validate()` explains what is wrong.
- `PRESETS`, `get_preset(name)`: the published designs.
- `build_model(spec, device="meta")`: the `nn.Module` (torchvision-compatible names).
- `compute_facts(spec)`: parameters, mult-adds, depth and per-stage numbers without building.
"""

from inspector.facts import Facts, StageFacts, compute_facts
from inspector.model import ResNet, ResidualBlock, build_model, materialize
from inspector.presets import PRESETS, Preset, find_preset, get_preset
from inspector.spec import BlockPlan, ResNetSpec, SpecError

__all__ = [
    "BlockPlan", "Facts", "PRESETS", "Preset", "ResNet", "ResNetSpec", "ResidualBlock",
    "SpecError", "StageFacts", "build_model", "compute_facts", "find_preset", "get_preset",
    "materialize",
]

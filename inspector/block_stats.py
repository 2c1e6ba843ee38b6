"""Per-block statistics recorded while a network trains: how each residual block learns.

Three numbers per block, every few steps (`BlockStatistic`):

- `grad_norm`: the L2 norm of the gradient of all the block's parameters together, read after
  backward and before the optimiser step. In a deep plain network it shrinks towards the first
  blocks; with shortcuts it reaches every block (the paper's argument for identity shortcuts).
- `branch_ratio`: ||F(x)|| / ||x||, the norm of the residual branch's output against the norm of
  the block's input, per image and then averaged over the batch: how much the block changes the
  signal. F(x) is read from the module that ends the residual branch, the branch's last batch norm
  (the last conv in a pre-activated block), by a forward hook on that module. Why there and not as
  `sum - shortcut`: the hook needs no second pass and no change to the model, and reading the
  module's output at the moment it is produced is right even when the model adds the shortcut in
  place (`out += identity`, as torchvision's blocks do). A plain block has no sum; the same layers'
  output is measured, so the two designs' columns compare the same layer.
- `zero_share`: the share of the block's outputs that are exactly zero, i.e. after the ReLU that
  ends the block (pre-activated blocks end with the sum and have none, so theirs stays near 0).

Hooks are registered only for the steps that record and removed right after, so the other steps run
the model untouched; the values stay on the device until the step's backward is done and are read
back in one transfer. `benchmarks/train_speed.py` measures the overhead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from inspector.kinds import BlockStatistic, ShortcutKind

if TYPE_CHECKING:
    from inspector.residual import Structure

STATISTICS = tuple(BlockStatistic)
#: Records per run when the caller does not choose: enough columns for a heatmap.
DEFAULT_RECORDS = 60
#: A record costs about 16% of a ResNet-20 step on a 2-core CPU (benchmarks/train_speed.py
#: --block-stats), so by default at most every second step records: about 8%, under 10%.
MIN_EVERY = 2
_EPS = 1e-12


@dataclass(frozen=True)
class BlockProbe:
    """Where one block is measured: its module path and that of the module ending its branch."""

    name: str  # the block's module path, e.g. "layer2.0"
    branch: str  # the module whose output is F(x), e.g. "layer2.0.bn2"; "" when unknown


def design_probes(model: nn.Module) -> list[BlockProbe]:
    """The blocks of a model built here (`inspector.model.ResNet`): `layerN.M`, residual or plain."""
    from inspector.model import ResidualBlock

    probes = []
    for name, module in model.named_modules():
        if isinstance(module, ResidualBlock):
            last = module.last_norm_or_conv
            branch = next(n for n, m in module.named_modules() if m is last)
            probes.append(BlockProbe(name, f"{name}.{branch}"))
    return probes


def analysis_probes(structure: "Structure") -> tuple[list[BlockProbe], list[str]]:
    """The blocks the analysis found in any model, and a sentence for each block left out.

    A block is measured when it is one module of its own (its `scope`); F(x) is the output of the
    op feeding the sum that is not the shortcut, when that op is a module.
    """
    by_id = {op.id: op for op in structure.ops}
    probes, skipped = [], []
    for block in structure.blocks:
        if not block.scope:
            skipped.append(f"{block.name} is not one module of its own, so it is not measured.")
            continue
        add = by_id.get(block.add)
        if block.shortcut_kind == ShortcutKind.NONE or add is None:
            ends = [by_id[i] for i in block.ops if by_id[i].kind in ("bn", "conv")
                    and by_id[i].module]
            branch = ends[-1].module if ends else ""
        else:
            main = [by_id.get(i) for i in add.inputs if i != block.tip]
            branch = (main[0].module or "") if main and main[0] is not None else ""
        probes.append(BlockProbe(block.scope, branch or ""))
    return probes, skipped


@dataclass
class BlockStatsLog:
    """Every record of a run: `values[statistic][record][block]`, NaN where not measured.

    Plain lists of numbers and names, so a checkpoint carries it as JSON and
    `torch.load(weights_only=True)` still reads the file. Values are appended before the step, so
    a reader in another thread that takes `len(steps)` first always finds that many rows.
    """

    blocks: list[str]
    steps: list[int] = field(default_factory=list)
    values: dict[str, list[list[float]]] = field(
        default_factory=lambda: {s.value: [] for s in STATISTICS})

    def append(self, step: int, row: dict[str, list[float]]) -> None:
        for statistic in STATISTICS:
            self.values[statistic.value].append(row[statistic.value])
        self.steps.append(step)

    def __len__(self) -> int:
        return len(self.steps)

    def matrix(self, statistic: BlockStatistic | str) -> tuple[list[int], list[list[float]]]:
        """(steps, rows): one row per record, one value per block; a consistent snapshot."""
        count = len(self.steps)
        return list(self.steps[:count]), [list(r) for r in self.values[str(statistic)][:count]]

    def frame(self) -> pd.DataFrame:
        """One row per (step, block): the long format for CSV, Parquet and plotting."""
        count = len(self.steps)
        rows = []
        for record in range(count):
            for column, block in enumerate(self.blocks):
                rows.append({"step": self.steps[record], "block": block,
                             **{s.value: self.values[s.value][record][column]
                                for s in STATISTICS}})
        return pd.DataFrame(rows, columns=["step", "block", *(s.value for s in STATISTICS)])

    def to_dict(self) -> dict:
        count = len(self.steps)
        return {"blocks": list(self.blocks), "steps": list(self.steps[:count]),
                "values": {k: [list(r) for r in v[:count]] for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "BlockStatsLog":
        """Read back what `to_dict` wrote; ValueError for anything else (files are shared)."""
        blocks, steps, values = data.get("blocks"), data.get("steps"), data.get("values")
        if not (isinstance(blocks, list) and all(isinstance(b, str) for b in blocks)
                and isinstance(steps, list) and all(type(s) is int for s in steps)
                and isinstance(values, dict)):
            raise ValueError("The block statistics are not lists of block names and steps.")
        log = cls(list(blocks), list(steps))
        for statistic in STATISTICS:
            rows = values.get(statistic.value, [])
            if not (isinstance(rows, list) and len(rows) == len(steps) and all(
                    isinstance(r, list) and len(r) == len(blocks)
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r)
                    for r in rows)):
                raise ValueError(f"The block statistic {statistic.value} does not have one "
                                 f"value per block and step.")
            log.values[statistic.value] = [[float(v) for v in r] for r in rows]
        return log


def records_every(total_steps: int, records: int = DEFAULT_RECORDS) -> int:
    """Steps between two records so that a run has about `records` of them."""
    return max(MIN_EVERY, math.ceil(total_steps / records))


class BlockStatsRecorder:
    """Measures `probes` of `model` on the steps `due` says, into `log`.

    Use: `if recorder.due(step): recorder.arm()`, then forward and backward, then
    `recorder.collect(step)` before the optimiser step. `forward_hooks=False` records gradient
    norms only (for a `torch.compile`d model, where hooks would force a recompilation).
    """

    def __init__(self, model: nn.Module, probes: Sequence[BlockProbe], every: int,
                 forward_hooks: bool = True) -> None:
        modules = dict(model.named_modules())
        self.probes = [p for p in probes if p.name in modules]
        self._blocks = [modules[p.name] for p in self.probes]
        self._branches = [modules.get(p.branch) if p.branch else None for p in self.probes]
        self._params = [[q for q in m.parameters() if q.requires_grad] for m in self._blocks]
        self.every = max(1, every)
        self.forward_hooks = forward_hooks
        self.log = BlockStatsLog([p.name for p in self.probes])
        self._handles: list = []
        self._inputs: dict[int, torch.Tensor] = {}
        self._branch_norms: dict[int, torch.Tensor] = {}
        self._zeros: dict[int, torch.Tensor] = {}

    def due(self, step: int, total: int) -> bool:
        """Whether 1-based `step` records: the first, every `every`-th and the last."""
        return bool(self.probes) and (step == 1 or step % self.every == 0 or step == total)

    @staticmethod
    def _norms(tensor: torch.Tensor) -> torch.Tensor:
        """Per-image L2 norms, in float32 whatever the autocast dtype."""
        flat = tensor.detach().flatten(1)
        return torch.linalg.vector_norm(flat, dim=1, dtype=torch.float32)

    def arm(self) -> None:
        """Register the forward hooks for one step (values are computed as the tensors appear,
        before any later in-place op changes them)."""
        self.disarm()
        if not self.forward_hooks:
            return
        for index, (block, branch) in enumerate(zip(self._blocks, self._branches)):
            def before(_module, args, index=index):
                if args and isinstance(args[0], torch.Tensor):
                    self._inputs[index] = self._norms(args[0])

            def after(_module, _args, output, index=index):
                if isinstance(output, torch.Tensor):
                    out = output.detach()
                    self._zeros[index] = 1.0 - (torch.count_nonzero(out) / max(1, out.numel()))

            self._handles.append(block.register_forward_pre_hook(before))
            self._handles.append(block.register_forward_hook(after))
            if branch is not None:
                def branch_out(_module, _args, output, index=index):
                    if isinstance(output, torch.Tensor):
                        self._branch_norms[index] = self._norms(output)

                self._handles.append(branch.register_forward_hook(branch_out))

    def disarm(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def collect(self, step: int) -> None:
        """Gradient norms now (after backward, before the step), with what the hooks saw; one
        transfer from the device for the whole record."""
        self.disarm()
        nan = float("nan")
        device = next((p.device for params in self._params for p in params), torch.device("cpu"))
        columns = []
        for index, params in enumerate(self._params):
            grads = [p.grad for p in params if p.grad is not None]
            grad = (torch.nn.utils.get_total_norm(grads).float() if grads
                    else torch.tensor(nan, device=device))
            inputs, branch = self._inputs.get(index), self._branch_norms.get(index)
            if inputs is not None and branch is not None and inputs.shape == branch.shape:
                ratio = (branch / inputs.clamp_min(_EPS)).mean()
            else:
                ratio = torch.tensor(nan, device=device)
            zeros = self._zeros.get(index, torch.tensor(nan, device=device))
            columns.append(torch.stack([grad.to(device), ratio.to(device).float(),
                                        zeros.to(device).float()]))
        self._inputs.clear()
        self._branch_norms.clear()
        self._zeros.clear()
        table = torch.stack(columns).cpu().tolist()  # blocks x statistics
        self.log.append(step, {s.value: [row[k] for row in table]
                               for k, s in enumerate(STATISTICS)})


def frame_bytes(frame: pd.DataFrame, parquet: bool) -> bytes:
    """A statistics or metrics frame as CSV, or Parquet when asked and pyarrow is installed."""
    if parquet:
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return frame.to_csv(index=False).encode()


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True

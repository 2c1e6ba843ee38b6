"""Train any network, not only designs: the same engine, curves and block statistics.

    from inspector.train_module import train_model
    result = train_model(MyResNet(), load_dataset("digits"), TrainConfig(steps=300))
    result.block_stats.frame()    # per block: gradient norm, ||F(x)||/||x||, zero share

    python -m inspector train my_nets.py:ResNet18 --input 3x32x32 --dataset digits --steps 300

The network is analysed first (`inspector.analysis.analyze`, on the meta device): its blocks,
found from the traced sums, are the ones measured while training, and its activation count gives
the memory estimate that is checked before any weight is allocated. The classifier must give one
output per class of the dataset; when it does not, its last `nn.Linear` is replaced by a new one of
the right size, and a note says so.

Weights: a network loaded from a file is built on the meta device (nothing allocated while it is
checked), then given memory and initialised by each module's own `reset_parameters` under the
run's seed. Parameters and buffers of modules without one start at zero, and a note names them.
"""

from __future__ import annotations

import copy
import io
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from inspector.analysis import Analysis, analyze
from inspector.block_stats import BlockProbe, analysis_probes
from inspector.data import Dataset
from inspector.distributed import Distributed
from inspector.op_trace import ModelError
from inspector.train import (ACTIVATION_COPIES, MemoryEstimate, Trainer, TrainConfig, TrainError,
                             TrainResult, check_memory)

MODULE_FORMAT = "resnet-inspector-module-run"


def _last_linear(model: nn.Module, analysis: Analysis) -> str | None:
    """The module path of the last `nn.Linear` the forward pass runs (the classifier)."""
    modules = dict(model.named_modules())
    for op in reversed(analysis.ops):
        if op.module and isinstance(modules.get(op.module), nn.Linear):
            return op.module
    return None


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, child, new)


class ModuleTrainer(Trainer):
    """`Trainer` for any `nn.Module` on images of the dataset's shape."""

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig | None = None,
                 distributed: Distributed | None = None, name: str | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ModelError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
        self.name = name or type(model).__name__
        self.notes: list[str] = []
        shape = (dataset.in_channels, dataset.image_size, dataset.image_size)
        self.analysis = analyze(model, shape, self.name)
        self._probes, skipped = analysis_probes(self.analysis)
        self.notes += skipped
        if not self.analysis.blocks:
            self.notes.append("No residual block was found in this network, so no per-block "
                              "statistics are recorded.")
        self._template = model
        super().__init__(None, dataset, config, distributed)  # type: ignore[arg-type]

    def _fit(self, spec, dataset: Dataset):
        """Check the output against the classes; replace the last Linear when they differ."""
        output = self.analysis.facts.output_shape
        classes = dataset.num_classes
        if len(output) == 2 and output[1] == classes:
            self._head = None
            return None
        path = _last_linear(self._template, self.analysis)
        if path is None:
            raise TrainError(f"{self.name} gives outputs of shape {tuple(output)}, not one per "
                             f"class of the dataset ({classes}), and has no Linear layer to "
                             f"replace.")
        old = self._template.get_submodule(path)
        self._head = (path, old.in_features, old.bias is not None)
        self.notes.append(f"{self.name}'s last Linear layer ({path}) gives {old.out_features} "
                          f"outputs and the dataset has {classes} classes, so it is replaced by a "
                          f"new Linear({old.in_features}, {classes}).")
        return None

    def _check_fits(self) -> MemoryEstimate:
        params = self.analysis.facts.params
        weights = params * 4
        states = 2 if self.config.optimizer == "adam" else (1 if self.config.momentum > 0 else 0)
        data = 0 if self.device.type == "cpu" else (self.dataset.x_train.nbytes
                                                      + self.dataset.x_val.nbytes)
        activations = (self.analysis.facts.activation_bytes * self.local_batch
                       * ACTIVATION_COPIES)
        memory = MemoryEstimate(weights, weights, weights * states, activations, data,
                                self.local_batch)
        check_memory(memory, self.device)
        return memory

    def _build(self, generator: torch.Generator) -> nn.Module:
        """The network with real weights: its modules' own initialisation under the seed."""
        model = copy.deepcopy(self._template)
        if self._head is not None:
            path, features, bias = self._head
            with torch.device("meta"):
                _replace(model, path, nn.Linear(features, self.dataset.num_classes, bias=bias))
        if any(p.is_meta for p in model.parameters()) or any(b.is_meta for b in model.buffers()):
            model = model.to_empty(device="cpu")
            uninitialised = []
            with torch.no_grad():
                for tensor in [*model.parameters(), *model.buffers()]:
                    tensor.zero_()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
                for path, module in model.named_modules():
                    own = list(module.parameters(recurse=False)) + list(
                        module.buffers(recurse=False))
                    if hasattr(module, "reset_parameters"):
                        module.reset_parameters()
                    elif own:
                        uninitialised.append(path or "(the model itself)")
            if uninitialised:
                self.notes.append("These modules have no reset_parameters, so their parameters "
                                  "start at zero: " + ", ".join(uninitialised[:10]) + ".")
        elif self._head is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
                path = self._head[0]
                _replace(model, path, nn.Linear(self._head[1], self.dataset.num_classes,
                                                bias=self._head[2]))
        return model

    def probes(self, model: nn.Module) -> list[BlockProbe]:
        return self._probes


def train_model(model: nn.Module, dataset: Dataset, config: TrainConfig | None = None,
                name: str | None = None, callback=None, stop=None) -> TrainResult:
    """Train a copy of `model` (its weights are never changed) and return the result, with the
    notes (head replaced, modules left at zero) in `result.message`'s preamble."""
    trainer = ModuleTrainer(model, dataset, config, name=name)
    for event in trainer.events(stop):
        if callback is not None:
            callback(event)
    assert trainer.result is not None
    if trainer.notes:
        trainer.result.message = " ".join(trainer.notes) + " " + trainer.result.message
    return trainer.result


def file_model_trainer(target: str, input_text: str, dataset: Dataset, config: TrainConfig,
                       distributed: Distributed | None = None) -> ModuleTrainer:
    """`path/to/file.py:NAME` (built on meta, its size checked) as a trainer on `dataset`."""
    from inspector.user_model import PROGRAM_SUFFIX, load_module, parse_input

    if target.endswith(PROGRAM_SUFFIX):
        raise TrainError("A torch.export program (.pt2) is read as data and holds no weights to "
                         "train; give the Python file that defines the network (file.py:NAME).")
    shape = parse_input(input_text)
    expected = (dataset.in_channels, dataset.image_size, dataset.image_size)
    if tuple(shape) != expected:
        raise TrainError(f"--input {input_text} does not match the dataset's images "
                         f"({'x'.join(map(str, expected))}); give --input "
                         f"{'x'.join(map(str, expected))}.")
    return ModuleTrainer(load_module(target), dataset, config, distributed,
                         name=target.rpartition(":")[2])


def module_result_payload(result: TrainResult, name: str) -> dict:
    """A trained module's weights, metrics and statistics: tensors, text and lists only, so the
    file loads with `torch.load(weights_only=True)`. (It has no spec: `infer` takes designs.)"""
    import json

    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    payload = {"format": MODULE_FORMAT, "version": 1, "name": name, "state_dict": state,
               "metrics": json.dumps([asdict(m) for m in result.metrics]),
               "classes": list(result.classes), "mean": list(result.mean),
               "std": list(result.std), "dataset": result.dataset,
               "config": json.dumps(result.config.to_dict())}
    if result.block_stats is not None:
        payload["block_stats"] = json.dumps(result.block_stats.to_dict())
    return payload


def save_module_result(out: Path | io.BytesIO, result: TrainResult, name: str) -> None:
    torch.save(module_result_payload(result, name), out)

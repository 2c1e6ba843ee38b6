"""Build an `nn.Module` from a `ResNetSpec`.

Module names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`), so
torchvision checkpoints load with `strict=True`; the deep stem and the ResNet-D shortcut follow timm's
layout (`conv1.0`, `downsample.1`). Models are built on the `meta` device by default: inspection
needs shapes, never weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from inspector.kinds import NodeKind, ShortcutKind
from inspector.spec import BlockPlan, ResNetSpec, block_convs


def stage_path(stage: int) -> str:
    """The module path of a stage's `nn.Sequential` (torchvision's `layer1`..); block `i` of it
    is `f"{stage_path(stage)}.{i}"`."""
    return f"layer{stage + 1}"


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by the stride and append zero channels. No parameters."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


def _shortcut(plan: BlockPlan, preact: bool, avg_down: bool) -> nn.Module | None:
    """The module on the shortcut path, or None for an identity (and for plain networks).

    In a ResNet-D design (`avg_down`) every projection is timm's `[pool, conv, norm]`, with an
    `nn.Identity` for the pool where the stride is 1, so timm's checkpoints load strictly: the
    conv is always `downsample.1` and the norm `downsample.2`.
    """
    if plan.shortcut in (ShortcutKind.NONE, ShortcutKind.IDENTITY):
        return None
    if plan.shortcut == ShortcutKind.IDENTITY_PAD:
        return ZeroPadShortcut(plan.stride, plan.out_channels - plan.in_channels)
    layers: list[nn.Module] = []
    conv_stride = plan.stride
    if plan.shortcut == ShortcutKind.POOLED_PROJECTION:
        layers.append(nn.AvgPool2d(plan.stride, plan.stride, ceil_mode=True, count_include_pad=False))
        conv_stride = 1
    elif avg_down:
        layers.append(nn.Identity())
    layers.append(nn.Conv2d(plan.in_channels, plan.out_channels, 1, conv_stride, bias=False))
    if not preact:  # a pre-activated input is already normalised
        layers.append(nn.BatchNorm2d(plan.out_channels))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) block, post- or pre-activation.

    Convs are `conv1..convK` with norms `bn1..bnK` and activations `act1..`, as torchvision names
    them. `stage`, `index` and `shortcut_kind` are the plan's, for people reading a built model;
    the analysis never reads them (it finds blocks and shortcut kinds from the traced ops).
    """

    def __init__(self, spec: ResNetSpec, plan: BlockPlan) -> None:
        super().__init__()
        self.stage, self.index, self.shortcut_kind = plan.stage, plan.index, plan.shortcut
        self.preact = spec.preact
        self.residual = spec.residual
        self.num_convs = 0
        for number, conv in enumerate(block_convs(spec, plan), start=1):
            padding = conv.kernel // 2
            setattr(self, f"conv{number}", nn.Conv2d(
                conv.in_channels, conv.out_channels, conv.kernel, conv.stride, padding,
                groups=conv.groups, bias=False,
            ))
            norm_channels = conv.in_channels if spec.preact else conv.out_channels
            setattr(self, f"bn{number}", nn.BatchNorm2d(norm_channels))
            self.num_convs = number
        # Post-activation needs an activation between convs; pre-activation one before each conv.
        num_acts = self.num_convs if spec.preact else self.num_convs - 1
        for number in range(1, num_acts + 1):
            setattr(self, f"act{number}", nn.ReLU(inplace=True))
        self.downsample = _shortcut(plan, spec.preact, avg_down=spec.shortcut == "D")
        self.act_out = nn.ReLU(inplace=True) if spec.relu_after_add else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.preact:
            out = x
            for number in range(1, self.num_convs + 1):
                out = getattr(self, f"act{number}")(getattr(self, f"bn{number}")(out))
                if number == 1 and self.downsample is not None:
                    shortcut = self.downsample(out)  # projections see the pre-activated input
                out = getattr(self, f"conv{number}")(out)
        else:
            out = x
            for number in range(1, self.num_convs + 1):
                out = getattr(self, f"bn{number}")(getattr(self, f"conv{number}")(out))
                if number < self.num_convs:
                    out = getattr(self, f"act{number}")(out)
            if self.downsample is not None:
                shortcut = self.downsample(x)
        if self.residual:
            out = out + shortcut
        if self.act_out is not None:
            out = self.act_out(out)
        return out

    @property
    def last_norm_or_conv(self) -> nn.Module:
        """What zero-init resets so the block starts as an identity."""
        last = self.num_convs
        return getattr(self, f"conv{last}") if self.preact else getattr(self, f"bn{last}")


class ResNet(nn.Module):
    """Stem, stages `layer1..layerN` of residual blocks, global average pool and `fc`."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self._build_stem(spec)
        plans = spec.blocks()
        for stage in range(spec.num_stages):
            blocks = [ResidualBlock(spec, p) for p in plans if p.stage == stage]
            setattr(self, stage_path(stage), nn.Sequential(*blocks))
        # Pre-activation blocks leave their sum un-normalised: normalise once before pooling.
        self.final_bn = nn.BatchNorm2d(spec.feature_channels) if spec.preact else None
        self.final_act = nn.ReLU(inplace=True) if spec.preact else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.feature_channels, spec.num_classes)

    def _build_stem(self, spec: ResNetSpec) -> None:
        convs = [g for g in spec.stem_layers() if g.kind == NodeKind.CONV]
        modules: list[nn.Module] = []
        channels = spec.in_channels
        for number, geometry in enumerate(convs):
            modules.append(nn.Conv2d(channels, geometry.out_channels, geometry.kernel,
                                     geometry.stride, geometry.padding, bias=False))
            if number < len(convs) - 1:  # the last conv's norm is bn1, outside the Sequential
                modules += [nn.BatchNorm2d(geometry.out_channels), nn.ReLU(inplace=True)]
            channels = geometry.out_channels
        self.conv1 = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
        self.bn1 = None if spec.preact else nn.BatchNorm2d(spec.stem_width)
        self.relu = None if spec.preact else nn.ReLU(inplace=True)
        has_pool = any(g.kind == NodeKind.MAXPOOL for g in spec.stem_layers())
        self.maxpool = nn.MaxPool2d(3, 2, 1) if has_pool else None

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, stage_path(i)) for i in range(self.spec.num_stages)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for stage in self.stages:
            x = stage(x)
        if self.final_bn is not None:
            x = self.final_act(self.final_bn(x))
        x = self.avgpool(x)
        return self.fc(torch.flatten(x, 1))


def init_weights(model: ResNet, generator: torch.Generator | None = None) -> None:
    """He initialisation (fan_out) for convs, unit BN, PyTorch's default for fc.

    With `zero_init_residual`, the last BN of every block (the last conv, when pre-activated)
    starts at zero, so each block starts as an identity (Goyal et al., 2017). A `generator`
    keeps the draw private to one run: the global seed is shared by every thread.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                    generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):  # nn.Linear.reset_parameters, with the generator
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(module.in_features)
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    if model.spec.zero_init_residual:
        for module in model.modules():
            if isinstance(module, ResidualBlock):
                nn.init.zeros_(module.last_norm_or_conv.weight)


def build_model(spec: ResNetSpec, device: str | torch.device = "meta",
                generator: torch.Generator | None = None) -> ResNet:
    """Validate the spec and build its model; on `meta` (the default) no weight is allocated."""
    spec.validate()
    device = torch.device(device)
    with device:
        model = ResNet(spec)
    if device.type != "meta":
        init_weights(model, generator)
    return model


def materialize(model: ResNet, device: str | torch.device = "cpu") -> ResNet:
    """Give a meta model real, freshly initialised weights on `device`."""
    model.to_empty(device=device)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
    init_weights(model)
    return model

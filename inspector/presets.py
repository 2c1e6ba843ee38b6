"""Named designs from the literature, each with a one-line description and its source."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.spec import ResNetSpec, SpecError, quote

TORCHVISION = "torchvision.models (He et al. 2015, 'Deep Residual Learning for Image Recognition')"
PAPER_CIFAR = "He et al. 2015, section 4.2 and Table 6 (CIFAR-10, depth 6n+2)"


@dataclass(frozen=True)
class Preset:
    name: str
    spec: ResNetSpec
    description: str
    source: str


def _imagenet(layers: tuple[int, ...], block: str, **changes) -> ResNetSpec:
    return ResNetSpec(block=block, layers=layers, **changes)


def _cifar(n: int, residual: bool = True) -> ResNetSpec:
    return ResNetSpec(
        block="basic", layers=(n, n, n), widths=(16, 32, 64), strides=(1, 2, 2), stem="cifar",
        stem_width=16, shortcut="A", residual=residual, num_classes=10, input_size=32,
    )


_B, _BN = "basic", "bottleneck"
_LIST = [
    Preset("resnet18", _imagenet((2, 2, 2, 2), _B), "18 layers, basic blocks", TORCHVISION),
    Preset("resnet34", _imagenet((3, 4, 6, 3), _B), "34 layers, basic blocks", TORCHVISION),
    Preset("resnet50", _imagenet((3, 4, 6, 3), _BN),
           "50 layers, bottlenecks, stride on the 3x3 (v1.5)", TORCHVISION),
    Preset("resnet50_v1", _imagenet((3, 4, 6, 3), _BN, stride_in="1x1"),
           "50 layers, bottlenecks, stride on the first 1x1 as in the paper (v1)",
           "He et al. 2015, Table 1"),
    Preset("resnet101", _imagenet((3, 4, 23, 3), _BN), "101 layers, bottlenecks", TORCHVISION),
    Preset("resnet152", _imagenet((3, 8, 36, 3), _BN), "152 layers, bottlenecks", TORCHVISION),
    Preset("resnet200", _imagenet((3, 24, 36, 3), _BN), "200 layers, bottlenecks",
           "timm (He et al. 2016, 'Identity Mappings in Deep Residual Networks')"),
    Preset("resnext50_32x4d", _imagenet((3, 4, 6, 3), _BN, groups=32, width_per_group=4),
           "ResNeXt-50: 32 groups of 4 channels in each 3x3",
           "torchvision.models (Xie et al. 2017, 'Aggregated Residual Transformations')"),
    Preset("resnext101_32x8d", _imagenet((3, 4, 23, 3), _BN, groups=32, width_per_group=8),
           "ResNeXt-101: 32 groups of 8 channels in each 3x3",
           "torchvision.models (Xie et al. 2017)"),
    Preset("wide_resnet50_2", _imagenet((3, 4, 6, 3), _BN, width_per_group=128),
           "Wide ResNet-50-2: bottleneck 3x3s twice as wide",
           "torchvision.models (Zagoruyko & Komodakis 2016, 'Wide Residual Networks')"),
    Preset("wide_resnet101_2", _imagenet((3, 4, 23, 3), _BN, width_per_group=128),
           "Wide ResNet-101-2: bottleneck 3x3s twice as wide", "torchvision.models"),
    Preset("resnet50d", _imagenet((3, 4, 6, 3), _BN, stem="deep", shortcut="D"),
           "ResNet-50-D: deep 3x3 stem (32-32-64) and average-pool shortcuts",
           "timm (He et al. 2019, 'Bag of Tricks for Image Classification')"),
    *[
        Preset(f"resnet{6 * n + 2}", _cifar(n),
               f"CIFAR-10, {6 * n + 2} layers (n={n}), widths 16/32/64, shortcut A", PAPER_CIFAR)
        for n in (3, 5, 7, 9, 18, 200)
    ],
    Preset("plain20", _cifar(3, residual=False),
           "CIFAR-10 plain net, 20 layers: no shortcuts (the degradation experiment)",
           "He et al. 2015, section 4.2 and Figure 6"),
    Preset("plain56", _cifar(9, residual=False),
           "CIFAR-10 plain net, 56 layers: trains worse than plain20 (degradation)",
           "He et al. 2015, section 4.2 and Figure 6"),
    Preset("preact_resnet18",
           ResNetSpec(stem="cifar", preact=True, relu_after_add=False, num_classes=10,
                      input_size=32),
           "Pre-activation ResNet-18 for CIFAR-10 (BN-ReLU-conv, no ReLU after the sum)",
           "He et al. 2016, 'Identity Mappings in Deep Residual Networks'"),
    Preset("preact_resnet164",
           ResNetSpec(block=_BN, layers=(18, 18, 18), widths=(16, 32, 64), strides=(1, 2, 2),
                      stem="cifar", stem_width=16, preact=True, relu_after_add=False,
                      num_classes=10, input_size=32),
           "Pre-activation ResNet-164 for CIFAR-10: bottlenecks, 1.7M parameters",
           "He et al. 2016, Table 3"),
    Preset("tutorial_resnet10",
           ResNetSpec(layers=(1, 1, 1, 1), widths=(128, 256, 512, 512), strides=(2, 2, 2, 2),
                      stem="patchify", relu_after_add=False, num_classes=10, input_size=32),
           "Compact 4-stage tutorial net: 3x3/3 stem, one block per stage 64-128-256-512-512",
           "A common teaching example (single-block shape checks)"),
]

PRESETS: dict[str, Preset] = {preset.name: preset for preset in _LIST}


def get_preset(name: str) -> ResNetSpec:
    """The spec of a named preset; SpecError lists the names when it is unknown."""
    try:
        return PRESETS[name].spec
    except KeyError:
        raise SpecError(
            f"Unknown preset {quote(name)}; choose one of: {', '.join(PRESETS)}."
        ) from None


def find_preset(spec: ResNetSpec) -> str | None:
    """The name of the preset that builds the same model, if any."""
    key = spec.spec_hash()
    return next((p.name for p in _LIST if p.spec.spec_hash() == key), None)

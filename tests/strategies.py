"""Hypothesis strategies shared by the tests: small designs of every kind, cheap to build."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from inspector import ResNetSpec, SpecError, get_preset


@st.composite
def small_designs(draw, shortcuts: Sequence[str] = ("A", "B", "C", "D"), max_stages: int = 4,
                  groups: Sequence[int] = (1,), max_input: int = 64) -> ResNetSpec:
    """A valid small design: both blocks, every stem, strides up to 3, pre-activation, plain.

    A drawn combination that cannot be built (too small an input for its strides, say) stands
    in as resnet20, so every example is a design the tool accepts.
    """
    stages = draw(st.integers(1, max_stages))
    spec = ResNetSpec(
        block=draw(st.sampled_from(["basic", "bottleneck"])),
        layers=tuple(draw(st.integers(1, 3)) for _ in range(stages)),
        widths=tuple(draw(st.sampled_from([8, 16, 32])) for _ in range(stages)),
        strides=tuple(draw(st.integers(1, 3)) for _ in range(stages)),
        stem=draw(st.sampled_from(["imagenet", "cifar", "deep", "patchify"])),
        stem_width=draw(st.sampled_from([8, 16])),
        stride_in=draw(st.sampled_from(["1x1", "3x3"])),
        shortcut=draw(st.sampled_from(list(shortcuts))),
        preact=draw(st.booleans()),
        residual=draw(st.booleans()),
        relu_after_add=draw(st.booleans()),
        groups=draw(st.sampled_from(list(groups))),
        num_classes=draw(st.integers(2, 20)),
        input_size=draw(st.integers(24, max_input)),
    )
    try:
        return spec.validate()
    except SpecError:
        return get_preset("resnet20")

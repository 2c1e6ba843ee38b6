"""ResNetSpec: serialisation, identity, and the sentences users get for impossible designs."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector import PRESETS, ResNetSpec, SpecError, build_model, get_preset
from inspector.spec import min_input_size, parse_field


@pytest.mark.parametrize("name", PRESETS)
def test_json_round_trip_keeps_every_preset(name):
    spec = get_preset(name)
    again = ResNetSpec.from_json(spec.to_json())
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()


def test_hash_is_stable_and_sensitive():
    spec = get_preset("resnet50")
    assert spec.spec_hash() == ResNetSpec.from_json(spec.to_json(indent=None)).spec_hash()
    assert spec.spec_hash() != spec.replace(stride_in="1x1").spec_hash()
    # The explicit standard expansion builds the same model, so it is the same cache entry.
    assert spec.spec_hash() == spec.replace(expansion=4).spec_hash()
    assert len({p.spec.spec_hash() for p in PRESETS.values()}) == len(PRESETS)


def test_text_values_parse_like_the_cli_and_urls():
    spec = get_preset("resnet50").with_text_values(
        {"stride_in": "1x1", "input_size": "32", "layers": "2,2,2,2", "preact": "true"})
    assert (spec.stride_in, spec.input_size, spec.layers, spec.preact) == (
        "1x1", 32, (2, 2, 2, 2), True)
    assert parse_field("expansion", "auto") is None


@pytest.mark.parametrize("changes, fragment", [
    ({"layers": (3, 0, 6, 3)}, "at least one block"),
    ({"layers": (3, -1, 6, 3)}, "at least one block"),
    ({"widths": (64, 0, 256, 512)}, "width"),
    ({"layers": (), "widths": (), "strides": ()}, "1 to 6 stages"),
    ({"layers": (1,) * 7, "widths": (8,) * 7, "strides": (1,) * 7}, "1 to 6 stages"),
    ({"widths": (64, 128)}, "one entry per stage"),
    ({"block": "basik"}, "block must be one of"),
    ({"shortcut": "E"}, "shortcut must be one of"),
    ({"stem": "huge"}, "stem must be one of"),
    ({"stride_in": "5x5"}, "stride_in must be one of"),
    ({"num_classes": 0}, "number of classes"),
    ({"groups": 3, "widths": (64, 128, 256, 512)}, "groups do not divide"),
    ({"width_per_group": 4}, "bottleneck blocks only"),
    ({"input_size": 16}, "too small"),
    ({"block": "bottleneck", "width_per_group": 4, "widths": (16, 4, 4, 4)},
     "too small for stage conv3_x"),
    ({"widths": (16384,) * 4, "layers": (6, 6, 6, 6)}, "billion parameters"),
    ({"input_size": 4096, "widths": (4096,) * 4}, "billion parameters"),
])
def test_impossible_designs_raise_spec_error_with_a_sentence(changes, fragment):
    spec = get_preset("resnet18").replace(**changes)
    with pytest.raises(SpecError, match=fragment):
        spec.validate()


def test_too_small_input_names_the_stage_and_the_smallest_size():
    spec = get_preset("resnet18").replace(input_size=16)
    with pytest.raises(SpecError) as error:
        spec.validate()
    assert "conv5_x" in str(error.value)
    smallest = min_input_size(spec)
    assert f"{smallest}x{smallest}" in str(error.value)
    spec.replace(input_size=smallest).validate()
    with pytest.raises(SpecError):
        spec.replace(input_size=smallest - 1).validate()


def test_option_a_cannot_shrink_channels():
    spec = ResNetSpec(widths=(64, 32), layers=(1, 1), strides=(1, 2), shortcut="A")
    with pytest.raises(SpecError, match="pads channels with zeros"):
        spec.validate()


def test_huge_activations_are_refused_before_anything_is_allocated():
    spec = get_preset("resnet50").replace(input_size=4096, widths=(256, 512, 1024, 2048))
    with pytest.raises(SpecError, match="GiB of activations|billion parameters"):
        build_model(spec)


def test_unknown_and_mistyped_fields_are_spec_errors():
    with pytest.raises(SpecError, match="Unknown field 'blok'"):
        ResNetSpec.from_dict({"blok": "basic"})
    with pytest.raises(SpecError, match="whole number"):
        ResNetSpec.from_dict({"input_size": "big"})
    with pytest.raises(SpecError, match="true or false"):
        ResNetSpec.from_dict({"preact": "maybe"})
    with pytest.raises(SpecError, match="not valid JSON"):
        ResNetSpec.from_json("{layers: [1,")
    with pytest.raises(SpecError, match="whole number"):
        get_preset("resnet18").with_text_values({"input_size": "2x"})


# ----- property-based: validate() is the one gate --------------------------------------------

@st.composite
def spec_dicts(draw, wild: bool):
    """Designs a slider could produce; `wild` also draws unknown names and non-positive counts."""
    def pick(valid, invalid):
        return st.sampled_from(valid + invalid) if wild else st.sampled_from(valid)

    stages = draw(st.integers(0, 4) if wild else st.integers(1, 4))
    data = {
        "block": draw(pick(["basic", "bottleneck"], ["other"])),
        "stem": draw(pick(["imagenet", "cifar", "deep", "patchify"], ["none"])),
        "stride_in": draw(pick(["1x1", "3x3"], ["7x7"])),
        "shortcut": draw(pick(["A", "B", "C", "D"], ["Z"])),
        "layers": [draw(pick([1, 2, 3], [0, -1])) for _ in range(stages)],
        "widths": [draw(pick([4, 8, 12, 16], [0, -4])) for _ in range(stages)],
        "strides": [draw(pick([1, 2, 3], [0, 9])) for _ in range(stages)],
        "stem_width": draw(pick([2, 4, 8, 16], [0])),
        "preact": draw(st.booleans()), "residual": draw(st.booleans()),
        "relu_after_add": draw(st.booleans()), "zero_init_residual": draw(st.booleans()),
        "groups": draw(pick([1, 1, 2, 4], [0])),
        "width_per_group": draw(pick([64, 64, 16, 4], [0])),
        "expansion": draw(pick([None, 1, 2, 4], [0])),
        "num_classes": draw(pick([1, 3, 10], [0, -1])),
        "in_channels": draw(pick([1, 3], [0])),
        "input_size": draw(pick([1, 2, 5, 8, 17, 32, 48], [0, -2])),
    }
    if wild and draw(st.booleans()):
        data["strides"] = data["strides"][:1]  # stage lists of different lengths
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(spec_dicts(wild=False), spec_dicts(wild=True)))
def test_every_accepted_spec_builds_and_every_rejected_one_says_why(data):
    spec = ResNetSpec.from_dict(data)
    try:
        spec.validate()
    except SpecError as error:
        assert str(error).endswith(".")  # a sentence, not a bare exception
        return
    model = build_model(spec).eval()
    out = model(torch.empty(2, spec.in_channels, spec.input_size, spec.input_size, device="meta"))
    assert tuple(out.shape) == (2, spec.num_classes)

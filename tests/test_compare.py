"""Comparisons: numbers against torchvision's published counts, explanations built from them."""

import pytest

from inspector import SpecError, compute_facts, get_preset
from inspector.compare import compare

# torchvision.models documentation: parameters and GFLOPS.
RESNET34 = (21_797_672, 3.66)
RESNET50 = (25_557_032, 4.09)


def test_resnet34_vs_resnet50_totals_are_the_published_figures():
    result = compare(get_preset("resnet34"), get_preset("resnet50"), ("resnet34", "resnet50"))
    totals = result.totals
    assert list(totals.columns) == ["resnet34", "resnet50", "difference", "ratio"]
    assert totals.loc["params", "resnet34"] == RESNET34[0]
    assert totals.loc["params", "resnet50"] == RESNET50[0]
    assert totals.loc["params", "difference"] == RESNET50[0] - RESNET34[0]
    assert totals.loc["params", "ratio"] == pytest.approx(RESNET50[0] / RESNET34[0])
    assert totals.loc["mult_adds", "ratio"] == pytest.approx(RESNET50[1] / RESNET34[1], rel=0.01)
    assert (totals.loc["depth", "resnet34"], totals.loc["depth", "resnet50"]) == (34, 50)
    assert {"activation_bytes", "blocks", "conv_layers"} <= set(totals.index)


def test_resnet34_vs_resnet50_explanation():
    """The issue's example: bottlenecks, 4x wider outputs, ~17% more params for ~12% more mult-adds."""
    text = compare(get_preset("resnet34"), get_preset("resnet50"), ("resnet34", "resnet50")).explanation
    params_pct = round((RESNET50[0] / RESNET34[0] - 1) * 100)
    flops_pct = round((RESNET50[1] / RESNET34[1] - 1) * 100)
    assert (params_pct, flops_pct) == (17, 12)
    assert "resnet50 uses bottleneck blocks" in text
    assert "4x wider" in text
    assert f"{params_pct}% more parameters" in text
    assert f"{flops_pct}% more mult-adds" in text
    assert "50 layers deep against 34" in text


def test_explanations_follow_the_numbers_both_ways():
    forward = compare(get_preset("resnet50"), get_preset("resnet34")).explanation
    assert "B uses basic blocks" in forward and "4x narrower" in forward
    assert "15% fewer parameters" in forward  # 21.80M / 25.56M = 0.853
    same = compare(get_preset("resnet20"), get_preset("plain20"), ("resnet20", "plain20"))
    assert "plain20 is a plain network without shortcuts" in same.explanation
    assert "the same parameters" in same.explanation  # option A shortcuts have no weights
    wide = compare(get_preset("resnet50"), get_preset("wide_resnet50_2")).explanation
    assert "3x3 convs are 2x wider" in wide and "2.7x the parameters" in wide  # 68.9M / 25.6M


def test_field_differences_are_named():
    base = get_preset("resnet50")
    text = compare(base, base.replace(stride_in="1x1", input_size=160)).explanation
    assert "downsamples in the first 1x1 conv (v1)" in text
    assert "Input: 160x160" in text


def test_stage_rows():
    spec_a, spec_b = get_preset("resnet18"), get_preset("resnet20")
    result = compare(spec_a, spec_b)
    stages = result.stages
    assert list(stages["stage"]) == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "head"]
    facts_a, facts_b = compute_facts(spec_a), compute_facts(spec_b)
    assert stages["params_a"].sum() == facts_a.params
    assert stages["params_b"].sum() == facts_b.params
    assert stages["mult_adds_b"].sum() == facts_b.mult_adds
    assert list(stages["blocks_b"]) == [0, 3, 3, 3, 0, 0]  # resnet20 has three stages
    assert (stages["params_diff"] == stages["params_b"] - stages["params_a"]).all()


def test_equal_names_are_told_apart_and_bad_specs_raise():
    spec = get_preset("resnet18")
    result = compare(spec, spec, ("x", "x"))
    assert list(result.totals.columns[:2]) == ["x (A)", "x (B)"]
    assert "the same parameters" in result.explanation
    with pytest.raises(SpecError):
        compare(spec, spec.replace(layers=(0, 2, 2, 2)))


def test_one_measure_per_stage_is_named_after_the_designs():
    from inspector.compare import StageMeasure, stage_measure

    spec_a, spec_b = get_preset("resnet34"), get_preset("resnet50")
    result = compare(spec_a, spec_b, ("resnet34", "resnet50"))
    params = stage_measure(result, StageMeasure.PARAMS)
    assert list(params.columns) == ["stage", "resnet34", "resnet50", "difference"]
    assert params["resnet34"].sum() == RESNET34[0] and params["resnet50"].sum() == RESNET50[0]
    sizes = stage_measure(result, StageMeasure.OUT_SIZE)
    assert list(sizes.columns) == ["stage", "resnet34", "resnet50"]  # no difference kept
    assert list(sizes["resnet50"][1:5]) == [56, 28, 14, 7]  # conv2_x .. conv5_x (REFERENCE.md)
    with pytest.raises(ValueError):
        stage_measure(result, "flops")

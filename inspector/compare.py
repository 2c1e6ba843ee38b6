"""Two designs side by side: per-stage and total differences, and a short explanation.

Everything here comes from the analytic facts (fast enough for two sliders at once); the
explanation is assembled from the numbers and the specs' differing fields, never hand-written
per pair, so "resnet34 vs resnet50" and any custom pair get the same treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from inspector.facts import Facts, compute_facts
from inspector.formatting import amount
from inspector.kinds import BlockKind
from inspector.spec import SHORTCUT_DESCRIPTIONS, STEM_DESCRIPTIONS, ResNetSpec

_BLOCK_WORDS = {
    BlockKind.BASIC: "basic blocks (two 3x3 convs)",
    BlockKind.BOTTLENECK: "bottleneck blocks (1x1, 3x3, 1x1 convs)",
}


@dataclass(frozen=True)
class Comparison:
    stages: pd.DataFrame  # per stage: both designs and the difference (B - A)
    totals: pd.DataFrame  # rows: params, mult_adds, depth, ...; columns: A, B, difference, ratio
    explanation: str
    names: tuple[str, str] = ("A", "B")


def _stage_rows(facts_a: Facts, facts_b: Facts) -> pd.DataFrame:
    rows = []
    count = max(len(facts_a.stages), len(facts_b.stages))
    for position in range(-1, count):  # -1 is the stem
        def pick(facts: Facts):
            if position < 0:
                return facts.stem
            return facts.stages[position] if position < len(facts.stages) else None

        a, b = pick(facts_a), pick(facts_b)
        name = (a or b).name
        row = {"stage": name}
        for field in ("blocks", "out_channels", "out_size", "params", "mult_adds"):
            value_a = getattr(a, field) if a else 0
            value_b = getattr(b, field) if b else 0
            row[f"{field}_a"], row[f"{field}_b"] = value_a, value_b
            if field in ("params", "mult_adds", "blocks"):
                row[f"{field}_diff"] = value_b - value_a
        rows.append(row)
    head = {"stage": "head"}
    for field, a, b in (("blocks", 0, 0), ("out_channels", facts_a.output_shape[1],
                                            facts_b.output_shape[1]),
                        ("out_size", 1, 1), ("params", facts_a.head_params, facts_b.head_params)):
        head[f"{field}_a"], head[f"{field}_b"] = a, b
    head["blocks_diff"], head["params_diff"] = 0, facts_b.head_params - facts_a.head_params
    rows.append(head)
    table = pd.DataFrame(rows)
    head_mult_adds = (facts_a.mult_adds - sum(r["mult_adds_a"] for r in rows[:-1]),
                      facts_b.mult_adds - sum(r["mult_adds_b"] for r in rows[:-1]))
    table.loc[table.index[-1], ["mult_adds_a", "mult_adds_b"]] = head_mult_adds
    table["mult_adds_diff"] = table["mult_adds_b"] - table["mult_adds_a"]
    order = ["stage", "blocks_a", "blocks_b", "blocks_diff", "out_channels_a", "out_channels_b",
             "out_size_a", "out_size_b", "params_a", "params_b", "params_diff",
             "mult_adds_a", "mult_adds_b", "mult_adds_diff"]
    return table[order].astype({c: "int64" for c in order[1:]})


def _totals(spec_a: ResNetSpec, spec_b: ResNetSpec, facts_a: Facts, facts_b: Facts,
            names: tuple[str, str]) -> pd.DataFrame:
    def values(spec: ResNetSpec, facts: Facts) -> dict[str, int]:
        return {
            "params": facts.params,
            "mult_adds": facts.mult_adds,
            "depth": facts.depth,
            "activation_bytes": facts.activation_bytes,
            "blocks": sum(spec.layers),
            "conv_layers": facts.conv_layers,
            "projection_shortcuts": facts.projection_shortcuts,
            "feature_channels": spec.feature_channels,
            "receptive_field": facts.receptive_field,
            "input_size": spec.input_size,
        }

    a, b = values(spec_a, facts_a), values(spec_b, facts_b)
    table = pd.DataFrame({names[0]: a, names[1]: b})
    table["difference"] = table[names[1]] - table[names[0]]
    table["ratio"] = [vb / va if va else math.nan for va, vb in zip(a.values(), b.values())]
    return table


def _change(a: float, b: float, less: str = "fewer") -> str:
    """'17% more' / '8% fewer' / '2.7x the' / 'the same', to go before a noun."""
    if a == b:
        return "the same"
    if a == 0:
        return "some more"
    if b >= 2 * a:
        return f"{b / a:.1f}x the"
    percent = round(abs(b - a) / a * 100)
    if percent == 0:
        return "slightly more" if b > a else f"slightly {less}"
    return f"{percent}% {'more' if b > a else less}"


def _ratio_words(ratios: list[float]) -> str | None:
    if len(set(ratios)) != 1 or ratios[0] == 1:
        return None
    r = ratios[0]
    return f"{r:g}x wider" if r > 1 else f"{1 / r:g}x narrower"


def _explain(spec_a: ResNetSpec, spec_b: ResNetSpec, facts_a: Facts, facts_b: Facts,
             names: tuple[str, str]) -> str:
    na, nb = names
    sentences = []
    if spec_a.block != spec_b.block:
        sentences.append(f"{nb} uses {_BLOCK_WORDS[spec_b.block]} where {na} uses "
                         f"{_BLOCK_WORDS[spec_a.block]}.")
    if spec_a.layers != spec_b.layers:
        sentences.append(
            f"{nb} stacks {sum(spec_b.layers)} blocks ({'+'.join(map(str, spec_b.layers))}) "
            f"against {sum(spec_a.layers)} ({'+'.join(map(str, spec_a.layers))}).")
    channels_a = [s.out_channels for s in facts_a.stages]
    channels_b = [s.out_channels for s in facts_b.stages]
    if channels_a != channels_b:
        words = _ratio_words([b / a for a, b in zip(channels_a, channels_b)]) \
            if len(channels_a) == len(channels_b) else None
        lists = f"{', '.join(map(str, channels_b))} vs {', '.join(map(str, channels_a))}"
        sentences.append(f"{nb}'s stages output {words} tensors ({lists} channels)." if words
                         else f"Stage outputs differ: {lists} channels.")
    inner_a = [spec_a.inner_width(i) for i in range(spec_a.num_stages)]
    inner_b = [spec_b.inner_width(i) for i in range(spec_b.num_stages)]
    if spec_a.block == spec_b.block == BlockKind.BOTTLENECK and inner_a != inner_b:
        words = _ratio_words([b / a for a, b in zip(inner_a, inner_b)]) \
            if len(inner_a) == len(inner_b) else None
        if words:
            sentences.append(f"{nb}'s bottleneck 3x3 convs are {words}.")
    if spec_a.groups != spec_b.groups:
        sentences.append(f"{nb} splits its 3x3 convs into {spec_b.groups} groups "
                         f"({na}: {spec_a.groups}).")
    sentences.extend(_field_sentences(spec_a, spec_b, names))
    if facts_a.depth != facts_b.depth:
        sentences.append(f"By the paper's count {nb} is {facts_b.depth} layers deep against "
                         f"{facts_a.depth}.")
    sentences.append(
        f"{nb} has {_change(facts_a.params, facts_b.params)} parameters "
        f"({amount(facts_b.params)} vs {amount(facts_a.params)}) for "
        f"{_change(facts_a.mult_adds, facts_b.mult_adds)} mult-adds "
        f"({amount(facts_b.mult_adds)} vs {amount(facts_a.mult_adds)}), and needs "
        f"{_change(facts_a.activation_bytes, facts_b.activation_bytes, 'less')} activation memory per "
        f"training image ({amount(facts_b.activation_bytes, 'B')} vs "
        f"{amount(facts_a.activation_bytes, 'B')}).")
    return " ".join(sentences)


def _field_sentences(spec_a: ResNetSpec, spec_b: ResNetSpec, names: tuple[str, str]) -> list[str]:
    """One sentence per other field that differs, in the spec's own words where it has them."""
    na, nb = names
    out = []
    if spec_a.stem != spec_b.stem:
        out.append(f"Stem: {STEM_DESCRIPTIONS[spec_b.stem]} in {nb}; "
                   f"{STEM_DESCRIPTIONS[spec_a.stem]} in {na}.")
    if spec_a.shortcut != spec_b.shortcut and spec_a.residual and spec_b.residual:
        out.append(f"Shortcuts: {nb} uses option {spec_b.shortcut} "
                   f"({SHORTCUT_DESCRIPTIONS[spec_b.shortcut]}); {na} option {spec_a.shortcut}.")
    if spec_a.residual != spec_b.residual:
        plain = na if not spec_a.residual else nb
        out.append(f"{plain} is a plain network without shortcuts.")
    bottleneck = BlockKind.BOTTLENECK in (spec_a.block, spec_b.block)
    if spec_a.stride_in != spec_b.stride_in and bottleneck:
        where = {"1x1": "the first 1x1 conv (v1)", "3x3": "the 3x3 conv (v1.5)"}
        out.append(f"{nb} downsamples in {where[spec_b.stride_in]}, {na} in "
                   f"{where[spec_a.stride_in]}.")
    if spec_a.preact != spec_b.preact:
        pre = nb if spec_b.preact else na
        out.append(f"{pre} uses pre-activation blocks (BN and ReLU before each conv).")
    if spec_a.input_size != spec_b.input_size:
        out.append(f"Input: {spec_b.input_size}x{spec_b.input_size} for {nb}, "
                   f"{spec_a.input_size}x{spec_a.input_size} for {na}.")
    if spec_a.num_classes != spec_b.num_classes:
        out.append(f"Classes: {spec_b.num_classes} for {nb}, {spec_a.num_classes} for {na}.")
    return out


def compare(spec_a: ResNetSpec, spec_b: ResNetSpec,
            names: tuple[str, str] = ("A", "B")) -> Comparison:
    """Per-stage and total differences between two designs (B minus A), with an explanation.

    Raises SpecError if either spec is invalid.
    """
    if names[0] == names[1]:
        names = (f"{names[0]} (A)", f"{names[1]} (B)")
    facts_a, facts_b = compute_facts(spec_a), compute_facts(spec_b)
    return Comparison(
        stages=_stage_rows(facts_a, facts_b),
        totals=_totals(spec_a, spec_b, facts_a, facts_b, names),
        explanation=_explain(spec_a, spec_b, facts_a, facts_b, names),
        names=names,
    )


class StageMeasure(StrEnum):
    """The per-stage quantities a comparison holds for both designs."""

    PARAMS = "params"
    MULT_ADDS = "mult_adds"
    BLOCKS = "blocks"
    OUT_CHANNELS = "out_channels"
    OUT_SIZE = "out_size"


def stage_measure(result: Comparison, measure: StageMeasure) -> pd.DataFrame:
    """One measure per stage with the columns named after the designs (and their difference
    where one is kept): narrow enough to read side by side, unlike the full stage table."""
    measure = StageMeasure(measure)
    table = result.stages
    columns = {"stage": table["stage"], result.names[0]: table[f"{measure}_a"],
               result.names[1]: table[f"{measure}_b"]}
    if f"{measure}_diff" in table.columns:
        columns["difference"] = table[f"{measure}_diff"]
    return pd.DataFrame(columns)


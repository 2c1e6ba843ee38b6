"""Numbers read the same everywhere: the published figures' style, from one module."""

import pytest

from inspector import compute_facts, get_preset
from inspector.formatting import (amount, cell, chw, compact, count, megabytes, mult_adds, percent,
                                  shape)

from published import TORCHVISION


def test_counts_carry_separators_at_every_size():
    # ResNet-50's stem: 7*7*3*64 conv weights + 2*64 batch-norm parameters.
    assert count(7 * 7 * 3 * 64 + 2 * 64) == "9,536"
    assert count(215_808) == "215,808" and count(64) == "64"


@pytest.mark.parametrize("value, text", [(11_689_512, "11.7M"), (269_722, "269.7k"),
                                         (4_089_184_256, "4.1G"), (512, "512")])
def test_compact_counts(value, text):
    assert compact(value) == text


def test_published_mult_adds_read_as_torchvision_prints_them():
    """torchvision lists ResNet-50 at 4.09 GFLOPS; our count of the same network reads so."""
    facts = compute_facts(get_preset("resnet50"))
    assert mult_adds(facts.mult_adds) == f"{TORCHVISION['resnet50'][1]:.2f} G"
    assert mult_adds(40_810_000) == "40.8 M"


def test_sizes_shapes_and_shares():
    assert megabytes(150_196_224) == "150.2 MB"
    assert amount(150_196_224, "B") == "150.2 MB" and amount(25_557_032) == "25.6M"
    assert shape((1, 64, 56, 56)) == "1x64x56x56"
    assert chw((1, 64, 56, 56)) == "64 x 56 x 56" and chw(None) == ""
    assert percent(0.6016) == "60.2%"


def test_table_cells():
    assert cell(21_797_672) == "21,797,672"
    assert cell((1, 2048, 7, 7)) == "1x2048x7x7"
    assert cell(None) == "" and cell(float("nan")) == "" and cell(True) == "True"

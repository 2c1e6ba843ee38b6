"""The paper's Table 1 for any design: cells, sizes and FLOPs against the paper and an
independent count, and the four written forms (LaTeX checked by a TeX engine when one is
installed, by its structure always)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from torch.utils.flop_counter import FlopCounterMode

from inspector import ResNetSpec, SpecError, build_model, get_preset
from inspector.cli import main
from inspector.paper_table import (
    FLOPS_ROW, POOL_ROW, TORCHVISION_ROW, TableFormat, grid, latex_escape, notes, paper_table, to_csv,
    to_html, to_latex, to_markdown, write,
)
from tests.published import RESNETS, TORCHVISION
from tests.strategies import small_designs

# He et al. 2015, Table 1 (REFERENCE.md): cells as users read them.
PAPER_CELLS = {
    ("18-layer", "conv2_x"): "[3x3, 64; 3x3, 64] x 2",
    ("34-layer", "conv5_x"): "[3x3, 512; 3x3, 512] x 3",
    ("50-layer", "conv5_x"): "[1x1, 512; 3x3, 512; 1x1, 2048] x 3",
    ("152-layer", "conv4_x"): "[1x1, 256; 3x3, 256; 1x1, 1024] x 36",
    ("101-layer", "conv4_x"): "[1x1, 256; 3x3, 256; 1x1, 1024] x 23",
    ("34-layer", "conv3_x"): "[3x3, 128; 3x3, 128] x 4",
}
PAPER_SIZES = ["112x112", "56x56", "28x28", "14x14", "7x7", "1x1"]
#: Table 1's FLOPs row (multiply-adds, x10^9).
PAPER_FLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6,
               "resnet152": 11.3}


def paper_designs() -> list[tuple[str, object]]:
    """The paper's five nets: v1 bottlenecks; 18/34 with its parameter-free shortcuts (option A,
    the nets of its Table 2)."""
    designs = []
    for name in RESNETS:
        spec = get_preset(name)
        changes = {"shortcut": "A"} if spec.block == "basic" else {"stride_in": "1x1"}
        spec = spec.replace(**changes)
        designs.append((name, spec))
    return designs


@pytest.fixture(scope="module")
def table():
    return paper_table(paper_designs())


def cells(table) -> dict[tuple[str, str], tuple[str, ...]]:
    header, rows = grid(table)
    found = {}
    for row in rows:
        name = row[0][0] if row[0] else ""
        for label, cell in zip(header[1:], row[1:]):
            found[(label, name)] = cell
    return found


def test_columns_and_rows_are_the_papers(table):
    header, rows = grid(table)
    assert header == ["layer name", "output size", "18-layer", "34-layer", "50-layer",
                      "101-layer", "152-layer"]
    names = [row[0][0] if row[0] else "" for row in rows]
    assert names[:7] == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "", FLOPS_ROW]
    assert [row[1][0] for row in rows[:6]] == PAPER_SIZES


def test_cells_are_the_papers(table):
    found = cells(table)
    for (label, row), text in PAPER_CELLS.items():
        assert found[(label, row)][-1] == text, (label, row)
    for label in ("18-layer", "50-layer", "152-layer"):
        assert found[(label, "conv1")] == ("7x7, 64, stride 2",)
        assert found[(label, "conv2_x")][0] == "3x3 max pool, stride 2"  # the paper's place for it
        assert found[(label, "")] == ("average pool, 1000-d fc, softmax",)


def independent_mult_adds(spec) -> float:
    """Conv and fc multiply-adds counted by PyTorch's own FLOP counter on the built model."""
    model = build_model(spec).eval()  # meta: no weights allocated
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, spec.input_size, spec.input_size, device="meta"))
    return counter.get_total_flops() / 2  # it counts a multiply-add as two


def hooked_mult_adds(spec) -> int:
    """A second independent count, by forward hooks in plain PyTorch: a conv costs its output
    elements x in_channels/groups x kh x kw, an fc in x out (no norm, no bias)."""
    model = build_model(spec).eval()  # meta: hooks read shapes only
    total = []

    def conv(module, inputs, output):
        kh, kw = module.kernel_size
        total.append(output.numel() * module.in_channels // module.groups * kh * kw)

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(conv)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(
                lambda m, i, o: total.append(m.in_features * m.out_features))
    model(torch.empty(1, spec.in_channels, spec.input_size, spec.input_size, device="meta"))
    return sum(total)


#: A plain bottleneck net on 24-px input with the patchify stem: so small that torchinfo's
#: terms for norms (2 per channel, 400 here) and the fc bias (2) once moved its FLOPs figure
#: from 36,480 to 36,882, 1.1% off the paper's convention, and the property test below failed.
SMALL_PLAIN_BOTTLENECK = ResNetSpec(
    block="bottleneck", layers=(1, 1, 1), widths=(8, 8, 16), strides=(2, 2, 2), stem="patchify",
    stem_width=8, stride_in="1x1", shortcut="A", preact=False, residual=False, num_classes=2,
    input_size=24)


def test_flops_row_counts_conv_and_fc_alone_on_a_small_net():
    spec = SMALL_PLAIN_BOTTLENECK
    # By hand (bottleneck out = 4 x width; v1: stride on the first 1x1; 24 -> 8 -> 4 -> 2 -> 1 px):
    # stem 3x3 s3, 3->8:                  8*8 px * 8*3*9               = 13,824
    # conv2_1 at 4x4: 1x1 8->8, 3x3 8->8, 1x1 8->32: 16*(64 + 576 + 256) = 14,336
    # conv3_1 at 2x2: 1x1 32->8, 3x3 8->8, 1x1 8->32: 4*(256 + 576 + 256) = 4,352
    # conv4_1 at 1x1: 1x1 32->16, 3x3 16->16, 1x1 16->64: 512 + 2304 + 1024 = 3,840
    # fc 64 -> 2:                                                          128
    by_hand = 13_824 + 14_336 + 4_352 + 3_840 + 128
    assert by_hand == 36_480 == hooked_mult_adds(spec) == independent_mult_adds(spec)
    table = paper_table([("mine", spec)])
    label = table.columns[0].label  # "11-layer": the paper's depth names the column
    assert cells(table)[(label, FLOPS_ROW)] == ("36.5x10^3",)  # not 36.9 (36,882 rounded)
    text = " ".join(notes(table))
    assert "(v1): 36,480." in text and "(stride on the 1x1): 72,960." in text


@pytest.mark.parametrize("name, spec", paper_designs(), ids=RESNETS)
def test_flops_row_is_the_papers(table, name, spec):
    label = f"{dict(zip(RESNETS, (18, 34, 50, 101, 152)))[name]}-layer"
    cell = cells(table)[(label, FLOPS_ROW)][0]
    count = independent_mult_adds(spec)
    assert cell == f"{count / 1e9:.1f}x10^9"  # our figure is PyTorch's count, rounded
    if name == "resnet50":
        # Known difference, not fudged: the exact v1 count is 3.86e9 (3.9 rounded) where the
        # paper prints 3.8 (truncated?); 101 and 152 round to the paper's 7.6 and 11.3.
        assert 0 < count / 1e9 - PAPER_FLOPS[name] < 0.07
    else:
        assert cell == f"{PAPER_FLOPS[name]}x10^9"


def test_torchvision_column_and_the_projection_note():
    table = paper_table([(n, get_preset(n)) for n in RESNETS])
    found = cells(table)
    for label, name in zip(("18", "34", "50", "101", "152"), RESNETS):
        assert found[(f"{label}-layer", TORCHVISION_ROW)] == (f"{TORCHVISION[name][1]:.2f}",)
    # With option B projections the 34-layer's v1 count rounds to 3.7; the note gives the 3.6.
    assert found[("34-layer", FLOPS_ROW)] == ("3.7x10^9",)
    text = to_markdown(table)
    assert ("34-layer: Table 1 prints 3.6x10^9 for the 34-layer net; this column's 3.7x10^9"
            in text and "with parameter-free ones (option A)" in text)


def test_grouped_preact_and_other_stems_are_marked():
    designs = [(n, get_preset(n)) for n in ("resnext50_32x4d", "preact_resnet18", "resnet50d",
                                             "tutorial_resnet10", "resnet20")]
    table = paper_table(designs)
    assert not table.shared_sizes  # CIFAR and ImageNet sizes differ: one size column each
    header, _ = grid(table)
    assert header[1:3] == ["output size (resnext50_32x4d)", "resnext50_32x4d"]
    found = cells(table)
    assert found[("resnext50_32x4d", "conv2_x")][-1] == "[1x1, 128; 3x3, 128, C=32; 1x1, 256] x 3"
    assert found[("preact_resnet18", "conv2_x")] == ("[3x3, 64; 3x3, 64] x 2, pre-act",)
    assert found[("preact_resnet18", "conv1")] == ("3x3, 64",)
    assert found[("resnet50d", "conv1")] == ("3x3, 32, stride 2", "3x3, 32", "3x3, 64")
    assert found[("resnet50d", "conv2_x")][0] == "3x3 max pool, stride 2"
    assert found[("tutorial_resnet10", "conv1")] == ("3x3, 64, stride 3, padding 0",)
    assert found[("output size (tutorial_resnet10)", "conv1")] == ("10x10",)  # REFERENCE.md
    assert found[("resnet20", "conv5_x")] == ()  # three stages: no conv5_x
    assert found[("resnet20", "")] == ("average pool, 10-d fc, softmax",)


def test_same_depth_columns_take_the_designs_names_and_bad_input_is_a_sentence():
    table = paper_table([("resnet50", get_preset("resnet50")),
                         ("resnet50_v1", get_preset("resnet50_v1"))])
    assert [c.label for c in table.columns] == ["resnet50", "resnet50_v1"]
    assert "on the first 1x1 conv (v1)" in to_markdown(table)
    with pytest.raises(SpecError, match="at most 8"):
        paper_table([("r", get_preset("resnet18"))] * 9)
    with pytest.raises(SpecError, match="format must be one of"):
        write(table, "docx")
    with pytest.raises(SpecError):
        paper_table([("bad", get_preset("resnet18").replace(layers=(0, 2, 2, 2)))])


def test_csv_and_html_read_back(table):
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows[0][2] == "18-layer"
    assert rows[2][2].splitlines() == ["3x3 max pool, stride 2", "[3x3, 64; 3x3, 64] x 2"]

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.count = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("td", "th"):
                self.count += int(dict(attrs).get("colspan", 1))

    parser = Cells()
    parser.feed(to_html(table))
    header, _ = grid(table)
    # every row has the table's columns, a shared cell counting for the columns it spans
    assert parser.count == len(header) * to_html(table).count("<tr>")
    assert "11.3&times;10<sup>9</sup>" in to_html(table)


def test_text_is_escaped_in_every_form(tmp_path):
    table = paper_table([("<b>a|b</b>_&%", get_preset("resnet50")),
                         ("x", get_preset("resnet50_v1"))])
    assert "<b>" not in to_html(table) and "&lt;b&gt;" in to_html(table)
    assert "<b>" not in to_markdown(table) and "a\\|b" in to_markdown(table)
    check_latex_structure(to_latex(table), len(grid(table)[0]))
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}")


def check_latex_structure(text: str, columns: int) -> None:
    """Balanced braces, no unescaped special character, every row with the tabular's columns
    (a \\multicolumn counting for the columns it spans); comments are left out."""
    text = re.sub(r"(?<!\\)%.*", "", text)
    depth = 0
    for position, char in enumerate(text):
        escaped = position > 0 and text[position - 1] == "\\"
        if char == "{" and not escaped:
            depth += 1
        elif char == "}" and not escaped:
            depth -= 1
        assert depth >= 0, text[:position]
    assert depth == 0
    plain = re.sub(r"\$[^$]*\$", "", text)  # math: ^ and { } belong there
    plain = re.sub(r"\\[_%#&${}]", "", plain).replace(" & ", " ")
    assert not set("_%#&$^~") & set(plain), "an unescaped special character"
    body = text[text.index(r"\hline") + len(r"\hline"):text.rindex(r"\hline")]
    for line in body.strip().splitlines():
        if line == r"\hline":
            continue
        outer = re.sub(r"\\begin\{tabular\}.*?\\end\{tabular\}", "", line)
        spanned = sum(int(n) - 1 for n in re.findall(r"\\multicolumn\{(\d+)\}", outer))
        assert outer.count(" & ") + spanned == columns - 1, line


@pytest.mark.parametrize("names", [RESNETS, ("resnext50_32x4d", "resnet20", "resnet50d")])
def test_latex_is_well_formed(names):
    table = paper_table([(n, get_preset(n)) for n in names])
    text = to_latex(table)
    header, _ = grid(table)
    assert r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}" in text
    check_latex_structure(text, len(header))


def _compile(tmp_path, body: str) -> str:
    """pdflatex's log for `body` on a portrait article page (345 pt of text width)."""
    if shutil.which("pdflatex") is None:
        message = ("no TeX engine: Debian's texlive-latex-base provides pdflatex "
                   "(`make test` installs it)")
        if os.environ.get("CI"):
            pytest.fail(message + "; under CI the LaTeX table must be compiled")
        pytest.skip(message)
    document = ("\\documentclass{article}\n\\usepackage{graphicx}\n\\begin{document}\n"
                + body + "\\typeout{LINEWIDTH=\\the\\linewidth}\n\\end{document}\n")
    (tmp_path / "table.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             "table.tex"], cwd=tmp_path, capture_output=True, timeout=120)
    log = (tmp_path / "table.log").read_text(errors="replace")
    assert result.returncode == 0, result.stdout.decode(errors="replace")[-2000:]
    assert "LINEWIDTH=345.0pt" in log, "a portrait article page"
    return log


@pytest.mark.parametrize("names", [
    ("resnet18", "resnet34", "resnet50_v1", "resnet101", "resnet152"),  # the paper's five
    ("resnet18", "resnet34", "resnet50_v1", "resnet101", "resnet152", "resnext50_32x4d",
     "wide_resnet50_2", "resnet200"),  # as many as the table takes
    ("resnet18", "resnext50_32x4d", "resnet20"),  # sizes differ: a size column each
])
def test_latex_compiles_and_fits_a_portrait_page(tmp_path, names):
    table = paper_table([(n, get_preset(n)) for n in names])
    text = to_latex(table)
    log = _compile(tmp_path, text)
    assert "Overfull \\hbox" not in log, log[log.index("Overfull"):][:300]
    assert "shrunk to the line width" in text and "landscape" in text  # said in the file


def test_latex_and_html_stack_the_layers_inside_the_brackets(table):
    latex = to_latex(table)
    # conv5_x of the 152-layer net, as the paper prints it: three lines in one bracket, x 3.
    times = r"\ensuremath{\times}"
    assert (rf"$\left[\begin{{tabular}}{{@{{}}c@{{}}}}1{times}1, 512 \\ 3{times}3, 512 \\ "
            rf"1{times}1, 2048\end{{tabular}}\right]$ $\times$ 3") in latex
    # What all five share spans their columns once, as in the paper.
    assert r"\multicolumn{5}{c}{7$\times$7, 64, stride 2}" in latex
    assert r"\multicolumn{5}{c}{average pool, 1000-d fc, softmax}" in latex
    html_text = to_html(table)
    assert ('<span class="bracket">1x1, 512<br>3x3, 512<br>1x1, 2048</span>&nbsp;&times;&nbsp;3'
            in html_text)
    assert '<td colspan="5" style="text-align: center">3x3 max pool, stride 2</td>' in html_text
    markdown = to_markdown(table)
    assert "[1x1, 512<br>3x3, 512<br>1x1, 2048] x 3" in markdown


def test_every_flops_figure_that_differs_from_the_print_is_explained():
    table = paper_table([(n, get_preset(n)) for n in RESNETS])  # torchvision's: v1.5, option B
    text = " ".join(notes(table))
    found = cells(table)
    for label, name in zip(("18", "34", "50", "101", "152"), RESNETS):
        figure = found[(f"{label}-layer", FLOPS_ROW)][0]
        printed = f"{PAPER_FLOPS[name]}x10^9"
        explained = f"Table 1 prints {printed} for the {label}-layer net; this column's {figure}"
        assert (explained in text) == (figure != printed), (name, figure)
    assert "3,857,973,248" in text and "looks truncated" in text  # ResNet-50's 3.9 against 3.8
    assert "projection shortcuts (option B)" in text  # ResNet-34's 3.7 against 3.6


def test_cli_paper_table(capsys, tmp_path):
    spec_file = tmp_path / "mine.json"
    spec_file.write_text(get_preset("resnet34").replace(layers=(2, 2, 2, 2)).to_json())
    assert main(["paper-table", "resnet34", str(spec_file), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| layer name | output size | 34-layer | 18-layer |")
    for fmt in TableFormat:
        assert main(["paper-table", "resnet18", "--format", fmt.value]) == 0
        out = capsys.readouterr().out.replace("$\\times$", "x")
        stage = ("[3x3, 64; 3x3, 64] x 2" if fmt == TableFormat.CSV else
                 "[3x3, 64<br>3x3, 64] x 2" if fmt == TableFormat.MARKDOWN else
                 '<span class="bracket">3x3, 64<br>3x3, 64</span>&nbsp;&times;&nbsp;2'
                 if fmt == TableFormat.HTML else
                 r"3\ensuremath{\times}3, 64 \\ 3\ensuremath{\times}3, 64\end{tabular}\right]$ x 2")
        assert stage in out, fmt
    assert main(["paper-table", "resnet18", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown preset 'nope'" in err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_designs(max_stages=5, groups=(1, 2, 4), max_input=96))
@example(SMALL_PLAIN_BOTTLENECK)
def test_any_design_gets_a_table_that_agrees_with_its_model(spec):
    table = paper_table([("mine", spec)])
    found = cells(table)
    label = table.columns[0].label
    model = build_model(spec)
    stages = [model.get_submodule(f"layer{s + 1}") for s in range(spec.num_stages)]
    for stage, module in enumerate(stages):
        text = found[(label, f"conv{stage + 2}_x")][-1]
        first = module[0]
        shortcut = list(first.downsample.modules()) if first.downsample is not None else []
        main_path = [m for m in first.modules()
                     if isinstance(m, torch.nn.Conv2d) and not any(m is s for s in shortcut)]
        assert text.startswith("[") and f"] x {len(module)}" in text, text
        last = re.search(r", (\d+)(?:, C=\d+)?\] x", text)
        assert int(last[1]) == main_path[-1].out_channels, text  # the block's output channels
        assert ("C=" in text) == any(m.groups > 1 for m in main_path), text
    assert found[(label, POOL_ROW)] == (f"average pool, {spec.num_classes}-d fc, softmax",)
    # The FLOPs row is the paper's convention: conv and fc multiply-adds, no norm, no bias,
    # stride on the first 1x1 (v1), which is what PyTorch's counter counts. The notes give the
    # exact count; the cell is it rounded to one decimal of its power of ten.
    v1 = independent_mult_adds(spec.replace(stride_in="1x1"))
    assert f"(v1): {int(v1):,}." in " ".join(notes(table))
    mantissa, exponent = found[(label, FLOPS_ROW)][0].split("x10^")
    half_a_digit = 0.05 * 10 ** int(exponent) * (1 + 1e-9)  # 1e-9: float noise of the parse
    assert abs(float(mantissa) * 10 ** int(exponent) - v1) <= half_a_digit
    check_latex_structure(to_latex(table), len(grid(table)[0]))


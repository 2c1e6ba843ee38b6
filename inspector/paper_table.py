"""The paper's Table 1 (He et al. 2015) for any designs: one column per design, as readers know it.

Rows are conv1, conv2_x ... convN_x, the pooling and classifier row, then FLOPs. Cells are
written the paper's way ("7x7, 64, stride 2", "[3x3, 64; 3x3, 64] x 2") from the spec's own
geometry (`stem_layers`, `block_convs`), so any design a user builds gets the same treatment as
the published ones. The FLOPs row uses the paper's convention (multiply-adds with the stride on
the bottleneck's first 1x1, v1); rows beside it give the same design under the other common
conventions, because numbers quoted without their convention are the most common confusion.

Output sizes: one "output size" column when every design has the same sizes row by row (the
paper's case); otherwise each design gets its own output-size column beside it.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from inspector.facts import compute_facts, weight_mult_adds
from inspector.spec import (
    SHORTCUT_DESCRIPTIONS, LayerGeometry, ResNetSpec, SpecError, block_convs, stage_name,
)

#: More columns than this no longer fit a page, printed or on screen.
MAX_DESIGNS = 8
POOL_ROW = ""  # the paper leaves the pooling row's layer name blank
FLOPS_ROW = "FLOPs"
TORCHVISION_ROW = "GFLOPS (torchvision)"
TWICE_ROW = "FLOPs (2 x MACs)"


class TableFormat(StrEnum):
    MARKDOWN = "markdown"
    LATEX = "latex"
    HTML = "html"
    CSV = "csv"


@dataclass(frozen=True)
class FlopConventions:
    """One design's compute under the conventions people quote, all in multiply-adds."""

    paper: int  # the paper's: conv and fc alone, stride on the first 1x1 of a bottleneck (v1)
    torchvision: int  # torchvision's GFLOPS column: torchinfo's count of the v1.5 design
    as_designed: int  # conv and fc alone, the design with its own stride placement
    without_projections: int  # v1 with parameter-free shortcuts: the paper's 18/34 figures

    @property
    def flops(self) -> int:
        """FLOPs as tools that count a multiply and an add separately print them."""
        return 2 * self.as_designed


@dataclass(frozen=True)
class PaperColumn:
    """One design's column: a cell (a few lines) and an output size per layer row."""

    label: str  # "18-layer" or the design's name
    spec: ResNetSpec
    cells: tuple[tuple[str, ...], ...]  # per layer row; () where the design has no such stage
    sizes: tuple[str, ...]  # per layer row; "" where the design has no such stage
    conventions: FlopConventions
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PaperTable:
    layer_names: tuple[str, ...]  # conv1, conv2_x, ..., then POOL_ROW
    columns: tuple[PaperColumn, ...]

    @property
    def shared_sizes(self) -> bool:
        """Whether one output-size column serves every design (it does for the paper's five)."""
        return len({column.sizes for column in self.columns}) == 1


# ----- cells ------------------------------------------------------------------------------------


def _kernel(size: int) -> str:
    return f"{size}x{size}"


def _stem_conv_text(layer: LayerGeometry) -> str:
    text = f"{_kernel(layer.kernel)}, {layer.out_channels}"
    if layer.stride != 1:
        text += f", stride {layer.stride}"
    if layer.padding != layer.kernel // 2:
        text += f", padding {layer.padding}"
    return text


def _pool_text(layer: LayerGeometry) -> str:
    return f"{_kernel(layer.kernel)} max pool, stride {layer.stride}"


class Stacked(str):
    """A stage's cell: the block's layers stacked inside brackets, times the block count.

    It reads as the one-line form ('[1x1, 64; 3x3, 64; 1x1, 256] x 3') wherever text is
    expected (CSV, tests, comparisons); the writers that can stack lines, as the paper prints
    them, read `layers`, `repeat` and `suffix` instead.
    """

    layers: tuple[str, ...]
    repeat: int
    suffix: str

    def __new__(cls, layers: Sequence[str], repeat: int, suffix: str = "") -> Stacked:
        text = str.__new__(cls, f"[{'; '.join(layers)}] x {repeat}{suffix}")
        text.layers, text.repeat, text.suffix = tuple(layers), repeat, suffix
        return text

    def __reduce__(self):
        return Stacked, (self.layers, self.repeat, self.suffix)


def _stage_text(spec: ResNetSpec, stage: int) -> Stacked:
    """'[1x1, 64; 3x3, 64; 1x1, 256] x 3'; grouped convs as in the ResNeXt paper ('C=32')."""
    plan = next(p for p in spec.blocks() if p.stage == stage)
    convs = []
    for conv in block_convs(spec, plan):
        text = f"{_kernel(conv.kernel)}, {conv.out_channels}"
        if conv.groups > 1:
            text += f", C={conv.groups}"
        convs.append(text)
    return Stacked(convs, spec.layers[stage], ", pre-act" if spec.preact else "")


def _size(pixels: int) -> str:
    return f"{pixels}x{pixels}"


def _stem_rows(spec: ResNetSpec) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """conv1's lines and output size, and the lines (the pools) the paper puts in conv2_x."""
    conv_lines, pool_lines = [], []
    size = conv_size = spec.input_size
    for layer in spec.stem_layers():
        size = layer.output_size(size)
        if layer.kind == "conv":
            conv_lines.append(_stem_conv_text(layer))
            conv_size = size
        else:
            pool_lines.append(_pool_text(layer))
    return tuple(conv_lines), _size(conv_size), tuple(pool_lines)


# ----- numbers and notes ------------------------------------------------------------------------


def flop_conventions(spec: ResNetSpec) -> FlopConventions:
    """The design's multiply-adds under each convention, all from `facts`.

    torchvision's column is torchinfo's count (norms and biases add their parameter counts);
    the others count conv and fc multiplications alone, as the paper and PyTorch's FLOP counter
    do: torchinfo's extra terms are negligible for the paper's nets but not for small ones.
    """
    v1 = spec.replace(stride_in="1x1")
    return FlopConventions(
        paper=weight_mult_adds(v1),
        torchvision=compute_facts(spec.replace(stride_in="3x3")).mult_adds,
        as_designed=weight_mult_adds(spec),
        # Parameter-free shortcuts add no multiply-adds, so the plain counterpart counts them.
        without_projections=weight_mult_adds(v1.replace(residual=False)),
    )


def scientific(value: int) -> str:
    """'3.6x10^9' as the paper prints FLOPs; smaller nets in powers of a thousand."""
    exponent = 3 * int(math.log10(value) // 3) if value >= 1 else 0
    return f"{value / 10 ** exponent:.1f}x10^{exponent}"


def _downsampling_note(spec: ResNetSpec) -> str:
    strided = [p for p in spec.blocks() if p.stride != 1]
    if not strided:
        return "No block downsamples."
    # The paper's block names (conv3_1): the stage's number, then the block's.
    names = [f"conv{p.stage + 2}_{p.index + 1} (stride {p.stride})" for p in strided]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if spec.block == "bottleneck":
        where = "the first 1x1 conv (v1)" if spec.stride_in == "1x1" else "the 3x3 conv (v1.5)"
    else:
        where = "the first 3x3 conv"
    return f"Downsampling by {listed}, on {where}."


def _notes(spec: ResNetSpec, conventions: FlopConventions) -> tuple[str, ...]:
    notes = [_downsampling_note(spec)]
    if spec.residual:
        notes.append(f"Shortcuts: option {spec.shortcut}, "
                     f"{SHORTCUT_DESCRIPTIONS[spec.shortcut]}.")
    else:
        notes.append("Plain network: no shortcuts.")
    if spec.preact:
        notes.append("pre-act: BN and ReLU before each conv (He et al. 2016).")
    if spec.groups > 1:
        notes.append(f"C={spec.groups}: grouped 3x3 convs (cardinality, as in ResNeXt).")
    notes.append(
        f"FLOPs: the paper's multiply-adds, stride on the first 1x1 (v1): "
        f"{conventions.paper:,}. torchvision's GFLOPS column (v1.5): "
        f"{conventions.torchvision / 1e9:.2f}. FLOPs as 2 x MACs of this design "
        f"(stride on the {spec.stride_in}): {conventions.flops:,}."
    )
    printed = _printed_flops(spec, conventions)
    if printed is not None:
        notes.append(printed)
    elif spec.block == "basic" and conventions.without_projections != conventions.paper:
        notes.append(
            f"With parameter-free shortcuts (option A, the nets of the paper's Table 2, whose "
            f"count its Table 1 gives for 18 and 34 layers): "
            f"{scientific(conventions.without_projections)} multiply-adds."
        )
    return tuple(notes)


#: Table 1's FLOPs row as printed (x10^9 multiply-adds), by the layout of each of its nets.
PAPER_PRINTED_FLOPS = {
    ("basic", (2, 2, 2, 2)): "1.8x10^9", ("basic", (3, 4, 6, 3)): "3.6x10^9",
    ("bottleneck", (3, 4, 6, 3)): "3.8x10^9", ("bottleneck", (3, 4, 23, 3)): "7.6x10^9",
    ("bottleneck", (3, 8, 36, 3)): "11.3x10^9",
}
#: What the paper's nets have besides their layout (ImageNet stem, widths, input and classes).
_PAPER_NET = ResNetSpec()


def _printed_flops(spec: ResNetSpec, conventions: FlopConventions) -> str | None:
    """A note when the design is one of Table 1's nets (any stride placement or shortcut
    option) and its FLOPs figure differs from the one the paper prints, saying why."""
    printed = PAPER_PRINTED_FLOPS.get((spec.block, spec.layers))
    paper_net = _PAPER_NET.replace(block=spec.block, layers=spec.layers,
                                   stride_in=spec.stride_in, shortcut=spec.shortcut)
    ours = scientific(conventions.paper)
    if printed is None or spec != paper_net or ours == printed:
        return None
    depth = compute_facts(spec).depth
    text = (f"Table 1 prints {printed} for the {depth}-layer net; this column's {ours} is the "
            f"exact count {conventions.paper:,} rounded. ")
    if scientific(conventions.without_projections) == printed:
        return text + (f"The difference is this design's projection shortcuts (option "
                       f"{spec.shortcut}): with parameter-free ones (option A), as the paper "
                       f"counts its 18- and 34-layer nets, it is {printed}.")
    return text + ("No convention here reproduces the printed figure (stride on the 3x3, v1.5: "
                   f"{scientific(conventions.torchvision)}; parameter-free shortcuts: "
                   f"{scientific(conventions.without_projections)}); the paper does not say how "
                   f"it counted or rounded, and its 101- and 152-layer figures are the exact "
                   f"counts rounded ({_exact_deeper()}), so the print looks truncated here.")


def _exact_deeper() -> str:
    """The exact v1 counts of the paper's 101- and 152-layer nets, in units of 10^9."""
    counts = [flop_conventions(_PAPER_NET.replace(block="bottleneck", layers=layers)).paper
              for layers in ((3, 4, 23, 3), (3, 8, 36, 3))]
    return " and ".join(f"{count / 1e9:.2f}" for count in counts)


# ----- the table --------------------------------------------------------------------------------


def _labels(designs: Sequence[tuple[str, ResNetSpec]], depths: list[int]) -> list[str]:
    """The paper's '34-layer', unless two designs share a depth: then their own names."""
    labels = [f"{d}-layer" for d in depths]
    if len(set(labels)) != len(labels):
        labels = [name for name, _ in designs]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def paper_table(designs: Sequence[tuple[str, ResNetSpec]]) -> PaperTable:
    """Table 1 for `designs` (name, spec); raises SpecError for an invalid one or too many."""
    if not designs:
        raise SpecError("Give at least one design for the table.")
    if len(designs) > MAX_DESIGNS:
        raise SpecError(f"The table takes at most {MAX_DESIGNS} designs, not {len(designs)}.")
    depths = [compute_facts(spec).depth for _, spec in designs]
    stages = max(spec.num_stages for _, spec in designs)
    layer_names = ("conv1", *(stage_name(s) for s in range(stages)), POOL_ROW)
    columns = []
    for label, (_, spec) in zip(_labels(designs, depths), designs):
        stem_lines, stem_size, pool_lines = _stem_rows(spec)
        last_sizes = {p.stage: p.out_size for p in spec.blocks()}
        cells, sizes = [stem_lines], [stem_size]
        for stage in range(stages):
            if stage >= spec.num_stages:
                cells.append(())
                sizes.append("")
                continue
            lead = pool_lines if stage == 0 else ()
            cells.append((*lead, _stage_text(spec, stage)))
            sizes.append(_size(last_sizes[stage]))
        cells.append((f"average pool, {spec.num_classes}-d fc, softmax",))
        sizes.append(_size(1))
        conventions = flop_conventions(spec)
        columns.append(PaperColumn(label, spec, tuple(cells), tuple(sizes), conventions,
                                   _notes(spec, conventions)))
    return PaperTable(layer_names, tuple(columns))


def grid(table: PaperTable) -> tuple[list[str], list[list[tuple[str, ...]]]]:
    """Header and rows of cells (each a tuple of lines), the form every writer starts from."""
    if table.shared_sizes:
        header = ["layer name", "output size", *(c.label for c in table.columns)]
    else:
        header = ["layer name"]
        for column in table.columns:
            header += [f"output size ({column.label})", column.label]
    rows: list[list[tuple[str, ...]]] = []
    for position, name in enumerate(table.layer_names):
        row = [(name,) if name else ()]
        if table.shared_sizes:
            row.append((table.columns[0].sizes[position],))
        for column in table.columns:
            if not table.shared_sizes:
                row.append((column.sizes[position],) if column.sizes[position] else ())
            row.append(column.cells[position])
        rows.append(row)
    figures = (
        (FLOPS_ROW, lambda c: scientific(c.conventions.paper)),
        (TORCHVISION_ROW, lambda c: f"{c.conventions.torchvision / 1e9:.2f}"),
        (TWICE_ROW, lambda c: scientific(c.conventions.flops)),
    )
    for name, text in figures:
        row = [(name,)] + ([()] if table.shared_sizes else [])
        for column in table.columns:
            row += ([] if table.shared_sizes else [()]) + [(text(column),)]
        rows.append(row)
    return header, rows


def notes(table: PaperTable) -> list[str]:
    """Footnotes: what each column's cells and figures mean, a note shared by several columns
    written once with all their labels."""
    owners: dict[str, list[str]] = {}
    for column in table.columns:
        for note in column.notes:
            owners.setdefault(note, []).append(column.label)
    return [f"{', '.join(labels)}: {note}" for note, labels in owners.items()]


# ----- writers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """A cell as a writer lays it out: its lines and how many columns it spans."""

    lines: tuple[str, ...]
    span: int = 1


def _layout(table: PaperTable) -> tuple[list[str], list[list[_Cell]]]:
    """The grid as the paper lays it out: where every design's cell in a row begins with the
    same lines (conv1, the max pool, the classifier), those lines span the designs' columns
    once, on a row of their own, and what differs follows on the next row.

    Only with one shared output-size column are the designs' columns side by side; otherwise
    the grid is returned cell for cell.
    """
    header, rows = grid(table)
    if not table.shared_sizes:
        return header, [[_Cell(c) for c in row] for row in rows]
    count = len(table.columns)
    out: list[list[_Cell]] = []
    for row in rows:
        name, size, designs = row[0], row[1], row[2:]
        shared = 0
        while (all(len(c) > shared for c in designs)
               and len({c[shared] for c in designs}) == 1):
            shared += 1
        if count == 1 or shared == 0:
            out.append([_Cell(c) for c in row])
        elif all(len(c) == shared for c in designs):
            out.append([_Cell(name), _Cell(size), _Cell(designs[0], count)])
        else:
            out.append([_Cell(name), _Cell(size), _Cell(designs[0][:shared], count)])
            out.append([_Cell(()), _Cell(())] + [_Cell(c[shared:]) for c in designs])
    return header, out


def to_markdown(table: PaperTable) -> str:
    """Markdown (GitHub's tables): a stage's layers stacked with <br> inside its brackets."""
    header, rows = grid(table)

    def line(text: str) -> str:
        if isinstance(text, Stacked):
            inner = "<br>".join(line(layer) for layer in text.layers)
            return f"[{inner}] x {text.repeat}{line(text.suffix)}"
        return html.escape(text, quote=False).replace("|", "\\|")

    def cell(lines: tuple[str, ...]) -> str:
        return "<br>".join(line(text) for text in lines)

    out = ["| " + " | ".join(cell((h,)) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    out += [""] + [f"- {html.escape(note, quote=False)}" for note in notes(table)]
    return "\n".join(out) + "\n"


def to_csv(table: PaperTable) -> str:
    """Cells with several lines keep them as line breaks inside one quoted field; a stage's
    layers stay on one line ('[3x3, 64; 3x3, 64] x 2'), as a spreadsheet cell reads best."""
    header, rows = grid(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["\n".join(c) for c in row] for row in rows)
    return buffer.getvalue()


_HTML_POWER = re.compile(r"x10\^(\d+)")
#: A bracket drawn around a stacked cell: two rules with short ticks at their ends, in the
#: text's colour, so it prints as the paper's brackets do.
_TICKS = ", ".join(f"linear-gradient(currentColor, currentColor) {v} {h} / 4px 1px no-repeat"
                   for v in ("left", "right") for h in ("top", "bottom"))
HTML_STYLE = ("<style>.paper-table .bracket {display: inline-block; vertical-align: middle; "
              "text-align: center; padding: 1px 6px; border-left: 1px solid; "
              f"border-right: 1px solid; background: {_TICKS};}} "
              ".paper-table td {vertical-align: middle;}</style>")


def to_html(table: PaperTable) -> str:
    """A standalone <table> (with its style and notes) that pastes into a page or a document:
    a stage's layers stacked inside a bracket, lines every design shares spanning them."""
    header, rows = _layout(table)

    def line(text: str) -> str:
        if isinstance(text, Stacked):
            inner = "<br>".join(line(layer) for layer in text.layers)
            return (f'<span class="bracket">{inner}</span>&nbsp;&times;&nbsp;{text.repeat}'
                    f"{line(text.suffix)}")
        return _HTML_POWER.sub(r"&times;10<sup>\1</sup>", html.escape(text))

    def cell(c: _Cell) -> str:
        span = f' colspan="{c.span}" style="text-align: center"' if c.span > 1 else ""
        return f"<td{span}>{'<br>'.join(line(text) for text in c.lines)}</td>"

    out = [HTML_STYLE, '<table class="paper-table">', "<thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in header]
    out += ["</tr></thead>", "<tbody>"]
    out += ["<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows]
    out += ["</tbody>", "</table>", "<ul>"]
    out += [f"<li>{html.escape(note)}</li>" for note in notes(table)]
    out.append("</ul>")
    return "\n".join(out) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}
_LATEX_DIMENSION = re.compile(r"\b(\d+)x(\d+)\b")
_LATEX_POWER = re.compile(r"(\d)x10\\textasciicircum\{\}(\d+)")
def latex_escape(text: str) -> str:
    """Plain text made safe for LaTeX: its special characters written as commands."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def _latex_line(text: str) -> str:
    if isinstance(text, Stacked):
        # The paper's stacked cell: the block's layers centred inside one pair of brackets.
        # (inside the math of the brackets, a times sign needs no math shift of its own)
        inner = r" \\ ".join(_latex_line(layer).replace(r"$\times$", r"\ensuremath{\times}")
                              for layer in text.layers)
        return (rf"$\left[\begin{{tabular}}{{@{{}}c@{{}}}}{inner}\end{{tabular}}\right]$"
                rf" $\times$ {text.repeat}{_latex_line(text.suffix)}")
    escaped = _LATEX_POWER.sub(r"\1$\\times10^{\2}$", latex_escape(text))
    return _LATEX_DIMENSION.sub(r"\1$\\times$\2", escaped)


def _latex_cell(cell: _Cell) -> str:
    lines = cell.lines
    if len(lines) <= 1:
        text = _latex_line(lines[0]) if lines else ""
    else:
        # `\relax` ends the line break's argument: a line may begin with "[", which `\\`
        # would otherwise read as an optional length.
        inner = r" \\ \relax ".join(_latex_line(line) for line in lines)
        text = rf"\begin{{tabular}}{{@{{}}l@{{}}}}{inner}\end{{tabular}}"
    return rf"\multicolumn{{{cell.span}}}{{c}}{{{text}}}" if cell.span > 1 else text


def _row_name(name: tuple[str, ...]) -> tuple[str, ...]:
    """A long row name ("GFLOPS (torchvision)") on two lines, so the first column stays narrow."""
    if len(name) == 1 and " (" in name[0]:
        head, _, tail = name[0].partition(" (")
        return head, f"({tail}"
    return name


def to_latex(table: PaperTable) -> str:
    """A `tabular` with its notes at \\footnotesize, the stages' layers stacked in brackets.

    Table 1 spans both columns of the paper's page; on a portrait article page (345 pt of text
    width) its five designs are about 480 pt wide at \\footnotesize, so the table is shrunk to
    the line width when, and only when, it is wider (about 72% for the five; more columns shrink
    more). The comment at its top says so and how to get the full size (a landscape page).
    Needs graphicx, which every LaTeX installation has.
    """
    header, rows = _layout(table)
    out = [
        "% The ResNet paper's Table 1 (He et al. 2015). Needs \\usepackage{graphicx}: a table "
        "wider than the line (the paper's five",
        "% designs on a portrait page) is shrunk to the line width; for full size, set the page "
        "in landscape, e.g. \\usepackage[landscape]{geometry}.",
        r"\begingroup\footnotesize\setlength{\tabcolsep}{3pt}%",
        r"\setbox0=\hbox{%",
        r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\hline",
        " & ".join(latex_escape(h) for h in header) + r" \\", r"\hline",
    ]
    for row in rows:
        first = _Cell(_row_name(row[0].lines), row[0].span)
        out.append(" & ".join(_latex_cell(c) for c in [first, *row[1:]]) + r" \\")
    out += [r"\hline", r"\end{tabular}}%",
            r"\noindent\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\box0}\else\box0\fi"
            r"\par\endgroup", "",
            # ragged right: a design's name (resnext50_32x4d) is one long word that justified
            # lines could only push past the margin
            r"\begingroup\raggedright\footnotesize"]
    out += [r"\noindent " + _latex_line(note) + r"\par" for note in notes(table)]
    out.append(r"\endgroup")
    return "\n".join(out) + "\n"


WRITERS = {
    TableFormat.MARKDOWN: to_markdown,
    TableFormat.LATEX: to_latex,
    TableFormat.HTML: to_html,
    TableFormat.CSV: to_csv,
}


def write(table: PaperTable, fmt: TableFormat | str) -> str:
    """The table in one of `TableFormat`'s forms; an unknown name raises SpecError."""
    try:
        writer = WRITERS[TableFormat(fmt)]
    except ValueError:
        options = ", ".join(f.value for f in TableFormat)
        raise SpecError(f"The table format must be one of {options}, not {fmt!r}.") from None
    return writer(table)
